/**
 * Planning: a pure function from the validated x-sync config, the resolved compose model and
 * the platform to a plan (what each sync becomes), and from the plan to the override document.
 * No I/O here: everything it needs is passed in, so it is tested with YAML in and YAML out.
 */
import { Document } from 'yaml'
import { ConfigError, type ConfigIssue } from '../lib/errors.js'
import {
  LABEL_PROJECT,
  LABEL_ROLE,
  LABEL_SYNC,
  ROLE_SIDECAR,
  ROLE_VOLUME,
  SIDECAR_HOST_ROOT,
  SIDECAR_SERVICE,
  SIDECAR_SYNC_ROOT,
} from '../docker/labels.js'
import { UNISON_ENV_PREFIX, workerConfig } from '../strategies/unison-config.js'
import type { ComposeModel, MountModel, VolumeOptions } from './model.js'
import type { Platform, ResolvedStrategy, StrategyName, SyncConfig, SyncSpec } from './types.js'
import { distance } from 'fastest-levenshtein'

export interface UidGid {
  uid: number
  gid: number
}

export interface PlannedMount {
  service: string
  target: string
  readOnly: boolean
  /** `replace`: a bind mount of src rewritten; `add`: from the sync's `mounts:`. */
  origin: 'replace' | 'add'
}

export interface PlannedSync {
  spec: SyncSpec
  strategy: ResolvedStrategy
  /** The volume's key in the override (the sync's name); undefined for native. */
  volume: string | undefined
  /** The engine's name of the volume: `<project>_<name>`. */
  volumeName: string | undefined
  /** Where the volume is mounted in the sidecar. */
  sidecarPath: string | undefined
  /** native_osx: where the host folder is bind-mounted in the sidecar. */
  sidecarHostPath: string | undefined
  mounts: PlannedMount[]
  /** Owner of every synced file in the volume (and of its root). */
  owner: UidGid
  /** Services that see the sync (through the volume, or the kept bind mount for native). */
  services: string[]
  /** The user's driver and driver options for the sync volume (a top-level volume of its name). */
  volumeOptions?: VolumeOptions
}

export interface SidecarPlan {
  service: string
  image: string
}

export interface SyncPlan {
  project: string
  syncs: PlannedSync[]
  /** Syncs that only services of inactive profiles mount: nothing to do for them now. */
  idle: string[]
  sidecar: SidecarPlan | undefined
  warnings: string[]
}

export interface PlanInput {
  project: string
  config: SyncConfig
  model: ComposeModel
  platform: Platform
  /** The image tag of the sidecar (from images/sync, or x-sync.image). */
  sidecarImage: string
  /** Owner of each sync's host folder: the default owner in the volume. */
  hostOwners: Record<string, UidGid>
  /** The user's depends_on of each service, as compose resolved it (kept when extended). */
  dependsOn?: Record<string, Record<string, unknown>>
  /**
   * Services of the user's files that compose left out of the model (compose v2 drops those of
   * inactive profiles), with their bind mounts as written.
   */
  inactiveServices?: Record<string, MountModel[]>
}

export interface RenderOptions {
  dependsOn?: Record<string, Record<string, unknown>>
  /**
   * The engine (API 1.44+) and compose (v2) run a healthcheck's `start_interval`: the sidecar
   * is probed often only while it starts.
   */
  healthStartInterval?: boolean
}

export function resolveStrategy(strategy: StrategyName, platform: Platform): ResolvedStrategy {
  switch (strategy) {
    case 'auto':
      if (platform.engine === 'remote') return 'rsync'
      return platform.os === 'linux' && !platform.desktop ? 'native' : 'native_osx'
    case 'native':
    case 'rsync':
    case 'unison':
    case 'native_osx':
      return strategy
  }
}

