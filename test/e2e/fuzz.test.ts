/**
 * The seeded convergence fuzz of issue 8 in the e2e suite: 1,000 operations of a fixed seed on
 * the host tree of an rsync project, through the same engine as `npm run fuzz` (test/fuzz).
 * After every burst the app container must have the host's tree within 2 s without a flush,
 * the files the app container wrote must survive, and at the end status must show missed 0
 * and errors 0. About two minutes on two cores.
 */
import { expect, test } from 'vitest'
import { runFuzz } from '../fuzz/engine.js'

/** Fixed, so a failure here replays with `npm run fuzz -- --ops 1000 --seed 42`. */
const SEED = 42
const OPS = 1000

test('1,000 seeded operations: every burst arrives within 2 s without flush, nothing lost', async () => {
  // Given an rsync project brought up by dsync (fixtures/e2e-fuzz)
  // When 1,000 seeded operations run on the host in bursts, the app container writing its own
  // files every 10 bursts
  const summary = await runFuzz({
    ops: OPS,
    seed: SEED,
    log: (line) => process.stderr.write(`fuzz e2e: ${line}\n`),
  })
  process.stderr.write(`fuzz e2e: ${JSON.stringify(summary)}\n`)

  // Then every burst converged within 2 s, and nothing was lost, stale, resurrected or missed
  expect(summary.failures).toEqual([])
  expect(summary).toMatchObject({
    ops: OPS,
    late: 0,
    notConverged: 0,
    lost: 0,
    stale: 0,
    resurrected: 0,
    missed: 0,
    errors: 0,
    containerFilesLost: 0,
  })
  expect(summary.converged).toBe(summary.bursts)
  // And the run really exercised the container-written files
  expect(summary.containerFilesWritten).toBeGreaterThan(0)
}, 420_000)
