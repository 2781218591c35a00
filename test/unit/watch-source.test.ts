/**
 * The event source on the real filesystem, with the real inotify (through its perl reader) and
 * @parcel/watcher: no
 * kernel is mocked. Each test writes a marker file last where the order matters, so "not
 * reported" is checked after something later was reported.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'

import {
  watchTree,
  type WatchBackend,
  type WatchEvent,
  type WatchHandle,
  type WatchOptions,
} from '../../src/daemon/watch/index.js'
import { RecordParser } from '../../src/daemon/watch/inotify-helper.js'
import { isPruned, pruneFor } from '../../src/daemon/watch/prune.js'

let root = ''
let outside = ''
const handles: WatchHandle[] = []

beforeEach(() => {
  const base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'dsync-watch-src-')))
  root = path.join(base, 'root')
  outside = path.join(base, 'outside')
  fs.mkdirSync(root)
  fs.mkdirSync(outside)
})

afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.close()))
  fs.rmSync(path.dirname(root), { recursive: true, force: true })
})

/** Everything delivered, and a way to wait for what a test expects. */
class Seen {
  readonly events: WatchEvent[] = []
  private waiters: (() => void)[] = []

  readonly onEvents = (events: WatchEvent[]) => {
    this.events.push(...events)
    for (const w of this.waiters.splice(0)) w()
  }

  has(kind: WatchEvent['kind'], rel?: string): boolean {
    return this.events.some(
      (e) => e.kind === kind && (rel === undefined || ('rel' in e && e.rel === rel)),
    )
  }

  rels(): string[] {
    return this.events.flatMap((e) => ('rel' in e ? [e.rel] : []))
  }

  async until(kind: WatchEvent['kind'], rel?: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!this.has(kind, rel)) {
      if (Date.now() > deadline) {
        throw new Error(`no ${kind} ${rel ?? ''} in ${JSON.stringify(this.events.slice(-30))}`)
      }
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve)
        setTimeout(resolve, 50)
      })
    }
  }

  clear(): void {
    this.events.length = 0
  }
}

async function watch(
  backend: WatchBackend,
  extra: Partial<WatchOptions> = {},
): Promise<{ seen: Seen; handle: WatchHandle }> {
  const seen = new Seen()
  const handle = await watchTree(root, {
    ignored: () => false,
    onEvents: seen.onEvents,
    backend,
    ...extra,
  })
  handles.push(handle)
  return { seen, handle }
}

function write(rel: string, content = 'x', base = root): void {
  fs.mkdirSync(path.dirname(path.join(base, rel)), { recursive: true })
  fs.writeFileSync(path.join(base, rel), content)
}

/** The perl reader of inotify started by this process (one watch runs at a time here). */
function helperPids(): number[] {
  const found: number[] = []
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8')
      const [comm = '', rest = ''] = stat.slice(stat.indexOf('(') + 1).split(') ')
      const ppid = Number(rest.split(' ')[1])
      if (ppid === process.pid && comm === 'perl') found.push(Number(entry))
    } catch {
      // exited meanwhile
    }
  }
  return found
}

function helperPid(): number {
  const [pid] = helperPids()
  if (pid === undefined) throw new Error('no inotify reader runs')
  return pid
}

/** The inotify watches a process holds (one `inotify wd:` line per watch in fdinfo). */
function watchCount(pid: number): number {
  let count = 0
  for (const fd of fs.readdirSync(`/proc/${pid}/fdinfo`)) {
    const info = fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8')
    count += info.split('\n').filter((l) => l.startsWith('inotify wd:')).length
  }
  return count
}

const BACKENDS: WatchBackend[] = ['inotify', '@parcel/watcher']

