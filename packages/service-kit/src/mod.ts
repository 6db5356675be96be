// @fle/service-kit: what every fle service shares — the error → gRPC status /
// dead-letter mapping, the redacting logger, metrics, and replay protection.
export * from './errors.js';
export * from './status.js';
export * from './error-payload.js';
export * from './logger.js';
export * from './metrics.js';
export * from './metrics-server.js';
export * from './cipher-backend-health.js';
export * from './replay/stamp.js';
export * from './replay/nonce-store.js';
export * from './replay/guard.js';
export * from './replay/nats-kv-nonce-store.js';
export * from './replay/redis-nonce-store.js';
export * from './nats-token.js';
export * from './rpc-method.js';
export * from './config-reader.js';
export * from './config-schema.js';
export * from './ports-file.js';
export * from './rpc-registry.js';
export * from './nats-headers.js';
export * from './jetstream-errors.js';
