/**
 * The JSON Schema (draft-07) of the `x-sync` block. It is published (`dsync schema`) so editors
 * complete and check the block, and it is what `validateXSync` runs Ajv against, so the two
 * never disagree. `errorMessage` is a non-standard annotation that VS Code's YAML and JSON
 * servers show instead of their generic text; dsync uses it the same way.
 */
import { EXCLUDE_TYPES, STRATEGIES, type InitialDirection, type Prefer } from './types.js'

export const PREFER_VALUES = ['host', 'container', 'newer'] as const satisfies readonly Prefer[]
export const INITIAL_VALUES = ['host', 'two-way'] as const satisfies readonly InitialDirection[]

/** A sync name becomes part of a Docker volume name, hence the narrow alphabet. */
export const SYNC_NAME_PATTERN = '^[a-z0-9][a-z0-9_-]*$'
export const OWNER_PATTERN = '^[0-9]+:[0-9]+$'

/** The per-sync options that `x-sync.defaults` may also set. */
const sharedOptions = {
  strategy: {
    title: 'Strategy',
    description:
      'How the folder reaches the containers. auto: native on Linux with a local engine, native_osx on Docker Desktop, rsync with a remote engine (one on another host, also when reached through an ssh tunnel or a forwarded socket). native: keep the bind mount, no sync. rsync: one-way host to volume. unison: two-way, driven from the host. native_osx: two-way, unison inside the sidecar.',
    type: 'string',
    enum: [...STRATEGIES],
    default: 'auto',
  },
  owner: {
    title: 'Owner',
    description:
      'Owner of the files in the volume. auto: the numeric user of the services that mount it; "uid:gid": these numeric ids.',
    type: 'string',
    anyOf: [
      { const: 'auto', description: 'Take the numeric user of the services that mount the sync.' },
      { pattern: OWNER_PATTERN, description: 'Numeric uid and gid, e.g. "1000:1000".' },
    ],
    examples: ['auto', '1000:1000'],
    errorMessage: 'must be "auto" or numeric "uid:gid", e.g. "1000:1000"',
  },
  prefer: {
    title: 'Conflict winner',
    description:
      'Which side wins when a file changed on both sides (two-way strategies only: unison, native_osx).',
    type: 'string',
    enum: [...PREFER_VALUES],
    default: 'host',
  },
  initial: {
    title: 'Initial sync direction',
    description:
      "What the first sync (no sync history in the volume yet) does. host: the volume becomes a copy of the host folder (native_osx keeps what that replaces in the volume's .dsync/replaced-<time>); two-way: both sides are merged. Later starts reconcile both ways (two-way strategies only: unison, native_osx).",
    type: 'string',
    enum: [...INITIAL_VALUES],
    default: 'host',
  },
  excludes: {
    title: 'Excludes',
    description:
      'Paths not synced, read as excludes_type says. A list in a sync replaces the one in defaults.',
    type: 'array',
    items: { type: 'string' },
    default: [],
  },
  excludes_type: {
    title: 'Exclude syntax',
    description:
      'gitignore: .gitignore patterns; name: a file or folder name anywhere; path: a path relative to src; regex: a regular expression on the relative path.',
    type: 'string',
    enum: [...EXCLUDE_TYPES],
    default: 'gitignore',
  },
  args: {
    title: 'Extra arguments',
    description: 'Extra command-line arguments for the sync tool (rsync or unison).',
    type: 'array',
    items: { type: 'string' },
    default: [],
  },
} as const

export const xsyncSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'x-sync',
  description:
    'docker-dsync: host folders kept in sync with named volumes of this Compose project. Put it at the top level of a compose file.',
  type: 'object',
  additionalProperties: false,
  required: ['syncs'],
  properties: {
    image: {
      title: 'Sidecar image',
      description: 'Image of the sync sidecar for the whole project (default: built by dsync).',
      type: 'string',
      minLength: 1,
    },
    defaults: {
      title: 'Defaults',
      description: 'Options applied to every sync that does not set them itself.',
      type: 'object',
      additionalProperties: false,
      properties: sharedOptions,
    },
    syncs: {
      title: 'Syncs',
      description:
        'Sync name -> sync. Each name becomes a named volume of the project (lowercase letters, digits, "_" and "-").',
      type: 'object',
      minProperties: 1,
      propertyNames: {
        pattern: SYNC_NAME_PATTERN,
        errorMessage:
          'is not a valid sync name: use lowercase letters, digits, "_" and "-", starting with a letter or digit',
      },
      additionalProperties: { $ref: '#/definitions/sync' },
    },
  },
  definitions: {
    sync: {
      title: 'Sync',
      description: 'One host folder kept in sync with a named volume.',
      type: 'object',
      additionalProperties: false,
      required: ['src'],
      properties: {
        src: {
          title: 'Source folder',
          description: 'The host folder to sync, relative to the project directory.',
          type: 'string',
          minLength: 1,
          examples: ['./', './src'],
        },
        mounts: {
          title: 'Extra mounts',
          description:
            'Service -> absolute container path where the sync volume is also mounted. Bind mounts of src in the services are replaced automatically.',
          type: 'object',
          additionalProperties: {
            type: 'string',
            minLength: 1,
            errorMessage: 'must be an absolute container path, e.g. "/var/www/app"',
          },
          errorMessage: 'must be a map of service name to container path, e.g. {web: /var/www/app}',
        },
        ...sharedOptions,
      },
    },
  },
} as const
