// The consumer watchdog against a real nats-server (issue 16): the durable is
// deleted under a running JetStream transport while requests keep arriving;
// the watchdog recreates it from the stream and re-subscribes, and every
// request stored meanwhile is handled once (nothing skipped), without a restart.
import { Writable } from 'node:stream';
import { createLogger, createServiceMetrics, newReplayStamp, stampToHeaders, type NonceClaim } from '@fle/service-kit';
import { startNats, type NatsHarness } from '@fle/testkit';
import { headers as natsHeaders, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Limiter } from '../src/concurrency.js';
import { DeadLetterPublisher } from '../src/dead-letter.js';
import type { InboundRequest, Pipeline } from '../src/pipeline.js';
import { ensureStreams } from '../src/streams.js';
import { JetStreamTransport } from '../src/transports/jetstream.js';

const claim: NonceClaim = { outcome: 'claimed', complete: async () => undefined, release: async () => undefined };

describe('consumer watchdog (real NATS)', () => {
  let nats: NatsHarness;
  let nc: NatsConnection;
  let transport: JetStreamTransport;
  const metrics = createServiceMetrics({ service: 'test', processMetrics: false });
  const handled: string[] = [];
  const lines: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    nc = await nats.connect();
    await ensureStreams(await nc.jetstreamManager(), { durable: 'wd', ackWaitMs: 5000 });
    const logger = createLogger({ name: 'test', level: 'info', destination: new Writable({ write: (c, _e, cb) => (lines.push(JSON.parse(String(c)) as Record<string, unknown>), cb()) }) });
    const pipeline = {
      async handle(req: InboundRequest) {
        handled.push(req.stamp.nonce);
        return { bytes: Buffer.from('ok'), tenant: 't1', route: 'authorize', claim };
      },
    } as unknown as Pipeline;
    transport = new JetStreamTransport({
      nc,
      js: nc.jetstream(),
      durable: 'wd',
      pipeline,
      limiter: new Limiter(4),
      deadLetters: new DeadLetterPublisher(nc.jetstream(), logger, metrics),
      maxAttempts: 3,
      nakBaseMs: 100,
      nakMaxMs: 500,
      logger,
      metrics,
      watchdog: { checkEveryMs: 250, missingAfterMs: 500, escalateAfterMs: 1000, requestTimeoutMs: 2000 },
    });
    await transport.start();
  });
  afterAll(async () => {
    await transport?.stop();
    await nats?.stop();
  });

  async function publish(): Promise<string> {
    const stamp = newReplayStamp();
    const h = natsHeaders();
    stampToHeaders(stamp, h);
    await nc.jetstream().publish('fle.js.t1.authorize', new TextEncoder().encode('x'), { headers: h });
    return stamp.nonce;
  }

  async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
    const end = Date.now() + ms;
    while (!(await ok())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('recreates a deleted durable from the stream and handles every request stored meanwhile, once', async () => {
    const jsm = await nc.jetstreamManager();
    const before = await publish();
    await until('the first request handled', () => handled.includes(before));
    const createdBefore = (await jsm.consumers.info('FLE_REQUESTS', 'wd')).created;

    await jsm.consumers.delete('FLE_REQUESTS', 'wd');
    const whileGone: string[] = [];
    for (let i = 0; i < 5; i++) whileGone.push(await publish());
    expect((await jsm.streams.info('FLE_REQUESTS')).state.messages).toBeGreaterThanOrEqual(5); // stored, nobody to deliver them

    await until('the requests stored meanwhile handled', () => whileGone.every((n) => handled.includes(n)));
    const after = await publish();
    await until('a new request handled', () => handled.includes(after));

    for (const n of [before, ...whileGone, after]) expect(handled.filter((h) => h === n), n).toHaveLength(1);
    const now = await jsm.consumers.info('FLE_REQUESTS', 'wd');
    expect(now.created).not.toBe(createdBefore);
    expect(now.config.ack_wait).toBe(5000 * 1e6); // the configuration it had
    await until('the work queue empty', async () => (await jsm.streams.info('FLE_REQUESTS')).state.messages === 0);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/fle_jetstream_consumer_troubles_total\{trouble="missing",service="test"\} 1/);
    expect(text).toMatch(/fle_jetstream_consumer_recoveries_total\{step="recreate",result="ok",service="test"\} 1/);
    expect(lines.map((l) => l['msg'])).toContain('consumer watchdog: recreated the durable from the stream and re-subscribed');
    await until('the episode closed', () => lines.some((l) => l['msg'] === 'consumer watchdog: consumer delivering again'));
    expect(lines.find((l) => l['msg'] === 'consumer watchdog: consumer delivering again')).toMatchObject({ steps: 1 });
  });
});
