/**
 * The unison strategy's pure part: a run's command line, the ssh script, what unison prints,
 * the sidecar watcher's stream, and the version check.
 */
import { describe, expect, test } from 'vitest'
import {
  collapsePaths,
  conflictCopyName,
  parseRunOutput,
  parseUnisonVersion,
  parseVolumeEvents,
  remoteRoot,
  sshScript,
  unisonArgs,
  versionAtLeast,
  volumeWatchArgs,
  type UnisonRunInput,
} from '../../src/strategies/unison-args.js'

const base: UnisonRunInput = {
  src: '/home/u/app',
  sidecarPath: '/sync/code',
  sshcmd: '/state/unison-ssh-code',
  prefer: 'host',
  excludes: ['node_modules/', '*.log'],
  excludesType: 'gitignore',
  args: ['-perms', '0'],
}

function valueOf(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag)
  return i < 0 ? undefined : args[i + 1]
}

describe('unisonArgs: one run between the host folder and the volume', () => {
  test('Given a whole run, When built, Then the roots are the folder and the sidecar over ssh, guarded against an emptied side', () => {
    const args = unisonArgs(base)

    expect(args.slice(0, 2)).toEqual(['/home/u/app', 'ssh://dsync//sync/code'])
    expect(valueOf(args, '-sshcmd')).toBe('/state/unison-ssh-code')
    expect(args).toContain('-batch')
    expect(args).toContain('-confirmbigdel=true')
    expect(args).toContain('-fastcheck=true')
    expect(args).not.toContain('-path')
  })

  test('Given a path run, When built, Then each path is a -path, content is compared and unison does not guard (the strategy does)', () => {
    const args = unisonArgs({ ...base, paths: ['a.txt', 'dir/b c.txt'] })

    expect(args.slice(-4)).toEqual(['-path', 'a.txt', '-path', 'dir/b c.txt'])
    expect(args).toContain('-fastcheck=false')
    expect(args).toContain('-confirmbigdel=false')
  })

  test('Given each prefer, When built, Then -prefer names the winning root exactly and losing versions are copied', () => {
    expect(valueOf(unisonArgs(base), '-prefer')).toBe('/home/u/app')
    expect(valueOf(unisonArgs({ ...base, prefer: 'container' }), '-prefer')).toBe(
      'ssh://dsync//sync/code',
    )
    expect(valueOf(unisonArgs({ ...base, prefer: 'newer' }), '-prefer')).toBe('newer')
    expect(unisonArgs(base)).toContain('-copyonconflict')
  })

  test('Given excludes, When built, Then they are -ignore patterns, as are dsync folder and conflict copies, and extra args follow', () => {
    const args = unisonArgs(base)
    const ignores = args.flatMap((a, i) => (a === '-ignore' ? [args[i + 1]] : []))

    expect(ignores).toEqual(
      expect.arrayContaining([
        'Path .dsync',
        'Name *(conflict_on_*)*',
        'Name *(conflict #*_on_*)*',
        'Name node_modules',
        'Name *.log',
      ]),
    )
    expect(valueOf(args, '-perms')).toBe('0')
  })

  test('Given an accepted deletion or the first run of initial host, When built, Then the guard is off, or the host is forced with backups in the volume', () => {
    expect(unisonArgs({ ...base, acceptDeletions: true })).toContain('-confirmbigdel=false')
    const first = unisonArgs({ ...base, replaceInto: '/sync/code/.dsync/replaced-1' })
    expect(valueOf(first, '-force')).toBe('/home/u/app')
    expect(valueOf(first, '-backupdir')).toBe('/sync/code/.dsync/replaced-1')
    expect(first).not.toContain('-prefer')
  })

  test('Given a relative sidecar path, When the remote root is made, Then it has no double slash', () => {
    expect(remoteRoot('sync/x')).toBe('ssh://dsync/sync/x')
  })
})

describe('sshScript', () => {
  test('Given an owner, When written, Then it runs the server in the sidecar as that owner with its archive on the volume', () => {
    const script = sshScript('/sync/code', { uid: 1000, gid: 1001 })

    expect(script.startsWith('#!/bin/sh\n')).toBe(true)
    expect(script).toContain(
      `exec docker exec -i -u 1000:1001 -e UNISON='/sync/code/.dsync/unison' -e UNISONLOCALHOSTNAME=dsync-sidecar "$DSYNC_SIDECAR" unison -server`,
    )
  })
})

