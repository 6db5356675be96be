// @fle/field-crypto (Node entry): the portable API plus the node:crypto
// backend and the fast backend (libsodium WASM for small values, node:crypto
// for large ones), which FieldCipher uses by default here. Browsers import
// `@fle/field-crypto/portable` instead.
import { fastBackend } from './fast-backend.js';
import { FieldCipher as PortableFieldCipher, type FieldCipherOptions } from './field-cipher.js';

export * from './portable.js';
export { nativeBackend } from './native-backend.js';
export { fastBackend, fastBackendReady, fastBackendStatus, sodiumReady, type FastBackendStatus } from './fast-backend.js';

/** The backend FieldCipher uses when none is given: fast (libsodium up to 2 KiB, node:crypto above). */
export const defaultBackend = fastBackend;

/** FieldCipher with the fast backend as default (see FieldCipherOptions). */
export class FieldCipher extends PortableFieldCipher {
  constructor(opts: FieldCipherOptions) {
    super({ ...opts, backend: opts.backend ?? fastBackend });
  }
}
