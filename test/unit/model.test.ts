import path from 'node:path'

import { describe, expect, test } from 'vitest'

import { parseComposeModel, parseShortMount } from '../../src/compose/model.js'

const DIR = '/home/me/proj'

describe('parseComposeModel: compose v2 (JSON, long syntax)', () => {
  // What `docker compose config --format json` prints: absolute sources, map depends_on.
  const json = JSON.stringify({
    name: 'proj',
    services: {
      web: {
        image: 'nginx',
        user: '1000:1000',
        depends_on: { db: { condition: 'service_started', required: true } },
        volumes: [
          { type: 'bind', source: '/home/me/proj', target: '/var/www', bind: {} },
          { type: 'bind', source: '/home/me/proj/conf', target: '/etc/nginx', read_only: true },
          { type: 'volume', source: 'data', target: '/data', volume: {} },
          { type: 'tmpfs', target: '/tmp' },
        ],
      },
      db: { image: 'postgres' },
    },
    volumes: { data: { name: 'proj_data' } },
  })

  test('Given config JSON, When parsed, Then binds, read_only, volumes and depends_on are kept', () => {
    expect(parseComposeModel(json, DIR)).toEqual({
      services: {
        web: {
          name: 'web',
          user: '1000:1000',
          dependsOn: ['db'],
          mounts: [
            { type: 'bind', source: '/home/me/proj', target: '/var/www', readOnly: false },
            { type: 'bind', source: '/home/me/proj/conf', target: '/etc/nginx', readOnly: true },
            { type: 'volume', source: 'data', target: '/data', readOnly: false },
            { type: 'tmpfs', source: undefined, target: '/tmp', readOnly: false },
          ],
        },
        db: { name: 'db', user: undefined, dependsOn: [], mounts: [] },
      },
      volumes: ['data'],
    })
  })

  test('Given a long-syntax bind with a relative source, When parsed, Then it is made absolute against the project', () => {
    const yaml = [
      'services:',
      '  app:',
      '    volumes:',
      '      - type: bind',
      '        source: ./src',
      '        target: /app',
    ].join('\n')

    expect(parseComposeModel(yaml, DIR).services.app?.mounts).toEqual([
      { type: 'bind', source: '/home/me/proj/src', target: '/app', readOnly: false },
    ])
  })
})

describe('parseComposeModel: compose v1 (YAML, short syntax)', () => {
  const yaml = [
    'services:',
    '  app:',
    '    image: node',
    '    user: node',
    '    depends_on:',
    '      - db',
    '      - cache',
    '    volumes:',
    '      - /abs/code:/app:ro',
    '      - ./x:/y',
    '      - data:/var/lib/data',
    '      - /data',
    '  db:',
    '    image: postgres',
    '    depends_on:',
    '      cache:',
    '        condition: service_healthy',
    '  cache:',
    '    image: redis',
    'volumes:',
    '  data: {}',
    '  other:',
  ].join('\n')

  test('Given config YAML with short mounts, When parsed, Then each mount is typed and resolved', () => {
    expect(parseComposeModel(yaml, DIR).services.app).toEqual({
      name: 'app',
      user: 'node',
      dependsOn: ['db', 'cache'],
      mounts: [
        { type: 'bind', source: '/abs/code', target: '/app', readOnly: true },
        { type: 'bind', source: '/home/me/proj/x', target: '/y', readOnly: false },
        { type: 'volume', source: 'data', target: '/var/lib/data', readOnly: false },
        { type: 'volume', source: undefined, target: '/data', readOnly: false },
      ],
    })
  })

  test('Given depends_on as a map, When parsed, Then its keys are the dependencies', () => {
    expect(parseComposeModel(yaml, DIR).services.db?.dependsOn).toEqual(['cache'])
  })

  test('Given top-level volumes, with and without a body, When parsed, Then all are listed', () => {
    expect(parseComposeModel(yaml, DIR).volumes).toEqual(['data', 'other'])
  })

  test('Given anchors and merge keys, When parsed, Then the merged service is seen', () => {
    const text = [
      'x-base: &base',
      '  user: "1000"',
      '  volumes: ["./:/app"]',
      'services:',
      '  a:',
      '    <<: *base',
      '    image: alpine',
    ].join('\n')

    expect(parseComposeModel(text, DIR).services.a).toEqual({
      name: 'a',
      user: '1000',
      dependsOn: [],
      mounts: [{ type: 'bind', source: DIR, target: '/app', readOnly: false }],
    })
  })

  test('Given an empty document, When parsed, Then no services and no volumes', () => {
    expect(parseComposeModel('', DIR)).toEqual({ services: {}, volumes: [] })
  })
})

describe('parseShortMount', () => {
  test.each([
    ['/abs:/app', { type: 'bind', source: '/abs', target: '/app', readOnly: false }],
    ['/abs:/app:ro', { type: 'bind', source: '/abs', target: '/app', readOnly: true }],
    ['/abs:/app:rw', { type: 'bind', source: '/abs', target: '/app', readOnly: false }],
    ['./:/app:cached', { type: 'bind', source: DIR, target: '/app', readOnly: false }],
    ['.:/app:delegated', { type: 'bind', source: DIR, target: '/app', readOnly: false }],
    ['./src:/app:z', { type: 'bind', source: `${DIR}/src`, target: '/app', readOnly: false }],
    ['./src:/app:ro,z', { type: 'bind', source: `${DIR}/src`, target: '/app', readOnly: true }],
    ['../lib:/lib', { type: 'bind', source: '/home/me/lib', target: '/lib', readOnly: false }],
    ['data:/data', { type: 'volume', source: 'data', target: '/data', readOnly: false }],
    ['data:/data:ro', { type: 'volume', source: 'data', target: '/data', readOnly: true }],
    // compose v1's `config` prints a named volume with its mode: `data:/d:rw`.
    ['data:/d:rw', { type: 'volume', source: 'data', target: '/d', readOnly: false }],
    ['/data', { type: 'volume', source: undefined, target: '/data', readOnly: false }],
  ])('Given %j, When parsed, Then %j', (spec, mount) => {
    expect(parseShortMount(spec, DIR)).toEqual(mount)
  })

  test('Given a source under ~, When parsed, Then it is a bind under HOME', () => {
    const mount = parseShortMount('~/code:/app', DIR)

    expect(mount.type).toBe('bind')
    expect(mount.source).toBe(path.join(process.env.HOME ?? '~', 'code'))
  })
})