describe('parseRunOutput', () => {
  test('Given conflicts decided by prefer, When parsed, Then each names the kept side and whether the loser deleted it', () => {
    const out = parseRunOutput(
      [
        'changed  <==== changed    f.txt  ',
        'changed  ====> deleted    gone.txt  ',
        'new file ---->            plain.txt  ',
        '         ====> file       forced  ',
        '[BGN] Updating file f.txt from //dsync-sidecar//sync/t to /tmp/a',
        'Synchronization complete at 00:50:33  (3 items transferred, 0 skipped, 0 failed)',
      ].join('\n'),
    )

    expect(out.transferred).toBe(3)
    expect(out.conflicts).toEqual([
      { path: 'f.txt', kept: 'container', loserDeleted: false },
      { path: 'gone.txt', kept: 'host', loserDeleted: true },
    ])
    expect(out.emptied).toBe(false)
  })

  test('Given unison refusing an emptied side, When parsed, Then it says so', () => {
    const out = parseRunOutput(
      'Aborting...\nThe root of one of the replicas has been completely emptied.\n',
    )
    expect(out.emptied).toBe(true)
  })

  test('Given a fatal error, When parsed, Then its line is the error', () => {
    const out = parseRunOutput(
      'Contacting server...\nFatal error: Lost connection with the server\n',
    )
    expect(out.error).toBe('Fatal error: Lost connection with the server')
  })
})

describe('conflictCopyName', () => {
  test('Given a path with and without an extension, When named, Then it is what unison names its copy', () => {
    expect(conflictCopyName('dir/f.txt', '2026-12-08')).toBe('dir/f (conflict_on_2026-12-08).txt')
    expect(conflictCopyName('f', '2026-12-08')).toBe('f (conflict_on_2026-12-08)')
    expect(conflictCopyName('.env', '2026-12-08')).toBe('.env (conflict_on_2026-12-08)')
  })
})

describe('the volume watcher', () => {
  test('Given excludes, When its command is built, Then inotifywait skips dsync folder, conflict copies and pruned folders', () => {
    const args = volumeWatchArgs('/sync/code', ['node_modules/'], 'gitignore')
    const exclude = new RegExp(args[args.indexOf('--exclude') + 1] ?? '')

    expect(args.slice(-2)).toEqual(['--', '/sync/code'])
    expect(exclude.test('/sync/code/.dsync/unison/ar1')).toBe(true)
    expect(exclude.test('/sync/code/f (conflict_on_2026-12-08).txt')).toBe(true)
    expect(exclude.test('/sync/code/a/node_modules/x')).toBe(true)
    expect(exclude.test('/sync/code/src/app.js')).toBe(false)
  })

  test('Given a stream cut mid-record, When parsed, Then whole records are events and the rest waits', () => {
    const first = parseVolumeEvents(
      'CREATE\0/sync/code/a.txt\0DELETE,ISDIR\0/sync/code/old\0MOVED_TO\0/sync/co',
      '/sync/code',
    )
    expect(first.events).toEqual([
      { rel: 'a.txt', deleted: false, overflow: false },
      { rel: 'old', deleted: true, overflow: false },
    ])
    const second = parseVolumeEvents(first.rest + 'de/new\0Q_OVERFLOW\0\0', '/sync/code')
    expect(second.events).toEqual([
      { rel: 'new', deleted: false, overflow: false },
      { rel: '', deleted: false, overflow: true },
    ])
    expect(second.rest).toBe('')
  })
})

describe('collapsePaths', () => {
  test('Given paths under others, When collapsed, Then only the outermost stay', () => {
    expect(collapsePaths(['a/b/c', 'a', 'b/c', 'ab', 'b/c/d'])).toEqual(['a', 'ab', 'b/c'])
  })
})

describe('the unison version', () => {
  test('Given unison -version, When checked, Then 2.52 or later passes', () => {
    const v = parseUnisonVersion('unison version 2.52.1 (ocaml 4.13.1)')
    expect(v).toEqual([2, 52, 1])
    expect(versionAtLeast(v ?? [])).toBe(true)
    expect(versionAtLeast([2, 51, 5])).toBe(false)
    expect(versionAtLeast([2, 53, 0])).toBe(true)
    expect(parseUnisonVersion('command not found')).toBeUndefined()
  })
})
