/**
 * Which engine the docker CLI talks to, and whether it is on this machine. The endpoint is read
 * without a subprocess: DOCKER_HOST, else the current context's endpoint (DOCKER_CONTEXT or
 * `currentContext` in the CLI's config.json). Whether the engine is local is decided by
 * evidence, not by the address form (`tcp://127.0.0.1:PORT` is often an ssh tunnel to another
 * host): the engine's own name (`docker info`) must be this host's name, or the engine is
 * Docker Desktop's VM (which shares the host's files). The answer is cached per endpoint.
 */
import { createHash } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { homedir, hostname } from 'node:os'
import path from 'node:path'
import type { HostOs, Platform } from '../compose/types.js'
import { run } from '../lib/exec.js'
import { logger } from '../lib/log.js'
import { ensurePrivateDir, stateRoot, writePrivateFile } from '../lib/paths.js'

const log = logger('dsync:platform')

export function dockerConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CONFIG || path.join(homedir(), '.docker')
}

/** The engine endpoint the docker CLI would use, e.g. `unix:///var/run/docker.sock`. */
export function dockerEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DOCKER_HOST) return env.DOCKER_HOST
  const configDir = dockerConfigDir(env)
  let context = env.DOCKER_CONTEXT
  if (!context) {
    try {
      const config = JSON.parse(readFileSync(path.join(configDir, 'config.json'), 'utf8')) as {
        currentContext?: string
      }
      context = config.currentContext
    } catch {
      // No config: the default context.
    }
  }
  if (!context || context === 'default') return 'unix:///var/run/docker.sock'
  try {
    const id = createHash('sha256').update(context).digest('hex')
    const meta = JSON.parse(
      readFileSync(path.join(configDir, 'contexts', 'meta', id, 'meta.json'), 'utf8'),
    ) as { Endpoints?: { docker?: { Host?: string } } }
    return meta.Endpoints?.docker?.Host ?? 'unix:///var/run/docker.sock'
  } catch {
    return 'unix:///var/run/docker.sock'
  }
}

/** What the engine says of itself (`docker info`). */
export interface EngineFacts {
  /** The engine host's name. */
  name: string
  id: string
  /** e.g. `26.1.5` or `26.1.5+dfsg1`. */
  serverVersion: string
  /** e.g. `Debian GNU/Linux 12 (bookworm)` or `Docker Desktop`. */
  operatingSystem: string
}

export async function detectPlatform(
  env: NodeJS.ProcessEnv = process.env,
  os: string = process.platform,
): Promise<Platform> {
  const endpoint = dockerEndpoint(env)
  return classifyPlatform({
    os,
    endpoint,
    engine: await engineFacts(endpoint, env),
    host: hostname(),
  })
}

/**
 * The platform from the evidence. Without facts (the engine did not answer; compose will say
 * why) the address form decides, as the best guess left.
 */
export function classifyPlatform(input: {
  os: string
  endpoint: string
  engine: EngineFacts | undefined
  host: string
}): Platform {
  const { os, endpoint, engine, host } = input
  const hostOs: HostOs = os === 'darwin' ? 'darwin' : os === 'win32' ? 'win32' : 'linux'
  const desktop =
    hostOs !== 'linux' ||
    /\.docker\/desktop\//.test(endpoint) ||
    /docker desktop/i.test(engine?.operatingSystem ?? '')
  let local: boolean
  if (!engine) local = isLocalEndpoint(endpoint)
  else if (sameHost(engine.name, host)) local = true
  // Docker Desktop and the VMs of macOS and Windows (colima, OrbStack) share the user's files.
  else local = desktop && isLocalEndpoint(endpoint)
  return {
    os: hostOs,
    engine: local ? 'local' : 'remote',
    desktop,
    engineVersion: engine?.serverVersion,
  }
}

function sameHost(a: string, b: string): boolean {
  const short = (name: string) => name.toLowerCase().split('.')[0] ?? ''
  return a !== '' && short(a) === short(b)
}

/** Engine 25 (API 1.44) and later run a healthcheck's `start_interval`. */
export function supportsStartInterval(engineVersion: string | undefined): boolean {
  const major = Number(/^(\d+)\./.exec(engineVersion ?? '')?.[1] ?? NaN)
  return major >= 25
}

interface CachedFacts {
  endpoint: string
  /** What must not have changed: the socket's inode and change time, or a time slot. */
  stamp: string
  facts: EngineFacts
}

/** A TCP or ssh endpoint may be re-pointed (a tunnel) at any time: its facts are kept briefly. */
const REMOTE_FACTS_TTL_MS = 60_000

async function engineFacts(
  endpoint: string,
  env: NodeJS.ProcessEnv,
): Promise<EngineFacts | undefined> {
  const stamp = endpointStamp(endpoint)
  const cacheFile = path.join(
    stateRoot(env),
    `engine-${createHash('sha256').update(endpoint).digest('hex').slice(0, 16)}.json`,
  )
  try {
    const cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as CachedFacts
    if (cached.endpoint === endpoint && cached.stamp === stamp) return cached.facts
  } catch {
    // No cache yet.
  }
  const format = '{{json .Name}}\t{{json .ID}}\t{{json .ServerVersion}}\t{{json .OperatingSystem}}'
  const info = await run('docker', ['info', '--format', format], {
    env,
    reject: false,
    timeoutMs: 20_000,
  }).catch(() => undefined)
  if (!info || info.exitCode !== 0) {
    log.debug('docker info failed: %s', info?.stderr ?? 'no docker CLI')
    return undefined
  }
  let facts: EngineFacts
  try {
    const [name, id, serverVersion, operatingSystem] = info.stdout
      .trim()
      .split('\t')
      .map((field) => JSON.parse(field) as unknown)
      .map((value) => (typeof value === 'string' ? value : ''))
    facts = {
      name: name ?? '',
      id: id ?? '',
      serverVersion: serverVersion ?? '',
      operatingSystem: operatingSystem ?? '',
    }
  } catch {
    return undefined
  }
  try {
    ensurePrivateDir(path.dirname(cacheFile))
    writePrivateFile(cacheFile, JSON.stringify({ endpoint, stamp, facts } satisfies CachedFacts))
  } catch (error) {
    log.debug('cannot cache the engine facts: %s', String(error))
  }
  return facts
}

/** Changes when the engine behind the endpoint may have changed. */
export function endpointStamp(endpoint: string): string {
  if (endpoint.startsWith('unix://')) {
    try {
      // A restarted engine re-creates its socket.
      const s = statSync(endpoint.slice('unix://'.length))
      return `${s.ino}:${s.ctimeMs}`
    } catch {
      return 'absent'
    }
  }
  return String(Math.floor(Date.now() / REMOTE_FACTS_TTL_MS))
}

/** The address form alone: a unix socket, a named pipe or a loopback TCP address. */
export function isLocalEndpoint(endpoint: string): boolean {
  if (endpoint.startsWith('unix://') || endpoint.startsWith('npipe://')) return true
  // An IPv6 host is bracketed: tcp://[::1]:2375.
  const match = /^tcp:\/\/(?:\[([^\]]+)\]|([^/:]+))/.exec(endpoint)
  if (!match) return false
  const host = match[1] ?? match[2] ?? ''
  return host === 'localhost' || host.startsWith('127.') || host === '::1'
}
