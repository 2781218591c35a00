/**
 * The fast channel into the sync sidecar: one long-lived `docker exec -i <sidecar> dsync-agent`
 * (images/sync/dsync-agent) kept open, so one file change costs one round trip on an open pipe
 * instead of a new `docker exec` each time. Requests are pipelined: a whole batch is written
 * before the first answer is read, and every request has a deadline. The bytes on the wire are
 * agent-protocol.ts's, after the protocol's description in the header of the agent.
 */
import { once } from 'node:events'
import { spawn, type Spawned } from '../lib/spawn.js'
import { logger } from '../lib/log.js'
import { AgentBatchError, AgentChannelError, AgentOpError, agentExited } from './agent-errors.js'
import {
  AGENT_COMMAND,
  AGENT_PROTOCOL,
  AgentDecoder,
  encode,
  parseGreeting,
  type AgentOp,
} from './agent-protocol.js'

export { AgentBatchError, AgentChannelError, AgentOpError } from './agent-errors.js'
export type { AgentOp } from './agent-protocol.js'

const log = logger('dsync:agent')

export interface AgentChannelOptions {
  env?: NodeJS.ProcessEnv
  /** Aborting kills the channel. */
  signal?: AbortSignal
  /** How long to wait for the agent's greeting; default 30 s. */
  timeoutMs?: number
  /** Called once when the channel is gone, with the reason unless `close()` ended it. */
  onClose?: (error: AgentChannelError | undefined) => void
  /**
   * Requests waiting this long with no byte from the agent end the channel (a paused or hung
   * sidecar); default 10 s. Answers keep arriving during any real work, even a large write.
   */
  stallMs?: number
}

interface Pending {
  id: number
  op: AgentOp
  resolve: (payload: string) => void
  reject: (error: Error) => void
}

/** A pipelined request/response channel to the agent in one sidecar container. */
export class AgentChannel implements AsyncDisposable {
  #child: Spawned
  #pending = new Map<number, Pending>()
  #nextId = 1
  #decoder = new AgentDecoder()
  #stderr = ''
  #greeting: { resolve: () => void; reject: (error: Error) => void } | undefined
  #error: AgentChannelError | undefined
  #closed = false
  #closing: Promise<void> | undefined
  #corked = false
  #exited: Promise<void>
  #agentPid = 0
  /** When the agent last sent anything, or a request began waiting on a quiet channel. */
  #heardAt = 0
  #watchdog: NodeJS.Timeout | undefined

