import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { afterAll, beforeAll, describe, expect, test } from 'vitest'

import { xsyncSchema } from '../../src/compose/xsync-schema.js'
import {
  interpolate,
  parseDotEnv,
  readXSync,
  srcWarnings,
  validateXSync,
  type Env,
} from '../../src/compose/xsync.js'
import { ConfigError, formatConfigIssue } from '../../src/lib/errors.js'

// A project directory with an `app` folder and a `notes.txt` file, for src checks.
let projectDir = ''
beforeAll(() => {
  projectDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dsync-xsync-'))
  fs.mkdirSync(path.join(projectDir, 'app'))
  fs.writeFileSync(path.join(projectDir, 'notes.txt'), 'not a folder\n')
})
afterAll(() => {
  fs.rmSync(projectDir, { recursive: true, force: true })
})

/** Runs the whole pipeline on one compose file and returns the printed issue lines. */
function issueLines(yaml: string, env: Env = {}): string[] {
  try {
    const raw = readXSync([{ path: 'compose.yaml', text: yaml }], env)
    if (raw) validateXSync(raw, projectDir)
  } catch (error) {
    if (error instanceof ConfigError) {
      return error.issues.map(formatConfigIssue).map((l) => l.replaceAll(projectDir, '<dir>'))
    }
    throw error
  }
  return []
}

function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected an error')
}

/** A compose file whose only sync is `app`, with these extra lines under it. */
function appSync(...lines: string[]): string {
  return [
    'x-sync:',
    '  syncs:',
    '    app:',
    '      src: ./app',
    ...lines.map((l) => `      ${l}`),
  ].join('\n')
}

describe('parseDotEnv', () => {
  test('Given KEY=VALUE lines with export, comments and blanks, When parsed, Then each key has its value', () => {
    const text = [
      '# a comment',
      '',
      'PLAIN=value',
      'export EXPORTED=yes',
      '  SPACED = padded  ',
      'INLINE=kept # dropped',
      'HASH=a#b',
      'EMPTY=',
      'EMPTY_QUOTED=""',
      'URL=http://x/?a=b',
    ].join('\n')

    expect(parseDotEnv(text)).toEqual({
      PLAIN: 'value',
      EXPORTED: 'yes',
      SPACED: 'padded',
      INLINE: 'kept',
      HASH: 'a#b',
      EMPTY: '',
      EMPTY_QUOTED: '',
      URL: 'http://x/?a=b',
    })
  })

  test('Given quoted values, When parsed, Then single quotes are literal and double quotes unescape', () => {
    const text = [
      `SINGLE='$HOME \\n # not a comment'`,
      `SINGLE_ESC='Let\\'s go'`,
      'DOUBLE="tab\\there\\nline \\"quoted\\" back\\\\slash" # comment',
      'DOLLAR="\\$HOME"',
      'JSON="{\\"hello\\": \\"json\\"}"',
      'MULTI="first',
      'second"',
      'AFTER=ok',
    ].join('\r\n')

    expect(parseDotEnv(text)).toEqual({
      SINGLE: '$HOME \\n # not a comment',
      SINGLE_ESC: "Let's go",
      DOUBLE: 'tab\there\nline "quoted" back\\slash',
      DOLLAR: '$HOME',
      JSON: '{"hello": "json"}',
      MULTI: 'first\nsecond',
      AFTER: 'ok',
    })
  })

  test('Given values referencing variables, When parsed, Then the environment wins over earlier lines', () => {
    const text = [
      'BASE=/srv',
      'DIR=${BASE}/app',
      'USER_DIR=$HOME/code',
      'FALLBACK=${NOPE:-none}',
    ].join('\n')

    expect(parseDotEnv(text, { HOME: '/home/me', BASE: '/from-env' })).toEqual({
      BASE: '/srv',
      DIR: '/from-env/app',
      USER_DIR: '/home/me/code',
      FALLBACK: 'none',
    })
  })

  test('Given a bare KEY line, When parsed, Then it takes the value from the environment if set', () => {
    expect(parseDotEnv('SET\nUNSET\n', { SET: 'yes' })).toEqual({ SET: 'yes' })
  })

  test('Given a malformed line, When parsed, Then the error names the line', () => {
    expect(() => parseDotEnv('A=1\nnot a pair\n')).toThrow(
      'line 2: expected KEY=VALUE, got "not a pair"',
    )
    expect(() => parseDotEnv('A="open\n')).toThrow('line 1: unterminated " quote')
    expect(() => parseDotEnv('A="two\nlines"\nB=1\nC\tD\n')).toThrow('line 4: expected KEY=VALUE')
    expect(() => parseDotEnv("A='x' y\n")).toThrow('line 1: unexpected "y" after the closing quote')
  })
})

