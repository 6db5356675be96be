import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import {
  MemoryNonceStore,
  ReplayGuard,
  newReplayStamp,
  parseReplayStamp,
  replayContext,
  requiredDuplicateWindowMs,
  stampFromHeaders,
  stampFromMetadata,
  stampToHeaders,
  stampToMetadata,
} from '../src/mod.js';

describe('replay stamp', () => {
  it('is a unix-ms timestamp and 16 random bytes in base64url; context req/<ts>/<nonce>', () => {
    const stamp = newReplayStamp({ now: () => 1_700_000_000_123, randomBytes: (n) => new Uint8Array(n).fill(0xfb) });
    expect(stamp).toEqual({ timestampMs: 1_700_000_000_123, nonce: '-_v7-_v7-_v7-_v7-_v7-w' });
    expect(replayContext(stamp)).toBe('req/1700000000123/-_v7-_v7-_v7-_v7-_v7-w');
    const a = newReplayStamp();
    const b = newReplayStamp();
    expect(a.nonce).not.toBe(b.nonce);
  });

  it('round-trips through gRPC metadata and NATS-like headers', () => {
    const stamp = newReplayStamp();
    expect(stampFromMetadata(stampToMetadata(stamp, new Metadata()))).toEqual(stamp);
    const m = new Map<string, string>();
    const h = { get: (k: string) => m.get(k) ?? '', set: (k: string, v: string) => void m.set(k, v) };
    stampToHeaders(stamp, h);
    expect([...m.keys()]).toEqual(['Fle-Timestamp', 'Fle-Nonce']);
    expect(stampFromHeaders(h)).toEqual(stamp);
  });

  it('refuses missing or malformed stamps with MISSING_STAMP', () => {
    for (const [ts, n] of [
      [undefined, 'AAAAAAAAAAAAAAAAAAAAAA'],
      ['123', undefined],
      ['-5', 'AAAAAAAAAAAAAAAAAAAAAA'],
      ['123', 'short'],
      ['123', 'AAAAAAAAAAAAAAAAAAAAA+'],
    ] as const) {
      expect(() => parseReplayStamp(ts, n)).toThrow(expect.objectContaining({ code: 'MISSING_STAMP' }));
    }
    expect(() => stampFromMetadata(new Metadata())).toThrow(expect.objectContaining({ code: 'MISSING_STAMP' }));
  });
});

describe('ReplayGuard', () => {
  const now = 1_700_000_000_000;
  const guard = (store = new MemoryNonceStore(() => now)) => ({ store, g: new ReplayGuard({ store, windowMs: 60_000, now: () => now }) });

  it('refuses a timestamp outside ±window, accepts the edges', async () => {
    const { g } = guard();
    for (const ts of [now - 60_001, now + 60_001]) {
      await expect(g.admit({ tenant: 't1', stamp: { timestampMs: ts, nonce: newReplayStamp().nonce }, origin: 'o' })).rejects.toMatchObject({ code: 'REPLAY_TIMESTAMP' });
    }
    for (const ts of [now - 60_000, now + 60_000]) {
      await expect(g.admit({ tenant: 't1', stamp: { timestampMs: ts, nonce: newReplayStamp().nonce }, origin: 'o' })).resolves.toMatchObject({ outcome: 'claimed' });
    }
    expect(g.ttlMs).toBe(120_000);
  });

  it('same nonce from another origin is a replay; same origin is a resumed redelivery, even after done (JetStream hands acked messages back after a failover)', async () => {
    const { g } = guard();
    const stamp = newReplayStamp({ now: () => now });
    const first = await g.admit({ tenant: 't1', stamp, origin: 'js:FLE_REQUESTS:7' });
    expect(first.outcome).toBe('claimed');
    await expect(g.admit({ tenant: 't1', stamp, origin: 'core:abc' })).rejects.toMatchObject({ code: 'REPLAY_NONCE' });
    const again = await g.admit({ tenant: 't1', stamp, origin: 'js:FLE_REQUESTS:7' });
    expect(again.outcome).toBe('resumed');
    await again.complete();
    await expect(g.admit({ tenant: 't1', stamp, origin: 'js:FLE_REQUESTS:7' })).resolves.toMatchObject({ outcome: 'resumed' });
    await expect(g.admit({ tenant: 't1', stamp, origin: 'js:FLE_REQUESTS:8' })).rejects.toMatchObject({ code: 'REPLAY_NONCE' });
    // nonces are per tenant
    await expect(g.admit({ tenant: 't2', stamp, origin: 'core:x' })).resolves.toMatchObject({ outcome: 'claimed' });
  });

  it('a released claim (transient failure) can be claimed again', async () => {
    const { g } = guard();
    const stamp = newReplayStamp({ now: () => now });
    const c = await g.admit({ tenant: 't1', stamp, origin: 'core:1' });
    await c.release();
    await expect(g.admit({ tenant: 't1', stamp, origin: 'core:2' })).resolves.toMatchObject({ outcome: 'claimed' });
  });

  it('forgets nonces after the TTL', async () => {
    let t = now;
    const store = new MemoryNonceStore(() => t);
    const g = new ReplayGuard({ store, windowMs: 1000, now: () => t });
    const stamp = { timestampMs: now, nonce: newReplayStamp().nonce };
    await (await g.admit({ tenant: 't', stamp, origin: 'a' })).complete();
    t += 2001;
    expect(store.size).toBe(1);
    await expect(store.claim(ReplayGuard.keyOf('t', stamp.nonce), 'b', 2000)).resolves.toBe('claimed');
  });
});

