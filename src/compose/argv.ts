/**
 * The argv model of `dsync compose [global flags] <subcommand> [args...]`: compose's own global
 * flags are recognised (so dsync knows the files, project name, profiles and env files), and
 * everything is kept verbatim so it can be handed back to compose unchanged.
 */
import { AbortError, ExitCode } from '../lib/errors.js'

/** Global flags of compose v2 and v1 that take a value. */
const VALUE_FLAGS = new Map<string, string>([
  ['-f', 'file'],
  ['--file', 'file'],
  ['-p', 'project-name'],
  ['--project-name', 'project-name'],
  ['--profile', 'profile'],
  ['--env-file', 'env-file'],
  ['--project-directory', 'project-directory'],
  ['--ansi', 'ansi'],
  ['--progress', 'progress'],
  ['--parallel', 'parallel'],
  ['--log-level', 'log-level'],
  ['-H', 'host'],
  ['--host', 'host'],
  ['-c', 'context'],
  ['--context', 'context'],
  ['--tlscacert', 'tlscacert'],
  ['--tlscert', 'tlscert'],
  ['--tlskey', 'tlskey'],
])

/** Global flags without a value (v2 and v1). */
const BOOLEAN_FLAGS = new Set([
  '--compatibility',
  '--dry-run',
  '--all-resources',
  '--verbose',
  '--no-ansi',
  '--tls',
  '--tlsverify',
  '--skip-hostname-check',
  '-v',
  '--version',
  '-h',
  '--help',
])

export interface ComposeArgv {
  /** Global flags other than -f/-p/--project-directory, verbatim, in order. */
  passthroughGlobals: string[]
  files: string[]
  projectName: string | undefined
  profiles: string[]
  envFiles: string[]
  projectDirectory: string | undefined
  /** The compose subcommand (`up`, `ps`, ...), undefined for a bare `dsync compose`. */
  subcommand: string | undefined
  /** Everything after the subcommand, verbatim. */
  subArgs: string[]
  /** `-v`/`--version`/`-h`/`--help` given before any subcommand. */
  globalInfo: boolean
}

export function parseComposeArgv(argv: readonly string[]): ComposeArgv {
  const result: ComposeArgv = {
    passthroughGlobals: [],
    files: [],
    projectName: undefined,
    profiles: [],
    envFiles: [],
    projectDirectory: undefined,
    subcommand: undefined,
    subArgs: [],
    globalInfo: false,
  }
  let i = 0
  while (i < argv.length) {
    const arg = argv[i] as string
    if (arg === '--') {
      i++
      break
    }
    if (!arg.startsWith('-') || arg === '-') break
    const [flag, inline] = splitFlag(arg)
    const name = VALUE_FLAGS.get(flag)
    if (name !== undefined) {
      let value = inline
      if (value === undefined) {
        value = argv[i + 1]
        if (value === undefined) {
          throw new AbortError(
            `compose flag ${flag} needs a value`,
            `e.g. dsync compose ${flag} ${exampleValue(name)} up`,
            ExitCode.usage,
          )
        }
        i++
      }
      assign(result, name, flag, value)
      i++
      continue
    }
    if (BOOLEAN_FLAGS.has(flag) && inline === undefined) {
      if (['-v', '--version', '-h', '--help'].includes(flag)) result.globalInfo = true
      result.passthroughGlobals.push(arg)
      i++
      continue
    }
    if (flag.startsWith('--') && inline !== undefined) {
      // An unknown --flag=value (a newer compose): keep it.
      result.passthroughGlobals.push(arg)
      i++
      continue
    }
    throw new AbortError(
      `unknown compose flag ${arg} before the subcommand`,
      'put subcommand flags after the subcommand, e.g. dsync compose up -d; see docker compose --help',
      ExitCode.usage,
    )
  }
  result.subcommand = argv[i]
  result.subArgs = argv.slice(i + 1)
  return result
}

/** `--file=x` -> ['--file', 'x'], `-fx` -> ['-f', 'x'], `-f` -> ['-f', undefined]. */
function splitFlag(arg: string): [string, string | undefined] {
  if (arg.startsWith('--')) {
    const eq = arg.indexOf('=')
    return eq === -1 ? [arg, undefined] : [arg.slice(0, eq), arg.slice(eq + 1)]
  }
  if (arg.length > 2) {
    const short = arg.slice(0, 2)
    if (VALUE_FLAGS.has(short)) return [short, arg.slice(2).replace(/^=/, '')]
  }
  return [arg, undefined]
}

function assign(result: ComposeArgv, name: string, flag: string, value: string): void {
  switch (name) {
    case 'file':
      result.files.push(value)
      return
    case 'project-name':
      result.projectName = value
      return
    case 'profile':
      result.profiles.push(value)
      result.passthroughGlobals.push('--profile', value)
      return
    case 'env-file':
      result.envFiles.push(value)
      result.passthroughGlobals.push('--env-file', value)
      return
    case 'project-directory':
      result.projectDirectory = value
      return
    default:
      result.passthroughGlobals.push(flag, value)
  }
}

function exampleValue(name: string): string {
  switch (name) {
    case 'file':
      return 'compose.yml'
    case 'project-name':
      return 'myproject'
    default:
      return 'VALUE'
  }
}

/** The subcommand's own flags that dsync needs to know about (`up -d`, `down -v`, ...). */
export function hasFlag(args: readonly string[], ...names: string[]): boolean {
  for (const arg of args) {
    if (arg === '--') return false
    if (names.includes(arg)) return true
    // Combined short flags such as `-dV`.
    if (/^-[a-zA-Z]{2,}$/.test(arg)) {
      for (const n of names) if (n.length === 2 && arg.includes(n[1] as string)) return true
    }
    if (arg.startsWith('--') && names.some((n) => arg.startsWith(n + '='))) return true
  }
  return false
}
