/**
 * The host side of the fuzz: one seeded operation at a time on a real folder, chosen from what
 * is there now (walked in sorted order, so the same seed makes the same tree). Every kind of
 * change a user's editor, build tool or git makes: files created, rewritten (same and other
 * size), appended, truncated, deleted and renamed across folders; folders made (deep too),
 * renamed and removed; symlinks relative, dangling and to folders; +x/-x; a file turned into a
 * folder and back; odd names; and now and then a file of 1-20 MB.
 */
import {
  appendFileSync,
  chmodSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import path from 'node:path'
import type { Rng } from './random.js'

export type OpKind =
  | 'create'
  | 'modify-same-size'
  | 'modify-other-size'
  | 'append'
  | 'truncate'
  | 'delete'
  | 'rename-file'
  | 'rename-folder'
  | 'mkdir'
  | 'mkdir-deep'
  | 'rm-r'
  | 'symlink-relative'
  | 'symlink-dangling'
  | 'symlink-folder'
  | 'chmod'
  | 'file-to-folder'
  | 'folder-to-file'
  | 'big-file'

const WEIGHTS: Record<OpKind, number> = {
  create: 14,
  'modify-same-size': 8,
  'modify-other-size': 8,
  append: 6,
  truncate: 4,
  delete: 7,
  'rename-file': 6,
  'rename-folder': 3,
  mkdir: 4,
  'mkdir-deep': 2,
  'rm-r': 2,
  'symlink-relative': 3,
  'symlink-dangling': 2,
  'symlink-folder': 2,
  chmod: 4,
  'file-to-folder': 2,
  'folder-to-file': 2,
  'big-file': 0.4,
}

/** Above this many entries, removals are favoured so the tree stays small. */
const MAX_ENTRIES = 400
/** Big files together stay under this, to spare two cores and a CI disk. */
const BIG_BUDGET = 40 * 1024 * 1024
const BIG_MIN = 1024 * 1024
const BIG_MAX = 20 * 1024 * 1024

const PLAIN = ['a', 'b', 'c', 'lib', 'src', 'data', 'util', 'notes', 'img', 'x1', 'deep', 'mod']
const ODD = [
  'with space',
  ' leading space',
  'ünïcödé',
  '日本語',
  'café ✓',
  '-leading-dash',
  '--double-dash',
  '.hidden',
  "it's",
  'a$b',
  '#hash',
  'semi;colon',
  '[brackets]',
  '(parens)',
  '*star',
  'q?mark',
  'back\\slash',
  '100%',
  'trailing.dot.',
  '..dots',
  'UPPER',
]
const EXTS = ['.txt', '.js', '.json', '', '.md']

interface Entry {
  rel: string
  type: 'f' | 'd' | 'l'
  size: number
}

export interface AppliedOp {
  kind: OpKind
  /** What was done, for the log of a failing run. */
  what: string
}

export class HostFuzzer {
  private names = 0

  constructor(
    private readonly root: string,
    private readonly rng: Rng,
  ) {}

  private full(rel: string): string {
    return path.join(this.root, rel)
  }

  private entries(): Entry[] {
    const out: Entry[] = []
    const walk = (rel: string) => {
      for (const name of readdirSync(this.full(rel)).sort()) {
        const r = rel ? `${rel}/${name}` : name
        const st = lstatSync(this.full(r))
        if (st.isSymbolicLink()) out.push({ rel: r, type: 'l', size: 0 })
        else if (st.isDirectory()) {
          out.push({ rel: r, type: 'd', size: 0 })
          walk(r)
        } else out.push({ rel: r, type: 'f', size: st.size })
      }
    }
    walk('')
    return out
  }

  /** A fresh name: plain or odd, numbered so that it is new in its folder most of the time. */
  private name(ext: boolean): string {
    const base = this.rng.chance(0.3) ? this.rng.pick(ODD) : this.rng.pick(PLAIN)
    const n = this.rng.int(0, 2) === 0 ? '' : `-${this.names++ % 50}`
    return `${base}${n}${ext ? this.rng.pick(EXTS) : ''}`
  }

  /** A name not taken in `dir`, or undefined after a few tries. */
  private freeName(dir: string, ext: boolean): string | undefined {
    for (let i = 0; i < 5; i++) {
      const name = this.name(ext)
      const rel = dir ? `${dir}/${name}` : name
      if (!exists(this.full(rel))) return rel
    }
    return undefined
  }

  private content(): Buffer {
    const size = this.rng.chance(0.1) ? 0 : this.rng.int(1, this.rng.chance(0.2) ? 65536 : 2048)
    return this.rng.chance(0.8) ? this.rng.text(size) : this.rng.bytes(size)
  }

  /** Applies one operation and says what it did. */
  step(): AppliedOp {
    try {
      return this.apply()
    } catch (error) {
      // A choice the generator got wrong (a name in the way): the run goes on, the log says so.
      const code = (error as { code?: string }).code ?? (error as Error).message
      return { kind: 'create', what: `(skipped: ${code})` }
    }
  }

  private apply(): AppliedOp {
    const all = this.entries()
    const files = all.filter((e) => e.type === 'f' && e.size < BIG_MIN)
    const bigs = all.filter((e) => e.type === 'f' && e.size >= BIG_MIN)
    const dirs = ['', ...all.filter((e) => e.type === 'd').map((e) => e.rel)]
    const subdirs = dirs.filter(Boolean)
    const links = all.filter((e) => e.type === 'l')
    const weights = { ...WEIGHTS }
    if (all.length > MAX_ENTRIES) {
      weights['rm-r'] = 12
      weights.delete = 25
      weights.create = 4
      weights['mkdir-deep'] = 0
    }
    const kind = this.rng.weighted(weights)
    const dir = this.rng.pick(dirs)
    const fallback = (): AppliedOp => this.create(dir)
    switch (kind) {
      case 'create':
        return this.create(dir)
      case 'modify-same-size': {
        const f = files.filter((e) => e.size > 0)
        if (f.length === 0) return fallback()
        const e = this.rng.pick(f)
        // Same size, other bytes, in the same second as the last write: size and mtime match.
        writeFileSync(this.full(e.rel), this.rng.text(e.size))
        return { kind, what: `${e.rel} (${e.size} B)` }
      }
      case 'modify-other-size': {
        if (files.length === 0) return fallback()
        const e = this.rng.pick(files)
        let data = this.content()
        if (data.length === e.size) data = Buffer.concat([data, Buffer.from('+')])
        writeFileSync(this.full(e.rel), data)
        return { kind, what: `${e.rel} ${e.size} -> ${data.length} B` }
      }
      case 'append': {
        if (files.length === 0) return fallback()
        const e = this.rng.pick(files)
        const data = this.rng.text(this.rng.int(1, 512))
        appendFileSync(this.full(e.rel), data)
        return { kind, what: `${e.rel} +${data.length} B` }
      }
      case 'truncate': {
        const f = files.filter((e) => e.size > 0)
        if (f.length === 0) return fallback()
        const e = this.rng.pick(f)
        const size = this.rng.chance(0.5) ? 0 : this.rng.int(0, e.size - 1)
        truncateSync(this.full(e.rel), size)
        return { kind, what: `${e.rel} ${e.size} -> ${size} B` }
      }
      case 'delete': {
        const f = [...files, ...links, ...bigs]
        if (f.length === 0) return fallback()
        const e = this.rng.pick(f)
        rmSync(this.full(e.rel))
        return { kind, what: e.rel }
      }
      case 'rename-file': {
        const f = [...files, ...links]
        if (f.length === 0) return fallback()
        const e = this.rng.pick(f)
        const to = this.rng.pick(dirs)
        // Now and then over an existing file, as editors save.
        const over = files.filter((o) => o.rel !== e.rel)
        const dest =
          this.rng.chance(0.2) && over.length > 0
            ? this.rng.pick(over).rel
            : this.freeName(to, true)
        if (dest === undefined) return fallback()
        renameSync(this.full(e.rel), this.full(dest))
        return { kind, what: `${e.rel} -> ${dest}` }
      }
      case 'rename-folder': {
        if (subdirs.length === 0) return this.mkdir(dir)
        const from = this.rng.pick(subdirs)
        const targets = dirs.filter((d) => d !== from && !d.startsWith(`${from}/`))
        const dest = this.freeName(this.rng.pick(targets), false)
        if (dest === undefined) return fallback()
        renameSync(this.full(from), this.full(dest))
        return { kind, what: `${from}/ -> ${dest}/` }
      }
      case 'mkdir':
        return this.mkdir(dir)
      case 'mkdir-deep': {
        const parts: string[] = []
        for (let i = this.rng.int(3, 6); i > 0; i--) parts.push(this.name(false))
        const rel = [dir, ...parts].filter(Boolean).join('/')
        if (!this.makeDirs(rel)) return fallback()
        if (this.rng.chance(0.5)) writeFileSync(this.full(`${rel}/leaf.txt`), this.content())
        return { kind, what: `${rel}/` }
      }
      case 'rm-r': {
        if (subdirs.length === 0) return fallback()
        const d = this.rng.pick(subdirs)
        rmSync(this.full(d), { recursive: true })
        return { kind, what: `${d}/` }
      }
      case 'symlink-relative':
      case 'symlink-folder': {
        const targets = kind === 'symlink-folder' ? subdirs : files.map((e) => e.rel)
        if (targets.length === 0) return fallback()
        const target = this.rng.pick(targets)
        const rel = this.freeName(dir, kind !== 'symlink-folder')
        if (rel === undefined) return fallback()
        // A link to its own folder is `.`.
        const link = path.posix.relative(path.posix.dirname(rel), target) || '.'
        symlinkSync(link, this.full(rel))
        return { kind, what: `${rel} -> ${link}` }
      }
      case 'symlink-dangling': {
        const rel = this.freeName(dir, true)
        if (rel === undefined) return fallback()
        const link = this.rng.chance(0.5) ? `missing-${this.names++}` : '../nowhere/at all.txt'
        symlinkSync(link, this.full(rel))
        return { kind, what: `${rel} -> ${link}` }
      }
      case 'chmod': {
        if (files.length === 0) return fallback()
        const e = this.rng.pick(files)
        const mode = lstatSync(this.full(e.rel)).mode & 0o777
        const next = mode & 0o111 ? mode & ~0o111 : mode | 0o111
        chmodSync(this.full(e.rel), next)
        return { kind, what: `${e.rel} ${mode.toString(8)} -> ${next.toString(8)}` }
      }
      case 'file-to-folder': {
        if (files.length === 0) return fallback()
        const e = this.rng.pick(files)
        rmSync(this.full(e.rel))
        mkdirSync(this.full(e.rel))
        writeFileSync(this.full(`${e.rel}/inside.txt`), this.content())
        return { kind, what: e.rel }
      }
      case 'folder-to-file': {
        if (subdirs.length === 0) return fallback()
        const d = this.rng.pick(subdirs)
        rmSync(this.full(d), { recursive: true })
        writeFileSync(this.full(d), this.content())
        return { kind, what: d }
      }
      case 'big-file': {
        const used = bigs.reduce((sum, e) => sum + e.size, 0)
        const size = this.rng.int(BIG_MIN, BIG_MAX)
        if (used + size > BIG_BUDGET) {
          const e = bigs.reduce((a, b) => (b.size > a.size ? b : a))
          rmSync(this.full(e.rel))
          return { kind: 'delete', what: `${e.rel} (${e.size} B)` }
        }
        const rel = this.freeName(dir, false)
        if (rel === undefined || exists(this.full(`${rel}.bin`))) return fallback()
        writeFileSync(this.full(`${rel}.bin`), this.bigContent(size))
        return { kind, what: `${rel}.bin (${size} B)` }
      }
    }
  }

  private create(dir: string): AppliedOp {
    const rel = this.freeName(dir, true)
    if (rel === undefined) return this.mkdir(dir)
    const data = this.content()
    writeFileSync(this.full(rel), data)
    return { kind: 'create', what: `${rel} (${data.length} B)` }
  }

  private mkdir(dir: string): AppliedOp {
    const rel = this.freeName(dir, false)
    if (rel === undefined || !this.makeDirs(rel)) return { kind: 'mkdir', what: '(no free name)' }
    return { kind: 'mkdir', what: `${rel}/` }
  }

  /** mkdir -p, unless a file or link is in the way. */
  private makeDirs(rel: string): boolean {
    try {
      mkdirSync(this.full(rel), { recursive: true })
      return true
    } catch {
      return false
    }
  }

  /** A MiB of seeded bytes repeated, each MiB stamped with its index: fast and not all alike. */
  private bigContent(size: number): Buffer {
    const mib = this.rng.bytes(1024 * 1024)
    const out = Buffer.alloc(size)
    for (let at = 0, i = 0; at < size; at += mib.length, i++) {
      mib.writeUInt32LE(i, 0)
      mib.copy(out, at, 0, Math.min(mib.length, size - at))
    }
    return out
  }
}

function exists(file: string): boolean {
  try {
    lstatSync(file)
    return true
  } catch {
    return false
  }
}
