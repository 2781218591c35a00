import { describe, expect, test } from 'vitest'

import { hasFlag, parseComposeArgv, type ComposeArgv } from '../../src/compose/argv.js'
import { AbortError, ExitCode } from '../../src/lib/errors.js'

/** The parse of a bare `dsync compose`, to spread the expected fields over. */
const EMPTY: ComposeArgv = {
  passthroughGlobals: [],
  files: [],
  projectName: undefined,
  profiles: [],
  envFiles: [],
  projectDirectory: undefined,
  subcommand: undefined,
  subArgs: [],
  globalInfo: false,
}

function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected an error')
}

describe('parseComposeArgv: files and project', () => {
  test('Given nothing, When parsed, Then no subcommand and no globals', () => {
    expect(parseComposeArgv([])).toEqual(EMPTY)
  })

  test('Given -f twice, When parsed, Then both files are kept in order and not passed through', () => {
    expect(parseComposeArgv(['-f', 'a.yml', '-f', 'b.yml', 'up'])).toEqual({
      ...EMPTY,
      files: ['a.yml', 'b.yml'],
      subcommand: 'up',
    })
  })

  test.each([
    [['--file=a.yml', 'ps'], ['a.yml']],
    [['--file', 'a.yml', 'ps'], ['a.yml']],
    [['-fa.yml', 'ps'], ['a.yml']],
    [['-f=a.yml', 'ps'], ['a.yml']],
    [
      ['-f', 'a.yml', '--file=b.yml', '-fc.yml', 'ps'],
      ['a.yml', 'b.yml', 'c.yml'],
    ],
  ])('Given the file flag form %j, When parsed, Then files are %j', (argv, files) => {
    const parsed = parseComposeArgv(argv)
    expect(parsed.files).toEqual(files)
    expect(parsed.subcommand).toBe('ps')
    expect(parsed.passthroughGlobals).toEqual([])
  })

  test.each([
    [['-p', 'x', 'up']],
    [['--project-name', 'x', 'up']],
    [['--project-name=x', 'up']],
    [['-px', 'up']],
  ])('Given the project flag form %j, When parsed, Then the project name is x', (argv) => {
    expect(parseComposeArgv(argv)).toEqual({ ...EMPTY, projectName: 'x', subcommand: 'up' })
  })

  test('Given -p twice, When parsed, Then the last one wins, as in compose', () => {
    expect(parseComposeArgv(['-p', 'one', '-p', 'two', 'up']).projectName).toBe('two')
  })

  test('Given --project-directory in both forms, When parsed, Then it is kept and not passed through', () => {
    expect(parseComposeArgv(['--project-directory', 'sub', 'up'])).toEqual({
      ...EMPTY,
      projectDirectory: 'sub',
      subcommand: 'up',
    })
    expect(parseComposeArgv(['--project-directory=../other', 'up']).projectDirectory).toBe(
      '../other',
    )
  })
})

describe('parseComposeArgv: globals compose must see again', () => {
  test('Given --profile twice, When parsed, Then both profiles are known and passed through', () => {
    expect(parseComposeArgv(['--profile', 'dev', '--profile=debug', 'up'])).toEqual({
      ...EMPTY,
      profiles: ['dev', 'debug'],
      passthroughGlobals: ['--profile', 'dev', '--profile', 'debug'],
      subcommand: 'up',
    })
  })

  test('Given --env-file, When parsed, Then the file is known and passed through', () => {
    expect(parseComposeArgv(['--env-file', '.env.dev', '--env-file=.env.local', 'up'])).toEqual({
      ...EMPTY,
      envFiles: ['.env.dev', '.env.local'],
      passthroughGlobals: ['--env-file', '.env.dev', '--env-file', '.env.local'],
      subcommand: 'up',
    })
  })

  test('Given --ansi never, --compatibility and --dry-run, When parsed, Then they pass through verbatim and in order', () => {
    expect(
      parseComposeArgv(['--ansi', 'never', '--compatibility', '--dry-run', '-f', 'a.yml', 'up']),
    ).toEqual({
      ...EMPTY,
      files: ['a.yml'],
      passthroughGlobals: ['--ansi', 'never', '--compatibility', '--dry-run'],
      subcommand: 'up',
    })
  })

  test('Given value globals written with =, When parsed, Then they pass through as flag and value', () => {
    expect(
      parseComposeArgv(['--ansi=never', '--progress=plain', '--parallel', '2', 'build'])
        .passthroughGlobals,
    ).toEqual(['--ansi', 'never', '--progress', 'plain', '--parallel', '2'])
  })

  test('Given an unknown --flag=value before the subcommand, When parsed, Then it is kept for a newer compose', () => {
    expect(parseComposeArgv(['--future=1', 'up']).passthroughGlobals).toEqual(['--future=1'])
  })
})

