/**
 * Excluded folders no backend needs to watch: a node_modules of 100,000 files then costs no
 * watch at all. Everything else excluded is filtered per event by the daemon's matcher.
 */
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import type { SyncTarget } from '../../strategies/types.js'
import type { Prune } from './types.js'

/** Plain names (no glob, no slash inside) when no rule re-includes anything; `path` excludes. */
export function pruneFor(target: Pick<SyncTarget, 'excludes' | 'excludesType'>): Prune {
  const plain = /^[^*?[\]!/\\]+\/?$/
  switch (target.excludesType) {
    case 'gitignore':
      // A `!` rule may re-include something inside an excluded folder: watch everything.
      if (target.excludes.some((p) => p.startsWith('!'))) return { names: [], paths: [] }
      return {
        names: target.excludes.filter((p) => plain.test(p)).map((p) => p.replace(/\/$/, '')),
        paths: [],
      }
    case 'name':
      return { names: target.excludes.filter((n) => n && !n.includes('/')), paths: [] }
    case 'path':
      return {
        names: [],
        paths: target.excludes.map((p) => p.replace(/^\/+|\/+$/g, '')).filter(Boolean),
      }
    case 'regex':
      return { names: [], paths: [] }
  }
}

/** True when `rel` (a folder) is pruned or lies under a pruned folder. */
export function isPruned(prune: Prune | undefined, rel: string): boolean {
  if (!prune) return false
  const parts = rel.split('/')
  if (parts.some((p) => prune.names.includes(p))) return true
  return prune.paths.some((p) => rel === p || rel.startsWith(`${p}/`))
}

/**
 * One POSIX extended regular expression for inotifywait's --exclude (only the last one counts),
 * matched against the absolute path, so it is anchored at the root: a root that itself lies
 * under a folder named node_modules is still watched.
 */
export function inotifyExclude(root: string, prune: Prune | undefined): string | undefined {
  if (!prune || (prune.names.length === 0 && prune.paths.length === 0)) return undefined
  const alternatives = [
    ...(prune.names.length > 0 ? [`(.*/)?(${prune.names.map(escapeEre).join('|')})`] : []),
    ...prune.paths.map(escapeEre),
  ]
  return `^${escapeEre(root)}/(${alternatives.join('|')})(/|$)`
}

function escapeEre(text: string): string {
  return text.replace(/[.[\]()*+?{}|^$\\]/g, '\\$&')
}

/**
 * The same folders for @parcel/watcher, which matches a RegExp (no flags allowed) against the
 * path relative to the root and a string as an absolute path.
 */
export function parcelIgnores(root: string, prune: Prune | undefined): (string | RegExp)[] {
  if (!prune) return []
  return [
    ...prune.names.map((n) => new RegExp(`(?:^|/)${escapeRegExp(n)}(?:/|$)`)),
    ...prune.paths.map((p) => path.join(root, p)),
  ]
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/**
 * The pruned folders that exist under `root` now, outermost only, as absolute paths: inotifywait
 * applies its --exclude to events and to folders created later, but still watches every folder
 * it finds at start unless each is named (`@path`). Lists folders only (no stat per file), a few
 * at a time (the walk of a 100,000-file tree waits on the thread pool, not on each folder in
 * turn), and never descends into a pruned one.
 */
export async function existingPruned(root: string, prune: Prune | undefined): Promise<string[]> {
  if (!prune) return []
  const found = prune.paths.map((p) => path.join(root, p))
  if (prune.names.length === 0) return found
  const names = new Set(prune.names)
  const queue = ['']
  let active = 0
  await new Promise<void>((done) => {
    const pump = (): void => {
      while (active < WALKERS && queue.length > 0) {
        const rel = queue.pop() as string
        active++
        void readdir(path.join(root, rel), { withFileTypes: true })
          .then(
            (dirents) => {
              for (const dirent of dirents) {
                if (!dirent.isDirectory()) continue
                const child = rel ? `${rel}/${dirent.name}` : dirent.name
                if (names.has(dirent.name)) found.push(path.join(root, child))
                else if (!isPruned(prune, child)) queue.push(child)
              }
            },
            () => undefined, // gone meanwhile
          )
          .finally(() => {
            active--
            if (active === 0 && queue.length === 0) done()
            else pump()
          })
      }
    }
    pump()
  })
  return found
}

const WALKERS = 4
