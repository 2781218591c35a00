import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, expect, test } from 'vitest'
import { requireHostTools } from '../../src/daemon/host-tools.js'
import { DsyncError } from '../../src/lib/errors.js'

const temps: string[] = []
function bin(programs: string[]): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'dsync-bin-'))
  temps.push(dir)
  for (const program of programs)
    writeFileSync(path.join(dir, program), '#!/bin/sh\n', { mode: 0o755 })
  return dir
}
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true })
})

function thrown(fn: () => unknown): DsyncError {
  try {
    fn()
  } catch (error) {
    if (error instanceof DsyncError) return error
    throw error
  }
  throw new Error('expected an error')
}

test('Given a PATH without rsync, when an rsync sync is checked, then one line says how to install it, exit 69', () => {
  const env = { PATH: bin(['docker', 'node']) }

  const error = thrown(() => requireHostTools(['native', 'rsync'], env))

  expect(error.exitCode).toBe(69)
  expect(error.line()).toBe(
    'rsync not found on this host; install it (apt-get install rsync / brew install rsync)',
  )
})

test('Given rsync on PATH (through a symlink, in a later folder), when an rsync sync is checked, then it passes', () => {
  const tools = bin(['rsync-3.2'])
  const links = bin([])
  symlinkSync(path.join(tools, 'rsync-3.2'), path.join(links, 'rsync'))
  const env = { PATH: ['', bin(['docker']), links].join(path.delimiter) }

  expect(() => requireHostTools(['rsync', 'rsync'], env)).not.toThrow()
})

test('Given a PATH with no tools at all, when only native syncs are checked, then nothing is required', () => {
  expect(() => requireHostTools(['native', 'native_osx'], { PATH: bin([]) })).not.toThrow()
})

test('Given a unison sync and no unison, when checked, then the line names unison', () => {
  const error = thrown(() => requireHostTools(['unison'], { PATH: bin(['rsync']) }))

  expect(error.line()).toBe(
    'unison not found on this host; install it (apt-get install unison / brew install unison)',
  )
})

test('Given an rsync that is not executable, when checked, then it does not count', () => {
  const dir = bin([])
  writeFileSync(path.join(dir, 'rsync'), '', { mode: 0o644 })

  expect(thrown(() => requireHostTools(['rsync'], { PATH: dir })).exitCode).toBe(69)
})
