import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { afterEach, beforeEach, describe, expect, test } from 'vitest'

import { excludeMatcher } from '../../src/strategies/excludes.js'
import {
  compareDepth,
  diffManifests,
  parseSecondsToMs,
  parseVolumeManifest,
  statEntry,
  walkHost,
  type Entry,
  type Manifest,
} from '../../src/strategies/manifest.js'

const OWNER = { uid: 1000, gid: 1000 }
const NONE = excludeMatcher([], 'gitignore')
const T = 1_700_000_000_000

/** One record of the agent's `find -printf '%y %s %T@ %m %U %G\0%P\0%l\0'`. */
function record(
  kind: string,
  size: number,
  mtime: string,
  mode: string,
  rel: string,
  target = '',
  owner = '1000 1000',
): string {
  return `${kind} ${size} ${mtime} ${mode} ${owner}\0${rel}\0${target}\0`
}

function entry(rel: string, fields: Partial<Entry> = {}): Entry {
  return { rel, type: 'f', size: 10, mtimeMs: T, mode: 0o644, ...OWNER, ...fields }
}

function manifest(...entries: Entry[]): Manifest {
  return new Map(entries.map((e) => [e.rel, e]))
}

describe('parseSecondsToMs', () => {
  test.each([
    ['1700000000.123456789', 1_700_000_000_123.457],
    // GNU find prints ten fraction digits: the tenth is below a nanosecond.
    ['1700000000.1234567899', 1_700_000_000_123.457],
    ['1700000000.5', 1_700_000_000_500],
    ['1700000000', 1_700_000_000_000],
    ['0.0000000000', 0],
  ])('Given %s, When parsed, Then %s ms to within a microsecond', (text, ms) => {
    expect(Math.abs(parseSecondsToMs(text) - ms)).toBeLessThan(0.001)
  })

  test('Given two times 1 us apart, When parsed, Then they differ', () => {
    expect(
      parseSecondsToMs('1700000000.000001000') - parseSecondsToMs('1700000000.000000000'),
    ).toBeGreaterThan(0.0009)
  })
})

describe('parseVolumeManifest', () => {
  const output =
    record('d', 4096, '1700000000.0000000000', '755', '') +
    record('d', 4096, '1700000001.2500000000', '2775', 'src') +
    record('f', 12, '1700000002.1234567890', '644', 'src/a b.txt') +
    record('f', 0, '1700000003.0000000010', '600', 'src/ünï cödé.md', '', '0 33') +
    record('l', 11, '1700000004.0000000000', '777', 'src/link', '../a b.txt') +
    record('p', 0, '1700000005.0000000000', '644', 'fifo') +
    record('f', 5, '1700000006.0000000000', '644', 'name\nwith newline')

  test('Given NUL-separated find output, When parsed, Then every file, folder and link is an entry', () => {
    const parsed = parseVolumeManifest(Buffer.from(output, 'utf8'))

    expect([...parsed.values()]).toEqual([
      {
        rel: 'src',
        type: 'd',
        size: 4096,
        mtimeMs: 1700000001250.0,
        mode: 0o2775,
        uid: 1000,
        gid: 1000,
      },
      {
        rel: 'src/a b.txt',
        type: 'f',
        size: 12,
        mtimeMs: parseSecondsToMs('1700000002.1234567890'),
        mode: 0o644,
        uid: 1000,
        gid: 1000,
      },
      {
        rel: 'src/ünï cödé.md',
        type: 'f',
        size: 0,
        mtimeMs: parseSecondsToMs('1700000003.0000000010'),
        mode: 0o600,
        uid: 0,
        gid: 33,
      },
      {
        rel: 'src/link',
        type: 'l',
        size: 11,
        mtimeMs: 1700000004000.0,
        mode: 0o777,
        uid: 1000,
        gid: 1000,
        target: '../a b.txt',
      },
      {
        rel: 'name\nwith newline',
        type: 'f',
        size: 5,
        mtimeMs: 1700000006000.0,
        mode: 0o644,
        uid: 1000,
        gid: 1000,
      },
    ])
  })

  test('Given the same output as a string, When parsed, Then the same manifest', () => {
    expect(parseVolumeManifest(output)).toEqual(parseVolumeManifest(Buffer.from(output, 'utf8')))
  })

  test('Given an empty answer or only the root, When parsed, Then an empty manifest', () => {
    expect(parseVolumeManifest('').size).toBe(0)
    expect(parseVolumeManifest(record('d', 4096, '1.0', '755', '')).size).toBe(0)
  })
})