describe('ReplayGuard: at most one store operation per request (issue 23 item 2, docs/replay.md)', () => {
  const now = 1_700_000_000_000;
  /** A MemoryNonceStore that counts every call. */
  function counting() {
    const inner = new MemoryNonceStore(() => now);
    const calls: string[] = [];
    const store = {
      claim: (k: string, o: string, t: number) => (calls.push('claim'), inner.claim(k, o, t)),
      complete: (k: string, o: string, t: number) => (calls.push('complete'), inner.complete(k, o, t)),
      release: (k: string, o: string) => (calls.push('release'), inner.release(k, o)),
    };
    return { store, inner, calls };
  }
  const stamp = () => newReplayStamp({ now: () => now });

  it('requires a duplicate window longer than the whole time a stamp is acceptable', () => {
    expect(requiredDuplicateWindowMs(60_000)).toBe(150_000);
    const { store } = counting();
    expect(new ReplayGuard({ store, windowMs: 60_000, streamDuplicateWindowMs: 120_000 }).streamDedupe).toBe(false);
    expect(new ReplayGuard({ store, windowMs: 60_000, streamDuplicateWindowMs: 150_000 }).streamDedupe).toBe(true);
    expect(new ReplayGuard({ store, windowMs: 60_000 }).streamDedupe).toBe(false);
  });

  it('over JetStream with Nats-Msg-Id = nonce and a long enough window: no store operation at all', async () => {
    const { store, calls } = counting();
    const g = new ReplayGuard({ store, windowMs: 60_000, now: () => now, streamDuplicateWindowMs: 150_000 });
    const s = stamp();
    const first = await g.admit({ tenant: 't1', stamp: s, origin: 'js:FLE_REQUESTS:1', stream: { msgId: s.nonce, storedAtMs: now, deliveries: 1 } });
    expect(first.outcome).toBe('claimed');
    await first.complete();
    await first.release();
    const redelivered = await g.admit({ tenant: 't1', stamp: s, origin: 'js:FLE_REQUESTS:1', stream: { msgId: s.nonce, storedAtMs: now, deliveries: 2 } });
    expect(redelivered.outcome).toBe('resumed');
    expect(calls).toEqual([]);
  });

  it('refuses a JetStream message whose id is not its nonce (a copy published under a fresh id), in either mode', async () => {
    for (const streamDuplicateWindowMs of [0, 150_000]) {
      const { store, calls } = counting();
      const g = new ReplayGuard({ store, windowMs: 60_000, now: () => now, streamDuplicateWindowMs });
      const s = stamp();
      for (const msgId of [newReplayStamp().nonce, `${s.nonce}x`, 'dlq:js:FLE_REQUESTS:1']) {
        await expect(g.admit({ tenant: 't1', stamp: s, origin: 'js:FLE_REQUESTS:2', stream: { msgId, storedAtMs: now, deliveries: 1 } })).rejects.toMatchObject({ code: 'REPLAY_NONCE' });
      }
      expect(calls).toEqual([]);
    }
  });

  it('refuses a stamp outside the window of the time the stream stored the message, even when now is inside it', async () => {
    const { store } = counting();
    const g = new ReplayGuard({ store, windowMs: 60_000, now: () => now, streamDuplicateWindowMs: 150_000 });
    const s = stamp();
    for (const storedAtMs of [now - 60_001, now + 60_001]) {
      await expect(g.admit({ tenant: 't1', stamp: s, origin: 'js:FLE_REQUESTS:3', stream: { msgId: s.nonce, storedAtMs, deliveries: 1 } })).rejects.toMatchObject({ code: 'REPLAY_TIMESTAMP' });
    }
    for (const storedAtMs of [now - 60_000, now + 60_000]) {
      await expect(g.admit({ tenant: 't1', stamp: s, origin: 'js:FLE_REQUESTS:3', stream: { msgId: s.nonce, storedAtMs, deliveries: 1 } })).resolves.toMatchObject({ outcome: 'claimed' });
    }
  });

  it('elsewhere one atomic claim and nothing after it: no "done" marking; a transient failure releases only its own claim', async () => {
    const { store, inner, calls } = counting();
    // A window too short for the stream to be the guard, and a message without an id: the store.
    const g = new ReplayGuard({ store, windowMs: 60_000, now: () => now, streamDuplicateWindowMs: 120_000 });
    const a = stamp();
    const claimed = await g.admit({ tenant: 't1', stamp: a, origin: 'js:FLE_REQUESTS:4', stream: { msgId: a.nonce, storedAtMs: now, deliveries: 1 } });
    await claimed.complete();
    expect(calls).toEqual(['claim']);
    const b = stamp();
    await (await g.admit({ tenant: 't1', stamp: b, origin: 'core:1' })).complete();
    expect(calls).toEqual(['claim', 'claim']);
    await expect(g.admit({ tenant: 't1', stamp: b, origin: 'core:2' })).rejects.toMatchObject({ code: 'REPLAY_NONCE' });
    // A redelivery resumes; its release (a transient failure) leaves the claim held, so a copy stays refused.
    const resumed = await g.admit({ tenant: 't1', stamp: a, origin: 'js:FLE_REQUESTS:4', stream: { msgId: a.nonce, storedAtMs: now, deliveries: 2 } });
    expect(resumed.outcome).toBe('resumed');
    await resumed.release();
    await expect(g.admit({ tenant: 't1', stamp: a, origin: 'js:FLE_REQUESTS:5', stream: { msgId: a.nonce, storedAtMs: now, deliveries: 1 } })).rejects.toMatchObject({ code: 'REPLAY_NONCE' });
    // The delivery that claimed may free it.
    const c = stamp();
    await (await g.admit({ tenant: 't1', stamp: c, origin: 'core:3' })).release();
    expect(inner.size).toBe(2);
    await expect(g.admit({ tenant: 't1', stamp: c, origin: 'core:4' })).resolves.toMatchObject({ outcome: 'claimed' });
  });
});
