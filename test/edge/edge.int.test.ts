// The gateway's public edge (docs/edge.md) against the real stack: nats-server
// (mTLS), the keystore (X25519 rings, device registry), the processor
// (JetStream, HPKE) and gateway processes with `edge:` configured. Callers are
// Node clients of @connectrpc/connect-node over Connect JSON, Connect binary,
// gRPC-Web and gRPC, and raw HTTPS requests exactly as docs/edge.md tells a
// mobile app to send them. Requests are sealed with @fle/client/browser's
// BrowserSealer, knowing only the tenant's public keys.
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { fromBinary, toJson, type DescMessage, type DescMethodUnary, type DescService } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserSealer, generateX25519KeyPair, encodeBase64url } from '@fle/client/browser';
import { luhnCardNumber } from '@fle/client/testing';
import { compileSchema, FieldCipher, StaticKeyProvider, parseHpkeEnvelope, decodeBase64url } from '@fle/field-crypto';
import { EDGE_PROTO_FILE, registryFromRoot } from '@fle/gateway';
import type { GatewayProcess } from '@fle/gateway/testing';
import { KeystoreAdminClient } from '@fle/keystore-client';
import { loadSchema } from '@fle/schema';
import { buildAdminAndRings, startBrowserStack, type BrowserStack } from '../browser/support/browser-stack.js';
import { createTestIssuer, type TestIssuer } from '../support/edge-auth.js';
import { PAYMENTS_PROTO_ROOT } from '../support/payments-gateway.js';

const ALLOWED_ORIGIN = 'https://shop.fle.test';
const root = loadSchema({ protoRoots: [PAYMENTS_PROTO_ROOT] });
const registry = registryFromRoot(root);
const paymentService = registry.getService('acme.payments.v1.PaymentService')!;
const authorize = paymentService.methods.find((m) => m.name === 'Authorize') as DescMethodUnary;
// The edge's own proto (fle.edge.v1.DeviceService), as an app would compile it.
const deviceService = registryFromRoot(loadSchema({ protoRoots: [dirname(dirname(dirname(dirname(EDGE_PROTO_FILE))))] })).getService('fle.edge.v1.DeviceService')!;

/** A device enrolled at the edge during the test: the processor (the opener) reads it from the keystore, no config lists it. */
const device = generateX25519KeyPair();
const deviceKeys = { privateKey: encodeBase64url(device.privateKey), publicKey: encodeBase64url(device.publicKey) };

let stack: BrowserStack;
let issuer: TestIssuer;
/** Authorize behind a bearer token. */
let jwtEdge: GatewayProcess;
/** Authorize behind a bearer token and an enrolled device (alg 4); enrollment served. */
let deviceEdge: GatewayProcess;
let ca: Buffer;
let admin: KeystoreAdminClient;

function requestFor(tenant: string, card = luhnCardNumber()) {
  return {
    tenantId: tenant,
    requestId: `req-${Math.random().toString(36).slice(2, 10)}`,
    amountMinor: 4200,
    currency: 'EUR',
    card: { number: card, holderName: 'Edge Caller', expiryMonth: 11, expiryYear: 2031, cvv: new TextEncoder().encode('737') },
    nationalId: 'NID-EDGE-4411',
    biometricTemplate: new Uint8Array([1, 2, 3]),
    previousAddresses: ['1 Edge Road'],
    items: [{ sku: 'sku-1', quantity: 1, note: 'through the edge' }],
    customerAttributes: { tier: 'gold' },
    email: 'caller@edge.example',
    merchantId: 'm-edge',
    labels: { channel: 'app' },
  };
}

async function sealFor(tenant: string, opts: { device?: typeof deviceKeys; card?: string } = {}) {
  const sealer = new BrowserSealer({ schema: root, publicKeys: await stack.publicKeysFor(tenant), ...(opts.device ? { device: opts.device } : {}) });
  return sealer.seal('acme.payments.v1.AuthorizeRequest', requestFor(tenant, opts.card));
}

