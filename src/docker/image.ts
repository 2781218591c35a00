/**
 * The sync sidecar image. dsync builds it locally from `images/sync` on first use (no registry
 * is needed, and `--pull` is never passed), under a tag that is a hash of that folder: a new
 * Dockerfile or agent gives a new tag, so a stale image is never reused.
 */
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { AbortError, ExitCode, ExternalError } from '../lib/errors.js'
import { describeCommand, run } from '../lib/exec.js'
import { logger } from '../lib/log.js'
import { packageRoot } from '../lib/paths.js'

const log = logger('dsync:image')

/** The repository part of dsync's own sidecar image tags (`dsync-sync:<hash>`). */
export const SYNC_IMAGE_REPOSITORY = 'dsync-sync'

/** The build context of the sidecar image. */
export function syncImageDir(): string {
  return path.join(packageRoot, 'images', 'sync')
}

/** `dsync-sync:<first 12 hex of sha256 over the files of images/sync, in sorted order>`. */
export function syncImageTag(): string {
  const dir = syncImageDir()
  const hash = createHash('sha256')
  for (const rel of listFiles(dir)) {
    const content = readFileSync(path.join(dir, rel))
    // Name and length frame each file, so moving bytes between files changes the hash.
    hash.update(`${rel}\0${content.length}\0`)
    hash.update(content)
  }
  return `${SYNC_IMAGE_REPOSITORY}:${hash.digest('hex').slice(0, 12)}`
}

