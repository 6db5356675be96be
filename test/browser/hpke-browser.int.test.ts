// End to end with an untrusted client calling fle itself (docs/edge.md): a
// page in headless Chromium seals an AuthorizeRequest knowing only the
// tenant's public keys (the @fle/client/browser bundle as packed:
// dist/fle-browser.mjs of the @fle/client tarball, no Node built-ins) and calls
// the gateway's public edge with EdgeClient (Connect over HTTPS, fetch), with
// no relay: the edge checks the bearer token, the envelopes (alg 3/4 only) and
// the enrolled device, and routes the request over NATS JetStream to the real
// processor, which fetches the X25519 private keys from the real keystore and
// opens the fields. CORS: the page's origin is listed; another origin's page
// is refused.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { buildAdminAndRings, startBrowserStack, type BrowserStack } from './support/browser-stack.js';
import { buildBrowserBundle, type BrowserBundle } from '../../packages/client/src/browser-build.js';
import { packedPackages } from '../packages/support/packs.js';
import { compileSchema, FieldCipher, StaticKeyProvider, generateX25519KeyPair, openHpkeEnvelope, parseHpkeEnvelope, decodeBase64url, encodeBase64url } from '@fle/field-crypto';
import { KeystoreAdminClient } from '@fle/keystore-client';
import type { GatewayProcess } from '@fle/gateway/testing';
import { createTestIssuer, type TestIssuer } from '../support/edge-auth.js';
import { luhnCardNumber } from '@fle/client/testing';
import { loadSchema } from '@fle/schema';
import { PAYMENTS_PROTO_ROOT } from '../support/payments-gateway.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, serveStatic, type Chromium, type StaticServer } from './support/chromium.js';

const AUTHORIZE_PATH = '/acme.payments.v1.PaymentService/Authorize';
const PAGE = `<!doctype html><meta charset="utf-8"><title>fle browser edge</title><link rel="icon" href="data:,">
<script type="module">
  import * as fle from '/fle-browser.mjs';
  // The app's schema, as its backend serves it (loadSchema(...).toJSON()).
  const schema = await (await fetch('/schema.json')).json();
  const authorizeRequest = (request) => {
    const req = { ...request, card: { ...request.card, cvv: new TextEncoder().encode(request.card.cvv) }, biometricTemplate: new Uint8Array(request.biometric) };
    delete req.biometric;
    return req;
  };
  const failure = (e) => (e instanceof fle.EdgeCallError ? { error: { code: e.code, status: e.status, fleCode: e.fleCode ?? null, httpStatus: e.httpStatus, message: e.message } } : { error: { code: 'thrown', message: String(e) } });
  // The page's only inputs: the edge's URL, the tenant's public keys, a bearer token (and, for auth mode, a device key pair).
  window.callAuthorize = async ({ edge, publicKeys, request, token, device, format }) => {
    const client = new fle.EdgeClient({ baseUrl: edge, schema, publicKeys, ...(token ? { token } : {}), ...(device ? { device } : {}), format });
    try {
      const r = await client.callDetailed('/acme.payments.v1.PaymentService/Authorize', authorizeRequest(request));
      return { message: r.message, context: r.context };
    } catch (e) {
      return failure(e);
    }
  };
  window.enroll = async ({ edge, tenant, token, publicKey }) => {
    try {
      return await new fle.EdgeClient({ baseUrl: edge, schema, publicKeys: [] }).enrollDevice({ tenant, token, publicKey, label: 'chromium' });
    } catch (e) {
      return failure(e);
    }
  };
  // What a page could send by hand (the symmetric envelope and replay checks): one Connect binary POST.
  window.rawCall = async ({ edge, bytes, stamp, token }) => {
    const b = Uint8Array.from(atob(bytes), (c) => c.charCodeAt(0));
    const res = await fetch(edge + '/acme.payments.v1.PaymentService/Authorize', { method: 'POST', body: b, headers: { 'content-type': 'application/proto', 'connect-protocol-version': '1', 'fle-timestamp': String(stamp.timestampMs), 'fle-nonce': stamp.nonce, authorization: 'Bearer ' + token } });
    return { status: res.status, fleCode: res.headers.get('fle-error-code'), body: res.ok ? null : await res.json() };
  };
  window.sealAuthorize = async (publicKeys, request, device) => {
    const sealer = new fle.BrowserSealer({ schema, publicKeys, ...(device ? { device } : {}) });
    const sealed = await sealer.seal('acme.payments.v1.AuthorizeRequest', authorizeRequest(request));
    return { bytes: fle.encodeBase64url(sealed.bytes), stamp: sealed.stamp, context: sealed.context };
  };
  window.newDevice = () => {
    const k = fle.generateX25519KeyPair();
    return { privateKey: fle.encodeBase64url(k.privateKey), publicKey: fle.encodeBase64url(k.publicKey) };
  };
  window.fleReady = true;
</script>`;

