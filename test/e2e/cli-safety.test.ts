/**
 * The CLI's safety promises, end to end with the built CLI and the real engine: tools checked
 * before anything is created, one start of a project at a time, an unusable state folder
 * named, private state, `status` exit codes that tell the truth, native projects with nothing
 * to sync, and the cause of a sidecar that exited.
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import path from 'node:path'
import { afterEach, expect, test } from 'vitest'
import { run, type RunResult } from '../../src/lib/exec.js'
import { leftovers, testProject, waitFor, type TestProject } from './helpers.js'

const created: TestProject[] = []
function project(fixture: string): TestProject {
  const p = testProject(fixture, 'dsyncsafe')
  created.push(p)
  return p
}
afterEach(async () => {
  for (const p of created.splice(0)) await p.dispose()
})

function stateDir(p: TestProject): string {
  return path.join(p.env.XDG_STATE_HOME ?? '', 'dsync', p.name)
}

function lines(text: string): string[] {
  return text.split('\n').filter(Boolean)
}

function upOk(up: RunResult): void {
  expect(up.exitCode, up.stderr).toBe(0)
}

/** Watcher daemons running for this state folder (by their command line, not their guardians). */
function daemons(dir: string): number[] {
  const found: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')
      const at = args.indexOf('dsync-daemon')
      if (at > 0 && args[at + 1] === dir) found.push(Number(entry))
    } catch {
      // Ended meanwhile.
    }
  }
  return found
}

/** Containers of a service of the project, running or not. */
async function containers(p: TestProject, service: string): Promise<string[]> {
  const ps = await run('docker', [
    'ps',
    '-aq',
    '--filter',
    `label=com.docker.compose.project=${p.name}`,
    '--filter',
    `label=com.docker.compose.service=${service}`,
  ])
  return lines(ps.stdout)
}

const mode = (file: string) => (statSync(file).mode & 0o777).toString(8)

// ---------------------------------------------------------------------------------------------

test('Given no rsync on the host, when an rsync project is brought up, then one line says to install it, exit 69, nothing created', async () => {
  const p = project('rsync')
  // A PATH with what dsync and compose run, but no rsync
  const bin = path.join(p.dir, '..', 'bin')
  mkdirSync(bin)
  for (const program of ['docker', 'docker-compose']) {
    const where = await run('sh', ['-c', `command -v ${program}`])
    symlinkSync(where.stdout.trim(), path.join(bin, program))
  }
  symlinkSync(process.execPath, path.join(bin, 'node'))

  const up = await p.dsync(['compose', 'up', '-d'], { env: { PATH: bin } })

  expect(up.exitCode, up.stderr).toBe(69)
  expect(lines(up.stderr)).toEqual([
    'dsync: rsync not found on this host; install it (apt-get install rsync / brew install rsync)',
  ])
  expect(await leftovers(p.name)).toEqual([])
  expect(daemons(stateDir(p))).toEqual([])
})

test('Given two dsync compose up of one project at once, then both succeed and one sidecar and one daemon remain', async () => {
  const p = project('rsync')

  const [first, second] = await Promise.all([
    p.dsync(['compose', 'up', '-d']),
    p.dsync(['compose', 'up', '-d']),
  ])

  upOk(first)
  upOk(second)
  // One of them waited for the other, and said so
  const waited = [first, second].filter((up) =>
    /^dsync: project \S+ is being started by pid \d+; waiting$/m.test(up.stderr),
  )
  expect(waited, first.stderr + second.stderr).toHaveLength(1)
  expect(await containers(p, 'dsync-sync')).toHaveLength(1)
  expect(await containers(p, 'app')).toHaveLength(1)
  expect(daemons(stateDir(p))).toHaveLength(1)
  // And the app sees the synced code (the CLI's output loses its final newline)
  expect(await p.sh('app', 'cat /app/hello.txt')).toBe(
    readFileSync(path.join(p.dir, 'src', 'hello.txt'), 'utf8').trimEnd(),
  )
  const status = await p.dsync(['status'])
  expect(status.exitCode, status.stderr).toBe(0)
})

test('Given XDG_STATE_HOME is a file, when a project is brought up, then one line names the setting and the path, exit 73, nothing created', async () => {
  const p = project('rsync')
  const file = path.join(p.dir, '..', 'state-is-a-file')
  writeFileSync(file, '')

  const up = await p.dsync(['compose', 'up', '-d'], { env: { XDG_STATE_HOME: file } })

  expect(up.exitCode, up.stderr).toBe(73)
  expect(lines(up.stderr)).toEqual([
    `dsync: cannot write dsync's state to ${file}/dsync (XDG_STATE_HOME=${file}): ${file} is not a folder; set XDG_STATE_HOME to a folder you can write to`,
  ])
  expect(await leftovers(p.name)).toEqual([])
})

