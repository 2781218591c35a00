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
import { createHash } from 'node:crypto'
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
import { deepestFirst, SyncRecord } from './record.js'
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
  /** What the last batch wrote through the agent, by content (small files only). */
  private readonly sentHashes = new Map<string, string>()

  constructor(
    readonly target: SyncTarget,
    private readonly sidecar: Sidecar,
    /** What this sync has put in the volume: the only entries it ever deletes there. */
    readonly record: SyncRecord = SyncRecord.inMemory(),
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
    await assertSourceExists(target.src)
    const [host, volume] = await Promise.all([
      walkHost(target.src, this.matcher),
      this.volumeManifest(),
    ])
    const { record } = this
    const diff = diffManifests(host.entries, volume, {
      matcher: this.matcher,
      owner: target.owner,
      owned: (rel) => record.has(rel),
    })
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
    const { kept, unreadable } = await this.apply(diff.upserts, diff.removals, volume, progress)
    // Everything on the host is in the volume now (or could not be read, which does no harm
    // here), and so are the folders kept for the container's files in them.
    record.replace([...host.entries.keys(), ...kept])
    progress.done()
    return {
      kind: 'full',
      changed: diff.upserts.length + diff.removals.length - kept.length - unreadable.length,
      bytes,
      prunedDirs: host.prunedDirs,
      unreadable: [...host.unreadable, ...unreadable],
    }
  }

  async syncPaths(paths: ReadonlySet<string>, created: ReadonlySet<string>): Promise<PassResult> {
    const { target } = this
    const upserts = new Map<string, Entry>()
    const removals = new Set<string>()
    const signatures = new Map<string, Signature>()
    this.sentHashes.clear()
    const unreadable: string[] = []
    for (const rel of [...paths].sort(compareDepth)) {
      // The signature first: taken after the entry, it could describe a later state of the file
      // than the one sent, and that state would then be skipped.
      const signature = await fileSignature(path.join(target.src, rel))
      const entry = await statEntry(target.src, rel)
      if (excludedWithParents(this.matcher, rel, entry?.type === 'd')) continue
      if (!entry) {
        // Only what the sync put there goes; the container's own files stay.
        for (const owned of this.record.under(rel)) removals.add(owned)
        this.sent.delete(rel)
        continue
      }
      if (entry.type === 'f' && signature !== undefined) {
        const previous = this.sent.get(rel)
        if (previous === signature.sig) continue
        // Sent within a clock tick of its change: equal stamps prove nothing, equal content does.
        if (previous?.startsWith(`racy:${signature.sig}:`) && entry.size <= HASH_MAX) {
          const now = await readFile(path.join(target.src, rel)).catch(() => undefined)
          if (now && previous === `racy:${signature.sig}:${sha1(now)}`) continue
        }
        signatures.set(rel, signature)
      } else {
        this.sent.delete(rel)
      }
      upserts.set(rel, entry)
      if (entry.type === 'd' && created.has(rel)) {
        // A folder moved or created with contents may not report every file in it.
        const inside = await walkHost(target.src, this.matcher, rel)
        for (const [r, e] of inside.entries) upserts.set(r, e)
        unreadable.push(...inside.unreadable)
      }
    }
    const list = [...upserts.values()].sort((a, b) => compareDepth(a.rel, b.rel))
    const prunes = [...removals].filter((rel) => !upserts.has(rel)).sort(deepestFirst)
    const applied = await this.apply(list, prunes, undefined, progressReporter(target.name))
    const skipped = new Set(applied.unreadable)
    for (const [rel, signature] of signatures) {
      if (skipped.has(rel)) continue
      const hash = this.sentHashes.get(rel)
      if (!signature.racy) this.sent.set(rel, signature.sig)
      else if (hash) this.sent.set(rel, `racy:${signature.sig}:${hash}`)
      else this.sent.delete(rel)
    }
    this.sentHashes.clear()
    return {
      kind: 'paths',
      changed: list.length + prunes.length,
      bytes: list.reduce((n, e) => n + (e.type === 'f' ? e.size : 0), 0),
      unreadable: [...unreadable, ...applied.unreadable],
    }
  }

  /**
   * Removals first (and entries whose type changed), then new trees by tar, then the rest.
   * Resolves with the folders kept because the container's files are in them, and the files
   * that could not be read on the host (skipped: the rest is synced all the same).
   */
  private async apply(
    upserts: Entry[],
    prunes: string[],
    volume: Manifest | undefined,
    progress: ProgressReporter,
  ): Promise<{ kept: string[]; unreadable: string[] }> {
    const { name } = this.target
    const agent = await this.agent()
    const typeChanged = volume
      ? upserts.filter((e) => {
          const v = volume.get(e.rel)
          return v !== undefined && v.type !== e.type
        })
      : []
    // The host replaced a file by a folder or the reverse: the host's entry wins.
    if (typeChanged.length > 0) {
      await agent.apply(typeChanged.map((e) => ({ op: 'remove', sync: name, path: e.rel })))
    }
    const kept = prunes.length > 0 ? await agent.prune(name, prunes) : []
    const keptSet = new Set(kept)
    this.record.remove(prunes.filter((rel) => !keptSet.has(rel)))
    // Recorded before they are written: a pass cut short leaves a record that is too large,
    // which is harmless, never one that forgets a file of the sync's.
    this.record.add(upserts.map((e) => e.rel))

    let rest = upserts
    const unreadable: string[] = []
    if (volume) {
      const fresh = upserts.filter((e) => !volume.has(e.rel) || typeChanged.includes(e))
      if (fresh.length >= TAR_MIN_ENTRIES) {
        unreadable.push(...(await this.tar(fresh, progress)))
        const sent = new Set(fresh)
        rest = upserts.filter((e) => !sent.has(e))
      }
    }
    if (rest.length === 0) return { kept, unreadable }
    const files = rest.filter((e) => e.type === 'f')
    const bytes = files.reduce((n, e) => n + e.size, 0)
    if (
      files.length <= AGENT_MAX_FILES &&
      bytes <= AGENT_MAX_BYTES &&
      files.every((e) => e.size <= AGENT_MAX_FILE)
    ) {
      unreadable.push(...(await this.viaAgent(rest, progress)))
    } else {
      unreadable.push(...(await this.rsync(rest, progress)))
    }
    return { kept, unreadable }
  }

  /** Resolves with the files that could not be read (skipped). */
  private async viaAgent(entries: Entry[], progress: ProgressReporter): Promise<string[]> {
    const { name, src } = this.target
    const agent = await this.agent()
    const ops: AgentOp[] = []
    const unreadable: string[] = []
    // Read in order but a few at a time: the thread pool overlaps the reads.
    const contents = await mapLimit(entries, 16, async (e) => {
      if (e.type !== 'f') return undefined
      try {
        return await readFile(path.join(src, e.rel))
      } catch (error) {
        // Gone, or turned into a folder, since it was listed: the watcher reports it again.
        if (isGone(error) || (error as { code?: string }).code === 'EISDIR') return null
        if (isUnreadable(error)) {
          unreadable.push(e.rel)
          return null
        }
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
          if (data.length <= HASH_MAX) this.sentHashes.set(e.rel, sha1(data))
          progress.advance(1, data.length)
          break
        }
      }
    })
    await agent.apply(ops)
    return unreadable
  }

  /**
   * rsync with the exact list of paths; `-I` because the list is known to differ. Resolves with
   * the files rsync could not read (skipped).
   */
  private async rsync(entries: Entry[], progress: ProgressReporter): Promise<string[]> {
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
      // A paused or hung sidecar must not hold the sync for ever.
      '--timeout=30',
      '--out-format=%n',
      '-e',
      'docker exec -i',
      ...target.args,
      `${target.src}/`,
      `${sidecar.container}:${target.sidecarPath}/`,
    ]
    // `./` first: rsync reads a --files-from line that starts with `#` or `;` as a comment, even
    // with --from0, and would skip a top-level `#notes/` without a word.
    const list = entries.map((e) => `./${e.rel}`).join('\0') + '\0'
    const sizes = new Map(entries.map((e) => [e.rel, e.type === 'f' ? e.size : 0]))
    // rsync renames each file over the old one: the agent keeps the old ones open, so that a
    // watch on them in the app container still sees this and later changes.
    const files = entries.filter((e) => e.type === 'f').map((e) => e.rel)
    const agent = await this.agent()
    await agent.hold(target.name, files)
    try {
      return await this.runRsync(args, list, sizes, progress)
    } finally {
      await agent.settle(target.name, files)
    }
  }

  private async runRsync(
    args: string[],
    list: string,
    sizes: Map<string, number>,
    progress: ProgressReporter,
  ): Promise<string[]> {
    const child = spawn('rsync', args, { env: this.sidecar.env })
    child.stdin?.end(list)
    let buffered = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8')
      let nl: number
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const rel = buffered.slice(0, nl).replace(/^\.\//, '').replace(/\/$/, '')
        buffered = buffered.slice(nl + 1)
        progress.advance(1, sizes.get(rel) ?? 0)
      }
    })
    const stderr = new LineTail()
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk))
    const result = await child
    // 24: some files vanished before they could be sent; their deletion is another event.
    if (result.exitCode === 0 || result.exitCode === 24) return []
    const { unreadable, vanished, other } = rsyncFailures(stderr.lines(), this.target.src)
    // 23 with nothing but files it could not open (skipped) or that changed into something
    // else meanwhile (the watcher reports them again): the rest is synced.
    if (result.exitCode === 23 && other.length === 0 && unreadable.length + vanished.length > 0)
      return unreadable
    throw new ExternalError(
      describeCommand('rsync', args),
      result.exitCode,
      // rsync's last line is only "some files could not be transferred (see previous errors)":
      // the lines naming the files are the ones worth reading.
      (other.length > 0 ? other : stderr.lines()).slice(-5).join('\n'),
    )
  }

  /**
   * One tar stream of new entries (parents first), owner and nanosecond mtimes kept. Resolves
   * with the files tar could not read (skipped).
   */
  private async tar(entries: Entry[], progress: ProgressReporter): Promise<string[]> {
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
    // A paused or hung sidecar must not hold the sync for ever: no byte for 30 s ends both.
    let movedAt = Date.now()
    const stall = setInterval(() => {
      if (Date.now() - movedAt < 30_000) return
      producer.kill('SIGKILL')
      consumer.kill('SIGKILL')
    }, 1000)
    stall.unref()
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        movedAt = Date.now()
        progress.bytes(chunk.length)
        done(null, chunk)
      },
    })
    const producerErr = new LineTail()
    let consumerErr = ''
    producer.stderr?.on('data', (c: Buffer) => producerErr.push(c))
    consumer.stderr?.on(
      'data',
      (c: Buffer) => (consumerErr = (consumerErr + c.toString()).slice(-4000)),
    )
    if (!producer.stdout || !consumer.stdin) throw new Error('tar pipes are missing')
    const piping = pipeline(producer.stdout, counter, consumer.stdin)
    let made, taken
    try {
      ;[made, taken] = await Promise.all([producer, consumer, piping])
    } finally {
      clearInterval(stall)
    }
    // tar exits 1 when a file changed while it was read: the watcher sends it again.
    if ((made.exitCode ?? 1) > 1) {
      throw new ExternalError(
        describeCommand('tar', createArgs),
        made.exitCode,
        producerErr.lines().slice(-5).join('\n'),
      )
    }
    if (taken.exitCode !== 0) {
      throw new ExternalError(describeCommand('docker', extractArgs), taken.exitCode, consumerErr)
    }
    progress.advance(entries.length, 0)
    // --ignore-failed-read: tar warns and goes on; those files are not in the volume.
    return tarUnreadable(producerErr.lines())
  }

  private async volumeManifest(): Promise<Manifest> {
    const agent = await this.agent()
    return parseVolumeManifest(await agent.list(this.target.name))
  }
}

