import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { afterEach, beforeEach, describe, expect, test } from 'vitest'

import { parseComposeArgv } from '../../src/compose/argv.js'
import { normalizeProjectName, resolveProject, type Project } from '../../src/compose/project.js'
import { AbortError, ExitCode } from '../../src/lib/errors.js'

const SERVICES = 'services:\n  app:\n    image: alpine\n'

// Each test gets its own folder tree; `root` is its real path (macOS /tmp is a symlink).
let root = ''
beforeEach(() => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'dsync-project-')))
})
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true })
})

/** Writes files under `root`: `{'proj/compose.yaml': '...'}`. */
function tree(files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    const file = path.join(root, rel)
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file, text)
  }
}

/** `dsync compose <args> up` from `root/<cwd>` with exactly this environment. */
function resolve(cwd: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Project {
  return resolveProject(parseComposeArgv([...args, 'up']), { cwd: path.join(root, cwd), env })
}

function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected an error')
}

function filesOf(project: Project): string[] {
  return project.files.map((f) => path.relative(root, f.path))
}

describe('resolveProject: which files', () => {
  test('Given only compose.yaml, When resolved, Then it is the one file, read, in its folder', () => {
    tree({ 'proj/compose.yaml': SERVICES })

    const project = resolve('proj')

    expect(filesOf(project)).toEqual(['proj/compose.yaml'])
    expect(project.files[0]?.text).toBe(SERVICES)
    expect(project.directory).toBe(path.join(root, 'proj'))
    expect(project.fromStdin).toBe(false)
  })

  test.each([
    [['compose.yaml', 'docker-compose.yml'], 'compose.yaml'],
    [['compose.yaml', 'compose.yml'], 'compose.yaml'],
    [['compose.yml', 'docker-compose.yaml'], 'compose.yml'],
    [['docker-compose.yml', 'docker-compose.yaml'], 'docker-compose.yml'],
    [['docker-compose.yaml'], 'docker-compose.yaml'],
  ])('Given the default files %j, When resolved, Then compose would pick %s', (names, winner) => {
    tree(Object.fromEntries(names.map((n) => [`proj/${n}`, SERVICES])))

    expect(filesOf(resolve('proj'))).toEqual([`proj/${winner}`])
  })

  test('Given compose.yaml two folders up, When resolved from a subfolder, Then it is found and its folder is the project', () => {
    tree({ 'proj/compose.yaml': SERVICES, 'proj/src/deep/.keep': '' })

    const project = resolve('proj/src/deep')

    expect(filesOf(project)).toEqual(['proj/compose.yaml'])
    expect(project.directory).toBe(path.join(root, 'proj'))
    expect(project.name).toBe('proj')
  })

  test('Given compose.yaml and compose.override.yaml, When resolved, Then the override is layered second', () => {
    tree({ 'proj/compose.yaml': SERVICES, 'proj/compose.override.yaml': SERVICES })

    expect(filesOf(resolve('proj'))).toEqual(['proj/compose.yaml', 'proj/compose.override.yaml'])
  })

  test('Given docker-compose.yml and docker-compose.override.yml, When resolved, Then the override is layered second', () => {
    tree({ 'proj/docker-compose.yml': SERVICES, 'proj/docker-compose.override.yml': SERVICES })

    expect(filesOf(resolve('proj'))).toEqual([
      'proj/docker-compose.yml',
      'proj/docker-compose.override.yml',
    ])
  })

  test('Given compose.yaml with both override spellings, When resolved, Then compose.override.yml wins as in compose', () => {
    tree({
      'proj/compose.yaml': SERVICES,
      'proj/compose.override.yaml': SERVICES,
      'proj/compose.override.yml': SERVICES,
    })

    expect(filesOf(resolve('proj'))).toEqual(['proj/compose.yaml', 'proj/compose.override.yml'])
  })

  test('Given compose.yaml and a docker-compose.override.yml, When resolved, Then compose includes it too', () => {
    tree({ 'proj/compose.yaml': SERVICES, 'proj/docker-compose.override.yml': SERVICES })

    expect(filesOf(resolve('proj'))).toEqual([
      'proj/compose.yaml',
      'proj/docker-compose.override.yml',
    ])
  })

  test('Given -f, When resolved, Then the override file is not added and the path is relative to cwd', () => {
    tree({
      'proj/compose.yaml': SERVICES,
      'proj/compose.override.yaml': SERVICES,
      'other/base.yml': SERVICES,
      'other/extra.yml': SERVICES,
    })

    const project = resolve('proj', ['-f', '../other/base.yml', '-f', '../other/extra.yml'])

    expect(filesOf(project)).toEqual(['other/base.yml', 'other/extra.yml'])
    expect(project.directory).toBe(path.join(root, 'other'))
    expect(project.name).toBe('other')
  })

  test('Given COMPOSE_FILE with ":", When resolved, Then both files in order, relative to cwd', () => {
    tree({ 'proj/a.yml': SERVICES, 'proj/b.yml': SERVICES, 'proj/compose.yaml': SERVICES })

    const project = resolve('proj', [], { COMPOSE_FILE: 'a.yml:b.yml' })

    expect(filesOf(project)).toEqual(['proj/a.yml', 'proj/b.yml'])
  })

  test('Given COMPOSE_FILE with COMPOSE_PATH_SEPARATOR=";", When resolved, Then it splits on ";"', () => {
    tree({ 'proj/a.yml': SERVICES, 'proj/b.yml': SERVICES })

    const project = resolve('proj', [], {
      COMPOSE_FILE: 'a.yml;b.yml',
      COMPOSE_PATH_SEPARATOR: ';',
    })

    expect(filesOf(project)).toEqual(['proj/a.yml', 'proj/b.yml'])
  })

  test('Given COMPOSE_FILE set in .env, When resolved, Then it is honoured', () => {
    tree({ 'proj/a.yml': SERVICES, 'proj/.env': 'COMPOSE_FILE=a.yml\n' })

    expect(filesOf(resolve('proj'))).toEqual(['proj/a.yml'])
  })

  test('Given both -f and COMPOSE_FILE, When resolved, Then -f wins', () => {
    tree({ 'proj/a.yml': SERVICES, 'proj/b.yml': SERVICES })

    expect(filesOf(resolve('proj', ['-f', 'b.yml'], { COMPOSE_FILE: 'a.yml' }))).toEqual([
      'proj/b.yml',
    ])
  })

  test('Given -f -, When resolved, Then the project reads from stdin and has no file to read', () => {
    tree({ 'proj/.keep': '' })

    const project = resolve('proj', ['-f', '-'])

    expect(project.fromStdin).toBe(true)
    expect(project.files).toEqual([])
    expect(project.directory).toBe(path.join(root, 'proj'))
  })
})

