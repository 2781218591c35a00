import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, expect, test } from 'vitest'
import { lockPath, withProjectLock } from '../../src/daemon/lock.js'
import { DsyncError } from '../../src/lib/errors.js'
import { spawn } from '../../src/lib/spawn.js'

const temps: string[] = []
function stateDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'dsync-lock-'))
  temps.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** The pid of a process that has ended. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdin: 'ignore' })
  const pid = child.pid ?? 0
  await child
  return pid
}

test('Given two starts of one project at once, then they run one after the other and the second says whom it waits for', async () => {
  const dir = stateDir()
  const events: string[] = []
  const waits: string[] = []
  const section = (name: string) => async () => {
    events.push(`${name} in`)
    await sleep(200)
    events.push(`${name} out`)
  }

  await Promise.all([
    withProjectLock(dir, { project: 'myapp', action: 'started' }, section('first')),
    (async () => {
      await sleep(20)
      await withProjectLock(
        dir,
        { project: 'myapp', action: 'started', onWait: (line) => waits.push(line) },
        section('second'),
      )
    })(),
  ])

  expect(events).toEqual(['first in', 'first out', 'second in', 'second out'])
  expect(waits).toEqual([`project myapp is being started by pid ${process.pid}; waiting`])
  expect(existsSync(lockPath(dir))).toBe(false)
})

test('Given a lock left by a process that died, when the project is started, then the stale lock is taken over at once', async () => {
  const dir = stateDir()
  writeFileSync(lockPath(dir), JSON.stringify({ pid: await deadPid(), action: 'started' }))
  const waits: string[] = []

  const started = Date.now()
  const result = await withProjectLock(
    dir,
    { project: 'myapp', action: 'started', onWait: (line) => waits.push(line) },
    () => Promise.resolve(readFileSync(lockPath(dir), 'utf8')),
  )

  expect(JSON.parse(result)).toMatchObject({ pid: process.pid, action: 'started' })
  expect(waits).toEqual([])
  expect(Date.now() - started).toBeLessThan(1000)
})

test('Given a live holder that never lets go, when the wait ends, then one line says who holds it, exit 75', async () => {
  const dir = stateDir()
  // The parent process (the test runner) is alive for the whole test.
  writeFileSync(lockPath(dir), JSON.stringify({ pid: process.ppid, action: 'stopped' }))
  let ran = false

  const error = await withProjectLock(
    dir,
    { project: 'myapp', action: 'started', waitMs: 300 },
    () => {
      ran = true
      return Promise.resolve()
    },
  ).catch((e: unknown) => e)

  expect(ran).toBe(false)
  expect(error).toBeInstanceOf(DsyncError)
  expect((error as DsyncError).exitCode).toBe(75)
  expect((error as DsyncError).line()).toBe(
    `project myapp is still being stopped by pid ${process.ppid}; wait for it to finish, or stop that process, then try again`,
  )
  // And the holder's lock is left alone
  expect(JSON.parse(readFileSync(lockPath(dir), 'utf8'))).toMatchObject({ pid: process.ppid })
})

test('Given the locked work fails, then the lock is released all the same', async () => {
  const dir = stateDir()

  const failed = withProjectLock(dir, { project: 'myapp', action: 'started' }, () => {
    return Promise.reject(new Error('compose up failed'))
  })

  await expect(failed).rejects.toThrow('compose up failed')
  expect(existsSync(lockPath(dir))).toBe(false)
})
