import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, expect, test } from 'vitest'
import { HostFuzzer } from '../fuzz/ops.js'
import { Rng } from '../fuzz/random.js'
import { diffTrees, hostTree } from '../fuzz/tree.js'

const roots: string[] = []

afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true })
})

/** Runs `steps` fuzz operations of `seed` in a new folder; the operations and the tree. */
function fuzzed(seed: number, steps: number) {
  const root = mkdtempSync(path.join(tmpdir(), 'dsync-fuzz-unit-'))
  roots.push(root)
  const src = path.join(root, 'src')
  mkdirSync(src)
  const fuzzer = new HostFuzzer(src, new Rng(seed))
  const ops = Array.from({ length: steps }, () => fuzzer.step())
  return { ops, tree: hostTree(src) }
}

test('Given one seed twice, When the fuzz runs, Then it makes the same operations and the same tree', () => {
  const first = fuzzed(7, 400)
  const second = fuzzed(7, 400)

  expect(second.ops).toEqual(first.ops)
  expect([...second.tree]).toEqual([...first.tree])
  expect(first.tree.size).toBeGreaterThan(10)
})

test('Given two seeds, When the fuzz runs, Then the operations differ', () => {
  expect(fuzzed(1, 50).ops).not.toEqual(fuzzed(2, 50).ops)
})

test('Given 2,000 operations, Then every kind of change was made, and none was skipped', () => {
  const { ops } = fuzzed(42, 2000)
  const kinds = new Set(ops.map((op) => op.kind))
  for (const kind of [
    'create',
    'modify-same-size',
    'modify-other-size',
    'append',
    'truncate',
    'delete',
    'rename-file',
    'rename-folder',
    'mkdir',
    'mkdir-deep',
    'rm-r',
    'symlink-relative',
    'symlink-dangling',
    'symlink-folder',
    'chmod',
    'file-to-folder',
    'folder-to-file',
    'big-file',
  ]) {
    expect(kinds, kind).toContain(kind)
  }
  expect(ops.filter((op) => op.what.startsWith('(skipped')).map((op) => op.what)).toEqual([])
})

test('Given two trees, When compared, Then lost, stale and resurrected paths are told apart', () => {
  const host = new Map([
    ['same', 'f 644 1 a'],
    ['gone-from-app', 'd 755'],
    ['changed', 'f 755 1 b'],
  ])
  const app = new Map([
    ['same', 'f 644 1 a'],
    ['changed', 'f 644 1 b'],
    ['deleted-on-host', 'l -> x'],
    ['kept-by-app', 'f 644 1 c'],
  ])

  expect(diffTrees(host, app, (rel) => rel.startsWith('kept-'))).toEqual({
    lost: ['gone-from-app'],
    stale: ['changed'],
    resurrected: ['deleted-on-host'],
  })
})
