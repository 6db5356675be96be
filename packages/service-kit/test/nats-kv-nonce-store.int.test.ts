// NatsKvNonceStore against a real nats-server (JetStream) from @fle/testkit,
// claiming through nats.js's KV and through a reply inbox (what the boundary
// uses): the same outcomes either way.
import { startNats, type NatsHarness } from '@fle/testkit';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsKvNonceStore, ReplayGuard, ReplyInbox, newReplayStamp, type NatsKvNonceStoreOptions } from '../src/mod.js';

describe.each([
  ['through nats.js KV', false],
  ['through a reply inbox', true],
])('NatsKvNonceStore (real NATS KV), claims %s', (_how, viaInbox) => {
  let nats: NatsHarness;
  let a: NatsConnection;
  let b: NatsConnection;
  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    a = await nats.connect();
    b = await nats.connect();
  });
  afterAll(async () => {
    await nats?.stop();
  });
  /** Acknowledgements awaited through a reply inbox (none when claims go through nats.js's KV). */
  let awaited = 0;
  class CountingInbox extends ReplyInbox {
    override expect(timeoutMs: number, message: string) {
      awaited++;
      return super.expect(timeoutMs, message);
    }
  }
  const open = (nc: NatsConnection, opts: NatsKvNonceStoreOptions) => NatsKvNonceStore.open(nc.jetstream(), viaInbox ? { ...opts, replies: new CountingInbox(nc) } : opts);

  it('creates the bucket with TTL = 2 × window and claims atomically across instances', async () => {
    const [s1, s2] = await Promise.all([open(a, { ttlMs: 4000 }), open(b, { ttlMs: 4000 })]);
    const status = await (await a.jetstream().views.kv('fle_nonces')).status();
    expect(status.ttl).toBe(4000);
    for (let i = 0; i < 20; i++) {
      const key = `t1.${newReplayStamp().nonce}`;
      const results = await Promise.allSettled([s1.claim(key, 'core:a', 4000), s2.claim(key, 'core:b', 4000)]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(rejected.reason).toMatchObject({ code: 'REPLAY_NONCE' });
    }
    expect(awaited).toBe(viaInbox ? 40 : 0);
  });

  it('resumes the same JetStream origin (also after done), refuses any other origin; release frees an in-progress claim', async () => {
    const store = await open(a, { ttlMs: 4000 });
    const guard = new ReplayGuard({ store, windowMs: 2000 });
    const stamp = newReplayStamp();
    const c1 = await guard.admit({ tenant: 't1', stamp, origin: 'js:FLE_REQUESTS:9' });
    expect(c1.outcome).toBe('claimed');
    await expect(guard.admit({ tenant: 't1', stamp, origin: 'js:FLE_REQUESTS:10' })).rejects.toMatchObject({ code: 'REPLAY_NONCE' });
    const c2 = await guard.admit({ tenant: 't1', stamp, origin: 'js:FLE_REQUESTS:9' });
    expect(c2.outcome).toBe('resumed');
    await c2.complete();
    await expect(guard.admit({ tenant: 't1', stamp, origin: 'js:FLE_REQUESTS:9' })).resolves.toMatchObject({ outcome: 'resumed' });
    await expect(guard.admit({ tenant: 't1', stamp, origin: 'js:FLE_REQUESTS:11' })).rejects.toMatchObject({ code: 'REPLAY_NONCE' });

    const other = newReplayStamp();
    await (await guard.admit({ tenant: 't1', stamp: other, origin: 'core:x' })).release();
    await expect(guard.admit({ tenant: 't1', stamp: other, origin: 'core:y' })).resolves.toMatchObject({ outcome: 'claimed' });
  });

  it('reports an unreachable store as UPSTREAM_UNAVAILABLE (transient)', async () => {
    const c = await nats.connect();
    const store = await open(c, { ttlMs: 4000 });
    await c.close();
    await expect(store.claim(`t1.${newReplayStamp().nonce}`, 'core:z', 4000)).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
  });
});
