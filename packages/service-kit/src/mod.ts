// @fle/service-kit: what every fle service shares — the error → gRPC status /
// dead-letter mapping, the redacting logger, metrics, and replay protection.
// The wire-level half a client also needs (errors and their status map, the
// replay stamp, RPC method and NATS subject names) is @fle/protocol, which has
// no server-side dependency; it is re-exported here so services keep one import.
export * from '@fle/protocol';
export * from './logger.js';
export * from './metrics.js';
export * from './metrics-server.js';
export * from './cipher-backend-health.js';
export * from './replay/nonce-store.js';
export * from './replay/guard.js';
export * from './replay/stream-dedupe.js';
export * from './replay/nats-kv-nonce-store.js';
export * from './replay/redis-nonce-store.js';
export * from './config-reader.js';
export * from './config-schema.js';
export * from './ports-file.js';
export * from './nats-headers.js';
export * from './reply-inbox.js';
export * from './jetstream-errors.js';
