import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { parse } from 'yaml'

import { parseComposeModel, type ComposeModel } from '../../src/compose/model.js'
import {
  isEmptyPlan,
  plan,
  renderOverride,
  resolveStrategy,
  type PlanInput,
  type SyncPlan,
  type UidGid,
} from '../../src/compose/plan.js'
import type { Platform, StrategyName, SyncConfig, SyncSpec } from '../../src/compose/types.js'
import { readXSync, validateXSync } from '../../src/compose/xsync.js'
import { ConfigError, ExitCode, formatConfigIssue } from '../../src/lib/errors.js'

const DIR = '/home/me/proj'
const IMAGE = 'dsync-sync:test'
const LINUX: Platform = { os: 'linux', engine: 'local', desktop: false }
const MAC: Platform = { os: 'darwin', engine: 'local', desktop: true }
const REMOTE: Platform = { os: 'linux', engine: 'remote', desktop: false }
const HOST_OWNER: UidGid = { uid: 501, gid: 20 }

/** One sync as validateXSync returns it, with `src: ./` and strategy rsync unless told. */
function spec(name: string, fields: Partial<SyncSpec> = {}): SyncSpec {
  return {
    name,
    src: DIR,
    srcAsWritten: './',
    strategy: 'rsync',
    mounts: {},
    owner: undefined,
    prefer: 'host',
    initial: 'host',
    excludes: [],
    excludesType: 'gitignore',
    args: [],
    file: 'compose.yaml',
    ...fields,
  }
}

