// @fle/field-crypto (Node entry): the portable API plus the node:crypto
// backend, which FieldCipher uses by default here. Browsers import
// `@fle/field-crypto/portable` instead.
import { FieldCipher as PortableFieldCipher, type FieldCipherOptions } from './field-cipher.js';
import { nativeBackend } from './native-backend.js';

export * from './portable.js';
export { nativeBackend } from './native-backend.js';

/** The backend FieldCipher uses when none is given: native (node:crypto). */
export const defaultBackend = nativeBackend;

/** FieldCipher with the native backend as default (see FieldCipherOptions). */
export class FieldCipher extends PortableFieldCipher {
  constructor(opts: FieldCipherOptions) {
    super({ ...opts, backend: opts.backend ?? nativeBackend });
  }
}
