import { randomBytes } from 'node:crypto';
import { FieldCipher, StaticKeyProvider, compileSchema } from '@fle/field-crypto';
import { messageCodec, serviceDefinition } from '@fle/schema';
import { RpcRegistry } from '@fle/service-kit';
import { canarySubmitRequest, FIXTURE_METHOD, FIXTURE_REQUEST, FIXTURE_SERVICE, fixtureSchema } from '@fle/testkit';
import { describe, expect, it } from 'vitest';
import { checkRequest } from '../src/request-check.js';

type Req = Record<string, any>;
const root = fixtureSchema();
const schema = compileSchema(root);
const method = new RpcRegistry(root, [serviceDefinition(root, FIXTURE_SERVICE)]).get(FIXTURE_METHOD);
const keys = new StaticKeyProvider(
  ['t1', 'bad.tenant'].flatMap((tenant) => ['default', 'pci'].map((ring) => ({ tenant, ring, versions: [{ version: 1, key: randomBytes(32) }] }))),
);
const cipher = new FieldCipher({ schema, keys });
const encode = (m: Req) => messageCodec(root, FIXTURE_REQUEST).encode(m);

describe('gateway checkRequest (no keys)', () => {
  it('accepts a fully sealed request and counts its envelopes', async () => {
    const { request } = canarySubmitRequest('t1');
    const sealed: Req = await cipher.sealMessage(FIXTURE_REQUEST, request, { context: 'req/1/x' });
    const checked = checkRequest(schema, method, encode(sealed), 1 << 20);
    expect(checked.tenant).toBe('t1');
    // number, holder, cvv, national_id, biometric, 2 addresses, 1 note, 1 attribute, email
    expect(checked.envelopes).toBe(10);
  });

  it('refuses plaintext in any sensitive field with INVALID_ARGUMENT naming the field, never its value', async () => {
    const { request, canary } = canarySubmitRequest('t1');
    const sealed: Req = await cipher.sealMessage(FIXTURE_REQUEST, request, { context: 'req/1/x' });
    const variants: Array<[string, Req]> = [
      ['SubmitRequest.nationalId (6)', { ...sealed, nationalId: `plain-${canary}` }],
      ['Card.number (5.1)', { ...sealed, card: { ...sealed.card!, number: (request.card as Req).number } }],
      ['Card.cvv (5.5)', { ...sealed, card: { ...sealed.card!, cvv: (request.card as Req).cvv } }],
      ['LineItem.note (9.3)', { ...sealed, items: [{ ...sealed.items[0]!, note: `n-${canary}` }] }],
      ['SubmitRequest.customerAttributes (10[tier])', { ...sealed, customerAttributes: { tier: `t-${canary}` } }],
      ['SubmitRequest.previousAddresses (8)', { ...sealed, previousAddresses: [sealed.previousAddresses[0]!, `a-${canary}`] }],
      ['SubmitRequest.email (11)', { ...sealed, email: `m-${canary}` }],
    ];
    for (const [field, msg] of variants) {
      let caught: unknown;
      try {
        checkRequest(schema, method, encode(msg), 1 << 20);
      } catch (err) {
        caught = err;
      }
      expect(caught, field).toMatchObject({ code: 'PLAINTEXT_IN_SENSITIVE_FIELD' });
      const text = `${(caught as Error).message} ${JSON.stringify(caught)}`;
      expect(text).toContain(field);
      expect(text).not.toContain(canary);
      expect(text).not.toContain((request.card as Req).number);
    }
  });

  it('refuses a tenant that is not a NATS token, garbage bytes, and oversize requests', async () => {
    const { request } = canarySubmitRequest('bad.tenant');
    const sealed: Req = await cipher.sealMessage(FIXTURE_REQUEST, request, { context: 'req/1/x' });
    expect(() => checkRequest(schema, method, encode(sealed), 1 << 20)).toThrow(expect.objectContaining({ code: 'INVALID_TENANT' }));
    expect(() => checkRequest(schema, method, encode({ ...sealed, tenantId: '' }), 1 << 20)).toThrow(expect.objectContaining({ code: 'MISSING_TENANT' }));
    expect(() => checkRequest(schema, method, Uint8Array.of(0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f), 1 << 20)).toThrow(expect.objectContaining({ code: 'BAD_PROTOBUF' }));
    expect(() => checkRequest(schema, method, encode(sealed), 64)).toThrow(expect.objectContaining({ code: 'MESSAGE_TOO_LARGE' }));
  });
});
