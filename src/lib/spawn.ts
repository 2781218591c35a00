/**
 * The streaming half of the subprocess gateway (src/lib/exec.ts has the rest): long-lived
 * children with pipes (the agent channel, tar and rsync) and the detached daemon. Built on
 * node's own spawn rather than execa: the daemon lives for hours with only these, and execa
 * alone adds ~17 MB to its resident memory and ~100 ms to the CLI's start.
 */
import { spawn as spawnChild, type ChildProcess } from 'node:child_process'
import type { Readable, Writable } from 'node:stream'
import { AbortError, ExitCode, ExternalError } from './errors.js'
import { describeCommand as describe } from './exec.js'
import { logger } from './log.js'

const log = logger('dsync:exec')

export interface SpawnOptions {
  cwd?: string
  env?: NodeJS.ProcessEnv
  signal?: AbortSignal
  /** 'pipe' streams (default) or 'ignore'. */
  stdin?: 'pipe' | 'ignore'
  stdout?: 'pipe' | 'ignore' | 'inherit'
  stderr?: 'pipe' | 'ignore' | 'inherit'
  /** In a process group of its own, so it outlives this process (see guardian.ts). */
  detached?: boolean
}

export interface SpawnResult {
  /** Undefined when the child was killed by a signal or could not start. */
  exitCode: number | undefined
  signal: NodeJS.Signals | undefined
  /** Set when the child could not start (e.g. not on PATH). */
  error: Error | undefined
}

/** A running child: its streams, and awaitable for how it ended (never rejects). */
export type Spawned = ChildProcess & {
  stdin: Writable
  stdout: Readable
  stderr: Readable
} & PromiseLike<SpawnResult>

export function spawn(file: string, args: readonly string[], options: SpawnOptions = {}): Spawned {
  log.debug('spawn %s (cwd %s)', describe(file, args), options.cwd ?? process.cwd())
  const child = spawnChild(file, [...args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: [options.stdin ?? 'pipe', options.stdout ?? 'pipe', options.stderr ?? 'pipe'],
    signal: options.signal,
    detached: options.detached,
  })
  const ended = new Promise<SpawnResult>((resolve) => {
    let error: Error | undefined
    child.once('error', (e) => {
      error = (e as { code?: string }).code === 'ENOENT' ? notFound(file) : e
      // A child that never started emits no 'close'.
      if (child.pid === undefined) resolve({ exitCode: undefined, signal: undefined, error })
    })
    child.once('close', (code, signal) => {
      resolve({ exitCode: code ?? undefined, signal: signal ?? undefined, error })
    })
  })
  return Object.assign(child, {
    then: ended.then.bind(ended),
  }) as Spawned
}

function notFound(file: string): AbortError {
  return new AbortError(
    `${file} was not found on PATH`,
    `install ${file} and try again`,
    ExitCode.unavailable,
  )
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
  const child = spawnChild(file, [...args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['ignore', options.logFd, options.logFd],
  })
  child.unref()
  child.on('error', () => undefined)
  if (child.pid === undefined)
    throw new ExternalError(describe(file, args), undefined, 'could not start')
  return child.pid
}
