// Unit tests of the decrypt boundary with in-memory keys and nonce store (no I/O).
import { randomBytes } from 'node:crypto';
import { FieldCipher, StaticKeyProvider, compileSchema, type KeyProvider } from '@fle/field-crypto';
import { messageCodec } from '@fle/schema';
import { MemoryNonceStore, createLogger, createServiceMetrics, newReplayStamp, replayContext, type ReplayStamp } from '@fle/service-kit';
import { FIXTURE_METHOD, FIXTURE_REQUEST, FIXTURE_RESPONSE, canaryLedgerRequest, fixtureSchema, type LedgerRequest, type LedgerResponse } from '@fle/testkit';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Boundary } from '../src/boundary.js';
import type { Handler, HandlerContext } from '../src/handler.js';
import type { InboundRequest } from '../src/pipeline.js';

const PATH = FIXTURE_METHOD;
const REQ = FIXTURE_REQUEST;
const schema = compileSchema(fixtureSchema());
const requestCodec = messageCodec<LedgerRequest>(fixtureSchema(), FIXTURE_REQUEST);
const responseCodec = messageCodec<LedgerResponse>(fixtureSchema(), FIXTURE_RESPONSE);
const keys = new StaticKeyProvider(
  ['t1', 't2'].flatMap((tenant) => ['default', 'pci'].map((ring) => ({ tenant, ring, versions: [{ version: 1, key: randomBytes(32) }] }))),
);
const clientCipher = new FieldCipher({ schema, keys });
const silent = createLogger({ name: 'test', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

async function setup(opts: { keys?: KeyProvider; now?: number; maxEnvelopes?: number } = {}) {
  const seen: LedgerRequest[] = [];
  const contexts: HandlerContext[] = [];
  const handler: Handler<LedgerRequest, LedgerResponse> = async (req, ctx) => {
    seen.push(req);
    contexts.push(ctx);
    return { tenantId: ctx.tenant, requestId: req.requestId, approved: true, declineReason: '', cardToken: `tok-${req.card.number}`, cardLastFour: req.card.number.slice(-4), authorizationCode: 'A1' };
  };
  const store = new MemoryNonceStore();
  const boundary = await Boundary.create({
    schema: fixtureSchema(),
    keys: opts.keys ?? keys,
    handlers: { Submit: handler },
    routes: [{ method: PATH, route: 'submit' }],
    nonceStore: store,
    maxEnvelopes: opts.maxEnvelopes,
    now: opts.now === undefined ? undefined : () => opts.now!,
    logger: silent,
    metrics: createServiceMetrics({ service: 'test', processMetrics: false }),
  });
  return { pipeline: boundary.pipeline, seen, contexts, store };
}

async function sealed(tenant = 't1', stamp: ReplayStamp = newReplayStamp()) {
  const fx = canaryLedgerRequest(tenant);
  const msg = await clientCipher.sealMessage(REQ, fx.request, { context: replayContext(stamp) });
  return { ...fx, stamp, msg, bytes: requestCodec.encode(msg) };
}

const inbound = (bytes: Uint8Array, stamp: ReplayStamp, extra: Partial<InboundRequest> = {}): InboundRequest => ({
  transport: 'nats',
  path: PATH,
  subjectTenant: 't1',
  subjectRoute: 'submit',
  bytes,
  stamp,
  origin: `core:${randomBytes(4).toString('hex')}`,
  caller: 'spiffe://fle.local/client',
  ...extra,
});

describe('Pipeline', () => {
  it('opens every field exactly, runs the handler, seals the response under the request context', async () => {
    const { pipeline, seen } = await setup();
    const s = await sealed();
    const out = await pipeline.handle(inbound(s.bytes, s.stamp));
    expect(seen[0]).toEqual(s.request);
    const res = responseCodec.decode(out.bytes);
    expect(res.cardToken).not.toContain(s.request.card!.number); // sealed
    expect(res.cardLastFour).toBe(s.request.card!.number.slice(-4));
    const opened = await clientCipher.openMessage(FIXTURE_RESPONSE, res, { context: replayContext(s.stamp) });
    expect(opened.cardToken).toBe(`tok-${s.request.card!.number}`);
    // bound to this request: another context cannot open it
    await expect(clientCipher.openMessage(FIXTURE_RESPONSE, res, { context: replayContext(newReplayStamp()) })).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    await out.claim.complete();
  });

  it('gives the handler its context: tenant, method, caller, transport, stamp', async () => {
    const { pipeline, contexts } = await setup();
    const s = await sealed();
    await (await pipeline.handle(inbound(s.bytes, s.stamp))).claim.complete();
    expect(contexts[0]).toMatchObject({ tenant: 't1', method: PATH, caller: 'spiffe://fle.local/client', transport: 'nats', stamp: s.stamp, resumed: false });
  });

  it('checks the bytes before decoding (a publisher can bypass the gateway): an earlier plaintext copy, an unknown field, too many envelopes', async () => {
    const { pipeline, seen } = await setup({ maxEnvelopes: 12 });
    const s = await sealed();
    // Plaintext in an earlier copy of a sensitive field: a decoder keeps the last (sealed) copy.
    const smuggled = Buffer.concat([requestCodec.encode({ nationalId: `ssn-${s.canary}` } as LedgerRequest), s.bytes]);
    expect(requestCodec.decode(smuggled).nationalId).toBe(s.msg.nationalId);
    await expect(pipeline.handle(inbound(smuggled, s.stamp))).rejects.toMatchObject({ code: 'WIRE_FORMAT', message: expect.stringMatching(/field 6 /) });
    // An unknown field number (99, varint) a decoder would skip.
    await expect(pipeline.handle(inbound(Buffer.concat([s.bytes, Uint8Array.of(0x98, 0x06, 0x01)]), s.stamp))).rejects.toMatchObject({ code: 'WIRE_FORMAT' });
    // More sensitive values than allowed: refused before any open.
    const big = await clientCipher.sealMessage(REQ, { ...s.request, previousAddresses: Array.from({ length: 20 }, (_, i) => `a${i}`) }, { context: replayContext(s.stamp) });
    await expect(pipeline.handle(inbound(requestCodec.encode(big), s.stamp))).rejects.toMatchObject({ code: 'TOO_MANY_ENVELOPES' });
    expect(seen).toHaveLength(0);
    // None of them consumed the nonce: the genuine request still goes through.
    await (await pipeline.handle(inbound(s.bytes, s.stamp))).claim.complete();
    expect(seen).toHaveLength(1);
  });

  it('refuses a replayed nonce and a timestamp outside the window', async () => {
    const { pipeline, seen } = await setup();
    const s = await sealed();
    await (await pipeline.handle(inbound(s.bytes, s.stamp))).claim.complete();
    await expect(pipeline.handle(inbound(s.bytes, s.stamp))).rejects.toMatchObject({ code: 'REPLAY_NONCE' });
    // The claim runs beside the opening: a replay is refused as one even when its fields do not open.
    const tampered = requestCodec.encode({ ...s.msg, nationalId: s.msg.email! });
    await expect(pipeline.handle(inbound(tampered, s.stamp))).rejects.toMatchObject({ code: 'REPLAY_NONCE' });
    const old = await sealed('t1', newReplayStamp({ now: () => Date.now() - 61_000 }));
    await expect(pipeline.handle(inbound(old.bytes, old.stamp))).rejects.toMatchObject({ code: 'REPLAY_TIMESTAMP' });
    expect(seen).toHaveLength(1);
  });

  it('refuses an envelope moved to another field, tenant or request', async () => {
    const { pipeline, seen } = await setup();
    // another field: national_id's envelope put into an address
    const a = await sealed();
    const movedField = requestCodec.encode({ ...a.msg, previousAddresses: [a.msg.nationalId, a.msg.previousAddresses[1]!] });
    await expect(pipeline.handle(inbound(movedField, a.stamp))).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    // another tenant: t2's sealed request relabelled as t1 (same key material would not matter: the tenant is in the AAD)
    const b = await sealed('t2');
    const movedTenant = requestCodec.encode({ ...b.msg, tenantId: 't1' });
    await expect(pipeline.handle(inbound(movedTenant, b.stamp))).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    // another request: c's fields sent under d's stamp
    const c = await sealed();
    const d = newReplayStamp();
    await expect(pipeline.handle(inbound(c.bytes, d))).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    expect(seen).toHaveLength(0);
  });

  it('checks the subject: tenant must match the message, route must match the method', async () => {
    const { pipeline } = await setup();
    const s = await sealed();
    await expect(pipeline.handle(inbound(s.bytes, s.stamp, { subjectTenant: 't2' }))).rejects.toMatchObject({ code: 'TENANT_MISMATCH' });
    await expect(pipeline.handle(inbound(s.bytes, s.stamp, { subjectRoute: 'refund' }))).rejects.toMatchObject({ code: 'UNKNOWN_METHOD' });
    await expect(pipeline.handle(inbound(s.bytes, s.stamp, { path: '/fletest.svc.v1.LedgerService/Refund' }))).rejects.toMatchObject({ code: 'UNKNOWN_METHOD' });
    await expect(pipeline.handle(inbound(Uint8Array.of(0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f), s.stamp))).rejects.toMatchObject({ code: 'BAD_PROTOBUF' });
  });

  it('a transient key failure releases the nonce (the retry is accepted); a permanent one consumes it', async () => {
    let down = true;
    const flaky: KeyProvider = {
      primaryKey: (ref) => keys.primaryKey(ref),
      keyVersion: (ref, v) => (down ? Promise.reject(Object.assign(new Error('keystore down'), { code: 'KEYSTORE_UNAVAILABLE' })) : keys.keyVersion(ref, v)),
    };
    const { pipeline, seen } = await setup({ keys: flaky });
    const s = await sealed();
    await expect(pipeline.handle(inbound(s.bytes, s.stamp))).rejects.toMatchObject({ code: 'KEYSTORE_UNAVAILABLE' });
    down = false;
    await (await pipeline.handle(inbound(s.bytes, s.stamp))).claim.complete();
    expect(seen).toHaveLength(1);

    const bad = await sealed();
    const tampered = requestCodec.encode({ ...bad.msg, nationalId: bad.msg.email! });
    await expect(pipeline.handle(inbound(tampered, bad.stamp))).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    await expect(pipeline.handle(inbound(bad.bytes, bad.stamp))).rejects.toMatchObject({ code: 'REPLAY_NONCE' });
  });

  it('resumes a redelivery of the same JetStream origin, completed or not; refuses another origin', async () => {
    const { pipeline, seen } = await setup();
    const s = await sealed();
    const first = await pipeline.handle(inbound(s.bytes, s.stamp, { origin: 'js:FLE_REQUESTS:41' }));
    expect(first.claim.outcome).toBe('claimed');
    // crash before completing: redelivered with the same stream sequence
    const again = await pipeline.handle(inbound(s.bytes, s.stamp, { origin: 'js:FLE_REQUESTS:41' }));
    expect(again.claim.outcome).toBe('resumed');
    await again.claim.complete();
    // An acked message handed back after a NATS restart or failover (same stream
    // sequence): answered again, the handler sees `resumed` and reuses its effect.
    const third = await pipeline.handle(inbound(s.bytes, s.stamp, { origin: 'js:FLE_REQUESTS:41' }));
    expect(third.claim.outcome).toBe('resumed');
    // The same bytes published again are a new stream message: a replay.
    await expect(pipeline.handle(inbound(s.bytes, s.stamp, { origin: 'js:FLE_REQUESTS:42' }))).rejects.toMatchObject({ code: 'REPLAY_NONCE' });
    expect(seen).toHaveLength(3);
  });
});
