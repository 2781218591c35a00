/**
 * The sidecar image and the agent channel against a real engine: a sidecar with two fresh
 * volumes at /sync/app and /sync/owned, and an "app" container mounting the same volumes at
 * /app and /owned, where every assertion looks, as the user's service would.
 */
import { createHash, randomBytes } from 'node:crypto'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { ensureSyncImage, syncImageTag } from '../../src/docker/image.js'
import { run } from '../../src/lib/exec.js'
import { readerIn, waitFor, watchIn } from './helpers.js'
import {
  AgentBatchError,
  AgentChannel,
  AgentChannelError,
  type AgentOp,
} from '../../src/strategies/agent.js'

const prefix = `dsync-test-agent-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`
const sidecar = `${prefix}-sidecar`
const app = `${prefix}-app`
const appVolume = `${prefix}-app`
const ownedVolume = `${prefix}-owned`
const containers = [sidecar, app]
const volumes = [appVolume, ownedVolume]

let image = ''
let channel: AgentChannel | undefined

function agent(): AgentChannel {
  if (!channel) throw new Error('the agent channel did not open')
  return channel
}

async function docker(...args: string[]): Promise<string> {
  return (await run('docker', args)).stdout
}

/** Runs a shell script in the app container; `args` are its $1, $2... */
async function inApp(script: string, ...args: string[]): Promise<string> {
  return docker('exec', app, 'sh', '-c', script, 'sh', ...args)
}

async function readInApp(file: string): Promise<string> {
  // The trailing dot keeps a final newline of the content from being stripped.
  return (await inApp('cat -- "$1" && printf .', file)).slice(0, -1)
}

async function existsInApp(file: string): Promise<boolean> {
  const args = ['exec', app, 'sh', '-c', 'test -e "$1" || test -L "$1"', 'sh', file]
  return (await run('docker', args, { reject: false })).exitCode === 0
}

function md5(data: Uint8Array | string): string {
  return createHash('md5').update(data).digest('hex')
}

beforeAll(async () => {
  image = await ensureSyncImage({
    onProgress: (line) => process.stderr.write(`  docker build: ${line}\n`),
  })
  for (const volume of volumes) await docker('volume', 'create', volume)
  const mounts = (appPath: string, ownedPath: string) => [
    '-v',
    `${appVolume}:${appPath}`,
    '-v',
    `${ownedVolume}:${ownedPath}`,
  ]
  await docker(
    'run',
    '-d',
    '--name',
    sidecar,
    '--network',
    'none',
    ...mounts('/sync/app', '/sync/owned'),
    image,
  )
  await docker('run', '-d', '--name', app, '--network', 'none', ...mounts('/app', '/owned'), image)
  channel = await AgentChannel.open(sidecar)
})

afterAll(async () => {
  try {
    await channel?.close()
  } finally {
    await run('docker', ['rm', '-f', ...containers], { reject: false })
    await run('docker', ['volume', 'rm', '-f', ...volumes], { reject: false })
  }
})

test('the image tag is a hash of images/sync and the image is reused', async () => {
  // Given the image built in beforeAll
  // When it is asked for again
  const again = await ensureSyncImage()
  // Then the same tag comes back without a build
  expect(again).toBe(image)
  expect(image).toBe(syncImageTag())
  expect(image).toMatch(/^dsync-sync:[0-9a-f]{12}$/)
})

test('a user-supplied image is used as is, and a missing one is an error with a hint', async () => {
  // Given an image present in the engine and one that is not
  // When each is passed as the user's image
  // Then the present one is returned unchanged and the missing one is refused
  expect(await ensureSyncImage({ image })).toBe(image)
  await expect(ensureSyncImage({ image: `${prefix}-missing:1` })).rejects.toThrow(
    /not in the Docker engine/,
  )
})

test('writes new files in nested folders, with spaces and unicode in names, and empty files', async () => {
  // Given an open channel to the sidecar
  const c = agent()
  // When files are written at new nested paths
  await c.write('app', 'basic/a.txt', 'alpha\n')
  await c.write('app', 'basic/deep/er/still/b.txt', 'beta')
  await c.write('app', 'basic/with space/ünïcödé 文件.txt', 'gamma ✓')
  await c.write('app', 'basic/empty', '')
  // Then the app container reads exactly that content
  expect(await readInApp('/app/basic/a.txt')).toBe('alpha\n')
  expect(await readInApp('/app/basic/deep/er/still/b.txt')).toBe('beta')
  expect(await readInApp('/app/basic/with space/ünïcödé 文件.txt')).toBe('gamma ✓')
  expect(await inApp('stat -c %s "$1"', '/app/basic/empty')).toBe('0')
  expect(await inApp('ls -A /app/basic')).toBe('a.txt\ndeep\nempty\nwith space')
})

