// @fle/pki: development PKI with SPIFFE identities, and mTLS credentials for
// grpc-js and nats.js that follow certificate rotation.
export { PkiError, type PkiErrorCode } from './errors.js';
export {
  DEFAULT_IDENTITIES,
  DEFAULT_TRUST_DOMAIN,
  NATS_SERVER_IDENTITY,
  SERVICE_IDENTITIES,
  identityFromPeerCertificate,
  parseSpiffeId,
  parseSubjectAltName,
  spiffeId,
  type ParsedSpiffeId,
  type PeerCertificateLike,
  type SubjectAltNameEntry,
} from './identity.js';
export { pkiPaths, type PkiPaths, type TlsFiles } from './paths.js';
export { createDevPki, ensureDevPki, issueIdentity, type DevPki, type DevPkiOptions, type IssueIdentityOptions } from './dev-pki.js';
export { FileCertificateProvider, type ReloadOptions } from './certificate-files.js';
export { channelCredentials, serverCredentials, type ChannelCredentialsOptions } from './grpc-credentials.js';
export { natsTlsOptions, type NatsTlsFileOptions } from './nats-tls.js';
