import { createHash } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { afterEach, beforeEach, describe, expect, test } from 'vitest'

import { resolveStrategy } from '../../src/compose/plan.js'
import {
  classifyPlatform,
  dockerConfigDir,
  dockerEndpoint,
  isLocalEndpoint,
  supportsStartInterval,
  type EngineFacts,
} from '../../src/docker/platform.js'

const DEFAULT_SOCKET = 'unix:///var/run/docker.sock'

// A DOCKER_CONFIG of our own, so the developer's ~/.docker never leaks in.
let config = ''
beforeEach(() => {
  config = fs.mkdtempSync(path.join(os.tmpdir(), 'dsync-docker-config-'))
})
afterEach(() => {
  fs.rmSync(config, { recursive: true, force: true })
})

/** A context as `docker context create` stores it: meta/<sha256 of the name>/meta.json. */
function writeContext(name: string, host: string): void {
  const id = createHash('sha256').update(name).digest('hex')
  const dir = path.join(config, 'contexts', 'meta', id)
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(
    path.join(dir, 'meta.json'),
    JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker: { Host: host } } }),
  )
}

function writeCurrentContext(name: string): void {
  fs.writeFileSync(path.join(config, 'config.json'), JSON.stringify({ currentContext: name }))
}

describe('isLocalEndpoint', () => {
  test.each([
    ['unix:///var/run/docker.sock', true],
    ['unix:///Users/me/.docker/run/docker.sock', true],
    ['npipe:////./pipe/docker_engine', true],
    ['tcp://localhost:2375', true],
    ['tcp://127.0.0.1:2375', true],
    ['tcp://127.0.0.1', true],
    ['tcp://127.1.2.3:2376', true],
    ['tcp://[::1]:2375', true],
    ['tcp://[::1]', true],
    ['tcp://192.168.1.10:2376', false],
    ['tcp://docker.example.com:2376', false],
    ['tcp://localhost.example.com:2376', false],
    ['tcp://[2001:db8::1]:2376', false],
    ['ssh://me@build-box', false],
    ['ssh://localhost', false],
  ])('Given %s, When classified, Then local is %s', (endpoint, local) => {
    expect(isLocalEndpoint(endpoint)).toBe(local)
  })
})

describe('dockerEndpoint', () => {
  test('Given DOCKER_HOST, When resolved, Then it wins over DOCKER_CONTEXT and config.json', () => {
    writeContext('far', 'ssh://me@far')
    writeCurrentContext('far')

    expect(
      dockerEndpoint({
        DOCKER_CONFIG: config,
        DOCKER_HOST: 'tcp://10.0.0.5:2376',
        DOCKER_CONTEXT: 'far',
      }),
    ).toBe('tcp://10.0.0.5:2376')
  })

  test('Given no config at all, When resolved, Then the default socket', () => {
    expect(dockerEndpoint({ DOCKER_CONFIG: config })).toBe(DEFAULT_SOCKET)
  })

  test('Given currentContext in config.json, When resolved, Then the host of its meta.json', () => {
    writeContext('colima', 'unix:///Users/me/.colima/default/docker.sock')
    writeCurrentContext('colima')

    expect(dockerEndpoint({ DOCKER_CONFIG: config })).toBe(
      'unix:///Users/me/.colima/default/docker.sock',
    )
  })

  test('Given DOCKER_CONTEXT, When resolved, Then it wins over currentContext', () => {
    writeContext('colima', 'unix:///colima.sock')
    writeContext('far', 'ssh://me@far')
    writeCurrentContext('colima')

    expect(dockerEndpoint({ DOCKER_CONFIG: config, DOCKER_CONTEXT: 'far' })).toBe('ssh://me@far')
  })

  test('Given the context "default", When resolved, Then the default socket without reading meta', () => {
    writeCurrentContext('default')

    expect(dockerEndpoint({ DOCKER_CONFIG: config })).toBe(DEFAULT_SOCKET)
  })

  test('Given a context whose meta.json is missing or has no docker endpoint, When resolved, Then the default socket', () => {
    writeCurrentContext('ghost')
    expect(dockerEndpoint({ DOCKER_CONFIG: config })).toBe(DEFAULT_SOCKET)

    const id = createHash('sha256').update('bare').digest('hex')
    fs.mkdirSync(path.join(config, 'contexts', 'meta', id), { recursive: true })
    fs.writeFileSync(path.join(config, 'contexts', 'meta', id, 'meta.json'), '{"Name":"bare"}')
    expect(dockerEndpoint({ DOCKER_CONFIG: config, DOCKER_CONTEXT: 'bare' })).toBe(DEFAULT_SOCKET)
  })

  test('Given a malformed config.json, When resolved, Then the default socket', () => {
    fs.writeFileSync(path.join(config, 'config.json'), '{not json')

    expect(dockerEndpoint({ DOCKER_CONFIG: config })).toBe(DEFAULT_SOCKET)
  })

  test('Given DOCKER_CONFIG, When the config dir is asked, Then it is used; else ~/.docker', () => {
    expect(dockerConfigDir({ DOCKER_CONFIG: config })).toBe(config)
    expect(dockerConfigDir({})).toBe(path.join(os.homedir(), '.docker'))
  })
})

