/**
 * `dsync compose [global flags] <subcommand> [args...]`: the main job. Without an x-sync block
 * the arguments go to compose untouched. With one, compose runs with the user's files plus the
 * generated override; `up`/`start` bring the sync up first and `down`/`stop` stop it first.
 *
 * Every other subcommand (ps, logs, exec, config, ...) only needs compose's arguments: they come
 * from the resolved cache while no input changed, and loading (YAML, `compose config`, the plan)
 * is imported only when they do not.
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { ConfigError, ExitCode, isDsyncError } from '../lib/errors.js'
import { projectStateDir } from '../lib/paths.js'
import { logger } from '../lib/log.js'
import { parseComposeArgv, hasFlag, type ComposeArgv } from './argv.js'
import { composeArgs, detectComposeCli, runComposeAttached } from './cli.js'
import type { LoadedProject, PlannedProject } from './load.js'
import {
  lookupResolved,
  restoreOverride,
  storeResolved,
  type ResolvedCompose,
} from './resolved-cache.js'

const log = logger('dsync:compose')

export interface ComposeRunOptions {
  cwd: string
  env: NodeJS.ProcessEnv
}

/** Subcommands after which nothing of the project runs any more (sync stops first). */
const STOPPING = new Set(['down', 'stop', 'kill'])
/** Subcommands that start containers (sync starts first). */
const STARTING = new Set(['up', 'start'])
/**
 * Subcommands that must work whatever the x-sync block says now (invalid, or invalid for this
 * engine): a user can always see and take down what was started.
 */
const TOLERANT = new Set(['down', 'stop', 'kill', 'ps', 'logs'])
/**
 * Subcommands that start, create or build things, or stop the sync: the project is resolved
 * anew every time (and the resolved cache refreshed), whatever the cache holds.
 */
const FRESH = new Set([...STARTING, ...STOPPING, 'create', 'run', 'scale', 'watch', 'build'])

export async function composeMain(
  argv: readonly string[],
  options: ComposeRunOptions,
): Promise<number> {
  const parsed = parseComposeArgv(argv)
  if (parsed.subcommand === undefined || parsed.globalInfo) return passthrough(argv, options)

  const subcommand = parsed.subcommand
  if (!FRESH.has(subcommand)) {
    const cached = lookupResolved(parsed, options)
    if (cached) return runResolved(cached, argv, [subcommand, ...parsed.subArgs], options)
  }

  const startedAt = Date.now()
  let loaded: Loaded | undefined
  try {
    loaded = await loadAndPlan(parsed, options)
  } catch (error) {
    if (TOLERANT.has(subcommand) && error instanceof ConfigError) {
      return withLastOverride(parsed, subcommand, error, options)
    }
    throw error
  }
  if (!loaded) return passthrough(argv, options)
  await remember(parsed, options, loaded, startedAt)
  const planned = loaded.planned
  if (!planned) return passthrough(argv, options)
  const { overrideGlobals } = await import('./load.js')
  const args = composeArgs(planned.cli, overrideGlobals(planned), [subcommand, ...parsed.subArgs])

  if (planned.plan.sidecar && STARTING.has(subcommand)) {
    return up(planned, subcommand, parsed.subArgs, args, options)
  }
  if (
    planned.plan.sidecar &&
    STOPPING.has(subcommand) &&
    stopsEverything(subcommand, parsed.subArgs)
  ) {
    const { stopSync } = await import('../daemon/lifecycle.js')
    await stopSync(planned)
  }
  return runComposeAttached(planned.cli, args, options)
}

/** A pass-through whose compose arguments came from the resolved cache. */
function runResolved(
  cached: ResolvedCompose,
  argv: readonly string[],
  subcommand: string[],
  options: ComposeRunOptions,
): Promise<number> {
  for (const warning of cached.warnings) process.stderr.write(`dsync: warning: ${warning}\n`)
  if (cached.override) restoreOverride(cached.override)
  const args = cached.globals ? [...cached.globals, ...subcommand] : [...cached.cli.prefix, ...argv]
  return runComposeAttached(cached.cli, args, options)
}

/** Keeps what a pass-through of this project needs, for the next call with the same inputs. */
async function remember(
  parsed: ComposeArgv,
  options: ComposeRunOptions,
  { project: loaded, planned }: Loaded,
  startedAt: number,
): Promise<void> {
  // A file read from stdin is not an input the cache can check.
  if (loaded.project.fromStdin) return
  const { overrideGlobals } = await import('./load.js')
  const resolved: ResolvedCompose = {
    cli: loaded.cli,
    globals: planned ? composeArgs(planned.cli, overrideGlobals(planned), []) : undefined,
    override:
      planned?.overridePath !== undefined && planned.overrideText !== undefined
        ? { path: planned.overridePath, text: planned.overrideText }
        : undefined,
    warnings: planned?.warnings ?? loaded.warnings,
  }
  await storeResolved(parsed, options, resolved, {
    directory: loaded.project.directory,
    files: loaded.project.files,
    srcs: (loaded.config?.syncs ?? []).map((s) => s.srcLink ?? s.src),
    startedAt,
  })
}

