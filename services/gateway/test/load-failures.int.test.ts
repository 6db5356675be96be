// What the gateway cannot serve stops it before any port opens, with one line
// on stderr naming the config file and the problem and exit status 1: a schema file
// that is not a descriptor set, a route the schema lacks, a sensitive mark on
// a non-string field. Runs the real main as a child process.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DevPki } from '@fle/pki';
import { FIXTURE_METHOD, FIXTURE_PROTO_DIR, FIXTURE_SERVICE, freePort, makeTestPki } from '@fle/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_MAIN } from '../src/testing.js';

let pki: DevPki;
let dir: string;

beforeAll(async () => {
  pki = await makeTestPki();
  dir = mkdtempSync(join(tmpdir(), 'fle-gw-load-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the gateway with `schema` and `routes`; returns its exit status, stderr lines and whether it got as far as listening. */
async function runGateway(name: string, schema: object, routes: object[]) {
  const files = pki.files('gateway');
  const portsFile = join(dir, `${name}.ports.json`);
  const config = {
    grpc: { listen: `127.0.0.1:${await freePort()}`, tls: files },
    // Nothing listens here: a gateway that connected before checking its schema would fail with a NATS error instead.
    nats: { servers: [`tls://127.0.0.1:${await freePort()}`], tls: files },
    log: { level: 'info' },
    portsFile,
    schema,
    routes,
  };
  const configPath = join(dir, `${name}.yaml`);
  writeFileSync(configPath, JSON.stringify(config));
  const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), GATEWAY_MAIN, '--config', configPath], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, lines: r.stderr.trim().split('\n'), stdout: r.stdout, configPath, listened: existsSync(portsFile) || r.stdout.includes('gateway listening') };
}

const route = (x: object) => ({ route: 'r', transport: 'nats', ...x });

describe('gateway load-time failures', () => {
  it('a schema file that is not a descriptor set', async () => {
    const image = join(dir, 'not-an-image.binpb');
    writeFileSync(image, 'this is not protobuf\n');
    const r = await runGateway('bad-image', { image }, [route({ method: FIXTURE_METHOD })]);
    expect(r.status).toBe(1);
    expect(r.listened).toBe(false);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(new RegExp(`^config ${r.configPath}: schema: ${image} is not a Buf image or FileDescriptorSet`));
  });

  it('a schema file that does not exist', async () => {
    const r = await runGateway('no-image', { image: join(dir, 'missing.binpb') }, [route({ method: FIXTURE_METHOD })]);
    expect(r.status).toBe(1);
    expect(r.lines).toEqual([`config ${r.configPath}: schema: cannot read image ${join(dir, 'missing.binpb')}: ENOENT`]);
  });

  it('a method, a service or a streaming method the schema does not back', async () => {
    const schema = { protoRoots: [FIXTURE_PROTO_DIR] };
    const method = await runGateway('no-method', schema, [route({ method: FIXTURE_METHOD }), route({ method: `/${FIXTURE_SERVICE}/Refund`, route: 'refund' })]);
    expect(method.status).toBe(1);
    expect(method.listened).toBe(false);
    expect(method.lines).toEqual([`config ${method.configPath}: routes[1].method /${FIXTURE_SERVICE}/Refund: service ${FIXTURE_SERVICE} has no method Refund`]);

    const service = await runGateway('no-service', schema, [route({ service: 'billing.v1.InvoiceService' })]);
    expect(service.status).toBe(1);
    expect(service.lines).toEqual([`config ${service.configPath}: routes[0].service billing.v1.InvoiceService: the schema has no such service`]);

    const protoDir = join(dir, 'streaming');
    mkdirSync(protoDir, { recursive: true });
    writeFileSync(join(protoDir, 'feed.proto'), 'syntax = "proto3";\npackage feed.v1;\nmessage M { string a = 1; }\nservice Feed { rpc Get(M) returns (M); rpc Watch(M) returns (stream M); }\n');
    const streaming = await runGateway('streaming', { protoRoots: [protoDir] }, [route({ service: 'feed.v1.Feed' })]);
    expect(streaming.status).toBe(1);
    expect(streaming.lines).toEqual([
      `config ${streaming.configPath}: routes[0].service feed.v1.Feed has streaming methods (Watch); the gateway fronts unary methods only: list its unary methods with method: instead`,
    ]);

    // The subject carries the tenant: a request without a tenant field cannot be routed.
    const untenanted = await runGateway('no-tenant', { protoRoots: [protoDir] }, [route({ method: '/feed.v1.Feed/Get' })]);
    expect(untenanted.status).toBe(1);
    expect(untenanted.lines).toEqual([
      `config ${untenanted.configPath}: route /feed.v1.Feed/Get: its request feed.v1.M names no tenant field (option (fle.v1.tenant_field)), which the gateway routes by`,
    ]);
  });

  it('a sensitive mark on a non-string field, naming the .proto file, message and field', async () => {
    const protoDir = join(dir, 'bad-mark');
    mkdirSync(join(protoDir, 'shop/v1'), { recursive: true });
    const file = join(protoDir, 'shop/v1/orders.proto');
    writeFileSync(
      file,
      `syntax = "proto3";
package shop.v1;
import "fle/v1/options.proto";
message PlaceOrder {
  option (fle.v1.tenant_field) = "shop_id";
  string shop_id = 1;
  int64 amount_cents = 2 [(fle.v1.sensitive) = true];
}
message Placed { string id = 1; }
service Orders { rpc Place(PlaceOrder) returns (Placed); }
`,
    );
    const r = await runGateway('bad-mark', { protoRoots: [protoDir] }, [route({ service: 'shop.v1.Orders' })]);
    expect(r.status).toBe(1);
    expect(r.listened).toBe(false);
    expect(r.lines).toEqual([
      `config ${r.configPath}: schema: ${file}: field shop.v1.PlaceOrder.amountCents is marked (fle.v1.sensitive) but has type int64: only string and bytes fields can hold an envelope`,
    ]);
  });
});
