import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { chooseProvider, dockerReachable, makeTestPki, tempDir } from '../src/mod.js';

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('chooseProvider', () => {
  it('takes FLE_NATS when it names a provider', async () => {
    expect(await chooseProvider({ FLE_NATS: 'binary' })).toBe('binary');
    expect(await chooseProvider({ FLE_NATS: 'container' })).toBe('container');
    expect(await chooseProvider({ FLE_NATS: 'url', NATS_URL: 'nats://127.0.0.1:1' })).toBe('url');
  });

  it('refuses an unknown FLE_NATS and url without NATS_URL', async () => {
    await expect(chooseProvider({ FLE_NATS: 'docker' })).rejects.toMatchObject({ code: 'HARNESS_BAD_ENV' });
    await expect(chooseProvider({ FLE_NATS: 'url' })).rejects.toMatchObject({ code: 'HARNESS_BAD_ENV' });
  });

  it('falls back to the binary when no Docker engine answers', async () => {
    expect(await chooseProvider({ DOCKER_HOST: 'unix:///nonexistent/docker.sock' })).toBe('binary');
  });

  it('fails loudly, saying how to get a NATS, when there is neither Docker nor a binary', async () => {
    vi.stubEnv('NATS_SERVER_BIN', '/nonexistent/nats-server');
    const err = await chooseProvider({ DOCKER_HOST: 'unix:///nonexistent/docker.sock' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'HARNESS_NO_PROVIDER' });
    expect((err as Error).message).toMatch(/apt-get install nats-server[\s\S]*FLE_NATS=container[\s\S]*NATS_URL/);
  });
});

describe('dockerReachable', () => {
  it('is false for a socket that does not exist and for a closed tcp port', async () => {
    expect(await dockerReachable({ DOCKER_HOST: 'unix:///nonexistent/docker.sock' })).toBe(false);
    expect(await dockerReachable({ DOCKER_HOST: 'tcp://127.0.0.1:1' })).toBe(false);
  });
});

describe('helpers', () => {
  it('tempDir makes a fresh folder each time', async () => {
    const a = await tempDir();
    const b = await tempDir();
    expect(a).not.toBe(b);
    expect(existsSync(a) && existsSync(b)).toBe(true);
  });

  it('makeTestPki is made once per test file; with options it is a new PKI', async () => {
    const first = await makeTestPki();
    expect(await makeTestPki()).toBe(first);
    expect(existsSync(first.cert('nats')) && existsSync(first.key('gateway'))).toBe(true);
    const other = await makeTestPki({ identities: ['gateway'] });
    expect(other.caCert).not.toBe(first.caCert);
  });
});
