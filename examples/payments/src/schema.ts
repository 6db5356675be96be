// Where the payments API's schema is: its .proto root (with fle's options from
// @fle/schema), loaded at run time like any team's schema.
import { fileURLToPath } from 'node:url';
import type protobuf from 'protobufjs';
import { loadSchema } from '@fle/schema';

/** The example's proto root (acme/payments/v1/payments.proto). */
export const PAYMENTS_PROTO_DIR = fileURLToPath(new URL('../proto', import.meta.url));
/** The handler module the processor loads (config `handlers:`). */
export const PAYMENTS_HANDLERS = fileURLToPath(new URL('./handlers.ts', import.meta.url));
/** The processor config `schema:` of the example. */
export const PAYMENTS_SCHEMA_SOURCE = Object.freeze({ protoRoots: [PAYMENTS_PROTO_DIR] });

export const PAYMENT_SERVICE = 'acme.payments.v1.PaymentService';
export const AUTHORIZE_METHOD = `/${PAYMENT_SERVICE}/Authorize`;
export const AUTHORIZE_PLAIN_METHOD = `/${PAYMENT_SERVICE}/AuthorizePlain`;
export const AUTHORIZE_REQUEST = 'acme.payments.v1.AuthorizeRequest';
export const AUTHORIZE_RESPONSE = 'acme.payments.v1.AuthorizeResponse';

let cached: protobuf.Root | undefined;

/** The payments schema's reflection root (loaded once per process). */
export function paymentsSchema(): protobuf.Root {
  cached ??= loadSchema(PAYMENTS_SCHEMA_SOURCE);
  return cached;
}

/** The KV buckets the handlers keep their records in: the processor identity's NATS user must be granted them (nats-setup withKvBuckets). */
export const PAYMENTS_KV_BUCKETS: readonly string[] = Object.freeze(['fle_authorizations']);

/** What `npm start` serves (devstack's StackApi): schema, handler module, its buckets, and the method the gateway routes. */
export const PAYMENTS_API = Object.freeze({ schema: PAYMENTS_SCHEMA_SOURCE, handlers: PAYMENTS_HANDLERS, kvBuckets: PAYMENTS_KV_BUCKETS, method: AUTHORIZE_METHOD, route: 'authorize' });
