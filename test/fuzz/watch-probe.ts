/**
 * `node dist/test/fuzz/watch-probe.js [--ops N] [--seed S] [--backend B]`: the event source
 * alone under the fuzz's operations, without Docker. The seeded operations of the fuzz run on a
 * copy of its fixture in bursts (the same rhythm as engine.ts), while the daemon's event source
 * watches it. After each burst, once events are quiet, a probe file is written in every folder:
 * each must be reported as created at its own path within 2 s. A probe reported at another
 * path, or not at all, is a watch that went stale or was lost (events in that folder would not
 * reach the volume). A rescan (the source watching anew) is counted, not failed: it is how the
 * source recovers. Exit 1 on any stale or lost watch.
 */
import { cpSync, mkdtempSync, readdirSync, lstatSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { packageRoot } from '../../src/lib/paths.js'
import { watchTree, type WatchBackend, type WatchEvent } from '../../src/daemon/watch/index.js'
import { HostFuzzer } from './ops.js'
import { Rng } from './random.js'

const PROBE = '.dsync-probe'

function folders(root: string): string[] {
  const out: string[] = ['']
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(root, rel))) {
      const r = rel ? `${rel}/${name}` : name
      if (lstatSync(path.join(root, r)).isDirectory()) {
        out.push(r)
        walk(r)
      }
    }
  }
  walk('')
  return out
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      ops: { type: 'string', default: '1000' },
      seed: { type: 'string', default: '42' },
      backend: { type: 'string' },
    },
  })
  const total = Number(values.ops)
  const seed = Number(values.seed)
  const dir = mkdtempSync(path.join(tmpdir(), 'dsync-probe-'))
  const root = path.join(dir, 'src')
  cpSync(path.join(packageRoot, 'fixtures', 'e2e-fuzz', 'src'), root, { recursive: true })

  let lastEventAt = Date.now()
  let rescans = 0
  const seen = new Set<string>()
  const handle = await watchTree(root, {
    ignored: () => false,
    backend: values.backend as WatchBackend | undefined,
    onEvents: (events: WatchEvent[]) => {
      lastEventAt = Date.now()
      for (const e of events) {
        if (e.kind === 'rescan') {
          rescans++
          process.stderr.write(`  rescan: ${e.reason}\n`)
        } else if (e.kind === 'create' && e.rel.endsWith(PROBE)) seen.add(e.rel)
      }
    },
  })
  const rng = new Rng(seed)
  const fuzzer = new HostFuzzer(root, rng)
  let applied = 0
  let bursts = 0
  let failures = 0
  let probeRound = 0
  try {
    while (applied < total) {
      bursts++
      const size = Math.min(rng.int(1, 20), total - applied)
      const done: string[] = []
      for (let i = 0; i < size; i++) {
        if (i > 0) await sleep(rng.int(0, 50))
        const op = fuzzer.step()
        done.push(`${op.kind} ${op.what}`)
        applied++
      }
      // Quiet: no event for 300 ms.
      while (Date.now() - lastEventAt < 300) await sleep(50)
      probeRound++
      const name = `${PROBE}`
      const dirs = folders(root)
      seen.clear()
      for (const d of dirs) writeFileSync(path.join(root, d, name), `${probeRound}\n`)
      const want = new Set(dirs.map((d) => (d ? `${d}/${name}` : name)))
      const deadline = Date.now() + 2000
      while (Date.now() < deadline && [...want].some((p) => !seen.has(p))) await sleep(20)
      const missing = [...want].filter((p) => !seen.has(p))
      const strays = [...seen].filter((p) => !want.has(p))
      if (missing.length > 0 || strays.length > 0) {
        failures++
        process.stderr.write(
          `burst ${bursts}: ${missing.length} folder(s) not reported: ${missing.slice(0, 5).join(', ')}; ` +
            `${strays.length} probe(s) at a wrong path: ${strays.slice(0, 5).join(', ')}\n` +
            `  its operations:\n${done.map((d) => `    ${d}`).join('\n')}\n`,
        )
      }
      for (const d of dirs) rmSync(path.join(root, d, name), { force: true })
      while (Date.now() - lastEventAt < 100) await sleep(20)
    }
  } finally {
    await handle.close()
    rmSync(dir, { recursive: true, force: true })
  }
  process.stdout.write(
    `watch probe seed ${seed}: ${applied} ops, ${bursts} bursts, ${failures} with a stale or lost watch, ${rescans} rescans\n`,
  )
  process.exitCode = failures > 0 ? 1 : 0
}

await main()
