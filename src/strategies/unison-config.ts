/**
 * native_osx, the pure part: what the sidecar's two-way worker (images/sync/dsync-unison) is
 * told about a sync, and what it reports back. The planner puts the configuration in the
 * sidecar's environment (one variable per sync), so the sidecar syncs on its own from its
 * start; `dsync status` reads the report with `docker exec`.
 *
 * Excludes become unison `-ignore` patterns, so that they apply both ways, with the same
 * meaning as for rsync (see excludes.ts) where unison can say it:
 * - gitignore: a pattern without a slash is a `Name` (any depth), one with a slash a `Path`
 *   from the root, one with `**` a `Regex`; `!` becomes `-ignorenot`. A trailing slash (folders
 *   only) cannot be said to unison: the pattern also matches files of that name.
 * - name: `Name`, literally; path: `Path`, literally; regex: `Regex`, which unison matches
 *   against the whole path, so an unanchored expression is wrapped in `.*`.
 */
import type { UidGid } from '../compose/plan.js'
import type { ExcludeType, InitialDirection, Prefer } from '../compose/types.js'

/** The sidecar variable that holds a sync's configuration: `DSYNC_UNISON_<name>`. */
export const UNISON_ENV_PREFIX = 'DSYNC_UNISON_'

export interface UnisonRules {
  ignore: string[]
  ignorenot: string[]
  /**
   * Folders the worker's watcher need not watch at all (names at any depth, paths from the
   * root): only plain ones, and none when a rule re-includes something.
   */
  prune: { names: string[]; paths: string[] }
}

/** The unison patterns of a sync's excludes. */
export function unisonRules(excludes: readonly string[], type: ExcludeType): UnisonRules {
  const ignore: string[] = []
  const ignorenot: string[] = []
  const names: string[] = []
  const paths: string[] = []
  for (const raw of excludes) {
    if (raw.includes('\n')) continue
    switch (type) {
      case 'gitignore': {
        const rule = gitignoreRule(raw)
        if (!rule) break
        ;(rule.negate ? ignorenot : ignore).push(rule.pattern)
        if (!rule.negate && rule.plainName !== undefined) names.push(rule.plainName)
        if (!rule.negate && rule.plainPath !== undefined) paths.push(rule.plainPath)
        break
      }
      case 'name':
        if (raw === '' || raw.includes('/')) break
        ignore.push(`Name ${escapeGlob(raw)}`)
        names.push(raw)
        break
      case 'path': {
        const p = raw.replace(/^\/+|\/+$/g, '')
        if (p === '') break
        ignore.push(`Path ${escapeGlob(p)}`)
        paths.push(p)
        break
      }
      case 'regex':
        if (raw === '') break
        ignore.push(`Regex ${wholePathRegex(raw)}`)
        break
    }
  }
  const prune = ignorenot.length > 0 ? { names: [], paths: [] } : { names, paths }
  return { ignore, ignorenot, prune }
}

interface GitignoreRule {
  negate: boolean
  pattern: string
  /** Set when the rule is a plain name (no glob), for pruning. */
  plainName?: string
  plainPath?: string
}

function gitignoreRule(line: string): GitignoreRule | undefined {
  // Trailing spaces are ignored unless escaped.
  let p = line.replace(/(?<!\\) +$/, '')
  if (p === '' || p.startsWith('#')) return undefined
  const negate = p.startsWith('!')
  if (negate) p = p.slice(1)
  if (p.startsWith('\\#') || p.startsWith('\\!')) p = p.slice(1)
  // Folders only: unison cannot say it; the pattern matches files of that name too.
  p = p.replace(/\/+$/, '')
  if (p === '') return undefined
  let anchored = p.includes('/')
  p = p.replace(/^\/+/, '')
  while (p.startsWith('**/')) {
    p = p.slice(3)
    anchored = p.includes('/')
  }
  // `dir/**` is what is inside dir; unison ignoring dir itself has the same effect on files.
  if (p.endsWith('/**')) p = p.slice(0, -3)
  if (p === '' || p === '**') return { negate, pattern: 'Regex .*' }
  const plain = !/[*?[\]\\]/.test(p)
  if (p.includes('**')) return { negate, pattern: `Regex ${globRegex(p, anchored)}` }
  if (!anchored) {
    return { negate, pattern: `Name ${keepGlob(p)}`, ...(plain ? { plainName: p } : {}) }
  }
  return { negate, pattern: `Path ${keepGlob(p)}`, ...(plain ? { plainPath: p } : {}) }
}

