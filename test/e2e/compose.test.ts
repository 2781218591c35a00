/**
 * `dsync compose ...` end to end, as a user runs it: the built CLI against the real engine and
 * the user's own compose CLI: Compose v2 (`docker compose`) by default, v1 (`docker-compose`)
 * with DSYNC_COMPOSE=v1; CI runs the file both ways. Where the two differ (exit codes, what
 * they accept) a test compares dsync with plain compose in the same run. Each test works in a
 * copy of a fixture with a unique project name and its own state directory, and removes what
 * it created.
 */
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { parse } from 'yaml'
import { run, type RunResult } from '../../src/lib/exec.js'
import { spawn } from '../../src/lib/spawn.js'
import { cliPath, leftovers, testProject, waitFor, type TestProject } from './helpers.js'

// ---------------------------------------------------------------------------------------------
// Helpers of this file

/** Projects a test created; afterEach disposes them even when an assertion failed. */
const created: TestProject[] = []
function project(fixture: string): TestProject {
  const p = testProject(fixture)
  created.push(p)
  return p
}
afterEach(async () => {
  for (const p of created.splice(0)) await p.dispose()
})

/** `dsync ARGS` from any working directory (the helper's `dsync` runs in the project folder). */
function dsyncIn(cwd: string, args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  return run(process.execPath, [cliPath, ...args], { cwd, env, reject: false })
}

function stateDir(p: TestProject): string {
  return path.join(p.env.XDG_STATE_HOME ?? '', 'dsync', p.name)
}

/** Watcher daemons still running for this project's state directory. */
async function daemons(p: TestProject): Promise<string[]> {
  const found = await run('pgrep', ['-af', 'dsync-daemon'], { reject: false })
  return found.stdout.split('\n').filter((line) => line.includes(stateDir(p)))
}

/** The compose services that have a container (running or not) in the project. */
async function containerServices(name: string): Promise<string[]> {
  const ps = await run('docker', [
    'ps',
    '-a',
    '--filter',
    `label=com.docker.compose.project=${name}`,
    '--format',
    '{{.Label "com.docker.compose.service"}}',
  ])
  return ps.stdout.split('\n').filter(Boolean).sort()
}

async function containerOf(name: string, service: string): Promise<string> {
  const ps = await run('docker', [
    'ps',
    '-aq',
    '--filter',
    `label=com.docker.compose.project=${name}`,
    '--filter',
    `label=com.docker.compose.service=${service}`,
  ])
  const id = ps.stdout.split('\n').find(Boolean)
  if (!id) throw new Error(`no container for service ${service} of project ${name}`)
  return id
}

interface Mount {
  type: string
  source: string
  target: string
}

interface ComposeConfig {
  services?: Record<string, { volumes?: unknown[] } | undefined>
  volumes?: Record<string, unknown>
}

/** A service's mounts from `compose config` output, short or long syntax alike. */
function mountsOf(configYaml: string, service: string): Mount[] {
  const config = parse(configYaml) as ComposeConfig
  return (config.services?.[service]?.volumes ?? []).map((v): Mount => {
    if (typeof v === 'string') {
      const [source = '', target = ''] = v.split(':')
      return { type: source.startsWith('/') ? 'bind' : 'volume', source, target }
    }
    const long = v as Partial<Mount>
    return { type: long.type ?? '', source: long.source ?? '', target: long.target ?? '' }
  })
}

function servicesOf(configYaml: string): string[] {
  return Object.keys((parse(configYaml) as ComposeConfig).services ?? {}).sort()
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line.trim() !== '')
}

