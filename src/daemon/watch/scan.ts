/**
 * What a new folder already holds. A folder created or moved in is watched only once its event
 * is read, so whatever was put in it before then (`mkdir -p a/b && touch a/b/c`, a tree moved in,
 * `git clone`) raises no event of its own (https://github.com/parcel-bundler/watcher/issues/97):
 * the source lists it after the watch exists and reports each entry as created.
 */
import { readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { isPruned } from './prune.js'
import type { Prune, WatchEvent } from './types.js'

export interface ScanResult {
  events: WatchEvent[]
  /** More than `limit` entries: the caller reports a rescan instead. */
  overLimit: boolean
  /** Some new folder holds folders of its own (the parcel backend watches anew then). */
  nested: boolean
}

/** Lists the folders `rels` (relative to `root`) depth first, without following links. */
export async function scanNew(
  root: string,
  rels: readonly string[],
  options: { ignored(rel: string, dir: boolean): boolean; prune?: Prune; limit: number },
): Promise<ScanResult> {
  const events: WatchEvent[] = []
  const stack = [...rels]
  let nested = false
  while (stack.length > 0) {
    const rel = stack.pop() as string
    let dirents
    try {
      dirents = await readdir(path.join(root, rel), { withFileTypes: true })
    } catch {
      continue // gone again, or not a folder any more: its own event says so
    }
    for (const dirent of dirents) {
      const child = `${rel}/${dirent.name}`
      const dir = dirent.isDirectory()
      if (options.ignored(child, dir)) continue
      if (dir && isPruned(options.prune, child)) continue
      events.push({ kind: 'create', rel: child, dir })
      if (events.length > options.limit) return { events: [], overLimit: true, nested }
      if (dir) {
        nested = true
        stack.push(child)
      }
    }
  }
  return { events, overLimit: false, nested }
}

/**
 * Why the watched root is no longer the folder a watch was set up on (`rootId`: its
 * `dev:ino` then), or undefined when it still is.
 */
export async function rootChange(root: string, rootId: string): Promise<string | undefined> {
  try {
    const now = await stat(root)
    return `${now.dev}:${now.ino}` !== rootId ? 'the root folder was replaced' : undefined
  } catch {
    return 'the root folder is gone'
  }
}
