import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { afterEach, beforeEach, describe, expect, test } from 'vitest'

import { parseComposeArgv } from '../../src/compose/argv.js'
import type { ComposeCli } from '../../src/compose/cli.js'
import {
  lookupResolved,
  resolvedCacheDir,
  restoreOverride,
  storeResolved,
  type CacheContext,
  type ResolvedCompose,
} from '../../src/compose/resolved-cache.js'

const V2: ComposeCli = { file: 'docker', prefix: ['compose'], major: 2, version: '2.26.1' }
const COMPOSE = [
  'services:',
  '  app:',
  '    image: alpine:${TAG:-3.20}',
  '    volumes: [./src:/app]',
  'x-sync:',
  '  syncs:',
  '    code: {src: ./src, strategy: rsync}',
  '',
].join('\n')

// Each test gets its own tree: a project with a sync src, a fake docker on PATH, a fake engine
// socket, and its own state folder. `root` is a real path (macOS /tmp is a symlink).
let root = ''
let proj = ''
let env: NodeJS.ProcessEnv = {}
beforeEach(() => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'dsync-resolved-')))
  proj = path.join(root, 'proj')
  write('proj/compose.yaml', COMPOSE)
  write('proj/.env', 'TAG=3.20\n')
  fs.mkdirSync(path.join(proj, 'src'))
  write('bin/docker', '#!/bin/sh\necho docker 1\n')
  fs.chmodSync(path.join(root, 'bin', 'docker'), 0o755)
  write('docker.sock', '')
  env = {
    PATH: path.join(root, 'bin'),
    HOME: path.join(root, 'home'),
    XDG_STATE_HOME: path.join(root, 'state'),
    DOCKER_HOST: `unix://${path.join(root, 'docker.sock')}`,
    DOCKER_CONFIG: path.join(root, 'docker-config'),
  }
})
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true })
})

function write(rel: string, text: string): void {
  const file = path.join(root, rel)
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, text)
}

/** Dates every file of the tree a minute back: loading found them settled. */
function settle(dir = root): void {
  const past = new Date(Date.now() - 60_000)
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name)
    if (entry.isDirectory()) settle(file)
    if (!entry.isSymbolicLink()) fs.utimesSync(file, past, past)
  }
}

function ctx(over: Partial<CacheContext> = {}): CacheContext {
  return {
    cwd: proj,
    env,
    code: 'code-1',
    imageTag: 'dsync-sync:aaaaaaaaaaaa',
    os: 'linux',
    ...over,
  }
}

function resolved(): ResolvedCompose {
  const override = path.join(root, 'state', 'dsync', 'proj', 'compose.override.yml')
  return {
    cli: V2,
    globals: ['compose', '-p', 'proj', '--project-directory', proj, '-f', 'compose.yaml'],
    override: { path: override, text: 'services: {}\n' },
    warnings: ['a warning'],
  }
}

/** What loading the project in `proj` read. */
function inputs(files = ['proj/compose.yaml']) {
  return {
    directory: proj,
    files: files.map((rel) => {
      const file = path.join(root, rel)
      return { path: file, text: fs.readFileSync(file, 'utf8') }
    }),
    srcs: [path.join(proj, 'src')],
    startedAt: Date.now(),
  }
}

/** Stores a resolution of `args` (before the subcommand) as loading would. */
async function store(args: string[] = [], over: Partial<CacheContext> = {}, files?: string[]) {
  settle()
  const stored = await storeResolved(
    parseComposeArgv([...args, 'ps']),
    ctx(over),
    resolved(),
    inputs(files),
  )
  expect(stored).toBe(true)
}

function lookup(args: string[] = [], over: Partial<CacheContext> = {}, sub = 'ps') {
  return lookupResolved(parseComposeArgv([...args, sub]), ctx(over))
}

/** Rewrites a file with other bytes of the same length and the same time: only the content says. */
function sameSizeAndTime(rel: string, from: string, to: string): void {
  const file = path.join(root, rel)
  const before = fs.statSync(file)
  const text = fs.readFileSync(file, 'utf8')
  expect(from.length).toBe(to.length)
  fs.writeFileSync(file, text.replace(from, to))
  fs.utimesSync(file, before.atime, before.mtime)
}

