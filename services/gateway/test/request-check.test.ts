import { randomBytes } from 'node:crypto';
import { FieldCipher, StaticKeyProvider, compileSchema, compileWireCheck } from '@fle/field-crypto';
import { messageCodec, serviceDefinition } from '@fle/schema';
import { RpcRegistry } from '@fle/service-kit';
import { canarySubmitRequest, FIXTURE_METHOD, FIXTURE_REQUEST, FIXTURE_SERVICE, fixtureSchema } from '@fle/testkit';
import { describe, expect, it } from 'vitest';
import { checkRequest } from '../src/request-check.js';

type Req = Record<string, any>;
const root = fixtureSchema();
const schema = compileSchema(root);
const method = new RpcRegistry(root, [serviceDefinition(root, FIXTURE_SERVICE)]).get(FIXTURE_METHOD);
const wire = compileWireCheck(root, FIXTURE_REQUEST);
const keys = new StaticKeyProvider(
  ['t1', 'bad.tenant'].flatMap((tenant) => ['default', 'pci'].map((ring) => ({ tenant, ring, versions: [{ version: 1, key: randomBytes(32) }] }))),
);
const cipher = new FieldCipher({ schema, keys });
const encode = (m: Req) => messageCodec(root, FIXTURE_REQUEST).encode(m);

describe('gateway checkRequest (no keys)', () => {
  it('accepts a fully sealed request and counts its envelopes', async () => {
    const { request } = canarySubmitRequest('t1');
    const sealed: Req = await cipher.sealMessage(FIXTURE_REQUEST, request, { context: 'req/1/x' });
    const checked = checkRequest(schema, method, wire, encode(sealed), 1 << 20);
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
        checkRequest(schema, method, wire, encode(msg), 1 << 20);
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
    expect(() => checkRequest(schema, method, wire, encode(sealed), 1 << 20)).toThrow(expect.objectContaining({ code: 'INVALID_TENANT' }));
    expect(() => checkRequest(schema, method, wire, encode({ ...sealed, tenantId: '' }), 1 << 20)).toThrow(expect.objectContaining({ code: 'MISSING_TENANT' }));
    // Truncated: the wire check refuses it before any decoder reads it.
    expect(() => checkRequest(schema, method, wire, Uint8Array.of(0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f), 1 << 20)).toThrow(expect.objectContaining({ code: 'WIRE_FORMAT' }));
    expect(() => checkRequest(schema, method, wire, encode(sealed), 64)).toThrow(expect.objectContaining({ code: 'MESSAGE_TOO_LARGE' }));
  });

  // Issue 17.1: bytes that hold more than their decoded view (the decoder keeps
  // the last copy, merges messages, drops unknown fields) are refused before
  // forwarding, naming the field number, never the value.
  it('refuses hidden plaintext a decoder would drop or merge: earlier copy, unknown field, other wire type, duplicate map key', async () => {
    const { request, canary } = canarySubmitRequest('t1');
    const sealed: Req = await cipher.sealMessage(FIXTURE_REQUEST, request, { context: 'req/1/x' });
    const good = encode(sealed);
    const plain = new TextEncoder().encode(`plain-${canary}`);
    const len = (field: number, body: Uint8Array) => Uint8Array.from([(field << 3) | 2, body.length, ...body]);
    const cat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));
    const attacks: Array<[string, Uint8Array, RegExp]> = [
      // An earlier copy of national_id (6) in clear; the sealed copy after it wins in a decoder.
      ['earlier copy of a sensitive field', cat(len(6, plain), good), /field 6 /],
      // A second Card (5) in clear, merged by a decoder into the sealed one.
      ['nested message merged', cat(len(5, len(1, plain)), good), /field 5 /],
      ['unknown field number', cat(good, len(15, plain)), /field 15 /],
      // national_id (6) as fixed64: a decoder would skip it as unknown.
      ['sensitive field with another wire type', cat(good, Uint8Array.of((6 << 3) | 1, ...plain.subarray(0, 8))), /field 6 /],
      // customer_attributes (10) with the key "tier" twice.
      ['duplicate map key', cat(good, len(10, cat(len(1, new TextEncoder().encode('tier')), len(2, plain)))), /field 10 |map|key/],
    ];
    for (const [name, bytes, field] of attacks) {
      let caught: unknown;
      try {
        checkRequest(schema, method, wire, bytes, 1 << 20);
      } catch (err) {
        caught = err;
      }
      expect(caught, name).toMatchObject({ code: 'WIRE_FORMAT' });
      expect((caught as Error).message, name).toMatch(field);
      expect(`${(caught as Error).message} ${JSON.stringify(caught)}`, name).not.toContain(canary);
    }
  });

  it('caps envelopes per request (maxEnvelopes)', async () => {
    const { request } = canarySubmitRequest('t1');
    const sealed: Req = await cipher.sealMessage(FIXTURE_REQUEST, request, { context: 'req/1/x' });
    expect(checkRequest(schema, method, compileWireCheck(root, FIXTURE_REQUEST, { maxEnvelopes: 10 }), encode(sealed), 1 << 20).envelopes).toBe(10);
    expect(() => checkRequest(schema, method, compileWireCheck(root, FIXTURE_REQUEST, { maxEnvelopes: 9 }), encode(sealed), 1 << 20)).toThrow(
      expect.objectContaining({ code: 'TOO_MANY_ENVELOPES' }),
    );
  });
});