test('overwrites an existing file, shorter, longer and empty', async () => {
  // Given an existing file
  const c = agent()
  await c.write('app', 'over/f.txt', 'the first version of the file\n')
  // When it is overwritten with shorter, longer and empty content
  // Then each content is read whole, and no temporary file is left beside it
  for (const content of ['short', 'a much longer third version of the file\n'.repeat(3), '']) {
    await c.write('app', 'over/f.txt', content)
    expect(await readInApp('/app/over/f.txt')).toBe(content)
    expect(await inApp('ls -A /app/over')).toBe('f.txt')
  }
})

test('replaces files with folders and back, and removes files, trees and absent paths', async () => {
  // Given a file where a folder will be, and a tree
  const c = agent()
  await c.write('app', 'swap/x', 'a file')
  await c.mkdir('app', 'tree/a/b/c')
  await c.write('app', 'tree/a/one.txt', '1')
  await c.write('app', 'tree/a/b/two.txt', '2')
  await c.write('app', 'lone.txt', 'alone')
  // When a file is written under the file's path, then the folder is replaced by a file again
  await c.write('app', 'swap/x/inner.txt', 'inside')
  // Then the folder is there with its file
  expect(await inApp('test -d /app/swap/x && cat /app/swap/x/inner.txt')).toBe('inside')
  await c.write('app', 'swap/x', 'a file again')
  expect(await readInApp('/app/swap/x')).toBe('a file again')
  // When the tree, the file and paths that never existed are removed
  await c.remove('app', 'tree')
  await c.remove('app', 'lone.txt')
  await c.remove('app', 'tree')
  await c.remove('app', 'never/was/here')
  // Then they are gone and the removal of absent paths succeeded
  expect(await existsInApp('/app/tree')).toBe(false)
  expect(await existsInApp('/app/lone.txt')).toBe(false)
  // And an empty folder can be made, and made again
  await c.mkdir('app', 'made/empty')
  await c.mkdir('app', 'made/empty')
  expect(await inApp('ls -A /app/made/empty | wc -l')).toBe('0')
})

test('writes a 5 MB file byte for byte', async () => {
  // Given 5 MB of random bytes
  const data = randomBytes(5 * 1024 * 1024)
  // When they are written, twice (new file, then replacing a large file)
  await agent().write('app', 'big/five.bin', data)
  const again = randomBytes(5 * 1024 * 1024)
  await agent().write('app', 'big/five.bin', again)
  // Then the app container reads the same bytes
  expect(await inApp('md5sum < /app/big/five.bin | cut -d" " -f1')).toBe(md5(again))
  expect(await inApp('stat -c %s /app/big/five.bin')).toBe(String(again.length))
  expect(await inApp('ls -A /app/big')).toBe('five.bin')
})

test('creates symlinks and replaces links, files and folders with them', async () => {
  // Given a target file, a file and a folder at paths that will become links
  const c = agent()
  await c.write('app', 'links/target.txt', 'pointed at')
  await c.write('app', 'links/was-file', 'file')
  await c.mkdir('app', 'links/was-dir/sub')
  // When links are created, and one is pointed elsewhere
  await c.symlink('app', 'links/l', 'target.txt')
  await c.symlink('app', 'links/was-file', 'target.txt')
  await c.symlink('app', 'links/was-dir', '../links/target.txt')
  await c.symlink('app', 'links/dangling', 'nowhere/at all')
  // Then the app container sees links with those targets
  expect(await inApp('readlink /app/links/l')).toBe('target.txt')
  expect(await readInApp('/app/links/l')).toBe('pointed at')
  expect(await inApp('readlink /app/links/was-file')).toBe('target.txt')
  expect(await inApp('readlink /app/links/was-dir')).toBe('../links/target.txt')
  expect(await inApp('readlink "/app/links/dangling"')).toBe('nowhere/at all')
  // When a link is replaced by another and then by a file
  await c.symlink('app', 'links/l', 'was-file')
  expect(await inApp('readlink /app/links/l')).toBe('was-file')
  await c.write('app', 'links/l', 'now a file')
  expect(await inApp('test ! -L /app/links/l && cat /app/links/l')).toBe('now a file')
  // Then the target of the old link was never written through
  expect(await readInApp('/app/links/target.txt')).toBe('pointed at')
})

