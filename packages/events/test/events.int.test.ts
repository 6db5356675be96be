// Sealed events through a real nats-server: mTLS, one NATS user per
// certificate identity with its own permissions, JetStream. The publisher,
// the subscribers (with keys), an identity that may read the subjects, the
// mirror stream and the dead letters but holds no key (a monitor), and an
// attacker who may publish anything are separate connections.
import { randomBytes } from 'node:crypto';
import {
  AckPolicy,
  DeliverPolicy,
  headers as natsHeaders,
  nanos,
  type JetStreamManager,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from 'nats';
import { FLE_HEADERS, type NonceStore } from '@fle/service-kit';
import { FLE_NATS_PERMISSIONS, kvBucket, streamConsumption, SUBJECTS, natsInbox } from '@fle/nats-setup';
import { DEFAULT_IDENTITIES } from '@fle/pki';
import { makeTestPki, startNats, type NatsHarness } from '@fle/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  consumeEvents,
  DEAD_LETTER_HEADERS,
  EVENT_HEADERS,
  EVENT_ID_BUCKET,
  EventPublisher,
  openEventIdStore,
  subscribeEvents,
  type EventHandlerContext,
  type EventSubscription,
  encodeEvent,
} from '../src/mod.js';
import { Parcel, parcel, schema, testKeys, type ParcelShipped } from './fixtures/schema.js';

const STREAM = 'FLETEST_EVENTS'; // fletest.evt.js.>
const SHORT = 'FLETEST_SHORT'; // fletest.evt.short.>, a 1 s duplicate window
const MIRROR = 'FLETEST_EVENTS_MIRROR';
const DLQ = 'FLE_DLQ';
const MiB = 1024 * 1024; // every stream is bounded (the test server requires max_bytes, as fle's do)
const JS_BASE = ['$JS.API.INFO', '$JS.API.STREAM.NAMES'];

/** A service that consumes events: the event subjects and streams, its id bucket, dead letters. */
function subscriberPermissions(identity: string, mayAck: boolean) {
  const streams = [STREAM, SHORT, MIRROR];
  return {
    publish: [
      ...JS_BASE,
      ...streams.map((s) => `$JS.API.STREAM.INFO.${s}`),
      ...streams.flatMap(streamConsumption).filter((s) => mayAck || !s.startsWith('$JS.ACK.')),
      SUBJECTS.dlq,
      ...kvBucket(EVENT_ID_BUCKET),
    ],
    subscribe: ['fletest.evt.>', natsInbox(identity)],
  };
}

const USERS = {
  ...FLE_NATS_PERMISSIONS,
  // creates the streams, reads the dead letters, and plays the attacker: may publish anything
  'test-setup': { publish: ['>'], subscribe: ['>'] },
  'events-pub': { publish: ['fletest.evt.>'], subscribe: [natsInbox('events-pub')] },
  'events-sub': subscriberPermissions('events-sub', true),
  // a subscriber whose acks the server drops: every delivery comes back after ack_wait
  'events-noack': subscriberPermissions('events-noack', false),
  // reads the subjects, the mirror and the dead letters; holds no key
  'events-monitor': {
    publish: [...JS_BASE, `$JS.API.STREAM.INFO.${MIRROR}`, `$JS.API.STREAM.INFO.${DLQ}`, ...streamConsumption(MIRROR), ...streamConsumption(DLQ)],
    subscribe: ['fletest.evt.>', natsInbox('events-monitor')],
  },
};

let nats: NatsHarness;
let setup: NatsConnection;
let jsm: JetStreamManager;
let pubNc: NatsConnection;
let subNc: NatsConnection;
let publisher: EventPublisher;
let seen: NonceStore;
const keys = testKeys();
const deadLetters: Array<{ subject: string; headers: MsgHdrs | undefined; data: Uint8Array }> = [];
const running: EventSubscription[] = [];

