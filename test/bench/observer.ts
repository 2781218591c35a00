/**
 * Edit-to-visible latency, observed from inside the app container. An inotify reader runs in the
 * container (`inotifywait -m -r` on the mount) and streams its events back over `docker exec`;
 * the host stamps each line when it arrives, so both ends of a measurement use the host's clock:
 * latency = arrival of the event - the moment the host started writing the file. The pipe back
 * adds its own delay, which the bind mount case shows (it is the floor of every figure here) and
 * `measurePipe` estimates separately.
 */
import { run } from '../../src/lib/exec.js'
import { spawn, type Spawned } from '../../src/lib/spawn.js'
import type { Expectation } from './trees.js'

interface Waiter {
  resolve: (at: number) => void
}

/**
 * `close_write` and `moved_to` mean the content is there (a write, or rsync's rename of its
 * temporary file); `delete` for branch switches. `create` is left out on purpose: it fires before
 * any content is written, so it does not mean "visible", and it would add a third event per file
 * in a branch switch, close to the kernel's queue of 16,384 events.
 */
// inotifywait prints a queue overflow only when it is asked for.
const EVENTS = 'close_write,moved_to,delete,q_overflow'

export class Observer {
  private readonly waiters = new Map<string, Waiter[]>()
  private buffered = ''
  private errors = ''
  private exited = false
  /** The kernel queue overflowed: some events were lost, a wait may time out. */
  overflowed = false
  events = 0

  private constructor(
    readonly container: string,
    readonly mount: string,
    private readonly child: Spawned,
  ) {}

  /** Starts the reader and resolves once its watches are set up. */
  static async start(container: string, mount: string, timeoutMs = 180_000): Promise<Observer> {
    const child = spawn(
      'docker',
      ['exec', container, 'inotifywait', '-m', '-r', '--format', '%e %w%f', '-e', EVENTS, mount],
      { stdin: 'ignore' },
    )
    const observer = new Observer(container, mount, child)
    child.stdout.on('data', (chunk: Buffer) => observer.onData(chunk))
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill()
        reject(new Error(`inotifywait in ${container} did not set up its watches in time`))
      }, timeoutMs)
      child.stderr.on('data', (chunk: Buffer) => {
        observer.errors = (observer.errors + chunk.toString('utf8')).slice(-4000)
        if (observer.errors.includes('Watches established')) {
          clearTimeout(timer)
          resolve()
        }
      })
      void child.then(() => {
        observer.exited = true
        observer.flushWaiters()
        clearTimeout(timer)
        reject(new Error(`inotifywait in ${container} exited: ${observer.errors.trim()}`))
      })
    })
    return observer
  }

  private onData(chunk: Buffer): void {
    const at = performance.now()
    this.buffered += chunk.toString('utf8')
    let nl: number
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, nl)
      this.buffered = this.buffered.slice(nl + 1)
      this.onLine(line, at)
    }
  }

  private onLine(line: string, at: number): void {
    const space = line.indexOf(' ')
    const flags = space < 0 ? line : line.slice(0, space)
    if (flags.includes('Q_OVERFLOW')) {
      this.overflowed = true
      return
    }
    if (space < 0 || flags.includes('ISDIR')) return
    const full = line.slice(space + 1)
    const prefix = this.mount.endsWith('/') ? this.mount : `${this.mount}/`
    if (!full.startsWith(prefix)) return
    const rel = full.slice(prefix.length)
    const kind = flags.includes('DELETE')
      ? 'delete'
      : flags.includes('CLOSE_WRITE') || flags.includes('MOVED_TO')
        ? 'write'
        : undefined
    if (!kind) return
    this.events++
    const key = `${kind}:${rel}`
    const list = this.waiters.get(key)
    if (!list) return
    this.waiters.delete(key)
    for (const w of list) w.resolve(at)
  }

  private register(path: string, kind: Expectation['kind'], resolve: (at: number) => void): void {
    const key = `${kind}:${path}`
    const list = this.waiters.get(key) ?? []
    list.push({ resolve })
    this.waiters.set(key, list)
  }

  private unregister(path: string, kind: Expectation['kind']): void {
    this.waiters.delete(`${kind}:${path}`)
  }

  private flushWaiters(): void {
    const all = [...this.waiters.values()].flat()
    this.waiters.clear()
    for (const w of all) w.resolve(Number.NaN)
  }

  /**
   * Expects one event for `path` (relative to the mount). Call it BEFORE writing the file: the
   * event can arrive before the write call returns. Resolves with the arrival time
   * (performance.now()), or undefined when nothing came in `timeoutMs`.
   */
  expect(path: string, kind: Expectation['kind'], timeoutMs: number): Promise<number | undefined> {
    return new Promise((resolve) => {
      if (this.exited) return resolve(undefined)
      const timer = setTimeout(() => {
        this.unregister(path, kind)
        resolve(undefined)
      }, timeoutMs)
      this.register(path, kind, (at) => {
        clearTimeout(timer)
        resolve(Number.isNaN(at) ? undefined : at)
      })
    })
  }

  /**
   * Expects all of `items` (register before changing anything). `wait(ms)` then waits at most
   * `ms` more, and reports the last arrival and whatever never came.
   */
  expectAll(items: readonly Expectation[]): {
    wait: (timeoutMs: number) => Promise<{ last: number | undefined; missing: Expectation[] }>
  } {
    const seen = new Set<number>()
    let last: number | undefined
    let complete: (() => void) | undefined
    const allSeen = new Promise<void>((resolve) => (complete = resolve))
    if (items.length === 0 || this.exited) complete?.()
    items.forEach((item, i) => {
      this.register(item.path, item.kind, (at) => {
        if (Number.isNaN(at)) return complete?.()
        seen.add(i)
        last = last === undefined ? at : Math.max(last, at)
        if (seen.size === items.length) complete?.()
      })
    })
    const wait = async (timeoutMs: number) => {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([allSeen, new Promise((r) => (timer = setTimeout(r, timeoutMs)))])
      clearTimeout(timer)
      const missing = items.filter((_, i) => !seen.has(i))
      for (const m of missing) this.unregister(m.path, m.kind)
      return { last, missing }
    }
    return { wait }
  }

  async stop(): Promise<void> {
    if (this.exited) return
    this.child.kill()
    await this.child
  }
}

