// The gateway's NATS forwarders against a real nats-server (mTLS, fle's
// per-identity permissions), with a stand-in processor written on nats.js:
// replies come back over the gateway's one reply subscription
// (@fle/service-kit ReplyInbox) to the call that asked, however they are
// interleaved; nothing subscribed, no reply in time and no stream each keep
// the typed error a nats.js request would have given.
import { randomBytes } from 'node:crypto';
import { Client, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { NatsConnection } from 'nats';
import { channelCredentials, spiffeId, type DevPki } from '@fle/pki';
import { messageCodec } from '@fle/schema';
import { newReplayStamp, rpcSubject, stampToMetadata } from '@fle/service-kit';
import { FIXTURE_METHOD, FIXTURE_PROTO_DIR, FIXTURE_REQUEST, FIXTURE_RESPONSE, fixtureSchema, makeTestPki, startNats, type NatsHarness } from '@fle/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { methodRoute, startGatewayProcess, type GatewayProcess } from '../src/testing.js';

const requests = messageCodec<{ tenantId: string; requestId: string }>(fixtureSchema(), FIXTURE_REQUEST);
const responses = messageCodec<{ tenantId: string; requestId: string; approved: boolean }>(fixtureSchema(), FIXTURE_RESPONSE);
const passthrough = (b: Buffer): Buffer => b;

interface Outcome {
  readonly status: number;
  readonly code: string;
  readonly details: string;
  readonly requestId?: string;
}

let pki: DevPki;
let nats: NatsHarness;
const clients = new Map<GatewayProcess, Client>();

beforeAll(async () => {
  pki = await makeTestPki();
  nats = await startNats({ tls: pki });
});
afterAll(async () => {
  for (const c of clients.values()) c.close();
  await nats?.stop();
});

async function gatewayOver(transport: 'nats' | 'jetstream'): Promise<GatewayProcess> {
  return startGatewayProcess({
    pki,
    schema: { protoRoots: [FIXTURE_PROTO_DIR] },
    natsUrls: nats.urls,
    routes: [methodRoute(FIXTURE_METHOD, 'submit', transport, { timeoutMs: 1500 })],
    allowedCallers: ['spiffe://fle.local/client'],
    rateLimits: { perCaller: { enabled: false }, perTenant: { enabled: false } },
  });
}

/** One call with a request that passes the gateway's checks (no sensitive value set). */
function submit(gw: GatewayProcess, tenant: string, requestId: string): Promise<Outcome> {
  let client = clients.get(gw);
  if (!client) clients.set(gw, (client = new Client(gw.address, channelCredentials(pki.files('client'), { expectedServerIdentity: spiffeId('gateway') }))));
  const body = Buffer.from(requests.encode({ tenantId: tenant, requestId }));
  return new Promise((resolve) => {
    client.makeUnaryRequest(FIXTURE_METHOD, passthrough, passthrough, body, stampToMetadata(newReplayStamp(), new Metadata()), { deadline: Date.now() + 10_000 }, (err: ServiceError | null, res?: Buffer) => {
      if (!err) return resolve({ status: status.OK, code: 'OK', details: '', requestId: responses.decode(res!).requestId });
      const carried = err.metadata?.get('fle-error-code')[0];
      resolve({ status: err.code, code: typeof carried === 'string' ? carried : 'UNKNOWN', details: err.details });
    });
  });
}

describe('core NATS forwarder', () => {
  let gw: GatewayProcess;
  let processor: NatsConnection;
  beforeAll(async () => {
    processor = await nats.connect('processor');
    // t1: answers each request after a random delay (replies come back out of order); t3: never answers.
    processor.subscribe(rpcSubject('t1', 'submit'), {
      callback: (_err, m) => {
        const req = requests.decode(m.data);
        setTimeout(() => m.respond(responses.encode({ tenantId: req.tenantId, requestId: req.requestId, approved: true })), Math.random() * 40);
      },
    });
    processor.subscribe(rpcSubject('t3', 'submit'), { callback: () => undefined });
    await processor.flush();
    gw = await gatewayOver('nats');
  });
  afterAll(async () => {
    await gw?.stop();
    await processor?.close();
  });

  it('hands each interleaved reply to the call that asked for it', async () => {
    const ids = Array.from({ length: 60 }, () => `req-${randomBytes(6).toString('hex')}`);
    const got = await Promise.all(ids.map((id) => submit(gw, 't1', id)));
    expect(got.map((o) => o.requestId)).toEqual(ids);
    expect(got.every((o) => o.status === status.OK)).toBe(true);
  });

  it('answers UNAVAILABLE when nothing subscribes to the subject, DEADLINE_EXCEEDED when nothing replies in time', async () => {
    expect(await submit(gw, 't2', 'r-none')).toEqual({ status: status.UNAVAILABLE, code: 'UPSTREAM_UNAVAILABLE', details: 'no processor is listening' });
    expect(await submit(gw, 't3', 'r-silent')).toEqual({ status: status.DEADLINE_EXCEEDED, code: 'UPSTREAM_TIMEOUT', details: 'processor did not reply in time' });
    // A reply that comes too late is dropped; the next call still gets its own.
    expect(await submit(gw, 't1', 'r-after')).toMatchObject({ status: status.OK, requestId: 'r-after' });
  });
});

describe('JetStream forwarder', () => {
  it('answers UNAVAILABLE when no stream takes the request', async () => {
    const gw = await gatewayOver('jetstream');
    try {
      expect(await submit(gw, 't1', 'r-nostream')).toEqual({ status: status.UNAVAILABLE, code: 'UPSTREAM_UNAVAILABLE', details: 'JetStream did not take the request (no stream answered)' });
    } finally {
      await gw.stop();
    }
  });
});
