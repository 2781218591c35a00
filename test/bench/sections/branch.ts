/**
 * A branch switch on the node_modules tree: 5,000 files changed, 500 deleted, 500 created, all
 * at once; the time until the app container has seen every one of them, for dsync and for one
 * raw full-tree rsync run right after the switch. Forward and back alternate, as do who goes
 * first. At the end, checksummed listings of host and volume must match: no lost file.
 */
import { APP_MOUNT, type DsyncProject } from '../dsync.js'
import { Observer } from '../observer.js'
import { ratio, rotate, summarize } from '../stats.js'
import {
  applyBranchSwitch,
  branchExpectations,
  planBranchSwitch,
  type BranchCounts,
} from '../trees.js'
import { compareTrees, copyTree, rsyncFull, Scope, tarInto, type Ctx } from '../context.js'

type Who = 'raw' | 'dsync'

export async function branch(ctx: Ctx): Promise<void> {
  const tree = ctx.tree('modules')
  const counts: BranchCounts = ctx.quick
    ? { changed: 500, deleted: 50, created: 50 }
    : { changed: 5000, deleted: 500, created: 500 }
  const reps = ctx.quick ? 2 : 4
  const waitMs = ctx.quick ? 60_000 : 180_000
  const plan = planBranchSwitch(tree, counts, 77)
  const label = `${counts.changed} changed, ${counts.deleted} deleted, ${counts.created} created`
  const scope = new Scope()
  try {
    ctx.log(`branch: setting up the raw rsync baseline on ${tree.label}`)
    const rawDir = scope.add(await copyTree(ctx, tree, 'branch-raw')).dir
    const vol = scope.add(await ctx.engine.volume('branch'))
    const sidecar = scope.add(await ctx.engine.container('branch-sidecar', [`${vol.name}:/data`]))
    const rawApp = scope.add(await ctx.engine.container('branch-app', [`${vol.name}:/app`]))
    await tarInto(rawDir, sidecar.name)
    const rawObs = await Observer.start(rawApp.name, '/app')
    scope.push(() => rawObs.stop())

    let dsyncReason = ctx.dsync.need('up', 'sync')
    let dsync: { project: DsyncProject; app: string; observer: Observer } | undefined
    if (!dsyncReason) {
      ctx.log(`branch: dsync compose up on ${tree.label}`)
      const p = scope.add(await ctx.dsync.project('branch', ctx.engine.image, tree.root))
      const up = await ctx.dsync.up(p)
      const mount = up.ok ? await ctx.dsync.checkAppMount(p, tree.files[0]?.path ?? '') : undefined
      const app = up.ok ? await ctx.dsync.appContainer(p) : undefined
      if (!up.ok) dsyncReason = `up failed (${up.reason})`
      else if (mount || !app) dsyncReason = mount ?? 'no app container'
      else {
        if (!ctx.dsync.need('flush')) await ctx.dsync.flush(p)
        const observer = await Observer.start(app, APP_MOUNT)
        scope.push(() => observer.stop())
        dsync = { project: p, app, observer }
      }
    }

    const converged: Record<Who, number[]> = { raw: [], dsync: [] }
    const fromStart: Record<Who, number[]> = { raw: [], dsync: [] }
    const applyMs: number[] = []
    const rsyncMs: number[] = []
    const notes: string[] = []
    let dsyncMissing = 0

    const once = async (who: Who, direction: 'forward' | 'back') => {
      const root = who === 'raw' ? rawDir : dsync?.project.src
      const observer = who === 'raw' ? rawObs : dsync?.observer
      if (!root || !observer) return
      const expected = branchExpectations(plan, direction)
      const pending = observer.expectAll(expected)
      const t0 = performance.now()
      await applyBranchSwitch(root, tree.root, plan, direction)
      const applied = performance.now()
      applyMs.push(applied - t0)
      if (who === 'raw') {
        await rsyncFull(rawDir, sidecar.name)
        rsyncMs.push(performance.now() - applied)
      }
      // rsync has returned: whatever has not arrived within 10 s more never will.
      const { last, missing } = await pending.wait(who === 'raw' ? 10_000 : waitMs)
      if (missing.length > 0) {
        const overflow = observer.overflowed ? ' (the inotify queue overflowed)' : ''
        notes.push(
          `${who} ${direction}: ${missing.length} of ${expected.length} changes never seen by the app container${overflow}`,
        )
        if (who === 'dsync') dsyncMissing += missing.length
        return
      }
      if (last === undefined) return
      converged[who].push(Math.max(0, last - applied))
      fromStart[who].push(last - t0)
    }

    ctx.log(`branch: ${reps} switches (${label}), raw rsync and dsync interleaved`)
    for (let r = 0; r < reps; r++) {
      const direction = r % 2 === 0 ? 'forward' : 'back'
      for (const who of rotate<Who>(['raw', 'dsync'], r)) {
        ctx.check()
        await once(who, direction)
      }
    }

    const what = {
      raw: 'branch switch: one raw rsync -a --delete after it (reference)',
      dsync: 'branch switch: dsync',
    }
    ctx.results.add({
      section: 'branch',
      tree: tree.label,
      what: `branch switch written on the host (${label})`,
      unit: 'ms',
      summary: summarize(applyMs),
    })
    ctx.results.add({
      section: 'branch',
      tree: tree.label,
      what: 'branch switch: raw rsync wall time',
      unit: 'ms',
      summary: summarize(rsyncMs),
    })
    for (const who of ['raw', 'dsync'] as const) {
      if (who === 'dsync' && !dsync) {
        ctx.results.skip('branch', what.dsync, dsyncReason ?? 'not set up', tree.label)
        continue
      }
      ctx.results.add({
        section: 'branch',
        tree: tree.label,
        what: `${what[who]}: all seen in the app, after the switch was written`,
        unit: 'ms',
        summary: summarize(converged[who]),
        samples: converged[who],
        note: `p50 from the start of the switch: ${summarize(fromStart[who])?.p50.toFixed(0) ?? '-'} ms`,
      })
    }
    const r = ratio(summarize(converged.dsync)?.p50, summarize(converged.raw)?.p50)
    if (r !== undefined) {
      ctx.results.add({
        section: 'branch',
        tree: tree.label,
        what: 'branch switch: dsync / raw rsync, p50',
        unit: 'x',
        value: r,
      })
    }
    for (const n of notes) ctx.results.note(`branch: ${n}`)

    // The end state: checksummed listings of each host folder and its volume must match.
    const fromTree = new Set([...tree.files, ...plan.created].map((f) => f.path))
    const verify = async (who: Who, hostDir: string, container: string) => {
      const c = await compareTrees(hostDir, container, '/app')
      // A file of the tree still in the volume but gone from the host is a lost delete; any
      // other extra file is the tool's own (a canary) and only reported.
      const lostDeletes = c.extra.filter((p) => fromTree.has(p))
      const others = c.extra.filter((p) => !fromTree.has(p))
      const lost = c.missing.length + c.stale.length + lostDeletes.length
      const detail = [
        `${c.missing.length} missing`,
        `${c.stale.length} stale`,
        `${lostDeletes.length} not deleted`,
        others.length > 0 ? `${others.length} extra (${others.slice(0, 3).join(', ')})` : '',
      ].filter(Boolean)
      ctx.results.add({
        section: 'branch',
        tree: tree.label,
        what: `branch switch: ${who} files lost or stale at the end (of ${c.files})`,
        unit: 'count',
        value: lost,
        note: detail.join(', '),
      })
      return lost
    }
    await verify('raw', rawDir, rawApp.name)
    if (dsync) {
      const flushReason = ctx.dsync.need('flush')
      if (flushReason) ctx.results.note(`branch: no flush before the final check (${flushReason})`)
      else {
        const flush = await ctx.dsync.flush(dsync.project)
        if (!flush.ok)
          ctx.results.note(`branch: flush before the final check failed (${flush.reason})`)
      }
      const lost = await verify('dsync', dsync.project.src, dsync.app)
      ctx.results.judge('branch-lost', lost)
      const missed = dsyncMissing > 0 ? `${dsyncMissing} changes never seen by the app` : undefined
      ctx.results.judge('branch-ratio', missed ? undefined : r, missed)
    } else {
      ctx.results.naSection('branch', dsyncReason ?? 'dsync not set up')
    }
  } finally {
    await scope.close()
  }
}
