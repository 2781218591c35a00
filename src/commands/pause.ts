import { Command } from '@oclif/core'
import { pause, isNothingToSync, NOTHING_TO_SYNC } from '../daemon/service.js'
import { context, projectFlags, toProjectFlags } from '../project-flags.js'

export default class Pause extends Command {
  static override summary = 'Pause syncing (changes are queued); dsync resume catches up.'
  static override examples = ['<%= config.bin %> pause']
  static override flags = projectFlags

  async run(): Promise<void> {
    const { flags } = await this.parse(Pause)
    const result = await pause(toProjectFlags(flags), context())
    this.logToStderr(`dsync: ${isNothingToSync(result) ? NOTHING_TO_SYNC : 'paused'}`)
  }
}
