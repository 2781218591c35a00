/**
 * The watcher daemon: one per compose project. It watches every sync's host folder with
 * @parcel/watcher, batches the events (a short debounce, a bounded wait), and hands each batch
 * to the sync's strategy; a batch too large to list, a watcher error or a failed batch becomes
 * one full pass. It keeps one agent channel open into the sidecar, checks it periodically, and
 * answers status / flush / sync / pause / resume on its control socket.
 */
import { writeFileSync, renameSync } from 'node:fs'
import { lstat, readdir } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import watcher from '@parcel/watcher'
import { run } from '../lib/exec.js'
import { logger } from '../lib/log.js'
import { AgentChannel } from '../strategies/agent.js'
import { excludedWithParents } from '../strategies/excludes.js'
import type { Sidecar, SyncStrategy, SyncTarget } from '../strategies/types.js'
import type { ControlRequest } from './control.js'
import { fullPassInChild } from './pass-client.js'
import { createStrategy } from './strategy.js'
import { statusPath } from './process.js'
import type { DaemonSpec } from './spec.js'
import type { DaemonStatus, PassProgress, SyncStatus } from './status.js'

const log = logger('dsync:daemon')

/** Wait this long after an event for more before syncing (editors write in bursts). */
const DEBOUNCE_MS = 2
/** ... but never longer than this since the first unsynced event. */
const MAX_WAIT_MS = 50
/** Batches with more paths than this become one full pass. */
const FULL_PASS_PATHS = 2000
/** A flush waits for this much quiet from the watcher before it verifies. */
const FLUSH_QUIET_MS = 120
/** A request waiting for a full pass is answered with the error after this many failures. */
const REQUEST_ATTEMPTS = 3
/** How often the agent channel is checked. */
const HEALTH_INTERVAL_MS = 30_000
const HEALTH_TIMEOUT_MS = 10_000

