// Test fixtures of the payments example (the whole-stack tests, the
// reliability drills and the benchmark drive it): AuthorizeRequests whose
// every sensitive field holds a unique canary.
import { randomBytes } from 'node:crypto';
import { luhnCardNumber } from '@fle/client/testing';
import type { AuthorizeRequest } from './gen/acme/payments/v1/payments.js';

export { luhnCardNumber, luhnValid } from '@fle/client/testing';

export interface CanaryRequest {
  readonly request: AuthorizeRequest;
  /** A unique random marker; every sensitive string field contains it. */
  readonly canary: string;
  /** Every sensitive value as it would appear in plaintext bytes (for leak scans). */
  readonly needles: readonly string[];
}

/**
 * An AuthorizeRequest with a canary in every sensitive field (singular, nested,
 * repeated, map value, oneof, bytes). The card number is a fresh Luhn-valid
 * number (itself a needle: it must never appear outside the processor either).
 */
export function canaryAuthorizeRequest(tenant: string, opts: { requestId?: string; cardNumber?: string } = {}): CanaryRequest {
  const canary = `CANARY${randomBytes(9).toString('hex').toUpperCase()}`;
  const cardNumber = opts.cardNumber ?? luhnCardNumber();
  const request: AuthorizeRequest = {
    tenantId: tenant,
    requestId: opts.requestId ?? `req-${randomBytes(6).toString('hex')}`,
    amountMinor: 1250,
    currency: 'EUR',
    card: { number: cardNumber, holderName: `holder ${canary}`, expiryMonth: 12, expiryYear: 2031, cvv: new TextEncoder().encode(`cvv-${canary}`) },
    nationalId: `nid-${canary}`,
    biometricTemplate: new TextEncoder().encode(`bio-${canary}`),
    previousAddresses: [`addr1-${canary}`, `addr2-${canary}`],
    items: [{ sku: 'sku-1', quantity: 2, note: `note-${canary}` }],
    customerAttributes: { tier: `attr-${canary}` },
    email: `mail-${canary}@example.test`,
    merchantId: 'merchant-7',
    labels: { channel: 'web' },
  };
  return { request, canary, needles: [canary, cardNumber] };
}
