// @fle/keystore: the reference customer keystore (gRPC over mTLS, policy,
// audit, file or NATS KV storage, backups and recovery shares).
export * from './errors.js';
export * from './model.js';
export * as stateMachine from './state-machine.js';
export {
  Keystore,
  type KeystoreOptions,
  type KeyMaterialResult,
  type RecordCheck,
  type RefusedRecord,
  type RotationStatus,
  type RotationStep,
} from './keystore.js';
export * from './device-model.js';
export { DeviceStore, canonicalDevices, type IssuedEnrollment, type TenantDevices } from './device-store.js';
export { GenerationAnchor, RecordAuthenticator, canonicalRecord, type RecordSeal } from './record-auth.js';
export { anchorFromAudit, openKeystoreState, recordRefusedLine, type KeystoreState, type OpenStateOptions } from './keystore-state.js';
export { KeystoreMetrics } from './metrics.js';
export { DEFAULT_ROTATION_CHECK_MS, RotationScheduler, type RotationSchedulerOptions, type RotationTickResult } from './rotation-scheduler.js';
export { KeyWrapper, wrapAad, type WrapContext } from './wrap.js';
export { MASTER_KEY_ENV, deriveFromMaster, loadMasterKey, masterKeyFromHex, masterKeyId, readMasterKeyFile } from './master-key.js';
export { Policy, type Decision, type PolicyAction, type PolicyDocument } from './policy.js';
export {
  AUDIT_GENESIS,
  AuditChainVerifier,
  FileAuditLog,
  MemoryAuditLog,
  auditKeyFromMaster,
  verifyAuditFile,
  verifyAuditText,
  type AuditBreak,
  type AuditChainResult,
  type AuditEntry,
  type AuditLine,
  type AuditSink,
} from './audit.js';
export type { KeyStorage, SealedDevices, SealedRing, StoredDevices, StoredRing } from './storage/types.js';
export { FileKeyStorage, writeAtomically, readStoreFile, FILE_FORMAT } from './storage/file.js';
export { NatsKvKeyStorage, KEYSTORE_BUCKET, type NatsKvStorageOptions } from './storage/nats-kv.js';
export { openStorage } from './storage/open.js';
export { CONFIG_ENV, DEFAULT_LISTEN, configPathFrom, loadConfig, parseConfig, type KeystoreConfig, type StorageConfig } from './config.js';
export { BACKUP_FORMAT, openBackup, openBackupContents, readBackupFile, restoreRecords, sealBackup, writeBackup, type BackupFile } from './backup.js';
export { combineShares, parseShare, splitMasterKey } from './recovery-shares.js';
export { callerIdentity, keystoreAdminServiceImpl, keystoreServiceImpl, startGrpcServer, type StartedServer } from './server.js';
export { createKeystoreLogger, runKeystore, type RunningKeystore } from './service.js';
export { serveKeystore } from './main.js';
