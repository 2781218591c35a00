/**
 * The daemon's guardian: a few lines of sh, started by the daemon, that wait for the daemon to
 * end. A daemon that stops on purpose (SIGTERM from `down`, the `stop` request, its project
 * gone) kills its guardian first; any other end (SIGKILL, the OOM killer, a crash) makes the
 * guardian start a new daemon in its place, which catches up with a full pass and starts a
 * guardian of its own. A daemon that watches its guardian (its child: node reports its exit)
 * starts another if it dies, so neither can be lost alone.
 *
 * sh rather than a second node process: it costs under a megabyte and no CPU, blocked on a
 * pipe from the daemon until the daemon's end closes it. A daemon that keeps dying within seconds of its start is restarted after a pause,
 * and given up after a few tries, with a line in the daemon's log.
 */
import { spawn, type Spawned } from '../lib/spawn.js'
import { DAEMON_MARKER, logPath } from './process.js'

/** The guardian's name in `ps`; the daemon's own marker must not appear as an argument of it. */
export const GUARDIAN_MARKER = 'dsync-guardian'

/** Environment the guardian passes to the daemon it starts. */
export const RESTARTS_ENV = 'DSYNC_DAEMON_RESTARTS'
export const CAUSE_ENV = 'DSYNC_DAEMON_RESTART_CAUSE'
const FAST_ENV = 'DSYNC_DAEMON_FAST_DEATHS'

const SCRIPT = `
pid=$1 dir=$2 node=$3 main=$4 log=$5
# Spelt in two parts so that this script's own command line never matches it (pgrep -f).
marker=${DAEMON_MARKER.replace('-', '-""')}
started=$(date +%s)
# Blocks, at no cost, until the kernel closes the daemon's end of the pipe on stdin: the
# daemon has ended. Nothing is ever written to it.
read -r _ || true
exec </dev/null
# Then a moment for its process to be gone (its command line ends with the marker and the
# state folder; a recycled pid's does not).
while tr '\\000' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- " $marker $dir " \\
  || { [ ! -d /proc/self ] && kill -0 "$pid" 2>/dev/null; }; do
  sleep 0.1
done
fast=0
if [ $(( $(date +%s) - started )) -lt 15 ]; then fast=$(( \${${FAST_ENV}:-0} + 1 )); fi
if [ "$fast" -ge 5 ]; then
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) dsync:guardian the daemon died $fast times within seconds of its start: not restarting it; see the lines above, then run dsync compose up" >>"$log"
  exit 0
fi
[ "$fast" -gt 0 ] && sleep $(( fast * 2 ))
export ${FAST_ENV}=$fast
export ${RESTARTS_ENV}=$(( \${${RESTARTS_ENV}:-0} + 1 ))
export ${CAUSE_ENV}="the daemon (pid $pid) ended without being stopped"
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) dsync:guardian the daemon (pid $pid) ended without being stopped: starting a new one" >>"$log"
cd "$dir" 2>/dev/null || cd /
exec "$node" "$main" "$marker" "$dir" </dev/null >>"$log" 2>&1
`

/**
 * Starts the guardian of this daemon process, detached: it must outlive the daemon. `onExit` is
 * called when the guardian ends (killed while the daemon still runs: the daemon starts another).
 */
export function startGuardian(
  stateDir: string,
  daemonMain: string,
  onExit: (child: Spawned) => void,
): Spawned {
  const child = spawn(
    'sh',
    [
      '-c',
      SCRIPT,
      GUARDIAN_MARKER,
      String(process.pid),
      stateDir,
      process.execPath,
      daemonMain,
      logPath(stateDir),
    ],
    // stdin: a pipe the daemon holds open for its whole life (see the script).
    { detached: true, stdin: 'pipe', stdout: 'ignore', stderr: 'ignore' },
  )
  // Nothing is written; a guardian that died is reported by its exit, not by an EPIPE.
  child.stdin.on('error', () => undefined)
  child.once('exit', () => onExit(child))
  child.unref()
  return child
}
