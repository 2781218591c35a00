/**
 * The sync sidecar image. dsync builds it locally from `images/sync` on first use (no registry
 * is needed, and `--pull` is never passed), under a tag that is a hash of that folder: a new
 * Dockerfile or agent gives a new tag, so a stale image is never reused.
 */
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { createInterface } from 'node:readline'
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
  /** Each line of `docker build` output, for a progress display. */
  onProgress?: (line: string) => void
  env?: NodeJS.ProcessEnv
  signal?: AbortSignal
}

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

async function buildImage(tag: string, options: EnsureSyncImageOptions): Promise<void> {
  const dir = syncImageDir()
  // --force-rm: a failed step of the legacy builder would otherwise leave its container behind.
  const args = ['build', '--force-rm', '-t', tag, dir]
  log.debug('building %s from %s', tag, dir)
  // Loaded here: planning needs the tag on every run, building is rare.
  const { spawn } = await import('../lib/spawn.js')
  const child = spawn('docker', args, { env: options.env, signal: options.signal, stdin: 'ignore' })
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
    options.onProgress?.(text)
  }
  const done = Promise.all([
    readLines(child.stdout, onLine('stdout')),
    readLines(child.stderr, onLine('stderr')),
  ])
  const result = await child
  await done
  if (result.exitCode === 0) return
  throw new ExternalError(
    describeCommand('docker', args),
    result.exitCode,
    stderrTail.join('\n') || (result.error?.message ?? ''),
    'the sidecar image is built from debian:bookworm-slim and Debian packages: check that the ' +
      'image is present and that the engine can reach the Debian mirror, or set x-sync image:',
    ExitCode.unavailable,
  )
}

async function readLines(stream: Readable | null, onLine: (line: string) => void): Promise<void> {
  if (!stream) return
  const lines = createInterface({ input: stream, crlfDelay: Infinity })
  for await (const line of lines) onLine(line)
}
