import { createHash } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { afterEach, beforeEach, describe, expect, test } from 'vitest'

import { composeEnv, type ComposeCli } from '../../src/compose/cli.js'

const V1: ComposeCli = { file: 'docker-compose', prefix: [], major: 1, version: '1.29.2' }
const V2: ComposeCli = { file: 'docker', prefix: ['compose'], major: 2, version: '2.26.1' }

// A DOCKER_CONFIG of our own with a context "far" on another engine.
let config = ''
beforeEach(() => {
  config = fs.mkdtempSync(path.join(os.tmpdir(), 'dsync-docker-config-'))
  const id = createHash('sha256').update('far').digest('hex')
  fs.mkdirSync(path.join(config, 'contexts', 'meta', id), { recursive: true })
  fs.writeFileSync(
    path.join(config, 'contexts', 'meta', id, 'meta.json'),
    JSON.stringify({ Name: 'far', Endpoints: { docker: { Host: 'tcp://10.1.2.3:2376' } } }),
  )
})
afterEach(() => {
  fs.rmSync(config, { recursive: true, force: true })
})

describe('composeEnv: the engine compose talks to is the docker CLI one', () => {
  test('Given DOCKER_CONTEXT and compose v1 (which ignores it), When run, Then v1 gets the context endpoint as DOCKER_HOST', () => {
    const env = composeEnv(V1, { DOCKER_CONFIG: config, DOCKER_CONTEXT: 'far' })

    expect(env.DOCKER_HOST).toBe('tcp://10.1.2.3:2376')
    expect(env.DOCKER_TLS_VERIFY).toBeUndefined()
  })

  test('Given a context with TLS material, When run with v1, Then its folder is the cert path', () => {
    const id = createHash('sha256').update('far').digest('hex')
    const tls = path.join(config, 'contexts', 'tls', id, 'docker')
    fs.mkdirSync(tls, { recursive: true })
    fs.writeFileSync(path.join(tls, 'ca.pem'), 'ca')

    const env = composeEnv(V1, { DOCKER_CONFIG: config, DOCKER_CONTEXT: 'far' })

    expect(env).toMatchObject({ DOCKER_CERT_PATH: tls, DOCKER_TLS_VERIFY: '1' })
  })

  test('Given DOCKER_HOST set too, When run with v1, Then DOCKER_HOST is kept (it wins in the docker CLI as well)', () => {
    const env = composeEnv(V1, {
      DOCKER_CONFIG: config,
      DOCKER_CONTEXT: 'far',
      DOCKER_HOST: 'unix:///run/other.sock',
    })

    expect(env.DOCKER_HOST).toBe('unix:///run/other.sock')
  })

  test('Given compose v2 (which reads DOCKER_CONTEXT), When run, Then the environment is unchanged', () => {
    const input = { DOCKER_CONFIG: config, DOCKER_CONTEXT: 'far' }

    expect(composeEnv(V2, input)).toBe(input)
  })
})

describe('composeEnv: ssh engines with compose v1', () => {
  test('Given an ssh:// engine and compose v1, When compose runs twice, Then one line says what v1 needs and costs', () => {
    const written: string[] = []
    const write = process.stderr.write.bind(process.stderr)
    process.stderr.write = (chunk: string | Uint8Array) => {
      written.push(String(chunk))
      return true
    }
    try {
      composeEnv(V2, { DOCKER_HOST: 'ssh://me@far' })
      composeEnv(V1, { DOCKER_HOST: 'ssh://me@far' })
      composeEnv(V1, { DOCKER_HOST: 'ssh://me@far' })
    } finally {
      process.stderr.write = write
    }

    expect(written).toEqual([
      'dsync: note: compose v1 reaches ssh:// engines only with python3-paramiko installed, and each call takes 30 s or more; docker compose (v2) is much faster\n',
    ])
  })
})
