/**
 * Initial sync of each tree into an empty volume: raw `tar | docker exec -i tar` (the fastest raw
 * transport, the reference), a raw `rsync -a` over docker exec, and `dsync compose up` (the whole
 * command: compose, initial sync, daemon), with the CPU seconds each burns; then a second `up`
 * with nothing changed, and `down`. Interleaved rep by rep.
 *
 * Nothing is deleted between timed runs: the volumes, dsync projects and their copies of the
 * tree go at the end of each tree, and each tree starts on a settled filesystem. On ext4
 * without a journal the kernel skips inodes freed in the last minute (five if their block is
 * still dirty) when it allocates new ones, so a run right after a 30,000-file deletion spent
 * most of its time looking for inodes (perf: recently_deleted under __ext4_new_inode), and
 * which subject came after a deletion decided the ratio.
 */
import { run } from '../../../src/lib/exec.js'
import { APP_MOUNT, selfReportedInitialPass } from '../dsync.js'
import { containerIds, cpuSnapshot, cpuUse, isAlive, treeUsage, type CpuUse } from '../engine.js'
import { ratio, rotate, summarize } from '../stats.js'
import type { Tree } from '../trees.js'
import { copyTree, countFiles, Scope, tarInto, type Ctx } from '../context.js'

type Way = 'tar' | 'rsync' | 'dsync'

/** ext4 skips inodes freed less than 60 s ago (with their block written back; see above). */
const SETTLE_MS = 65_000

interface Samples {
  ms: number[]
  cpu: CpuUse[]
}

export async function initial(ctx: Ctx): Promise<void> {
  const scope = new Scope()
  try {
    for (const tree of [ctx.tree('src'), ctx.tree('modules')]) {
      await initialTree(ctx, tree, scope)
    }
  } finally {
    await scope.close()
  }
}

