// Issue 6 item 3: the hostile-input table, against real processes (nats-server
// with mTLS and per-identity users, keystore, processor, one gateway per
// transport, mTLS gRPC from this file). Every input has its exact expected
// gRPC status, fle error code and detail, or its dead-letter reason on NATS;
// nothing crashes (every process is still up and serving afterwards); and
// no plaintext reaches a log: every case carries a unique canary (and a fresh
// card number), and all captured logs, error details and dead letters are
// scanned for them at the end.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Client, credentials, Metadata, status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { FieldCipher, compileSchema, encodeBase64url, generateX25519KeyPair, nativeBackend, sealEnvelope, sealHpkeEnvelope, type KeyProvider } from '@fle/field-crypto';
import { canaryAuthorizeRequest } from '@fle/client/testing';
import type { Transport } from '@fle/gateway';
import type { GatewayProcess } from '@fle/gateway/testing';
import { authorizeRoute } from '../support/payments-gateway.js';
import { KeystoreKeyProvider } from '@fle/keystore-client';
import { channelCredentials } from '@fle/pki';
import { schemaRoot } from '@fle/schema';
import { AuthorizeRequest, AuthorizeResponse } from '@fle/schema/gen/acme/payments/v1/payments.js';
import { newReplayStamp, replayContext, stampToHeaders, stampToMetadata, type ReplayStamp } from '@fle/service-kit';
import { natsInboxPrefix } from '@fle/nats-setup';
import { makeTestPki } from '@fle/testkit';
import { createInbox, headers as natsHeaders, type MsgHdrs, type NatsConnection, type Subscription } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeadLetterWatch } from '../support/jetstream-watch.js';
import {
  AUTHORIZE_PATH,
  REQUEST_TYPE,
  RESPONSE_TYPE,
  clientCredentials,
  findNeedles,
  sealedRequest,
  settle,
  startReliabilityStack,
  type CallOutcome,
  type ReliabilityStack,
  type SealedRequest,
} from '../support/reliability-stack.js';

const TRANSPORTS: Transport[] = ['nats', 'jetstream', 'grpc'];
const MAX_MESSAGE = 64 * 1024;
const MAX_FIELD = 4096;

let stack: ReliabilityStack;
let rogueGateway: GatewayProcess;
let rogue: NatsConnection;
let rogueSub: Subscription;
/** What the rogue "processor" on the `rogue` route does with the next request. */
let rogueAnswer: (req: { data: Uint8Array; headers?: MsgHdrs }) => { data: Uint8Array; headers?: MsgHdrs } | undefined = () => undefined;
let asGateway: NatsConnection;
let dlq: DeadLetterWatch;
let otherCaCreds: ChannelCredentials;
/** Every canary and card number sent; none may show up in a log. */
const needles: string[] = [];
/** Needles this file itself put on NATS in plaintext (a compromised gateway bypassing the check): the dead letter keeps those bytes. */
const plaintextOnNats: string[] = [];
/** Every error detail a caller saw. */
const detailsSeen: string[] = [];

const enc = (m: AuthorizeRequest): Buffer => Buffer.from(AuthorizeRequest.encode(m).finish());
const md = (stamp: ReplayStamp | undefined): Metadata => (stamp ? stampToMetadata(stamp, new Metadata()) : new Metadata());
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

async function fresh(tenant = 't1', stamp?: ReplayStamp): Promise<SealedRequest> {
  const r = await sealedRequest(stack.cipher, tenant, stamp);
  needles.push(...r.needles);
  return r;
}

/** An envelope v1 that is well formed (header, lengths) but authenticates under no key. */
function forgedEnvelope(plaintextLength = 12): Uint8Array {
  return Uint8Array.of(1, 1, 0, 0, 0, 1, ...randomBytes(12 + plaintextLength + 16));
}

/** The client's key for t1/default, to build envelopes by hand (invalid UTF-8 plaintext). */
async function sealRaw(plaintext: Uint8Array, fieldPath: string, stamp: ReplayStamp): Promise<string> {
  const k = await clientKeys.primaryKey({ tenant: 't1', ring: 'default' });
  return encodeBase64url(sealEnvelope(plaintext, { backend: nativeBackend, key: k.key, keyVersion: k.version, alg: k.alg, binding: { tenant: 't1', messageType: REQUEST_TYPE, fieldPath, context: replayContext(stamp) } }));
}
let clientKeys: KeyProvider;

// ---------------------------------------------------------------------------
// gRPC table

interface Sent {
  readonly body: Buffer;
  readonly metadata: Metadata;
  readonly path?: string;
  readonly creds?: ChannelCredentials;
  /** Dial this instead of the transport's gateway. */
  readonly address?: string;
  /** Context to open an OK response with. */
  readonly stamp?: ReplayStamp;
}

type Want = { readonly status: status; readonly code: string; readonly details: RegExp } | { readonly ok: 'approved' };

interface GrpcCase {
  readonly name: string;
  readonly want: Want;
  /** Transports to run on (default all three). */
  readonly on?: readonly Transport[];
  build(t: Transport): Promise<Sent>;
  /** Something to do first (e.g. send the request once before replaying it). */
  before?(t: Transport, sent: Sent): Promise<void>;
}