describe('interpolate', () => {
  const env: Env = { SET: 'value', EMPTY: '' }

  test.each([
    ['$SET', 'value'],
    ['${SET}', 'value'],
    ['pre-${SET}-post', 'pre-value-post'],
    ['$UNSET', ''],
    ['${SET:-default}', 'value'],
    ['${EMPTY:-default}', 'default'],
    ['${UNSET:-default}', 'default'],
    ['${SET-default}', 'value'],
    ['${EMPTY-default}', ''],
    ['${UNSET-default}', 'default'],
    ['${SET:?needed}', 'value'],
    ['${EMPTY?needed}', ''],
    ['${SET:+alt}', 'alt'],
    ['${EMPTY:+alt}', ''],
    ['${UNSET:+alt}', ''],
    ['${SET+alt}', 'alt'],
    ['${EMPTY+alt}', 'alt'],
    ['${UNSET+alt}', ''],
    ['$$SET', '$SET'],
    ['$${SET}', '${SET}'],
    ['cost: 5$', 'cost: 5$'],
    ['^.*\\.log$', '^.*\\.log$'],
    ['${UNSET:-${SET}}', 'value'],
    ['${UNSET:-${ALSO_UNSET:-deep}}', 'deep'],
    ['${UNSET:-a $$ b}', 'a $ b'],
  ])('Given %j, When interpolated, Then it gives %j', (input, expected) => {
    expect(interpolate(input, env)).toBe(expected)
  })

  test('Given a required variable that is missing, When interpolated, Then the error names it and its message', () => {
    expect(() => interpolate('${SRC:?set SRC to your code folder}', {})).toThrow(
      'required variable SRC is missing a value: set SRC to your code folder',
    )
    expect(() => interpolate('${SRC:?}', { SRC: '' })).toThrow(
      /^required variable SRC is missing a value$/,
    )
    expect(() => interpolate('${SRC?unset}', {})).toThrow(
      'required variable SRC is missing a value: unset',
    )
  })

  test('Given a malformed ${...}, When interpolated, Then it throws', () => {
    expect(() => interpolate('${SRC', {})).toThrow('invalid interpolation format "${SRC"')
    expect(() => interpolate('${1X}', {})).toThrow('invalid interpolation format "${1X}"')
    expect(() => interpolate('${A:x}', {})).toThrow('invalid interpolation format "${A:x}"')
  })

  test('Given names that exist on Object.prototype, When interpolated, Then they are unset', () => {
    expect(interpolate('${constructor:-none}', {})).toBe('none')
  })
})

