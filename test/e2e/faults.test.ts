/**
 * The fault suite of issue 8: the rsync sync must heal by itself. Each test injects a fault,
 * ends it, changes the host during or right after it, and then, WITHOUT any dsync command,
 * waits at most 10 s for the app container's tree to equal the host's, with the files the app
 * container wrote itself still there. Only then does it ask `dsync status` anything: a command
 * must not be what heals the sync.
 *
 * Three projects, brought up at once in beforeAll: one shared by the faults that leave the
 * project as it was (each test starts by checking it is healthy and brings it up again if an
 * earlier test left it broken, so one failure does not hide the next), one whose daemon cannot
 * read a file, and one whose sync volume is a small tmpfs. The app's tree is read with one
 * `docker exec` (find and md5sum, test/fuzz/tree.ts), as the fuzz does.
 */
import { cpSync, mkdirSync, rmSync, writeFileSync, appendFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { isAlive } from '../../src/daemon/process.js'
import { run, type RunResult } from '../../src/lib/exec.js'
import { containerTree, diffTrees, hostTree, isEmptyDiff, type TreeDiff } from '../fuzz/tree.js'
import { cliPath, testProject, waitFor, type TestProject } from './helpers.js'

// ---------------------------------------------------------------------------------------------
// Helpers of this file

/** The sync of the fixture (fixtures/e2e-faults: ./src at /app of the app service). */
const SYNC = 'code'
/** Every fault must be healed within this long after it ends. */
const HEAL_MS = 10_000
/** A flush against a hung sidecar must give up within this long. */
const FLUSH_DEADLINE_MS = 30_000
/** Names the app container writes in these tests; they are never on the host. */
const CONTAINER_MADE = /^(out\.txt|cache|kept-)/

interface SyncFigures {
  name: string
  state: string
  missed: number
  errors: number
  lastError: string | undefined
}

interface StatusJson {
  daemon: { running: boolean; pid?: number; health: string }
  status?: { container: string; health: string; syncs: SyncFigures[] }
}

/** `dsync status --json`, whatever its exit code (a sync in error may exit 75). */
async function statusOf(
  p: TestProject,
  call: (args: string[]) => Promise<RunResult> = (args) => p.dsync(args),
): Promise<StatusJson> {
  const result = await call(['status', '--json'])
  try {
    return JSON.parse(result.stdout) as StatusJson
  } catch {
    throw new Error(`status --json printed no JSON (exit ${result.exitCode}): ${result.stderr}`)
  }
}

function syncOf(report: StatusJson): SyncFigures {
  const sync = report.status?.syncs.find((s) => s.name === SYNC)
  if (!sync) throw new Error(`no sync ${SYNC} in ${JSON.stringify(report)}`)
  return sync
}

/** The container of a compose service of the project (running or not). */
async function containerOf(p: TestProject, service: string): Promise<string> {
  const ps = await run('docker', [
    'ps',
    '-aq',
    '--filter',
    `label=com.docker.compose.project=${p.name}`,
    '--filter',
    `label=com.docker.compose.service=${service}`,
  ])
  const id = ps.stdout.split('\n').find(Boolean)
  if (!id) throw new Error(`no container for service ${service} of project ${p.name}`)
  return id
}

const sidecarOf = (p: TestProject) => containerOf(p, 'dsync-sync')

async function running(container: string): Promise<boolean> {
  const r = await run('docker', ['inspect', '-f', '{{.State.Running}}', container], {
    reject: false,
  })
  return r.stdout.trim() === 'true'
}

/** Writes a file under `root`, creating its folders. */
function put(root: string, rel: string, content: string = `${rel}\n`): void {
  const file = path.join(root, rel)
  mkdirSync(path.dirname(file), { recursive: true })
  writeFileSync(file, content)
}

function describeDiff(d: TreeDiff): string {
  const part = (label: string, paths: string[]) =>
    paths.length ? `${label}: ${paths.slice(0, 5).join(', ')}` : ''
  return [part('lost', d.lost), part('stale', d.stale), part('resurrected', d.resurrected)]
    .filter(Boolean)
    .join('; ')
}

/**
 * Polls (docker exec only, no dsync command) until the app's /app equals the host's src, left
 * out the container's own files and `skip`; throws with the difference after `ms`. Returns the
 * time it took and the app's tree.
 */
async function converges(
  p: TestProject,
  ms = HEAL_MS,
  skip: (rel: string) => boolean = () => false,
): Promise<{ ms: number; tree: Map<string, string> }> {
  const started = Date.now()
  const app = await containerOf(p, 'app')
  const ignore = (rel: string) => CONTAINER_MADE.test(rel) || skip(rel)
  let diff: TreeDiff = { lost: [], stale: [], resurrected: [] }
  for (;;) {
    const host = new Map([...hostTree(path.join(p.dir, 'src'))].filter(([rel]) => !skip(rel)))
    const { tree } = await containerTree(app, '/app')
    diff = diffTrees(host, tree, ignore)
    const took = Date.now() - started
    if (isEmptyDiff(diff)) return { ms: took, tree }
    if (took > ms) {
      throw new Error(
        `the app's tree still differs from the host's after ${ms} ms: ${describeDiff(diff)}`,
      )
    }
    await sleep(100)
  }
}

/** The app container writes a file and a folder with a file into /app; their paths. */
async function containerWrites(p: TestProject, tag: string): Promise<string[]> {
  const app = await containerOf(p, 'app')
  await run('docker', [
    'exec',
    app,
    'sh',
    '-c',
    'cd /app && echo "made by the app" >"kept-$1.txt" && mkdir -p "kept-$1" && echo x >"kept-$1/x"',
    'sh',
    tag,
  ])
  return [`kept-${tag}.txt`, `kept-${tag}`, `kept-${tag}/x`]
}

function expectKept(tree: Map<string, string>, paths: string[]): void {
  const missing = paths.filter((rel) => !tree.has(rel))
  expect(missing, 'files the app container wrote, deleted by the sync').toEqual([])
}

/** Runs the built CLI with a time limit; a CLI still running then counts as hung (exit -1). */
async function dsyncWithin(
  p: TestProject,
  args: string[],
  ms: number,
): Promise<RunResult & { ms: number }> {
  const started = Date.now()
  try {
    const r = await run(process.execPath, [cliPath, ...args], {
      cwd: p.dir,
      env: p.env,
      reject: false,
      timeoutMs: ms,
    })
    return { ...r, ms: Date.now() - started }
  } catch (error) {
    return { stdout: '', stderr: (error as Error).message, exitCode: -1, ms: Date.now() - started }
  }
}

// ---------------------------------------------------------------------------------------------
// The projects, brought up together

let main: TestProject
let locked: TestProject
let full: TestProject
const ups = new Map<TestProject, Promise<RunResult>>()

/**
 * The daemon of `locked` runs as root without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH: root
 * reads a mode-000 file anyway, so without this the test would prove nothing. Every dsync
 * command of that project (and so the daemon it starts, and the rsync and docker it runs)
 * gets that capability bounding set. As another user, mode 000 is enough.
 */
const NO_DAC =
  process.getuid?.() === 0 ? ['setpriv', '--bounding-set=-dac_override,-dac_read_search', '--'] : []

function lockedDsync(args: string[]): Promise<RunResult> {
  const [file = process.execPath, ...rest] = [...NO_DAC, process.execPath, cliPath, ...args]
  return run(file, rest, { cwd: locked.dir, env: locked.env, reject: false })
}

beforeAll(() => {
  main = testProject('e2e-faults', 'dsyncfault')
  locked = testProject('e2e-faults', 'dsyncfault')
  full = testProject('e2e-faults', 'dsyncfault')
  // The sync volume is the user's own: a 4 MiB tmpfs declared in full-volume.yaml.
  full.env.COMPOSE_FILE = 'compose.yaml:full-volume.yaml'
  ups.set(main, main.dsync(['compose', 'up', '-d']))
  ups.set(locked, lockedDsync(['compose', 'up', '-d']))
  ups.set(full, full.dsync(['compose', 'up', '-d']))
})

afterAll(async () => {
  // A test that failed half-way may leave the sidecar paused: compose down cannot stop it.
  for (const p of ups.keys()) {
    const sidecar = await sidecarOf(p).catch(() => undefined)
    if (sidecar) await run('docker', ['unpause', sidecar], { reject: false })
  }
  await Promise.all([...ups.keys()].map(async (p) => p.dispose()))
})

async function upOk(p: TestProject): Promise<void> {
  const up = await ups.get(p)
  expect(up?.exitCode, `dsync compose up -d failed:\n${up?.stderr}`).toBe(0)
}

// ---------------------------------------------------------------------------------------------

describe('the data loss of issue 8: files the app container wrote', () => {
  test('survive flush and sync, and missed stays 0; a file deleted on the host is deleted', async () => {
    // Given a running project whose app container writes a file and a folder into /app
    await upOk(main)
    await main.sh('app', 'echo built >/app/out.txt; mkdir /app/cache; echo c >/app/cache/x')

    // When the user flushes
    const flushed = await main.dsync(['flush'])
    expect(flushed.exitCode, flushed.stderr).toBe(0)

    // Then both are still in the container, and the flush found no change the watcher missed
    expect(await main.sh('app', 'cat /app/out.txt /app/cache/x')).toBe('built\nc')
    expect(syncOf(await statusOf(main)).missed).toBe(0)

    // When the user runs a full pass
    const synced = await main.dsync(['sync'])
    expect(synced.exitCode, synced.stderr).toBe(0)

    // Then they are still there
    expect(await main.sh('app', 'cat /app/out.txt /app/cache/x')).toBe('built\nc')
    expect(syncOf(await statusOf(main)).missed).toBe(0)

    // Given a host file that is in the volume
    const src = path.join(main.dir, 'src')
    put(src, 'repro/deleted-on-host.txt')
    expect((await main.dsync(['flush'])).exitCode).toBe(0)
    expect(await main.sh('app', 'cat /app/repro/deleted-on-host.txt')).toBe(
      'repro/deleted-on-host.txt',
    )

    // When it is deleted on the host, and the user flushes
    rmSync(path.join(src, 'repro/deleted-on-host.txt'))
    expect((await main.dsync(['flush'])).exitCode).toBe(0)

    // Then it is gone from the volume too (not resurrected), and the app's own files are kept
    expect(await main.sh('app', 'ls -A /app/repro; cat /app/out.txt /app/cache/x')).toBe('built\nc')
    expect(syncOf(await statusOf(main)).missed).toBe(0)
  })
})

describe('faults on a running project heal by themselves within 10 s', () => {
  let src: string

  beforeAll(async () => {
    await upOk(main)
    src = path.join(main.dir, 'src')
  })

  /**
   * Given: the project is healthy (daemon running, sidecar running, the app's tree equal to the
   * host's), brought up again if an earlier test left it broken; then `fault-<tag>/` on the
   * host, with a file to edit and one to delete, has arrived; and the app container has
   * written files of its own.
   */
  async function given(tag: string): Promise<string[]> {
    const report = await statusOf(main).catch(() => undefined)
    const sidecar = await sidecarOf(main)
    let healthy = report?.daemon.running === true && (await running(sidecar))
    if (healthy)
      healthy = await converges(main, 3000).then(
        () => true,
        () => false,
      )
    if (!healthy) {
      await run('docker', ['unpause', sidecar], { reject: false })
      const up = await main.dsync(['compose', 'up', '-d'])
      expect(up.exitCode, `repairing the project failed: ${up.stderr}`).toBe(0)
      await main.dsync(['flush'])
    }
    put(src, `fault-${tag}/edited.txt`, 'before the fault\n')
    put(src, `fault-${tag}/doomed.txt`, 'deleted during the fault\n')
    await converges(main)
    return containerWrites(main, tag)
  }

  /** Host changes during or right after a fault: an edit, a deletion, a new file and folder. */
  function changeHost(tag: string): void {
    writeFileSync(path.join(src, `fault-${tag}/edited.txt`), 'edited during the fault\n')
    rmSync(path.join(src, `fault-${tag}/doomed.txt`))
    put(src, `fault-${tag}/new/made during the fault.txt`, 'new\n')
  }

  test('(a) kill -9 of the daemon: a new daemon runs and catches up', async () => {
    const kept = await given('a')
    const pid = (await statusOf(main)).daemon.pid ?? 0
    expect(pid).toBeGreaterThan(0)

    // When the daemon is killed with SIGKILL, and the host changes while it is gone
    process.kill(pid, 'SIGKILL')
    await waitFor('the daemon to die', () => !isAlive(pid), 5000)
    changeHost('a')

    // Then, with no dsync command, the app has every change within 10 s, and its own files
    const { tree } = await converges(main)
    expectKept(tree, kept)
    // And status shows a daemon running under a new pid
    const report = await statusOf(main)
    expect(report.daemon.running).toBe(true)
    expect(report.daemon.pid).not.toBe(pid)
  })

  test('(b) docker kill of the sidecar: it is back, and the changes arrive', async () => {
    const kept = await given('b')
    const sidecar = await sidecarOf(main)

    // When the sidecar is killed, and the host changes right after
    await run('docker', ['kill', sidecar])
    changeHost('b')

    // Then, with no dsync command, the app has every change within 10 s, and its own files
    const { tree } = await converges(main)
    expectKept(tree, kept)
    expect(await running(await sidecarOf(main))).toBe(true)
  })

  test('(c) docker restart of the sidecar: the changes made meanwhile arrive', async () => {
    const kept = await given('c')
    const sidecar = await sidecarOf(main)

    // When the sidecar restarts, and the host changes during the restart
    const restart = run('docker', ['restart', '-t', '1', sidecar])
    changeHost('c')
    await restart

    // Then, with no dsync command, the app has every change within 10 s, and its own files
    const { tree } = await converges(main)
    expectKept(tree, kept)
  })

  test('(d) docker pause of the sidecar: flush gives up with one line, status says so; unpause heals', async () => {
    const kept = await given('d')
    const sidecar = await sidecarOf(main)

    // When the sidecar is paused (a hung transport), and the host changes meanwhile
    await run('docker', ['pause', sidecar])
    try {
      changeHost('d')

      // Then dsync flush does not wait for ever: it fails within the deadline, in one line
      const flushed = await dsyncWithin(main, ['flush'], FLUSH_DEADLINE_MS + 15_000)
      expect(flushed.exitCode, `flush after ${flushed.ms} ms: ${flushed.stderr}`).not.toBe(0)
      expect(flushed.exitCode, 'flush was still running: it hangs').not.toBe(-1)
      expect(flushed.ms).toBeLessThan(FLUSH_DEADLINE_MS)
      expect(flushed.stderr.trim().split('\n')).toHaveLength(1)
      // And status no longer says all is well
      await waitFor(
        'status to report the hung sidecar',
        async () => (await statusOf(main)).daemon.health !== 'ok',
        15_000,
      )
    } finally {
      // When the sidecar is unpaused
      await run('docker', ['unpause', sidecar], { reject: false })
    }

    // Then, with no dsync command, the app has every change within 10 s, and its own files
    const { tree } = await converges(main)
    expectKept(tree, kept)
  })

  test('(e) src deleted and re-created (a fresh clone): the edits that follow arrive', async () => {
    const kept = await given('e')
    const clone = path.join(path.dirname(main.dir), 'clone')
    rmSync(clone, { recursive: true, force: true })
    cpSync(src, clone, { recursive: true })

    // When src is deleted and made again from a copy, as rm -rf src && git clone does
    rmSync(src, { recursive: true })
    mkdirSync(src)
    cpSync(clone, src, { recursive: true })
    // And the host changes right after
    changeHost('e')

    // Then, with no dsync command, the app has every change within 10 s, and its own files
    const { tree } = await converges(main)
    expectKept(tree, kept)

    // When the user edits again a little later
    await sleep(2000)
    writeFileSync(path.join(src, 'fault-e/edited.txt'), 'edited after the clone\n')
    put(src, 'fault-e/later.txt', 'later\n')

    // Then those arrive within 10 s too: the new folder is watched
    await converges(main)
  })

  test('(h) a file appended every 10 ms for 3 s arrives complete', async () => {
    const kept = await given('h')

    // When a file is appended to every 10 ms for 3 s
    const file = path.join(src, 'fault-h/appended.log')
    for (let i = 0; i < 300; i++) {
      appendFileSync(file, `line ${i} of the appended file\n`)
      await sleep(10)
    }

    // Then, with no dsync command, the app has the whole file within 10 s, and its own files
    const { tree } = await converges(main)
    expect(tree.get('fault-h/appended.log')).toMatch(/^f \d+ 8890 /)
    expectKept(tree, kept)
  })
})

describe('(f) an unreadable file on the host', () => {
  test('does not stop the other files, and status names it', async () => {
    // Given a running project whose daemon cannot read a mode-000 file (see NO_DAC)
    const up = await ups.get(locked)
    expect(up?.exitCode, `dsync compose up -d failed:\n${up?.stderr}`).toBe(0)
    const src = path.join(locked.dir, 'src')
    const kept = await containerWrites(locked, 'f')
    const secret = 'private/secret.txt'
    const unreadable = (rel: string) => rel === secret

    // When a file is made unreadable from its creation, beside other changes
    mkdirSync(path.join(src, 'private'))
    writeFileSync(path.join(src, secret), 'no one may read this\n', { mode: 0o000 })
    put(src, 'private/readable.txt', 'readable\n')
    writeFileSync(path.join(src, 'hello.txt'), 'hello, edited\n')

    // Then, with no dsync command, every other change arrives within 10 s
    const { tree } = await converges(locked, HEAL_MS, unreadable)
    expectKept(tree, kept)
    // And status names the path it could not read
    await waitFor(
      'status to name the unreadable file',
      async () => JSON.stringify(await statusOf(locked, lockedDsync)).includes('secret.txt'),
      HEAL_MS,
    )

    // When the user runs a full pass, and edits more afterwards
    await lockedDsync(['sync'])
    put(src, 'after-the-full-pass.txt', 'still syncing\n')
    writeFileSync(path.join(src, 'sub/nested.txt'), 'nested, edited\n')

    // Then those arrive too, the app's own files are kept, and status still names the path
    const after = await converges(locked, HEAL_MS, unreadable)
    expectKept(after.tree, kept)
    expect(JSON.stringify(await statusOf(locked, lockedDsync))).toContain('secret.txt')
  })
})

describe('(g) a full volume (a 4 MiB tmpfs of the user)', () => {
  test('writing past it shows errors in status; once the host files go, the sync recovers', async () => {
    // Given a project whose sync volume is a 4 MiB tmpfs declared in the user's volumes:
    const up = await ups.get(full)
    expect(up?.exitCode, `dsync compose up -d failed:\n${up?.stderr}`).toBe(0)
    const src = path.join(full.dir, 'src')
    const kept = await containerWrites(full, 'g')

    // When the host gets 6 MB of files, more than the volume holds
    for (let i = 0; i < 3; i++) put(src, `big/${i}.txt`, 'x'.repeat(2 * 1024 * 1024))

    // Then status shows errors for the sync, naming the cause
    await waitFor(
      'status to show the sync failing',
      async () => syncOf(await statusOf(full)).errors > 0,
      HEAL_MS,
    )

    // When the big files are removed on the host, and a small one written
    rmSync(path.join(src, 'big'), { recursive: true })
    put(src, 'small.txt', 'fits\n')

    // Then, with no dsync command, the app's tree equals the host's within 10 s, own files kept
    const { tree } = await converges(full)
    expectKept(tree, kept)
  })
})
