/**
 * The Linux backend: `inotifywait -m -r` (inotify-tools) as a child process, streaming one
 * record per event with no delay of its own; the daemon does its own batching.
 *
 * inotifywait keeps the watches (one per folder, none for pruned folders) and adds one for each
 * new folder before it writes that folder's event. It gets four things wrong, which this module
 * covers: what a new folder held before its watch existed (scanned here, see scan.ts); a folder
 * moved out of the tree keeps its subfolders' watches under their old paths, and the next folder
 * moved in may be taken for it (a move-out watches anew); a folder renamed inside the tree may
 * leave it or some of its subfolders under old paths (watched anew too); and the root
 * deleted or replaced leaves it running with nothing watched (watched anew once the root is
 * back). A queue overflow also watches anew, since folders created meanwhile may lack a watch.
 * Each of these ends in a `rescan` event once the new watch is in place.
 *
 * The child dies with the daemon: inotifywait runs under a small shell that kills it when its
 * stdin, a pipe from the daemon, reaches end of file, which the kernel also does when the daemon
 * is killed (node cannot set PR_SET_PDEATHSIG).
 */
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { logger } from '../../lib/log.js'
import { spawn, type Spawned } from '../../lib/spawn.js'
import { existingPruned, inotifyExclude, isPruned } from './prune.js'
import { rootChange, scanNew } from './scan.js'
import type { WatchEvent, WatchHandle, WatchOptions } from './types.js'

const log = logger('dsync:watch')

const EVENTS = [
  'create',
  'delete',
  'modify',
  'attrib',
  'close_write',
  'moved_from',
  'moved_to',
  'move_self',
  'delete_self',
  'unmount',
  // Not printed unless asked for, even though the kernel always sends it.
  'q_overflow',
].join(',')

/** Three NUL-terminated fields per event: flags, watched folder (with a slash), name. */
const FORMAT = '%e%0%w%0%f%0'

/**
 * Runs inotifywait (its arguments follow the script) with /dev/null as stdin, and kills it when
 * the shell's own stdin ends. `read` returns at end of file; nothing is ever written to it.
 */
const GUARD = [
  'exec 3<&0 </dev/null',
  '"$@" 3<&- &',
  'w=$!',
  '{ read -r _ <&3; kill "$w" 2>/dev/null; } &',
  'r=$!',
  'exec 3<&-',
  'wait "$w"',
  's=$?',
  'kill "$r" 2>/dev/null',
  'exit "$s"',
].join('\n')

/** A folder moved out is followed by no MOVED_TO; the pair of a rename comes within this. */
const MOVE_PAIR_MS = 50
const DEFAULT_SCAN_LIMIT = 5000

export interface RawEvent {
  flags: string[]
  /** The watched folder, with a trailing slash. */
  folder: string
  /** The entry's name, empty for an event about the watched folder itself. */
  name: string
}

/** Splits inotifywait's NUL-separated stream into events, across chunk boundaries. */
export class RecordParser {
  private partial: Buffer[] = []
  private fields: string[] = []

  push(chunk: Buffer): RawEvent[] {
    const events: RawEvent[] = []
    let start = 0
    for (let nul = chunk.indexOf(0, start); nul >= 0; nul = chunk.indexOf(0, start)) {
      this.partial.push(chunk.subarray(start, nul))
      this.fields.push(Buffer.concat(this.partial).toString('utf8'))
      this.partial = []
      start = nul + 1
      if (this.fields.length === 3) {
        const [flags = '', folder = '', name = ''] = this.fields
        events.push({ flags: flags.split(','), folder, name })
        this.fields = []
      }
    }
    if (start < chunk.length) this.partial.push(Buffer.from(chunk.subarray(start)))
    return events
  }
}

class InotifyTree implements WatchHandle {
  readonly backend = 'inotifywait' as const
  readonly fallback = undefined
  private readonly prefix: string
  private readonly scanLimit: number
  private child: Spawned | undefined
  /** dev:ino of the folder the watch was set up on. */
  private rootId = ''
  private closed = false
  private restarting: Promise<void> | undefined
  /** A folder reported moved out of its parent, waiting for the MOVED_TO of a rename. */
  private movedFrom: NodeJS.Timeout | undefined
  /** The new path of a folder renamed by the previous event, whose MOVE_SELF comes next. */
  private renamedTo: string | undefined
  private scans: Promise<void> = Promise.resolve()

  constructor(
    private readonly root: string,
    private readonly options: WatchOptions,
  ) {
    this.prefix = root.endsWith('/') ? root : `${root}/`
    this.scanLimit = options.scanLimit ?? DEFAULT_SCAN_LIMIT
  }