describe('readXSync', () => {
  test('Given files without x-sync, When read, Then the result is undefined', () => {
    const files = [
      { path: 'compose.yaml', text: 'services:\n  web: {image: nginx}\n' },
      { path: 'empty.yaml', text: '' },
    ]

    expect(readXSync(files, {})).toBeUndefined()
  })

  test('Given anchors, aliases and merge keys, When read, Then they resolve inside x-sync', () => {
    const text = [
      'x-common: &common',
      '  strategy: unison',
      '  excludes: &ignores [.git, node_modules]',
      'x-sync:',
      '  syncs:',
      '    app:',
      '      <<: *common',
      '      src: ./app',
      '    docs:',
      '      <<: *common',
      '      src: ./app',
      '      strategy: rsync',
      '      args: *ignores',
    ].join('\n')

    const raw = readXSync([{ path: 'compose.yaml', text }], {})

    expect(raw?.value).toEqual({
      syncs: {
        app: { strategy: 'unison', excludes: ['.git', 'node_modules'], src: './app' },
        docs: {
          strategy: 'rsync',
          excludes: ['.git', 'node_modules'],
          src: './app',
          args: ['.git', 'node_modules'],
        },
      },
    })
  })

  test('Given strings with variables, When read, Then string scalars are interpolated and keys and numbers are not', () => {
    const text = [
      'x-sync:',
      '  image: ${REGISTRY:-docker.io}/dsync:${TAG}',
      '  syncs:',
      '    app:',
      '      src: $SRC',
      '      owner: "${UID}:${GID}"',
      '      args: ["--max-size=$${SIZE}", 5]',
      '      mounts: {$SERVICE: /app}',
    ].join('\n')

    const raw = readXSync([{ path: 'compose.yaml', text }], {
      TAG: '1.2',
      SRC: './app',
      UID: '1000',
      GID: '1000',
      SERVICE: 'web',
    })

    expect(raw?.value).toEqual({
      image: 'docker.io/dsync:1.2',
      syncs: {
        app: {
          src: './app',
          owner: '1000:1000',
          args: ['--max-size=${SIZE}', 5],
          mounts: { $SERVICE: '/app' },
        },
      },
    })
  })

  test('Given several files, When read, Then blocks merge in order and origins name the last file that set each key', () => {
    const base = {
      path: 'compose.yaml',
      text: [
        'x-sync:',
        '  image: dsync/sync:1',
        '  defaults: {excludes: [.git, node_modules], strategy: unison}',
        '  syncs:',
        '    app: {src: ./app, excludes: [a, b, c], prefer: newer}',
      ].join('\n'),
    }
    const noBlock = { path: 'compose.db.yaml', text: 'services:\n  db: {image: postgres}\n' }
    const override = {
      path: 'compose.override.yaml',
      text: [
        'x-sync:',
        '  defaults: {strategy: rsync}',
        '  syncs:',
        '    app: {excludes: [z], prefer: host}',
        '    web: {src: ./app}',
      ].join('\n'),
    }

    const raw = readXSync([base, noBlock, override], {})

    expect(raw?.value).toEqual({
      image: 'dsync/sync:1',
      defaults: { excludes: ['.git', 'node_modules'], strategy: 'rsync' },
      syncs: {
        app: { src: './app', excludes: ['z'], prefer: 'host' },
        web: { src: './app' },
      },
    })
    expect(raw?.files).toEqual(['compose.yaml', 'compose.override.yaml'])
    expect(raw?.origin('x-sync.image')).toBe('compose.yaml')
    expect(raw?.origin('x-sync.defaults.excludes')).toBe('compose.yaml')
    expect(raw?.origin('x-sync.defaults.strategy')).toBe('compose.override.yaml')
    expect(raw?.origin('x-sync.syncs.app.src')).toBe('compose.yaml')
    expect(raw?.origin('x-sync.syncs.app.prefer')).toBe('compose.override.yaml')
    // The replaced list belongs to the override, and its old items are forgotten.
    expect(raw?.origin('x-sync.syncs.app.excludes')).toBe('compose.override.yaml')
    expect(raw?.origin('x-sync.syncs.app.excludes.2')).toBe('compose.override.yaml')
    expect(raw?.origin('x-sync.syncs.web.src')).toBe('compose.override.yaml')
    // A key nobody set is blamed on the file that last touched its parent.
    expect(raw?.origin('x-sync.syncs.app.owner')).toBe('compose.override.yaml')
    expect(raw?.origin('x-sync.image.nested')).toBe('compose.yaml')
  })

  test('Given a later file that replaces a map with a scalar, When read, Then the scalar wins', () => {
    const raw = readXSync(
      [
        { path: 'a.yaml', text: 'x-sync:\n  syncs: {app: {src: ./app}}\n' },
        { path: 'b.yaml', text: 'x-sync:\n  syncs: none\n' },
      ],
      {},
    )

    expect(raw?.value).toEqual({ syncs: 'none' })
    expect(raw?.origin('x-sync.syncs.app.src')).toBe('b.yaml')
  })

  test('Given a YAML syntax error, When read, Then the ConfigError names the file and the line', () => {
    const files = [
      { path: 'compose.yaml', text: 'x-sync:\n  syncs:\n    app: {src: ./app\n' },
      {
        path: 'compose.override.yaml',
        text: 'x-sync:\n  syncs:\n    app: {src: ./a}\n    app: {}\n',
      },
    ]

    const error = thrown(() => readXSync(files, {}))

    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).line()).toBe(
      [
        'compose.yaml: invalid YAML at line 4, column 1: Flow map in block collection must be sufficiently indented and end with a }',
        'compose.override.yaml: invalid YAML at line 4, column 5: Map keys must be unique',
      ].join('\n'),
    )
  })

  test('Given several missing required variables, When read, Then each is an issue at its key path', () => {
    const text = [
      'x-sync:',
      '  image: ${IMAGE:?}',
      '  syncs:',
      '    app: {src: "${SRC:?set SRC}", excludes: [ok, "${X?}"]}',
    ].join('\n')

    expect(issueLines(text)).toEqual([
      'compose.yaml: x-sync.image: required variable IMAGE is missing a value',
      'compose.yaml: x-sync.syncs.app.excludes.1: required variable X is missing a value',
      'compose.yaml: x-sync.syncs.app.src: required variable SRC is missing a value: set SRC',
    ])
  })
})

