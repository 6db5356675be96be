// Associated data (spec §3):
//   "fle.v1" 0x00 || header || lp(tenant) || lp(message_type) || lp(field_path) || lp(context)
//   lp(s) = u32be(byte length of UTF-8(s)) || UTF-8(s)
//
// Hot path: an AAD lives only for the one synchronous AEAD call that reads it,
// so it is assembled in a reused scratch buffer (a fresh ~100-byte array would
// be an off-heap allocation per field, costing more than the assembly). The
// walk builds the per-message part once (aadPrefix) and takes lp(field_path)
// precomputed from the schema plan.
import { HEADER_LENGTH } from './envelope.js';
import { Scratch } from './scratch.js';
import { lengthPrefixedUtf8, writeLengthPrefixed } from './utf8.js';

/** "fle.v1" followed by one zero byte (7 bytes). */
export const AAD_MAGIC = Uint8Array.of(0x66, 0x6c, 0x65, 0x2e, 0x76, 0x31, 0x00);
const FIXED = AAD_MAGIC.length + HEADER_LENGTH;

/** Where an envelope belongs: everything bound into its AAD except the header. */
export interface AadBinding {
  /** Tenant id whose key ring seals the field. */
  readonly tenant: string;
  /** Fully-qualified root message name, no leading dot (e.g. shop.v1.PlaceOrderRequest). */
  readonly messageType: string;
  /** Field numbers joined by '.', map keys in brackets: `5.1`, `10[ssn]` (spec §3). */
  readonly fieldPath: string;
  /** Caller binding (replay token, record id); '' when none. */
  readonly context?: string;
}

/** lp(s) of spec §3: u32be UTF-8 length, then the UTF-8 bytes. */
export function lengthPrefixed(s: string): Uint8Array {
  return lengthPrefixedUtf8(s);
}

const scratch = new Scratch(1024);

/** Magic || header || lp(tenant) || lp(message_type): the part shared by every field of one message and key. */
export function aadPrefix(header: Uint8Array, lpTenant: Uint8Array, lpMessageType: Uint8Array): Uint8Array {
  const out = new Uint8Array(FIXED + lpTenant.length + lpMessageType.length);
  out.set(AAD_MAGIC, 0);
  out.set(header, AAD_MAGIC.length);
  out.set(lpTenant, FIXED);
  out.set(lpMessageType, FIXED + lpTenant.length);
  return out;
}

/**
 * prefix || lp(field_path) || lp(context), in the shared scratch buffer: the
 * view is valid until the next AAD is built (use it for one AEAD call).
 */
export function joinAadView(prefix: Uint8Array, lpFieldPath: Uint8Array, lpContext: Uint8Array): Uint8Array {
  const size = prefix.length + lpFieldPath.length + lpContext.length;
  const out = scratch.buffer(size);
  out.set(prefix, 0);
  // Field paths are a few bytes: a loop beats a set() call.
  const at = prefix.length;
  for (let i = 0; i < lpFieldPath.length; i++) out[at + i] = lpFieldPath[i]!;
  out.set(lpContext, at + lpFieldPath.length);
  return scratch.view(out, size);
}

/** joinAadView with the field path given as text (map values: `10[ssn]`), encoded in place. */
export function joinAadViewPath(prefix: Uint8Array, fieldPath: string, lpContext: Uint8Array): Uint8Array {
  const out = scratch.buffer(prefix.length + 4 + 3 * fieldPath.length + lpContext.length);
  out.set(prefix, 0);
  const end = writeLengthPrefixed(fieldPath, out, prefix.length);
  out.set(lpContext, end);
  return scratch.view(out, end + lpContext.length);
}

/**
 * The binding part of the last AAD buildAadView made (lp(tenant) .. lp(context)),
 * with the strings it encodes: one-off callers seal and open the same binding
 * again and again, and re-encoding four strings costs more than comparing them.
 */
const lastBinding = { tenant: '', messageType: '', fieldPath: '', context: '', bytes: undefined as Uint8Array | undefined };
/** Bindings longer than this are not kept (a kept copy lives as long as the process). */
const MAX_KEPT_BINDING = 1024;

/** The full AAD of spec §3 in the shared scratch buffer (valid until the next AAD is built). */
export function buildAadView(header: Uint8Array, binding: AadBinding): Uint8Array {
  if (header.length !== HEADER_LENGTH) throw new RangeError(`header must be ${HEADER_LENGTH} bytes, got ${header.length}`);
  const context = binding.context ?? '';
  const last = lastBinding;
  if (
    last.bytes !== undefined &&
    binding.tenant === last.tenant &&
    binding.messageType === last.messageType &&
    binding.fieldPath === last.fieldPath &&
    context === last.context
  ) {
    const out = scratch.buffer(FIXED + last.bytes.length);
    out.set(AAD_MAGIC, 0);
    out.set(header, AAD_MAGIC.length);
    out.set(last.bytes, FIXED);
    return scratch.view(out, FIXED + last.bytes.length);
  }
  // Room for the worst case (3 UTF-8 bytes per UTF-16 unit).
  const max = FIXED + 16 + 3 * (binding.tenant.length + binding.messageType.length + binding.fieldPath.length + context.length);
  const out = scratch.buffer(max);
  out.set(AAD_MAGIC, 0);
  out.set(header, AAD_MAGIC.length);
  let offset = writeLengthPrefixed(binding.tenant, out, FIXED);
  offset = writeLengthPrefixed(binding.messageType, out, offset);
  offset = writeLengthPrefixed(binding.fieldPath, out, offset);
  offset = writeLengthPrefixed(context, out, offset);
  if (offset - FIXED <= MAX_KEPT_BINDING) {
    last.tenant = binding.tenant;
    last.messageType = binding.messageType;
    last.fieldPath = binding.fieldPath;
    last.context = context;
    last.bytes = out.slice(FIXED, offset);
  }
  return scratch.view(out, offset);
}

/** The full AAD of spec §3 for an envelope with this 6-byte header (a new array). */
export function buildAad(header: Uint8Array, binding: AadBinding): Uint8Array {
  return buildAadView(header, binding).slice();
}
