/**
 * The sync's part of `up` and `down`, on the CLI side:
 * up: sidecar image -> sidecar container only -> watcher daemon (watches first) -> initial sync
 * with progress -> sidecar marked healthy; then the user's `up` runs, and the app services,
 * which depend on the sidecar being healthy, start on synced code. A failure undoes what this
 * run created. down: the daemon stops first, so it never syncs into a vanishing sidecar.
 */
import { createHash } from 'node:crypto'
import { closeSync, existsSync, fchmodSync, openSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { AbortError, DsyncError, ExitCode, ExternalError } from '../lib/errors.js'
import { run } from '../lib/exec.js'
import { spawnDetached } from '../lib/spawn.js'
import { logger } from '../lib/log.js'
import { ensureStateDir, writePrivateFile } from '../lib/paths.js'
import { progressView } from '../lib/progress.js'
import { composeArgs, runComposeCaptured } from '../compose/cli.js'
import { overrideGlobals, type PlannedProject } from '../compose/load.js'
import { ensureSyncImage } from '../docker/image.js'
import { LABEL_PROJECT, SIDECAR_SERVICE } from '../docker/labels.js'
import { workerRequest } from '../strategies/native-osx.js'
import type { SyncTarget } from '../strategies/types.js'
import { ControlUnavailable, request, socketPath } from './control.js'
import { requireHostTools, requireUnison } from './host-tools.js'
import { withProjectLock } from './lock.js'
import { DAEMON_MARKER, daemonPid, logPath, stopProcess } from './process.js'
import { specHash, specPath, type DaemonSpec } from './spec.js'
import type { DaemonStatus } from './status.js'

const log = logger('dsync:lifecycle')

export interface LifecycleOptions {
  cwd: string
  env: NodeJS.ProcessEnv
}

/**
 * Brings the sync up. `then`, when given, runs under the project's lock once the sync is up:
 * the user's own detached `up`, so that two concurrent ups do not create the app containers
 * twice (Compose v1 fails then with "container ... is not connected to the network").
 */
export async function startSync(planned: PlannedProject, options: LifecycleOptions): Promise<void>
export async function startSync<T>(
  planned: PlannedProject,
  options: LifecycleOptions,
  then: () => Promise<T>,
): Promise<T>
export async function startSync<T>(
  planned: PlannedProject,
  options: LifecycleOptions,
  then?: () => Promise<T>,
): Promise<T | undefined> {
  const { plan } = planned
  if (!plan.sidecar) return then?.()
  requireHostTools(
    plan.syncs.map((sync) => sync.strategy),
    options.env,
  )
  if (plan.syncs.some((sync) => sync.strategy === 'unison')) await requireUnison(options.env)
  ensureStateDir(planned.stateDir, options.env)
  return withProjectLock(
    planned.stateDir,
    { project: planned.project.name, action: 'started', onWait: say },
    async () => {
      await startLocked(planned, options)
      return then?.()
    },
  )
}

function say(line: string): void {
  process.stderr.write(`dsync: ${line}\n`)
}

async function startLocked(planned: PlannedProject, options: LifecycleOptions): Promise<void> {
  if (await alreadyInSync(planned, options)) {
    process.stderr.write('dsync: sync already running and healthy\n')
    return
  }
  // On a terminal the build's progress is one line, redrawn at each step.
  const tty = process.stderr.isTTY
  let drawn = false
  await ensureSyncImage({
    image: planned.config.image,
    onProgress: (step) => {
      if (!tty) {
        process.stderr.write(`dsync: building the sync image: ${step}\n`)
        return
      }
      process.stderr.write(`\r\x1b[2Kdsync: building the sync image: ${step}`)
      drawn = true
    },
  }).finally(() => {
    if (drawn) process.stderr.write('\r\x1b[2K')
  })
  const before = await existingResources(planned, options)
  let startedDaemon = false
  try {
    const up = await runComposeCaptured(
      planned.cli,
      composeArgs(planned.cli, overrideGlobals(planned), [
        'up',
        '-d',
        '--no-deps',
        SIDECAR_SERVICE,
      ]),
      { cwd: options.cwd, env: options.env, reject: false },
    )
    if (up.exitCode !== 0) {
      throw new ExternalError(
        `compose up ${SIDECAR_SERVICE}`,
        up.exitCode,
        up.stderr,
        'see the message above',
      )
    }
    const container = await sidecarContainer(planned, options)
    const spec: DaemonSpec = {
      project: planned.project.name,
      stateDir: planned.stateDir,
      container,
      syncs: targets(planned),
    }
    startedDaemon = await ensureDaemon(spec, options)
    await acceptAtUp(planned, container, options)
    const view = progressView('initial sync')
    try {
      await request(
        socketPath(planned.stateDir),
        { cmd: 'initial' },
        { onProgress: (p) => view.update(p) },
      )
    } catch (error) {
      // A sidecar that died says more than the pass that could not reach it.
      throw (await sidecarExit(container, planned, options)) ?? explainPass(error)
    } finally {
      view.end()
    }
    try {
      await waitHealthy(container, options)
    } catch (error) {
      throw (await sidecarExit(container, planned, options)) ?? error
    }
    writePrivateFile(
      recordPath(planned.stateDir),
      JSON.stringify({ override: overrideHash(planned), container }),
    )
  } catch (error) {
    await undo(planned, options, before, startedDaemon)
    throw error
  }
}

/**
 * `DSYNC_ACCEPT_DELETIONS=NAME[,NAME...]` (or `*`): the first pass of these native_osx syncs may
 * propagate a mass deletion that halted them (a folder emptied while the project was down).
 * `dsync sync NAME --accept-deletions` needs a running sidecar, and a halted `up` leaves none.
 */
async function acceptAtUp(
  planned: PlannedProject,
  container: string,
  options: LifecycleOptions,
): Promise<void> {
  const wanted = (options.env.DSYNC_ACCEPT_DELETIONS ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean)
  if (wanted.length === 0) return
  for (const sync of planned.plan.syncs) {
    if (sync.strategy !== 'native_osx') continue
    if (!wanted.includes('*') && !wanted.includes(sync.spec.name)) continue
    const accepted = await workerRequest({ container, env: options.env }, 'accept', sync.spec.name)
    say(
      accepted
        ? `${sync.spec.name}: the deletion was accepted and propagated`
        : `${sync.spec.name}: no deletion to accept (the sync was not halted)`,
    )
  }
}

function explainPass(error: unknown): Error {
  if (error instanceof DsyncError) return error
  // The daemon's own words: the pass failed, not dsync.
  return new AbortError(
    (error as Error).message,
    'fix the cause, then run dsync compose up again',
    ExitCode.tempFail,
  )
}

function recordPath(stateDir: string): string {
  return path.join(stateDir, 'sidecar.json')
}

function overrideHash(planned: PlannedProject): string {
  const text = planned.overridePath ? readFileSync(planned.overridePath, 'utf8') : ''
  return createHash('sha256').update(text).digest('hex')
}

/**
 * A second `up` with nothing changed: the same override, the sidecar it started still running
 * and healthy, and a daemon with the same spec reporting every sync healthy. Then there is
 * nothing to start or catch up (the daemon has been syncing all along).
 */
async function alreadyInSync(planned: PlannedProject, options: LifecycleOptions): Promise<boolean> {
  let record: { override: string; container: string }
  try {
    record = JSON.parse(readFileSync(recordPath(planned.stateDir), 'utf8')) as typeof record
  } catch {
    return false
  }
  if (record.override !== overrideHash(planned) || daemonPid(planned.stateDir) === undefined)
    return false
  const spec: DaemonSpec = {
    project: planned.project.name,
    stateDir: planned.stateDir,
    container: record.container,
    syncs: targets(planned),
  }
  try {
    const running = JSON.parse(readFileSync(specPath(planned.stateDir), 'utf8')) as DaemonSpec
    if (specHash(running) !== specHash(spec)) return false
    const status = await request(
      socketPath(planned.stateDir),
      { cmd: 'status' },
      { timeoutMs: 3000 },
    )
    if (status.health !== 'ok') return false
  } catch {
    return false
  }
  const inspect = await run(
    'docker',
    [
      'inspect',
      '-f',
      '{{.State.Running}} {{if .State.Health}}{{.State.Health.Status}}{{end}}',
      record.container,
    ],
    { env: options.env, reject: false },
  )
  return inspect.exitCode === 0 && inspect.stdout.trim() === 'true healthy'
}

/**
 * Stops the project's daemon, if one runs. Idempotent. Waits for an `up` of the project in
 * progress, which would otherwise start a daemon after this one stopped it.
 */
export async function stopSync(planned: { stateDir: string }): Promise<boolean> {
  if (!existsSync(planned.stateDir)) return false
  return withProjectLock(
    planned.stateDir,
    { project: path.basename(planned.stateDir), action: 'stopped', onWait: say },
    () => stopDaemon(planned.stateDir),
  )
}

async function stopDaemon(stateDir: string): Promise<boolean> {
  const pid = daemonPid(stateDir)
  if (pid === undefined) return false
  log.debug('stopping daemon %d', pid)
  await stopProcess(pid)
  return true
}

function targets(planned: PlannedProject): SyncTarget[] {
  return planned.plan.syncs.flatMap((sync) =>
    sync.sidecarPath
      ? [
          {
            name: sync.spec.name,
            strategy: sync.strategy,
            src: sync.spec.src,
            sidecarPath: sync.sidecarPath,
            owner: sync.owner,
            excludes: sync.spec.excludes,
            excludesType: sync.spec.excludesType,
            args: sync.spec.args,
            ...(sync.strategy === 'unison'
              ? { prefer: sync.spec.prefer, initial: sync.spec.initial }
              : {}),
          },
        ]
      : [],
  )
}

/** Starts the daemon unless one with the same spec already runs; true when it started one. */
async function ensureDaemon(spec: DaemonSpec, options: LifecycleOptions): Promise<boolean> {
  const { stateDir } = spec
  const file = specPath(stateDir)
  const running = daemonPid(stateDir)
  if (running !== undefined) {
    let same = false
    try {
      same = specHash(JSON.parse(readFileSync(file, 'utf8')) as DaemonSpec) === specHash(spec)
    } catch {
      same = false
    }
    if (same) return false
    log.debug('configuration changed: restarting daemon %d', running)
    await stopProcess(running)
  }
  writePrivateFile(file, JSON.stringify(spec, null, 2))
  const logFile = logPath(stateDir)
  const fd = openSync(logFile, 'a', 0o600)
  let pid: number
  try {
    // A log an earlier version created 0644.
    fchmodSync(fd, 0o600)
    pid = spawnDetached(process.execPath, [daemonEntry(), DAEMON_MARKER, stateDir], {
      cwd: stateDir,
      env: options.env,
      logFd: fd,
    })
  } finally {
    closeSync(fd)
  }
  await waitForDaemon(stateDir, pid, logFile)
  return true
}

function daemonEntry(): string {
  // main.js sits next to this module once built.
  const here = path.dirname(fileURLToPath(import.meta.url))
  const built = path.join(here, 'main.js')
  if (existsSync(built)) return built
  throw new AbortError('the watcher daemon is not built', 'run npm run build', ExitCode.bug)
}

async function waitForDaemon(
  stateDir: string,
  pid: number,
  logFile: string,
): Promise<DaemonStatus> {
  const deadline = Date.now() + 20_000
  for (;;) {
    try {
      return await request(socketPath(stateDir), { cmd: 'status' }, { timeoutMs: 5000 })
    } catch (error) {
      if (!(error instanceof ControlUnavailable)) throw error
    }
    let alive = true
    try {
      process.kill(pid, 0)
    } catch {
      alive = false
    }
    if (!alive || Date.now() > deadline) {
      const tail = readTail(logFile)
      throw new ExternalError('the dsync watcher daemon', undefined, tail, `see ${logFile}`)
    }
    await sleep(50)
  }
}

function readTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-5).join('\n')
  } catch {
    return ''
  }
}