/** A page on another origin (not in edge.cors.origins) trying the same call. */
const FOREIGN_PAGE = `<!doctype html><meta charset="utf-8"><title>elsewhere</title><link rel="icon" href="data:,">
<script type="module">
  window.tryEdge = async (edge) => {
    try {
      const res = await fetch(edge + '/acme.payments.v1.PaymentService/Authorize', { method: 'POST', body: new Uint8Array([10, 1, 120]), headers: { 'content-type': 'application/proto', 'connect-protocol-version': '1', authorization: 'Bearer x.y.z' } });
      return 'answered ' + res.status;
    } catch (e) {
      return 'refused: ' + e.name;
    }
  };
  window.fleReady = true;
</script>`;

let stack: BrowserStack;
/** What the sources bundle to (its inputs are checked), minified as `npm run build` does. */
let bundle: BrowserBundle;
/** The bundle as shipped: dist/fle-browser.mjs from the packed @fle/client. */
let packedCode: string;
let web: StaticServer;
let foreign: StaticServer;
let browser: Chromium;
let issuer: TestIssuer;
/** Authorize behind a bearer token; the page's origin is allowed. */
let jwtEdge: GatewayProcess;
/** Authorize behind a bearer token and an enrolled device (alg 4); enrollment served. */
let deviceEdge: GatewayProcess;
/**
 * The app's device key pair for tenant `devshop`: enrolled through the edge
 * during the test (the edge checks senders against the keystore), and listed
 * in the processor's config, whose opener does not read the keystore's registry yet.
 */
const device = generateX25519KeyPair();

function requestFor(tenant: string, card = luhnCardNumber()) {
  return {
    tenantId: tenant,
    requestId: `req-${Math.random().toString(36).slice(2, 10)}`,
    amountMinor: 4200,
    currency: 'EUR',
    card: { number: card, holderName: 'Zoë Browser', expiryMonth: 11, expiryYear: 2031, cvv: '737' },
    nationalId: 'NID-BROWSER-7731',
    biometric: [9, 8, 7, 6],
    previousAddresses: ['1 Web Way'],
    items: [{ sku: 'sku-1', quantity: 1, note: 'gift from the browser' }],
    customerAttributes: { tier: 'gold' },
    email: 'zoe@browser.example',
    merchantId: 'm-web',
    labels: { channel: 'web' },
  };
}

async function sealInPage(tenant: string, request: ReturnType<typeof requestFor>, deviceKey?: { privateKey: string; publicKey: string }) {
  const publicKeys = await stack.publicKeysFor(tenant);
  const out = await browser.page.evaluate(
    ([keys, req, dev]) => (window as unknown as { sealAuthorize: (...a: unknown[]) => Promise<{ bytes: string; stamp: { timestampMs: number; nonce: string }; context: string }> }).sealAuthorize(keys, req, dev),
    [publicKeys, request, deviceKey] as const,
  );
  return { bytes: decodeBase64url(out.bytes), stamp: out.stamp, context: out.context };
}

type PageResult = { message?: Record<string, unknown>; context?: string; error?: { code: string; status: number; fleCode: string | null; httpStatus: number; message: string } };

