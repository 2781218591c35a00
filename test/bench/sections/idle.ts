/**
 * Idle cost of the watcher daemon on the 100,000-file tree: the time to set up its watches
 * (from `up` returning until status says it is ready), then CPU seconds and peak RSS of the
 * daemon's process tree over a quiet window, read from /proc. Reference: a recursive
 * `inotifywait` on the host setting up its watches on the same tree.
 */
import { spawn } from '../../../src/lib/spawn.js'
import { readiness, selfReportedWatchSetup } from '../dsync.js'
import { containerCpu, containerIds, isAlive, procStatus, treeUsage } from '../engine.js'
import { sleep, type Unit } from '../stats.js'
import { Scope, type Ctx } from '../context.js'

export async function idle(ctx: Ctx): Promise<void> {
  const tree = ctx.tree('idle')
  const windowS = ctx.quick ? 15 : 60
  const scope = new Scope()
  try {
    await inotifyBaseline(ctx)

    const what = {
      up: 'dsync compose up -d (whole command)',
      watch: 'daemon watches set up (up returned -> status ready)',
      cpu: `idle daemon CPU over ${windowS} s (process tree)`,
      rss: 'idle daemon peak RSS (VmHWM, process tree)',
      watchSelf: 'daemon watches set up, as it reports (status watchSetupMs)',
      containers: `idle project containers CPU over ${windowS} s (sidecar and app)`,
    }
    const skipAll = (reason: string) => {
      for (const w of Object.values(what)) ctx.results.skip('idle', w, reason, tree.label)
      ctx.results.naSection('idle', reason)
    }
    const reason = ctx.dsync.need('up', 'status', 'pid')
    if (reason) return skipAll(reason)

    ctx.log(`idle: dsync compose up on ${tree.label}`)
    const p = scope.add(await ctx.dsync.project('idle', ctx.engine.image, tree.root))
    const t0 = performance.now()
    const up = await ctx.dsync.up(p)
    const upReturned = performance.now()
    if (!up.ok) return skipAll(`up failed (${up.reason})`)
    ctx.results.add({
      section: 'idle',
      tree: tree.label,
      what: what.up,
      unit: 'ms',
      value: upReturned - t0,
    })

    // Poll status until the daemon says it is ready; the figure is only as fine as the poll.
    let ready: { ready: boolean; field: string } | undefined
    let pid: number | undefined
    let statusError: string | undefined
    let selfReported: number | undefined
    const deadline = upReturned + 180_000
    while (performance.now() < deadline) {
      const s = await ctx.dsync.status(p)
      if (!s.result.ok) {
        statusError = s.result.reason
        break
      }
      pid = [...p.pids].at(-1)
      ready = readiness(s.json)
      selfReported = selfReportedWatchSetup(s.json)
      if (!ready || ready.ready) break
      await sleep(100)
    }
    const readyAt = performance.now()
    const row = (what: string, unit: Unit, value: number, note?: string) =>
      ctx.results.add({ section: 'idle', tree: tree.label, what, unit, value, note })
    const skip = (what: string, reason: string) =>
      ctx.results.skip('idle', what, reason, tree.label)

    if (selfReported !== undefined) {
      row(
        what.watchSelf,
        'ms',
        selfReported,
        'from the daemon start (during up) to all watches set',
      )
    } else skip(what.watchSelf, statusError ?? 'status --json has no watchSetupMs')
    if (statusError) skip(what.watch, `status failed (${statusError})`)
    else if (!ready) {
      skip(
        what.watch,
        'status --json has no readiness field (daemon.ready/health/state, syncs[].state)',
      )
    } else if (!ready.ready) skip(what.watch, `not ready 180 s after up (${ready.field})`)
    else {
      const note = `from ${ready.field}; includes a status call (a node start), polled every 100 ms`
      row(what.watch, 'ms', readyAt - upReturned, note)
    }

    if (pid === undefined || !isAlive(pid)) {
      const why = pid === undefined ? 'no daemon.pid in status' : `daemon pid ${pid} is not running`
      skip(what.cpu, why)
      skip(what.rss, why)
      ctx.results.naSection('idle', why)
      return
    }
    if (!ctx.dsync.need('flush')) await ctx.dsync.flush(p)
    await sleep(1000)

    ctx.check()
    ctx.log(`idle: watching the daemon (pid ${pid}) for ${windowS} s`)
    const ids = await containerIds(`com.docker.compose.project=${p.name}`)
    const containerCpuNow = () => ids.reduce((sum, id) => sum + (containerCpu(id) ?? 0), 0)
    const containerBefore = containerCpuNow()
    const before = treeUsage(pid)
    const w0 = performance.now()
    await sleep(windowS * 1000)
    const after = treeUsage(pid)
    const seconds = (performance.now() - w0) / 1000
    const containers = containerCpuNow() - containerBefore
    const cpu = after.cpu - before.cpu
    const cpuPct = (cpu / seconds) * 100
    const daemonOnly = procStatus(pid, 'VmHWM')
    row(
      what.cpu,
      '%',
      cpuPct,
      `${cpu.toFixed(2)} cpu-s in ${seconds.toFixed(0)} s, ${after.pids} processes (the daemon and its children), from /proc`,
    )
    row(
      what.rss,
      'MB',
      after.hwmMB,
      `sum of VmHWM; the daemon process alone ${daemonOnly?.toFixed(1) ?? '?'} MB; RSS now ${after.rssMB.toFixed(1)} MB`,
    )
    row(
      what.containers,
      '%',
      (containers / seconds) * 100,
      `${containers.toFixed(2)} cpu-s (cgroup cpuacct); not in the daemon target, but paid too`,
    )
    ctx.results.judge('idle-cpu', cpuPct)
    ctx.results.judge('idle-rss', after.hwmMB)
  } finally {
    await scope.close()
  }
}

/** A recursive inotifywait on the host: how fast watches on this tree can be set up at all. */
async function inotifyBaseline(ctx: Ctx): Promise<void> {
  const tree = ctx.tree('idle')
  const t0 = performance.now()
  const child = spawn(
    'inotifywait',
    ['-m', '-r', '-e', 'close_write,moved_to,create,delete', tree.root],
    {
      stdin: 'ignore',
    },
  )
  const stop = ctx.res.child(child, 'inotifywait')
  try {
    const ms = await new Promise<number>((resolve, reject) => {
      let err = ''
      const timer = setTimeout(
        () => reject(new Error('inotifywait did not set up its watches in 120 s')),
        120_000,
      )
      child.stderr.on('data', (chunk: Buffer) => {
        err += chunk.toString('utf8')
        if (err.includes('Watches established')) {
          clearTimeout(timer)
          resolve(performance.now() - t0)
        }
      })
      void child.then(() => {
        clearTimeout(timer)
        reject(new Error(`inotifywait exited: ${err.trim().split('\n').at(-1) ?? ''}`))
      })
    })
    const hwm = child.pid === undefined ? undefined : procStatus(child.pid, 'VmHWM')
    ctx.results.add({
      section: 'idle',
      tree: tree.label,
      what: 'reference: inotifywait -r on the host, watches set up',
      unit: 'ms',
      value: ms,
      note: `${tree.dirs.toLocaleString('en-US')} folders; peak RSS ${hwm?.toFixed(1) ?? '?'} MB`,
    })
  } finally {
    await stop()
  }
}
