/**
 * A full pass in a process of its own: `node pass-worker.js dsync-pass` with the sync target
 * and the sidecar on stdin (JSON), progress lines and the result on stdout (JSON lines).
 * A full pass holds two manifests of the whole tree; in its own short-lived process that memory
 * is returned when it ends, so the long-lived daemon stays small (100,000 files cost the pass
 * a few hundred MB of short-lived garbage).
 */
import { AgentChannel } from '../strategies/agent.js'
import { createStrategy } from './strategy.js'
import type { SyncTarget } from '../strategies/types.js'

interface PassRequest {
  target: SyncTarget
  container: string
}

export type PassMessage =
  | { type: 'progress'; progress: import('./status.js').PassProgress }
  | { type: 'result'; result: import('../strategies/types.js').PassResult }
  | { type: 'error'; message: string }

async function main(): Promise<void> {
  let input = ''
  for await (const chunk of process.stdin) input += String(chunk)
  const request = JSON.parse(input) as PassRequest
  let channel: AgentChannel | undefined
  const send = (message: PassMessage) => process.stdout.write(JSON.stringify(message) + '\n')
  try {
    const strategy = createStrategy(request.target, {
      container: request.container,
      env: process.env,
      agent: async () =>
        (channel ??= await AgentChannel.open(request.container, { env: process.env })),
    })
    const result = await strategy.fullPass((progress) => send({ type: 'progress', progress }))
    send({ type: 'result', result })
  } catch (error) {
    send({ type: 'error', message: error instanceof Error ? error.message : String(error) })
    process.exitCode = 1
  } finally {
    await channel?.close()
  }
}

if (process.argv[2] === 'dsync-pass') void main()
