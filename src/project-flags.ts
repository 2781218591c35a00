/** The project-finding flags shared by the commands that act on one project (oclif adapters). */
import { Flags } from '@oclif/core'
import type { ProjectFlags } from './daemon/service.js'

export const projectFlags = {
  file: Flags.string({
    char: 'f',
    multiple: true,
    summary: 'Compose file (repeatable), as with docker compose -f.',
  }),
  'project-name': Flags.string({ char: 'p', summary: 'Project name, as with docker compose -p.' }),
  'project-directory': Flags.string({ summary: 'Project directory, as with docker compose.' }),
  'env-file': Flags.string({
    multiple: true,
    summary: 'Environment file, as with docker compose.',
  }),
}

export function toProjectFlags(flags: {
  file?: string[]
  'project-name'?: string
  'project-directory'?: string
  'env-file'?: string[]
}): ProjectFlags {
  return {
    file: flags.file,
    projectName: flags['project-name'],
    projectDirectory: flags['project-directory'],
    envFile: flags['env-file'],
  }
}

export const context = () => ({ cwd: process.cwd(), env: process.env })
