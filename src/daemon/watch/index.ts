/**
 * The event source of the daemon: one interface (watchTree) over two backends.
 *
 * Linux: `inotifywait -m -r` from inotify-tools (inotifywait.ts). @parcel/watcher 2.6 holds any
 * event that comes within 500 ms of the previous one for a fixed 50 ms (src/Debounce.cc, not
 * configurable), so edits 300 ms apart took 56 ms to reach the container where isolated ones took
 * 7 ms (issue 12). Measured here (Debian 12, 2 cores, 100 writes 100 ms apart, write to event in
 * node): inotifywait 0.2 ms p50 / 0.5 ms p95, @parcel/watcher 50.9 ms / 51.6 ms. Setting up a
 * 100,000-file tree of 8,051 folders took inotifywait 0.42 s; the child uses ~4 MB. The one
 * native inotify binding on npm (`inotify` 1.4.6) does not compile against Node 20's V8, and any
 * binding without prebuilt binaries needs a compiler on the user's machine; inotify-tools is one
 * Debian package and already what the sidecar and the tests watch with.
 *
 * Elsewhere, and on Linux without inotify-tools: @parcel/watcher (parcel.ts). The handle's
 * `fallback` then says why, for one warning line.
 */
import path from 'node:path'
import { InotifywaitMissing, watchWithInotifywait } from './inotifywait.js'
import { watchWithParcel } from './parcel.js'
import type { WatchHandle, WatchOptions } from './types.js'

export type { Prune, WatchBackend, WatchEvent, WatchHandle, WatchOptions } from './types.js'
export { pruneFor } from './prune.js'

/**
 * Watches `root` and everything under it except pruned folders. Resolves once every watch is
 * set up: a change made after that is delivered. Rejects only when the root cannot be watched
 * at all; afterwards every failure becomes a `rescan` event and a new watch, never an exception.
 */
export async function watchTree(root: string, options: WatchOptions): Promise<WatchHandle> {
  const abs = path.resolve(root)
  const wanted =
    options.backend ?? (process.platform === 'linux' ? 'inotifywait' : '@parcel/watcher')
  if (wanted === '@parcel/watcher') return watchWithParcel(abs, options)
  try {
    return await watchWithInotifywait(abs, options)
  } catch (error) {
    if (!(error instanceof InotifywaitMissing) || options.backend) throw error
    return watchWithParcel(
      abs,
      options,
      `${error.message}: watching with @parcel/watcher, which delays changes that come in quick succession by up to 50 ms (install inotify-tools)`,
    )
  }
}