test('sets the mode and a sub-second mtime of files and folders', async () => {
  // Given a file written with a mode and an mtime with a fraction of a millisecond
  const c = agent()
  await c.write('app', 'meta/run.sh', '#!/bin/sh\n', { mode: 0o755, mtimeMs: 1600000000123.456 })
  // Then the app container sees both
  expect(await inApp('stat -c "%a %.9Y" /app/meta/run.sh')).toBe('755 1600000000.123456000')
  // When it is overwritten in place with another mode and mtime
  await c.write('app', 'meta/run.sh', '#!/bin/sh\necho\n', { mode: 0o600, mtimeMs: 1700000000999 })
  // Then both changed
  expect(await inApp('stat -c "%a %.9Y" /app/meta/run.sh')).toBe('600 1700000000.999000000')
  // And folders get their mode and mtime too
  await c.mkdir('app', 'meta/private', { mode: 0o700, mtimeMs: 1500000000500 })
  expect(await inApp('stat -c "%a %.9Y" /app/meta/private')).toBe('700 1500000000.500000000')
  // And without a mode a new file is 644
  await c.write('app', 'meta/plain.txt', 'plain')
  expect(await inApp('stat -c %a /app/meta/plain.txt')).toBe('644')
})

test('gives the sync root and every entry written after setOwner the owner 1000:1000', async () => {
  // Given entries written as root before an owner is set
  const c = agent()
  await c.write('owned', 'before/x.txt', 'x')
  await c.write('owned', 'before/y.txt', 'y')
  // When the owner is set and entries are written, created, linked and overwritten
  await c.setOwner('owned', 1000, 1000)
  await c.write('owned', 'd/e/f.txt', 'f')
  await c.mkdir('owned', 'dir2')
  await c.symlink('owned', 'd/link', 'e/f.txt')
  await c.write('owned', 'before/x.txt', 'x2')
  const owners = (...paths: string[]) => inApp('stat -c "%u:%g %n" "$@"', ...paths)
  // Then all of them and the volume root belong to 1000:1000, the link itself included
  expect(
    await owners(
      '/owned',
      '/owned/d',
      '/owned/d/e',
      '/owned/d/e/f.txt',
      '/owned/dir2',
      '/owned/d/link',
      '/owned/before/x.txt',
    ),
  ).toBe(
    [
      '1000:1000 /owned',
      '1000:1000 /owned/d',
      '1000:1000 /owned/d/e',
      '1000:1000 /owned/d/e/f.txt',
      '1000:1000 /owned/dir2',
      '1000:1000 /owned/d/link',
      '1000:1000 /owned/before/x.txt',
    ].join('\n'),
  )
  // And an untouched older entry keeps its owner until a recursive setOwner
  expect(await owners('/owned/before/y.txt')).toBe('0:0 /owned/before/y.txt')
  await c.setOwner('owned', 1000, 1000, { recursive: true })
  expect(await owners('/owned/before', '/owned/before/y.txt')).toBe(
    '1000:1000 /owned/before\n1000:1000 /owned/before/y.txt',
  )
  // And the other sync is not affected
  await c.write('app', 'not-owned.txt', 'root')
  expect(await inApp('stat -c %u:%g /app/not-owned.txt')).toBe('0:0')
})

/** inotifywait in the app container (see watchIn). */
function watchInApp(target: string, events?: string[], format?: string) {
  return watchIn(app, target, events, format)
}

test('an inotify watch on a file in the app container sees three successive changes', async () => {
  // Given a file, and inotifywait watching the file itself in the app container
  const c = agent()
  await c.write('app', 'watch/server.js', 'console.log(1)\n')
  const watch = await watchInApp('/app/watch/server.js')
  try {
    // When the file is changed three times, waiting for each change to be seen
    const contents = ['console.log(2)\n', 'console.log("three, longer")\n', '3\n']
    for (const [i, content] of contents.entries()) {
      await c.write('app', 'watch/server.js', content)
      // Then the watch reports each change once
      await waitFor(`change ${i + 1}`, () => watch.count('CLOSE_WRITE') === i + 1)
    }
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(watch.count('CLOSE_WRITE'), watch.events()).toBe(3)
    // And the watch never lost the file, and the path has the last content
    expect(watch.events()).not.toMatch(/DELETE_SELF|MOVE_SELF|IGNORED/)
    expect(await readInApp('/app/watch/server.js')).toBe('3\n')
  } finally {
    await watch.stop()
  }
})

