// The demo's AuthorizeRequest: plausible values in every kind of sensitive
// field (singular, nested, repeated, map value, oneof, bytes), each carrying a
// random marker so that finding it anywhere means plaintext leaked there, and
// a fresh Luhn-valid test card number (prefix 4000 00: a test range).
import { randomBytes } from 'node:crypto';
import { luhnCardNumber } from '@fle/client/testing';
import type { AuthorizeRequest } from '@fle/schema/gen/acme/payments/v1/payments.js';

export interface DemoRequest {
  readonly request: AuthorizeRequest;
  /** The request id (clear; it names the request in logs and in the summary). */
  readonly requestId: string;
}

export function demoAuthorizeRequest(tenant: string): DemoRequest {
  const mark = randomBytes(4).toString('hex');
  const requestId = `demo-${randomBytes(6).toString('hex')}`;
  const request: AuthorizeRequest = {
    tenantId: tenant,
    requestId,
    amountMinor: 4200,
    currency: 'EUR',
    card: {
      number: luhnCardNumber('400000', 16),
      holderName: `Ada Lovelace ${mark}`,
      expiryMonth: 12,
      expiryYear: 2031,
      cvv: new TextEncoder().encode(`cvv-737-${mark}`),
    },
    nationalId: `NID-1815-${mark}`,
    biometricTemplate: new TextEncoder().encode(`face-template-${mark}`),
    previousAddresses: [`12 St James's Square, London ${mark}`],
    items: [{ sku: 'analytical-engine', quantity: 1, note: `gift wrap, note ${mark}` }],
    customerAttributes: { loyalty: `gold-${mark}` },
    email: `ada.${mark}@example.test`,
    merchantId: 'merchant-demo',
    labels: { channel: 'demo' },
  };
  return { request, requestId };
}
