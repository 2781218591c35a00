/**
 * The host side of the wire protocol of dsync-agent, the program in the sync sidecar: the
 * operations, the request frames they are encoded into, and the decoding of the agent's greeting
 * and answers. The protocol is written down once, in the header of images/sync/dsync-agent;
 * this module follows it byte for byte.
 */
import { AbortError } from '../lib/errors.js'

/** The protocol version this side speaks; the agent names its own in its greeting. */
export const AGENT_PROTOCOL = 1

/** The agent's command inside the sidecar image. */
export const AGENT_COMMAND = 'dsync-agent'

/** Writes a file beside its target and renames it over it, as the agent's header tells. */
export interface AgentWriteOp {
  op: 'write'
  sync: string
  path: string
  data: Uint8Array | string
  /** Permission bits; default 0o644. */
  mode?: number
  /** Modification time in ms since the epoch (sub-millisecond fractions are kept). */
  mtimeMs?: number
}

export interface AgentMkdirOp {
  op: 'mkdir'
  sync: string
  /** `''` is the sync root itself. */
  path: string
  /** Permission bits; default 0o755. */
  mode?: number
  mtimeMs?: number
}

/** Creates a symlink, replacing whatever is at the path. */
export interface AgentSymlinkOp {
  op: 'symlink'
  sync: string
  path: string
  target: string
}

/** Removes a file, a symlink or a whole tree; an absent path is success. */
export interface AgentRemoveOp {
  op: 'remove'
  sync: string
  path: string
}

/**
 * Removes a file or a symlink, or a folder only if it is empty (answering `kept` otherwise): what
 * a one-way sync deletes, so that files the container wrote in a folder survive it.
 */
export interface AgentPruneOp {
  op: 'prune'
  sync: string
  path: string
}

/** From now on, the sync root and every entry created or written get this owner. */
export interface AgentSetOwnerOp {
  op: 'setOwner'
  sync: string
  uid: number
  gid: number
  /** Also chown everything already in the volume. */
  recursive?: boolean
}

/** Creates the sidecar's health marker `/run/dsync/ready`. */
export interface AgentReadyOp {
  op: 'ready'
}

export interface AgentUnreadyOp {
  op: 'unready'
}

export interface AgentPingOp {
  op: 'ping'
}

/** Answers with the sync's manifest (see parseVolumeManifest in manifest.ts). */
export interface AgentListOp {
  op: 'list'
  sync: string
}

/** Opens the files at these paths before another writer (rsync) replaces them. */
export interface AgentHoldOp {
  op: 'hold' | 'settle'
  sync: string
  paths: readonly string[]
}

/** Answers with the displaced files this agent keeps, in the form `adopt` takes. */
export interface AgentHoldsOp {
  op: 'holds'
  sync: string
}

/** Takes over the displaced files another agent keeps (the answer of its `holds`). */
export interface AgentAdoptOp {
  op: 'adopt'
  sync: string
  pid: number
  holds: string
}

export type AgentOp =
  | AgentHoldOp
  | AgentHoldsOp
  | AgentAdoptOp
  | AgentWriteOp
  | AgentMkdirOp
  | AgentSymlinkOp
  | AgentRemoveOp
  | AgentPruneOp
  | AgentSetOwnerOp
  | AgentReadyOp
  | AgentUnreadyOp
  | AgentPingOp
  | AgentListOp

export type AgentOpName = AgentOp['op']

const SYNC_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/

/** The frame of one request: header, path bytes, data bytes. */
export function encode(id: number, op: AgentOp): Uint8Array[] {
  const none = Buffer.alloc(0)
  switch (op.op) {
    case 'write': {
      const data = typeof op.data === 'string' ? Buffer.from(op.data, 'utf8') : op.data
      return frame(id, 'write', op.sync, op.path, data, [mode(op.mode), mtime(op.mtimeMs)])
    }
    case 'mkdir':
      return frame(id, 'mkdir', op.sync, op.path, none, [mode(op.mode), mtime(op.mtimeMs)])
    case 'symlink':
      return frame(id, 'symlink', op.sync, op.path, Buffer.from(op.target, 'utf8'), [])
    case 'remove':
    case 'prune':
      return frame(id, op.op, op.sync, op.path, none, [])
    case 'setOwner':
      return frame(id, 'setowner', op.sync, '', none, [
        ownerId(op.uid),
        ownerId(op.gid),
        op.recursive ? '1' : '0',
      ])
    case 'list':
    case 'holds':
      return frame(id, op.op, op.sync, '', none, [])
    case 'hold':
    case 'settle':
      return frame(id, op.op, op.sync, '', nulList(op.paths), [])
    case 'adopt':
      if (!Number.isInteger(op.pid) || op.pid <= 0) throw new RangeError(`invalid pid ${op.pid}`)
      return frame(id, 'adopt', op.sync, '', Buffer.from(op.holds, 'utf8'), [String(op.pid)])
    case 'ready':
    case 'unready':
    case 'ping':
      return frame(id, op.op, undefined, '', none, [])
  }
}

