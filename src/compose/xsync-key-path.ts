/**
 * Key paths, the names issues and origins give a setting of the `x-sync` block:
 * `x-sync.syncs.app.src`; keys that are not plain words are quoted (`syncs["a.b"]`).
 */

/** The top-level key of the block in a compose file, and the first word of every key path. */
export const ROOT = 'x-sync'

export function formatKeyPath(segments: readonly (string | number)[]): string {
  let out = ROOT
  for (const segment of segments) {
    out +=
      typeof segment === 'number' || /^[A-Za-z0-9_-]+$/.test(segment)
        ? `.${segment}`
        : `[${JSON.stringify(segment)}]`
  }
  return out
}

export function parentPath(keyPath: string): string | undefined {
  const match = /(?:\.[A-Za-z0-9_-]+|\["(?:[^"\\]|\\.)*"\])$/.exec(keyPath)
  return match && match.index > 0 ? keyPath.slice(0, match.index) : undefined
}

export function isDescendant(candidate: string, ancestor: string): boolean {
  return candidate.startsWith(ancestor + '.') || candidate.startsWith(ancestor + '[')
}