/** The host folder must exist: a pass over a missing one would empty the volume. */
async function assertSourceExists(src: string): Promise<void> {
  try {
    if ((await lstat(src)).isDirectory()) return
  } catch (error) {
    if (!isGone(error)) throw error
  }
  throw new SourceMissingError(src)
}

/** The sync's host folder is gone (deleted, or being replaced): nothing is synced until it is back. */
export class SourceMissingError extends Error {
  constructor(readonly src: string) {
    super(`the host folder ${src} is missing; syncing resumes when it is back`)
  }
}

/** A read refused by permissions: that file is skipped and reported, the rest goes on. */
export function isUnreadable(error: unknown): boolean {
  const code = (error as { code?: string }).code
  return code === 'EACCES' || code === 'EPERM'
}

/**
 * rsync's error lines, split into files it could not open for reading (relative to src) and
 * everything else. `rsync: [sender] send_files failed to open "/src/x": Permission denied (13)`
 * (3.2) and `rsync: send_files failed to open "/src/x": Permission denied (13)` (3.1).
 */
export function rsyncFailures(
  lines: readonly string[],
  src: string,
): { unreadable: string[]; vanished: string[]; other: string[] } {
  const unreadable: string[] = []
  const vanished: string[] = []
  const other: string[] = []
  const root = src.endsWith('/') ? src : `${src}/`
  for (const line of lines) {
    const open =
      /failed to open "(.*)": (?:Permission denied|Operation not permitted) \(\d+\)/.exec(line)
    const opendir = /opendir "(.*)" failed: (?:Permission denied|Operation not permitted)/.exec(
      line,
    )
    const file = open?.[1] ?? opendir?.[1]
    // A listed path deleted, or turned into a folder, before rsync reached it.
    const gone =
      /(?:link_stat|failed to open|read errors mapping) "(.*)"(?: failed)?: (?:No such file or directory|Not a directory|Is a directory)/.exec(
        line,
      )
    if (file !== undefined) {
      unreadable.push(file.startsWith(root) ? file.slice(root.length) : file)
    } else if (gone?.[1] !== undefined) {
      vanished.push(gone[1].startsWith(root) ? gone[1].slice(root.length) : gone[1])
    } else if (/^rsync(: | error:)/.test(line) && !/see previous errors/.test(line)) {
      other.push(line)
    }
  }
  return { unreadable, vanished, other }
}

