/** The daemon's process on the host: pid file, liveness, stopping. */
import { readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export const DAEMON_MARKER = 'dsync-daemon'

export function pidPath(stateDir: string): string {
  return path.join(stateDir, 'daemon.pid')
}

export function logPath(stateDir: string): string {
  return path.join(stateDir, 'daemon.log')
}

export function statusPath(stateDir: string): string {
  return path.join(stateDir, 'status.json')
}

/** The pid of this project's live daemon, or undefined (a stale pid file does not count). */
export function daemonPid(stateDir: string): number | undefined {
  let pid: number
  try {
    pid = Number(readFileSync(pidPath(stateDir), 'utf8').trim())
  } catch {
    return undefined
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined
  return isOurDaemon(pid, stateDir) ? pid : undefined
}

/** Alive, and really a dsync daemon for this state dir (a recycled pid is not). */
function isOurDaemon(pid: number, stateDir: string): boolean {
  if (!isAlive(pid)) return false
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    return cmdline.includes(DAEMON_MARKER) && cmdline.includes(stateDir)
  } catch {
    // No /proc (macOS): trust the signal check.
    return true
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopProcess(pid: number, graceMs = 5000): Promise<void> {
  const alive = () => isAlive(pid)
  try {
    process.kill(pid, 'SIGTERM')
  } catch {
    return
  }
  const deadline = Date.now() + graceMs
  while (alive() && Date.now() < deadline) await sleep(25)
  if (alive()) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      return
    }
    while (alive()) await sleep(25)
  }
}

export function removePidFile(stateDir: string): void {
  rmSync(pidPath(stateDir), { force: true })
}

/** Signal 0 succeeds on a zombie too: on Linux its state in /proc tells. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state !== 'Z' && state !== 'X'
  } catch {
    return true
  }
}
