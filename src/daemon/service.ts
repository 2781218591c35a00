/**
 * The services behind `dsync status|flush|sync|logs|pause|resume|clean`. Each finds its project
 * as compose does (working directory, -f, -p, --project-directory, COMPOSE_FILE,
 * COMPOSE_PROJECT_NAME) and talks to that project's daemon over its control socket.
 */
import { createReadStream, existsSync, readFileSync, rmSync, statSync, watch } from 'node:fs'
import { AbortError, ExitCode } from '../lib/errors.js'
import { run } from '../lib/exec.js'
import { projectStateDir } from '../lib/paths.js'
import { parseComposeArgv } from '../compose/argv.js'
import { resolveProject } from '../compose/project.js'
import { loadProject, planProject } from '../compose/load.js'
import { syncImageTag } from '../docker/image.js'
import { LABEL_PROJECT, LABEL_ROLE, ROLE_SIDECAR } from '../docker/labels.js'
import { twoWayStatus, workerRequest } from '../strategies/native-osx.js'
import type { TwoWayStatus } from '../strategies/unison-config.js'
import { ControlUnavailable, request, socketPath, type ControlRequest } from './control.js'
import { startSync, stopSync } from './lifecycle.js'
import { daemonPid, logPath, statusPath } from './process.js'
import type { DaemonStatus, PassProgress } from './status.js'
import { progressView } from '../lib/progress.js'

export interface ProjectFlags {
  file?: string[]
  projectName?: string
  projectDirectory?: string
  envFile?: string[]
}

export interface Context {
  cwd: string
  env: NodeJS.ProcessEnv
}

/** The compose argv these flags stand for. */
function composeArgv(flags: ProjectFlags): string[] {
  return [
    ...(flags.file ?? []).flatMap((f) => ['-f', f]),
    ...(flags.projectName ? ['-p', flags.projectName] : []),
    ...(flags.projectDirectory ? ['--project-directory', flags.projectDirectory] : []),
    ...(flags.envFile ?? []).flatMap((f) => ['--env-file', f]),
  ]
}

export interface LocatedProject {
  name: string
  stateDir: string
}

export function locateProject(flags: ProjectFlags, ctx: Context): LocatedProject {
  const argv = parseComposeArgv(composeArgv(flags))
  // -p alone is enough: the state directory is named after the project.
  if (argv.projectName && argv.files.length === 0 && !ctx.env.COMPOSE_FILE) {
    const name = argv.projectName
    return { name, stateDir: projectStateDir(name, ctx.env) }
  }
  const project = resolveProject(argv, ctx)
  return { name: project.name, stateDir: projectStateDir(project.name, ctx.env) }
}

const RESTART_HINT = 'run dsync sync (restarts it) or dsync compose up'

function notRunning(project: LocatedProject): AbortError {
  return new AbortError(
    `no dsync daemon runs for project "${project.name}"`,
    RESTART_HINT,
    ExitCode.tempFail,
  )
}

/** The answer of `status`, `flush`, `sync`, `pause` and `resume` when every sync is native. */
export interface NothingToSync {
  project: string
  nothingToSync: true
}

export const NOTHING_TO_SYNC = 'all syncs are native bind mounts: nothing to sync'

export function isNothingToSync(result: object): result is NothingToSync {
  return 'nothingToSync' in result && result.nothingToSync === true
}

/**
 * True when the project's x-sync block plans no sidecar (every sync `native`, or `auto` on a
 * local engine): no daemon runs for it, by design. Asked only when no daemon answers.
 */
async function allNative(flags: ProjectFlags, ctx: Context): Promise<boolean> {
  try {
    const loaded = await loadProject(parseComposeArgv(composeArgv(flags)), ctx)
    // No x-sync block: a project dsync has nothing to do with, not a native one.
    if (!loaded.config) return false
    const planned = await planProject(
      { ...loaded, config: loaded.config },
      { ...ctx, sidecarImage: loaded.config.image ?? syncImageTag() },
    )
    return planned.plan.sidecar === undefined
  } catch {
    // No project files here (only -p), or a block that does not plan: nothing says native.
    return false
  }
}

/** Asks the daemon; a project without a daemon because every sync is native gets its answer. */
async function askUnlessNative(
  flags: ProjectFlags,
  ctx: Context,
  req: ControlRequest,
): Promise<DaemonStatus | NothingToSync> {
  const project = locateProject(flags, ctx)
  if (daemonPid(project.stateDir) === undefined && (await allNative(flags, ctx))) {
    return { project: project.name, nothingToSync: true }
  }
  return ask(project, req)
}

