// Unit tests of the binding and of sealing/opening one event, with a stand-in
// for the NATS connection that records what would be published (the
// integration test, events.int.test.ts, runs the same through nats-server).
import { DecryptionError, FieldCipher, InvalidFieldValueError, SchemaError } from '@fle/field-crypto';
import { MemoryNonceStore } from '@fle/service-kit';
import protobuf from 'protobufjs';
import { compileSchema } from '@fle/field-crypto';
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from 'nats';
import { describe, expect, it } from 'vitest';
import {
  assertPublishSubject,
  claimEventId,
  EVENT_HEADERS,
  eventContext,
  eventType,
  EventPublisher,
  isSealedPayload,
  isValidMsgId,
  nakDelay,
  openEvent,
  subscribeEvents,
  encodeEvent,
} from '../src/mod.js';
import { Limiter } from '../src/limiter.js';
import { codecOf, Parcel, ParcelPlainCodec, parcel, schema, testKeys, type ParcelShipped } from './fixtures/schema.js';

interface Published {
  subject: string;
  data: Uint8Array;
  headers: MsgHdrs;
}

/** Records nc.publish calls; nothing else of NatsConnection is used by EventPublisher.publish. */
function recordingConnection(): { nc: NatsConnection; published: Published[] } {
  const published: Published[] = [];
  const nc = {
    publish(subject: string, data: Uint8Array, opts: { headers: MsgHdrs }) {
      published.push({ subject, data, headers: opts.headers });
    },
  } as unknown as NatsConnection;
  return { nc, published };
}

const keys = testKeys();
const cipher = new FieldCipher({ schema, keys });

async function publishOne(event: ParcelShipped = parcel('acct-1', 'u1'), subject = 'fletest.evt.acct-1.shipped'): Promise<Published> {
  const { nc, published } = recordingConnection();
  await new EventPublisher({ nc, schema, keys }).publish(Parcel, subject, event);
  expect(published).toHaveLength(1);
  return published[0]!;
}

function copyHeaders(h: MsgHdrs, change: Record<string, string> = {}): MsgHdrs {
  const out = natsHeaders();
  for (const [k, vs] of h) for (const v of vs) out.append(k, v);
  for (const [k, v] of Object.entries(change)) out.set(k, v);
  return out;
}

describe('the binding', () => {
  it('is evt/<subject>/<msg-id>; ids hold no slash, so the text names one (subject, id) pair', () => {
    expect(eventContext('team.events.a', 'abc_-1')).toBe('evt/team.events.a/abc_-1');
    expect(isValidMsgId('a/b')).toBe(false);
    expect(isValidMsgId('')).toBe(false);
    expect(isValidMsgId('x'.repeat(129))).toBe(false);
    expect(isValidMsgId('0f8fad5b-d9cb-469f-a165-70867728950e')).toBe(true);
  });

  it.each(['', 'a.*', 'a.>', 'a..b', '.a', 'a.', 'a b'])('refuses to publish on %j', (subject) => {
    expect(() => assertPublishSubject(subject)).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
  });
});

describe('publish then open', () => {
  it('seals every sensitive value, labels the event, and opens on the same subject', async () => {
    const event = parcel('acct-1', 'u1');
    const p = await publishOne(event);
    const text = Buffer.from(p.data).toString('latin1');
    for (const secret of ['Recipient u1', 'signature u1', 'Line u1', 'leave at door u1', 'contents u1', 'odd key u1', 'Hub u1']) expect(text).not.toContain(secret);
    expect(text).toContain('carrier-u1'); // clear fields stay clear
    expect(p.headers.get(EVENT_HEADERS.type)).toBe('fletest.events.v1.ParcelShipped');
    expect(p.headers.get(EVENT_HEADERS.tenant)).toBe('acct-1');
    expect(isValidMsgId(p.headers.get(EVENT_HEADERS.msgId))).toBe(true);
    const opened = await openEvent(cipher, schema, Parcel, p.subject, p.data, p.headers);
    expect(opened).toEqual({ event, tenant: 'acct-1', msgId: p.headers.get(EVENT_HEADERS.msgId) });
    expect(isSealedPayload(schema, Parcel, p.data, p.headers)).toBe(true);
  });

  it('an event moved to another subject, or given another id, does not open', async () => {
    const p = await publishOne();
    await expect(openEvent(cipher, schema, Parcel, 'fletest.evt.acct-1.other', p.data, p.headers)).rejects.toBeInstanceOf(DecryptionError);
    const otherId = copyHeaders(p.headers, { [EVENT_HEADERS.msgId]: 'another-id' });
    await expect(openEvent(cipher, schema, Parcel, p.subject, p.data, otherId)).rejects.toBeInstanceOf(DecryptionError);
  });

  it('a tampered envelope does not open', async () => {
    const p = await publishOne();
    const decoded = Parcel.codec.decode(p.data);
    const name = decoded.recipientName!;
    const flipped = name.slice(0, 20) + (name[20] === 'A' ? 'B' : 'A') + name.slice(21);
    const data = encodeEvent(Parcel.codec, { ...decoded, recipientName: flipped });
    await expect(openEvent(cipher, schema, Parcel, p.subject, data, p.headers)).rejects.toBeInstanceOf(DecryptionError);
  });

  it.each([
    ['no id', { [EVENT_HEADERS.msgId]: '' }, 'BAD_REQUEST'],
    ['another type', { [EVENT_HEADERS.type]: 'fletest.events.v1.Address' }, 'BAD_REQUEST'],
    ['a bad tenant', { [EVENT_HEADERS.tenant]: 'a.b' }, 'INVALID_TENANT'],
    ['another tenant', { [EVENT_HEADERS.tenant]: 'acct-2' }, 'TENANT_MISMATCH'],
  ])('refuses an event with %s header before opening it', async (_what, change, code) => {
    const p = await publishOne();
    await expect(openEvent(cipher, schema, Parcel, p.subject, p.data, copyHeaders(p.headers, change))).rejects.toMatchObject({ code });
  });

  it('refuses a payload that does not decode, and keeps it out of dead letters', async () => {
    const p = await publishOne();
    const garbage = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff);
    await expect(openEvent(cipher, schema, Parcel, p.subject, garbage, p.headers)).rejects.toMatchObject({ code: 'BAD_PROTOBUF' });
    expect(isSealedPayload(schema, Parcel, garbage, p.headers)).toBe(false);
  });

  it('a payload published around the API with plaintext in it is refused and never kept', async () => {
    const p = await publishOne();
    const plaintext = encodeEvent(ParcelPlainCodec, parcel('acct-1', 'raw'));
    await expect(openEvent(cipher, schema, Parcel, p.subject, plaintext, p.headers)).rejects.toMatchObject({ code: 'ENVELOPE_FORMAT' });
    expect(isSealedPayload(schema, Parcel, plaintext, p.headers)).toBe(false);
    // labelled as another type: withheld even though this type would see no plaintext
    expect(isSealedPayload(schema, Parcel, p.data, copyHeaders(p.headers, { [EVENT_HEADERS.type]: 'x.Y' }))).toBe(false);
  });
});