describe.each(BACKENDS)('watchTree with %s', (backend) => {
  test('Given a watched tree, When a file is written, Then its event is delivered', async () => {
    write('src/app.js', 'one')
    const { seen, handle } = await watch(backend)
    expect(handle.backend).toBe(backend)

    write('src/app.js', 'two')
    write('src/new.js')

    await seen.until('update', 'src/app.js')
    await seen.until('create', 'src/new.js')
  })

  test('Given a watched tree, When a folder holding subfolders and files is moved in, Then every entry is reported and later edits deep inside are seen', async () => {
    const { seen } = await watch(backend)

    // Made outside and moved in whole: no event for anything inside it.
    write('pkg/lib/deep/a.js', 'a', outside)
    write('pkg/b.js', 'b', outside)
    fs.renameSync(path.join(outside, 'pkg'), path.join(root, 'pkg'))

    await seen.until('create', 'pkg/lib/deep/a.js')
    await seen.until('create', 'pkg/b.js')
    // It watches the new subfolders only by subscribing anew (parcel-bundler/watcher#97).
    if (backend === '@parcel/watcher') await seen.until('rescan')
    seen.clear()
    write('pkg/lib/deep/later.js')
    await seen.until('create', 'pkg/lib/deep/later.js')
  })

  test('Given a watched tree, When nested folders and a file are made faster than a watch can follow, Then the file is reported and later edits beside it are seen', async () => {
    const { seen } = await watch(backend)

    fs.mkdirSync(path.join(root, 'gen/x/y'), { recursive: true })
    fs.writeFileSync(path.join(root, 'gen/x/y/z.ts'), 'z')

    await seen.until('create', 'gen/x/y/z.ts')
    if (backend === '@parcel/watcher') await seen.until('rescan')
    seen.clear()
    write('gen/x/y/later.ts')
    await seen.until('create', 'gen/x/y/later.ts')
  })

  test('Given a watched folder, When it is deleted and created again with new contents, Then the new contents are reported and watched', async () => {
    write('lib/sub/old.js')
    const { seen } = await watch(backend)

    fs.rmSync(path.join(root, 'lib'), { recursive: true })
    write('lib/sub/new.js')

    await seen.until('create', 'lib/sub/new.js')
    if (backend === '@parcel/watcher') await seen.until('rescan')
    seen.clear()
    write('lib/sub/later.js')
    await seen.until('create', 'lib/sub/later.js')
  })

  test('Given a pruned folder name, When files change inside it at any depth, Then nothing from it is delivered', async () => {
    write('node_modules/a/index.js')
    write('pkg/node_modules/b/index.js')
    const { seen } = await watch(backend, {
      prune: pruneFor({ excludes: ['node_modules/'], excludesType: 'gitignore' }),
    })

    write('node_modules/a/index.js', 'changed')
    write('pkg/node_modules/b/index.js', 'changed')
    write('pkg/node_modules/c/new.js')
    write('pkg/done.js')

    await seen.until('create', 'pkg/done.js')
    expect(seen.rels().filter((r) => r.includes('node_modules/'))).toEqual([])
  })
})

