import { describe, expect, it } from 'vitest';
import { schemaRoot } from '@fle/schema';
import { AuthorizeRequest } from '@fle/schema/gen/acme/payments/v1/payments.js';

describe('@fle/schema', () => {
  it('keeps the fle.v1 options in the reflection descriptor', () => {
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
