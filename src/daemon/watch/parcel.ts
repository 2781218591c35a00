/**
 * The @parcel/watcher backend: macOS (FSEvents), Windows, and Linux when inotify
 * cannot be read directly (no perl); loaded only then (its native module costs the daemon
 * memory). It delays events by up to 50 ms when they come within 500 ms of each other (its
 * Debounce.cc), which is why Linux reads inotify itself (inotify.ts).
 *
 * On Linux it watches only the folder an event names, never the folders already inside it
 * (https://github.com/parcel-bundler/watcher/issues/97): a new folder holding folders makes it
 * subscribe anew, then rescan (after its contents are reported). It reports a folder deleted
 * and created again as one update (https://github.com/parcel-bundler/watcher/issues/72), so
 * updated folders are scanned too.
 */
import { lstat, stat } from 'node:fs/promises'
import path from 'node:path'
import type watcher from '@parcel/watcher'
import { parcelIgnores } from './prune.js'
import { scanNew } from './scan.js'
import { WatchedTree } from './tree.js'
import type { WatchEvent, WatchHandle, WatchOptions } from './types.js'

const DEFAULT_SCAN_LIMIT = 5000

class ParcelTree extends WatchedTree {
  readonly backend = '@parcel/watcher' as const
  private subscription: watcher.AsyncSubscription | undefined
  private queue: Promise<void> = Promise.resolve()

  async start(): Promise<void> {
    const before = await stat(this.root)
    if (!before.isDirectory()) throw new Error(`${this.root} is not a folder`)
    const { default: parcel } = await import('@parcel/watcher')
    this.subscription = await parcel.subscribe(
      this.root,
      (error, events) => {
        if (error) {
          void this.restart(`watcher error: ${error.message}`)
          return
        }
        // Kept in order: each batch is typed (lstat) before the next one is.
        this.queue = this.queue.then(() => this.receive(events)).catch(() => undefined)
      },
      {
        ignore: parcelIgnores(this.root, this.options.prune),
        // Straight to inotify: probing for watchman first leaves a zombie shell behind.
        ...(process.platform === 'linux' ? { backend: 'inotify' as const } : {}),
      },
    )
    this.rootId = `${before.dev}:${before.ino}`
  }

  private async receive(raw: watcher.Event[]): Promise<void> {
    const events: WatchEvent[] = []
    const fresh: string[] = []
    for (const event of raw) {
      const rel = path.relative(this.root, event.path).split(path.sep).join('/')
      if (!rel || rel.startsWith('..')) {
        if (!rel && event.type === 'delete') void this.restart('the root folder was removed')
        continue
      }
      let dir = false
      if (event.type !== 'delete') {
        try {
          dir = (await lstat(event.path)).isDirectory()
        } catch {
          // gone again: its deletion follows
        }
      }
      if (this.options.ignored(rel, dir)) continue
      events.push({ kind: event.type, rel, dir })
      if (dir) fresh.push(rel)
    }
    if (events.length > 0) this.emit(events)
    if (fresh.length === 0) return
    const limit = this.options.scanLimit ?? DEFAULT_SCAN_LIMIT
    const { prune } = this.options
    const ignored = (rel: string, dir: boolean) => this.options.ignored(rel, dir)
    const result = await scanNew(this.root, fresh, { ignored, prune, limit })
    if (result.overLimit) {
      this.emit([{ kind: 'rescan', reason: `a new folder holds over ${limit} entries` }])
    } else if (result.events.length > 0) {
      this.emit(result.events)
    }
    if (result.nested && process.platform === 'linux') {
      void this.restart('a new folder holds folders the watcher was not told about')
    }
  }

  protected stopped(): string | undefined {
    return this.subscription ? undefined : 'not subscribed'
  }

  /** Unsubscribes (the library shares one tree per folder, so before subscribing anew). */
  protected async stop(): Promise<void> {
    const subscription = this.subscription
    this.subscription = undefined
    await subscription?.unsubscribe().catch(() => undefined)
    await this.queue
  }
}

export async function watchWithParcel(
  root: string,
  options: WatchOptions,
  fallback?: string,
): Promise<WatchHandle> {
  const tree = new ParcelTree(path.resolve(root), options, fallback)
  await tree.start()
  return tree
}