/** The services' depends_on in map form, as load.ts reads them from `compose config`. */
function dependsOnOf(composeYaml: string): Record<string, Record<string, unknown>> {
  const doc = parse(composeYaml) as { services?: Record<string, { depends_on?: unknown }> }
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

interface Planned {
  plan: SyncPlan
  /** The override as a plain object, to compare with an expected YAML. */
  override: unknown
  text: string
}

/** Compose YAML in, plan and override YAML out. */
function planYaml(
  composeYaml: string,
  syncs: SyncSpec[],
  platform: Platform = LINUX,
  extra: Partial<PlanInput> = {},
): Planned {
  const model: ComposeModel = parseComposeModel(composeYaml, DIR)
  const config: SyncConfig = { syncs, image: undefined }
  const dependsOn = dependsOnOf(composeYaml)
  const syncPlan = plan({
    project: 'demo',
    config,
    model,
    platform,
    sidecarImage: IMAGE,
    hostOwners: Object.fromEntries(syncs.map((s) => [s.name, HOST_OWNER])),
    dependsOn,
    ...extra,
  })
  const text = renderOverride(syncPlan, { dependsOn }).toString()
  return { plan: syncPlan, override: parse(text), text }
}

/** The issue lines of the ConfigError thrown while planning. */
function planIssues(composeYaml: string, syncs: SyncSpec[], platform: Platform = LINUX): string[] {
  try {
    planYaml(composeYaml, syncs, platform)
  } catch (error) {
    if (error instanceof ConfigError) {
      expect(error.exitCode).toBe(ExitCode.config)
      return error.issues.map(formatConfigIssue)
    }
    throw error
  }
  throw new Error('expected a ConfigError')
}

/** The sidecar service as rendered for project demo, with these volumes. */
function sidecarYaml(volumes: string): string {
  return `
    image: ${IMAGE}
    network_mode: none
    cap_drop: [ALL]
    cap_add: [CHOWN, DAC_OVERRIDE, FOWNER, FSETID]
    security_opt: ['no-new-privileges:true']
    labels:
      dev.dsync.role: sidecar
      dev.dsync.project: demo
    volumes:
${volumes}
    healthcheck:
      test: [CMD, /usr/local/bin/dsync-health]
      interval: 1s
      timeout: 5s
      retries: 3
    stop_grace_period: 2s`
}

/** The top-level volume of one sync. */
function volumeYaml(name: string): string {
  return `
  ${name}:
    labels:
      dev.dsync.role: sync-volume
      dev.dsync.project: demo
      dev.dsync.sync: ${name}`
}

const HEALTHY = '{dsync-sync: {condition: service_healthy}}'

describe('resolveStrategy', () => {
  test.each<[StrategyName, Platform, string]>([
    ['auto', LINUX, 'native'],
    ['auto', { os: 'linux', engine: 'local', desktop: true }, 'native_osx'],
    ['auto', MAC, 'native_osx'],
    ['auto', { os: 'darwin', engine: 'local', desktop: false }, 'native_osx'],
    ['auto', { os: 'win32', engine: 'local', desktop: true }, 'native_osx'],
    ['auto', REMOTE, 'rsync'],
    ['auto', { os: 'darwin', engine: 'remote', desktop: true }, 'rsync'],
    ['native', MAC, 'native'],
    ['rsync', LINUX, 'rsync'],
    ['unison', LINUX, 'unison'],
    ['native_osx', LINUX, 'native_osx'],
  ])('Given %s on %j, When resolved, Then %s', (strategy, platform, resolved) => {
    expect(resolveStrategy(strategy, platform)).toBe(resolved)
  })
})

describe('plan + renderOverride: the whole document', () => {
  test('Given a short bind of ./ and rsync, When rendered, Then the exact override text', () => {
    const compose = `
services:
  web:
    image: nginx
    volumes:
      - ./:/var/www/app
`
    const { text } = planYaml(compose, [spec('app')])

    expect(text)
      .toBe(`# Generated by dsync for this project on every run. Do not edit: change x-sync instead.

services:
  web:
    volumes:
      - type: volume
        source: app
        target: /var/www/app
        volume:
          nocopy: true
    depends_on:
      dsync-sync:
        condition: service_healthy
  dsync-sync:
    image: dsync-sync:test
    network_mode: none
    cap_drop:
      - ALL
    cap_add:
      - CHOWN
      - DAC_OVERRIDE
      - FOWNER
      - FSETID
    security_opt:
      - no-new-privileges:true
    labels:
      dev.dsync.role: sidecar
      dev.dsync.project: demo
    volumes:
      - type: volume
        source: app
        target: /sync/app
    healthcheck:
      test:
        - CMD
        - /usr/local/bin/dsync-health
      interval: 1s
      timeout: 5s
      retries: 3
    stop_grace_period: 2s
volumes:
  app:
    labels:
      dev.dsync.role: sync-volume
      dev.dsync.project: demo
      dev.dsync.sync: app
`)
  })
})

describe('plan + renderOverride: binds of src are replaced', () => {
  test.each([
    ['./:/app', false],
    ['.:/app', false],
    ['./:/app/', false],
    [`${DIR}:/app`, false],
    [`${DIR}/:/app`, false],
    ['./:/app:ro', true],
    ['./:/app:cached', false],
    ['./:/app:delegated', false],
    ['./:/app:z', false],
    ['./:/app:ro,z', true],
  ])(
    'Given the short bind %j, When planned, Then a volume at the same target, read_only %s',
    (bind, readOnly) => {
      const { override } = planYaml(`services: {web: {volumes: ["${bind}"]}}`, [spec('app')])
      const target = bind.split(':')[1]

      expect((override as { services: Record<string, unknown> }).services.web).toEqual(
        parse(`
volumes:
  - {type: volume, source: app, target: ${target}, ${readOnly ? 'read_only: true, ' : ''}volume: {nocopy: true}}
depends_on: ${HEALTHY}`),
      )
    },
  )

  test('Given long-syntax binds, relative and absolute, read_only, When planned, Then each is replaced with its access mode', () => {
    const compose = `
services:
  web:
    volumes:
      - type: bind
        source: ./
        target: /var/www
      - type: bind
        source: ${DIR}
        target: /ro
        read_only: true
        bind: {create_host_path: true}
`
    const { override } = planYaml(compose, [spec('app')])

    expect((override as { services: unknown }).services).toEqual(
      parse(`
web:
  volumes:
    - {type: volume, source: app, target: /var/www, volume: {nocopy: true}}
    - {type: volume, source: app, target: /ro, read_only: true, volume: {nocopy: true}}
  depends_on: ${HEALTHY}
dsync-sync: ${JSON.stringify(parse(sidecarYaml('      - {type: volume, source: app, target: /sync/app}')))}
`),
    )
  })

  test('Given a bind of another folder, a named volume and a tmpfs, When planned, Then they are left alone', () => {
    const compose = `
services:
  web:
    volumes:
      - ./:/app
      - ./conf:/etc/conf
      - data:/data
      - /anon
      - type: tmpfs
        target: /tmp
volumes:
  data: {}
`
    const { plan: p, override } = planYaml(compose, [spec('app')])

    expect(p.syncs[0]?.mounts).toEqual([
      { service: 'web', target: '/app', readOnly: false, origin: 'replace' },
    ])
    expect((override as { services: { web: unknown } }).services.web).toEqual(
      parse(`
volumes: [{type: volume, source: app, target: /app, volume: {nocopy: true}}]
depends_on: ${HEALTHY}`),
    )
  })

  test('Given explicit mounts: next to a replaced bind, When planned, Then both targets get the volume, the duplicate once', () => {
    const compose = `
services:
  web:
    volumes: ["./:/app"]
  worker: {}
`
    const { plan: p, override } = planYaml(compose, [
      spec('app', { mounts: { worker: '/code', web: '/app' } }),
    ])

    expect(p.syncs[0]?.mounts).toEqual([
      { service: 'web', target: '/app', readOnly: false, origin: 'replace' },
      { service: 'worker', target: '/code', readOnly: false, origin: 'add' },
    ])
    expect(p.syncs[0]?.services).toEqual(['web', 'worker'])
    expect((override as { services: unknown }).services).toMatchObject(
      parse(`
web:
  volumes: [{type: volume, source: app, target: /app, volume: {nocopy: true}}]
  depends_on: ${HEALTHY}
worker:
  volumes: [{type: volume, source: app, target: /code, volume: {nocopy: true}}]
  depends_on: ${HEALTHY}
`) as object,
    )
  })

  test('Given two services mounting the same sync, When planned, Then one volume, both services depend on the sidecar', () => {
    const compose = `
services:
  web: {volumes: ["./:/var/www"]}
  worker: {volumes: ["./:/srv:ro"]}
  db: {image: postgres}
`
    const { plan: p, override } = planYaml(compose, [spec('app')])

    expect(p.syncs[0]?.services).toEqual(['web', 'worker'])
    expect(override).toEqual(
      parse(`
services:
  web:
    volumes: [{type: volume, source: app, target: /var/www, volume: {nocopy: true}}]
    depends_on: ${HEALTHY}
  worker:
    volumes: [{type: volume, source: app, target: /srv, read_only: true, volume: {nocopy: true}}]
    depends_on: ${HEALTHY}
  dsync-sync: ${sidecarYaml('      - {type: volume, source: app, target: /sync/app}')}
volumes: ${volumeYaml('app')}
`),
    )
  })

  test('Given two syncs, When planned, Then two volumes, both in the sidecar, and one depends_on per service', () => {
    const compose = `
services:
  web:
    volumes: ["./app:/app", "./lib:/lib"]
  worker:
    volumes: ["./lib:/usr/src/lib"]
`
    const { plan: p, override } = planYaml(compose, [
      spec('code', { src: `${DIR}/app`, srcAsWritten: './app' }),
      spec('lib', { src: `${DIR}/lib`, srcAsWritten: './lib' }),
    ])

    expect(p.syncs.map((s) => [s.volume, s.volumeName, s.sidecarPath])).toEqual([
      ['code', 'demo_code', '/sync/code'],
      ['lib', 'demo_lib', '/sync/lib'],
    ])
    expect(override).toEqual(
      parse(`
services:
  web:
    volumes:
      - {type: volume, source: code, target: /app, volume: {nocopy: true}}
      - {type: volume, source: lib, target: /lib, volume: {nocopy: true}}
    depends_on: ${HEALTHY}
  worker:
    volumes: [{type: volume, source: lib, target: /usr/src/lib, volume: {nocopy: true}}]
    depends_on: ${HEALTHY}
  dsync-sync: ${sidecarYaml(`      - {type: volume, source: code, target: /sync/code}
      - {type: volume, source: lib, target: /sync/lib}`)}
volumes: ${volumeYaml('code')} ${volumeYaml('lib')}
`),
    )
  })
})

describe('plan + renderOverride: depends_on', () => {
  test("Given the user's depends_on as a list, When rendered, Then it is kept next to the sidecar", () => {
    const compose = `
services:
  web:
    volumes: ["./:/app"]
    depends_on: [db, cache]
  db: {}
  cache: {}
`
    const { override } = planYaml(compose, [spec('app')])

    expect((override as { services: { web: unknown } }).services.web).toMatchObject({
      depends_on: parse(`
db: {condition: service_started}
cache: {condition: service_started}
dsync-sync: {condition: service_healthy}`) as object,
    })
  })

  test("Given the user's depends_on as a map, When rendered, Then its conditions are kept verbatim", () => {
    const compose = `
services:
  web:
    volumes: ["./:/app"]
    depends_on:
      db: {condition: service_healthy, restart: true}
      migrate: {condition: service_completed_successfully, required: false}
  db: {}
  migrate: {}
`
    const { override } = planYaml(compose, [spec('app')])

    expect(
      (override as { services: { web: { depends_on: unknown } } }).services.web.depends_on,
    ).toEqual(
      parse(`
db: {condition: service_healthy, restart: true}
migrate: {condition: service_completed_successfully, required: false}
dsync-sync: {condition: service_healthy}`),
    )
  })

  test('Given a service that mounts no sync, When rendered, Then it is not in the override', () => {
    const compose = `
services:
  web: {volumes: ["./:/app"]}
  db: {depends_on: [cache]}
  cache: {}
`
    const { override } = planYaml(compose, [spec('app')])

    expect(Object.keys((override as { services: object }).services)).toEqual(['web', 'dsync-sync'])
  })
})

describe('plan + renderOverride: strategies', () => {
  const compose = `services: {web: {volumes: ["./:/app"]}}`

  test('Given native, When planned, Then the bind stays, no volume, no sidecar and no override needed', () => {
    const { plan: p, override } = planYaml(compose, [spec('app', { strategy: 'native' })])

    expect(p.sidecar).toBeUndefined()
    expect(p.syncs[0]).toMatchObject({
      strategy: 'native',
      volume: undefined,
      volumeName: undefined,
      sidecarPath: undefined,
      sidecarHostPath: undefined,
      services: ['web'],
    })
    expect(isEmptyPlan(p)).toBe(true)
    expect(override).toEqual({ services: {} })
  })

  test('Given auto on Linux with a local engine, When planned, Then it is native', () => {
    const { plan: p } = planYaml(compose, [spec('app', { strategy: 'auto' })], LINUX)

    expect(p.syncs[0]?.strategy).toBe('native')
    expect(isEmptyPlan(p)).toBe(true)
  })

  test('Given native_osx, When planned, Then the sidecar also bind-mounts the host folder at /host/<name>', () => {
    const { plan: p, override } = planYaml(compose, [spec('app', { strategy: 'native_osx' })])

    expect(p.syncs[0]?.sidecarHostPath).toBe('/host/app')
    expect(isEmptyPlan(p)).toBe(false)
    expect(
      (override as { services: { 'dsync-sync': { volumes: unknown } } }).services['dsync-sync']
        .volumes,
    ).toEqual(
      parse(`
- {type: volume, source: app, target: /sync/app}
- {type: bind, source: ${DIR}, target: /host/app}`),
    )
  })

  test.each<[string, Platform]>([
    ['macOS', MAC],
    ['Docker Desktop on Linux', { os: 'linux', engine: 'local', desktop: true }],
  ])('Given auto on %s, When planned, Then it is native_osx', (_name, platform) => {
    const { plan: p } = planYaml(compose, [spec('app', { strategy: 'auto' })], platform)

    expect(p.syncs[0]?.strategy).toBe('native_osx')
    expect(p.syncs[0]?.sidecarHostPath).toBe('/host/app')
  })

  test('Given auto on a remote engine, When planned, Then it is rsync: a volume, no host bind', () => {
    const { plan: p, override } = planYaml(compose, [spec('app', { strategy: 'auto' })], REMOTE)

    expect(p.syncs[0]?.strategy).toBe('rsync')
    expect(p.syncs[0]?.sidecarHostPath).toBeUndefined()
    expect(override).toEqual(
      parse(`
services:
  web:
    volumes: [{type: volume, source: app, target: /app, volume: {nocopy: true}}]
    depends_on: ${HEALTHY}
  dsync-sync: ${sidecarYaml('      - {type: volume, source: app, target: /sync/app}')}
volumes: ${volumeYaml('app')}
`),
    )
  })

  test('Given unison, When rendered, Then the override is the same as for rsync', () => {
    const rsync = planYaml(compose, [spec('app', { strategy: 'rsync' })])
    const unison = planYaml(compose, [spec('app', { strategy: 'unison' })])

    expect(unison.plan.syncs[0]?.strategy).toBe('unison')
    expect(unison.text).toBe(rsync.text)
  })

  test('Given one native and one rsync sync, When planned, Then only the rsync sync is in the override', () => {
    const both = `services: {web: {volumes: ["./app:/app", "./lib:/lib"]}}`
    const { plan: p, override } = planYaml(both, [
      spec('code', { src: `${DIR}/app`, srcAsWritten: './app', strategy: 'native' }),
      spec('lib', { src: `${DIR}/lib`, srcAsWritten: './lib' }),
    ])

    expect(isEmptyPlan(p)).toBe(false)
    expect(override).toEqual(
      parse(`
services:
  web:
    volumes: [{type: volume, source: lib, target: /lib, volume: {nocopy: true}}]
    depends_on: ${HEALTHY}
  dsync-sync: ${sidecarYaml('      - {type: volume, source: lib, target: /sync/lib}')}
volumes: ${volumeYaml('lib')}
`),
    )
  })

  test('Given native with explicit mounts:, When rendered, Then those services get a bind of src there', () => {
    const { plan: p, override } = planYaml(`services: {web: {volumes: ["./:/app"]}, worker: {}}`, [
      spec('app', { strategy: 'native', mounts: { worker: '/code' } }),
    ])

    expect(p.sidecar).toBeUndefined()
    expect(isEmptyPlan(p)).toBe(false)
    expect(override).toEqual(
      parse(`
services:
  worker:
    volumes: [{type: bind, source: ${DIR}, target: /code}]
`),
    )
  })
})

describe('plan: configuration errors', () => {
  const compose = `services: {web: {volumes: ["./:/app"]}}`

  test.each<[StrategyName]>([['native'], ['native_osx']])(
    'Given %s on a remote engine, When planned, Then a ConfigError says to use rsync or unison',
    (strategy) => {
      expect(planIssues(compose, [spec('app', { strategy })], REMOTE)).toEqual([
        `compose.yaml: x-sync.syncs.app.strategy: ${strategy} cannot work with a remote Docker engine (its bind mounts do not see this machine's files); use strategy: rsync or unison`,
      ])
    },
  )

  test('Given a sync named like a volume of the compose file, When planned, Then a collision issue', () => {
    const withVolume = `
services: {web: {volumes: ["./:/app", "app:/data"]}}
volumes: {app: {}}
`
    expect(planIssues(withVolume, [spec('app')])).toEqual([
      'compose.yaml: x-sync.syncs.app: the sync name "app" collides with the volume "app" of the compose file; rename the sync',
    ])
  })

  test('Given a sync named like a service, When planned, Then a collision issue', () => {
    expect(planIssues(compose, [spec('web')])).toEqual([
      'compose.yaml: x-sync.syncs.web: the sync name "web" collides with the service "web"; rename the sync',
    ])
  })

  test('Given a service named dsync-sync and a sidecar strategy, When planned, Then the name is reserved', () => {
    const taken = `services: {web: {volumes: ["./:/app"]}, dsync-sync: {image: x}}`

    expect(planIssues(taken, [spec('app')])).toEqual([
      'compose.yaml: services.dsync-sync: the service name "dsync-sync" is reserved for dsync\'s sync sidecar; rename that service',
    ])
  })

  test('Given a service named dsync-sync and only native syncs, When planned, Then no sidecar, no conflict', () => {
    const taken = `services: {web: {volumes: ["./:/app"]}, dsync-sync: {image: x}}`

    expect(isEmptyPlan(planYaml(taken, [spec('app', { strategy: 'native' })]).plan)).toBe(true)
  })

  test('Given a sync no service mounts, When planned, Then the issue shows how to mount it', () => {
    expect(
      planIssues(compose, [spec('lib', { src: `${DIR}/lib`, srcAsWritten: './lib' })]),
    ).toEqual([
      'compose.yaml: x-sync.syncs.lib: no service mounts "./lib"; bind-mount it in a service (e.g. volumes: ["./lib:/app"]) or add mounts: {SERVICE: /path}',
    ])
  })

  test('Given mounts: naming an unknown service close to a real one, When planned, Then did you mean', () => {
    expect(planIssues(compose, [spec('app', { mounts: { wbe: '/x' } })])).toEqual([
      'compose.yaml: x-sync.syncs.app.mounts.wbe: no service named "wbe"; did you mean "web"?',
    ])
  })

  test('Given mounts: naming a service far from any, When planned, Then the services are listed', () => {
    const two = `services: {web: {volumes: ["./:/app"]}, db: {}}`

    expect(planIssues(two, [spec('app', { mounts: { frontend: '/x' } })])).toEqual([
      'compose.yaml: x-sync.syncs.app.mounts.frontend: no service named "frontend"; services are: web, db',
    ])
  })

  test('Given several problems, When planned, Then every one is reported', () => {
    const lines = planIssues(
      `services: {web: {volumes: ["./:/app"]}}`,
      [spec('web'), spec('lib', { src: `${DIR}/lib`, srcAsWritten: './lib', strategy: 'native' })],
      REMOTE,
    )

    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(/^compose.yaml: x-sync.syncs.web: the sync name "web" collides/)
    expect(lines[1]).toMatch(/^compose.yaml: x-sync.syncs.lib.strategy: native cannot work/)
  })
})

describe('plan: owner', () => {
  function owner(
    services: string,
    fields: Partial<SyncSpec>,
  ): { owner: UidGid | undefined; warnings: string[] } {
    const { plan: p } = planYaml(`services: ${services}`, [spec('app', fields)])
    return { owner: p.syncs[0]?.owner, warnings: p.warnings }
  }

  test('Given no owner, When planned, Then the host folder owner', () => {
    expect(owner(`{web: {user: "1000:1000", volumes: ["./:/app"]}}`, {})).toEqual({
      owner: HOST_OWNER,
      warnings: [],
    })
  })

  test('Given owner auto and user "1000:1000", When planned, Then 1000:1000', () => {
    expect(
      owner(`{web: {user: "1000:1000", volumes: ["./:/app"]}}`, { owner: { kind: 'auto' } }),
    ).toEqual({ owner: { uid: 1000, gid: 1000 }, warnings: [] })
  })

  test('Given owner auto and user "1000", When planned, Then uid 1000 and gid 1000', () => {
    expect(
      owner(`{web: {user: "1000", volumes: ["./:/app"]}}`, { owner: { kind: 'auto' } }),
    ).toEqual({ owner: { uid: 1000, gid: 1000 }, warnings: [] })
  })

  test('Given owner auto and a named user, When planned, Then the host owner and a warning', () => {
    expect(owner(`{web: {user: node, volumes: ["./:/app"]}}`, { owner: { kind: 'auto' } })).toEqual(
      {
        owner: HOST_OWNER,
        warnings: [
          'x-sync.syncs.app.owner: auto needs a numeric user: (got "node"); files keep the host folder\'s owner. Set owner: "UID:GID"',
        ],
      },
    )
  })

  test('Given owner auto and services with different users, When planned, Then the first and a warning', () => {
    const services = `
  web: {user: "1000:1000", volumes: ["./:/app"]}
  worker: {user: "1001:1002", volumes: ["./:/srv"]}`

    expect(owner(services, { owner: { kind: 'auto' } })).toEqual({
      owner: { uid: 1000, gid: 1000 },
      warnings: [
        'x-sync.syncs.app.owner: services web, worker run as different users (1000:1000, 1001:1002); using 1000:1000',
      ],
    })
  })

  test('Given owner auto and services with the same user, When planned, Then no warning', () => {
    const services = `
  web: {user: "1000:1000", volumes: ["./:/app"]}
  worker: {user: "1000:1000", volumes: ["./:/srv"]}`

    expect(owner(services, { owner: { kind: 'auto' } })).toEqual({
      owner: { uid: 1000, gid: 1000 },
      warnings: [],
    })
  })

  test('Given owner auto and no user: anywhere, When planned, Then root, the default user of a container', () => {
    expect(owner(`{web: {volumes: ["./:/app"]}}`, { owner: { kind: 'auto' } })).toEqual({
      owner: { uid: 0, gid: 0 },
      warnings: [],
    })
  })

  test('Given a fixed owner, When planned, Then it wins over the services and the host', () => {
    expect(
      owner(`{web: {user: "1000:1000", volumes: ["./:/app"]}}`, {
        owner: { kind: 'fixed', uid: 33, gid: 33 },
      }),
    ).toEqual({ owner: { uid: 33, gid: 33 }, warnings: [] })
  })
})

describe('plan from a compose file with x-sync (readXSync + validateXSync)', () => {
  let dir = ''
  beforeAll(() => {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'dsync-plan-')))
    fs.mkdirSync(path.join(dir, 'app'))
  })
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true })
  })

  function fromCompose(composeYaml: string, platform: Platform): Planned {
    const raw = readXSync([{ path: 'compose.yaml', text: composeYaml }], {})
    if (!raw) throw new Error('no x-sync block')
    const config = validateXSync(raw, dir)
    const model = parseComposeModel(composeYaml, dir)
    const dependsOn = dependsOnOf(composeYaml)
    const syncPlan = plan({
      project: 'demo',
      config,
      model,
      platform,
      sidecarImage: IMAGE,
      hostOwners: { app: HOST_OWNER },
      dependsOn,
    })
    const text = renderOverride(syncPlan, { dependsOn }).toString()
    return { plan: syncPlan, override: parse(text), text }
  }

  const compose = `
services:
  web:
    image: nginx
    user: "1000:1000"
    volumes:
      - ./app:/var/www/app:cached
    depends_on: [db]
  db:
    image: postgres
x-sync:
  defaults:
    excludes: [.git, node_modules]
  syncs:
    app:
      src: ./app
      owner: auto
`

  test('Given the design example on macOS, When planned, Then native_osx with the host folder in the sidecar', () => {
    const { plan: p, override } = fromCompose(compose, MAC)

    expect(p.syncs[0]).toMatchObject({
      strategy: 'native_osx',
      owner: { uid: 1000, gid: 1000 },
      services: ['web'],
    })
    expect(p.syncs[0]?.spec.excludes).toEqual(['.git', 'node_modules'])
    expect(override).toEqual(
      parse(`
services:
  web:
    volumes: [{type: volume, source: app, target: /var/www/app, volume: {nocopy: true}}]
    depends_on:
      db: {condition: service_started}
      dsync-sync: {condition: service_healthy}
  dsync-sync: ${sidecarYaml(`      - {type: volume, source: app, target: /sync/app}
      - {type: bind, source: ${dir}/app, target: /host/app}`)}
volumes: ${volumeYaml('app')}
`),
    )
  })

  test('Given the design example on Linux, When planned, Then native: nothing to override', () => {
    const { plan: p, override } = fromCompose(compose, LINUX)

    expect(p.syncs[0]?.strategy).toBe('native')
    expect(isEmptyPlan(p)).toBe(true)
    expect(override).toEqual({ services: {} })
  })

  test('Given strategy native on a remote engine, When planned, Then the issue names compose.yaml and the key', () => {
    const remote = compose.replace('owner: auto', 'strategy: native')

    expect(() => fromCompose(remote, REMOTE)).toThrow(
      "compose.yaml: x-sync.syncs.app.strategy: native cannot work with a remote Docker engine (its bind mounts do not see this machine's files); use strategy: rsync or unison",
    )
  })
})
