import { describe, expect, test } from 'vitest'

import { excludedWithParents, excludeMatcher } from '../../src/strategies/excludes.js'

type Case = [rel: string, isDirectory: boolean, excluded: boolean]

describe('excludeMatcher: gitignore', () => {
  const matcher = excludeMatcher(
    ['*.log', 'node_modules/', '/tmp-*', 'a/b', '**/cache', '!keep.log', '.git'],
    'gitignore',
  )

  test.each<Case>([
    // *.log, anywhere, files and folders, except the re-included keep.log
    ['debug.log', false, true],
    ['src/deep/trace.log', false, true],
    ['logs.log', true, true],
    ['keep.log', false, false],
    ['src/keep.log', false, false],
    ['log.txt', false, false],
    // node_modules/ is for folders only, at any depth
    ['node_modules', true, true],
    ['packages/x/node_modules', true, true],
    ['node_modules', false, false],
    // /tmp-* is anchored at the sync root
    ['tmp-1', false, true],
    ['tmp-build', true, true],
    ['src/tmp-1', false, false],
    // a slash in the middle anchors too
    ['a/b', false, true],
    ['a/b', true, true],
    ['x/a/b', false, false],
    ['a/bc', false, false],
    // **/cache at any depth, the root included
    ['cache', true, true],
    ['src/cache', true, true],
    ['src/deep/cache', false, true],
    ['cached', true, false],
    // a plain name: files and folders, anywhere
    ['.git', true, true],
    ['sub/.git', false, true],
    ['.gitignore', false, false],
    // the sync root itself is never excluded
    ['', true, false],
  ])('Given %j (folder: %s), When matched, Then excluded is %s', (rel, isDirectory, excluded) => {
    expect(matcher.excluded(rel, isDirectory)).toBe(excluded)
  })

  test('Given a path inside an excluded folder, When matched, Then the ignore library sees the folder', () => {
    expect(matcher.excluded('node_modules/lodash/index.js', false)).toBe(true)
  })

  test('Given no patterns, When matched, Then nothing is excluded', () => {
    const none = excludeMatcher([], 'gitignore')

    expect(none.excluded('anything', false)).toBe(false)
    expect(none.excluded('node_modules', true)).toBe(false)
  })

  test('Given a negation of a file inside an excluded folder, When matched with parents, Then it stays excluded, as in git', () => {
    const m = excludeMatcher(['build/', '!build/keep.txt'], 'gitignore')

    expect(excludedWithParents(m, 'build/keep.txt', false)).toBe(true)
  })
})

describe('excludeMatcher: name', () => {
  const matcher = excludeMatcher(['node_modules', '.DS_Store'], 'name')

  test.each<Case>([
    ['node_modules', true, true],
    ['a/node_modules', true, true],
    ['a/node_modules/b/c.js', false, true],
    ['.DS_Store', false, true],
    ['sub/.DS_Store', false, true],
    ['node_modules_backup', true, false],
    ['my-node_modules', true, false],
    ['src/index.js', false, false],
  ])('Given %j (folder: %s), When matched, Then excluded is %s', (rel, isDirectory, excluded) => {
    expect(matcher.excluded(rel, isDirectory)).toBe(excluded)
  })
})

describe('excludeMatcher: path', () => {
  const matcher = excludeMatcher(['build', '/var/cache/', 'docs/api'], 'path')

  test.each<Case>([
    ['build', true, true],
    ['build/out.js', false, true],
    ['var/cache', true, true],
    ['var/cache/x', false, true],
    ['docs/api', true, true],
    ['docs/api/index.html', false, true],
    ['src/build', true, false],
    ['build-tools', true, false],
    ['docs', true, false],
    ['docs/apis', true, false],
  ])('Given %j (folder: %s), When matched, Then excluded is %s', (rel, isDirectory, excluded) => {
    expect(matcher.excluded(rel, isDirectory)).toBe(excluded)
  })
})

describe('excludeMatcher: regex', () => {
  const matcher = excludeMatcher(['\\.tmp$', '^vendor/'], 'regex')

  test.each<Case>([
    ['a.tmp', false, true],
    ['deep/b.tmp', false, true],
    ['a.tmp.txt', false, false],
    ['vendor/x.php', false, true],
    ['vendor', true, false],
    ['src/vendor/x.php', false, false],
  ])('Given %j (folder: %s), When matched, Then excluded is %s', (rel, isDirectory, excluded) => {
    expect(matcher.excluded(rel, isDirectory)).toBe(excluded)
  })
})

describe('excludedWithParents', () => {
  test('Given a file under an excluded folder, When checked, Then excluded through its parent', () => {
    const m = excludeMatcher(['node_modules/'], 'gitignore')

    expect(excludedWithParents(m, 'node_modules/a/b/c.js', false)).toBe(true)
    expect(excludedWithParents(m, 'src/node_modules/a.js', false)).toBe(true)
    expect(excludedWithParents(m, 'src/a.js', false)).toBe(false)
  })

  test('Given a regex that matches only the folder, When checked, Then its content is excluded too', () => {
    const m = excludeMatcher(['^vendor$'], 'regex')

    expect(m.excluded('vendor/x.php', false)).toBe(false)
    expect(excludedWithParents(m, 'vendor/x.php', false)).toBe(true)
  })

  test('Given a dir-only pattern, When a parent is checked, Then it is checked as a folder', () => {
    const m = excludeMatcher(['out/'], 'gitignore')

    expect(excludedWithParents(m, 'out/file', false)).toBe(true)
    expect(excludedWithParents(m, 'out', false)).toBe(false)
    expect(excludedWithParents(m, 'out', true)).toBe(true)
  })

  test('Given a top-level path, When checked, Then only the path itself is matched', () => {
    const m = excludeMatcher(['*.log'], 'gitignore')

    expect(excludedWithParents(m, 'a.log', false)).toBe(true)
    expect(excludedWithParents(m, 'a.txt', false)).toBe(false)
  })
})
