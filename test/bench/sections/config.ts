/**
 * CLI overhead of the compose wrapper on the same small project (one app service, one rsync
 * sync), dsync against the compose it runs (v2 unless DSYNC_COMPOSE=v1):
 * - `config`, cold: the compose file just changed and dsync's state folder is new;
 * - `config` and `ps`, warm: the same call again, nothing changed since (the pass-through path
 *   users hit all day: ps, logs, exec, config);
 * - the floor of any node wrapper: a node script that only spawns plain compose, and `node -e 0`.
 * The contenders alternate, and who goes first rotates.
 */
import { appendFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { run } from '../../../src/lib/exec.js'
import { ratio, rotate, summarize } from '../stats.js'
import { Scope, type Ctx } from '../context.js'

type Who = 'plain' | 'dsync' | 'floor'
type Warm = 'config' | 'ps'

/** Spawns its arguments attached, as a wrapper that does nothing else would. */
const FLOOR_SCRIPT = `import { spawn } from 'node:child_process'
const [file, ...args] = process.argv.slice(2)
spawn(file, args, { stdio: 'inherit' }).on('exit', (code) => {
  process.exitCode = code ?? 1
})
`

export async function config(ctx: Ctx): Promise<void> {
  const reps = ctx.quick ? 4 : 15
  // A warm call is a fraction of a second: more of them for steadier medians.
  const warmReps = ctx.quick ? 12 : 40
  const scope = new Scope()
  try {
    const p = scope.add(await ctx.dsync.project('config', ctx.engine.image))
    const reason = ctx.dsync.need('config')
    const cold: Record<'plain' | 'dsync', number[]> = { plain: [], dsync: [] }
    const warm: Record<Warm, Record<Who, number[]>> = {
      config: { plain: [], dsync: [], floor: [] },
      ps: { plain: [], dsync: [], floor: [] },
    }
    const node: number[] = []
    const failures: string[] = []

    const [file, prefix] =
      process.env.DSYNC_COMPOSE === 'v1' ? ['docker-compose', []] : ['docker', ['compose']]
    const composeCmd = (sub: Warm) => [...prefix, '-p', p.name, '-f', p.file, sub]
    const floorScript = path.join(ctx.tmp, 'spawn-compose.mjs')
    writeFileSync(floorScript, FLOOR_SCRIPT)

    const timed = async (argv: string[]) => {
      const t0 = performance.now()
      await run(argv[0] as string, argv.slice(1), { cwd: p.dir })
      return performance.now() - t0
    }
    const plain = (sub: Warm) => timed([file, ...composeCmd(sub)])
    const floor = (sub: Warm) => timed([process.execPath, floorScript, file, ...composeCmd(sub)])
    const dsync = async (sub: Warm, stateHome: string) => {
      const r = await ctx.dsync.cli(['compose', '-p', p.name, '-f', p.file, sub], {
        cwd: p.dir,
        timeoutMs: 60_000,
        env: { XDG_STATE_HOME: stateHome },
      })
      if (!r.ok) failures.push(`${sub}: ${r.reason}`)
      return r.ok ? r.ms : undefined
    }

    ctx.log(`config: ${reps} reps of cold config, plain and dsync`)
    for (let i = 0; i < reps; i++) {
      ctx.check()
      // Cold: a changed file and an empty state folder, so nothing dsync may cache applies.
      appendFileSync(p.file, `# bench rev ${i}\n`)
      const state = path.join(ctx.tmp, `config-state-${i}`)
      scope.push(ctx.res.dir(state))
      for (const who of rotate<'plain' | 'dsync'>(['plain', 'dsync'], i)) {
        if (who === 'plain') cold.plain.push(await plain('config'))
        else if (!reason) {
          const ms = await dsync('config', state)
          if (ms !== undefined) cold.dsync.push(ms)
        }
      }
    }

    ctx.log(`config: ${warmReps} reps of warm config and ps, plain, node floor and dsync`)
    const warmState = path.join(ctx.tmp, 'config-state-warm')
    scope.push(ctx.res.dir(warmState))
    // One call first, so every measured dsync call finds what it keeps between calls.
    if (!reason) await dsync('config', warmState)
    for (let i = 0; i < warmReps; i++) {
      ctx.check()
      for (const sub of ['config', 'ps'] as const) {
        for (const who of rotate<Who>(['plain', 'floor', 'dsync'], i)) {
          if (who === 'plain') warm[sub].plain.push(await plain(sub))
          else if (who === 'floor') warm[sub].floor.push(await floor(sub))
          else if (!reason) {
            const ms = await dsync(sub, warmState)
            if (ms !== undefined) warm[sub].dsync.push(ms)
          }
        }
      }
      const t0 = performance.now()
      await run(process.execPath, ['-e', '0'])
      node.push(performance.now() - t0)
    }

    const cmd = (sub: string) => `${file} ${[...prefix, sub].join(' ')}`
    const row = (what: string, samples: number[]) =>
      ctx.results.add({ section: 'config', what, unit: 'ms', summary: summarize(samples), samples })
    const ratioRow = (what: string, a: number[], b: number[]) => {
      const r = ratio(summarize(a)?.p50, summarize(b)?.p50)
      ctx.results.add({ section: 'config', what, unit: 'x', value: r })
      return r
    }
    const failed = failures[0] ? `dsync compose ${failures[0]}` : undefined
    const why = reason ?? failed

    row(`plain ${cmd('config')}, cold`, cold.plain)
    if (cold.dsync.length > 0) {
      row('dsync compose config, cold', cold.dsync)
      ratioRow('dsync / plain config, cold, p50', cold.dsync, cold.plain)
    } else ctx.results.skip('config', 'dsync compose config, cold', why ?? 'no sample')

    const judged: Partial<Record<Warm, number | undefined>> = {}
    for (const sub of ['config', 'ps'] as const) {
      const s = warm[sub]
      row(`plain ${cmd(sub)}, warm`, s.plain)
      row(`node script spawning plain ${cmd(sub)} (the floor of a node wrapper), warm`, s.floor)
      ratioRow(`node floor / plain ${sub}, warm, p50`, s.floor, s.plain)
      if (s.dsync.length === 0) {
        ctx.results.skip('config', `dsync compose ${sub}, warm`, why ?? 'no sample')
        continue
      }
      row(`dsync compose ${sub}, warm`, s.dsync)
      judged[sub] = ratioRow(`dsync / plain ${sub}, warm, p50`, s.dsync, s.plain)
    }
    row('node -e 0 (the floor of any node CLI)', node)

    ctx.results.judge(
      'config-cold',
      failed ? undefined : ratio(summarize(cold.dsync)?.p50, summarize(cold.plain)?.p50),
      why,
    )
    ctx.results.judge('config-warm', failed ? undefined : judged.config, why)
    ctx.results.judge('ps-warm', failed ? undefined : judged.ps, why)
  } finally {
    await scope.close()
  }
}