const transports = {
  'Connect JSON': (url: string) => createConnectTransport({ baseUrl: url, httpVersion: '1.1', useBinaryFormat: false, nodeOptions: { ca } }),
  'Connect binary': (url: string) => createConnectTransport({ baseUrl: url, httpVersion: '2', useBinaryFormat: true, nodeOptions: { ca } }),
  'gRPC-Web': (url: string) => createGrpcWebTransport({ baseUrl: url, httpVersion: '1.1', nodeOptions: { ca } }),
  gRPC: (url: string) => createGrpcTransport({ baseUrl: url, nodeOptions: { ca } }),
} satisfies Record<string, (url: string) => Transport>;

type Headers = Record<string, string>;

async function call(transport: Transport, service: DescService, method: string, message: unknown, headers: Headers): Promise<Record<string, unknown>> {
  const client = createClient(service, transport) as unknown as Record<string, (m: unknown, o: { headers: Headers }) => Promise<Record<string, unknown>>>;
  return client[method]!(message, { headers });
}

function stampHeaders(stamp: { timestampMs: number; nonce: string }, token?: string): Headers {
  return { 'fle-timestamp': String(stamp.timestampMs), 'fle-nonce': stamp.nonce, ...(token ? { authorization: `Bearer ${token}` } : {}) };
}

async function refusal(p: Promise<unknown>): Promise<{ code: Code; fleCode: string | null; message: string }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the call should have been refused').toBeInstanceOf(ConnectError);
  const e = err as ConnectError;
  return { code: e.code, fleCode: e.metadata.get('fle-error-code'), message: e.rawMessage };
}

