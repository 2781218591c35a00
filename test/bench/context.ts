/**
 * What every section gets, and the raw transports the baselines use: tar and rsync into a
 * container over `docker exec -i`, exactly as a user would type them.
 */
import path from 'node:path'
import { run } from '../../src/lib/exec.js'
import type { Dsync } from './dsync.js'
import type { Engine, Log, Resources } from './engine.js'
import type { Results } from './report.js'
import type { Tree, TreeKey } from './trees.js'

export interface Ctx {
  quick: boolean
  runId: string
  /** This run's temp folder (copies of trees, projects, dsync state); removed at the end. */
  tmp: string
  res: Resources
  engine: Engine
  dsync: Dsync
  results: Results
  tree: (key: TreeKey) => Tree
  log: Log
  /** Throws once the run is interrupted (Ctrl-C): sections call it between steps. */
  check: () => void
}

/** Undo steps of one section, run in reverse when it ends, whatever happened. */
export class Scope {
  private readonly undo: (() => Promise<void>)[] = []

  add<T extends { remove: () => Promise<void> }>(thing: T): T {
    this.undo.push(thing.remove)
    return thing
  }

  push(fn: () => Promise<void>): void {
    this.undo.push(fn)
  }

  async close(): Promise<void> {
    while (this.undo.length > 0) await this.undo.pop()?.()
  }
}

let copies = 0

/** A private copy of a cached tree, registered for removal. */
export async function copyTree(
  ctx: Ctx,
  tree: Tree,
  purpose: string,
): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = path.join(ctx.tmp, `${purpose}-${++copies}`)
  const remove = ctx.res.dir(dir)
  await run('cp', ['-a', tree.root, dir])
  return { dir, remove }
}

/** The fastest raw transport: `tar -c | docker exec -i C tar -x`. */
export async function tarInto(src: string, container: string, dest = '/data'): Promise<void> {
  await run('bash', [
    '-c',
    'set -o pipefail; tar -C "$1" -cf - . | docker exec -i "$2" tar -C "$3" -xf -',
    'bash',
    src,
    container,
    dest,
  ])
}

const RSYNC_SHELL = ['--blocking-io', '-e', 'docker exec -i']

/** One full-tree pass, as docker-sync's rsync strategy does on every change. */
export async function rsyncFull(src: string, container: string, dest = '/data'): Promise<void> {
  await run('rsync', ['-a', '--delete', ...RSYNC_SHELL, `${src}/`, `${container}:${dest}/`])
}

/** Only the changed paths (relative to `src`), as a watcher that knows what changed would. */
export async function rsyncPaths(
  src: string,
  container: string,
  paths: readonly string[],
  dest = '/data',
): Promise<void> {
  await run('rsync', ['-a', '--files-from=-', ...RSYNC_SHELL, `${src}/`, `${container}:${dest}/`], {
    input: paths.join('\n') + '\n',
  })
}

export async function countFiles(container: string, dir: string): Promise<number> {
  const r = await run('docker', [
    'exec',
    container,
    'sh',
    '-c',
    `find "$1" -type f | wc -l`,
    'sh',
    dir,
  ])
  return Number(r.stdout.trim())
}

const LISTING = 'cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0r md5sum'

function parseListing(text: string): Map<string, string> {
  const map = new Map<string, string>()
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{32}) {2}\.\/(.*)$/.exec(line)
    if (m?.[1] && m[2] !== undefined) map.set(m[2], m[1])
  }
  return map
}

export interface Comparison {
  files: number
  missing: string[]
  stale: string[]
  /** In the volume, not on the host (dsync's own files, a canary, or a missed delete). */
  extra: string[]
}

/** Compares checksummed listings of a host folder and a folder in a container. */
export async function compareTrees(
  hostDir: string,
  container: string,
  dir: string,
): Promise<Comparison> {
  const [host, inside] = await Promise.all([
    run('bash', ['-c', LISTING, 'bash', hostDir]),
    run('docker', ['exec', container, 'bash', '-c', LISTING, 'bash', dir]),
  ])
  const a = parseListing(host.stdout)
  const b = parseListing(inside.stdout)
  const missing: string[] = []
  const stale: string[] = []
  for (const [p, sum] of a) {
    const other = b.get(p)
    if (other === undefined) missing.push(p)
    else if (other !== sum) stale.push(p)
  }
  const extra = [...b.keys()].filter((p) => !a.has(p))
  return { files: a.size, missing, stale, extra }
}
