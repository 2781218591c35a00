/**
 * What both backends share: delivering events to the consumer, and watching anew (once the root
 * exists again, with a growing delay) followed by a `rescan`, which is how every failure of a
 * backend ends up. A backend says how to start, whether it still runs, and how to stop.
 */
import { logger } from '../../lib/log.js'
import { rootChange } from './scan.js'
import type { WatchBackend, WatchEvent, WatchHandle, WatchOptions } from './types.js'

const log = logger('dsync:watch')

export abstract class WatchedTree implements WatchHandle {
  abstract readonly backend: WatchBackend
  /** dev:ino of the folder the watch was set up on. */
  protected rootId = ''
  protected closed = false
  private restarting: Promise<void> | undefined

  constructor(
    protected readonly root: string,
    protected readonly options: WatchOptions,
    readonly fallback: string | undefined,
  ) {}

  /** Sets every watch up and records rootId; rejects when the root cannot be watched. */
  abstract start(): Promise<void>
  /** Why the backend no longer watches, or undefined while it does. */
  protected abstract stopped(): string | undefined
  /** Stops the backend; never rejects. */
  protected abstract stop(): Promise<void>

  protected emit(events: WatchEvent[]): void {
    if (this.closed || events.length === 0) return
    try {
      this.options.onEvents(events)
    } catch (error) {
      log.warn('the watch consumer failed: %s', error instanceof Error ? error.message : error)
    }
  }

  /** Watches anew (once the root exists again), then emits a rescan. */
  protected restart(reason: string): Promise<void> {
    if (this.closed) return Promise.resolve()
    if (this.restarting) return this.restarting
    log.info('watching %s anew: %s', this.root, reason)
    this.restarting = (async () => {
      let delay = 100
      while (!this.closed) {
        await this.stop()
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
    const reason = (await rootChange(this.root, this.rootId)) ?? this.stopped()
    if (reason) await this.restart(reason)
  }

  async close(): Promise<void> {
    this.closed = true
    await this.restarting?.catch(() => undefined)
    await this.stop()
  }
}
