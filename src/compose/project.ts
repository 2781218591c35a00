/**
 * Finds the compose project the way compose does: files from -f, COMPOSE_FILE or the default
 * names (searched upward from the working directory, with the matching override file), the
 * project directory, the environment (.env under the shell's environment) and the project name
 * (-p, COMPOSE_PROJECT_NAME, top-level `name:`, the folder's name).
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { isMap, parseDocument } from 'yaml'
import { AbortError, ExitCode } from '../lib/errors.js'
import type { ComposeArgv } from './argv.js'
import { composeParseOptions } from './compose-yaml.js'
import { parseDotEnv } from './interpolate.js'

// Compose's own lists and order (compose-go cli/options.go): the override is looked up by
// these names whatever the main file is called.
const DEFAULT_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yml', 'docker-compose.yaml']
const OVERRIDE_FILES = [
  'compose.override.yml',
  'compose.override.yaml',
  'docker-compose.override.yml',
  'docker-compose.override.yaml',
]

export interface ComposeFile {
  path: string
  text: string
}

export interface Project {
  name: string
  /** Absolute project directory: relative paths in the files resolve against it. */
  directory: string
  files: ComposeFile[]
  profiles: string[]
  /** Environment for interpolation: the .env file(s) under the process environment. */
  env: Record<string, string>
  /** True when some file is `-` (stdin): dsync cannot read it, so it passes through. */
  fromStdin: boolean
}

export interface ResolveOptions {
  cwd: string
  env: NodeJS.ProcessEnv
}

export function resolveProject(argv: ComposeArgv, options: ResolveOptions): Project {
  const { cwd } = options
  const shellEnv = definedOnly(options.env)
  const workDir = argv.projectDirectory ? path.resolve(cwd, argv.projectDirectory) : cwd
  if (argv.projectDirectory && !isDirectory(workDir)) {
    throw new AbortError(
      `--project-directory ${argv.projectDirectory}: no such folder (resolved to ${workDir})`,
      'fix the path or create the folder',
      ExitCode.noInput,
    )
  }

  // .env (or --env-file) is read before COMPOSE_* are looked up, as compose does.
  const envFiles = argv.envFiles.length > 0 ? argv.envFiles.map((f) => path.resolve(cwd, f)) : []
  const dotEnv: Record<string, string> = {}
  for (const file of envFiles) {
    if (!existsSync(file)) {
      throw new AbortError(`--env-file ${file}: no such file`, 'fix the path', ExitCode.noInput)
    }
    // `${VAR}` in an env file reads the shell's environment, then the earlier files.
    Object.assign(dotEnv, parseDotEnv(readFileSync(file, 'utf8'), { ...dotEnv, ...shellEnv }))
  }
  const readDefaultEnv = (dir: string) => {
    const file = path.join(dir, '.env')
    if (envFiles.length === 0 && existsSync(file) && statSync(file).isFile()) {
      Object.assign(dotEnv, parseDotEnv(readFileSync(file, 'utf8'), { ...dotEnv, ...shellEnv }))
    }
  }
  // Compose's working directory: --project-directory, else the first -f file's folder, else
  // the current one (where a .env may set COMPOSE_FILE).
  const firstArgFile = argv.files.find((f) => f !== '-')
  const envDir =
    argv.projectDirectory || firstArgFile === undefined
      ? workDir
      : path.dirname(path.resolve(cwd, firstArgFile))
  readDefaultEnv(envDir)
  let env = { ...dotEnv, ...shellEnv }

  let filePaths: string[]
  const composeFileVar = env.COMPOSE_FILE
  if (argv.files.length > 0) {
    filePaths = argv.files.map((f) => (f === '-' ? f : path.resolve(cwd, f)))
  } else if (composeFileVar) {
    const separator = env.COMPOSE_PATH_SEPARATOR || path.delimiter
    filePaths = composeFileVar
      .split(separator)
      .filter(Boolean)
      .map((f) => path.resolve(workDir, f))
  } else {
    filePaths = findDefaultFiles(workDir)
  }
  const fromStdin = filePaths.includes('-')
  for (const file of filePaths) {
    if (file !== '-' && !existsSync(file)) {
      throw new AbortError(
        `compose file ${path.relative(cwd, file) || file} does not exist`,
        'check -f or COMPOSE_FILE',
        ExitCode.noInput,
      )
    }
  }
  const firstFile = filePaths.find((f) => f !== '-')
  const directory = argv.projectDirectory ? workDir : firstFile ? path.dirname(firstFile) : workDir
  if (directory !== envDir && envFiles.length === 0) {
    // Compose reads .env from the project directory (the first file's folder).
    readDefaultEnv(directory)
    env = { ...dotEnv, ...shellEnv }
  }

  const files: ComposeFile[] = filePaths
    .filter((f) => f !== '-')
    .map((f) => ({ path: f, text: readFileSync(f, 'utf8') }))

  const profiles =
    argv.profiles.length > 0
      ? argv.profiles
      : (env.COMPOSE_PROFILES ?? '')
          .split(',')
          .map((p) => p.trim())
          .filter(Boolean)

  const name = normalizeProjectName(
    argv.projectName ||
      env.COMPOSE_PROJECT_NAME ||
      nameFromFiles(files) ||
      path.basename(directory),
  )
  if (!name) {
    throw new AbortError(
      `cannot derive a project name from folder "${path.basename(directory)}"`,
      'pass -p NAME or set COMPOSE_PROJECT_NAME',
      ExitCode.usage,
    )
  }
  return { name, directory, files, profiles, env, fromStdin }
}

function findDefaultFiles(start: string): string[] {
  for (let dir = start; ; dir = path.dirname(dir)) {
    for (const candidate of DEFAULT_FILES) {
      const file = path.join(dir, candidate)
      if (existsSync(file)) {
        const override = OVERRIDE_FILES.map((o) => path.join(dir, o)).find((o) => existsSync(o))
        return override ? [file, override] : [file]
      }
    }
    if (path.dirname(dir) === dir) break
  }
  throw new AbortError(
    `no compose file found in ${start} or its parent folders`,
    `create compose.yaml, or pass -f FILE`,
    ExitCode.noInput,
  )
}

/** The last `name:` set at the top of the files (interpolation of it is rare; kept literal). */
function nameFromFiles(files: readonly ComposeFile[]): string | undefined {
  let name: string | undefined
  for (const file of files) {
    // Only `name:` is read: resolving the whole file would count every alias of the services.
    const doc = parseDocument(file.text, composeParseOptions)
    if (doc.errors.length > 0 || !isMap(doc.contents)) continue // the loader reports errors
    const value: unknown = doc.contents.get('name')
    if (typeof value === 'string' && !value.includes('$')) name = value
  }
  return name
}

/** Compose's rule: lower case, only a-z 0-9 _ -, starting with a letter or digit. */
export function normalizeProjectName(raw: string): string {
  return raw
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '')
    .replace(/^[_-]+/, '')
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory()
  } catch {
    return false
  }
}

function definedOnly(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v
  return out
}
