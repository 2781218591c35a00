import { Args, Command, Flags } from '@oclif/core'
import { acceptDeletions, isNothingToSync, NOTHING_TO_SYNC, syncNow } from '../daemon/service.js'
import { context, projectFlags, toProjectFlags } from '../project-flags.js'

export default class Sync extends Command {
  static override summary =
    'Run a full sync pass of one sync (or all), starting the daemon if it is not running.'
  static override examples = [
    '<%= config.bin %> sync',
    '<%= config.bin %> sync app',
    '<%= config.bin %> sync app --accept-deletions',
  ]
  static override args = {
    name: Args.string({ description: 'The sync to pass over (default: all).' }),
  }
  static override flags = {
    ...projectFlags,
    'accept-deletions': Flags.boolean({
      summary:
        'native_osx and unison: propagate the mass deletion that halted this sync (a folder or volume emptied).',
    }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Sync)
    if (flags['accept-deletions']) {
      if (!args.name) this.error('--accept-deletions needs the name of the sync', { exit: 64 })
      const accepted = await acceptDeletions(args.name, toProjectFlags(flags), context())
      this.logToStderr(
        accepted
          ? `dsync: ${args.name}: the deletion was accepted and propagated`
          : `dsync: ${args.name}: no deletion to accept (the sync was not halted)`,
      )
    }
    const result = await syncNow(args.name, toProjectFlags(flags), context())
    if (isNothingToSync(result)) this.logToStderr(`dsync: ${NOTHING_TO_SYNC}`)
  }
}