/** A gitignore glob for unison: `*`, `?`, `[...]` and `\` escapes mean the same; braces do not. */
function keepGlob(glob: string): string {
  return glob.replace(/[{}]/g, '\\$&')
}

/** A literal name or path for unison's globs. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]{}\\,]/g, '\\$&')
}

/** A gitignore glob with `**` as a regular expression over the whole path. */
function globRegex(glob: string, anchored: boolean): string {
  let out = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string
    if (glob.startsWith('**/', i)) {
      out += '(.*/)?'
      i += 2
    } else if (glob.startsWith('/**', i) && i + 3 === glob.length) {
      out += '(/.*)?'
      i += 2
    } else if (glob.startsWith('**', i)) {
      out += '.*'
      i += 1
    } else if (c === '*') {
      out += '[^/]*'
    } else if (c === '?') {
      out += '[^/]'
    } else if (c === '[') {
      const end = glob.indexOf(']', i + 2)
      if (end < 0) {
        out += '\\['
      } else {
        out += glob.slice(i, end + 1).replace(/^\[!/, '[^')
        i = end
      }
    } else if (c === '\\' && i + 1 < glob.length) {
      out += escapeRegex(glob[i + 1] as string)
      i += 1
    } else {
      out += escapeRegex(c)
    }
  }
  return anchored ? out : `(.*/)?${out}`
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** unison matches a `Regex` against the whole path; excludes.ts searches anywhere in it. */
function wholePathRegex(regex: string): string {
  let body = regex
  let start = '.*'
  let end = '.*'
  if (body.startsWith('^')) {
    body = body.slice(1)
    start = ''
  }
  if (body.endsWith('$') && !body.endsWith('\\$')) {
    body = body.slice(0, -1)
    end = ''
  }
  return `${start}(${body})${end}`
}

/**
 * inotifywait's `--exclude` (a POSIX extended regular expression on the full path) for the
 * folders the rules prune, under both roots; undefined when nothing is pruned.
 */
export function pruneExpression(
  roots: readonly string[],
  prune: UnisonRules['prune'],
): string | undefined {
  if (prune.names.length === 0 && prune.paths.length === 0) return undefined
  const alternatives = [
    ...(prune.names.length > 0 ? [`(.*/)?(${prune.names.map(escapeEre).join('|')})`] : []),
    ...prune.paths.map(escapeEre),
  ]
  return `^(${roots.map(escapeEre).join('|')})/(${alternatives.join('|')})(/|$)`
}

function escapeEre(text: string): string {
  return text.replace(/[.[\]()*+?{}|^$\\]/g, '\\$&')
}

export interface WorkerConfigInput {
  name: string
  /** The host folder's mount point in the sidecar, e.g. /host/app. */
  hostPath: string
  /** The volume's mount point in the sidecar, e.g. /sync/app. */
  volumePath: string
  /** The host folder as the user knows it, for messages. */
  src: string
  owner: UidGid
  prefer: Prefer
  initial: InitialDirection
  excludes: readonly string[]
  excludesType: ExcludeType
  args: readonly string[]
}

/** The worker's configuration: one `key value` per line (see images/sync/dsync-unison). */
export function workerConfig(input: WorkerConfigInput): string {
  const rules = unisonRules(input.excludes, input.excludesType)
  const prune = pruneExpression([input.hostPath, input.volumePath], rules.prune)
  const lines = [
    `host ${input.hostPath}`,
    `volume ${input.volumePath}`,
    `src ${input.src.replace(/\n/g, ' ')}`,
    `owner ${input.owner.uid}:${input.owner.gid}`,
    `prefer ${input.prefer}`,
    `initial ${input.initial}`,
    ...(prune ? [`prune ${prune}`] : []),
    ...rules.ignore.map((p) => `ignore ${p}`),
    ...rules.ignorenot.map((p) => `ignorenot ${p}`),
    ...input.args.filter((a) => !a.includes('\n')).map((a) => `arg ${a}`),
  ]
  return lines.join('\n') + '\n'
}

export type TwoWayState = 'starting' | 'initial-sync' | 'watching' | 'syncing' | 'halted' | 'error'

export interface TwoWayConflict {
  /** ISO time. */
  at: string
  /** The path, relative to the sync's root. */
  path: string
  /** The side whose version was kept and synced. */
  kept: 'host' | 'container'
  /** Where the losing version is kept (relative to the root), on `copySide`; none for a deletion or a change of permissions. */
  copy: string | undefined
  copySide: 'host' | 'container' | undefined
}

/** What the sidecar's worker of one native_osx sync reports. */
export interface TwoWayStatus {
  state: TwoWayState
  /** The worker process itself (dsync-entrypoint starts it again when it ends). */
  worker: 'alive' | 'down'
  /** Why the sync halted (a mass deletion), with what to do. */
  halt: string | undefined
  error: string | undefined
  /** unison runs, and items they transferred (both ways), since the worker started. */
  runs: number
  transferred: number
  /** ISO time of the last completed pass, and how long it took. */
  lastRun: string | undefined
  lastLatencyMs: number | undefined
  /** Restarts of the worker, its watcher or unison, with the last cause. */
  restarts: number
  lastRestart: { at: string; cause: string } | undefined
  conflictCount: number
  /** The latest conflicts (20 at most). */
  conflicts: TwoWayConflict[]
}

const STATES: readonly TwoWayState[] = [
  'starting',
  'initial-sync',
  'watching',
  'syncing',
  'halted',
  'error',
]

/** Parses `dsync-unison status NAME...`: a block per sync, each starting with `sync<TAB>NAME`. */
export function parseWorkerStatus(text: string): Map<string, TwoWayStatus> {
  const out = new Map<string, TwoWayStatus>()
  let current: TwoWayStatus | undefined
  let lastRestartAt: string | undefined
  for (const line of text.split('\n')) {
    const tab = line.indexOf('\t')
    if (tab < 0) continue
    const key = line.slice(0, tab)
    const value = line.slice(tab + 1)
    if (key === 'sync') {
      current = emptyStatus()
      lastRestartAt = undefined
      out.set(value, current)
      continue
    }
    if (!current) continue
    switch (key) {
      case 'state':
        current.state = STATES.includes(value as TwoWayState) ? (value as TwoWayState) : 'error'
        break
      case 'worker':
        current.worker = value === 'alive' ? 'alive' : 'down'
        break
      case 'halt':
        current.halt = value || undefined
        break
      case 'error':
        current.error = value || undefined
        break
      case 'runs':
      case 'transferred':
      case 'restarts':
        current[key] = toCount(value)
        break
      case 'conflicts':
        current.conflictCount = toCount(value)
        break
      case 'lastRun':
        current.lastRun = value || undefined
        break
      case 'lastLatencyMs':
        current.lastLatencyMs = value === '' ? undefined : toCount(value)
        break
      case 'lastRestartAt':
        lastRestartAt = value
        if (current.lastRestart) current.lastRestart.at = value
        break
      case 'lastRestart':
        current.lastRestart = { at: lastRestartAt ?? '', cause: value }
        break
      case 'conflict': {
        const [at = '', path = '', kept = '', copy = '-', copySide = '-'] = value.split('\t')
        current.conflicts.push({
          at,
          path,
          kept: kept === 'container' ? 'container' : 'host',
          copy: copy === '-' ? undefined : copy,
          copySide: copySide === 'host' || copySide === 'container' ? copySide : undefined,
        })
        break
      }
    }
  }
  return out
}

/** A two-way sync's figures before its first run. */
export function emptyStatus(): TwoWayStatus {
  return {
    state: 'starting',
    worker: 'down',
    halt: undefined,
    error: undefined,
    runs: 0,
    transferred: 0,
    lastRun: undefined,
    lastLatencyMs: undefined,
    restarts: 0,
    lastRestart: undefined,
    conflictCount: 0,
    conflicts: [],
  }
}

function toCount(value: string): number {
  const n = Number(value)
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : 0
}
