import { Command } from '@oclif/core'
import { clean, cleanPlan } from '../daemon/service.js'
import { context, projectFlags, toProjectFlags } from '../project-flags.js'

export default class Clean extends Command {
  static override summary =
    "Remove dsync's daemon, sidecar container, sync volumes and state for the project."
  static override description =
    'Says what it removes, then removes it. Your files and your own services and volumes are never touched; a sync volume still mounted by an app container is kept (run dsync compose down first).'
  static override examples = ['<%= config.bin %> clean', '<%= config.bin %> clean -p myapp']
  static override flags = projectFlags

  async run(): Promise<void> {
    const { flags } = await this.parse(Clean)
    const ctx = context()
    const plan = await cleanPlan(toProjectFlags(flags), ctx)
    const items = [
      ...(plan.daemonPid ? [`daemon ${plan.daemonPid}`] : []),
      ...plan.containers.map((c) => `container ${c.name}`),
      ...plan.volumes.map((v) => `volume ${v}`),
      ...(plan.stateDir ? [`state ${plan.stateDir}`] : []),
    ]
    if (items.length === 0) {
      this.logToStderr(`dsync: nothing of dsync's to remove for project ${plan.project}`)
      return
    }
    this.logToStderr(`dsync: removing ${items.join(', ')}`)
    await clean(plan, ctx)
  }
}