/** A raw HTTPS request, as docs/edge.md shows it (no Connect library). */
function https(url: string, init: { method: string; headers: Headers; body?: Uint8Array | string }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: init.method, headers: init.headers, ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

beforeAll(async () => {
  [stack, issuer] = await Promise.all([startBrowserStack(), createTestIssuer()]);
  await buildAdminAndRings(stack, ['webshop', 'devshop', 'othershop']);
  ca = readFileSync(stack.pki.caCert);
  admin = new KeystoreAdminClient({ address: stack.keystore.address, tls: stack.pki.files('admin') });
  [jwtEdge, deviceEdge] = await Promise.all([
    stack.startEdgeGateway({
      listen: '127.0.0.1:0',
      cors: { origins: [ALLOWED_ORIGIN] },
      jwt: issuer.edgeJwt,
      routes: [{ method: '/acme.payments.v1.PaymentService/Authorize', auth: ['jwt'] }],
    }),
    stack.startEdgeGateway({
      listen: '127.0.0.1:0',
      jwt: issuer.edgeJwt,
      devices: { ttlMs: 1500, unknownSenderRefetchMs: 0 },
      enroll: true,
      routes: [{ service: 'acme.payments.v1.PaymentService', auth: ['jwt', 'device'] }],
    }),
  ]);
  expect(jwtEdge.edgeUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
});

afterAll(async () => {
  admin?.close();
  await stack?.stop();
  issuer?.cleanup();
});

describe('the public edge: sealed requests over Connect, gRPC-Web and gRPC', () => {
  for (const [name, make] of Object.entries(transports)) {
    it(`${name}: a sealed request with a valid token is approved`, async () => {
      const card = luhnCardNumber('5', 16);
      const sealed = await sealFor('webshop', { card });
      const token = await issuer.sign({ tenant: 'webshop' });
      const res = await call(make(jwtEdge.edgeUrl!), paymentService, 'authorize', fromBinary(authorize.input, sealed.bytes), stampHeaders(sealed.stamp, token));
      expect(res).toMatchObject({ approved: true, cardLastFour: card.slice(-4), tenantId: 'webshop' });
      expect(parseHpkeEnvelope(decodeBase64url(res.cardToken as string)).alg).toBe(3);
    });
  }

  it('the exact HTTP request of docs/edge.md (Connect JSON and binary, no library) is approved; the reply is the response message', async () => {
    const token = await issuer.sign({ tenant: 'webshop' });
    const url = `${jwtEdge.edgeUrl}/acme.payments.v1.PaymentService/Authorize`;
    // JSON: the request message in proto3 JSON (camelCase names, bytes base64, int64 as a string).
    const sealed = await sealFor('webshop');
    const json = JSON.stringify(
      toJson(authorize.input as DescMessage, fromBinary(authorize.input, sealed.bytes)),
    );
    const a = await https(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'connect-protocol-version': '1', ...stampHeaders(sealed.stamp, token) },
      body: json,
    });
    expect(a.status).toBe(200);
    expect(a.headers['content-type']).toBe('application/json');
    expect(JSON.parse(a.body.toString('utf8'))).toMatchObject({ approved: true, tenantId: 'webshop' });
    // Binary: the protobuf bytes as they are.
    const sealed2 = await sealFor('webshop');
    const b = await https(url, {
      method: 'POST',
      headers: { 'content-type': 'application/proto', 'connect-protocol-version': '1', ...stampHeaders(sealed2.stamp, token) },
      body: sealed2.bytes,
    });
    expect(b.status).toBe(200);
    expect(b.headers['content-type']).toBe('application/proto');
    const reply = fromBinary(authorize.output, b.body) as unknown as Record<string, unknown>;
    expect(reply.approved).toBe(true);
    // An error is a JSON body with the Connect code, and the fle code in a header.
    const c = await https(url, { method: 'POST', headers: { 'content-type': 'application/proto', 'connect-protocol-version': '1', ...stampHeaders(sealed2.stamp) }, body: sealed2.bytes });
    expect(c.status).toBe(401);
    expect(JSON.parse(c.body.toString('utf8'))).toMatchObject({ code: 'unauthenticated' });
    expect(c.headers['fle-error-code']).toBe('UNAUTHENTICATED');
  });

  it('the replay stamp is read from the headers: the same stamp twice is refused, none at all too', async () => {
    const t = transports['Connect binary'](jwtEdge.edgeUrl!);
    const token = await issuer.sign({ tenant: 'webshop' });
    const sealed = await sealFor('webshop');
    const msg = fromBinary(authorize.input, sealed.bytes);
    expect((await call(t, paymentService, 'authorize', msg, stampHeaders(sealed.stamp, token))).approved).toBe(true);
    const again = await refusal(call(t, paymentService, 'authorize', msg, stampHeaders(sealed.stamp, token)));
    expect([again.code, again.fleCode]).toEqual([Code.PermissionDenied, 'REPLAY_NONCE']);
    const none = await refusal(call(t, paymentService, 'authorize', msg, { authorization: `Bearer ${token}` }));
    expect([none.code, none.fleCode]).toEqual([Code.InvalidArgument, 'MISSING_STAMP']);
  });
});

