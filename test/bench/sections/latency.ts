/**
 * Edit-to-visible latency: a small file written on the host until the app container's inotify
 * reader reports it, interleaved edit by edit across the bind mount (the limit), a full-tree
 * rsync per change (docker-sync's rsync strategy), an rsync of only the changed path, and dsync,
 * on the src tree and on the node_modules tree. Then dsync and the bind mount at every edit
 * rhythm (rhythms.ts) on the node_modules tree; the targets are judged on the worst rhythm.
 */
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { detectComposeCli } from '../../../src/compose/cli.js'
import { run } from '../../../src/lib/exec.js'
import { APP_MOUNT, type DsyncProject } from '../dsync.js'
import { measureExec, Observer, Pipe } from '../observer.js'
import { ratio, rotate, sleep, summarize } from '../stats.js'
import { pickEditTargets, prng, type Tree } from '../trees.js'
import { copyTree, rsyncFull, rsyncPaths, Scope, tarInto, type Ctx } from '../context.js'
import { filesNeeded, RHYTHMS, runRhythm, type RhythmResult } from '../rhythms.js'

type Mode = 'bind' | 'rsync-full' | 'rsync-path' | 'dsync'
const MODES: readonly Mode[] = ['bind', 'rsync-full', 'rsync-path', 'dsync']

const WHAT: Record<Mode, string> = {
  bind: 'edit-to-visible: bind mount (the limit)',
  'rsync-full': 'edit-to-visible: full-tree rsync per change (docker-sync)',
  'rsync-path': 'edit-to-visible: rsync of the changed path over docker exec',
  dsync: 'edit-to-visible: dsync (rsync strategy)',
}

const TIMEOUT: Record<Mode, number> = {
  bind: 5_000,
  'rsync-full': 60_000,
  'rsync-path': 30_000,
  dsync: 10_000,
}

interface Subject {
  mode: Mode
  tree: Tree
  /** The host folder the edits go to. */
  dir: string
  observer: Observer
  /** What the host does after the write (a baseline's sync); dsync's daemon does it alone. */
  sync?: (rel: string) => Promise<void>
  targets: string[]
  samples: number[]
  misses: number
}

