// The payments schema as loadSchema reads it (the processor's `schema:`), and
// the example's generated ts-proto code: same marks, same wire.
import { describe, expect, it } from 'vitest';
import { AuthorizeRequest } from '../src/gen/acme/payments/v1/payments.js';
import { paymentsSchema as schemaRoot } from '../src/schema.js';

describe('the payments schema', () => {
  it('keeps the fle.v1 options in the loaded schema', () => {
    const type = schemaRoot().lookupType('acme.payments.v1.AuthorizeRequest');
    expect(type.options?.['(fle.v1.tenant_field)']).toBe('tenant_id');
    expect(type.fields['nationalId']?.options?.['(fle.v1.sensitive)']).toBe(true);
    expect(type.fields['merchantId']?.options?.['(fle.v1.sensitive)']).toBeUndefined();
  });

  it('ts-proto types and the reflection descriptor agree on the wire', () => {
    const msg = AuthorizeRequest.fromPartial({ tenantId: 't1', nationalId: 'x', customerAttributes: { a: 'b' }, email: 'e' });
    const bytes = AuthorizeRequest.encode(msg).finish();
    const decoded = schemaRoot().lookupType('acme.payments.v1.AuthorizeRequest').decode(bytes).toJSON();
    expect(decoded).toMatchObject({ tenantId: 't1', nationalId: 'x', customerAttributes: { a: 'b' }, email: 'e' });
  });
});

describe('benchmark baseline twins', () => {
  const root = schemaRoot();
  const twins: [string, string][] = [
    ['Card', 'CardPlain'],
    ['LineItem', 'LineItemPlain'],
    ['AuthorizeRequest', 'AuthorizePlainRequest'],
    ['AuthorizeResponse', 'AuthorizePlainResponse'],
    ['AuthorizationRecord', 'AuthorizationRecordPlain'],
  ];
  const nested: Record<string, string> = { 'acme.payments.v1.Card': 'acme.payments.v1.CardPlain', 'acme.payments.v1.LineItem': 'acme.payments.v1.LineItemPlain' };

  it.each(twins)('%s and %s have the same fields and tenant field, the twin no sensitive mark', (name, twin) => {
    const a = root.lookupType(`acme.payments.v1.${name}`);
    const b = root.lookupType(`acme.payments.v1.${twin}`);
    expect(b.options?.['(fle.v1.tenant_field)']).toBe(a.options?.['(fle.v1.tenant_field)']);
    const shape = (t: typeof a, mapNested: boolean) =>
      t.fieldsArray.map((f) => {
        f.resolve();
        const type = f.resolvedType ? f.resolvedType.fullName.slice(1) : f.type;
        return { name: f.name, id: f.id, rule: f.repeated ? 'repeated' : f.map ? 'map' : '', type: mapNested ? (nested[type] ?? type) : type, oneof: f.partOf?.name };
      });
    expect(shape(b, false)).toEqual(shape(a, true));
    expect(a.fieldsArray.some((f) => f.options?.['(fle.v1.sensitive)'] === true)).toBe(true);
    for (const f of b.fieldsArray) {
      expect(f.options?.['(fle.v1.sensitive)']).toBeUndefined();
      expect(f.options?.['(fle.v1.key_ring)']).toBeUndefined();
    }
  });

  it('PaymentService.AuthorizePlain takes and returns the twins', () => {
    const m = root.lookupService('acme.payments.v1.PaymentService').methods['AuthorizePlain']!;
    expect([m.requestType, m.responseType]).toEqual(['AuthorizePlainRequest', 'AuthorizePlainResponse']);
  });
});
