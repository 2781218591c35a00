/**
 * Manifests: what a tree holds (path, type, size, mtime in nanoseconds, mode, owner), on the
 * host (a walk with the exclude matcher) and in the volume (one `find -printf` in the sidecar, through the agent),
 * and the difference between the two. A full pass is "apply the difference", which is exact:
 * deletions included, same-size edits within one second included (mtimes compare to the
 * microsecond, where rsync's default quick check compares whole seconds).
 */
import { lstat, readdir, readlink } from 'node:fs/promises'
import path from 'node:path'
import { excludedWithParents, type ExcludeMatcher } from './excludes.js'
import { deepestFirst } from './record.js'

export type EntryType = 'f' | 'd' | 'l'

export interface Entry {
  rel: string
  type: EntryType
  size: number
  /**
   * Modification time in ms since the epoch. A double carries it to ~0.25 us today: finer than
   * the 1 us the comparison allows, and no BigInt per entry (a 100,000-file walk with bigint
   * stats costs hundreds of MB of garbage).
   */
  mtimeMs: number
  /** Permission bits (e.g. 0o644). */
  mode: number
  uid: number
  gid: number
  /** Symlink target. */
  target?: string
}

export type Manifest = Map<string, Entry>

export interface WalkResult {
  entries: Manifest
  /** Excluded folders that were not descended into (absolute paths), for the watcher. */
  prunedDirs: string[]
  /** Folders that could not be listed (permissions): skipped, and reported. */
  unreadable: string[]
  bytes: number
}

/** Walks `root` on the host, pruning excluded folders. Paths use `/` and no leading slash. */
export async function walkHost(
  root: string,
  matcher: ExcludeMatcher,
  start = '',
): Promise<WalkResult> {
  const entries: Manifest = new Map()
  const prunedDirs: string[] = []
  const unreadable: string[] = []
  let bytes = 0
  // Level by level, a bounded number of folders at once: the thread pool overlaps the lstats.
  let frontier = [start]
  while (frontier.length > 0) {
    const next: string[] = []
    await mapLimit(frontier, 16, async (dir) => {
      let names
      try {
        names = await readdir(path.join(root, dir), { withFileTypes: true })
      } catch (error) {
        if (isGone(error)) return
        const code = (error as { code?: string }).code
        if (code === 'EACCES' || code === 'EPERM') {
          unreadable.push(dir)
          return
        }
        throw error
      }
      await Promise.all(
        names.map(async (dirent) => {
          const rel = dir ? `${dir}/${dirent.name}` : dirent.name
          const isDir = dirent.isDirectory()
          if (matcher.excluded(rel, isDir)) {
            if (isDir) prunedDirs.push(path.join(root, rel))
            return
          }
          const entry = await statEntry(root, rel)
          if (!entry) return
          entries.set(rel, entry)
          if (entry.type === 'd') next.push(rel)
          else if (entry.type === 'f') bytes += entry.size
        }),
      )
    })
    frontier = next
  }
  return { entries, prunedDirs, unreadable, bytes }
}

async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>) {
  let index = 0
  const lane = async () => {
    while (index < items.length) await fn(items[index++] as T)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane))
}

/** lstat one path into an Entry; undefined when it is gone or is not a file, folder or link. */
export async function statEntry(root: string, rel: string): Promise<Entry | undefined> {
  const full = path.join(root, rel)
  let s
  try {
    s = await lstat(full)
  } catch (error) {
    if (isGone(error)) return undefined
    throw error
  }
  const type: EntryType | undefined = s.isFile()
    ? 'f'
    : s.isDirectory()
      ? 'd'
      : s.isSymbolicLink()
        ? 'l'
        : undefined
  if (!type) return undefined
  const entry: Entry = {
    rel,
    type,
    size: s.size,
    mtimeMs: s.mtimeMs,
    mode: s.mode & 0o7777,
    uid: s.uid,
    gid: s.gid,
  }
  if (type === 'l') {
    try {
      entry.target = await readlink(full)
    } catch (error) {
      if (isGone(error)) return undefined
      throw error
    }
  }
  return entry
}

