import { randomBytes } from 'node:crypto';
import { FieldCipher, StaticKeyProvider, compileSchema } from '@fle/field-crypto';
import { canaryAuthorizeRequest } from '@fle/client/testing';
import { schemaRoot } from '@fle/schema';
import { AuthorizeRequest } from '@fle/schema/gen/acme/payments/v1/payments.js';
import { RpcRegistry } from '@fle/service-kit';
import { describe, expect, it } from 'vitest';
import { KNOWN_SERVICES } from '../src/known-services.js';
import { checkRequest } from '../src/request-check.js';

const schema = compileSchema(schemaRoot());
const method = new RpcRegistry(schemaRoot(), KNOWN_SERVICES).get('/acme.payments.v1.PaymentService/Authorize');
const keys = new StaticKeyProvider(
  ['t1', 'bad.tenant'].flatMap((tenant) => ['default', 'pci'].map((ring) => ({ tenant, ring, versions: [{ version: 1, key: randomBytes(32) }] }))),
);
const cipher = new FieldCipher({ schema, keys });
const encode = (m: AuthorizeRequest) => AuthorizeRequest.encode(m).finish();

describe('gateway checkRequest (no keys)', () => {
  it('accepts a fully sealed request and counts its envelopes', async () => {
    const { request } = canaryAuthorizeRequest('t1');
    const sealed = await cipher.sealMessage('acme.payments.v1.AuthorizeRequest', request, { context: 'req/1/x' });
    const checked = checkRequest(schema, method, encode(sealed), 1 << 20);
    expect(checked.tenant).toBe('t1');
    // number, holder, cvv, national_id, biometric, 2 addresses, 1 note, 1 attribute, email
    expect(checked.envelopes).toBe(10);
  });

  it('refuses plaintext in any sensitive field with INVALID_ARGUMENT naming the field, never its value', async () => {
    const { request, canary } = canaryAuthorizeRequest('t1');
    const sealed = await cipher.sealMessage('acme.payments.v1.AuthorizeRequest', request, { context: 'req/1/x' });
    const variants: Array<[string, AuthorizeRequest]> = [
      ['AuthorizeRequest.nationalId (6)', { ...sealed, nationalId: `plain-${canary}` }],
      ['Card.number (5.1)', { ...sealed, card: { ...sealed.card!, number: request.card!.number } }],
      ['Card.cvv (5.5)', { ...sealed, card: { ...sealed.card!, cvv: request.card!.cvv } }],
      ['LineItem.note (9.3)', { ...sealed, items: [{ ...sealed.items[0]!, note: `n-${canary}` }] }],
      ['AuthorizeRequest.customerAttributes (10[tier])', { ...sealed, customerAttributes: { tier: `t-${canary}` } }],
      ['AuthorizeRequest.previousAddresses (8)', { ...sealed, previousAddresses: [sealed.previousAddresses[0]!, `a-${canary}`] }],
      ['AuthorizeRequest.email (11)', { ...sealed, email: `m-${canary}` }],
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
      expect(text).not.toContain(request.card!.number);
    }
  });

  it('refuses a tenant that is not a NATS token, garbage bytes, and oversize requests', async () => {
    const { request } = canaryAuthorizeRequest('bad.tenant');
    const sealed = await cipher.sealMessage('acme.payments.v1.AuthorizeRequest', request, { context: 'req/1/x' });
    expect(() => checkRequest(schema, method, encode(sealed), 1 << 20)).toThrow(expect.objectContaining({ code: 'INVALID_TENANT' }));
    expect(() => checkRequest(schema, method, encode({ ...sealed, tenantId: '' }), 1 << 20)).toThrow(expect.objectContaining({ code: 'MISSING_TENANT' }));
    expect(() => checkRequest(schema, method, Uint8Array.of(0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f), 1 << 20)).toThrow(expect.objectContaining({ code: 'BAD_PROTOBUF' }));
    expect(() => checkRequest(schema, method, encode(sealed), 64)).toThrow(expect.objectContaining({ code: 'MESSAGE_TOO_LARGE' }));
  });
});
