// Real Redis on 127.0.0.1:6379 (provided by the machine); keys use a random prefix.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisNonceStore, ReplayGuard, newReplayStamp } from '../src/mod.js';

describe('RedisNonceStore (real redis)', () => {
  let redis: Redis;
  const prefix = `fle_test_${randomBytes(6).toString('hex')}:`;
  beforeAll(async () => {
    redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  it('claims atomically across concurrent instances, resumes same origin (also after done), refuses other origins', async () => {
    const stores = [new RedisNonceStore(redis, { prefix }), new RedisNonceStore(redis, { prefix })];
    const key = `t1.${newReplayStamp().nonce}`;
    const results = await Promise.allSettled(stores.map((s, i) => s.claim(key, `core:${i}`, 10_000)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected' && (r.reason as { code: string }).code === 'REPLAY_NONCE')).toHaveLength(1);

    const jsKey = `t1.${newReplayStamp().nonce}`;
    await expect(stores[0]!.claim(jsKey, 'js:S:1', 10_000)).resolves.toBe('claimed');
    await expect(stores[1]!.claim(jsKey, 'js:S:1', 10_000)).resolves.toBe('resumed');
    await stores[1]!.complete(jsKey, 'js:S:1', 10_000);
    await expect(stores[0]!.claim(jsKey, 'js:S:1', 10_000)).resolves.toBe('resumed');
    await expect(stores[0]!.claim(jsKey, 'js:S:2', 10_000)).rejects.toMatchObject({ code: 'REPLAY_NONCE' });
    const ttl = await redis.pttl(prefix + jsKey);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(10_000);
  });

  it('release lets a retry claim; TTL expiry forgets', async () => {
    const store = new RedisNonceStore(redis, { prefix });
    const guard = new ReplayGuard({ store, windowMs: 100 });
    const stamp = newReplayStamp();
    const c = await guard.admit({ tenant: 't1', stamp, origin: 'core:a' });
    await c.release();
    await (await guard.admit({ tenant: 't1', stamp, origin: 'core:b' })).complete();
    await new Promise((r) => setTimeout(r, 260));
    await expect(store.claim(ReplayGuard.keyOf('t1', stamp.nonce), 'core:c', 200)).resolves.toBe('claimed');
  });
});
