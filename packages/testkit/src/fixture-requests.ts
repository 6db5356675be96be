// Requests of the fixture schema (fletest.svc.v1.SubmitRequest) with a unique
// canary in every sensitive field, for leak scans: singular, nested, repeated,
// map value, oneof, bytes. Plain objects in the shape messageCodec and the
// field walk use (camelCase, bytes as Uint8Array).
import { randomBytes } from 'node:crypto';

export interface FixtureCanaryRequest {
  readonly request: Record<string, unknown> & { tenantId: string; requestId: string };
  /** A unique random marker; every sensitive string field contains it. */
  readonly canary: string;
  /** Every sensitive value as it would appear in plaintext bytes (for leak scans). */
  readonly needles: readonly string[];
  /** How many envelopes the sealed request carries. */
  readonly envelopes: number;
}

export function canarySubmitRequest(tenant: string, opts: { requestId?: string } = {}): FixtureCanaryRequest {
  const canary = `CANARY${randomBytes(9).toString('hex').toUpperCase()}`;
  const number = `4${randomBytes(8).readBigUInt64BE().toString().padStart(15, '0').slice(0, 15)}`;
  const request = {
    tenantId: tenant,
    requestId: opts.requestId ?? `req-${randomBytes(6).toString('hex')}`,
    amountMinor: 1250,
    currency: 'EUR',
    card: { number, holderName: `holder ${canary}`, expiryMonth: 12, expiryYear: 2031, cvv: new TextEncoder().encode(`cvv-${canary}`) },
    nationalId: `nid-${canary}`,
    biometricTemplate: new TextEncoder().encode(`bio-${canary}`),
    previousAddresses: [`addr1-${canary}`, `addr2-${canary}`],
    items: [{ sku: 'sku-1', quantity: 2, note: `note-${canary}` }],
    customerAttributes: { tier: `attr-${canary}` },
    email: `mail-${canary}@example.test`,
    merchantId: 'merchant-7',
    labels: { channel: 'web' },
  };
  // number, holder, cvv, national_id, biometric, 2 addresses, 1 note, 1 attribute, email
  return { request, canary, needles: [canary, number], envelopes: 10 };
}
