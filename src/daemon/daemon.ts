/**
 * The watcher daemon: one per compose project. It watches every sync's host folder through the
 * event source of watch/ (inotify read directly on Linux, with no delay of its own;
 * @parcel/watcher elsewhere), batches the events (a short debounce, a bounded wait), and hands each batch
 * to the sync's strategy; a batch too large to list, a watcher error or a failed batch becomes
 * one full pass. It keeps one agent channel open into the sidecar and answers status / flush /
 * sync / pause / resume on its control socket.
 *
 * It heals without being asked: every few seconds it checks each watch (the host folder still
 * the one it watches, the subscription alive) and the agent (a ping with a deadline); a lost
 * watch is set up again and followed by a full pass; a sidecar that stopped while the app runs
 * is started again, one that was recreated is found again by its labels. Every heal is counted
 * in status with its cause.
 */
import { lstat } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { logger } from '../lib/log.js'
import { writePrivateFile } from '../lib/paths.js'
import { AgentChannel } from '../strategies/agent.js'
import { excludedWithParents } from '../strategies/excludes.js'
import { SyncRecord } from '../strategies/record.js'
import { SourceMissingError } from '../strategies/rsync.js'
import { SyncHaltedError } from '../strategies/native-osx.js'
import { isTwoWay, type Sidecar, type SyncStrategy } from '../strategies/types.js'
import type { ControlRequest } from './control.js'
import { fullPassInChild } from './pass-client.js'
import { SidecarTracker } from './sidecar.js'
import { createStrategy } from './strategy.js'
import { pruneFor, watchTree, type WatchEvent, type WatchHandle } from './watch/index.js'
import { statusPath } from './process.js'
import type { DaemonSpec } from './spec.js'
import type { DaemonStatus, Heal, PassProgress, SyncStatus } from './status.js'

const log = logger('dsync:daemon')

/** Wait this long after an event for more before syncing (editors write in bursts). */
const DEBOUNCE_MS = 2
/** ... but never longer than this since the first unsynced event. */
const MAX_WAIT_MS = 50
/** Batches with more paths than this become one full pass. */
const FULL_PASS_PATHS = 2000
/**
 * A flush waits for this much quiet from the watcher before it verifies. A burst of thousands
 * of changes in new folders reaches the daemon over a while (the event source adds a watch per new
 * folder, and the folder is then scanned); a verification started before the last of it
 * arrived counts those late changes as missed.
 */
const FLUSH_QUIET_MS = 400
/** A request waiting for a full pass is answered with the error after this many failures. */
const REQUEST_ATTEMPTS = 3
/** How often watches and the agent are checked: a dead watch or sidecar is found within this. */
const HEALTH_INTERVAL_MS = 5_000
const HEALTH_TIMEOUT_MS = 5_000
/** Retries of a failing sync wait twice as long each time, up to this. */
const MAX_RETRY_DELAY_MS = 4_000
/** Unreadable paths listed in status (the count has them all). */
const UNREADABLE_SHOWN = 20

/** Full passes run in a worker process (see pass-worker.ts); path batches stay in the daemon. */
function withPassesInChild(
  strategy: SyncStrategy,
  record: SyncRecord,
  container: () => string,
  env: NodeJS.ProcessEnv,
  agent: () => Promise<AgentChannel>,
): SyncStrategy {
  const recordFile = record.file ?? ''
  return {
    target: strategy.target,
    matcher: strategy.matcher,
    fullPass: async (onProgress) => {
      try {
        return await fullPassInChild(
          strategy.target,
          container(),
          recordFile,
          env,
          onProgress,
          async (pid, holds) => {
            await (await agent()).adopt(strategy.target.name, pid, holds)
          },
        )
      } finally {
        // The pass rewrote the record: the daemon's copy follows.
        record.reload()
      }
    },
    syncPaths: (paths, created) => strategy.syncPaths(paths, created),
  }
}

/** What a sync worker asks of its daemon when a sync fails or recovers. */
interface WorkerHost {
  changed(): void
  /** A failing sync may be the sidecar's fault: heal it if it can be; its diagnosis. */
  sidecarTrouble(): Promise<string | undefined>
  /** A full pass finished: the sidecar may be marked ready once every sync had one. */
  passDone(): void
}