function listFiles(dir: string, prefix = ''): string[] {
  const files: string[] = []
  for (const entry of readdirSync(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name
    if (entry.isDirectory()) files.push(...listFiles(dir, rel))
    else files.push(rel)
  }
  // Code-unit order, not locale order: the same tag on every machine.
  return files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
}

export interface EnsureSyncImageOptions {
  /** A user-supplied image (`x-sync` `image:`): used as is, never built or pulled. */
  image?: string
  /**
   * One line per build step (`step 2/5: RUN apt-get update ...`), for a progress display: the
   * build's own output (tens of lines of apt) goes to the debug log only.
   */
  onProgress?: (line: string) => void
  env?: NodeJS.ProcessEnv
  signal?: AbortSignal
  /** The build is stopped after this long (default 5 minutes). */
  timeoutMs?: number
}

/** A build normally takes under a minute; apt-get on an engine without network hangs far longer. */
const BUILD_TIMEOUT_MS = 5 * 60_000

// The legacy builder colours the output of RUN steps.
// eslint-disable-next-line no-control-regex
const ANSI_ESCAPE = /\x1b\[[0-9;]*[A-Za-z]/g

/** Builds of this process, by tag: two syncs asking at once share one build. */
const building = new Map<string, Promise<void>>()

/**
 * Returns the sidecar image to run: a user-supplied one if it is present in the engine, else
 * dsync's own, built with `docker build` only when `docker image inspect` does not find it.
 */
export async function ensureSyncImage(options: EnsureSyncImageOptions = {}): Promise<string> {
  const { image, env } = options
  if (image) {
    if (await imageExists(image, env)) return image
    throw new AbortError(
      `the sync image ${image} (x-sync image) is not in the Docker engine`,
      `build or pull it first (docker pull ${image}), or remove image: to use dsync's own image`,
      ExitCode.config,
    )
  }
  const tag = syncImageTag()
  if (await imageExists(tag, env)) return tag
  let build = building.get(tag)
  if (!build) {
    build = buildImage(tag, options).finally(() => building.delete(tag))
    building.set(tag, build)
  }
  await build
  return tag
}

/** Whether the engine has the image; any failure other than "no such image" is an error. */
export async function imageExists(ref: string, env?: NodeJS.ProcessEnv): Promise<boolean> {
  const args = ['image', 'inspect', '--format', '{{.Id}}', ref]
  const result = await run('docker', args, { env, reject: false })
  if (result.exitCode === 0) return true
  if (/no such image/i.test(result.stderr)) return false
  throw new ExternalError(
    describeCommand('docker', args),
    result.exitCode,
    result.stderr,
    'is the Docker engine running? (docker info)',
    ExitCode.unavailable,
  )
}

/**
 * Builds `dir` as `tag`. Stopped on its deadline, on the caller's signal, and on Ctrl-C or
 * SIGTERM: killing the client ends the build in the engine too (it cancels the build, and the
 * legacy builder kills the step's container).
 */
export async function buildImage(
  tag: string,
  options: EnsureSyncImageOptions & { dir?: string },
): Promise<void> {
  const dir = options.dir ?? syncImageDir()
  // --force-rm: a failed step of the legacy builder would otherwise leave its container behind.
  const args = ['build', '--force-rm', '-t', tag, dir]
  log.debug('building %s from %s', tag, dir)
  const stop = new AbortController()
  let stoppedBy: 'deadline' | NodeJS.Signals | undefined
  const timeoutMs = options.timeoutMs ?? BUILD_TIMEOUT_MS
  const timer = setTimeout(() => {
    stoppedBy = 'deadline'
    stop.abort()
  }, timeoutMs)
  const onSignal = (signal: NodeJS.Signals) => {
    stoppedBy = signal
    stop.abort()
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal
  let step = ''
  // Loaded here: planning needs the tag on every run, building is rare.
  const { spawn } = await import('../lib/spawn.js')
  const child = spawn('docker', args, { env: options.env, signal, stdin: 'ignore' })
  // The legacy builder prints the failing step's output on stdout and the verdict on stderr;
  // BuildKit prints everything on stderr. The tail of stderr names the failure either way.
  const stderrTail: string[] = []
  const onLine = (stream: 'stdout' | 'stderr') => (line: string) => {
    if (stream === 'stderr') {
      stderrTail.push(line.replace(ANSI_ESCAPE, ''))
      if (stderrTail.length > 50) stderrTail.shift()
    }
    const text = line.replace(ANSI_ESCAPE, '')
    if (!text.trim()) return
    log.debug('build: %s', text)
    const next = buildStep(text)
    if (next && next !== step) {
      step = next
      options.onProgress?.(step)
    }
  }
  const done = Promise.all([
    readLines(child.stdout, onLine('stdout')),
    readLines(child.stderr, onLine('stderr')),
  ])
  let result
  try {
    result = await child
    await done
  } finally {
    clearTimeout(timer)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
  if (result.exitCode === 0) return
  const at = step ? ` (at ${step})` : ''
  if (stoppedBy === 'deadline') {
    throw new AbortError(
      `building the sync image ${tag} did not finish in ${Math.round(timeoutMs / 1000)} s${at}`,
      "the build installs Debian packages: check that the engine reaches the Debian mirror, or set x-sync.image to an image you built with dsync's agent",
      ExitCode.unavailable,
    )
  }
  if (stoppedBy !== undefined) {
    throw new AbortError(
      `building the sync image was interrupted (${stoppedBy})${at}`,
      'nothing was started; run the command again to build it',
      ExitCode.interrupted,
    )
  }
  throw new ExternalError(
    describeCommand('docker', args),
    result.exitCode,
    stderrTail.join('\n') || (result.error?.message ?? ''),
    'the sidecar image is built from debian:bookworm-slim and Debian packages: check that the ' +
      'image is present and that the engine can reach the Debian mirror, or set x-sync image:',
    ExitCode.unavailable,
  )
}

/**
 * The step a line of `docker build` output starts, as `step 2/5: RUN ...` (one line, at most
 * 100 characters), or undefined for the output of a step. The legacy builder prints
 * `Step 2/5 : RUN ...`, BuildKit `#6 [2/4] RUN ...`.
 */
export function buildStep(line: string): string | undefined {
  const legacy = /^Step (\d+\/\d+) : (.*)$/.exec(line)
  const kit = /^#\d+ \[(?:[\w.-]+ )?(\d+\/\d+)\] (.*)$/.exec(line)
  const match = legacy ?? kit
  if (!match) return undefined
  const text = `step ${match[1]}: ${(match[2] ?? '').replace(/\s+/g, ' ').trim()}`
  return text.length > 100 ? `${text.slice(0, 97)}...` : text
}

async function readLines(stream: Readable | null, onLine: (line: string) => void): Promise<void> {
  if (!stream) return
  // Loaded here: the tag is computed on every compose call, a build is rare.
  const { createInterface } = await import('node:readline')
  const lines = createInterface({ input: stream, crlfDelay: Infinity })
  for await (const line of lines) onLine(line)
}