const plaintextIn = (field: RegExp): Want => ({ status: status.INVALID_ARGUMENT, code: 'PLAINTEXT_IN_SENSITIVE_FIELD', details: field });
const decryptionFailed: Want = { status: status.PERMISSION_DENIED, code: 'DECRYPTION_FAILED', details: /^decryption failed \(field [0-9.[\]a-z]+\)$/ };
/** The gateway's wire check (docs/wire-check.md) refuses malformed bytes before any decoder reads them. */
const wireFormat = (details: RegExp): Want => ({ status: status.INVALID_ARGUMENT, code: 'WIRE_FORMAT', details });
const truncated = wireFormat(/^message acme\.payments\.v1\.AuthorizeRequest is truncated$/);
const invalidTenant: Want = { status: status.INVALID_ARGUMENT, code: 'INVALID_TENANT', details: /^tenant id must be 1-64 characters of \[A-Za-z0-9_-\]$/ };
const missingStamp: Want = { status: status.INVALID_ARGUMENT, code: 'MISSING_STAMP', details: /^missing or malformed replay stamp/ };
/**
 * Well-formed HPKE envelopes (docs/envelope-hpke.md) under t1's rings, which
 * hold symmetric keys: refused before anything else as an envelope whose alg
 * is not its key version's (envelope-v1 §4), alg 3 and alg 4 alike.
 */
const HPKE_WANT: Record<3 | 4, Want> = {
  3: { status: status.PERMISSION_DENIED, code: 'DECRYPTION_FAILED', details: /^decryption failed \(field 6\)$/ },
  4: { status: status.PERMISSION_DENIED, code: 'DECRYPTION_FAILED', details: /^decryption failed \(field 6\)$/ },
};
const tooLarge: Want = { status: status.RESOURCE_EXHAUSTED, code: 'MESSAGE_TOO_LARGE', details: new RegExp(`^a field is larger than ${MAX_FIELD} bytes$`) };

/** A sealed request, edited (`edit` receives the sealed message and the request behind it). */
function sealedCase(name: string, want: Want, edit: (m: AuthorizeRequest, r: SealedRequest) => AuthorizeRequest | Promise<AuthorizeRequest>, extra: Partial<GrpcCase> = {}): GrpcCase {
  return {
    name,
    want,
    async build() {
      const r = await fresh();
      return { body: enc(await edit(structuredClone(r.sealed), r)), metadata: md(r.stamp), stamp: r.stamp };
    },
    ...extra,
  };
}

/** Patches the first occurrence of `find` in `buf` with `replace` (same length). */
function patch(buf: Buffer, find: Buffer, replace: Buffer): Buffer {
  const at = buf.indexOf(find);
  if (at < 0 || find.length !== replace.length) throw new Error('patch target not found');
  const out = Buffer.from(buf);
  replace.copy(out, at);
  return out;
}

