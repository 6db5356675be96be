// The JetStream transport's failure policy against a real nats-server, with a
// stub pipeline: transient failures are NAKed with growing delays and, after
// maxAttempts deliveries, dead-lettered (never dropped); permanent ones are
// dead-lettered on the first delivery; successes are acked and answered.
import { Writable } from 'node:stream';
import { createLogger, createServiceMetrics, newReplayStamp, stampToHeaders, RoutingError, type NonceClaim } from '@fle/service-kit';
import { startNats, type NatsHarness } from '@fle/testkit';
import { headers as natsHeaders, type JsMsg, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Limiter } from '../src/concurrency.js';
import { DeadLetterPublisher } from '../src/dead-letter.js';
import type { InboundRequest, Pipeline } from '../src/pipeline.js';
import { ensureStreams } from '../src/streams.js';
import { JetStreamTransport, nakDelay } from '../src/transports/jetstream.js';

const silent = createLogger({ name: 'test', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const claim: NonceClaim = { outcome: 'claimed', complete: async () => undefined, release: async () => undefined };

describe('nakDelay', () => {
  it('doubles from the base and caps', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => nakDelay(n, 100, 1000))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(nakDelay(500, 100, 30_000)).toBe(30_000);
  });
});

describe('JetStreamTransport (real NATS)', () => {
  let nats: NatsHarness;
  let nc: NatsConnection;
  let transport: JetStreamTransport;
  const attempts = new Map<string, number[]>();

  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    nc = await nats.connect();
    await ensureStreams(await nc.jetstreamManager(), { durable: 'unit', ackWaitMs: 5000 });
    const metrics = createServiceMetrics({ service: 'test', processMetrics: false });
    const pipeline = {
      async handle(req: InboundRequest) {
        const kind = new TextDecoder().decode(req.bytes);
        attempts.set(req.stamp.nonce, [...(attempts.get(req.stamp.nonce) ?? []), Date.now()]);
        if (kind === 'transient') throw Object.assign(new Error('keystore down'), { code: 'KEYSTORE_UNAVAILABLE' });
        if (kind === 'permanent') throw new RoutingError('BAD_PROTOBUF', 'request is not valid protobuf');
        return { bytes: Buffer.from('ok'), tenant: 't1', route: 'authorize', claim };
      },
    } as unknown as Pipeline;
    transport = new JetStreamTransport({
      nc,
      js: nc.jetstream(),
      durable: 'unit',
      pipeline,
      limiter: new Limiter(4),
      deadLetters: new DeadLetterPublisher(nc.jetstream(), silent, metrics),
      maxAttempts: 3,
      nakBaseMs: 150,
      nakMaxMs: 1000,
      logger: silent,
      metrics,
    });
    await transport.start();
  });
  afterAll(async () => {
    await transport?.stop();
    await nats?.stop();
  });

  async function send(kind: string) {
    const stamp = newReplayStamp();
    const inbox = nc.subscribe(`_INBOX_gateway.test.${stamp.nonce}`, { max: 1, timeout: 10_000 });
    const h = natsHeaders();
    stampToHeaders(stamp, h);
    h.set('Fle-Reply-To', `_INBOX_gateway.test.${stamp.nonce}`);
    await nc.jetstream().publish('fle.js.t1.authorize', new TextEncoder().encode(kind), { headers: h });
    return { stamp, inbox };
  }

  async function deadLetter(nonce: string): Promise<JsMsg | undefined> {
    const c = await nc.jetstream().consumers.get('FLE_DLQ');
    for await (const m of await c.fetch({ max_messages: 100, expires: 1000 })) if (m.headers?.get('Fle-Nonce') === nonce) return m;
    return undefined;
  }

  it('acks and answers a success', async () => {
    const { inbox } = await send('ok');
    for await (const m of inbox) expect(new TextDecoder().decode(m.data)).toBe('ok');
  });

  it('dead-letters a permanent failure at once, answering with the typed error', async () => {
    const { stamp, inbox } = await send('permanent');
    for await (const m of inbox) expect(m.headers?.get('Fle-Error-Code')).toBe('BAD_PROTOBUF');
    expect(attempts.get(stamp.nonce)).toHaveLength(1);
    const dl = await deadLetter(stamp.nonce);
    expect(dl?.headers?.get('Fle-Dlq-Reason')).toBe('bad_protobuf');
  });

  it('NAKs a transient failure with growing delays, then dead-letters it after maxAttempts', async () => {
    const { stamp, inbox } = await send('transient');
    for await (const m of inbox) expect(m.headers?.get('Fle-Error-Code')).toBe('KEYSTORE_UNAVAILABLE');
    const times = attempts.get(stamp.nonce)!;
    expect(times).toHaveLength(3);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(140);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(290);
    const dl = await deadLetter(stamp.nonce);
    expect(dl?.headers?.get('Fle-Dlq-Reason')).toBe('keystore_unavailable');
    expect(new TextDecoder().decode(dl!.data)).toBe('transient');
    const info = await (await nc.jetstreamManager()).streams.info('FLE_REQUESTS');
    expect(info.state.messages).toBe(0);
  });
});
