/**
 * native_osx end to end (issue 11): unison inside the sidecar keeps the host folder and the
 * volume in sync both ways. Everything is observed as a user would: a file's content inside the
 * app container (docker exec, as the app's user 1000) and on the host, what `dsync status`
 * prints, what `dsync flush` and `dsync sync` answer.
 *
 * Projects: `main` (prefer: host) for the file operations both ways, ownership, excludes, a
 * conflict, the 5,000-file burst and the killed sync processes; one project per other `prefer`;
 * one taken down and brought up again with changes made on both sides meanwhile; one whose
 * host folder is emptied. The host folder of each is owned by 1234:1234, so that files coming
 * back from the container must be given to that user.
 */
import {
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { run, type RunResult } from '../../src/lib/exec.js'
import { leftovers, testProject, waitFor, type TestProject } from './helpers.js'

const SYNC = 'code'
const HOST_UID = 1234
/** How long a change may take to reach the other side in these tests. */
const ARRIVES_MS = 10_000

interface TwoWayJson {
  state: string
  worker: string
  halt?: string
  restarts: number
  lastRestart?: { at: string; cause: string }
  conflictCount: number
  conflicts: { path: string; kept: string; copy?: string; copySide?: string }[]
}

interface StatusJson {
  daemon: { running: boolean; health: string }
  status?: {
    syncs: {
      name: string
      state: string
      missed: number
      errors: number
      lastError?: string
      twoWay?: TwoWayJson
    }[]
  }
}

async function statusOf(p: TestProject): Promise<{ result: RunResult; json: StatusJson }> {
  const result = await p.dsync(['status', '--json'])
  return { result, json: JSON.parse(result.stdout) as StatusJson }
}

async function twoWayOf(p: TestProject): Promise<TwoWayJson> {
  const { json } = await statusOf(p)
  const twoWay = json.status?.syncs.find((s) => s.name === SYNC)?.twoWay
  if (!twoWay) throw new Error(`no two-way status in ${JSON.stringify(json)}`)
  return twoWay
}

/** The running container of a service of the project. */
async function containerOf(p: TestProject, service: string): Promise<string> {
  const ps = await run('docker', [
    'ps',
    '-q',
    '--filter',
    `label=com.docker.compose.project=${p.name}`,
    '--filter',
    `label=com.docker.compose.service=${service}`,
  ])
  const id = ps.stdout.split('\n').find(Boolean)
  if (!id) throw new Error(`no running container for service ${service} of project ${p.name}`)
  return id
}

/** A shell script in the project's app container, as the app's user; `args` are $1, $2... */
async function inApp(p: TestProject, script: string, args: string[] = []): Promise<string> {
  const container = await containerOf(p, 'app')
  const result = await run('docker', ['exec', container, 'sh', '-c', script, 'sh', ...args], {
    reject: false,
  })
  if (result.exitCode !== 0) {
    throw new Error(`in the app: ${script} failed (${result.exitCode}): ${result.stderr}`)
  }
  return result.stdout
}

/** A file's content in the app container (under /app), or null when there is none. */
async function readInApp(p: TestProject, rel: string): Promise<string | null> {
  // The closing `|` keeps the file's last newline (the output is trimmed).
  const out = await inApp(p, 'if [ -f "$1" ]; then echo F; cat "$1"; printf "|"; else echo -; fi', [
    `/app/${rel}`,
  ])
  return out.startsWith('F\n') ? out.slice(2, -1) : null
}

async function existsInApp(p: TestProject, rel: string): Promise<boolean> {
  return (await inApp(p, '[ -e "$1" ] && echo yes || echo no', [`/app/${rel}`])).trim() === 'yes'
}

function src(p: TestProject): string {
  return path.join(p.dir, 'src')
}

function readHost(p: TestProject, rel: string): string | null {
  try {
    return readFileSync(path.join(src(p), rel), 'utf8')
  } catch {
    return null
  }
}

function put(root: string, rel: string, content: string): void {
  const file = path.join(root, rel)
  mkdirSync(path.dirname(file), { recursive: true })
  writeFileSync(file, content)
}

async function arrivesInApp(p: TestProject, rel: string, content: string | null): Promise<void> {
  await waitFor(
    `${rel} ${content === null ? 'to be gone' : `to read ${JSON.stringify(content)}`} in the app container`,
    async () =>
      (await readInApp(p, rel)) === content && (content !== null || !(await existsInApp(p, rel))),
    ARRIVES_MS,
  )
}

async function arrivesOnHost(p: TestProject, rel: string, content: string | null): Promise<void> {
  await waitFor(
    `${rel} ${content === null ? 'to be gone' : `to read ${JSON.stringify(content)}`} on the host`,
    () => readHost(p, rel) === content && (content !== null || !existsSync(path.join(src(p), rel))),
    ARRIVES_MS,
  )
}

/** A copy of the fixture whose host folder belongs to HOST_UID, brought up. */
async function upProject(env: Record<string, string> = {}): Promise<TestProject> {
  const p = testProject('e2e-native-osx', 'dsyncnosx')
  Object.assign(p.env, env)
  chownTree(src(p), HOST_UID)
  const up = await p.dsync(['compose', 'up', '-d'])
  expect(up.exitCode, `dsync compose up -d failed:\n${up.stderr}`).toBe(0)
  return p
}

function chownTree(dir: string, uid: number): void {
  chownSync(dir, uid, uid)
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name)
    if (statSync(file).isDirectory()) chownTree(file, uid)
    else chownSync(file, uid, uid)
  }
}

