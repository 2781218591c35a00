/**
 * Shared pieces of the end-to-end tests: they run the BUILT CLI (bin/run.js, as a user would)
 * against the real engine, each test in a copy of a fixture with a unique project name and its
 * own state directory, and clean up after themselves even when an assertion fails.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { run, type RunResult } from '../../src/lib/exec.js'
import { spawn } from '../../src/lib/spawn.js'

export const repoRoot = path.resolve(import.meta.dirname, '..', '..')
export const cliPath = path.join(repoRoot, 'bin', 'run.js')

export interface TestProject {
  /** The compose project name (unique per test). */
  name: string
  /** The copy of the fixture; relative paths in it resolve here. */
  dir: string
  /** Environment for every CLI call: its own state dir, its own project name. */
  env: NodeJS.ProcessEnv
  /** Runs `dsync ARGS` in the project folder. */
  dsync(args: string[], options?: { input?: string; env?: NodeJS.ProcessEnv }): Promise<RunResult>
  /** Runs `dsync compose exec -T SERVICE sh -c SCRIPT` and returns stdout. */
  sh(service: string, script: string): Promise<string>
  /** Tears everything down: daemon, containers, volumes, networks, state. */
  dispose(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** Copies `fixtures/<fixture>` to a temp folder and gives it a unique project name. */
export function testProject(fixture: string, prefix = 'dsynce2e'): TestProject {
  const root = mkdtempSync(path.join(tmpdir(), 'dsync-e2e-'))
  const dir = path.join(root, 'project')
  cpSync(path.join(repoRoot, 'fixtures', fixture), dir, { recursive: true })
  const name = `${prefix}${Date.now().toString(36)}${randomBytes(2).toString('hex')}`
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    XDG_STATE_HOME: path.join(root, 'state'),
    COMPOSE_PROJECT_NAME: name,
  }
  const dsync: TestProject['dsync'] = (args, options = {}) =>
    run(process.execPath, [cliPath, ...args], {
      cwd: dir,
      env: { ...env, ...options.env },
      input: options.input,
      reject: false,
    })
  const dispose = async () => {
    await dsync(['compose', 'down', '-v', '--remove-orphans'])
    await dsync(['clean'])
    // Whatever a failed test left: containers and volumes by the compose project label.
    const label = `label=com.docker.compose.project=${name}`
    const ps = await run('docker', ['ps', '-aq', '--filter', label], { reject: false })
    const ids = ps.stdout.split('\n').filter(Boolean)
    if (ids.length) await run('docker', ['rm', '-f', '-v', ...ids], { reject: false })
    const vols = await run('docker', ['volume', 'ls', '-q', '--filter', label], { reject: false })
    const names = vols.stdout.split('\n').filter(Boolean)
    if (names.length) await run('docker', ['volume', 'rm', '-f', ...names], { reject: false })
    await run('docker', ['network', 'rm', `${name}_default`], { reject: false })
    rmSync(root, { recursive: true, force: true })
  }
  return {
    name,
    dir,
    env,
    dsync,
    async sh(service, script) {
      const result = await dsync(['compose', 'exec', '-T', service, 'sh', '-c', script])
      if (result.exitCode !== 0) {
        throw new Error(`sh in ${service} failed (${result.exitCode}): ${result.stderr}`)
      }
      return result.stdout
    },
    dispose,
    [Symbol.asyncDispose]: dispose,
  }
}

/** Everything of a project the engine still has: containers, volumes, networks. */
export async function leftovers(name: string): Promise<string[]> {
  const label = `label=com.docker.compose.project=${name}`
  const [ps, vols, nets] = await Promise.all([
    run('docker', ['ps', '-aq', '--filter', label]),
    run('docker', ['volume', 'ls', '-q', '--filter', `name=${name}`]),
    run('docker', ['network', 'ls', '-q', '--filter', `name=${name}`]),
  ])
  return [ps.stdout, vols.stdout, nets.stdout].flatMap((s) => s.split('\n').filter(Boolean))
}

/** Polls until `check` passes or the time is up (then throws with `what`). */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 15_000) {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/**
 * Starts a reader loop in a container (`sh -c SCRIPT`, which must print "start" first) and
 * waits until it has started. `finished()` turns true when it ends; `done` is its result.
 */
export async function readerIn(container: string, script: string) {
  const reader = spawn('docker', ['exec', container, 'sh', '-c', `echo start; ${script}`])
  let output = ''
  reader.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  let finished = false
  const done = reader.then((result) => {
    finished = true
    return result
  })
  await waitFor('the reader to start', () => output.startsWith('start') || finished)
  return {
    finished: () => finished,
    done,
    /** The first word of each line after "start" (an md5sum). */
    sums: () =>
      output
        .split('\n')
        .slice(1)
        .filter(Boolean)
        .map((line) => line.split(' ')[0] ?? ''),
  }
}

/**
 * inotifywait -m on a file or folder in a container (one event line per `format`), once its
 * watch is set up. `count(name, rest)` counts lines whose first event is `name` (and whose rest
 * is `rest`, if given).
 */
export async function watchIn(
  container: string,
  target: string,
  events = ['close_write', 'delete_self', 'move_self'],
  format = '%e',
) {
  const watcher = spawn('docker', [
    'exec',
    container,
    'timeout',
    '300',
    'inotifywait',
    '-m',
    ...events.flatMap((e) => ['-e', e]),
    '--format',
    format,
    target,
  ])
  let seen = ''
  let setup = ''
  watcher.stdout.on('data', (chunk: Buffer) => (seen += chunk.toString()))
  watcher.stderr.on('data', (chunk: Buffer) => (setup += chunk.toString()))
  await waitFor('inotifywait to watch', () => setup.includes('Watches established'))
  return {
    events: () => seen,
    count: (name: string, rest?: string) =>
      seen.split('\n').filter((line) => {
        const [first = '', ...more] = line.split(' ')
        return first.split(',')[0] === name && (rest === undefined || more.join(' ') === rest)
      }).length,
    async stop() {
      watcher.kill()
      await watcher
    },
  }
}
