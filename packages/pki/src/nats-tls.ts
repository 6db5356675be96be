// TLS options for nats.js v2 `connect({ tls })`. File paths rather than
// contents: nats.js reads them at every (re)connect, so a rotated certificate
// is used from the next reconnect on.
import type { TlsFiles } from './paths.js';

/** Structurally nats.js' `TlsOptions` (file form); @fle/pki does not depend on nats. */
export interface NatsTlsFileOptions {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export function natsTlsOptions(files: TlsFiles): NatsTlsFileOptions {
  return { caFile: files.ca, certFile: files.cert, keyFile: files.key };
}
