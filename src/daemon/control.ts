/**
 * The daemon's control channel: newline-delimited JSON over a unix socket in the project's
 * state directory (never a network port). A request is one line; the daemon answers with zero
 * or more `progress` lines and one final `result` or `error` line.
 */
import { createHash } from 'node:crypto'
import net from 'node:net'
import path from 'node:path'
import { privateRuntimeDir } from '../lib/paths.js'
import type { DaemonStatus, PassProgress } from './status.js'

export type ControlRequest =
  | { cmd: 'status' }
  | { cmd: 'flush'; timeoutMs?: number }
  | { cmd: 'sync'; name?: string }
  | { cmd: 'initial' }
  /** unison: the next pass of this halted sync may propagate the emptying of a side. */
  | { cmd: 'accept'; name: string }
  | { cmd: 'pause' }
  | { cmd: 'resume' }
  | { cmd: 'stop' }

export type ControlMessage =
  | { type: 'progress'; progress: PassProgress }
  | { type: 'result'; status: DaemonStatus }
  | { type: 'error'; message: string }

/**
 * Unix socket paths are limited to ~107 bytes: long state paths fall back to a folder only this
 * user can enter (a predictable name in the shared temp dir could be taken by another user).
 */
export function socketPath(stateDir: string, env: NodeJS.ProcessEnv = process.env): string {
  const preferred = path.join(stateDir, 'daemon.sock')
  if (Buffer.byteLength(preferred) < 100) return preferred
  const id = createHash('sha256').update(stateDir).digest('hex').slice(0, 16)
  return path.join(privateRuntimeDir(env), `${id}.sock`)
}

export type Handler = (
  request: ControlRequest,
  progress: (p: PassProgress) => void,
) => Promise<DaemonStatus>

export function serveControl(socket: string, handler: Handler): net.Server {
  const server = net.createServer((conn) => {
    let buffer = ''
    conn.setEncoding('utf8')
    conn.on('error', () => conn.destroy())
    conn.on('data', (chunk: string) => {
      buffer += chunk
      let nl: number
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        void answer(conn, line, handler)
      }
    })
  })
  server.listen(socket)
  return server
}

async function answer(conn: net.Socket, line: string, handler: Handler): Promise<void> {
  const send = (message: ControlMessage) => {
    if (!conn.destroyed) conn.write(JSON.stringify(message) + '\n')
  }
  try {
    const request = JSON.parse(line) as ControlRequest
    const status = await handler(request, (progress) => send({ type: 'progress', progress }))
    send({ type: 'result', status })
  } catch (error) {
    send({ type: 'error', message: error instanceof Error ? error.message : String(error) })
  }
}

export class ControlUnavailable extends Error {}

/** Sends one request and resolves with the final status; progress lines go to the callback. */
export function request(
  socket: string,
  req: ControlRequest,
  options: { onProgress?: (p: PassProgress) => void; timeoutMs?: number } = {},
): Promise<DaemonStatus> {
  return new Promise((resolve, reject) => {
    const conn = net.createConnection(socket)
    let buffer = ''
    let settled = false
    const finish = (fn: () => void) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      conn.destroy()
      fn()
    }
    const timer = options.timeoutMs
      ? setTimeout(
          () =>
            finish(() =>
              reject(new Error(`no answer from the daemon within ${options.timeoutMs} ms`)),
            ),
          options.timeoutMs,
        )
      : undefined
    conn.setEncoding('utf8')
    conn.on('connect', () => conn.write(JSON.stringify(req) + '\n'))
    conn.on('error', (error) => finish(() => reject(new ControlUnavailable(error.message))))
    conn.on('close', () =>
      finish(() => reject(new ControlUnavailable('the daemon closed the connection'))),
    )
    conn.on('data', (chunk: string) => {
      buffer += chunk
      let nl: number
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const message = JSON.parse(buffer.slice(0, nl)) as ControlMessage
        buffer = buffer.slice(nl + 1)
        switch (message.type) {
          case 'progress':
            options.onProgress?.(message.progress)
            break
          case 'result':
            finish(() => resolve(message.status))
            return
          case 'error':
            finish(() => reject(new Error(message.message)))
            return
        }
      }
    })
  })
}
