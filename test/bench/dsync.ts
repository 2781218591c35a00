/**
 * The dsync side of the benchmarks: plug-in points that drive the CLI exactly as a user does
 * (`node bin/run.js compose -p NAME -f FILE up -d`, `flush`, `status --json`, `down -v`,
 * `config`). The CLI is written in parallel with this harness, so every capability is probed
 * once, and a measurement that needs one the CLI does not have yet is skipped with the reason,
 * never approximated.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { stringify } from 'yaml'
import { run } from '../../src/lib/exec.js'
import { packageRoot } from '../../src/lib/paths.js'
import { isAlive, sweepProject, type Log, type Resources } from './engine.js'
import { sleep } from './stats.js'

export type Capability = 'config' | 'up' | 'sync' | 'status' | 'pid' | 'flush' | 'down'

export interface DsyncProject {
  name: string
  dir: string
  file: string
  /** The synced folder on the host (`./src` of the project). */
  src: string
  /** Daemon pids seen in `status`, killed at cleanup if `down` left them running. */
  pids: Set<number>
  remove: () => Promise<void>
}

export interface CliResult {
  ok: boolean
  ms: number
  stdout: string
  stderr: string
  /** Why it failed, in one line. */
  reason: string
}

/** The mount point of ./src in the app service. */
export const APP_MOUNT = '/app'

export class Dsync {
  readonly bin = path.join(packageRoot, 'bin', 'run.js')
  private readonly caps = new Map<Capability, true | string>()
  private counter = 0

  constructor(
    readonly runId: string,
    /** XDG_STATE_HOME for every dsync call: the bench's state stays in its temp folder. */
    private readonly stateHome: string,
    private readonly tmp: string,
    private readonly res: Resources,
    private readonly log: Log,
  ) {}

  get env(): NodeJS.ProcessEnv {
    return { XDG_STATE_HOME: this.stateHome }
  }

  /** The first reason one of `needed` is unavailable, or undefined when all work. */
  need(...needed: Capability[]): string | undefined {
    for (const c of needed) {
      const state = this.caps.get(c)
      if (state === undefined) return `dsync ${c} was not probed`
      if (state !== true) return state
    }
    return undefined
  }

  capabilities(): Record<string, string> {
    return Object.fromEntries([...this.caps].map(([k, v]) => [k, v === true ? 'ok' : v]))
  }

  async cli(
    args: string[],
    options: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
  ): Promise<CliResult> {
    const t0 = performance.now()
    try {
      const r = await run(process.execPath, [this.bin, ...args], {
        cwd: options.cwd,
        env: { ...this.env, ...options.env },
        reject: false,
        timeoutMs: options.timeoutMs ?? 300_000,
      })
      const ms = performance.now() - t0
      const tail = lastLine(r.stderr) || lastLine(r.stdout)
      return {
        ok: r.exitCode === 0,
        ms,
        stdout: r.stdout,
        stderr: r.stderr,
        reason: r.exitCode === 0 ? '' : `exit ${r.exitCode}${tail ? `: ${tail}` : ''}`,
      }
    } catch (error) {
      const ms = performance.now() - t0
      return { ok: false, ms, stdout: '', stderr: '', reason: oneLine((error as Error).message) }
    }
  }

  private projectArgs(p: DsyncProject): string[] {
    return ['-p', p.name, '-f', p.file]
  }

  compose(p: DsyncProject, args: string[], timeoutMs?: number): Promise<CliResult> {
    return this.cli(['compose', ...this.projectArgs(p), ...args], { cwd: p.dir, timeoutMs })
  }

  up(p: DsyncProject): Promise<CliResult> {
    return this.compose(p, ['up', '-d'], 900_000)
  }

  down(p: DsyncProject): Promise<CliResult> {
    return this.compose(p, ['down', '-v'], 180_000)
  }

  config(p: DsyncProject): Promise<CliResult> {
    return this.compose(p, ['config'], 60_000)
  }

  flush(p: DsyncProject, timeoutMs = 300_000): Promise<CliResult> {
    return this.cli(['flush', ...this.projectArgs(p)], { cwd: p.dir, timeoutMs })
  }

  async status(p: DsyncProject): Promise<{ result: CliResult; json?: unknown }> {
    const result = await this.cli(['status', ...this.projectArgs(p), '--json'], {
      cwd: p.dir,
      timeoutMs: 30_000,
    })
    if (!result.ok) return { result }
    try {
      const json = JSON.parse(result.stdout) as unknown
      const pid = daemonPid(json)
      if (pid !== undefined) p.pids.add(pid)
      return { result, json }
    } catch {
      return { result: { ...result, ok: false, reason: 'status --json printed no JSON' } }
    }
  }