class SyncWorker {
  readonly status: SyncStatus
  private pending = new Set<string>()
  private created = new Set<string>()
  private needFull = true
  private firstPendingAt = 0
  private lastEventAt = 0
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private paused = false
  private stopped = false
  /** The next full pass verifies: what it finds, the watcher missed. */
  private verifying = false
  /** No watch runs (it could not be set up): check() tries again. */
  private rewatchNeeded = false
  private retryDelay = 500
  /** Ends the wait before a retry at once: a user asked for a pass. */
  private retryNow: (() => void) | undefined
  private watcher: WatchHandle | undefined
  /** Paths the last passes could not read. */
  private unreadable = new Set<string>()
  /** The error that began a run of failures, to name the cause when the sync recovers. */
  private failingSince: string | undefined
  /**
   * Requests waiting for the queue to drain, with the failure count when each began: a request
   * (the initial sync, dsync sync, dsync flush) is released after REQUEST_ATTEMPTS failed passes
   * instead of waiting for ever, and the daemon goes on retrying.
   */
  private idleWaiters: { resolve: () => void; failuresAtStart: number }[] = []
  private failures = 0
  onProgress: ((p: PassProgress) => void) | undefined

  constructor(
    readonly strategy: SyncStrategy,
    private readonly host: WorkerHost,
  ) {
    const { target } = strategy
    this.status = {
      name: target.name,
      strategy: target.strategy,
      src: target.src,
      state: 'starting',
      lastSync: undefined,
      lastBatch: undefined,
      missed: 0,
      errors: 0,
      lastError: undefined,
      pending: 0,
      fullPasses: 0,
      batches: 0,
      unreadable: [],
      unreadableCount: 0,
      heals: 0,
      lastHeal: undefined,
      watcher: undefined,
    }
  }

  private onChange(): void {
    this.host.changed()
  }

  private heal(cause: string): void {
    this.status.heals++
    this.status.lastHeal = { at: new Date().toISOString(), cause }
    log.info('%s: healed: %s', this.status.name, cause)
  }

  /**
   * Watches the host folder. Never throws: a folder that cannot be watched now (gone, being
   * replaced) is tried again by check(). Once set up, the source itself re-establishes a lost
   * watch (the folder deleted and created again, a queue overflow) and says so with a rescan.
   */
  async watch(): Promise<boolean> {
    const { target, matcher } = this.strategy
    try {
      this.watcher = await watchTree(target.src, {
        ignored: (rel, dir) => excludedWithParents(matcher, rel, dir),
        onEvents: (events) => this.onEvents(events),
        prune: pruneFor(target),
      })
    } catch (error) {
      this.watcher = undefined
      this.rewatchNeeded = true
      log.warn('%s: cannot watch %s: %s', target.name, target.src, errorText(error))
      return false
    }
    if (this.watcher.fallback) log.warn('%s: %s', target.name, this.watcher.fallback)
    this.status.watcher = this.watcher.backend
    this.rewatchNeeded = false
    // Two-way: the volume's changes join the same batches.
    if (isTwoWay(this.strategy)) {
      this.strategy.watchRemote({
        changes: (paths) =>
          this.onEvents(paths.map((rel) => ({ kind: 'update', rel, dir: false }))),
        rescan: (reason) => this.onEvents([{ kind: 'rescan', reason }]),
      })
    }
    return true
  }

  /** The backend that watches this sync's folder, for status. */
  get backend(): string | undefined {
    return this.watcher?.backend
  }

  private onEvents(events: WatchEvent[]): void {
    const now = Date.now()
    for (const event of events) {
      if (event.kind === 'rescan') {
        // Events may have been lost: only a full pass is sure to catch up.
        this.heal(`${event.reason}: a full pass`)
        this.needFull = true
        continue
      }
      const { rel } = event
      if (!rel || rel === '..' || rel.startsWith('../')) continue
      this.pending.add(rel)
      if (event.kind === 'create') this.created.add(rel)
    }
    if (this.pending.size === 0 && !this.needFull) return
    if (this.firstPendingAt === 0) this.firstPendingAt = now
    this.lastEventAt = now
    this.kick()
  }

  /** Never throws. */
  async unwatch(): Promise<void> {
    const handle = this.watcher
    this.watcher = undefined
    await handle?.close()
  }

