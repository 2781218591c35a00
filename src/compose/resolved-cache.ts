/**
 * What a pass-through (`dsync compose ps|logs|exec|config|...`) needs to run compose with the
 * same files as `up`: the compose CLI, compose's arguments before the subcommand (the user's
 * files plus the override), the override's text, and the warnings loading printed. Resolving
 * it costs a YAML parse, `compose config` and planning, about three times a plain compose call;
 * it is kept on disk, one entry per lookup key, and reused only while every input is unchanged.
 *
 * The lookup key covers what is known before reading any file: dsync's code and sidecar image
 * tag, the working directory, compose's global flags, the COMPOSE_/DOCKER_/DSYNC_ variables,
 * HOME and XDG_STATE_HOME, the platform and engine endpoint, and the compose CLI on PATH. An entry
 * then lists what loading read, and holds one digest of it, recomputed on every lookup: the bytes
 * of the compose files, the env files and the files they include or extend; every file compose
 * would pick up by default instead (absent ones too, so a new compose.override.yml is seen); the
 * name, size and time of the files in the project folder (what `env_file` and `extends` read);
 * the values of the variables the files mention; and each sync's src (its real path and owner).
 * Of the inputs only that digest is stored: never a variable's value or the text of a user's file.
 *
 * A corrupt, unreadable or foreign entry is a miss. Entries are 0600 files in a 0700 folder,
 * `$XDG_STATE_HOME/dsync/resolved.cache/` (a project's name has no dot, so no project folder is
 * named so).
 */
import { createHash } from 'node:crypto'
import {
  closeSync,
  fstatSync,
  openSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
} from 'node:fs'
import { hostname } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { syncImageTag } from '../docker/image.js'
import { dockerEndpoint, endpointStamp } from '../docker/platform.js'
import { logger } from '../lib/log.js'
import { ensurePrivateDir, packageRoot, stateRoot, writePrivateFile } from '../lib/paths.js'
import type { ComposeArgv } from './argv.js'
import { composeCliFingerprint, type ComposeCli } from './cli.js'

const log = logger('dsync:compose')

/** Bumped when the entry's layout or meaning changes. */
const FORMAT = 1
/** Entries kept; the oldest beyond this are removed when one is written. */
const MAX_ENTRIES = 64
/**
 * A file changed this close to the start of loading (or later) may have been read half-way
 * through the change, or its time may not show a later change (a coarse clock): not cached.
 */
const SETTLE_MS = 1000

// Compose's default names (compose-go cli/options.go), as in project.ts.
const DEFAULT_FILES = [
  'compose.yaml',
  'compose.yml',
  'docker-compose.yml',
  'docker-compose.yaml',
  'compose.override.yml',
  'compose.override.yaml',
  'docker-compose.override.yml',
  'docker-compose.override.yaml',
]

/** Files followed through `include`, `extends` and `env_file`, at most. */
const MAX_REFERENCED = 100

export interface ResolvedCompose {
  cli: ComposeCli
  /**
   * Compose's arguments before the subcommand (the CLI's prefix, the user's global flags, `-p`,
   * `--project-directory` and the files with the override last); undefined when the project has
   * no x-sync block and the user's arguments go to compose verbatim.
   */
  globals?: string[]
  /** The override file compose is given, and its text (restored if it went missing). */
  override?: { path: string; text: string }
  /** Warnings loading printed (without the `dsync: warning: ` prefix), printed again on a hit. */
  warnings: string[]
}

/** What loading read: the facts an entry depends on. */
export interface ResolvedInputs {
  /** The project directory. */
  directory: string
  /** The compose files loaded, with the text they were loaded with. */
  files: readonly { path: string; text: string }[]
  /** Each sync's src as written and resolved (before symlinks are followed). */
  srcs: readonly string[]
  /** `Date.now()` when loading began. */
  startedAt: number
}

export interface CacheContext {
  cwd: string
  env: NodeJS.ProcessEnv
  /** dsync's code version; computed from the installed files when absent. */
  code?: string
  /** The sidecar image tag; computed when absent. */
  imageTag?: string
  /** The host OS (`process.platform`). */
  os?: string
}

/** The dependencies an entry lists; their state now is hashed into `digest`. */
interface Deps {
  files: string[]
  dirs: string[]
  env: string[]
  srcs: string[]
}

interface Entry {
  format: number
  key: string
  deps: Deps
  digest: string
  resolved: ResolvedCompose
}