/** `promise`, or a failure naming `what` once `ms` have passed. */
async function within<T>(ms: number, what: string, promise: PromiseLike<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** The compose dsync picks: `docker compose` (v2) where it exists unless DSYNC_COMPOSE=v1. */
async function composeCommand(): Promise<{ file: string; prefix: string[]; major: 1 | 2 }> {
  if (process.env.DSYNC_COMPOSE !== 'v1') {
    const v2 = await run('docker', ['compose', 'version'], { reject: false })
    if (v2.exitCode === 0) return { file: 'docker', prefix: ['compose'], major: 2 }
  }
  return { file: 'docker-compose', prefix: [], major: 1 }
}

/** The same compose arguments run directly with the user's compose CLI, for comparison. */
async function plainCompose(
  p: TestProject,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<RunResult> {
  const compose = await composeCommand()
  return run(compose.file, [...compose.prefix, ...args], {
    cwd: p.dir,
    env: { ...p.env, ...env },
    reject: false,
  })
}

// ---------------------------------------------------------------------------------------------
// 1. strategy auto -> native: compose with the user's files, bind mount kept, no sidecar

describe('a native project (strategy auto on a local Linux engine)', () => {
  let p: TestProject
  let up: RunResult

  beforeAll(async () => {
    // Given the e2e-native fixture (strategy: auto, a bind mount of ./src at /app)
    p = testProject('e2e-native')
    // When the user brings it up
    up = await p.dsync(['compose', 'up', '-d'])
  })
  afterAll(async () => {
    await p.dispose()
  })

  test('up -d starts the app on the bind mount: a file written on the host is read inside', async () => {
    expect(up.exitCode, up.stderr).toBe(0)

    // When a file is written on the host after the app started
    writeFileSync(path.join(p.dir, 'src', 'from-host.txt'), 'written on the host\n')

    // Then the app reads it at once through its bind mount, and no sync sidecar exists
    const read = await p.dsync(['compose', 'exec', '-T', 'app', 'cat', '/app/from-host.txt'])
    expect(read.exitCode, read.stderr).toBe(0)
    expect(read.stdout).toBe('written on the host')
    expect(await containerServices(p.name)).toEqual(['app'])
    expect(await daemons(p)).toEqual([])
  })

  test('ps lists the app', async () => {
    // When the user lists the project's containers
    const ps = await p.dsync(['compose', 'ps'])

    // Then compose's own table shows the app, up
    expect(ps.exitCode, ps.stderr).toBe(0)
    expect(ps.stdout).toMatch(new RegExp(`${p.name}[-_]app[-_]1\\b.*\\bUp\\b`))
    expect(ps.stdout).not.toContain('dsync-sync')
  })

  test('logs passes the service output through', async () => {
    // When the user asks for the app's logs, Then the line the app printed is there
    await waitFor('the app to log its greeting', async () => {
      const logs = await p.dsync(['compose', 'logs', 'app'])
      return logs.exitCode === 0 && logs.stdout.includes('app says: hello from the native fixture')
    })
  })

  test("exec's exit code becomes dsync's", async () => {
    // When a command in the container exits 3
    const exec = await p.dsync(['compose', 'exec', '-T', 'app', 'sh', '-c', 'exit 3'])

    // Then dsync exits 3 too
    expect(exec.exitCode).toBe(3)
  })

  test('config prints the merged model with the bind mount kept and no sidecar', async () => {
    // When the user prints the model
    const config = await p.dsync(['compose', 'config'])

    // Then it is the user's model: the app with its bind mount of ./src, nothing added
    expect(config.exitCode, config.stderr).toBe(0)
    expect(servicesOf(config.stdout)).toEqual(['app'])
    expect(mountsOf(config.stdout, 'app')).toEqual([
      { type: 'bind', source: path.join(p.dir, 'src'), target: '/app' },
    ])
    expect((parse(config.stdout) as ComposeConfig).volumes).toBeUndefined()
  })

  test('down removes the containers and the network', async () => {
    // When the user takes the project down
    const down = await p.dsync(['compose', 'down'])

    // Then nothing of it is left on the engine
    expect(down.exitCode, down.stderr).toBe(0)
    expect(await leftovers(p.name)).toEqual([])
  })
})

// ---------------------------------------------------------------------------------------------
// 2. strategy rsync: a named volume, the sidecar, the initial sync

describe('an rsync project', () => {
  let p: TestProject
  let up: RunResult

  beforeAll(async () => {
    // Given the rsync fixture (app as 1000:1000, owner: auto)
    p = testProject('rsync')
    // When the user brings it up
    up = await p.dsync(['compose', 'up', '-d'])
  })
  afterAll(async () => {
    await p.dispose()
  })

  test('up -d syncs the host folder into the volume, owned by the app user', async () => {
    expect(up.exitCode, up.stderr).toBe(0)
    const onHost = readFileSync(path.join(p.dir, 'src', 'hello.txt'), 'utf8')

    // Then the app sees the host's file at /app, owned by its own user
    const seen = await p.sh('app', 'stat -c %u:%g /app /app/hello.txt && cat /app/hello.txt')
    expect(seen).toBe(`1000:1000\n1000:1000\n${onHost.replace(/\n$/, '')}`)
    expect(await containerServices(p.name)).toEqual(['app', 'dsync-sync'])
  })

  test('config shows the app mounting the sync volume and the sidecar service', async () => {
    // When the user prints the model
    const config = await p.dsync(['compose', 'config'])

    // Then the bind mount of ./src is replaced by the named volume, and dsync-sync is added
    expect(config.exitCode, config.stderr).toBe(0)
    expect(servicesOf(config.stdout)).toEqual(['app', 'dsync-sync'])
    const app = mountsOf(config.stdout, 'app')
    expect(app).toEqual([{ type: 'volume', source: 'code', target: '/app' }])
    expect(app.some((m) => m.source === path.join(p.dir, 'src'))).toBe(false)
    expect(Object.keys((parse(config.stdout) as ComposeConfig).volumes ?? {})).toEqual(['code'])
  })

  test('the sidecar publishes no port and has no network', async () => {
    // When the sidecar container is inspected
    const id = await containerOf(p.name, 'dsync-sync')
    const [inspect] = JSON.parse((await run('docker', ['inspect', id])).stdout) as {
      HostConfig: { NetworkMode: string; PortBindings: object | null; PublishAllPorts: boolean }
      NetworkSettings: { Ports: object | null; Networks: object | null }
    }[]

    // Then it has network_mode none and nothing published
    expect(inspect?.HostConfig.NetworkMode).toBe('none')
    expect(Object.keys(inspect?.HostConfig.PortBindings ?? {})).toEqual([])
    expect(inspect?.HostConfig.PublishAllPorts).toBe(false)
    expect(Object.keys(inspect?.NetworkSettings.Ports ?? {})).toEqual([])
    expect(Object.keys(inspect?.NetworkSettings.Networks ?? {})).toEqual(['none'])
  })

  test('ps shows the app and the sidecar', async () => {
    // When the user lists the project's containers
    const ps = await p.dsync(['compose', 'ps'])

    // Then both are up: ps runs with the override, so the sidecar is part of the project
    expect(ps.exitCode, ps.stderr).toBe(0)
    expect(ps.stdout).toMatch(new RegExp(`${p.name}[-_]app[-_]1\\b.*\\bUp\\b`))
    expect(ps.stdout).toMatch(new RegExp(`${p.name}[-_]dsync-sync[-_]1\\b.*\\bUp\\b`))
  })

  test('down -v leaves no container, volume, network or daemon', async () => {
    // When the user takes the project down with its volumes
    const down = await p.dsync(['compose', 'down', '-v'])

    // Then nothing of the project is left, and the watcher daemon is gone
    expect(down.exitCode, down.stderr).toBe(0)
    expect(await leftovers(p.name)).toEqual([])
    await waitFor('the watcher daemon to exit', async () => (await daemons(p)).length === 0, 5_000)
  })
})

// ---------------------------------------------------------------------------------------------
// 3. No x-sync block: exactly plain compose

test('a project without x-sync behaves exactly as plain compose, and leaves no state', async () => {
  // Given a compose project with no x-sync block
  const p = project('e2e-plain')
  // (v2 exits 15 on an invalid file where v1 exits 1: whatever compose says is right)
  const cases = [
    { args: ['config'], ok: true },
    { args: ['-f', 'invalid.yaml', 'config'], ok: false },
    { args: ['exec', '-T', 'app', 'true'], ok: false },
  ]

  for (const { args, ok } of cases) {
    // When the same arguments go to plain compose and to dsync compose
    const direct = await plainCompose(p, args)
    const viaDsync = await p.dsync(['compose', ...args])

    // Then the exit code, stdout and message are compose's
    expect(direct.exitCode === 0, direct.stderr).toBe(ok)
    expect({ args, code: viaDsync.exitCode, stdout: viaDsync.stdout }).toEqual({
      args,
      code: direct.exitCode,
      stdout: direct.stdout,
    })
    expect(viaDsync.stderr).toBe(direct.stderr)
  }

  // And dsync created no state for the project
  expect(existsSync(stateDir(p))).toBe(false)
})

// ---------------------------------------------------------------------------------------------
// 4. Compose's global flags and environment

test('-f repeated and -p: an override file that adds x-sync, under the given project name', async () => {
  // Given a base file without x-sync and sync.yaml adding it, and a decoy COMPOSE_PROJECT_NAME
  const p = project('e2e-layered')
  const decoy = `${p.name}decoy`
  const env = { COMPOSE_PROJECT_NAME: decoy }
  const files = ['-f', 'compose.yaml', '-f', 'sync.yaml']

  // When only the base file is given, Then there is nothing to sync: the model is the user's
  const base = await p.dsync(['compose', '-f', 'compose.yaml', 'config'], { env })
  expect(base.exitCode, base.stderr).toBe(0)
  expect(servicesOf(base.stdout)).toEqual(['app'])

  // When both files and -p are given
  const up = await p.dsync(['compose', ...files, '-p', p.name, 'up', '-d'], { env })

  // Then the sync of sync.yaml runs under the -p name (not the environment's)
  expect(up.exitCode, up.stderr).toBe(0)
  const exec = await p.dsync(
    ['compose', ...files, '-p', p.name, 'exec', '-T', 'app', 'cat', '/app/hello.txt'],
    { env },
  )
  expect(exec.stdout).toBe('hello from the layered fixture')
  expect(await containerServices(p.name)).toEqual(['app', 'dsync-sync'])
  expect(await containerServices(decoy)).toEqual([])
  expect(existsSync(path.join(path.dirname(stateDir(p)), decoy))).toBe(false)

  // And down with the same flags removes everything, daemon included
  const down = await p.dsync(['compose', ...files, '-p', p.name, 'down', '-v'], { env })
  expect(down.exitCode, down.stderr).toBe(0)
  expect(await leftovers(p.name)).toEqual([])
  await waitFor('the watcher daemon to exit', async () => (await daemons(p)).length === 0, 5_000)
})

test('--project-directory from another folder, with the files from COMPOSE_FILE', async () => {
  // Given the layered project, COMPOSE_FILE naming both files, and a shell in another folder
  const p = project('e2e-layered')
  const elsewhere = path.dirname(p.dir)
  const env = { ...p.env, COMPOSE_FILE: ['compose.yaml', 'sync.yaml'].join(path.delimiter) }

  // When the user prints the model with --project-directory
  const config = await dsyncIn(elsewhere, ['compose', '--project-directory', p.dir, 'config'], env)

  // Then both files were read (the sidecar is there) and ./src resolved in the project folder
  expect(config.exitCode, config.stderr).toBe(0)
  expect(servicesOf(config.stdout)).toEqual(['app', 'dsync-sync'])
  expect(mountsOf(config.stdout, 'app')).toEqual([
    { type: 'volume', source: 'code', target: '/app' },
  ])
})

test('.env and --env-file interpolate ${SRC_DIR:-./src} in the x-sync src', async () => {
  // Given src: ${SRC_DIR:-./src}, a .env with SRC_DIR=./code, other.env with ./other, no ./src
  const p = project('e2e-env')
  const env = { SRC_DIR: undefined }

  // When the model is printed with the .env file, Then the sync of ./code is planned
  const config = await p.dsync(['compose', 'config'], { env })
  expect(config.exitCode, config.stderr).toBe(0)
  expect(servicesOf(config.stdout)).toEqual(['app', 'dsync-sync'])

  // When the project is brought up with --env-file other.env
  const args = ['compose', '--env-file', 'other.env']
  const up = await p.dsync([...args, 'up', '-d'], { env })

  // Then ./other is what was synced into the app's volume
  expect(up.exitCode, up.stderr).toBe(0)
  const read = await p.dsync([...args, 'exec', '-T', 'app', 'cat', '/app/which.txt'], { env })
  expect(read.stdout).toBe('other')
  expect(await containerServices(p.name)).toEqual(['app', 'dsync-sync'])

  const down = await p.dsync([...args, 'down', '-v'], { env })
  expect(down.exitCode, down.stderr).toBe(0)
  expect(await leftovers(p.name)).toEqual([])
})

// ---------------------------------------------------------------------------------------------
// 5. The Docker CLI plugin

test('docker dsync compose: install the plugin, bring a project up through docker, uninstall', async () => {
  // Given a Docker CLI config folder of its own and the native fixture
  const p = project('native')
  const dockerConfig = mkdtempSync(path.join(tmpdir(), 'dsync-e2e-docker-'))
  const env = { ...p.env, DOCKER_CONFIG: dockerConfig }
  const docker = (args: string[]) => run('docker', args, { cwd: p.dir, env, reject: false })
  const link = path.join(dockerConfig, 'cli-plugins', 'docker-dsync')
  try {
    // When the plugin is installed
    const install = await p.dsync(['plugin', 'install'], { env })

    // Then the link exists, answers the metadata call, and docker lists dsync
    expect(install.exitCode, install.stderr).toBe(0)
    expect(lstatSync(link).isSymbolicLink()).toBe(true)
    const metadata = await run(link, ['docker-cli-plugin-metadata'], { env })
    expect(JSON.parse(metadata.stdout)).toMatchObject({ SchemaVersion: '0.1.0' })
    expect((await docker(['--help'])).stdout).toMatch(/^\s+dsync\*?\s/m)

    // When the project is brought up through docker
    const up = await docker(['dsync', 'compose', 'up', '-d'])
    expect(up.exitCode, up.stderr).toBe(0)

    // Then a file written on the host is visible in the app container
    writeFileSync(path.join(p.dir, 'src', 'via-plugin.txt'), 'seen through docker dsync\n')
    const read = await docker([
      'dsync',
      'compose',
      'exec',
      '-T',
      'app',
      'cat',
      '/app/via-plugin.txt',
    ])
    expect(read.exitCode, read.stderr).toBe(0)
    expect(read.stdout).toBe('seen through docker dsync')

    const down = await docker(['dsync', 'compose', 'down'])
    expect(down.exitCode, down.stderr).toBe(0)
    expect(await leftovers(p.name)).toEqual([])

    // When the plugin is uninstalled, Then the link is gone and docker no longer lists dsync
    const uninstall = await p.dsync(['plugin', 'uninstall'], { env })
    expect(uninstall.exitCode, uninstall.stderr).toBe(0)
    expect(existsSync(link)).toBe(false)
    expect((await docker(['--help'])).stdout).not.toMatch(/^\s+dsync\*?\s/m)
  } finally {
    rmSync(dockerConfig, { recursive: true, force: true })
  }
})

// ---------------------------------------------------------------------------------------------
// 6. Bad inputs: one line, a documented exit code, nothing left behind

describe('bad x-sync input', () => {
  // Given one copy of the e2e-bad fixture: one file per mistake, used with -f
  let p: TestProject
  beforeAll(() => {
    p = testProject('e2e-bad')
  })
  afterAll(async () => {
    await p.dispose()
  })

  test.each([
    {
      what: 'an unknown key',
      file: 'unknown-key.yaml',
      code: 65,
      key: 'x-sync.syncs.code.exlcudes',
      says: 'unknown key "exlcudes"; did you mean "excludes"?',
    },
    {
      what: 'a missing src folder',
      file: 'missing-src.yaml',
      code: 66,
      key: 'x-sync.syncs.code.src',
      says: 'folder "./missing" does not exist',
    },
    {
      what: 'a sync no service mounts',
      file: 'unmounted.yaml',
      code: 65,
      key: 'x-sync.syncs.assets',
      says: 'no service mounts "./assets"',
    },
    {
      what: 'a strategy typo',
      file: 'strategy-typo.yaml',
      code: 65,
      key: 'x-sync.syncs.code.strategy',
      says: 'did you mean "rsync"?',
    },
  ])('$what: exit $code, one line naming file and key, nothing left behind', async (bad) => {
    // Given a compose file with one mistake in its x-sync block
    const file = path.join(p.dir, bad.file)
    const before = readFileSync(file)

    // When the user brings it up
    const up = await p.dsync(['compose', '-f', bad.file, 'up', '-d'])

    // Then dsync exits with the documented code and one line that names the file and the key
    expect(up.exitCode, up.stderr).toBe(bad.code)
    expect(lines(up.stderr)).toHaveLength(1)
    expect(up.stderr).toContain(`${file}: ${bad.key}: `)
    expect(up.stderr).toContain(bad.says)
    expect(up.stderr).not.toMatch(/^\s+at /m)
    expect(up.stdout).toBe('')

    // And nothing was created or changed
    expect(await leftovers(p.name)).toEqual([])
    expect(await daemons(p)).toEqual([])
    expect(readFileSync(file).equals(before)).toBe(true)
  })
})

test('a sidecar image without the dsync agent: up fails in seconds, exit 75, nothing left', async () => {
  await using p = testProject('e2e-bad')
  // Given x-sync naming an image that is not dsync's (no agent; its container exits at once)
  // When the user brings the project up
  const up = await p.dsync(['compose', '-f', 'foreign-image.yaml', 'up', '-d'])

  // Then dsync says in one line that the sidecar exited and what x-sync.image must be
  expect(up.exitCode, up.stderr).toBe(75)
  expect(lines(up.stderr).at(-1)).toMatch(
    /^dsync: the sync sidecar exited with code \d+.*; x-sync\.image \(debian:bookworm-slim\) must be dsync's sync image/,
  )
  expect(up.stderr).not.toMatch(/^\s+at /m)
  // And no container, volume, network or daemon is left
  expect(await leftovers(p.name)).toEqual([])
  expect(await daemons(p)).toEqual([])
})

// ---------------------------------------------------------------------------------------------
// 7. Signals reach compose

/** SIGTERM to an attached `up` (dsync's, or plain compose's) once the app is ready. */
async function terminateAttachedUp(p: TestProject, command: string[]) {
  const [file = '', ...args] = command
  const child = spawn(file, args, { cwd: p.dir, env: p.env, stdin: 'ignore' })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  try {
    await waitFor('the app to be ready', () => output.includes('app ready'), 60_000)
    child.kill('SIGTERM')
    const result = await within(60_000, `${file} to exit after SIGTERM`, child)
    return { result, output }
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await child
  }
}

test('SIGTERM to an attached dsync compose up stops the project and dsync exits as compose does', async () => {
  // Given plain compose's own exit code for SIGTERM to an attached up (v1: 0, v2: 130)
  const plain = project('e2e-trap')
  const compose = await composeCommand()
  const expected = await terminateAttachedUp(plain, [compose.file, ...compose.prefix, 'up'])
  expect(expected.result.signal, expected.output).toBeUndefined()

  // Given an attached `dsync compose up` whose app traps TERM
  const p = project('e2e-trap')
  {
    // When SIGTERM is sent to the dsync process
    const { result, output } = await terminateAttachedUp(p, [
      process.execPath,
      cliPath,
      'compose',
      'up',
    ])

    // Then dsync exits on its own once compose has stopped the project (not killed by the
    // signal), with compose's code
    expect(result.signal, output).toBeUndefined()
    expect(result.exitCode, output).toBe(expected.result.exitCode)

    // And the app got TERM: it is stopped, exited 0 from its trap (not 137 after compose's stop
    // timeout), and logged it
    const id = await containerOf(p.name, 'app')
    const state = await run('docker', [
      'inspect',
      '--format',
      '{{.State.Running}} {{.State.ExitCode}}',
      id,
    ])
    expect(state.stdout).toBe('false 0')
    const logs = await p.dsync(['compose', 'logs', 'app'])
    expect(logs.stdout).toContain('app got TERM')
  }
})

// ---------------------------------------------------------------------------------------------
// 8. Real-world compose files

describe('a real-world compose file (80 services sharing anchors)', () => {
  let p: TestProject
  beforeAll(() => {
    p = testProject('e2e-real-world')
  })
  afterAll(async () => {
    await p.dispose()
  })

  test.each([['config'], ['ps'], ['down']])(
    '%s: accepted as plain compose accepts it',
    async (subcommand) => {
      // When the same subcommand goes to plain compose and to dsync compose
      const direct = await plainCompose(p, [subcommand])
      const viaDsync = await p.dsync(['compose', subcommand])

      // Then both succeed, and dsync says nothing about aliases
      expect(direct.exitCode, direct.stderr).toBe(0)
      expect(viaDsync.exitCode, viaDsync.stderr).toBe(0)
      expect(viaDsync.stderr).not.toMatch(/alias|YAML/i)
    },
  )

  test('config plans the sync of the one service that mounts it', async () => {
    const config = await p.dsync(['compose', 'config'])

    expect(config.exitCode, config.stderr).toBe(0)
    expect(mountsOf(config.stdout, 'app')).toEqual([
      { type: 'volume', source: 'code', target: '/app' },
    ])
  })

  test('!reset and !override in an override file: as plain compose, and no YAML warning', async () => {
    // When a file with compose's merge tags is layered on top (v2 accepts them, v1 refuses)
    const args = ['-f', 'compose.yaml', '-f', 'tags.yaml', 'config']
    const direct = await plainCompose(p, args)
    const viaDsync = await p.dsync(['compose', ...args])

    // Then dsync succeeds or fails as compose does, and never prints yaml's "Unresolved tag"
    expect(viaDsync.exitCode === 0, viaDsync.stderr).toBe(direct.exitCode === 0)
    expect(viaDsync.stderr).not.toContain('Unresolved tag')
    expect(viaDsync.stderr).not.toContain('YAMLWarning')
    if (direct.exitCode === 0) {
      const app = (
        parse(viaDsync.stdout) as { services: Record<string, { environment?: unknown }> }
      ).services.app
      expect(app?.environment).toEqual({ FROM_TAGS: '1' })
    } else {
      // (dsync needs compose's model: it stops with compose's message, exit 65)
      expect(viaDsync.exitCode).toBe(65)
      expect(viaDsync.stderr).toContain('tags.yaml')
    }
  })
})

test('a sync mounted only by a service of an inactive profile is idle: config, ps and down work', async () => {
  // Given the only service that mounts ./src in the profile "dev", which is not active
  const p = project('e2e-profiles')

  for (const subcommand of ['config', 'ps', 'down']) {
    // When the user runs config, ps and down without the profile
    const result = await p.dsync(['compose', subcommand])

    // Then each succeeds as plain compose does
    expect(result.exitCode, `${subcommand}: ${result.stderr}`).toBe(0)
    expect(result.stderr).not.toContain('no service mounts')
  }

  // And with the profile active, the sync is planned
  const active = await p.dsync(['compose', '--profile', 'dev', 'config'])
  expect(active.exitCode, active.stderr).toBe(0)
  expect(servicesOf(active.stdout)).toEqual(['app', 'db', 'dsync-sync'])
})

// ---------------------------------------------------------------------------------------------
// 9. Taking a project down whatever x-sync says now

test('down -v works after the x-sync block became invalid: the last override is used', async () => {
  // Given an rsync project that is up
  const p = project('rsync')
  const up = await p.dsync(['compose', 'up', '-d'])
  expect(up.exitCode, up.stderr).toBe(0)

  // When its x-sync block gets a mistake (a strategy typo)
  const file = path.join(p.dir, 'compose.yaml')
  writeFileSync(
    file,
    readFileSync(file, 'utf8').replace(/^( +)strategy: rsync$/m, '$1strategy: rsinc'),
  )

  // Then ps still lists the sidecar, with a one-line warning naming the problem
  const ps = await p.dsync(['compose', 'ps'])
  expect(ps.exitCode, ps.stderr).toBe(0)
  expect(ps.stdout).toContain('dsync-sync')
  expect(lines(ps.stderr)).toEqual([
    expect.stringMatching(
      /^dsync: warning: .*x-sync\.syncs\.code\.strategy: .*rsinc.*the override of the last run$/,
    ),
  ])

  // And down -v removes everything: containers, the sync volume, the network, the daemon
  const down = await p.dsync(['compose', 'down', '-v'])
  expect(down.exitCode, down.stderr).toBe(0)
  expect(await leftovers(p.name)).toEqual([])
  await waitFor('the watcher daemon to exit', async () => (await daemons(p)).length === 0, 5_000)
})

// ---------------------------------------------------------------------------------------------
// 9b. Pass-through commands from the resolved cache

test('a pass-through reuses the resolved project only while nothing changed: a new override file is planned at once', async () => {
  // Given an rsync project whose files were saved a while ago, and its model printed once
  const p = project('rsync')
  const past = new Date(Date.now() - 60_000)
  for (const name of readdirSync(p.dir)) utimesSync(path.join(p.dir, name), past, past)
  const first = await p.dsync(['compose', 'config'])
  expect(first.exitCode, first.stderr).toBe(0)
  expect(servicesOf(first.stdout)).toEqual(['app', 'dsync-sync'])
  const cache = path.join(p.env.XDG_STATE_HOME ?? '', 'dsync', 'resolved.cache')
  expect(readdirSync(cache)).toHaveLength(1)

  // When it is printed again with nothing changed, Then it is the same model
  const again = await p.dsync(['compose', 'config'])
  expect(again.exitCode, again.stderr).toBe(0)
  expect(again.stdout).toBe(first.stdout)

  // When a compose.override.yml appears with a second service mounting the synced folder
  writeFileSync(
    path.join(p.dir, 'compose.override.yml'),
    'services:\n  worker:\n    image: debian:bookworm-slim\n    volumes:\n      - ./src:/work\n',
  )
  const changed = await p.dsync(['compose', 'config'])

  // Then the very next pass-through plans it: the worker mounts the sync volume too
  expect(changed.exitCode, changed.stderr).toBe(0)
  expect(servicesOf(changed.stdout)).toEqual(['app', 'dsync-sync', 'worker'])
  expect(mountsOf(changed.stdout, 'worker')).toEqual([
    { type: 'volume', source: 'code', target: '/work' },
  ])
})

// ---------------------------------------------------------------------------------------------
// 10. The sidecar on this engine

test('the sidecar restarts with the engine, and is probed fast only while it starts (Engine 25+ and compose v2)', async () => {
  // Given an rsync project that is up
  const p = project('rsync')
  const up = await p.dsync(['compose', 'up', '-d'])
  expect(up.exitCode, up.stderr).toBe(0)

  // When the sidecar container is inspected
  const id = await containerOf(p.name, 'dsync-sync')
  const [inspect] = JSON.parse((await run('docker', ['inspect', id])).stdout) as {
    HostConfig: { RestartPolicy: { Name: string } }
    Config: { Healthcheck: { Interval?: number; StartInterval?: number; StartPeriod?: number } }
  }[]
  const engine = (await run('docker', ['version', '--format', '{{.Server.Version}}'])).stdout
  const fast = (await composeCommand()).major === 2 && Number(engine.split('.')[0]) >= 25

  // Then it comes back after an engine restart, and its health probe is 200 ms while starting
  // then 30 s (or 1 s for ever where the engine or compose cannot do that)
  expect(inspect?.HostConfig.RestartPolicy.Name).toBe('unless-stopped')
  const second = 1_000_000_000
  expect(inspect?.Config.Healthcheck).toMatchObject(
    fast
      ? { Interval: 30 * second, StartInterval: 0.2 * second, StartPeriod: 300 * second }
      : { Interval: 1 * second },
  )
})

// ---------------------------------------------------------------------------------------------
// 11. Building the sidecar image

describe('the sidecar image build', () => {
  // A build context whose one step hangs, as apt-get does on an engine without network.
  let context = ''
  const marker = `dsync-hanging-step-${Date.now().toString(36)}`
  beforeAll(() => {
    context = mkdtempSync(path.join(tmpdir(), 'dsync-e2e-build-'))
    writeFileSync(
      path.join(context, 'Dockerfile'),
      `FROM debian:bookworm-slim\nRUN echo ${marker} && sleep 120\n`,
    )
  })
  afterAll(() => {
    rmSync(context, { recursive: true, force: true })
  })

  /** Build containers of the hanging step still on the engine. */
  async function buildContainers(): Promise<string[]> {
    const ps = await run('docker', ['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.Command}}'])
    return lines(ps.stdout).filter((line) => line.includes(marker))
  }

  /** `buildImage` of the built CLI in a node process of its own, as `up` runs it. */
  function buildInChild(timeoutMs: number) {
    const script = [
      `import(${JSON.stringify(path.join(path.dirname(cliPath), '..', 'dist', 'src', 'docker', 'image.js'))})`,
      `.then((m) => m.buildImage('dsync-e2e-hang:test', { dir: ${JSON.stringify(context)}, timeoutMs: ${timeoutMs}, onProgress: (l) => process.stderr.write('progress: ' + l + '\\n') }))`,
      '.then(() => process.exit(0), (e) => { process.stderr.write(e.line() + "\\n"); process.exit(e.exitCode) })',
    ].join('')
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdin: 'ignore',
    })
    let output = ''
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    return { child, output: () => output }
  }

  test('a hanging step: one line per step, then stopped at the deadline with a hint, exit 69', async () => {
    // When the build runs with a 4 s deadline
    const { child, output } = buildInChild(4_000)
    const result = await within(30_000, 'the build to stop', child)

    // Then it printed one line per step, not the build log, and one line with the hint
    expect(result.exitCode, output()).toBe(69)
    expect(lines(output())).toEqual([
      'progress: step 1/2: FROM debian:bookworm-slim',
      `progress: step 2/2: RUN echo ${marker} && sleep 120`,
      expect.stringMatching(
        /^building the sync image dsync-e2e-hang:test did not finish in 4 s \(at step 2\/2: .*\); .*x-sync\.image/,
      ),
    ])
    // And the engine stopped the build: no container of the step is left
    await waitFor('the build container to go', async () => (await buildContainers()).length === 0)
  })

  test('Ctrl-C during the build stops it in the engine too, exit 130', async () => {
    // Given a build inside its hanging step
    const { child, output } = buildInChild(300_000)
    await waitFor('the hanging step', () => output().includes(marker), 60_000)
    await waitFor('its container', async () => (await buildContainers()).length > 0)

    // When the user presses Ctrl-C
    child.kill('SIGINT')
    const result = await within(30_000, 'the build to stop', child)

    // Then the build is stopped with one line, and its container goes
    expect(result.exitCode, output()).toBe(130)
    expect(lines(output()).at(-1)).toMatch(/^building the sync image was interrupted \(SIGINT\)/)
    await waitFor('the build container to go', async () => (await buildContainers()).length === 0)
  })
})
