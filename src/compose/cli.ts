/**
 * The user's compose CLI: `docker compose` (v2) preferred, `docker-compose` (v1) as fallback,
 * detected once per machine and cached on disk (keyed by the executables found on PATH, so
 * installing or removing one is noticed) because asking `docker compose version` costs a
 * subprocess on every call.
 */
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import path from 'node:path'
import { AbortError, ExitCode } from '../lib/errors.js'
import { run, runAttached } from '../lib/exec.js'
import { logger } from '../lib/log.js'
import { ensurePrivateDir, stateRoot, writePrivateFile } from '../lib/paths.js'
import { dockerConfigDir, dockerEndpoint } from '../docker/platform.js'

const log = logger('dsync:compose')

export interface ComposeCli {
  /** The executable: `docker` or `docker-compose`. */
  file: string
  /** Arguments before compose's own: `['compose']` for v2, `[]` for v1. */
  prefix: string[]
  major: 1 | 2
  version: string
}

let detected: Promise<ComposeCli> | undefined

export function detectComposeCli(env: NodeJS.ProcessEnv = process.env): Promise<ComposeCli> {
  detected ??= detect(env)
  return detected
}

/** For tests that change PATH. */
export function forgetComposeCli(): void {
  detected = undefined
}

async function detect(env: NodeJS.ProcessEnv): Promise<ComposeCli> {
  const key = composeCliFingerprint(env)
  const cacheFile = path.join(stateRoot(env), 'compose-cli.json')
  try {
    const cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as { key: string; cli: ComposeCli }
    if (cached.key === key) return cached.cli
  } catch {
    // No cache yet.
  }
  const cli = await probe(env)
  try {
    ensurePrivateDir(path.dirname(cacheFile))
    writePrivateFile(cacheFile, JSON.stringify({ key, cli }))
  } catch (error) {
    log.debug('cannot cache compose detection: %s', String(error))
  }
  return cli
}

async function probe(env: NodeJS.ProcessEnv): Promise<ComposeCli> {
  if (env.DSYNC_COMPOSE !== 'v1') {
    try {
      const v2 = await run('docker', ['compose', 'version', '--short'], { reject: false, env })
      if (v2.exitCode === 0 && v2.stdout.trim()) {
        const version = v2.stdout.trim().replace(/^v/, '')
        log.debug('compose v2 %s', version)
        return { file: 'docker', prefix: ['compose'], major: 2, version }
      }
    } catch {
      // No docker CLI: try docker-compose.
    }
  }
  try {
    const v1 = await run('docker-compose', ['version', '--short'], { reject: false, env })
    if (v1.exitCode === 0) {
      const version = v1.stdout.trim()
      log.debug('compose v1 %s', version)
      return {
        file: 'docker-compose',
        prefix: [],
        major: version.startsWith('1.') ? 1 : 2,
        version,
      }
    }
  } catch {
    // Reported below.
  }
  throw new AbortError(
    'neither `docker compose` nor `docker-compose` was found',
    'install Docker Compose (https://docs.docker.com/compose/install/)',
    ExitCode.unavailable,
  )
}

/** What would change the answer: the executables on PATH and the CLI plugin folders. */
export function composeCliFingerprint(env: NodeJS.ProcessEnv): string {
  const hash = createHash('sha256')
  hash.update(env.DSYNC_COMPOSE ?? '')
  const dirs = (env.PATH ?? '').split(path.delimiter).filter(Boolean)
  const pluginDirs = [
    path.join(env.DOCKER_CONFIG || path.join(homedir(), '.docker'), 'cli-plugins'),
    '/usr/local/lib/docker/cli-plugins',
    '/usr/local/libexec/docker/cli-plugins',
    '/usr/lib/docker/cli-plugins',
    '/usr/libexec/docker/cli-plugins',
  ]
  for (const dir of dirs) {
    for (const name of ['docker', 'docker-compose']) stamp(hash, path.join(dir, name))
  }
  for (const dir of pluginDirs) stamp(hash, path.join(dir, 'docker-compose'))
  return hash.digest('hex')
}

function stamp(hash: ReturnType<typeof createHash>, file: string): void {
  try {
    // Most candidates are absent: no exception for those (this runs on every compose call).
    const s = statSync(file, { throwIfNoEntry: false })
    if (s) hash.update(`${file}:${s.size}:${s.mtimeMs}\n`)
  } catch {
    // Not reachable (a path through a file).
  }
}

/** Compose's arguments for one invocation with the given files. */
export function composeArgs(
  cli: ComposeCli,
  globals: { passthrough: string[]; project: string; directory: string; files: string[] },
  subcommand: string[],
): string[] {
  return [
    ...cli.prefix,
    ...globals.passthrough,
    '-p',
    globals.project,
    '--project-directory',
    globals.directory,
    ...globals.files.flatMap((f) => ['-f', f]),
    ...subcommand,
  ]
}

/**
 * The environment compose runs with: the caller's, except that compose v1 ignores
 * DOCKER_CONTEXT (it reads only the config's currentContext), so the project would land on
 * another engine than the one the docker CLI (and dsync's transport) talks to. v1 gets the
 * context's endpoint as DOCKER_HOST (and its TLS folder) instead.
 */
export function composeEnv(
  cli: ComposeCli,
  env: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  if (cli.major !== 1) return env
  const endpoint = dockerEndpoint(env)
  warnSshV1(endpoint)
  if (env.DOCKER_HOST || !env.DOCKER_CONTEXT) return env
  const out: NodeJS.ProcessEnv = { ...env, DOCKER_HOST: endpoint }
  // `docker context create --docker ca=...,cert=...,key=...` keeps them here.
  const id = createHash('sha256').update(env.DOCKER_CONTEXT).digest('hex')
  const tls = path.join(dockerConfigDir(env), 'contexts', 'tls', id, 'docker')
  if (existsSync(path.join(tls, 'cert.pem')) || existsSync(path.join(tls, 'ca.pem'))) {
    out.DOCKER_CERT_PATH = tls
    out.DOCKER_TLS_VERIFY = '1'
  }
  log.debug('compose v1 ignores DOCKER_CONTEXT: DOCKER_HOST=%s', endpoint)
  return out
}

let warnedSsh = false
function warnSshV1(endpoint: string): void {
  if (warnedSsh || !endpoint.startsWith('ssh://')) return
  warnedSsh = true
  process.stderr.write(
    'dsync: note: compose v1 reaches ssh:// engines only with python3-paramiko installed, and each call takes 30 s or more; docker compose (v2) is much faster\n',
  )
}

/** Runs compose attached to the terminal and returns its exit code. */
export function runComposeAttached(
  cli: ComposeCli,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<number> {
  return runAttached(cli.file, args, { ...options, env: composeEnv(cli, options.env) })
}

/** Runs compose capturing output; throws ExternalError on failure. */
export function runComposeCaptured(
  cli: ComposeCli,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; reject?: boolean },
) {
  return run(cli.file, args, { ...options, env: composeEnv(cli, options.env) })
}
