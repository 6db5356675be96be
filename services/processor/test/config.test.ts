import { describe, expect, it } from 'vitest';
import { parseProcessorConfig } from '../src/config.js';

const tls = { ca: 'ca.pem', cert: 'processor.pem', key: 'processor-key.pem' };
const routes = [{ method: '/fletest.svc.v1.LedgerService/Submit', route: 'submit' }];
const api = { schema: { protoRoots: ['proto'] }, handlers: 'handlers.ts' };

describe('parseProcessorConfig', () => {
  it('applies documented defaults', () => {
    const c = parseProcessorConfig({ nats: { servers: ['nats://127.0.0.1:4222'] }, ...api }, '/srv');
    expect(c.replay).toEqual({ windowMs: 60_000, store: 'nats', redisUrl: undefined });
    expect(c.core).toEqual({ enabled: true, queueGroup: 'fle-processor' });
    expect(c.jetstream).toMatchObject({ enabled: true, durable: 'fle-processor', maxAttempts: 10, ackWaitMs: 30_000 });
    expect(c.grpc).toBeUndefined();
    expect(c.routes).toBeUndefined(); // every method the handlers module names
    expect(c.schema).toEqual({ protoRoots: ['/srv/proto'] });
    expect(c.handlers).toBe('/srv/handlers.ts');
  });

  it('reads the schema as an image, routes with or without a route name, maxEnvelopes', async () => {
    const c = parseProcessorConfig({ nats: { servers: ['nats://127.0.0.1:4222'] }, schema: { image: 'schema.binpb' }, handlers: '/abs/h.mjs', maxEnvelopes: 64, routes: [{ method: '/a.B/C' }, { method: '/a.B/D', route: 'd' }] }, '/srv');
    expect(c.schema).toEqual({ image: '/srv/schema.binpb' });
    expect(c.handlers).toBe('/abs/h.mjs');
    expect(c.maxEnvelopes).toBe(64);
    expect(c.routes).toEqual([{ method: '/a.B/C' }, { method: '/a.B/D', route: 'd' }]);
  });

  it('reads grpc, keystore, redis replay store and resolves paths', () => {
    const c = parseProcessorConfig(
      {
        grpc: { listen: '127.0.0.1:0', tls, allowedCallers: ['spiffe://fle.local/gateway'] },
        nats: { servers: ['tls://127.0.0.1:4222'], tls },
        keystore: { address: '127.0.0.1:7000', tls },
        replay: { windowMs: 5000, store: 'redis', redisUrl: 'redis://127.0.0.1:6379' },
        routes,
        ...api,
      },
      '/srv',
    );
    expect(c.grpc).toMatchObject({ host: '127.0.0.1', port: 0, tls: { ca: '/srv/ca.pem' }, allowedCallers: ['spiffe://fle.local/gateway'] });
    expect(c.keystore).toMatchObject({ address: '127.0.0.1:7000', identity: 'spiffe://fle.local/keystore' });
    expect(c.replay).toEqual({ windowMs: 5000, store: 'redis', redisUrl: 'redis://127.0.0.1:6379' });
  });

  it('refuses bad values', () => {
    const nats = { servers: ['nats://127.0.0.1:4222'] };
    expect(() => parseProcessorConfig({ nats, ...api, routes: [] })).toThrow(/at least one/);
    expect(() => parseProcessorConfig({ nats, ...api, routes: [{ ...routes[0], route: 'a.b' }] })).toThrow(/NATS token/);
    expect(() => parseProcessorConfig({ nats, ...api, routes, replay: { store: 'memcached' } })).toThrow(/one of/);
    expect(() => parseProcessorConfig({ ...api, routes })).toThrow(/nats/);
    expect(() => parseProcessorConfig({ nats, handlers: 'h.ts' })).toThrow(/schema/);
    expect(() => parseProcessorConfig({ nats, handlers: 'h.ts', schema: {} })).toThrow(/schema must give exactly one of image, protoRoots/);
    expect(() => parseProcessorConfig({ nats, handlers: 'h.ts', schema: { image: 'a', protoRoots: ['b'] } })).toThrow(/exactly one/);
    expect(() => parseProcessorConfig({ nats, schema: { image: 'a' } })).toThrow(/handlers/);
  });
});
