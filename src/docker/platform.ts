/**
 * Which engine the docker CLI talks to, decided without a subprocess: DOCKER_HOST, else the
 * current context's endpoint (DOCKER_CONTEXT or `currentContext` in the CLI's config.json).
 * A unix socket or a loopback TCP address is a local engine; Docker Desktop is recognised by
 * the OS or by its socket under ~/.docker/desktop.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import path from 'node:path'
import type { HostOs, Platform } from '../compose/types.js'

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

export function detectPlatform(
  env: NodeJS.ProcessEnv = process.env,
  os: string = process.platform,
): Platform {
  const hostOs: HostOs = os === 'darwin' ? 'darwin' : os === 'win32' ? 'win32' : 'linux'
  const endpoint = dockerEndpoint(env)
  return {
    os: hostOs,
    engine: isLocalEndpoint(endpoint) ? 'local' : 'remote',
    desktop: hostOs !== 'linux' || /\.docker\/desktop\//.test(endpoint),
  }
}

export function isLocalEndpoint(endpoint: string): boolean {
  if (endpoint.startsWith('unix://') || endpoint.startsWith('npipe://')) return true
  // An IPv6 host is bracketed: tcp://[::1]:2375.
  const match = /^tcp:\/\/(?:\[([^\]]+)\]|([^/:]+))/.exec(endpoint)
  if (!match) return false
  const host = match[1] ?? match[2] ?? ''
  return host === 'localhost' || host.startsWith('127.') || host === '::1'
}