describe('validateXSync', () => {
  test('Given a minimal block, When validated, Then built-in defaults apply and src is absolute', () => {
    const raw = readXSync([{ path: 'compose.yaml', text: appSync() }], {})

    const config = raw && validateXSync(raw, projectDir)

    expect(config).toEqual({
      image: undefined,
      syncs: [
        {
          name: 'app',
          src: path.join(projectDir, 'app'),
          srcAsWritten: './app',
          strategy: 'auto',
          mounts: {},
          owner: undefined,
          prefer: 'host',
          initial: 'host',
          excludes: [],
          excludesType: 'gitignore',
          args: [],
          file: 'compose.yaml',
        },
      ],
    })
  })

  test('Given defaults and overrides across files, When validated, Then the sync wins over defaults and file is where src was set', () => {
    const base = {
      path: '/p/compose.yaml',
      text: [
        'x-sync:',
        '  image: my/sync',
        '  defaults:',
        '    strategy: unison',
        '    owner: auto',
        '    prefer: newer',
        '    excludes: [.git]',
        '    excludes_type: name',
        '    args: [-batch]',
        '  syncs:',
        '    app: {src: app/}',
        '    root: {src: ., strategy: native_osx, initial: two-way}',
      ].join('\n'),
    }
    const override = {
      path: '/p/compose.override.yaml',
      text: [
        'x-sync:',
        '  syncs:',
        '    app:',
        '      strategy: rsync',
        '      owner: "1000:33"',
        '      excludes: ["^vendor/"]',
        '      excludes_type: regex',
        '      mounts: {web: /var/www/, worker: /srv/app}',
      ].join('\n'),
    }
    const raw = readXSync([base, override], {})

    const config = raw && validateXSync(raw, projectDir)

    expect(config?.image).toBe('my/sync')
    expect(config?.syncs).toEqual([
      {
        name: 'app',
        src: path.join(projectDir, 'app'),
        srcAsWritten: 'app/',
        strategy: 'rsync',
        mounts: { web: '/var/www/', worker: '/srv/app' },
        owner: { kind: 'fixed', uid: 1000, gid: 33 },
        prefer: 'newer',
        initial: 'host',
        excludes: ['^vendor/'],
        excludesType: 'regex',
        args: ['-batch'],
        file: '/p/compose.yaml',
      },
      {
        name: 'root',
        src: projectDir,
        srcAsWritten: '.',
        strategy: 'native_osx',
        mounts: {},
        owner: { kind: 'auto' },
        prefer: 'newer',
        initial: 'two-way',
        excludes: ['.git'],
        excludesType: 'name',
        args: ['-batch'],
        file: '/p/compose.yaml',
      },
    ])
  })

  test('Given mistakes in two files, When validated, Then every issue is reported, ordered by file then path', () => {
    const raw = readXSync(
      [
        {
          path: 'compose.yaml',
          text: 'x-sync:\n  syncs:\n    app: {src: ./nope, strategy: fast}\n',
        },
        {
          path: 'compose.dev.yaml',
          text: 'x-sync:\n  syncs:\n    app: {exclude: [.git]}\n  imgae: x\n',
        },
      ],
      {},
    )
    if (!raw) throw new Error('expected an x-sync block')

    const caught = thrown(() => validateXSync(raw, projectDir))

    expect(caught).toBeInstanceOf(ConfigError)
    expect((caught as ConfigError).line().replaceAll(projectDir, '<dir>')).toBe(
      [
        'compose.yaml: x-sync.syncs.app.src: folder "./nope" does not exist (resolved to <dir>/nope); create it or fix the path (relative to the project directory)',
        'compose.yaml: x-sync.syncs.app.strategy: must be one of auto, native, rsync, unison, native_osx (got "fast")',
        'compose.dev.yaml: x-sync.imgae: unknown key "imgae"; did you mean "image"?',
        'compose.dev.yaml: x-sync.syncs.app.exclude: unknown key "exclude"; did you mean "excludes"?',
      ].join('\n'),
    )
  })

  // Each bad input is one mistake, so each must give exactly one line: no Ajv cascades.
  test.each([
    [
      'a misspelt sync option',
      appSync('exlcudes: [.git]'),
      'compose.yaml: x-sync.syncs.app.exlcudes: unknown key "exlcudes"; did you mean "excludes"?',
    ],
    [
      'an unknown sync option far from any',
      appSync('colour: blue'),
      'compose.yaml: x-sync.syncs.app.colour: unknown key "colour"; valid keys: src, mounts, strategy, owner, prefer, initial, excludes, excludes_type, args',
    ],
    [
      'a docker-sync option name',
      appSync('sync_userid: 1000'),
      `compose.yaml: x-sync.syncs.app.sync_userid: unknown key "sync_userid"; did you mean "owner"? (docker-sync's "sync_userid")`,
    ],
    [
      'a misspelt top-level key',
      'x-sync:\n  sync:\n    app: {src: ./app}\n  syncs:\n    app: {src: ./app}\n',
      'compose.yaml: x-sync.sync: unknown key "sync"; did you mean "syncs"?',
    ],
    [
      'a sync option at the top level',
      'x-sync:\n  excludes: [.git]\n  syncs:\n    app: {src: ./app}\n',
      'compose.yaml: x-sync.excludes: unknown key "excludes"; sync options go in x-sync.defaults or in a sync',
    ],
    [
      'a misspelt strategy',
      appSync('strategy: rsnyc'),
      'compose.yaml: x-sync.syncs.app.strategy: must be one of auto, native, rsync, unison, native_osx (got "rsnyc"); did you mean "rsync"?',
    ],
    [
      'a strategy with a dash',
      appSync('strategy: native-osx'),
      'compose.yaml: x-sync.syncs.app.strategy: must be one of auto, native, rsync, unison, native_osx (got "native-osx"); did you mean "native_osx"?',
    ],
    [
      'a strategy that is a number',
      appSync('strategy: 5'),
      'compose.yaml: x-sync.syncs.app.strategy: must be one of auto, native, rsync, unison, native_osx (got 5)',
    ],
    [
      'a misspelt prefer in defaults',
      'x-sync:\n  defaults: {prefer: newest}\n  syncs:\n    app: {src: ./app}\n',
      'compose.yaml: x-sync.defaults.prefer: must be one of host, container, newer (got "newest"); did you mean "newer"?',
    ],
    [
      'an initial without its dash',
      appSync('strategy: unison', 'initial: twoway'),
      'compose.yaml: x-sync.syncs.app.initial: must be one of host, two-way (got "twoway"); did you mean "two-way"?',
    ],
    [
      'an unknown excludes_type',
      appSync('excludes_type: glob'),
      'compose.yaml: x-sync.syncs.app.excludes_type: must be one of gitignore, name, path, regex (got "glob")',
    ],
    [
      'excludes written as one string',
      appSync('excludes: .git'),
      'compose.yaml: x-sync.syncs.app.excludes: must be a list of strings (got ".git"); write it as a list: [".git"]',
    ],
    [
      'excludes with a number in it',
      appSync('excludes: [.git, 404]'),
      'compose.yaml: x-sync.syncs.app.excludes: must be a list of strings (item 2 is 404)',
    ],
    [
      'args as a map',
      appSync('args: {verbose: true}'),
      'compose.yaml: x-sync.syncs.app.args: must be a list of strings (got a map)',
    ],
    [
      'a sync without src',
      'x-sync:\n  syncs:\n    app: {strategy: rsync}\n',
      'compose.yaml: x-sync.syncs.app.src: is required; set it to the host folder to sync, relative to the project directory',
    ],
    [
      'an empty src',
      appSync().replace('src: ./app', 'src: ""'),
      'compose.yaml: x-sync.syncs.app.src: must not be empty',
    ],
    [
      'src as a list',
      appSync().replace('src: ./app', 'src: [./app]'),
      'compose.yaml: x-sync.syncs.app.src: must be a string (got a list)',
    ],
    [
      'a block without syncs',
      'x-sync:\n  image: my/sync\n',
      'compose.yaml: x-sync.syncs: is required; declare at least one sync, e.g. "syncs: {app: {src: ./}}"',
    ],
    [
      'an empty syncs map',
      'x-sync:\n  syncs: {}\n',
      'compose.yaml: x-sync.syncs: must declare at least one sync; add one, e.g. "app: {src: ./}"',
    ],
    ['an empty x-sync', 'x-sync:\n', 'compose.yaml: x-sync: must be a map (got an empty value)'],
    [
      'a sync with nothing under it',
      'x-sync:\n  syncs:\n    app:\n',
      'compose.yaml: x-sync.syncs.app: must be a map (got an empty value)',
    ],
    [
      'a sync name with capitals',
      'x-sync:\n  syncs:\n    My_App: {src: ./app}\n',
      'compose.yaml: x-sync.syncs.My_App: is not a valid sync name: use lowercase letters, digits, "_" and "-", starting with a letter or digit; did you mean "my_app"?',
    ],
    [
      'a sync name with a dot',
      'x-sync:\n  syncs:\n    my.app: {src: ./app}\n',
      'compose.yaml: x-sync.syncs["my.app"]: is not a valid sync name: use lowercase letters, digits, "_" and "-", starting with a letter or digit; did you mean "my-app"?',
    ],
    [
      'a sync-level image',
      appSync('image: my/sync'),
      'compose.yaml: x-sync.syncs.app.image: "image" applies to the whole project, not to one sync; set x-sync.image instead',
    ],
    [
      'an image in defaults',
      'x-sync:\n  defaults: {image: my/sync}\n  syncs:\n    app: {src: ./app}\n',
      'compose.yaml: x-sync.defaults.image: "image" applies to the whole project, not to defaults; set x-sync.image instead',
    ],
    [
      'a src in defaults',
      'x-sync:\n  defaults: {src: ./app}\n  syncs:\n    app: {src: ./app}\n',
      'compose.yaml: x-sync.defaults.src: "src" is set per sync, not in defaults; move it to x-sync.syncs.<name>.src',
    ],
    [
      'a project image that is a number',
      'x-sync:\n  image: 5\n  syncs:\n    app: {src: ./app}\n',
      'compose.yaml: x-sync.image: must be a string (got 5)',
    ],
    [
      'a sync written outside syncs',
      'x-sync:\n  web: {src: ./app}\n  syncs:\n    app: {src: ./app}\n',
      'compose.yaml: x-sync.web: unknown key "web"; syncs go under x-sync.syncs: did you mean x-sync.syncs.web?',
    ],
    [
      'an owner that is a name',
      appSync('owner: www-data'),
      'compose.yaml: x-sync.syncs.app.owner: must be "auto" or numeric "uid:gid", e.g. "1000:1000" (got "www-data")',
    ],
    [
      'an owner that is a number',
      appSync('owner: 1000'),
      'compose.yaml: x-sync.syncs.app.owner: must be "auto" or numeric "uid:gid", e.g. "1000:1000" (got 1000)',
    ],
    [
      'an owner out of range',
      appSync('owner: "1000:99999999999"'),
      'compose.yaml: x-sync.syncs.app.owner: gid 99999999999 is out of range (0 to 4294967294)',
    ],
    [
      'prefer on rsync',
      appSync('strategy: rsync', 'prefer: container'),
      'compose.yaml: x-sync.syncs.app.prefer: applies only to two-way strategies (unison, native_osx), not to "rsync"; remove it or use strategy unison',
    ],
    [
      'initial on a native strategy set in defaults',
      'x-sync:\n  defaults: {strategy: native}\n  syncs:\n    app: {src: ./app, initial: two-way}\n',
      'compose.yaml: x-sync.syncs.app.initial: applies only to two-way strategies (unison, native_osx), not to "native"; remove it or use strategy unison',
    ],
    [
      'a glob given as a regex exclude',
      appSync('excludes_type: regex', 'excludes: ["*.log"]'),
      'compose.yaml: x-sync.syncs.app.excludes: exclude "*.log" is not a valid regular expression (Nothing to repeat); fix it, or use excludes_type: gitignore for glob patterns',
    ],
    [
      'a bad regex exclude inherited from defaults',
      'x-sync:\n  defaults: {excludes: ["a("]}\n  syncs:\n    app: {src: ./app, excludes_type: regex}\n    two: {src: ./app, excludes_type: regex}\n',
      'compose.yaml: x-sync.defaults.excludes: exclude "a(" is not a valid regular expression (Unterminated group); fix it, or use excludes_type: gitignore for glob patterns',
    ],
    [
      'a src folder that does not exist',
      appSync().replace('./app', './nope'),
      'compose.yaml: x-sync.syncs.app.src: folder "./nope" does not exist (resolved to <dir>/nope); create it or fix the path (relative to the project directory)',
    ],
    [
      'a src that is a file',
      appSync().replace('./app', 'notes.txt'),
      'compose.yaml: x-sync.syncs.app.src: "notes.txt" is a file, not a folder (resolved to <dir>/notes.txt); point src at the folder that contains it',
    ],
    [
      'a relative mount target',
      appSync('mounts: {web: var/www}'),
      'compose.yaml: x-sync.syncs.app.mounts.web: container path "var/www" is not absolute; did you mean "/var/www"?',
    ],
    [
      'a mount target that is a number',
      appSync('mounts: {web: 80}'),
      'compose.yaml: x-sync.syncs.app.mounts.web: must be an absolute container path, e.g. "/var/www/app" (got 80)',
    ],
    [
      'mounts in the docker short syntax',
      appSync('mounts: ["web:/var/www"]'),
      'compose.yaml: x-sync.syncs.app.mounts: must be a map of service name to container path, e.g. {web: /var/www/app} (got a list)',
    ],
    [
      'a mount over the container root',
      appSync('mounts: {web: /}'),
      'compose.yaml: x-sync.syncs.app.mounts.web: cannot mount over the container root "/"; pick a folder',
    ],
    [
      'a missing required variable',
      appSync().replace('./app', '${CODE:?point CODE at your checkout}'),
      'compose.yaml: x-sync.syncs.app.src: required variable CODE is missing a value: point CODE at your checkout',
    ],
    [
      'a malformed interpolation',
      appSync('args: ["${oops"]'),
      'compose.yaml: x-sync.syncs.app.args.0: invalid interpolation format "${oops": you may need to escape $ as $$',
    ],
    [
      'a YAML syntax error',
      'x-sync:\n  syncs:\n    app: {src: ./app\n',
      'compose.yaml: invalid YAML at line 4, column 1: Flow map in block collection must be sufficiently indented and end with a }',
    ],
  ])('Given %s, When validated, Then the one issue is exact', (_name, yaml, expected) => {
    expect(issueLines(yaml)).toEqual([expected])
  })
})

