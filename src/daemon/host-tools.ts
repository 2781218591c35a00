/**
 * The programs each strategy runs on the host, checked by `up` before anything is created: a
 * missing rsync would otherwise pass the small batches (the agent) and fail at the first large
 * one with an rsync command line, for ever.
 */
import { accessSync, constants, statSync } from 'node:fs'
import path from 'node:path'
import type { ResolvedStrategy } from '../compose/types.js'
import { AbortError, ExitCode } from '../lib/errors.js'
import { run } from '../lib/exec.js'
import { MIN_UNISON, parseUnisonVersion, versionAtLeast } from '../strategies/unison-args.js'

export interface HostTool {
  program: string
  install: string
}

const RSYNC: HostTool = { program: 'rsync', install: 'apt-get install rsync / brew install rsync' }
const UNISON: HostTool = {
  program: 'unison',
  install: 'apt-get install unison / brew install unison',
}

/** One line per strategy: the tools its host side runs. */
const HOST_TOOLS: Record<ResolvedStrategy, readonly HostTool[]> = {
  native: [],
  native_osx: [],
  rsync: [RSYNC],
  unison: [UNISON],
}

/** Throws (exit 69) for the first tool these strategies need that is not on PATH. */
export function requireHostTools(
  strategies: Iterable<ResolvedStrategy>,
  env: NodeJS.ProcessEnv = process.env,
): void {
  const needed = new Set([...strategies].flatMap((strategy) => HOST_TOOLS[strategy]))
  for (const tool of needed) {
    if (!onPath(tool.program, env)) {
      throw new AbortError(
        `${tool.program} not found on this host`,
        `install it (${tool.install})`,
        ExitCode.unavailable,
      )
    }
  }
}

function onPath(program: string, env: NodeJS.ProcessEnv): boolean {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue
    const file = path.join(dir, program)
    try {
      accessSync(file, constants.X_OK)
      if (statSync(file).isFile()) return true
    } catch {
      // Not in this folder.
    }
  }
  return false
}

/**
 * The unison strategy needs unison 2.52 or later on the host (the sidecar has 2.52): older
 * releases speak a protocol that depends on the OCaml version they were built with.
 */
export async function requireUnison(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const result = await run('unison', ['-version'], { env, reject: false, timeoutMs: 10_000 })
  const version = parseUnisonVersion(result.stdout + result.stderr)
  if (version && versionAtLeast(version)) return
  const found = version ? `unison ${version.join('.')} found` : 'unison -version did not answer'
  throw new AbortError(
    `${found} on this host; the unison strategy needs unison ${MIN_UNISON.join('.')} or later`,
    `install it (${UNISON.install})`,
    ExitCode.unavailable,
  )
}
