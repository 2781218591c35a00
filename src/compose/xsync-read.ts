/**
 * Reading the `x-sync` block: from every compose file (YAML with anchors and merge keys),
 * interpolated as compose does, the blocks merged in `-f` order while remembering which file
 * set each key, so that every issue names the file to fix.
 */
import { isMap as isYamlMap, parseAllDocuments, type YAMLError } from 'yaml'

import {
  composeParseOptions,
  composeToJsOptions,
  mergeTags,
  type MergeTag,
} from './compose-yaml.js'

import { ConfigError, type ConfigIssue } from '../lib/errors.js'
import { isMap, setOwn } from '../lib/objects.js'
import { interpolate, type Env } from './interpolate.js'
import { sortIssues } from './xsync-issues.js'
import { formatKeyPath, isDescendant, parentPath, ROOT } from './xsync-key-path.js'

/** The merged, interpolated `x-sync` block, before validation. */
export interface RawXSync {
  value: unknown
  /** The file that last set this key path (e.g. `x-sync.syncs.app.src`), or its nearest parent. */
  origin(path: string): string
  /** The files that had an `x-sync` block, in merge order (orders issues); optional for callers building one by hand. */
  files?: readonly string[]
}

/**
 * Reads the `x-sync` block of each compose file, interpolates its strings from `env`, and
 * deep-merges the blocks in file order (maps key by key; scalars and lists replace). Returns
 * undefined when no file has one. Throws ConfigError on YAML syntax or interpolation errors.
 */
export function readXSync(
  files: readonly { path: string; text: string }[],
  env: Env,
): RawXSync | undefined {
  const issues: ConfigIssue[] = []
  const origins = new Map<string, string>()
  const withBlock: string[] = []
  let merged: unknown
  let found = false
  for (const file of files) {
    const docs = parseAllDocuments(file.text, { ...composeParseOptions, prettyErrors: true })
    for (const doc of docs) {
      const error = doc.errors[0]
      if (error) {
        issues.push({ file: file.path, path: '', message: yamlErrorMessage(error) })
        break
      }
      // Only the x-sync block is resolved: the aliases of the services are compose's business.
      const contents = doc.contents
      if (!isYamlMap(contents) || !contents.has(ROOT)) continue
      const node: unknown = contents.get(ROOT, true)
      let value: unknown
      try {
        value =
          node && typeof node === 'object' && 'toJS' in node
            ? (node as { toJS(d: typeof doc, o: object): unknown }).toJS(doc, composeToJsOptions)
            : node
      } catch (cause) {
        // An alias bomb ("billion laughs") is refused while resolving, not while parsing.
        const message = cause instanceof Error ? cause.message : String(cause)
        issues.push({ file: file.path, path: '', message: `invalid YAML: ${message}` })
        break
      }
      const tags = new Map<string, MergeTag>(
        mergeTags(node).map((t) => [formatKeyPath(t.segments), t.tag]),
      )
      const block = interpolateTree(value, [], env, (keyPath, message) =>
        issues.push({ file: file.path, path: keyPath, message }),
      )
      merged = found
        ? mergeValue(merged, block, [], file.path, origins, tags)
        : recordOrigins(dropResets(block, [], tags), [], file.path, origins)
      found = true
      if (!withBlock.includes(file.path)) withBlock.push(file.path)
    }
  }
  if (issues.length > 0) {
    throw new ConfigError(
      sortIssues(
        issues,
        files.map((f) => f.path),
      ),
    )
  }
  if (!found) return undefined
  const fallback = withBlock.at(-1) ?? ''
  return {
    value: merged,
    files: withBlock,
    origin: (keyPath) => {
      for (let p: string | undefined = keyPath; p !== undefined; p = parentPath(p)) {
        const file = origins.get(p)
        if (file !== undefined) return file
      }
      return fallback
    },
  }
}

function yamlErrorMessage(error: YAMLError): string {
  // The yaml package appends a code frame after the first line; one line is the rule here.
  const first = (error.message.split('\n')[0] ?? '')
    .replace(/ at line \d+, column \d+:?$/, '')
    .replace(/:$/, '')
  const pos = error.linePos?.[0]
  return `invalid YAML${pos ? ` at line ${pos.line}, column ${pos.col}` : ''}: ${first}`
}

function interpolateTree(
  value: unknown,
  segments: readonly (string | number)[],
  env: Env,
  report: (keyPath: string, message: string) => void,
): unknown {
  if (typeof value === 'string') {
    try {
      return interpolate(value, env)
    } catch (error) {
      report(formatKeyPath(segments), error instanceof Error ? error.message : String(error))
      return value
    }
  }
  if (Array.isArray(value)) {
    return value.map((item: unknown, i) => interpolateTree(item, [...segments, i], env, report))
  }
  if (isMap(value)) {
    const copy: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) {
      setOwn(copy, key, interpolateTree(item, [...segments, key], env, report))
    }
    return copy
  }
  return value
}

/**
 * Compose's merge of a later file over an earlier one: maps key by key, scalars and lists
 * replace; a key tagged `!override` replaces whole, a key tagged `!reset` is removed.
 */
function mergeValue(
  base: unknown,
  over: unknown,
  segments: readonly (string | number)[],
  file: string,
  origins: Map<string, string>,
  tags: ReadonlyMap<string, MergeTag>,
): unknown {
  if (isMap(base) && isMap(over) && tags.get(formatKeyPath(segments)) !== 'override') {
    origins.set(formatKeyPath(segments), file)
    const result: Record<string, unknown> = { ...base }
    for (const [key, item] of Object.entries(over)) {
      const child = [...segments, key]
      if (tags.get(formatKeyPath(child)) === 'reset') {
        delete result[key]
        forgetOrigins(formatKeyPath(child), origins)
        continue
      }
      setOwn(
        result,
        key,
        Object.hasOwn(base, key)
          ? mergeValue(base[key], item, child, file, origins, tags)
          : recordOrigins(dropResets(item, child, tags), child, file, origins),
      )
    }
    return result
  }
  forgetOrigins(formatKeyPath(segments), origins)
  return recordOrigins(dropResets(over, segments, tags), segments, file, origins)
}

function forgetOrigins(keyPath: string, origins: Map<string, string>): void {
  for (const known of [...origins.keys()]) {
    if (known === keyPath || isDescendant(known, keyPath)) origins.delete(known)
  }
}

/** A block with its `!reset` keys removed (there is nothing earlier for them to reset). */
function dropResets(
  value: unknown,
  segments: readonly (string | number)[],
  tags: ReadonlyMap<string, MergeTag>,
): unknown {
  if (!isMap(value)) return value
  const result: Record<string, unknown> = {}
  for (const [key, item] of Object.entries(value)) {
    const child = [...segments, key]
    if (tags.get(formatKeyPath(child)) === 'reset') continue
    setOwn(result, key, dropResets(item, child, tags))
  }
  return result
}

function recordOrigins(
  value: unknown,
  segments: readonly (string | number)[],
  file: string,
  origins: Map<string, string>,
): unknown {
  origins.set(formatKeyPath(segments), file)
  if (Array.isArray(value))
    value.forEach((item: unknown, i) => recordOrigins(item, [...segments, i], file, origins))
  else if (isMap(value)) {
    for (const [key, item] of Object.entries(value))
      recordOrigins(item, [...segments, key], file, origins)
  }
  return value
}
