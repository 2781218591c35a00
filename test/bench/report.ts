/**
 * Results: rows of measurements, the targets of issue 4 judged as pass/fail lines (not tests),
 * the machine they ran on, and the files written to bench/results/.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { run } from '../../src/lib/exec.js'
import { formatValue, type Summary, type Unit } from './stats.js'

export const SECTIONS = ['config', 'latency', 'initial', 'branch', 'idle'] as const
export type SectionName = (typeof SECTIONS)[number]

export interface Row {
  section: SectionName
  tree?: string
  what: string
  unit: Unit
  summary?: Summary
  /** A single figure (a ratio, a count). */
  value?: number
  samples?: number[]
  note?: string
  /** Why this was not measured. */
  skipped?: string
}

interface TargetDef {
  section: SectionName
  description: string
  limit: number
  unit: Unit
}

const TARGETS = {
  'latency-p50': {
    section: 'latency',
    description: 'edit-to-visible p50, one-way (rsync), largest tree',
    limit: 15,
    unit: 'ms',
  },
  'latency-p95': {
    section: 'latency',
    description: 'edit-to-visible p95, one-way (rsync), largest tree',
    limit: 40,
    unit: 'ms',
  },
  'latency-two-way-p50': {
    section: 'latency',
    description: 'edit-to-visible p50, two-way (unison)',
    limit: 60,
    unit: 'ms',
  },
  'latency-two-way-p95': {
    section: 'latency',
    description: 'edit-to-visible p95, two-way (unison)',
    limit: 150,
    unit: 'ms',
  },
  'latency-scale': {
    section: 'latency',
    description: 'latency p50 on the large tree / on the src tree',
    limit: 1.3,
    unit: 'x',
  },
  'initial-ratio': {
    section: 'initial',
    description: 'initial sync (up) / raw tar transport, large tree, p50',
    limit: 1.15,
    unit: 'x',
  },
  'second-up': {
    section: 'initial',
    description: 'second up with nothing changed, large tree, p50',
    limit: 2000,
    unit: 'ms',
  },
  'branch-ratio': {
    section: 'branch',
    description: 'branch switch converged / one raw rsync of the change, p50',
    limit: 1.5,
    unit: 'x',
  },
  'branch-lost': {
    section: 'branch',
    description: 'files lost or stale in the volume after the branch switches',
    limit: 0,
    unit: 'count',
  },
  'idle-cpu': {
    section: 'idle',
    description: 'idle daemon CPU (process tree), idle tree',
    limit: 0.1,
    unit: '%',
  },
  'idle-rss': {
    section: 'idle',
    description: 'idle daemon peak RSS (process tree), idle tree',
    limit: 120,
    unit: 'MB',
  },
  'config-cold': {
    section: 'config',
    description: 'dsync compose config / plain compose config, cold, p50',
    limit: 2.5,
    unit: 'x',
  },
  'config-warm': {
    section: 'config',
    description: 'dsync compose config / plain compose config, warm, p50',
    limit: 1.5,
    unit: 'x',
  },
  'ps-warm': {
    section: 'config',
    description: 'dsync compose ps / plain compose ps, warm (the pass-through path), p50',
    limit: 2,
    unit: 'x',
  },
} as const satisfies Record<string, TargetDef>

export type TargetId = keyof typeof TARGETS

export interface TargetResult {
  id: TargetId
  description: string
  limit: string
  value?: number
  measured: string
  status: 'pass' | 'fail' | 'n/a'
  reason?: string
}

export class Results {
  readonly rows: Row[] = []
  readonly notes: string[] = []
  private readonly targets = new Map<TargetId, TargetResult>()

  add(row: Row): void {
    this.rows.push(row)
  }

  skip(section: SectionName, what: string, reason: string, tree?: string): void {
    this.rows.push({ section, what, tree, unit: 'ms', skipped: reason })
  }

  note(line: string): void {
    this.notes.push(line)
  }

  /** Judges a target: pass when `value` is at or under the limit; n/a with a reason otherwise. */
  judge(id: TargetId, value: number | undefined, reason?: string): void {
    const def: TargetDef = TARGETS[id]
    const limit = `<= ${formatValue(def.limit, def.unit)}`
    if (value === undefined || !Number.isFinite(value)) {
      this.targets.set(id, {
        id,
        description: def.description,
        limit,
        measured: '-',
        status: 'n/a',
        reason: reason ?? 'not measured',
      })
      return
    }
    this.targets.set(id, {
      id,
      description: def.description,
      limit,
      value,
      measured: formatValue(value, def.unit),
      status: value <= def.limit ? 'pass' : 'fail',
      reason,
    })
  }

  /** n/a for every target of `section` not judged yet. */
  naSection(section: SectionName, reason: string): void {
    for (const id of Object.keys(TARGETS) as TargetId[]) {
      if (TARGETS[id].section === section && !this.targets.has(id))
        this.judge(id, undefined, reason)
    }
  }

  targetList(ran: readonly SectionName[]): TargetResult[] {
    return (Object.keys(TARGETS) as TargetId[]).map((id) => {
      const done = this.targets.get(id)
      if (done) return done
      const def: TargetDef = TARGETS[id]
      return {
        id,
        description: def.description,
        limit: `<= ${formatValue(def.limit, def.unit)}`,
        measured: '-',
        status: 'n/a' as const,
        reason: ran.includes(def.section) ? 'not measured' : `section ${def.section} not run`,
      }
    })
  }
}

// ---------------------------------------------------------------------------------------------
// Machine