async function ask(
  project: LocatedProject,
  req: ControlRequest,
  onProgress?: (p: PassProgress) => void,
) {
  if (daemonPid(project.stateDir) === undefined) throw notRunning(project)
  try {
    return await request(socketPath(project.stateDir), req, { onProgress })
  } catch (error) {
    if (error instanceof ControlUnavailable) {
      const pid = daemonPid(project.stateDir)
      if (pid === undefined) throw notRunning(project)
      // Alive but deaf: asking it again cannot help, a new daemon can.
      throw new AbortError(
        `the dsync daemon of project "${project.name}" (pid ${pid}) does not answer`,
        `stop it (kill ${pid}), then run dsync sync (restarts it)`,
        ExitCode.tempFail,
      )
    }
    throw new AbortError(
      `the daemon of project "${project.name}" reports: ${(error as Error).message}`,
      `fix the cause (see dsync logs -p ${project.name}) and try again; the daemon keeps retrying`,
      ExitCode.tempFail,
    )
  }
}

export interface StatusReport {
  project: string
  stateDir: string
  daemon: { running: boolean; pid: number | undefined; health: DaemonStatus['health'] | 'down' }
  /** Live figures when the daemon runs; the last ones it wrote otherwise. */
  status: DaemonStatus | undefined
  /** Every sync is a native bind mount: no daemon runs, by design. */
  nothingToSync: boolean
}

export async function status(flags: ProjectFlags, ctx: Context): Promise<StatusReport> {
  const project = locateProject(flags, ctx)
  const pid = daemonPid(project.stateDir)
  let live: DaemonStatus | undefined
  if (pid !== undefined) {
    try {
      live = await request(socketPath(project.stateDir), { cmd: 'status' }, { timeoutMs: 5000 })
    } catch {
      live = undefined
    }
  }
  const last = live ?? readLastStatus(project.stateDir)
  if (live) await addTwoWay(live, ctx.env)
  return {
    project: project.name,
    stateDir: project.stateDir,
    daemon: {
      running: live !== undefined,
      pid: live?.pid ?? pid,
      health: live ? live.health : 'down',
    },
    status: last,
    nothingToSync: live === undefined && (await allNative(flags, ctx)),
  }
}

/**
 * native_osx syncs are run by the sidecar, not the daemon: their state comes from there. A
 * halted worker halts the sync; one in error puts it in error.
 */
async function addTwoWay(live: DaemonStatus, env: NodeJS.ProcessEnv): Promise<void> {
  const names = live.syncs.filter((s) => s.strategy === 'native_osx').map((s) => s.name)
  if (names.length === 0) return
  const found = await twoWayStatus(live.container, names, env).catch(
    () => new Map<string, TwoWayStatus>(),
  )
  for (const sync of live.syncs) {
    const twoWay = found.get(sync.name)
    if (!twoWay) continue
    sync.twoWay = twoWay
    if (sync.state !== 'watching' && sync.state !== 'syncing') continue
    if (twoWay.state === 'halted') {
      sync.state = 'halted'
      sync.lastError = `halted: ${twoWay.halt ?? 'a mass deletion was not propagated'}`
    } else if (twoWay.state === 'error') {
      sync.state = 'error'
      sync.lastError = twoWay.error
    } else if (twoWay.state === 'syncing' || twoWay.state === 'initial-sync') {
      sync.state = 'syncing'
    }
    if (twoWay.lastRun && (!sync.lastSync || twoWay.lastRun > sync.lastSync)) {
      sync.lastSync = twoWay.lastRun
    }
  }
  if (live.syncs.some((s) => s.state === 'halted' || s.state === 'error')) live.health = 'degraded'
}

/**
 * What is wrong with the sync, and how to recover, when `status` must exit 75: the daemon is
 * down, a sync is in error or its sidecar is down, or the daemon reports itself degraded.
 * Undefined when all is well (or every sync is native, with nothing to run).
 */