  private constructor(
    readonly container: string,
    private readonly options: AgentChannelOptions,
  ) {
    const args = ['exec', '-i', container, AGENT_COMMAND]
    this.#child = spawn('docker', args, { env: options.env, signal: options.signal })
    const { stdin, stdout, stderr } = this.#child
    stdout.on('data', (chunk: Buffer) => this.#onData(chunk))
    stderr.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-8192)
    })
    // EPIPE when the agent is gone: the exit handler reports it with the real reason.
    stdin.on('error', (error) => log.debug('%s: stdin: %s', container, error.message))
    this.#exited = Promise.resolve(this.#child).then((result) =>
      this.#onExit(result.exitCode, result.signal, result.error),
    )
  }

  /** Starts the agent in a running sidecar and waits for its greeting. */
  static async open(container: string, options: AgentChannelOptions = {}): Promise<AgentChannel> {
    const channel = new AgentChannel(container, options)
    const timeoutMs = options.timeoutMs ?? 30_000
    let timer: NodeJS.Timeout | undefined
    try {
      await new Promise<void>((resolve, reject) => {
        channel.#greeting = { resolve, reject }
        timer = setTimeout(() => {
          reject(
            new AgentChannelError(
              container,
              `no greeting from ${AGENT_COMMAND} in ${timeoutMs} ms`,
            ),
          )
        }, timeoutMs)
      })
    } catch (error) {
      channel.#child.kill()
      await channel.#exited
      throw error
    } finally {
      clearTimeout(timer)
      channel.#greeting = undefined
    }
    log.debug('%s: agent %d ready', container, channel.#agentPid)
    return channel
  }

  /** True once the channel can take no more requests (closed, or the agent died). */
  get closed(): boolean {
    return this.#closed || this.#closing !== undefined
  }

  /** Why the channel ended, unless `close()` ended it. */
  get error(): AgentChannelError | undefined {
    return this.#error
  }

  /** The agent's pid inside the container. */
  get agentPid(): number {
    return this.#agentPid
  }

  /** Requests sent and not yet answered. */
  get pendingCount(): number {
    return this.#pending.size
  }

  write(
    sync: string,
    path: string,
    data: Uint8Array | string,
    options: { mode?: number; mtimeMs?: number } = {},
  ): Promise<void> {
    return this.#void({ op: 'write', sync, path, data, ...options })
  }

  mkdir(
    sync: string,
    path: string,
    options: { mode?: number; mtimeMs?: number } = {},
  ): Promise<void> {
    return this.#void({ op: 'mkdir', sync, path, ...options })
  }

  symlink(sync: string, path: string, target: string): Promise<void> {
    return this.#void({ op: 'symlink', sync, path, target })
  }

  remove(sync: string, path: string): Promise<void> {
    return this.#void({ op: 'remove', sync, path })
  }

  /**
   * Prunes these paths (children before parents), pipelined; resolves with the folders that were
   * kept because they still hold something.
   */
  async prune(sync: string, paths: readonly string[]): Promise<string[]> {
    const answers = await Promise.all(paths.map((path) => this.#send({ op: 'prune', sync, path })))
    return paths.filter((_, i) => answers[i] === 'kept')
  }

  setOwner(
    sync: string,
    uid: number,
    gid: number,
    options: { recursive?: boolean } = {},
  ): Promise<void> {
    return this.#void({ op: 'setOwner', sync, uid, gid, ...options })
  }

  ready(): Promise<void> {
    return this.#void({ op: 'ready' })
  }

  unready(): Promise<void> {
    return this.#void({ op: 'unready' })
  }

  /** The volume's manifest of one sync, in one round trip (no docker exec of its own). */
  list(sync: string): Promise<string> {
    return this.#send({ op: 'list', sync })
  }

  /**
   * Around a write by another process (rsync): `hold` before, `settle` after, with the same
   * paths, so that the files it replaces stay signalled like the agent's own (see the agent).
   */
  hold(sync: string, paths: readonly string[]): Promise<void> {
    return this.#void({ op: 'hold', sync, paths })
  }

  settle(sync: string, paths: readonly string[]): Promise<void> {
    return this.#void({ op: 'settle', sync, paths })
  }

  /** The displaced files this agent keeps for a sync, for another agent to adopt. */
  holds(sync: string): Promise<string> {
    return this.#send({ op: 'holds', sync })
  }

  /** Keeps the displaced files agent `pid` listed in `holds`, before that agent ends. */
  adopt(sync: string, pid: number, holds: string): Promise<void> {
    if (holds === '') return Promise.resolve()
    return this.#void({ op: 'adopt', sync, pid, holds })
  }

  /** One round trip; resolves with its duration in ms. */
  async ping(): Promise<number> {
    const start = performance.now()
    await this.#send({ op: 'ping' })
    return performance.now() - start
  }

  /**
   * Sends a whole batch before reading any answer, and waits for all of them. Every operation
   * is attempted; if some fail, rejects with an AgentBatchError listing them (the others are
   * applied). If the channel dies, rejects with its AgentChannelError.
   */
  async apply(ops: readonly AgentOp[]): Promise<void> {
    const results: Promise<unknown>[] = []
    for (const op of ops) {
      results.push(this.#send(op))
      // Bound what sits in memory twice: wait for the pipe when its buffer is full.
      if (this.#child.stdin.writableNeedDrain && !this.closed) {
        await Promise.race([once(this.#child.stdin, 'drain'), this.#exited])
      }
    }
    const settled = await Promise.allSettled(results)
    const failures: AgentOpError[] = []
    for (const outcome of settled) {
      if (outcome.status === 'fulfilled') continue
      const reason: unknown = outcome.reason
      if (reason instanceof AgentOpError) failures.push(reason)
      else throw reason
    }
    if (failures.length) throw new AgentBatchError(failures, ops.length)
  }

  /**
   * Ends the channel: the agent answers what it has been sent, sees end of input and exits.
   * Kills it if it has not exited within `timeoutMs`.
   */
  close(timeoutMs = 10_000): Promise<void> {
    this.#closing ??= (async () => {
      this.#child.stdin.end()
      const timer = setTimeout(() => this.#child.kill(), timeoutMs)
      try {
        await this.#exited
      } finally {
        clearTimeout(timer)
      }
    })()
    return this.#closing
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  async #void(op: AgentOp): Promise<void> {
    await this.#send(op)
  }

  #send(op: AgentOp): Promise<string> {
    if (this.#error) return Promise.reject(this.#error)
    if (this.closed)
      return Promise.reject(new AgentChannelError(this.container, 'channel is closed'))
    let frame: Uint8Array[]
    const id = this.#nextId++
    try {
      frame = encode(id, op)
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)))
    }
    const promise = new Promise<string>((resolve, reject) => {
      this.#pending.set(id, { id, op, resolve, reject })
    })
    this.#watch()
    const stdin = this.#child.stdin
    // Requests of one tick leave in one write(2).
    if (!this.#corked) {
      this.#corked = true
      stdin.cork()
      process.nextTick(() => {
        this.#corked = false
        stdin.uncork()
      })
    }
    for (const part of frame) if (part.length) stdin.write(part)
    return promise
  }

  /** Every request has a deadline: a channel that goes quiet while requests wait is failed. */
  #watch(): void {
    if (this.#pending.size === 1) this.#heardAt = Date.now()
    if (this.#watchdog) return
    const stallMs = this.options.stallMs ?? 10_000
    this.#watchdog = setInterval(
      () => {
        if (this.#pending.size === 0) {
          clearInterval(this.#watchdog)
          this.#watchdog = undefined
          return
        }
        if (Date.now() - this.#heardAt < stallMs) return
        this.#fail(
          new AgentChannelError(
            this.container,
            `the agent did not answer within ${Math.round(stallMs / 1000)} s`,
            'is the sidecar paused or hung? (docker ps); dsync reconnects when it answers again',
          ),
        )
      },
      Math.min(1000, stallMs),
    )
    this.#watchdog.unref()
  }

  #onData(chunk: Buffer): void {
    this.#heardAt = Date.now()
    for (const message of this.#decoder.read(chunk)) {
      switch (message.kind) {
        case 'greeting':
          this.#onGreeting(message.line)
          break
        case 'invalid':
          return this.#protocolError(message.reason)
        case 'answer': {
          const { id, payload } = message
          const pending = this.#pending.get(id)
          if (!pending || this.#pending.keys().next().value !== id) {
            return this.#protocolError(`answer to unknown request ${id}`)
          }
          this.#pending.delete(id)
          if (message.ok) {
            pending.resolve(payload)
          } else {
            const { op } = pending
            const sync = 'sync' in op ? op.sync : undefined
            const path = 'path' in op ? op.path : undefined
            pending.reject(new AgentOpError(op.op, sync, path, payload))
          }
        }
      }
    }
  }

  #onGreeting(line: string): void {
    const greeting = parseGreeting(line)
    if (!greeting) return this.#protocolError(`unexpected greeting ${JSON.stringify(line)}`)
    if (greeting.protocol !== AGENT_PROTOCOL) {
      return this.#fail(
        new AgentChannelError(
          this.container,
          `the agent speaks protocol ${greeting.protocol}, this dsync speaks ${AGENT_PROTOCOL}`,
          'recreate the sidecar with this version of dsync (dsync compose up)',
        ),
      )
    }
    this.#decoder.acceptGreeting()
    this.#agentPid = greeting.pid
    this.#greeting?.resolve()
  }

  #protocolError(message: string): void {
    this.#fail(new AgentChannelError(this.container, `protocol error: ${message}`))
  }

  /** Ends the channel with an error: every waiting request rejects with it. */
  #fail(error: AgentChannelError): void {
    if (!this.#error && !this.#closed) {
      this.#error = error
      log.debug('%s: %s', this.container, error.message)
    }
    this.#child.kill()
  }

  #onExit(exitCode: number | undefined, signal: string | undefined, cause?: unknown): void {
    const deliberate = this.#closing !== undefined && this.#pending.size === 0
    if (!this.#error && !deliberate) {
      this.#error = agentExited(this.container, { exitCode, signal, cause, stderr: this.#stderr })
    }
    this.#closed = true
    clearInterval(this.#watchdog)
    this.#watchdog = undefined
    const error = this.#error ?? new AgentChannelError(this.container, 'channel is closed')
    for (const pending of this.#pending.values()) pending.reject(error)
    this.#pending.clear()
    this.#greeting?.reject(error)
    log.debug('%s: channel closed%s', this.container, this.#error ? `: ${this.#error.message}` : '')
    this.options.onClose?.(this.#error)
  }
}
