import { Command } from '@oclif/core'

import { xsyncSchema } from '../compose/xsync-schema.js'

export default class Schema extends Command {
  static override summary = 'Print the JSON Schema of the x-sync block.'

  static override description = `Prints the JSON Schema (draft-07) that dsync validates the x-sync block of your compose files against, so an editor can complete and check it. Save it and point your editor's YAML extension at it.`

  static override examples = [
    {
      description: 'Print the schema.',
      command: '<%= config.bin %> <%= command.id %>',
    },
    {
      description: 'Save it for an editor.',
      command: '<%= config.bin %> <%= command.id %> > x-sync.schema.json',
    },
  ]

  async run(): Promise<void> {
    await this.parse(Schema)
    this.log(JSON.stringify(xsyncSchema, null, 2))
  }
}
