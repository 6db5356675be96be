// Opening a received event: headers, decode, tenant, then the envelopes with
// the context of the subject it arrived on (binding.ts). Every failure is a
// typed error whose code @fle/service-kit's classifyError maps (permanent or
// transient); nothing here quotes a header value or payload byte.
import type { MsgHdrs } from 'nats';
import { checkSealed, readTenant, type CompiledSchema, type FieldCipher } from '@fle/field-crypto';
import { isValidNatsToken, RoutingError } from '@fle/service-kit';
import { EVENT_HEADERS, eventContext, isValidMsgId } from './binding.js';
import { encodeEvent, type EventType } from './event-type.js';

export interface OpenedEvent<T> {
  readonly event: T;
  readonly tenant: string;
  readonly msgId: string;
}

export async function openEvent<T>(
  cipher: FieldCipher,
  schema: CompiledSchema,
  type: EventType<T>,
  subject: string,
  data: Uint8Array,
  headers: MsgHdrs | undefined,
): Promise<OpenedEvent<T>> {
  const msgId = headers?.get(EVENT_HEADERS.msgId) ?? '';
  if (!isValidMsgId(msgId)) throw new RoutingError('BAD_REQUEST', `event has no valid ${EVENT_HEADERS.msgId} header`);
  if (headers?.get(EVENT_HEADERS.type) !== type.typeName) {
    throw new RoutingError('BAD_REQUEST', `event is not a ${type.typeName} (${EVENT_HEADERS.type} header)`);
  }
  const tenantHeader = headers.get(EVENT_HEADERS.tenant);
  if (!isValidNatsToken(tenantHeader)) throw new RoutingError('INVALID_TENANT', `event has no valid ${EVENT_HEADERS.tenant} header`);
  let decoded: T;
  try {
    decoded = type.codec.decode(data);
  } catch {
    throw new RoutingError('BAD_PROTOBUF', `event payload does not decode as ${type.typeName}`);
  }
  const tenant = readTenant(schema, type.typeName, decoded);
  if (tenant !== tenantHeader) throw new RoutingError('TENANT_MISMATCH', `${EVENT_HEADERS.tenant} header differs from the event's tenant field`);
  const event = await cipher.openMessage(type.typeName, decoded, { context: eventContext(subject, msgId), inPlace: true });
  return { event, tenant, msgId };
}

/**
 * True only when `data` is known to hold nothing but ciphertext in the
 * sensitive fields: it is labelled as this type, decodes as it, re-encodes to
 * as many bytes (no unknown fields that could be another type's plaintext)
 * and every sensitive value is an envelope. Only such a payload is kept in a
 * dead letter (dead-letter.ts).
 */
export function isSealedPayload<T>(schema: CompiledSchema, type: EventType<T>, data: Uint8Array, headers: MsgHdrs | undefined): boolean {
  if (headers?.get(EVENT_HEADERS.type) !== type.typeName) return false;
  try {
    const decoded = type.codec.decode(data);
    if (encodeEvent(type.codec, decoded).length !== data.length) return false;
    checkSealed(schema, type.typeName, decoded);
    return true;
  } catch {
    return false;
  }
}
