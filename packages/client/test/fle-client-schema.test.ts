// FleClient on a team's schema (option `schema`): methods called by path,
// plain objects encoded and decoded through the schema, no generated code.
// Against an in-process mTLS gRPC server built from the same schema by
// reflection, standing in for gateway + handler.
import { randomBytes } from 'node:crypto';
import { Server, status, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { FieldCipher, StaticKeyProvider, compileSchema } from '@fle/field-crypto';
import { channelCredentials, serverCredentials, type DevPki } from '@fle/pki';
import { serviceDefinition } from '@fle/schema';
import { replayContext, stampFromMetadata } from '@fle/service-kit';
import { canarySubmitRequest, FIXTURE_METHOD, FIXTURE_REQUEST, FIXTURE_RESPONSE, FIXTURE_SERVICE, fixtureSchema, makeTestPki } from '@fle/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleClient, newReplayStamp } from '../src/mod.js';

type Obj = Record<string, any>;
const root = fixtureSchema();
const keys = new StaticKeyProvider(['default', 'pci'].map((ring) => ({ tenant: 't1', ring, versions: [{ version: 2, key: randomBytes(32) }] })));
const cipher = new FieldCipher({ schema: compileSchema(root), keys });

describe('FleClient with a team schema', () => {
  let pki: DevPki;
  let server: Server;
  let client: FleClient;
  const received: Array<{ sealed: Obj; opened: Obj }> = [];

  beforeAll(async () => {
    pki = await makeTestPki();
    server = new Server();
    // The server side by reflection over the same schema: keys are the method names.
    server.addService(serviceDefinition(root, FIXTURE_SERVICE) as never, {
      Submit: (call: ServerUnaryCall<Obj, Obj>, cb: sendUnaryData<Obj>) => {
        void (async () => {
          const context = replayContext(stampFromMetadata(call.metadata));
          const opened = await cipher.openMessage(FIXTURE_REQUEST, structuredClone(call.request), { context });
          received.push({ sealed: call.request, opened });
          const response = { tenantId: 't1', requestId: opened.requestId, approved: true, cardToken: `tok-${opened.card.number}`, cardLastFour: opened.card.number.slice(-4) };
          cb(null, await cipher.sealMessage(FIXTURE_RESPONSE, response, { context }));
        })().catch((err: unknown) => cb({ code: status.INTERNAL, details: String(err) }));
      },
      SubmitPlain: (call: ServerUnaryCall<Obj, Obj>, cb: sendUnaryData<Obj>) => cb(null, { tenantId: call.request.tenantId, requestId: call.request.requestId, approved: false, declineReason: 'plain' }),
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', serverCredentials(pki.files('gateway')), (e, p) => (e ? reject(e) : resolve(p))));
    client = new FleClient({ address: `127.0.0.1:${port}`, schema: root, credentials: channelCredentials(pki.files('client'), { expectedServerIdentity: 'spiffe://fle.local/gateway' }), cipher });
  });
  afterAll(() => {
    client?.close();
    server?.forceShutdown();
  });

  it('calls a method by path: seals every sensitive field, opens the response', async () => {
    const fx = canarySubmitRequest('t1');
    const { response, stamp } = await client.call<Obj, Obj>(FIXTURE_METHOD, fx.request);
    const last = received.at(-1)!;
    expect(last.opened).toMatchObject({ ...fx.request, amountMinor: '1250' }); // uint64 decodes as a decimal string
    expect(JSON.stringify(last.sealed)).not.toContain(fx.canary);
    expect(last.sealed.card.number).not.toBe((fx.request.card as Obj).number);
    expect(response).toMatchObject({ approved: true, cardToken: `tok-${(fx.request.card as Obj).number}`, cardLastFour: (fx.request.card as Obj).number.slice(-4) });
    expect(stamp.nonce).toBeTruthy();
    expect(client.methodTypes(FIXTURE_METHOD)).toEqual({ requestType: FIXTURE_REQUEST, responseType: FIXTURE_RESPONSE });
  });

  it('any message of the schema: a method without sensitive fields, and callRaw with bytes', async () => {
    const { response } = await client.call<Obj, Obj>(`/${FIXTURE_SERVICE}/SubmitPlain`, { tenantId: 't1', requestId: 'p-1' });
    expect(response).toMatchObject({ tenantId: 't1', requestId: 'p-1', declineReason: 'plain' });
    const stamp = newReplayStamp();
    const sealed = await cipher.sealMessage(FIXTURE_REQUEST, canarySubmitRequest('t1').request, { context: replayContext(stamp) });
    const fromObject = await client.callRaw<Obj, Obj>(FIXTURE_METHOD, sealed, stamp);
    expect(fromObject.cardToken).toMatch(/^[A-Za-z0-9_-]+$/); // still sealed: callRaw opens nothing
  });

  it('refuses a method the schema does not have, before calling', async () => {
    await expect(client.call(`/${FIXTURE_SERVICE}/Refund`, {})).rejects.toMatchObject({ code: 'UNKNOWN_METHOD' });
    await expect(client.call('/other.v1.Svc/Do', {})).rejects.toMatchObject({ code: 'UNKNOWN_METHOD' });
  });
});