async function flushOk(p: TestProject): Promise<void> {
  const result = await p.dsync(['flush'])
  expect(result.exitCode, result.stderr).toBe(0)
}

/**
 * Changes made on both sides while the sidecar is frozen reach its watcher together when it
 * thaws: both sides changed since the last sync, a conflict.
 */
async function withSidecarPaused(p: TestProject, change: () => Promise<void>): Promise<void> {
  const sidecar = await containerOf(p, 'dsync-sync')
  await run('docker', ['pause', sidecar])
  try {
    await change()
  } finally {
    await run('docker', ['unpause', sidecar])
  }
}

async function disposeAll(projects: (TestProject | undefined)[]): Promise<void> {
  for (const p of projects) {
    if (!p) continue
    await p.dispose()
    expect(await leftovers(p.name)).toEqual([])
  }
}

describe('native_osx: two-way sync inside the sidecar', () => {
  let main: TestProject

  beforeAll(async () => {
    main = await upProject()
  })
  afterAll(async () => {
    await disposeAll([main])
  })

  test('Given up, When the app starts, Then it reads the host files, owned by the sync owner', async () => {
    expect(await readInApp(main, 'hello.txt')).toBe('hello from the host\n')
    expect(await readInApp(main, 'sub/nested.txt')).toBe('nested\n')
    expect((await inApp(main, 'stat -c %u:%g /app/hello.txt /app/sub')).split('\n')).toEqual([
      '1000:1000',
      '1000:1000',
    ])
    const { result, json } = await statusOf(main)
    expect(result.exitCode, result.stderr).toBe(0)
    expect(json.status?.syncs[0]).toMatchObject({ name: SYNC, state: 'watching' })
    expect(json.status?.syncs[0]?.twoWay).toMatchObject({ state: 'watching', worker: 'alive' })
  })

  test('Given a running sync, When files and folders are created, edited, renamed and deleted on the host, Then the app sees each change', async () => {
    const root = src(main)
    put(root, 'h/new.txt', 'new on the host\n')
    await arrivesInApp(main, 'h/new.txt', 'new on the host\n')

    writeFileSync(path.join(root, 'h/new.txt'), 'edited on the host\n')
    await arrivesInApp(main, 'h/new.txt', 'edited on the host\n')

    renameSync(path.join(root, 'h/new.txt'), path.join(root, 'h/renamed.txt'))
    await arrivesInApp(main, 'h/renamed.txt', 'edited on the host\n')
    await arrivesInApp(main, 'h/new.txt', null)

    put(root, 'h/dir/a.txt', 'a\n')
    put(root, 'h/dir/deep/b.txt', 'b\n')
    await arrivesInApp(main, 'h/dir/deep/b.txt', 'b\n')
    renameSync(path.join(root, 'h/dir'), path.join(root, 'h/moved'))
    await arrivesInApp(main, 'h/moved/deep/b.txt', 'b\n')
    await arrivesInApp(main, 'h/dir/a.txt', null)
    // A file changed inside the renamed folder right after the rename still arrives.
    writeFileSync(path.join(root, 'h/moved/a.txt'), 'a, after the move\n')
    await arrivesInApp(main, 'h/moved/a.txt', 'a, after the move\n')

    rmSync(path.join(root, 'h/moved'), { recursive: true })
    await arrivesInApp(main, 'h/moved/a.txt', null)
    expect(await existsInApp(main, 'h/moved')).toBe(false)
    rmSync(path.join(root, 'h/renamed.txt'))
    await arrivesInApp(main, 'h/renamed.txt', null)
  })

  test('Given a synced file, When it is rewritten with the same size and the same time within a second, Then the app sees the new content', async () => {
    const file = path.join(src(main), 'same-size.txt')
    writeFileSync(file, 'AAAA\n')
    await arrivesInApp(main, 'same-size.txt', 'AAAA\n')
    const { mtime, atime } = statSync(file)
    writeFileSync(file, 'BBBB\n')
    utimesSync(file, atime, mtime)
    await arrivesInApp(main, 'same-size.txt', 'BBBB\n')
  })

  test('Given a running sync, When files and folders are created, edited, renamed and deleted in the container, Then the host sees each change, owned by the host folder owner', async () => {
    await inApp(main, 'mkdir -p /app/c && echo "made in the app" > /app/c/made.txt')
    await arrivesOnHost(main, 'c/made.txt', 'made in the app\n')
    expect(statSync(path.join(src(main), 'c/made.txt')).uid).toBe(HOST_UID)
    expect(statSync(path.join(src(main), 'c')).uid).toBe(HOST_UID)

    await inApp(main, 'echo "edited in the app" > /app/c/made.txt')
    await arrivesOnHost(main, 'c/made.txt', 'edited in the app\n')

    await inApp(main, 'mv /app/c/made.txt /app/c/renamed.txt')
    await arrivesOnHost(main, 'c/renamed.txt', 'edited in the app\n')
    await arrivesOnHost(main, 'c/made.txt', null)

    await inApp(
      main,
      'mkdir -p /app/c/tree/deep && echo t > /app/c/tree/t.txt && echo d > /app/c/tree/deep/d.txt && mv /app/c/tree /app/c/tree2 && echo "after the move" > /app/c/tree2/t.txt',
    )
    await arrivesOnHost(main, 'c/tree2/deep/d.txt', 'd\n')
    await arrivesOnHost(main, 'c/tree2/t.txt', 'after the move\n')
    await arrivesOnHost(main, 'c/tree/t.txt', null)
    // The worker gives what a run brought to the host its owner once that run has ended: the
    // content can be there a moment before.
    await waitFor('c/tree2/deep/d.txt owned by the host folder owner', () => {
      return statSync(path.join(src(main), 'c/tree2/deep/d.txt')).uid === HOST_UID
    })

    await inApp(main, 'rm -r /app/c/tree2 /app/c/renamed.txt')
    await arrivesOnHost(main, 'c/tree2/deep/d.txt', null)
    await arrivesOnHost(main, 'c/renamed.txt', null)
    expect(existsSync(path.join(src(main), 'c/tree2'))).toBe(false)
  })

  test('Given excludes, When excluded files are made on either side, Then they stay on their side', async () => {
    put(src(main), 'host-only.log', 'log on the host\n')
    await inApp(main, 'mkdir -p /app/node_modules/pkg && echo m > /app/node_modules/pkg/index.js')
    await inApp(main, 'echo "log in the app" > /app/app-only.log && echo marker > /app/marker.txt')
    await arrivesOnHost(main, 'marker.txt', 'marker\n')
    await flushOk(main)
    expect(await readInApp(main, 'host-only.log')).toBeNull()
    expect(existsSync(path.join(src(main), 'node_modules'))).toBe(false)
    expect(existsSync(path.join(src(main), 'app-only.log'))).toBe(false)
    // dsync's own folder in the volume never reaches the host.
    expect(existsSync(path.join(src(main), '.dsync'))).toBe(false)
  })

  test('Given prefer: host, When a file changes on both sides at once, Then the host version wins everywhere and the container version is kept beside it in the volume', async () => {
    put(src(main), 'both.txt', 'before\n')
    await arrivesInApp(main, 'both.txt', 'before\n')
    await withSidecarPaused(main, async () => {
      writeFileSync(path.join(src(main), 'both.txt'), 'the host version\n')
      await inApp(main, 'echo "the container version" > /app/both.txt')
    })
    await flushOk(main)

    expect(readHost(main, 'both.txt')).toBe('the host version\n')
    expect(await readInApp(main, 'both.txt')).toBe('the host version\n')
    const copies = (await inApp(main, 'ls /app'))
      .split('\n')
      .filter((n) => n.startsWith('both.txt.dsync-conflict-container-'))
    expect(copies).toHaveLength(1)
    expect(await readInApp(main, copies[0] ?? '')).toBe('the container version\n')
    // The copy stays where it was made: it is not synced.
    expect(readdirSync(src(main)).filter((n) => n.includes('dsync-conflict'))).toEqual([])
    const twoWay = await twoWayOf(main)
    expect(twoWay.conflicts).toContainEqual(
      expect.objectContaining({
        path: 'both.txt',
        kept: 'host',
        copy: copies[0],
        copySide: 'container',
      }),
    )
    const text = await main.dsync(['status'])
    expect(text.stdout).toContain(
      `both.txt: the host's version won; the container's version is kept in the volume as ${copies[0]}`,
    )
  })

  test('Given 5,000 new files made in the container at once, When the burst is over, Then every one of them is on the host', async () => {
    await inApp(
      main,
      'mkdir -p /app/burst && cd /app/burst && for d in $(seq 1 50); do mkdir p$d; for f in $(seq 1 100); do echo "$d/$f" > p$d/f$f.js; done; done',
    )
    // At once, while the sidecar may still be syncing the burst: the flush waits for it, and
    // its verifying pass must not count those changes as missed.
    await flushOk(main)
    const count = () => {
      let n = 0
      for (const d of readdirSync(path.join(src(main), 'burst'))) {
        n += readdirSync(path.join(src(main), 'burst', d)).length
      }
      return n
    }
    expect(count()).toBe(5000)
    expect(readHost(main, 'burst/p50/f100.js')).toBe('50/100\n')
    expect(readHost(main, 'burst/p1/f1.js')).toBe('1/1\n')
    const { json } = await statusOf(main)
    expect(json.status?.syncs[0]).toMatchObject({ missed: 0, errors: 0 })
  })

  test('Given the sync processes in the sidecar are killed, When a file changes, Then it arrives within 10 s and status counts the restart', async () => {
    const before = (await twoWayOf(main)).restarts
    const sidecar = await containerOf(main, 'dsync-sync')
    const kill = await run('docker', [
      'exec',
      sidecar,
      'sh',
      '-c',
      'kill -9 $(pidof -x dsync-unison) $(pidof inotifywait) $(pidof unison) 2>/dev/null; true',
    ])
    expect(kill.exitCode).toBe(0)
    const started = Date.now()
    put(src(main), 'after-kill.txt', 'written after the kill\n')
    await arrivesInApp(main, 'after-kill.txt', 'written after the kill\n')
    expect(Date.now() - started).toBeLessThan(10_000)
    await inApp(main, 'echo back > /app/after-kill-back.txt')
    await arrivesOnHost(main, 'after-kill-back.txt', 'back\n')
    const twoWay = await twoWayOf(main)
    expect(twoWay.restarts).toBeGreaterThan(before)
    expect(twoWay.lastRestart?.cause).toMatch(/killed by signal 9/)
    expect(twoWay.worker).toBe('alive')
  })
})

