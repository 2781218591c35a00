/**
 * The seeded convergence fuzz of the rsync strategy (`npm run fuzz`, test/e2e/fuzz.test.ts):
 * brings up fixtures/e2e-fuzz with the built CLI, applies seeded operations to the host tree in
 * bursts (1-20 operations, 0-50 ms apart), and after each burst, without `dsync flush`, polls
 * the app container until its tree equals the host's: the watcher path alone must deliver
 * everything within `convergeMs`. Every `containerEvery` bursts the app container writes a file
 * and a folder of its own into the volume; they must survive every sync (dsync deletes only
 * what the host removed). At the end `dsync status --json` must show missed 0 and errors 0.
 * Everything it started is removed at the end, also when it fails or is interrupted.
 */
import { createHash, randomBytes } from 'node:crypto'
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { run, type RunResult } from '../../src/lib/exec.js'
import { packageRoot, projectStateDir } from '../../src/lib/paths.js'
import { HostFuzzer, type AppliedOp } from './ops.js'
import { Rng } from './random.js'
import { containerTree, diffTrees, hostTree, isEmptyDiff, type TreeDiff } from './tree.js'

export interface FuzzOptions {
  ops: number
  seed: number
  /** Where the project is made (a new or empty folder); a temporary folder by default. */
  projectDir?: string
  /** Every this many bursts the app container writes into /app (10). */
  containerEvery?: number
  /** The time each burst has to arrive in the app container (2000 ms). */
  convergeMs?: number
  /** How long a late burst is still watched before its differences count as lost (10 s). */
  settleMs?: number
  /** Leave the project running and its folder in place (for a look after a failure). */
  keep?: boolean
  log?: (line: string) => void
  signal?: AbortSignal
}

export interface FuzzSummary {
  seed: number
  ops: number
  bursts: number
  convergeLimitMs: number
  /** Bursts whose changes were all in the app container within convergeLimitMs. */
  converged: number
  /** Bursts that arrived only after the limit (within settle time). */
  late: number
  /** Bursts that had not arrived after the settle time either (repaired with a flush). */
  notConverged: number
  convergeMs: { p50: number; p95: number; max: number }
  /** Paths on the host that never arrived. */
  lost: number
  /** Paths whose type, mode, size, content or link target stayed different. */
  stale: number
  /** Paths deleted on the host that stayed in the volume. */
  resurrected: number
  /** `missed` of `dsync status --json` at the end: changes the watcher did not deliver. */
  missed: number
  /** `errors` of `dsync status --json` at the end. */
  errors: number
  /** Container-written files and folders that disappeared from the volume. */
  containerFilesLost: number
  containerFilesWritten: number
  /** How many operations of each kind ran. */
  opsByKind: Record<string, number>
  examples: { lost: string[]; stale: string[]; resurrected: string[]; containerFilesLost: string[] }
  /** One line per failure; empty when the run passed. */
  failures: string[]
  /** A copy of the daemon's log, kept when the run failed. */
  daemonLog: string | undefined
  ok: boolean
  durationS: number
}

const FIXTURE = path.join(packageRoot, 'fixtures', 'e2e-fuzz')
const CLI = path.join(packageRoot, 'bin', 'run.js')
const SYNC = 'code'
const APP_ROOT = '/app'
/** Names the app container writes; the host operations never make one. */
const CONTAINER_PREFIX = 'zz-container-'

class Interrupted extends Error {}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0
}

interface Project {
  name: string
  dir: string
  src: string
  stateDir: string
  env: NodeJS.ProcessEnv
  dsync(args: string[], timeoutMs?: number): Promise<RunResult>
  dispose(): Promise<void>
}

function makeProject(projectDir: string | undefined): Project {
  const root = mkdtempSync(path.join(tmpdir(), 'dsync-fuzz-'))
  const dir = projectDir ? path.resolve(projectDir) : path.join(root, 'project')
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    rmSync(root, { recursive: true, force: true })
    throw new Error(`--project-dir ${dir} is not empty; give a new or empty folder`)
  }
  const made = !existsSync(dir)
  mkdirSync(dir, { recursive: true })
  cpSync(FIXTURE, dir, { recursive: true })
  const name = `dsyncfuzz${Date.now().toString(36)}${randomBytes(2).toString('hex')}`
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    XDG_STATE_HOME: path.join(root, 'state'),
    COMPOSE_PROJECT_NAME: name,
  }
  const dsync = (args: string[], timeoutMs = 300_000) =>
    run(process.execPath, [CLI, ...args], { cwd: dir, env, reject: false, timeoutMs })
  const dispose = async () => {
    await dsync(['compose', 'down', '-v', '--remove-orphans'], 120_000)
    await dsync(['clean'], 60_000)
    // Whatever a failed run left: containers and volumes by the compose project label.
    const label = `label=com.docker.compose.project=${name}`
    const ps = await run('docker', ['ps', '-aq', '--filter', label], { reject: false })
    const ids = ps.stdout.split('\n').filter(Boolean)
    if (ids.length) await run('docker', ['rm', '-f', '-v', ...ids], { reject: false })
    const vols = await run('docker', ['volume', 'ls', '-q', '--filter', label], { reject: false })
    const names = vols.stdout.split('\n').filter(Boolean)
    if (names.length) await run('docker', ['volume', 'rm', '-f', ...names], { reject: false })
    await run('docker', ['network', 'rm', `${name}_default`], { reject: false })
    if (made) rmSync(dir, { recursive: true, force: true })
    else for (const entry of readdirSync(dir)) rmSync(path.join(dir, entry), { recursive: true })
    rmSync(root, { recursive: true, force: true })
  }
  const stateDir = projectStateDir(name, env)
  return { name, dir, src: path.join(dir, 'src'), stateDir, env, dsync, dispose }
}

