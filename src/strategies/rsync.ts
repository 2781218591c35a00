/**
 * The rsync strategy, host -> volume. How each kind of work moves:
 * - a handful of changed paths (the common case, an editor saving a file): through the agent
 *   channel that stays open into the sidecar, one round trip for the whole batch;
 * - many files or many bytes: rsync over `docker exec -i` with the exact list of paths;
 * - many new files at once (the first sync into an empty volume): one tar stream over
 *   `docker exec -i`, the fastest transport there is;
 * - deletions: through the agent.
 * A full pass compares a manifest of the host with one of the volume and applies the difference
 * with the above, so a pass with nothing changed transfers nothing.
 */
import { lstat, readFile } from 'node:fs/promises'
import path from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { ExternalError } from '../lib/errors.js'
import { describeCommand } from '../lib/exec.js'
import { spawn } from '../lib/spawn.js'
import { logger } from '../lib/log.js'
import type { PassProgress } from '../daemon/status.js'
import type { AgentChannel, AgentOp } from './agent.js'
import { excludeMatcher, excludedWithParents, type ExcludeMatcher } from './excludes.js'
import {
  compareDepth,
  diffManifests,
  isGone,
  parseVolumeManifest,
  statEntry,
  walkHost,
  type Entry,
  type Manifest,
} from './manifest.js'
import type { PassResult, Sidecar, SyncStrategy, SyncTarget } from './types.js'

const log = logger('dsync:sync:rsync')

/** Above these, a batch goes through rsync instead of the agent. */
const AGENT_MAX_FILES = 2000
const AGENT_MAX_BYTES = 64 * 1024 * 1024
const AGENT_MAX_FILE = 8 * 1024 * 1024
/** From this many new entries on, a tar stream beats everything else. */
const TAR_MIN_ENTRIES = 200

export class RsyncStrategy implements SyncStrategy {
  readonly matcher: ExcludeMatcher
  private ownerTold: AgentChannel | undefined
  /**
   * The host file as path batches last sent it (see fileSignature). The watcher often reports
   * one save twice (@parcel/watcher delivers the first event after a quiet spell at once, the
   * rest of the save 50 ms later): the second time the file is unchanged and is not written
   * again, so a watcher in the app container sees one change per save, not two.
   */
  private readonly sent = new Map<string, string>()

  constructor(
    readonly target: SyncTarget,
    private readonly sidecar: Sidecar,
  ) {
    this.matcher = excludeMatcher(target.excludes, target.excludesType)
  }

  /**
   * The agent channel, told this sync's owner: the owner is the agent process's state, so every
   * new channel (a reconnect, another process) hears it before its first write.
   */
  private async agent(): Promise<AgentChannel> {
    const agent = await this.sidecar.agent()
    if (this.ownerTold !== agent) {
      const { name, owner } = this.target
      await agent.setOwner(name, owner.uid, owner.gid)
      this.ownerTold = agent
    }
    return agent
  }

  async fullPass(onProgress?: (p: PassProgress) => void): Promise<PassResult> {
    const { target } = this
    const progress = progressReporter(target.name, onProgress)
    progress.scan()
    // A full pass starts from what the volume holds, not from what was sent.
    this.sent.clear()
    await this.agent()
    const [host, volume] = await Promise.all([
      walkHost(target.src, this.matcher),
      this.volumeManifest(),
    ])
    const diff = diffManifests(host.entries, volume, { matcher: this.matcher, owner: target.owner })
    const bytes = diff.upserts.reduce((n, e) => n + (e.type === 'f' ? e.size : 0), 0)
    progress.start(diff.upserts.length, bytes)
    log.debug(
      '%s: full pass: %d on host, %d in volume, %d to write, %d to remove',
      target.name,
      host.entries.size,
      volume.size,
      diff.upserts.length,
      diff.removals.length,
    )
    await this.apply(diff.upserts, diff.removals, volume, progress)
    progress.done()
    return {
      kind: 'full',
      changed: diff.upserts.length + diff.removals.length,
      bytes,
      prunedDirs: host.prunedDirs,
    }
  }

  async syncPaths(paths: ReadonlySet<string>, created: ReadonlySet<string>): Promise<PassResult> {
    const { target } = this
    const upserts = new Map<string, Entry>()
    const removals: string[] = []
    const signatures = new Map<string, string>()
    for (const rel of [...paths].sort(compareDepth)) {
      // The signature first: taken after the entry, it could describe a later state of the file
      // than the one sent, and that state would then be skipped.
      const signature = await fileSignature(path.join(target.src, rel))
      const entry = await statEntry(target.src, rel)
      if (excludedWithParents(this.matcher, rel, entry?.type === 'd')) continue
      if (!entry) {
        removals.push(rel)
        this.sent.delete(rel)
        continue
      }
      if (entry.type === 'f' && signature !== undefined) {
        if (this.sent.get(rel) === signature) continue
        signatures.set(rel, signature)
      }
      upserts.set(rel, entry)
      if (entry.type === 'd' && created.has(rel)) {
        // A folder moved or created with contents may not report every file in it.
        const inside = await walkHost(target.src, this.matcher, rel)
        for (const [r, e] of inside.entries) upserts.set(r, e)
      }
    }
    const list = [...upserts.values()].sort((a, b) => compareDepth(a.rel, b.rel))
    await this.apply(list, removals, undefined, progressReporter(target.name))
    for (const [rel, signature] of signatures) this.sent.set(rel, signature)
    return {
      kind: 'paths',
      changed: list.length + removals.length,
      bytes: list.reduce((n, e) => n + (e.type === 'f' ? e.size : 0), 0),
    }
  }