describe.each([
  ['container', 'the container'],
  ['newer', 'the later'],
])('native_osx with prefer: %s', (prefer, who) => {
  let p: TestProject

  beforeAll(async () => {
    p = await upProject({ DSYNC_E2E_PREFER: prefer })
  })
  afterAll(async () => {
    await disposeAll([p])
  })

  test(`Given a file changed on both sides at once, When synced, Then ${who} version wins and the host version is kept beside it on the host`, async () => {
    put(src(p), 'both.txt', 'before\n')
    await arrivesInApp(p, 'both.txt', 'before\n')
    await withSidecarPaused(p, async () => {
      writeFileSync(path.join(src(p), 'both.txt'), 'the host version\n')
      // For `newer`, the container's change is the later one.
      if (prefer === 'newer') await sleep(1500)
      await inApp(p, 'echo "the container version" > /app/both.txt')
    })
    await flushOk(p)

    expect(readHost(p, 'both.txt')).toBe('the container version\n')
    expect(await readInApp(p, 'both.txt')).toBe('the container version\n')
    const copies = readdirSync(src(p)).filter((n) => n.startsWith('both.txt.dsync-conflict-host-'))
    expect(copies).toHaveLength(1)
    expect(readHost(p, copies[0] ?? '')).toBe('the host version\n')
    expect(await existsInApp(p, copies[0] ?? '')).toBe(false)
    expect((await twoWayOf(p)).conflicts).toContainEqual(
      expect.objectContaining({ path: 'both.txt', kept: 'container', copySide: 'host' }),
    )
  })

  test('Given a file deleted on one side and changed on the other, When synced, Then the change is kept, not the deletion', async () => {
    put(src(p), 'del.txt', 'before\n')
    await arrivesInApp(p, 'del.txt', 'before\n')
    await withSidecarPaused(p, async () => {
      rmSync(path.join(src(p), 'del.txt'))
      await sleep(prefer === 'newer' ? 1100 : 0)
      await inApp(p, 'echo "changed in the app" > /app/del.txt')
    })
    await flushOk(p)
    expect(readHost(p, 'del.txt')).toBe('changed in the app\n')
    expect(await readInApp(p, 'del.txt')).toBe('changed in the app\n')
  })
})

