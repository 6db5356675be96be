// The 12 sensitive values of one e2e benchmark request (support/requests.ts,
// 1 KiB biometric template), each with the field path fle binds it to
// (spec §3) and whether it is text (a string field) or bytes.
import type { AuthorizeRequest } from '@fle-examples/payments/gen/acme/payments/v1/payments.js';
import { benchRequest } from './requests.js';

export interface PeerValue {
  /** Field name as in payments.proto, e.g. `card.number`. */
  readonly label: string;
  /** The field path bound into fle's AAD (spec §3): `5.1`, `10[tier]`. */
  readonly path: string;
  /** The value's bytes (UTF-8 for text). */
  readonly bytes: Uint8Array;
  /** Set for string fields. */
  readonly text?: string;
  readonly mapValue?: boolean;
}

export const PEER_TENANT = 't0';
export const PEER_PAYLOAD = 1024;

export function peerRequest(): AuthorizeRequest {
  return benchRequest(PEER_TENANT, 0, PEER_PAYLOAD);
}

export function peerValues(m: AuthorizeRequest): PeerValue[] {
  const utf8 = new TextEncoder();
  const text = (label: string, path: string, s: string, mapValue = false): PeerValue => ({ label, path, bytes: utf8.encode(s), text: s, ...(mapValue ? { mapValue } : {}) });
  const bytes = (label: string, path: string, b: Uint8Array): PeerValue => ({ label, path, bytes: b });
  return [
    text('card.number', '5.1', m.card!.number),
    text('card.holder_name', '5.2', m.card!.holderName),
    bytes('card.cvv', '5.5', m.card!.cvv),
    text('national_id', '6', m.nationalId),
    bytes('biometric_template', '7', m.biometricTemplate),
    ...m.previousAddresses.map((a, i) => text(`previous_addresses[${i}]`, '8', a)),
    ...m.items.map((it, i) => text(`items[${i}].note`, '9.3', it.note)),
    ...Object.entries(m.customerAttributes).map(([k, v]) => text(`customer_attributes[${k}]`, `10[${k}]`, v, true)),
    text('email', '11', m.email!),
  ];
}
