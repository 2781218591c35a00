import { Command } from '@oclif/core'
import { composeMain } from '../compose/run.js'

export default class Compose extends Command {
  static override summary =
    'Run docker compose with your files plus the x-sync override (the main job).'
  static override description = `Every argument goes to your compose CLI (docker compose, or docker-compose) with your compose files and the override dsync generates from the x-sync block. "up" and "start" bring the sync up first (sidecar, initial sync, watcher daemon), so your services start on synced code; "down", "stop" and "kill" stop the sync first. A project without x-sync runs exactly as under plain compose.`
  static override strict = false
  static override examples = [
    '<%= config.bin %> compose up -d',
    '<%= config.bin %> compose -f compose.yml -p myapp up --build',
    '<%= config.bin %> compose exec app sh',
    '<%= config.bin %> compose down',
  ]

  async run(): Promise<void> {
    // Reached only through oclif (e.g. `dsync help compose`); bin/run.js routes `dsync compose`
    // straight to the wrapper.
    this.exit(await composeMain(this.argv, { cwd: process.cwd(), env: process.env }))
  }
}
