/**
 * The one subprocess gateway. Everything dsync runs (docker, compose, rsync, unison, tar) goes
 * through here: the command and cwd are logged at debug, failures become ExternalError with the
 * command, exit code and stderr, and an abort signal kills the child.
 */
import { spawn as spawnChild } from 'node:child_process'
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
/** execa costs ~100 ms to load: only the paths that need it load it. */
let execaModule: Promise<typeof import('execa')> | undefined
function loadExeca() {
  execaModule ??= import('execa')
  return execaModule
}

export async function run(
  file: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const { execa } = await loadExeca()
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
  const child = spawnChild(file, [...args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: 'inherit',
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
    return await new Promise<number>((resolve, reject) => {
      child.once('error', (error) => reject(missing(file, error) ?? error))
      child.once('exit', (code, signal) => {
        resolve(code ?? 128 + signalNumber(signal ?? 'SIGTERM'))
      })
    })
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

export { describe as describeCommand }

function causeText(cause: unknown, fallback: string | undefined): string {
  return cause instanceof Error ? cause.message : (fallback ?? String(cause))
}
