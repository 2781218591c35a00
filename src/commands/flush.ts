import { Command } from '@oclif/core'
import { flush, isNothingToSync, NOTHING_TO_SYNC } from '../daemon/service.js'
import { context, projectFlags, toProjectFlags } from '../project-flags.js'

export default class Flush extends Command {
  static override summary = 'Sync now, and return only when every sync volume matches the host.'
  static override description =
    'Waits for pending changes, then verifies each sync with a full comparison; a change the watcher had missed is applied and counted in `dsync status` as missed.'
  static override examples = ['<%= config.bin %> flush', '<%= config.bin %> flush -p myapp']
  static override flags = projectFlags

  async run(): Promise<void> {
    const { flags } = await this.parse(Flush)
    const result = await flush(toProjectFlags(flags), context())
    if (isNothingToSync(result)) {
      this.logToStderr(`dsync: ${NOTHING_TO_SYNC}`)
      return
    }
    this.logToStderr(`dsync: ${result.syncs.map((s) => s.name).join(', ')} in sync`)
  }
}
