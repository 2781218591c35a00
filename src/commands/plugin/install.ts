import { Command } from '@oclif/core'
import { installPlugin } from '../../docker/plugin.js'

export default class PluginInstall extends Command {
  static override summary =
    'Install dsync as a Docker CLI plugin, so `docker dsync compose up` works.'
  static override examples = ['<%= config.bin %> plugin install']

  async run(): Promise<void> {
    await this.parse(PluginInstall)
    const result = installPlugin()
    this.logToStderr(`dsync: installed ${result.path} -> ${result.target}; try docker dsync --help`)
  }
}
