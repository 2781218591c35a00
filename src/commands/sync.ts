import { Args, Command } from '@oclif/core'
import { isNothingToSync, NOTHING_TO_SYNC, syncNow } from '../daemon/service.js'
import { context, projectFlags, toProjectFlags } from '../project-flags.js'

export default class Sync extends Command {
  static override summary =
    'Run a full sync pass of one sync (or all), starting the daemon if it is not running.'
  static override examples = ['<%= config.bin %> sync', '<%= config.bin %> sync app']
  static override args = {
    name: Args.string({ description: 'The sync to pass over (default: all).' }),
  }
  static override flags = projectFlags

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Sync)
    const result = await syncNow(args.name, toProjectFlags(flags), context())
    if (isNothingToSync(result)) this.logToStderr(`dsync: ${NOTHING_TO_SYNC}`)
  }
}
