// A single server from the harness: plain core NATS, JetStream, restart with
// the same port and store, and the url provider pointed at it.
import { connect, StringCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startNats, type NatsHarness } from '../src/mod.js';

const sc = StringCodec();
let nats: NatsHarness;

async function waitForStatus(nc: NatsConnection, type: string): Promise<void> {
  for await (const s of nc.status()) if (s.type === type) return;
}

beforeAll(async () => {
  nats = await startNats();
});
afterAll(async () => {
  await nats?.stop();
});

describe('startNats() single server', () => {
  it('runs core request-reply', async () => {
    const nc = await nats.connect();
    nc.subscribe('svc.echo', { callback: (_e, m) => m.respond(m.data) });
    const reply = await nc.request('svc.echo', sc.encode('ping'), { timeout: 2000 });
    expect(sc.decode(reply.data)).toBe('ping');
  });

  it('keeps JetStream data and its URL across restart(), and clients reconnect', async () => {
    const nc = await nats.connect();
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'KEEP', subjects: ['keep.>'] });
    const js = nc.jetstream();
    for (let i = 0; i < 5; i++) await js.publish('keep.x', sc.encode(`m${i}`));
    const urls = nats.urls;
    const reconnected = waitForStatus(nc, 'reconnect');

    await nats.restart();
    expect(nats.urls).toEqual(urls);
    // The same connection comes back by itself (fast reconnect options from the harness).
    await reconnected;
    expect((await jsm.streams.info('KEEP')).state.messages).toBe(5);
    const ack = await js.publish('keep.x', sc.encode('after'));
    expect(ack.seq).toBe(6);
  });

  it('serves FLE_NATS=url style use: an external URL the harness does not control', async () => {
    vi.stubEnv('NATS_URL', nats.urls.join(','));
    try {
      const external = await startNats({ provider: 'url' });
      const nc = await external.connect();
      await nc.flush();
      expect(external.provider).toBe('url');
      await expect(external.killNode(0)).rejects.toMatchObject({ code: 'HARNESS_UNSUPPORTED' });
      await external.stop();
      expect(nc.isClosed()).toBe(true);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('runs without JetStream when asked', async () => {
    const bare = await startNats({ jetstream: false });
    try {
      const nc = await connect({ servers: bare.urls, reconnect: false });
      const jsm = await nc.jetstreamManager().catch((e: unknown) => e);
      expect(jsm).toBeInstanceOf(Error);
      await nc.close();
    } finally {
      await bare.stop();
    }
  });
});