describe('native_osx across down and up', () => {
  let p: TestProject

  beforeAll(async () => {
    p = await upProject()
  })
  afterAll(async () => {
    await disposeAll([p])
  })

  test('Given changes on both sides while the project was down, When it is up again, Then both are reconciled and nothing deleted comes back', async () => {
    const root = src(p)
    for (const rel of [
      'keep.txt',
      'gone-on-host.txt',
      'gone-in-volume.txt',
      'dir-host/x.txt',
      'dir-vol/y.txt',
    ]) {
      put(root, rel, `${rel}\n`)
    }
    await arrivesInApp(p, 'dir-vol/y.txt', 'dir-vol/y.txt\n')
    await flushOk(p)
    const down = await p.dsync(['compose', 'down'])
    expect(down.exitCode, down.stderr).toBe(0)

    rmSync(path.join(root, 'gone-on-host.txt'))
    rmSync(path.join(root, 'dir-host'), { recursive: true })
    writeFileSync(path.join(root, 'keep.txt'), 'edited on the host while down\n')
    put(root, 'new-on-host.txt', 'new on the host\n')
    const offline = await run('docker', [
      'run',
      '--rm',
      '-v',
      `${p.name}_${SYNC}:/v`,
      'debian:bookworm-slim',
      'sh',
      '-c',
      'rm -r /v/gone-in-volume.txt /v/dir-vol && echo "new in the volume" > /v/new-in-volume.txt',
    ])
    expect(offline.exitCode, offline.stderr).toBe(0)

    const up = await p.dsync(['compose', 'up', '-d'])
    expect(up.exitCode, up.stderr).toBe(0)

    for (const rel of [
      'gone-on-host.txt',
      'gone-in-volume.txt',
      'dir-host/x.txt',
      'dir-vol/y.txt',
    ]) {
      expect(readHost(p, rel), `${rel} on the host`).toBeNull()
      expect(await readInApp(p, rel), `${rel} in the app`).toBeNull()
    }
    expect(existsSync(path.join(root, 'dir-vol'))).toBe(false)
    expect(await existsInApp(p, 'dir-host')).toBe(false)
    expect(await readInApp(p, 'keep.txt')).toBe('edited on the host while down\n')
    expect(await readInApp(p, 'new-on-host.txt')).toBe('new on the host\n')
    expect(readHost(p, 'new-in-volume.txt')).toBe('new in the volume\n')
    expect(statSync(path.join(root, 'new-in-volume.txt')).uid).toBe(HOST_UID)
  })
})

