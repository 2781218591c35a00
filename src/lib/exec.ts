/**
 * The one subprocess gateway. Everything dsync runs (docker, compose, rsync, unison, tar) goes
 * through here: the command and cwd are logged at debug, failures become ExternalError with the
 * command, exit code and stderr, and an abort signal kills the child.
 */
import { execa, type ResultPromise } from 'execa'
import { ExternalError, ExitCode, AbortError } from './errors.js'
import { logger } from './log.js'

const log = logger('dsync:exec')

export interface RunOptions {
  cwd?: string
  env?: NodeJS.ProcessEnv
  input?: string | Buffer
  signal?: AbortSignal
  /** Do not throw on a non-zero exit; the caller reads exitCode. */
  reject?: boolean
  timeoutMs?: number
}

export interface RunResult {
  stdout: string
  stderr: string
  exitCode: number
}

function describe(file: string, args: readonly string[]): string {
  return [file, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ')
}

function missing(file: string, error: unknown): AbortError | undefined {
  if ((error as { code?: string }).code === 'ENOENT') {
    return new AbortError(
      `${file} was not found on PATH`,
      `install ${file} and try again`,
      ExitCode.unavailable,
    )
  }
  return undefined
}

/** Runs a command to completion and captures its output. */
export async function run(
  file: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  log.debug('run %s (cwd %s)', describe(file, args), options.cwd ?? process.cwd())
  try {
    const result = await execa(file, args, {
      cwd: options.cwd,
      env: options.env,
      extendEnv: true,
      input: options.input,
      cancelSignal: options.signal,
      timeout: options.timeoutMs,
      reject: false,
      stripFinalNewline: true,
      encoding: 'utf8',
    })
    if (result.failed && result.exitCode === undefined) {
      throw (
        missing(file, result.cause) ??
        new ExternalError(describe(file, args), undefined, causeText(result.cause, result.message))
      )
    }
    const exitCode = result.exitCode ?? 1
    if (exitCode !== 0 && options.reject !== false) {
      throw new ExternalError(describe(file, args), exitCode, result.stderr)
    }
    return { stdout: result.stdout, stderr: result.stderr, exitCode }
  } catch (error) {
    throw missing(file, error) ?? error
  }
}

export interface InheritOptions {
  cwd?: string
  env?: NodeJS.ProcessEnv
}

/**
 * Runs a command attached to this terminal (stdio inherited, so `exec -it` keeps its TTY), and
 * returns the exit code to pass on. Ctrl-C reaches the child through the terminal's process
 * group, so this process ignores SIGINT while the child runs; SIGTERM and SIGHUP sent to dsync
 * are forwarded. A child killed by a signal yields 128 + the signal number, as a shell does.
 */
export async function runAttached(
  file: string,
  args: readonly string[],
  options: InheritOptions = {},
): Promise<number> {
  log.debug('attach %s (cwd %s)', describe(file, args), options.cwd ?? process.cwd())
  const child = execa(file, args, {
    cwd: options.cwd,
    env: options.env,
    extendEnv: true,
    stdio: 'inherit',
    reject: false,
  })
  const forward = (signal: NodeJS.Signals) => () => {
    child.kill(signal)
  }
  const onInt = () => {
    // The terminal sent SIGINT to the whole foreground group: compose has it already.
  }
  const onTerm = forward('SIGTERM')
  const onHup = forward('SIGHUP')
  process.on('SIGINT', onInt)
  process.on('SIGTERM', onTerm)
  process.on('SIGHUP', onHup)
  try {
    const result = await child
    if (result.exitCode !== undefined) return result.exitCode
    if (result.signal) return 128 + signalNumber(result.signal)
    const notFound = missing(file, result.cause)
    if (notFound) throw notFound
    throw new ExternalError(
      describe(file, args),
      undefined,
      causeText(result.cause, result.message),
    )
  } finally {
    process.off('SIGINT', onInt)
    process.off('SIGTERM', onTerm)
    process.off('SIGHUP', onHup)
  }
}

function signalNumber(signal: string): number {
  const numbers: Record<string, number> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGKILL: 9,
    SIGTERM: 15,
  }
  return numbers[signal] ?? 1
}

export interface SpawnOptions {
  cwd?: string
  env?: NodeJS.ProcessEnv
  signal?: AbortSignal
  /** 'pipe' streams (default) or 'ignore'. */
  stdin?: 'pipe' | 'ignore'
  stdout?: 'pipe' | 'ignore' | 'inherit'
  stderr?: 'pipe' | 'ignore' | 'inherit'
}

/** A long-lived child with streams (the agent channel, tar and rsync pipes). */
export type Spawned = ResultPromise<{ buffer: false }>

export function spawn(file: string, args: readonly string[], options: SpawnOptions = {}): Spawned {
  log.debug('spawn %s (cwd %s)', describe(file, args), options.cwd ?? process.cwd())
  return execa(file, args, {
    cwd: options.cwd,
    env: options.env,
    extendEnv: true,
    stdin: options.stdin ?? 'pipe',
    stdout: options.stdout ?? 'pipe',
    stderr: options.stderr ?? 'pipe',
    cancelSignal: options.signal,
    buffer: false,
    reject: false,
    encoding: 'buffer',
  }) as unknown as Spawned
}

/**
 * Starts a detached process that outlives dsync (the watcher daemon), with its output
 * appended to a log file descriptor. Returns its pid.
 */
export function spawnDetached(
  file: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; logFd: number },
): number {
  log.debug('detach %s', describe(file, args))
  const child = execa(file, args, {
    cwd: options.cwd,
    env: options.env,
    extendEnv: true,
    detached: true,
    stdin: 'ignore',
    // execa's types name only the standard descriptors; any open descriptor works at run time.
    stdout: options.logFd as 1,
    stderr: options.logFd as 2,
    reject: false,
    cleanup: false,
  })
  child.unref()
  // The detached child's promise settles only when it exits; nothing here waits for it.
  child.catch(() => undefined)
  if (child.pid === undefined)
    throw new ExternalError(describe(file, args), undefined, 'could not start')
  return child.pid
}

export { describe as describeCommand }

function causeText(cause: unknown, fallback: string | undefined): string {
  return cause instanceof Error ? cause.message : (fallback ?? String(cause))
}