describe('resolveProject: missing files', () => {
  test('Given -f naming a missing file, When resolved, Then exit 66 and the path as given', () => {
    tree({ 'proj/compose.yaml': SERVICES })

    const error = thrown(() => resolve('proj', ['-f', 'nope.yaml']))

    expect(error).toBeInstanceOf(AbortError)
    expect((error as AbortError).exitCode).toBe(ExitCode.noInput)
    expect((error as AbortError).exitCode).toBe(66)
    expect((error as AbortError).line()).toBe(
      'compose file nope.yaml does not exist; check -f or COMPOSE_FILE',
    )
  })

  // Only meaningful when no folder above the temp dir holds a compose file of its own.
  const tmpHasCompose = (() => {
    for (let dir = fs.realpathSync(os.tmpdir()); ; dir = path.dirname(dir)) {
      for (const name of [
        'compose.yaml',
        'compose.yml',
        'docker-compose.yml',
        'docker-compose.yaml',
      ])
        if (fs.existsSync(path.join(dir, name))) return true
      if (path.dirname(dir) === dir) return false
    }
  })()

  test.skipIf(tmpHasCompose)(
    'Given no compose file in the folder or above, When resolved, Then exit 66 with what to do',
    () => {
      tree({ 'empty/.keep': '' })

      const error = thrown(() => resolve('empty'))

      expect(error).toBeInstanceOf(AbortError)
      expect((error as AbortError).exitCode).toBe(66)
      expect((error as AbortError).line()).toBe(
        `no compose file found in ${path.join(root, 'empty')} or its parent folders; create compose.yaml, or pass -f FILE`,
      )
    },
  )

  test('Given --env-file naming a missing file, When resolved, Then exit 66', () => {
    tree({ 'proj/compose.yaml': SERVICES })

    const error = thrown(() => resolve('proj', ['--env-file', 'missing.env'])) as AbortError

    expect(error.exitCode).toBe(66)
    expect(error.line()).toBe(
      `--env-file ${path.join(root, 'proj', 'missing.env')}: no such file; fix the path`,
    )
  })

  test('Given --project-directory naming a missing folder, When resolved, Then exit 66', () => {
    tree({ 'proj/compose.yaml': SERVICES })

    const error = thrown(() => resolve('proj', ['--project-directory', 'gone'])) as AbortError

    expect(error.exitCode).toBe(66)
    expect(error.line()).toBe(
      `--project-directory gone: no such folder (resolved to ${path.join(root, 'proj', 'gone')}); fix the path or create the folder`,
    )
  })
})

