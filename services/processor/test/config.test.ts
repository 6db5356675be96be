import { describe, expect, it } from 'vitest';
import { parseProcessorConfig } from '../src/config.js';

const tls = { ca: 'ca.pem', cert: 'processor.pem', key: 'processor-key.pem' };
const routes = [{ method: '/acme.payments.v1.PaymentService/Authorize', route: 'authorize', handler: 'authorize' }];

describe('parseProcessorConfig', () => {
  it('applies documented defaults', () => {
    const c = parseProcessorConfig({ nats: { servers: ['nats://127.0.0.1:4222'] }, routes }, '/srv');
    expect(c.replay).toEqual({ windowMs: 60_000, store: 'nats', redisUrl: undefined });
    expect(c.core).toEqual({ enabled: true, queueGroup: 'fle-processor' });
    expect(c.jetstream).toMatchObject({ enabled: true, durable: 'fle-processor', maxAttempts: 10, ackWaitMs: 30_000 });
    expect(c.grpc).toBeUndefined();
  });

  it('reads grpc, keystore, redis replay store and resolves paths', () => {
    const c = parseProcessorConfig(
      {
        grpc: { listen: '127.0.0.1:0', tls, allowedCallers: ['spiffe://fle.local/gateway'] },
        nats: { servers: ['tls://127.0.0.1:4222'], tls },
        keystore: { address: '127.0.0.1:7000', tls },
        replay: { windowMs: 5000, store: 'redis', redisUrl: 'redis://127.0.0.1:6379' },
        routes,
      },
      '/srv',
    );
    expect(c.grpc).toMatchObject({ host: '127.0.0.1', port: 0, tls: { ca: '/srv/ca.pem' }, allowedCallers: ['spiffe://fle.local/gateway'] });
    expect(c.keystore).toMatchObject({ address: '127.0.0.1:7000', identity: 'spiffe://fle.local/keystore' });
    expect(c.replay).toEqual({ windowMs: 5000, store: 'redis', redisUrl: 'redis://127.0.0.1:6379' });
  });

  it('refuses bad values', () => {
    const nats = { servers: ['nats://127.0.0.1:4222'] };
    expect(() => parseProcessorConfig({ nats, routes: [] })).toThrow(/at least one/);
    expect(() => parseProcessorConfig({ nats, routes: [{ ...routes[0], route: 'a.b' }] })).toThrow(/NATS token/);
    expect(() => parseProcessorConfig({ nats, routes, replay: { store: 'memcached' } })).toThrow(/one of/);
    expect(() => parseProcessorConfig({ routes })).toThrow(/nats/);
  });
});
