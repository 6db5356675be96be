// Issue 17 item 2 at the real gateway process, over mTLS:
// - per-caller and per-tenant rate limits answer RESOURCE_EXHAUSTED /
//   RATE_LIMITED, each key on its own bucket;
// - a full request stream (real nats-server, the processor's budgeted
//   FLE_REQUESTS, nobody consuming) answers RESOURCE_EXHAUSTED / STORE_FULL
//   naming the request stream, where it used to say "NATS unavailable" (and,
//   once the store itself was full, "no processor is listening").
import { randomBytes } from 'node:crypto';
import { Client, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { startGatewayProcess, type GatewayProcess } from '@fle/gateway/testing';
import { authorizeRoute, PAYMENTS_SCHEMA } from '../support/payments-gateway.js';
import { channelCredentials, spiffeId, type DevPki } from '@fle/pki';
import { ensureStreams } from '@fle/boundary';
import { AuthorizeRequest } from '@fle-examples/payments/gen/acme/payments/v1/payments.js';
import { newReplayStamp, stampToMetadata } from '@fle/service-kit';
import { freePort, makeTestPki, startNats, type NatsHarness } from '@fle/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const AUTHORIZE = '/acme.payments.v1.PaymentService/Authorize';
const passthrough = (b: Buffer): Buffer => b;
const MiB = 2 ** 20;

let pki: DevPki;
const clients: Client[] = [];

beforeAll(async () => {
  pki = await makeTestPki();
});

afterAll(() => {
  for (const c of clients) c.close();
});

function clientAs(identity: string, address: string): Client {
  const c = new Client(address, channelCredentials(pki.files(identity), { expectedServerIdentity: spiffeId('gateway') }), { 'grpc.max_send_message_length': 8 * MiB, 'grpc.use_local_subchannel_pool': 1 });
  clients.push(c);
  return c;
}

/** A request the gateway's checks pass (tenant, no sensitive field set), `padding` bytes larger. */
function request(tenant: string, padding = 0): Buffer {
  return Buffer.from(AuthorizeRequest.encode(AuthorizeRequest.fromPartial({ tenantId: tenant, requestId: `r-${randomBytes(4).toString('hex')}`, amountMinor: 1, currency: padding ? 'X'.repeat(padding) : 'EUR' })).finish());
}

function call(client: Client, body: Buffer): Promise<{ status: number; code: string; details: string }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(AUTHORIZE, passthrough, passthrough, body, stampToMetadata(newReplayStamp(), new Metadata()), { deadline: Date.now() + 15_000 }, (err: ServiceError | null) => {
      if (!err) return resolve({ status: status.OK, code: 'OK', details: '' });
      const carried = err.metadata?.get('fle-error-code')[0];
      resolve({ status: err.code, code: typeof carried === 'string' ? carried : 'UNKNOWN', details: err.details });
    });
  });
}

describe('gateway rate limits (real gateway process)', () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    // A grpc route to a port nobody listens on: an admitted request is UNAVAILABLE, a limited one RESOURCE_EXHAUSTED.
    gw = await startGatewayProcess({
      schema: PAYMENTS_SCHEMA,
      pki,
      routes: [authorizeRoute('grpc', { processorAddress: `127.0.0.1:${await freePort()}`, timeoutMs: 1000 })],
      allowedCallers: [],
      maxMessageBytes: 64 * 1024,
      rateLimits: {
        perCaller: { requestsPerSecond: 0.001, burstRequests: 5, bytesPerSecond: 1, burstBytes: 1 * MiB },
        perTenant: { requestsPerSecond: 0.001, burstRequests: 2, bytesPerSecond: 1, burstBytes: 1 * MiB },
      },
    });
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('refuses a tenant past its bucket with RESOURCE_EXHAUSTED / RATE_LIMITED, other tenants and callers on their own buckets', async () => {
    const client = clientAs('client', gw.address);
    const upstreamDown = { status: status.UNAVAILABLE, code: 'UPSTREAM_UNAVAILABLE' };
    expect(await call(client, request('t1'))).toMatchObject(upstreamDown);
    expect(await call(client, request('t1'))).toMatchObject(upstreamDown);
    expect(await call(client, request('t1'))).toEqual({ status: status.RESOURCE_EXHAUSTED, code: 'RATE_LIMITED', details: 'rate limit exceeded for this tenant: retry later' });
    expect(await call(client, request('t2'))).toMatchObject(upstreamDown); // its own bucket
    // The caller has now used 4 of its 5 requests: one more, then its own limit.
    expect(await call(client, request('t3'))).toMatchObject(upstreamDown);
    expect(await call(client, request('t4'))).toEqual({ status: status.RESOURCE_EXHAUSTED, code: 'RATE_LIMITED', details: 'rate limit exceeded for this caller: retry later' });
    // Another identity is another caller.
    expect(await call(clientAs('admin', gw.address), request('t5'))).toMatchObject(upstreamDown);
  });
});

describe('a full request stream (real NATS, the processor\'s budgeted FLE_REQUESTS, nobody consuming)', () => {
  let nats: NatsHarness;
  let gw: GatewayProcess;
  beforeAll(async () => {
    nats = await startNats({ tls: pki });
    const asProcessor = await nats.connect('processor');
    await ensureStreams(await asProcessor.jetstreamManager(), { durable: 'nobody', ackWaitMs: 30_000 });
    gw = await startGatewayProcess({
      schema: PAYMENTS_SCHEMA,
      pki,
      natsUrls: nats.urls,
      routes: [authorizeRoute('jetstream', { timeoutMs: 3000 })],
      maxMessageBytes: 5 * MiB,
      rateLimits: { perCaller: { enabled: false }, perTenant: { enabled: false } },
    });
  });
  afterAll(async () => {
    await gw?.stop();
    await nats?.stop();
  });

  it('answers RESOURCE_EXHAUSTED / STORE_FULL naming the request stream, and keeps what it accepted', async () => {
    // Fill the stream the way the gateway does (as the gateway identity), with 4 MiB requests, until it refuses (its budget is 128 MiB).
    const js = (await nats.connect('gateway')).jetstream();
    const big = request('t1', 4 * MiB - 512);
    let accepted = 0;
    let refusal: unknown;
    for (let i = 0; i < 80 && !refusal; i++) {
      refusal = await js.publish('fle.js.t1.authorize', big, { timeout: 20_000 }).then(() => void accepted++, (e: unknown) => e);
    }
    expect(accepted).toBeGreaterThan(0);
    expect(refusal).toMatchObject({ api_error: { err_code: 10077, description: 'maximum bytes exceeded' } });
    // The next caller of that size learns the true cause (a smaller request may still fit).
    expect(await call(clientAs('client', gw.address), request('t1', 4 * MiB - 512))).toEqual({ status: status.RESOURCE_EXHAUSTED, code: 'STORE_FULL', details: 'the request stream is full (maximum bytes exceeded): retry later' });
    const jsm = await (await nats.connect('admin')).jetstreamManager();
    const { state, config } = await jsm.streams.info('FLE_REQUESTS');
    expect(config.discard).toBe('new');
    expect(state.bytes).toBeLessThanOrEqual(config.max_bytes);
    expect(state.messages).toBe(accepted); // every accepted request is still there: none dropped
  }, 180_000);
});