beforeAll(async () => {
  const pki = await makeTestPki({ identities: [...DEFAULT_IDENTITIES, 'test-setup', 'events-pub', 'events-sub', 'events-noack', 'events-monitor'] });
  nats = await startNats({ tls: pki, users: USERS });
  setup = await nats.connect('test-setup');
  jsm = await setup.jetstreamManager();
  await jsm.streams.add({ name: STREAM, subjects: ['fletest.evt.js.>'], duplicate_window: nanos(60_000), max_bytes: 16 * MiB });
  await jsm.streams.add({ name: SHORT, subjects: ['fletest.evt.short.>'], duplicate_window: nanos(1000), max_bytes: 16 * MiB });
  await jsm.streams.add({ name: MIRROR, mirror: { name: STREAM }, max_bytes: 16 * MiB });
  await jsm.streams.add({ name: DLQ, subjects: ['fle.dlq.>'], max_bytes: 16 * MiB });
  setup.subscribe('fle.dlq.>', { callback: (_err, m) => deadLetters.push({ subject: m.subject, headers: m.headers, data: m.data }) });
  await setup.flush();
  pubNc = await nats.connect('events-pub');
  publisher = new EventPublisher({ nc: pubNc, schema, keys });
  subNc = await nats.connect('events-sub');
  seen = await openEventIdStore(subNc.jetstream(), { windowMs: 60_000 });
}, 120_000);

afterAll(async () => {
  await Promise.all(running.map((s) => s.stop()));
  await nats?.stop();
});

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function addDurable(stream: string, durable: string, filter: string, ackWaitMs = 30_000): Promise<void> {
  await jsm.consumers.add(stream, {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(ackWaitMs),
    max_deliver: -1,
    filter_subject: filter,
  });
}

function started(s: EventSubscription): EventSubscription {
  running.push(s);
  return s;
}

async function stop(s: EventSubscription): Promise<void> {
  running.splice(running.indexOf(s), 1);
  await s.stop();
}

/** What one subscription's handler received. */
function collector(): { events: ParcelShipped[]; contexts: EventHandlerContext[]; handler: (e: ParcelShipped, c: EventHandlerContext) => void } {
  const events: ParcelShipped[] = [];
  const contexts: EventHandlerContext[] = [];
  return { events, contexts, handler: (e, c) => void (events.push(e), contexts.push(c)) };
}

function deadLettersFrom(prefix: string) {
  return deadLetters.filter((d) => d.headers?.get(FLE_HEADERS.dlqSubject).startsWith(prefix));
}

function copyHeaders(h: MsgHdrs | undefined, change: Record<string, string> = {}): MsgHdrs {
  const out = natsHeaders();
  if (h) for (const [k, vs] of h) for (const v of vs) out.append(k, v);
  for (const [k, v] of Object.entries(change)) out.set(k, v);
  return out;
}