  /**
   * A compose project in its own folder: `./src` (a copy of `tree`, or a few files), and a
   * compose file with one app service bind-mounting ./src, synced by x-sync with rsync.
   * Registered for cleanup: `down -v`, then anything left with its compose label, the daemon if
   * it survived, the folder.
   */
  async project(purpose: string, image: string, tree?: string): Promise<DsyncProject> {
    const name = `dsync-bench-${this.runId}-${purpose}-${++this.counter}`
    const dir = path.join(this.tmp, name)
    const src = path.join(dir, 'src')
    mkdirSync(dir, { recursive: true })
    const p: DsyncProject = {
      name,
      dir,
      file: path.join(dir, 'compose.yaml'),
      src,
      pids: new Set(),
      remove: () => Promise.resolve(),
    }
    p.remove = this.res.defer(`remove dsync project ${name}`, async () => {
      if (existsSync(this.bin)) await this.down(p)
      await sweepProject(name)
      for (const pid of p.pids) await stopPid(pid)
      await run('rm', ['-rf', dir], { reject: false })
    })
    if (tree) {
      await run('cp', ['-a', tree, src])
    } else {
      mkdirSync(path.join(src, 'lib'), { recursive: true })
      writeFileSync(path.join(src, 'index.ts'), 'export const probe = 1\n')
      writeFileSync(path.join(src, 'lib', 'util.ts'), 'export const util = 2\n')
    }
    writeFileSync(p.file, composeFile(image))
    return p
  }

  /** The app service's container, found by compose's labels. */
  async appContainer(p: DsyncProject): Promise<string | undefined> {
    const r = await run(
      'docker',
      [
        'ps',
        '-q',
        '--no-trunc',
        '--filter',
        `label=com.docker.compose.project=${p.name}`,
        '--filter',
        'label=com.docker.compose.service=app',
      ],
      { reject: false },
    )
    return r.stdout.split('\n').find(Boolean)
  }

  /**
   * Why the app container does not show a synced volume at /app, or undefined when it does.
   * A bind mount still there would make every dsync figure a bind-mount figure.
   */
  async checkAppMount(p: DsyncProject, sample: string): Promise<string | undefined> {
    const app = await this.appContainer(p)
    if (!app) return 'no running app container after up'
    const r = await run('docker', ['inspect', '-f', '{{json .Mounts}}', app], { reject: false })
    const mounts = (JSON.parse(r.stdout || '[]') as { Type?: string; Destination?: string }[]) ?? []
    const mount = mounts.find((m) => m.Destination === APP_MOUNT)
    if (!mount) return `the app container has nothing mounted at ${APP_MOUNT}`
    if (mount.Type !== 'volume') {
      return `the app container still has a ${mount.Type ?? 'unknown'} mount at ${APP_MOUNT}, not the synced volume`
    }
    const seen = await run('docker', ['exec', app, 'test', '-f', `${APP_MOUNT}/${sample}`], {
      reject: false,
    })
    if (seen.exitCode !== 0) return `${sample} is not in the volume after up`
    return undefined
  }

  /**
   * Probes each command once on a tiny project; the results gate every dsync measurement. The
   * first `up` also builds the sync image, which must not be timed in any measurement.
   */
  async probe(image: string): Promise<void> {
    const set = (c: Capability, v: true | string) => this.caps.set(c, v)
    const all: Capability[] = ['config', 'up', 'sync', 'status', 'pid', 'flush', 'down']
    if (!existsSync(this.bin)) {
      for (const c of all) set(c, 'bin/run.js does not exist yet (the dsync CLI is not built)')
      return
    }
    const p = await this.project('probe', image)
    try {
      const config = await this.config(p)
      set('config', config.ok ? true : `dsync compose config failed (${config.reason})`)
      this.log('probing dsync compose up (the first one may build the sync image)')
      const up = await this.up(p)
      if (!up.ok) {
        const why = `dsync compose up failed (${up.reason})`
        for (const c of all) if (c !== 'config') set(c, why)
        return
      }
      set('up', true)
      const mount = await this.checkAppMount(p, 'lib/util.ts')
      set('sync', mount === undefined ? true : `initial sync not visible: ${mount}`)
      const status = await this.status(p)
      if (!status.result.ok) {
        set('status', `dsync status --json failed (${status.result.reason})`)
        set('pid', 'no status')
      } else {
        set('status', true)
        const pid = daemonPid(status.json)
        set(
          'pid',
          pid === undefined
            ? 'status --json has no daemon.pid'
            : isAlive(pid)
              ? true
              : `daemon.pid ${pid} is not a running process`,
        )
      }
      writeFileSync(path.join(p.src, 'flushed.ts'), 'export const flushed = true\n')
      const flush = await this.flush(p, 60_000)
      if (!flush.ok) set('flush', `dsync flush failed (${flush.reason})`)
      else if (this.caps.get('sync') !== true)
        set('flush', 'flush returned, but sync is not working')
      else {
        const app = await this.appContainer(p)
        const seen = app
          ? await run('docker', ['exec', app, 'test', '-f', `${APP_MOUNT}/flushed.ts`], {
              reject: false,
            })
          : undefined
        set('flush', seen?.exitCode === 0 ? true : 'flush returned before the new file arrived')
      }
      const down = await this.down(p)
      if (!down.ok) set('down', `dsync compose down -v failed (${down.reason})`)
      else {
        let alive = [...p.pids].filter(isAlive)
        for (let i = 0; i < 50 && alive.length > 0; i++) {
          await sleep(100)
          alive = alive.filter(isAlive)
        }
        const left = await run(
          'docker',
          ['ps', '-aq', '--filter', `label=com.docker.compose.project=${p.name}`],
          { reject: false },
        )
        set(
          'down',
          alive.length > 0
            ? `the daemon (pid ${alive.join(', ')}) still runs after down`
            : left.stdout.trim()
              ? 'containers left after down -v'
              : true,
        )
      }
    } finally {
      await p.remove()
    }
  }
}