export function statusProblem(report: StatusReport): AbortError | undefined {
  if (report.nothingToSync) return undefined
  const name = report.project
  if (!report.daemon.running) {
    return new AbortError(`daemon down for project "${name}"`, RESTART_HINT, ExitCode.tempFail)
  }
  for (const sync of report.status?.syncs ?? []) {
    const why = sync.lastError ? `: ${sync.lastError}` : ''
    switch (sync.state) {
      case 'sidecar-down':
        return new AbortError(
          `sync "${sync.name}" of project "${name}" is sidecar-down${why}`,
          'start the sidecar with dsync compose up; the daemon catches up by itself',
          ExitCode.tempFail,
        )
      case 'error':
        return new AbortError(
          `sync "${sync.name}" of project "${name}" is in error${why}`,
          `fix the cause (see dsync logs), then run dsync sync ${sync.name}`,
          ExitCode.tempFail,
        )
      case 'halted':
        // The reason says what to do.
        return new AbortError(
          `sync "${sync.name}" of project "${name}" is ${sync.lastError ?? 'halted'}`,
          undefined,
          ExitCode.tempFail,
        )
      case 'starting':
      case 'initial-sync':
      case 'watching':
      case 'syncing':
      case 'paused':
        break
    }
  }
  if (report.daemon.health === 'degraded') {
    return new AbortError(
      `the sync of project "${name}" is degraded`,
      'see dsync logs; dsync sync runs a full pass',
      ExitCode.tempFail,
    )
  }
  return undefined
}

function readLastStatus(stateDir: string): DaemonStatus | undefined {
  try {
    return JSON.parse(readFileSync(statusPath(stateDir), 'utf8')) as DaemonStatus
  } catch {
    return undefined
  }
}

export async function flush(
  flags: ProjectFlags,
  ctx: Context,
): Promise<DaemonStatus | NothingToSync> {
  return askUnlessNative(flags, ctx, { cmd: 'flush' })
}

export async function pause(
  flags: ProjectFlags,
  ctx: Context,
): Promise<DaemonStatus | NothingToSync> {
  return askUnlessNative(flags, ctx, { cmd: 'pause' })
}

export async function resume(
  flags: ProjectFlags,
  ctx: Context,
): Promise<DaemonStatus | NothingToSync> {
  return askUnlessNative(flags, ctx, { cmd: 'resume' })
}

/**
 * A full pass of one sync or all. Without a live daemon (never started, or killed) the sync is
 * brought up as `up` would: the daemon replaced, everything changed meanwhile caught up.
 */
export async function syncNow(
  name: string | undefined,
  flags: ProjectFlags,
  ctx: Context,
): Promise<DaemonStatus | NothingToSync> {
  const project = locateProject(flags, ctx)
  if (daemonPid(project.stateDir) === undefined) {
    const loaded = await loadProject(parseComposeArgv(composeArgv(flags)), ctx)
    if (!loaded.config) {
      throw new AbortError(
        `project "${loaded.project.name}" has no x-sync block`,
        'add one to a compose file',
        ExitCode.config,
      )
    }
    if (name !== undefined && !loaded.config.syncs.some((s) => s.name === name)) {
      throw new AbortError(
        `no sync named "${name}"`,
        `syncs are: ${loaded.config.syncs.map((s) => s.name).join(', ')}`,
        ExitCode.usage,
      )
    }
    const planned = await planProject(
      { ...loaded, config: loaded.config },
      { ...ctx, sidecarImage: loaded.config.image ?? syncImageTag() },
    )
    if (!planned.plan.sidecar) return { project: project.name, nothingToSync: true }
    await startSync(planned, ctx)
    return ask(project, { cmd: 'status' })
  }
  const view = progressView()
  try {
    return await ask(project, name === undefined ? { cmd: 'sync' } : { cmd: 'sync', name }, (p) =>
      view.update(p),
    )
  } finally {
    view.end()
  }
}

/**
 * `dsync sync NAME --accept-deletions`: the next pass of a native_osx or unison sync halted at
 * a mass deletion propagates it. Resolves true when there was one to accept.
 */
export async function acceptDeletions(
  name: string,
  flags: ProjectFlags,
  ctx: Context,
): Promise<boolean> {
  const project = locateProject(flags, ctx)
  // unison runs in the daemon: the daemon accepts it, with the pass that propagates it.
  if (daemonPid(project.stateDir) !== undefined) {
    const live = await ask(project, { cmd: 'status' })
    const sync = live.syncs.find((s) => s.name === name)
    if (sync?.strategy === 'unison') {
      await ask(project, { cmd: 'accept', name })
      return sync.state === 'halted'
    }
  }
  const ps = await run(
    'docker',
    [
      'ps',
      '-q',
      '--filter',
      `label=${LABEL_PROJECT}=${project.name}`,
      '--filter',
      `label=${LABEL_ROLE}=${ROLE_SIDECAR}`,
    ],
    { env: ctx.env },
  )
  const container = ps.stdout.split('\n').find(Boolean)
  if (!container) {
    throw new AbortError(
      `the sync sidecar of project "${project.name}" is not running`,
      `start the project with the deletion accepted: DSYNC_ACCEPT_DELETIONS=${name} dsync compose up -d`,
      ExitCode.tempFail,
    )
  }
  return (await workerRequest({ container, env: ctx.env }, 'accept', name)) > 0
}