test('Given a project brought up, then its state folders are 0700 and the files dsync writes 0600', async () => {
  const p = project('rsync')

  upOk(await p.dsync(['compose', 'up', '-d']))

  const dir = stateDir(p)
  expect(mode(path.dirname(dir))).toBe('700')
  expect(mode(dir)).toBe('700')
  await waitFor('the daemon to write its status', () => existsSync(path.join(dir, 'status.json')))
  const files = ['compose.override.yml', 'daemon.json', 'daemon.log', 'daemon.pid', 'sidecar.json']
  for (const file of [...files, 'status.json']) {
    expect([file, mode(path.join(dir, file))]).toEqual([file, '600'])
  }
})

test('Given a state path too long for a unix socket, then the socket is in a 0700 folder of the user and status reaches the daemon', async () => {
  const p = project('rsync')
  const deep = path.join(p.dir, '..', 'state-'.padEnd(90, 'x'))
  const runtime = path.join(p.dir, '..', 'run')
  mkdirSync(runtime, { mode: 0o700 })
  const env = { XDG_STATE_HOME: deep, XDG_RUNTIME_DIR: runtime }

  try {
    upOk(await p.dsync(['compose', 'up', '-d'], { env }))
    const status = await p.dsync(['status', '--json'], { env })

    expect(status.exitCode, status.stderr).toBe(0)
    expect(JSON.parse(status.stdout)).toMatchObject({ daemon: { running: true, health: 'ok' } })
    expect(mode(path.join(runtime, 'dsync'))).toBe('700')
    expect(readdirSync(path.join(runtime, 'dsync'))).toEqual([
      expect.stringMatching(/^[0-9a-f]{16}\.sock$/),
    ])
  } finally {
    await p.dsync(['compose', 'down', '-v'], { env })
  }
})

test('Given the daemon down, then status and status --json exit 75 with how to recover on stderr, and flush says the same', async () => {
  const p = project('rsync')
  upOk(await p.dsync(['compose', 'up', '-d']))
  const healthy = await p.dsync(['status'])
  expect(healthy.exitCode, healthy.stderr).toBe(0)
  expect(healthy.stderr).toBe('')

  // When the project is stopped (the daemon stops with it)
  expect((await p.dsync(['compose', 'stop'])).exitCode).toBe(0)
  const text = await p.dsync(['status'])
  const json = await p.dsync(['status', '--json'])
  const flush = await p.dsync(['flush'])

  // Then status keeps its report on stdout and says how to recover on stderr, exit 75
  const hint = `dsync: daemon down for project "${p.name}"; run dsync sync (restarts it) or dsync compose up`
  expect(text.exitCode, text.stderr).toBe(75)
  expect(text.stdout).toMatch(new RegExp(`^project ${p.name}: daemon down`))
  expect(lines(text.stderr)).toEqual([hint])
  expect(json.exitCode, json.stderr).toBe(75)
  expect(JSON.parse(json.stdout)).toMatchObject({ project: p.name, daemon: { running: false } })
  expect(lines(json.stderr)).toEqual([hint])
  expect(flush.exitCode, flush.stderr).toBe(75)
  expect(lines(flush.stderr)).toEqual([
    `dsync: no dsync daemon runs for project "${p.name}"; run dsync sync (restarts it) or dsync compose up`,
  ])
})

test('Given a project whose syncs are all native, then status, flush and sync say there is nothing to sync and exit 0', async () => {
  const p = project('e2e-native')
  upOk(await p.dsync(['compose', 'up', '-d']))

  const status = await p.dsync(['status'])
  const json = await p.dsync(['status', '--json'])
  const flush = await p.dsync(['flush'])
  const sync = await p.dsync(['sync'])

  expect(status.exitCode, status.stderr).toBe(0)
  expect(status.stdout.trim()).toBe(
    `project ${p.name}: all syncs are native bind mounts: nothing to sync`,
  )
  expect(json.exitCode, json.stderr).toBe(0)
  expect(JSON.parse(json.stdout)).toMatchObject({ project: p.name, nothingToSync: true })
  for (const result of [flush, sync]) {
    expect(result.exitCode, result.stderr).toBe(0)
    expect(lines(result.stderr)).toEqual([
      'dsync: all syncs are native bind mounts: nothing to sync',
    ])
  }
  expect(daemons(stateDir(p))).toEqual([])
})

test('Given a sidecar image that exits at once, when the project is brought up, then the cause is its exit, exit 75, nothing left', async () => {
  const p = project('e2e-bad')

  const up = await p.dsync(['compose', '-f', 'foreign-image.yaml', 'up', '-d'])

  expect(up.exitCode, up.stderr).toBe(75)
  expect(lines(up.stderr).at(-1)).toBe(
    "dsync: the sync sidecar exited with code 0 without printing anything; x-sync.image (debian:bookworm-slim) must be dsync's sync image or an image built FROM it",
  )
  expect(await leftovers(p.name)).toEqual([])
  expect(daemons(stateDir(p))).toEqual([])
})

// The temp folders of the projects are removed by dispose; this keeps a failed run's PATH
// folder from lingering when dispose is not reached.
afterEach(() => {
  for (const p of created) rmSync(path.join(p.dir, '..', 'bin'), { recursive: true, force: true })
})
