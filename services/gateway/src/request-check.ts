// The gateway's checks on one request, in order, none of which needs a key:
// size, protobuf, tenant (a valid NATS token), every sensitive field an envelope.
import { checkSealed, readTenant, type CompiledSchema } from '@fle/field-crypto';
import { RoutingError, assertTenantToken, decodeOrThrow, type RegisteredMethod } from '@fle/service-kit';

export interface CheckedRequest {
  readonly tenant: string;
  /** How many envelopes the request carries. */
  readonly envelopes: number;
}

export function checkRequest(schema: CompiledSchema, method: RegisteredMethod, bytes: Uint8Array, maxMessageBytes: number): CheckedRequest {
  if (bytes.byteLength > maxMessageBytes) throw new RoutingError('MESSAGE_TOO_LARGE', `request larger than ${maxMessageBytes} bytes`);
  const msg = decodeOrThrow(method.def.requestDeserialize, bytes, 'request');
  const tenant = assertTenantToken(readTenant(schema, method.requestType, msg));
  const envelopes = checkSealed(schema, method.requestType, msg);
  return { tenant, envelopes };
}

/**
 * Defence in depth on the way back: a processor response must carry only
 * envelopes in its sensitive fields too, or the gateway refuses to pass it on.
 */
export function checkResponse(schema: CompiledSchema, method: RegisteredMethod, bytes: Uint8Array): void {
  const msg = decodeOrThrow(method.def.responseDeserialize, bytes, 'response');
  checkSealed(schema, method.responseType, msg);
}