/** Prints the daemon's log; with `follow`, keeps printing until aborted. */
export async function logs(
  flags: ProjectFlags,
  ctx: Context,
  options: { follow: boolean; signal?: AbortSignal; out?: NodeJS.WritableStream },
): Promise<void> {
  const project = locateProject(flags, ctx)
  const file = logPath(project.stateDir)
  const out = options.out ?? process.stdout
  if (!existsSync(file)) {
    if (!options.follow) {
      throw new AbortError(
        `no daemon log for project "${project.name}" yet`,
        'start the sync with dsync compose up',
        ExitCode.noInput,
      )
    }
  }
  let offset = 0
  const pump = () =>
    new Promise<void>((resolve) => {
      let size = 0
      try {
        size = statSync(file).size
      } catch {
        resolve()
        return
      }
      if (size < offset) offset = 0
      if (size === offset) {
        resolve()
        return
      }
      const stream = createReadStream(file, { start: offset, end: size - 1 })
      stream.on('data', (chunk) => out.write(chunk))
      stream.on('end', () => {
        offset = size
        resolve()
      })
      stream.on('error', () => resolve())
    })
  await pump()
  if (!options.follow) return
  await new Promise<void>((resolve) => {
    let busy = Promise.resolve()
    const tick = () => {
      busy = busy.then(pump)
    }
    const timer = setInterval(tick, 250)
    let watcher: ReturnType<typeof watch> | undefined
    try {
      watcher = watch(project.stateDir, tick)
    } catch {
      watcher = undefined
    }
    options.signal?.addEventListener('abort', () => {
      clearInterval(timer)
      watcher?.close()
      resolve()
    })
  })
}

export interface CleanPlan {
  project: string
  daemonPid: number | undefined
  containers: { id: string; name: string }[]
  volumes: string[]
  stateDir: string | undefined
}

/** What `clean` would remove (nothing is touched). */
export async function cleanPlan(flags: ProjectFlags, ctx: Context): Promise<CleanPlan> {
  const project = locateProject(flags, ctx)
  const label = `label=${LABEL_PROJECT}=${project.name}`
  const [containers, volumes] = await Promise.all([
    run('docker', ['ps', '-a', '--filter', label, '--format', '{{.ID}} {{.Names}}'], {
      env: ctx.env,
    }),
    run('docker', ['volume', 'ls', '-q', '--filter', label], { env: ctx.env }),
  ])
  return {
    project: project.name,
    daemonPid: daemonPid(project.stateDir),
    containers: containers.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [id = '', name = ''] = l.split(' ')
        return { id, name }
      }),
    volumes: volumes.stdout.split('\n').filter(Boolean),
    stateDir: existsSync(project.stateDir) ? project.stateDir : undefined,
  }
}

/** Removes what the plan lists; volumes still used by app containers are reported, not forced. */
export async function clean(plan: CleanPlan, ctx: Context): Promise<{ kept: string[] }> {
  if (plan.stateDir) await stopSync({ stateDir: plan.stateDir })
  if (plan.containers.length > 0) {
    await run('docker', ['rm', '-f', '-v', ...plan.containers.map((c) => c.id)], { env: ctx.env })
  }
  const kept: string[] = []
  for (const volume of plan.volumes) {
    const result = await run('docker', ['volume', 'rm', volume], { env: ctx.env, reject: false })
    if (result.exitCode !== 0 && !/no such volume/i.test(result.stderr)) kept.push(volume)
  }
  if (plan.stateDir) rmSync(plan.stateDir, { recursive: true, force: true })
  if (kept.length > 0) {
    throw new AbortError(
      `volume ${kept.join(', ')} is still used by the project's containers and was kept`,
      `run dsync compose -p ${plan.project} down first, then dsync clean again`,
      ExitCode.tempFail,
    )
  }
  return { kept }
}
