/**
 * The event source of the daemon: one interface (watchTree) over two backends.
 *
 * Linux: inotify, read directly by a few lines of Perl (inotify.ts, inotify-helper.ts), with
 * the paths kept by watch descriptor in the daemon. @parcel/watcher 2.6 holds any event that
 * comes within 500 ms of the previous one for a fixed 50 ms (src/Debounce.cc, not
 * configurable), so edits 300 ms apart took 56 ms to reach the container where isolated ones
 * took 7 ms. inotifywait (inotify-tools) has no such delay, but keeps a path per watch and
 * renames them itself, and after renames of folders holding folders some of its watches
 * reported events under paths they no longer had (files lost or resurrected in the volume).
 * The one native inotify binding on npm (`inotify` 1.4.6) does not compile against Node 20,
 * and a binding without prebuilt binaries needs a compiler on every user's machine; perl-base
 * is on every Debian and Ubuntu system.
 *
 * Elsewhere, and on Linux without perl: @parcel/watcher (parcel.ts). The handle's `fallback`
 * then says why, for one warning line.
 */
import path from 'node:path'
import { InotifyUnavailable, watchWithInotify } from './inotify.js'
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
  const wanted = options.backend ?? (process.platform === 'linux' ? 'inotify' : '@parcel/watcher')
  if (wanted === '@parcel/watcher') return watchWithParcel(abs, options)
  try {
    return await watchWithInotify(abs, options)
  } catch (error) {
    if (!(error instanceof InotifyUnavailable) || options.backend) throw error
    return watchWithParcel(
      abs,
      options,
      `inotify cannot be read here (${error.message}): watching with @parcel/watcher, which delays changes that come in quick succession by up to 50 ms (install perl)`,
    )
  }
}
