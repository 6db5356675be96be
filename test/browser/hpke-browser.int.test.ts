// End to end with an untrusted client (docs/envelope-hpke.md): a page in
// headless Chromium seals an AuthorizeRequest knowing only the tenant's
// public keys (the @fle/client/browser bundle as packed: dist/fle-browser.mjs
// of the @fle/client tarball, no Node built-ins); the test —
// standing in for the app's backend, since a browser cannot speak gRPC over
// mTLS — hands the sealed bytes and stamp unchanged to a real gRPC client,
// which calls the real gateway over mTLS; the gateway checks the envelopes and
// routes them over NATS JetStream to the real processor, which fetches the
// X25519 private keys from the real keystore and opens the fields.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { status } from '@grpc/grpc-js';
import { FleCallError, FleClient, type UnaryMethodDefinition } from '@fle/client';
import { buildAdminAndRings, startBrowserStack, type BrowserStack } from './support/browser-stack.js';
import { buildBrowserBundle, type BrowserBundle } from '../../packages/client/src/browser-build.js';
import { packedPackages } from '../packages/support/packs.js';
import { generateX25519KeyPair, openHpkeEnvelope, parseHpkeEnvelope, decodeBase64url, encodeBase64url } from '@fle/field-crypto';
import { AuthorizeResponse } from '@fle/schema/gen/acme/payments/v1/payments.js';
import { luhnCardNumber } from '@fle/client/testing';
import { loadSchema } from '@fle/schema';
import { PAYMENTS_PROTO_ROOT } from '../support/payments-gateway.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, serveStatic, type Chromium, type StaticServer } from './support/chromium.js';