/** The cached resolution for these arguments, or undefined (a miss: resolve and store). */
export function lookupResolved(argv: ComposeArgv, ctx: CacheContext): ResolvedCompose | undefined {
  try {
    const key = lookupKey(argv, ctx)
    const entry = readEntry(entryPath(key, ctx.env))
    if (!entry || entry.key !== key) {
      log.debug('resolved cache: miss (no entry)')
      return undefined
    }
    if (digestOf(entry.deps, ctx.env) !== entry.digest) {
      log.debug('resolved cache: miss (an input changed)')
      return undefined
    }
    log.debug('resolved cache: hit')
    return entry.resolved
  } catch (error) {
    log.debug('resolved cache: miss (%s)', String(error))
    return undefined
  }
}

/**
 * Stores a resolution for these arguments. Never fails the command: a state folder that cannot
 * be written, or an input that changed while it was read, only means no entry.
 */
export async function storeResolved(
  argv: ComposeArgv,
  ctx: CacheContext,
  resolved: ResolvedCompose,
  inputs: ResolvedInputs,
): Promise<boolean> {
  try {
    const key = lookupKey(argv, ctx)
    const deps = await dependencies(argv, ctx, inputs)
    if (!deps) return false
    const entry: Entry = { format: FORMAT, key, deps, digest: digestOf(deps, ctx.env), resolved }
    const file = entryPath(key, ctx.env)
    const dir = path.dirname(file)
    ensurePrivateDir(stateRoot(ctx.env))
    ensurePrivateDir(dir)
    writePrivateFile(file, JSON.stringify(entry))
    prune(dir)
    return true
  } catch (error) {
    log.debug('resolved cache: not stored (%s)', String(error))
    return false
  }
}

/** The folder of the entries: beside the projects' state folders, named as no project can be. */
export function resolvedCacheDir(env: NodeJS.ProcessEnv): string {
  return path.join(stateRoot(env), 'resolved.cache')
}

function entryPath(key: string, env: NodeJS.ProcessEnv): string {
  return path.join(resolvedCacheDir(env), `${key.slice(0, 40)}.json`)
}

// ---------------------------------------------------------------------------------------------
// The lookup key

function lookupKey(argv: ComposeArgv, ctx: CacheContext): string {
  const { env } = ctx
  const endpoint = dockerEndpoint(env)
  const material = {
    format: FORMAT,
    code: ctx.code ?? codeVersion(),
    image: ctx.imageTag ?? syncImageTag(),
    cwd: ctx.cwd,
    argv: {
      passthroughGlobals: argv.passthroughGlobals,
      files: argv.files,
      projectName: argv.projectName,
      profiles: argv.profiles,
      envFiles: argv.envFiles,
      projectDirectory: argv.projectDirectory,
    },
    env: Object.entries(env)
      .filter(([name, value]) => value !== undefined && keyVariable(name))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    os: ctx.os ?? process.platform,
    arch: process.arch,
    host: hostname(),
    uid: process.getuid?.(),
    endpoint,
    engine: endpointStamp(endpoint),
    cli: composeCliFingerprint(env),
  }
  return createHash('sha256').update(JSON.stringify(material)).digest('hex')
}

/** Variables that decide the project, the engine, the compose CLI or where state goes. */
function keyVariable(name: string): boolean {
  return (
    name.startsWith('COMPOSE_') ||
    name.startsWith('DOCKER_') ||
    name.startsWith('DSYNC_') ||
    name === 'HOME' ||
    name === 'XDG_STATE_HOME'
  )
}

let codeVersionMemo: string | undefined

/**
 * dsync's own version: package.json's bytes (a release has its own version), and the name, size
 * and time of the built entry and of the modules of this folder, which resolve the project (a
 * build rewrites them).
 */
export function codeVersion(): string {
  if (codeVersionMemo !== undefined) return codeVersionMemo
  const hash = createHash('sha256')
  try {
    hash.update(readFileSync(path.join(packageRoot, 'package.json')))
  } catch {
    // Not installed as a package (tests): the files decide alone.
  }
  // dist/src/compose of the built CLI, or src/compose under tests.
  const here = path.dirname(fileURLToPath(import.meta.url))
  const files = [path.join(path.dirname(here), 'cli.js')]
  for (const name of readdirSync(here).sort()) {
    if (/\.[jt]s$/.test(name)) files.push(path.join(here, name))
  }
  for (const file of files) {
    try {
      const s = statSync(file)
      hash.update(`${file}:${s.size}:${s.mtimeMs}\n`)
    } catch {
      hash.update(`${file}:absent\n`)
    }
  }
  codeVersionMemo = hash.digest('hex')
  return codeVersionMemo
}

// ---------------------------------------------------------------------------------------------
// The dependencies of an entry, and their digest

