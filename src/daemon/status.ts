/** What the daemon reports about itself and each sync (`dsync status --json` prints this). */
import type { ResolvedStrategy } from '../compose/types.js'
import type { TwoWayStatus } from '../strategies/unison-config.js'

/** `halted`: a native_osx or unison sync stopped at a mass deletion (see TwoWayStatus.halt). */
export type SyncState =
  | 'starting'
  | 'initial-sync'
  | 'watching'
  | 'syncing'
  | 'paused'
  | 'sidecar-down'
  | 'error'
  | 'halted'

export interface SyncStatus {
  name: string
  strategy: ResolvedStrategy
  src: string
  state: SyncState
  /** ISO time of the last completed sync (batch or pass). */
  lastSync: string | undefined
  lastBatch: { paths: number; latencyMs: number; kind: 'paths' | 'full' } | undefined
  /** Changes found by a verification pass that the watcher had not delivered. */
  missed: number
  errors: number
  lastError: string | undefined
  pending: number
  fullPasses: number
  batches: number
  /** Host paths that could not be read (permissions): skipped, the rest synced. First 20. */
  unreadable: string[]
  unreadableCount: number
  /** Recoveries without a user command: a lost watch re-established, a failing sync back. */
  heals: number
  lastHeal: Heal | undefined
  /** The event source watching the host folder: inotify (Linux) or @parcel/watcher. */
  watcher: string | undefined
  /** Two-way syncs: what the sidecar's worker (native_osx, read by `dsync status`) or unison on the host reports. */
  twoWay?: TwoWayStatus
}

export interface Heal {
  /** ISO time. */
  at: string
  cause: string
}

export interface DaemonStatus {
  project: string
  pid: number
  startedAt: string
  /** `ok` when every sync is watching (or paused on request). */
  health: 'ok' | 'degraded' | 'starting'
  /** Milliseconds from start until every watch was set up. */
  watchSetupMs: number | undefined
  container: string
  /** Times the daemon was restarted after it died (see guardian.ts), and why the last time. */
  restarts: number
  lastRestart: Heal | undefined
  syncs: SyncStatus[]
}

export interface PassProgress {
  sync: string
  phase: 'scan' | 'transfer' | 'done'
  files: number
  totalFiles: number
  bytes: number
  totalBytes: number
}