function entryFile(): string {
  const dir = resolvedCacheDir(env)
  const names = fs.readdirSync(dir)
  expect(names).toHaveLength(1)
  return path.join(dir, names[0] as string)
}

describe('lookupResolved: a hit only while nothing changed', () => {
  test('Given a stored resolution, When looked up with the same inputs, Then it is returned, for any pass-through subcommand', async () => {
    await store()

    expect(lookup()).toEqual(resolved())
    expect(lookup([], {}, 'logs')).toEqual(resolved())
  })

  test('Given nothing stored, When looked up, Then it is a miss', () => {
    expect(lookup()).toBeUndefined()
  })

  test('Given a variable the files do not mention changes, When looked up, Then it is still a hit', async () => {
    await store()
    env.SOMETHING_ELSE = 'x'

    expect(lookup()).toEqual(resolved())
  })
})

describe('lookupResolved: every input kind, changed, is a miss', () => {
  test('Given the compose file gets other bytes (same size, same time), Then a miss', async () => {
    await store()
    sameSizeAndTime('proj/compose.yaml', 'rsync', 'unson')

    expect(lookup()).toBeUndefined()
  })

  test('Given .env gets other bytes (same size, same time), Then a miss', async () => {
    await store()
    sameSizeAndTime('proj/.env', '3.20', '3.21')

    expect(lookup()).toBeUndefined()
  })

  test('Given .env appears where there was none, Then a miss', async () => {
    fs.rmSync(path.join(proj, '.env'))
    await store()
    write('proj/.env', 'TAG=edge\n')

    expect(lookup()).toBeUndefined()
  })

  test('Given --env-file names a file outside the project, When it changes, Then a miss', async () => {
    write('envs/other.env', 'TAG=3.20\n')
    await store(['--env-file', '../envs/other.env'])
    sameSizeAndTime('envs/other.env', '3.20', '3.19')

    expect(lookup(['--env-file', '../envs/other.env'])).toBeUndefined()
  })

  test('Given compose.override.yml is created next to compose.yaml (compose picks it up), Then a miss', async () => {
    await store()
    write('proj/compose.override.yml', 'services: {}\n')

    expect(lookup()).toBeUndefined()
  })

  test('Given the project was found in a parent folder, When a compose file appears in the working folder, Then a miss', async () => {
    fs.mkdirSync(path.join(proj, 'sub'))
    await store([], { cwd: path.join(proj, 'sub') })
    expect(lookup([], { cwd: path.join(proj, 'sub') })).toEqual(resolved())

    write('proj/sub/docker-compose.yml', 'services: {}\n')

    expect(lookup([], { cwd: path.join(proj, 'sub') })).toBeUndefined()
  })

  test('Given -f names one file, When that file changes, Then a miss', async () => {
    write('proj/other.yaml', COMPOSE)
    await store(['-f', 'other.yaml'], {}, ['proj/other.yaml'])
    sameSizeAndTime('proj/other.yaml', 'rsync', 'unson')

    expect(lookup(['-f', 'other.yaml'])).toBeUndefined()
  })

  test('Given a variable the compose file mentions changes in the environment, Then a miss', async () => {
    env.TAG = '3.20'
    await store()
    env.TAG = '3.21'

    expect(lookup()).toBeUndefined()
  })

  test('Given a variable the compose file mentions is unset, Then a miss', async () => {
    env.TAG = '3.20'
    await store()
    delete env.TAG

    expect(lookup()).toBeUndefined()
  })

  test('Given a COMPOSE_* variable changes (COMPOSE_PROFILES), Then a miss', async () => {
    await store()
    env.COMPOSE_PROFILES = 'debug'

    expect(lookup()).toBeUndefined()
  })

  test('Given HOME changes (a ~ in a sync src reads it), Then a miss', async () => {
    await store()
    env.HOME = path.join(root, 'other-home')

    expect(lookup()).toBeUndefined()
  })

  test('Given the sync src is removed, Then a miss', async () => {
    await store()
    fs.rmSync(path.join(proj, 'src'), { recursive: true })

    expect(lookup()).toBeUndefined()
  })

  test('Given the sync src becomes a symlink to another folder, Then a miss', async () => {
    await store()
    fs.rmSync(path.join(proj, 'src'), { recursive: true })
    fs.mkdirSync(path.join(root, 'elsewhere'))
    fs.symlinkSync(path.join(root, 'elsewhere'), path.join(proj, 'src'))

    expect(lookup()).toBeUndefined()
  })

  test('Given the docker CLI on PATH is replaced, Then a miss', async () => {
    await store()
    write('bin/docker', '#!/bin/sh\necho docker 2 with more\n')

    expect(lookup()).toBeUndefined()
  })

  test('Given docker-compose (v1) appears on PATH, Then a miss', async () => {
    await store()
    write('bin/docker-compose', '#!/bin/sh\n')

    expect(lookup()).toBeUndefined()
  })

  test('Given DSYNC_COMPOSE=v1 (compose v1 asked for), Then a miss', async () => {
    await store()
    env.DSYNC_COMPOSE = 'v1'

    expect(lookup()).toBeUndefined()
  })

  test('Given PATH changes, Then a miss', async () => {
    await store()
    fs.mkdirSync(path.join(root, 'bin2'))
    fs.copyFileSync(path.join(root, 'bin', 'docker'), path.join(root, 'bin2', 'docker'))
    env.PATH = path.join(root, 'bin2')

    expect(lookup()).toBeUndefined()
  })

  test('Given another platform, Then a miss', async () => {
    await store()

    expect(lookup([], { os: 'darwin' })).toBeUndefined()
  })

  test('Given another engine endpoint (DOCKER_HOST), Then a miss', async () => {
    await store()
    env.DOCKER_HOST = 'tcp://10.0.0.2:2375'

    expect(lookup()).toBeUndefined()
  })

  test('Given the engine socket was re-created (the engine restarted, maybe upgraded), Then a miss', async () => {
    await store()
    fs.rmSync(path.join(root, 'docker.sock'))
    write('docker.sock', '')

    expect(lookup()).toBeUndefined()
  })

  test("Given another version of dsync's code, Then a miss", async () => {
    await store()

    expect(lookup([], { code: 'code-2' })).toBeUndefined()
  })

  test('Given another sync image tag, Then a miss', async () => {
    await store()

    expect(lookup([], { imageTag: 'dsync-sync:bbbbbbbbbbbb' })).toBeUndefined()
  })

  test('Given other global flags (-p), Then a miss', async () => {
    await store()

    expect(lookup(['-p', 'other'])).toBeUndefined()
  })

  test('Given another working folder, Then a miss', async () => {
    await store()

    expect(lookup([], { cwd: root })).toBeUndefined()
  })

  test('Given XDG_STATE_HOME changes (the override lives there), Then a miss', async () => {
    await store()
    env.XDG_STATE_HOME = path.join(root, 'state2')

    expect(lookup()).toBeUndefined()
  })

  test('Given a file the compose file extends, outside the project, When it changes, Then a miss', async () => {
    write('common/base.yml', 'services:\n  base:\n    image: alpine\n')
    write(
      'proj/compose.yaml',
      `${COMPOSE}\n`.replace(
        'services:\n',
        'services:\n  web:\n    extends: {file: ../common/base.yml, service: base}\n',
      ),
    )
    await store()
    sameSizeAndTime('common/base.yml', 'alpine', 'ubuntu')

    expect(lookup()).toBeUndefined()
  })

  test('Given a file the compose file includes, and a file that one extends, When the second changes, Then a miss', async () => {
    write('shared/inc.yaml', 'services:\n  db:\n    extends: {file: deeper.yaml, service: x}\n')
    write('shared/deeper.yaml', 'services:\n  x:\n    image: postgres\n')
    write('proj/compose.yaml', `include:\n  - ../shared/inc.yaml\n${COMPOSE}`)
    await store()
    sameSizeAndTime('shared/deeper.yaml', 'postgres', 'postgrex')

    expect(lookup()).toBeUndefined()
  })

  test('Given a variable only an included file mentions changes, Then a miss', async () => {
    write('shared/inc.yaml', 'services:\n  db:\n    image: postgres:${PG}\n')
    write('proj/compose.yaml', `include:\n  - ../shared/inc.yaml\n${COMPOSE}`)
    env.PG = '16'
    await store()
    env.PG = '17'

    expect(lookup()).toBeUndefined()
  })

  test('Given an env_file of a service changes, Then a miss', async () => {
    write('config/app.env', 'A=1\n')
    write(
      'proj/compose.yaml',
      COMPOSE.replace('    image:', '    env_file: [../config/app.env]\n    image:'),
    )
    await store()
    sameSizeAndTime('config/app.env', 'A=1', 'A=2')

    expect(lookup()).toBeUndefined()
  })

  test('Given any other file in the project folder changes (what compose may read through a variable), Then a miss', async () => {
    write('proj/app.env', 'A=1\n')
    await store()
    write('proj/app.env', 'A=22\n')

    expect(lookup()).toBeUndefined()
  })
})

