// @fle-examples/payments: the payments API on fle (README.md).
export * from './schema.js';
export { createAuthorizeHandler, type AuthorizeHandlerOptions } from './authorize.js';
export { AUTHORIZATION_RECORD, AUTHORIZATION_RECORD_PLAIN, AUTHORIZATIONS_BUCKET, AUTHORIZATIONS_BUDGET, AuthorizationStore, RECORD_TYPE, recordKey, type AuthorizationStoreOptions, type RecordCodec } from './authorization-store.js';
export { luhnValid } from './luhn.js';
export { PaymentsClient } from './payments-client.js';
