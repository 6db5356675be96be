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

/**
 * The ring the stored AuthorizationRecords are sealed under (their
 * `(fle.v1.key_ring)` marks in payments.proto): each tenant needs it, and the
 * keystore policy makes it exclusive to the processor identity, so the
 * client's keys (rings `default`, `pci`) cannot open a stored record.
 */
export const PAYMENTS_RECORDS_RING = 'payments-records';
/** The at-rest rings of the example (devstack's StackApi.recordRings). */
export const PAYMENTS_RECORD_RINGS: readonly string[] = Object.freeze([PAYMENTS_RECORDS_RING]);

/** What `npm start` serves (devstack's StackApi): schema, handler module, its buckets and at-rest rings, and the method the gateway routes. */
export const PAYMENTS_API = Object.freeze({ schema: PAYMENTS_SCHEMA_SOURCE, handlers: PAYMENTS_HANDLERS, kvBuckets: PAYMENTS_KV_BUCKETS, recordRings: PAYMENTS_RECORD_RINGS, method: AUTHORIZE_METHOD, route: 'authorize' });