async function callInPage(args: { edge: string; tenant: string; request: ReturnType<typeof requestFor>; token?: string; device?: { privateKey: string; publicKey: string }; format?: 'binary' | 'json' }): Promise<PageResult> {
  const publicKeys = await stack.publicKeysFor(args.tenant);
  return browser.page.evaluate((a) => (window as unknown as { callAuthorize: (x: unknown) => Promise<PageResult> }).callAuthorize(a), {
    edge: args.edge,
    publicKeys,
    request: args.request,
    token: args.token,
    device: args.device,
    format: args.format ?? 'binary',
  });
}

async function rawCallInPage(edge: string, bytes: Uint8Array, stamp: { timestampMs: number; nonce: string }, token: string) {
  return browser.page.evaluate(
    (a) => (window as unknown as { rawCall: (x: unknown) => Promise<{ status: number; fleCode: string | null; body: { code: string; message: string } | null }> }).rawCall(a),
    { edge, bytes: Buffer.from(bytes).toString('base64'), stamp, token },
  );
}

beforeAll(async () => {
  [stack, bundle, packedCode, issuer] = await Promise.all([
    startBrowserStack(), // the processor reads the devices enrolled in the keystore: enrolling through the edge is enough
    buildBrowserBundle({ minify: true }),
    packedPackages().then(async (packs) => (await promisify(execFile)('tar', ['-xzOf', packs.tarballs.get('@fle/client')!, 'package/dist/fle-browser.mjs'], { maxBuffer: 16 * 1024 * 1024 })).stdout),
    createTestIssuer(),
  ]);
  await buildAdminAndRings(stack, ['webshop', 'devshop', 'othershop']);
  web = await serveStatic({
    '/': { type: 'text/html; charset=utf-8', body: PAGE },
    '/fle-browser.mjs': { type: 'text/javascript; charset=utf-8', body: packedCode },
    '/schema.json': { type: 'application/json', body: JSON.stringify(loadSchema({ protoRoots: [PAYMENTS_PROTO_ROOT] }).toJSON()) },
  });
  foreign = await serveStatic({ '/': { type: 'text/html; charset=utf-8', body: FOREIGN_PAGE } });
  // The edge lists the page's origin only (http://127.0.0.1:<port> is a secure context, like https).
  [jwtEdge, deviceEdge] = await Promise.all([
    stack.startEdgeGateway({ cors: { origins: [web.origin] }, jwt: issuer.edgeJwt, routes: [{ method: AUTHORIZE_PATH, auth: ['jwt'] }] }),
    stack.startEdgeGateway({
      cors: { origins: [web.origin] },
      jwt: issuer.edgeJwt,
      devices: { ttlMs: 1500, unknownSenderRefetchMs: 0 },
      enroll: true,
      routes: [{ method: AUTHORIZE_PATH, auth: ['jwt', 'device'] }],
    }),
  ]);
  // Chromium accepts the edge's certificate (issued by the test CA) and no other.
  browser = await launchChromium({ trustCertificates: [stack.pki.files('gateway').cert] });
  await browser.page.goto(`${web.origin}/`);
  await browser.page.waitForFunction(() => (window as unknown as { fleReady?: boolean }).fleReady === true, undefined, { timeout: 15_000 });
}, 600_000); // packedPackages() may build and pack first

afterAll(async () => {
  await browser?.close();
  await web?.close();
  await foreign?.close();
  await stack?.stop();
  issuer?.cleanup();
});