async function sidecarContainer(
  planned: PlannedProject,
  options: LifecycleOptions,
): Promise<string> {
  // `-a`: Compose v2's `ps` leaves out exited containers, and an exited sidecar is the one whose
  // cause the user needs (v1 accepts the flag too).
  const result = await runComposeCaptured(
    planned.cli,
    composeArgs(planned.cli, overrideGlobals(planned), ['ps', '-a', '-q', SIDECAR_SERVICE]),
    { cwd: options.cwd, env: options.env },
  )
  const id = result.stdout.trim().split('\n')[0]
  if (!id)
    throw new ExternalError(`compose ps ${SIDECAR_SERVICE}`, 0, 'the sync sidecar has no container')
  const exited = await sidecarExit(id, planned, options)
  if (exited) throw exited
  return id
}

/**
 * Why the sidecar is not running, when it is not (exited, dead, or restarting after an exit):
 * its exit code and the last lines it printed, read now, since a failed `up` removes it.
 */
async function sidecarExit(
  container: string,
  planned: PlannedProject,
  options: LifecycleOptions,
): Promise<DsyncError | undefined> {
  const inspect = await run(
    'docker',
    ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}', container],
    { env: options.env, reject: false },
  )
  if (inspect.exitCode !== 0) return undefined
  const [state = '', code = '', ...error] = inspect.stdout.trim().split(' ')
  if (!['exited', 'dead', 'restarting'].includes(state)) return undefined
  const logs = await run('docker', ['logs', '--tail', '5', container], {
    env: options.env,
    reject: false,
  })
  const printed = [...lines(logs.stdout), ...lines(logs.stderr), ...lines(error.join(' '))]
  const said =
    printed.length > 0
      ? `after printing: ${printed.slice(-3).join(' | ')}`
      : 'without printing anything'
  const image = planned.plan.sidecar?.image ?? ''
  return new AbortError(
    `the sync sidecar exited with code ${code} ${said}`,
    planned.config.image
      ? `x-sync.image (${image}) must be dsync's sync image or an image built FROM it`
      : `remove the image (docker image rm ${image}) so that dsync builds it again`,
    ExitCode.tempFail,
  )
}