const AUTHORIZE_PATH = '/acme.payments.v1.PaymentService/Authorize';
/** The app backend's relay: request bytes pass through untouched. */
const relayAuthorize: UnaryMethodDefinition<Uint8Array, AuthorizeResponse> = {
  path: AUTHORIZE_PATH,
  requestStream: false,
  responseStream: false,
  requestSerialize: (b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  responseDeserialize: (b) => AuthorizeResponse.decode(b),
};

const PAGE = `<!doctype html><meta charset="utf-8"><title>fle browser seal</title><link rel="icon" href="data:,">
<script type="module">
  import * as fle from '/fle-browser.mjs';
  // The app's schema, as its backend serves it (loadSchema(...).toJSON()).
  const schema = await (await fetch('/schema.json')).json();
  // The page's only inputs: the tenant's public keys (and, for auth mode, a device key pair).
  window.sealAuthorize = async (publicKeys, request, device) => {
    const sealer = new fle.BrowserSealer({ schema, publicKeys, ...(device ? { device } : {}) });
    const req = { ...request, card: { ...request.card, cvv: new TextEncoder().encode(request.card.cvv) }, biometricTemplate: new Uint8Array(request.biometric) };
    delete req.biometric;
    const sealed = await sealer.seal('acme.payments.v1.AuthorizeRequest', req);
    return { bytes: fle.encodeBase64url(sealed.bytes), stamp: sealed.stamp, context: sealed.context };
  };
  window.newDevice = () => {
    const k = fle.generateX25519KeyPair();
    return { privateKey: fle.encodeBase64url(k.privateKey), publicKey: fle.encodeBase64url(k.publicKey) };
  };
  window.fleReady = true;
</script>`;

let stack: BrowserStack;
/** What the sources bundle to (its inputs are checked), minified as `npm run build` does. */
let bundle: BrowserBundle;
/** The bundle as shipped: dist/fle-browser.mjs from the packed @fle/client. */
let packedCode: string;
let web: StaticServer;
let browser: Chromium;
let relay: FleClient;
/** A device registered for tenant `devshop` in the processor's config. */
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

beforeAll(async () => {
  [stack, bundle, packedCode] = await Promise.all([
    startBrowserStack({ devices: [{ tenant: 'devshop', id: 'ios-registered', publicKey: encodeBase64url(device.publicKey) }] }),
    buildBrowserBundle({ minify: true }),
    packedPackages().then(async (packs) => (await promisify(execFile)('tar', ['-xzOf', packs.tarballs.get('@fle/client')!, 'package/dist/fle-browser.mjs'], { maxBuffer: 16 * 1024 * 1024 })).stdout),
  ]);
  await buildAdminAndRings(stack, ['webshop', 'devshop']);
  web = await serveStatic({
    '/': { type: 'text/html; charset=utf-8', body: PAGE },
    '/fle-browser.mjs': { type: 'text/javascript; charset=utf-8', body: packedCode },
    '/schema.json': { type: 'application/json', body: JSON.stringify(loadSchema({ protoRoots: [PAYMENTS_PROTO_ROOT] }).toJSON()) },
  });
  browser = await launchChromium();
  await browser.page.goto(`${web.origin}/`);
  await browser.page.waitForFunction(() => (window as unknown as { fleReady?: boolean }).fleReady === true, undefined, { timeout: 15_000 });
  relay = stack.relayClient();
}, 600_000); // packedPackages() may build and pack first

afterAll(async () => {
  relay?.close();
  await browser?.close();
  await web?.close();
  await stack?.stop();
});

describe('untrusted browser client, HPKE (envelope alg 3)', () => {
  it('the bundle is one ESM file with no Node built-in, and the page runs without Node', async () => {
    expect(bundle.inputs.some((i) => i.includes('field-crypto/src/hpke-sealer.ts'))).toBe(true);
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

  it('seals in Chromium with the public keys only; gateway -> NATS -> processor opens it: approved, last four', async () => {
    const card = luhnCardNumber('4', 16);
    const request = requestFor('webshop', card);
    const sealed = await sealInPage('webshop', request);
    // What left the page holds no plaintext, and every sensitive value is an alg 3 envelope.
    const wire = Buffer.from(sealed.bytes);
    for (const secret of [card, 'NID-BROWSER-7731', 'Zoë Browser', 'gift from the browser', 'zoe@browser.example']) {
      expect(wire.includes(Buffer.from(secret))).toBe(false);
    }
    const { AuthorizeRequest } = await import('@fle/schema/gen/acme/payments/v1/payments.js');
    const decoded = AuthorizeRequest.decode(sealed.bytes);
    const numberEnv = parseHpkeEnvelope(decodeBase64url(decoded.card!.number));
    expect(numberEnv).toMatchObject({ alg: 3, keyVersion: 1 });
    expect(parseHpkeEnvelope(decoded.biometricTemplate).alg).toBe(3);
    expect(decoded.merchantId).toBe('m-web');
    expect(sealed.context).toBe(`req/${sealed.stamp.timestampMs}/${sealed.stamp.nonce}`);

    const response = await relay.callRaw(relayAuthorize, sealed.bytes, sealed.stamp);
    expect(response.approved).toBe(true);
    expect(response.cardLastFour).toBe(card.slice(-4));
    expect(response.tenantId).toBe('webshop');
    // The processor sealed the card token to the tenant's pci ring (alg 3): the browser cannot open it,
    // a holder of that ring's private key can, bound to this request's context.
    const token = decodeBase64url(response.cardToken);
    expect(parseHpkeEnvelope(token).alg).toBe(3);
    const pci = await stack.privateKeyOf('webshop', 'pci', parseHpkeEnvelope(token).keyVersion);
    const opened = await openHpkeEnvelope(token, {
      recipientPrivateKey: pci,
      binding: { tenant: 'webshop', messageType: 'acme.payments.v1.AuthorizeResponse', fieldPath: '5', context: sealed.context },
    });
    expect(new TextDecoder().decode(opened)).toMatch(/^tok_/);
    // The processor saw the exact plaintext request the page built.
    expect((await stack.processor.digests()).some((d) => d.nonce === sealed.stamp.nonce)).toBe(true);
  });

  it('replay protection still holds: the same sealed bytes and stamp again are refused', async () => {
    const sealed = await sealInPage('webshop', requestFor('webshop'));
    expect((await relay.callRaw(relayAuthorize, sealed.bytes, sealed.stamp)).approved).toBe(true);
    const err = await relay.callRaw(relayAuthorize, sealed.bytes, sealed.stamp).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FleCallError);
    expect((err as FleCallError).code).toBe('REPLAY_NONCE');
    // Another stamp with the same envelopes does not open: the context is bound into every field.
    const moved = await relay.callRaw(relayAuthorize, sealed.bytes, { timestampMs: Date.now(), nonce: 'AAAAAAAAAAAAAAAAAAAAAA' }).catch((e: unknown) => e);
    expect((moved as FleCallError).status).toBe(status.PERMISSION_DENIED);
    expect((moved as FleCallError).code).toBe('DECRYPTION_FAILED');
  });

  it('the gateway refuses a short alg 3 envelope before anything is opened', async () => {
    const sealed = await sealInPage('webshop', requestFor('webshop'));
    const { AuthorizeRequest } = await import('@fle/schema/gen/acme/payments/v1/payments.js');
    const msg = AuthorizeRequest.decode(sealed.bytes);
    msg.nationalId = encodeBase64url(decodeBase64url(msg.nationalId).subarray(0, 53));
    const err = (await relay.callRaw(relayAuthorize, AuthorizeRequest.encode(msg).finish(), sealed.stamp).catch((e: unknown) => e)) as FleCallError;
    expect(err.status).toBe(status.INVALID_ARGUMENT);
    expect(err.code).toBe('PLAINTEXT_IN_SENSITIVE_FIELD');
  });

  it('auth mode (alg 4): a registered device is accepted; an unregistered device key and an anonymous envelope are refused', async () => {
    const registered = { privateKey: encodeBase64url(device.privateKey), publicKey: encodeBase64url(device.publicKey) };
    const card = luhnCardNumber();
    const ok = await sealInPage('devshop', requestFor('devshop', card), registered);
    const { AuthorizeRequest } = await import('@fle/schema/gen/acme/payments/v1/payments.js');
    const env = parseHpkeEnvelope(decodeBase64url(AuthorizeRequest.decode(ok.bytes).card!.number));
    expect(env.alg).toBe(4);
    expect(encodeBase64url(env.senderPublicKey!)).toBe(registered.publicKey);
    const res = await relay.callRaw(relayAuthorize, ok.bytes, ok.stamp);
    expect(res).toMatchObject({ approved: true, cardLastFour: card.slice(-4) });

    const stranger = await browser.page.evaluate(() => (window as unknown as { newDevice: () => { privateKey: string; publicKey: string } }).newDevice());
    const forged = await sealInPage('devshop', requestFor('devshop'), stranger);
    const e1 = (await relay.callRaw(relayAuthorize, forged.bytes, forged.stamp).catch((e: unknown) => e)) as FleCallError;
    expect(e1).toBeInstanceOf(FleCallError);
    expect([e1.status, e1.code]).toEqual([status.PERMISSION_DENIED, 'UNKNOWN_SENDER']);

    const anonymous = await sealInPage('devshop', requestFor('devshop'));
    const e2 = (await relay.callRaw(relayAuthorize, anonymous.bytes, anonymous.stamp).catch((e: unknown) => e)) as FleCallError;
    expect([e2.status, e2.code]).toEqual([status.PERMISSION_DENIED, 'UNKNOWN_SENDER']);
    // A tenant without registered devices still takes anonymous envelopes (previous tests).
  });

  it('no plaintext in the processor or gateway logs; the page itself made no request but its own files and schema', async () => {
    const logs = stack.logs();
    for (const secret of ['NID-BROWSER-7731', 'gift from the browser', 'zoe@browser.example']) expect(logs).not.toContain(secret);
    expect(new Set(web.requests)).toEqual(new Set(['/', '/fle-browser.mjs', '/schema.json']));
    expect(browser.logs.filter((l) => l.startsWith('pageerror'))).toEqual([]);
    expect(readFileSync(stack.keystoreEnv.auditLog, 'utf8')).toContain('"action":"GetPublicKey"');
  });
});
