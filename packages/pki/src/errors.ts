// Typed errors of @fle/pki. Stable `code`s; messages name files and identities,
// never key bytes.

export type PkiErrorCode =
  | 'PKI_INVALID_ARGUMENT'
  | 'PKI_FILES_UNREADABLE'
  | 'PKI_KEY_MISMATCH'
  | 'PKI_CA_MISSING';

export class PkiError extends Error {
  readonly code: PkiErrorCode;
  constructor(code: PkiErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'PkiError';
  }
}
