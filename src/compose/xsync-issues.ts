/**
 * The issues of an `x-sync` block: Ajv's schema errors turned into one line per real mistake
 * (what is wrong and, where it can tell, what the user meant), and their order and dedupe.
 */
import type { ErrorObject } from 'ajv'
import { closest, distance } from 'fastest-levenshtein'

import type { ConfigIssue } from '../lib/errors.js'
import { isMap } from '../lib/objects.js'
import { xsyncSchema } from './xsync-schema.js'

export type AddIssue = (
  segments: readonly (string | number)[],
  message: string,
  suggestion?: string,
  /** The issue is a file or folder that does not exist (exit code 66, not 65). */
  missing?: true,
) => void

const SYNC_OPTIONS = Object.keys(xsyncSchema.definitions.sync.properties)

const LEGACY_KEYS: Record<string, string> = {
  // docker-sync.yml names, so a half-migrated block gets a precise hint.
  sync_strategy: 'strategy',
  sync_userid: 'owner',
  sync_groupid: 'owner',
  sync_user: 'owner',
  sync_excludes: 'excludes',
  sync_excludes_type: 'excludes_type',
  watch_excludes: 'excludes',
  sync_args: 'args',
  sync_prefer: 'prefer',
}

const KEYWORD_RANK: Record<string, number> = { anyOf: 0, oneOf: 0, enum: 1, const: 1, type: 2 }

/** One issue per real mistake: Ajv reports several keywords (and anyOf branches) per value. */
export function schemaIssues(errors: readonly ErrorObject[], root: unknown, add: AddIssue): void {
  // Branch errors of a failed anyOf/oneOf say nothing the combined error does not.
  const combinators = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf')
  const relevant = errors.filter(
    (e) =>
      e.keyword !== 'propertyNames' &&
      !combinators.some(
        (c) =>
          c !== e &&
          e.instancePath.startsWith(c.instancePath) &&
          e.schemaPath.startsWith(c.schemaPath + '/'),
      ),
  )
  const best = new Map<string, ErrorObject>()
  const order: string[] = []
  for (const error of relevant) {
    const segments = errorSegments(error, root)
    const key = `${JSON.stringify(segments)} ${keyedKeyword(error)}`
    const current = best.get(key)
    if (!current) order.push(key)
    if (!current || rank(error) < rank(current)) best.set(key, error)
  }
  for (const key of order) {
    const error = best.get(key)
    if (error) describeError(error, root, add)
  }
}

/** Errors about a value compete with each other; errors naming a key stand alone. */
function keyedKeyword(error: ErrorObject): string {
  if (error.keyword === 'additionalProperties' || error.keyword === 'required') return error.keyword
  return error.propertyName !== undefined ? 'propertyName' : 'value'
}

function rank(error: ErrorObject): number {
  return KEYWORD_RANK[error.keyword] ?? 3
}

function errorSegments(error: ErrorObject, root: unknown): (string | number)[] {
  const segments = pointerSegments(error.instancePath, root)
  const params: Record<string, unknown> = error.params
  if (error.propertyName !== undefined) return [...segments, error.propertyName]
  if (error.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string') {
    return [...segments, params.additionalProperty]
  }
  if (error.keyword === 'required' && typeof params.missingProperty === 'string') {
    return [...segments, params.missingProperty]
  }
  // A bad item is reported on its list, which is what the user wrote as one setting.
  if (error.keyword === 'type' && typeof segments.at(-1) === 'number') return segments.slice(0, -1)
  return segments
}

function pointerSegments(pointer: string, root: unknown): (string | number)[] {
  if (pointer === '') return []
  const segments: (string | number)[] = []
  let node = root
  for (const part of pointer.slice(1).split('/')) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~')
    const index = Array.isArray(node) ? Number(key) : NaN
    segments.push(Number.isInteger(index) ? index : key)
    node = valueAt(node, Number.isInteger(index) ? index : key)
  }
  return segments
}

function valueAt(node: unknown, key: string | number): unknown {
  if (Array.isArray(node) && typeof key === 'number') return node[key] as unknown
  if (isMap(node) && typeof key === 'string' && Object.hasOwn(node, key)) return node[key]
  return undefined
}

function valueAtPath(root: unknown, segments: readonly (string | number)[]): unknown {
  return segments.reduce<unknown>((node, key) => valueAt(node, key), root)
}

