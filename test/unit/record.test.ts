import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { deepestFirst, SyncRecord } from '../../src/strategies/record.js'
import { rsyncFailures, tarUnreadable } from '../../src/strategies/rsync.js'

describe('SyncRecord', () => {
  let dir: string
  let file: string
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'dsync-record-'))
    file = path.join(dir, 'record-app')
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  test('Given no file, When loaded, Then the record is empty', () => {
    expect(SyncRecord.load(file).size).toBe(0)
  })

  test('Given additions and removals, When loaded again, Then the same paths, the file private', () => {
    const record = SyncRecord.load(file)
    record.add(['a', 'src', 'src/x.js', 'src/y.js'])
    record.remove(['src/y.js', 'never-there'])

    const again = SyncRecord.load(file)
    expect(['a', 'src', 'src/x.js', 'src/y.js'].map((p) => again.has(p))).toEqual([
      true,
      true,
      true,
      false,
    ])
    expect(statSync(file).mode & 0o777).toBe(0o600)
  })

  test('Given a replacement, When loaded again, Then only the new paths, in a compact file', () => {
    const record = SyncRecord.load(file)
    record.add(['old', 'old/a'])
    record.replace(['new', 'new/b'])

    expect([...SyncRecord.load(file).under('new')]).toEqual(['new/b', 'new'])
    expect(SyncRecord.load(file).has('old')).toBe(false)
    expect(readFileSync(file, 'utf8')).toBe('+new\0+new/b\0')
  })

  test('Given a folder, When asked what is under it, Then children first, and nothing of a sibling with the same prefix', () => {
    const record = SyncRecord.inMemory(['d', 'd/a', 'd/a/b', 'dd', 'd2/x'])

    expect(record.under('d')).toEqual(['d/a/b', 'd/a', 'd'])
    expect(record.under('missing')).toEqual([])
  })

  test('Given another process rewrote the file, When reloaded, Then the copy follows it', () => {
    const daemon = SyncRecord.load(file)
    daemon.add(['a'])
    SyncRecord.load(file).replace(['b'])

    daemon.reload()
    expect([daemon.has('a'), daemon.has('b')]).toEqual([false, true])
  })

  test('Given paths of several depths, When sorted deepest first, Then children before parents', () => {
    expect(['a', 'a/b/c', 'z', 'a/b'].sort(deepestFirst)).toEqual(['a/b/c', 'a/b', 'a', 'z'])
  })
})

describe('unreadable host files', () => {
  test('Given rsync 3.2 and 3.1 lines for files it could not open, When read, Then those files, relative to src', () => {
    const lines = [
      'rsync: [sender] send_files failed to open "/home/me/proj/secret.key": Permission denied (13)',
      'rsync: send_files failed to open "/home/me/proj/a b/c": Permission denied (13)',
      'rsync: [sender] opendir "/home/me/proj/locked" failed: Permission denied (13)',
      'rsync error: some files/attrs were not transferred (see previous errors) (code 23) at main.c(1338) [sender=3.2.7]',
    ]

    expect(rsyncFailures(lines, '/home/me/proj')).toEqual({
      unreadable: ['secret.key', 'a b/c', 'locked'],
      vanished: [],
      other: [],
    })
  })

  test('Given another rsync error, When read, Then it is kept as the reason', () => {
    const line = 'rsync: [receiver] write failed on "/sync/app/big": No space left on device (28)'

    expect(rsyncFailures([line], '/src')).toEqual({ unreadable: [], vanished: [], other: [line] })
  })

  test('Given paths deleted or turned into folders before rsync reached them, When read, Then they are vanished, not errors', () => {
    const lines = [
      'rsync: [sender] link_stat "/src/gone.txt" failed: No such file or directory (2)',
      'rsync: [sender] read errors mapping "/src/now-a-dir": Is a directory (21)',
    ]

    expect(rsyncFailures(lines, '/src')).toEqual({
      unreadable: [],
      vanished: ['gone.txt', 'now-a-dir'],
      other: [],
    })
  })

  test('Given tar warnings for unreadable files, When read, Then those files', () => {
    expect(
      tarUnreadable([
        'tar: secret.key: Cannot open: Permission denied',
        'tar: locked: Cannot opendir: Permission denied',
        'tar: Exiting with failure status due to previous errors',
      ]),
    ).toEqual(['secret.key', 'locked'])
  })
})