export interface Machine {
  cpu: string
  cores: number
  memoryGiB: number
  kernel: string
  os: string
  node: string
  docker: string
  compose: string
  rsync: string
  unison: string
  storageDriver: string
  cgroup: string
}

async function firstLine(file: string, args: string[]): Promise<string> {
  try {
    const r = await run(file, args, { reject: false, timeoutMs: 20_000 })
    return (r.stdout || r.stderr).split('\n')[0]?.trim() || 'unknown'
  } catch {
    return 'not found'
  }
}

export async function machineInfo(): Promise<Machine> {
  let osName = os.type()
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))
    if (m?.[1]) osName = m[1]
  } catch {
    // not Linux: the platform name will do
  }
  const info = await firstLine('docker', [
    'info',
    '--format',
    '{{.Driver}} cgroup-v{{.CgroupVersion}}',
  ])
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    kernel: os.release(),
    os: osName,
    node: process.version,
    docker: `server ${await firstLine('docker', ['version', '--format', '{{.Server.Version}}'])}, client ${await firstLine('docker', ['version', '--format', '{{.Client.Version}}'])}`,
    // What dsync runs: compose v2 when `docker compose` answers, else v1 (src/compose/cli.ts).
    compose:
      process.env.DSYNC_COMPOSE === 'v1'
        ? `v1 ${await firstLine('docker-compose', ['version', '--short'])}`
        : `v2 ${await firstLine('docker', ['compose', 'version', '--short'])}`,
    rsync: (await firstLine('rsync', ['--version'])).replace(/^rsync\s+version\s+/, ''),
    unison: await firstLine('unison', ['-version']),
    storageDriver: info.split(' ')[0] ?? 'unknown',
    cgroup: info.split(' ')[1] ?? 'unknown',
  }
}

export async function shortCommit(): Promise<string> {
  try {
    const r = await run('git', ['rev-parse', '--short', 'HEAD'], { reject: false })
    return r.exitCode === 0 && r.stdout.trim() ? r.stdout.trim() : 'nocommit'
  } catch {
    return 'nocommit'
  }
}

// ---------------------------------------------------------------------------------------------
// Output

export interface Report {
  date: string
  commit: string
  quick: boolean
  only: SectionName[] | undefined
  durationS: number
  /** 1-minute load average at the start and the end: the machine is shared and noisy. */
  load: { start: number; end: number }
  machine: Machine
  image: string
  trees: Record<string, { label: string; files: number; dirs: number; bytes: number }>
  dsync: Record<string, string>
  rows: Row[]
  targets: TargetResult[]
  notes: string[]
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

export function markdown(report: Report): string {
  const m = report.machine
  const lines: string[] = []
  lines.push(
    `# docker-dsync benchmarks, ${report.date}, commit ${report.commit}${report.quick ? ' (--quick)' : ''}`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, kernel ${m.kernel}; ` +
      `Docker ${m.docker} (${m.storageDriver}, ${m.cgroup}); compose ${m.compose}; rsync ${m.rsync}; ` +
      `${m.unison}; node ${m.node}. Run took ${Math.round(report.durationS)} s; load average ` +
      `${report.load.start.toFixed(1)} at the start, ${report.load.end.toFixed(1)} at the end.`,
    '',
    `Trees: ${Object.entries(report.trees)
      .map(([k, t]) => `${k} = ${t.label} in ${t.dirs.toLocaleString('en-US')} folders`)
      .join('; ')}.`,
    '',
    '| Section | Tree | Measurement | p50 | p95 | n | Notes |',
    '|---|---|---|---:|---:|---:|---|',
  )
  for (const r of report.rows) {
    const p50 = r.skipped ? 'skipped' : formatValue(r.summary ? r.summary.p50 : r.value, r.unit)
    const p95 = r.summary ? formatValue(r.summary.p95, r.unit) : '-'
    const n = r.summary ? String(r.summary.n) : r.value !== undefined ? '1' : '-'
    const note = r.skipped ?? r.note ?? ''
    lines.push(
      `| ${r.section} | ${cell(r.tree ?? '')} | ${cell(r.what)} | ${p50} | ${p95} | ${n} | ${cell(note)} |`,
    )
  }
  lines.push('', '## Targets (issue 4)', '', '| Target | Measured | Limit | Result | Notes |')
  lines.push('|---|---:|---:|---|---|')
  for (const t of report.targets) {
    const result = t.status === 'pass' ? 'PASS' : t.status === 'fail' ? 'FAIL' : 'n/a'
    lines.push(
      `| ${cell(t.description)} | ${t.measured} | ${t.limit} | ${result} | ${cell(t.reason ?? '')} |`,
    )
  }
  if (report.notes.length > 0) {
    lines.push('', '## Notes', '', ...report.notes.map((n) => `- ${n}`))
  }
  const dsync = Object.entries(report.dsync)
  if (dsync.length > 0) {
    lines.push('', '## dsync CLI capabilities probed', '')
    lines.push(...dsync.map(([k, v]) => `- ${k}: ${v}`))
  }
  return lines.join('\n') + '\n'
}

export function writeReport(
  dir: string,
  report: Report,
  suffix: string,
): { json: string; md: string } {
  mkdirSync(dir, { recursive: true })
  const base = path.join(dir, `${report.date}-${report.commit}${suffix}`)
  writeFileSync(`${base}.json`, JSON.stringify(report, null, 2) + '\n')
  writeFileSync(`${base}.md`, markdown(report))
  return { json: `${base}.json`, md: `${base}.md` }
}
