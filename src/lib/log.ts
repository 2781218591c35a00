/**
 * Debug logging by namespace (`dsync:compose`, `dsync:daemon`, `dsync:sync:rsync`), enabled by
 * DEBUG as the `debug` package does: `DEBUG=dsync:*`, `DEBUG=dsync:compose,dsync:daemon`.
 * Everything goes to stderr (or to the daemon's log file); stdout is for results only.
 */
import { format } from 'node:util'

type Sink = (line: string) => void

let sink: Sink = (line) => process.stderr.write(line + '\n')
const cache = new Map<string, boolean>()

export function setLogSink(next: Sink): void {
  sink = next
}

function enabled(namespace: string): boolean {
  const known = cache.get(namespace)
  if (known !== undefined) return known
  const patterns = (process.env.DEBUG ?? '')
    .split(/[\s,]+/)
    .filter(Boolean)
    .map(
      (p) => new RegExp('^' + p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*') + '$'),
    )
  const on = patterns.some((re) => re.test(namespace))
  cache.set(namespace, on)
  return on
}

export interface Logger {
  debug(message: string, ...args: unknown[]): void
  info(message: string, ...args: unknown[]): void
  warn(message: string, ...args: unknown[]): void
  readonly debugEnabled: boolean
}

export function logger(namespace: string): Logger {
  const stamp = () => new Date().toISOString()
  return {
    get debugEnabled() {
      return enabled(namespace)
    },
    debug(message, ...args) {
      if (enabled(namespace)) sink(`${stamp()} ${namespace} ${format(message, ...args)}`)
    },
    info(message, ...args) {
      sink(`${stamp()} ${namespace} ${format(message, ...args)}`)
    },
    warn(message, ...args) {
      sink(`${stamp()} ${namespace} warning: ${format(message, ...args)}`)
    },
  }
}

/** Resets the DEBUG cache (tests change DEBUG). */
export function resetLogCache(): void {
  cache.clear()
}
