/**
 * The Docker side of the benchmarks: the bench image, containers and volumes (all named
 * `dsync-bench-<run>-...` and labelled with the run id, so cleanup finds them even after a
 * failure half-way), the resource registry that cleans up on exit and on Ctrl-C, and the CPU
 * accounting of host processes and container cgroups.
 */
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { run } from '../../src/lib/exec.js'
import type { Spawned } from '../../src/lib/spawn.js'
import { packageRoot } from '../../src/lib/paths.js'

export const BENCH_LABEL = 'dev.dsync.bench'
export const PREFIX = 'dsync-bench-'

export type Log = (line: string) => void

/** Everything a run created, removed in reverse order by `cleanup` (idempotent). */
export class Resources {
  private readonly undo: { what: string; fn: () => Promise<void> }[] = []
  private running: Promise<void> | undefined

  constructor(
    readonly runId: string,
    private readonly log: Log,
  ) {}

  /** Registers an undo step; returns a function that runs it now and forgets it. */
  defer(what: string, fn: () => Promise<void>): () => Promise<void> {
    const entry = { what, fn }
    this.undo.push(entry)
    return async () => {
      const i = this.undo.indexOf(entry)
      if (i < 0) return
      this.undo.splice(i, 1)
      await this.attempt(entry)
    }
  }

  dir(dir: string): () => Promise<void> {
    return this.defer(`remove ${dir}`, () => {
      rmSync(dir, { recursive: true, force: true })
      return Promise.resolve()
    })
  }

  child(child: Spawned, what: string): () => Promise<void> {
    return this.defer(`stop ${what}`, async () => {
      child.kill()
      await child
    })
  }

  private async attempt(entry: { what: string; fn: () => Promise<void> }): Promise<void> {
    try {
      await entry.fn()
    } catch (error) {
      this.log(`cleanup: could not ${entry.what}: ${(error as Error).message}`)
    }
  }

  cleanup(): Promise<void> {
    this.running ??= (async () => {
      while (this.undo.length > 0) {
        const entry = this.undo.pop()
        if (entry) await this.attempt(entry)
      }
      await sweepRun(this.runId)
    })()
    return this.running
  }
}

/** Removes whatever still carries this run's label (a container created just before Ctrl-C). */
async function sweepRun(runId: string): Promise<void> {
  const filter = `label=${BENCH_LABEL}=${runId}`
  const containers = await run('docker', ['ps', '-aq', '--filter', filter], { reject: false })
  const ids = containers.stdout.split('\n').filter(Boolean)
  if (ids.length > 0) await run('docker', ['rm', '-f', ...ids], { reject: false })
  const volumes = await run('docker', ['volume', 'ls', '-q', '--filter', filter], { reject: false })
  const names = volumes.stdout.split('\n').filter(Boolean)
  if (names.length > 0) await run('docker', ['volume', 'rm', '-f', ...names], { reject: false })
}

/** Removes what a compose project left (containers, volumes, networks), found by compose's label. */
export async function sweepProject(project: string): Promise<void> {
  const filter = `label=com.docker.compose.project=${project}`
  const containers = await run('docker', ['ps', '-aq', '--filter', filter], { reject: false })
  const ids = containers.stdout.split('\n').filter(Boolean)
  if (ids.length > 0) await run('docker', ['rm', '-f', ...ids], { reject: false })
  const volumes = await run('docker', ['volume', 'ls', '-q', '--filter', filter], { reject: false })
  const names = volumes.stdout.split('\n').filter(Boolean)
  if (names.length > 0) await run('docker', ['volume', 'rm', '-f', ...names], { reject: false })
  const networks = await run('docker', ['network', 'ls', '-q', '--filter', filter], {
    reject: false,
  })
  const nets = networks.stdout.split('\n').filter(Boolean)
  if (nets.length > 0) await run('docker', ['network', 'rm', ...nets], { reject: false })
}

export class Engine {
  private counter = 0

  constructor(
    readonly runId: string,
    readonly res: Resources,
    readonly image: string,
  ) {}

  name(purpose: string): string {
    return `${PREFIX}${this.runId}-${purpose}-${++this.counter}`
  }

  async volume(purpose: string): Promise<{ name: string; remove: () => Promise<void> }> {
    const name = this.name(purpose)
    await run('docker', ['volume', 'create', '--label', `${BENCH_LABEL}=${this.runId}`, name])
    const remove = this.res.defer(`remove volume ${name}`, async () => {
      await run('docker', ['volume', 'rm', '-f', name], { reject: false })
    })
    return { name, remove }
  }

