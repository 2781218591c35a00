/**
 * The unison strategy's process-level pieces: one run of unison with a stall deadline, and the
 * record of the conflicts its runs resolved (kept in the state folder, so status lists them
 * after a restart of the daemon).
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs'
import { logger } from '../lib/log.js'
import { spawn } from '../lib/spawn.js'
import { conflictCopyName, type RunOutput } from './unison-args.js'
import type { TwoWayConflict } from './unison-config.js'

const log = logger('dsync:sync:unison')

/** Conflicts listed in status (the count has them all). */
const CONFLICTS_SHOWN = 20

export interface UnisonRun {
  text: string
  exitCode: number | undefined
  /** Why it did not finish: killed by a signal from outside, or stalled. */
  killed: string | undefined
}

/**
 * Runs unison once. A run that prints nothing and uses no CPU for `stallMs` (a hung
 * transport: the sidecar frozen, docker exec stuck) is killed.
 */
export async function runUnisonOnce(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  stallMs: number,
): Promise<UnisonRun> {
  const child = spawn('unison', args, { env, stdin: 'ignore' })
  let text = ''
  let lastProgress = Date.now()
  let cpu = -1
  let stalled = false
  const onData = (chunk: Buffer) => {
    text = (text + chunk.toString('utf8')).slice(-200_000)
    lastProgress = Date.now()
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  const timer = setInterval(() => {
    const used = child.pid === undefined ? -1 : cpuTicks(child.pid)
    if (used !== cpu) {
      cpu = used
      lastProgress = Date.now()
    }
    if (Date.now() - lastProgress > stallMs) {
      stalled = true
      child.kill('SIGKILL')
    }
  }, 1000)
  const ended = await child
  clearInterval(timer)
  if (ended.error) throw ended.error
  if (stalled) {
    return { text, exitCode: undefined, killed: `showed no progress for ${stallMs / 1000} s` }
  }
  if (ended.signal) return { text, exitCode: undefined, killed: `was killed (${ended.signal})` }
  return { text, exitCode: ended.exitCode, killed: undefined }
}

/**
 * CPU ticks a process used (Linux /proc); -1 where it cannot be read. unison's docker exec
 * child is left out: an idle docker CLI still ticks now and then, which would hide a hang.
 */
function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[11]) + Number(fields[12])
  } catch {
    return -1
  }
}

/** The conflicts of one sync: the latest in memory, all of them in a file of the state folder. */
export class ConflictLog {
  count = 0
  latest: TwoWayConflict[] = []

  constructor(
    private readonly name: string,
    private readonly file: string,
  ) {
    if (!existsSync(file)) return
    try {
      const all = readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as TwoWayConflict)
      this.count = all.length
      this.latest = all.slice(-CONFLICTS_SHOWN)
    } catch {
      // A damaged record only loses the list.
    }
  }

  /** Records what a run's preference decided, and where the losing version is kept. */
  note(output: RunOutput): void {
    const at = new Date().toISOString()
    const records: TwoWayConflict[] = output.conflicts.map((c) => {
      const loser = c.kept === 'host' ? 'container' : 'host'
      // unison names the copy after the date where it runs: local time on the host, UTC in the
      // sidecar.
      const date = loser === 'host' ? localDate() : at.slice(0, 10)
      return {
        at,
        path: c.path,
        kept: c.kept,
        copy: c.loserDeleted ? undefined : conflictCopyName(c.path, date),
        copySide: c.loserDeleted ? undefined : loser,
      }
    })
    for (const r of records) {
      log.info(
        '%s: conflict on %s: the %s version wins%s',
        this.name,
        r.path,
        r.kept,
        r.copy ? `; the other version is kept beside it as ${r.copy}` : '',
      )
    }
    try {
      appendFileSync(this.file, records.map((r) => JSON.stringify(r) + '\n').join(''), {
        mode: 0o600,
      })
    } catch (error) {
      log.warn('cannot record conflicts: %s', String(error))
    }
    this.count += records.length
    this.latest = [...this.latest, ...records].slice(-CONFLICTS_SHOWN)
  }
}

function localDate(): string {
  const d = new Date()
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
}