describe('resolveProject: project name', () => {
  const named = 'name: fromfile\n' + SERVICES

  test('Given -p, COMPOSE_PROJECT_NAME, name: and a folder, When resolved, Then -p wins', () => {
    tree({ 'proj/compose.yaml': named, 'proj/.env': 'COMPOSE_PROJECT_NAME=fromdotenv\n' })

    expect(resolve('proj', ['-p', 'fromflag'], { COMPOSE_PROJECT_NAME: 'fromenv' }).name).toBe(
      'fromflag',
    )
  })

  test('Given COMPOSE_PROJECT_NAME in the environment and in .env, When resolved, Then the environment wins', () => {
    tree({ 'proj/compose.yaml': named, 'proj/.env': 'COMPOSE_PROJECT_NAME=fromdotenv\n' })

    expect(resolve('proj', [], { COMPOSE_PROJECT_NAME: 'fromenv' }).name).toBe('fromenv')
  })

  test('Given COMPOSE_PROJECT_NAME only in .env, When resolved, Then it beats name:', () => {
    tree({ 'proj/compose.yaml': named, 'proj/.env': 'COMPOSE_PROJECT_NAME=fromdotenv\n' })

    expect(resolve('proj').name).toBe('fromdotenv')
  })

  test('Given an empty COMPOSE_PROJECT_NAME, When resolved, Then it is ignored', () => {
    tree({ 'proj/compose.yaml': named })

    expect(resolve('proj', [], { COMPOSE_PROJECT_NAME: '' }).name).toBe('fromfile')
  })

  test('Given name: in the base and in a later file, When resolved, Then the last file wins over the folder', () => {
    tree({ 'proj/a.yml': named, 'proj/b.yml': 'name: later\n' })

    expect(resolve('proj', ['-f', 'a.yml', '-f', 'b.yml']).name).toBe('later')
  })

  test('Given a name: that still holds a variable, When resolved, Then the folder name is used', () => {
    tree({ 'proj/compose.yaml': 'name: ${NAME}\n' + SERVICES })

    expect(resolve('proj').name).toBe('proj')
  })

  test('Given only the folder "My App.v2", When resolved, Then the name is normalised to myappv2', () => {
    tree({ 'My App.v2/compose.yaml': SERVICES })

    expect(resolve('My App.v2').name).toBe('myappv2')
  })

  test.each([
    ['My App.v2', 'myappv2'],
    ['_-Leading', 'leading'],
    ['keep_this-one9', 'keep_this-one9'],
    ['Ünïcode', 'ncode'],
  ])('Given %j, When normalised, Then %j', (raw, name) => {
    expect(normalizeProjectName(raw)).toBe(name)
  })

  test('Given a folder name with nothing usable, When resolved, Then exit 64 asks for -p', () => {
    tree({ '___/compose.yaml': SERVICES })

    const error = thrown(() => resolve('___')) as AbortError

    expect(error.exitCode).toBe(64)
    expect(error.line()).toBe(
      'cannot derive a project name from folder "___"; pass -p NAME or set COMPOSE_PROJECT_NAME',
    )
  })
})