  /** Sets the watches up; rejects when inotifywait cannot start or watch the root. */
  async start(): Promise<void> {
    const before = await stat(this.root)
    if (!before.isDirectory()) throw new Error(`${this.root} is not a folder`)
    const exclude = inotifyExclude(this.root, this.options.prune)
    // Pruned folders are named one by one (`@path`, in a file: there may be hundreds).
    const pruned = (await existingPruned(this.root, this.options.prune)).filter(
      (p) => !p.includes('\n'),
    )
    const listDir = pruned.length > 0 ? await mkdtemp(path.join(os.tmpdir(), 'dsync-watch-')) : ''
    try {
      const list = path.join(listDir, 'excluded')
      if (listDir) await writeFile(list, pruned.map((p) => `@${p}\n`).join(''))
      await this.spawnWatch([
        ...['-m', '-r', '-e', EVENTS, '--format', FORMAT, '--no-newline'],
        ...(exclude ? ['--exclude', exclude] : []),
        ...(listDir ? ['--fromfile', list] : []),
        '--',
        this.root,
      ])
    } finally {
      if (listDir) await rm(listDir, { recursive: true, force: true })
    }
    this.rootId = `${before.dev}:${before.ino}`
  }

  /** Starts inotifywait and resolves once its watches are set up. */
  private async spawnWatch(args: string[]): Promise<void> {
    const child = spawn('sh', ['-c', GUARD, 'sh', 'inotifywait', ...args])
    this.child = child
    const parser = new RecordParser()
    let errors = ''
    let established = false
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (chunk: Buffer) => {
        errors = (errors + chunk.toString('utf8')).slice(-4000)
        if (!established && errors.includes('Watches established.')) {
          established = true
          errors = ''
          resolve()
        } else if (established && this.child === child) {
          // "Couldn't watch new directory ...": a folder without its watch (the watch limit).
          log.warn('inotifywait: %s', errors.trim())
          errors = ''
          void this.restart('inotifywait could not watch a new folder')
        }
      })
      child.stdout.on('data', (chunk: Buffer) => {
        if (this.child === child) this.receive(parser.push(chunk))
      })
      child.stdin.on('error', () => undefined)
      void child.then((result) => {
        if (!established) {
          const missing = /not found/.test(errors) || result.exitCode === 127
          reject(
            missing
              ? new InotifywaitMissing()
              : new Error(
                  `inotifywait could not watch ${this.root}: ${errors.trim() || `exit ${result.exitCode ?? result.signal}`}`,
                ),
          )
        } else if (this.child === child && !this.closed) {
          void this.restart(`inotifywait exited (${result.exitCode ?? result.signal})`)
        }
      })
    })
  }

  private receive(raw: RawEvent[]): void {
    const events: WatchEvent[] = []
    let dirs: string[] | undefined
    for (const event of raw) {
      const has = (flag: string) => event.flags.includes(flag)
      if (this.movedFrom && !(has('MOVED_TO') && has('ISDIR'))) this.movedOut()
      const renamedTo = this.renamedTo
      this.renamedTo = undefined
      if (has('Q_OVERFLOW')) {
        void this.restart('the inotify event queue overflowed')
        continue
      }
      if (!event.folder.startsWith(this.prefix)) continue
      if (event.name === '') {
        // The folder's own MOVE_SELF follows its rename, under the path inotifywait now has for
        // it: the old one when it did not rename its watch (a folder of that name deleted and
        // made again, then renamed: `rmdir d; mkdir d; mv d z` reports z's edits as d's).
        if (
          renamedTo !== undefined &&
          has('MOVE_SELF') &&
          event.folder !== `${this.prefix}${renamedTo}/`
        )
          void this.restart('a renamed folder kept its old path')
        if (
          event.folder === this.prefix &&
          (has('DELETE_SELF') || has('MOVE_SELF') || has('UNMOUNT'))
        )
          void this.restart('the root folder was removed or replaced')
        continue // about a watched folder itself: its parent reports it
      }
      const rel = event.folder.slice(this.prefix.length) + event.name
      const dir = has('ISDIR')
      if (has('MOVED_FROM') && dir) {
        clearTimeout(this.movedFrom)
        this.movedFrom = setTimeout(() => this.movedOut(), MOVE_PAIR_MS)
      } else if (has('MOVED_TO') && dir) {
        if (this.movedFrom) {
          this.renamedTo = rel
          this.renamed(rel)
        }
        clearTimeout(this.movedFrom)
        this.movedFrom = undefined
      }
      if (this.options.ignored(rel, dir)) continue
      const kind =
        has('CREATE') || has('MOVED_TO')
          ? 'create'
          : has('DELETE') || has('MOVED_FROM')
            ? 'delete'
            : has('MODIFY') || has('ATTRIB') || has('CLOSE_WRITE')
              ? 'update'
              : undefined
      if (!kind) continue
      const last = events.at(-1)
      // One write is CREATE, MODIFY, CLOSE_WRITE: the first says it all.
      if (kind === 'update' && last && last.kind !== 'rescan' && last.rel === rel) continue
      events.push({ kind, rel, dir })
      if (kind === 'create' && dir) (dirs ??= []).push(rel)
    }
    if (events.length > 0) this.emit(events)
    if (dirs) this.scan(dirs)
  }

  /** A folder left the tree: inotifywait's watches under it now carry wrong paths. */
  private movedOut(): void {
    clearTimeout(this.movedFrom)
    this.movedFrom = undefined
    void this.restart('a folder was moved out of the tree')
  }

  /**
   * A folder was renamed inside the tree. inotifywait (inotify-tools 3.22) then renames the
   * paths it keeps for the watches under it (inotifytools_replace_filename), but not all of
   * them: once folders holding folders have been renamed a time or two, some subfolders' events
   * come with a path they no longer have (an edit or a rename in them reported at the old place,
   * so the volume's copy goes stale or comes back). A folder with subfolders is watched anew (and
   * rescanned); for one without, its MOVE_SELF says whether its one watch was renamed.
   */
  private renamed(rel: string): void {
    const prune = this.options.prune
    void readdir(path.join(this.root, rel), { withFileTypes: true }).then(
      (dirents) => {
        const nested = dirents.some((d) => d.isDirectory() && !isPruned(prune, `${rel}/${d.name}`))
        if (nested) void this.restart('a folder holding folders was renamed')
      },
      (error: NodeJS.ErrnoException) => {
        // Gone again: its watches went with it, or a move out of the tree restarts.
        if (error.code !== 'ENOENT' && error.code !== 'ENOTDIR')
          void this.restart('a renamed folder could not be listed')
      },
    )
  }

  /** Reports what new folders hold, in the order they were created. */
  private scan(rels: string[]): void {
    const { prune } = this.options
    const ignored = (rel: string, dir: boolean) => this.options.ignored(rel, dir)
    this.scans = this.scans.then(async () => {
      const result = await scanNew(this.root, rels, { ignored, prune, limit: this.scanLimit })
      if (result.overLimit) {
        this.emit([{ kind: 'rescan', reason: `a new folder holds over ${this.scanLimit} entries` }])
      } else if (result.events.length > 0) {
        this.emit(result.events)
      }
    })
  }

  private emit(events: WatchEvent[]): void {
    if (this.closed) return
    try {
      this.options.onEvents(events)
    } catch (error) {
      log.warn('the watch consumer failed: %s', error instanceof Error ? error.message : error)
    }
  }

  /** Watches anew (once the root exists again), then emits a rescan. */
  private restart(reason: string): Promise<void> {
    if (this.closed) return Promise.resolve()
    if (this.restarting) return this.restarting
    log.info('watching %s anew: %s', this.root, reason)
    this.restarting = (async () => {
      await this.stopChild()
      let delay = 100
      while (!this.closed) {
        try {
          await this.start()
          this.emit([{ kind: 'rescan', reason }])
          return
        } catch (error) {
          if (!(error instanceof Error && /ENOENT|not a folder/.test(error.message))) {
            log.warn(
              'watching %s failed: %s',
              this.root,
              error instanceof Error ? error.message : error,
            )
          }
          await this.stopChild()
        }
        await new Promise((resolve) => setTimeout(resolve, delay))
        delay = Math.min(delay * 2, 2000)
      }
    })().finally(() => (this.restarting = undefined))
    return this.restarting
  }

  async check(): Promise<void> {
    if (this.closed) return
    if (this.restarting) return this.restarting
    let reason = await rootChange(this.root, this.rootId)
    const child = this.child
    if (!reason && (!child || child.exitCode !== null || child.signalCode !== null))
      reason = 'inotifywait is not running'
    if (!reason) return
    await this.restart(reason)
  }

  private async stopChild(): Promise<void> {
    const child = this.child
    this.child = undefined
    if (!child) return
    // End of file on its stdin makes the guard kill inotifywait, then exit.
    child.stdin.destroy()
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000)
    await child
    clearTimeout(timer)
  }

  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.movedFrom)
    await this.restarting?.catch(() => undefined)
    await this.stopChild()
    await this.scans.catch(() => undefined)
  }
}

/** inotify-tools is not installed: the caller falls back to @parcel/watcher. */
export class InotifywaitMissing extends Error {
  constructor() {
    super('inotifywait (inotify-tools) was not found on PATH')
  }
}

/** Watches `root` with inotifywait; rejects if it cannot (InotifywaitMissing: not installed). */
export async function watchWithInotifywait(
  root: string,
  options: WatchOptions,
): Promise<WatchHandle> {
  const tree = new InotifyTree(path.resolve(root), options)
  try {
    await tree.start()
  } catch (error) {
    await tree.close()
    throw error
  }
  return tree
}
