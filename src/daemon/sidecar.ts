/**
 * The daemon's view of its sidecar container, for healing: what state it is in, where it went
 * when it was recreated (found again by its labels), and bringing it back when it was stopped
 * behind dsync's back while the project's app containers still run (`docker kill`, an engine
 * restart without a restart policy, an out-of-memory kill).
 */
import { spawn } from '../lib/spawn.js'
import { LABEL_PROJECT, LABEL_ROLE, ROLE_SIDECAR } from '../docker/labels.js'

/**
 * One docker CLI call, bounded in time. On node's own spawn, not execa: the daemon calls this
 * for its lifetime, and execa would add to its resident memory for good (see lib/spawn.ts).
 */
async function docker(
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ exitCode: number | undefined; stdout: string; stderr: string }> {
  const child = spawn('docker', args, { env, stdin: 'ignore' })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')))
  child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-4000)))
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  try {
    const ended = await child
    if (ended.signal) stderr ||= `docker ${args[0] ?? ''} did not answer within ${timeoutMs} ms`
    return { exitCode: ended.exitCode, stdout, stderr }
  } finally {
    clearTimeout(timer)
  }
}

export type SidecarState =
  | { kind: 'running' }
  | { kind: 'paused' }
  | { kind: 'stopped'; status: string }
  | { kind: 'gone' }
  | { kind: 'unknown'; reason: string }

export class SidecarTracker {
  constructor(
    private id: string,
    private readonly project: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  get container(): string {
    return this.id
  }

  async state(): Promise<SidecarState> {
    const result = await docker(
      ['inspect', '-f', '{{.State.Status}} {{.State.Paused}}', this.id],
      this.env,
      10_000,
    )
    if (result.exitCode !== 0) {
      if (/no such/i.test(result.stderr)) return { kind: 'gone' }
      return {
        kind: 'unknown',
        reason: result.stderr.trim() || `docker inspect exit ${result.exitCode}`,
      }
    }
    const [status = '', paused = ''] = result.stdout.trim().split(' ')
    if (paused === 'true' || status === 'paused') return { kind: 'paused' }
    if (status === 'running') return { kind: 'running' }
    return { kind: 'stopped', status }
  }

  /** The project's sidecar by its labels (after a recreation its id changed); undefined if none. */
  async find(): Promise<string | undefined> {
    const result = await docker(
      [
        'ps',
        '-a',
        '-q',
        '--no-trunc',
        '--filter',
        `label=${LABEL_ROLE}=${ROLE_SIDECAR}`,
        '--filter',
        `label=${LABEL_PROJECT}=${this.project}`,
      ],
      this.env,
      10_000,
    )
    if (result.exitCode !== 0) return undefined
    return result.stdout
      .split('\n')
      .find((l) => l.trim() !== '')
      ?.trim()
  }

  /** Follows a recreated sidecar; true when the id changed. */
  async refind(): Promise<boolean> {
    const found = await this.find()
    if (!found || found === this.id || this.id.startsWith(found) || found.startsWith(this.id))
      return false
    this.id = found
    return true
  }

  /** Whether any of the project's other containers runs: then a stopped sidecar is a fault. */
  async appsRunning(): Promise<boolean> {
    const result = await docker(
      ['ps', '-q', '--filter', `label=com.docker.compose.project=${this.project}`],
      this.env,
      10_000,
    )
    if (result.exitCode !== 0) return false
    const running = result.stdout.split('\n').filter((l) => l.trim() !== '')
    return running.some((id) => !this.id.startsWith(id.trim()))
  }

  async start(): Promise<boolean> {
    const result = await docker(['start', this.id], this.env, 30_000)
    return result.exitCode === 0
  }
}