describe('resolveProject: environment', () => {
  test('Given .env and the process environment, When resolved, Then the process environment wins', () => {
    tree({ 'proj/compose.yaml': SERVICES, 'proj/.env': 'SHARED=file\nONLY_FILE=file\n' })

    const project = resolve('proj', [], { SHARED: 'shell', ONLY_SHELL: 'shell' })

    expect(project.env).toEqual({ SHARED: 'shell', ONLY_FILE: 'file', ONLY_SHELL: 'shell' })
  })

  test('Given a .env value that references the shell environment, When resolved, Then it is interpolated from it', () => {
    tree({ 'proj/compose.yaml': SERVICES, 'proj/.env': 'CODE=${HOME}/code\n' })

    expect(resolve('proj', [], { HOME: '/home/me' }).env.CODE).toBe('/home/me/code')
  })

  test('Given --env-file, When resolved, Then it replaces .env', () => {
    tree({
      'proj/compose.yaml': SERVICES,
      'proj/.env': 'FROM_DOTENV=yes\nWHO=dotenv\n',
      'proj/dev.env': 'WHO=dev\n',
    })

    const project = resolve('proj', ['--env-file', 'dev.env'])

    expect(project.env).toEqual({ WHO: 'dev' })
  })

  test('Given two --env-file, When resolved, Then the later file wins and can use the earlier', () => {
    tree({
      'proj/compose.yaml': SERVICES,
      'proj/a.env': 'WHO=a\nBASE=/srv\n',
      'proj/b.env': 'WHO=b\nDIR=${BASE}/app\n',
    })

    expect(resolve('proj', ['--env-file', 'a.env', '--env-file', 'b.env']).env).toEqual({
      WHO: 'b',
      BASE: '/srv',
      DIR: '/srv/app',
    })
  })

  test('Given -f to a file in another folder, When resolved, Then .env comes from that folder, not from cwd', () => {
    tree({
      'here/.env': 'ONLY_HERE=1\nCOMPOSE_PROJECT_NAME=fromhere\n',
      'other/compose.yaml': SERVICES,
      'other/.env': 'ONLY_OTHER=1\n',
    })

    const project = resolve('here', ['-f', '../other/compose.yaml'])

    expect(project.env).toEqual({ ONLY_OTHER: '1' })
    expect(project.name).toBe('other')
  })

  test('Given compose.yaml found in a parent folder, When resolved, Then the .env of that folder is read', () => {
    tree({ 'proj/compose.yaml': SERVICES, 'proj/.env': 'FROM_PROJECT=1\n', 'proj/sub/.keep': '' })

    expect(resolve('proj/sub').env.FROM_PROJECT).toBe('1')
  })

  test('Given --project-directory, When resolved, Then files, .env and name come from that folder', () => {
    tree({
      'proj/compose.yaml': SERVICES,
      'proj/.env': 'FROM_PROJECT=1\n',
      '.env': 'FROM_CWD=1\n',
    })

    const project = resolve('', ['--project-directory', 'proj'])

    expect(filesOf(project)).toEqual(['proj/compose.yaml'])
    expect(project.directory).toBe(path.join(root, 'proj'))
    expect(project.env).toEqual({ FROM_PROJECT: '1' })
    expect(project.name).toBe('proj')
  })

  test('Given --project-directory and -f elsewhere, When resolved, Then the directory is the flag', () => {
    tree({ 'proj/.keep': '', 'files/compose.yaml': SERVICES })

    const project = resolve('', ['--project-directory', 'proj', '-f', 'files/compose.yaml'])

    expect(filesOf(project)).toEqual(['files/compose.yaml'])
    expect(project.directory).toBe(path.join(root, 'proj'))
    expect(project.name).toBe('proj')
  })
})

describe('resolveProject: profiles', () => {
  test('Given COMPOSE_PROFILES with spaces, When resolved, Then each profile is trimmed', () => {
    tree({ 'proj/compose.yaml': SERVICES })

    expect(resolve('proj', [], { COMPOSE_PROFILES: 'dev, debug,,' }).profiles).toEqual([
      'dev',
      'debug',
    ])
  })

  test('Given COMPOSE_PROFILES in .env, When resolved, Then it is honoured', () => {
    tree({ 'proj/compose.yaml': SERVICES, 'proj/.env': 'COMPOSE_PROFILES=tools\n' })

    expect(resolve('proj').profiles).toEqual(['tools'])
  })

  test('Given --profile and COMPOSE_PROFILES, When resolved, Then --profile wins', () => {
    tree({ 'proj/compose.yaml': SERVICES })

    expect(resolve('proj', ['--profile', 'cli'], { COMPOSE_PROFILES: 'dev' }).profiles).toEqual([
      'cli',
    ])
  })
})

describe('resolveProject: real-world files', () => {
  test("Given name: in a file with many aliases and compose's !reset tags, When resolved, Then the name is read and nothing is printed", () => {
    const direct = Array.from({ length: 60 }, (_, i) => `  w${i}: {image: w, logging: *logging}`)
    const merged = Array.from({ length: 20 }, (_, i) => `  s${i}: {<<: *common, ports: !reset []}`)
    tree({
      'proj/compose.yaml': [
        'name: selfhosted',
        'x-logging: &logging {driver: json-file}',
        'x-common: &common {restart: always, logging: *logging}',
        'services:',
        ...direct,
        ...merged,
      ].join('\n'),
    })
    const warnings: string[] = []
    const onWarning = (w: Error) => warnings.push(w.message)
    process.on('warning', onWarning)

    const project = resolve('proj')
    process.off('warning', onWarning)

    expect(project.name).toBe('selfhosted')
    expect(warnings).toEqual([])
  })
})