describe('native_osx: a mass deletion is not propagated', () => {
  let p: TestProject

  beforeAll(async () => {
    p = await upProject()
  })
  afterAll(async () => {
    await disposeAll([p])
  })

  test('Given the host folder is emptied, When the sync sees it, Then it halts with one line saying what to do and the app keeps its files', async () => {
    await inApp(p, 'echo "made in the app" > /app/from-app.txt')
    await arrivesOnHost(p, 'from-app.txt', 'made in the app\n')
    // A tree whose removal takes a while: none of it may reach the volume.
    for (let d = 0; d < 30; d++) {
      for (let f = 0; f < 20; f++) put(src(p), `tree/d${d}/f${f}.txt`, `${d}/${f}\n`)
    }
    await arrivesInApp(p, 'tree/d29/f19.txt', '29/19\n')
    await flushOk(p)
    // Emptied a folder at a time over more than a second, as a large tree is.
    for (let d = 0; d < 30; d++) {
      rmSync(path.join(src(p), `tree/d${d}`), { recursive: true })
      await sleep(50)
    }
    for (const name of readdirSync(src(p))) rmSync(path.join(src(p), name), { recursive: true })

    await waitFor(
      'the sync to halt',
      async () => (await twoWayOf(p)).state === 'halted',
      ARRIVES_MS,
    )
    const { result } = await statusOf(p)
    expect(result.exitCode).toBe(75)
    expect(result.stderr).toMatch(
      /halted: the host folder .* is empty or unmounted but the volume is not; nothing was deleted in the volume/,
    )
    expect(result.stderr).toContain(`dsync sync ${SYNC} --accept-deletions`)
    expect(await readInApp(p, 'hello.txt')).toBe('hello from the host\n')
    expect(await readInApp(p, 'sub/nested.txt')).toBe('nested\n')
    expect((await inApp(p, 'find /app/tree -type f | wc -l')).trim()).toBe('600')
    const flush = await p.dsync(['flush'])
    expect(flush.exitCode).toBe(75)
    expect(flush.stderr).toContain('halted')
    const logs = await p.dsync(['compose', 'logs', 'dsync-sync'])
    expect(logs.stdout).toMatch(/halted: the host folder/)
  })

  test('Given the halted sync, When a file is put back in the host folder, Then it resumes by merging: the volume files come back, nothing is deleted', async () => {
    put(src(p), 'back.txt', 'back on the host\n')
    await arrivesInApp(p, 'back.txt', 'back on the host\n')
    await arrivesOnHost(p, 'hello.txt', 'hello from the host\n')
    await arrivesOnHost(p, 'from-app.txt', 'made in the app\n')
    await waitFor(
      'the sync to resume',
      async () => (await twoWayOf(p)).state === 'watching',
      ARRIVES_MS,
    )
  })

  test('Given the host folder is emptied again, When the deletion is accepted, Then the volume is emptied too and the sync goes on', async () => {
    for (const name of readdirSync(src(p))) rmSync(path.join(src(p), name), { recursive: true })
    await waitFor(
      'the sync to halt',
      async () => (await twoWayOf(p)).state === 'halted',
      ARRIVES_MS,
    )
    expect(await readInApp(p, 'hello.txt')).toBe('hello from the host\n')

    const accept = await p.dsync(['sync', SYNC, '--accept-deletions'])
    expect(accept.exitCode, accept.stderr).toBe(0)
    expect(accept.stderr).toContain('the deletion was accepted and propagated')
    expect((await inApp(p, 'ls /app')).trim()).toBe('')

    put(src(p), 'fresh.txt', 'a fresh start\n')
    await arrivesInApp(p, 'fresh.txt', 'a fresh start\n')
    const { result } = await statusOf(p)
    expect(result.exitCode, result.stderr).toBe(0)
  })

  test('Given the volume is emptied from the app, When the sync sees it, Then it halts and the host keeps its files', async () => {
    for (let f = 0; f < 30; f++) put(src(p), `keep/f${f}.txt`, `${f}\n`)
    await arrivesInApp(p, 'keep/f29.txt', '29\n')
    await flushOk(p)
    await inApp(p, 'rm -rf /app/*')

    await waitFor(
      'the sync to halt',
      async () => (await twoWayOf(p)).state === 'halted',
      ARRIVES_MS,
    )
    expect((await twoWayOf(p)).halt).toMatch(/^the volume is empty but the host folder is not/)
    expect(readdirSync(path.join(src(p), 'keep'))).toHaveLength(30)
    expect(readHost(p, 'fresh.txt')).toBe('a fresh start\n')
  })
})