test('an inotify watch on the folder sees each change once under the file name', async () => {
  // Given a file, and inotifywait watching its folder in the app container
  const c = agent()
  await c.write('app', 'folder-watch/app.js', 'one\n')
  const watch = await watchInApp('/app/folder-watch', ['moved_to', 'close_write'], '%e %f')
  try {
    // When the file is changed three times
    for (const [i, content] of ['two\n', 'three, longer\n', '4\n'].entries()) {
      await c.write('app', 'folder-watch/app.js', content)
      // Then the folder watch reports the file's name each time, as it lands whole
      await waitFor(`change ${i + 1}`, () => watch.count('MOVED_TO', 'app.js') === i + 1)
    }
    // And it heard the file closed after writing once per change (watchers that wait for
    // IN_CLOSE_WRITE, as `inotifywait -e close_write -r` scripts do, run once per change)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(watch.count('CLOSE_WRITE', 'app.js'), watch.events()).toBe(3)
    expect(await readInApp('/app/folder-watch/app.js')).toBe('4\n')
  } finally {
    await watch.stop()
  }
})

test('a watch survives a replacement by another writer and by another agent', async () => {
  // Given a file, and inotifywait watching it in the app container
  const c = agent()
  await c.write('app', 'watch/other.js', 'one\n')
  const watch = await watchInApp('/app/watch/other.js')
  let second: AgentChannel | undefined
  try {
    // When another process in the sidecar renames a new file over it, between hold and settle
    // (as rsync does)
    await c.hold('app', ['watch/other.js', 'watch/absent.js'])
    await docker(
      'exec',
      sidecar,
      'sh',
      '-c',
      'printf "two\\n" > /sync/app/watch/.new && mv /sync/app/watch/.new /sync/app/watch/other.js',
    )
    await c.settle('app', ['watch/other.js', 'watch/absent.js'])
    // Then the watch sees that change
    await waitFor('the change by another writer', () => watch.count('CLOSE_WRITE') === 1)

    // When a second agent replaces it, and the first adopts what the second displaced
    second = await AgentChannel.open(sidecar)
    await second.write('app', 'watch/other.js', 'three\n')
    const holds = await second.holds('app')
    expect(holds.split('\0').filter(Boolean)).toHaveLength(2)
    await c.adopt('app', second.agentPid, holds)
    await second.close()
    second = undefined
    // Then the watch sees it, and does not see the second agent end
    await waitFor('the change by the second agent', () => watch.count('CLOSE_WRITE') >= 2)
    // And a later change by the first agent is seen too
    const before = watch.count('CLOSE_WRITE')
    await c.write('app', 'watch/other.js', 'four\n')
    await waitFor('the change after adoption', () => watch.count('CLOSE_WRITE') > before)
    expect(watch.events()).not.toMatch(/DELETE_SELF|IGNORED/)
    expect(await readInApp('/app/watch/other.js')).toBe('four\n')

    // When the file is removed
    await c.remove('app', 'watch/other.js')
    // Then the watch sees it deleted, as it would on the host
    await waitFor('the deletion', () => watch.count('DELETE_SELF') === 1)
  } finally {
    await second?.close()
    await watch.stop()
  }
})

