// The boundary's NATS side in a team's own process, against a real
// nats-server: core request-reply as a NATS service (nats.js services.add:
// discovery and stats) and the JetStream durable consumer, each handing the
// team's handler the opened request and sending back the sealed response.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { FieldCipher, StaticKeyProvider, compileSchema } from '@fle/field-crypto';
import { messageCodec } from '@fle/schema';
import { ERROR_HEADER, FLE_HEADERS, createLogger, createServiceMetrics, newReplayStamp, replayContext, stampToHeaders, type ReplayStamp } from '@fle/service-kit';
import { FIXTURE_METHOD, FIXTURE_REQUEST, FIXTURE_RESPONSE, canaryLedgerRequest, fixtureSchema, startNats, type LedgerRequest, type LedgerResponse, type NatsHarness } from '@fle/testkit';
import { createInbox, headers as natsHeaders, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Boundary } from '../src/boundary.js';
import type { HandlerContext } from '../src/handler.js';

const keys = new StaticKeyProvider(['default', 'pci'].map((ring) => ({ tenant: 't1', ring, versions: [{ version: 1, key: randomBytes(32) }] })));
const cipher = new FieldCipher({ schema: compileSchema(fixtureSchema()), keys });
const req = messageCodec<LedgerRequest>(fixtureSchema(), FIXTURE_REQUEST);
const res = messageCodec<LedgerResponse>(fixtureSchema(), FIXTURE_RESPONSE);

describe('the boundary on NATS (real nats-server)', () => {
  let nats: NatsHarness;
  let nc: NatsConnection;
  let boundary: Boundary;
  const seen: Array<{ request: LedgerRequest; ctx: HandlerContext }> = [];

  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    nc = await nats.connect();
    boundary = await Boundary.create({
      schema: fixtureSchema(),
      keys,
      nc, // replay nonces in NATS KV
      handlers: {
        Submit: (request: LedgerRequest, ctx: HandlerContext): LedgerResponse => {
          seen.push({ request, ctx });
          return { tenantId: ctx.tenant, requestId: request.requestId, approved: true, declineReason: '', cardToken: `tok-${request.card.number}`, cardLastFour: request.card.number.slice(-4), authorizationCode: 'A1' };
        },
      },
      logger: createLogger({ name: 'test', destination: new Writable({ write: (_c, _e, cb) => cb() }) }),
      metrics: createServiceMetrics({ service: 'test', processMetrics: false }),
    });
    await boundary.serveCore({ queueGroup: 'ledger', service: { name: 'ledger', version: '1.2.3', description: 'fixture ledger' } });
    await boundary.serveJetStream({ durable: 'ledger', nakBaseMs: 100, nakMaxMs: 500 });
  });

  afterAll(async () => {
    await boundary?.stop();
    await nats?.stop();
  });

  async function sealedRequest(stamp: ReplayStamp) {
    const fx = canaryLedgerRequest('t1');
    return { fx, bytes: req.encode(await cipher.sealMessage(FIXTURE_REQUEST, fx.request, { context: replayContext(stamp) })) };
  }

  function headersFor(stamp: ReplayStamp) {
    const h = natsHeaders();
    stampToHeaders(stamp, h);
    h.set(FLE_HEADERS.method, FIXTURE_METHOD);
    h.set(FLE_HEADERS.caller, 'spiffe://fle.local/client');
    return h;
  }

  it('core request-reply as a NATS service: discoverable, counted, the handler gets the opened request', async () => {
    const stamp = newReplayStamp();
    const { fx, bytes } = await sealedRequest(stamp);
    const reply = await nc.request('fle.rpc.t1.submit', bytes, { headers: headersFor(stamp), timeout: 5000 });
    expect(reply.headers?.get(ERROR_HEADER) ?? '').toBe('');
    const opened = await cipher.openMessage(FIXTURE_RESPONSE, res.decode(reply.data), { context: replayContext(stamp) });
    expect(opened.cardToken).toBe(`tok-${fx.request.card.number}`);
    expect(seen.at(-1)!.request).toEqual(fx.request);
    expect(seen.at(-1)!.ctx).toMatchObject({ tenant: 't1', method: FIXTURE_METHOD, transport: 'nats', caller: 'spiffe://fle.local/client' });

    const client = nc.services.client();
    const infos = [];
    for await (const i of await client.info('ledger')) infos.push(i);
    expect(infos).toHaveLength(1);
    expect(infos[0]).toMatchObject({ name: 'ledger', version: '1.2.3', description: 'fixture ledger' });
    expect(infos[0]!.endpoints).toEqual([{ name: 'submit', subject: 'fle.rpc.*.submit', queue_group: 'ledger', metadata: { method: FIXTURE_METHOD } }]);
    const stats = [];
    for await (const s of await client.stats('ledger')) stats.push(s);
    expect(stats[0]!.endpoints?.[0]?.num_requests).toBeGreaterThanOrEqual(1);
  });

  it('JetStream: the durable consumer answers on the reply inbox, and refuses a replay with the typed error', async () => {
    const stamp = newReplayStamp();
    const { fx, bytes } = await sealedRequest(stamp);
    const send = async () => {
      const inbox = createInbox('_INBOX_gateway');
      const sub = nc.subscribe(inbox, { max: 1, timeout: 10_000 });
      const h = headersFor(stamp);
      h.set(FLE_HEADERS.replyTo, inbox);
      await nc.jetstream().publish('fle.js.t1.submit', bytes, { headers: h });
      for await (const m of sub) return m;
      throw new Error('no reply');
    };
    const first = await send();
    const opened = await cipher.openMessage(FIXTURE_RESPONSE, res.decode(first.data), { context: replayContext(stamp) });
    expect(opened.cardLastFour).toBe(fx.request.card.number.slice(-4));
    expect(seen.at(-1)!.ctx).toMatchObject({ transport: 'jetstream', resumed: false });
    const again = await send();
    expect(again.headers?.get(ERROR_HEADER)).toBe('REPLAY_NONCE');
  });
});