function frame(
  id: number,
  op: string,
  sync: string | undefined,
  path: string,
  data: Uint8Array,
  args: string[],
): Uint8Array[] {
  // The sync name travels in the header: it must not break the framing.
  if (sync !== undefined && !SYNC_NAME.test(sync)) {
    throw new AbortError(`invalid sync name ${JSON.stringify(sync)}`, 'use letters, digits, _ . -')
  }
  const pathBytes = Buffer.from(path, 'utf8')
  const header = [id, op, sync ?? '-', pathBytes.length, data.length, ...args].join(' ') + '\n'
  return [Buffer.from(header, 'latin1'), pathBytes, data]
}

function nulList(paths: readonly string[]): Buffer {
  return Buffer.from(paths.map((p) => `${p}\0`).join(''), 'utf8')
}

function mode(value: number | undefined): string {
  if (value === undefined) return '-'
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`invalid file mode ${value}`)
  return (value & 0o7777).toString(8)
}

/**
 * Milliseconds to `<sec>.<nsec>`. A double holds today's epoch milliseconds to about 0.2 us,
 * as `fs.Stats.mtimeMs` does, so the time is rounded to the microsecond: the digits below
 * are noise (1600000000123.456 is stored as ...123.4560546875).
 */
function mtime(ms: number | undefined): string {
  if (ms === undefined) return '-'
  if (!Number.isFinite(ms)) throw new RangeError(`invalid mtime ${ms}`)
  let sec = Math.floor(ms / 1000)
  let usec = Math.round((ms - sec * 1000) * 1000)
  if (usec >= 1e6) {
    sec += 1
    usec -= 1e6
  }
  return `${sec}.${String(usec).padStart(6, '0')}000`
}

function ownerId(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`invalid uid or gid ${value}`)
  }
  return String(value)
}

const HEADER_LIMIT = 64 * 1024

/** What the agent sends: its greeting line, an answer, or bytes that break the protocol. */
export type AgentMessage =
  | { kind: 'greeting'; line: string }
  | { kind: 'answer'; id: number; ok: boolean; payload: string }
  | { kind: 'invalid'; reason: string }

/** The agent's greeting line, or undefined when the line is not one. */
export function parseGreeting(line: string): { protocol: number; pid: number } | undefined {
  const match = /^dsync-agent (\d+) (\d+)$/.exec(line)
  return match ? { protocol: Number(match[1]), pid: Number(match[2]) } : undefined
}

/** Cuts what the agent writes into messages. */
export class AgentDecoder {
  #input: Buffer = Buffer.alloc(0)
  #chunks: Buffer[] = []
  #chunkBytes = 0
  #awaiting = 0
  #greeted = false

  /** The reader accepted the greeting: from now on every line is an answer's header. */
  acceptGreeting(): void {
    this.#greeted = true
  }

  /**
   * The messages this chunk completes. After an `invalid` message nothing more is read; a
   * reader that stops early leaves the rest of the input for the next call.
   */
  *read(chunk: Buffer): Generator<AgentMessage, void, undefined> {
    // A large answer (a manifest) arrives in many chunks: gather them until it is complete
    // instead of copying the growing buffer on every chunk.
    if (this.#awaiting > 0) {
      this.#chunks.push(chunk)
      this.#chunkBytes += chunk.length
      if (this.#chunkBytes < this.#awaiting) return
      chunk = Buffer.concat(this.#chunks)
      this.#chunks = []
      this.#chunkBytes = 0
      this.#awaiting = 0
      this.#input = chunk
    } else {
      this.#input = this.#input.length ? Buffer.concat([this.#input, chunk]) : chunk
    }
    for (;;) {
      const nl = this.#input.indexOf(10)
      if (nl < 0) {
        if (this.#input.length > HEADER_LIMIT) {
          yield { kind: 'invalid', reason: 'response header too long' }
        }
        return
      }
      const header = this.#input.toString('latin1', 0, nl)
      if (!this.#greeted) {
        this.#input = this.#input.subarray(nl + 1)
        yield { kind: 'greeting', line: header }
        continue
      }
      const match = /^(\d+) (ok|err) (\d+)$/.exec(header)
      if (!match) {
        yield { kind: 'invalid', reason: `bad response header ${JSON.stringify(header)}` }
        return
      }
      const id = Number(match[1])
      const length = Number(match[3])
      if (this.#input.length < nl + 1 + length) {
        if (length > 1 << 20) {
          this.#chunks = [this.#input]
          this.#chunkBytes = this.#input.length
          this.#awaiting = nl + 1 + length
          this.#input = Buffer.alloc(0)
        }
        return
      }
      const payload = this.#input.toString('utf8', nl + 1, nl + 1 + length)
      this.#input = this.#input.subarray(nl + 1 + length)
      if (id === 0) {
        yield { kind: 'invalid', reason: `the agent refused a request: ${payload}` }
        return
      }
      yield { kind: 'answer', id, ok: match[2] === 'ok', payload }
    }
  }
}
