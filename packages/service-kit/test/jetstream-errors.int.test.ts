// jetStreamNoRoom / storeFullOr against a real nats-server: a full stream or
// bucket is STORE_FULL (RESOURCE_EXHAUSTED, with the server's reason), and
// nothing else is (issue 17 item 2). Also: a full nonce bucket refuses new
// nonces with STORE_FULL instead of "nonce store unavailable".
import { status } from '@grpc/grpc-js';
import { startNats, type NatsHarness } from '@fle/testkit';
import { DiscardPolicy, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsKvNonceStore, RoutingError, classifyError, jetStreamNoRoom, storeFullOr } from '../src/mod.js';

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a failure');
}

describe('JetStream "no room" answers (real NATS)', () => {
  let nats: NatsHarness;
  let nc: NatsConnection;
  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    nc = await nats.connect();
  });
  afterAll(async () => {
    await nats?.stop();
  });

  it("a stream at its byte limit (discard new) is STORE_FULL with the server's reason", async () => {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'FULL_BYTES', subjects: ['full.bytes'], max_bytes: 4096, discard: DiscardPolicy.New });
    const js = nc.jetstream();
    let err: unknown;
    for (let i = 0; i < 20 && !err; i++) err = await js.publish('full.bytes', new Uint8Array(1000)).then(() => undefined, (e: unknown) => e);
    expect(jetStreamNoRoom(err)).toBe('maximum bytes exceeded');
    const mapped = storeFullOr(err, 'the request stream', () => new Error('not this'));
    expect(mapped).toMatchObject({ code: 'STORE_FULL', message: 'the request stream is full (maximum bytes exceeded): retry later' });
    expect(classifyError(mapped)).toMatchObject({ grpcStatus: status.RESOURCE_EXHAUSTED, permanent: false, reason: 'store_full' });
  });

  it('a stream at its message limit is STORE_FULL too', async () => {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'FULL_MSGS', subjects: ['full.msgs'], max_msgs: 2, max_bytes: 1 << 20, discard: DiscardPolicy.New });
    const js = nc.jetstream();
    await js.publish('full.msgs', new Uint8Array(1));
    await js.publish('full.msgs', new Uint8Array(1));
    expect(jetStreamNoRoom(await failure(js.publish('full.msgs', new Uint8Array(1))))).toBe('maximum messages exceeded');
  });

  it('a message over the largest size the stream takes, or any other error, is not "full"', async () => {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'SMALL_MSG', subjects: ['small.msg'], max_msg_size: 16, max_bytes: 1 << 20 });
    const tooBig = await failure(nc.jetstream().publish('small.msg', new Uint8Array(64)));
    expect(jetStreamNoRoom(tooBig)).toBeUndefined();
    expect(jetStreamNoRoom(await failure(jsm.streams.info('NO_SUCH_STREAM')))).toBeUndefined();
    expect(jetStreamNoRoom(new Error('socket closed'))).toBeUndefined();
    expect(storeFullOr(tooBig, 'x', () => new RoutingError('UPSTREAM_UNAVAILABLE', 'other'))).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
  });

  it('a stream whose reservation the store cannot hold is refused as STORE_FULL', async () => {
    const jsm = await nc.jetstreamManager();
    const err = await failure(jsm.streams.add({ name: 'HUGE', subjects: ['huge'], max_bytes: 64 * 1024 ** 4 }));
    expect(jetStreamNoRoom(err)).toMatch(/insufficient/);
  });

  it('a full nonce bucket refuses a new nonce with STORE_FULL, not "unavailable"', async () => {
    const store = await NatsKvNonceStore.open(nc.jetstream(), { bucket: 'tiny_nonces', ttlMs: 60_000 });
    const jsm = await nc.jetstreamManager();
    // Shrink the bucket to a handful of nonces (the budget's limits were applied at open).
    const { config } = await jsm.streams.info('KV_tiny_nonces');
    expect(config.max_bytes).toBeGreaterThan(0);
    expect(config.max_msgs).toBeGreaterThan(0);
    await jsm.streams.update('KV_tiny_nonces', { ...config, max_msgs: 3 });
    for (let i = 0; i < 3; i++) expect(await store.claim(`t1.n${i}`, `core:${i}`, 60_000)).toBe('claimed');
    expect(await failure(store.claim('t1.n3', 'core:3', 60_000))).toMatchObject({ code: 'STORE_FULL', message: 'the replay-nonce store is full (maximum messages exceeded): retry later' });
  });
});
