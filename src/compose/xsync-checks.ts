/**
 * The checks of an `x-sync` block that its schema cannot express (the folders on disk, option
 * combinations, regexes, container paths), and where a sync's `src` resolves to.
 */
import { realpathSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import path from 'node:path'

import { isMap } from '../lib/objects.js'
import type { StrategyName, SyncConfig } from './types.js'
import type { AddIssue } from './xsync-issues.js'
import { formatKeyPath } from './xsync-key-path.js'

const ONE_WAY: readonly StrategyName[] = ['native', 'rsync']

const MAX_ID = 4294967294 // uid_t is 32 bits and -1 means "unchanged" to chown(2)

/** Checks the schema cannot express: the filesystem, option combinations, regexes, paths. */
export function semanticIssues(root: unknown, projectDir: string, add: AddIssue): void {
  if (!isMap(root)) return
  const defaults = isMap(root.defaults) ? root.defaults : {}
  const reported = new Set<string>()
  const addOnce = (
    segments: readonly (string | number)[],
    message: string,
    suggestion?: string,
  ): void => {
    const key = `${formatKeyPath(segments)} ${message}`
    if (reported.has(key)) return
    reported.add(key)
    add(segments, message, suggestion)
  }
  checkOwner(defaults.owner, ['defaults', 'owner'], add)
  if (!isMap(root.syncs)) return
  for (const [name, sync] of Object.entries(root.syncs)) {
    if (!isMap(sync)) continue
    const at = (...rest: (string | number)[]): (string | number)[] => ['syncs', name, ...rest]
    if (typeof sync.src === 'string' && sync.src !== '')
      checkSrc(sync.src, projectDir, at('src'), add)
    checkOwner(sync.owner, at('owner'), add)

    const strategy = pick(sync, defaults, 'strategy')
    if (typeof strategy === 'string' && ONE_WAY.includes(strategy as StrategyName)) {
      for (const key of ['prefer', 'initial'] as const) {
        if (sync[key] === undefined) continue
        add(
          at(key),
          `applies only to two-way strategies (unison, native_osx), not to "${strategy}"`,
          `remove it or use strategy unison`,
        )
      }
    }

    if (pick(sync, defaults, 'excludes_type') === 'regex') {
      const own = sync.excludes !== undefined
      const excludes = own ? sync.excludes : defaults.excludes
      const listPath = own ? at('excludes') : ['defaults', 'excludes']
      if (Array.isArray(excludes)) {
        for (const pattern of excludes) {
          if (typeof pattern !== 'string') continue
          const problem = regexProblem(pattern)
          if (problem) {
            addOnce(
              listPath,
              `exclude ${JSON.stringify(pattern)} is not a valid regular expression (${problem})`,
              'fix it, or use excludes_type: gitignore for glob patterns',
            )
          }
        }
      }
    }

    if (isMap(sync.mounts)) {
      for (const [service, target] of Object.entries(sync.mounts)) {
        if (typeof target !== 'string' || target === '') continue
        if (!target.startsWith('/')) {
          add(
            at('mounts', service),
            `container path ${JSON.stringify(target)} is not absolute`,
            `did you mean "/${target.replace(/^\.?\/*/, '')}"?`,
          )
        } else if (path.posix.normalize(target) === '/') {
          add(at('mounts', service), 'cannot mount over the container root "/"', 'pick a folder')
        }
      }
    }
  }
}

function pick(
  sync: Record<string, unknown>,
  defaults: Record<string, unknown>,
  key: string,
): unknown {
  return sync[key] !== undefined ? sync[key] : defaults[key]
}

function checkSrc(
  src: string,
  projectDir: string,
  segments: (string | number)[],
  add: AddIssue,
): void {
  const resolved = resolveSrc(src, projectDir)
  let isDirectory: boolean
  try {
    isDirectory = statSync(resolved).isDirectory()
  } catch {
    add(
      segments,
      `folder ${JSON.stringify(src)} does not exist (resolved to ${resolved})`,
      'create it or fix the path (relative to the project directory)',
      true,
    )
    return
  }
  if (!isDirectory) {
    add(
      segments,
      `${JSON.stringify(src)} is a file, not a folder (resolved to ${resolved})`,
      'point src at the folder that contains it',
    )
    return
  }
  // A symlink to a folder is followed (the sync works on the real folder); what it points at is
  // what is checked.
  const real = realSrc(resolved)
  if (real === '/') {
    add(
      segments,
      `${JSON.stringify(src)} is the root folder "/": dsync would copy the whole machine into a volume`,
      'point src at the folder of your code',
    )
  } else if (real === realSrc(homedir())) {
    add(
      segments,
      `${JSON.stringify(src)} is your home folder (${real}): dsync would copy all of it into a volume`,
      'point src at the folder of your code',
    )
  }
}

/** The path with symlinks resolved; the path itself if that fails. */
export function realSrc(p: string): string {
  try {
    return realpathSync(p)
  } catch {
    return p
  }
}

/**
 * One warning line per sync whose folder is outside the project folder: legal, but often a
 * `../` too many, and everything in it ends up in the volume.
 */
export function srcWarnings(config: SyncConfig, projectDir: string): string[] {
  const project = realSrc(projectDir)
  return config.syncs.flatMap((sync) => {
    const rel = path.relative(project, sync.src)
    if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) return []
    return [
      `${sync.file}: x-sync.syncs.${sync.name}.src: ${JSON.stringify(sync.srcAsWritten)} is outside the project folder (${sync.src}); check the path if that is not what you meant`,
    ]
  })
}

function checkOwner(owner: unknown, segments: (string | number)[], add: AddIssue): void {
  if (typeof owner !== 'string') return
  const match = /^([0-9]+):([0-9]+)$/.exec(owner)
  if (!match) return // the schema reports the format
  for (const [label, id] of [
    ['uid', match[1]],
    ['gid', match[2]],
  ] as const) {
    if (Number(id) > MAX_ID) add(segments, `${label} ${id} is out of range (0 to ${MAX_ID})`)
  }
}

function regexProblem(pattern: string): string | undefined {
  try {
    new RegExp(pattern)
    return undefined
  } catch (error) {
    // V8 says "Invalid regular expression: /*.log/: Nothing to repeat"; keep the reason.
    const message = error instanceof Error ? error.message : String(error)
    return message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '')
  }
}

export function resolveSrc(src: string, projectDir: string): string {
  // Compose expands `~` in bind mount sources; a sync src should read the same way.
  const expanded = src === '~' || src.startsWith('~/') ? path.join(homedir(), src.slice(1)) : src
  return path.resolve(projectDir, expanded)
}
