// Where a development PKI lives on disk (HELPERS conventions: `.fle/certs/`
// holding `ca.pem`, `ca-key.pem`, `<name>.pem`, `<name>-key.pem`).
import { join, resolve } from 'node:path';
import { assertIdentityName } from './identity.js';

/** The three PEM files one TLS endpoint needs. */
export interface TlsFiles {
  /** CA certificate(s) that peers must chain to. */
  ca: string;
  /** This endpoint's certificate. */
  cert: string;
  /** This endpoint's private key (PKCS#8 PEM). */
  key: string;
}

export interface PkiPaths {
  /** Absolute folder holding every file. */
  dir: string;
  caCert: string;
  caKey: string;
  cert(name: string): string;
  key(name: string): string;
  /** `{ ca, cert, key }` for identity `name`, ready for the credential helpers. */
  files(name: string): TlsFiles;
}

/** Paths of a PKI folder; touches nothing on disk. */
export function pkiPaths(dir: string): PkiPaths {
  const abs = resolve(dir);
  const cert = (name: string): string => {
    assertIdentityName(name);
    return join(abs, `${name}.pem`);
  };
  const key = (name: string): string => {
    assertIdentityName(name);
    return join(abs, `${name}-key.pem`);
  };
  return {
    dir: abs,
    caCert: join(abs, 'ca.pem'),
    caKey: join(abs, 'ca-key.pem'),
    cert,
    key,
    files: (name) => ({ ca: join(abs, 'ca.pem'), cert: cert(name), key: key(name) }),
  };
}