/** Docker reports the health a healthcheck interval after the marker appears. */
async function waitHealthy(container: string, options: LifecycleOptions): Promise<void> {
  const deadline = Date.now() + 60_000
  for (;;) {
    const result = await run(
      'docker',
      ['inspect', '-f', '{{if .State.Health}}{{.State.Health.Status}}{{end}}', container],
      {
        env: options.env,
      },
    )
    const health = result.stdout.trim()
    if (health === 'healthy' || health === '') return
    if (health === 'unhealthy' || Date.now() > deadline) {
      throw new ExternalError(
        'the sync sidecar health check',
        undefined,
        `state ${health}`,
        'see dsync logs',
      )
    }
    await sleep(100)
  }
}

interface Resources {
  containers: Set<string>
  volumes: Set<string>
}

async function existingResources(
  planned: PlannedProject,
  options: LifecycleOptions,
): Promise<Resources> {
  const project = planned.project.name
  const [containers, volumes] = await Promise.all([
    run('docker', ['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${project}`], {
      env: options.env,
    }),
    run('docker', ['volume', 'ls', '-q', '--filter', `label=${LABEL_PROJECT}=${project}`], {
      env: options.env,
    }),
  ])
  return { containers: lines(containers.stdout), volumes: lines(volumes.stdout) }
}

function lines(text: string): Set<string> {
  return new Set(
    text
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean),
  )
}

/** Undo what this `up` created: the daemon, the sidecar (if the project had no containers), new sync volumes. */
async function undo(
  planned: PlannedProject,
  options: LifecycleOptions,
  before: Resources,
  startedDaemon: boolean,
): Promise<void> {
  try {
    if (startedDaemon) await stopDaemon(planned.stateDir)
    if (before.containers.size === 0) {
      await runComposeCaptured(
        planned.cli,
        composeArgs(planned.cli, overrideGlobals(planned), ['down']),
        {
          cwd: options.cwd,
          env: options.env,
          reject: false,
        },
      )
    }
    const now = await existingResources(planned, options)
    const fresh = [...now.volumes].filter((v) => !before.volumes.has(v))
    if (fresh.length > 0)
      await run('docker', ['volume', 'rm', '-f', ...fresh], { env: options.env, reject: false })
  } catch (error) {
    log.warn(
      'could not undo everything: %s',
      error instanceof Error ? error.message : String(error),
    )
  }
}