describe('untrusted browser client calling the edge itself (HPKE, envelope alg 3/4)', () => {
  it('the bundle is one ESM file with no Node built-in, and the page runs without Node', async () => {
    expect(bundle.inputs.some((i) => i.includes('field-crypto/src/hpke-sealer.ts'))).toBe(true);
    expect(bundle.inputs.some((i) => i.includes('client/src/edge-client.ts'))).toBe(true);
    expect(bundle.inputs.some((i) => i.includes('@noble/ciphers') || i.includes('@hpke/chacha20poly1305'))).toBe(true);
    expect(bundle.inputs.filter((i) => i.startsWith('node:') || i.includes('native-backend') || i.includes('@grpc/'))).toEqual([]);
    expect(packedCode).not.toMatch(/from\s*["']node:|require\(["'](node:)?(crypto|fs|path|buffer)["']\)/);
    // The page runs the packed file, and it is what these sources build to.
    expect(packedCode).toBe(bundle.code);
    expect(await browser.page.evaluate(() => [typeof (globalThis as { process?: unknown }).process, typeof (globalThis as { Buffer?: unknown }).Buffer, isSecureContext])).toEqual([
      'undefined',
      'undefined',
      true,
    ]);
  });

  for (const format of ['binary', 'json'] as const) {
    it(`Connect ${format}: the page seals with the public keys only and calls the edge; the processor opens it: approved, last four`, async () => {
      const card = luhnCardNumber('4', 16);
      const token = await issuer.sign({ tenant: 'webshop', sub: 'zoe' });
      const res = await callInPage({ edge: jwtEdge.edgeUrl!, tenant: 'webshop', request: requestFor('webshop', card), token, format });
      expect(res.error).toBeUndefined();
      expect(res.message).toMatchObject({ approved: true, cardLastFour: card.slice(-4), tenantId: 'webshop' });
      // The processor sealed the card token to the tenant's pci ring (alg 3): the page cannot open it (EdgeClient
      // leaves it sealed), a holder of that ring's private key can, bound to this request's context.
      const cardToken = decodeBase64url(res.message!.cardToken as string);
      expect(parseHpkeEnvelope(cardToken).alg).toBe(3);
      const pci = await stack.privateKeyOf('webshop', 'pci', parseHpkeEnvelope(cardToken).keyVersion);
      const opened = await openHpkeEnvelope(cardToken, {
        recipientPrivateKey: pci,
        binding: { tenant: 'webshop', messageType: 'acme.payments.v1.AuthorizeResponse', fieldPath: '5', context: res.context! },
      });
      expect(new TextDecoder().decode(opened)).toMatch(/^tok_/);
      const [, timestampMs, nonce] = res.context!.split('/');
      expect(Number(timestampMs)).toBeGreaterThan(0);
      // The processor saw the exact request the page built, under the page's stamp.
      expect((await stack.processor.digests()).some((d) => d.nonce === nonce)).toBe(true);
    });
  }

  it('what leaves the page holds no plaintext, and every sensitive value is an alg 3 envelope', async () => {
    const card = luhnCardNumber('4', 16);
    const out = await browser.page.evaluate(
      ([keys, req]) => (window as unknown as { sealAuthorize: (...a: unknown[]) => Promise<{ bytes: string }> }).sealAuthorize(keys, req),
      [await stack.publicKeysFor('webshop'), requestFor('webshop', card)] as const,
    );
    const wire = Buffer.from(decodeBase64url(out.bytes));
    for (const secret of [card, 'NID-BROWSER-7731', 'Zoë Browser', 'gift from the browser', 'zoe@browser.example']) expect(wire.includes(Buffer.from(secret))).toBe(false);
    const { AuthorizeRequest } = await import('@fle-examples/payments/gen/acme/payments/v1/payments.js');
    const decoded = AuthorizeRequest.decode(wire);
    expect(parseHpkeEnvelope(decodeBase64url(decoded.card!.number))).toMatchObject({ alg: 3, keyVersion: 1 });
    expect(parseHpkeEnvelope(decoded.biometricTemplate).alg).toBe(3);
    expect(decoded.merchantId).toBe('m-web');
  });

  it('no token, an expired token, a token for another tenant: UNAUTHENTICATED / PERMISSION_DENIED', async () => {
    const attempt = async (token: string | undefined) => (await callInPage({ edge: jwtEdge.edgeUrl!, tenant: 'webshop', request: requestFor('webshop'), token })).error;
    expect(await attempt(undefined)).toMatchObject({ code: 'unauthenticated', status: 16, fleCode: 'UNAUTHENTICATED', httpStatus: 401 });
    expect(await attempt(await issuer.sign({ tenant: 'webshop', expiresIn: -30 }))).toMatchObject({ code: 'unauthenticated', message: 'the bearer token has expired' });
    expect(await attempt(await issuer.sign({ tenant: 'othershop' }))).toMatchObject({ code: 'permission_denied', status: 7, fleCode: 'TENANT_MISMATCH' });
  });

  it('a symmetric envelope sent from the page is refused: a secret key must not ship in an app', async () => {
    const keys = new StaticKeyProvider(['default', 'pci'].map((ring) => ({ tenant: 'webshop', ring, versions: [{ version: 1, key: new Uint8Array(32).fill(9) }] })));
    const root = loadSchema({ protoRoots: [PAYMENTS_PROTO_ROOT] });
    const stamp = { timestampMs: Date.now(), nonce: encodeBase64url(crypto.getRandomValues(new Uint8Array(16))) };
    const r = requestFor('webshop');
    const plain = { ...r, card: { ...r.card, cvv: new TextEncoder().encode(r.card.cvv) }, biometricTemplate: new Uint8Array(r.biometric) };
    const sealed = await new FieldCipher({ schema: compileSchema(root), keys }).sealMessage('acme.payments.v1.AuthorizeRequest', plain, { context: `req/${stamp.timestampMs}/${stamp.nonce}` });
    const T = root.lookupType('acme.payments.v1.AuthorizeRequest');
    const bytes = T.encode(T.fromObject(sealed as Record<string, unknown>)).finish();
    const res = await rawCallInPage(jwtEdge.edgeUrl!, bytes, stamp, await issuer.sign({ tenant: 'webshop' }));
    expect(res.status).toBe(403);
    expect(res.fleCode).toBe('SYMMETRIC_ENVELOPE');
    expect(res.body).toMatchObject({ code: 'permission_denied' });
    expect(res.body!.message).toMatch(/a secret key must not ship in an app/);
  });

  it('replay protection holds through the edge; a short alg 3 envelope is refused before anything is opened', async () => {
    const token = await issuer.sign({ tenant: 'webshop' });
    const out = await browser.page.evaluate(
      ([keys, req]) => (window as unknown as { sealAuthorize: (...a: unknown[]) => Promise<{ bytes: string; stamp: { timestampMs: number; nonce: string } }> }).sealAuthorize(keys, req),
      [await stack.publicKeysFor('webshop'), requestFor('webshop')] as const,
    );
    const bytes = decodeBase64url(out.bytes);
    expect((await rawCallInPage(jwtEdge.edgeUrl!, bytes, out.stamp, token)).status).toBe(200);
    expect(await rawCallInPage(jwtEdge.edgeUrl!, bytes, out.stamp, token)).toMatchObject({ status: 403, fleCode: 'REPLAY_NONCE' });
    // Another stamp with the same envelopes does not open: the context is bound into every field.
    const moved = await rawCallInPage(jwtEdge.edgeUrl!, bytes, { timestampMs: Date.now(), nonce: 'AAAAAAAAAAAAAAAAAAAAAA' }, token);
    expect(moved).toMatchObject({ status: 403, fleCode: 'DECRYPTION_FAILED' });
    const { AuthorizeRequest } = await import('@fle-examples/payments/gen/acme/payments/v1/payments.js');
    const msg = AuthorizeRequest.decode(bytes);
    msg.nationalId = encodeBase64url(decodeBase64url(msg.nationalId).subarray(0, 53));
    const short = await rawCallInPage(jwtEdge.edgeUrl!, AuthorizeRequest.encode(msg).finish(), { timestampMs: Date.now(), nonce: 'BBBBBBBBBBBBBBBBBBBBBB' }, token);
    expect(short).toMatchObject({ status: 400, fleCode: 'PLAINTEXT_IN_SENSITIVE_FIELD' });
  });

  it('a page on an origin the edge does not list is refused at the CORS preflight', async () => {
    const other = await browser.context.newPage();
    try {
      await other.goto(`${foreign.origin}/`);
      await other.waitForFunction(() => (window as unknown as { fleReady?: boolean }).fleReady === true);
      const outcome = await other.evaluate((edge) => (window as unknown as { tryEdge: (e: string) => Promise<string> }).tryEdge(edge), jwtEdge.edgeUrl!);
      expect(outcome).toBe('refused: TypeError');
    } finally {
      await other.close();
    }
    expect(jwtEdge.logs()).toContain(`"origin":"${foreign.origin}"`);
    expect(jwtEdge.logs()).toMatch(/"method":"OPTIONS".*"origin not allowed"|"origin not allowed".*"method":"OPTIONS"/);
  });

  it('devices: the page enrolls its key with a one-time token, calls with alg 4, and is refused after a revoke once the cache TTL passed', async () => {
    const admin = new KeystoreAdminClient({ address: stack.keystore.address, tls: stack.pki.files('admin') });
    try {
      const registered = { privateKey: encodeBase64url(device.privateKey), publicKey: encodeBase64url(device.publicKey) };
      const enrollment = await admin.createDeviceEnrollment('devshop');
      const enroll = (token: string) =>
        browser.page.evaluate((a) => (window as unknown as { enroll: (x: unknown) => Promise<{ deviceId?: string; error?: { code: string; fleCode: string } }> }).enroll(a), {
          edge: deviceEdge.edgeUrl!,
          tenant: 'devshop',
          token,
          publicKey: registered.publicKey,
        });
      const enrolled = await enroll(enrollment.token);
      expect(enrolled.deviceId).toMatch(/^dev_/);
      expect((await enroll(enrollment.token)).error).toMatchObject({ code: 'permission_denied', fleCode: 'DEVICE_ENROLLMENT_REFUSED' });

      const token = await issuer.sign({ tenant: 'devshop', sub: 'zoe-phone' });
      const card = luhnCardNumber();
      const ok = await callInPage({ edge: deviceEdge.edgeUrl!, tenant: 'devshop', request: requestFor('devshop', card), token, device: registered });
      expect(ok.error).toBeUndefined();
      expect(ok.message).toMatchObject({ approved: true, cardLastFour: card.slice(-4) });

      const stranger = await browser.page.evaluate(() => (window as unknown as { newDevice: () => { privateKey: string; publicKey: string } }).newDevice());
      expect((await callInPage({ edge: deviceEdge.edgeUrl!, tenant: 'devshop', request: requestFor('devshop'), token, device: stranger })).error).toMatchObject({
        code: 'permission_denied',
        fleCode: 'UNKNOWN_SENDER',
      });
      expect((await callInPage({ edge: deviceEdge.edgeUrl!, tenant: 'devshop', request: requestFor('devshop'), token })).error).toMatchObject({ fleCode: 'UNKNOWN_SENDER' });

      await admin.revokeDevice('devshop', enrolled.deviceId!);
      await new Promise((r) => setTimeout(r, 1700)); // edge.devices.ttlMs 1500
      expect((await callInPage({ edge: deviceEdge.edgeUrl!, tenant: 'devshop', request: requestFor('devshop'), token, device: registered })).error).toMatchObject({
        code: 'permission_denied',
        fleCode: 'UNKNOWN_SENDER',
      });
    } finally {
      admin.close();
    }
  });

  it('no plaintext and no token in any log; the page asked only its own files, its schema and the edge', async () => {
    const logs = stack.logs();
    for (const secret of ['NID-BROWSER-7731', 'gift from the browser', 'zoe@browser.example', 'Zoë Browser', 'eyJ']) expect(logs).not.toContain(secret);
    expect(new Set(web.requests)).toEqual(new Set(['/', '/fle-browser.mjs', '/schema.json']));
    expect(browser.logs.filter((l) => l.startsWith('pageerror'))).toEqual([]);
    expect(readFileSync(stack.keystoreEnv.auditLog, 'utf8')).toContain('"action":"EnrollDevice"');
  });
});
