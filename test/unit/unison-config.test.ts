/**
 * native_osx's pure part: excludes as unison patterns (checked against unison itself when the
 * host has it), the worker's configuration, and the worker's status report.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, test } from 'vitest'
import type { ExcludeType } from '../../src/compose/types.js'
import { run } from '../../src/lib/exec.js'
import { excludedWithParents, excludeMatcher } from '../../src/strategies/excludes.js'
import {
  parseWorkerStatus,
  pruneExpression,
  unisonRules,
  workerConfig,
} from '../../src/strategies/unison-config.js'

describe('unisonRules: excludes as unison patterns', () => {
  test('Given gitignore excludes, When translated, Then names, paths, ** and ! each become their unison form', () => {
    const rules = unisonRules(
      [
        '.git',
        'node_modules/',
        '*.log',
        '/tmp-*',
        'docs/build',
        '**/cache',
        'a/**/b',
        'logs/**',
        '!keep.log',
        '# a comment',
        '',
        'odd{name}',
      ],
      'gitignore',
    )

    expect(rules.ignore).toEqual([
      'Name .git',
      'Name node_modules',
      'Name *.log',
      'Path tmp-*',
      'Path docs/build',
      'Name cache',
      'Regex a/(.*/)?b',
      'Path logs',
      'Name odd\\{name\\}',
    ])
    expect(rules.ignorenot).toEqual(['Name keep.log'])
    // A rule that re-includes something may reach inside any folder: nothing is pruned.
    expect(rules.prune).toEqual({ names: [], paths: [] })
  })

  test('Given gitignore excludes without !, When translated, Then plain names and paths are pruned', () => {
    expect(
      unisonRules(['.git', 'node_modules/', '*.log', 'docs/build'], 'gitignore').prune,
    ).toEqual({ names: ['.git', 'node_modules'], paths: ['docs/build'] })
  })

  test('Given name and path excludes, When translated, Then they match literally', () => {
    expect(unisonRules(['node_modules', 'we*rd'], 'name').ignore).toEqual([
      'Name node_modules',
      'Name we\\*rd',
    ])
    expect(unisonRules(['/build/', 'a/b'], 'path')).toEqual({
      ignore: ['Path build', 'Path a/b'],
      ignorenot: [],
      prune: { names: [], paths: ['build', 'a/b'] },
    })
  })

  test('Given regex excludes, When translated, Then unanchored ones may match anywhere in the path', () => {
    expect(unisonRules(['\\.log$', '^tmp/', 'cache'], 'regex').ignore).toEqual([
      'Regex .*(\\.log)',
      'Regex (tmp/).*',
      'Regex .*(cache).*',
    ])
  })

  test('Given pruned names and paths, When made an inotifywait exclude, Then it covers both roots', () => {
    expect(
      pruneExpression(['/host/app', '/sync/app'], { names: ['.git', 'a+b'], paths: ['x/y'] }),
    ).toBe('^(/host/app|/sync/app)/((.*/)?(\\.git|a\\+b)|x/y)(/|$)')
    expect(pruneExpression(['/host/app'], { names: [], paths: [] })).toBeUndefined()
  })
})

/** A tree with something for every rule below, as paths relative to its root. */
const TREE = [
  'keep.txt',
  'app.log',
  'keep.log',
  'src/index.js',
  'src/debug.log',
  'node_modules/pkg/index.js',
  'src/node_modules/x.js',
  '.git/HEAD',
  'tmp-1/file',
  'src/tmp-2/file',
  'docs/build/out.html',
  'docs/readme.md',
  'a/x/y/b/deep.txt',
  'a/c.txt',
  'cache/c1',
  'src/cache/c2',
]

const unison = await run('unison', ['-version'], { reject: false }).catch(() => undefined)

