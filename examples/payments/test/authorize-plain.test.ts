// The benchmark baseline route (PaymentService.AuthorizePlain, handler
// `authorize-plain`): the same pipeline and handler on the unmarked twin types,
// asking no key, and storing AuthorizationRecordPlain in the same bucket.
// In-memory KV and nonce store (no I/O).
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { KV, KvEntry } from 'nats';
import { Boundary } from '@fle/boundary';
import { decodeSealedRecord } from '@fle/records';
import { FieldCipher, StaticKeyProvider, compileSchema, type KeyProvider } from '@fle/field-crypto';
import { canaryAuthorizeRequest } from '../src/testing.js';
import { MemoryNonceStore, createLogger, createServiceMetrics, newReplayStamp, replayContext } from '@fle/service-kit';
import { describe, expect, it } from 'vitest';
import { AUTHORIZATION_RECORD_PLAIN, AuthorizationStore } from '../src/authorization-store.js';
import { createAuthorizeHandler } from '../src/authorize.js';
import { AuthorizationRecord, AuthorizationRecordPlain, AuthorizePlainRequest, AuthorizePlainResponse, AuthorizeRequest } from '../src/gen/acme/payments/v1/payments.js';
import { AUTHORIZE_METHOD, AUTHORIZE_PLAIN_METHOD, PAYMENTS_RECORDS_RING, paymentsSchema } from '../src/schema.js';

const schema = compileSchema(paymentsSchema());
const silent = createLogger({ name: 'test', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const ROUTES = {
  plain: { method: AUTHORIZE_PLAIN_METHOD, route: 'authorize-plain' },
  sealed: { method: AUTHORIZE_METHOD, route: 'authorize' },
};

/** Just the two KV calls AuthorizationStore makes. */
function memoryKv(): { kv: KV; values: Map<string, Uint8Array> } {
  const values = new Map<string, Uint8Array>();
  const kv = {
    async create(key: string, value: Uint8Array) {
      if (values.has(key)) throw new Error('wrong last sequence');
      values.set(key, value);
      return values.size;
    },
    async get(key: string) {
      const value = values.get(key);
      return value ? ({ key, value, operation: 'PUT' } as unknown as KvEntry) : null;
    },
  } as unknown as KV;
  return { kv, values };
}

async function pipelineFor(route: keyof typeof ROUTES, keys: KeyProvider) {
  const { kv, values } = memoryKv();
  const store = new AuthorizationStore({ kv, schema, keys });
  const handler = createAuthorizeHandler({ store: route === 'plain' ? store.withCodec(AUTHORIZATION_RECORD_PLAIN) : store });
  const boundary = await Boundary.create({
    schema: paymentsSchema(),
    keys,
    handlers: { [ROUTES[route].method]: handler },
    routes: [ROUTES[route]],
    nonceStore: new MemoryNonceStore(),
    logger: silent,
    metrics: createServiceMetrics({ service: 'test', processMetrics: false }),
  });
  return { pipeline: boundary.pipeline, values };
}

const noKeys: KeyProvider = {
  primaryKey: () => Promise.reject(new Error('the baseline must not ask for a key')),
  keyVersion: () => Promise.reject(new Error('the baseline must not ask for a key')),
};

describe('authorize-plain (benchmark baseline route)', () => {
  it('answers the twin request without asking for any key and stores the unmarked record', async () => {
    const { pipeline, values } = await pipelineFor('plain', noKeys);
    const { request } = canaryAuthorizeRequest('t1');
    const stamp = newReplayStamp();
    const out = await pipeline.handle({
      transport: 'nats', path: ROUTES.plain.method, subjectTenant: 't1', subjectRoute: 'authorize-plain',
      bytes: AuthorizePlainRequest.encode(request).finish(), stamp, origin: 'core:1',
    });
    const res = AuthorizePlainResponse.decode(out.bytes);
    expect(res).toMatchObject({ tenantId: 't1', requestId: request.requestId, approved: true, cardLastFour: request.card!.number.slice(-4) });
    expect(res.cardToken).toMatch(/^tok_/);
    const stored = decodeSealedRecord(values.get(`t1.${stamp.nonce}`)!);
    expect(stored.typeName).toBe('acme.payments.v1.AuthorizationRecordPlain');
    const record = AuthorizationRecordPlain.decode(stored.message);
    expect(record).toMatchObject({ cardNumber: request.card!.number, nationalId: request.nationalId, cardToken: res.cardToken });
    await out.claim.complete();
  });

  it('the product route on the same store seals what it stores', async () => {
    const keys = new StaticKeyProvider(['default', 'pci', PAYMENTS_RECORDS_RING].map((ring) => ({ tenant: 't1', ring, versions: [{ version: 1, key: randomBytes(32) }] })));
    const { pipeline, values } = await pipelineFor('sealed', keys);
    const { request } = canaryAuthorizeRequest('t1');
    const stamp = newReplayStamp();
    const sealed = await new FieldCipher({ schema, keys }).sealMessage('acme.payments.v1.AuthorizeRequest', request, { context: replayContext(stamp) });
    const out = await pipeline.handle({
      transport: 'nats', path: ROUTES.sealed.method, subjectTenant: 't1', subjectRoute: 'authorize',
      bytes: AuthorizeRequest.encode(sealed).finish(), stamp, origin: 'core:2',
    });
    const record = AuthorizationRecord.decode(decodeSealedRecord(values.get(`t1.${stamp.nonce}`)!).message);
    expect(record.cardNumber).not.toContain(request.card!.number);
    expect(record.nationalId).not.toContain(request.nationalId);
    await out.claim.complete();
  });
});
