/**
 * The @parcel/watcher backend: macOS (FSEvents), Windows, and Linux when inotify-tools is
 * missing; loaded only then (its native module costs the daemon memory). It delays events by
 * up to 50 ms when they come within 500 ms of each other (its Debounce.cc), which is why Linux
 * prefers inotifywait.
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
import { logger } from '../../lib/log.js'
import { parcelIgnores } from './prune.js'
import { rootChange, scanNew } from './scan.js'
import type { WatchEvent, WatchHandle, WatchOptions } from './types.js'

const log = logger('dsync:watch')
const DEFAULT_SCAN_LIMIT = 5000

class ParcelTree implements WatchHandle {
  readonly backend = '@parcel/watcher' as const
  private subscription: watcher.AsyncSubscription | undefined
  private rootId = ''
  private closed = false
  private restarting: Promise<void> | undefined
  private queue: Promise<void> = Promise.resolve()

  constructor(
    private readonly root: string,
    private readonly options: WatchOptions,
    readonly fallback: string | undefined,
  ) {}

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

  private emit(events: WatchEvent[]): void {
    if (this.closed) return
    try {
      this.options.onEvents(events)
    } catch (error) {
      log.warn('the watch consumer failed: %s', error instanceof Error ? error.message : error)
    }
  }

  /** Subscribes anew (unsubscribing first: the library shares one tree per folder), then rescan. */
  private restart(reason: string): Promise<void> {
    if (this.closed) return Promise.resolve()
    if (this.restarting) return this.restarting
    log.info('watching %s anew: %s', this.root, reason)
    this.restarting = (async () => {
      let delay = 100
      while (!this.closed) {
        await this.unsubscribe()
        try {
          await this.start()
          this.emit([{ kind: 'rescan', reason }])
          return
        } catch (error) {
          if (!(error instanceof Error && /ENOENT|not a folder/.test(error.message))) {
            log.warn(
              'watching %s failed: %s',
              this.root,
              error instanceof Error ? error.message : error,
            )
          }
        }
        await new Promise((resolve) => setTimeout(resolve, delay))
        delay = Math.min(delay * 2, 2000)
      }
    })().finally(() => (this.restarting = undefined))
    return this.restarting
  }

  async check(): Promise<void> {
    if (this.closed) return
    if (this.restarting) return this.restarting
    let reason = await rootChange(this.root, this.rootId)
    if (!reason && !this.subscription) reason = 'not subscribed'
    if (!reason) return
    await this.restart(reason)
  }

  private async unsubscribe(): Promise<void> {
    const subscription = this.subscription
    this.subscription = undefined
    await subscription?.unsubscribe().catch(() => undefined)
  }

  async close(): Promise<void> {
    this.closed = true
    await this.restarting?.catch(() => undefined)
    await this.unsubscribe()
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
