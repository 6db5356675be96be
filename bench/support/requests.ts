// The requests the end-to-end benchmark sends: every shape of sensitive field
// (nested, repeated, map value, oneof, bytes) with realistic sizes, and a
// `biometric_template` of the size under test (the field-size sweep). The
// baseline sends the very same objects as AuthorizePlainRequest (same fields).
import { randomBytes } from 'node:crypto';
import { luhnCardNumber } from '@fle/client/testing';
import type { AuthorizeRequest } from '@fle-examples/payments/gen/acme/payments/v1/payments.js';

export function benchRequest(tenant: string, i: number, payloadBytes: number): AuthorizeRequest {
  return {
    tenantId: tenant,
    requestId: `bench-${i}`,
    amountMinor: 1000 + i,
    currency: 'EUR',
    card: { number: luhnCardNumber(), holderName: 'Zoe Angstrom', expiryMonth: 12, expiryYear: 2031, cvv: Uint8Array.of(1, 2, 3) },
    nationalId: '123-45-6789',
    biometricTemplate: randomBytes(payloadBytes),
    previousAddresses: ['1 Main St, Springfield', '22 High St, Shelbyville'],
    items: [
      { sku: 'sku-1', quantity: 1, note: 'gift wrap please' },
      { sku: 'sku-2', quantity: 2, note: 'leave at the door' },
    ],
    customerAttributes: { tier: 'gold', segment: 'returning' },
    email: 'zoe@example.com',
    merchantId: 'merchant-7',
    labels: { channel: 'web' },
  };
}

/** How many envelopes one bench request carries (sensitive values that are non-empty). */
export const ENVELOPES_PER_REQUEST = 12;
