// A 3-node JetStream cluster with routes under mTLS: an R3 stream keeps
// accepting and delivering every message when its leader node is killed.
import { AckPolicy, StringCodec, type JetStreamClient, type PubAck } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNats, type NatsHarness } from '../src/mod.js';

const sc = StringCodec();
let nats: NatsHarness;

beforeAll(async () => {
  nats = await startNats({ cluster: 3, tls: true });
});
afterAll(async () => {
  await nats?.stop();
});

/** Publishes with bounded retries: while a new stream leader is elected a publish may time out. */
async function publishAcked(js: JetStreamClient, subject: string, data: string, id: string): Promise<PubAck> {
  let last: unknown;
  for (let attempt = 0; attempt < 40; attempt++) {
    try {
      // msgID: a retried publish that did land is deduplicated, never stored twice.
      return await js.publish(subject, sc.encode(data), { msgID: id, timeout: 1000 });
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw last;
}

describe('startNats({ cluster: 3 })', () => {
  it('starts three routed nodes', () => {
    expect(nats.nodeCount).toBe(3);
    expect(new Set(nats.urls).size).toBe(3);
  });

  it('keeps an R3 stream writable and complete when the stream leader is killed', async () => {
    const processor = await nats.connect('processor');
    const jsm = await processor.jetstreamManager();
    // A byte limit is required of every stream by the fle users' account (nats-setup storage-budget.ts).
    const info = await jsm.streams.add({ name: 'FLE_REQUESTS', subjects: ['fle.js.>'], num_replicas: 3, max_bytes: 64 * 1024 * 1024 });
    expect(info.config.num_replicas).toBe(3);
    // The processor's durable exists before the crash, as in production (R3 like its stream).
    await jsm.consumers.add('FLE_REQUESTS', { durable_name: 'processor', ack_policy: AckPolicy.Explicit });
    const gateway = await nats.connect('gateway');
    const js = gateway.jetstream();
    const total = 20;
    for (let i = 0; i < total / 2; i++) await publishAcked(js, 'fle.js.t1.submit', `req-${i}`, `id-${i}`);

    const leader = (await jsm.streams.info('FLE_REQUESTS')).cluster?.leader;
    const victim = nats.urls.findIndex((_, i) => `fle-nats-${i}` === leader);
    expect(victim).toBeGreaterThanOrEqual(0);
    await nats.killNode(victim);

    for (let i = total / 2; i < total; i++) {
      const ack = await publishAcked(js, 'fle.js.t1.submit', `req-${i}`, `id-${i}`);
      expect(ack.stream).toBe('FLE_REQUESTS');
    }

    // Bounded: while consumer leadership moves, a pull may come back empty or fail; try again.
    const seen = new Set<string>();
    for (let guard = 0; guard < total * 4 && seen.size < total; guard++) {
      try {
        const consumer = await processor.jetstream().consumers.get('FLE_REQUESTS', 'processor');
        const m = await consumer.next({ expires: 1000 });
        if (!m) continue;
        seen.add(sc.decode(m.data));
        await m.ackAck();
      } catch {
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    expect([...seen].sort()).toEqual(Array.from({ length: total }, (_, i) => `req-${i}`).sort());

    expect(nats.nodeViews()[victim]).toMatchObject({ name: `fle-nats-${victim}`, running: false });
    await nats.restartNode(victim);
    const after = await jsm.streams.info('FLE_REQUESTS');
    expect(after.state.messages).toBe(total);
    // The killed node's log survives its death and restart (a failed drill shows it): two starts in one file.
    expect(nats.nodeViews().every((n) => n.running && n.monitorUrl?.startsWith('http://127.0.0.1:'))).toBe(true);
    const log = (await nats.serverLog(victim)) ?? '';
    expect(log.match(/Starting nats-server/g)).toHaveLength(2);
  });
});
