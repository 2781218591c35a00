/**
 * The Docker CLI plugin: `~/.docker/cli-plugins/docker-dsync` (or under $DOCKER_CONFIG), a link
 * to this package's bin/docker-dsync, which answers `docker-cli-plugin-metadata`; the docker CLI
 * then runs `docker dsync compose ...` as `docker-dsync dsync compose ...`.
 */
import { lstatSync, mkdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs'
import path from 'node:path'
import { AbortError, ExitCode } from '../lib/errors.js'
import { packageRoot } from '../lib/paths.js'
import { dockerConfigDir } from './platform.js'

export function pluginPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(dockerConfigDir(env), 'cli-plugins', 'docker-dsync')
}

export function pluginTarget(): string {
  return path.join(packageRoot, 'bin', 'docker-dsync')
}

export function installPlugin(env: NodeJS.ProcessEnv = process.env): {
  path: string
  target: string
} {
  const link = pluginPath(env)
  const target = pluginTarget()
  mkdirSync(path.dirname(link), { recursive: true })
  const existing = existingLink(link)
  if (existing === target) return { path: link, target }
  if (existing === null) {
    throw new AbortError(
      `${link} exists and is not a link dsync made`,
      'remove it yourself if it is an old docker-dsync, then run dsync plugin install again',
      ExitCode.usage,
    )
  }
  if (existing !== undefined) rmSync(link)
  symlinkSync(target, link)
  return { path: link, target }
}

export function uninstallPlugin(env: NodeJS.ProcessEnv = process.env): {
  path: string
  removed: boolean
} {
  const link = pluginPath(env)
  const existing = existingLink(link)
  if (existing === undefined) return { path: link, removed: false }
  if (existing === null) {
    throw new AbortError(
      `${link} is not a link dsync made`,
      'remove it yourself if you want it gone',
      ExitCode.usage,
    )
  }
  rmSync(link)
  return { path: link, removed: true }
}

/** The link's target; undefined when nothing is there; null when it is not a link. */
function existingLink(link: string): string | undefined | null {
  try {
    const s = lstatSync(link)
    if (!s.isSymbolicLink()) return null
    return readlinkSync(link)
  } catch {
    return undefined
  }
}