/** Full passes run in a worker process (see pass-worker.ts); path batches stay in the daemon. */
function withPassesInChild(
  strategy: SyncStrategy,
  container: string,
  env: NodeJS.ProcessEnv,
  agent: () => Promise<AgentChannel>,
): SyncStrategy {
  return {
    target: strategy.target,
    matcher: strategy.matcher,
    fullPass: (onProgress) =>
      fullPassInChild(strategy.target, container, env, onProgress, async (pid, holds) => {
        await (await agent()).adopt(strategy.target.name, pid, holds)
      }),
    syncPaths: (paths, created) => strategy.syncPaths(paths, created),
  }
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
  /** The next full pass verifies: what it finds, the watcher missed. */
  private verifying = false
  /** The watcher may not see some folders: the next run subscribes anew (see unwatchedFolders). */
  private rewatchNeeded = false
  private retryDelay = 500
  /** Ends the wait before a retry at once: a user asked for a pass. */
  private retryNow: (() => void) | undefined
  private subscription: watcher.AsyncSubscription | undefined
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
    private readonly onChange: () => void,
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
    }
  }

  async watch(): Promise<void> {
    const { target } = this.strategy
    this.subscription = await watcher.subscribe(
      target.src,
      (error, events) => {
        if (error) {
          // Events may have been lost: only a full pass is sure to catch up.
          log.warn('%s: watcher error, scheduling a full pass: %s', target.name, error.message)
          this.needFull = true
          this.kick()
          return
        }
        const now = Date.now()
        for (const event of events) {
          const rel = path.relative(target.src, event.path).split(path.sep).join('/')
          if (!rel || rel.startsWith('..')) {
            if (!rel && event.type === 'delete') this.needFull = true
            continue
          }
          if (excludedWithParents(this.strategy.matcher, rel, false)) continue
          this.pending.add(rel)
          if (event.type === 'create') this.created.add(rel)
        }
        if (this.pending.size === 0 && !this.needFull) return
        if (this.firstPendingAt === 0) this.firstPendingAt = now
        this.lastEventAt = now
        this.kick()
      },
      {
        ignore: watchIgnores(target),
        // Straight to inotify: probing for watchman first leaves a zombie shell behind.
        ...(process.platform === 'linux' ? { backend: 'inotify' as const } : {}),
      },
    )
  }

  async unwatch(): Promise<void> {
    await this.subscription?.unsubscribe()
    this.subscription = undefined
  }

  /** Schedule a run: after the debounce, bounded by the maximum wait. */
  kick(): void {
    this.status.pending = this.pending.size
    if (this.paused || this.running) return
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
      if (this.rewatchNeeded) await this.rewatch()
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
        this.status.state = 'watching'
        this.status.lastSync = new Date().toISOString()
        this.status.lastBatch = {
          paths: full ? result.changed : batch.size,
          latencyMs: Date.now() - startedAt,
          kind: result.kind,
        }
        if (full) this.status.fullPasses++
        else this.status.batches++
        // A folder reported as changed, not created: its attributes changed, or it was removed
        // and created again, which @parcel/watcher reports as one update
        // (https://github.com/parcel-bundler/watcher/issues/72), so its contents were never
        // listed. Only a full pass is sure to catch up; it sends nothing if nothing differs.
        const changedFolders = await this.changedFolders(batch, created)
        if (changedFolders.size > 0 && !full) this.needFull = true
        const fresh = changedFolders.size > 0 ? new Set([...created, ...changedFolders]) : created
        if (fresh.size > 0 && (await this.unwatchedFolders(fresh))) {
          log.info(
            '%s: new folders hold folders the watcher was not told about: watching anew, then a full pass',
            this.status.name,
          )
          this.rewatchNeeded = true
          this.needFull = true
        }
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
        const message = error instanceof Error ? error.message : String(error)
        this.status.errors++
        this.status.lastError = message
        this.status.state = /No such container|is not running|channel|exited/i.test(message)
          ? 'sidecar-down'
          : 'error'
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

  /** The paths of a batch, not reported as created, that are folders on the host now. */
  private async changedFolders(
    batch: ReadonlySet<string>,
    created: ReadonlySet<string>,
  ): Promise<Set<string>> {
    const folders = new Set<string>()
    const { src } = this.strategy.target
    for (const rel of batch) {
      if (created.has(rel)) continue
      try {
        if ((await lstat(path.join(src, rel))).isDirectory()) folders.add(rel)
      } catch {
        // gone: its deletion is synced as such
      }
    }
    return folders
  }

  /**
   * On Linux, @parcel/watcher adds an inotify watch only for the folder an event names, never
   * for folders already inside it (a tree moved in, `mkdir -p a/b`, a burst of new folders), so
   * every later change in those would go unseen:
   * https://github.com/parcel-bundler/watcher/issues/97. A new folder holding a subfolder whose
   * own creation was not reported is that case.
   */
  private async unwatchedFolders(created: ReadonlySet<string>): Promise<boolean> {
    const { src } = this.strategy.target
    for (const rel of created) {
      let dirents
      try {
        dirents = await readdir(path.join(src, rel), { withFileTypes: true })
      } catch {
        continue // a file, or gone
      }
      for (const dirent of dirents) {
        if (!dirent.isDirectory()) continue
        const child = `${rel}/${dirent.name}`
        if (created.has(child) || this.created.has(child)) continue
        if (excludedWithParents(this.strategy.matcher, child, true)) continue
        return true
      }
    }
    return false
  }

  /**
   * A new subscription reads the whole tree and watches every folder (unsubscribing first: the
   * library shares one watcher, and its tree, between subscriptions of the same folder). What
   * changed in between is caught by the full pass that follows.
   */
  private async rewatch(): Promise<void> {
    this.needFull = true
    await this.unwatch()
    try {
      await this.watch()
      this.rewatchNeeded = false
    } catch (error) {
      // Tried again on the next run; until then full passes keep the volume right.
      log.warn(
        '%s: watching anew failed: %s',
        this.status.name,
        error instanceof Error ? error.message : String(error),
      )
    }
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

  /** Waits before the retry of a failed pass, twice as long each time, up to 30 s. */
  private async backOff(): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    await new Promise<void>((resolve) => {
      this.retryNow = resolve
      timer = setTimeout(resolve, this.retryDelay)
    })
    clearTimeout(timer)
    this.retryNow = undefined
    this.retryDelay = Math.min(this.retryDelay * 2, 30_000)
  }

  /** A user asked for a pass (dsync sync, flush): a waiting retry runs now, and soon again. */
  private asked(): void {
    this.retryDelay = 500
    this.retryNow?.()
  }

  private failed(): boolean {
    return this.status.state === 'error' || this.status.state === 'sidecar-down'
  }

  private failure(): Error {
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

function batchIsEmpty(batch: ReadonlySet<string>): boolean {
  return batch.size === 0
}

/**
 * Excluded folders the watcher need not watch at all: plain names (`node_modules`, `.git`) when
 * no rule re-includes anything, and `path` excludes. Everything else is filtered per event.
 */
export function watchIgnores(target: SyncTarget): (string | RegExp)[] {
  const plain = /^[^*?[\]!/\\]+\/?$/
  switch (target.excludesType) {
    case 'gitignore':
      if (target.excludes.some((p) => p.startsWith('!'))) return []
      return target.excludes
        .filter((p) => plain.test(p))
        .map((p) => segmentRegExp(p.replace(/\/$/, '')))
    case 'name':
      return target.excludes.map(segmentRegExp)
    case 'path':
      return target.excludes.map((p) => path.join(target.src, p))
    case 'regex':
      return []
  }
}

/**
 * `name` as a whole path segment. @parcel/watcher matches a RegExp against the path relative to
 * the watched folder, so a top-level `node_modules` has no `/` before it.
 */
function segmentRegExp(name: string): RegExp {
  return new RegExp(`(?:^|/)${escapeRegExp(name)}(?:/|$)`)
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

export class Daemon {
  private workers: SyncWorker[]
  private channel: AgentChannel | undefined
  private connecting: Promise<AgentChannel> | undefined
  private healthTimer: NodeJS.Timeout | undefined
  private statusTimer: NodeJS.Timeout | undefined
  private readonly startedAt = new Date()
  private watchSetupMs: number | undefined
  private stopping = false

  constructor(
    private readonly spec: DaemonSpec,
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly onSidecarGone: () => void = () => undefined,
  ) {
    const sidecar: Sidecar = {
      container: spec.container,
      env,
      agent: () => this.agent(),
    }
    this.workers = spec.syncs.map(
      (t) =>
        new SyncWorker(
          withPassesInChild(createStrategy(t, sidecar), spec.container, env, () => this.agent()),
          () => this.statusChanged(),
        ),
    )
  }

  private agent(): Promise<AgentChannel> {
    if (this.channel && !this.channel.closed) return Promise.resolve(this.channel)
    this.connecting ??= AgentChannel.open(this.spec.container, {
      env: this.env,
      onClose: (error) => {
        if (error && !this.stopping) {
          log.warn('agent channel closed: %s', error.message)
          void this.checkSidecarExists()
        }
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
    this.statusChanged()
  }

  /** The first pass of every sync (the initial sync), then the sidecar is marked healthy. */
  async initial(onProgress?: (p: PassProgress) => void): Promise<void> {
    for (const worker of this.workers) {
      worker.onProgress = onProgress
      try {
        await worker.fullSync()
      } catch (error) {
        throw new Error(`initial ${error instanceof Error ? error.message : String(error)}`)
      } finally {
        worker.onProgress = undefined
      }
    }
    await (await this.agent()).ready()
  }

  /** The channel's end is the cheap signal; one inspect then tells a restart from a removal. */
  private async checkSidecarExists(): Promise<void> {
    const result = await run(
      'docker',
      ['inspect', '-f', '{{.State.Status}}', this.spec.container],
      {
        env: this.env,
        reject: false,
      },
    )
    if (result.exitCode !== 0 && /no such/i.test(result.stderr)) this.onSidecarGone()
  }

  private async checkHealth(): Promise<void> {
    try {
      const channel = await this.agent()
      await Promise.race([
        channel.ping(),
        sleep(HEALTH_TIMEOUT_MS).then(() => {
          throw new Error('the agent did not answer a ping')
        }),
      ])
    } catch (error) {
      log.warn(
        'health check failed (%s): reconnecting and resyncing',
        error instanceof Error ? error.message : String(error),
      )
      await this.channel?.close().catch(() => undefined)
      this.channel = undefined
      for (const worker of this.workers) void worker.fullSync().catch(() => undefined)
    }
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
        await Promise.all(this.workers.map((w) => w.flush()))
        break
      case 'sync': {
        const chosen = this.select(request.name)
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
      case 'pause':
        for (const w of this.workers) w.pause()
        break
      case 'resume':
        for (const w of this.workers) w.resume()
        break
      case 'stop':
        setImmediate(() => void this.stop().then(() => process.exit(0)))
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
    const syncs = this.workers.map((w) => ({ ...w.status }))
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
      container: this.spec.container,
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
    const file = statusPath(this.spec.stateDir)
    const tmp = `${file}.${process.pid}.tmp`
    writeFileSync(tmp, JSON.stringify(this.status(), null, 2))
    renameSync(tmp, file)
  }

  async stop(): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    if (this.healthTimer) clearInterval(this.healthTimer)
    await Promise.all(this.workers.map((w) => w.unwatch().catch(() => undefined)))
    await this.channel?.close().catch(() => undefined)
    if (this.statusTimer) clearTimeout(this.statusTimer)
  }
}
