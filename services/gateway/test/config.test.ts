import { describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../src/config.js';

const tls = { ca: 'certs/ca.pem', cert: 'certs/gateway.pem', key: 'certs/gateway-key.pem' };

describe('parseGatewayConfig', () => {
  it('reads routes per method and resolves paths against the config folder', () => {
    const c = parseGatewayConfig(
      {
        grpc: { listen: '127.0.0.1:0', tls, maxMessageBytes: 65536, allowedCallers: ['spiffe://fle.local/client'] },
        nats: { servers: ['tls://127.0.0.1:4222'], tls },
        metrics: { listen: '127.0.0.1:0' },
        routes: [
          { method: '/acme.payments.v1.PaymentService/Authorize', route: 'authorize', transport: 'jetstream', timeoutMs: 2000 },
        ],
      },
      '/etc/fle',
    );
    expect(c.grpc).toMatchObject({ host: '127.0.0.1', port: 0, maxMessageBytes: 65536, tls: { ca: '/etc/fle/certs/ca.pem' } });
    expect(c.routes[0]).toEqual({ method: '/acme.payments.v1.PaymentService/Authorize', route: 'authorize', transport: 'jetstream', timeoutMs: 2000, processor: undefined });
    expect(c.metrics).toEqual({ host: '127.0.0.1', port: 0 });
  });

  it('needs a processor target for grpc routes and nats for nats routes', () => {
    const base = { grpc: { tls } };
    expect(() => parseGatewayConfig({ ...base, routes: [{ method: '/a.B/C', route: 'c', transport: 'grpc' }] })).toThrow(/processor/);
    expect(() => parseGatewayConfig({ ...base, routes: [{ method: '/a.B/C', route: 'c', transport: 'nats' }] })).toThrow(/nats is required/);
    const ok = parseGatewayConfig({ ...base, routes: [{ method: '/a.B/C', route: 'c', transport: 'grpc', processor: { address: '127.0.0.1:9443', tls } }] });
    expect(ok.routes[0]!.processor).toMatchObject({ address: '127.0.0.1:9443', identity: 'spiffe://fle.local/processor' });
  });

  it('refuses route names that are not one NATS token, unknown transports, repeated methods', () => {
    const nats = { servers: ['nats://127.0.0.1:4222'] };
    const r = (route: object) => () => parseGatewayConfig({ grpc: { tls }, nats, routes: [route] });
    expect(r({ method: '/a.B/C', route: 'a.b', transport: 'nats' })).toThrow(/NATS token/);
    expect(r({ method: '/a.B/C', route: '*', transport: 'nats' })).toThrow(/NATS token/);
    expect(r({ method: '/a.B/C', route: 'c', transport: 'kafka' })).toThrow(/one of/);
    expect(() =>
      parseGatewayConfig({ grpc: { tls }, nats, routes: [{ method: '/a.B/C', route: 'c', transport: 'nats' }, { method: '/a.B/C', route: 'd', transport: 'nats' }] }),
    ).toThrow(/repeat/);
  });
});