export function plan(input: PlanInput): SyncPlan {
  const { config, model, platform, project } = input
  const issues: ConfigIssue[] = []
  const warnings: string[] = []
  const serviceNames = Object.keys(model.services)

  if (
    model.services[SIDECAR_SERVICE] &&
    config.syncs.some((s) => usesSidecar(resolveStrategy(s.strategy, platform)))
  ) {
    issues.push({
      file: config.syncs[0]?.file ?? '',
      path: `services.${SIDECAR_SERVICE}`,
      message: `the service name "${SIDECAR_SERVICE}" is reserved for dsync's sync sidecar`,
      suggestion: 'rename that service',
    })
  }

  const syncs: PlannedSync[] = []
  const idle: string[] = []
  const inactive = input.inactiveServices ?? {}
  for (const spec of config.syncs) {
    const where = `x-sync.syncs.${spec.name}`
    const strategy = resolveStrategy(spec.strategy, platform)
    if (platform.engine === 'remote' && (strategy === 'native' || strategy === 'native_osx')) {
      issues.push({
        file: spec.file,
        path: `${where}.strategy`,
        message: `${strategy} cannot work with a remote Docker engine (its bind mounts do not see this machine's files)`,
        suggestion: 'use strategy: rsync or unison',
      })
      continue
    }
    // A volume of the same name that no service mounts is the user's way to set the sync
    // volume's driver options (a tmpfs, another driver); compose merges it with dsync's own.
    // One that a service mounts holds other data.
    const mountedAsVolume = Object.values(model.services).some((service) =>
      service.mounts.some((m) => m.type === 'volume' && m.source === spec.name),
    )
    if (model.volumes.includes(spec.name) && mountedAsVolume) {
      issues.push({
        file: spec.file,
        path: where,
        message: `the sync name "${spec.name}" collides with the volume "${spec.name}" of the compose file`,
        suggestion: 'rename the sync',
      })
    }
    if (model.services[spec.name]) {
      issues.push({
        file: spec.file,
        path: where,
        message: `the sync name "${spec.name}" collides with the service "${spec.name}"`,
        suggestion: 'rename the sync',
      })
    }

    const mounts: PlannedMount[] = []
    for (const service of Object.values(model.services)) {
      for (const mount of service.mounts) {
        if (isBindOf(mount, spec)) {
          mounts.push({
            service: service.name,
            target: mount.target,
            readOnly: mount.readOnly,
            origin: 'replace',
          })
        }
      }
    }
    let mountedByInactive = Object.values(inactive).some((list) =>
      list.some((mount) => isBindOf(mount, spec)),
    )
    for (const [service, target] of Object.entries(spec.mounts)) {
      if (!model.services[service] && Object.hasOwn(inactive, service)) {
        mountedByInactive = true
        continue
      }
      if (!model.services[service]) {
        const near = nearest(service, serviceNames)
        issues.push({
          file: spec.file,
          path: `${where}.mounts.${service}`,
          message: `no service named "${service}"`,
          suggestion: near ? `did you mean "${near}"?` : `services are: ${serviceNames.join(', ')}`,
        })
        continue
      }
      if (!mounts.some((m) => m.service === service && m.target === target)) {
        mounts.push({ service, target, readOnly: false, origin: 'add' })
      }
    }
    if (mounts.length === 0 && mountedByInactive) {
      idle.push(spec.name)
      continue
    }
    if (mounts.length === 0) {
      issues.push({
        file: spec.file,
        path: where,
        message: `no service mounts "${spec.srcAsWritten}"`,
        suggestion: `bind-mount it in a service (e.g. volumes: ["${spec.srcAsWritten}:/app"]) or add mounts: {SERVICE: /path}`,
      })
      continue
    }
    const services = [...new Set(mounts.map((m) => m.service))]
    const sidecar = usesSidecar(strategy)
    syncs.push({
      spec,
      strategy,
      volume: sidecar ? spec.name : undefined,
      volumeName: sidecar ? `${project}_${spec.name}` : undefined,
      sidecarPath: sidecar ? `${SIDECAR_SYNC_ROOT}/${spec.name}` : undefined,
      sidecarHostPath: strategy === 'native_osx' ? `${SIDECAR_HOST_ROOT}/${spec.name}` : undefined,
      mounts,
      owner: resolveOwner(spec, services, model, input.hostOwners[spec.name], warnings),
      services,
      ...(sidecar && model.volumeOptions?.[spec.name]
        ? { volumeOptions: model.volumeOptions[spec.name] }
        : {}),
    })
  }
  if (issues.length > 0) throw new ConfigError(issues)
  const needsSidecar = syncs.some((s) => s.volume !== undefined)
  return {
    project,
    syncs,
    idle,
    sidecar: needsSidecar ? { service: SIDECAR_SERVICE, image: input.sidecarImage } : undefined,
    warnings,
  }
}

