/**
 * Loading a project for dsync: the project (files, name, env), its x-sync config, the resolved
 * compose model (from `compose config`, cached on disk until an input changes), and the plan.
 */
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { ExternalError, ExitCode } from '../lib/errors.js'
import { logger } from '../lib/log.js'
import { ensurePrivateDir, projectStateDir, writePrivateFile } from '../lib/paths.js'
import { parseDocument } from 'yaml'
import { detectPlatform, supportsStartInterval } from '../docker/platform.js'
import { composeParseOptions, composeToJsOptions } from './compose-yaml.js'
import type { ComposeArgv } from './argv.js'
import { composeArgs, detectComposeCli, runComposeCaptured, type ComposeCli } from './cli.js'
import {
  dependsOnMaps,
  parseComposeModel,
  parseShortMount,
  type ComposeModel,
  type MountModel,
} from './model.js'
import { isEmptyPlan, plan, renderOverride, type SyncPlan, type UidGid } from './plan.js'
import { resolveProject, type Project } from './project.js'
import type { Platform, SyncConfig } from './types.js'
import { interpolate, readXSync, srcWarnings, validateXSync, type RawXSync } from './xsync.js'

const log = logger('dsync:compose')

export interface LoadedProject {
  argv: ComposeArgv
  project: Project
  cli: ComposeCli
  /** Undefined when the files have no x-sync block. */
  config: SyncConfig | undefined
  stateDir: string
  /** The warnings printed while loading (without the `dsync: warning: ` prefix). */
  warnings: string[]
}

export interface PlannedProject extends LoadedProject {
  config: SyncConfig
  model: ComposeModel
  platform: Platform
  plan: SyncPlan
  /** The override file, or undefined when the plan needs none (every sync native). */
  overridePath: string | undefined
  /** The override's text, as written to `overridePath`. */
  overrideText: string | undefined
}

export interface LoadOptions {
  cwd: string
  env: NodeJS.ProcessEnv
}

export async function loadProject(argv: ComposeArgv, options: LoadOptions): Promise<LoadedProject> {
  const project = resolveProject(argv, options)
  const stateDir = projectStateDir(project.name, options.env)
  const raw = project.fromStdin ? undefined : readXSync(project.files, project.env)
  const config = raw ? validateCached(raw, project, stateDir) : undefined
  const warnings = config ? srcWarnings(config, project.directory) : []
  for (const warning of warnings) process.stderr.write(`dsync: warning: ${warning}\n`)
  const cli = await detectComposeCli(options.env)
  return { argv, project, cli, config, stateDir, warnings }
}

/**
 * Validation compiles a JSON Schema (tens of ms): a config validated before is reused while
 * the block and the files are unchanged and every src is still a folder.
 */
function validateCached(raw: RawXSync, project: Project, stateDir: string): SyncConfig {
  const hash = createHash('sha256')
  hash.update(project.directory + '\n' + JSON.stringify(raw.value) + '\n')
  for (const file of project.files) hash.update(file.path + '\n' + file.text)
  const key = hash.digest('hex')
  const cacheFile = path.join(stateDir, 'config.json')
  try {
    const cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as {
      key: string
      config: SyncConfig
    }
    if (cached.key === key && cached.config.syncs.every((s) => isDirectory(s.src)))
      return cached.config
  } catch {
    // No cache yet.
  }
  const config = validateXSync(raw, project.directory)
  try {
    ensurePrivateDir(stateDir)
    writePrivateFile(cacheFile, JSON.stringify({ key, config }))
  } catch (error) {
    log.debug('cannot cache the validated config: %s', String(error))
  }
  return config
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory()
  } catch {
    return false
  }
}

/** The globals every compose call of this project gets (without the override). */
export function baseGlobals(loaded: LoadedProject) {
  return {
    passthrough: loaded.argv.passthroughGlobals,
    project: loaded.project.name,
    directory: loaded.project.directory,
    files: loaded.project.files.map((f) => f.path),
  }
}

/** The globals with the override layered last. */
export function overrideGlobals(planned: PlannedProject) {
  const base = baseGlobals(planned)
  return planned.overridePath ? { ...base, files: [...base.files, planned.overridePath] } : base
}

export async function planProject(
  loaded: LoadedProject & { config: SyncConfig },
  options: LoadOptions & { sidecarImage: string },
): Promise<PlannedProject> {
  const [model, platform] = await Promise.all([
    loadModel(loaded, options),
    detectPlatform(options.env),
  ])
  const syncPlan = plan({
    project: loaded.project.name,
    config: loaded.config,
    model: model.model,
    platform,
    sidecarImage: options.sidecarImage,
    hostOwners: hostOwners(loaded.config),
    dependsOn: model.dependsOn,
    inactiveServices: inactiveServices(loaded, model.model),
  })
  for (const warning of syncPlan.warnings) process.stderr.write(`dsync: warning: ${warning}\n`)
  let overridePath: string | undefined
  let overrideText: string | undefined
  if (!isEmptyPlan(syncPlan)) {
    overridePath = path.join(loaded.stateDir, 'compose.override.yml')
    overrideText = renderOverride(syncPlan, {
      dependsOn: model.dependsOn,
      // Compose v1 does not know the key; v2 passes it to the engine, which needs API 1.44.
      healthStartInterval: loaded.cli.major === 2 && supportsStartInterval(platform.engineVersion),
    }).toString()
    writeIfChanged(overridePath, overrideText)
  }
  return {
    ...loaded,
    config: loaded.config,
    model: model.model,
    platform,
    plan: syncPlan,
    overridePath,
    overrideText,
    warnings: [...loaded.warnings, ...syncPlan.warnings],
  }
}

