/**
 * The unison strategy, the pure part: the command line of one run between the host folder and
 * the volume (reached through `docker exec -i` as unison's ssh command), what a run printed,
 * and what the sidecar's watcher (`inotifywait -m -r`) streams back.
 */
import type { UidGid } from '../compose/plan.js'
import type { ExcludeType, InitialDirection, Prefer } from '../compose/types.js'
import { pruneExpression, unisonRules } from './unison-config.js'

/** unison 2.52 is the first release whose wire protocol does not depend on the OCaml version. */
export const MIN_UNISON: readonly [number, number] = [2, 52]

/** The host name unison's archives are named after, fixed on each side so they are found again. */
export const CLIENT_HOSTNAME = 'dsync-host'
export const SERVER_HOSTNAME = 'dsync-sidecar'

/**
 * The copies `-copyonconflict` keeps of a losing version: `name (conflict_on_DATE).ext`, then
 * `name (conflict #1_on_DATE).ext`. They stay on the side where they were made.
 */
export const CONFLICT_COPY_IGNORES = ['Name *(conflict_on_*)*', 'Name *(conflict #*_on_*)*']

export interface UnisonRunInput {
  /** Absolute host folder. */
  src: string
  /** The volume's path in the sidecar. */
  sidecarPath: string
  /** The ssh command script (see sshScript). */
  sshcmd: string
  prefer: Prefer
  excludes: readonly string[]
  excludesType: ExcludeType
  args: readonly string[]
  /** Paths relative to the root; undefined for a whole run. */
  paths?: readonly string[]
  /** The run may propagate the emptying of a side (`dsync sync NAME --accept-deletions`). */
  acceptDeletions?: boolean
  /** The first run of `initial: host`: the volume becomes the host's copy; what it replaces is kept in this folder of the volume. */
  replaceInto?: string
}

export function remoteRoot(sidecarPath: string): string {
  // An absolute path follows the host's slash: ssh://dsync//sync/app.
  return `ssh://dsync/${sidecarPath}`
}

/** The arguments of `unison` for one run. */
export function unisonArgs(input: UnisonRunInput): string[] {
  const host = input.src
  const remote = remoteRoot(input.sidecarPath)
  const rules = unisonRules(input.excludes, input.excludesType)
  const paths = input.paths
  const whole = paths === undefined
  const decide = input.replaceInto
    ? [
        '-force',
        host,
        '-backup',
        'Name *',
        '-backuploc',
        'central',
        '-backupdir',
        input.replaceInto,
      ]
    : [
        '-prefer',
        input.prefer === 'host' ? host : input.prefer === 'container' ? remote : 'newer',
        '-copyonconflict',
      ]
  return [
    host,
    remote,
    '-sshcmd',
    input.sshcmd,
    '-batch',
    '-dumbtty',
    '-ui',
    'text',
    '-log=false',
    '-times',
    '-contactquietly',
    // A path run compares content, so an edit that keeps the size and the second is seen; a
    // whole run trusts size, time and inode, as reading every file would be slow.
    `-fastcheck=${whole ? 'true' : 'false'}`,
    // unison's own guard against a side emptied; it takes each -path for a root and would refuse
    // every deleted path, so path runs are guarded by the strategy (a batch with many deletions
    // becomes a whole run).
    `-confirmbigdel=${whole && !input.acceptDeletions ? 'true' : 'false'}`,
    ...decide,
    '-ignore',
    'Path .dsync',
    ...CONFLICT_COPY_IGNORES.flatMap((p) => ['-ignore', p]),
    '-ignore',
    'Name .unison.*.unison.tmp',
    ...rules.ignore.flatMap((p) => ['-ignore', p]),
    ...rules.ignorenot.flatMap((p) => ['-ignorenot', p]),
    ...input.args,
    ...(paths ?? []).flatMap((p) => ['-path', p]),
  ]
}

/**
 * unison's ssh command: it ignores the host, user and command unison passes and runs the
 * server in the sidecar (named by DSYNC_SIDECAR at each run, as a recreated sidecar has a new
 * id) as the sync's owner, with its archive on the volume.
 */
export function sshScript(sidecarPath: string, owner: UidGid): string {
  const archive = `${sidecarPath}/.dsync/unison`
  return [
    '#!/bin/sh',
    '# unison reaches the sync volume through docker exec; the arguments it passes are ignored.',
    `exec docker exec -i -u ${owner.uid}:${owner.gid} -e UNISON=${shQuote(archive)} -e UNISONLOCALHOSTNAME=${SERVER_HOSTNAME} "$DSYNC_SIDECAR" unison -server`,
    '',
  ].join('\n')
}

function shQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`
}

/** `unison -version`: `unison version 2.52.1 (ocaml 4.13.1)`. */
export function parseUnisonVersion(text: string): [number, number, number] | undefined {
  const m = /version (\d+)\.(\d+)(?:\.(\d+))?/.exec(text)
  if (!m) return undefined
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)]
}

export function versionAtLeast(
  version: readonly number[],
  min: readonly number[] = MIN_UNISON,
): boolean {
  for (let i = 0; i < min.length; i++) {
    const a = version[i] ?? 0
    const b = min[i] ?? 0
    if (a !== b) return a > b
  }
  return true
}

export interface UnisonConflict {
  path: string
  /** The side whose version was kept. */
  kept: 'host' | 'container'
  /** The losing side deleted the path: nothing of it to keep. */
  loserDeleted: boolean
}

export interface RunOutput {
  transferred: number
  skipped: number
  failed: number
  conflicts: UnisonConflict[]
  /** unison refused to propagate the emptying of a side (-confirmbigdel). */
  emptied: boolean
  /** The first line that says what went wrong. */
  error: string | undefined
}

/**
 * What a run printed: its summary, the conflicts a preference decided (`<====` / `====>` in the
 * reconciliation listing, both sides changed), and why it stopped.
 */
export function parseRunOutput(text: string): RunOutput {
  const out: RunOutput = {
    transferred: 0,
    skipped: 0,
    failed: 0,
    conflicts: [],
    emptied: false,
    error: undefined,
  }
  for (const raw of text.split(/\r?\n|\r/)) {
    const line = raw.replace(/\s+$/, '')
    const summary = /\((\d+) items? transferred, (\d+) skipped, (\d+) failed\)/.exec(line)
    if (summary) {
      out.transferred += Number(summary[1])
      out.skipped += Number(summary[2])
      out.failed += Number(summary[3])
      continue
    }
    if (/completely emptied/.test(line)) {
      out.emptied = true
      continue
    }
    const item = /^(.{8}) (<====|====>) (.{8})\s+(.+)$/.exec(line)
    if (item) {
      const left = (item[1] ?? '').trim()
      const right = (item[3] ?? '').trim()
      if (left === '' || right === '') continue
      const kept = item[2] === '====>' ? 'host' : 'container'
      out.conflicts.push({
        path: (item[4] ?? '').trim(),
        kept,
        loserDeleted: (kept === 'host' ? right : left) === 'deleted',
      })
      continue
    }
    if (out.error === undefined && /^(Fatal error|Error|.*failed:)/i.test(line)) {
      out.error = line
    }
  }
  return out
}

/** The name unison gives the first copy of a losing version made on `date` (YYYY-MM-DD). */
export function conflictCopyName(path: string, date: string): string {
  const slash = path.lastIndexOf('/')
  const dir = path.slice(0, slash + 1)
  const base = path.slice(slash + 1)
  const dot = base.lastIndexOf('.')
  const [stem, ext] = dot > 0 ? [base.slice(0, dot), base.slice(dot)] : [base, '']
  return `${dir}${stem} (conflict_on_${date})${ext}`
}

/** The sidecar's watcher of the volume: `inotifywait` arguments. */
export function volumeWatchArgs(
  sidecarPath: string,
  excludes: readonly string[],
  excludesType: ExcludeType,
): string[] {
  const rules = unisonRules(excludes, excludesType)
  const root = sidecarPath.replace(/[.[\]()*+?{}|^$\\]/g, '\\$&')
  const own = `^${root}/\\.dsync(/|$)|\\(conflict( #[0-9]+)?_on_[^/]*$|/\\.unison\\.[^/]*$`
  const prune = pruneExpression([sidecarPath], rules.prune)
  // docker exec's client going away does not end the process in the container: each watcher
  // ends the one it replaces.
  const pidFile = `/tmp/dsync-watch${sidecarPath.replace(/[^A-Za-z0-9_.-]/g, '_')}.pid`
  return [
    'sh',
    '-c',
    `f=${pidFile}; [ -f $f ] && kill $(cat $f) 2>/dev/null; echo $$ > $f; exec "$@"`,
    'sh',
    'inotifywait',
    '-m',
    '-r',
    '-e',
    'create,delete,modify,attrib,close_write,moved_from,moved_to',
    '--format',
    '%e%0%w%f%0',
    '--no-newline',
    '--exclude',
    prune ? `${own}|${prune}` : own,
    '--',
    sidecarPath,
  ]
}

export interface VolumeEvent {
  rel: string
  deleted: boolean
  /** The kernel's queue overflowed: events were lost. */
  overflow: boolean
}

/**
 * Splits inotifywait's `EVENTS\0PATH\0` records; returns the events and the unparsed rest.
 */
export function parseVolumeEvents(
  buffer: string,
  root: string,
): { events: VolumeEvent[]; rest: string } {
  const events: VolumeEvent[] = []
  const parts = buffer.split('\0')
  let used = 0
  // A record is complete once both of its NULs arrived.
  const complete = Math.floor((parts.length - 1) / 2)
  for (let r = 0; r < complete; r++) {
    const flags = parts[2 * r] ?? ''
    const full = parts[2 * r + 1] ?? ''
    used += flags.length + full.length + 2
    if (flags.includes('Q_OVERFLOW')) {
      events.push({ rel: '', deleted: false, overflow: true })
      continue
    }
    let rel: string
    if (full === root || full === `${root}/`) rel = ''
    else if (full.startsWith(`${root}/`)) rel = full.slice(root.length + 1).replace(/\/+$/, '')
    else continue
    if (rel === '') continue
    events.push({
      rel,
      deleted: /(^|,)(DELETE|MOVED_FROM)(,|$)/.test(flags),
      overflow: false,
    })
  }
  return { events, rest: buffer.slice(used) }
}

/** Keeps only the paths none of whose parents is in the set: unison syncs a path with all under it. */
export function collapsePaths(paths: Iterable<string>): string[] {
  const set = new Set(paths)
  const out: string[] = []
  for (const p of [...set].sort()) {
    const parts = p.split('/')
    let covered = false
    for (let i = 1; i < parts.length; i++) {
      if (set.has(parts.slice(0, i).join('/'))) {
        covered = true
        break
      }
    }
    if (!covered) out.push(p)
  }
  return out
}

/** The configuration of a unison sync that is not in SyncTarget's common fields. */
export interface UnisonOptions {
  prefer: Prefer
  initial: InitialDirection
}
