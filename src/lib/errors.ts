/**
 * Errors and exit codes. Every failure dsync reports itself is one of these; the child's own
 * exit code is passed through unchanged for `dsync compose ...`. Codes follow sysexits(3) so
 * they never collide with the small codes compose itself returns.
 */
export const ExitCode = {
  ok: 0,
  /** Bad command-line usage (unknown flag, missing argument). */
  usage: 64,
  /** The x-sync block (or a compose file) is invalid. */
  config: 65,
  /** A file or folder named by the user does not exist (compose file, sync src). */
  noInput: 66,
  /** A required program or service is unavailable (Docker engine, compose, rsync, unison). */
  unavailable: 69,
  /** A bug in dsync. */
  bug: 70,
  /** dsync cannot create or write its state (the state folder is a file, or not writable). */
  cantCreate: 73,
  /** A sync failed or the watcher daemon is unreachable; retrying may help. */
  tempFail: 75,
  /** Interrupted by a signal before compose started. */
  interrupted: 130,
} as const
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

/** An error dsync reports as one line: what is wrong, where, and what to do. */
export class DsyncError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly hint?: string,
  ) {
    super(message)
    this.name = new.target.name
  }

  /** The one line printed on stderr. */
  line(): string {
    return this.hint ? `${this.message}; ${this.hint}` : this.message
  }
}

/** Something the user can fix: bad input, a missing file, a wrong setting. */
export class AbortError extends DsyncError {
  constructor(message: string, hint?: string, exitCode: number = ExitCode.usage) {
    super(message, exitCode, hint)
  }
}

/** One problem found in the user's configuration, located by file and key path. */
export interface ConfigIssue {
  file: string
  path: string
  message: string
  suggestion?: string
  /** A file or folder the user named does not exist (exit 66 when every issue is one). */
  missing?: true
}

export function formatConfigIssue(issue: ConfigIssue): string {
  const where = issue.path ? `${issue.file}: ${issue.path}` : issue.file
  return `${where}: ${issue.message}${issue.suggestion ? `; ${issue.suggestion}` : ''}`
}

/** The configuration is invalid; all problems are kept, the first is the headline. */
export class ConfigError extends DsyncError {
  constructor(readonly issues: readonly ConfigIssue[]) {
    const first = issues[0]
    const allMissing = issues.length > 0 && issues.every((issue) => issue.missing)
    super(
      first ? formatConfigIssue(first) : 'invalid configuration',
      allMissing ? ExitCode.noInput : ExitCode.config,
    )
  }

  override line(): string {
    return this.issues.map(formatConfigIssue).join('\n')
  }
}

/** A subprocess failed; keeps the command, its exit code and the tail of its stderr. */
export class ExternalError extends DsyncError {
  constructor(
    readonly command: string,
    readonly childExitCode: number | undefined,
    readonly stderr: string,
    hint?: string,
    exitCode: number = ExitCode.tempFail,
  ) {
    const tail = lastLine(stderr)
    super(
      `${command} failed${childExitCode === undefined ? '' : ` (exit ${childExitCode})`}${tail ? `: ${tail}` : ''}`,
      exitCode,
      hint,
    )
  }
}

/** Something that should not happen; reported with a request to file an issue. */
export class BugError extends DsyncError {
  constructor(message: string) {
    super(
      message,
      ExitCode.bug,
      'this is a bug in dsync, please report it with DEBUG=dsync:* output',
    )
  }
}

function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
  return lines.at(-1) ?? ''
}

export function isDsyncError(error: unknown): error is DsyncError {
  return error instanceof DsyncError
}