describe('sealed events on core NATS', () => {
  it('a queue group hands each event, opened, to one member once', async () => {
    const c = collector();
    for (let i = 0; i < 2; i++) started(subscribeEvents({ nc: subNc, schema, keys, type: Parcel, subject: 'fletest.evt.core.q.>', queue: 'workers', seen, handler: c.handler }));
    await subNc.flush();
    const sent: ParcelShipped[] = [];
    for (let i = 0; i < 6; i++) {
      const tenant = i % 2 ? 'acct-1' : 'acct-2';
      sent.push(parcel(tenant, `q${i}`));
      await publisher.publish(Parcel, `fletest.evt.core.q.${tenant}`, sent[i]!);
    }
    await until('6 events', () => c.events.length === 6);
    expect([...c.events].sort((a, b) => a.recipientName!.localeCompare(b.recipientName!))).toEqual(sent);
    expect(c.contexts.every((x) => x.typeName === 'fletest.events.v1.ParcelShipped' && x.deliveries === 1)).toBe(true);
    expect(c.contexts.map((x) => x.subject).sort()).toEqual(sent.map((e) => `fletest.evt.core.q.${e.account}`).sort());
    expect(deadLettersFrom('fletest.evt.core.q.')).toHaveLength(0);
  });

  it('an event moved to another subject, tampered, re-labelled or replayed is dead-lettered, never handled; consumption continues', async () => {
    const c = collector();
    started(subscribeEvents({ nc: subNc, schema, keys, type: Parcel, subject: 'fletest.evt.core.x.>', seen, handler: c.handler }));
    await subNc.flush();
    // the attacker sees what is published (it may subscribe and publish anywhere)
    const captured: Array<{ subject: string; data: Uint8Array; headers: MsgHdrs | undefined }> = [];
    const spy: Subscription = setup.subscribe('fletest.evt.core.x.acct-1', { callback: (_e, m) => void captured.push({ subject: m.subject, data: m.data, headers: m.headers }) });
    await setup.flush();

    const first = parcel('acct-1', 'x1');
    await publisher.publish(Parcel, 'fletest.evt.core.x.acct-1', first);
    await until('the genuine event', () => c.events.length === 1 && captured.length === 1);
    spy.unsubscribe();
    const real = captured[0]!;
    const decoded = Parcel.codec.decode(real.data);
    const name = decoded.recipientName!;
    const tampered = encodeEvent(Parcel.codec, { ...decoded, recipientName: name.slice(0, 20) + (name[20] === 'A' ? 'B' : 'A') + name.slice(21) });

    setup.publish('fletest.evt.core.x.elsewhere', real.data, { headers: real.headers }); // moved
    setup.publish(real.subject, tampered, { headers: real.headers }); // tampered
    setup.publish(real.subject, real.data, { headers: copyHeaders(real.headers, { [EVENT_HEADERS.msgId]: 'forged-id' }) }); // another id
    setup.publish(real.subject, real.data, { headers: real.headers }); // replayed as it is
    setup.publish(real.subject, Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff), { headers: real.headers }); // undecodable
    setup.publish(real.subject, real.data); // no headers at all
    await setup.flush();
    const second = parcel('acct-1', 'x2');
    await publisher.publish(Parcel, 'fletest.evt.core.x.acct-1', second);

    await until('6 dead letters', () => deadLettersFrom('fletest.evt.core.x.').length === 6);
    await until('the second genuine event', () => c.events.length === 2);
    expect(c.events).toEqual([first, second]);
    const dl = deadLettersFrom('fletest.evt.core.x.');
    const byReason = dl.map((d) => `${d.headers!.get(FLE_HEADERS.dlqReason)}:${d.headers!.get(DEAD_LETTER_HEADERS.payload)}`).sort();
    expect(byReason).toEqual(
      ['decryption_failed:full', 'decryption_failed:full', 'decryption_failed:full', 'replay_nonce:full', 'bad_protobuf:withheld', 'bad_request:withheld'].sort(),
    );
    const garbage = dl.find((d) => d.headers!.get(FLE_HEADERS.dlqReason) === 'bad_protobuf')!;
    expect(garbage.subject).toBe('fle.dlq.acct-1.events');
    expect(garbage.data.length).toBe(0);
    expect(garbage.headers!.get(DEAD_LETTER_HEADERS.size)).toBe('6');
    expect(dl.find((d) => d.headers!.get(FLE_HEADERS.dlqReason) === 'bad_request')!.subject).toBe('fle.dlq._unknown.events');
    const moved = dl.find((d) => d.headers!.get(FLE_HEADERS.dlqSubject) === 'fletest.evt.core.x.elsewhere')!;
    expect(moved.headers!.get(FLE_HEADERS.dlqReason)).toBe('decryption_failed');
    expect(moved.headers!.get(DEAD_LETTER_HEADERS.msgId)).toBe(real.headers!.get(EVENT_HEADERS.msgId));
    expect(Buffer.from(moved.data).equals(Buffer.from(real.data))).toBe(true);
  });
});

