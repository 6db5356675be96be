// The product tests' service on the neutral fixture schema
// (fletest.svc.v1.LedgerService, proto/fletest/svc/v1/ledger.proto): canary
// requests whose every sensitive field holds a unique marker, and the handler
// module (ledger-handlers.ts) a processor under test loads through its config,
// the way a team's processor loads the team's handlers.
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { luhnCardNumber } from '@fle/client/testing';

/** The handler module of the fixture service (processor config `handlers:`). */
export const LEDGER_HANDLERS = fileURLToPath(new URL('./ledger-handlers.ts', import.meta.url));
/** The KV bucket the fixture handler stores its sealed entries in (the processor identity must be granted it). */
export const LEDGER_BUCKET = 'fletest_entries';

/** Where an entry is stored: once per request nonce. */
export function ledgerKey(tenant: string, nonce: string): string {
  return `${tenant}.${nonce}`;
}

/** The envelope context of a stored entry's sealed fields (data at rest binds its record identity). */
export function ledgerEntryContext(requestId: string): string {
  return `store/entry/${requestId}`;
}

/** A SubmitRequest as messageCodec decodes it (64-bit integers as decimal strings, bytes as Uint8Array). */
export interface LedgerRequest {
  tenantId: string;
  requestId: string;
  amountMinor: string;
  currency: string;
  card: { number: string; holderName: string; expiryMonth: number; expiryYear: number; cvv: Uint8Array };
  nationalId: string;
  biometricTemplate: Uint8Array;
  previousAddresses: string[];
  items: Array<{ sku: string; quantity: number; note: string }>;
  customerAttributes: Record<string, string>;
  email?: string;
  phone?: string;
  merchantId: string;
  labels: Record<string, string>;
}

export interface LedgerResponse {
  tenantId: string;
  requestId: string;
  approved: boolean;
  declineReason: string;
  cardToken: string;
  cardLastFour: string;
  authorizationCode: string;
}

export interface CanaryLedgerRequest {
  readonly request: LedgerRequest;
  /** A unique random marker; every sensitive string field contains it. */
  readonly canary: string;
  /** Every sensitive value as it would appear in plaintext bytes (for leak scans). */
  readonly needles: readonly string[];
}

/**
 * A SubmitRequest with a canary in every sensitive field (singular, nested,
 * repeated, map value, oneof, bytes); the card number is a fresh Luhn-valid
 * number (itself a needle).
 */
export function canaryLedgerRequest(tenant: string, opts: { requestId?: string; cardNumber?: string } = {}): CanaryLedgerRequest {
  const canary = `CANARY${randomBytes(9).toString('hex').toUpperCase()}`;
  const cardNumber = opts.cardNumber ?? luhnCardNumber();
  const request: LedgerRequest = {
    tenantId: tenant,
    requestId: opts.requestId ?? `req-${randomBytes(6).toString('hex')}`,
    amountMinor: '1250',
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
