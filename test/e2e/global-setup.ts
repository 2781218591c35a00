/**
 * Runs once before the e2e tests: they need a real Docker engine. In CI a missing engine is
 * an error (scripts/ci/docker-engine.sh starts one); elsewhere it is a warning, and the tests
 * that need the engine fail with docker's own message.
 */
import { run } from '../../src/lib/exec.js'

export default async function setup(): Promise<void> {
  const info = await run('docker', ['info', '--format', '{{.ServerVersion}}'], { reject: false })
  if (info.exitCode === 0) return
  const message = `e2e tests need a running Docker engine (docker info: ${info.stderr.trim()}); run scripts/ci/docker-engine.sh`
  if (process.env.CI) throw new Error(message)
  process.stderr.write(`warning: ${message}\n`)
}