describe('diffManifests', () => {
  const diff = (host: Manifest, volume: Manifest, matcher = NONE, owned = (_rel: string) => true) =>
    diffManifests(host, volume, { matcher, owner: OWNER, owned })

  test('Given identical manifests, When diffed, Then nothing to do', () => {
    const m = manifest(entry('a'), entry('d', { type: 'd', mode: 0o755 }))

    expect(diff(m, new Map(m))).toEqual({ upserts: [], removals: [] })
  })

  test('Given a file only on the host, When diffed, Then it is upserted', () => {
    expect(diff(manifest(entry('new.txt')), manifest())).toEqual({
      upserts: [entry('new.txt')],
      removals: [],
    })
  })

  test('Given a different size, When diffed, Then upserted', () => {
    expect(diff(manifest(entry('a', { size: 11 })), manifest(entry('a'))).upserts).toHaveLength(1)
  })

  test('Given the same size and an mtime 1 ms apart, When diffed, Then upserted (rsync would miss it)', () => {
    const host = manifest(entry('a', { mtimeMs: T + 1 }))

    expect(diff(host, manifest(entry('a'))).upserts).toEqual([...host.values()])
    expect(diff(manifest(entry('a')), host).upserts).toHaveLength(1)
  })

  test('Given mtimes 200 ns apart, When diffed, Then equal (microsecond APIs round)', () => {
    expect(diff(manifest(entry('a', { mtimeMs: T + 0.0002 })), manifest(entry('a')))).toEqual({
      upserts: [],
      removals: [],
    })
    expect(
      diff(manifest(entry('a', { mtimeMs: T - 0.0002 })), manifest(entry('a'))).upserts,
    ).toEqual([])
  })

  test('Given a file mode change, When diffed, Then upserted', () => {
    expect(
      diff(manifest(entry('run.sh', { mode: 0o755 })), manifest(entry('run.sh'))).upserts,
    ).toHaveLength(1)
  })

  test('Given a folder mode change, When diffed, Then upserted; its mtime is not compared', () => {
    const dir = (fields: Partial<Entry>) => entry('d', { type: 'd', mode: 0o755, ...fields })

    expect(diff(manifest(dir({ mode: 0o700 })), manifest(dir({}))).upserts).toHaveLength(1)
    expect(diff(manifest(dir({ mtimeMs: T + 1000 })), manifest(dir({}))).upserts).toEqual([])
  })

  test('Given a volume entry not owned by the sync owner, When diffed, Then upserted', () => {
    expect(diff(manifest(entry('a')), manifest(entry('a', { uid: 0 }))).upserts).toHaveLength(1)
    expect(diff(manifest(entry('a')), manifest(entry('a', { gid: 0 }))).upserts).toHaveLength(1)
  })

  test('Given a host owner other than the sync owner, When diffed, Then only the volume owner counts', () => {
    expect(diff(manifest(entry('a', { uid: 501, gid: 20 })), manifest(entry('a'))).upserts).toEqual(
      [],
    )
  })

  test('Given a type change, When diffed, Then upserted', () => {
    const asDir = entry('x', { type: 'd', mode: 0o755 })

    expect(diff(manifest(asDir), manifest(entry('x'))).upserts).toEqual([asDir])
  })

  test('Given a symlink whose target changed, When diffed, Then upserted; its mtime does not count', () => {
    const link = (target: string, mtimeMs = T) =>
      entry('l', { type: 'l', mode: 0o777, target, mtimeMs })

    expect(diff(manifest(link('b')), manifest(link('a'))).upserts).toHaveLength(1)
    // A link's own mtime is not kept by every tool: only its target counts.
    expect(diff(manifest(link('a')), manifest(link('a', 1)))).toEqual({
      upserts: [],
      removals: [],
    })
  })

  test('Given a removed folder tree, When diffed, Then every recorded path goes, children first', () => {
    const volume = manifest(
      entry('keep'),
      entry('old', { type: 'd' }),
      entry('old/a', { type: 'd' }),
      entry('old/a/b.txt'),
      entry('old/c.txt'),
      entry('gone.txt'),
      entry('oldish.txt'),
    )

    expect(diff(manifest(entry('keep')), volume).removals).toEqual([
      'old/a/b.txt',
      'old/a',
      'old/c.txt',
      'gone.txt',
      'old',
      'oldish.txt',
    ])
  })

  test('Given volume entries the sync never put there, When diffed, Then they are kept (the container wrote them)', () => {
    const volume = manifest(
      entry('src', { type: 'd' }),
      entry('src/a.js'),
      entry('src/cache', { type: 'd' }),
      entry('src/cache/x'),
      entry('out.txt'),
      entry('deleted-on-host.txt'),
    )
    const recorded = new Set(['src', 'src/a.js', 'deleted-on-host.txt'])

    expect(diff(manifest(), volume, NONE, (rel) => recorded.has(rel)).removals).toEqual([
      'src/a.js',
      'deleted-on-host.txt',
      'src',
    ])
  })

  test('Given excluded entries in the volume, When diffed, Then they are never removed', () => {
    const matcher = excludeMatcher(['node_modules/', '*.log'], 'gitignore')
    const volume = manifest(
      entry('node_modules', { type: 'd' }),
      entry('node_modules/x', { type: 'd' }),
      entry('node_modules/x/index.js'),
      entry('app.log'),
      entry('sub', { type: 'd' }),
      entry('sub/debug.log'),
      entry('stale.js'),
    )

    expect(diff(manifest(entry('sub', { type: 'd' })), volume, matcher).removals).toEqual([
      'stale.js',
    ])
  })

  test('Given upserts at several depths, When diffed, Then parents come before children', () => {
    const host = manifest(
      entry('b/c/d.txt'),
      entry('b/c', { type: 'd' }),
      entry('z.txt'),
      entry('b', { type: 'd' }),
      entry('a.txt'),
    )

    expect(diff(host, manifest()).upserts.map((e) => e.rel)).toEqual([
      'a.txt',
      'b',
      'z.txt',
      'b/c',
      'b/c/d.txt',
    ])
  })
})

