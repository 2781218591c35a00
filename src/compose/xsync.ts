/**
 * The `x-sync` block of the user's compose files: read it from every file (YAML with anchors
 * and merge keys), interpolate it as compose does, merge the blocks in `-f` order while
 * remembering which file set each key, then validate it into a typed `SyncConfig` whose
 * errors are one line each: file, key path, what is wrong, what to do.
 *
 * This module validates and builds the config, the one place defaults are applied; the steps
 * before it live beside it: interpolate.ts (.env and `${VAR}`), xsync-read.ts (reading and
 * merging), xsync-issues.ts (schema errors as issues), xsync-checks.ts (what the schema
 * cannot check).
 */
import { createRequire } from 'node:module'
import type { Ajv as AjvClass, ValidateFunction } from 'ajv'

import { ConfigError, type ConfigIssue } from '../lib/errors.js'
import { realSrc, resolveSrc, semanticIssues } from './xsync-checks.js'
import { dedupeIssues, schemaIssues, sortIssues, type AddIssue } from './xsync-issues.js'
import { formatKeyPath } from './xsync-key-path.js'
import type { RawXSync } from './xsync-read.js'
import { xsyncSchema } from './xsync-schema.js'
import type {
  ExcludeType,
  InitialDirection,
  Owner,
  Prefer,
  StrategyName,
  SyncConfig,
  SyncSpec,
} from './types.js'

export { interpolate, parseDotEnv, type Env } from './interpolate.js'
export { srcWarnings } from './xsync-checks.js'
export { readXSync, type RawXSync } from './xsync-read.js'

/** The block as the schema describes it; what Ajv's type guard establishes. */
interface SyncOptions {
  strategy?: StrategyName
  owner?: string
  prefer?: Prefer
  initial?: InitialDirection
  excludes?: string[]
  excludes_type?: ExcludeType
  args?: string[]
}
interface SyncDocument extends SyncOptions {
  src: string
  mounts?: Record<string, string>
}
interface XSyncDocument {
  image?: string
  defaults?: SyncOptions
  syncs: Record<string, SyncDocument>
}

let compiled: ValidateFunction<XSyncDocument> | undefined
function validator(): ValidateFunction<XSyncDocument> {
  if (!compiled) {
    // Loaded on first use: the common run reuses a validated config and never needs Ajv.
    const { Ajv } = createRequire(import.meta.url)('ajv') as { Ajv: typeof AjvClass }
    const ajv = new Ajv({ allErrors: true })
    ajv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' })
    compiled = ajv.compile<XSyncDocument>(xsyncSchema)
  }
  return compiled
}

/**
 * Validates the merged block against the schema and the filesystem, and returns the typed
 * config with defaults applied and each `src` made absolute against `projectDir`. Throws one
 * ConfigError carrying every issue, ordered by file then key path.
 */
export function validateXSync(raw: RawXSync, projectDir: string): SyncConfig {
  const validate = validator()
  const valid = validate(raw.value)
  const issues: ConfigIssue[] = []
  const add: AddIssue = (segments, message, suggestion, missing) => {
    const keyPath = formatKeyPath(segments)
    const issue: ConfigIssue = { file: raw.origin(keyPath), path: keyPath, message }
    if (suggestion) issue.suggestion = suggestion
    if (missing) issue.missing = true
    issues.push(issue)
  }
  if (!valid) schemaIssues(validate.errors ?? [], raw.value, add)
  semanticIssues(raw.value, projectDir, add)
  const unique = dedupeIssues(issues)
  if (unique.length > 0 || !valid) throw new ConfigError(sortIssues(unique, raw.files ?? []))
  return buildConfig(raw.value as XSyncDocument, raw, projectDir)
}

function buildConfig(doc: XSyncDocument, raw: RawXSync, projectDir: string): SyncConfig {
  const defaults = doc.defaults ?? {}
  const syncs = Object.entries(doc.syncs).map(([name, sync]): SyncSpec => {
    const owner = sync.owner ?? defaults.owner
    const written = resolveSrc(sync.src, projectDir)
    const src = realSrc(written)
    return {
      name,
      src,
      ...(src !== written ? { srcLink: written } : {}),
      srcAsWritten: sync.src,
      strategy: sync.strategy ?? defaults.strategy ?? 'auto',
      mounts: { ...sync.mounts },
      owner: owner === undefined ? undefined : parseOwner(owner),
      prefer: sync.prefer ?? defaults.prefer ?? 'host',
      initial: sync.initial ?? defaults.initial ?? 'host',
      excludes: [...(sync.excludes ?? defaults.excludes ?? [])],
      excludesType: sync.excludes_type ?? defaults.excludes_type ?? 'gitignore',
      args: [...(sync.args ?? defaults.args ?? [])],
      file: raw.origin(formatKeyPath(['syncs', name, 'src'])),
    }
  })
  return { syncs, image: doc.image }
}

function parseOwner(owner: string): Owner {
  const [uid, gid] = owner.split(':').map(Number)
  return owner === 'auto' || uid === undefined || gid === undefined
    ? { kind: 'auto' }
    : { kind: 'fixed', uid, gid }
}
