import { Command, Flags } from '@oclif/core'
import { NOTHING_TO_SYNC, status, statusProblem, type StatusReport } from '../daemon/service.js'
import { context, projectFlags, toProjectFlags } from '../project-flags.js'
import type { TwoWayStatus } from '../strategies/unison-config.js'

export default class Status extends Command {
  static override summary =
    "Show the project's syncs: strategy, state, last sync, latency, errors; the daemon's pid and health."
  static override description =
    'Exits 75, with what to do on stderr, when the daemon is down, a sync is in error or its sidecar is down, or the daemon reports itself degraded; 0 when all is well.'
  static override examples = [
    '<%= config.bin %> status',
    '<%= config.bin %> status -p myapp --json',
  ]
  static override flags = {
    ...projectFlags,
    json: Flags.boolean({ summary: 'Print JSON on stdout.' }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Status)
    const report = await status(toProjectFlags(flags), context())
    this.log(flags.json ? JSON.stringify(report, null, 2) : render(report))
    // The report is the result (stdout); what is wrong and how to recover goes to stderr, exit 75.
    const problem = statusProblem(report)
    if (problem) throw problem
  }
}

function render(report: StatusReport): string {
  if (report.nothingToSync) return `project ${report.project}: ${NOTHING_TO_SYNC}`
  const lines: string[] = []
  const d = report.daemon
  lines.push(
    `project ${report.project}: daemon ${d.running ? `${d.pid} (${d.health})` : 'down'}` +
      (report.status?.watchSetupMs !== undefined && d.running
        ? `, watches set up in ${report.status.watchSetupMs} ms`
        : ''),
  )
  if (!report.status) {
    lines.push('  no sync has run yet: start it with dsync compose up')
    return lines.join('\n')
  }
  const restart = report.status.lastRestart
  if (d.running && restart && report.status.restarts > 0) {
    lines.push(`  restarted ${report.status.restarts} time(s), last: ${restart.cause}`)
  }
  for (const s of report.status.syncs) {
    const state = d.running ? s.state : 'stopped'
    const last = s.lastSync ? new Date(s.lastSync).toLocaleTimeString() : 'never'
    // native_osx: the sidecar's figures follow on their own line; the daemon's passes are flushes.
    const batch =
      s.lastBatch && !s.twoWay ? ` (${s.lastBatch.paths} paths, ${s.lastBatch.latencyMs} ms)` : ''
    lines.push(
      `  ${s.name}  ${s.strategy}  ${state}  last sync ${last}${batch}  errors ${s.errors}  missed ${s.missed}` +
        (s.lastError && s.state !== 'watching' ? `  last error: ${s.lastError}` : ''),
    )
    // Older daemons write no heal or unreadable figures.
    if (s.heals > 0 && s.lastHeal) {
      lines.push(`    healed ${s.heals} time(s), last: ${s.lastHeal.cause}`)
    }
    if (s.twoWay) lines.push(...renderTwoWay(s.twoWay, s.strategy === 'unison'))
    if (s.unreadableCount > 0) {
      const more = s.unreadableCount > s.unreadable.length ? ', ...' : ''
      lines.push(
        `    ${s.unreadableCount} path(s) could not be read and are not synced: ${s.unreadable.join(', ')}${more}`,
      )
    }
  }
  return lines.join('\n')
}

/** Two-way syncs: the sync process (the sidecar's worker, or unison on the host), its restarts and the conflicts it resolved. */
function renderTwoWay(t: TwoWayStatus, onHost: boolean): string[] {
  const last = t.lastRun ? new Date(t.lastRun).toLocaleTimeString() : 'never'
  const took = t.lastLatencyMs !== undefined ? ` (${t.lastLatencyMs} ms)` : ''
  const lines = [
    onHost
      ? `    two-way by unison on the host: ${t.state}, ${t.runs} run(s), ${t.transferred} item(s) transferred, last ${last}${took}`
      : `    two-way in the sidecar: ${t.state}, worker ${t.worker}, ${t.runs} run(s), ${t.transferred} item(s) transferred, last ${last}${took}`,
  ]
  if (t.halt) lines.push(`    halted: ${t.halt}`)
  if (t.error && t.state === 'error') lines.push(`    error: ${t.error}`)
  if (t.restarts > 0) {
    lines.push(`    restarted ${t.restarts} time(s), last: ${t.lastRestart?.cause ?? 'unknown'}`)
  }
  if (t.conflictCount > 0) {
    lines.push(
      `    ${t.conflictCount} conflict(s)${t.conflictCount > t.conflicts.length ? ', the latest:' : ':'}`,
    )
    for (const c of t.conflicts) {
      const loser = c.kept === 'host' ? 'container' : 'host'
      const kept = c.copy
        ? `the ${loser}'s version is kept ${c.copySide === 'host' ? 'on the host' : 'in the volume'} as ${c.copy}`
        : `nothing of the ${loser}'s side to keep (a deletion or a change of permissions)`
      lines.push(`      ${c.path}: the ${c.kept}'s version won; ${kept}`)
    }
  }
  return lines
}