/**
 * The bind mounts of the services the user's files declare but compose left out of the model
 * (v2 drops services of inactive profiles): a sync that only they mount is idle, not an error.
 */
function inactiveServices(
  loaded: LoadedProject,
  model: ComposeModel,
): Record<string, MountModel[]> {
  const out: Record<string, MountModel[]> = {}
  for (const file of loaded.project.files) {
    let services: unknown
    try {
      services = parseDocument(file.text, composeParseOptions).toJS(composeToJsOptions)
    } catch {
      continue // compose reports broken files
    }
    services = (services as { services?: unknown } | null)?.services
    if (!services || typeof services !== 'object') continue
    for (const [name, service] of Object.entries(services as Record<string, unknown>)) {
      if (model.services[name]) continue
      const volumes = (service as { volumes?: unknown } | null)?.volumes
      const mounts = (out[name] ??= [])
      if (!Array.isArray(volumes)) continue
      for (const volume of volumes as unknown[]) {
        const mount = rawMount(volume, loaded.project)
        if (mount) mounts.push(mount)
      }
    }
  }
  return out
}

function rawMount(volume: unknown, project: LoadedProject['project']): MountModel | undefined {
  const expand = (text: string): string | undefined => {
    try {
      return interpolate(text, project.env)
    } catch {
      return undefined
    }
  }
  if (typeof volume === 'string') {
    const spec = expand(volume)
    return spec === undefined ? undefined : parseShortMount(spec, project.directory)
  }
  const long = volume as { type?: unknown; source?: unknown; target?: unknown } | null
  if (long?.type !== 'bind' || typeof long.source !== 'string') return undefined
  const source = expand(long.source)
  if (source === undefined) return undefined
  return {
    type: 'bind',
    source: path.resolve(project.directory, source),
    target: typeof long.target === 'string' ? long.target : '',
    readOnly: false,
  }
}

function hostOwners(config: SyncConfig): Record<string, UidGid> {
  const owners: Record<string, UidGid> = {}
  for (const sync of config.syncs) {
    const s = statSync(sync.src)
    owners[sync.name] = { uid: s.uid, gid: s.gid }
  }
  return owners
}

function writeIfChanged(file: string, text: string): void {
  try {
    if (readFileSync(file, 'utf8') === text) return
  } catch {
    // Not there yet.
  }
  ensurePrivateDir(path.dirname(file))
  writePrivateFile(file, text)
}

interface CachedModel {
  key: string
  text: string
}

/**
 * The resolved model from `compose config`, cached under the state directory. The key covers
 * the compose CLI, the files' contents, the env (.env and the variables the files mention), the
 * profiles and the stamps of the files in the project folder (env_file, extends targets).
 */
async function loadModel(
  loaded: LoadedProject,
  options: LoadOptions,
): Promise<{ model: ComposeModel; dependsOn: Record<string, Record<string, unknown>> }> {
  const key = modelKey(loaded)
  const cacheFile = path.join(loaded.stateDir, 'model.json')
  let text: string | undefined
  try {
    const cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as CachedModel
    if (cached.key === key) text = cached.text
  } catch {
    // No cache.
  }
  if (text === undefined) {
    const args = composeArgs(
      loaded.cli,
      baseGlobals(loaded),
      loaded.cli.major === 2 ? ['config', '--format', 'json'] : ['config'],
    )
    const result = await runComposeCaptured(loaded.cli, args, {
      cwd: options.cwd,
      env: options.env,
      reject: false,
    })
    if (result.exitCode !== 0) {
      throw new ExternalError(
        `${loaded.cli.file} ${loaded.cli.prefix.join(' ')} config`.replace('  ', ' '),
        result.exitCode,
        result.stderr,
        'fix the compose file as the message says',
        ExitCode.config,
      )
    }
    text = result.stdout
    ensurePrivateDir(loaded.stateDir)
    writePrivateFile(cacheFile, JSON.stringify({ key, text } satisfies CachedModel))
  } else {
    log.debug('compose model from cache')
  }
  const model = parseComposeModel(text, loaded.project.directory)
  return { model, dependsOn: dependsOnMaps(text) }
}

function modelKey(loaded: LoadedProject): string {
  const hash = createHash('sha256')
  const { project, cli } = loaded
  hash.update(JSON.stringify(cli))
  hash.update(JSON.stringify(loaded.argv.passthroughGlobals))
  hash.update(project.directory + '\n' + project.name + '\n' + project.profiles.join(',') + '\n')
  const mentioned = new Set<string>()
  for (const file of project.files) {
    hash.update(file.path + '\n' + file.text)
    for (const m of file.text.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g))
      mentioned.add(m[1] as string)
  }
  for (const name of [...mentioned].sort()) hash.update(`${name}=${project.env[name] ?? ''}\n`)
  for (const dir of new Set([
    project.directory,
    ...project.files.map((f) => path.dirname(f.path)),
  ])) {
    let entries: string[] = []
    try {
      entries = readdirSync(dir).sort()
    } catch {
      continue
    }
    for (const entry of entries) {
      try {
        const s = statSync(path.join(dir, entry))
        if (s.isFile()) hash.update(`${entry}:${s.size}:${s.mtimeMs}\n`)
      } catch {
        // Vanished.
      }
    }
  }
  return hash.digest('hex')
}
