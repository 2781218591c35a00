/**
 * One interface for every strategy that moves files into the sync volume. The daemon drives it:
 * a full pass (make the volume match the host) at start and whenever in doubt, and path batches
 * from the watcher in between.
 */
import type { InitialDirection, Prefer, ResolvedStrategy } from '../compose/types.js'
import type { UidGid } from '../compose/plan.js'
import type { PassProgress } from '../daemon/status.js'
import type { TwoWayStatus } from './unison-config.js'
import type { AgentChannel } from './agent.js'
import type { ExcludeMatcher } from './excludes.js'

/** Everything a strategy needs to know about one sync (serialisable: the daemon reads it). */
export interface SyncTarget {
  name: string
  strategy: ResolvedStrategy
  /** Absolute host folder. */
  src: string
  /** The volume's mount point in the sidecar, e.g. /sync/app. */
  sidecarPath: string
  owner: UidGid
  excludes: string[]
  excludesType: 'gitignore' | 'name' | 'path' | 'regex'
  /** Extra arguments for the sync tool. */
  args: string[]
  /** Two-way strategies driven by the daemon (unison): who wins a conflict, and the first sync. */
  prefer?: Prefer
  initial?: InitialDirection
}

/** The sidecar as strategies reach it: its container, and the agent channel into it. */
export interface Sidecar {
  container: string
  env: NodeJS.ProcessEnv
  agent(): Promise<AgentChannel>
}

export interface PassResult {
  kind: 'paths' | 'full'
  /** Entries created, updated or removed in the volume. */
  changed: number
  bytes: number
  /** Folders excluded by the rules (absolute host paths), found by a full pass. */
  prunedDirs?: string[]
  /** Host paths that could not be read (permissions): skipped, everything else synced. */
  unreadable?: string[]
}

export interface SyncStrategy {
  readonly target: SyncTarget
  readonly matcher: ExcludeMatcher
  /** Make the volume match the host exactly (deletions included). */
  fullPass(onProgress?: (p: PassProgress) => void): Promise<PassResult>
  /** Sync these paths (relative to src); `created` folders are sent with their contents. */
  syncPaths(paths: ReadonlySet<string>, created: ReadonlySet<string>): Promise<PassResult>
}

/** Where a two-way strategy hands the changes it sees in the volume: into the daemon's batches. */
export interface RemoteSink {
  /** Paths (relative to the root) that changed in the volume. */
  changes(paths: readonly string[]): void
  /** Changes may have been lost: a full pass is due. */
  rescan(reason: string): void
}

/** What a two-way strategy run by the daemon adds (unison). */
export interface TwoWayStrategy extends SyncStrategy {
  /** Starts watching the volume. */
  watchRemote(sink: RemoteSink): void
  stopRemote(): void
  /** The sidecar was recreated. */
  sidecarChanged(): void
  /** The next full pass may propagate a side emptied; true when the sync was halted. */
  acceptDeletions(): boolean
  report(): TwoWayStatus
}

export function isTwoWay(strategy: SyncStrategy): strategy is TwoWayStrategy {
  return 'watchRemote' in strategy && 'report' in strategy
}