  /** Removals first (and entries whose type changed), then new trees by tar, then the rest. */
  private async apply(
    upserts: Entry[],
    removals: string[],
    volume: Manifest | undefined,
    progress: ProgressReporter,
  ): Promise<void> {
    const { name } = this.target
    const agent = await this.agent()
    const typeChanged = volume
      ? upserts.filter((e) => {
          const v = volume.get(e.rel)
          return v !== undefined && v.type !== e.type
        })
      : []
    const removeOps: AgentOp[] = [...removals, ...typeChanged.map((e) => e.rel)].map((rel) => ({
      op: 'remove',
      sync: name,
      path: rel,
    }))
    if (removeOps.length > 0) await agent.apply(removeOps)

    let rest = upserts
    if (volume) {
      const fresh = upserts.filter((e) => !volume.has(e.rel) || typeChanged.includes(e))
      if (fresh.length >= TAR_MIN_ENTRIES) {
        await this.tar(fresh, progress)
        const sent = new Set(fresh)
        rest = upserts.filter((e) => !sent.has(e))
      }
    }
    if (rest.length === 0) return
    const files = rest.filter((e) => e.type === 'f')
    const bytes = files.reduce((n, e) => n + e.size, 0)
    if (
      files.length <= AGENT_MAX_FILES &&
      bytes <= AGENT_MAX_BYTES &&
      files.every((e) => e.size <= AGENT_MAX_FILE)
    ) {
      await this.viaAgent(rest, progress)
    } else {
      await this.rsync(rest, progress)
    }
  }

  private async viaAgent(entries: Entry[], progress: ProgressReporter): Promise<void> {
    const { name, src } = this.target
    const agent = await this.agent()
    const ops: AgentOp[] = []
    // Read in order but a few at a time: the thread pool overlaps the reads.
    const contents = await mapLimit(entries, 16, async (e) => {
      if (e.type !== 'f') return undefined
      try {
        return await readFile(path.join(src, e.rel))
      } catch (error) {
        if (isGone(error)) return null
        throw error
      }
    })
    entries.forEach((e, i) => {
      const mtimeMs = e.mtimeMs
      switch (e.type) {
        case 'd':
          ops.push({ op: 'mkdir', sync: name, path: e.rel, mode: e.mode, mtimeMs })
          break
        case 'l':
          ops.push({ op: 'symlink', sync: name, path: e.rel, target: e.target ?? '' })
          break
        case 'f': {
          const data = contents[i]
          // Gone since it was listed: its deletion is another event.
          if (data === null || data === undefined) break
          ops.push({ op: 'write', sync: name, path: e.rel, data, mode: e.mode, mtimeMs })
          progress.advance(1, data.length)
          break
        }
      }
    })
    await agent.apply(ops)
  }

  /** rsync with the exact list of paths; `-I` because the list is known to differ. */
  private async rsync(entries: Entry[], progress: ProgressReporter): Promise<void> {
    const { target, sidecar } = this
    const args = [
      '-a',
      '-W',
      '-I',
      // The arguments travel in the protocol, not on the remote command line: rsync 3.2.4+
      // backslash-escapes that line for a remote shell, and `docker exec` runs none, so the
      // sidecar's rsync took --chown's `*` map literally and kept the host's owner.
      '--protect-args',
      '--numeric-ids',
      `--chown=${target.owner.uid}:${target.owner.gid}`,
      '--modify-window=-1',
      '--from0',
      '--files-from=-',
      '--blocking-io',
      '--out-format=%n',
      '-e',
      'docker exec -i',
      ...target.args,
      `${target.src}/`,
      `${sidecar.container}:${target.sidecarPath}/`,
    ]
    const list = entries.map((e) => e.rel).join('\0') + '\0'
    const sizes = new Map(entries.map((e) => [e.rel, e.type === 'f' ? e.size : 0]))
    // rsync renames each file over the old one: the agent keeps the old ones open, so that a
    // watch on them in the app container still sees this and later changes.
    const files = entries.filter((e) => e.type === 'f').map((e) => e.rel)
    const agent = await this.agent()
    await agent.hold(target.name, files)
    try {
      await this.runRsync(args, list, sizes, progress)
    } finally {
      await agent.settle(target.name, files)
    }
  }

