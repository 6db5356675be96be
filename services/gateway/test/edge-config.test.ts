// Config `edge:` (src/edge/config.ts), its keys in the zod schema, the edge's
// routes against the gateway's, and the loaded schema as Connect descriptors.
import { readFileSync } from 'node:fs';
import { fromBinary, fromJson, toBinary, toJson } from '@bufbuild/protobuf';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadSchema } from '@fle/schema';
import { FIXTURE_PROTO_DIR } from '@fle/testkit';
import { parseGatewayConfig } from '../src/config.js';
import { resolveEdgeRoutes } from '../src/edge/config.js';
import { registryFromRoot } from '../src/edge/descriptors.js';

const tls = { ca: 'certs/ca.pem', cert: 'certs/gateway.pem', key: 'certs/gateway-key.pem' };
const base = {
  grpc: { tls },
  nats: { servers: ['tls://127.0.0.1:4222'], tls },
  schema: { image: 'schema.binpb' },
  routes: [{ service: 'fletest.svc.v1.LedgerService', route: 'ledger', transport: 'jetstream' }],
};
const parse = (edge: object) => parseGatewayConfig({ ...base, edge }, '/etc/fle');
const minimal = { listen: '0.0.0.0:8444', tls: { cert: 'certs/edge.pem', key: 'certs/edge-key.pem' }, routes: [{ service: 'fletest.svc.v1.LedgerService', auth: ['none'] }] };