for (const [label, size] of [
  ['200 KB', 200 * 1024],
  ['2 MB', 2 * 1024 * 1024],
] as const) {
  test(`a reader in the app container never sees a half-written ${label} file`, async () => {
    // Given a file and two full contents for it
    const c = agent()
    const contents = [randomBytes(size), randomBytes(size)]
    const sums = contents.map(md5)
    const file = `atomic/${size}.bin`
    await c.write('app', file, contents[0] ?? '')
    // When a reader loops over it while the host rewrites it between the two contents, until
    // there were at least 20 rewrites and 40 reads (counts, not a duration: a busy machine must
    // not make the test fail, nor a fast one end it before the rewrites)
    const stop = `/app/atomic/${size}.stop`
    const reader = await readerIn(app, `while [ ! -e ${stop} ]; do cat /app/${file} | md5sum; done`)
    let writes = 0
    while ((writes < 20 || reader.sums().length < 40) && !reader.finished()) {
      await c.write('app', file, contents[++writes % 2] ?? '')
    }
    await c.write('app', stop.slice('/app/'.length), '')
    expect((await reader.done).exitCode).toBe(0)
    // Then every read was one of the two whole contents
    const reads = reader.sums()
    process.stderr.write(`agent: ${reads.length} reads during ${writes} rewrites of ${label}\n`)
    expect(writes).toBeGreaterThanOrEqual(20)
    expect(reads.length).toBeGreaterThanOrEqual(40)
    expect(reads.filter((sum) => !sums.includes(sum))).toEqual([])
    expect(new Set(reads).size).toBe(2)
  })
}

test('refuses paths outside the sync, reports failed paths of a batch and stays open', async () => {
  // Given an open channel
  const c = agent()
  // When single operations name paths outside the sync or an unknown sync
  // Then each is refused with the reason
  await expect(c.write('app', '../escape.txt', 'x')).rejects.toThrow(/must not contain \.\./)
  await expect(c.write('app', '/etc/escape', 'x')).rejects.toThrow(/must be relative/)
  await expect(c.write('app', 'nul\0name', 'x')).rejects.toThrow(/NUL/)
  await expect(c.remove('app', 'a/../../b')).rejects.toThrow(/\.\./)
  await expect(c.write('nosuch', 'f.txt', 'x')).rejects.toThrow(/no volume is mounted/)
  // When a batch mixes good and bad operations
  const ops: AgentOp[] = [
    { op: 'write', sync: 'app', path: 'batch/good-1.txt', data: '1' },
    { op: 'write', sync: 'app', path: '../bad-1.txt', data: 'x' },
    { op: 'mkdir', sync: 'app', path: 'batch/dir' },
    { op: 'symlink', sync: 'app', path: '/bad-2', target: 'x' },
    { op: 'write', sync: 'app', path: 'batch/good-2.txt', data: '2' },
  ]
  const error: unknown = await c.apply(ops).catch((e: unknown) => e)
  // Then the error lists the failed paths, and the good operations were applied
  expect(error).toBeInstanceOf(AgentBatchError)
  const batch = error as AgentBatchError
  expect(batch.failures.map((f) => f.path)).toEqual(['../bad-1.txt', '/bad-2'])
  expect(batch.message).toMatch(
    /^2 of 5 sync operations failed: app:\.\.\/bad-1\.txt .*app:\/bad-2/,
  )
  expect(await inApp('ls -A /app/batch')).toBe('dir\ngood-1.txt\ngood-2.txt')
  // And nothing escaped the volume, and the channel still answers
  const outside = ['/bad-2', '/bad-1.txt', '/escape.txt', '/etc/escape', '/sync/escape.txt']
  const escaped = await run(
    'docker',
    [
      'exec',
      sidecar,
      'sh',
      '-c',
      'for f; do test -e "$f" && echo "$f"; done; ls /sync',
      'sh',
      ...outside,
    ],
    { reject: false },
  )
  expect(escaped.stdout).toBe('app\nowned')
  expect(await c.ping()).toBeGreaterThan(0)
  expect(c.closed).toBe(false)
})

test('ready and unready drive the sidecar healthcheck', async () => {
  // Given a sidecar that is not ready
  const c = agent()
  const health = async () =>
    (await run('docker', ['exec', sidecar, 'dsync-health'], { reject: false })).exitCode
  expect(await health()).toBe(1)
  // When the host marks it ready
  await c.ready()
  // Then the healthcheck passes and the engine reports the container healthy
  expect(await health()).toBe(0)
  await waitFor(
    'the sidecar to be healthy',
    async () => (await docker('inspect', '-f', '{{.State.Health.Status}}', sidecar)) === 'healthy',
    20_000,
  )
  // When it is marked unready
  await c.unready()
  // Then the healthcheck fails again
  expect(await health()).toBe(1)
})

