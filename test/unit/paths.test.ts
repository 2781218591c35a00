import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, expect, test } from 'vitest'
import { socketPath } from '../../src/daemon/control.js'
import { DsyncError } from '../../src/lib/errors.js'
import {
  ensureStateDir,
  privateRuntimeDir,
  projectStateDir,
  stateRoot,
  unusableState,
  writePrivateFile,
} from '../../src/lib/paths.js'

const temps: string[] = []
function temp(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'dsync-paths-'))
  temps.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const mode = (p: string) => statSync(p).mode & 0o777

function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected an error')
}

test('Given no state yet, when the state dir is ensured, then it and the dsync folder are 0700', () => {
  const env = { XDG_STATE_HOME: path.join(temp(), 'state') }
  const dir = projectStateDir('myapp', env)

  ensureStateDir(dir, env)

  expect(mode(stateRoot(env))).toBe(0o700)
  expect(mode(dir)).toBe(0o700)
})

test('Given a state dir an earlier version left 0755 with 0644 files, when ensured, then it is 0700 and they are 0600', () => {
  const env = { XDG_STATE_HOME: temp() }
  const dir = projectStateDir('myapp', env)
  mkdirSync(dir, { recursive: true, mode: 0o755 })
  chmodSync(stateRoot(env), 0o755)
  chmodSync(dir, 0o755)
  writeFileSync(path.join(dir, 'compose.override.yml'), 'services: {}\n', { mode: 0o644 })
  writeFileSync(path.join(dir, 'daemon.log'), 'line\n', { mode: 0o644 })

  ensureStateDir(dir, env)

  expect(mode(stateRoot(env))).toBe(0o700)
  expect(mode(dir)).toBe(0o700)
  expect(mode(path.join(dir, 'compose.override.yml'))).toBe(0o600)
  expect(mode(path.join(dir, 'daemon.log'))).toBe(0o600)
})

test('Given XDG_STATE_HOME is a file, when the state dir is ensured, then one line names the setting and the path, exit 73', () => {
  const file = path.join(temp(), 'not-a-folder')
  writeFileSync(file, '')
  const env = { XDG_STATE_HOME: file }

  const error = thrown(() => ensureStateDir(projectStateDir('myapp', env), env))

  expect(error).toBeInstanceOf(DsyncError)
  expect((error as DsyncError).exitCode).toBe(73)
  expect((error as DsyncError).line()).toBe(
    `cannot write dsync's state to ${file}/dsync (XDG_STATE_HOME=${file}): ${file} is not a folder; set XDG_STATE_HOME to a folder you can write to`,
  )
})

test('Given an unwritable state folder, when a write there fails, then it is reported as the environment, exit 73', () => {
  const env = { XDG_STATE_HOME: '/srv/state' }
  const eacces = Object.assign(new Error('EACCES: permission denied'), {
    code: 'EACCES',
    path: '/srv/state/dsync/myapp/compose.override.yml',
  })

  const error = unusableState(eacces, env)

  expect(error?.exitCode).toBe(73)
  expect(error?.line()).toBe(
    "cannot write dsync's state to /srv/state/dsync (XDG_STATE_HOME=/srv/state): /srv/state/dsync/myapp/compose.override.yml is not writable; set XDG_STATE_HOME to a folder you can write to",
  )
})

test('Given HOME decides the state folder, when it is unusable, then the line says XDG_STATE_HOME is unset', () => {
  const env = {}
  const root = stateRoot(env)
  const error = unusableState(Object.assign(new Error('x'), { code: 'EROFS', path: root }), env)

  expect(error?.line()).toContain(`(XDG_STATE_HOME unset, so under ${path.dirname(root)})`)
  expect(error?.line()).toContain('is on a read-only file system')
})

test('Given a file-system error outside the state folder, or another error, then it is not a state problem', () => {
  const env = { XDG_STATE_HOME: '/srv/state' }
  const elsewhere = Object.assign(new Error('x'), { code: 'EACCES', path: '/home/me/app/x' })
  const other = Object.assign(new Error('x'), { code: 'ENOENT', path: '/srv/state/dsync/a' })

  expect(unusableState(elsewhere, env)).toBeUndefined()
  expect(unusableState(other, env)).toBeUndefined()
  expect(unusableState(new Error('plain'), env)).toBeUndefined()
})

test('Given a file readable by all, when it is replaced with writePrivateFile, then it is 0600 with the new text and no temp file is left', () => {
  const dir = temp()
  const file = path.join(dir, 'daemon.json')
  writeFileSync(file, 'old', { mode: 0o644 })

  writePrivateFile(file, '{"new":true}')

  expect(readFileSync(file, 'utf8')).toBe('{"new":true}')
  expect(mode(file)).toBe(0o600)
  expect(readdirSync(dir)).toEqual(['daemon.json'])
})

test('Given XDG_RUNTIME_DIR, when the socket folder is made, then it is XDG_RUNTIME_DIR/dsync, 0700', () => {
  const runtime = temp()

  const dir = privateRuntimeDir({ XDG_RUNTIME_DIR: runtime })

  expect(dir).toBe(path.join(runtime, 'dsync'))
  expect(mode(dir)).toBe(0o700)
})

test('Given the socket folder exists 0755, when it is made again, then it is tightened to 0700', () => {
  const runtime = temp()
  mkdirSync(path.join(runtime, 'dsync'), { mode: 0o755 })
  chmodSync(path.join(runtime, 'dsync'), 0o755)

  privateRuntimeDir({ XDG_RUNTIME_DIR: runtime })

  expect(mode(path.join(runtime, 'dsync'))).toBe(0o700)
})

test('Given a symlink planted where the socket folder goes, when it is made, then it is refused (exit 73)', () => {
  const runtime = temp()
  const elsewhere = path.join(runtime, 'elsewhere')
  mkdirSync(elsewhere, { mode: 0o700 })
  symlinkSync(elsewhere, path.join(runtime, 'dsync'))

  const error = thrown(() => privateRuntimeDir({ XDG_RUNTIME_DIR: runtime }))

  expect((error as DsyncError).exitCode).toBe(73)
  expect((error as DsyncError).line()).toContain('is not a private folder of this user')
})

test('Given a state path too long for a unix socket, then the socket goes in the private runtime folder', () => {
  const runtime = temp()
  const env = { XDG_RUNTIME_DIR: runtime }
  const stateDir = path.join('/tmp', 'x'.repeat(120), 'dsync', 'myapp')

  const socket = socketPath(stateDir, env)

  expect(path.dirname(socket)).toBe(path.join(runtime, 'dsync'))
  expect(Buffer.byteLength(socket)).toBeLessThan(100)
  expect(existsSync(path.dirname(socket))).toBe(true)
  // And a short state path keeps its socket in the state folder
  expect(socketPath('/tmp/s/dsync/myapp', env)).toBe('/tmp/s/dsync/myapp/daemon.sock')
})