describe('publish refuses what it cannot seal, and sends nothing', () => {
  it('a value of the wrong type in a sensitive field', async () => {
    const { nc, published } = recordingConnection();
    const pub = new EventPublisher({ nc, schema, keys });
    await expect(pub.publish(Parcel, 'fletest.evt.a', { ...parcel('acct-1', 'x'), recipientName: 42 as unknown as string })).rejects.toBeInstanceOf(InvalidFieldValueError);
    await expect(pub.publish(Parcel, 'fletest.evt.a', { ...parcel('acct-1', 'x'), account: '' })).rejects.toMatchObject({ code: 'MISSING_TENANT' });
    await expect(pub.publish(Parcel, 'fletest.evt.a', { ...parcel('acct-1', 'x'), account: 'has.dot' })).rejects.toMatchObject({ code: 'INVALID_TENANT' });
    await expect(pub.publish(Parcel, 'fletest.evt.*', parcel('acct-1', 'x'))).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(pub.publish(Parcel, 'fletest.evt.a', parcel('acct-1', 'x'), { msgId: 'a/b' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    expect(published).toHaveLength(0);
  });

  it('a type without a tenant field', async () => {
    const r = protobuf.parse('syntax = "proto3"; package t.v1; message Tick { string at = 1; }').root;
    const { nc, published } = recordingConnection();
    const pub = new EventPublisher({ nc, schema: compileSchema(r), keys });
    const t = eventType<{ at: string }>('t.v1.Tick', { encode: () => ({ finish: () => new Uint8Array() }), decode: () => ({ at: '' }) });
    await expect(pub.publish(t, 'fletest.evt.a', { at: 'now' })).rejects.toBeInstanceOf(SchemaError);
    expect(published).toHaveLength(0);
    // and a subscription to it is refused when it is made, not event by event
    expect(() => subscribeEvents({ nc, schema: compileSchema(r), keys, type: t, subject: 'fletest.evt.a', seen: new MemoryNonceStore(), handler: () => undefined })).toThrow(SchemaError);
  });
});

describe('claimEventId', () => {
  it('first, done after completion, unfinished after a crash, refused from another origin', async () => {
    const store = new MemoryNonceStore();
    expect(await claimEventId(store, 'k', 'js:S:1', 60_000)).toBe('first');
    // the same delivery source again before completion (the instance died mid-handler)
    expect(await claimEventId(store, 'k', 'js:S:1', 60_000)).toBe('unfinished');
    await store.complete('k', 'js:S:1', 60_000);
    expect(await claimEventId(store, 'k', 'js:S:1', 60_000)).toBe('done');
    expect(await claimEventId(store, 'k', 'js:S:1', 60_000)).toBe('done');
    // the same event stored a second time (another stream sequence) or sent again on core NATS: a replay
    await expect(claimEventId(store, 'k', 'js:S:2', 60_000)).rejects.toMatchObject({ code: 'REPLAY_NONCE' });
    await expect(claimEventId(store, 'k', 'core:x', 60_000)).rejects.toMatchObject({ code: 'REPLAY_NONCE' });
  });
});

describe('helpers', () => {
  it('nakDelay doubles and caps', () => {
    expect([1, 2, 3, 4, 10].map((n) => nakDelay(n, 100, 500))).toEqual([100, 200, 400, 500, 500]);
  });

  it('Limiter holds at most `limit` and reports idle', async () => {
    const l = new Limiter(2);
    await l.acquire();
    await l.acquire();
    let third = false;
    const p = l.acquire().then(() => (third = true));
    await Promise.resolve();
    expect(third).toBe(false);
    l.release();
    await p;
    expect(third).toBe(true);
    let idle = false;
    const i = l.idle().then(() => (idle = true));
    l.release();
    await Promise.resolve();
    expect(idle).toBe(false);
    l.release();
    await i;
    expect(idle).toBe(true);
  });

  it('the codec seam takes a ts-proto-shaped MessageFns', () => {
    const fns = codecOf<ParcelShipped>('fletest.events.v1.ParcelShipped');
    expect(() => eventType('fletest.events.v1.ParcelShipped', fns)).not.toThrow();
    expect(() => eventType('not a name', fns)).toThrow(TypeError);
  });
});
