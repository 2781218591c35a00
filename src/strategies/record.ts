/**
 * The record of a one-way sync: every path (relative to src) that dsync has put into the volume
 * and not removed since. A one-way sync deletes in the volume only what this record holds and
 * the host no longer has; whatever else the volume holds (files and folders the app container
 * wrote) belongs to the container and is never deleted, as git leaves untracked files alone
 * when it switches branches.
 *
 * It lives on the host, in the project's state folder, so it survives the sidecar's
 * recreation and the daemon's restarts: a file deleted on the host while the daemon was down
 * is still deleted in the volume at the next pass. The file is an append-only log of
 * `+path\0` and `-path\0` entries, cheap to extend after every batch, rewritten whole after a
 * full pass. A record larger than the truth does no harm (removing an absent path is a no-op);
 * a smaller one only leaves files in the volume, never deletes one.
 */
import { appendFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'

export class SyncRecord {
  private paths = new Set<string>()
  /** Log entries in the file; it is rewritten when they far outnumber the paths. */
  private logged = 0

  /** `file` undefined: kept in memory only. */
  private constructor(readonly file: string | undefined) {}

  static inMemory(paths: Iterable<string> = []): SyncRecord {
    const record = new SyncRecord(undefined)
    for (const p of paths) record.paths.add(p)
    return record
  }

  /** The record of one sync, from its file (an absent file is an empty record). */
  static load(file: string): SyncRecord {
    const record = new SyncRecord(file)
    record.reload()
    return record
  }

  /** Reads the file again (another process, a full pass, wrote it). */
  reload(): void {
    if (!this.file) return
    this.paths = new Set()
    this.logged = 0
    let text: string
    try {
      text = readFileSync(this.file, 'utf8')
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') return
      throw error
    }
    for (const entry of text.split('\0')) {
      if (entry.length < 2) continue
      const rel = entry.slice(1)
      if (entry[0] === '+') this.paths.add(rel)
      else if (entry[0] === '-') this.paths.delete(rel)
      this.logged++
    }
    if (this.logged > 4 * this.paths.size + 1000) this.replace(this.paths)
  }

  /** The file of sync `name` in a project's state folder. */
  static fileOf(stateDir: string, name: string): string {
    return path.join(stateDir, `record-${name}`)
  }

  get size(): number {
    return this.paths.size
  }

  has(rel: string): boolean {
    return this.paths.has(rel)
  }

  /** `rel` (if recorded) and every recorded path under it, deepest first. */
  under(rel: string): string[] {
    const prefix = `${rel}/`
    const found: string[] = []
    for (const p of this.paths) if (p === rel || p.startsWith(prefix)) found.push(p)
    return found.sort(deepestFirst)
  }

  add(rels: Iterable<string>): void {
    this.log('+', rels, (p) => {
      if (this.paths.has(p)) return false
      this.paths.add(p)
      return true
    })
  }

  remove(rels: Iterable<string>): void {
    this.log('-', rels, (p) => this.paths.delete(p))
  }

  /** Replaces the whole record (after a full pass) and rewrites its file. */
  replace(rels: Iterable<string>): void {
    this.paths = new Set(rels)
    this.logged = this.paths.size
    if (!this.file) return
    const tmp = `${this.file}.${process.pid}.tmp`
    writeFileSync(tmp, [...this.paths].map((p) => `+${p}\0`).join(''), { mode: 0o600 })
    renameSync(tmp, this.file)
  }

  private log(sign: '+' | '-', rels: Iterable<string>, apply: (rel: string) => boolean): void {
    let text = ''
    for (const rel of rels) if (apply(rel)) text += `${sign}${rel}\0`
    if (!text || !this.file) return
    appendFileSync(this.file, text, { mode: 0o600 })
    this.logged += text.split('\0').length - 1
  }
}

/** Children before their parents: the order in which folders can be emptied, then removed. */
export function deepestFirst(a: string, b: string): number {
  const da = a.split('/').length
  const db = b.split('/').length
  return da !== db ? db - da : a < b ? -1 : a > b ? 1 : 0
}
