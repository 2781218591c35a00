/**
 * The unison strategy's watcher of the volume: `inotifywait -m -r` in the sidecar, streamed
 * back over `docker exec`. Its changes join the host's in the daemon's batches. When it ends
 * (the sidecar restarted, inotifywait killed) it is started again, and since changes may have
 * been missed meanwhile, a whole run follows.
 */
import { logger } from '../lib/log.js'
import { spawn, type Spawned } from '../lib/spawn.js'
import { parseVolumeEvents, volumeWatchArgs, type VolumeEvent } from './unison-args.js'
import type { ExcludeType } from '../compose/types.js'

const log = logger('dsync:sync:unison')

export interface VolumeWatchOptions {
  name: string
  sidecarPath: string
  excludes: readonly string[]
  excludesType: ExcludeType
  /** The sidecar's container, read at each start (a recreated sidecar has a new id). */
  container: () => string
  env: NodeJS.ProcessEnv
  onEvents: (events: VolumeEvent[]) => void
  /** Events may have been lost (a restart, a queue overflow): a whole run is due. */
  onRescan: (reason: string) => void
  /** The watcher ended and is being started again (counted in status). */
  onRestart: (cause: string) => void
}

export class VolumeWatcher {
  private child: Spawned | undefined
  private stopped = false
  private starts = 0
  private delayMs = 500
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly options: VolumeWatchOptions) {}

  start(): void {
    if (this.stopped || this.child) return
    const o = this.options
    const args = [
      'exec',
      o.container(),
      ...volumeWatchArgs(o.sidecarPath, o.excludes, o.excludesType),
    ]
    const child = spawn('docker', args, { env: o.env, stdin: 'ignore' })
    this.child = child
    this.starts++
    const startedAt = Date.now()
    let buffer = ''
    let stderr = ''
    let ready = false
    child.stdout.setEncoding('utf8')
    child.stderr.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      const parsed = parseVolumeEvents(buffer + chunk, o.sidecarPath)
      buffer = parsed.rest
      const events = parsed.events.filter((e) => !e.overflow)
      if (parsed.events.some((e) => e.overflow)) o.onRescan('the volume watcher overflowed')
      if (events.length > 0) o.onEvents(events)
    })
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-2000)
      if (!ready && /Watches established/.test(stderr)) {
        ready = true
        this.delayMs = 500
        // Changes made before the watches existed are caught by a whole run (not on the first
        // start: the daemon's first pass is a whole run).
        if (this.starts > 1) o.onRescan('the volume watcher started again')
      }
    })
    void child.then((ended) => {
      if (this.child === child) this.child = undefined
      if (this.stopped) return
      const why = stderr.trim().split('\n').at(-1) ?? ''
      const cause = `the volume watcher ended (${ended.signal ?? `exit ${ended.exitCode ?? '?'}`}${why ? `: ${why}` : ''})`
      log.warn('%s: %s; starting it again in %d ms', o.name, cause, this.delayMs)
      o.onRestart(cause)
      // A watcher that keeps dying (the sidecar down) is retried less often, up to 8 s.
      if (Date.now() - startedAt > 30_000) this.delayMs = 500
      this.timer = setTimeout(() => {
        this.timer = undefined
        this.start()
      }, this.delayMs)
      this.delayMs = Math.min(this.delayMs * 2, 8_000)
    })
  }

  /** Starts it again now (the sidecar was recreated). */
  restart(): void {
    this.child?.kill('SIGKILL')
  }

  stop(): void {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.child?.kill('SIGKILL')
    this.child = undefined
  }
}
