/**
 * The streaming half of the subprocess gateway (src/lib/exec.ts has the rest): long-lived
 * children with pipes (the agent channel, tar and rsync) and the detached daemon. Kept apart so
 * that the `dsync compose` hot path, which needs none of it, does not pay for loading execa.
 */
import { execa, type ResultPromise } from 'execa'
import { ExternalError } from './errors.js'
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