describe('sealed events on JetStream', () => {
  it('a durable pull consumer hands the opened event to the handler and acks it; the same id published twice is stored once', async () => {
    await addDurable(STREAM, 'd-basic', 'fletest.evt.js.basic.>');
    const event = parcel('acct-2', 'js1');
    const a = await publisher.publishToStream(Parcel, 'fletest.evt.js.basic.acct-2', event, { msgId: 'order-1' });
    const b = await publisher.publishToStream(Parcel, 'fletest.evt.js.basic.acct-2', event, { msgId: 'order-1' });
    expect(a).toMatchObject({ stream: STREAM, duplicate: false, msgId: 'order-1', tenant: 'acct-2' });
    expect(b).toMatchObject({ stream: STREAM, duplicate: true, seq: a.seq });
    const c = collector();
    const sub = started(await consumeEvents({ nc: subNc, schema, keys, type: Parcel, stream: STREAM, durable: 'd-basic', seen, handler: c.handler }));
    await until('the event', () => c.events.length === 1);
    expect(c.events[0]).toEqual(event);
    expect(c.contexts[0]).toMatchObject({ subject: 'fletest.evt.js.basic.acct-2', msgId: 'order-1', tenant: 'acct-2', deliveries: 1 });
    await until('the ack', async () => (await jsm.consumers.info(STREAM, 'd-basic')).num_ack_pending === 0);
    expect((await jsm.consumers.info(STREAM, 'd-basic')).num_pending).toBe(0);
    expect(sub.stats).toMatchObject({ handled: 1, duplicates: 0, deadLettered: 0 });
    await stop(sub);
  });

  it('redeliveries after lost acks go to no handler again, on any instance', async () => {
    await addDurable(STREAM, 'd-noack', 'fletest.evt.js.noack.>', 1000);
    const noackNc = await nats.connect('events-noack');
    let calls = 0;
    const instances = await Promise.all(
      [0, 1].map(async () => started(await consumeEvents({ nc: noackNc, schema, keys, type: Parcel, stream: STREAM, durable: 'd-noack', seen, concurrency: 1, handler: () => void calls++ }))),
    );
    await publisher.publishToStream(Parcel, 'fletest.evt.js.noack.acct-1', parcel('acct-1', 'na'));
    const duplicates = (): number => instances.reduce((n, s) => n + s.stats.duplicates, 0);
    await until('two redeliveries', () => duplicates() >= 2, 30_000);
    expect(calls).toBe(1);
    expect(instances.reduce((n, s) => n + s.stats.handled, 0)).toBe(1);
    expect((await jsm.consumers.info(STREAM, 'd-noack')).num_redelivered).toBeGreaterThanOrEqual(1);
    for (const s of instances) await stop(s);
    await noackNc.close();
  });

  it('a handler that fails is retried later (NAK), and the retry is not taken for a replay', async () => {
    await addDurable(STREAM, 'd-retry', 'fletest.evt.js.retry.>');
    let calls = 0;
    const got: ParcelShipped[] = [];
    const sub = started(
      await consumeEvents({
        nc: subNc, schema, keys, type: Parcel, stream: STREAM, durable: 'd-retry', seen, nakBaseMs: 100,
        handler: (e) => {
          if (++calls === 1) throw new Error('downstream busy');
          got.push(e);
        },
      }),
    );
    const event = parcel('acct-1', 'retry');
    await publisher.publishToStream(Parcel, 'fletest.evt.js.retry.acct-1', event);
    await until('the retry', () => got.length === 1);
    await until('its completion', () => sub.stats.handled === 1); // counted once its id is marked done
    expect(got[0]).toEqual(event);
    expect(calls).toBe(2);
    expect(sub.stats).toMatchObject({ handled: 1, retried: 1, deadLettered: 0 });
    await stop(sub);
  });

  it('an undecodable payload and a copy sent after the duplicate window are dead-lettered; consumption continues', async () => {
    await addDurable(SHORT, 'd-short', 'fletest.evt.short.>');
    const c = collector();
    const sub = started(await consumeEvents({ nc: subNc, schema, keys, type: Parcel, stream: SHORT, durable: 'd-short', seen, handler: c.handler }));
    const first = parcel('acct-2', 's1');
    const stored = await publisher.publishToStream(Parcel, 'fletest.evt.short.acct-2', first);
    await until('the first event', () => c.events.length === 1);
    const raw = await jsm.streams.getMessage(SHORT, { seq: stored.seq });
    const setupJs = setup.jetstream();
    // within the window JetStream itself drops the copy
    expect((await setupJs.publish(raw.subject, raw.data, { headers: raw.header })).duplicate).toBe(true);
    await new Promise((r) => setTimeout(r, 1500));
    // after it, the stream stores the copy, and the consumer refuses it
    expect((await setupJs.publish(raw.subject, raw.data, { headers: raw.header })).duplicate).toBe(false);
    await setupJs.publish('fletest.evt.short.acct-2', Uint8Array.of(0x0a, 0xff, 0xff), { headers: copyHeaders(raw.header, { [EVENT_HEADERS.msgId]: 'garbage-1' }) });
    const second = parcel('acct-2', 's2');
    await publisher.publishToStream(Parcel, 'fletest.evt.short.acct-2', second);
    await until('the second event', () => c.events.length === 2);
    await until('2 dead letters', () => deadLettersFrom('fletest.evt.short.').length === 2);
    expect(c.events).toEqual([first, second]);
    expect(deadLettersFrom('fletest.evt.short.').map((d) => d.headers!.get(FLE_HEADERS.dlqReason)).sort()).toEqual(['bad_protobuf', 'replay_nonce']);
    await until('acks', async () => (await jsm.consumers.info(SHORT, 'd-short')).num_ack_pending === 0);
    expect(sub.stats).toMatchObject({ handled: 2, deadLettered: 2 });
    await stop(sub);
  });
});

