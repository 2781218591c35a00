/**
 * `npm run bench [-- --quick] [-- --only <section>]`: the benchmarks of issue 4, in one run on
 * the real engine, baselines and dsync interleaved. Progress goes to stderr; the table to stdout
 * and, with the machine it ran on, to bench/results/<date>-<commit>.{json,md}.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { run } from '../../src/lib/exec.js'
import { packageRoot } from '../../src/lib/paths.js'
import type { Ctx } from './context.js'
import { Dsync } from './dsync.js'
import { benchImage, Engine, initClock, Resources } from './engine.js'
import {
  machineInfo,
  markdown,
  Results,
  SECTIONS,
  shortCommit,
  writeReport,
  type Report,
  type SectionName,
} from './report.js'
import { branch } from './sections/branch.js'
import { config } from './sections/config.js'
import { idle } from './sections/idle.js'
import { initial } from './sections/initial.js'
import { latency } from './sections/latency.js'
import { ensureTree, treeSpecs, type Tree, type TreeKey } from './trees.js'

const USAGE = `usage: npm run bench -- [--quick] [--only <section>[,<section>...]]

  --quick         trees a tenth of the size and fewer repetitions (under 5 minutes)
  --only NAME     run only these sections: ${SECTIONS.join(', ')}
`

const RUNNERS: Record<SectionName, (ctx: Ctx) => Promise<void>> = {
  config,
  latency,
  initial,
  branch,
  idle,
}

function parse(): { quick: boolean; only: SectionName[] | undefined } {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  })
  if (values.help) {
    process.stdout.write(USAGE)
    process.exit(0)
  }
  const only = values.only
    ?.flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean)
  for (const name of only ?? []) {
    if (!(SECTIONS as readonly string[]).includes(name)) {
      process.stderr.write(`unknown section ${name}; one of ${SECTIONS.join(', ')}\n\n${USAGE}`)
      process.exit(64)
    }
  }
  return { quick: values.quick, only: only as SectionName[] | undefined }
}

async function preflight(): Promise<void> {
  const info = await run('docker', ['info', '--format', '{{.ServerVersion}}'], { reject: false })
  if (info.exitCode !== 0) {
    throw new Error('no Docker engine answers; run scripts/ci/docker-engine.sh first')
  }
  for (const [tool, args] of [
    ['docker-compose', ['version', '--short']],
    ['rsync', ['--version']],
    ['inotifywait', ['--help']],
    ['tar', ['--version']],
  ] as const) {
    try {
      await run(tool, args, { reject: false })
    } catch {
      throw new Error(`${tool} is not installed; run scripts/ci/docker-engine.sh first`)
    }
  }
}

async function main(): Promise<number> {
  const args = parse()
  const started = performance.now()
  const loadStart = os.loadavg()[0] ?? 0
  const log = (line: string) => {
    const s = ((performance.now() - started) / 1000).toFixed(1).padStart(6)
    process.stderr.write(`[${s}s] ${line}\n`)
  }
  const runId = randomBytes(3).toString('hex')
  const tmp = mkdtempSync(path.join(os.tmpdir(), `dsync-bench-${runId}-`))
  const res = new Resources(runId, log)
  // Registered first, so removed last: dsync projects inside it go `down` before.
  res.dir(tmp)

  let interrupted = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130)
    interrupted = true
    log(`${signal}: removing what this run created (${signal} again to leave it)`)
    void res.cleanup().finally(() => process.exit(130))
    // The section running now may fail on its vanished containers: main's cleanup joins this one.
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  let failed = false
  try {
    await preflight()
    await initClock()
    const [machine, commit, image] = await Promise.all([
      machineInfo(),
      shortCommit(),
      benchImage(log),
    ])
    log(`run ${runId}${args.quick ? ' (--quick)' : ''}; app image: ${image.source}`)
    const engine = new Engine(runId, res, image.tag)
    const dsync = new Dsync(runId, path.join(tmp, 'state'), tmp, res, log)
    const results = new Results()
    const specs = treeSpecs(args.quick)
    const trees = new Map<TreeKey, Tree>()
    const tree = (key: TreeKey) => {
      let t = trees.get(key)
      if (!t) {
        t = ensureTree(specs[key], log)
        trees.set(key, t)
      }
      return t
    }
    const check = () => {
      if (interrupted) throw new Error('interrupted')
    }
    const ctx: Ctx = {
      quick: args.quick,
      runId,
      tmp,
      res,
      engine,
      dsync,
      results,
      tree,
      log,
      check,
    }

    log('probing the dsync CLI')
    await dsync.probe(image.tag)
    for (const [cap, state] of Object.entries(dsync.capabilities())) log(`  dsync ${cap}: ${state}`)

    const sections = SECTIONS.filter((s) => !args.only || args.only.includes(s))
    for (const section of sections) {
      log(`section ${section}`)
      try {
        await RUNNERS[section](ctx)
      } catch (error) {
        if (interrupted) break
        failed = true
        const message = (error as Error).message.split('\n')[0] ?? String(error)
        log(`section ${section} failed: ${message}`)
        results.note(`section ${section} failed: ${message}`)
        results.naSection(section, `section failed: ${message}`)
      }
    }

    // Interrupted: the figures are incomplete and measured against vanishing containers.
    check()
    const report: Report = {
      date: new Date().toISOString().slice(0, 10),
      commit,
      quick: args.quick,
      only: args.only,
      durationS: (performance.now() - started) / 1000,
      load: { start: loadStart, end: os.loadavg()[0] ?? 0 },
      machine,
      image: image.source,
      trees: Object.fromEntries(
        [...trees].map(([k, t]) => [
          k,
          { label: t.label, files: t.files.length, dirs: t.dirs, bytes: t.bytes },
        ]),
      ),
      dsync: dsync.capabilities(),
      rows: results.rows,
      targets: results.targetList(sections),
      notes: results.notes,
    }
    const suffix = `${args.quick ? '-quick' : ''}${args.only ? `-only-${args.only.join('+')}` : ''}`
    const files = writeReport(path.join(packageRoot, 'bench', 'results'), report, suffix)
    process.stdout.write(markdown(report))
    log(
      `wrote ${path.relative(process.cwd(), files.json)} and ${path.relative(process.cwd(), files.md)}`,
    )
  } finally {
    // After Ctrl-C this joins the cleanup the signal handler started.
    if (!interrupted) log('cleaning up')
    await res.cleanup()
  }
  return interrupted ? 130 : failed ? 1 : 0
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${(error as Error).message ?? String(error)}\n`)
    process.exit(1)
  },
)