async function appContainer(project: string): Promise<string> {
  const ps = await run('docker', [
    'ps',
    '-q',
    '--filter',
    `label=com.docker.compose.project=${project}`,
    '--filter',
    'label=com.docker.compose.service=app',
  ])
  const id = ps.stdout.split('\n').find(Boolean)
  if (!id) throw new Error(`no running app container in project ${project}`)
  return id
}

interface SyncFigures {
  name: string
  missed: number
  errors: number
  lastError?: string
}

interface StatusJson {
  daemon: { running: boolean; pid?: number; health: string }
  status?: { syncs: SyncFigures[] }
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzSummary> {
  const started = performance.now()
  const log = options.log ?? (() => undefined)
  const convergeLimitMs = options.convergeMs ?? 2000
  const settleMs = options.settleMs ?? 10_000
  const every = options.containerEvery ?? 10
  const check = () => {
    if (options.signal?.aborted) throw new Interrupted('interrupted')
  }
  const rng = new Rng(options.seed)
  const timings: number[] = []
  const lost = new Set<string>()
  const stale = new Set<string>()
  const resurrected = new Set<string>()
  const containerLost = new Set<string>()
  /** What the app container wrote: path -> `d` or the file's content. */
  const written = new Map<string, string>()
  const failures: string[] = []
  let bursts = 0
  let converged = 0
  let late = 0
  let notConverged = 0
  let applied = 0
  const opsByKind: Record<string, number> = {}
  let missed = 0
  let errors = 0
  let daemonLog: string | undefined

  const project = makeProject(options.projectDir)
  log(`project ${project.name} in ${project.dir}, seed ${options.seed}, ${options.ops} ops`)
  try {
    const up = await project.dsync(['compose', 'up', '-d'])
    if (up.exitCode !== 0) throw new Error(`dsync compose up -d failed: ${up.stderr.trim()}`)
    check()
    const app = await appContainer(project.name)
    const fuzzer = new HostFuzzer(project.src, rng)

    /** Container-written paths that are not there as written (recorded once). */
    const checkWritten = (tree: Map<string, string>) => {
      for (const [rel, want] of written) {
        const got = tree.get(rel)
        const ok = want === 'd' ? got?.startsWith('d ') : got?.endsWith(want)
        if (!ok) containerLost.add(rel)
      }
    }
    const ignore = (rel: string) => rel.startsWith(CONTAINER_PREFIX)

    /** Polls until the app's tree equals the host's or `ms` pass; the diff at the end. */
    const observe = async (from: number, ms: number) => {
      const host = hostTree(project.src)
      let last: TreeDiff = { lost: [], stale: [], resurrected: [] }
      for (;;) {
        check()
        const snap = await containerTree(app, APP_ROOT)
        const at = performance.now() - from
        checkWritten(snap.tree)
        last = diffTrees(host, snap.tree, ignore)
        if (isEmptyDiff(last)) return { equal: true, at, diff: last }
        if (at > ms) return { equal: false, at, diff: last }
        await sleep(20)
      }
    }

    // The initial sync of up: the tree must be there before the first burst.
    const initial = await observe(performance.now(), settleMs)
    if (!initial.equal) {
      throw new Error(`after up the app's tree differs from the host's: ${describe(initial.diff)}`)
    }

    while (applied < options.ops) {
      check()
      bursts++
      if (bursts % every === 0) {
        // The app container writes a file and a folder of its own: they must never go away.
        const n = bursts / every
        const file = `${CONTAINER_PREFIX}${n}.txt`
        const folder = `${CONTAINER_PREFIX}${n}`
        const content = `written in the container at burst ${bursts}\n`
        await run('docker', [
          'exec',
          app,
          'sh',
          '-c',
          'cd "$1" && printf %s "$2" >"$3" && mkdir -p "$4" && printf %s "$2" >"$4/inner.txt"',
          'sh',
          APP_ROOT,
          content,
          file,
          folder,
        ])
        const md5 = createHash('md5').update(content).digest('hex')
        written.set(file, md5)
        written.set(folder, 'd')
        written.set(`${folder}/inner.txt`, md5)
      }
      const size = Math.min(rng.int(1, 20), options.ops - applied)
      const done: AppliedOp[] = []
      for (let i = 0; i < size; i++) {
        if (i > 0) await sleep(rng.int(0, 50))
        const op = fuzzer.step()
        done.push(op)
        opsByKind[op.kind] = (opsByKind[op.kind] ?? 0) + 1
        applied++
      }
      const ended = performance.now()
      const result = await observe(ended, convergeLimitMs)
      if (result.equal) {
        converged++
        timings.push(result.at)
      } else {
        const settled = await observe(ended, settleMs)
        if (settled.equal) {
          late++
          timings.push(settled.at)
          failures.push(`burst ${bursts} arrived after ${Math.round(settled.at)} ms`)
          log(`burst ${bursts}: late (${Math.round(settled.at)} ms): ${describe(result.diff)}`)
        } else {
          notConverged++
          for (const p of settled.diff.lost) lost.add(p)
          for (const p of settled.diff.stale) stale.add(p)
          for (const p of settled.diff.resurrected) resurrected.add(p)
          failures.push(
            `burst ${bursts} had not arrived after ${settleMs} ms: ${describe(settled.diff)}`,
          )
          log(`burst ${bursts}: NOT converged: ${describe(settled.diff)}`)
          log(`  its operations:\n${done.map((op) => `    ${op.kind} ${op.what}`).join('\n')}`)
          // Repaired by the safety net so the next bursts are measured on their own.
          await project.dsync(['flush'], 60_000)
          const repaired = await observe(performance.now(), settleMs)
          if (!repaired.equal) {
            failures.push(`even dsync flush did not repair it: ${describe(repaired.diff)}`)
            break
          }
        }
      }
      if (bursts % 10 === 0) {
        log(`${applied}/${options.ops} ops, ${bursts} bursts, ${converged} converged in time`)
      }
    }

    const status = await project.dsync(['status', '--json'], 30_000)
    let report: StatusJson | undefined
    try {
      report = JSON.parse(status.stdout) as StatusJson
    } catch {
      failures.push(
        `dsync status --json printed no JSON (exit ${status.exitCode}): ${status.stderr}`,
      )
    }
    if (report) {
      if (!report.daemon.running) failures.push('the daemon is not running at the end')
      const sync = report.status?.syncs.find((s) => s.name === SYNC)
      if (!sync) failures.push(`status has no sync ${SYNC}`)
      missed = sync?.missed ?? 0
      errors = sync?.errors ?? 0
      if (missed > 0) failures.push(`status: missed ${missed}`)
      if (errors > 0) failures.push(`status: errors ${errors} (last: ${sync?.lastError})`)
    }
    if (containerLost.size > 0) {
      failures.push(`container-written paths lost: ${[...containerLost].slice(0, 5).join(', ')}`)
    }
  } catch (error) {
    failures.push(error instanceof Interrupted ? 'interrupted' : (error as Error).message)
  } finally {
    if (failures.length > 0) {
      const saved = path.join(tmpdir(), `${project.name}-daemon.log`)
      try {
        copyFileSync(path.join(project.stateDir, 'daemon.log'), saved)
        daemonLog = saved
        log(`the daemon's log: ${saved}`)
      } catch {
        // No daemon ever ran: nothing to keep.
      }
    }
    if (options.keep) log(`kept: project ${project.name} in ${project.dir}`)
    else await project.dispose()
  }

  const sorted = [...timings].sort((a, b) => a - b)
  const round = (ms: number) => Math.round(ms)
  return {
    seed: options.seed,
    ops: applied,
    bursts,
    convergeLimitMs,
    converged,
    late,
    notConverged,
    convergeMs: {
      p50: round(percentile(sorted, 50)),
      p95: round(percentile(sorted, 95)),
      max: round(sorted[sorted.length - 1] ?? 0),
    },
    lost: lost.size,
    stale: stale.size,
    resurrected: resurrected.size,
    missed,
    errors,
    containerFilesLost: containerLost.size,
    containerFilesWritten: written.size,
    opsByKind,
    examples: {
      lost: [...lost].slice(0, 10),
      stale: [...stale].slice(0, 10),
      resurrected: [...resurrected].slice(0, 10),
      containerFilesLost: [...containerLost].slice(0, 10),
    },
    failures,
    daemonLog,
    ok: failures.length === 0,
    durationS: Math.round((performance.now() - started) / 100) / 10,
  }
}

function describe(d: TreeDiff): string {
  const part = (label: string, paths: string[]) =>
    paths.length
      ? `${paths.length} ${label} (${paths
          .slice(0, 3)
          .map((p) => JSON.stringify(p))
          .join(', ')})`
      : ''
  return (
    [part('lost', d.lost), part('stale', d.stale), part('resurrected', d.resurrected)]
      .filter(Boolean)
      .join(', ') || 'no difference'
  )
}
