import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, expect, test } from 'vitest'
import { flush } from '../../src/daemon/service.js'
import { DsyncError } from '../../src/lib/errors.js'
import { spawn, type Spawned } from '../../src/lib/spawn.js'

const temps: string[] = []
const children: Spawned[] = []
afterEach(async () => {
  for (const child of children.splice(0)) {
    child.kill('SIGKILL')
    await child
  }
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** A project with only a state folder (no compose file is needed with -p). */
function project() {
  const root = mkdtempSync(path.join(tmpdir(), 'dsync-service-'))
  temps.push(root)
  const env = { PATH: process.env.PATH, XDG_STATE_HOME: path.join(root, 'state') }
  const stateDir = path.join(root, 'state', 'dsync', 'myapp')
  mkdirSync(stateDir, { recursive: true })
  return { ctx: { cwd: root, env }, stateDir, flags: { projectName: 'myapp' } }
}

async function failure(promise: Promise<unknown>): Promise<DsyncError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(error instanceof DsyncError)) throw new Error(`expected a DsyncError, got ${String(error)}`)
  return error
}

test('Given no daemon for the project, when it is flushed, then exit 75 says how to start one', async () => {
  const { ctx, flags } = project()

  const error = await failure(flush(flags, ctx))

  expect(error.exitCode).toBe(75)
  expect(error.line()).toBe(
    'no dsync daemon runs for project "myapp"; run dsync sync (restarts it) or dsync compose up',
  )
})

test('Given a daemon that is alive but does not answer, when it is flushed, then exit 75 says to replace it', async () => {
  const { ctx, flags, stateDir } = project()
  // A process that looks like the project's daemon (its command line) but has no socket
  const deaf = spawn(
    process.execPath,
    ['-e', 'setInterval(() => {}, 1000)', 'dsync-daemon', stateDir],
    { stdin: 'ignore' },
  )
  children.push(deaf)
  writeFileSync(path.join(stateDir, 'daemon.pid'), String(deaf.pid))

  const error = await failure(flush(flags, ctx))

  expect(error.exitCode).toBe(75)
  expect(error.line()).toBe(
    `the dsync daemon of project "myapp" (pid ${deaf.pid}) does not answer; stop it (kill ${deaf.pid}), then run dsync sync (restarts it)`,
  )
})