async function dependencies(
  argv: ComposeArgv,
  ctx: CacheContext,
  inputs: ResolvedInputs,
): Promise<Deps | undefined> {
  const { cwd } = ctx
  const files = new Set<string>()
  // The files as loaded must still be what is on disk, or the entry would pair new bytes with
  // a resolution of the old ones.
  for (const file of inputs.files) {
    if (readText(file.path) !== file.text) {
      log.debug('resolved cache: %s changed while loading', file.path)
      return undefined
    }
    files.add(file.path)
  }

  // The env files: --env-file, else .env wherever compose may look for it.
  const workDir = argv.projectDirectory ? path.resolve(cwd, argv.projectDirectory) : cwd
  const firstArg = argv.files.find((f) => f !== '-')
  const firstDir = firstArg === undefined ? workDir : path.dirname(path.resolve(cwd, firstArg))
  for (const file of argv.envFiles) files.add(path.resolve(cwd, file))
  for (const dir of [cwd, workDir, firstDir, inputs.directory]) files.add(path.join(dir, '.env'))

  // The files compose would pick up by default: in the folders searched up from the working
  // directory to the project's, and in the project's.
  const searched = [workDir]
  for (let dir = workDir; isInside(inputs.directory, dir) && dir !== inputs.directory;) {
    dir = path.dirname(dir)
    searched.push(dir)
  }
  for (const dir of [...searched, inputs.directory]) {
    for (const name of DEFAULT_FILES) files.add(path.join(dir, name))
  }

  // The files the compose files include or extend, and their env files.
  for (const file of await referencedFiles(inputs.files, inputs.directory)) files.add(file)

  // The variables they mention, wherever the text is readable now.
  const env = new Set<string>()
  for (const file of files) {
    const text = readText(file)
    if (text !== undefined) for (const name of mentionedVariables(text)) env.add(name)
  }

  const deps: Deps = {
    files: [...files],
    dirs: [...new Set([inputs.directory, ...inputs.files.map((f) => path.dirname(f.path))])],
    env: [...env].sort(),
    srcs: [...new Set(inputs.srcs)],
  }
  // A file written since loading began may not have been read as it is now.
  const settled = inputs.startedAt - SETTLE_MS
  for (const file of [...deps.files, ...deps.dirs.flatMap(filesIn)]) {
    const mtime = fileMtime(file)
    if (mtime !== undefined && mtime > settled) {
      log.debug('resolved cache: %s changed too recently to be cached', file)
      return undefined
    }
  }
  return deps
}

/** One digest over the current state of every dependency. Throws when one cannot be read. */
function digestOf(deps: Deps, env: NodeJS.ProcessEnv): string {
  const hash = createHash('sha256')
  for (const file of deps.files) {
    hash.update(`file ${file}\0`)
    const content = readBytes(file)
    hash.update(content === undefined ? 'absent' : createHash('sha256').update(content).digest())
    hash.update('\n')
  }
  for (const dir of deps.dirs) {
    hash.update(`dir ${dir}\0`)
    let names: string[]
    try {
      names = readdirSync(dir).sort()
    } catch {
      hash.update('absent\n')
      continue
    }
    for (const name of names) {
      // One that vanished since it was listed is not part of the state.
      const s = statSync(path.join(dir, name), { throwIfNoEntry: false })
      if (s?.isFile()) hash.update(`${name}:${s.size}:${s.mtimeMs}\n`)
    }
  }
  for (const name of deps.env) hash.update(`env ${name}=${JSON.stringify(env[name] ?? null)}\n`)
  for (const src of deps.srcs) {
    hash.update(`src ${src}\0`)
    try {
      const real = realpathSync(src)
      const s = statSync(real)
      hash.update(`${real}:${s.isDirectory()}:${s.uid}:${s.gid}\n`)
    } catch {
      hash.update('absent\n')
    }
  }
  return hash.digest('hex')
}

/** Names in `$NAME` and `${NAME...}`, as compose interpolates them. */
function mentionedVariables(text: string): Set<string> {
  const names = new Set<string>()
  for (const m of text.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) names.add(m[1] as string)
  return names
}

/**
 * The files named by `include`, `extends.file` and `env_file`, followed through the included and
 * extended ones. A path with a variable in it is left to the project folder's listing.
 */