const GRPC_CASES: GrpcCase[] = [
  sealedCase('control: a well-formed sealed request', { ok: 'approved' }, (m) => m),
  // --- malformed envelopes (refused by the gateway, no key involved)
  sealedCase('truncated envelope (string field, text cut short)', plaintextIn(/nationalId \(6\)/), (m) => ({ ...m, nationalId: m.nationalId.slice(0, 30) })),
  sealedCase('truncated envelope (bytes field)', plaintextIn(/biometricTemplate \(7\)/), (m) => ({ ...m, biometricTemplate: m.biometricTemplate.subarray(0, 20) })),
  sealedCase('garbage base64url', plaintextIn(/email \(11\)/), (m) => ({ ...m, email: '%%%%not*base64url%%%%' })),
  sealedCase('envelope as padded standard base64 (+ / =)', plaintextIn(/nationalId \(6\)/), (m) => ({ ...m, nationalId: `${Buffer.from(m.nationalId, 'base64url').toString('base64')}==` })),
  sealedCase('unknown envelope version byte', plaintextIn(/biometricTemplate \(7\)/), (m) => ({ ...m, biometricTemplate: Uint8Array.of(2, ...m.biometricTemplate.subarray(1)) })),
  sealedCase('reserved alg byte (0x7f)', plaintextIn(/cvv \(5\.5\)/), (m) => ({ ...m, card: { ...m.card!, cvv: Uint8Array.of(1, 0x7f, ...m.card!.cvv.subarray(2)) } })),
  sealedCase('key version 0 in the header', plaintextIn(/note \(9\.3\)/), (m) => {
    const env = Buffer.from(m.items[0]!.note, 'base64url');
    env.fill(0, 2, 6);
    return { ...m, items: [{ ...m.items[0]!, note: env.toString('base64url') }] };
  }),
  // --- plaintext where an envelope belongs
  sealedCase('plaintext in a sensitive string field (card number)', plaintextIn(/number \(5\.1\)/), (m, r) => ({ ...m, card: { ...m.card!, number: r.request.card!.number } })),
  sealedCase('plaintext in a sensitive bytes field (cvv)', plaintextIn(/cvv \(5\.5\)/), (m, r) => ({ ...m, card: { ...m.card!, cvv: r.request.card!.cvv } })),
  sealedCase('plaintext in a map value', plaintextIn(/customerAttributes \(10\[tier\]\)/), (m, r) => ({ ...m, customerAttributes: { tier: r.request.customerAttributes['tier']! } })),
  sealedCase('a whole request in plaintext (no SDK)', plaintextIn(/\(5\.1\)|\(6\)|\(7\)/), (_m, r) => r.request),
  // --- sizes
  sealedCase('oversized sensitive field (sealed 5 000-byte value)', tooLarge, async (_m, r) => {
    const big = { ...r.request, nationalId: `${'x'.repeat(5000)}${r.canary}` };
    return stack.cipher.sealMessage(REQUEST_TYPE, big, { context: replayContext(r.stamp) });
  }),
  sealedCase('oversized clear field (5 000-byte merchant id)', tooLarge, (m) => ({ ...m, merchantId: 'm'.repeat(5000) })),
  sealedCase('oversized message (70 KiB, over the 64 KiB limit)', { status: status.RESOURCE_EXHAUSTED, code: 'UNKNOWN', details: /^Received message larger than max \(\d+ vs 65536\)$/ }, (m) => ({
    ...m,
    labels: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, 'l'.repeat(3500)])),
  })),
  sealedCase('huge repeated count of empty values (20 000): refused past maxEnvelopes (1024)', { status: status.INVALID_ARGUMENT, code: 'TOO_MANY_ENVELOPES', details: /^message carries more than 1024 sensitive values$/ }, (m) => ({ ...m, previousAddresses: [...m.previousAddresses, ...Array.from({ length: 20_000 }, () => '')] })),
  sealedCase('huge repeated count of forged envelopes (800): refused at the first', decryptionFailed, (m) => ({
    ...m,
    previousAddresses: Array.from({ length: 800 }, () => encodeBase64url(forgedEnvelope())),
  })),
  sealedCase('huge repeated count beyond the message limit (100 000)', { status: status.RESOURCE_EXHAUSTED, code: 'UNKNOWN', details: /larger than max/ }, (m) => ({
    ...m,
    items: Array.from({ length: 100_000 }, () => ({ sku: '', quantity: 1, note: '' })),
  })),
  // --- moved, swapped, mixed envelopes (well formed: only the processor can tell)
  sealedCase('field swapped with another field', decryptionFailed, (m) => ({ ...m, nationalId: m.email!, email: m.nationalId })),
  {
    name: 'map values swapped between keys',
    want: decryptionFailed,
    async build() {
      const fx = canaryAuthorizeRequest('t1');
      needles.push(...fx.needles);
      const stamp = newReplayStamp();
      const req = { ...fx.request, customerAttributes: { tier: `gold-${fx.canary}`, ssn: `ssn-${fx.canary}` } };
      const s = await stack.cipher.sealMessage(REQUEST_TYPE, req, { context: replayContext(stamp) });
      const a = s.customerAttributes;
      return { body: enc({ ...s, customerAttributes: { tier: a['ssn']!, ssn: a['tier']! } }), metadata: md(stamp), stamp };
    },
  },
  sealedCase('repeated element moved into another repeated field', decryptionFailed, (m) => ({ ...m, previousAddresses: [m.items[0]!.note, m.previousAddresses[1]!] })),
  sealedCase('wrong tenant: envelopes of t2 sent as tenant t1', decryptionFailed, async (_m, r) => {
    const other = await fresh('t2', r.stamp);
    return { ...other.sealed, tenantId: 't1' };
  }),
  sealedCase("envelope sealed with another tenant's key (bound to t1)", decryptionFailed, async (m, r) => {
    const t2AsT1: KeyProvider = { primaryKey: (ref) => clientKeys.primaryKey({ ...ref, tenant: 't2' }), keyVersion: (ref, v) => clientKeys.keyVersion({ ...ref, tenant: 't2' }, v) };
    const forger = new FieldCipher({ schema: compileSchema(schemaRoot()), keys: t2AsT1 });
    const s = await forger.sealMessage(REQUEST_TYPE, r.request, { context: replayContext(r.stamp) });
    return { ...m, nationalId: s.nationalId };
  }),
  sealedCase('envelope from another request of the same tenant', decryptionFailed, async (m) => ({ ...m, nationalId: (await fresh()).sealed.nationalId })),
  {
    name: 'the whole request re-sent under a fresh stamp',
    want: decryptionFailed,
    async build() {
      const r = await fresh();
      const stamp = newReplayStamp();
      return { body: enc(r.sealed), metadata: md(stamp), stamp };
    },
  },
  // The rings are alg 2 (the keystore's default): an alg 1 header names the wrong alg for the version (spec §4).
  sealedCase('alg byte flipped to the other symmetric alg on a real envelope', decryptionFailed, (m) => {
    const env = Buffer.from(m.nationalId, 'base64url');
    env[1] = env[1] === 1 ? 2 : 1;
    return { ...m, nationalId: env.toString('base64url') };
  }),
  // No tenant probing (issue 17 item 6): an unknown key version or tenant fails exactly as a forged envelope.
  sealedCase('key version that does not exist (99)', decryptionFailed, (m) => {
    const env = Buffer.from(m.nationalId, 'base64url');
    env.writeUInt32BE(99, 2);
    return { ...m, nationalId: env.toString('base64url') };
  }),
  sealedCase('tenant the keystore does not know', decryptionFailed, (m) => ({ ...m, tenantId: 'ghost' })),
  {
    // Spec §4: a key version has one alg; an envelope of the other alg is refused before decryption, even when authentic.
    name: "envelope of the other alg under the ring's key version, sealed by the key holder: refused",
    want: decryptionFailed,
    async build() {
      const r = await fresh();
      const k = await clientKeys.primaryKey({ tenant: 't1', ring: 'default' });
      const otherAlg = k.alg === 1 ? 2 : 1;
      const binding = { tenant: 't1', messageType: REQUEST_TYPE, fieldPath: '6', context: replayContext(r.stamp) };
      const env = sealEnvelope(new TextEncoder().encode('123-45-6789'), { backend: nativeBackend, key: k.key, keyVersion: k.version, alg: otherAlg, binding });
      return { body: enc({ ...r.sealed, nationalId: encodeBase64url(env) }), metadata: md(r.stamp), stamp: r.stamp };
    },
  },
  ...(
    [
      ['HPKE base-mode envelope (alg 3) where the ring holds a symmetric key', false],
      ['HPKE auth-mode envelope (alg 4) where the ring holds a symmetric key', true],
    ] as const
  ).map(([name, auth]): GrpcCase => ({
    name,
    want: HPKE_WANT[auth ? 4 : 3],
    async build() {
      const r = await fresh();
      const recipient = generateX25519KeyPair();
      const env = await sealHpkeEnvelope(text(`nid-${r.canary}`), {
        recipientPublicKey: recipient.publicKey,
        keyVersion: 1,
        binding: { tenant: 't1', messageType: REQUEST_TYPE, fieldPath: '6', context: replayContext(r.stamp) },
        ...(auth ? { sender: generateX25519KeyPair() } : {}),
      });
      return { body: enc({ ...r.sealed, nationalId: encodeBase64url(env) }), metadata: md(r.stamp) };
    },
  })),
  {
    name: 'invalid UTF-8 inside a sealed string value',
    want: { status: status.INVALID_ARGUMENT, code: 'ENVELOPE_FORMAT', details: /^sealed string is not valid UTF-8 \(field 6\)$/ },
    async build() {
      const r = await fresh();
      const bad = await sealRaw(Uint8Array.of(0x6e, 0xff, 0xfe, 0xc3, 0x28), '6', r.stamp);
      return { body: enc({ ...r.sealed, nationalId: bad }), metadata: md(r.stamp), stamp: r.stamp };
    },
  },
  // --- invalid UTF-8 on the wire, tenants
  {
    name: 'invalid UTF-8 in the tenant id',
    want: invalidTenant,
    async build() {
      const r = await fresh();
      const body = patch(enc({ ...r.sealed, tenantId: 'tX' }), Buffer.from([0x0a, 0x02, 0x74, 0x58]), Buffer.from([0x0a, 0x02, 0x74, 0xff]));
      return { body, metadata: md(r.stamp) };
    },
  },
  {
    name: 'invalid UTF-8 in a sensitive string field',
    want: wireFormat(/^field 6 of acme\.payments\.v1\.AuthorizeRequest is not valid UTF-8$/),
    async build() {
      const r = await fresh();
      const marker = 'Q'.repeat(48);
      const body = patch(enc({ ...r.sealed, nationalId: marker }), Buffer.from('QQQQ'), Buffer.from([0x51, 0xc3, 0x28, 0x51]));
      return { body, metadata: md(r.stamp) };
    },
  },
  sealedCase('missing tenant', { status: status.INVALID_ARGUMENT, code: 'MISSING_TENANT', details: /^message acme\.payments\.v1\.AuthorizeRequest has an empty tenant field tenant_id$/ }, (m) => ({ ...m, tenantId: '' })),
  sealedCase('tenant that is not a NATS token: a.b', invalidTenant, (m) => ({ ...m, tenantId: 'a.b' })),
  sealedCase('tenant that is a NATS wildcard: *', invalidTenant, (m) => ({ ...m, tenantId: '*' })),
  sealedCase('tenant that is a NATS wildcard: >', invalidTenant, (m) => ({ ...m, tenantId: '>' })),
  sealedCase('tenant with a space', invalidTenant, (m) => ({ ...m, tenantId: 't1 ' })),
  sealedCase('tenant of 65 characters', invalidTenant, (m) => ({ ...m, tenantId: 't'.repeat(65) })),
  // --- protobuf
  {
    name: 'garbage protobuf',
    want: truncated,
    async build() {
      return { body: Buffer.concat([Buffer.of(0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f), randomBytes(16)]), metadata: md(newReplayStamp()) };
    },
  },
  {
    name: 'length prefix beyond the end of the message',
    want: truncated,
    async build() {
      const r = await fresh();
      return { body: Buffer.concat([enc(r.sealed), Buffer.of(0x42, 0xff, 0xff, 0xff, 0xff, 0x07, 0x41)]), metadata: md(r.stamp) };
    },
  },
  {
    name: 'deep nesting (1 000 nested groups in an unknown field)',
    want: wireFormat(/^field 99 of acme\.payments\.v1\.AuthorizeRequest is not in the schema \(unknown field\)$/),
    async build() {
      const r = await fresh();
      const open = Buffer.alloc(2000, Buffer.of(0x9b, 0x06));
      const close = Buffer.alloc(2000, Buffer.of(0x9c, 0x06));
      return { body: Buffer.concat([enc(r.sealed), open, close]), metadata: md(r.stamp) };
    },
  },
  // --- methods
  {
    name: 'unknown method of the fronted service',
    want: { status: status.UNIMPLEMENTED, code: 'UNKNOWN', details: /does not implement the method \/acme\.payments\.v1\.PaymentService\/Refund/ },
    async build() {
      const r = await fresh();
      return { body: enc(r.sealed), metadata: md(r.stamp), path: '/acme.payments.v1.PaymentService/Refund' };
    },
  },
  {
    name: 'unknown service',
    want: { status: status.UNIMPLEMENTED, code: 'UNKNOWN', details: /does not implement the method \/evil\.v1\.Admin\/Drop/ },
    async build() {
      return { body: Buffer.alloc(0), metadata: md(newReplayStamp()), path: '/evil.v1.Admin/Drop' };
    },
  },
  // --- replay stamps
  {
    name: 'replayed request (same stamp and bytes again)',
    want: { status: status.PERMISSION_DENIED, code: 'REPLAY_NONCE', details: /^request nonce already used$|nonce/ },
    async build() {
      const r = await fresh();
      return { body: enc(r.sealed), metadata: md(r.stamp), stamp: r.stamp };
    },
    async before(t, sent) {
      const first = await call(t, sent);
      expect(first.ok, `first send: ${JSON.stringify(first)}`).toBe(true);
    },
  },
  ...(
    [
      ['stale timestamp (120 s old)', -120_000],
      ['future timestamp (120 s ahead)', 120_000],
    ] as const
  ).map(([name, skew]): GrpcCase => ({
    name,
    want: { status: status.PERMISSION_DENIED, code: 'REPLAY_TIMESTAMP', details: /^request timestamp outside the ±60000 ms window$/ },
    async build() {
      const r = await fresh('t1', newReplayStamp({ now: () => Date.now() + skew }));
      return { body: enc(r.sealed), metadata: md(r.stamp) };
    },
  })),
  ...(
    [
      ['no replay stamp', () => new Metadata()],
      ['empty nonce metadata', (s: ReplayStamp) => withMd({ 'fle-timestamp': String(s.timestampMs), 'fle-nonce': '' })],
      ['non-numeric timestamp', (s: ReplayStamp) => withMd({ 'fle-timestamp': 'yesterday', 'fle-nonce': s.nonce })],
      ['negative timestamp', (s: ReplayStamp) => withMd({ 'fle-timestamp': '-1', 'fle-nonce': s.nonce })],
      ['nonce of the wrong length', (s: ReplayStamp) => withMd({ 'fle-timestamp': String(s.timestampMs), 'fle-nonce': `${s.nonce}AA` })],
      ['timestamp sent twice', (s: ReplayStamp) => withMd({ 'fle-timestamp': [String(s.timestampMs), String(s.timestampMs)], 'fle-nonce': s.nonce })],
    ] as const
  ).map(([name, metadata]): GrpcCase => ({
    name,
    want: missingStamp,
    async build() {
      const r = await fresh();
      return { body: enc(r.sealed), metadata: metadata(r.stamp) };
    },
  })),
  // --- who is calling
  {
    name: 'certificate of another identity from our CA (processor)',
    want: { status: status.PERMISSION_DENIED, code: 'CALLER_NOT_ALLOWED', details: /^caller identity is not allowed$/ },
    async build() {
      const r = await fresh();
      return { body: enc(r.sealed), metadata: md(r.stamp), creds: clientCredentials(stack.pki, 'processor') };
    },
  },
  {
    name: 'client certificate from another CA',
    want: { status: status.UNAVAILABLE, code: 'UNKNOWN', details: /./ },
    async build() {
      const r = await fresh();
      return { body: enc(r.sealed), metadata: md(r.stamp), creds: otherCaCreds };
    },
  },
  {
    name: 'no client certificate',
    want: { status: status.UNAVAILABLE, code: 'UNKNOWN', details: /./ },
    async build() {
      const r = await fresh();
      return { body: enc(r.sealed), metadata: md(r.stamp), creds: credentials.createSsl(readCa()) };
    },
  },
  {
    name: 'bypassing the gateway: the client certificate calling the processor directly',
    on: ['grpc'],
    want: { status: status.PERMISSION_DENIED, code: 'CALLER_NOT_ALLOWED', details: /^caller identity is not allowed$/ },
    async build() {
      const r = await fresh();
      return {
        body: enc(r.sealed),
        metadata: md(r.stamp),
        address: stack.processor.grpcAddress!,
        creds: channelCredentials(stack.pki.files('client'), { expectedServerIdentity: 'spiffe://fle.local/processor' }),
      };
    },
  },
];

