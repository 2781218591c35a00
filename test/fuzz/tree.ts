/**
 * Snapshots of a synced tree on both sides, in one form: path -> `f <mode> <size> <md5>`,
 * `d <mode>` or `l -> <target>`. The host side is read with lstat (links are not followed);
 * the container side with one `docker exec` running find and md5sum, NUL-separated so any name
 * the fuzz makes survives the trip.
 */
import { createHash } from 'node:crypto'
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import path from 'node:path'
import { run } from '../../src/lib/exec.js'

/** Relative path (no leading ./) -> what is there. */
export type Tree = Map<string, string>

function perms(mode: number): string {
  return (mode & 0o7777).toString(8)
}

/** md5 of host files, kept while inode, size and times stay the same (big files are hashed once). */
const sums = new Map<string, { key: string; md5: string }>()

function hostMd5(file: string, key: string): string {
  const cached = sums.get(file)
  if (cached?.key === key) return cached.md5
  const md5 = createHash('md5').update(readFileSync(file)).digest('hex')
  sums.set(file, { key, md5 })
  return md5
}

export function hostTree(root: string): Tree {
  const tree: Tree = new Map()
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(root, rel))) {
      const r = rel ? `${rel}/${name}` : name
      const full = path.join(root, r)
      const st = lstatSync(full, { bigint: true })
      if (st.isSymbolicLink()) tree.set(r, `l -> ${readlinkSync(full)}`)
      else if (st.isDirectory()) {
        tree.set(r, `d ${perms(Number(st.mode))}`)
        walk(r)
      } else if (st.isFile()) {
        const key = `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`
        tree.set(r, `f ${perms(Number(st.mode))} ${st.size} ${hostMd5(full, key)}`)
      } else tree.set(r, `? ${perms(Number(st.mode))}`)
    }
  }
  walk('')
  return tree
}

// %y type, %m permissions, %s size, %l link target, %P path without the starting point.
const SNAPSHOT_SCRIPT = [
  'cd "$1" || exit 1',
  `find . -mindepth 1 -printf '%y %m %s\\t%l\\t%P\\0'`,
  `printf '\\0'`,
  'find . -mindepth 1 -type f -exec md5sum -z {} +',
  // A file replaced while find runs is reported and looked at again on the next poll.
  'true',
].join('; ')

export interface ContainerSnapshot {
  tree: Tree
  /** Something changed under find's feet: the snapshot may be torn. */
  torn: boolean
}

export async function containerTree(container: string, root: string): Promise<ContainerSnapshot> {
  const result = await run('docker', ['exec', container, 'sh', '-c', SNAPSHOT_SCRIPT, 'sh', root], {
    reject: false,
    timeoutMs: 30_000,
  })
  if (result.exitCode !== 0) {
    throw new Error(`snapshot of ${root} in ${container} failed: ${result.stderr.trim()}`)
  }
  const [listing = '', sumsPart = ''] = result.stdout.split('\0\0')
  const md5s = new Map<string, string>()
  for (const record of sumsPart.split('\0')) {
    const m = /^\\?([0-9a-f]{32}) {2}\.\/(.*)$/s.exec(record)
    if (m) md5s.set(m[2] ?? '', m[1] ?? '')
  }
  const tree: Tree = new Map()
  for (const record of listing.split('\0')) {
    if (!record) continue
    const [head = '', target = '', ...rest] = record.split('\t')
    const rel = rest.join('\t')
    const [type, mode, size] = head.split(' ')
    if (type === 'l') tree.set(rel, `l -> ${target}`)
    else if (type === 'd') tree.set(rel, `d ${mode}`)
    else if (type === 'f') tree.set(rel, `f ${mode} ${size} ${md5s.get(rel) ?? 'unreadable'}`)
    else tree.set(rel, `? ${mode}`)
  }
  return { tree, torn: result.stderr.trim() !== '' }
}

export interface TreeDiff {
  /** On the host, not in the container. */
  lost: string[]
  /** On both sides, different (type, mode, size, content or link target). */
  stale: string[]
  /** In the container, no longer (or never) on the host. */
  resurrected: string[]
}

/** Compares the container's tree with the host's, leaving out paths `ignore` accepts. */
export function diffTrees(host: Tree, app: Tree, ignore: (rel: string) => boolean): TreeDiff {
  const d: TreeDiff = { lost: [], stale: [], resurrected: [] }
  for (const [rel, want] of host) {
    const got = app.get(rel)
    if (got === undefined) d.lost.push(rel)
    else if (got !== want) d.stale.push(rel)
  }
  for (const rel of app.keys()) if (!host.has(rel) && !ignore(rel)) d.resurrected.push(rel)
  return d
}

export function isEmptyDiff(d: TreeDiff): boolean {
  return d.lost.length + d.stale.length + d.resurrected.length === 0
}