/**
 * The pipe back from the container: a line echoed by `docker exec -i cat`, timed on the host.
 * Half the round trip estimates the one-way delay the observer adds to every figure.
 */
export class Pipe {
  private received = ''
  private notify: (() => void) | undefined
  private pings = 0

  private constructor(private readonly child: Spawned) {
    child.stdout.on('data', (chunk: Buffer) => {
      this.received += chunk.toString('utf8')
      this.notify?.()
    })
  }

  static async start(container: string): Promise<Pipe> {
    const pipe = new Pipe(spawn('docker', ['exec', '-i', container, 'cat']))
    await pipe.ping() // the first line pays for the exec's setup: not a sample
    return pipe
  }

  /** One round trip; resolves with half of it. */
  async ping(): Promise<number> {
    const token = `ping-${this.pings++}\n`
    const arrived = new Promise<void>((resolve) => {
      this.notify = () => {
        if (this.received.includes(token)) resolve()
      }
    })
    const t0 = performance.now()
    this.child.stdin.write(token)
    let timer: NodeJS.Timeout | undefined
    await Promise.race([arrived, new Promise((r) => (timer = setTimeout(r, 5000)))])
    clearTimeout(timer)
    if (!this.received.includes(token)) throw new Error('no echo through docker exec within 5 s')
    this.received = ''
    return (performance.now() - t0) / 2
  }

  async stop(): Promise<void> {
    this.child.stdin.end()
    this.child.kill()
    await this.child
  }
}

/** What one `docker exec` costs, start to exit (the floor of any exec-per-change design). */
export async function measureExec(container: string): Promise<number> {
  const t0 = performance.now()
  await run('docker', ['exec', container, 'true'])
  return performance.now() - t0
}
