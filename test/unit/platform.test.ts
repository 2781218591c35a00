import { createHash } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { afterEach, beforeEach, describe, expect, test } from 'vitest'

import {
  detectPlatform,
  dockerConfigDir,
  dockerEndpoint,
  isLocalEndpoint,
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

describe('detectPlatform', () => {
  test('Given Linux and the default socket, When detected, Then local and not Desktop', () => {
    expect(detectPlatform({ DOCKER_CONFIG: config }, 'linux')).toEqual({
      os: 'linux',
      engine: 'local',
      desktop: false,
    })
  })

  test('Given Linux and the Docker Desktop socket, When detected, Then Desktop', () => {
    expect(
      detectPlatform(
        { DOCKER_CONFIG: config, DOCKER_HOST: 'unix:///home/me/.docker/desktop/docker.sock' },
        'linux',
      ),
    ).toEqual({ os: 'linux', engine: 'local', desktop: true })
  })

  test('Given a desktop-linux context, When detected, Then Desktop through the context', () => {
    writeContext('desktop-linux', 'unix:///home/me/.docker/desktop/docker.sock')
    writeCurrentContext('desktop-linux')

    expect(detectPlatform({ DOCKER_CONFIG: config }, 'linux').desktop).toBe(true)
  })

  test.each([
    ['darwin', 'darwin'],
    ['win32', 'win32'],
    ['freebsd', 'linux'],
  ])('Given the OS %s and a local socket, When detected, Then os %s', (platform, hostOs) => {
    const detected = detectPlatform({ DOCKER_CONFIG: config }, platform)

    expect(detected.os).toBe(hostOs)
    expect(detected.engine).toBe('local')
    expect(detected.desktop).toBe(hostOs !== 'linux')
  })

  test('Given DOCKER_HOST over ssh, When detected, Then a remote engine', () => {
    expect(detectPlatform({ DOCKER_CONFIG: config, DOCKER_HOST: 'ssh://me@far' }, 'linux')).toEqual(
      { os: 'linux', engine: 'remote', desktop: false },
    )
  })

  test('Given a current context on a remote TCP engine, When detected, Then remote', () => {
    writeContext('ci', 'tcp://ci.example.com:2376')
    writeCurrentContext('ci')

    expect(detectPlatform({ DOCKER_CONFIG: config }, 'darwin').engine).toBe('remote')
  })
})
