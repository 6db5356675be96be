// events: sealed NATS events (@fle/events) beside plain nats.js with the
// unmarked twin type, same values, same connection, in the same run.
//
//   publish, core NATS    EventPublisher.publish        vs nc.publish(encode(twin))
//   publish, JetStream    EventPublisher.publishToStream vs js.publish(encode(twin), { msgID })   (64 in flight)
//   consume, core NATS    subscribeEvents               vs nc.subscribe + decode(twin)
//   consume, JetStream    consumeEvents (durable pull)  vs consumer.consume + decode(twin) + ack
//
// Consuming sealed events also claims each event id in the group's store
// (once per id, seen-ids.ts): the consume rows show it with the shared NATS KV
// store (the product default, two KV writes per event) and with an in-memory
// store (one instance), so the cost of opening and of the shared store are
// told apart.
//
// nats-server is real (@fle/testkit, mTLS, JetStream, loopback); keys come from
// an in-memory KeyProvider (a keystore-client cache hit costs the same). The
// event is fletest.events.v1.ParcelShipped with 10 sensitive values (nested,
// repeated, map, bytes; about 1 KiB of sensitive data); its twin
// ParcelShippedPlain has the same fields unmarked. Each round runs one batch of
// every case, variants in rotating order, so both sides of a ratio share the
// box's load; a ratio is the median of the per-round ratios. Throughput is
// wall clock (messages ÷ seconds) of the batch. Env FLE_EVENTS_BENCH_SCALE
// (default 1) scales the batch sizes.
import { randomBytes } from 'node:crypto';
import { AckPolicy, DeliverPolicy, nanos, type JetStreamClient, type JetStreamManager, type MsgHdrs, type NatsConnection } from 'nats';
import { MemoryNonceStore, type NonceStore } from '@fle/service-kit';
import { startNats, type NatsHarness } from '@fle/testkit';
import { consumeEvents, encodeEvent, EventPublisher, openEventIdStore, subscribeEvents } from '@fle/events';
import { median, type BenchSuite, type Row } from './lib.js';
import { loadAverage } from './support/proc-stats.js';
// The neutral fixture schema of @fle/events' own tests (fletest.events.v1).
import { Parcel, ParcelPlainCodec, parcel, schema, testKeys, type ParcelShipped } from '../packages/events/test/fixtures/schema.js';

const SCALE = Number(process.env.FLE_EVENTS_BENCH_SCALE ?? 1);
const ROUNDS = 9;
const N_CORE_PUBLISH = Math.max(100, Math.round(4000 * SCALE));
const N_JS_PUBLISH = Math.max(100, Math.round(1500 * SCALE));
const N_CORE_CONSUME = Math.max(100, Math.round(2000 * SCALE));
const N_JS_CONSUME = Math.max(100, Math.round(1500 * SCALE));
const JS_WINDOW = 64;
const CONSUME_CONCURRENCY = 16;
const STREAM = 'BENCH_EVENTS';

interface Case {
  readonly group: string;
  readonly name: string;
  readonly messages: number;
  /** Untimed preparation of one batch. */
  readonly prepare?: () => Promise<void>;
  /** The timed batch. */
  readonly run: () => Promise<void>;
}

interface Prepared {
  subject: string;
  data: Uint8Array;
  headers: MsgHdrs | undefined;
}

function until(what: string, cond: () => boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`bench: timed out waiting for ${what}`));
      setImmediate(tick);
    };
    tick();
  });
}

/** The same event values as sealed event and as twin: a ~1 KiB sensitive payload. */
function events(n: number): ParcelShipped[] {
  return Array.from({ length: n }, (_, i) => {
    const e = parcel(i % 2 ? 'acct-1' : 'acct-2', `b${i}`);
    return { ...e, signature: randomBytes(640), recipientName: `${e.recipientName} ${'x'.repeat(120)}` };
  });
}

/** Runs up to `window` promises at a time. */
async function windowed(n: number, window: number, one: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(window, n) }, async () => {
    while (next < n) await one(next++);
  }));
}

