/**
 * One interface for every strategy that moves files into the sync volume. The daemon drives it:
 * a full pass (make the volume match the host) at start and whenever in doubt, and path batches
 * from the watcher in between.
 */
import type { ResolvedStrategy } from '../compose/types.js'
import type { UidGid } from '../compose/plan.js'
import type { PassProgress } from '../daemon/status.js'
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