test('a dead agent rejects its pending requests and closes the channel', async () => {
  // Given a second channel to the same sidecar
  let closedWith: AgentChannelError | undefined | 'not called' = 'not called'
  const second = await AgentChannel.open(sidecar, { onClose: (e) => (closedWith = e) })
  expect(second.agentPid).toBeGreaterThan(1)
  // When its agent is killed
  await docker('exec', sidecar, 'sh', '-c', 'kill -9 "$1"', 'sh', String(second.agentPid))
  const pending = second.ping()
  // Then the request rejects with a clear error, and the channel is closed
  await expect(pending).rejects.toThrow(AgentChannelError)
  await expect(pending).rejects.toThrow(/docker exec -i .* dsync-agent ended/)
  expect(second.closed).toBe(true)
  expect(closedWith).toBeInstanceOf(AgentChannelError)
  await expect(second.write('app', 'late.txt', 'x')).rejects.toThrow(AgentChannelError)
  // And the first channel is unaffected
  expect(await agent().ping()).toBeGreaterThan(0)
})

test('close ends the channel cleanly and opening a missing container fails clearly', async () => {
  // Given a third channel
  const third = await AgentChannel.open(sidecar)
  // When it is closed with a request in flight
  const inFlight = third.write('app', 'closing/last.txt', 'last')
  await third.close()
  // Then the request was answered, the channel is closed without error, and later calls fail
  await inFlight
  expect(third.closed).toBe(true)
  expect(third.error).toBeUndefined()
  await expect(third.ping()).rejects.toThrow(/closed/)
  expect(await readInApp('/app/closing/last.txt')).toBe('last')
  // And a channel to a container that does not exist fails with docker's reason
  await expect(AgentChannel.open(`${prefix}-missing`)).rejects.toThrow(/No such container/i)
})

test('the sidecar prints nothing and stops at once on SIGTERM', async () => {
  // Given a running sidecar container
  const name = `${prefix}-stop`
  containers.push(name)
  await docker('run', '-d', '--name', name, '--network', 'none', image)
  // Once its PID 1 handles SIGTERM (perl installs the handler a moment after the container
  // starts; before that, PID 1 ignores the signal, as the kernel does for any PID 1)
  await waitFor('the entrypoint to handle SIGTERM', async () => {
    const caught = await run('docker', ['exec', name, 'grep', 'SigCgt', '/proc/1/status'], {
      reject: false,
    })
    const mask = /SigCgt:\s*([0-9a-f]+)/.exec(caught.stdout)?.[1]
    return mask !== undefined && (BigInt(`0x${mask}`) & (1n << 14n)) !== 0n
  })
  // When it is stopped with a generous grace period
  const start = Date.now()
  await docker('stop', '-t', '20', name)
  const elapsed = Date.now() - start
  // Then it exited cleanly at once, without output
  expect(elapsed).toBeLessThan(5_000)
  expect(await docker('inspect', '-f', '{{.State.ExitCode}}', name)).toBe('0')
  const logs = await run('docker', ['logs', name])
  expect(logs.stdout + logs.stderr).toBe('')
})

test('round trips are fast, and pipelined batches faster (figures on stderr)', async () => {
  // Given a 100-byte payload
  const c = agent()
  const payload = 'x'.repeat(99) + '\n'
  await c.write('app', 'bench/one.txt', payload)
  // When it is written 200 times, one at a time
  const times: number[] = []
  for (let i = 0; i < 200; i++) {
    const start = performance.now()
    await c.write('app', 'bench/one.txt', payload)
    times.push(performance.now() - start)
  }
  times.sort((a, b) => a - b)
  const median = times[100] ?? NaN
  const p90 = times[180] ?? NaN
  // And 1000 new files are written in one pipelined batch
  const ops: AgentOp[] = Array.from({ length: 1000 }, (_, i) => ({
    op: 'write',
    sync: 'app',
    path: `bench/many/f${i}.txt`,
    data: payload,
  }))
  const start = performance.now()
  await c.apply(ops)
  const batch = performance.now() - start
  process.stderr.write(
    `agent: 100-byte write round trip median ${median.toFixed(2)} ms, p90 ${p90.toFixed(2)} ms ` +
      `(200 writes); 1000 pipelined new files in ${batch.toFixed(0)} ms\n`,
  )
  // Then a round trip is far below the cost of a docker exec, and every file arrived
  expect(median).toBeLessThan(40)
  expect(await inApp('ls /app/bench/many | wc -l')).toBe('1000')
})
