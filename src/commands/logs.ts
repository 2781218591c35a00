import { Command, Flags } from '@oclif/core'
import { logs } from '../daemon/service.js'
import { context, projectFlags, toProjectFlags } from '../project-flags.js'

export default class Logs extends Command {
  static override summary = "Print the watcher daemon's log."
  static override examples = ['<%= config.bin %> logs', '<%= config.bin %> logs -f']
  static override flags = {
    ...projectFlags,
    follow: Flags.boolean({ summary: 'Keep printing new lines.' }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Logs)
    const abort = new AbortController()
    process.once('SIGINT', () => abort.abort())
    process.once('SIGTERM', () => abort.abort())
    await logs(toProjectFlags(flags), context(), { follow: flags.follow, signal: abort.signal })
  }
}
