// The gateway's checks on one request, in order, none of which needs a key:
// size, the wire check (the bytes hold exactly what a decoder shows, and at
// most maxEnvelopes sensitive values: docs/wire-check.md), protobuf, tenant (a
// valid NATS token), every sensitive field an envelope. The gateway forwards
// the original bytes only after all of them passed.
import { checkSealed, readTenant, type CompiledSchema, type WireCheck } from '@fle/field-crypto';
import { RoutingError, assertTenantToken, decodeOrThrow, type RegisteredMethod } from '@fle/service-kit';

export interface CheckedRequest {
  readonly tenant: string;
  /** How many envelopes the request carries. */
  readonly envelopes: number;
  /** The decoded request (envelopes still sealed), for checks a listener adds (the edge's envelope algs). */
  readonly message: unknown;
}

/**
 * `wireCheck`: compileWireCheck(root, method.requestType, { maxEnvelopes }),
 * compiled once per method. Throws WireFormatError / TooManyEnvelopesError
 * (INVALID_ARGUMENT) before anything is decoded.
 */
export function checkRequest(
  schema: CompiledSchema,
  method: RegisteredMethod,
  wireCheck: WireCheck,
  bytes: Uint8Array,
  maxMessageBytes: number,
  maxFieldBytes?: number,
): CheckedRequest {
  if (bytes.byteLength > maxMessageBytes) throw new RoutingError('MESSAGE_TOO_LARGE', `request larger than ${maxMessageBytes} bytes`);
  wireCheck(bytes);
  const msg = decodeOrThrow(method.def.requestDeserialize, bytes, 'request');
  if (maxFieldBytes !== undefined) checkFieldSizes(msg, maxFieldBytes);
  const tenant = assertTenantToken(readTenant(schema, method.requestType, msg));
  const envelopes = checkSealed(schema, method.requestType, msg);
  return { tenant, envelopes, message: msg };
}

/**
 * Defence in depth on the way back: a processor response must carry only
 * envelopes in its sensitive fields too, or the gateway refuses to pass it on.
 */
export function checkResponse(schema: CompiledSchema, method: RegisteredMethod, bytes: Uint8Array): void {
  const msg = decodeOrThrow(method.def.responseDeserialize, bytes, 'response');
  checkSealed(schema, method.responseType, msg);
}

/**
 * Throws MESSAGE_TOO_LARGE when any string or bytes value of the decoded
 * message (sensitive or not) is longer than `max` bytes. Depth is bounded by
 * the schema (ts-proto decodes only known fields), the walk by the message limit.
 */
export function checkFieldSizes(value: unknown, max: number): void {
  if (typeof value === 'string') {
    if (value.length > max / 3 && Buffer.byteLength(value) > max) throw new RoutingError('MESSAGE_TOO_LARGE', `a field is larger than ${max} bytes`);
  } else if (value instanceof Uint8Array) {
    if (value.byteLength > max) throw new RoutingError('MESSAGE_TOO_LARGE', `a field is larger than ${max} bytes`);
  } else if (typeof value === 'object' && value !== null) {
    for (const v of Array.isArray(value) ? value : Object.values(value)) checkFieldSizes(v, max);
  }
}