describe('an identity without keys', () => {
  it('sees only ciphertext: on the subjects, in the mirror and in the dead letters, while subscribers with keys open the same events (from the mirror too)', async () => {
    const tag = randomBytes(6).toString('hex');
    const secrets = (t: string): string[] => {
      const e = parcel('x', t);
      return [e.recipientName!, new TextDecoder().decode(e.signature), e.destination!.line!, ...e.instructions!, ...Object.values(e.customs!), e.stops!['hub']!.line!];
    };
    const monitor = await nats.connect('events-monitor');
    const seenByMonitor: Uint8Array[] = [];
    const keep = (data: Uint8Array, h: MsgHdrs | undefined): void => {
      seenByMonitor.push(data);
      if (h) for (const [k, vs] of h) seenByMonitor.push(new TextEncoder().encode(`${k}: ${vs.join(',')}`));
    };
    let coreSeen = 0;
    monitor.subscribe('fletest.evt.>', { callback: (_e, m) => void (coreSeen++, keep(m.data, m.headers)) });
    await monitor.flush();

    await addDurable(STREAM, 'd-canary', 'fletest.evt.js.canary.>');
    await addDurable(MIRROR, 'd-mirror', 'fletest.evt.js.canary.>');
    const core = collector();
    const fromStream = collector();
    const fromMirror = collector();
    started(subscribeEvents({ nc: subNc, schema, keys, type: Parcel, subject: 'fletest.evt.core.canary.>', seen, handler: core.handler }));
    started(await consumeEvents({ nc: subNc, schema, keys, type: Parcel, stream: STREAM, durable: 'd-canary', seen, handler: fromStream.handler }));
    started(await consumeEvents({ nc: subNc, schema, keys, type: Parcel, stream: MIRROR, durable: 'd-mirror', seen, handler: fromMirror.handler }));
    await subNc.flush();

    const coreEvent = parcel('acct-1', `core-${tag}`);
    const jsEvent = parcel('acct-2', `js-${tag}`);
    // capture the core event as published, to move it: it then fails to open and is dead-lettered
    const captured: Array<{ data: Uint8Array; headers: MsgHdrs | undefined }> = [];
    setup.subscribe('fletest.evt.core.canary.acct-1', { max: 1, callback: (_e, m) => void captured.push({ data: m.data, headers: m.headers }) });
    await setup.flush();
    await publisher.publish(Parcel, 'fletest.evt.core.canary.acct-1', coreEvent);
    await publisher.publishToStream(Parcel, 'fletest.evt.js.canary.acct-2', jsEvent);
    await until('the core event', () => core.events.length === 1 && captured.length === 1);
    setup.publish('fletest.evt.core.canary.moved', captured[0]!.data, { headers: captured[0]!.headers });
    await until('events opened from the stream and the mirror', () => fromStream.events.length === 1 && fromMirror.events.length === 1);
    await until('the moved copy dead-lettered', () => deadLettersFrom('fletest.evt.core.canary.moved').length === 1);
    expect(core.events[0]).toEqual(coreEvent);
    expect(fromStream.events[0]).toEqual(jsEvent);
    expect(fromMirror.events[0]).toEqual(jsEvent);

    // everything the monitor may read from JetStream: the mirror and the dead letters
    const monitorJs = monitor.jetstream();
    let storedSeen = 0;
    for (const stream of [MIRROR, DLQ]) {
      const consumer = await monitorJs.consumers.get(stream);
      const total = (await (await monitorJs.streams.get(stream)).info()).state.messages;
      const batch = await consumer.fetch({ max_messages: total, expires: 2000 });
      for await (const m of batch) {
        storedSeen++;
        keep(m.data, m.headers);
        if (m.info.pending === 0) break;
      }
    }
    expect(coreSeen).toBeGreaterThanOrEqual(2);
    expect(storedSeen).toBeGreaterThanOrEqual(2);

    const haystack = Buffer.concat(seenByMonitor.map((b) => Buffer.from(b)));
    const forms = (s: string): string[] => {
      const b = Buffer.from(s);
      return [s, b.toString('base64'), b.toString('base64url'), b.toString('hex')];
    };
    const leaks = [...secrets(`core-${tag}`), ...secrets(`js-${tag}`)].flatMap(forms).filter((needle) => haystack.includes(needle));
    expect(leaks).toEqual([]);
    // the scan does see the bytes: the clear field is there
    expect(haystack.includes(`carrier-core-${tag}`)).toBe(true);
    expect(haystack.includes(`carrier-js-${tag}`)).toBe(true);
    await monitor.close();
  });
});
