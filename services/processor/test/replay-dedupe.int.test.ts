// The replay guard at one store operation or less (issue 23 item 2,
// docs/replay.md), against real processes and NATS with per-identity
// permissions: over JetStream the gateway publishes with Nats-Msg-Id = the
// request nonce and the stream's deduplication refuses a second copy, a copy
// under another id is refused by the processor, and no nonce is written to the
// store; over core NATS one atomic create and no "done" marking.
import { status } from '@grpc/grpc-js';
import { FleCallError } from '@fle/client';
import { canaryAuthorizeRequest } from '@fle/client/testing';
import { AuthorizeRequest, PaymentServiceService } from '@fle/schema/gen/acme/payments/v1/payments.js';
import { newReplayStamp, replayContext, requiredDuplicateWindowMs, stampToHeaders, type ReplayStamp } from '@fle/service-kit';
import { headers as natsHeaders, type JsMsg, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './support/stack.js';

const REQ = 'acme.payments.v1.AuthorizeRequest';
const METHOD = '/acme.payments.v1.PaymentService/Authorize';
const def = PaymentServiceService.authorize;

async function refusal(p: Promise<unknown>): Promise<{ status: status; code: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof FleCallError) return { status: err.status, code: err.code };
    throw err;
  }
  throw new Error('expected the call to be refused');
}

describe('replay guard: stream deduplication over JetStream, one claim over core NATS', () => {
  let stack: Stack;
  let admin: NatsConnection; // may publish fle.js.> and read FLE_DLQ
  let inspector: NatsConnection; // the processor identity, to read the nonce bucket

  beforeAll(async () => {
    stack = await startStack({ natsUsers: 'fle', transports: ['jetstream', 'nats'], routeTimeoutMs: 10_000 });
    admin = await stack.nats.connect('admin');
    inspector = await stack.nats.connect('processor');
  });
  afterAll(async () => {
    await stack?.stop();
  });

  async function sealed(stamp: ReplayStamp = newReplayStamp()) {
    const fx = canaryAuthorizeRequest('t1');
    return { stamp, msg: await stack.cipher.sealMessage(REQ, fx.request, { context: replayContext(stamp) }) };
  }
  const nonceEntry = async (nonce: string) => (await inspector.jetstream().views.kv('fle_nonces')).get(`t1.${nonce}`);

  it('the request stream deduplicates longer than a stamp stays acceptable', async () => {
    const info = await (await admin.jetstreamManager()).streams.info('FLE_REQUESTS');
    expect(info.config.duplicate_window / 1e6).toBeGreaterThanOrEqual(requiredDuplicateWindowMs(60_000));
  });

  it('over JetStream: answered with no nonce written; the same request again is refused by the stream (REPLAY_NONCE at the gateway)', async () => {
    const client = stack.clients.jetstream!;
    const a = await sealed();
    const res = await client.fle.callRaw(def, a.msg, a.stamp);
    expect(res).toBeDefined();
    expect(await nonceEntry(a.stamp.nonce)).toBeNull();
    expect(await refusal(client.fle.callRaw(def, a.msg, a.stamp))).toMatchObject({ status: status.PERMISSION_DENIED, code: 'REPLAY_NONCE' });
    // Published again under the same id by anyone: the stream says duplicate and stores nothing.
    const h = natsHeaders();
    stampToHeaders(a.stamp, h);
    h.set('Fle-Method', METHOD);
    const ack = await admin.jetstream().publish('fle.js.t1.authorize', AuthorizeRequest.encode(a.msg).finish(), { headers: h, msgID: a.stamp.nonce });
    expect(ack.duplicate).toBe(true);
    const metrics = await (await fetch(stack.gateways.jetstream!.metricsUrl)).text();
    expect(metrics).toMatch(/fle_failures_total\{reason="replay_nonce",service="gateway"\} [1-9]/);
  });

  it('over JetStream: a copy under another message id is refused by the processor and dead-lettered; a copy without one finds the stored effect', async () => {
    const client = stack.clients.jetstream!;
    const a = await sealed();
    await client.fle.callRaw(def, a.msg, a.stamp);
    const bytes = AuthorizeRequest.encode(a.msg).finish();
    const publish = async (msgID: string | undefined) => {
      const h = natsHeaders();
      stampToHeaders(a.stamp, h);
      h.set('Fle-Method', METHOD);
      const ack = await admin.jetstream().publish('fle.js.t1.authorize', bytes, { headers: h, ...(msgID ? { msgID } : {}) });
      expect(ack.duplicate).toBe(false);
      return ack.seq;
    };
    const fresh = await publish(newReplayStamp().nonce);
    const none = await publish(undefined);
    const origins = new Set([`js:FLE_REQUESTS:${fresh}`, `js:FLE_REQUESTS:${none}`]);
    const jsm = await admin.jetstreamManager();
    const until = Date.now() + 20_000;
    let letters: JsMsg[] = [];
    for (;;) {
      const c = await admin.jetstream().consumers.get('FLE_DLQ');
      letters = [];
      for await (const m of await c.fetch({ max_messages: 500, expires: 1000 })) if (origins.has(m.headers?.get('Fle-Dlq-Origin') ?? '')) letters.push(m);
      const drained = (await jsm.streams.info('FLE_REQUESTS')).state.messages === 0;
      if ((letters.length >= 1 && drained) || Date.now() > until) break;
    }
    // The fresh id: refused before anything is opened.
    expect(letters.map((m) => [m.headers?.get('Fle-Dlq-Origin'), m.headers?.get('Fle-Dlq-Reason'), m.headers?.get('Fle-Nonce')])).toEqual([[`js:FLE_REQUESTS:${fresh}`, 'replay_nonce', a.stamp.nonce]]);
    // No id (a direct publisher that predates ids): one claim in the store, then the handler's
    // create finds the record of the first delivery: one write of the record, ever.
    const records = await inspector.jetstream().views.kv('fle_authorizations');
    const history = [];
    for await (const e of await records.history({ key: `t1.${a.stamp.nonce}` })) history.push(e);
    expect(history).toHaveLength(1);
    expect(await nonceEntry(a.stamp.nonce)).not.toBeNull();
  });

  it('over core NATS: one claim (one write), left in progress: no "done" marking; the same request again is REPLAY_NONCE', async () => {
    const client = stack.clients.nats!;
    const a = await sealed();
    await client.fle.callRaw(def, a.msg, a.stamp);
    const kv = await inspector.jetstream().views.kv('fle_nonces');
    const history = [];
    for await (const e of await kv.history({ key: `t1.${a.stamp.nonce}` })) history.push(e);
    expect(history).toHaveLength(1);
    expect(JSON.parse(new TextDecoder().decode(history[0]!.value))).toMatchObject({ s: 'in-progress' });
    expect(await refusal(client.fle.callRaw(def, a.msg, a.stamp))).toMatchObject({ status: status.PERMISSION_DENIED, code: 'REPLAY_NONCE' });
  });
});
