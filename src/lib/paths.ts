import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { AbortError, ExitCode } from './errors.js'

/** `$XDG_STATE_HOME/dsync`, or `~/.local/state/dsync`. */
export function stateRoot(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME || path.join(homedir(), '.local', 'state')
  return path.join(base, 'dsync')
}

/** The state directory of one compose project: override, daemon pid, log, status, socket. */
export function projectStateDir(project: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(stateRoot(env), project)
}

/**
 * Makes a project's state directory usable and private: it and the `dsync` folder above it are
 * 0700, and files in it that an earlier version (or another writer) left readable by others are
 * made 0600 (the override and the daemon's spec name the user's folders and containers).
 * An unusable state folder is the environment's problem, not a bug: exit 73, naming the setting.
 */
export function ensureStateDir(stateDir: string, env: NodeJS.ProcessEnv = process.env): void {
  try {
    ensurePrivateDir(stateRoot(env))
    ensurePrivateDir(stateDir)
    for (const entry of readdirSync(stateDir, { withFileTypes: true })) {
      if (!entry.isFile()) continue
      const file = path.join(stateDir, entry.name)
      if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600)
    }
  } catch (error) {
    throw unusableState(error, env) ?? error
  }
}

/** Creates `dir` (and missing parents) 0700, or makes an existing one of ours 0700. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const stat = statSync(dir)
  if (!stat.isDirectory()) {
    throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}'`), {
      code: 'ENOTDIR',
      path: dir,
    })
  }
  if ((stat.mode & 0o777) !== 0o700 && stat.uid === process.getuid?.()) chmodSync(dir, 0o700)
}

/**
 * Writes a file only its owner can read, atomically: a reader sees the old text or the new,
 * never half of it.
 */
export function writePrivateFile(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`
  rmSync(tmp, { force: true })
  try {
    writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' })
    renameSync(tmp, file)
  } catch (error) {
    rmSync(tmp, { force: true })
    throw error
  }
}

const STATE_ERRORS = new Set(['ENOTDIR', 'EEXIST', 'EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT'])

/**
 * The one-line error for a file-system error on dsync's state (exit 73), or undefined when
 * `error` is not one (another error, or a path outside the state folder).
 */
export function unusableState(
  error: unknown,
  env: NodeJS.ProcessEnv = process.env,
): AbortError | undefined {
  const { code, path: where } = error as { code?: unknown; path?: unknown }
  if (typeof code !== 'string' || !STATE_ERRORS.has(code) || typeof where !== 'string') return
  const root = stateRoot(env)
  const base = path.dirname(root)
  if (where !== base && !where.startsWith(base + path.sep)) return
  const setting = env.XDG_STATE_HOME
    ? `XDG_STATE_HOME=${env.XDG_STATE_HOME}`
    : `XDG_STATE_HOME unset, so under ${base}`
  return new AbortError(
    `cannot write dsync's state to ${root} (${setting}): ${reason(code, where)}`,
    'set XDG_STATE_HOME to a folder you can write to',
    ExitCode.cantCreate,
  )
}

function reason(code: string, where: string): string {
  switch (code) {
    case 'ENOTDIR':
    case 'EEXIST':
      return `${firstNonFolder(where)} is not a folder`
    case 'EACCES':
    case 'EPERM':
      return `${where} is not writable`
    case 'EROFS':
      return `${where} is on a read-only file system`
    default:
      return `no space left for ${where}`
  }
}

/** The nearest ancestor of `target` (or itself) that exists but is not a folder. */
function firstNonFolder(target: string): string {
  let found = target
  for (let dir = target; ; dir = path.dirname(dir)) {
    try {
      if (!statSync(dir).isDirectory()) found = dir
    } catch {
      // Not there (or below a file): look further up.
    }
    if (path.dirname(dir) === dir) return found
  }
}

/**
 * A folder for dsync's sockets that only this user can enter: `$XDG_RUNTIME_DIR/dsync`, else
 * `<tmpdir>/dsync-<uid>`. The temp dir is shared, so a folder there that is a symlink or belongs
 * to someone else is refused rather than used (it could have been planted).
 */
export function privateRuntimeDir(env: NodeJS.ProcessEnv = process.env): string {
  const uid = process.getuid?.()
  const dir = env.XDG_RUNTIME_DIR
    ? path.join(env.XDG_RUNTIME_DIR, 'dsync')
    : path.join(tmpdir(), `dsync-${uid ?? 'user'}`)
  try {
    mkdirSync(dir, { mode: 0o700 })
  } catch (error) {
    if ((error as { code?: string }).code !== 'EEXIST') {
      throw new AbortError(
        `cannot create the socket folder ${dir}: ${(error as Error).message}`,
        'set XDG_RUNTIME_DIR to a folder you can write to',
        ExitCode.cantCreate,
      )
    }
  }
  const stat = lstatSync(dir)
  if (stat.isSymbolicLink() || !stat.isDirectory() || (uid !== undefined && stat.uid !== uid)) {
    throw new AbortError(
      `the socket folder ${dir} is not a private folder of this user (a symlink, a file, or owned by uid ${stat.uid})`,
      'remove it; dsync creates it again',
      ExitCode.cantCreate,
    )
  }
  if ((stat.mode & 0o077) !== 0) chmodSync(dir, 0o700)
  return dir
}

/** The root of the installed package (where package.json, images/ and bin/ are). */
export const packageRoot: string = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)))

function findPackageRoot(start: string): string {
  // Works from src/ (tests) and from dist/src/ (the built CLI).
  for (let dir = start; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json')
    if (existsSync(manifest)) {
      const { name } = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }
      if (name === 'docker-dsync') return dir
    }
    if (path.dirname(dir) === dir) return start
  }
}