export function isGone(error: unknown): boolean {
  const code = (error as { code?: string }).code
  return code === 'ENOENT' || code === 'ENOTDIR'
}

/** Parses the agent's `list` answer (its format: `list` in the header of images/sync/dsync-agent). */
export function parseVolumeManifest(output: Buffer | string): Manifest {
  const text = typeof output === 'string' ? output : output.toString('utf8')
  const parts = text.split('\0')
  const entries: Manifest = new Map()
  for (let i = 0; i + 2 < parts.length; i += 3) {
    const [kind = '', size = '0', mtime = '0', mode = '0', uid = '0', gid = '0'] = (
      parts[i] as string
    ).split(' ')
    const rel = parts[i + 1] as string
    const type: EntryType | undefined =
      kind === 'f' ? 'f' : kind === 'd' ? 'd' : kind === 'l' ? 'l' : undefined
    if (!type || !rel) continue
    const entry: Entry = {
      rel,
      type,
      size: Number(size),
      mtimeMs: parseSecondsToMs(mtime),
      mode: parseInt(mode, 8),
      uid: Number(uid),
      gid: Number(gid),
    }
    if (type === 'l') entry.target = parts[i + 2]
    entries.set(rel, entry)
  }
  return entries
}

/** `1700000000.123456789` -> 1700000000123.456789 (ms, to the precision of a double). */
export function parseSecondsToMs(text: string): number {
  const [whole = '0', fraction = ''] = text.split('.')
  return Number(whole) * 1000 + Number(`0.${(fraction + '000000000').slice(0, 9)}`) * 1000
}

export interface Difference {
  /** Entries to create or update, parents before children. */
  upserts: Entry[]
  /**
   * Paths to remove from the volume, children before parents: every one of them recorded as
   * put there by the sync (see record.ts), so that a folder holding files of the container's
   * can be kept while the sync's own files in it go.
   */
  removals: string[]
}

/** Tolerance for mtimes set through APIs that carry microseconds, and for doubles. */
const MTIME_TOLERANCE_MS = 0.001

export interface DiffOptions {
  matcher: ExcludeMatcher
  owner: { uid: number; gid: number }
  /** Whether the sync put this volume path there (its record holds it). */
  owned(rel: string): boolean
}

export function diffManifests(host: Manifest, volume: Manifest, options: DiffOptions): Difference {
  const upserts: Entry[] = []
  for (const [rel, h] of host) {
    const v = volume.get(rel)
    if (!v || differs(h, v, options.owner)) upserts.push(h)
  }
  upserts.sort((a, b) => compareDepth(a.rel, b.rel))
  const removals: string[] = []
  for (const [rel, v] of volume) {
    if (host.has(rel)) continue
    // Written by the container (not recorded), or excluded: the container's, never deleted.
    if (!options.owned(rel)) continue
    if (excludedWithParents(options.matcher, rel, v.type === 'd')) continue
    removals.push(rel)
  }
  removals.sort(deepestFirst)
  return { upserts, removals }
}

function differs(h: Entry, v: Entry, owner: { uid: number; gid: number }): boolean {
  if (h.type !== v.type) return true
  if (v.uid !== owner.uid || v.gid !== owner.gid) return true
  switch (h.type) {
    case 'f': {
      if (h.size !== v.size || h.mode !== v.mode) return true
      return Math.abs(h.mtimeMs - v.mtimeMs) > MTIME_TOLERANCE_MS
    }
    case 'd':
      return h.mode !== v.mode
    case 'l':
      return h.target !== v.target
  }
}

/** Parents before children, then by name: a stable order for creating trees. */
export function compareDepth(a: string, b: string): number {
  const da = a.split('/').length
  const db = b.split('/').length
  return da !== db ? da - db : a < b ? -1 : a > b ? 1 : 0
}
