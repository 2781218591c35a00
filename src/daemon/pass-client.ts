/** Runs a full pass in pass-worker.js and relays its progress; see pass-worker.ts for why. */
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ExternalError } from '../lib/errors.js'
import { spawn } from '../lib/spawn.js'
import type { PassResult, SyncTarget } from '../strategies/types.js'
import type { PassMessage } from './pass-worker.js'
import type { PassProgress } from './status.js'
import { logger } from '../lib/log.js'

const log = logger('dsync:pass')

const workerPath = path.join(path.dirname(fileURLToPath(import.meta.url)), 'pass-worker.js')

export async function fullPassInChild(
  target: SyncTarget,
  container: string,
  recordFile: string,
  env: NodeJS.ProcessEnv,
  onProgress?: (p: PassProgress) => void,
  adopt?: (pid: number, holds: string) => Promise<void>,
): Promise<PassResult> {
  const child = spawn(process.execPath, [workerPath, 'dsync-pass'], { env })
  // A worker that died is reported by its exit, not by a write to its stdin.
  child.stdin.on('error', () => undefined)
  child.stdin.write(JSON.stringify({ target, container, recordFile }) + '\n')
  const adopted = (pid: number, holds: string) => {
    void (adopt?.(pid, holds) ?? Promise.resolve())
      .catch((error: unknown) => {
        // Losing them only ends watches on those files in the app container.
        log.warn('could not keep the files the full pass displaced: %s', String(error))
      })
      .finally(() => child.stdin.end('adopted\n'))
  }
  let result: PassResult | undefined
  let failure: string | undefined
  let buffered = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8')
    let nl: number
    while ((nl = buffered.indexOf('\n')) !== -1) {
      const message = JSON.parse(buffered.slice(0, nl)) as PassMessage
      buffered = buffered.slice(nl + 1)
      switch (message.type) {
        case 'progress':
          onProgress?.(message.progress)
          break
        case 'held':
          adopted(message.pid, message.holds)
          break
        case 'result':
          result = message.result
          child.stdin.end()
          break
        case 'error':
          failure = message.message
          child.stdin.end()
          break
      }
    }
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000)
  })
  const ended = await child
  if (result) return result
  throw new ExternalError(`full pass of "${target.name}"`, ended.exitCode, failure ?? stderr)
}