interface Loaded {
  project: LoadedProject
  /** Undefined when the project has no x-sync block: compose alone runs. */
  planned: PlannedProject | undefined
}

/** The loaded and planned project, or undefined when there is no project (compose says why). */
async function loadAndPlan(
  parsed: ComposeArgv,
  options: ComposeRunOptions,
): Promise<Loaded | undefined> {
  // Loading is what the resolved cache saves: it is imported only when needed.
  const { loadProject, planProject } = await import('./load.js')
  let loaded
  try {
    loaded = await loadProject(parsed, options)
  } catch (error) {
    // No compose file (or an unreadable one) and nothing of dsync's to add: compose says it best.
    // A missing sync src (also exit 66) is the x-sync block's error: dsync reports it.
    if (
      isDsyncError(error) &&
      error.exitCode === ExitCode.noInput &&
      !(error instanceof ConfigError)
    ) {
      log.debug('no project found (%s): passing through', error.message)
      return undefined
    }
    throw error
  }
  if (!loaded.config) return { project: loaded, planned: undefined }
  const { syncImageTag } = await import('../docker/image.js')
  const planned = await planProject(
    { ...loaded, config: loaded.config },
    { ...options, sidecarImage: loaded.config.image ?? syncImageTag() },
  )
  return { project: loaded, planned }
}

/**
 * `down`/`stop`/`kill`/`ps`/`logs` with an x-sync block that no longer plans: compose runs with
 * the user's files and the override of the last good run (it names what was started), and the
 * daemon is stopped as usual. The problem is still reported, as a warning.
 */
async function withLastOverride(
  parsed: ComposeArgv,
  subcommand: string,
  error: ConfigError,
  options: ComposeRunOptions,
): Promise<number> {
  const { resolveProject } = await import('./project.js')
  const project = resolveProject(parsed, options)
  const stateDir = projectStateDir(project.name, options.env)
  const override = path.join(stateDir, 'compose.override.yml')
  const files = project.files.map((f) => f.path)
  if (existsSync(override)) files.push(override)
  const first = error.line().split('\n')[0] ?? ''
  process.stderr.write(
    `dsync: warning: ${first}; running ${subcommand} with ${existsSync(override) ? 'the override of the last run' : 'your files alone'}\n`,
  )
  if (STOPPING.has(subcommand) && stopsEverything(subcommand, parsed.subArgs)) {
    const { stopSync } = await import('../daemon/lifecycle.js')
    await stopSync({ stateDir })
  }
  const cli = await detectComposeCli(options.env)
  const args = composeArgs(
    cli,
    {
      passthrough: parsed.passthroughGlobals,
      project: project.name,
      directory: project.directory,
      files,
    },
    [subcommand, ...parsed.subArgs],
  )
  return runComposeAttached(cli, args, options)
}

async function up(
  planned: PlannedProject,
  subcommand: string,
  subArgs: string[],
  args: string[],
  options: ComposeRunOptions,
): Promise<number> {
  // The sync machinery is loaded only by the subcommands that need it.
  const { startSync, stopSync } = await import('../daemon/lifecycle.js')
  const detached =
    subcommand === 'start' || hasFlag(subArgs, '-d', '--detach') || hasFlag(subArgs, '--wait')
  if (detached) {
    // Under the project's lock: a concurrent up of the project waits until this one is done.
    return startSync(planned, options, () => runComposeAttached(planned.cli, args, options))
  }
  await startSync(planned, options)
  const code = await runComposeAttached(planned.cli, args, options)
  // An attached `up` ends when the user stops it (Ctrl-C): the containers are stopped now.
  await stopSync(planned)
  return code
}

/** `down` always; `stop`/`kill` only without service names, or when the sidecar is named. */
function stopsEverything(subcommand: string, subArgs: string[]): boolean {
  if (subcommand === 'down') return true
  const services = positional(subArgs)
  return services.length === 0 || services.includes('dsync-sync')
}

/** Positional arguments of a subcommand (its flags' values are not known: a best effort). */
function positional(args: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string
    if (a === '--') return [...out, ...args.slice(i + 1)]
    if (a.startsWith('-')) {
      if (/^(-t|--timeout|-s|--signal)$/.test(a)) i++
      continue
    }
    out.push(a)
  }
  return out
}

async function passthrough(argv: readonly string[], options: ComposeRunOptions): Promise<number> {
  const cli = await detectComposeCli(options.env)
  return runComposeAttached(cli, [...cli.prefix, ...argv], options)
}
