// mTLS credentials for grpc-js that follow certificate rotation on disk.
// Built on grpc-js' experimental certificate-provider credentials (1.14):
// the server swaps its SecureContext when the provider publishes new files,
// and the channel builds a fresh SecureContext for every new connection.
import { checkServerIdentity as tlsCheckServerIdentity, type PeerCertificate } from 'node:tls';
import { experimental, type ChannelCredentials, type ServerCredentials } from '@grpc/grpc-js';
import { PkiError } from './errors.js';
import { identityFromPeerCertificate } from './identity.js';
import { FileCertificateProvider, type ReloadOptions } from './certificate-files.js';
import type { TlsFiles } from './paths.js';

/**
 * Server credentials that require a client certificate chaining to `files.ca`
 * (the `checkClientCertificate: true` semantics of `createSsl`, STYLE.md) and
 * reload `ca`, `cert` and `key` when they change.
 */
export function serverCredentials(files: TlsFiles, opts: ReloadOptions = {}): ServerCredentials {
  const provider = new FileCertificateProvider(files, opts);
  // One provider for both roles. This also sidesteps grpc-js 1.14 passing the
  // two providers to CertificateProviderServerCredentials in swapped order.
  return experimental.createCertificateProviderServerCredentials(provider, provider, true);
}

export interface ChannelCredentialsOptions extends ReloadOptions {
  /**
   * When set, the server's certificate must carry exactly this SPIFFE ID
   * (e.g. `spiffe://fle.local/keystore`) besides passing the host name check.
   */
  expectedServerIdentity?: string;
}

/** Client credentials presenting `cert`/`key`, trusting only `ca`, reloaded on change. */
export function channelCredentials(files: TlsFiles, opts: ChannelCredentialsOptions = {}): ChannelCredentials {
  const provider = new FileCertificateProvider(files, opts);
  const expected = opts.expectedServerIdentity;
  const verify = expected === undefined
    ? {}
    : {
        checkServerIdentity: (host: string, cert: PeerCertificate): Error | undefined => {
          const hostError = tlsCheckServerIdentity(host, cert);
          if (hostError) return hostError;
          const actual = identityFromPeerCertificate(cert);
          if (actual !== expected) {
            return new PkiError('PKI_INVALID_ARGUMENT', `server identity ${actual ?? '(none)'} is not the expected ${expected}`);
          }
          return undefined;
        },
      };
  return experimental.createCertificateProviderChannelCredentials(provider, provider, verify);
}
