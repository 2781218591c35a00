/**
 * CLI overhead: `dsync compose config` against plain `docker-compose config` on the same small
 * project, cold (the compose file just changed and dsync's state folder is new) and warm (the same
 * call again, nothing changed since). Plain and dsync alternate, and who goes first rotates.
 */
import { appendFileSync } from 'node:fs'
import path from 'node:path'
import { run } from '../../../src/lib/exec.js'
import { ratio, rotate, summarize } from '../stats.js'
import { Scope, type Ctx } from '../context.js'

type Who = 'plain' | 'dsync'

export async function config(ctx: Ctx): Promise<void> {
  const reps = ctx.quick ? 4 : 15
  const scope = new Scope()
  try {
    const p = scope.add(await ctx.dsync.project('config', ctx.engine.image))
    const reason = ctx.dsync.need('config')
    const cold: Record<Who, number[]> = { plain: [], dsync: [] }
    const warm: Record<Who, number[]> = { plain: [], dsync: [] }
    const node: number[] = []
    const failures: string[] = []

    // The compose dsync itself runs (src/compose/cli.ts): v2 unless DSYNC_COMPOSE=v1.
    const [file, prefix] =
      process.env.DSYNC_COMPOSE === 'v1' ? ['docker-compose', []] : ['docker', ['compose']]
    const plain = async () => {
      const t0 = performance.now()
      await run(file, [...prefix, '-p', p.name, '-f', p.file, 'config'], { cwd: p.dir })
      return performance.now() - t0
    }
    const dsync = async (stateHome: string) => {
      const r = await ctx.dsync.cli(['compose', '-p', p.name, '-f', p.file, 'config'], {
        cwd: p.dir,
        timeoutMs: 60_000,
        env: { XDG_STATE_HOME: stateHome },
      })
      if (!r.ok) failures.push(r.reason)
      return r.ok ? r.ms : undefined
    }

    ctx.log(`config: ${reps} reps of cold and warm config, plain and dsync`)
    for (let i = 0; i < reps; i++) {
      ctx.check()
      // Cold: a changed file and an empty state folder, so nothing dsync may cache applies.
      appendFileSync(p.file, `# bench rev ${i}\n`)
      const state = path.join(ctx.tmp, `config-state-${i}`)
      scope.push(ctx.res.dir(state))
      for (const who of rotate<Who>(['plain', 'dsync'], i)) {
        if (who === 'plain') cold.plain.push(await plain())
        else if (!reason) {
          const ms = await dsync(state)
          if (ms !== undefined) cold.dsync.push(ms)
        }
      }
      for (const who of rotate<Who>(['plain', 'dsync'], i + 1)) {
        if (who === 'plain') warm.plain.push(await plain())
        else if (!reason) {
          const ms = await dsync(state)
          if (ms !== undefined) warm.dsync.push(ms)
        }
      }
      const t0 = performance.now()
      await run(process.execPath, ['-e', '0'])
      node.push(performance.now() - t0)
    }

    const row = (what: string, samples: number[]) =>
      ctx.results.add({ section: 'config', what, unit: 'ms', summary: summarize(samples), samples })
    row(`plain ${file} ${prefix.join(' ')} config, cold`.replace('  ', ' '), cold.plain)
    row(`plain ${file} ${prefix.join(' ')} config, warm`.replace('  ', ' '), warm.plain)
    row('node -e 0 (the floor of any node CLI)', node)
    const failed = failures[0] ? `dsync compose config failed (${failures[0]})` : undefined
    const why = reason ?? failed
    for (const [kind, samples] of [
      ['cold', cold],
      ['warm', warm],
    ] as const) {
      const what = `dsync compose config, ${kind}`
      if (samples.dsync.length === 0) {
        ctx.results.skip('config', what, why ?? 'no sample')
        continue
      }
      row(what, samples.dsync)
      const r = ratio(summarize(samples.dsync)?.p50, summarize(samples.plain)?.p50)
      ctx.results.add({
        section: 'config',
        what: `dsync / plain config, ${kind}, p50`,
        unit: 'x',
        value: r,
      })
    }
    ctx.results.judge(
      'config-cold',
      failed ? undefined : ratio(summarize(cold.dsync)?.p50, summarize(cold.plain)?.p50),
      why,
    )
    ctx.results.judge(
      'config-warm',
      failed ? undefined : ratio(summarize(warm.dsync)?.p50, summarize(warm.plain)?.p50),
      why,
    )
  } finally {
    await scope.close()
  }
}
