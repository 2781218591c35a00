/** The failures of the agent channel: one operation, a batch, or the channel itself. */
import { DsyncError, ExitCode } from '../lib/errors.js'
import { describeCommand } from '../lib/exec.js'
import { AGENT_COMMAND, type AgentOpName } from './agent-protocol.js'

/** One operation the agent refused or failed; the channel stays open. */
export class AgentOpError extends DsyncError {
  constructor(
    readonly op: AgentOpName,
    readonly sync: string | undefined,
    readonly path: string | undefined,
    /** The agent's message, e.g. `EACCES: Permission denied (open)`. */
    readonly reason: string,
  ) {
    super(`${op} ${describeTarget(sync, path)} failed: ${reason}`, ExitCode.tempFail)
  }
}

/** Some operations of an `apply` batch failed; all the others were applied. */
export class AgentBatchError extends DsyncError {
  constructor(
    readonly failures: readonly AgentOpError[],
    readonly total: number,
  ) {
    const shown = failures
      .slice(0, 5)
      .map((f) => `${describeTarget(f.sync, f.path)} (${f.op}: ${f.reason})`)
    const more =
      failures.length > shown.length ? `, and ${failures.length - shown.length} more` : ''
    super(
      `${failures.length} of ${total} sync operations failed: ${shown.join(', ')}${more}`,
      ExitCode.tempFail,
    )
  }
}

/** The channel is gone: the agent or its `docker exec` ended, or `close()` was called. */
export class AgentChannelError extends DsyncError {
  constructor(
    readonly container: string,
    message: string,
    hint?: string,
  ) {
    super(`sync agent in container ${container}: ${message}`, ExitCode.tempFail, hint)
  }
}

function describeTarget(sync: string | undefined, path: string | undefined): string {
  if (sync === undefined) return 'the sidecar'
  return path ? `${sync}:${path}` : `${sync}:/`
}

/** The channel's `docker exec` ended unasked: how, with the last line it wrote to stderr. */
export function agentExited(
  container: string,
  ended: {
    exitCode: number | undefined
    signal: string | undefined
    cause: unknown
    stderr: string
  },
): AgentChannelError {
  const { exitCode, signal, cause } = ended
  const stderr = lastLine(ended.stderr)
  const how =
    exitCode !== undefined ? `exit ${exitCode}` : signal ? `killed by ${signal}` : String(cause)
  const hint =
    exitCode === 126 || exitCode === 127
      ? `the sidecar image has no ${AGENT_COMMAND}: use dsync's own image or build yours FROM it`
      : 'is the sidecar running? (docker ps); dsync reconnects when it is back'
  return new AgentChannelError(
    container,
    `${describeCommand('docker', ['exec', '-i', container, AGENT_COMMAND])} ended (${how})${stderr ? `: ${stderr}` : ''}`,
    hint,
  )
}

function lastLine(text: string): string {
  return (
    text
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .at(-1) ?? ''
  )
}
