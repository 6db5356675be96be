// The demo's request: plausible values in every kind of sensitive field
// (singular, nested, repeated, map value, oneof, bytes), each carrying a
// random marker so that finding it anywhere means plaintext leaked there, and
// a fresh Luhn-valid test card number (prefix 4000 00: a test range). Its
// shape is the payments example's request (the API npm start serves, which
// the stack file names); it is encoded with that schema, loaded at run time.
import { randomBytes } from 'node:crypto';
import { luhnCardNumber } from '@fle/client/testing';

/** The fields the demo fills (camelCase, as the schema's codec reads them). */
export interface DemoAuthorizeRequest {
  tenantId: string;
  requestId: string;
  amountMinor: number;
  currency: string;
  card: { number: string; holderName: string; expiryMonth: number; expiryYear: number; cvv: Uint8Array };
  nationalId: string;
  biometricTemplate: Uint8Array;
  previousAddresses: string[];
  items: Array<{ sku: string; quantity: number; note: string }>;
  customerAttributes: Record<string, string>;
  email?: string;
  merchantId: string;
  labels: Record<string, string>;
}

/** What the demo reads of the response. */
export interface DemoAuthorizeResponse {
  approved: boolean;
  declineReason: string;
  cardToken: string;
  cardLastFour: string;
}

export interface DemoRequest {
  readonly request: DemoAuthorizeRequest;
  /** The request id (clear; it names the request in logs and in the summary). */
  readonly requestId: string;
}

export function demoAuthorizeRequest(tenant: string): DemoRequest {
  const mark = randomBytes(4).toString('hex');
  const requestId = `demo-${randomBytes(6).toString('hex')}`;
  const request: DemoAuthorizeRequest = {
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