  /**
   * The periodic check of the watch: the source's own (the folder still the one watched, its
   * backend alive; it watches anew and says so), and here what it cannot do: report a missing
   * host folder, and set up a watch that could not be set up before.
   */
  async check(): Promise<void> {
    if (this.stopped) return
    const { src } = this.strategy.target
    if (!(await isFolder(src))) {
      const message = new SourceMissingError(src).message
      if (this.status.lastError !== message || this.status.state !== 'error') {
        this.status.state = 'error'
        this.status.lastError = message
        this.failingSince ??= message
        this.onChange()
      }
      return
    }
    if (this.watcher && !this.rewatchNeeded) {
      await this.watcher.check()
      return
    }
    await this.unwatch()
    if (!(await this.watch())) return
    this.heal('the watch of the host folder was set up again')
    this.needFull = true
    this.kick()
  }

  /** Schedule a run: after the debounce, bounded by the maximum wait. */
  kick(): void {
    this.status.pending = this.pending.size
    if (this.paused || this.running || this.stopped) return
    if (this.timer) clearTimeout(this.timer)
    const waited = this.firstPendingAt ? Date.now() - this.firstPendingAt : 0
    const delay = this.needFull ? 0 : Math.max(0, Math.min(DEBOUNCE_MS, MAX_WAIT_MS - waited))
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.running = this.drain().finally(() => {
        this.running = undefined
        if ((this.pending.size > 0 || this.needFull) && !this.paused) this.kick()
        else this.notifyIdle()
      })
    }, delay)
  }

  private async drain(): Promise<void> {
    while ((this.pending.size > 0 || this.needFull) && !this.paused) {
      const startedAt = this.firstPendingAt || Date.now()
      const full = this.needFull || this.pending.size > FULL_PASS_PATHS
      const verify = full && this.verifying && batchIsEmpty(this.pending)
      if (full) this.verifying = false
      const batch = this.pending
      const created = this.created
      this.pending = new Set()
      this.created = new Set()
      this.firstPendingAt = 0
      this.needFull = false
      this.status.state = full && !this.status.lastSync ? 'initial-sync' : 'syncing'
      try {
        const result = full
          ? await this.strategy.fullPass(this.onProgress)
          : await this.strategy.syncPaths(batch, created)
        this.retryDelay = 500
        if (this.failingSince !== undefined) {
          this.heal(`recovered from: ${this.failingSince}`)
          this.failingSince = undefined
        }
        this.status.state = 'watching'
        this.status.lastError = undefined
        this.status.lastSync = new Date().toISOString()
        this.noteUnreadable(batch, full, result.unreadable ?? [])
        this.status.lastBatch = {
          paths: full ? result.changed : batch.size,
          latencyMs: Date.now() - startedAt,
          kind: result.kind,
        }
        if (full) {
          this.status.fullPasses++
          this.host.passDone()
        } else this.status.batches++
        if (verify && result.changed > 0) {
          this.status.missed += result.changed
          log.warn(
            '%s: verification found %d change(s) the watcher had not delivered; applied them',
            this.status.name,
            result.changed,
          )
        }
        log.debug(
          '%s: %s sync of %d in %d ms',
          this.status.name,
          result.kind,
          this.status.lastBatch.paths,
          this.status.lastBatch.latencyMs,
        )
      } catch (error) {
        if (error instanceof SyncHaltedError) {
          // Not a failure to retry quickly: the sync waits for the emptied side to have content
          // again, or for the deletion to be accepted. Waiting requests get the reason now.
          this.status.state = 'halted'
          this.status.lastError = error.message
          this.needFull = true
          this.onChange()
          this.notifyIdle()
          this.retryDelay = MAX_RETRY_DELAY_MS
          await this.backOff()
          continue
        }
        let message = errorText(error)
        const sidecar = SIDECAR_TROUBLE.test(message)
        if (sidecar) message = (await this.host.sidecarTrouble()) ?? message
        this.status.errors++
        this.status.lastError = message
        this.failingSince ??= message
        this.status.state = sidecar ? 'sidecar-down' : 'error'
        log.warn(
          '%s: sync failed (%s); a full pass follows in %d ms',
          this.status.name,
          message,
          this.retryDelay,
        )
        // What the failed batch held is unknown now: only a full pass is sure to catch up.
        this.needFull = true
        this.onChange()
        this.failures++
        this.releaseFailedWaiters()
        await this.backOff()
      }
      this.status.pending = this.pending.size
      this.onChange()
    }
  }

  /** Paths that could not be read: a full pass says them all, a batch about its own paths. */
  private noteUnreadable(batch: ReadonlySet<string>, full: boolean, unreadable: string[]): void {
    if (full) this.unreadable = new Set(unreadable)
    else {
      for (const rel of batch) this.unreadable.delete(rel)
      for (const rel of unreadable) this.unreadable.add(rel)
    }
    if (unreadable.length > 0) {
      log.warn(
        '%s: %d path(s) could not be read and were skipped: %s',
        this.status.name,
        unreadable.length,
        unreadable.slice(0, 5).join(', '),
      )
    }
    this.status.unreadableCount = this.unreadable.size
    this.status.unreadable = [...this.unreadable].slice(0, UNREADABLE_SHOWN)
  }

  /** The sidecar came back through the daemon's doing: counted here, and a full pass follows. */
  noteSidecarHeal(cause: string): void {
    if (isTwoWay(this.strategy)) this.strategy.sidecarChanged()
    this.heal(cause)
    this.failingSince = undefined
    this.needsFullPass()
  }

  /** Something may have been lost (the agent did not answer): a full pass, now or after a retry. */
  needsFullPass(): void {
    this.needFull = true
    this.asked()
    this.kick()
  }

  /** Running, scheduled or paused: the agent is in use or not expected to be. */
  busyOrPaused(): boolean {
    return this.running !== undefined || this.timer !== undefined || this.paused
  }

  /** The daemon is stopping: no more runs. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    if (isTwoWay(this.strategy)) this.strategy.stopRemote()
    await this.unwatch()
  }

  /**
   * Resolves when nothing is pending or running. Rejects after REQUEST_ATTEMPTS failed passes
   * with the last error (the queue keeps being retried).
   */
  idle(): Promise<void> {
    if (!this.running && !this.timer && this.pending.size === 0 && !this.needFull)
      return Promise.resolve()
    return new Promise((resolve, reject) =>
      this.idleWaiters.push({
        resolve: () => (this.failed() ? reject(this.failure()) : resolve()),
        failuresAtStart: this.failures,
      }),
    )
  }

  /** Waits before the retry of a failed pass, twice as long each time, up to a few seconds. */
  private async backOff(): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    await new Promise<void>((resolve) => {
      this.retryNow = resolve
      timer = setTimeout(resolve, this.retryDelay)
    })
    clearTimeout(timer)
    this.retryNow = undefined
    this.retryDelay = Math.min(this.retryDelay * 2, MAX_RETRY_DELAY_MS)
  }

  /** A user asked for a pass (dsync sync, flush): a waiting retry runs now, and soon again. */
  private asked(): void {
    this.retryDelay = 500
    this.retryNow?.()
  }

  private failed(): boolean {
    return (
      this.status.state === 'error' ||
      this.status.state === 'sidecar-down' ||
      this.status.state === 'halted'
    )
  }

  private failure(): Error {
    if (this.status.state === 'halted') {
      return new Error(`sync "${this.status.name}" is ${this.status.lastError ?? 'halted'}`)
    }
    return new Error(
      `sync of "${this.status.name}" failed ${REQUEST_ATTEMPTS} times: ${this.status.lastError ?? 'unknown error'}`,
    )
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const w of waiters) w.resolve()
  }

  private releaseFailedWaiters(): void {
    const done = this.idleWaiters.filter(
      (w) => this.failures - w.failuresAtStart >= REQUEST_ATTEMPTS,
    )
    if (done.length === 0) return
    this.idleWaiters = this.idleWaiters.filter((w) => !done.includes(w))
    for (const w of done) w.resolve()
  }

  /**
   * Wait for the watcher to go quiet and the queue to drain, then verify with a full pass.
   * Anything that pass still finds is a change the watcher did not deliver: it is applied and
   * counted in `missed`, so a silent miss is visible instead of silent.
   */
  async flush(): Promise<void> {
    this.asked()
    for (;;) {
      const quietFor = Date.now() - this.lastEventAt
      if (quietFor < FLUSH_QUIET_MS) {
        await sleep(FLUSH_QUIET_MS - quietFor)
        continue
      }
      await this.idle()
      if (Date.now() - this.lastEventAt >= FLUSH_QUIET_MS && this.pending.size === 0) break
    }
    this.verifying = true
    await this.fullSync()
  }

  /** A full pass now (dsync sync, or the first pass after start), waited for. */
  async fullSync(): Promise<void> {
    this.asked()
    this.needFull = true
    const wasPaused = this.paused
    this.paused = false
    this.kick()
    try {
      await this.idle()
    } finally {
      this.paused = wasPaused
      if (this.paused) this.status.state = 'paused'
    }
  }

  pause(): void {
    this.paused = true
    this.status.state = 'paused'
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    this.onChange()
  }

  resume(): void {
    this.paused = false
    this.status.state = 'watching'
    // Whatever changed while paused is in the queue; a full pass also covers overflowed queues.
    this.needFull = true
    this.kick()
  }
}