describe('parseComposeArgv: the subcommand', () => {
  test('Given exec -it app ls -h, When parsed, Then the subcommand args are verbatim and -h is not global', () => {
    expect(parseComposeArgv(['exec', '-it', 'app', 'ls', '-h'])).toEqual({
      ...EMPTY,
      subcommand: 'exec',
      subArgs: ['-it', 'app', 'ls', '-h'],
    })
  })

  test('Given run --rm app sh -c "x", When parsed, Then the command string stays one argument', () => {
    const parsed = parseComposeArgv(['-p', 'demo', 'run', '--rm', 'app', 'sh', '-c', 'echo "a b"'])
    expect(parsed.subcommand).toBe('run')
    expect(parsed.subArgs).toEqual(['--rm', 'app', 'sh', '-c', 'echo "a b"'])
    expect(parsed.projectName).toBe('demo')
  })

  test('Given args after -- in the subcommand, When parsed, Then they are kept verbatim, -- included', () => {
    expect(parseComposeArgv(['run', 'app', '--', '-f', 'x', '-p']).subArgs).toEqual([
      'app',
      '--',
      '-f',
      'x',
      '-p',
    ])
  })

  test('Given -- before the subcommand, When parsed, Then it ends the globals and is dropped', () => {
    expect(parseComposeArgv(['-f', 'a.yml', '--', 'up', '-d'])).toEqual({
      ...EMPTY,
      files: ['a.yml'],
      subcommand: 'up',
      subArgs: ['-d'],
    })
  })

  test('Given down -v, When parsed, Then -v belongs to down and is not globalInfo', () => {
    const parsed = parseComposeArgv(['down', '-v'])
    expect(parsed.globalInfo).toBe(false)
    expect(parsed.passthroughGlobals).toEqual([])
    expect(parsed.subArgs).toEqual(['-v'])
  })
})

describe('parseComposeArgv: version and help before a subcommand', () => {
  test.each([['-v'], ['--version'], ['-h'], ['--help']])(
    'Given %s alone, When parsed, Then globalInfo is set and the flag passes through',
    (flag) => {
      expect(parseComposeArgv([flag])).toEqual({
        ...EMPTY,
        passthroughGlobals: [flag],
        globalInfo: true,
      })
    },
  )

  test('Given -h before up, When parsed, Then globalInfo is set and up is still the subcommand', () => {
    const parsed = parseComposeArgv(['-h', 'up'])
    expect(parsed.globalInfo).toBe(true)
    expect(parsed.subcommand).toBe('up')
  })
})

describe('parseComposeArgv: usage errors', () => {
  test('Given an unknown flag before the subcommand, When parsed, Then an AbortError with exit 64 and one line', () => {
    const error = thrown(() => parseComposeArgv(['-d', 'up']))
    expect(error).toBeInstanceOf(AbortError)
    expect((error as AbortError).exitCode).toBe(ExitCode.usage)
    expect((error as AbortError).exitCode).toBe(64)
    expect((error as AbortError).line()).toBe(
      'unknown compose flag -d before the subcommand; put subcommand flags after the subcommand, e.g. dsync compose up -d; see docker compose --help',
    )
  })

  test('Given an unknown --flag without value, When parsed, Then the message names it verbatim', () => {
    const error = thrown(() => parseComposeArgv(['--detach', 'up'])) as AbortError
    expect(error.message).toBe('unknown compose flag --detach before the subcommand')
  })

  test('Given a boolean global written --flag=value, When parsed, Then it passes through for compose to judge', () => {
    expect(parseComposeArgv(['--dry-run=true', 'up']).passthroughGlobals).toEqual([
      '--dry-run=true',
    ])
  })

  test.each([
    ['-f', 'compose flag -f needs a value; e.g. dsync compose -f compose.yml up'],
    ['--file', 'compose flag --file needs a value; e.g. dsync compose --file compose.yml up'],
    ['-p', 'compose flag -p needs a value; e.g. dsync compose -p myproject up'],
    ['--env-file', 'compose flag --env-file needs a value; e.g. dsync compose --env-file VALUE up'],
  ])('Given %s at the end, When parsed, Then exit 64 with %j', (flag, line) => {
    const error = thrown(() => parseComposeArgv([flag]))
    expect(error).toBeInstanceOf(AbortError)
    expect((error as AbortError).exitCode).toBe(64)
    expect((error as AbortError).line()).toBe(line)
  })
})

describe('hasFlag', () => {
  test.each([
    [['-d'], true],
    [['--detach'], true],
    [['--detach=true'], true],
    [['web', '-d'], true],
    [['-dV'], true],
    [['-Vd', 'web'], true],
    [['--build', 'web'], false],
    [['--dry'], false],
    [['-V'], false],
    [['--', '-d'], false],
    [[], false],
  ])('Given up args %j, When asked for -d/--detach, Then %s', (args, expected) => {
    expect(hasFlag(args, '-d', '--detach')).toBe(expected)
  })

  test('Given --wait-timeout but no --wait, When asked for --wait, Then false', () => {
    expect(hasFlag(['--wait-timeout', '30'], '--wait')).toBe(false)
    expect(hasFlag(['--wait', '--wait-timeout', '30'], '--wait')).toBe(true)
  })
})