describe.skipIf(unison?.exitCode !== 0)('unisonRules against unison itself', () => {
  test.each<[ExcludeType, string[]]>([
    [
      'gitignore',
      ['.git', 'node_modules/', '*.log', '/tmp-*', 'docs/build', '**/cache', 'a/**/b', '!keep.log'],
    ],
    ['name', ['node_modules', '.git', 'cache']],
    ['path', ['/docs/build', 'tmp-1', 'a/x']],
    ['regex', ['\\.log$', '^src/', 'node_modules']],
  ])(
    'Given %s excludes, When unison syncs with their patterns, Then it copies exactly what rsync would',
    async (type, excludes) => {
      const root = mkdtempSync(path.join(tmpdir(), 'dsync-unison-rules-'))
      try {
        const [a, b, archives] = ['a', 'b', 'u'].map((d) => path.join(root, d)) as [
          string,
          string,
          string,
        ]
        for (const rel of TREE) {
          mkdirSync(path.dirname(path.join(a, rel)), { recursive: true })
          writeFileSync(path.join(a, rel), rel)
        }
        mkdirSync(b)
        const rules = unisonRules(excludes, type)
        const result = await run(
          'unison',
          [
            a,
            b,
            '-batch',
            '-silent',
            '-log=false',
            ...rules.ignore.flatMap((p) => ['-ignore', p]),
            ...rules.ignorenot.flatMap((p) => ['-ignorenot', p]),
          ],
          { env: { ...process.env, UNISON: archives }, reject: false },
        )
        expect(result.exitCode, result.stderr).toBe(0)

        const matcher = excludeMatcher(excludes, type)
        const expected = TREE.filter((rel) => !excludedWithParents(matcher, rel, false)).sort()
        expect(filesUnder(b)).toEqual(expected)
      } finally {
        rmSync(root, { recursive: true, force: true })
      }
    },
  )
})

function filesUnder(dir: string, prefix = ''): string[] {
  const out: string[] = []
  for (const name of readdirSync(path.join(dir, prefix))) {
    const rel = prefix ? `${prefix}/${name}` : name
    if (statSync(path.join(dir, rel)).isDirectory()) out.push(...filesUnder(dir, rel))
    else out.push(rel)
  }
  return out.sort()
}

describe('workerConfig: what the sidecar worker is told', () => {
  test('Given a native_osx sync, When its configuration is written, Then one key and value per line', () => {
    const text = workerConfig({
      name: 'app',
      hostPath: '/host/app',
      volumePath: '/sync/app',
      src: '/home/me/app',
      owner: { uid: 1000, gid: 1000 },
      prefer: 'newer',
      initial: 'two-way',
      excludes: ['node_modules/', '*.log'],
      excludesType: 'gitignore',
      args: ['-debug', 'verbose'],
    })

    expect(text).toBe(
      [
        'host /host/app',
        'volume /sync/app',
        'src /home/me/app',
        'owner 1000:1000',
        'prefer newer',
        'initial two-way',
        'prune ^(/host/app|/sync/app)/((.*/)?(node_modules))(/|$)',
        'ignore Name node_modules',
        'ignore Name *.log',
        'arg -debug',
        'arg verbose',
        '',
      ].join('\n'),
    )
  })
})

describe('parseWorkerStatus: what the sidecar worker reports', () => {
  test('Given the report of two syncs, When parsed, Then states, counters, restarts and conflicts per sync', () => {
    const report = [
      'sync\tapp',
      'initialDone\t1',
      'lastLatencyMs\t12',
      'lastRestart\tthe watcher (inotifywait) was killed by signal 9',
      'lastRestartAt\t2026-12-01T09:00:00Z',
      'lastRun\t2026-12-01T09:01:00Z',
      'restarts\t2',
      'runs\t7',
      'state\twatching',
      'transferred\t40',
      'worker\talive',
      'conflicts\t2',
      'conflict\t2026-12-01T09:00:30Z\tsrc/a.txt\thost\tsrc/a.txt.dsync-conflict-container-20261201-090030\tcontainer',
      'conflict\t2026-12-01T09:00:31Z\tgone.txt\tcontainer\t-\t-',
      'sync\tdocs',
      'halt\tthe host folder /x is empty or unmounted but the volume is not; ...',
      'state\thalted',
      'worker\tdown',
      'conflicts\t0',
    ].join('\n')

    const parsed = parseWorkerStatus(report)

    expect(parsed.get('app')).toEqual({
      state: 'watching',
      worker: 'alive',
      halt: undefined,
      error: undefined,
      runs: 7,
      transferred: 40,
      lastRun: '2026-12-01T09:01:00Z',
      lastLatencyMs: 12,
      restarts: 2,
      lastRestart: {
        at: '2026-12-01T09:00:00Z',
        cause: 'the watcher (inotifywait) was killed by signal 9',
      },
      conflictCount: 2,
      conflicts: [
        {
          at: '2026-12-01T09:00:30Z',
          path: 'src/a.txt',
          kept: 'host',
          copy: 'src/a.txt.dsync-conflict-container-20261201-090030',
          copySide: 'container',
        },
        {
          at: '2026-12-01T09:00:31Z',
          path: 'gone.txt',
          kept: 'container',
          copy: undefined,
          copySide: undefined,
        },
      ],
    })
    expect(parsed.get('docs')).toMatchObject({
      state: 'halted',
      worker: 'down',
      halt: 'the host folder /x is empty or unmounted but the volume is not; ...',
      conflictCount: 0,
    })
  })
})