  /** A container that only sleeps (exec'd into), with `mounts` as `-v` specs. */
  async container(
    purpose: string,
    mounts: string[],
  ): Promise<{ name: string; id: string; remove: () => Promise<void> }> {
    const name = this.name(purpose)
    const remove = this.res.defer(`remove container ${name}`, async () => {
      await run('docker', ['rm', '-f', name], { reject: false })
    })
    const result = await run('docker', [
      'run',
      '-d',
      '--name',
      name,
      '--label',
      `${BENCH_LABEL}=${this.runId}`,
      '--network',
      'none',
      '--init',
      '--entrypoint',
      'sleep',
      ...mounts.flatMap((m) => ['-v', m]),
      this.image,
      'infinity',
    ])
    return { name, id: result.stdout.trim(), remove }
  }
}

// ---------------------------------------------------------------------------------------------
// The image of the app containers (and of the baselines' rsync/tar side)

const BENCH_DOCKERFILE = `FROM debian:bookworm-slim
RUN apt-get update \\
 && apt-get install -y --no-install-recommends rsync inotify-tools \\
 && rm -rf /var/lib/apt/lists/*
`

async function hasTools(image: string): Promise<boolean> {
  const probe = await run(
    'docker',
    [
      'run',
      '--rm',
      '--network',
      'none',
      '--entrypoint',
      'sh',
      image,
      '-c',
      'command -v inotifywait && command -v rsync && command -v tar',
    ],
    { reject: false },
  )
  return probe.exitCode === 0
}

function hashDir(dir: string): string {
  const hash = createHash('sha256')
  const walk = (d: string) => {
    for (const entry of readdirSync(d).sort()) {
      const p = path.join(d, entry)
      if (statSync(p).isDirectory()) walk(p)
      else hash.update(path.relative(dir, p)).update(readFileSync(p))
    }
  }
  walk(dir)
  return hash.digest('hex').slice(0, 12)
}

/**
 * The image for the app containers and the baselines' sidecars. In order of preference: the
 * product's sync image (so the baselines run the very rsync the sidecar runs), from
 * `ensureSyncImage()` once src/docker/image.ts exports it, else built from images/sync/; and
 * failing that, or when that image lacks inotifywait/rsync/tar, a small bench image. Images are
 * kept between runs (they are a cache, like the trees); containers and volumes are not.
 */
export async function benchImage(log: Log): Promise<{ tag: string; source: string }> {
  const tried: string[] = []
  const module = path.join(packageRoot, 'dist', 'src', 'docker', 'image.js')
  if (existsSync(module)) {
    try {
      const mod = (await import(pathToFileURL(module).href)) as Record<string, unknown>
      const ensure = mod.ensureSyncImage
      if (typeof ensure === 'function') {
        const result = await (ensure as () => Promise<unknown>)()
        const tag =
          typeof result === 'string'
            ? result
            : ['tag', 'image', 'ref', 'name']
                .map((k) => (result as Record<string, unknown> | undefined)?.[k])
                .find((v): v is string => typeof v === 'string')
        if (tag && (await hasTools(tag))) return { tag, source: `ensureSyncImage() -> ${tag}` }
        tried.push(`ensureSyncImage() gave ${tag ?? 'no tag'} without inotifywait/rsync/tar`)
      }
    } catch (error) {
      tried.push(`ensureSyncImage() failed: ${(error as Error).message.split('\n')[0]}`)
    }
  }
  const syncDir = path.join(packageRoot, 'images', 'sync')
  if (existsSync(path.join(syncDir, 'Dockerfile'))) {
    const tag = `dsync-bench-sync:${hashDir(syncDir)}`
    const built =
      (await run('docker', ['image', 'inspect', tag], { reject: false })).exitCode === 0 ||
      (await run('docker', ['build', '-q', '-t', tag, syncDir], { reject: false })).exitCode === 0
    if (built && (await hasTools(tag))) return { tag, source: 'images/sync/Dockerfile' }
    tried.push(
      built ? 'images/sync image lacks inotifywait/rsync/tar' : 'images/sync did not build',
    )
  }
  const tag = `dsync-bench-app:${createHash('sha256').update(BENCH_DOCKERFILE).digest('hex').slice(0, 12)}`
  if ((await run('docker', ['image', 'inspect', tag], { reject: false })).exitCode !== 0) {
    log(`building the bench image ${tag}`)
    await run('docker', ['build', '-q', '-t', tag, '-'], { input: BENCH_DOCKERFILE })
  }
  const why = tried.length > 0 ? ` (${tried.join('; ')})` : ' (no images/sync/Dockerfile yet)'
  return { tag, source: `bench image from debian:bookworm-slim${why}` }
}

// ---------------------------------------------------------------------------------------------
// CPU accounting

let clockTicks = 100

export async function initClock(): Promise<void> {
  const r = await run('getconf', ['CLK_TCK'], { reject: false })
  const n = Number(r.stdout.trim())
  if (r.exitCode === 0 && n > 0) clockTicks = n
}

interface ProcStat {
  ppid: number
  /** utime + stime, seconds */
  self: number
  /** cutime + cstime (reaped children), seconds */
  children: number
}

