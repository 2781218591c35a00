/**
 * The process entry shared by `dsync` and the Docker CLI plugin. `dsync compose ...` is routed
 * straight to the compose wrapper, not through oclif: compose's arguments are compose's (oclif
 * would take `exec app ls -h` for a help request), and it keeps the hot path's start-up small.
 * Every error dsync reports becomes one line on stderr and a documented exit code.
 */
import { BugError, ExitCode, isDsyncError } from './lib/errors.js'
import { unusableState } from './lib/paths.js'

export async function main(argv: readonly string[], entryUrl: string): Promise<number> {
  try {
    if (argv[0] === 'compose') {
      const { composeMain } = await import('./compose/run.js')
      return await composeMain(argv.slice(1), { cwd: process.cwd(), env: process.env })
    }
    const { run, flush } = await import('@oclif/core')
    await run([...argv], entryUrl)
    await flush()
    return typeof process.exitCode === 'number' ? process.exitCode : 0
  } catch (error) {
    return report(error)
  }
}

export function report(error: unknown): number {
  if (isDsyncError(error)) {
    process.stderr.write(`dsync: ${error.line()}\n`)
    if (process.env.DEBUG && error.stack) process.stderr.write(error.stack + '\n')
    return error.exitCode
  }
  const oclif = (error as { oclif?: { exit?: number } }).oclif
  if (oclif && typeof oclif.exit === 'number') {
    // oclif's own parse errors (unknown flag, missing argument): usage errors.
    if (oclif.exit === 0) return 0
    const message = (error as Error).message.split('\n')[0] ?? 'invalid usage'
    process.stderr.write(`dsync: ${message}; see dsync --help\n`)
    return ExitCode.usage
  }
  // A state folder that cannot be written (a file, read-only): the environment's problem.
  const state = unusableState(error)
  if (state) {
    process.stderr.write(`dsync: ${state.line()}\n`)
    return state.exitCode
  }
  const bug = new BugError(error instanceof Error ? error.message : String(error))
  process.stderr.write(`dsync: ${bug.line()}\n`)
  if (process.env.DEBUG && error instanceof Error && error.stack)
    process.stderr.write(error.stack + '\n')
  return bug.exitCode
}
