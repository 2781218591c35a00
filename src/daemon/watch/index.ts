/**
 * The event source of the daemon: one interface (watchTree) over two backends.
 *
 * Linux: `inotifywait -m -r` from inotify-tools (inotifywait.ts). @parcel/watcher 2.6 holds any
 * event that comes within 500 ms of the previous one for a fixed 50 ms (src/Debounce.cc, not
 * configurable), so edits 300 ms apart took 56 ms to reach the container where isolated ones took
 * 7 ms (issue 12). Measured on this project's machine (2 cores, Debian 12, load average ~7 from
 * other work), write to event in node, 100 writes: 100 ms apart, inotifywait 1.8 ms p50 / 8.8 ms
 * p95 and @parcel/watcher 54.0 / 69.3 ms; 1 s apart, 2.4 / 17.6 ms and 1.4 / 20.5 ms. Watching
 * 100,000 files in 8,051 folders: inotifywait 0.42 s on a quiet machine, 1.6-2.4 s under that
 * load where @parcel/watcher took 1.8-2.3 s; the process watching with inotifywait stayed at
 * 50 MB RSS (plus ~7 MB for inotifywait and its shell), with @parcel/watcher at 76 MB. The one
 * native inotify binding on npm (`inotify` 1.4.6) does not compile against Node 20's V8, and a
 * binding without prebuilt binaries needs a compiler on every user's machine; inotify-tools is
 * one Debian package, and the sidecar and the tests already watch with it.
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
