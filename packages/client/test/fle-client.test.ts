// The SDK against an in-process mTLS gRPC server that stands in for gateway +
// processor: it checks the stamp metadata, opens the request with the stamp's
// context, and seals its response (under the same or a wrong context).
import { randomBytes } from 'node:crypto';
import { Metadata, Server, status, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { FieldCipher, StaticKeyProvider, compileSchema } from '@fle/field-crypto';
import { channelCredentials, serverCredentials, type DevPki } from '@fle/pki';
import { serviceDefinition } from '@fle/schema';
import { ERROR_CODE_METADATA, replayContext, stampFromMetadata } from '@fle/service-kit';
import { FIXTURE_METHOD, FIXTURE_REQUEST, FIXTURE_RESPONSE, FIXTURE_SERVICE, canaryLedgerRequest, fixtureSchema, makeTestPki, type LedgerRequest, type LedgerResponse } from '@fle/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleCallError, FleClient, newReplayStamp } from '../src/mod.js';
import { luhnCardNumber, luhnValid } from '../src/testing.js';

// On the neutral fixture service (fletest.svc.v1.LedgerService/Submit), loaded at run time.
type AuthorizeRequest = LedgerRequest;
type AuthorizeResponse = LedgerResponse;
const canaryAuthorizeRequest = canaryLedgerRequest;
/** The typed convenience a team writes over FleClient, here for the fixture's Submit. */
class PaymentsClient {
  readonly fle: FleClient;
  constructor(opts: ConstructorParameters<typeof FleClient>[0]) {
    this.fle = new FleClient({ schema: fixtureSchema(), ...opts });
  }
  authorizeWithStamp(request: AuthorizeRequest) {
    return this.fle.call<AuthorizeRequest, AuthorizeResponse>(FIXTURE_METHOD, request);
  }
  async authorize(request: AuthorizeRequest): Promise<AuthorizeResponse> {
    return (await this.authorizeWithStamp(request)).response;
  }
  close(): void {
    this.fle.close();
  }
}

const keys = new StaticKeyProvider(['default', 'pci'].map((ring) => ({ tenant: 't1', ring, versions: [{ version: 3, key: randomBytes(32) }] })));
const cipher = new FieldCipher({ schema: compileSchema(fixtureSchema()), keys });

describe('FleClient (a typed wrapper over it, on the fixture schema)', () => {
  let pki: DevPki;
  let server: Server;
  let client: PaymentsClient;
  let mode: 'ok' | 'wrong-context' | 'error' = 'ok';
  const received: Array<{ sealed: AuthorizeRequest; opened: AuthorizeRequest }> = [];

  beforeAll(async () => {
    pki = await makeTestPki();
    server = new Server();
    server.addService(serviceDefinition(fixtureSchema(), FIXTURE_SERVICE) as never, {
      Submit: (call: ServerUnaryCall<AuthorizeRequest, AuthorizeResponse>, cb: sendUnaryData<AuthorizeResponse>) => {
        void (async () => {
          if (mode === 'error') {
            const md = new Metadata();
            md.set(ERROR_CODE_METADATA, 'REPLAY_NONCE');
            return cb({ code: status.PERMISSION_DENIED, details: 'request nonce already used', metadata: md });
          }
          const stamp = stampFromMetadata(call.metadata);
          const opened = await cipher.openMessage(FIXTURE_REQUEST, call.request, { context: replayContext(stamp) });
          received.push({ sealed: call.request, opened });
          const response: AuthorizeResponse = { tenantId: 't1', requestId: opened.requestId, approved: true, declineReason: '', cardToken: `tok-${opened.card!.number}`, cardLastFour: opened.card!.number.slice(-4), authorizationCode: 'X' };
          const context = mode === 'ok' ? replayContext(stamp) : replayContext(newReplayStamp());
          cb(null, await cipher.sealMessage(FIXTURE_RESPONSE, response, { context }));
        })().catch((err: unknown) => cb({ code: status.INTERNAL, details: String(err) }));
      },
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', serverCredentials(pki.files('gateway')), (e, p) => (e ? reject(e) : resolve(p))));
    client = new PaymentsClient({ address: `127.0.0.1:${port}`, credentials: channelCredentials(pki.files('client'), { expectedServerIdentity: 'spiffe://fle.local/gateway' }), cipher });
  });
  afterAll(() => {
    client?.close();
    server?.forceShutdown();
  });

  it('seals every sensitive field under req/<ts>/<nonce>, stamps metadata, opens the response', async () => {
    mode = 'ok';
    const fx = canaryAuthorizeRequest('t1');
    const { response, stamp } = await client.authorizeWithStamp(fx.request);
    expect(Math.abs(stamp.timestampMs - Date.now())).toBeLessThan(5000);
    const last = received.at(-1)!;
    expect(last.opened).toEqual(fx.request);
    expect(JSON.stringify(last.sealed)).not.toContain(fx.canary);
    expect(last.sealed.card!.number).not.toBe(fx.request.card!.number);
    expect(response.cardToken).toBe(`tok-${fx.request.card!.number}`);
    expect(response.cardLastFour).toBe(fx.request.card!.number.slice(-4));
    // a fresh stamp per call
    const second = await client.authorizeWithStamp(canaryAuthorizeRequest('t1').request);
    expect(second.stamp.nonce).not.toBe(stamp.nonce);
  });

  it('refuses a response sealed for another request (binding to the request context)', async () => {
    mode = 'wrong-context';
    await expect(client.authorize(canaryAuthorizeRequest('t1').request)).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
  });

  it('surfaces status and the fle error code as FleCallError', async () => {
    mode = 'error';
    const err = await client.authorize(canaryAuthorizeRequest('t1').request).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(FleCallError);
    expect(err).toMatchObject({ status: status.PERMISSION_DENIED, code: 'REPLAY_NONCE', details: 'request nonce already used' });
  });

  it('test helpers: Luhn-valid card numbers', () => {
    for (let i = 0; i < 20; i++) expect(luhnValid(luhnCardNumber())).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
  });
});

// FleClient makes its unary calls on the channel itself (no interceptor chain,
// no stack trace per call): the statuses grpc-js's makeUnaryRequest gives stay.
describe('FleClient calls: the statuses of a call that goes wrong', () => {
  let pki: DevPki;
  let server: Server;
  let fle: FleClient;
  let mode: 'junk' | 'silent' = 'junk';

  beforeAll(async () => {
    pki = await makeTestPki();
    server = new Server();
    const def = serviceDefinition(fixtureSchema(), FIXTURE_SERVICE);
    // Submit answers bytes that are no SubmitResponse (a field 1 string running past the end), or never answers.
    const submit = { ...def['Submit']!, responseSerialize: () => Buffer.of(0x0a, 0x7f, 0x41) };
    server.addService({ ...def, Submit: submit } as never, {
      Submit: (_call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => {
        if (mode === 'junk') cb(null, {});
      },
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', serverCredentials(pki.files('gateway')), (e, p) => (e ? reject(e) : resolve(p))));
    fle = new FleClient({ schema: fixtureSchema(), address: `127.0.0.1:${port}`, credentials: channelCredentials(pki.files('client'), { expectedServerIdentity: 'spiffe://fle.local/gateway' }), cipher });
  });
  afterAll(() => {
    fle?.close();
    server?.forceShutdown();
  });

  const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);

  it('a response that does not parse is INTERNAL', async () => {
    mode = 'junk';
    const err = await failure(fle.call(FIXTURE_METHOD, canaryAuthorizeRequest('t1').request));
    expect(err).toBeInstanceOf(FleCallError);
    expect(err).toMatchObject({ status: status.INTERNAL, code: 'UNKNOWN', details: expect.stringMatching(/^Response message parsing error: /) });
  });

  it('no answer before the deadline is DEADLINE_EXCEEDED', async () => {
    mode = 'silent';
    const err = await failure(fle.call(FIXTURE_METHOD, canaryAuthorizeRequest('t1').request, { deadlineMs: 300 }));
    expect(err).toMatchObject({ status: status.DEADLINE_EXCEEDED, code: 'UNKNOWN' });
  });

  it('a request the schema cannot encode is INTERNAL', async () => {
    mode = 'junk';
    const err = await failure(fle.callRaw(FIXTURE_METHOD, { tenantId: 't1', card: 7 } as never, undefined));
    expect(err).toMatchObject({ status: status.INTERNAL, details: expect.stringMatching(/^Request message serialization failure: /) });
  });
});
