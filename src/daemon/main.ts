/**
 * The watcher daemon's entry: `node main.js dsync-daemon <stateDir>`, started detached by `up`
 * with its output appended to `<stateDir>/daemon.log`.
 */
import { rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { writePrivateFile } from '../lib/paths.js'
import type { Spawned } from '../lib/spawn.js'
import { logger } from '../lib/log.js'
import { serveControl, socketPath } from './control.js'
import { Daemon } from './daemon.js'
import { CAUSE_ENV, RESTARTS_ENV, startGuardian } from './guardian.js'
import { DAEMON_MARKER, daemonPid, pidPath, removePidFile } from './process.js'
import { readSpec } from './spec.js'

const log = logger('dsync:daemon')

async function main(): Promise<void> {
  const [marker, stateDir] = process.argv.slice(2)
  if (marker !== DAEMON_MARKER || !stateDir) {
    process.stderr.write('usage: main.js dsync-daemon STATE_DIR (started by dsync compose up)\n')
    process.exit(64)
  }
  // One daemon per project: a guardian's restart and a user's `up` or `sync` can race.
  const other = daemonPid(stateDir)
  if (other !== undefined && other !== process.pid) {
    log.info('daemon %d already runs for this project: not starting another', other)
    process.exit(0)
  }
  const spec = readSpec(stateDir)
  const socket = socketPath(stateDir)
  rmSync(socket, { force: true })
  writePrivateFile(pidPath(stateDir), String(process.pid))
  const restarts = Number(process.env[RESTARTS_ENV] ?? 0)
  const daemon = new Daemon(spec, {
    env: process.env,
    // A sidecar removed behind dsync's back (plain `docker compose down`): nothing left to sync.
    onSidecarGone: () => void exit(0, 'the sidecar container is gone'),
    onStop: () => void exit(0, 'asked to stop'),
    restart:
      restarts > 0
        ? { count: restarts, cause: process.env[CAUSE_ENV] ?? 'the previous daemon died' }
        : undefined,
  })
  const server = serveControl(socket, (request, progress) => daemon.handle(request, progress))

  // Restarts this daemon if it dies without being stopped (see guardian.ts).
  const entry = fileURLToPath(import.meta.url)
  let guardian: Spawned | undefined
  const guard = () => {
    guardian = startGuardian(stateDir, entry, (ended) => {
      if (exiting || ended !== guardian) return
      log.warn('the guardian process ended: starting another')
      guard()
    })
  }

  let exiting = false
  const exit = async (code: number, why: string) => {
    if (exiting) return
    exiting = true
    log.info('stopping: %s', why)
    // A deliberate stop: the guardian must not start another daemon.
    guardian?.kill('SIGKILL')
    // The socket, status and pid file are ours to clear only while the pid file names this
    // daemon (closing the server unlinks the socket path, which another daemon may hold now).
    const own = daemonPid(stateDir) === process.pid
    if (own) server.close()
    await daemon.stop()
    if (own) {
      daemon.writeStatus()
      rmSync(socket, { force: true })
      removePidFile(stateDir)
    }
    process.exit(code)
  }
  process.on('SIGTERM', () => void exit(0, 'SIGTERM'))
  process.on('SIGINT', () => void exit(0, 'SIGINT'))
  process.on('SIGHUP', () => void exit(0, 'SIGHUP'))
  process.on('uncaughtException', (error) => {
    // Its state is unknown now: end, and let the guardian start a clean daemon.
    log.warn('uncaught error: %s', error.stack ?? error.message)
    server.close()
    process.exit(1)
  })
  process.on('unhandledRejection', (reason) => {
    log.warn(
      'unhandled rejection (the daemon goes on): %s',
      reason instanceof Error ? (reason.stack ?? reason.message) : String(reason),
    )
  })

  await daemon.start()
  guard()
  // Should two have started at once anyway, the one the pid file does not name steps aside.
  const single = setInterval(() => {
    const named = daemonPid(stateDir)
    if (named !== undefined && named !== process.pid) {
      void exit(0, `daemon ${named} runs for this project`)
    }
  }, 3000)
  single.unref()
  log.info(
    'daemon %d for project %s started%s',
    process.pid,
    spec.project,
    restarts > 0 ? ` (restart ${restarts}: ${process.env[CAUSE_ENV] ?? ''})` : '',
  )
}

main().catch((error: unknown) => {
  log.warn(
    'daemon failed to start: %s',
    error instanceof Error ? (error.stack ?? error.message) : String(error),
  )
  process.exit(1)
})
