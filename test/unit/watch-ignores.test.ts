import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

import watcher from '@parcel/watcher'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'

import { parcelIgnores, pruneFor } from '../../src/daemon/watch/prune.js'
import type { ExcludeType } from '../../src/compose/types.js'
import type { SyncTarget } from '../../src/strategies/types.js'

const SRC = '/home/me/proj'

function target(excludes: string[], excludesType: ExcludeType, src = SRC): SyncTarget {
  return {
    name: 'app',
    strategy: 'rsync',
    src,
    sidecarPath: '/sync/app',
    owner: { uid: 1000, gid: 1000 },
    excludes,
    excludesType,
    args: [],
  }
}

/** The folders the daemon tells @parcel/watcher to ignore for a sync. */
function watchIgnores(t: SyncTarget): (string | RegExp)[] {
  return parcelIgnores(t.src, pruneFor(t))
}

/**
 * What @parcel/watcher does with a RegExp: a substring match against the path relative to the
 * watched folder (wrapper.js turns it into a full match of `[\s\S]*(?:source)[\s\S]*`).
 */
function ignoresRel(ignores: (string | RegExp)[], rel: string): boolean {
  return ignores.some((i) => i instanceof RegExp && i.test(rel))
}

describe('watchIgnores', () => {
  test('Given gitignore excludes, When derived, Then only plain names become regexes, without flags', () => {
    const ignores = watchIgnores(
      target(['.git', 'node_modules/', '*.log', '/tmp-*', 'a/b', '**/cache', 'dist/'], 'gitignore'),
    )

    expect(ignores).toHaveLength(3)
    for (const ignore of ignores) {
      expect(ignore).toBeInstanceOf(RegExp)
      // @parcel/watcher refuses RegExp flags.
      expect((ignore as RegExp).flags).toBe('')
    }
  })

  test.each([
    ['node_modules', true],
    ['node_modules/lodash/index.js', true],
    ['packages/x/node_modules', true],
    ['packages/x/node_modules/y.js', true],
    ['.git', true],
    ['.git/objects/ab', true],
    ['dist/app.js', true],
    ['.gitignore', false],
    ['my.git', false],
    ['node_modules_old/x', false],
    ['src/index.js', false],
    ['debug.log', false],
  ])('Given .git, node_modules/ and dist/, When %j changes, Then ignored is %s', (rel, ignored) => {
    const ignores = watchIgnores(target(['.git', 'node_modules/', 'dist/', '*.log'], 'gitignore'))

    expect(ignoresRel(ignores, rel)).toBe(ignored)
  })

  test('Given a negation among gitignore excludes, When derived, Then nothing is ignored by the watcher', () => {
    expect(watchIgnores(target(['node_modules/', '*.log', '!keep.log'], 'gitignore'))).toEqual([])
  })

  test('Given name excludes, When derived, Then each name is matched as a whole path segment', () => {
    const ignores = watchIgnores(target(['node_modules', 'foo.bar', 'a+b'], 'name'))

    expect(ignores).toHaveLength(3)
    expect(ignoresRel(ignores, 'node_modules')).toBe(true)
    expect(ignoresRel(ignores, 'x/node_modules/y')).toBe(true)
    expect(ignoresRel(ignores, 'foo.bar')).toBe(true)
    expect(ignoresRel(ignores, 'fooxbar')).toBe(false)
    expect(ignoresRel(ignores, 'sub/a+b/c')).toBe(true)
    expect(ignoresRel(ignores, 'aab')).toBe(false)
  })

  test('Given path excludes, When derived, Then absolute paths under src', () => {
    expect(watchIgnores(target(['build', '/var/cache/', 'docs/api'], 'path'))).toEqual([
      `${SRC}/build`,
      `${SRC}/var/cache`,
      `${SRC}/docs/api`,
    ])
  })

  test('Given regex excludes, When derived, Then nothing: every event is filtered instead', () => {
    expect(watchIgnores(target(['\\.tmp$', '^vendor/'], 'regex'))).toEqual([])
  })

  test('Given no excludes, When derived, Then nothing is ignored', () => {
    expect(watchIgnores(target([], 'gitignore'))).toEqual([])
  })
})

describe('watchIgnores with @parcel/watcher', () => {
  let root = ''
  beforeEach(() => {
    root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'dsync-watch-')))
    for (const dir of ['node_modules', 'pkg/node_modules', 'build', 'build-tools', 'src']) {
      fs.mkdirSync(path.join(root, dir), { recursive: true })
    }
  })
  afterEach(() => {
    fs.rmSync(root, { recursive: true, force: true })
  })

  /** The paths (relative) the watcher reports while `files` are written, `src/done` last. */
  async function observe(ignore: (string | RegExp)[], files: string[]): Promise<string[]> {
    const seen = new Set<string>()
    const subscription = await watcher.subscribe(
      root,
      (error, events) => {
        if (error) throw error
        for (const event of events) seen.add(path.relative(root, event.path))
      },
      { ignore },
    )
    try {
      for (const file of files) fs.writeFileSync(path.join(root, file), 'x')
      // Written last, so once it is seen every earlier event has been delivered.
      fs.writeFileSync(path.join(root, 'src/done'), 'x')
      for (let i = 0; i < 100 && !seen.has('src/done'); i++) await sleep(50)
      await sleep(100)
    } finally {
      await subscription.unsubscribe()
    }
    return [...seen].sort()
  }

  test('Given gitignore node_modules/, When files change at the top and nested, Then the watcher reports neither', async () => {
    const seen = await observe(watchIgnores(target(['node_modules/'], 'gitignore', root)), [
      'node_modules/a.js',
      'pkg/node_modules/b.js',
      'src/c.js',
    ])

    expect(seen).toEqual(['src/c.js', 'src/done'])
  })

  test('Given name node_modules, When files change at the top and nested, Then the watcher reports neither', async () => {
    const seen = await observe(watchIgnores(target(['node_modules'], 'name', root)), [
      'node_modules/a.js',
      'pkg/node_modules/b.js',
      'src/c.js',
    ])

    expect(seen).toEqual(['src/c.js', 'src/done'])
  })

  test('Given path build, When files change in build and build-tools, Then only build is ignored', async () => {
    const seen = await observe(watchIgnores(target(['build'], 'path', root)), [
      'build/out.js',
      'build-tools/t.js',
    ])

    expect(seen).toEqual(['build-tools/t.js', 'src/done'])
  })
})
