// @fle/field-crypto/portable: everything except the node:crypto backend.
// No file reachable from here imports a Node built-in (checked by a test), so
// browsers can use it; FieldCipher defaults to the @noble/ciphers backend.
export * from './errors.js';
export * from './key-provider.js';
export * from './static-key-provider.js';
export * from './envelope.js';
export * from './aad.js';
export * from './field-path.js';
export * from './base64url.js';
export type { CipherBackend } from './backend.js';
export { nobleBackend } from './noble-backend.js';
export * from './random.js';
export * from './seal-envelope.js';
export * from './schema.js';
export { FieldCipher, HPKE_OPEN_BATCH, type FieldCipherOptions, type MessageCipherOptions } from './field-cipher.js';
export { checkSealed, readTenant, sealedValues, type SealedValue } from './check-sealed.js';
// Envelope alg 3/4 (HPKE, docs/envelope-hpke.md): public-key sealing for untrusted clients.
export * from './hpke-suite.js';
export * from './hpke-envelope.js';
export * from './hpke-senders.js';
export * from './hpke-sealer.js';
export { openFieldsFor, type OpenFieldsForOptions } from './hpke-open-fields.js';
export type { HpkeCipherOptions, SenderListener } from './hpke-field.js';

import { nobleBackend } from './noble-backend.js';
/** The backend FieldCipher uses when none is given: noble here, native in the Node entry. */
export const defaultBackend = nobleBackend;
export { compileWireCheck, DEFAULT_MAX_ENVELOPES, type WireCheck, type WireCheckOptions } from './wire-check.js';
