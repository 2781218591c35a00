/**
 * The native_osx strategy, two-way: unison runs inside the sidecar, between a bind mount of the
 * host folder and the volume, supervised there (images/sync/dsync-entrypoint and
 * dsync-unison), so files move without the daemon. The daemon's part is small: a full pass is
 * "wait until the sidecar's worker is quiet (what it has seen is synced and no more events are
 * on their way), then until a whole unison pass found nothing left" (`dsync-unison flush`),
 * which is what `up` waits for before the app starts, and what `dsync flush` and `dsync sync`
 * mean. The daemon watches nothing for it: the worker's own wait is what keeps a flush's
 * verifying pass from counting a burst still being synced as missed.
 */
import { lstat } from 'node:fs/promises'
import { AbortError, DsyncError, ExitCode, ExternalError } from '../lib/errors.js'
import { describeCommand, run } from '../lib/exec.js'
import { logger } from '../lib/log.js'
import type { PassProgress } from '../daemon/status.js'
import type { ExcludeMatcher } from './excludes.js'
import { SourceMissingError } from './rsync.js'
import type { PassResult, Sidecar, SyncStrategy, SyncTarget } from './types.js'
import { parseWorkerStatus, type TwoWayStatus } from './unison-config.js'

const log = logger('dsync:sync:native_osx')

/** The worker's command in the sidecar image. */
export const WORKER_COMMAND = 'dsync-unison'
/** How long a pass may take (the first one copies the whole tree). */
const PASS_TIMEOUT_S = 3600

/** The sync stopped at a mass deletion; the reason says what to do. */
export class SyncHaltedError extends DsyncError {
  constructor(
    readonly sync: string,
    readonly reason: string,
  ) {
    super(`halted: ${reason}`, ExitCode.tempFail)
  }
}

export class NativeOsxStrategy implements SyncStrategy {
  /** The sidecar watches both sides: nothing is the daemon's to sync. */
  readonly matcher: ExcludeMatcher = { excluded: () => true }

  constructor(
    readonly target: SyncTarget,
    private readonly sidecar: Pick<Sidecar, 'container' | 'env'>,
  ) {}

  async fullPass(onProgress?: (p: PassProgress) => void): Promise<PassResult> {
    const { name, src } = this.target
    const progress = (phase: PassProgress['phase']) =>
      onProgress?.({ sync: name, phase, files: 0, totalFiles: 0, bytes: 0, totalBytes: 0 })
    progress('scan')
    // A missing folder is bind-mounted as an empty one: the worker would halt, for a reason
    // that says less than this.
    try {
      if (!(await lstat(src)).isDirectory()) throw new SourceMissingError(src)
    } catch (error) {
      if (error instanceof SourceMissingError) throw error
      throw new SourceMissingError(src)
    }
    const changed = await workerRequest(this.sidecar, 'flush', name)
    progress('done')
    return { kind: 'full', changed, bytes: 0 }
  }

  /** The sidecar's watcher has these changes already. */
  syncPaths(): Promise<PassResult> {
    return Promise.resolve({ kind: 'paths', changed: 0, bytes: 0 })
  }
}

/**
 * `dsync-unison flush|accept NAME` in the sidecar. flush resolves with the items the verifying
 * pass transferred; accept with 1 when a halted deletion was accepted, 0 when there was none.
 */
export async function workerRequest(
  sidecar: Pick<Sidecar, 'container' | 'env'>,
  kind: 'flush' | 'accept',
  name: string,
): Promise<number> {
  const args = ['exec', sidecar.container, WORKER_COMMAND, kind, name, String(PASS_TIMEOUT_S)]
  const result = await run('docker', args, { env: sidecar.env, reject: false })
  const answer = result.stdout.trim().split('\n').at(-1) ?? ''
  log.debug('%s %s: %s', kind, name, answer)
  if (result.exitCode === 0 && answer.startsWith('ok')) {
    if (kind === 'accept') return answer === 'ok accepted' ? 1 : 0
    return Number(answer.slice(3)) || 0
  }
  if (result.exitCode === 3 && answer.startsWith('halted ')) {
    throw new SyncHaltedError(name, answer.slice('halted '.length))
  }
  if (/no native_osx sync named/.test(result.stderr)) {
    throw new AbortError(
      `the sidecar has no native_osx sync named "${name}"`,
      'recreate it with this configuration: dsync compose up',
      ExitCode.tempFail,
    )
  }
  throw new ExternalError(
    describeCommand('docker', args),
    result.exitCode,
    (answer.replace(/^error /, '') || result.stderr.trim()).slice(-2000),
  )
}

/** What the sidecar's workers of these syncs report; an empty map when it cannot be asked. */
export async function twoWayStatus(
  container: string,
  names: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<Map<string, TwoWayStatus>> {
  if (names.length === 0 || !container) return new Map()
  const result = await run('docker', ['exec', container, WORKER_COMMAND, 'status', ...names], {
    env,
    reject: false,
    timeoutMs: 10_000,
  })
  if (result.exitCode !== 0) {
    log.debug('status of %s: %s', names.join(', '), result.stderr.trim())
    return new Map()
  }
  return parseWorkerStatus(result.stdout)
}
