import { createServer, type Server } from 'node:net';
import { describe, expect, it } from 'vitest';
import { PORT_DEFAULTS, settingsFromEnv } from '../src/settings.js';
import { assertPortsFree } from '../src/ports.js';

describe('settingsFromEnv', () => {
  it('has fixed loopback defaults and the repo state folder', () => {
    const s = settingsFromEnv({}, '/repo/.fle');
    expect(s).toMatchObject({ home: '/repo/.fle', host: '127.0.0.1', tenant: 'demo', transport: 'jetstream', natsRunner: undefined });
    expect(s.ports).toEqual({ nats: 14222, keystore: 7443, processor: 9443, gateway: 8443, edge: 8444 });
  });

  it('takes every value from its variable; a relative FLE_HOME is resolved against the working folder', () => {
    const s = settingsFromEnv(
      { FLE_HOME: 'state', FLE_GATEWAY_PORT: '18443', FLE_KEYSTORE_PORT: '0', FLE_NATS_PORT: '4333', FLE_PROCESSOR_PORT: '19443', FLE_DEMO_TENANT: 'acme', FLE_TRANSPORT: 'grpc', FLE_NATS_RUNNER: 'container' },
      '/repo/.fle',
      '/work',
    );
    expect(s).toMatchObject({ home: '/work/state', tenant: 'acme', transport: 'grpc', natsRunner: 'container' });
    expect(s.ports).toEqual({ nats: 4333, keystore: 0, processor: 19443, gateway: 18443, edge: 8444 });
  });

  it.each([
    [{ FLE_GATEWAY_PORT: 'http' }, 'FLE_GATEWAY_PORT must be a port number'],
    [{ FLE_GATEWAY_PORT: '70000' }, 'FLE_GATEWAY_PORT must be a port number'],
    [{ FLE_GATEWAY_PORT: '7443' }, 'keystore and gateway cannot share port 7443'],
    [{ FLE_DEMO_TENANT: 'a.b' }, 'FLE_DEMO_TENANT must be'],
    [{ FLE_TRANSPORT: 'http' }, 'FLE_TRANSPORT must be one of jetstream, nats, grpc'],
    [{ FLE_NATS_RUNNER: 'url' }, 'FLE_NATS_RUNNER must be one of binary, container'],
  ])('refuses %j with a message naming the variable', (env, message) => {
    expect(() => settingsFromEnv(env, '/x')).toThrow(message);
  });
});

describe('assertPortsFree', () => {
  it('names the taken port, its role and the variable that moves it', async () => {
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const err = await assertPortsFree('127.0.0.1', { nats: 0, keystore: 0, processor: 0, gateway: port, edge: 0 }).then(() => undefined, (e: unknown) => e);
      expect(err).toMatchObject({ code: 'DEVSTACK_PORT_IN_USE' });
      expect((err as Error).message).toContain(`port ${port} for the gateway on 127.0.0.1 is already in use`);
      expect((err as Error).message).toContain(PORT_DEFAULTS.gateway.env);
    } finally {
      server.close();
    }
    await expect(assertPortsFree('127.0.0.1', { nats: 0, keystore: 0, processor: 0, gateway: port, edge: 0 })).resolves.toBeUndefined();
  });
});