describe('compareDepth', () => {
  test('Given paths, When sorted, Then by depth, then by name (code units)', () => {
    const sorted = ['b/a', 'a', 'B', 'a/b/c', 'a/a', 'b'].sort(compareDepth)

    expect(sorted).toEqual(['B', 'a', 'b', 'a/a', 'b/a', 'a/b/c'])
  })

  test('Given equal paths, When compared, Then 0', () => {
    expect(compareDepth('a/b', 'a/b')).toBe(0)
  })
})

describe('walkHost', () => {
  let root = ''
  beforeEach(() => {
    root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'dsync-walk-')))
    const write = (rel: string, text: string) => {
      fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true })
      fs.writeFileSync(path.join(root, rel), text)
    }
    write('a.txt', 'hello')
    write('dir with space/ünï cödé.txt', 'unicode!')
    write('dir with space/deep/x.js', '1')
    write('node_modules/lodash/index.js', 'module.exports = {}')
    write('packages/p/node_modules/dep.js', 'dep')
    write('debug.log', 'noise')
    fs.symlinkSync('dir with space', path.join(root, 'link-to-dir'))
    fs.symlinkSync('nowhere', path.join(root, 'dangling'))
    fs.chmodSync(path.join(root, 'a.txt'), 0o640)
  })
  afterEach(() => {
    fs.rmSync(root, { recursive: true, force: true })
  })

  test('Given a tree with excludes and symlinks, When walked, Then excluded folders are pruned and links not followed', async () => {
    const matcher = excludeMatcher(['node_modules/', '*.log'], 'gitignore')

    const result = await walkHost(root, matcher)

    expect([...result.entries.keys()].sort()).toEqual([
      'a.txt',
      'dangling',
      'dir with space',
      'dir with space/deep',
      'dir with space/deep/x.js',
      'dir with space/ünï cödé.txt',
      'link-to-dir',
      'packages',
      'packages/p',
    ])
    expect(result.prunedDirs.sort()).toEqual([
      path.join(root, 'node_modules'),
      path.join(root, 'packages/p/node_modules'),
    ])
    expect(result.bytes).toBe('hello'.length + Buffer.byteLength('unicode!') + 1)
  })

  test('Given a file, a folder and links, When walked, Then each entry has its type, size, mode and owner', async () => {
    const { entries } = await walkHost(root, NONE)
    const stat = fs.lstatSync(path.join(root, 'a.txt'))

    expect(entries.get('a.txt')).toEqual({
      rel: 'a.txt',
      type: 'f',
      size: 5,
      mtimeMs: stat.mtimeMs,
      mode: 0o640,
      uid: Number(stat.uid),
      gid: Number(stat.gid),
    })
    expect(entries.get('dir with space')?.type).toBe('d')
    expect(entries.get('link-to-dir')).toMatchObject({ type: 'l', target: 'dir with space' })
    expect(entries.get('dangling')).toMatchObject({ type: 'l', target: 'nowhere' })
    expect(entries.has('link-to-dir/deep')).toBe(false)
  })

  test('Given no excludes, When walked, Then every file is listed and nothing pruned', async () => {
    const { entries, prunedDirs } = await walkHost(root, NONE)

    expect(entries.has('node_modules/lodash/index.js')).toBe(true)
    expect(entries.has('debug.log')).toBe(true)
    expect(prunedDirs).toEqual([])
  })

  test('Given a walk of a host tree and an empty volume, When diffed, Then every entry is upserted parents first', async () => {
    const { entries } = await walkHost(root, excludeMatcher(['node_modules/'], 'gitignore'))

    const { upserts } = diffManifests(entries, new Map(), {
      matcher: NONE,
      owner: OWNER,
      owned: () => true,
    })

    expect(upserts.map((e) => e.rel)).toEqual([...entries.keys()].sort(compareDepth))
  })

  test('Given a path that vanished, When statted, Then undefined', async () => {
    expect(await statEntry(root, 'no/such/file')).toBeUndefined()
    expect(await statEntry(root, 'a.txt/child')).toBeUndefined()
  })
})