describe('classifyPlatform: local or remote by evidence', () => {
  const facts = (
    name: string,
    operatingSystem = 'Debian GNU/Linux 12 (bookworm)',
  ): EngineFacts => ({
    name,
    id: 'ID',
    serverVersion: '26.1.5',
    operatingSystem,
  })

  test('Given the default socket and an engine named as this host, When classified, Then local, not Desktop, with its version', () => {
    expect(
      classifyPlatform({
        os: 'linux',
        endpoint: DEFAULT_SOCKET,
        engine: facts('vm'),
        host: 'vm',
      }),
    ).toEqual({ os: 'linux', engine: 'local', desktop: false, engineVersion: '26.1.5' })
  })

  test('Given a loopback TCP endpoint (an ssh tunnel) to an engine on another host, When classified, Then remote', () => {
    const platform = classifyPlatform({
      os: 'linux',
      endpoint: 'tcp://127.0.0.1:23750',
      engine: facts('build-box'),
      host: 'laptop',
    })

    expect(platform.engine).toBe('remote')
    expect(resolveStrategy('auto', platform)).toBe('rsync')
  })

  test('Given a unix socket forwarded from another host, When classified, Then remote', () => {
    expect(
      classifyPlatform({
        os: 'linux',
        endpoint: 'unix:///tmp/remote.sock',
        engine: facts('far'),
        host: 'laptop',
      }).engine,
    ).toBe('remote')
  })

  test("Given a TCP endpoint that reaches this host's own engine, When classified, Then local", () => {
    expect(
      classifyPlatform({
        os: 'linux',
        endpoint: 'tcp://10.0.0.5:2376',
        engine: facts('Laptop.example.com'),
        host: 'laptop',
      }).engine,
    ).toBe('local')
  })

  test('Given Docker Desktop (its VM has another name), When classified, Then local and Desktop', () => {
    expect(
      classifyPlatform({
        os: 'linux',
        endpoint: 'unix:///home/me/.docker/desktop/docker.sock',
        engine: facts('docker-desktop', 'Docker Desktop'),
        host: 'laptop',
      }),
    ).toMatchObject({ engine: 'local', desktop: true })
  })

  test('Given macOS and a VM socket (colima), When classified, Then local and Desktop-like', () => {
    expect(
      classifyPlatform({
        os: 'darwin',
        endpoint: 'unix:///Users/me/.colima/default/docker.sock',
        engine: facts('colima'),
        host: 'macbook',
      }),
    ).toMatchObject({ os: 'darwin', engine: 'local', desktop: true })
  })

  test('Given an engine that did not answer, When classified, Then the address form decides', () => {
    const base = { os: 'linux', engine: undefined, host: 'vm' }
    expect(classifyPlatform({ ...base, endpoint: DEFAULT_SOCKET }).engine).toBe('local')
    expect(classifyPlatform({ ...base, endpoint: 'ssh://me@far' }).engine).toBe('remote')
  })

  test.each([
    ['freebsd', 'linux'],
    ['win32', 'win32'],
  ])('Given the OS %s, When classified, Then os %s', (os, hostOs) => {
    expect(
      classifyPlatform({ os, endpoint: DEFAULT_SOCKET, engine: undefined, host: 'h' }).os,
    ).toBe(hostOs)
  })
})

describe('supportsStartInterval', () => {
  test.each([
    ['26.1.5+dfsg1', true],
    ['25.0.0', true],
    ['24.0.7', false],
    ['20.10.24+dfsg1', false],
    [undefined, false],
    ['', false],
  ])('Given engine %s, When asked, Then %s', (version, supported) => {
    expect(supportsStartInterval(version)).toBe(supported)
  })
})
