/** What `up` hands the watcher daemon: written to `<state>/daemon.json` before it starts. */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import type { SyncTarget } from '../strategies/types.js'

export interface DaemonSpec {
  project: string
  stateDir: string
  /** The sidecar container's id. */
  container: string
  syncs: SyncTarget[]
}

export function specPath(stateDir: string): string {
  return path.join(stateDir, 'daemon.json')
}

export function readSpec(stateDir: string): DaemonSpec {
  return JSON.parse(readFileSync(specPath(stateDir), 'utf8')) as DaemonSpec
}

/** Two specs with the same hash need no daemon restart. */
export function specHash(spec: DaemonSpec): string {
  return createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 16)
}