function withMd(values: Record<string, string | readonly string[]>): Metadata {
  const m = new Metadata();
  for (const [k, v] of Object.entries(values)) for (const x of typeof v === 'string' ? [v] : v) m.add(k, x);
  return m;
}

/** Our CA certificate (PEM). */
function readCa(): Buffer {
  return readFileSync(stack.pki.files('client').ca);
}

const rawClients = new Map<string, Client>();
const passthrough = (b: Buffer): Buffer => b;

async function call(t: Transport, sent: Sent): Promise<CallOutcome<Buffer>> {
  const address = sent.address ?? stack.gateways[t]!.address;
  const creds = sent.creds ?? clientCredentials(stack.pki);
  const key = `${address}|${sent.creds ? Math.random() : 'client'}`;
  let client = rawClients.get(key);
  if (!client) {
    client = new Client(address, creds);
    rawClients.set(key, client);
  }
  const out = await settle(
    new Promise<Buffer>((resolve, reject) =>
      client!.makeUnaryRequest(sent.path ?? AUTHORIZE_PATH, passthrough, passthrough, sent.body, sent.metadata, { deadline: Date.now() + 10_000 }, (err: ServiceError | null, v?: Buffer) =>
        err ? reject(err) : resolve(v!),
      ),
    ),
  );
  if (sent.creds) {
    client.close();
    rawClients.delete(key);
  }
  if (!out.ok) detailsSeen.push(out.details);
  return out;
}

