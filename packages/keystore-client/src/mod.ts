// @fle/keystore-client: field-crypto's KeyProvider over the keystore's mTLS
// gRPC API (TTL cache, single-flight, refetch on unknown version, outage grace),
// and a small admin client.
export {
  KeystoreClientError,
  KeystorePermissionDeniedError,
  KeystoreResponseError,
  KeystoreUnavailableError,
  type KeystoreClientErrorCode,
} from './errors.js';
export { FetchFailure, type FetchedKey, type FetchedState, type FetchFailureKind, type KeyFetcher } from './fetcher.js';
export { CachingKeyProvider, type KeyCacheOptions } from './caching-key-provider.js';
export { GrpcKeyFetcher, DEFAULT_CHANNEL_OPTIONS, classifyStatus, type GrpcKeyFetcherOptions } from './grpc-fetcher.js';
export type { KeyCacheStats } from './metrics.js';
export {
  DEFAULT_KEYSTORE_ADDR,
  KEYSTORE_ADDR_ENV,
  KeystoreKeyProvider,
  keystoreAddress,
  keystoreCredentials,
  type KeystoreConnectionOptions,
  type KeystoreKeyProviderOptions,
} from './keystore-key-provider.js';
export {
  KeystoreAdminClient,
  type DeviceEnrollment,
  type KeystoreAdminClientOptions,
  type KeyRingSummary,
  type KeyVersionSummary,
  type RingAlg,
  type RotationPolicySummary,
  type RotationStatusSummary,
  type VersionStateName,
} from './admin-client.js';
export { SealCounter, SealReporter, type PendingSeals, type SealReporterOptions, type SealReportStats } from './seal-counts.js';
export {
  KeystorePublicKeyProvider,
  type FetchedPublicKey,
  type KeystorePublicKeyProviderOptions,
  type PublicKeyCacheOptions,
} from './public-key-provider.js';
export {
  DeviceEnrollmentError,
  KeystoreDeviceClient,
  KeystoreDeviceRegistry,
  KeystoreSenderPolicy,
  deviceSummary,
  type DeviceCacheOptions,
  type DeviceEnrollmentRefusal,
  type DeviceListFetch,
  type DeviceSummary,
  type KeystoreDeviceRegistryOptions,
  type KeystoreSenderPolicyOptions,
  type TenantDeviceList,
  type TenantDevices,
} from './devices.js';
