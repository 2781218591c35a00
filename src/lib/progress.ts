/**
 * Progress of a sync pass on stderr: a bar redrawn in place on a terminal, plain lines
 * otherwise (CI logs, pipes), and one summary line at the end either way.
 */
import type { PassProgress } from '../daemon/status.js'

export interface ProgressView {
  update(p: PassProgress): void
  end(): void
}

/** `what` names the pass in the closing lines ("initial sync", "sync"). */
export function progressView(
  what = 'sync',
  stream: NodeJS.WriteStream = process.stderr,
): ProgressView {
  const tty = stream.isTTY === true
  const startedAt = Date.now()
  let lastLine = 0
  let drawn = false
  const seen = new Map<string, PassProgress>()
  return {
    update(p) {
      seen.set(p.sync, p)
      const elapsed = Math.max(0.001, (Date.now() - startedAt) / 1000)
      const rate = p.bytes / elapsed
      if (p.phase === 'scan') return
      if (tty) {
        const width = 24
        const ratio =
          p.totalBytes > 0 ? p.bytes / p.totalBytes : p.totalFiles > 0 ? p.files / p.totalFiles : 1
        const filled = Math.round(Math.min(1, ratio) * width)
        stream.write(
          `\r\x1b[2Kdsync: ${p.sync} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ` +
            `${p.files}/${p.totalFiles} files, ${mb(p.bytes)}/${mb(p.totalBytes)}, ${mb(rate)}/s`,
        )
        drawn = true
      } else if (p.phase === 'transfer' && Date.now() - lastLine >= 2000 && p.totalFiles > 0) {
        lastLine = Date.now()
        stream.write(
          `dsync: ${p.sync}: ${p.files}/${p.totalFiles} files, ${mb(p.bytes)}/${mb(p.totalBytes)}, ${mb(rate)}/s\n`,
        )
      }
    },
    end() {
      if (drawn) stream.write('\r\x1b[2K')
      const seconds = ((Date.now() - startedAt) / 1000).toFixed(1)
      // Only passes that finished: a failed one is reported by its error.
      for (const p of seen.values()) {
        if (p.phase !== 'done') continue
        const size =
          p.totalFiles === 0 ? 'up to date' : `${p.totalFiles} changes, ${mb(p.totalBytes)}`
        stream.write(`dsync: ${p.sync}: ${what} done (${size}) in ${seconds} s\n`)
      }
    },
  }
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`
}