describe('entries on disk', () => {
  test('Given a stored entry, Then it is a 0600 file in a 0700 folder under the state folder, and holds no variable value', async () => {
    env.TAG = 'secret-value-1234'
    await store()

    const file = entryFile()
    expect(path.dirname(file)).toBe(path.join(root, 'state', 'dsync', 'resolved.cache'))
    expect(fs.statSync(file).mode & 0o777).toBe(0o600)
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700)
    expect(fs.statSync(path.dirname(path.dirname(file))).mode & 0o777).toBe(0o700)
    expect(fs.readFileSync(file, 'utf8')).not.toContain('secret-value-1234')
  })

  test.each([
    ['not JSON', (file: string) => fs.writeFileSync(file, '{"format": 1, "key": ')],
    ['JSON of another shape', (file: string) => fs.writeFileSync(file, '{"format":1,"key":3}')],
    ['empty', (file: string) => fs.writeFileSync(file, '')],
    [
      'a folder',
      (file: string) => {
        fs.rmSync(file)
        fs.mkdirSync(file)
      },
    ],
    ['writable by others', (file: string) => fs.chmodSync(file, 0o666)],
  ])(
    'Given an entry that is %s, When looked up, Then a miss and no error',
    async (_what, spoil) => {
      await store()
      spoil(entryFile())

      expect(lookup()).toBeUndefined()
    },
  )

  test('Given an entry whose resolution was tampered with to another shape, Then a miss', async () => {
    await store()
    const file = entryFile()
    const entry = JSON.parse(fs.readFileSync(file, 'utf8')) as { resolved: { globals: unknown } }
    entry.resolved.globals = 'rm -rf /'
    fs.writeFileSync(file, JSON.stringify(entry))

    expect(lookup()).toBeUndefined()
  })

  test('Given a state folder that cannot be written (XDG_STATE_HOME is a file), When storing, Then nothing is stored and nothing throws', async () => {
    write('state-file', '')
    env.XDG_STATE_HOME = path.join(root, 'state-file')
    settle()

    const stored = await storeResolved(parseComposeArgv(['ps']), ctx(), resolved(), inputs())

    expect(stored).toBe(false)
    expect(lookup()).toBeUndefined()
  })

  test('Given a compose file that changed while it was loaded, When storing, Then nothing is stored', async () => {
    settle()
    const loaded = inputs()
    sameSizeAndTime('proj/compose.yaml', 'rsync', 'unson')

    const stored = await storeResolved(parseComposeArgv(['ps']), ctx(), resolved(), loaded)

    expect(stored).toBe(false)
  })

  test('Given a file of the project written just before loading began, When storing, Then nothing is stored (its time cannot tell a later change)', async () => {
    settle()
    write('proj/.env', 'TAG=3.21\n')

    const stored = await storeResolved(parseComposeArgv(['ps']), ctx(), resolved(), inputs())

    expect(stored).toBe(false)
  })

  test('Given the override went missing, When restored, Then it is written back, 0600', () => {
    const { override } = resolved()
    if (!override) throw new Error('no override')

    restoreOverride(override)

    expect(fs.readFileSync(override.path, 'utf8')).toBe(override.text)
    expect(fs.statSync(override.path).mode & 0o777).toBe(0o600)
  })
})