// ---------------------------------------------------------------------------
// NATS table: what a compromised gateway could publish straight to the
// processor (the gateway identity may publish fle.rpc.> and fle.js.>).

interface NatsCase {
  readonly name: string;
  /** Dead-letter reason (header Fle-Dlq-Reason) and code. */
  readonly reason: string;
  readonly code: string;
  /** Routes to run on: core request-reply and/or JetStream. */
  readonly on?: ReadonlyArray<'core' | 'jetstream'>;
  /** Subject route / tenant tokens (default authorize / t1). */
  readonly subjectTenant?: string;
  readonly subjectRoute?: string;
  build(): Promise<{ data: Uint8Array; headers?: MsgHdrs }>;
  before?(route: 'core' | 'jetstream', data: Uint8Array, headers: MsgHdrs | undefined): Promise<void>;
}

function stampHeaders(stamp: ReplayStamp | undefined, method = AUTHORIZE_PATH): MsgHdrs {
  const h = natsHeaders();
  if (stamp) stampToHeaders(stamp, h);
  h.set('Fle-Method', method);
  return h;
}

function sealedNats(name: string, reason: string, code: string, edit: (m: AuthorizeRequest, r: SealedRequest) => AuthorizeRequest | Promise<AuthorizeRequest>, extra: Partial<NatsCase> = {}): NatsCase {
  return {
    name,
    reason,
    code,
    async build() {
      const r = await fresh();
      return { data: enc(await edit(structuredClone(r.sealed), r)), headers: stampHeaders(r.stamp) };
    },
    ...extra,
  };
}

