/**
 * A per-project lock around starting and stopping the sync, so two `dsync compose up` of one
 * project (two terminals, a script and an IDE) do not undo each other: the second waits until
 * the first is done, then finds the sync running. The lock is a file created exclusively in the
 * state directory with its holder's pid; a holder that died (Ctrl-C, kill -9) leaves a stale
 * file, which the next taker removes.
 */
import { linkSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { AbortError, ExitCode } from '../lib/errors.js'
import { logger } from '../lib/log.js'
import { isAlive } from './process.js'

const log = logger('dsync:lifecycle')

export type LockAction = 'started' | 'stopped'

export interface LockOptions {
  project: string
  action: LockAction
  /** How long to wait for another holder before giving up. */
  waitMs?: number
  /** Where the one waiting line goes. */
  onWait?: (line: string) => void
}

interface Holder {
  pid: number
  /** The holder's start time (from /proc), so a recycled pid is not taken for the holder. */
  since: string | undefined
  action: LockAction
}

/** Waiting for a first `up` that builds the sync image and syncs a large tree can take minutes. */
const DEFAULT_WAIT_MS = 10 * 60_000

export function lockPath(stateDir: string): string {
  return path.join(stateDir, 'lock')
}

/** Runs `fn` holding the project's lock; the lock is released however `fn` ends. */
export async function withProjectLock<T>(
  stateDir: string,
  options: LockOptions,
  fn: () => Promise<T>,
): Promise<T> {
  const file = lockPath(stateDir)
  await acquire(file, options)
  try {
    return await fn()
  } finally {
    release(file)
  }
}

async function acquire(file: string, options: LockOptions): Promise<void> {
  const me: Holder = { pid: process.pid, since: startTime(process.pid), action: options.action }
  const deadline = Date.now() + (options.waitMs ?? DEFAULT_WAIT_MS)
  let waitingFor: number | undefined
  for (;;) {
    try {
      writeFileSync(file, JSON.stringify(me), { flag: 'wx', mode: 0o600 })
      return
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error
    }
    const holder = readHolder(file)
    if (holder ? !holds(holder) : writtenBefore(file, Date.now() - 2000)) {
      // A holder that died without releasing (Ctrl-C during a kill -9, a crash).
      log.debug('removing the stale lock of pid %s', holder?.pid ?? '?')
      removeStale(file, holder)
      continue
    }
    if (!holder) {
      // Created this instant, its pid not written yet.
      await sleep(20)
      continue
    }
    if (waitingFor !== holder.pid) {
      waitingFor = holder.pid
      options.onWait?.(
        `project ${options.project} is being ${holder.action} by pid ${holder.pid}; waiting`,
      )
    }
    if (Date.now() > deadline) {
      throw new AbortError(
        `project ${options.project} is still being ${holder.action} by pid ${holder.pid}`,
        'wait for it to finish, or stop that process, then try again',
        ExitCode.tempFail,
      )
    }
    await sleep(100)
  }
}

/**
 * Moves the stale lock aside before removing it: if another waiter replaced it meanwhile with
 * its own live lock, that one is put back instead of being removed.
 */
function removeStale(file: string, stale: Holder | undefined): void {
  const aside = `${file}.${process.pid}.stale`
  try {
    renameSync(file, aside)
  } catch {
    return
  }
  if (!sameHolder(readHolder(aside), stale)) {
    try {
      linkSync(aside, file)
    } catch {
      // Taken again already: that holder keeps it.
    }
  }
  rmSync(aside, { force: true })
}

function writtenBefore(file: string, time: number): boolean {
  try {
    return statSync(file).mtimeMs < time
  } catch {
    return false
  }
}

function release(file: string): void {
  const holder = readHolder(file)
  if (holder?.pid === process.pid) rmSync(file, { force: true })
}

function readHolder(file: string): Holder | undefined {
  try {
    const holder = JSON.parse(readFileSync(file, 'utf8')) as Partial<Holder>
    if (typeof holder.pid !== 'number') return undefined
    return {
      pid: holder.pid,
      since: holder.since,
      action: holder.action === 'stopped' ? 'stopped' : 'started',
    }
  } catch {
    return undefined
  }
}

function sameHolder(a: Holder | undefined, b: Holder | undefined): boolean {
  return a?.pid === b?.pid && a?.since === b?.since
}

/** The recorded process still runs (and is the same process, where /proc tells). */
function holds(holder: Holder): boolean {
  if (!isAlive(holder.pid)) return false
  const since = startTime(holder.pid)
  return holder.since === undefined || since === undefined || since === holder.since
}

/** Field 22 of /proc/PID/stat: the process's start time in clock ticks since boot. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}