/** The compose file of every dsync project of the bench: what a user writes. */
function composeFile(image: string): string {
  return stringify({
    services: {
      app: {
        image,
        // The app only has to exist and host the observer; docker-init makes it stop at once.
        entrypoint: ['sleep', 'infinity'],
        init: true,
        network_mode: 'none',
        stop_grace_period: '1s',
        volumes: [`./src:${APP_MOUNT}`],
      },
    },
    'x-sync': { syncs: { code: { src: './src', strategy: 'rsync' } } },
  })
}

export function daemonPid(status: unknown): number | undefined {
  const daemon = (status as { daemon?: { pid?: unknown } } | undefined)?.daemon
  const pid = daemon?.pid
  return typeof pid === 'number' && Number.isInteger(pid) && pid > 0 ? pid : undefined
}

const READY_STATES = new Set(['ok', 'ready', 'watching', 'idle', 'synced', 'in-sync'])

function record(v: unknown): Record<string, unknown> | undefined {
  return v && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined
}

/** The per-sync entries of a status, under `status.syncs` or `syncs`, as an array or a record. */
function syncEntries(status: unknown): Record<string, unknown>[] {
  const s = record(status)
  const syncs = record(s?.status)?.syncs ?? s?.syncs
  const list = Array.isArray(syncs) ? (syncs as unknown[]) : Object.values(record(syncs) ?? {})
  return list.map(record).filter((x): x is Record<string, unknown> => x !== undefined)
}

/**
 * Whether the daemon says its watches are set up, from whichever field `status --json` has:
 * `daemon.ready` / `daemon.watching` (booleans), `daemon.health` / `daemon.state` (strings), or
 * the state of every sync. Undefined when status has none of these (watch setup is then n/a).
 */
export function readiness(status: unknown): { ready: boolean; field: string } | undefined {
  const daemon = record(record(status)?.daemon)
  for (const key of ['ready', 'watching'] as const) {
    const v = daemon?.[key]
    if (typeof v === 'boolean') return { ready: v, field: `daemon.${key}` }
  }
  for (const key of ['health', 'state', 'status'] as const) {
    const v = daemon?.[key]
    if (typeof v === 'string')
      return { ready: READY_STATES.has(v.toLowerCase()), field: `daemon.${key}` }
  }
  const states = syncEntries(status).map((o) => o.state ?? o.status)
  if (states.length > 0 && states.every((v) => typeof v === 'string')) {
    return {
      ready: states.every((v) => READY_STATES.has(v.toLowerCase())),
      field: 'syncs[].state',
    }
  }
  return undefined
}

/** The daemon's own figure for its watch setup (`watchSetupMs`), when status has one. */
export function selfReportedWatchSetup(status: unknown): number | undefined {
  const s = record(status)
  const v = record(s?.status)?.watchSetupMs ?? record(s?.daemon)?.watchSetupMs ?? s?.watchSetupMs
  return typeof v === 'number' ? v : undefined
}

/**
 * The initial pass as dsync timed it: the last batch of each sync when it was a full pass
 * (`syncs[].lastBatch = {kind: 'full', latencyMs}`), summed over syncs. Undefined otherwise.
 */
export function selfReportedInitialPass(status: unknown): number | undefined {
  let total: number | undefined
  for (const sync of syncEntries(status)) {
    const batch = record(sync.lastBatch)
    if (batch?.kind !== 'full' || typeof batch.latencyMs !== 'number') return undefined
    total = (total ?? 0) + batch.latencyMs
  }
  return total
}

/** Stops a daemon dsync left behind, by its pid, after checking it is still a node process. */
async function stopPid(pid: number): Promise<void> {
  const isNode = () => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('node')
    } catch {
      return false
    }
  }
  if (!isNode()) return
  process.kill(pid, 'SIGTERM')
  for (let i = 0; i < 20 && isNode(); i++) await sleep(100)
  if (isNode()) process.kill(pid, 'SIGKILL')
}

function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
  return oneLine(lines.at(-1) ?? '')
}

function oneLine(text: string): string {
  const line = text.split('\n')[0] ?? ''
  return line.length > 200 ? `${line.slice(0, 197)}...` : line
}