describe.each([['host'], ['two-way']])('native_osx with initial: %s', (initial) => {
  let p: TestProject | undefined

  afterAll(async () => {
    await disposeAll([p])
  })

  test('Given a volume that already holds files, When the project is first up, Then initial decides what becomes of the files only the volume has', async () => {
    p = testProject('e2e-native-osx', 'dsyncnosx')
    p.env.DSYNC_E2E_INITIAL = initial
    chownTree(src(p), HOST_UID)
    const volume = `${p.name}_${SYNC}`
    await run('docker', [
      'volume',
      'create',
      '--label',
      `com.docker.compose.project=${p.name}`,
      '--label',
      `com.docker.compose.volume=${SYNC}`,
      volume,
    ])
    const seed = await run('docker', [
      'run',
      '--rm',
      '-v',
      `${volume}:/v`,
      'debian:bookworm-slim',
      'sh',
      '-c',
      'echo "from an old volume" > /v/hello.txt && echo "only in the volume" > /v/only.txt',
    ])
    expect(seed.exitCode, seed.stderr).toBe(0)

    const up = await p.dsync(['compose', 'up', '-d'])
    expect(up.exitCode, up.stderr).toBe(0)

    // The host's version of a file on both sides wins either way (prefer: host).
    expect(await readInApp(p, 'hello.txt')).toBe('hello from the host\n')
    expect(readHost(p, 'hello.txt')).toBe('hello from the host\n')
    if (initial === 'two-way') {
      expect(readHost(p, 'only.txt')).toBe('only in the volume\n')
      expect(await readInApp(p, 'only.txt')).toBe('only in the volume\n')
      const copies = (await inApp(p, 'ls /app'))
        .split('\n')
        .filter((n) => n.includes('dsync-conflict'))
      expect(copies).toHaveLength(1)
      expect(await readInApp(p, copies[0] ?? '')).toBe('from an old volume\n')
    } else {
      expect(readHost(p, 'only.txt')).toBeNull()
      expect(await readInApp(p, 'only.txt')).toBeNull()
      // What the host's copy replaced is kept in the volume, out of the sync.
      const sidecar = await containerOf(p, 'dsync-sync')
      const kept = await run('docker', [
        'exec',
        sidecar,
        'sh',
        '-c',
        'cat /sync/code/.dsync/replaced-*/only.txt /sync/code/.dsync/replaced-*/hello.txt',
      ])
      expect(kept.stdout).toBe('only in the volume\nfrom an old volume')
    }
  })
})
