/**
 * The typed model of an `x-sync` block after loading and validation, and of the platform the
 * plan is made for. Everything here is plain data: the planner is a pure function of it.
 */

export const STRATEGIES = ['auto', 'native', 'rsync', 'unison', 'native_osx'] as const
export type StrategyName = (typeof STRATEGIES)[number]
/** A strategy after `auto` is resolved. */
export type ResolvedStrategy = Exclude<StrategyName, 'auto'>

export const EXCLUDE_TYPES = ['gitignore', 'name', 'path', 'regex'] as const
export type ExcludeType = (typeof EXCLUDE_TYPES)[number]

export type Prefer = 'host' | 'container' | 'newer'
export type InitialDirection = 'host' | 'two-way'

/** `owner: auto` (from the services' `user:`), or an explicit numeric uid and gid. */
export type Owner = { kind: 'auto' } | { kind: 'fixed'; uid: number; gid: number }

/** One sync, with defaults applied and `src` made absolute. */
export interface SyncSpec {
  name: string
  /** Absolute path of the host folder. */
  src: string
  /**
   * When `src` goes through a symlink: the absolute path before it is resolved (`src` is the
   * real folder), which is what compose's bind mounts of it name.
   */
  srcLink?: string
  /** The `src` as written by the user, for messages. */
  srcAsWritten: string
  strategy: StrategyName
  /** Explicit extra mounts of the sync volume: service name -> container path. */
  mounts: Record<string, string>
  owner: Owner | undefined
  prefer: Prefer
  initial: InitialDirection
  excludes: string[]
  excludesType: ExcludeType
  /** Extra arguments passed to the sync tool (rsync or unison). */
  args: string[]
  /** The file that declared this sync (for messages). */
  file: string
}

export interface SyncConfig {
  syncs: SyncSpec[]
  /** Sidecar image override (`x-sync.image`). */
  image: string | undefined
}

export type HostOs = 'linux' | 'darwin' | 'win32'

/** Where the plan runs: decides what `strategy: auto` means and what can work at all. */
export interface Platform {
  os: HostOs
  /** `local`: the engine sees this machine's files through bind mounts. */
  engine: 'local' | 'remote'
  /** Docker Desktop (a VM with slow bind mounts), where `auto` means `native_osx`. */
  desktop: boolean
  /** The engine's version (`docker info`), when it answered. */
  engineVersion?: string | undefined
}
