/**
 * Deterministic source trees for the benchmarks. A seeded PRNG decides every path and size, so
 * two runs (and two machines) measure the same tree. Trees are generated once into a cache folder
 * under os.tmpdir() keyed by their parameters, and copied from there for each use: benchmarks edit
 * their copies, never the cache.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { copyFile, unlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

/** Bump when the generator changes, so cached trees of the old shape are not reused. */
const GENERATOR = 1
const MiB = 1024 * 1024

export type TreeKey = 'src' | 'modules' | 'idle'
type Layout = 'src' | 'modules'

export interface TreeSpec {
  key: TreeKey
  layout: Layout
  files: number
  totalBytes: number
  minBytes: number
  maxBytes: number
  /** Spread of the log-normal size distribution. */
  sigma: number
  seed: number
}

export interface TreeFile {
  path: string
  size: number
}

export interface Tree {
  spec: TreeSpec
  /** Short name for tables: `2,000 files / 20 MB`. */
  label: string
  /** The cached, pristine tree: read it, copy it, never write into it. */
  root: string
  files: TreeFile[]
  dirs: number
  bytes: number
}

/** The three trees of issue 4, or a tenth of them for `--quick`. */
export function treeSpecs(quick: boolean): Record<TreeKey, TreeSpec> {
  const scale = quick ? 0.1 : 1
  return {
    src: {
      key: 'src',
      layout: 'src',
      files: Math.round(2_000 * scale),
      totalBytes: Math.round(20 * MiB * scale),
      minBytes: 200,
      maxBytes: 256 * 1024,
      sigma: 1.2,
      seed: 2_000,
    },
    modules: {
      key: 'modules',
      layout: 'modules',
      files: Math.round(30_000 * scale),
      totalBytes: Math.round(300 * MiB * scale),
      minBytes: 1024,
      maxBytes: MiB,
      sigma: 1.6,
      seed: 30_000,
    },
    idle: {
      key: 'idle',
      layout: 'modules',
      files: Math.round(100_000 * scale),
      totalBytes: Math.round(100 * MiB * scale),
      minBytes: 64,
      maxBytes: 16 * 1024,
      sigma: 1,
      seed: 100_000,
    },
  }
}

export function treeLabel(files: number, bytes: number): string {
  return `${files.toLocaleString('en-US')} files / ${Math.round(bytes / MiB)} MB`
}

export function treeCacheRoot(): string {
  return path.join(os.tmpdir(), 'dsync-bench-trees')
}

