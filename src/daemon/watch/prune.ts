/**
 * Excluded folders no backend needs to watch: a node_modules of 100,000 files then costs no
 * watch at all. Everything else excluded is filtered per event by the daemon's matcher.
 */
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
