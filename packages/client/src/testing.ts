// Test fixtures shared by the client, gateway and processor suites (and later
// the end-to-end benchmark): AuthorizeRequests whose every sensitive field
// holds a unique canary, and a Luhn-valid card number generator.
import { randomBytes, randomInt } from 'node:crypto';
import type { AuthorizeRequest } from '@fle/schema/gen/acme/payments/v1/payments.js';

/** A Luhn-valid card number of `length` digits starting with `prefix`. */
export function luhnCardNumber(prefix = '4', length = 16): string {
  let digits = prefix;
  while (digits.length < length - 1) digits += String(randomInt(10));
  for (let check = 0; check < 10; check++) {
    if (luhnValid(digits + check)) return digits + check;
  }
  throw new Error('unreachable: one check digit always fits');
}

export function luhnValid(number: string): boolean {
  if (!/^[0-9]{12,19}$/.test(number)) return false;
  let sum = 0;
  for (let i = 0; i < number.length; i++) {
    let d = number.charCodeAt(number.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

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
