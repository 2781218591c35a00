import { Command } from '@oclif/core'
import { uninstallPlugin } from '../../docker/plugin.js'

export default class PluginUninstall extends Command {
  static override summary = 'Remove the Docker CLI plugin link made by dsync plugin install.'
  static override examples = ['<%= config.bin %> plugin uninstall']

  async run(): Promise<void> {
    await this.parse(PluginUninstall)
    const result = uninstallPlugin()
    this.logToStderr(
      result.removed ? `dsync: removed ${result.path}` : `dsync: ${result.path} was not installed`,
    )
  }
}