describe('edge config', () => {
  it('reads listen, the server certificate (relative to the config), CORS origins, jwt, devices, enroll and routes', () => {
    const c = parse({
      ...minimal,
      cors: { origins: ['https://shop.example', 'http://127.0.0.1:5173'] },
      jwt: { jwks: 'jwks.json', issuer: 'https://auth.example/', audience: 'fle-edge' },
      devices: { keystore: { address: '127.0.0.1:7443', tls }, ttlMs: 10_000 },
      enroll: true,
      routes: [
        { method: '/fletest.svc.v1.LedgerService/Submit', auth: ['jwt', 'device'] },
        { service: 'fletest.svc.v1.LedgerService', auth: ['none'] },
      ],
    }).edge!;
    expect(c).toMatchObject({ host: '0.0.0.0', port: 8444, tls: { cert: '/etc/fle/certs/edge.pem', key: '/etc/fle/certs/edge-key.pem' }, enroll: true });
    expect(c.cors).toEqual({ origins: ['https://shop.example', 'http://127.0.0.1:5173'], maxAgeSeconds: 600 });
    expect(c.jwt).toEqual({ jwksFile: '/etc/fle/jwks.json', issuer: 'https://auth.example/', audience: 'fle-edge', tenantClaim: 'tenant', clockToleranceSeconds: 5 });
    expect(c.devices).toMatchObject({ keystore: { address: '127.0.0.1:7443', identity: 'spiffe://fle.local/keystore' }, ttlMs: 10_000, unknownSenderRefetchMs: 1000 });
    expect(c.routes.map((r) => r.auth)).toEqual([['jwt', 'device'], []]);
    expect(parseGatewayConfig(base, '/etc/fle').edge).toBeUndefined();
  });

  it('refuses what would open the edge wider than meant, naming the key', () => {
    expect(() => parse({ ...minimal, routes: [{ service: 'fletest.svc.v1.LedgerService' }] })).toThrow(/auth/);
    expect(() => parse({ ...minimal, routes: [{ service: 'fletest.svc.v1.LedgerService', auth: [] }] })).toThrow(/edge\.routes\[0\]\.auth/);
    expect(() => parse({ ...minimal, routes: [{ service: 'fletest.svc.v1.LedgerService', auth: ['jwt'] }] })).toThrow('edge.routes[0].auth names jwt but edge.jwt is not configured');
    expect(() => parse({ ...minimal, routes: [{ service: 'fletest.svc.v1.LedgerService', auth: ['device'] }] })).toThrow('edge.routes[0].auth names device but edge.devices is not configured');
    expect(() => parse({ ...minimal, routes: [{ service: 'fletest.svc.v1.LedgerService', auth: ['none', 'jwt'] }] })).toThrow(/none cannot be combined/);
    expect(() => parse({ ...minimal, cors: { origins: ['*'] } })).toThrow(/exact origin/);
    expect(() => parse({ ...minimal, cors: { origins: ['https://shop.example/app'] } })).toThrow(/exact origin/);
    expect(() => parse({ ...minimal, jwt: { issuer: 'i', audience: 'a' } })).toThrow('edge.jwt must give either jwks (a JWKS file) or jwksUrl');
    expect(() => parse({ ...minimal, enroll: true })).toThrow(/edge.enroll needs edge.devices.keystore/);
    // The zod schema: a misspelt key is refused (strict objects), a client CA is not a key of the edge.
    expect(() => parse({ ...minimal, cors: { origin: ['https://shop.example'] } })).toThrow(/edge\.cors\.origin/);
    expect(() => parse({ ...minimal, tls: { ...minimal.tls, ca: 'certs/ca.pem' } })).toThrow(/edge\.tls\.ca/);
  });

  it('the configuration shown in docs/edge.md parses', () => {
    const doc = readFileSync(new URL('../../../docs/edge.md', import.meta.url), 'utf8');
    const block = /## Configuration[\s\S]*?```yaml\n([\s\S]*?)```/.exec(doc);
    expect(block, 'docs/edge.md has a yaml block under ## Configuration').not.toBeNull();
    const c = parseGatewayConfig({ ...base, ...parseYaml(block![1]!) }, '/etc/fle').edge!;
    expect(c).toMatchObject({ port: 8444, enroll: true, cors: { origins: ['https://shop.example.com'] }, jwt: { tenantClaim: 'tenant' } });
    expect(c.routes.map((r) => r.auth)).toEqual([['jwt', 'device'], ['jwt']]);
  });

  it('an edge route the gateway does not route stops it at load, before any port opens', async () => {
    const { planGateway } = await import('../src/gateway.js');
    const config = parse({ ...minimal, routes: [{ method: '/fletest.svc.v1.LedgerService/Nope', auth: ['none'] }] });
    const root = loadSchema({ protoRoots: [FIXTURE_PROTO_DIR] });
    expect(() => planGateway(config, root)).toThrow("edge.routes[0].method /fletest.svc.v1.LedgerService/Nope is not one of the gateway's routes");
    expect(() => planGateway(parse(minimal), root)).not.toThrow();
  });

  it('serves only methods the gateway routes', () => {
    const fronted = ['/a.v1.S/One', '/a.v1.S/Two', '/b.v1.T/Three'];
    const m = resolveEdgeRoutes(
      [
        { service: 'a.v1.S', auth: ['jwt'], at: 'edge.routes[0]' },
        { method: '/b.v1.T/Three', auth: [], at: 'edge.routes[1]' },
      ],
      fronted,
    );
    expect([...m.entries()]).toEqual([
      ['/a.v1.S/One', ['jwt']],
      ['/a.v1.S/Two', ['jwt']],
      ['/b.v1.T/Three', []],
    ]);
    expect(() => resolveEdgeRoutes([{ method: '/b.v1.T/Four', auth: [], at: 'edge.routes[0]' }], fronted)).toThrow(/edge\.routes\[0\]\.method \/b\.v1\.T\/Four is not one of the gateway's routes/);
    expect(() => resolveEdgeRoutes([{ service: 'c.v1.U', auth: [], at: 'edge.routes[0]' }], fronted)).toThrow(/has no method among the gateway's routes/);
    expect(() =>
      resolveEdgeRoutes(
        [
          { service: 'a.v1.S', auth: [], at: 'edge.routes[0]' },
          { method: '/a.v1.S/One', auth: ['jwt'], at: 'edge.routes[1]' },
        ],
        fronted,
      ),
    ).toThrow(/selects \/a\.v1\.S\/One, which another edge route selects already/);
  });
});

describe('the loaded schema as Connect descriptors', () => {
  it('round-trips every request of the neutral fixture through binary and proto3 JSON unchanged', () => {
    const root = loadSchema({ protoRoots: [FIXTURE_PROTO_DIR] });
    const registry = registryFromRoot(root);
    const service = registry.getService('fletest.svc.v1.LedgerService')!;
    expect(service.methods.length).toBeGreaterThan(0);
    for (const m of service.methods) {
      const T = root.lookupType(m.input.typeName);
      // Every field set (nested, repeated, map) from protobufjs's own defaults walk.
      const sample: Record<string, unknown> = {};
      const oneofSet = new Set<string>();
      for (const f of T.fieldsArray) {
        f.resolve();
        if (f.partOf) {
          if (oneofSet.has(f.partOf.name)) continue; // one member per oneof: the wire would keep only the last
          oneofSet.add(f.partOf.name);
        }
        if (f.map) sample[f.name] = { k: f.resolvedType ? {} : f.type === 'bytes' ? new Uint8Array([1]) : f.type === 'string' ? 'v' : 1 };
        else if (f.repeated) sample[f.name] = f.resolvedType ? [] : f.type === 'string' ? ['a', 'b'] : f.type === 'bytes' ? [new Uint8Array([2])] : [];
        else if (f.type === 'string') sample[f.name] = `value-${f.id}`;
        else if (f.type === 'bytes') sample[f.name] = new Uint8Array([f.id]);
      }
      const bytes = T.encode(T.fromObject(sample)).finish();
      const parsed = fromBinary(m.input, bytes);
      expect(Buffer.from(toBinary(m.input, parsed)).equals(Buffer.from(bytes))).toBe(true);
      expect(Buffer.from(toBinary(m.input, fromJson(m.input, toJson(m.input, parsed)))).equals(Buffer.from(bytes))).toBe(true);
    }
  });
});

describe('edge.static', () => {
  it('serves the files of its folder only: index for /, 404 for dotfiles, traversal and what is not there', async () => {
    const { mkdtempSync, writeFileSync, mkdirSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { staticFiles } = await import('../src/edge/static-files.js');
    const base = mkdtempSync(join(tmpdir(), 'fle-static-'));
    try {
      const dir = join(base, 'web');
      mkdirSync(dir);
      writeFileSync(join(dir, 'index.html'), '<p>hi</p>');
      writeFileSync(join(dir, '.env'), 'SECRET=1');
      writeFileSync(join(base, 'outside.txt'), 'outside');
      const serve = staticFiles(dir);
      const get = (url: string, method = 'GET') =>
        new Promise<{ status: number; type: unknown; body: string }>((resolve) => {
          let status = 0;
          let headers: Record<string, unknown> = {};
          const res = {
            writeHead(s: number, h: Record<string, unknown>) {
              status = s;
              headers = h;
              return res;
            },
            end(b?: Buffer | string) {
              resolve({ status, type: headers['content-type'], body: b ? b.toString() : '' });
            },
          };
          serve({ method, url } as never, res as never);
        });
      expect(await get('/')).toEqual({ status: 200, type: 'text/html; charset=utf-8', body: '<p>hi</p>' });
      expect((await get('/index.html')).status).toBe(200);
      expect((await get('/.env')).status).toBe(404);
      expect((await get('/../outside.txt')).status).toBe(404);
      expect((await get('/%2e%2e/outside.txt')).status).toBe(404);
      expect((await get('/missing.js')).status).toBe(404);
      expect((await get('/', 'DELETE')).status).toBe(405);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
