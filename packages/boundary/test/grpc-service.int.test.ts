// A team's own grpc-js server (real mTLS) with the boundary's services added
// to it: the team's handler gets the request with its sensitive fields opened
// and its response goes back sealed under the request's binding; callers are
// checked by SPIFFE ID; errors carry the one status map (status + fle-error-code).
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { Metadata, Server, makeGenericClientConstructor, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { FieldCipher, StaticKeyProvider, compileSchema } from '@fle/field-crypto';
import { channelCredentials, serverCredentials, type DevPki } from '@fle/pki';
import { messageCodec } from '@fle/schema';
import { ERROR_CODE_METADATA, MemoryNonceStore, createLogger, createServiceMetrics, newReplayStamp, replayContext, stampToMetadata } from '@fle/service-kit';
import { FIXTURE_METHOD, FIXTURE_REQUEST, FIXTURE_RESPONSE, canaryLedgerRequest, fixtureSchema, makeTestPki, type LedgerRequest, type LedgerResponse } from '@fle/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Boundary } from '../src/boundary.js';
import type { HandlerContext } from '../src/handler.js';

const keys = new StaticKeyProvider(['default', 'pci'].map((ring) => ({ tenant: 't1', ring, versions: [{ version: 1, key: randomBytes(32) }] })));
const cipher = new FieldCipher({ schema: compileSchema(fixtureSchema()), keys });
const req = messageCodec<LedgerRequest>(fixtureSchema(), FIXTURE_REQUEST);
const res = messageCodec<LedgerResponse>(fixtureSchema(), FIXTURE_RESPONSE);
const raw = (b: Buffer): Buffer => b;
const Generic = makeGenericClientConstructor(
  { Submit: { path: FIXTURE_METHOD, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } },
  'LedgerService',
);

describe("the boundary inside a team's own grpc-js server", () => {
  let pki: DevPki;
  let server: Server;
  let boundary: Boundary;
  let address: string;
  const seen: Array<{ request: LedgerRequest; ctx: HandlerContext }> = [];

  beforeAll(async () => {
    pki = await makeTestPki();
    boundary = await Boundary.create({
      schema: fixtureSchema(),
      keys,
      nonceStore: new MemoryNonceStore(),
      handlers: {
        Submit: async (request: LedgerRequest, ctx: HandlerContext): Promise<LedgerResponse> => {
          seen.push({ request, ctx });
          return { tenantId: ctx.tenant, requestId: request.requestId, approved: true, declineReason: '', cardToken: `tok-${request.card.number}`, cardLastFour: request.card.number.slice(-4), authorizationCode: 'A1' };
        },
      },
      logger: createLogger({ name: 'test', destination: new Writable({ write: (_c, _e, cb) => cb() }) }),
      metrics: createServiceMetrics({ service: 'test', processMetrics: false }),
    });
    server = new Server();
    const services = boundary.grpcServices({ allowedCallers: ['spiffe://fle.local/gateway'] });
    expect(services.map((s) => s.name)).toEqual(['fletest.svc.v1.LedgerService']);
    expect(boundary.grpcService('fletest.svc.v1.LedgerService').name).toBe('fletest.svc.v1.LedgerService');
    expect(() => boundary.grpcService('fletest.svc.v1.Other')).toThrow(/no routed method of fletest.svc.v1.Other/);
    for (const s of services) server.addService(s.definition, s.implementation);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', serverCredentials(pki.files('processor')), (e, p) => (e ? reject(e) : resolve(p))));
    address = `127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await boundary?.stop();
    server?.forceShutdown();
  });

  function call(identity: string, bytes: Uint8Array, md: Metadata): Promise<Buffer> {
    const client: Client = new Generic(address, channelCredentials(pki.files(identity), { expectedServerIdentity: 'spiffe://fle.local/processor' }));
    return new Promise<Buffer>((resolve, reject) =>
      (client as unknown as Record<string, (b: Buffer, md: Metadata, cb: (e: ServiceError | null, r?: Buffer) => void) => void>).Submit!(Buffer.from(bytes), md, (err, out) => {
        client.close();
        if (err) reject(err);
        else resolve(out!);
      }),
    );
  }

  it('opens the request for the handler and seals its response under the request binding', async () => {
    const fx = canaryLedgerRequest('t1');
    const stamp = newReplayStamp();
    const sealed = await cipher.sealMessage(FIXTURE_REQUEST, fx.request, { context: replayContext(stamp) });
    const out = res.decode(await call('gateway', req.encode(sealed), stampToMetadata(stamp, new Metadata())));
    expect(seen.at(-1)!.request).toEqual(fx.request);
    expect(seen.at(-1)!.ctx).toMatchObject({ tenant: 't1', method: FIXTURE_METHOD, caller: 'spiffe://fle.local/gateway', transport: 'grpc' });
    expect(out.cardToken).not.toContain(fx.request.card.number);
    expect(out.cardLastFour).toBe(fx.request.card.number.slice(-4));
    const opened = await cipher.openMessage(FIXTURE_RESPONSE, out, { context: replayContext(stamp) });
    expect(opened.cardToken).toBe(`tok-${fx.request.card.number}`);
  });

  it('refuses a caller not allowed, a replay and a missing stamp with the mapped status and code', async () => {
    const fx = canaryLedgerRequest('t1');
    const stamp = newReplayStamp();
    const bytes = req.encode(await cipher.sealMessage(FIXTURE_REQUEST, fx.request, { context: replayContext(stamp) }));
    const codeOf = (e: ServiceError) => [e.code, e.metadata.get(ERROR_CODE_METADATA)[0]];
    const n = seen.length;
    expect(codeOf(await call('client', bytes, stampToMetadata(stamp, new Metadata())).then(() => { throw new Error('accepted'); }, (e: ServiceError) => e))).toEqual([status.PERMISSION_DENIED, 'CALLER_NOT_ALLOWED']);
    await call('gateway', bytes, stampToMetadata(stamp, new Metadata()));
    expect(codeOf(await call('gateway', bytes, stampToMetadata(stamp, new Metadata())).then(() => { throw new Error('accepted'); }, (e: ServiceError) => e))).toEqual([status.PERMISSION_DENIED, 'REPLAY_NONCE']);
    expect(codeOf(await call('gateway', bytes, new Metadata()).then(() => { throw new Error('accepted'); }, (e: ServiceError) => e))).toEqual([status.INVALID_ARGUMENT, 'MISSING_STAMP']);
    expect(seen.length).toBe(n + 1);
  });
});