async function referencedFiles(
  files: readonly { path: string; text: string }[],
  directory: string,
): Promise<string[]> {
  const { parseDocument } = await import('yaml')
  const { composeParseOptions, composeToJsOptions } = await import('./compose-yaml.js')
  const found = new Set<string>()
  const queue: { file: string; text: string | undefined }[] = files.map((f) => ({
    file: f.path,
    text: f.text,
  }))
  const seen = new Set(files.map((f) => f.path))
  for (let next = queue.shift(); next && found.size < MAX_REFERENCED; next = queue.shift()) {
    const { file, text } = next
    if (text === undefined) continue
    let doc: unknown
    try {
      doc = parseDocument(text, composeParseOptions).toJS(composeToJsOptions)
    } catch {
      continue // compose reports broken files
    }
    const add = (ref: unknown, follow: boolean) => {
      if (typeof ref !== 'string' || ref.includes('$')) return
      // Relative to the file that names it, or to the project folder.
      for (const base of [path.dirname(file), directory]) {
        const target = path.resolve(base, ref)
        found.add(target)
        if (follow && !seen.has(target)) {
          seen.add(target)
          queue.push({ file: target, text: readText(target) })
        }
      }
    }
    const top = isRecord(doc) ? doc : {}
    for (const item of asList(top.include)) {
      if (typeof item === 'string') add(item, true)
      else if (isRecord(item)) {
        for (const p of asList(item.path)) add(p, true)
        for (const e of asList(item.env_file)) add(e, false)
      }
    }
    const services = isRecord(top.services) ? top.services : {}
    for (const service of Object.values(services)) {
      if (!isRecord(service)) continue
      if (isRecord(service.extends)) add(service.extends.file, true)
      for (const e of asList(service.env_file)) add(isRecord(e) ? e.path : e, false)
    }
  }
  return [...found]
}

// ---------------------------------------------------------------------------------------------
// Entries on disk

function readEntry(file: string): Entry | undefined {
  let fd: number
  try {
    fd = openSync(file, 'r')
  } catch {
    return undefined
  }
  try {
    // Only an entry of this user that nobody else could have written is trusted: it names the
    // command to run.
    const s = fstatSync(fd)
    const uid = process.getuid?.()
    if (!s.isFile() || (uid !== undefined && s.uid !== uid) || (s.mode & 0o022) !== 0) {
      return undefined
    }
    const entry = JSON.parse(readFileSync(fd, 'utf8')) as unknown
    return isEntry(entry) ? entry : undefined
  } catch {
    return undefined
  } finally {
    closeSync(fd)
  }
}

function isEntry(value: unknown): value is Entry {
  if (!isRecord(value) || value.format !== FORMAT || typeof value.key !== 'string') return false
  if (typeof value.digest !== 'string') return false
  const deps = value.deps
  if (!isRecord(deps)) return false
  for (const list of [deps.files, deps.dirs, deps.env, deps.srcs]) {
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) return false
  }
  const r = value.resolved
  if (!isRecord(r) || !isRecord(r.cli)) return false
  const cli = r.cli
  if (typeof cli.file !== 'string' || !isStrings(cli.prefix)) return false
  if (cli.major !== 1 && cli.major !== 2) return false
  if (r.globals !== undefined && !isStrings(r.globals)) return false
  if (!isStrings(r.warnings)) return false
  if (r.override !== undefined) {
    const o = r.override
    if (!isRecord(o) || typeof o.path !== 'string' || typeof o.text !== 'string') return false
  }
  return true
}

/** Keeps the newest entries. */
function prune(dir: string): void {
  const entries = readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .map((name) => {
      const file = path.join(dir, name)
      return { file, mtime: fileMtime(file) ?? 0 }
    })
  if (entries.length <= MAX_ENTRIES) return
  entries.sort((a, b) => b.mtime - a.mtime)
  for (const { file } of entries.slice(MAX_ENTRIES)) rmSync(file, { force: true })
}

// ---------------------------------------------------------------------------------------------

/** The file's bytes; undefined when it is absent or not a file. Other errors are thrown. */
function readBytes(file: string): Buffer | undefined {
  try {
    // Most default names are absent: no exception for those.
    if (!statSync(file, { throwIfNoEntry: false })?.isFile()) return undefined
    return readFileSync(file)
  } catch (error) {
    const code = (error as { code?: string }).code
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined
    throw error
  }
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/** The modification time of a regular file; undefined for anything else. */
function fileMtime(file: string): number | undefined {
  try {
    const s = statSync(file)
    return s.isFile() ? s.mtimeMs : undefined
  } catch {
    return undefined
  }
}

function filesIn(dir: string): string[] {
  try {
    return readdirSync(dir).map((name) => path.join(dir, name))
  } catch {
    return []
  }
}

/** Whether `dir` is `parent` or below it. */
function isInside(parent: string, dir: string): boolean {
  const rel = path.relative(parent, dir)
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((x) => typeof x === 'string')
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : value === undefined ? [] : [value]
}

/** Puts the override back if it went missing or was changed since (`dsync clean` removes it). */
export function restoreOverride(override: { path: string; text: string }): void {
  if (readText(override.path) === override.text) return
  ensurePrivateDir(path.dirname(path.dirname(override.path)))
  ensurePrivateDir(path.dirname(override.path))
  writePrivateFile(override.path, override.text)
}
