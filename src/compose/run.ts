/**
 * `dsync compose [global flags] <subcommand> [args...]`: the main job. Without an x-sync block
 * the arguments go to compose untouched. With one, compose runs with the user's files plus the
 * generated override; `up`/`start` bring the sync up first and `down`/`stop` stop it first.
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { ConfigError, ExitCode, isDsyncError } from '../lib/errors.js'
import { projectStateDir } from '../lib/paths.js'
import { logger } from '../lib/log.js'
import { parseComposeArgv, hasFlag } from './argv.js'
import { composeArgs, detectComposeCli, runComposeAttached } from './cli.js'
import { loadProject, overrideGlobals, planProject, type PlannedProject } from './load.js'
import { resolveProject } from './project.js'
import { syncImageTag } from '../docker/image.js'

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

export async function composeMain(
  argv: readonly string[],
  options: ComposeRunOptions,
): Promise<number> {
  const parsed = parseComposeArgv(argv)
  if (parsed.subcommand === undefined || parsed.globalInfo) return passthrough(argv, options)

  const subcommand = parsed.subcommand
  let planned: PlannedProject | undefined
  try {
    planned = await loadAndPlan(parsed, options)
  } catch (error) {
    if (TOLERANT.has(subcommand) && error instanceof ConfigError) {
      return withLastOverride(parsed, subcommand, error, options)
    }
    throw error
  }
  if (!planned) return passthrough(argv, options)
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

/** The planned project, or undefined when compose alone should run (no x-sync, no project). */
async function loadAndPlan(
  parsed: ReturnType<typeof parseComposeArgv>,
  options: ComposeRunOptions,
): Promise<PlannedProject | undefined> {
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
  if (!loaded.config) return undefined
  return planProject(
    { ...loaded, config: loaded.config },
    { ...options, sidecarImage: loaded.config.image ?? syncImageTag() },
  )
}

/**
 * `down`/`stop`/`kill`/`ps`/`logs` with an x-sync block that no longer plans: compose runs with
 * the user's files and the override of the last good run (it names what was started), and the
 * daemon is stopped as usual. The problem is still reported, as a warning.
 */
async function withLastOverride(
  parsed: ReturnType<typeof parseComposeArgv>,
  subcommand: string,
  error: ConfigError,
  options: ComposeRunOptions,
): Promise<number> {
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
