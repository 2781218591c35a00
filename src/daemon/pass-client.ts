/** Runs a full pass in pass-worker.js and relays its progress; see pass-worker.ts for why. */
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ExternalError } from '../lib/errors.js'
import { spawn } from '../lib/spawn.js'
import type { PassResult, SyncTarget } from '../strategies/types.js'
import type { PassMessage } from './pass-worker.js'
import type { PassProgress } from './status.js'

const workerPath = path.join(path.dirname(fileURLToPath(import.meta.url)), 'pass-worker.js')

export async function fullPassInChild(
  target: SyncTarget,
  container: string,
  env: NodeJS.ProcessEnv,
  onProgress?: (p: PassProgress) => void,
): Promise<PassResult> {
  const child = spawn(process.execPath, [workerPath, 'dsync-pass'], { env })
  child.stdin.end(JSON.stringify({ target, container }))
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
        case 'result':
          result = message.result
          break
        case 'error':
          failure = message.message
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
