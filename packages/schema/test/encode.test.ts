import { describe, expect, it } from 'vitest';
import { schemaRoot } from '@fle/schema';
import { encodeMessage, encodeToBuffer } from '@fle/schema/encode';
import { AuthorizationRecord, AuthorizeRequest, AuthorizeResponse, Card, PaymentServiceService } from '@fle/schema/gen/acme/payments/v1/payments.js';
import { KeystoreAdminServiceService, KeystoreServiceService } from '@fle/schema/gen/fle/keystore/v1/keystore.js';
import { messageFns, serviceDefinitions } from '@fle/schema/gen/message-registry.js';
import { serializerFor } from '@fle/schema/serializers';

const request = (i: number, payload: number) =>
  AuthorizeRequest.fromPartial({
    tenantId: `t${i}`,
    requestId: `r-${i}`,
    amountMinor: 1000 + i,
    card: { number: 'AQEAAAAB'.repeat(1 + (i % 9)), cvv: Uint8Array.of(1, 2, i & 0xff) },
    nationalId: 'é'.repeat(i % 40), // non-ASCII, long and short
    biometricTemplate: Uint8Array.from({ length: payload }, (_, j) => (j * 31 + i) & 0xff),
    previousAddresses: Array.from({ length: i % 4 }, (_, j) => `${j} Main St`.repeat(i % 7)),
    customerAttributes: { tier: 'gold', n: String(i) },
    labels: i % 2 ? { channel: 'web' } : {},
  });

describe('@fle/schema/encode (one reused writer per process)', () => {
  it('gives the very bytes of encode().finish(), message after message of any size and type', () => {
    for (let i = 0; i < 60; i++) {
      const msg = request(i, [0, 16, 1024, 70_000, 300][i % 5]!);
      const expected = AuthorizeRequest.encode(msg).finish();
      const got = encodeMessage(AuthorizeRequest, msg);
      expect(got.length).toBe(expected.length);
      expect(Buffer.compare(got, expected)).toBe(0);
      // A smaller message of another type right after a large one: nothing of the previous one leaks.
      const response = AuthorizeResponse.fromPartial({ tenantId: 't', approved: i % 2 === 0, cardLastFour: '1111' });
      expect(encodeMessage(AuthorizeResponse, response)).toEqual(AuthorizeResponse.encode(response).finish());
    }
  });

  it('returns arrays of their own, and Buffers over them', () => {
    const a = encodeMessage(Card, Card.fromPartial({ number: '4111111111111111' }));
    const copy = Uint8Array.from(a);
    const b = encodeToBuffer(Card, Card.fromPartial({ number: '5500000000000004', holderName: 'Z' }));
    expect(a).toEqual(copy); // the next encode did not write into it
    expect(Buffer.isBuffer(b)).toBe(true);
    expect(Card.decode(b)).toMatchObject({ number: '5500000000000004', holderName: 'Z' });
  });

  it('recovers from a failed encode: the next message is encoded whole', () => {
    const bad = AuthorizationRecord.fromPartial({ tenantId: 't', amountMinor: -5 }); // uint64 refuses a negative number
    expect(() => encodeMessage(AuthorizationRecord, bad)).toThrow();
    const good = request(3, 64);
    expect(encodeMessage(AuthorizeRequest, good)).toEqual(AuthorizeRequest.encode(good).finish());
  });

  it('the registry names every message of the reflection schema with its ts-proto functions', () => {
    const names: string[] = [];
    const walk = (ns: { nestedArray: unknown[] }): void => {
      for (const o of ns.nestedArray as Array<{ fullName: string; fields?: unknown; nestedArray?: unknown[] }>) {
        if (o.fields !== undefined) names.push(o.fullName.slice(1));
        if (o.nestedArray) walk(o as { nestedArray: unknown[] });
      }
    };
    walk(schemaRoot());
    const ours = names.filter((n) => !n.startsWith('google.'));
    expect(Object.keys(messageFns).sort()).toEqual(ours.sort());
    expect(messageFns['acme.payments.v1.AuthorizeRequest']).toBe(AuthorizeRequest);
    expect(new Set(serviceDefinitions)).toEqual(new Set([PaymentServiceService, KeystoreServiceService, KeystoreAdminServiceService]));
  });

  it('serializerFor: a generated definition gets the reused writer (same bytes), any other keeps its own serializer', () => {
    const def = PaymentServiceService.authorize;
    const fast = serializerFor(def, 'acme.payments.v1.AuthorizeRequest', def.requestSerialize);
    expect(fast).not.toBe(def.requestSerialize);
    const msg = request(7, 1024);
    expect(Buffer.compare(fast(msg), def.requestSerialize(msg))).toBe(0);
    const wrapper = { ...def, requestSerialize: (v: AuthorizeRequest) => def.requestSerialize(v) };
    expect(serializerFor(wrapper, 'acme.payments.v1.AuthorizeRequest', wrapper.requestSerialize)).toBe(wrapper.requestSerialize);
    expect(serializerFor(def, 'no.such.Type', def.requestSerialize)).toBe(def.requestSerialize);
  });
});
