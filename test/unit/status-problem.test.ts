import { expect, test } from 'vitest'
import { statusProblem, type StatusReport } from '../../src/daemon/service.js'
import type { DaemonStatus, SyncStatus } from '../../src/daemon/status.js'

function sync(state: SyncStatus['state'], lastError?: string): SyncStatus {
  return {
    name: 'code',
    strategy: 'rsync',
    src: '/home/me/app/src',
    state,
    lastSync: undefined,
    lastBatch: undefined,
    missed: 0,
    errors: lastError ? 1 : 0,
    lastError,
    pending: 0,
    fullPasses: 1,
    batches: 0,
    unreadable: [],
    unreadableCount: 0,
    heals: 0,
    lastHeal: undefined,
    watcher: 'inotify',
  }
}

function report(
  health: DaemonStatus['health'] | 'down',
  syncs: SyncStatus[],
  nothingToSync = false,
): StatusReport {
  const running = health !== 'down'
  const status: DaemonStatus = {
    project: 'myapp',
    pid: 4242,
    startedAt: '2026-01-01T00:00:00Z',
    health: health === 'down' ? 'ok' : health,
    watchSetupMs: 12,
    container: 'abc',
    restarts: 0,
    lastRestart: undefined,
    syncs,
  }
  return {
    project: 'myapp',
    stateDir: '/tmp/state/dsync/myapp',
    daemon: { running, pid: 4242, health },
    status,
    nothingToSync,
  }
}

test('Given a healthy daemon with every sync watching (or paused), then status has no problem (exit 0)', () => {
  expect(statusProblem(report('ok', [sync('watching'), sync('paused')]))).toBeUndefined()
})

test('Given a daemon still starting its first pass, then it is not a failure', () => {
  expect(statusProblem(report('starting', [sync('initial-sync')]))).toBeUndefined()
})

test('Given the daemon down, then status exits 75 and says how to restart it', () => {
  const problem = statusProblem(report('down', [sync('watching')]))

  expect(problem?.exitCode).toBe(75)
  expect(problem?.line()).toBe(
    'daemon down for project "myapp"; run dsync sync (restarts it) or dsync compose up',
  )
})

test('Given a sync in error, then status exits 75 with its last error and what to run', () => {
  const problem = statusProblem(report('degraded', [sync('error', 'rsync exited 23')]))

  expect(problem?.exitCode).toBe(75)
  expect(problem?.line()).toBe(
    'sync "code" of project "myapp" is in error: rsync exited 23; fix the cause (see dsync logs), then run dsync sync code',
  )
})

test('Given the sidecar down, then status exits 75 and says to start it', () => {
  const problem = statusProblem(
    report('degraded', [sync('sidecar-down', 'container is not running')]),
  )

  expect(problem?.exitCode).toBe(75)
  expect(problem?.line()).toBe(
    'sync "code" of project "myapp" is sidecar-down: container is not running; start the sidecar with dsync compose up; the daemon catches up by itself',
  )
})

test('Given a degraded daemon whose syncs look fine, then status exits 75 all the same', () => {
  const problem = statusProblem(report('degraded', [sync('syncing')]))

  expect(problem?.exitCode).toBe(75)
  expect(problem?.line()).toBe(
    'the sync of project "myapp" is degraded; see dsync logs; dsync sync runs a full pass',
  )
})

test('Given a project whose syncs are all native (no daemon by design), then status has no problem', () => {
  expect(statusProblem(report('down', [], true))).toBeUndefined()
})

test('Given a native_osx sync halted at a mass deletion, then status exits 75 with the one line that says what to do', () => {
  const halt =
    'halted: the host folder /home/me/app/src is empty or unmounted but the volume is not; nothing was deleted in the volume. Restore the folder to resume, or run: dsync sync code --accept-deletions (this empties the volume)'
  const problem = statusProblem(report('degraded', [sync('halted', halt)]))

  expect(problem?.exitCode).toBe(75)
  expect(problem?.line()).toBe(`sync "code" of project "myapp" is ${halt}`)
})
