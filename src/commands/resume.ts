import { Command } from '@oclif/core'
import { resume, isNothingToSync, NOTHING_TO_SYNC } from '../daemon/service.js'
import { context, projectFlags, toProjectFlags } from '../project-flags.js'

export default class Resume extends Command {
  static override summary =
    'Resume syncing after dsync pause, catching up on every change made meanwhile.'
  static override examples = ['<%= config.bin %> resume']
  static override flags = projectFlags

  async run(): Promise<void> {
    const { flags } = await this.parse(Resume)
    const result = await resume(toProjectFlags(flags), context())
    this.logToStderr(`dsync: ${isNothingToSync(result) ? NOTHING_TO_SYNC : 'resumed'}`)
  }
}
