/** Summaries of repeated measurements: the machine is noisy, so medians and p95, never means alone. */

export interface Summary {
  n: number
  p50: number
  p95: number
  min: number
  max: number
  mean: number
}

/** Linear interpolation between closest ranks (R's type 7), on sorted values. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN
  const pos = (sorted.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  const a = sorted[lo] ?? Number.NaN
  const b = sorted[hi] ?? a
  return a + (b - a) * (pos - lo)
}

export function summarize(values: readonly number[]): Summary | undefined {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((x, y) => x - y)
  return {
    n: sorted.length,
    p50: quantile(sorted, 0.5),
    p95: quantile(sorted, 0.95),
    min: sorted[0] ?? Number.NaN,
    max: sorted.at(-1) ?? Number.NaN,
    mean: sorted.reduce((s, v) => s + v, 0) / sorted.length,
  }
}

export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b <= 0) {
    return undefined
  }
  return a / b
}

export type Unit = 'ms' | 's' | 'x' | 'MB' | '%' | 'cpu-s' | 'count'

export function formatValue(value: number | undefined, unit: Unit): string {
  if (value === undefined || !Number.isFinite(value)) return '-'
  switch (unit) {
    case 'ms':
      return value >= 1000
        ? `${(value / 1000).toFixed(2)} s`
        : `${value.toFixed(value < 10 ? 2 : 1)} ms`
    case 's':
      return `${value.toFixed(2)} s`
    case 'x':
      return `${value.toFixed(2)}x`
    case 'MB':
      return `${value.toFixed(1)} MB`
    case '%':
      return `${value.toFixed(3)} %`
    case 'cpu-s':
      return `${value.toFixed(2)} cpu-s`
    case 'count':
      return String(Math.round(value))
  }
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms))

/** Rotates a list by `by` places: interleaved runs change who goes first each round. */
export function rotate<T>(items: readonly T[], by: number): T[] {
  if (items.length === 0) return []
  const k = ((by % items.length) + items.length) % items.length
  return [...items.slice(k), ...items.slice(0, k)]
}