describe('watchTree with inotify', () => {
  test('Given an `ignored` rule, When matching and other files change, Then only the others are delivered', async () => {
    const { seen } = await watch('inotify', { ignored: (rel) => rel.endsWith('.log') })

    write('debug.log')
    write('src/trace.log')
    write('src/done.js')

    await seen.until('create', 'src/done.js')
    expect(seen.rels().filter((r) => r.endsWith('.log'))).toEqual([])
  })

  test('Given excluded folders holding many folders, When watched, Then they cost no inotify watch', async () => {
    for (let i = 0; i < 40; i++)
      fs.mkdirSync(path.join(root, `node_modules/p${i}/lib`), { recursive: true })
    fs.mkdirSync(path.join(root, 'src/a'), { recursive: true })
    fs.mkdirSync(path.join(root, 'docs/api/v1'), { recursive: true })

    await watch('inotify', {
      prune: { names: ['node_modules'], paths: ['docs/api'] },
    })

    // root, src, src/a, docs: the 80 folders under node_modules and docs/api are not watched.
    expect(watchCount(helperPid())).toBe(4)
  })

  test('Given a watched folder without subfolders, When it is renamed inside the tree, Then the old path is deleted, the new one reported with its contents, and nothing is rescanned', async () => {
    write('old/a.js')
    const { seen } = await watch('inotify')

    fs.renameSync(path.join(root, 'old'), path.join(root, 'new'))

    await seen.until('delete', 'old')
    await seen.until('create', 'new/a.js')
    write('new/later.js')
    await seen.until('create', 'new/later.js')
    expect(seen.has('rescan')).toBe(false)
  })

  test('Given a folder deleted and made again, When it is renamed, Then edits in it are reported at its new path', async () => {
    fs.mkdirSync(path.join(root, 'd'))
    const { seen } = await watch('inotify')

    fs.rmdirSync(path.join(root, 'd'))
    await sleep(50)
    fs.mkdirSync(path.join(root, 'd'))
    await sleep(50)
    fs.renameSync(path.join(root, 'd'), path.join(root, 'z'))
    await sleep(200)
    write('z/f.js')

    await seen.until('create', 'z/f.js')
    expect(seen.rels()).not.toContain('d/f.js')
    expect(seen.has('rescan')).toBe(false)
  })

  test('Given folders holding folders, When they are renamed inside the tree again and again, Then later edits in every folder are reported at their real paths', async () => {
    // The sequence of a failing fuzz burst, where inotifywait's own renaming of its watches'
    // paths skipped some, whose events then named the folders' first paths.
    fs.mkdirSync(path.join(root, "it's-12/c/semi;colon"), { recursive: true })
    fs.mkdirSync(path.join(root, "it's-12/c/x/y"), { recursive: true })
    const { seen } = await watch('inotify')

    const at = (rel: string) => path.join(root, rel)
    fs.renameSync(at("it's-12"), at('img-17'))
    await sleep(100)
    fs.mkdirSync(at('img-21/#hash/u/x1/..dots'), { recursive: true })
    await sleep(100)
    fs.renameSync(at('img-17'), at('img-21/#hash/u/x1/..dots/notes-25'))
    await sleep(100)
    fs.renameSync(at('img-21/#hash/u/x1/..dots'), at('img-21/notes'))
    await sleep(200)
    // The paths moved with the renames: nothing had to be watched anew.
    expect(seen.has('rescan')).toBe(false)
    seen.clear()

    const folders = fs
      .readdirSync(root, { recursive: true, withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => path.relative(root, path.join(d.parentPath, d.name)))
    expect(folders).toContain('img-21/notes/notes-25/c/x/y')
    for (const folder of folders) write(`${folder}/F`)

    for (const folder of folders) await seen.until('create', `${folder}/F`)
    const nowhere = seen.rels().filter((rel) => !fs.existsSync(at(rel)))
    expect(nowhere).toEqual([])
  })

  test('Given a watched folder, When it is moved out of the tree, Then its deletion is delivered, and it is not watched any more', async () => {
    write('gone/sub/a.js')
    const { seen } = await watch('inotify')

    fs.renameSync(path.join(root, 'gone'), path.join(outside, 'gone'))
    await seen.until('delete', 'gone')
    await sleep(200) // past the wait for a MOVED_TO that would make it a rename
    seen.clear()

    // Under its old watch this would come back as gone/sub/b.js.
    write('gone/sub/b.js', 'b', outside)
    // A folder moved in next is watched as itself.
    write('came/sub/c.js', 'c', outside)
    fs.renameSync(path.join(outside, 'came'), path.join(root, 'came'))
    await seen.until('create', 'came/sub/c.js')
    write('came/sub/d.js')
    await seen.until('create', 'came/sub/d.js')
    expect(seen.rels().filter((r) => r.startsWith('gone'))).toEqual([])
  })

  test('Given a watched root, When it is deleted and created again (rm -rf src && git clone), Then a rescan follows and the new root is watched', async () => {
    write('a.js')
    const { seen } = await watch('inotify')

    fs.rmSync(root, { recursive: true })
    await sleep(300) // the watch notices the root is gone; it comes back later
    write('sub/b.js')

    await seen.until('rescan')
    seen.clear()
    write('sub/c.js')
    await seen.until('create', 'sub/c.js')
  })

  test('Given a watched root, When another folder is renamed over it, Then check() watches the new one and rescans', async () => {
    const { seen, handle } = await watch('inotify')
    write('fresh/inner/a.js', 'a', outside)

    fs.renameSync(root, path.join(outside, 'previous'))
    fs.renameSync(path.join(outside, 'fresh'), root)
    await handle.check()

    await seen.until('rescan')
    seen.clear()
    write('inner/b.js')
    await seen.until('create', 'inner/b.js')
  })

  test('Given the inotify queue overflowed, When events resume, Then a rescan is delivered and the tree is still watched', async () => {
    const { seen } = await watch('inotify')
    const limit = Number(fs.readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8'))
    const pid = helperPid()

    process.kill(pid, 'SIGSTOP')
    try {
      fs.mkdirSync(path.join(root, 'burst'))
      for (let i = 0; i < limit + 100; i++) fs.writeFileSync(path.join(root, 'burst', `f${i}`), '')
    } finally {
      process.kill(pid, 'SIGCONT')
    }

    await seen.until('rescan', undefined, 30_000)
    seen.clear()
    write('burst/after.js')
    await seen.until('create', 'burst/after.js')
  }, 60_000)

  test('Given its reader is killed, When check() runs, Then it watches again and rescans', async () => {
    const { seen, handle } = await watch('inotify')

    process.kill(helperPid(), 'SIGKILL')
    await handle.check()

    await seen.until('rescan')
    write('after.js')
    await seen.until('create', 'after.js')
  })

  test('Given a watched tree, When the handle is closed, Then no process of it is left', async () => {
    const { handle } = await watch('inotify')
    expect(helperPids()).toHaveLength(1)

    await handle.close()

    expect(helperPids()).toEqual([])
  })

  test('Given a root that is not a folder, When watched, Then watchTree rejects with its path', async () => {
    const file = path.join(root, 'file')
    fs.writeFileSync(file, '')
    await expect(
      watchTree(file, { ignored: () => false, onEvents: () => undefined, backend: 'inotify' }),
    ).rejects.toThrow(file)
    expect(helperPids()).toEqual([])
  })
})

describe('watchTree without perl', () => {
  test('Given Linux with no perl on PATH, When a tree is watched by default, Then @parcel/watcher watches it and the handle says why', async () => {
    const saved = process.env.PATH
    process.env.PATH = ''
    let handle: WatchHandle
    const seen = new Seen()
    try {
      handle = await watchTree(root, { ignored: () => false, onEvents: seen.onEvents })
      handles.push(handle)
    } finally {
      process.env.PATH = saved
    }
    expect(handle.backend).toBe('@parcel/watcher')
    expect(handle.fallback).toMatch(/perl/)
    write('after.js')
    await seen.until('create', 'after.js')
  })
})

describe('RecordParser', () => {
  const record = (...fields: (string | number)[]) => fields.map((f) => `${f}\0`).join('')

  test('Given records split anywhere, even inside a multi-byte name, When pushed, Then each comes out once and whole', () => {
    const text =
      record('E', 3, 0x100, 0, 'ä file\nwith newline') +
      record('W', -2, 0, 0, '/r/gone') +
      record('d', 0, 0, 0, 'sub') +
      record('Z', 0, 0, 0, '')
    const bytes = Buffer.from(text, 'utf8')
    for (let cut = 0; cut <= bytes.length; cut++) {
      const parser = new RecordParser()
      const records = [...parser.push(bytes.subarray(0, cut)), ...parser.push(bytes.subarray(cut))]
      expect(records).toEqual([
        { type: 'E', a: 3, b: 0x100, c: 0, name: 'ä file\nwith newline' },
        { type: 'W', a: -2, b: 0, c: 0, name: '/r/gone' },
        { type: 'd', a: 0, b: 0, c: 0, name: 'sub' },
        { type: 'Z', a: 0, b: 0, c: 0, name: '' },
      ])
    }
  })
})

describe('prune', () => {
  test('Given gitignore excludes, When pruned, Then only plain names are, and nothing when a rule re-includes', () => {
    expect(
      pruneFor({
        excludes: ['.git', 'node_modules/', '*.log', '/tmp-*', 'a/b'],
        excludesType: 'gitignore',
      }),
    ).toEqual({ names: ['.git', 'node_modules'], paths: [] })
    expect(pruneFor({ excludes: ['node_modules/', '!keep'], excludesType: 'gitignore' })).toEqual({
      names: [],
      paths: [],
    })
    expect(pruneFor({ excludes: ['/build/', 'docs/api'], excludesType: 'path' })).toEqual({
      names: [],
      paths: ['build', 'docs/api'],
    })
    expect(pruneFor({ excludes: ['^vendor/'], excludesType: 'regex' })).toEqual({
      names: [],
      paths: [],
    })
  })

  test('Given pruned names and paths, When a folder is checked, Then it is pruned at or below them only', () => {
    const prune = { names: ['node_modules', 'a+b'], paths: ['docs/api'] }
    expect(isPruned(prune, 'node_modules')).toBe(true)
    expect(isPruned(prune, 'pkg/node_modules/x')).toBe(true)
    expect(isPruned(prune, 'pkg/a+b')).toBe(true)
    expect(isPruned(prune, 'pkg/aab')).toBe(false)
    expect(isPruned(prune, 'docs/api/v1')).toBe(true)
    expect(isPruned(prune, 'docs/apis')).toBe(false)
    expect(isPruned(prune, 'src')).toBe(false)
  })
})
