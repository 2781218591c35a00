import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** `$XDG_STATE_HOME/dsync`, or `~/.local/state/dsync`. */
export function stateRoot(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME || path.join(homedir(), '.local', 'state')
  return path.join(base, 'dsync')
}

/** The state directory of one compose project: override, daemon pid, log, status, socket. */
export function projectStateDir(project: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(stateRoot(env), project)
}

/** The root of the installed package (where package.json, images/ and bin/ are). */
export const packageRoot: string = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)))

function findPackageRoot(start: string): string {
  // Works from src/ (tests) and from dist/src/ (the built CLI).
  for (let dir = start; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json')
    if (existsSync(manifest)) {
      const { name } = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }
      if (name === 'docker-dsync') return dir
    }
    if (path.dirname(dir) === dir) return start
  }
}
