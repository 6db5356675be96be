// Associated data (spec §3):
//   "fle.v1" 0x00 || header || lp(tenant) || lp(message_type) || lp(field_path) || lp(context)
//   lp(s) = u32be(byte length of UTF-8(s)) || UTF-8(s)
// The walk builds the constant part once per message and key (aadPrefix) and
// precomputes lp(field_path) per field in the schema plan, so a field pays one
// small allocation and three copies.
import { HEADER_LENGTH } from './envelope.js';

/** "fle.v1" followed by one zero byte (7 bytes). */
export const AAD_MAGIC = Uint8Array.of(0x66, 0x6c, 0x65, 0x2e, 0x76, 0x31, 0x00);

const utf8 = new TextEncoder();

/** Where an envelope belongs: everything bound into its AAD except the header. */
export interface AadBinding {
  /** Tenant id whose key ring seals the field. */
  readonly tenant: string;
  /** Fully-qualified root message name, no leading dot (e.g. acme.payments.v1.AuthorizeRequest). */
  readonly messageType: string;
  /** Field numbers joined by '.', map keys in brackets: `5.1`, `10[ssn]` (spec §3). */
  readonly fieldPath: string;
  /** Caller binding (replay token, record id); '' when none. */
  readonly context?: string;
}

/** lp(s) of spec §3: u32be UTF-8 length, then the UTF-8 bytes. */
export function lengthPrefixed(s: string): Uint8Array {
  // A string of n UTF-16 units is at most 3n UTF-8 bytes; encodeInto avoids a second copy.
  const out = new Uint8Array(4 + s.length * 3);
  const { written } = utf8.encodeInto(s, out.subarray(4));
  out[0] = written >>> 24;
  out[1] = (written >>> 16) & 0xff;
  out[2] = (written >>> 8) & 0xff;
  out[3] = written & 0xff;
  return out.subarray(0, 4 + written);
}

/** Magic || header || lp(tenant) || lp(message_type): the part shared by every field of one message and key. */
export function aadPrefix(header: Uint8Array, lpTenant: Uint8Array, lpMessageType: Uint8Array): Uint8Array {
  const out = new Uint8Array(AAD_MAGIC.length + HEADER_LENGTH + lpTenant.length + lpMessageType.length);
  out.set(AAD_MAGIC, 0);
  out.set(header, AAD_MAGIC.length);
  out.set(lpTenant, AAD_MAGIC.length + HEADER_LENGTH);
  out.set(lpMessageType, AAD_MAGIC.length + HEADER_LENGTH + lpTenant.length);
  return out;
}

/** prefix || lp(field_path) || lp(context). */
export function joinAad(prefix: Uint8Array, lpFieldPath: Uint8Array, lpContext: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.length + lpFieldPath.length + lpContext.length);
  out.set(prefix, 0);
  out.set(lpFieldPath, prefix.length);
  out.set(lpContext, prefix.length + lpFieldPath.length);
  return out;
}

/** The full AAD of spec §3 for an envelope with this 6-byte header. */
export function buildAad(header: Uint8Array, binding: AadBinding): Uint8Array {
  if (header.length !== HEADER_LENGTH) throw new RangeError(`header must be ${HEADER_LENGTH} bytes, got ${header.length}`);
  return joinAad(
    aadPrefix(header, lengthPrefixed(binding.tenant), lengthPrefixed(binding.messageType)),
    lengthPrefixed(binding.fieldPath),
    lengthPrefixed(binding.context ?? ''),
  );
}