function usesSidecar(strategy: ResolvedStrategy): boolean {
  switch (strategy) {
    case 'native':
      return false
    case 'rsync':
    case 'unison':
    case 'native_osx':
      return true
  }
}

/** A bind mount of the sync's folder, named by its real path or the symlink the user wrote. */
function isBindOf(mount: MountModel, spec: Pick<SyncSpec, 'src' | 'srcLink'>): boolean {
  if (mount.type !== 'bind' || mount.source === undefined) return false
  const source = trimSlash(mount.source)
  return (
    source === trimSlash(spec.src) ||
    (spec.srcLink !== undefined && source === trimSlash(spec.srcLink))
  )
}

function trimSlash(p: string): string {
  return p.length > 1 ? p.replace(/\/+$/, '') : p
}

function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const c of candidates) {
    const d = distance(word, c)
    if (d < bestDistance) {
      best = c
      bestDistance = d
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3))
    ? best
    : undefined
}

/**
 * `owner: "uid:gid"` as given; `owner: auto` from the numeric `user:` of the services that mount
 * the sync; otherwise the owner of the host folder, which is what rsync preserves.
 */
function resolveOwner(
  spec: SyncSpec,
  services: string[],
  model: ComposeModel,
  hostOwner: UidGid | undefined,
  warnings: string[],
): UidGid {
  const fallback = hostOwner ?? { uid: 0, gid: 0 }
  if (!spec.owner) return fallback
  if (spec.owner.kind === 'fixed') return { uid: spec.owner.uid, gid: spec.owner.gid }
  const users = services
    .map((s) => model.services[s]?.user)
    .filter((u): u is string => u !== undefined && u !== '')
  const numeric = users
    .map((u) => /^(\d+)(?::(\d+))?$/.exec(u))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ uid: Number(m[1]), gid: Number(m[2] ?? m[1]) }))
  const distinct = [...new Set(numeric.map((o) => `${o.uid}:${o.gid}`))]
  if (distinct.length > 1) {
    warnings.push(
      `x-sync.syncs.${spec.name}.owner: services ${services.join(', ')} run as different users (${distinct.join(', ')}); using ${distinct[0]}`,
    )
  }
  if (numeric[0]) return numeric[0]
  if (users.length > 0) {
    warnings.push(
      `x-sync.syncs.${spec.name}.owner: auto needs a numeric user: (got "${users[0]}"); files keep the host folder's owner. Set owner: "UID:GID"`,
    )
  } else {
    return { uid: 0, gid: 0 }
  }
  return fallback
}