const suite: BenchSuite = {
  description: 'sealed NATS events (@fle/events) vs plain nats.js with the unmarked twin type: publish and consume, core NATS and JetStream, interleaved',
  async run() {
    const loadBefore = loadAverage();
    const nats: NatsHarness = await startNats({ tls: true, users: 'none' });
    const rows: Row[] = [];
    const notes: string[] = [];
    const detail: Record<string, unknown> = {};
    try {
      const pubNc: NatsConnection = await nats.connect('processor');
      const subNc: NatsConnection = await nats.connect('processor');
      const js: JetStreamClient = pubNc.jetstream();
      const jsm: JetStreamManager = await pubNc.jetstreamManager();
      await jsm.streams.add({ name: STREAM, subjects: ['bench.evt.js.>'], duplicate_window: nanos(120_000), max_msgs: 200_000, max_bytes: 256 * 1024 * 1024 });
      await jsm.streams.add({ name: 'FLE_DLQ', subjects: ['fle.dlq.>'], max_bytes: 32 * 1024 * 1024 });
      const keys = testKeys();
      const publisher = new EventPublisher({ nc: pubNc, schema, keys });
      const kvStore: NonceStore = await openEventIdStore(subNc.jetstream(), { windowMs: 120_000 });
      const pool = events(256);
      const twinBytes = pool.map((e) => encodeEvent(ParcelPlainCodec, e));
      const sealedProbe = await publisher.publish(Parcel, 'bench.evt.probe', pool[0]!); // warms the key cache
      void sealedProbe;

      /** Seals `n` events on a connection that only records them: published raw later, so the timed part is the subscriber's. */
      const recorded: Prepared[] = [];
      const recorder = new EventPublisher({
        nc: { publish: (subject: string, data: Uint8Array, o: { headers: MsgHdrs }) => void recorded.push({ subject, data, headers: o.headers }) } as unknown as NatsConnection,
        schema,
        keys,
      });
      const sealBatch = async (subject: string, n: number): Promise<Prepared[]> => {
        recorded.length = 0;
        for (let i = 0; i < n; i++) await recorder.publish(Parcel, subject, pool[i % pool.length]!);
        return recorded.splice(0);
      };

      // --- consumers that live for the whole run -------------------------------------------
      let coreSealedMemory = 0;
      let coreSealedKv = 0;
      let corePlain = 0;
      const coreSubs = [
        subscribeEvents({ nc: subNc, schema, keys, type: Parcel, subject: 'bench.evt.core.sealed-mem', seen: new MemoryNonceStore(), concurrency: CONSUME_CONCURRENCY, handler: () => void coreSealedMemory++ }),
        subscribeEvents({ nc: subNc, schema, keys, type: Parcel, subject: 'bench.evt.core.sealed-kv', seen: kvStore, concurrency: CONSUME_CONCURRENCY, handler: () => void coreSealedKv++ }),
      ];
      const plainSub = subNc.subscribe('bench.evt.core.plain', {
        callback: (_e, m) => {
          ParcelPlainCodec.decode(m.data);
          corePlain++;
        },
      });
      await subNc.flush();

      for (const durable of ['sealed-mem', 'sealed-kv', 'plain']) {
        await jsm.consumers.add(STREAM, { durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ack_wait: nanos(30_000), max_deliver: -1, filter_subject: `bench.evt.js.consume.${durable}` });
      }
      let jsSealedMemory = 0;
      let jsSealedKv = 0;
      let jsPlain = 0;
      const jsSubs = [
        await consumeEvents({ nc: subNc, schema, keys, type: Parcel, stream: STREAM, durable: 'sealed-mem', seen: new MemoryNonceStore(), concurrency: CONSUME_CONCURRENCY, handler: () => void jsSealedMemory++ }),
        await consumeEvents({ nc: subNc, schema, keys, type: Parcel, stream: STREAM, durable: 'sealed-kv', seen: kvStore, concurrency: CONSUME_CONCURRENCY, handler: () => void jsSealedKv++ }),
      ];
      const plainConsumer = await subNc.jetstream().consumers.get(STREAM, 'plain');
      const plainMessages = await plainConsumer.consume({ max_messages: CONSUME_CONCURRENCY, expires: 5000 });
      const plainLoop = (async () => {
        for await (const m of plainMessages) {
          ParcelPlainCodec.decode(m.data);
          jsPlain++;
          m.ack();
        }
      })();

      // --- the cases -----------------------------------------------------------------------
      let prepared: Prepared[] = [];
      let plainBatch: Uint8Array[] = [];
      const publishRaw = (batch: Prepared[]): void => {
        for (const p of batch) pubNc.publish(p.subject, p.data, p.headers ? { headers: p.headers } : undefined);
      };
      /** JetStream consume: the batch is stored first (untimed), then the consumer is let through by counting from now. */
      const storeRaw = async (batch: Prepared[]): Promise<void> => {
        await windowed(batch.length, JS_WINDOW, (i) => js.publish(batch[i]!.subject, batch[i]!.data, { headers: batch[i]!.headers! }));
      };
      const cases: Case[] = [
        {
          group: 'publish, core NATS',
          name: 'sealed',
          messages: N_CORE_PUBLISH,
          run: async () => {
            for (let i = 0; i < N_CORE_PUBLISH; i++) await publisher.publish(Parcel, 'bench.evt.nowhere', pool[i % pool.length]!);
            await pubNc.flush();
          },
        },
        {
          group: 'publish, core NATS',
          name: 'plain nats.js',
          messages: N_CORE_PUBLISH,
          run: async () => {
            for (let i = 0; i < N_CORE_PUBLISH; i++) pubNc.publish('bench.evt.nowhere', encodeEvent(ParcelPlainCodec, pool[i % pool.length]!));
            await pubNc.flush();
          },
        },
        {
          group: 'publish, JetStream',
          name: 'sealed',
          messages: N_JS_PUBLISH,
          run: () => windowed(N_JS_PUBLISH, JS_WINDOW, (i) => publisher.publishToStream(Parcel, 'bench.evt.js.publish.sealed', pool[i % pool.length]!)),
        },
        {
          group: 'publish, JetStream',
          name: 'plain nats.js',
          messages: N_JS_PUBLISH,
          run: () => windowed(N_JS_PUBLISH, JS_WINDOW, (i) => js.publish('bench.evt.js.publish.plain', encodeEvent(ParcelPlainCodec, pool[i % pool.length]!), { msgID: randomBytes(16).toString('base64url') })),
        },
        ...(['mem', 'kv'] as const).map((store): Case => ({
          group: 'consume, core NATS',
          name: store === 'kv' ? 'sealed (KV id store)' : 'sealed (memory id store)',
          messages: N_CORE_CONSUME,
          prepare: async () => void (prepared = await sealBatch(`bench.evt.core.sealed-${store}`, N_CORE_CONSUME)),
          run: async () => {
            const count = (): number => (store === 'kv' ? coreSealedKv : coreSealedMemory);
            const target = count() + N_CORE_CONSUME;
            publishRaw(prepared);
            await until('core sealed consume', () => count() >= target);
          },
        })),
        {
          group: 'consume, core NATS',
          name: 'plain nats.js',
          messages: N_CORE_CONSUME,
          prepare: async () => void (plainBatch = Array.from({ length: N_CORE_CONSUME }, (_, i) => twinBytes[i % twinBytes.length]!)),
          run: async () => {
            const target = corePlain + N_CORE_CONSUME;
            for (const b of plainBatch) pubNc.publish('bench.evt.core.plain', b);
            await until('core plain consume', () => corePlain >= target);
          },
        },
        ...(['mem', 'kv'] as const).map((store): Case => ({
          group: 'consume, JetStream',
          name: store === 'kv' ? 'sealed (KV id store)' : 'sealed (memory id store)',
          messages: N_JS_CONSUME,
          prepare: async () => void (prepared = await sealBatch(`bench.evt.js.consume.sealed-${store}`, N_JS_CONSUME)),
          run: async () => {
            // stored and consumed in the same timed batch: the consumer is always running
            const count = (): number => (store === 'kv' ? jsSealedKv : jsSealedMemory);
            const target = count() + N_JS_CONSUME;
            await storeRaw(prepared);
            await until('JetStream sealed consume', () => count() >= target);
          },
        })),
        {
          group: 'consume, JetStream',
          name: 'plain nats.js',
          messages: N_JS_CONSUME,
          run: async () => {
            const target = jsPlain + N_JS_CONSUME;
            await windowed(N_JS_CONSUME, JS_WINDOW, (i) => js.publish('bench.evt.js.consume.plain', twinBytes[i % twinBytes.length]!, { msgID: randomBytes(16).toString('base64url') }));
            await until('JetStream plain consume', () => jsPlain >= target);
          },
        },
      ];

      // warm-up: one small batch of everything
      for (const c of cases) {
        await c.prepare?.();
        await c.run();
      }
      const samples = new Map<Case, number[]>(cases.map((c) => [c, []]));
      for (let r = 0; r < ROUNDS; r++) {
        for (let j = 0; j < cases.length; j++) {
          const c = cases[(j + r) % cases.length]!;
          await c.prepare?.();
          const t0 = performance.now();
          await c.run();
          samples.get(c)!.push((performance.now() - t0) * 1e6 / c.messages);
        }
      }

      const groups = [...new Set(cases.map((c) => c.group))];
      for (const g of groups) {
        const inGroup = cases.filter((c) => c.group === g);
        const plain = inGroup.find((c) => c.name === 'plain nats.js')!;
        const plainSamples = samples.get(plain)!;
        for (const c of inGroup) {
          const s = samples.get(c)!;
          const ns = median(s);
          const mad = median(s.map((x) => Math.abs(x - ns)));
          // throughput ratio: median over rounds of plain ns ÷ this ns (same round)
          const ratio = median(s.map((x, r) => plainSamples[r]! / x));
          rows.push({
            group: g,
            name: c.name,
            nsPerOp: ns,
            opsPerSec: 1e9 / ns,
            spread: mad / ns,
            ...(c === plain ? {} : { relative: `${ratio.toFixed(2)}x plain` }),
          });
        }
      }
      detail['samplesNsPerMessage'] = Object.fromEntries(cases.map((c) => [`${c.group} / ${c.name}`, samples.get(c)]));

      for (const s of [...coreSubs, ...jsSubs]) await s.stop();
      plainSub.unsubscribe();
      plainMessages.stop();
      await plainLoop;
      const deadLettered = [...coreSubs, ...jsSubs].reduce((n, s) => n + s.stats.deadLettered, 0);
      if (deadLettered > 0) notes.push(`WARNING: ${deadLettered} event(s) dead-lettered during the run`);
      detail['stats'] = [...coreSubs, ...jsSubs].map((s) => ({ scope: s.scope, ...s.stats }));
    } finally {
      await nats.stop();
    }
    const loadAfter = loadAverage();
    notes.push(
      `load average (1 min) ${loadBefore.load1.toFixed(2)} before, ${loadAfter.load1.toFixed(2)} after; nats-server ${nats.provider}, mTLS, JetStream file storage`,
      `${ROUNDS} interleaved rounds; per round ${N_CORE_PUBLISH} core publishes, ${N_JS_PUBLISH} JetStream publishes (${JS_WINDOW} in flight), ${N_CORE_CONSUME} core and ${N_JS_CONSUME} JetStream messages consumed per case (handlers ${CONSUME_CONCURRENCY} at a time)`,
      'time/op = wall time of a batch ÷ messages (median over rounds); "x plain" = median over rounds of plain time ÷ sealed time (1.00 = as fast as plain nats.js)',
      'core consume: the batch is published raw (sealed beforehand, untimed) and timed until the handler saw all of it; JetStream consume: storing the batch and its consumption are timed together, for every variant',
    );
    return { rows, targets: [], notes, ...({ detail } as object) };
  },
};

export default suite;