const NATS_CASES: NatsCase[] = [
  {
    name: 'garbage protobuf',
    reason: 'bad_protobuf',
    code: 'BAD_PROTOBUF',
    // A length prefix far past the end, then random bytes (unique, so its dead letter is found by body).
    build: async () => ({ data: Buffer.concat([Buffer.of(0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f), randomBytes(32)]), headers: stampHeaders(newReplayStamp()) }),
  },
  { name: 'no headers at all', reason: 'missing_stamp', code: 'MISSING_STAMP', build: async () => ({ data: enc((await fresh()).sealed) }) },
  {
    name: 'non-numeric timestamp header',
    reason: 'missing_stamp',
    code: 'MISSING_STAMP',
    async build() {
      const r = await fresh();
      const h = stampHeaders(r.stamp);
      h.set('Fle-Timestamp', 'soon');
      return { data: enc(r.sealed), headers: h };
    },
  },
  {
    name: 'unknown method header',
    reason: 'unknown_method',
    code: 'UNKNOWN_METHOD',
    async build() {
      const r = await fresh();
      return { data: enc(r.sealed), headers: stampHeaders(r.stamp, '/acme.payments.v1.PaymentService/Refund') };
    },
  },
  sealedNats('unknown route in the subject', 'unknown_method', 'UNKNOWN_METHOD', (m) => m, { on: ['jetstream'], subjectRoute: 'refund' }),
  sealedNats('subject tenant differs from the message tenant', 'tenant_mismatch', 'TENANT_MISMATCH', (m) => m, { subjectTenant: 't2' }),
  sealedNats('plaintext in a sensitive field (gateway check bypassed)', 'envelope_format', 'ENVELOPE_FORMAT', (m, r) => {
    plaintextOnNats.push(r.request.card!.number);
    return { ...m, card: { ...m.card!, number: r.request.card!.number } };
  }),
  sealedNats('invalid tenant token in the message', 'invalid_tenant', 'INVALID_TENANT', (m) => ({ ...m, tenantId: 'a.b' })),
  sealedNats('missing tenant in the message', 'missing_tenant', 'MISSING_TENANT', (m) => ({ ...m, tenantId: '' })),
  sealedNats('envelope moved to another field', 'decryption_failed', 'DECRYPTION_FAILED', (m) => ({ ...m, nationalId: m.email! })),
  sealedNats('key version that does not exist', 'decryption_failed', 'DECRYPTION_FAILED', (m) => {
    const env = Buffer.from(m.nationalId, 'base64url');
    env.writeUInt32BE(7, 2);
    return { ...m, nationalId: env.toString('base64url') };
  }),
  {
    name: 'invalid UTF-8 inside a sealed string value',
    reason: 'envelope_format',
    code: 'ENVELOPE_FORMAT',
    async build() {
      const r = await fresh();
      return { data: enc({ ...r.sealed, email: await sealRaw(Uint8Array.of(0xff, 0xff), '11', r.stamp) }), headers: stampHeaders(r.stamp) };
    },
  },
  {
    name: 'stale timestamp',
    reason: 'replay_timestamp',
    code: 'REPLAY_TIMESTAMP',
    async build() {
      const r = await fresh('t1', newReplayStamp({ now: () => Date.now() - 300_000 }));
      return { data: enc(r.sealed), headers: stampHeaders(r.stamp) };
    },
  },
  {
    name: 'replayed message (the second copy)',
    reason: 'replay_nonce',
    code: 'REPLAY_NONCE',
    async build() {
      const r = await fresh();
      return { data: enc(r.sealed), headers: stampHeaders(r.stamp) };
    },
    async before(route, data, headers) {
      // The first copy is processed normally (answered, not dead-lettered).
      const reply = await send(route, 't1', 'authorize', data, headers);
      expect(reply?.headers?.get('Fle-Error-Code') ?? '').toBe('');
    },
  },
];