  private async runRsync(
    args: string[],
    list: string,
    sizes: Map<string, number>,
    progress: ProgressReporter,
  ): Promise<void> {
    const child = spawn('rsync', args, { env: this.sidecar.env })
    child.stdin?.end(list)
    let buffered = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8')
      let nl: number
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const rel = buffered.slice(0, nl).replace(/\/$/, '')
        buffered = buffered.slice(nl + 1)
        progress.advance(1, sizes.get(rel) ?? 0)
      }
    })
    let stderr = ''
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4000)
    })
    const result = await child
    // 24: some files vanished before they could be sent; their deletion is another event.
    if (result.exitCode !== 0 && result.exitCode !== 24) {
      throw new ExternalError(describeCommand('rsync', args), result.exitCode, stderr)
    }
  }

  /** One tar stream of new entries (parents first), owner and nanosecond mtimes kept. */
  private async tar(entries: Entry[], progress: ProgressReporter): Promise<void> {
    const { target, sidecar } = this
    const createArgs = [
      '-c',
      '--format=posix',
      '--pax-option=delete=atime,delete=ctime',
      '--numeric-owner',
      `--owner=${target.owner.uid}`,
      `--group=${target.owner.gid}`,
      '--no-recursion',
      '--null',
      '--ignore-failed-read',
      '-C',
      target.src,
      '-T',
      '-',
    ]
    const extractArgs = [
      'exec',
      '-i',
      sidecar.container,
      'tar',
      '-x',
      '-p',
      '--numeric-owner',
      '-C',
      target.sidecarPath,
      '-f',
      '-',
    ]
    const producer = spawn('tar', createArgs, { env: sidecar.env })
    const consumer = spawn('docker', extractArgs, { env: sidecar.env, stdout: 'ignore' })
    producer.stdin?.end(entries.map((e) => e.rel).join('\0') + '\0')
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        progress.bytes(chunk.length)
        done(null, chunk)
      },
    })
    let producerErr = ''
    let consumerErr = ''
    producer.stderr?.on(
      'data',
      (c: Buffer) => (producerErr = (producerErr + c.toString()).slice(-4000)),
    )
    consumer.stderr?.on(
      'data',
      (c: Buffer) => (consumerErr = (consumerErr + c.toString()).slice(-4000)),
    )
    if (!producer.stdout || !consumer.stdin) throw new Error('tar pipes are missing')
    const piping = pipeline(producer.stdout, counter, consumer.stdin)
    const [made, taken] = await Promise.all([producer, consumer, piping])
    // tar exits 1 when a file changed while it was read: the watcher sends it again.
    if ((made.exitCode ?? 1) > 1) {
      throw new ExternalError(describeCommand('tar', createArgs), made.exitCode, producerErr)
    }
    if (taken.exitCode !== 0) {
      throw new ExternalError(describeCommand('docker', extractArgs), taken.exitCode, consumerErr)
    }
    progress.advance(entries.length, 0)
  }

  private async volumeManifest(): Promise<Manifest> {
    const agent = await this.agent()
    return parseVolumeManifest(await agent.list(this.target.name))
  }
}

/**
 * Inode, size, mtime and ctime in nanoseconds, taken before anything else of the file is read:
 * equal only if nothing changed the file since (ctime changes on every write, and when a tool
 * restores the mtime too).
 */
async function fileSignature(file: string): Promise<string | undefined> {
  try {
    const s = await lstat(file, { bigint: true })
    return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`
  } catch {
    return undefined
  }
}

async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length)
  let index = 0
  const lane = async () => {
    while (index < items.length) {
      const i = index++
      out[i] = await fn(items[i] as T)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane))
  return out
}

interface ProgressReporter {
  scan(): void
  start(files: number, bytes: number): void
  advance(files: number, bytes: number): void
  bytes(bytes: number): void
  done(): void
}

function progressReporter(sync: string, onProgress?: (p: PassProgress) => void): ProgressReporter {
  const state: PassProgress = {
    sync,
    phase: 'scan',
    files: 0,
    totalFiles: 0,
    bytes: 0,
    totalBytes: 0,
  }
  let last = 0
  const emit = (force = false) => {
    if (!onProgress) return
    const now = Date.now()
    if (!force && now - last < 100) return
    last = now
    onProgress({ ...state })
  }
  return {
    scan: () => emit(true),
    start(files, bytes) {
      state.phase = 'transfer'
      state.totalFiles = files
      state.totalBytes = bytes
      emit(true)
    },
    advance(files, bytes) {
      state.files = Math.min(state.totalFiles, state.files + files)
      state.bytes = Math.min(state.totalBytes, state.bytes + bytes)
      emit()
    },
    bytes(bytes) {
      state.bytes = Math.min(state.totalBytes, state.bytes + bytes)
      emit()
    },
    done() {
      state.phase = 'done'
      state.files = state.totalFiles
      state.bytes = state.totalBytes
      emit(true)
    },
  }
}