async function initialTree(ctx: Ctx, tree: Tree, scope: Scope): Promise<void> {
  const reps = tree.spec.key === 'src' ? (ctx.quick ? 1 : 5) : ctx.quick ? 2 : 3
  const large = tree.spec.key === 'modules'
  const src = scope.add(await copyTree(ctx, tree, `init-${tree.spec.key}`)).dir
  const samples: Record<Way, Samples> = {
    tar: { ms: [], cpu: [] },
    rsync: { ms: [], cpu: [] },
    dsync: { ms: [], cpu: [] },
  }
  const secondUp: number[] = []
  const initialPass: number[] = []
  const down: number[] = []
  const notes: string[] = []
  // Deletions wait for the end of the tree (see the top of this file).
  const later: (() => Promise<void>)[] = []
  let dsyncReason = ctx.dsync.need('up', 'sync')

  const raw = async (way: 'tar' | 'rsync') => {
    const vol = await ctx.engine.volume(`init-${way}`)
    const c = await ctx.engine.container(`init-${way}`, [`${vol.name}:/data`])
    try {
      const before = cpuSnapshot([c.id])
      const t0 = performance.now()
      if (way === 'tar') await tarInto(src, c.name)
      else
        await run('rsync', [
          '-a',
          '--blocking-io',
          '-e',
          'docker exec -i',
          `${src}/`,
          `${c.name}:/data/`,
        ])
      samples[way].ms.push(performance.now() - t0)
      samples[way].cpu.push(cpuUse(before, cpuSnapshot([c.id])))
      const n = await countFiles(c.name, '/data')
      if (n !== tree.files.length) notes.push(`${way}: ${n} of ${tree.files.length} files arrived`)
    } finally {
      await c.remove()
      later.push(vol.remove)
    }
  }

  const dsync = async () => {
    const p = await ctx.dsync.project(`init-${tree.spec.key}`, ctx.engine.image, tree.root)
    try {
      const before = cpuSnapshot()
      const t0 = performance.now()
      const up = await ctx.dsync.up(p)
      const ms = performance.now() - t0
      if (!up.ok) {
        dsyncReason = `up failed (${up.reason})`
        return
      }
      // The daemon outlives `up`: what it burnt so far belongs to the initial sync too.
      const status = ctx.dsync.need('pid') ? undefined : await ctx.dsync.status(p)
      const pass = status?.json === undefined ? undefined : selfReportedInitialPass(status.json)
      if (pass !== undefined) initialPass.push(pass)
      const pid = [...p.pids][0]
      const daemonCpu = pid !== undefined && isAlive(pid) ? treeUsage(pid).cpu : 0
      const ids = await containerIds(`com.docker.compose.project=${p.name}`)
      samples.dsync.ms.push(ms)
      samples.dsync.cpu.push(cpuUse(before, cpuSnapshot(ids), daemonCpu))
      if (status && !status.result.ok) notes.push(`dsync status failed: ${status.result.reason}`)
      const app = await ctx.dsync.appContainer(p)
      const n = app ? await countFiles(app, APP_MOUNT) : 0
      if (n < tree.files.length) {
        notes.push(`dsync: up returned with ${n} of ${tree.files.length} files in the volume`)
      }
      const t1 = performance.now()
      const again = await ctx.dsync.up(p)
      if (again.ok) secondUp.push(performance.now() - t1)
      else notes.push(`second up failed (${again.reason})`)
      const t2 = performance.now()
      const d = await ctx.dsync.compose(p, ['down'], 180_000)
      if (d.ok) down.push(performance.now() - t2)
      else notes.push(`down failed (${d.reason})`)
    } finally {
      later.push(p.remove)
    }
  }

  ctx.log(
    `initial: letting the filesystem settle for ${SETTLE_MS / 1000} s after earlier deletions`,
  )
  await run('sync', [])
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
  ctx.log(`initial: ${reps} reps of tar / rsync / dsync up on ${tree.label}`)
  try {
    for (let r = 0; r < reps; r++) {
      for (const way of rotate<Way>(['tar', 'rsync', 'dsync'], r)) {
        ctx.check()
        if (way === 'dsync') {
          if (!dsyncReason) await dsync()
        } else await raw(way)
      }
    }
  } finally {
    for (const remove of later) await remove()
  }

  const cpuNote = (list: CpuUse[]) => {
    const part = (f: (c: CpuUse) => number | undefined) =>
      summarize(list.map(f).filter((v): v is number => v !== undefined))?.p50
    const fmt = (v: number | undefined) => (v === undefined ? 'n/a' : v.toFixed(2))
    return (
      `p50 host processes ${fmt(part((c) => c.host))} + container cgroup ` +
      `${fmt(part((c) => c.container))}; engine (dockerd, containerd, shims; shared) ` +
      `${fmt(part((c) => c.engine))} more`
    )
  }
  const add = (way: Way, what: string) => {
    const s = samples[way]
    if (s.ms.length === 0) return false
    ctx.results.add({
      section: 'initial',
      tree: tree.label,
      what,
      unit: 'ms',
      summary: summarize(s.ms),
      samples: s.ms,
    })
    ctx.results.add({
      section: 'initial',
      tree: tree.label,
      what: `${what}: CPU seconds`,
      unit: 'cpu-s',
      summary: summarize(s.cpu.map((c) => c.total)),
      note: cpuNote(s.cpu),
    })
    return true
  }
  add('tar', 'initial sync: raw tar -c | docker exec -i tar -x (reference)')
  add('rsync', 'initial sync: raw rsync -a over docker exec')
  const upWhat = 'initial sync: dsync compose up -d (whole command)'
  if (!add('dsync', upWhat)) {
    ctx.results.skip('initial', upWhat, dsyncReason ?? 'no sample', tree.label)
  }
  const upRatio = ratio(summarize(samples.dsync.ms)?.p50, summarize(samples.tar.ms)?.p50)
  if (upRatio !== undefined) {
    ctx.results.add({
      section: 'initial',
      tree: tree.label,
      what: 'initial sync: dsync up / raw tar, p50',
      unit: 'x',
      value: upRatio,
      note: `CPU: ${ratio(
        summarize(samples.dsync.cpu.map((c) => c.total))?.p50,
        summarize(samples.tar.cpu.map((c) => c.total))?.p50,
      )?.toFixed(2)}x the tar CPU seconds`,
    })
  }
  // dsync's own timing of its initial pass (status lastBatch), when status has it: the sync
  // alone, without compose and container start. Shown beside the whole command, never judged.
  const passRatio = ratio(summarize(initialPass)?.p50, summarize(samples.tar.ms)?.p50)
  if (initialPass.length > 0) {
    ctx.results.add({
      section: 'initial',
      tree: tree.label,
      what: 'initial sync: the initial pass alone, as dsync reports it (status lastBatch)',
      unit: 'ms',
      summary: summarize(initialPass),
      samples: initialPass,
      note: passRatio === undefined ? undefined : `${passRatio.toFixed(2)}x raw tar (p50)`,
    })
  }
  const secondWhat = 'second dsync compose up -d, nothing changed'
  if (secondUp.length > 0) {
    ctx.results.add({
      section: 'initial',
      tree: tree.label,
      what: secondWhat,
      unit: 'ms',
      summary: summarize(secondUp),
      samples: secondUp,
    })
  } else ctx.results.skip('initial', secondWhat, dsyncReason ?? 'second up failed', tree.label)
  if (down.length > 0) {
    ctx.results.add({
      section: 'initial',
      tree: tree.label,
      what: 'dsync compose down (volumes kept)',
      unit: 'ms',
      summary: summarize(down),
    })
  }
  for (const n of new Set(notes)) ctx.results.note(`initial (${tree.label}): ${n}`)
  if (large) {
    const incomplete = notes.find((n) => n.startsWith('dsync: up returned with'))
    const passNote =
      passRatio === undefined
        ? undefined
        : `whole up; the initial pass alone (dsync's own figure) is ${passRatio.toFixed(2)}x`
    ctx.results.judge(
      'initial-ratio',
      incomplete ? undefined : upRatio,
      incomplete ?? dsyncReason ?? passNote,
    )
    ctx.results.judge('second-up', summarize(secondUp)?.p50, dsyncReason)
  }
}
