// The real gateway process on its own (a grpc route to a processor that is not
// running, no NATS): mTLS is required and the caller identity checked, health
// and reflection answer, the message size limit holds, and an unreachable
// processor is UNAVAILABLE — never UNKNOWN.
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { FieldCipher, StaticKeyProvider, compileSchema } from '@fle/field-crypto';
import { FleCallError, FleClient, type FleClientOptions } from '@fle/client';
import { channelCredentials, type DevPki } from '@fle/pki';
import { canarySubmitRequest, FIXTURE_METHOD, FIXTURE_PROTO_DIR, FIXTURE_SERVICE, fixtureSchema, freePort, makeTestPki } from '@fle/testkit';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { methodRoute, startGatewayProcess, type GatewayProcess } from '../src/testing.js';

const GATEWAY_ID = 'spiffe://fle.local/gateway';

describe('gateway process', () => {
  let pki: DevPki;
  let gw: GatewayProcess;
  const keys = new StaticKeyProvider(['default', 'pci'].map((ring) => ({ tenant: 't1', ring, versions: [{ version: 1, key: randomBytes(32) }] })));
  const schema = fixtureSchema();
  const cipher = new FieldCipher({ schema: compileSchema(schema), keys });
  const client = (opts: Omit<FleClientOptions, 'cipher' | 'schema' | 'address'>) => new FleClient({ address: gw.address, schema, cipher, ...opts });
  const submit = (c: FleClient, request: object) => c.call(FIXTURE_METHOD, request).then(() => undefined, (e: unknown) => e as FleCallError);

  beforeAll(async () => {
    pki = await makeTestPki();
    const deadPort = await freePort();
    gw = await startGatewayProcess({
      pki,
      schema: { protoRoots: [FIXTURE_PROTO_DIR] },
      routes: [methodRoute(FIXTURE_METHOD, 'submit', 'grpc', { processorAddress: `127.0.0.1:${deadPort}`, timeoutMs: 1500 })],
      allowedCallers: ['spiffe://fle.local/client'],
      maxMessageBytes: 16 * 1024,
    });
  });
  afterAll(async () => {
    await gw?.stop();
  });

  const unary = (client: Client, path: string, body: Buffer, md = new Metadata()) =>
    new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, body, md, { deadline: Date.now() + 5000 }, (err: ServiceError | null, v?: Buffer) => (err ? reject(err) : resolve(v!))),
    );

  it('answers grpc.health.v1 Check with SERVING for the fronted service', async () => {
    const client = new Client(gw.address, channelCredentials(pki.files('client'), { expectedServerIdentity: GATEWAY_ID }));
    try {
      // HealthCheckRequest{service} = field 1 string; HealthCheckResponse{status=SERVING(1)} = 08 01
      const svc = Buffer.from(FIXTURE_SERVICE);
      const res = await unary(client, '/grpc.health.v1.Health/Check', Buffer.concat([Buffer.of(0x0a, svc.length), svc]));
      expect([...res]).toEqual([0x08, 0x01]);
      const all = await unary(client, '/grpc.health.v1.Health/Check', Buffer.alloc(0));
      expect([...all]).toEqual([0x08, 0x01]);
    } finally {
      client.close();
    }
  });

  it('lists the fronted service through server reflection', async () => {
    const client = new Client(gw.address, channelCredentials(pki.files('client'), { expectedServerIdentity: GATEWAY_ID }));
    try {
      const got = await new Promise<Buffer>((resolve, reject) => {
        const call = client.makeBidiStreamRequest('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', (b: Buffer) => b, (b: Buffer) => b, new Metadata(), { deadline: Date.now() + 5000 });
        call.on('data', (b: Buffer) => {
          resolve(b);
          call.end();
        });
        call.on('error', reject);
        // ServerReflectionRequest{list_services = "*"} = field 7 string
        call.write(Buffer.of(0x3a, 0x01, 0x2a));
      });
      expect(got.includes(Buffer.from(FIXTURE_SERVICE))).toBe(true);
      expect(got.includes(Buffer.from('fle.keystore'))).toBe(false);
    } finally {
      client.close();
    }
  });

  it('requires a client certificate from the CA and an allowed identity', async () => {
    const request = canarySubmitRequest('t1').request;
    const noCert = client({ credentials: credentials.createSsl(readFileSync(pki.caCert)), deadlineMs: 3000 });
    const err1 = await submit(noCert, request);
    expect(err1?.status).toBe(status.UNAVAILABLE); // TLS handshake refused: no client certificate
    noCert.close();

    const otherPki = await makeTestPki({ identities: ['client'] });
    const foreign = client({ credentials: channelCredentials(otherPki.files('client')), deadlineMs: 3000 });
    const err2 = await submit(foreign, request);
    expect(err2?.status).toBe(status.UNAVAILABLE); // neither side trusts the other CA
    foreign.close();

    const admin = client({ credentials: channelCredentials(pki.files('admin'), { expectedServerIdentity: GATEWAY_ID }), deadlineMs: 3000 });
    const err3 = await submit(admin, request);
    expect(err3).toMatchObject({ status: status.PERMISSION_DENIED, code: 'CALLER_NOT_ALLOWED' });
    admin.close();
  });

  it('refuses messages over the size limit and maps an unreachable processor to UNAVAILABLE', async () => {
    const c = client({ credentials: channelCredentials(pki.files('client'), { expectedServerIdentity: GATEWAY_ID }), deadlineMs: 5000 });
    try {
      const big = { ...canarySubmitRequest('t1').request, biometricTemplate: randomBytes(32 * 1024) };
      const tooBig = await submit(c, big);
      expect(tooBig?.status).toBe(status.RESOURCE_EXHAUSTED);

      const down = await submit(c, canarySubmitRequest('t1').request);
      expect(down).toMatchObject({ status: status.UNAVAILABLE, code: 'UPSTREAM_UNAVAILABLE' });
      const metrics = await (await fetch(gw.metricsUrl)).text();
      expect(metrics).toMatch(/fle_failures_total\{reason="upstream_unavailable",service="gateway"\} [1-9]/);
      expect(metrics).toMatch(/fle_requests_total\{route="submit",transport="grpc",outcome="error",service="gateway"\} [1-9]/);
    } finally {
      c.close();
    }
  });

  it('never calls a method it does not route', async () => {
    const client = new Client(gw.address, channelCredentials(pki.files('client'), { expectedServerIdentity: GATEWAY_ID }));
    try {
      const err = await unary(client, '/fle.keystore.v1.KeystoreService/GetPrimaryKey', Buffer.alloc(0)).then(() => undefined, (e: ServiceError) => e);
      expect(err?.code).toBe(status.UNIMPLEMENTED);
    } finally {
      client.close();
    }
  });
});
