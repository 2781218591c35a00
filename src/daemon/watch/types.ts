/** The event source's interface: what the daemon sees of whichever backend watches a tree. */

/**
 * One change under the watched root. `rel` is relative to the root with `/` separators; `dir` is
 * true when the entry is known to be a folder (a deleted entry reported by @parcel/watcher is
 * not known to be anything). `rescan`: events may have been lost (a queue overflow, the root
 * replaced, a watch re-established): only a full pass is sure to catch up.
 */
export type WatchEvent =
  | { kind: 'create' | 'update' | 'delete'; rel: string; dir: boolean }
  | { kind: 'rescan'; reason: string }

export type WatchBackend = 'inotify' | '@parcel/watcher'

/** Folders not watched at all: every file under them is excluded. */
export interface Prune {
  /** Whole path segments anywhere in the tree (`node_modules`, `.git`). */
  names: readonly string[]
  /** Paths from the root (`build`, `docs/api`). */
  paths: readonly string[]
}

export interface WatchOptions {
  /** Entries to drop from events and from the scan of new folders (true: drop it). */
  ignored(rel: string, dir: boolean): boolean
  /**
   * Receives events in the order they happened, one call per read from the backend. Must not
   * throw; whatever it throws is logged and dropped.
   */
  onEvents(events: WatchEvent[]): void
  prune?: Prune
  /** Forces a backend (tests, DSYNC_WATCHER); by default inotify on Linux when perl is there. */
  backend?: WatchBackend
  /**
   * A new folder holding more entries than this is reported as one rescan instead of an event
   * per entry (the daemon turns large batches into a full pass anyway).
   */
  scanLimit?: number
}

export interface WatchHandle {
  readonly backend: WatchBackend
  /** Why the preferred backend is not the one running (for one warning line), if it is not. */
  readonly fallback: string | undefined
  /**
   * A cheap liveness test: the root is still the folder that is watched and the backend runs.
   * When not, it watches anew and emits a rescan. Never rejects.
   */
  check(): Promise<void>
  /** Stops watching; no child process is left behind. Never rejects. */
  close(): Promise<void>
}