describe('bearer tokens', () => {
  async function attempt(token: string | undefined, tenant = 'webshop') {
    const sealed = await sealFor(tenant);
    return refusal(call(transports['Connect JSON'](jwtEdge.edgeUrl!), paymentService, 'authorize', fromBinary(authorize.input, sealed.bytes), stampHeaders(sealed.stamp, token)));
  }

  it('no token, an expired one, a forged one, one for another audience or issuer: UNAUTHENTICATED', async () => {
    const none = await attempt(undefined);
    expect([none.code, none.fleCode]).toEqual([Code.Unauthenticated, 'UNAUTHENTICATED']);
    expect(none.message).toMatch(/bearer token/);
    const expired = await attempt(await issuer.sign({ tenant: 'webshop', expiresIn: -60 }));
    expect([expired.code, expired.message]).toEqual([Code.Unauthenticated, 'the bearer token has expired']);
    const forged = await attempt(await issuer.signForeign({ tenant: 'webshop' }));
    expect(forged.code).toBe(Code.Unauthenticated);
    expect((await attempt(await issuer.sign({ tenant: 'webshop', audience: 'someone-else' }))).code).toBe(Code.Unauthenticated);
    expect((await attempt(await issuer.sign({ tenant: 'webshop', issuer: 'https://evil.test/' }))).code).toBe(Code.Unauthenticated);
    expect((await attempt(await issuer.sign({}))).message).toBe('the bearer token has no tenant claim');
    expect((await attempt('not-a-jwt')).code).toBe(Code.Unauthenticated);
  });

  it("a token for another tenant: PERMISSION_DENIED, and the other tenant's request never reaches the processor", async () => {
    const before = (await stack.processor.digests()).length;
    const other = await attempt(await issuer.sign({ tenant: 'othershop' }), 'webshop');
    expect([other.code, other.fleCode]).toEqual([Code.PermissionDenied, 'TENANT_MISMATCH']);
    expect((await stack.processor.digests()).length).toBe(before);
  });
});

describe('public-key envelopes only', () => {
  it('a symmetric envelope (a secret key shipped in an app) is refused with a message that says so', async () => {
    // The app holds the tenant's symmetric ring keys and seals alg 1: the edge refuses it before forwarding.
    const keys = new StaticKeyProvider(['default', 'pci'].map((ring) => ({ tenant: 'webshop', ring, versions: [{ version: 1, key: new Uint8Array(32).fill(7) }] })));
    const cipher = new FieldCipher({ schema: compileSchema(root), keys });
    const stamp = { timestampMs: Date.now(), nonce: encodeBase64url(crypto.getRandomValues(new Uint8Array(16))) };
    const sealed = await cipher.sealMessage('acme.payments.v1.AuthorizeRequest', requestFor('webshop'), { context: `req/${stamp.timestampMs}/${stamp.nonce}` });
    const T = root.lookupType('acme.payments.v1.AuthorizeRequest');
    const bytes = T.encode(T.fromObject(sealed as Record<string, unknown>)).finish();
    const token = await issuer.sign({ tenant: 'webshop' });
    const r = await refusal(call(transports['Connect binary'](jwtEdge.edgeUrl!), paymentService, 'authorize', fromBinary(authorize.input, bytes), stampHeaders(stamp, token)));
    expect([r.code, r.fleCode]).toEqual([Code.PermissionDenied, 'SYMMETRIC_ENVELOPE']);
    expect(r.message).toMatch(/symmetric envelope \(alg 1\): a secret key must not ship in an app/);
  });

  it('plaintext in a sensitive field and unknown fields are refused as on the mTLS listener', async () => {
    const token = await issuer.sign({ tenant: 'webshop' });
    const sealed = await sealFor('webshop');
    const msg = fromBinary(authorize.input, sealed.bytes) as unknown as { nationalId: string };
    msg.nationalId = 'NID-PLAINTEXT-0001';
    const t = transports['Connect binary'](jwtEdge.edgeUrl!);
    const plain = await refusal(call(t, paymentService, 'authorize', msg, stampHeaders(sealed.stamp, token)));
    expect([plain.code, plain.fleCode]).toEqual([Code.InvalidArgument, 'PLAINTEXT_IN_SENSITIVE_FIELD']);
    expect(plain.message).not.toContain('NID-PLAINTEXT-0001');
    // A field the schema does not have (number 99, a string) hidden in binary: the wire check refuses it.
    const extra = Buffer.concat([Buffer.from(sealed.bytes), Buffer.from([0x9a, 0x06, 0x03, 0x61, 0x62, 0x63])]);
    const res = await https(`${jwtEdge.edgeUrl}/acme.payments.v1.PaymentService/Authorize`, {
      method: 'POST',
      headers: { 'content-type': 'application/proto', 'connect-protocol-version': '1', ...stampHeaders(sealed.stamp, token) },
      body: extra,
    });
    expect(res.status).toBe(400);
    expect(res.headers['fle-error-code']).toBe('WIRE_FORMAT');
  });
});