export function procStat(pid: number | 'self'): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
    const num = (i: number) => Number(fields[i] ?? 0)
    // fields[0] is field 3 (state) of proc(5): ppid 4, utime 14, stime 15, cutime 16, cstime 17.
    return {
      ppid: num(1),
      self: (num(11) + num(12)) / clockTicks,
      children: (num(13) + num(14)) / clockTicks,
    }
  } catch {
    return undefined
  }
}

export function procStatus(pid: number, field: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)
    return m?.[1] ? Number(m[1]) / 1024 : undefined
  } catch {
    return undefined
  }
}

function allPids(): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
}

/** `pid` and all its live descendants. */
export function processTree(pid: number): number[] {
  const byParent = new Map<number, number[]>()
  for (const p of allPids()) {
    const st = procStat(p)
    if (!st) continue
    const list = byParent.get(st.ppid) ?? []
    list.push(p)
    byParent.set(st.ppid, list)
  }
  const out: number[] = []
  const stack = [pid]
  while (stack.length > 0) {
    const p = stack.pop() as number
    out.push(p)
    stack.push(...(byParent.get(p) ?? []))
  }
  return out
}

/** CPU seconds (self + reaped children) of a process tree, and the sum of its peak RSS. */
export function treeUsage(pid: number): {
  cpu: number
  hwmMB: number
  rssMB: number
  pids: number
} {
  let cpu = 0
  let hwmMB = 0
  let rssMB = 0
  const pids = processTree(pid).filter(isAlive)
  for (const p of pids) {
    const st = procStat(p)
    if (st) cpu += st.self + st.children
    hwmMB += procStatus(p, 'VmHWM') ?? 0
    rssMB += procStatus(p, 'VmRSS') ?? 0
  }
  return { cpu, hwmMB, rssMB, pids: pids.length }
}

/** CPU seconds of each engine process: dockerd, containerd and the containerd shims. */
function engineCpu(): Map<number, number> {
  const byPid = new Map<number, number>()
  for (const p of allPids()) {
    let comm: string
    try {
      comm = readFileSync(`/proc/${p}/comm`, 'utf8').trim()
    } catch {
      continue
    }
    if (comm === 'dockerd' || comm === 'containerd' || comm.startsWith('containerd-shim')) {
      const cpu = procStat(p)?.self
      if (cpu !== undefined) byPid.set(p, cpu)
    }
  }
  return byPid
}

/** Running, not a zombie (a detached daemon whose parent never reaps it stays in /proc). */
export function isAlive(pid: number): boolean {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = text.slice(text.lastIndexOf(')') + 2, text.lastIndexOf(')') + 3)
    return state !== 'Z' && state !== 'X'
  } catch {
    return false
  }
}

/** CPU seconds a container's cgroup used since it started (cgroup v1 cpuacct, or v2 cpu.stat). */
export function containerCpu(id: string): number | undefined {
  const v1 = `/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`
  const v2 = `/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`
  try {
    if (existsSync(v1)) return Number(readFileSync(v1, 'utf8').trim()) / 1e9
    if (existsSync(v2)) {
      const m = /^usage_usec (\d+)/m.exec(readFileSync(v2, 'utf8'))
      return m?.[1] ? Number(m[1]) / 1e6 : undefined
    }
  } catch {
    return undefined
  }
  return undefined
}

export async function containerIds(filterLabel: string): Promise<string[]> {
  const r = await run('docker', ['ps', '-aq', '--no-trunc', '--filter', `label=${filterLabel}`], {
    reject: false,
  })
  return r.stdout.split('\n').filter(Boolean)
}

export interface CpuSnapshot {
  /** This process's reaped children: the tar, rsync, docker and dsync CLI processes we ran. */
  host: number
  /** dockerd, containerd and the shims by pid: shared with anything else using the engine. */
  engine: Map<number, number>
  containers: Map<string, number>
}

export function cpuSnapshot(ids: readonly string[] = []): CpuSnapshot {
  const containers = new Map<string, number>()
  for (const id of ids) {
    const v = containerCpu(id)
    if (v !== undefined) containers.set(id, v)
  }
  return { host: procStat('self')?.children ?? 0, engine: engineCpu(), containers }
}

export interface CpuUse {
  host: number
  container: number | undefined
  engine: number
  /** host + container: the work of the transfer itself. */
  total: number
}

/** CPU used between two snapshots; a container absent from `before` started in between. */
export function cpuUse(before: CpuSnapshot, after: CpuSnapshot, extraHost = 0): CpuUse {
  let container: number | undefined
  for (const [id, v] of after.containers) {
    container = (container ?? 0) + v - (before.containers.get(id) ?? 0)
  }
  const host = after.host - before.host + extraHost
  // Per pid: a shim that exited in between (another user's container) must not count negative.
  let engine = 0
  for (const [pid, v] of after.engine) engine += v - (before.engine.get(pid) ?? 0)
  return { host, container, engine, total: host + (container ?? 0) }
}