/** Publishes one request as the gateway would; returns the processor's reply (core, or the JetStream reply inbox). */
async function send(route: 'core' | 'jetstream', tenant: string, routeName: string, data: Uint8Array, headers: MsgHdrs | undefined) {
  if (route === 'core') {
    return asGateway.request(`fle.rpc.${tenant}.${routeName}`, data, { timeout: 5000, ...(headers ? { headers } : {}) });
  }
  const inbox = createInbox(natsInboxPrefix('gateway'));
  const sub = asGateway.subscribe(inbox, { max: 1, timeout: 5000 });
  const h = headers ?? natsHeaders();
  h.set('Fle-Reply-To', inbox);
  await asGateway.jetstream().publish(`fle.js.${tenant}.${routeName}`, data, { headers: h });
  try {
    for await (const m of sub) return m;
  } catch {
    return undefined; // no reply (e.g. an unknown route has no inbox reply before the dead letter)
  }
  return undefined;
}

// ---------------------------------------------------------------------------

describe('hostile input table (real NATS, keystore, processor and gateways over mTLS)', () => {
  beforeAll(async () => {
    stack = await startReliabilityStack({
      transports: TRANSPORTS,
      gateway: { maxMessageBytes: MAX_MESSAGE, maxFieldBytes: MAX_FIELD },
      routeTimeoutMs: 4000,
      processor: { jetstream: { ackWaitMs: 2000, maxAttempts: 3 } },
    });
    clientKeys = new KeystoreKeyProvider({ address: stack.keystore.address, tls: stack.pki.files('client') });
    const other = await makeTestPki({ identities: ['client'] });
    // Trusts our CA (so the gateway is verified) but presents a client certificate from another CA.
    otherCaCreds = credentials.createSsl(readCa(), readFileSync(other.files('client').key), readFileSync(other.files('client').cert));
    asGateway = await stack.connect('gateway');
    dlq = await DeadLetterWatch.start(await stack.connect('admin'));
    // A rogue responder on a route no real processor serves (the processor identity may subscribe fle.rpc.>).
    rogue = await stack.connect('processor');
    rogueSub = rogue.subscribe('fle.rpc.*.rogue', {
      callback: (_e, m) => {
        const a = rogueAnswer({ data: m.data, headers: m.headers });
        if (a) m.respond(a.data, a.headers ? { headers: a.headers } : undefined);
      },
    });
    await rogue.flush();
    rogueGateway = await stack.startGateway([authorizeRoute('nats', { route: 'rogue', timeoutMs: 1000 })]);
  });

  afterAll(async () => {
    for (const c of rawClients.values()) c.close();
    rogueSub?.unsubscribe();
    await dlq?.stop();
    await stack?.stop();
  });

  describe.each(TRANSPORTS)('over the gateway, route %s', (t) => {
    const cases = GRPC_CASES.filter((c) => !c.on || c.on.includes(t));
    it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
      const sent = await c.build(t);
      await c.before?.(t, sent);
      const got = await call(t, sent);
      if ('ok' in c.want) {
        expect(got.ok, JSON.stringify(got)).toBe(true);
        const res = await stack.cipher.openMessage(RESPONSE_TYPE, AuthorizeResponse.decode(got.ok ? got.value : Buffer.alloc(0)), { context: replayContext(sent.stamp!) });
        expect(res.approved).toBe(true);
        expect(res.cardToken).toMatch(/^tok_/);
      } else {
        expect(got.ok ? 'OK' : { status: status[got.status], code: got.code }).toEqual({ status: status[c.want.status], code: c.want.code });
        if (!got.ok) expect(got.details).toMatch(c.want.details);
      }
    });
  });

  describe.each(['core', 'jetstream'] as const)('straight onto NATS as a compromised gateway, %s', (route) => {
    const cases = NATS_CASES.filter((c) => !c.on || c.on.includes(route));
    it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
      const { data, headers } = await c.build();
      await c.before?.(route, data, headers ? copyHeaders(headers) : undefined);
      const reply = await send(route, c.subjectTenant ?? 't1', c.subjectRoute ?? 'authorize', data, headers);
      // The typed error answers the caller (core reply, or the JetStream reply inbox)...
      expect(reply?.headers?.get('Fle-Error-Code')).toBe(c.code);
      // ...and the message is dead-lettered with its reason, never dropped.
      const letter = await dlq.byBody(data);
      expect(letter.headers['Fle-Dlq-Reason']).toBe(c.reason);
      expect(letter.headers['Fle-Dlq-Code']).toBe(c.code);
      expect(letter.headers['Fle-Dlq-Subject']).toBe(`fle.${route === 'core' ? 'rpc' : 'js'}.${c.subjectTenant ?? 't1'}.${c.subjectRoute ?? 'authorize'}`);
      expect(letter.headers['Fle-Dlq-Origin']).toMatch(route === 'core' ? /^core:/ : /^js:FLE_REQUESTS:\d+$/);
    });
  });

  describe('response tampering (a rogue responder behind the gateway)', () => {
    let rogueClient: Client;
    const rogueCall = async (r: SealedRequest) => {
      rogueClient ??= new Client(rogueGateway.address, clientCredentials(stack.pki));
      const out = await settle(
        new Promise<Buffer>((resolve, reject) =>
          rogueClient.makeUnaryRequest(AUTHORIZE_PATH, passthrough, passthrough, enc(r.sealed), md(r.stamp), { deadline: Date.now() + 10_000 }, (err: ServiceError | null, v?: Buffer) => (err ? reject(err) : resolve(v!))),
        ),
      );
      if (!out.ok) detailsSeen.push(out.details);
      return out;
    };
    afterAll(() => rogueClient?.close());

    it('plaintext in a sensitive response field: refused by the gateway', async () => {
      const r = await fresh();
      rogueAnswer = () => ({ data: AuthorizeResponse.encode({ tenantId: 't1', requestId: r.request.requestId, approved: true, declineReason: '', cardToken: `tok-${r.canary}`, cardLastFour: '1111', authorizationCode: 'X' }).finish() });
      expect(await rogueCall(r)).toMatchObject({ ok: false, status: status.INVALID_ARGUMENT, code: 'PLAINTEXT_IN_SENSITIVE_FIELD', details: expect.stringMatching(/cardToken \(5\)/) });
    });

    it('garbage response bytes: refused by the gateway', async () => {
      rogueAnswer = () => ({ data: Uint8Array.of(0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f) });
      expect(await rogueCall(await fresh())).toMatchObject({ ok: false, status: status.INVALID_ARGUMENT, code: 'BAD_PROTOBUF', details: 'response is not valid protobuf' });
    });

    it("another request's sealed response: passes the gateway (well formed), refused by the client SDK", async () => {
      const donor = await fresh();
      const real = await stack.clients.nats!.fle.callRaw({ path: AUTHORIZE_PATH, requestStream: false, responseStream: false, requestSerialize: (m: AuthorizeRequest) => enc(m), responseDeserialize: (b: Buffer) => b }, donor.sealed, donor.stamp);
      rogueAnswer = () => ({ data: real });
      const victim = await fresh();
      const got = await rogueCall(victim);
      expect(got.ok).toBe(true);
      const swapped = AuthorizeResponse.decode(got.ok ? got.value : Buffer.alloc(0));
      await expect(stack.cipher.openMessage(RESPONSE_TYPE, swapped, { context: replayContext(victim.stamp) })).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
      // The same bytes open under the donor's own stamp: the refusal is the binding, not broken bytes.
      expect((await stack.cipher.openMessage(RESPONSE_TYPE, swapped, { context: replayContext(donor.stamp) })).approved).toBe(true);
    });

    it('a malformed error reply: INTERNAL, nothing of it passed on', async () => {
      rogueAnswer = () => {
        const h = natsHeaders();
        h.set('Fle-Error-Code', 'DECRYPTION_FAILED');
        return { data: text('{not json'), headers: h };
      };
      expect(await rogueCall(await fresh())).toMatchObject({ ok: false, status: status.INTERNAL, code: 'INTERNAL', details: 'malformed error reply' });
    });

    it('no answer at all: DEADLINE_EXCEEDED after the route timeout', async () => {
      rogueAnswer = () => undefined;
      expect(await rogueCall(await fresh())).toMatchObject({ ok: false, status: status.DEADLINE_EXCEEDED, code: 'UPSTREAM_TIMEOUT', details: 'processor did not reply in time' });
    });
  });

  describe('afterwards', () => {
    it('every process is still up and serves a normal request on every route', async () => {
      for (const p of stack.processes()) expect(p.alive(), p.name).toBe(true);
      for (const t of TRANSPORTS) {
        const r = await fresh();
        const res = await stack.clients[t]!.authorize(r.request);
        expect(res.approved, t).toBe(true);
      }
    });

    it('no canary or card number in any log, error detail or dead letter', async () => {
      expect(needles.length).toBeGreaterThan(100);
      const logs = stack.processes().map((p) => ({ name: p.name, text: p.logs() }));
      // Positive control: the logs do record the refusals (so the scan looks at real output).
      expect(logs.filter((l) => l.name === 'gateway').map((l) => l.text).join('\n')).toContain('PLAINTEXT_IN_SENSITIVE_FIELD');
      expect(logs.find((l) => l.name === 'processor')!.text).toContain('dead-lettered');
      for (const l of logs) expect(findNeedles(l.text, needles), l.name).toEqual([]);
      expect(findNeedles(detailsSeen.join('\n'), needles)).toEqual([]);
      // Dead letters hold the original bytes: ciphertext, except where this file itself published plaintext.
      expect(dlq.letters.length).toBeGreaterThan(20);
      const sealedOnly = needles.filter((n) => !plaintextOnNats.includes(n));
      for (const l of dlq.letters) expect(findNeedles(l.data, sealedOnly), l.subject).toEqual([]);
    });
  });
});

function copyHeaders(h: MsgHdrs): MsgHdrs {
  const c = natsHeaders();
  for (const [k, vs] of h) for (const v of vs) c.append(k, v);
  return c;
}
