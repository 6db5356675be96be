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
        schema: { image: 'schema.binpb' },
        routes: [
          { method: '/fletest.svc.v1.LedgerService/Submit', route: 'submit', transport: 'jetstream', timeoutMs: 2000 },
          { service: 'fletest.svc.v1.LedgerService', route: 'ledger', transport: 'nats' },
        ],
      },
      '/etc/fle',
    );
    expect(c.schema).toEqual({ image: '/etc/fle/schema.binpb' });
    expect(c.maxEnvelopes).toBe(1024);
    expect(c.grpc).toMatchObject({ host: '127.0.0.1', port: 0, maxMessageBytes: 65536, tls: { ca: '/etc/fle/certs/ca.pem' } });
    expect(c.routes[0]).toEqual({ method: '/fletest.svc.v1.LedgerService/Submit', route: 'submit', transport: 'jetstream', timeoutMs: 2000, processor: undefined, at: 'routes[0]' });
    expect(c.routes[1]).toMatchObject({ service: 'fletest.svc.v1.LedgerService', route: 'ledger', transport: 'nats', timeoutMs: 5000, at: 'routes[1]' });
    expect(c.metrics).toEqual({ host: '127.0.0.1', port: 0 });
  });

  it('reads schema: image or protoRoots (relative to the config folder), exactly one, and maxEnvelopes', () => {
    const routes = [{ method: '/a.B/C', route: 'c', transport: 'grpc', processor: { address: '127.0.0.1:9443', tls } }];
    const parse = (extra: object) => parseGatewayConfig({ grpc: { tls }, routes, ...extra }, '/srv/gw');
    expect(parse({ schema: { protoRoots: ['proto', '/opt/shared'] } }).schema).toEqual({ protoRoots: ['/srv/gw/proto', '/opt/shared'] });
    expect(parse({ schema: { image: 'x.binpb' }, maxEnvelopes: 16 }).maxEnvelopes).toBe(16);
    expect(() => parse({})).toThrow(/schema is required/);
    expect(() => parse({ schema: {} })).toThrow('schema must give exactly one of image, protoRoots');
    expect(() => parse({ schema: { image: 'a', protoRoots: ['b'] } })).toThrow('schema must give exactly one of image, protoRoots');
    expect(() => parse({ schema: { protoRoots: [] } })).toThrow(/^schema.protoRoots must list at least one/);
    expect(() => parse({ schema: { image: 'a' }, maxEnvelopes: 0 })).toThrow(/maxEnvelopes must be a number >= 1/);
  });

  it('needs exactly one of method and service per route', () => {
    const schema = { image: 'x' };
    const p = (route: object) => () => parseGatewayConfig({ grpc: { tls }, schema, nats: { servers: ['nats://127.0.0.1:4222'] }, routes: [route] });
    expect(p({ route: 'c', transport: 'nats' })).toThrow('routes[0] must name exactly one of method, service');
    expect(p({ method: '/a.B/C', service: 'a.B', route: 'c', transport: 'nats' })).toThrow('routes[0] must name exactly one of method, service');
  });

  it('needs a processor target for grpc routes and nats for nats routes', () => {
    const base = { grpc: { tls }, schema: { image: 'x' } };
    expect(() => parseGatewayConfig({ ...base, routes: [{ method: '/a.B/C', route: 'c', transport: 'grpc' }] })).toThrow(/processor/);
    expect(() => parseGatewayConfig({ ...base, routes: [{ method: '/a.B/C', route: 'c', transport: 'nats' }] })).toThrow(/nats is required/);
    const ok = parseGatewayConfig({ ...base, routes: [{ method: '/a.B/C', route: 'c', transport: 'grpc', processor: { address: '127.0.0.1:9443', tls } }] });
    expect(ok.routes[0]!.processor).toMatchObject({ address: '127.0.0.1:9443', identity: 'spiffe://fle.local/processor' });
  });

  it('refuses route names that are not one NATS token, unknown transports', () => {
    const nats = { servers: ['nats://127.0.0.1:4222'] };
    const r = (route: object) => () => parseGatewayConfig({ grpc: { tls }, schema: { image: 'x' }, nats, routes: [route] });
    expect(r({ method: '/a.B/C', route: 'a.b', transport: 'nats' })).toThrow(/NATS token/);
    expect(r({ method: '/a.B/C', route: '*', transport: 'nats' })).toThrow(/NATS token/);
    expect(r({ method: '/a.B/C', route: 'c', transport: 'kafka' })).toThrow(/one of/);
  });
});