describe('xsyncSchema', () => {
  test('Given the published schema, When walked, Then every object schema closes its keys and has a description', () => {
    const open: string[] = []
    const walk = (node: unknown, where: string): void => {
      if (typeof node !== 'object' || node === null) return
      const schema = node as Record<string, unknown>
      if (schema.type === 'object') {
        if (!('additionalProperties' in schema)) open.push(`${where}: additionalProperties`)
        if (typeof schema.description !== 'string') open.push(`${where}: description`)
      }
      for (const [key, value] of Object.entries(schema)) walk(value, `${where}/${key}`)
    }

    walk(xsyncSchema, '#')

    expect(open).toEqual([])
  })
})

describe('real-world compose files', () => {
  test('Given a file whose services use nested anchors many times, When read, Then x-sync is read without an alias error', () => {
    // A self-hosted project's shape: 60 services use the logging anchor, 20 more merge a common
    // anchor that uses it too (yaml's own count refuses this as an alias bomb; compose does not).
    const direct = Array.from({ length: 60 }, (_, i) => `  w${i}: {image: w, logging: *logging}`)
    const merged = Array.from(
      { length: 20 },
      (_, i) => `  s${i}:\n    <<: *common\n    image: img${i}`,
    )
    const text = [
      'x-logging: &logging',
      '  driver: json-file',
      'x-common: &common',
      '  restart: always',
      '  logging: *logging',
      'services:',
      ...direct,
      ...merged,
      'x-sync:',
      '  syncs: {app: {src: ./app}}',
    ].join('\n')

    const raw = readXSync([{ path: 'compose.yaml', text }], {})

    expect(raw?.value).toEqual({ syncs: { app: { src: './app' } } })
  })

  test('Given an alias bomb inside x-sync, When read, Then it is refused as invalid YAML', () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i)
      const name = String.fromCharCode(97 + i)
      levels.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(',')}]`)
    }
    const text = ['x-sync:', '  defaults:', ...levels.map((l) => `    ${l}`), '  syncs: {}'].join(
      '\n',
    )

    expect(issueLines(text)).toEqual([
      expect.stringMatching(/^compose\.yaml: invalid YAML: Excessive alias count/),
    ])
  })

  test("Given compose's !reset and !override tags, When read, Then nothing is printed and x-sync merges as compose does", () => {
    const warnings: string[] = []
    const onWarning = (w: Error) => warnings.push(w.message)
    process.on('warning', onWarning)
    const base = {
      path: 'compose.yaml',
      text: [
        'services:',
        '  app: {image: x, ports: ["80:80"]}',
        'x-sync:',
        '  defaults: {excludes: [.git], strategy: rsync}',
        '  syncs:',
        '    app: {src: ./app, mounts: {app: /a, web: /w}, excludes: [x]}',
      ].join('\n'),
    }
    const override = {
      path: 'compose.override.yaml',
      text: [
        'services:',
        '  app: {ports: !reset [], environment: !override {A: "1"}, user: !reset null}',
        'x-sync:',
        '  defaults: {excludes: !reset []}',
        '  syncs:',
        '    app: {mounts: !override {app: /b}, args: !reset null}',
      ].join('\n'),
    }

    const raw = readXSync([base, override], {})
    process.off('warning', onWarning)

    expect(warnings).toEqual([])
    expect(raw?.value).toEqual({
      defaults: { strategy: 'rsync' },
      syncs: { app: { src: './app', mounts: { app: '/b' }, excludes: ['x'] } },
    })
    expect(raw?.origin('x-sync.syncs.app.mounts.app')).toBe('compose.override.yaml')
  })
})

describe('src checks', () => {
  let link = ''
  beforeAll(() => {
    link = path.join(projectDir, 'app-link')
    fs.symlinkSync(path.join(projectDir, 'app'), link)
  })
  afterAll(() => {
    fs.rmSync(link, { force: true })
  })

  function validate(src: string) {
    const raw = readXSync(
      [{ path: 'compose.yaml', text: `x-sync: {syncs: {app: {src: "${src}"}}}` }],
      {},
    )
    if (!raw) throw new Error('no block')
    return validateXSync(raw, projectDir)
  }

  test('Given a src that is a symlink to a folder, When validated, Then src is the real folder and the link is kept for matching binds', () => {
    const config = validate('./app-link')

    expect(config.syncs[0]?.src).toBe(fs.realpathSync(path.join(projectDir, 'app')))
    expect(config.syncs[0]?.srcLink).toBe(link)
  })

  test('Given src "/", When validated, Then one line refuses it, exit 65', () => {
    const error = thrown(() => validate('/'))

    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).exitCode).toBe(65)
    expect((error as ConfigError).line()).toBe(
      'compose.yaml: x-sync.syncs.app.src: "/" is the root folder "/": dsync would copy the whole machine into a volume; point src at the folder of your code',
    )
  })

  test('Given src "~" (the home folder), When validated, Then one line refuses it, exit 65', () => {
    const error = thrown(() => validate('~'))

    expect((error as ConfigError).exitCode).toBe(65)
    expect((error as ConfigError).line()).toMatch(
      /^compose\.yaml: x-sync\.syncs\.app\.src: "~" is your home folder \(.*\): dsync would copy all of it into a volume; point src at the folder of your code$/,
    )
  })

  test('Given a src outside the project folder, When warned about, Then one line names it; inside, no line', () => {
    const outside = validate('..')
    const inside = validate('./app')

    expect(srcWarnings(outside, projectDir)).toEqual([
      `compose.yaml: x-sync.syncs.app.src: ".." is outside the project folder (${fs.realpathSync(path.dirname(projectDir))}); check the path if that is not what you meant`,
    ])
    expect(srcWarnings(inside, projectDir)).toEqual([])
  })
})
