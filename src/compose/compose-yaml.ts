/**
 * How dsync reads a user's compose file with the `yaml` package, so that it accepts what compose
 * accepts: compose's own `!reset` and `!override` tags (compose-go's merge tags), and as many
 * aliases as a real file uses.
 */
import { isMap, isPair, isScalar, isSeq, type CollectionTag, type ScalarTag } from 'yaml'
import type { DocumentOptions, Node, ParseOptions, SchemaOptions } from 'yaml'

/** Compose's merge tags: they change how files merge, not the value they carry. */
export const RESET_TAG = '!reset'
export const OVERRIDE_TAG = '!override'

function passThrough(tag: string): (ScalarTag | CollectionTag)[] {
  return [
    // `!reset` on a scalar (`!reset null`) resets the key; the value itself means nothing.
    { tag, resolve: (value: string) => (tag === RESET_TAG ? null : value) },
    { tag, collection: 'map', resolve: (map) => map },
    { tag, collection: 'seq', resolve: (seq) => seq },
  ]
}

/**
 * yaml's limit is the number of nodes an alias expands to, times its uses. Compose (go-yaml)
 * refuses only expansions that are both huge and mostly aliases (billion laughs); a big real
 * file with nested merge keys reaches a few thousand here. This stops a bomb long before it
 * costs memory while leaving real files alone.
 */
export const MAX_ALIAS_EXPANSION = 1_000_000

/** Options for `parse`, `parseDocument` and `parseAllDocuments` on a user's compose file. */
export const composeParseOptions: ParseOptions & DocumentOptions & SchemaOptions = {
  merge: true,
  customTags: [...passThrough(RESET_TAG), ...passThrough(OVERRIDE_TAG)],
}

/** Options for `toJS` of such a document. */
export const composeToJsOptions = { maxAliasCount: MAX_ALIAS_EXPANSION } as const

export type MergeTag = 'reset' | 'override'

/**
 * The key paths (segments under `node`) whose value carries `!reset` or `!override`, so a merge
 * of several files can honour them as compose does.
 */
export function mergeTags(node: unknown, base: readonly (string | number)[] = []) {
  const found: { segments: (string | number)[]; tag: MergeTag }[] = []
  const visit = (n: unknown, segments: (string | number)[]): void => {
    const tag = (n as Node | undefined)?.tag
    if (tag === RESET_TAG) found.push({ segments, tag: 'reset' })
    else if (tag === OVERRIDE_TAG) found.push({ segments, tag: 'override' })
    if (isMap(n)) {
      for (const pair of n.items) {
        if (!isPair(pair)) continue
        const key = isScalar(pair.key) ? pair.key.value : pair.key
        if (typeof key === 'string' || typeof key === 'number')
          visit(pair.value, [...segments, String(key)])
      }
    } else if (isSeq(n)) {
      n.items.forEach((item, i) => visit(item, [...segments, i]))
    }
  }
  visit(node, [...base])
  return found
}
