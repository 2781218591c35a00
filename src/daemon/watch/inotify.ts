/**
 * The Linux backend: inotify read directly, through a small Perl program (inotify-helper.ts),
 * with no delay of its own; the daemon does its own batching.
 *
 * The paths live here, keyed by watch descriptor, and nowhere else:
 * - a new folder is watched, then listed, in one ordered stream, so whatever it held before its
 *   watch existed is reported as created (`mkdir -p a/b && touch a/b/c`, a tree moved in);
 * - a rename (MOVED_FROM and MOVED_TO with one cookie) moves the paths of every watch under the
 *   folder at that moment; the renamed folder is then walked again, and since the kernel
 *   answers with the same descriptor for a folder already watched, the walk states each path
 *   anew and reports the contents at their new paths;
 * - a folder moved out of the tree stops being watched;
 * - a queue overflow, a root deleted or replaced, or a helper that died: everything is watched
 *   anew, then a `rescan` event.
 */
import { stat } from 'node:fs/promises'
import { logger } from '../../lib/log.js'
import { spawn, type Spawned } from '../../lib/spawn.js'
import { HELPER, IN, INOTIFY_SYSCALLS, RecordParser, type HelperRecord } from './inotify-helper.js'
import { isPruned } from './prune.js'
import { WatchedTree } from './tree.js'
import type { WatchEvent, WatchHandle, WatchOptions } from './types.js'

const log = logger('dsync:watch')

/** A folder moved out is followed by no MOVED_TO; the pair of a rename comes within this. */
const MOVE_PAIR_MS = 50
const DEFAULT_SCAN_LIMIT = 5000
const ENOSPC = 28

/** A folder asked to be watched and listed: the helper answers in the order asked. */
interface Walk {
  rel: string
  /** Report what it holds as created (a new folder), or only watch it (setting up). */
  group: Group | undefined
}

/** The folders walked because of one new folder: past the scan limit, one rescan instead. */
interface Group {
  count: number
  over: boolean
}

class InotifyTree extends WatchedTree {
  readonly backend = 'inotify' as const
  private readonly scanLimit: number
  private child: Spawned | undefined
  /** Watch descriptor -> folder relative to the root ('' is the root). */
  private dirs = new Map<number, string>()
  private walks: Walk[] = []
  /** The walk whose listing is being read. */
  private listing: Walk | undefined
  private moves = new Map<number, { rel: string; timer: NodeJS.Timeout }>()
  /** Walks not answered yet; setting up is done when it is back to 0. */
  private unanswered = 0
  /** Settles start(): set while setting up. */
  private setup: { resolve(): void; reject(error: Error): void } | undefined
  private warnedLimit = false

  constructor(root: string, options: WatchOptions) {
    super(root, options, undefined)
    this.scanLimit = options.scanLimit ?? DEFAULT_SCAN_LIMIT
  }

  async start(): Promise<void> {
    const syscalls = INOTIFY_SYSCALLS[process.arch]
    if (!syscalls)
      throw new InotifyUnavailable(`no inotify system call numbers for ${process.arch}`)
    const before = await stat(this.root)
    if (!before.isDirectory()) throw new Error(`${this.root} is not a folder`)
    this.dirs = new Map()
    this.walks = []
    this.listing = undefined
    this.unanswered = 0
    const child = spawn('perl', ['-e', HELPER, ...syscalls.map(String)])
    this.child = child
    const parser = new RecordParser()
    let failure = ''
    const settled = new Promise<void>((resolve, reject) => {
      this.setup = { resolve, reject }
      child.stdout.on('data', (chunk: Buffer) => {
        if (this.child !== child) return
        const records = parser.push(chunk)
        for (const record of records) if (record.type === 'X') failure = record.name
        this.receive(records)
      })
      child.stderr.on('data', (chunk: Buffer) => (failure += chunk.toString('utf8').slice(0, 500)))
      child.stdin.on('error', () => undefined)
      void child.then((result) => {
        if (this.child !== child) return
        if (this.setup) {
          this.setup = undefined
          reject(
            result.error
              ? new InotifyUnavailable(result.error.message)
              : new Error(
                  `inotify could not watch ${this.root}: ${failure.trim() || `exit ${result.exitCode ?? result.signal}`}`,
                ),
          )
        } else if (!this.closed) {
          void this.restart(`the inotify reader exited (${result.exitCode ?? result.signal})`)
        }
      })
    })
    this.walk('', undefined)
    await settled
    this.rootId = `${before.dev}:${before.ino}`
  }

  /** Asks the helper to watch and list a folder. */
  private walk(rel: string, group: Group | undefined): void {
    this.walks.push({ rel, group })
    this.unanswered++
    this.child?.stdin.write(`L${this.abs(rel)}\0`)
  }

  private abs(rel: string): string {
    return rel ? `${this.root}/${rel}` : this.root
  }

  private receive(records: HelperRecord[]): void {
    const events: WatchEvent[] = []
    read: for (const record of records) {
      switch (record.type) {
        case 'E':
          if (!this.event(record, events)) break read
          break
        case 'W':
          this.answered(record)
          break
        case 'd':
        case 'f':
          this.entry(record.name, record.type === 'd', events)
          break
        case 'Z':
          this.listing = undefined
          if (--this.unanswered === 0 && this.setup) {
            this.setup.resolve()
            this.setup = undefined
          }
          break
      }
    }
    this.emit(events)
  }