describe('CORS', () => {
  const preflight = (origin: string) =>
    https(`${jwtEdge.edgeUrl}/acme.payments.v1.PaymentService/Authorize`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,connect-protocol-version,authorization,fle-timestamp,fle-nonce' },
    });

  it('a preflight from a listed origin is allowed with the headers an app needs', async () => {
    const ok = await preflight(ALLOWED_ORIGIN);
    expect(ok.status).toBe(204);
    expect(ok.headers['access-control-allow-origin']).toBe(ALLOWED_ORIGIN);
    const allowed = String(ok.headers['access-control-allow-headers']).toLowerCase();
    for (const h of ['authorization', 'fle-timestamp', 'fle-nonce', 'content-type', 'connect-protocol-version']) expect(allowed).toContain(h);
  });

  it('a preflight, and a request, from an origin not listed are refused', async () => {
    const no = await preflight('https://evil.example');
    expect(no.status).toBe(403);
    expect(no.headers['access-control-allow-origin']).toBeUndefined();
    const sealed = await sealFor('webshop');
    const direct = await https(`${jwtEdge.edgeUrl}/acme.payments.v1.PaymentService/Authorize`, {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'application/proto', 'connect-protocol-version': '1', ...stampHeaders(sealed.stamp, await issuer.sign({ tenant: 'webshop' })) },
      body: sealed.bytes,
    });
    expect(direct.status).toBe(403);
    // The device edge lists no origin at all: every browser origin is refused there.
    expect((await https(`${deviceEdge.edgeUrl}/acme.payments.v1.PaymentService/Authorize`, { method: 'OPTIONS', headers: { origin: ALLOWED_ORIGIN, 'access-control-request-method': 'POST' } })).status).toBe(403);
  });
});