/** The schema node at a JSON pointer such as `#/definitions/sync/properties/owner`. */
function schemaAt(pointer: string): Record<string, unknown> | undefined {
  let node: unknown = xsyncSchema
  for (const part of pointer.replace(/^#\/?/, '').split('/').filter(Boolean)) {
    node = isMap(node) && Object.hasOwn(node, part) ? node[part] : undefined
  }
  return isMap(node) ? node : undefined
}

function describeError(error: ErrorObject, root: unknown, add: AddIssue): void {
  const segments = errorSegments(error, root)
  const params: Record<string, unknown> = error.params
  const owner = schemaAt(error.schemaPath.slice(0, error.schemaPath.lastIndexOf('/')))
  const custom = typeof owner?.errorMessage === 'string' ? owner.errorMessage : undefined
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty)
      const parent = segments.slice(0, -1)
      const allowed = isMap(owner?.properties) ? Object.keys(owner.properties) : []
      const [message, suggestion] = unknownKey(key, parent, allowed, valueAtPath(root, segments))
      add(segments, message, suggestion)
      return
    }
    case 'required':
      add(segments, 'is required', REQUIRED_HINTS[String(segments.at(-1))])
      return
  }
  if (error.propertyName !== undefined) {
    const name = error.propertyName
    const fixed = name
      .toLowerCase()
      .replace(/[^a-z0-9_-]+/g, '-')
      .replace(/^[^a-z0-9]+/, '')
    const suggestion =
      fixed && fixed !== name && new RegExp(String(params.pattern)).test(fixed)
        ? `did you mean "${fixed}"?`
        : 'it names a Docker volume'
    add(segments, custom ?? `must match ${String(params.pattern)}`, suggestion)
    return
  }
  const value = valueAtPath(root, segments)
  if (custom) {
    add(segments, `${custom} (got ${describeValue(value)})`)
    return
  }
  switch (error.keyword) {
    case 'enum': {
      const allowed = Array.isArray(params.allowedValues) ? params.allowedValues.map(String) : []
      add(
        segments,
        `must be one of ${allowed.join(', ')} (got ${describeValue(value)})`,
        typeof value === 'string' ? didYouMean(value, allowed) : undefined,
      )
      return
    }
    case 'type': {
      const items = schemaAt(error.schemaPath.replace(/\/items\/type$/, '/items'))
      const listOfStrings =
        params.type === 'array' || error.schemaPath.endsWith('/items/type')
          ? items?.type === 'string' ||
            schemaAt(error.schemaPath.replace(/\/type$/, '/items'))?.type === 'string'
          : false
      if (listOfStrings) {
        const itemIndex = pointerSegments(error.instancePath, root).at(-1)
        if (error.schemaPath.endsWith('/items/type') && typeof itemIndex === 'number') {
          const item: unknown = valueAtPath(root, [...segments, itemIndex])
          add(
            segments,
            `must be a list of strings (item ${itemIndex + 1} is ${describeValue(item)})`,
          )
        } else {
          add(
            segments,
            `must be a list of strings (got ${describeValue(value)})`,
            typeof value === 'string'
              ? `write it as a list: [${JSON.stringify(value)}]`
              : undefined,
          )
        }
        return
      }
      add(segments, `${typeMessage(params.type)} (got ${describeValue(value)})`)
      return
    }
    case 'minLength':
      add(segments, 'must not be empty')
      return
    case 'minProperties':
      add(segments, 'must declare at least one sync', 'add one, e.g. "app: {src: ./}"')
      return
    default:
      add(segments, error.message ?? `fails ${error.keyword}`)
  }
}

function unknownKey(
  key: string,
  parent: readonly (string | number)[],
  allowed: readonly string[],
  value: unknown,
): [string, string | undefined] {
  const where = parent[0] === 'defaults' ? 'defaults' : parent.length === 0 ? 'top' : 'sync'
  const message = `unknown key "${key}"`
  if (key === 'image' && where !== 'top') {
    return [
      `"image" applies to the whole project, not to ${where === 'defaults' ? 'defaults' : 'one sync'}`,
      'set x-sync.image instead',
    ]
  }
  if (where === 'defaults' && (key === 'src' || key === 'mounts')) {
    return [`"${key}" is set per sync, not in defaults`, `move it to x-sync.syncs.<name>.${key}`]
  }
  const legacy = LEGACY_KEYS[key]
  if (legacy && allowed.includes(legacy)) {
    return [message, `did you mean "${legacy}"? (docker-sync's "${key}")`]
  }
  if (where === 'top') {
    if (isMap(value) && Object.hasOwn(value, 'src')) {
      return [message, `syncs go under x-sync.syncs: did you mean x-sync.syncs.${key}?`]
    }
    if (SYNC_OPTIONS.includes(key)) {
      return [message, `sync options go in x-sync.defaults or in a sync`]
    }
  }
  return [message, didYouMean(key, allowed) ?? `valid keys: ${allowed.join(', ')}`]
}

const REQUIRED_HINTS: Record<string, string> = {
  src: 'set it to the host folder to sync, relative to the project directory',
  syncs: 'declare at least one sync, e.g. "syncs: {app: {src: ./}}"',
}

function typeMessage(type: unknown): string {
  switch (type) {
    case 'object':
      return 'must be a map'
    case 'array':
      return 'must be a list'
    case 'string':
      return 'must be a string'
    case 'boolean':
      return 'must be true or false'
    case 'number':
    case 'integer':
      return 'must be a number'
    default:
      return `must be ${String(type)}`
  }
}

/** The nearest valid word, only when it is close enough to be what the user meant. */
function didYouMean(got: string, candidates: readonly string[]): string | undefined {
  if (candidates.length === 0 || got === '') return undefined
  const lowered = got.toLowerCase()
  const best = closest(lowered, [...candidates])
  const limit = Math.max(2, Math.floor(got.length / 3))
  return distance(lowered, best) <= limit ? `did you mean "${best}"?` : undefined
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value'
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)
  }
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a map'
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return typeof value
}

export function dedupeIssues(issues: readonly ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>()
  return issues.filter((issue) => {
    const key = `${issue.file}\0${issue.path}\0${issue.message}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

export function sortIssues(
  issues: readonly ConfigIssue[],
  files: readonly string[],
): ConfigIssue[] {
  const fileRank = (file: string): number => {
    const index = files.indexOf(file)
    return index === -1 ? files.length : index
  }
  return [...issues].sort(
    (a, b) =>
      fileRank(a.file) - fileRank(b.file) ||
      a.file.localeCompare(b.file) ||
      (a.path < b.path ? -1 : a.path > b.path ? 1 : 0),
  )
}