  private answered(record: HelperRecord): void {
    const walk = this.walks.shift()
    if (!walk) return
    const wd = record.a
    if (wd >= 0) {
      this.dirs.set(wd, walk.rel)
      this.listing = walk
      return
    }
    this.listing = undefined
    if (walk.rel === '') {
      const error = new Error(`inotify could not watch ${this.root}: errno ${-wd}`)
      if (this.setup) this.setup.reject(error)
      else void this.restart('the root folder could not be watched')
      this.setup = undefined
      return
    }
    if (-wd === ENOSPC && !this.warnedLimit) {
      this.warnedLimit = true
      log.warn(
        'the inotify watch limit is reached: %s and what is made in it are not watched (raise fs.inotify.max_user_watches)',
        walk.rel,
      )
    }
    // Anything else: the folder is gone again, and its deletion is another event.
  }

  private entry(name: string, dir: boolean, events: WatchEvent[]): void {
    const walk = this.listing
    if (!walk) return
    const rel = walk.rel ? `${walk.rel}/${name}` : name
    if (this.options.ignored(rel, dir)) return
    if (dir && isPruned(this.options.prune, rel)) return
    const group = walk.group
    if (group && !group.over) {
      if (++group.count > this.scanLimit) {
        group.over = true
        events.push({ kind: 'rescan', reason: `a new folder holds over ${this.scanLimit} entries` })
      } else {
        events.push({ kind: 'create', rel, dir })
      }
    }
    if (dir) this.walk(rel, group)
  }

  /** One inotify event; false when the tree is being watched anew (the rest is moot). */
  private event(record: HelperRecord, events: WatchEvent[]): boolean {
    const { a: wd, b: mask, c: cookie, name } = record
    const has = (bit: number) => (mask & bit) !== 0
    if (has(IN.Q_OVERFLOW)) {
      void this.restart('the inotify event queue overflowed')
      return false
    }
    const folder = this.dirs.get(wd)
    if (folder === undefined) return true
    if (has(IN.IGNORED)) {
      this.dirs.delete(wd)
      if (folder !== '') return true
      void this.restart('the root folder was removed or replaced')
      return false
    }
    if (name === '') {
      // About a watched folder itself: its parent reports it, except for the root.
      if (folder === '' && (has(IN.DELETE_SELF) || has(IN.MOVE_SELF) || has(IN.UNMOUNT))) {
        void this.restart('the root folder was removed or replaced')
        return false
      }
      return true
    }
    const rel = folder ? `${folder}/${name}` : name
    const dir = has(IN.ISDIR)
    if (dir && has(IN.MOVED_FROM)) {
      const timer = setTimeout(() => this.movedOut(cookie), MOVE_PAIR_MS)
      this.moves.set(cookie, { rel, timer })
    } else if (dir && has(IN.MOVED_TO)) {
      const from = this.moves.get(cookie)
      if (from) {
        clearTimeout(from.timer)
        this.moves.delete(cookie)
        this.renamed(from.rel, rel)
      }
    }
    if (this.options.ignored(rel, dir)) return true
    if (dir && isPruned(this.options.prune, rel)) return true
    const kind = has(IN.CREATE | IN.MOVED_TO)
      ? 'create'
      : has(IN.DELETE | IN.MOVED_FROM)
        ? 'delete'
        : has(IN.MODIFY | IN.ATTRIB | IN.CLOSE_WRITE)
          ? 'update'
          : undefined
    if (!kind) return true
    const last = events.at(-1)
    // One write is CREATE, MODIFY, CLOSE_WRITE: the first says it all.
    if (kind === 'update' && last && last.kind !== 'rescan' && last.rel === rel) return true
    events.push({ kind, rel, dir })
    // New, moved in or renamed: watch it and report what it holds.
    if (kind === 'create' && dir) this.walk(rel, { count: 0, over: false })
    return true
  }

  /** The paths of every watch at or under `from` now start with `to`. */
  private renamed(from: string, to: string): void {
    for (const [wd, rel] of this.dirs) {
      if (rel === from) this.dirs.set(wd, to)
      else if (rel.startsWith(`${from}/`)) this.dirs.set(wd, to + rel.slice(from.length))
    }
  }

  /** A folder left the tree: its watches and those under it go. */
  private movedOut(cookie: number): void {
    const moved = this.moves.get(cookie)
    if (!moved) return
    this.moves.delete(cookie)
    for (const [wd, rel] of this.dirs) {
      if (rel === moved.rel || rel.startsWith(`${moved.rel}/`)) {
        this.dirs.delete(wd)
        this.child?.stdin.write(`R${wd}\0`)
      }
    }
  }

  protected stopped(): string | undefined {
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null)
      return 'the inotify reader is not running'
    return undefined
  }

  protected async stop(): Promise<void> {
    for (const { timer } of this.moves.values()) clearTimeout(timer)
    this.moves.clear()
    const setup = this.setup
    this.setup = undefined
    setup?.reject(new Error(`stopped watching ${this.root}`))
    const child = this.child
    this.child = undefined
    if (!child) return
    // End of file on its stdin ends the helper.
    child.stdin.end()
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000)
    await child
    clearTimeout(timer)
  }
}

/** inotify cannot be read here (no perl, or an architecture without known system calls). */
export class InotifyUnavailable extends Error {}

/** Watches `root` with inotify; rejects if it cannot (InotifyUnavailable: not on this host). */
export async function watchWithInotify(root: string, options: WatchOptions): Promise<WatchHandle> {
  const tree = new InotifyTree(root, options)
  try {
    await tree.start()
  } catch (error) {
    await tree.close()
    throw error
  }
  return tree
}