async function isFolder(src: string): Promise<boolean> {
  try {
    return (await lstat(src)).isDirectory()
  } catch {
    return false
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function batchIsEmpty(batch: ReadonlySet<string>): boolean {
  return batch.size === 0
}

export interface DaemonOptions {
  env?: NodeJS.ProcessEnv
  /** The project's sidecar is gone for good (the project was taken down): nothing to sync. */
  onSidecarGone?: () => void
  /** The `stop` request: the process ends (see main.ts). */
  onStop?: () => void
  /** Set when the guardian restarted this daemon after the previous one died. */
  restart?: { count: number; cause: string }
}

/** Errors that point at the sidecar rather than at the files. */
const SIDECAR_TROUBLE =
  /No such container|is not running|is paused|channel|exited|did not answer|ended \(/i

export class Daemon {
  private workers: SyncWorker[]
  private channel: AgentChannel | undefined
  private connecting: Promise<AgentChannel> | undefined
  private healthTimer: NodeJS.Timeout | undefined
  private statusTimer: NodeJS.Timeout | undefined
  private readonly startedAt = new Date()
  private watchSetupMs: number | undefined
  private stopping = false
  private checking = false
  private readonly sidecar: SidecarTracker
  private readonly env: NodeJS.ProcessEnv
  private readonly restarts: number
  private readonly lastRestart: Heal | undefined
  /** One diagnosis of the sidecar at a time, shared by every sync that asks. */
  private diagnosing: Promise<string | undefined> | undefined

  constructor(
    private readonly spec: DaemonSpec,
    private readonly options: DaemonOptions = {},
  ) {
    this.env = options.env ?? process.env
    this.sidecar = new SidecarTracker(spec.container, spec.project, this.env)
    this.restarts = options.restart?.count ?? 0
    this.lastRestart = options.restart
      ? { at: new Date().toISOString(), cause: options.restart.cause }
      : undefined
    const tracker = this.sidecar
    const sidecar: Sidecar = {
      get container() {
        return tracker.container
      },
      env: this.env,
      agent: () => this.agent(),
    }
    const host: WorkerHost = {
      changed: () => this.statusChanged(),
      sidecarTrouble: () => this.sidecarTrouble(),
      passDone: () => void this.markReady(),
    }
    this.workers = spec.syncs.map((t) => {
      const record = SyncRecord.load(SyncRecord.fileOf(spec.stateDir, t.name))
      const strategy = createStrategy(t, sidecar, record, spec.stateDir)
      // unison keeps its state (the volume's watcher, a halt) in the daemon: its passes stay here.
      return new SyncWorker(
        isTwoWay(strategy)
          ? strategy
          : withPassesInChild(
              strategy,
              record,
              () => tracker.container,
              this.env,
              () => this.agent(),
            ),
        host,
      )
    })
  }

  private agent(): Promise<AgentChannel> {
    if (this.channel && !this.channel.closed) return Promise.resolve(this.channel)
    this.connecting ??= AgentChannel.open(this.sidecar.container, {
      env: this.env,
      timeoutMs: 15_000,
      onClose: (error) => {
        if (error && !this.stopping) log.warn('agent channel closed: %s', error.message)
      },
    })
      .then((channel) => {
        this.channel = channel
        return channel
      })
      .finally(() => {
        this.connecting = undefined
      })
    return this.connecting
  }

  /** Watch first, then the first full pass: nothing changed in between can be missed. */
  async start(): Promise<void> {
    const t0 = Date.now()
    await Promise.all(this.workers.map((w) => w.watch()))
    this.watchSetupMs = Date.now() - t0
    log.info('watching %d sync(s); watches set up in %d ms', this.workers.length, this.watchSetupMs)
    this.healthTimer = setInterval(() => void this.checkHealth(), HEALTH_INTERVAL_MS)
    this.healthTimer.unref()
    if (this.options.restart) {
      // A daemon that replaces one that died: whatever changed meanwhile is caught up now.
      log.info('restarted (%s): a full pass of every sync', this.options.restart.cause)
      for (const worker of this.workers) void worker.fullSync().catch(() => undefined)
    }
    this.statusChanged()
  }

  /** The first pass of every sync (the initial sync), then the sidecar is marked healthy. */
  async initial(onProgress?: (p: PassProgress) => void): Promise<void> {
    for (const worker of this.workers) {
      worker.onProgress = onProgress
      try {
        await worker.fullSync()
      } catch (error) {
        throw new Error(`initial ${errorText(error)}`)
      } finally {
        worker.onProgress = undefined
      }
    }
    await (await this.agent()).ready()
  }

  /**
   * Once every sync has had a full pass, the sidecar's health marker is (re)created: a sidecar
   * that was restarted or recreated becomes healthy again only on synced code.
   */
  private async markReady(): Promise<void> {
    if (!this.workers.every((w) => w.status.fullPasses > 0)) return
    try {
      await (await this.agent()).ready()
    } catch (error) {
      log.debug('could not mark the sidecar ready: %s', errorText(error))
    }
  }

  /**
   * A sync failed in a way that points at the sidecar. Finds out what happened to it and heals
   * what can be healed: a recreated sidecar is followed, a stopped one is started again while
   * the project's app containers run. Resolves with a one-line diagnosis for status.
   */
  private sidecarTrouble(): Promise<string | undefined> {
    this.diagnosing ??= this.diagnose().finally(() => {
      this.diagnosing = undefined
    })
    return this.diagnosing
  }

  private async diagnose(): Promise<string | undefined> {
    const id = () => this.sidecar.container.slice(0, 12)
    const state = await this.sidecar.state()
    switch (state.kind) {
      case 'running':
        return undefined
      case 'paused':
        this.dropChannel()
        return `the sync sidecar ${id()} is paused; syncing resumes when it is unpaused (docker unpause ${id()})`
      case 'unknown':
        return `cannot inspect the sync sidecar ${id()}: ${state.reason}`
      case 'gone': {
        if (await this.sidecar.refind()) {
          this.dropChannel()
          this.healAll(`the sidecar was recreated; now syncing into ${id()}`)
          return `the sidecar was recreated as ${id()}`
        }
        log.warn('the sidecar container is gone and the project has none: stopping')
        this.options.onSidecarGone?.()
        return `the sync sidecar ${id()} was removed; run dsync compose up`
      }
      case 'stopped': {
        if (!(await this.sidecar.appsRunning())) {
          return `the sync sidecar ${id()} is ${state.status} while the project's containers are stopped; dsync compose up starts it`
        }
        this.dropChannel()
        if (await this.sidecar.start()) {
          this.healAll(`the sidecar had stopped (${state.status}) while the app ran; started it`)
          return `the sync sidecar ${id()} had stopped; started it again`
        }
        return `the sync sidecar ${id()} is ${state.status} and could not be started; run dsync compose up`
      }
    }
  }

  private healAll(cause: string): void {
    for (const worker of this.workers) worker.noteSidecarHeal(cause)
  }

  private dropChannel(): void {
    const channel = this.channel
    this.channel = undefined
    void channel?.close(1000).catch(() => undefined)
  }

  /** Every few seconds: each watch, then the agent (a ping with a deadline). */
  private async checkHealth(): Promise<void> {
    if (this.checking || this.stopping) return
    this.checking = true
    try {
      await Promise.all(this.workers.map((w) => w.check()))
      if (this.workers.some((w) => w.busyOrPaused())) return
      const channel = await this.agent()
      await Promise.race([
        channel.ping(),
        sleep(HEALTH_TIMEOUT_MS, undefined, { ref: false }).then(() => {
          throw new Error(`the agent did not answer a ping within ${HEALTH_TIMEOUT_MS} ms`)
        }),
      ])
    } catch (error) {
      log.warn('health check failed (%s): reconnecting, then a full pass', errorText(error))
      this.dropChannel()
      // A sidecar removed with its project ends this daemon even when no pass reaches it (a
      // missing src fails every pass before the sidecar is touched).
      await this.sidecarTrouble()
      for (const worker of this.workers) worker.needsFullPass()
    } finally {
      this.checking = false
    }
  }

  /**
   * Before a request that waits for the sidecar (flush, sync): a sidecar that cannot take
   * writes now is said at once, in one line, instead of after retries.
   */
  private async precheck(): Promise<void> {
    const state = await this.sidecar.state()
    if (state.kind === 'running') return
    const diagnosis = await this.sidecarTrouble()
    const after = await this.sidecar.state()
    if (after.kind === 'running') return
    throw new Error(diagnosis ?? `the sync sidecar is ${after.kind}`)
  }

  async handle(
    request: ControlRequest,
    onProgress: (p: PassProgress) => void,
  ): Promise<DaemonStatus> {
    switch (request.cmd) {
      case 'status':
        break
      case 'initial':
        await this.initial(onProgress)
        break
      case 'flush':
        await this.precheck()
        await Promise.all(this.workers.map((w) => w.flush()))
        break
      case 'sync': {
        const chosen = this.select(request.name)
        await this.precheck()
        for (const w of chosen) {
          w.onProgress = onProgress
          try {
            await w.fullSync()
          } finally {
            w.onProgress = undefined
          }
        }
        break
      }
      case 'accept': {
        const [worker] = this.select(request.name)
        if (worker && isTwoWay(worker.strategy)) {
          worker.strategy.acceptDeletions()
          await this.precheck()
          await worker.fullSync()
        }
        break
      }
      case 'pause':
        for (const w of this.workers) w.pause()
        break
      case 'resume':
        for (const w of this.workers) w.resume()
        break
      case 'stop':
        setImmediate(() => this.options.onStop?.())
        break
    }
    return this.status()
  }

  private select(name: string | undefined): SyncWorker[] {
    if (name === undefined) return this.workers
    const found = this.workers.filter((w) => w.status.name === name)
    if (found.length === 0) {
      throw new Error(
        `no sync named "${name}"; syncs are: ${this.workers.map((w) => w.status.name).join(', ')}`,
      )
    }
    return found
  }

  status(): DaemonStatus {
    const syncs = this.workers.map((w) =>
      isTwoWay(w.strategy) ? { ...w.status, twoWay: w.strategy.report() } : { ...w.status },
    )
    const healthy = syncs.every(
      (s) => s.state === 'watching' || s.state === 'paused' || s.state === 'syncing',
    )
    const starting = syncs.some((s) => s.state === 'starting' || s.state === 'initial-sync')
    return {
      project: this.spec.project,
      pid: process.pid,
      startedAt: this.startedAt.toISOString(),
      health: healthy ? 'ok' : starting ? 'starting' : 'degraded',
      watchSetupMs: this.watchSetupMs,
      container: this.sidecar.container,
      restarts: this.restarts,
      lastRestart: this.lastRestart,
      syncs,
    }
  }

  /** The status file, for `dsync status` when the socket cannot answer; written at most 5/s. */
  private statusChanged(): void {
    if (this.statusTimer) return
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined
      this.writeStatus()
    }, 200)
  }

  writeStatus(): void {
    try {
      writePrivateFile(statusPath(this.spec.stateDir), JSON.stringify(this.status(), null, 2))
    } catch (error) {
      // A full disk must not end the daemon: the socket still answers status.
      log.warn('cannot write the status file: %s', errorText(error))
    }
  }

  async stop(): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    if (this.healthTimer) clearInterval(this.healthTimer)
    await Promise.all(this.workers.map((w) => w.stop()))
    await this.channel?.close().catch(() => undefined)
    if (this.statusTimer) clearTimeout(this.statusTimer)
  }
}
