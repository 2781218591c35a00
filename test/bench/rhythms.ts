/**
 * Edit rhythms: the same edit-to-visible measurement at the spacings people and tools produce.
 * A watcher may delay an event that follows another one closely (@parcel/watcher waits a fixed
 * 50 ms for any event within 500 ms of the last), so isolated edits alone hide it (issue 12).
 * Spaced edits are written on a fixed schedule, whether or not the previous one has arrived yet;
 * a save writes several files at once and counts until the last of them is visible.
 */
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Observer } from './observer.js'
import { sleep } from './stats.js'

export type Rhythm =
  | { key: string; kind: 'spaced'; spacingMs: number; label: string }
  | { key: string; kind: 'save'; files: number; label: string }

export const RHYTHMS: readonly Rhythm[] = [
  { key: 'isolated', kind: 'spaced', spacingMs: 1000, label: 'isolated edits, 1 s apart' },
  { key: '300ms', kind: 'spaced', spacingMs: 300, label: 'edits 300 ms apart' },
  { key: '100ms', kind: 'spaced', spacingMs: 100, label: 'edits 100 ms apart' },
  { key: 'save-3', kind: 'save', files: 3, label: 'saves of 3 files at once, to the last' },
  { key: 'save-10', kind: 'save', files: 10, label: 'saves of 10 files at once, to the last' },
]

/** Saves follow each other this far apart: each is a burst of its own. */
const SAVE_SPACING_MS = 1000
/** Before each rhythm: no event of the previous one is still within a watcher's window. */
const SETTLE_MS = 1000

/** How many measured samples of each rhythm, and how many leading ones are dropped. */
export function rhythmCounts(quick: boolean): {
  spaced: number
  isolated: number
  saves: number
  warm: number
} {
  return quick
    ? { isolated: 10, spaced: 30, saves: 10, warm: 2 }
    : { isolated: 40, spaced: 100, saves: 40, warm: 3 }
}

/** Files each rhythm needs (distinct: the observer waits on a file's name). */
export function filesNeeded(quick: boolean): number {
  const c = rhythmCounts(quick)
  return RHYTHMS.reduce((sum, r) => {
    if (r.kind === 'save') return sum + (c.saves + c.warm) * r.files
    return sum + (r.spacingMs >= 1000 ? c.isolated : c.spaced) + c.warm
  }, 0)
}

export interface RhythmResult {
  samples: number[]
  misses: number
}

export interface RhythmTarget {
  /** The host folder edits go to. */
  dir: string
  observer: Observer
  timeoutMs: number
}

let editNo = 0

function content(): string {
  editNo++
  return `// rhythm edit ${editNo}\n${'x'.repeat(100 + ((editNo * 37) % 900))}\n`
}

/** Runs one rhythm on `files` (taken from the front of the list, which it shortens). */
export async function runRhythm(
  rhythm: Rhythm,
  target: RhythmTarget,
  files: string[],
  quick: boolean,
): Promise<RhythmResult> {
  const c = rhythmCounts(quick)
  await sleep(SETTLE_MS)
  if (rhythm.kind === 'spaced') {
    const n = (rhythm.spacingMs >= 1000 ? c.isolated : c.spaced) + c.warm
    const start = performance.now() + 20
    const pending: Promise<number | undefined>[] = []
    for (let i = 0; i < n; i++) {
      const rel = files.shift()
      if (rel === undefined) throw new Error('not enough files to edit')
      const due = start + i * rhythm.spacingMs
      const wait = due - performance.now()
      if (wait > 0) await sleep(wait)
      const arrival = target.observer.expect(rel, 'write', target.timeoutMs)
      const t0 = performance.now()
      await writeFile(path.join(target.dir, rel), content())
      pending.push(arrival.then((at) => (at === undefined ? undefined : at - t0)))
    }
    return collect(await Promise.all(pending), c.warm)
  }
  const results: (number | undefined)[] = []
  for (let i = 0; i < c.saves + c.warm; i++) {
    const rels = files.splice(0, rhythm.files)
    if (rels.length < rhythm.files) throw new Error('not enough files to edit')
    const started = performance.now()
    const all = target.observer.expectAll(rels.map((p) => ({ path: p, kind: 'write' as const })))
    const t0 = performance.now()
    await Promise.all(rels.map((rel) => writeFile(path.join(target.dir, rel), content())))
    const { last, missing } = await all.wait(target.timeoutMs)
    results.push(missing.length > 0 || last === undefined ? undefined : last - t0)
    const rest = SAVE_SPACING_MS - (performance.now() - started)
    if (rest > 0) await sleep(rest)
  }
  return collect(results, c.warm)
}

function collect(latencies: (number | undefined)[], warm: number): RhythmResult {
  const measured = latencies.slice(warm)
  return {
    samples: measured.filter((x): x is number => x !== undefined),
    misses: latencies.filter((x) => x === undefined).length,
  }
}