/** Returns the cached tree for `spec`, generating it first if needed. */
export function ensureTree(spec: TreeSpec, log: (line: string) => void): Tree {
  const key = `${spec.key}-${spec.files}f-${spec.totalBytes}b-s${spec.seed}-g${GENERATOR}`
  const dir = path.join(treeCacheRoot(), key)
  const manifestPath = path.join(dir, 'manifest.json')
  if (!existsSync(manifestPath)) {
    const started = performance.now()
    log(`generating the ${spec.key} tree (${treeLabel(spec.files, spec.totalBytes)}) into ${dir}`)
    // Generated beside the final folder and renamed into place: a run stopped half-way leaves
    // no folder that looks complete, and two runs at once do not mix their files.
    const tmp = `${dir}.tmp-${process.pid}-${Math.random().toString(16).slice(2, 8)}`
    try {
      const files = generate(spec, path.join(tmp, 'tree'))
      const manifest: Manifest = { spec, files: files.map((f) => [f.path, f.size]) }
      writeFileSync(path.join(tmp, 'manifest.json'), JSON.stringify(manifest))
      try {
        renameSync(tmp, dir)
      } catch (error) {
        if (!existsSync(manifestPath)) throw error
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true })
    }
    log(`generated ${spec.key} in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  }
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest
  const files = manifest.files.map(([p, size]) => ({ path: p, size }))
  const dirs = new Set(files.map((f) => path.posix.dirname(f.path)))
  const bytes = files.reduce((s, f) => s + f.size, 0)
  return {
    spec,
    label: treeLabel(files.length, bytes),
    root: path.join(dir, 'tree'),
    files,
    dirs: dirs.size,
    bytes,
  }
}

interface Manifest {
  spec: TreeSpec
  files: [string, number][]
}

// ---------------------------------------------------------------------------------------------
// Randomness

/** mulberry32: small, fast, and good enough to pick paths and sizes. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function normal(rand: () => number): number {
  const u = Math.max(rand(), 1e-12)
  const v = rand()
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
}

function pick<T>(rand: () => number, items: readonly T[]): T {
  const item = items[Math.floor(rand() * items.length)]
  if (item === undefined) throw new Error('pick from an empty list')
  return item
}

function weighted<T>(rand: () => number, items: readonly (readonly [T, number])[]): T {
  const total = items.reduce((s, [, w]) => s + w, 0)
  let r = rand() * total
  for (const [item, w] of items) {
    r -= w
    if (r <= 0) return item
  }
  const last = items.at(-1)
  if (last === undefined) throw new Error('weighted pick from an empty list')
  return last[0]
}

/** A deterministic partial Fisher-Yates shuffle: the first `count` indices of a permutation. */
export function sampleIndices(n: number, count: number, rand: () => number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i)
  const k = Math.min(count, n)
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rand() * (n - i))
    const a = idx[i] as number
    idx[i] = idx[j] as number
    idx[j] = a
  }
  return idx.slice(0, k)
}

const WORDS = (
  'app core util button modal form input list table grid card nav menu header footer layout ' +
  'route store state action reducer hook context theme style icon image api client server auth ' +
  'user session token cache queue worker job event stream buffer parser lexer token schema model ' +
  'view page panel chart graph tree node edge path file folder config env logger error result ' +
  'option value map set array object string number date time timer color shape point rect ' +
  'debounce throttle merge clone equal assign pick omit sort filter reduce compose pipe curry'
).split(' ')

/** Sizes from a log-normal distribution clamped to [min, max], scaled to hit the total. */
function sizes(spec: TreeSpec, rand: () => number): number[] {
  const z = Array.from({ length: spec.files }, () => normal(rand))
  const at = (mu: number) =>
    z.map((x) =>
      Math.min(spec.maxBytes, Math.max(spec.minBytes, Math.round(Math.exp(mu + spec.sigma * x)))),
    )
  const sum = (mu: number) => at(mu).reduce((s, v) => s + v, 0)
  let lo = Math.log(spec.minBytes) - 6
  let hi = Math.log(spec.maxBytes) + 6
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2
    if (sum(mid) < spec.totalBytes) lo = mid
    else hi = mid
  }
  return at((lo + hi) / 2)
}

/** Code-like text: realistic for rsync's delta and for the page cache. */
function contentPool(rand: () => number, bytes: number): Buffer {
  const parts: string[] = []
  let length = 0
  while (length < bytes) {
    const a = pick(rand, WORDS)
    const b = pick(rand, WORDS)
    const line =
      rand() < 0.5
        ? `export const ${a}${b.charAt(0).toUpperCase()}${b.slice(1)} = ${Math.floor(rand() * 1e6)}\n`
        : `  ${a}(${b}, { ${pick(rand, WORDS)}: ${rand() < 0.5 ? 'true' : `'${pick(rand, WORDS)}'`} })\n`
    parts.push(line)
    length += line.length
  }
  return Buffer.from(parts.join(''), 'utf8').subarray(0, bytes)
}

function slice(pool: Buffer, size: number, rand: () => number): Buffer {
  const offset = Math.floor(rand() * Math.max(1, pool.length - size))
  return pool.subarray(offset, offset + size)
}

// ---------------------------------------------------------------------------------------------
// Layouts

/** A `src/`-style tree: a few levels of feature folders, about a dozen files in each. */
function srcPaths(count: number, rand: () => number): string[] {
  const dirs: { path: string; depth: number }[] = [{ path: '', depth: 0 }]
  const wanted = Math.max(1, Math.round(count / 12))
  const taken = new Set<string>()
  while (dirs.length <= wanted) {
    const parents = dirs.filter((d) => d.depth < 5)
    const parent = pick(rand, parents)
    let name = pick(rand, WORDS)
    let candidate = parent.path ? `${parent.path}/${name}` : name
    for (let n = 2; taken.has(candidate); n++) {
      name = `${pick(rand, WORDS)}-${n}`
      candidate = parent.path ? `${parent.path}/${name}` : name
    }
    taken.add(candidate)
    dirs.push({ path: candidate, depth: parent.depth + 1 })
  }
  const exts: [string, number][] = [
    ['ts', 60],
    ['tsx', 15],
    ['css', 8],
    ['json', 7],
    ['md', 5],
    ['svg', 5],
  ]
  return Array.from({ length: count }, (_, i) => {
    const dir = pick(rand, dirs).path
    const name = `${pick(rand, WORDS)}-${i}.${weighted(rand, exts)}`
    return dir ? `${dir}/${name}` : name
  })
}

/**
 * A `node_modules`-style tree: packages of very unequal sizes, each with its manifest, readme,
 * lib/dist/types folders, and some nested node_modules.
 */
function modulesPaths(count: number, rand: () => number): string[] {
  const pkgCount = Math.max(1, Math.round(count / 50))
  const pkgs: { dir: string; subdirs: string[]; weight: number }[] = []
  for (let j = 0; j < pkgCount; j++) {
    const base =
      rand() < 0.2
        ? `@${pick(rand, WORDS)}/${pick(rand, WORDS)}-${j}`
        : `${pick(rand, WORDS)}-${pick(rand, WORDS)}-${j}`
    const parent = j > 0 && rand() < 0.12 ? pkgs[Math.floor(rand() * pkgs.length)] : undefined
    const dir = parent ? `${parent.dir}/node_modules/${base}` : `node_modules/${base}`
    pkgs.push({
      dir,
      subdirs: ['', 'lib', 'lib/internal', 'dist', 'dist/cjs', 'dist/esm', 'types', 'src'],
      weight: Math.exp(1.3 * normal(rand)),
    })
  }
  const paths: string[] = []
  for (const pkg of pkgs) {
    if (paths.length + 3 > count) break
    paths.push(`${pkg.dir}/package.json`, `${pkg.dir}/README.md`, `${pkg.dir}/index.js`)
  }
  const cumulative: number[] = []
  let total = 0
  for (const pkg of pkgs) {
    total += pkg.weight
    cumulative.push(total)
  }
  const exts: [string, number][] = [
    ['js', 55],
    ['d.ts', 15],
    ['js.map', 10],
    ['mjs', 8],
    ['cjs', 5],
    ['json', 4],
    ['md', 3],
  ]
  for (let i = paths.length; i < count; i++) {
    const r = rand() * total
    let lo = 0
    let hi = cumulative.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((cumulative[mid] ?? 0) < r) lo = mid + 1
      else hi = mid
    }
    const pkg = pkgs[lo] ?? pkgs[0]
    if (!pkg) throw new Error('no package')
    // Big packages grow deeper folders, as real ones do.
    if (rand() < 0.06) pkg.subdirs.push(`${pick(rand, pkg.subdirs.slice(1))}/${pick(rand, WORDS)}`)
    const sub = pick(rand, pkg.subdirs)
    const name = `${pick(rand, WORDS)}-${i}.${weighted(rand, exts)}`
    paths.push(sub ? `${pkg.dir}/${sub}/${name}` : `${pkg.dir}/${name}`)
  }
  return paths
}

function generate(spec: TreeSpec, root: string): TreeFile[] {
  const rand = prng(spec.seed)
  const paths = spec.layout === 'src' ? srcPaths(spec.files, rand) : modulesPaths(spec.files, rand)
  const fileSizes = sizes(spec, rand)
  const pool = contentPool(rand, Math.max(4 * MiB, spec.maxBytes * 2))
  const dirs = new Set(paths.map((p) => path.posix.dirname(p)))
  for (const dir of dirs) mkdirSync(path.join(root, dir), { recursive: true })
  return paths.map((p, i) => {
    const size = fileSizes[i] ?? spec.minBytes
    writeFileSync(path.join(root, p), slice(pool, size, rand))
    return { path: p, size }
  })
}

// ---------------------------------------------------------------------------------------------
// Edits and branch switches

/** Small files to edit, distinct, in a deterministic order. */
export function pickEditTargets(tree: Tree, count: number, seed: number): string[] {
  const small = tree.files.filter((f) => f.size <= 16 * 1024)
  if (small.length < count) {
    throw new Error(`the ${tree.spec.key} tree has ${small.length} small files, ${count} needed`)
  }
  return sampleIndices(small.length, count, prng(seed)).map((i) => (small[i] as TreeFile).path)
}

export interface BranchCounts {
  changed: number
  deleted: number
  created: number
}

export interface BranchPlan {
  changed: TreeFile[]
  deleted: TreeFile[]
  /** New files, all in folders that exist on both branches. */
  created: TreeFile[]
  seed: number
}

export type Expectation = { path: string; kind: 'write' | 'delete' }

export function planBranchSwitch(tree: Tree, counts: BranchCounts, seed: number): BranchPlan {
  const rand = prng(seed)
  const picked = sampleIndices(tree.files.length, counts.changed + counts.deleted, rand).map(
    (i) => tree.files[i] as TreeFile,
  )
  const changed = picked.slice(0, counts.changed)
  const deleted = picked.slice(counts.changed)
  // New files go into folders that already exist: an inotify reader adds a watch on a new folder
  // only after it sees it, and files created in between would never be reported to it.
  const kept = changed.length > 0 ? changed : tree.files
  const created = Array.from({ length: counts.created }, (_, i) => {
    const beside = pick(rand, kept)
    const dir = path.posix.dirname(beside.path)
    const name = `${pick(rand, WORDS)}-branch-${i}.js`
    return { path: dir === '.' ? name : `${dir}/${name}`, size: pick(rand, tree.files).size }
  })
  return { changed, deleted, created, seed }
}

/** What the app container must see for the switch to be complete, in either direction. */
export function branchExpectations(plan: BranchPlan, direction: 'forward' | 'back'): Expectation[] {
  const write = (f: TreeFile): Expectation => ({ path: f.path, kind: 'write' })
  const del = (f: TreeFile): Expectation => ({ path: f.path, kind: 'delete' })
  return direction === 'forward'
    ? [...plan.changed.map(write), ...plan.created.map(write), ...plan.deleted.map(del)]
    : [...plan.changed.map(write), ...plan.deleted.map(write), ...plan.created.map(del)]
}

/**
 * Applies the switch to `root` (forward: the other branch; back: the pristine tree again) with
 * a few writes in flight, keeping the event loop free for the observers' streams.
 */
export async function applyBranchSwitch(
  root: string,
  pristine: string,
  plan: BranchPlan,
  direction: 'forward' | 'back',
): Promise<void> {
  const jobs: (() => Promise<void>)[] = []
  if (direction === 'forward') {
    const rand = prng(plan.seed ^ 0x5bd1e995)
    const pool = contentPool(rand, 2 * MiB + 1)
    const write = (f: TreeFile) => {
      const size = Math.max(1, Math.round(f.size * (0.9 + rand() * 0.2)))
      const data = slice(pool, Math.min(size, pool.length), rand)
      jobs.push(() => writeFile(path.join(root, f.path), data))
    }
    plan.changed.forEach(write)
    plan.created.forEach(write)
    for (const f of plan.deleted) jobs.push(() => unlink(path.join(root, f.path)))
  } else {
    for (const f of [...plan.changed, ...plan.deleted]) {
      jobs.push(() => copyFile(path.join(pristine, f.path), path.join(root, f.path)))
    }
    for (const f of plan.created) jobs.push(() => unlink(path.join(root, f.path)))
  }
  let next = 0
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]
      if (job) await job()
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker))
}
