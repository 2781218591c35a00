/**
 * Exclude rules, one matcher for every path dsync looks at (initial sync, watching, full passes
 * and deletions in the volume), so what is excluded is the same everywhere. gitignore syntax by
 * default; docker-sync's `name` (a file or folder name anywhere), `path` (a path from the sync
 * root) and `regex` (a regular expression on the path from the root) for migrating users.
 * Excluded entries in the volume are never deleted: they belong to the container.
 */
import ignore from 'ignore'
import type { ExcludeType } from '../compose/types.js'

export interface ExcludeMatcher {
  /** `rel` is the path from the sync root with `/` separators, no leading slash. */
  excluded(rel: string, isDirectory: boolean): boolean
}

export function excludeMatcher(patterns: readonly string[], type: ExcludeType): ExcludeMatcher {
  if (patterns.length === 0) return { excluded: () => false }
  switch (type) {
    case 'gitignore': {
      const ig = ignore({ allowRelativePaths: true }).add([...patterns])
      return {
        // `ignore` treats a trailing slash as "this is a directory" (for `dir/` patterns).
        excluded: (rel, isDirectory) => rel !== '' && ig.ignores(isDirectory ? `${rel}/` : rel),
      }
    }
    case 'name': {
      const names = new Set(patterns)
      return {
        excluded: (rel) => rel.split('/').some((part) => names.has(part)),
      }
    }
    case 'path': {
      const paths = patterns.map((p) => p.replace(/^\/+|\/+$/g, ''))
      return {
        excluded: (rel) => paths.some((p) => rel === p || rel.startsWith(p + '/')),
      }
    }
    case 'regex': {
      const regexes = patterns.map((p) => new RegExp(p))
      return { excluded: (rel) => regexes.some((re) => re.test(rel)) }
    }
  }
}

/**
 * True when `rel` or one of its parent folders is excluded (a watcher reports files inside an
 * excluded folder too; a walk prunes the folder instead).
 */
export function excludedWithParents(
  matcher: ExcludeMatcher,
  rel: string,
  isDirectory: boolean,
): boolean {
  const parts = rel.split('/')
  for (let i = 1; i < parts.length; i++) {
    if (matcher.excluded(parts.slice(0, i).join('/'), true)) return true
  }
  return matcher.excluded(rel, isDirectory)
}
