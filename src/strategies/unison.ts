/**
 * The unison strategy, two-way, driven from the host: the daemon runs unison between the host
 * folder and the volume, whose server runs in the sidecar over `docker exec -i` (unison's ssh
 * command is a script that does that), so it works on remote engines with no published port.
 * Host changes come from the daemon's watcher, volume changes from a watcher in the sidecar
 * (unison-watch.ts); both are batched by the daemon, which runs one unison at a time per sync.
 *
 * - Archives: the client's in the state folder, the server's on the volume in `.dsync/`
 *   (never synced), so changes made on either side while down are reconciled at the next up,
 *   deletions included.
 * - Conflicts: `prefer` decides (-prefer), and -copyonconflict keeps the losing version beside
 *   the file, on the losing side only (the copies are ignored).
 * - A side emptied is not propagated: unison's -confirmbigdel aborts the whole run, which
 *   halts the sync until the side has content again or the deletion is accepted.
 * - A run that shows no progress for a while is killed and run again; each is counted.
 */
import { lstat, readdir } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ExternalError } from '../lib/errors.js'
import { logger } from '../lib/log.js'
import type { PassProgress } from '../daemon/status.js'
import { excludeMatcher, type ExcludeMatcher } from './excludes.js'
import { SyncHaltedError } from './native-osx.js'
import { SourceMissingError } from './rsync.js'
import type { PassResult, RemoteSink, Sidecar, SyncTarget, TwoWayStrategy } from './types.js'
import {
  CLIENT_HOSTNAME,
  collapsePaths,
  parseRunOutput,
  unisonArgs,
  type RunOutput,
} from './unison-args.js'
import { emptyStatus, type TwoWayStatus } from './unison-config.js'
import { ConflictLog, runUnisonOnce } from './unison-run.js'
import { haltReason, UnisonSides } from './unison-sides.js'
import { VolumeWatcher } from './unison-watch.js'

const log = logger('dsync:sync:unison')

/** More paths than this in a batch are one whole run. */
const MAX_PATHS = 300
/** A batch deleting this many paths, or two entries of the root, waits for quiet and is a whole run. */
const MANY_DELETIONS = 20
const DELETE_QUIET_MS = 600
/** A batch that deletes anything waits this long to see whether deleting goes on. */
const SETTLE_MS = 150
const DELETE_MAX_WAIT_MS = 10_000
/** What a run's log says when it replaced or deleted something in the volume. */
const REPLACED_IN_VOLUME =
  /^\[BGN\] (Deleting .* from \/\/dsync-sidecar\/|Updating file .* to \/\/dsync-sidecar\/)/m
