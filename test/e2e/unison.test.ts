/**
 * The unison strategy end to end (issue 11): dsync's daemon runs unison on the host against a
 * server in the sidecar (over docker exec), and streams the volume's changes back from a
 * watcher in the sidecar. Everything is observed as a user would: a file's content inside the
 * app container (as the app's user 1000) and on the host, what `dsync status` prints, what
 * `dsync flush` and `dsync sync` answer.
 *
 * Projects: `main` (prefer: host) for the file operations both ways, ownership, excludes, a
 * conflict and the 2,500-file burst; one project per other `prefer`; one taken down and brought
 * up again with changes made on both sides meanwhile; one whose host folder is emptied.
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { run, type RunResult } from '../../src/lib/exec.js'
import { leftovers, testProject, waitFor, type TestProject } from './helpers.js'

const SYNC = 'code'
/** How long a change may take to reach the other side in these tests. */
const ARRIVES_MS = 20_000

interface TwoWayJson {
  state: string
  halt?: string
  restarts: number
  conflictCount: number
  conflicts: { path: string; kept: string; copy?: string; copySide?: string }[]
}

interface StatusJson {
  daemon: { running: boolean; health: string }
  status?: {
    syncs: {
      name: string
      state: string
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

async function listInApp(p: TestProject, dir = ''): Promise<string[]> {
  return (await inApp(p, 'ls -A "$1"', [`/app/${dir}`])).split('\n').filter(Boolean)
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

async function upProject(env: Record<string, string> = {}): Promise<TestProject> {
  const p = testProject('e2e-unison', 'dsyncuni')
  Object.assign(p.env, env)
  const up = await p.dsync(['compose', 'up', '-d'])
  expect(up.exitCode, `dsync compose up -d failed:\n${up.stderr}`).toBe(0)
  return p
}

async function flushOk(p: TestProject): Promise<void> {
  const result = await p.dsync(['flush'])
  expect(result.exitCode, result.stderr).toBe(0)
}

/**
 * Changes made on both sides while the sync is paused meet at `resume`: both sides changed
 * since the last sync, a conflict.
 */
async function withSyncPaused(p: TestProject, change: () => Promise<void>): Promise<void> {
  const paused = await p.dsync(['pause'])
  expect(paused.exitCode, paused.stderr).toBe(0)
  try {
    await change()
  } finally {
    const resumed = await p.dsync(['resume'])
    expect(resumed.exitCode, resumed.stderr).toBe(0)
  }
}

function conflictCopies(names: string[], stem: string): string[] {
  return names.filter((n) => n.startsWith(`${stem} (conflict`))
}

async function disposeAll(projects: (TestProject | undefined)[]): Promise<void> {
  for (const p of projects) {
    if (!p) continue
    await p.dispose()
    expect(await leftovers(p.name)).toEqual([])
  }
}

describe('unison: two-way sync run by the daemon', () => {
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
    expect((await inApp(main, 'stat -c %u:%g /app /app/hello.txt /app/sub')).split('\n')).toEqual([
      '1000:1000',
      '1000:1000',
      '1000:1000',
    ])
    const { result, json } = await statusOf(main)
    expect(result.exitCode, result.stderr).toBe(0)
    expect(json.status?.syncs[0]).toMatchObject({ name: SYNC, state: 'watching' })
    expect(json.status?.syncs[0]?.twoWay).toMatchObject({ state: 'watching' })
    const text = await main.dsync(['status'])
    expect(text.stdout).toContain('two-way by unison on the host: watching')
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
    writeFileSync(path.join(root, 'h/moved/a.txt'), 'a, after the move\n')
    await arrivesInApp(main, 'h/moved/a.txt', 'a, after the move\n')

    rmSync(path.join(root, 'h/moved'), { recursive: true })
    await arrivesInApp(main, 'h/moved/a.txt', null)
    // The folder's entries may be deleted a batch before the folder itself.
    await waitFor(
      'h/moved to be gone in the app container',
      async () => !(await existsInApp(main, 'h/moved')),
      ARRIVES_MS,
    )
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

  test("Given a running sync, When files and folders are created, edited, renamed and deleted in the container, Then the host sees each change, owned by the host's user", async () => {
    await inApp(main, 'mkdir -p /app/c && echo "made in the app" > /app/c/made.txt')
    await arrivesOnHost(main, 'c/made.txt', 'made in the app\n')
    expect(statSync(path.join(src(main), 'c/made.txt')).uid).toBe(process.getuid?.())

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
    // dsync's own folder in the volume (unison's archive) never reaches the host.
    expect(existsSync(path.join(src(main), '.dsync'))).toBe(false)
    expect(await listInApp(main, '.dsync/unison')).not.toEqual([])
  })

  test('Given prefer: host, When a file changes on both sides at once, Then the host version wins everywhere and the container version is kept beside it in the volume', async () => {
    put(src(main), 'both.txt', 'before\n')
    await arrivesInApp(main, 'both.txt', 'before\n')
    await withSyncPaused(main, async () => {
      writeFileSync(path.join(src(main), 'both.txt'), 'the host version\n')
      await inApp(main, 'echo "the container version" > /app/both.txt')
    })
    await flushOk(main)

    expect(readHost(main, 'both.txt')).toBe('the host version\n')
    expect(await readInApp(main, 'both.txt')).toBe('the host version\n')
    const copies = conflictCopies(await listInApp(main), 'both')
    expect(copies).toHaveLength(1)
    expect(await readInApp(main, copies[0] ?? '')).toBe('the container version\n')
    // The copy stays where it was made: it is not synced.
    await flushOk(main)
    expect(conflictCopies(readdirSync(src(main)), 'both')).toEqual([])
    const twoWay = await twoWayOf(main)
    expect(twoWay.conflicts).toContainEqual(
      expect.objectContaining({ path: 'both.txt', kept: 'host', copy: copies[0] }),
    )
    const text = await main.dsync(['status'])
    expect(text.stdout).toContain(
      `both.txt: the host's version won; the container's version is kept in the volume as ${copies[0]}`,
    )
  })

  test('Given 2,500 new files made in the container at once, When the burst is over, Then every one of them is on the host', async () => {
    await inApp(
      main,
      'mkdir -p /app/burst && cd /app/burst && for d in $(seq 1 25); do mkdir d$d; for f in $(seq 1 100); do echo "$d-$f" > d$d/f$f.txt; done; done',
    )
    const count = () => {
      const dir = path.join(src(main), 'burst')
      if (!existsSync(dir)) return 0
      // unison builds a new folder under a temporary name and renames it into place.
      return readdirSync(dir)
        .filter((d) => /^d\d+$/.test(d))
        .reduce(
          (n, d) => n + readdirSync(path.join(dir, d)).filter((f) => /^f\d+\.txt$/.test(f)).length,
          0,
        )
    }
    await waitFor('2,500 files on the host', () => count() === 2500, 180_000)
    expect(readHost(main, 'burst/d25/f100.txt')).toBe('25-100\n')
    await flushOk(main)
    const { json } = await statusOf(main)
    expect(json.status?.syncs[0]?.state).toBe('watching')
  })
})

describe.each([
  { prefer: 'container', who: "the container's" },
  { prefer: 'newer', who: 'the later' },
])('unison with prefer: $prefer', ({ prefer, who }) => {
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
    await withSyncPaused(p, async () => {
      writeFileSync(path.join(src(p), 'both.txt'), 'the host version\n')
      // The container's change is the later one, by more than unison's one-second resolution.
      await sleep(2100)
      await inApp(p, 'echo "the container version" > /app/both.txt')
    })
    await flushOk(p)

    expect(readHost(p, 'both.txt')).toBe('the container version\n')
    expect(await readInApp(p, 'both.txt')).toBe('the container version\n')
    const copies = conflictCopies(readdirSync(src(p)), 'both')
    expect(copies).toHaveLength(1)
    expect(readHost(p, copies[0] ?? '')).toBe('the host version\n')
    await flushOk(p)
    expect(conflictCopies(await listInApp(p), 'both')).toEqual([])
    expect((await twoWayOf(p)).conflicts).toContainEqual(
      expect.objectContaining({ path: 'both.txt', kept: 'container', copySide: 'host' }),
    )
  })
})

describe('unison across down and up', () => {
  let p: TestProject

  beforeAll(async () => {
    p = await upProject()
  })
  afterAll(async () => {
    await disposeAll([p])
  })

  test('Given changes on both sides while the project was down, When it is up again, Then both are reconciled and nothing deleted comes back', async () => {
    for (const name of ['edit-host', 'del-host', 'edit-app', 'del-app']) {
      put(src(p), `${name}.txt`, `${name} before\n`)
    }
    put(src(p), 'gone-dir/inside.txt', 'inside\n')
    await flushOk(p)
    expect(await readInApp(p, 'del-app.txt')).toBe('del-app before\n')

    const down = await p.dsync(['compose', 'down'])
    expect(down.exitCode, down.stderr).toBe(0)
    writeFileSync(path.join(src(p), 'edit-host.txt'), 'edited on the host while down\n')
    rmSync(path.join(src(p), 'del-host.txt'))
    rmSync(path.join(src(p), 'gone-dir'), { recursive: true })
    put(src(p), 'new-host.txt', 'new on the host while down\n')
    const volume = `${p.name}_${SYNC}`
    await run('docker', [
      'run',
      '--rm',
      '-u',
      '1000:1000',
      '-v',
      `${volume}:/v`,
      'debian:bookworm-slim',
      'sh',
      '-c',
      'echo "edited in the volume while down" > /v/edit-app.txt && rm /v/del-app.txt && echo "new in the volume while down" > /v/new-app.txt',
    ])

    const up = await p.dsync(['compose', 'up', '-d'])
    expect(up.exitCode, up.stderr).toBe(0)
    await flushOk(p)

    expect(await readInApp(p, 'edit-host.txt')).toBe('edited on the host while down\n')
    expect(await readInApp(p, 'new-host.txt')).toBe('new on the host while down\n')
    expect(readHost(p, 'edit-app.txt')).toBe('edited in the volume while down\n')
    expect(readHost(p, 'new-app.txt')).toBe('new in the volume while down\n')
    // Deleted on one side: gone from both, not brought back.
    expect(await existsInApp(p, 'del-host.txt')).toBe(false)
    expect(await existsInApp(p, 'gone-dir')).toBe(false)
    expect(existsSync(path.join(src(p), 'del-app.txt'))).toBe(false)
    expect(readHost(p, 'del-host.txt')).toBeNull()
  })
})

describe('unison: a mass deletion is not propagated', () => {
  let p: TestProject

  beforeAll(async () => {
    p = await upProject()
    for (let i = 0; i < 40; i++) put(src(p), `many/f${i}.txt`, `${i}\n`)
    for (let i = 0; i < 10; i++) put(src(p), `top${i}.txt`, `${i}\n`)
    const flushed = await p.dsync(['flush'])
    expect(flushed.exitCode, flushed.stderr).toBe(0)
  })
  afterAll(async () => {
    await disposeAll([p])
  })

  test('Given the host folder is emptied, When the sync sees it, Then it halts with one line saying what to do and the app keeps its files', async () => {
    for (const name of readdirSync(src(p))) rmSync(path.join(src(p), name), { recursive: true })
    await waitFor(
      'the sync to halt',
      async () => (await statusOf(p)).json.status?.syncs[0]?.state === 'halted',
      ARRIVES_MS,
    )
    expect(await readInApp(p, 'hello.txt')).toBe('hello from the host\n')
    expect(await listInApp(p, 'many')).toHaveLength(40)

    const flush = await p.dsync(['flush'])
    expect(flush.exitCode).toBe(75)
    const said = flush.stderr.split('\n').filter(Boolean)
    expect(said).toHaveLength(1)
    expect(said[0]).toContain('is empty but the volume is not; nothing was deleted in the volume')
    expect(said[0]).toContain(`dsync sync ${SYNC} --accept-deletions`)
    const status = await p.dsync(['status'])
    expect(status.exitCode).toBe(75)
    expect(status.stdout).toMatch(new RegExp(`${SYNC}\\s+unison\\s+halted`))
  })

  test('Given the halted sync, When the deletion is accepted, Then the volume is emptied too and the sync goes on', async () => {
    const accept = await p.dsync(['sync', SYNC, '--accept-deletions'])
    expect(accept.exitCode, accept.stderr).toBe(0)
    expect(accept.stderr).toContain('the deletion was accepted and propagated')
    expect((await listInApp(p)).filter((n) => n !== '.dsync')).toEqual([])

    put(src(p), 'after.txt', 'after the deletion\n')
    await arrivesInApp(p, 'after.txt', 'after the deletion\n')
    const { result, json } = await statusOf(p)
    expect(result.exitCode, result.stderr).toBe(0)
    expect(json.status?.syncs[0]?.state).toBe('watching')
  })

  test('Given the volume is emptied from the app, When the sync sees it, Then it halts and the host keeps its files', async () => {
    for (let i = 0; i < 10; i++) put(src(p), `back${i}.txt`, `${i}\n`)
    await flushOk(p)
    await inApp(p, 'find /app -mindepth 1 -maxdepth 1 ! -name .dsync -exec rm -rf {} +')
    await waitFor(
      'the sync to halt',
      async () => (await statusOf(p)).json.status?.syncs[0]?.state === 'halted',
      ARRIVES_MS,
    )
    expect(readdirSync(src(p)).sort()).toEqual(
      ['after.txt', ...Array.from({ length: 10 }, (_, i) => `back${i}.txt`)].sort(),
    )
    const { json } = await statusOf(p)
    expect(json.status?.syncs[0]?.lastError).toContain(
      'the volume is empty but the host folder is not',
    )
  })
})

describe('unison: runs that hang or are killed', () => {
  let p: TestProject

  beforeAll(async () => {
    p = await upProject({ DSYNC_UNISON_STALL_MS: '3000' })
  })
  afterAll(async () => {
    await disposeAll([p])
  })

  /** The unison processes syncing this project's folder (found by their first root). */
  function unisonPids(): number[] {
    const pids: number[] = []
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue
      try {
        const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')
        if (path.basename(argv[0] ?? '') === 'unison' && argv[1] === src(p)) pids.push(+entry)
      } catch {
        // Ended meanwhile.
      }
    }
    return pids
  }

  /** Writes a large file on the host and signals the unison run that copies it. */
  async function signalRunOf(file: string, signal: NodeJS.Signals): Promise<void> {
    writeFileSync(path.join(src(p), file), Buffer.alloc(150 * 1024 * 1024, 7))
    let pids: number[] = []
    await waitFor('a unison run', () => (pids = unisonPids()).length > 0, ARRIVES_MS)
    for (const pid of pids) process.kill(pid, signal)
  }

  async function arrivesWhole(file: string): Promise<void> {
    await waitFor(
      `${file} whole in the app container`,
      async () =>
        (await inApp(p, 'stat -c %s "$1" 2>/dev/null || echo 0', [`/app/${file}`])).trim() ===
        String(150 * 1024 * 1024),
      60_000,
    )
  }

  test('Given a unison run killed from outside, When it dies, Then it runs again, the file arrives and status counts the restart', async () => {
    await signalRunOf('killed.bin', 'SIGKILL')
    await arrivesWhole('killed.bin')
    const twoWay = await twoWayOf(p)
    expect(twoWay.restarts).toBeGreaterThanOrEqual(1)
    expect(JSON.stringify(twoWay)).toContain('was killed (SIGKILL)')
  })

  test('Given a unison run that hangs, When it shows no progress past the deadline, Then it is killed and run again and the file arrives', async () => {
    await signalRunOf('stopped.bin', 'SIGSTOP')
    await arrivesWhole('stopped.bin')
    const twoWay = await twoWayOf(p)
    expect(twoWay.restarts).toBeGreaterThanOrEqual(2)
    expect(JSON.stringify(twoWay)).toContain('showed no progress for 3 s')
  })
})

test('Given no unison on the host, When a unison project is brought up, Then one line says to install it, exit 69, nothing created', async () => {
  const p = testProject('e2e-unison', 'dsyncuni')
  try {
    const bin = path.join(p.dir, '..', 'bin')
    mkdirSync(bin)
    for (const program of ['docker', 'docker-compose']) {
      const where = await run('sh', ['-c', `command -v ${program}`], { reject: false })
      if (where.stdout.trim()) symlinkSync(where.stdout.trim(), path.join(bin, program))
    }
    symlinkSync(process.execPath, path.join(bin, 'node'))

    const up = await p.dsync(['compose', 'up', '-d'], { env: { PATH: bin } })

    expect(up.exitCode, up.stderr).toBe(69)
    expect(up.stderr.split('\n').filter(Boolean)).toEqual([
      'dsync: unison not found on this host; install it (apt-get install unison / brew install unison)',
    ])
    expect(await leftovers(p.name)).toEqual([])
  } finally {
    await p.dispose()
  }
})
