/**
 * A full pass in a process of its own: `node pass-worker.js dsync-pass` with the sync target
 * and the sidecar on stdin (one JSON line), progress lines and the result on stdout (JSON
 * lines). Before the result, a `held` line lists the files its agent displaced; the worker
 * then waits for one more line on stdin, sent once the daemon's agent has adopted them.
 * A full pass holds two manifests of the whole tree; in its own short-lived process that memory
 * is returned when it ends, so the long-lived daemon stays small (100,000 files cost the pass
 * a few hundred MB of short-lived garbage).
 */
import { createInterface } from 'node:readline'
import { AgentChannel } from '../strategies/agent.js'
import { SyncRecord } from '../strategies/record.js'
import { createStrategy } from './strategy.js'
import type { SyncTarget } from '../strategies/types.js'

interface PassRequest {
  target: SyncTarget
  container: string
  /** The sync's record (see record.ts): read, and rewritten by the pass. */
  recordFile: string
}

export type PassMessage =
  | { type: 'progress'; progress: import('./status.js').PassProgress }
  | { type: 'result'; result: import('../strategies/types.js').PassResult }
  | { type: 'held'; pid: number; holds: string }
  | { type: 'error'; message: string }

async function main(): Promise<void> {
  const stdin = createInterface({ input: process.stdin, crlfDelay: Infinity })
  const lines = stdin[Symbol.asyncIterator]()
  const request = JSON.parse(String((await lines.next()).value ?? '')) as PassRequest
  let channel: AgentChannel | undefined
  const send = (message: PassMessage) => process.stdout.write(JSON.stringify(message) + '\n')
  try {
    const strategy = createStrategy(
      request.target,
      {
        container: request.container,
        env: process.env,
        agent: async () =>
          (channel ??= await AgentChannel.open(request.container, { env: process.env })),
      },
      SyncRecord.load(request.recordFile),
    )
    const result = await strategy.fullPass((progress) => send({ type: 'progress', progress }))
    // This pass's agent ends with this process, and with it the files it displaced (see the
    // agent): the daemon's agent takes them over first, and says so on stdin.
    const holds = channel && !channel.closed ? await channel.holds(request.target.name) : ''
    if (channel && holds !== '') {
      send({ type: 'held', pid: channel.agentPid, holds })
      await lines.next()
    }
    send({ type: 'result', result })
  } catch (error) {
    send({ type: 'error', message: error instanceof Error ? error.message : String(error) })
    process.exitCode = 1
  } finally {
    await channel?.close()
    stdin.close()
    process.stdin.destroy()
  }
}

if (process.argv[2] === 'dsync-pass') void main()