/** Attempts of one run killed (by a signal, or for showing no progress). */
const RUN_ATTEMPTS = 3
/** Names the daemon's host watcher need not report: unison's own temporary files and conflict copies. */
const OWN_FILES = /(^|\/)\.unison\.[^/]*$|\(conflict( #\d+)?_on_[^/]*$/

export class UnisonStrategy implements TwoWayStrategy {
  readonly matcher: ExcludeMatcher
  private readonly sides: UnisonSides
  private readonly conflicts: ConflictLog
  private accept = false
  private halted: string | undefined
  private readonly volumeDeleted = new Set<string>()
  private lastVolumeEventAt = 0
  private volumeDeletions = 0
  private watcher: VolumeWatcher | undefined
  private readonly stats: TwoWayStatus
  private readonly stallMs: number

  constructor(
    readonly target: SyncTarget,
    private readonly sidecar: Pick<Sidecar, 'container' | 'env'>,
    stateDir: string,
  ) {
    const base = excludeMatcher(target.excludes, target.excludesType)
    this.matcher = { excluded: (rel, dir) => OWN_FILES.test(rel) || base.excluded(rel, dir) }
    this.sides = new UnisonSides(
      target,
      sidecar,
      this.matcher,
      path.join(stateDir, `unison-${target.name}`),
      path.join(stateDir, `unison-ssh-${target.name}`),
    )
    this.conflicts = new ConflictLog(
      target.name,
      path.join(stateDir, `unison-${target.name}.conflicts`),
    )
    this.stallMs = Number(sidecar.env.DSYNC_UNISON_STALL_MS) || 30_000
    const accepted = (sidecar.env.DSYNC_ACCEPT_DELETIONS ?? '').split(',').map((n) => n.trim())
    this.accept = accepted.includes('*') || accepted.includes(target.name)
    this.stats = { ...emptyStatus(), worker: 'alive' }
  }

  /** Starts the sidecar's watcher of the volume; its changes go to the daemon's batches. */
  watchRemote(sink: RemoteSink): void {
    if (this.watcher) return
    const { target } = this
    this.watcher = new VolumeWatcher({
      name: target.name,
      sidecarPath: target.sidecarPath,
      excludes: target.excludes,
      excludesType: target.excludesType,
      container: () => this.sidecar.container,
      env: this.sidecar.env,
      onEvents: (events) => {
        this.lastVolumeEventAt = Date.now()
        for (const e of events) {
          if (e.deleted) this.volumeDeletions++
          if (e.deleted) this.volumeDeleted.add(e.rel)
          else this.volumeDeleted.delete(e.rel)
        }
        sink.changes(events.map((e) => e.rel))
      },
      onRescan: (reason) => sink.rescan(reason),
      onRestart: (cause) => this.countRestart(cause),
    })
    this.watcher.start()
  }

  stopRemote(): void {
    this.watcher?.stop()
    this.watcher = undefined
  }

  /** The sidecar was recreated: its archive folder and watcher are set up again. */
  sidecarChanged(): void {
    this.sides.forget()
    this.watcher?.restart()
  }

  /** The next whole run may propagate the emptying of a side. True when the sync was halted. */
  acceptDeletions(): boolean {
    this.accept = true
    return this.halted !== undefined
  }

  report(): TwoWayStatus {
    return { ...this.stats, conflictCount: this.conflicts.count, conflicts: this.conflicts.latest }
  }

  async fullPass(onProgress?: (p: PassProgress) => void): Promise<PassResult> {
    const progress = (phase: PassProgress['phase'], items = 0) =>
      onProgress?.({
        sync: this.target.name,
        phase,
        files: items,
        totalFiles: items,
        bytes: 0,
        totalBytes: 0,
      })
    progress('scan')
    await this.requireSource()
    const changed = await this.runUnison(undefined)
    progress('done', changed)
    return { kind: 'full', changed, bytes: 0 }
  }

  async syncPaths(paths: ReadonlySet<string>): Promise<PassResult> {
    const list = collapsePaths(paths)
    if (list.length === 0) return { kind: 'paths', changed: 0, bytes: 0 }
    await this.requireSource()
    let deletions = 0
    const rootDeletions = new Set<string>()
    const parents = new Set<string>([''])
    for (const rel of list) {
      const gone = this.volumeDeleted.has(rel) || !(await exists(path.join(this.target.src, rel)))
      this.volumeDeleted.delete(rel)
      if (!gone) continue
      deletions++
      if (!rel.includes('/')) rootDeletions.add(rel)
      if (parents.size < 20) parents.add(path.posix.dirname(rel).replace(/^\.$/, ''))
    }
    let many = deletions >= MANY_DELETIONS || rootDeletions.size >= 2
    // The first deletions of a tree being emptied may come alone: a batch that deletes waits a
    // moment, and if deleting goes on meanwhile it is treated as a mass deletion.
    if (deletions > 0 && !many) many = await this.stillDeleting([...parents])
    if (many) await this.waitForQuiet()
    if (many || list.length > MAX_PATHS || !(await this.sides.hostHasContent())) {
      // unison's guard against an emptied side works on whole runs only.
      const changed = await this.runUnison(undefined)
      return { kind: 'full', changed, bytes: 0 }
    }
    return { kind: 'paths', changed: await this.runUnison(list), bytes: 0 }
  }

  private async requireSource(): Promise<void> {
    try {
      if ((await lstat(this.target.src)).isDirectory()) return
    } catch {
      // Said below.
    }
    throw new SourceMissingError(this.target.src)
  }

  private async stillDeleting(dirs: string[]): Promise<boolean> {
    const volumeBefore = this.volumeDeletions
    const listings = () => Promise.all(dirs.map((d) => rootListing(path.join(this.target.src, d))))
    const before = (await listings()).join('\n')
    await sleep(SETTLE_MS)
    const after = (await listings()).join('\n')
    return before !== after || this.volumeDeletions !== volumeBefore
  }

  /**
   * A tree being emptied must be seen whole before anything of it is propagated: waits until
   * the host's root and the volume's watcher have been quiet for a while.
   */
  private async waitForQuiet(): Promise<void> {
    const deadline = Date.now() + DELETE_MAX_WAIT_MS
    let last = await rootListing(this.target.src)
    let quietSince = Date.now()
    while (Date.now() < deadline) {
      await sleep(100)
      const now = await rootListing(this.target.src)
      if (now !== last) {
        last = now
        quietSince = Date.now()
      }
      const volumeQuiet = Date.now() - this.lastVolumeEventAt >= DELETE_QUIET_MS
      if (volumeQuiet && Date.now() - quietSince >= DELETE_QUIET_MS) return
    }
  }

  /** One run (whole when `paths` is undefined), retried when killed; resolves with the items transferred. */
  private async runUnison(paths: string[] | undefined): Promise<number> {
    let first = await this.sides.prepare()
    const { target } = this
    const whole = paths === undefined
    const accept = whole && this.accept
    let merge = false
    if (whole && !first && !accept) {
      // unison's own guard (-confirmbigdel) misses a side that still holds anything, even
      // ignored (.dsync in the volume, an excluded .git on the host): the sides are compared
      // here first.
      const sides = await this.sides.compare()
      if (this.halted !== undefined && sides.host && sides.volume) {
        // The emptied side has content again (files restored, a folder mounted again): both
        // sides are merged as on a first sync, so that nothing is deleted on either.
        log.info(
          '%s: resuming: both sides have content again; merging them (nothing is deleted)',
          target.name,
        )
        await this.sides.dropArchives()
        first = true
        merge = true
      } else if (sides.host !== sides.volume && this.sides.hadContent()) {
        this.halt(haltReason(target.name, target.src, sides.host))
      }
    }
    const replaceInto =
      whole && first && !merge && target.initial === 'host'
        ? `${target.sidecarPath}/.dsync/replaced-${stamp()}`
        : undefined
    const args = unisonArgs({
      src: target.src,
      sidecarPath: target.sidecarPath,
      sshcmd: this.sides.sshcmd,
      prefer: target.prefer ?? 'host',
      excludes: target.excludes,
      excludesType: target.excludesType,
      args: target.args,
      ...(paths ? { paths } : {}),
      acceptDeletions: accept,
      ...(replaceInto ? { replaceInto } : {}),
    })
    this.stats.state = first ? 'initial-sync' : 'syncing'
    const started = Date.now()
    let output: RunOutput | undefined
    let exitCode: number | undefined
    let text = ''
    for (let attempt = 1; ; attempt++) {
      // A whole run may scan a large tree for a while without a word.
      const ran = await runUnisonOnce(
        args,
        {
          ...this.sidecar.env,
          UNISON: this.sides.clientDir,
          UNISONLOCALHOSTNAME: CLIENT_HOSTNAME,
          DSYNC_SIDECAR: this.sidecar.container,
        },
        whole ? this.stallMs * 4 : this.stallMs,
      )
      text = ran.text
      if (ran.killed === undefined) {
        exitCode = ran.exitCode
        output = parseRunOutput(text)
        break
      }
      this.countRestart(`unison ${ran.killed}; ran it again`)
      if (attempt >= RUN_ATTEMPTS) {
        this.stats.state = 'error'
        this.stats.error = `unison ${ran.killed} ${RUN_ATTEMPTS} times`
        throw new ExternalError('unison', undefined, this.stats.error)
      }
    }
    if (output.emptied && !accept) {
      // Accepted while this run looked: the deletion goes now.
      if (this.accept) return this.runUnison(undefined)
      this.halt(haltReason(target.name, target.src, await this.sides.hostHasContent()))
    }
    if (exitCode === undefined || exitCode >= 3) {
      const message =
        output.error ?? lastLine(text) ?? `unison exited with status ${exitCode ?? '?'}`
      this.stats.state = 'error'
      this.stats.error = message
      throw new ExternalError('unison', exitCode, message)
    }
    if (output.conflicts.length > 0 && !replaceInto) this.conflicts.note(output)
    if (accept) {
      this.accept = false
      log.info('%s: the deletion was accepted and propagated', target.name)
    }
    if (whole) {
      this.halted = undefined
      this.stats.halt = undefined
    }
    if (replaceInto && REPLACED_IN_VOLUME.test(text)) {
      log.info(
        '%s: initial sync (initial: host): what it replaced or removed in the volume is kept in %s',
        target.name,
        replaceInto,
      )
    }
    this.sides.noteContent(await this.sides.hostHasContent())
    this.stats.error = undefined
    this.stats.state = 'watching'
    this.stats.runs++
    this.stats.transferred += output.transferred
    this.stats.lastRun = new Date().toISOString()
    this.stats.lastLatencyMs = Date.now() - started
    // Items unison could not sync on a path run (a parent missing on one side): a whole run.
    if (!whole && (output.failed > 0 || output.skipped > 0)) {
      return output.transferred + (await this.runUnison(undefined))
    }
    return output.transferred
  }

  private halt(reason: string): never {
    if (this.halted !== reason) log.warn('%s: halted: %s', this.target.name, reason)
    this.halted = reason
    this.stats.state = 'halted'
    this.stats.halt = reason
    throw new SyncHaltedError(this.target.name, reason)
  }

  private countRestart(cause: string): void {
    this.stats.restarts++
    this.stats.lastRestart = { at: new Date().toISOString(), cause }
    log.warn('%s: restarted: %s', this.target.name, cause)
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file)
    return true
  } catch {
    return false
  }
}

async function rootListing(dir: string): Promise<string> {
  try {
    return (await readdir(dir)).sort().join('\0')
  } catch {
    return ''
  }
}

function lastLine(text: string): string | undefined {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .at(-1)
}

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').replace(/\..*$/, '')
}