/** The override document layered over the user's files with an extra -f. */
export function renderOverride(syncPlan: SyncPlan, input: RenderOptions = {}): Document {
  const services: Record<string, Record<string, unknown>> = {}
  const volumes: Record<string, unknown> = {}
  const sidecar = syncPlan.sidecar
  for (const sync of syncPlan.syncs) {
    if (!sync.volume) {
      // native: the user's binds stay; the sync's own `mounts:` become binds of src.
      for (const mount of sync.mounts) {
        if (mount.origin !== 'add') continue
        const service = (services[mount.service] ??= {})
        const list = (service.volumes ??= []) as unknown[]
        list.push({ type: 'bind', source: sync.spec.src, target: mount.target })
      }
      continue
    }
    volumes[sync.volume] = {
      // Compose v1 replaces a top-level volume of an earlier file instead of merging it: the
      // user's driver options for the sync volume are repeated here.
      ...sync.volumeOptions,
      labels: {
        [LABEL_ROLE]: ROLE_VOLUME,
        [LABEL_PROJECT]: syncPlan.project,
        [LABEL_SYNC]: sync.spec.name,
      },
    }
    for (const mount of sync.mounts) {
      const service = (services[mount.service] ??= {})
      const list = (service.volumes ??= []) as unknown[]
      list.push({
        type: 'volume',
        source: sync.volume,
        target: mount.target,
        ...(mount.readOnly ? { read_only: true } : {}),
        volume: { nocopy: true },
      })
    }
    if (sidecar) {
      for (const name of sync.services) {
        const service = (services[name] ??= {})
        service.depends_on = {
          ...(input.dependsOn?.[name] ?? {}),
          [sidecar.service]: { condition: 'service_healthy' },
        }
      }
    }
  }
  if (sidecar) {
    // native_osx: the sidecar's own worker syncs both ways (images/sync/dsync-unison), told
    // what to sync by one variable per sync. `$` is doubled: compose interpolates this file.
    const environment: Record<string, string> = {}
    for (const sync of syncPlan.syncs) {
      if (sync.strategy !== 'native_osx' || !sync.sidecarPath || !sync.sidecarHostPath) continue
      environment[`${UNISON_ENV_PREFIX}${sync.spec.name}`] = workerConfig({
        name: sync.spec.name,
        hostPath: sync.sidecarHostPath,
        volumePath: sync.sidecarPath,
        src: sync.spec.src,
        owner: sync.owner,
        prefer: sync.spec.prefer,
        initial: sync.spec.initial,
        excludes: sync.spec.excludes,
        excludesType: sync.spec.excludesType,
        args: sync.spec.args,
      }).replace(/\$/g, '$$$$')
    }
    services[sidecar.service] = {
      image: sidecar.image,
      ...(Object.keys(environment).length > 0 ? { environment } : {}),
      network_mode: 'none',
      cap_drop: ['ALL'],
      cap_add: ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID'],
      security_opt: ['no-new-privileges:true'],
      labels: { [LABEL_ROLE]: ROLE_SIDECAR, [LABEL_PROJECT]: syncPlan.project },
      volumes: syncPlan.syncs.flatMap((sync) => {
        if (!sync.volume || !sync.sidecarPath) return []
        const own = [{ type: 'volume', source: sync.volume, target: sync.sidecarPath }]
        if (sync.sidecarHostPath) {
          own.push({ type: 'bind', source: sync.spec.src, target: sync.sidecarHostPath })
        }
        return own
      }),
      // An engine restart brings the sidecar back; the watcher daemon finds it again by its labels.
      restart: 'unless-stopped',
      healthcheck: input.healthStartInterval
        ? {
            test: ['CMD', '/usr/local/bin/dsync-health'],
            // Probed every 200 ms while it starts (healthy as soon as the initial sync is
            // done), then every 30 s instead of every second for ever.
            interval: '30s',
            timeout: '5s',
            retries: 3,
            start_period: '5m',
            start_interval: '200ms',
          }
        : {
            test: ['CMD', '/usr/local/bin/dsync-health'],
            interval: '1s',
            timeout: '5s',
            retries: 3,
          },
      stop_grace_period: '2s',
    }
  }
  const body: Record<string, unknown> = { services }
  if (Object.keys(volumes).length > 0) body.volumes = volumes
  const doc = new Document(body)
  doc.commentBefore =
    ' Generated by dsync for this project on every run. Do not edit: change x-sync instead.'
  return doc
}

/** True when the plan changes nothing (all syncs native, no `mounts:`): no override is needed. */
export function isEmptyPlan(syncPlan: SyncPlan): boolean {
  return (
    syncPlan.sidecar === undefined &&
    syncPlan.syncs.every((s) => s.mounts.every((m) => m.origin !== 'add'))
  )
}

export const _internal = { isBindOf, nearest, usesSidecar }
