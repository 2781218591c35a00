/**
 * The watcher daemon's entry: `node main.js dsync-daemon <stateDir>`, started detached by `up`
 * with its output appended to `<stateDir>/daemon.log`.
 */
import { rmSync, writeFileSync } from 'node:fs'
import { logger } from '../lib/log.js'
import { serveControl, socketPath } from './control.js'
import { Daemon } from './daemon.js'
import { DAEMON_MARKER, pidPath, removePidFile } from './process.js'
import { readSpec } from './spec.js'

const log = logger('dsync:daemon')

async function main(): Promise<void> {
  const [marker, stateDir] = process.argv.slice(2)
  if (marker !== DAEMON_MARKER || !stateDir) {
    process.stderr.write('usage: main.js dsync-daemon STATE_DIR (started by dsync compose up)\n')
    process.exit(64)
  }
  const spec = readSpec(stateDir)
  const socket = socketPath(stateDir)
  rmSync(socket, { force: true })
  writeFileSync(pidPath(stateDir), String(process.pid))
  // A sidecar removed behind dsync's back (plain `docker compose down`): nothing left to sync.
  const daemon = new Daemon(spec, process.env, () => void exit(0, 'the sidecar container is gone'))
  const server = serveControl(socket, (request, progress) => daemon.handle(request, progress))

  let exiting = false
  const exit = async (code: number, why: string) => {
    if (exiting) return
    exiting = true
    log.info('stopping: %s', why)
    server.close()
    await daemon.stop()
    daemon.writeStatus()
    rmSync(socket, { force: true })
    removePidFile(stateDir)
    process.exit(code)
  }
  process.on('SIGTERM', () => void exit(0, 'SIGTERM'))
  process.on('SIGINT', () => void exit(0, 'SIGINT'))
  process.on('SIGHUP', () => void exit(0, 'SIGHUP'))
  process.on('uncaughtException', (error) => {
    log.warn('uncaught error: %s', error.stack ?? error.message)
    void exit(1, 'uncaught error')
  })

  await daemon.start()
  log.info('daemon %d for project %s started', process.pid, spec.project)
}

main().catch((error: unknown) => {
  log.warn(
    'daemon failed to start: %s',
    error instanceof Error ? (error.stack ?? error.message) : String(error),
  )
  process.exit(1)
})
