/**
 * `npm run fuzz -- --ops N --seed S [--project-dir D] [--out FILE] [--keep]`: the seeded
 * convergence fuzz (engine.ts) from the command line. Progress on stderr, the summary on stdout
 * and as JSON in --out; exit 1 on any failure. Ctrl-C removes what the run started (press it
 * again to leave at once).
 */
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { runFuzz } from './engine.js'

const USAGE = `usage: npm run fuzz -- --ops N --seed S [--project-dir D] [--out FILE] [--keep]

  --ops N           operations on the host tree (default 1000)
  --seed S          the seed: the same seed makes the same operations (default 1)
  --project-dir D   make the project in D (new or empty) instead of a temporary folder
  --out FILE        also write the summary as JSON to FILE
  --container-every K   the app container writes a file and a folder every K bursts (default 10)
  --keep            leave the project running after the run
`

function parse() {
  const { values } = parseArgs({
    options: {
      ops: { type: 'string', default: '1000' },
      seed: { type: 'string', default: '1' },
      'project-dir': { type: 'string' },
      out: { type: 'string' },
      'container-every': { type: 'string', default: '10' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  })
  if (values.help) {
    process.stdout.write(USAGE)
    process.exit(0)
  }
  const int = (name: string, value: string, min: number) => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < min) {
      process.stderr.write(`--${name} must be an integer of at least ${min}\n\n${USAGE}`)
      process.exit(64)
    }
    return n
  }
  return {
    ops: int('ops', values.ops, 1),
    seed: int('seed', values.seed, 0),
    projectDir: values['project-dir'],
    out: values.out,
    containerEvery: int('container-every', values['container-every'], 1),
    keep: values.keep,
  }
}

async function main(): Promise<number> {
  const args = parse()
  const started = performance.now()
  const log = (line: string) => {
    const s = ((performance.now() - started) / 1000).toFixed(1).padStart(6)
    process.stderr.write(`[${s}s] ${line}\n`)
  }
  const abort = new AbortController()
  const onSignal = (signal: NodeJS.Signals) => {
    if (abort.signal.aborted) process.exit(130)
    log(`${signal}: removing what this run started (${signal} again to leave it)`)
    abort.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  const summary = await runFuzz({ ...args, log, signal: abort.signal })
  const json = JSON.stringify(summary, null, 2)
  if (args.out) writeFileSync(args.out, `${json}\n`)
  const { convergeMs: c } = summary
  process.stdout.write(
    [
      `fuzz seed ${summary.seed}: ${summary.ops} ops in ${summary.bursts} bursts, ${summary.durationS} s`,
      `  converged within ${summary.convergeLimitMs} ms: ${summary.converged}/${summary.bursts}` +
        ` (late ${summary.late}, not converged ${summary.notConverged})`,
      `  converge ms: p50 ${c.p50}, p95 ${c.p95}, max ${c.max}`,
      `  lost ${summary.lost}, stale ${summary.stale}, resurrected ${summary.resurrected},` +
        ` missed ${summary.missed}, errors ${summary.errors},` +
        ` container files lost ${summary.containerFilesLost}/${summary.containerFilesWritten}`,
      ...summary.failures.map((f) => `  FAIL ${f}`),
      summary.ok ? 'ok' : 'FAILED',
      '',
    ].join('\n'),
  )
  if (abort.signal.aborted) return 130
  return summary.ok ? 0 : 1
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`fuzz: ${(error as Error).message}\n`)
    process.exit(1)
  },
)