describe('devices: enrollment through the edge, alg 4 senders checked against the keystore', () => {
  it('an app enrolls its key with a one-time token, calls with alg 4, and is refused after a revoke once the cache TTL passed', async () => {
    const enrollment = await admin.createDeviceEnrollment('devshop');
    const enrollT = transports['Connect JSON'](deviceEdge.edgeUrl!);
    const enrolled = await call(enrollT, deviceService, 'enroll', { tenant: 'devshop', token: enrollment.token, publicKey: device.publicKey, label: 'test phone' }, {});
    expect(enrolled.deviceId).toMatch(/^dev_/);
    expect(encodeBase64url(enrolled.publicKey as Uint8Array)).toBe(deviceKeys.publicKey);
    // The token is spent.
    const reuse = await refusal(call(enrollT, deviceService, 'enroll', { tenant: 'devshop', token: enrollment.token, publicKey: generateX25519KeyPair().publicKey }, {}));
    expect([reuse.code, reuse.fleCode]).toEqual([Code.PermissionDenied, 'DEVICE_ENROLLMENT_REFUSED']);
    expect(reuse.message).not.toContain(enrollment.token.split('.')[1]!);

    const token = await issuer.sign({ tenant: 'devshop', sub: 'app-user' });
    const t = transports['gRPC-Web'](deviceEdge.edgeUrl!);
    const send = async (keys?: typeof deviceKeys) => {
      const sealed = await sealFor('devshop', keys ? { device: keys } : {});
      return call(t, paymentService, 'authorize', fromBinary(authorize.input, sealed.bytes), stampHeaders(sealed.stamp, token));
    };
    expect(await send(deviceKeys)).toMatchObject({ approved: true });
    // The token-only edge checks no sender: what it forwards, the processor
    // checks against the keystore's devices (its registry, TTL 1500 ms).
    const viaJwtEdge = async (keys?: typeof deviceKeys) => {
      const sealed = await sealFor('devshop', keys ? { device: keys } : {});
      return call(transports['Connect binary'](jwtEdge.edgeUrl!), paymentService, 'authorize', fromBinary(authorize.input, sealed.bytes), stampHeaders(sealed.stamp, token));
    };
    expect(await viaJwtEdge(deviceKeys)).toMatchObject({ approved: true });

    // alg 3 (no device) and a device never enrolled: refused at the edge.
    const anonymous = await refusal(send());
    expect([anonymous.code, anonymous.fleCode]).toEqual([Code.PermissionDenied, 'UNKNOWN_SENDER']);
    const strangerPair = generateX25519KeyPair();
    const stranger = await refusal(send({ privateKey: encodeBase64url(strangerPair.privateKey), publicKey: encodeBase64url(strangerPair.publicKey) }));
    expect([stranger.code, stranger.fleCode]).toEqual([Code.PermissionDenied, 'UNKNOWN_SENDER']);
    const strangerAtProcessor = await refusal(viaJwtEdge({ privateKey: encodeBase64url(strangerPair.privateKey), publicKey: encodeBase64url(strangerPair.publicKey) }));
    expect([strangerAtProcessor.code, strangerAtProcessor.fleCode]).toEqual([Code.PermissionDenied, 'UNKNOWN_SENDER']);

    await admin.revokeDevice('devshop', enrolled.deviceId as string);
    await new Promise((r) => setTimeout(r, 1700)); // edge.devices.ttlMs 1500
    const revoked = await refusal(send(deviceKeys));
    expect([revoked.code, revoked.fleCode]).toEqual([Code.PermissionDenied, 'UNKNOWN_SENDER']);
    // …and by the processor itself, past its registry's TTL (1500 ms).
    const revokedAtProcessor = await refusal(viaJwtEdge(deviceKeys));
    expect([revokedAtProcessor.code, revokedAtProcessor.fleCode]).toEqual([Code.PermissionDenied, 'UNKNOWN_SENDER']);
    expect(stack.logs()).toMatch(/UNKNOWN_SENDER|registered device/);
    expect(deviceEdge.logs()).toMatch(/"listener":"edge".*"request refused"/);
  });
});

describe('rate limits', () => {
  it('the per-caller bucket applies at the edge too (keyed by the token subject): RESOURCE_EXHAUSTED past the burst', async () => {
    const limited = await stack.startEdgeGateway(
      { jwt: issuer.edgeJwt, routes: [{ method: '/acme.payments.v1.PaymentService/Authorize', auth: ['jwt'] }] },
      { rateLimits: { perCaller: { requestsPerSecond: 0.01, burstRequests: 2, bytesPerSecond: 1_000_000, burstBytes: 8 * 2 ** 20 } } },
    );
    const t = transports['Connect binary'](limited.edgeUrl!);
    const token = await issuer.sign({ tenant: 'webshop', sub: 'busy-user' });
    const once = async (tok: string) => {
      const sealed = await sealFor('webshop');
      return call(t, paymentService, 'authorize', fromBinary(authorize.input, sealed.bytes), stampHeaders(sealed.stamp, tok));
    };
    expect((await once(token)).approved).toBe(true);
    expect((await once(token)).approved).toBe(true);
    const third = await refusal(once(token));
    expect([third.code, third.fleCode]).toEqual([Code.ResourceExhausted, 'RATE_LIMITED']);
    // Another user of the same tenant has a bucket of its own.
    expect((await once(await issuer.sign({ tenant: 'webshop', sub: 'other-user' }))).approved).toBe(true);
  });
});

describe('what stays private', () => {
  it('no plaintext and no bearer token or enrollment secret in any log', async () => {
    const logs = stack.logs();
    for (const secret of ['NID-EDGE-4411', 'through the edge', 'caller@edge.example', 'Edge Caller', 'eyJ']) expect(logs).not.toContain(secret);
    expect(logs).toContain('"listener":"edge"');
  });
});