export async function latency(ctx: Ctx): Promise<void> {
  const edits = ctx.quick ? 15 : 50
  const warm = ctx.quick ? 2 : 3
  const scope = new Scope()
  try {
    const trees = [ctx.tree('src'), ctx.tree('modules')]
    const subjects: Subject[] = []
    const skipped = new Map<string, string>()
    let calibrationContainer: string | undefined
    for (const tree of trees) {
      ctx.check()
      const targets = pickEditTargets(tree, MODES.length * (edits + warm), tree.spec.seed + 7)
      const slice = (m: Mode) => {
        const i = MODES.indexOf(m) * (edits + warm)
        return targets.slice(i, i + edits + warm)
      }
      const make = (mode: Mode, dir: string, observer: Observer, sync?: Subject['sync']) =>
        subjects.push({
          mode,
          tree,
          dir,
          observer,
          sync,
          targets: slice(mode),
          samples: [],
          misses: 0,
        })

      ctx.log(`latency: setting up the bind mount and the rsync baselines on ${tree.label}`)
      const bindDir = scope.add(await copyTree(ctx, tree, `lat-${tree.spec.key}-bind`)).dir
      const bindApp = scope.add(await ctx.engine.container('lat-bind', [`${bindDir}:/app`]))
      calibrationContainer ??= bindApp.name
      const bindObs = await Observer.start(bindApp.name, '/app')
      scope.push(() => bindObs.stop())
      make('bind', bindDir, bindObs)

      const rsyncDir = scope.add(await copyTree(ctx, tree, `lat-${tree.spec.key}-rsync`)).dir
      const vol = scope.add(await ctx.engine.volume('lat-rsync'))
      const sidecar = scope.add(await ctx.engine.container('lat-sidecar', [`${vol.name}:/data`]))
      const rsyncApp = scope.add(await ctx.engine.container('lat-app', [`${vol.name}:/app`]))
      await tarInto(rsyncDir, sidecar.name)
      const rsyncObs = await Observer.start(rsyncApp.name, '/app')
      scope.push(() => rsyncObs.stop())
      make('rsync-full', rsyncDir, rsyncObs, () => rsyncFull(rsyncDir, sidecar.name))
      make('rsync-path', rsyncDir, rsyncObs, (rel) => rsyncPaths(rsyncDir, sidecar.name, [rel]))

      const reason = ctx.dsync.need('up', 'sync')
      if (reason) {
        skipped.set(tree.spec.key, reason)
        continue
      }
      ctx.log(`latency: dsync compose up on ${tree.label}`)
      const p: DsyncProject = scope.add(
        await ctx.dsync.project(`lat-${tree.spec.key}`, ctx.engine.image, tree.root),
      )
      const up = await ctx.dsync.up(p)
      ctx.log(`latency: up ${up.ok ? 'returned' : 'failed'} in ${(up.ms / 1000).toFixed(1)} s`)
      const mount = up.ok ? await ctx.dsync.checkAppMount(p, tree.files[0]?.path ?? '') : undefined
      const app = up.ok ? await ctx.dsync.appContainer(p) : undefined
      if (!up.ok || mount || !app) {
        skipped.set(
          tree.spec.key,
          up.ok ? (mount ?? 'no app container') : `up failed (${up.reason})`,
        )
        continue
      }
      if (!ctx.dsync.need('flush')) await ctx.dsync.flush(p)
      const dsyncObs = await Observer.start(app, APP_MOUNT)
      scope.push(() => dsyncObs.stop())
      make('dsync', p.src, dsyncObs)
    }

    const rand = prng(4242)
    const measure = async (s: Subject, i: number) => {
      const rel = s.targets[i]
      if (rel === undefined) return
      const content = `// edit ${s.mode} ${i}\n${'x'.repeat(100 + Math.floor(rand() * 900))}\n`
      const arrival = s.observer.expect(rel, 'write', TIMEOUT[s.mode])
      const t0 = performance.now()
      await writeFile(path.join(s.dir, rel), content)
      if (s.sync) await s.sync(rel)
      const at = await arrival
      if (at === undefined) s.misses++
      else if (i >= warm) s.samples.push(at - t0)
    }
    ctx.log(`latency: ${edits} edits (+${warm} warm-up) x ${subjects.length} subjects, interleaved`)
    // The observer's own pipe and the cost of one exec, sampled once per round, interleaved too.
    const pipe = calibrationContainer ? await Pipe.start(calibrationContainer) : undefined
    if (pipe) scope.push(() => pipe.stop())
    const pipeMs: number[] = []
    const execMs: number[] = []
    for (let i = 0; i < edits + warm; i++) {
      for (const s of rotate(subjects, i)) {
        ctx.check()
        await measure(s, i)
        await sleep(5)
      }
      if (pipe && calibrationContainer && i >= warm) {
        pipeMs.push(await pipe.ping())
        execMs.push(await measureExec(calibrationContainer))
      }
    }
    ctx.results.add({
      section: 'latency',
      what: 'observer pipe, one way (docker exec -i cat echo / 2)',
      unit: 'ms',
      summary: summarize(pipeMs),
      samples: pipeMs,
      note: 'inside every latency figure; the bind mount row is the whole observer floor',
    })
    ctx.results.add({
      section: 'latency',
      what: 'one docker exec, start to exit (the floor of an exec per change)',
      unit: 'ms',
      summary: summarize(execMs),
      samples: execMs,
    })

    for (const tree of trees) {
      for (const mode of MODES) {
        const s = subjects.find((x) => x.tree === tree && x.mode === mode)
        if (!s) {
          const why = skipped.get(tree.spec.key) ?? 'not set up'
          ctx.results.skip('latency', WHAT[mode], why, tree.label)
          continue
        }
        const overflow = s.observer.overflowed ? '; the inotify queue overflowed' : ''
        ctx.results.add({
          section: 'latency',
          tree: tree.label,
          what: WHAT[mode],
          unit: 'ms',
          summary: summarize(s.samples),
          samples: s.samples,
          note: s.misses > 0 ? `${s.misses} edits never became visible${overflow}` : undefined,
        })
      }
    }
    const p50 = (tree: Tree, mode: Mode) =>
      summarize(subjects.find((x) => x.tree === tree && x.mode === mode)?.samples ?? [])
    const [small, large] = trees as [Tree, Tree]
    for (const mode of MODES) {
      const r = ratio(p50(large, mode)?.p50, p50(small, mode)?.p50)
      if (r !== undefined) {
        ctx.results.add({
          section: 'latency',
          what: `${WHAT[mode].replace('edit-to-visible: ', '')}: p50 large tree / src tree`,
          unit: 'x',
          value: r,
        })
      }
    }
    const dsyncLarge = subjects.find((x) => x.tree === large && x.mode === 'dsync')
    const why = skipped.get(large.spec.key) ?? skipped.get(small.spec.key)
    ctx.results.judge(
      'latency-scale',
      ratio(p50(large, 'dsync')?.p50, p50(small, 'dsync')?.p50),
      why,
    )

    // Every rhythm on the large tree: the bind mount (the floor) and dsync, in turn.
    const rhythmSubjects = (['bind', 'dsync'] as const).flatMap((mode) => {
      const s = subjects.find((x) => x.tree === large && x.mode === mode)
      return s ? [s] : []
    })
    const files = pickEditTargets(large, filesNeeded(ctx.quick), large.spec.seed + 11)
    const worst: { p50?: number; p95?: number; p50At?: string; p95At?: string } = {}
    let missed: string | undefined
    for (const [i, rhythm] of RHYTHMS.entries()) {
      const measured = new Map<Mode, RhythmResult>()
      for (const s of rotate(rhythmSubjects, i)) {
        ctx.check()
        ctx.log(`latency: ${s.mode}, ${rhythm.label}`)
        const target = { dir: s.dir, observer: s.observer, timeoutMs: TIMEOUT[s.mode] }
        measured.set(s.mode, await runRhythm(rhythm, target, [...files], ctx.quick))
      }
      for (const s of rhythmSubjects) {
        const r = measured.get(s.mode)
        if (!r) continue
        const summary = summarize(r.samples)
        ctx.results.add({
          section: 'latency',
          tree: large.label,
          what: `${WHAT[s.mode]}, ${rhythm.label}`,
          unit: 'ms',
          summary,
          samples: r.samples,
          note: r.misses > 0 ? `${r.misses} edits never became visible` : undefined,
        })
        if (s.mode !== 'dsync') continue
        if (r.misses > 0) missed ??= `${r.misses} edits never became visible (${rhythm.label})`
        if (summary && summary.p50 > (worst.p50 ?? -1)) {
          worst.p50 = summary.p50
          worst.p50At = rhythm.label
        }
        if (summary && summary.p95 > (worst.p95 ?? -1)) {
          worst.p95 = summary.p95
          worst.p95At = rhythm.label
        }
      }
    }
    const noDsync = dsyncLarge ? undefined : (why ?? 'dsync did not run on the large tree')
    ctx.results.judge(
      'latency-p50',
      missed ? undefined : worst.p50,
      missed ?? noDsync ?? `worst of ${RHYTHMS.length} rhythms: ${worst.p50At}`,
    )
    ctx.results.judge(
      'latency-p95',
      missed ? undefined : worst.p95,
      missed ?? noDsync ?? `worst of ${RHYTHMS.length} rhythms: ${worst.p95At}`,
    )
    ctx.results.note(await whatRan())
    const twoWay = 'no two-way strategy is benchmarked yet (unison, once it exists)'
    ctx.results.judge('latency-two-way-p50', undefined, twoWay)
    ctx.results.judge('latency-two-way-p95', undefined, twoWay)
  } finally {
    await scope.close()
  }
}

/** Which compose dsync drives and which engine it drives it on: the figures depend on both. */
async function whatRan(): Promise<string> {
  const [cli, engine] = await Promise.all([
    detectComposeCli(process.env).then(
      (c) =>
        `${c.file === 'docker' ? 'docker compose' : 'docker-compose'} ${c.version} (v${c.major})`,
      (error: unknown) => `no compose (${(error as Error).message})`,
    ),
    run('docker', ['version', '--format', '{{.Server.Version}}'], { reject: false }).then((r) =>
      r.exitCode === 0 ? r.stdout.trim() : 'unknown',
    ),
  ])
  const forced = process.env.DSYNC_COMPOSE ? `, DSYNC_COMPOSE=${process.env.DSYNC_COMPOSE}` : ''
  return `latency: dsync ran ${cli}${forced} on Docker Engine ${engine}`
}
