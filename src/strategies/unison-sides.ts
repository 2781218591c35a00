/**
 * The unison strategy's two sides as seen from the host: the set-up of the sidecar's side
 * before the first run into it (the ssh script, the archive folder, archives that agree), and
 * whether each side holds anything, which guards against propagating a side emptied.
 */
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { ExternalError } from '../lib/errors.js'
import { run } from '../lib/exec.js'
import { logger } from '../lib/log.js'
import { writePrivateFile } from '../lib/paths.js'
import type { ExcludeMatcher } from './excludes.js'
import type { Sidecar, SyncTarget } from './types.js'
import { sshScript } from './unison-args.js'

const log = logger('dsync:sync:unison')

/** Beside the archive: 1 when the last run left content, so that a side emptied since is seen. */
const CONTENT_FILE = 'dsync-content'

export class UnisonSides {
  private prepared: string | undefined

  constructor(
    private readonly target: SyncTarget,
    private readonly sidecar: Pick<Sidecar, 'container' | 'env'>,
    private readonly matcher: ExcludeMatcher,
    /** unison's archive folder on the host (UNISON). */
    readonly clientDir: string,
    /** unison's ssh command. */
    readonly sshcmd: string,
  ) {}

  /** The sidecar was recreated: set up again before the next run. */
  forget(): void {
    this.prepared = undefined
  }

  /**
   * Before the first run into a sidecar: the ssh script, the archive folder on the volume (the
   * volume's root owned by the sync's owner), and archives that agree. An archive on one side
   * only (the volume removed, or the state folder) is dropped on the other: a first sync.
   * Resolves true when there is no archive (the first sync).
   */
  async prepare(): Promise<boolean> {
    const container = this.sidecar.container
    const { sidecarPath, owner } = this.target
    if (this.prepared !== container) {
      writePrivateFile(this.sshcmd, sshScript(sidecarPath, owner))
      chmodSync(this.sshcmd, 0o700)
      mkdirSync(this.clientDir, { recursive: true, mode: 0o700 })
      const dir = `${sidecarPath}/.dsync/unison`
      const own = `${owner.uid}:${owner.gid}`
      const script = `mkdir -p "$1" && chown "$2" "$3" "$3/.dsync" "$1" && ls -1 "$1"`
      const result = await run(
        'docker',
        ['exec', '-u', '0', container, 'sh', '-c', script, 'sh', dir, own, sidecarPath],
        { env: this.sidecar.env, reject: false, timeoutMs: 60_000 },
      )
      if (result.exitCode !== 0) {
        throw new ExternalError(
          `docker exec ${container.slice(0, 12)} (prepare ${sidecarPath})`,
          result.exitCode,
          result.stderr,
        )
      }
      const server = result.stdout.split('\n').some((f) => /^ar/.test(f))
      const client = archives(this.clientDir).length > 0
      this.prepared = container
      if (client !== server) await this.dropArchives()
    }
    return archives(this.clientDir).length === 0
  }

  /** Whether the last run left content (kept beside the archive, so it survives restarts). */
  hadContent(): boolean {
    try {
      return readFileSync(path.join(this.clientDir, CONTENT_FILE), 'utf8').trim() === '1'
    } catch {
      return false
    }
  }

  noteContent(content: boolean): void {
    if (this.hadContent() === content) return
    try {
      writeFileSync(path.join(this.clientDir, CONTENT_FILE), content ? '1\n' : '0\n', {
        mode: 0o600,
      })
    } catch (error) {
      log.warn('%s: cannot write %s: %s', this.target.name, CONTENT_FILE, String(error))
    }
  }

  /** Whether each side holds anything that is synced (not excluded, not dsync's own). */
  async compare(): Promise<{ host: boolean; volume: boolean }> {
    const { sidecarPath } = this.target
    const container = this.sidecar.container
    const result = await run(
      'docker',
      [
        'exec',
        container,
        'find',
        sidecarPath,
        '-mindepth',
        '1',
        '-maxdepth',
        '1',
        '-printf',
        '%y\t%f\n',
      ],
      { env: this.sidecar.env, reject: false, timeoutMs: 60_000 },
    )
    if (result.exitCode !== 0) {
      throw new ExternalError(
        `docker exec ${container.slice(0, 12)} find ${sidecarPath}`,
        result.exitCode,
        result.stderr,
      )
    }
    const volume = result.stdout.split('\n').some((line) => {
      const [type = '', name = ''] = line.split('\t')
      return name !== '' && name !== '.dsync' && !this.matcher.excluded(name, type === 'd')
    })
    return { host: await this.hostHasContent(), volume }
  }

  async hostHasContent(): Promise<boolean> {
    try {
      const entries = await readdir(this.target.src, { withFileTypes: true })
      return entries.some((e) => !this.matcher.excluded(e.name, e.isDirectory()))
    } catch {
      return false
    }
  }

  /** Both archives go: the next run is a first sync. */
  async dropArchives(): Promise<void> {
    for (const f of archives(this.clientDir)) rmSync(path.join(this.clientDir, f), { force: true })
    const dir = `${this.target.sidecarPath}/.dsync/unison`
    await run(
      'docker',
      ['exec', '-u', '0', this.sidecar.container, 'sh', '-c', 'rm -f "$1"/ar* "$1"/fp*', 'sh', dir],
      { env: this.sidecar.env, reject: false },
    )
  }
}

export function haltReason(name: string, src: string, hostHasContent: boolean): string {
  return hostHasContent
    ? `the volume is empty but the host folder is not (was the volume emptied?); nothing was deleted on the host. Restore the volume's files to resume, or run: dsync sync ${name} --accept-deletions (this deletes the host's files)`
    : `the host folder ${src} is empty but the volume is not; nothing was deleted in the volume. Restore the folder to resume, or run: dsync sync ${name} --accept-deletions (this empties the volume)`
}

function archives(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => /^(ar|fp)[0-9a-f]+$/.test(f))
  } catch {
    return []
  }
}
