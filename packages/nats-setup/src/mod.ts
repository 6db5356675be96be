// @fle/nats-setup: nats-server configuration for fle (mTLS, certificate-mapped
// users, per-identity permissions, JetStream, cluster) and a process launcher.
export { fleConnectionOptions, type FleConnectionInput, type FleConnectionOptions } from './connection.js';
export { INSTALL_HINT, NatsSetupError, type NatsSetupErrorCode } from './errors.js';
export {
  FLE_NATS_PERMISSIONS,
  KV_BUCKETS,
  STREAMS,
  SUBJECTS,
  kvBucket,
  natsInbox,
  natsInboxPrefix,
  streamConsumption,
  streamManagement,
  withKvBuckets,
  type NatsPermissions,
} from './permissions.js';
export {
  JETSTREAM_BUDGET,
  JETSTREAM_RESERVED_BYTES,
  applyStreamBudget,
  kvLimits,
  parseStorageSize,
  streamLimits,
  type DiscardPolicyName,
  type StreamAdmin,
  type StreamBudget,
} from './storage-budget.js';
export { renderNatsConfig, type NatsClusterOptions, type NatsConfigOptions, type NatsJetStreamOptions } from './config.js';
export { findNatsServer, spawnNatsServer, stopChild, type NatsPorts, type NatsServerProcess, type SpawnNatsServerOptions } from './spawn.js';