/** `tar: x: Cannot open: Permission denied` (with --ignore-failed-read: a warning). */
export function tarUnreadable(lines: readonly string[]): string[] {
  const out: string[] = []
  for (const line of lines) {
    const m =
      /^tar: (.*): Cannot (?:open|read|opendir|savedir): (?:Permission denied|Operation not permitted)$/.exec(
        line,
      )
    if (m?.[1] !== undefined) out.push(m[1])
  }
  return out
}

/** The last lines a child wrote (bounded), split on newlines. */
class LineTail {
  private text = ''
  push(chunk: Buffer): void {
    this.text = (this.text + chunk.toString('utf8')).slice(-64 * 1024)
  }
  lines(): string[] {
    return this.text
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
  }
}

/**
 * Inode, size, mtime and ctime in nanoseconds, taken before anything else of the file is read:
 * equal only if nothing changed the file since (ctime changes on every write, and when a tool
 * restores the mtime too).
 */
async function fileSignature(file: string): Promise<Signature | undefined> {
  try {
    const s = await lstat(file, { bigint: true })
    // The kernel stamps times from a coarse clock (one tick, up to 10 ms): a second write of
    // the same size within that tick leaves every field equal. A signature taken that soon
    // after the last change proves nothing by itself ("racy git"): see syncPaths.
    const ageMs = Date.now() - Number(s.ctimeNs / 1_000_000n)
    return { sig: `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`, racy: ageMs < RACY_MS }
  } catch {
    return undefined
  }
}

interface Signature {
  sig: string
  racy: boolean
}

function sha1(data: Uint8Array): string {
  return createHash('sha1').update(data).digest('hex')
}

/** Changes younger than this may share their timestamps with a later one (see fileSignature). */
const RACY_MS = 30
/** Racy files up to this size are compared by content instead (see syncPaths). */
const HASH_MAX = 1024 * 1024

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
