// @fle/protocol: what both ends of an fle call agree on, with no server-side
// dependency (no Redis, NATS client, logger or metrics): the typed errors and
// the one map from their codes to gRPC status, the replay stamp, RPC method
// names, NATS subjects, headers and tokens. @fle/client builds on this;
// @fle/service-kit re-exports it for the services.
export * from './errors.js';
export * from './status.js';
export * from './error-payload.js';
export * from './stamp.js';
export * from './nats-token.js';
export * from './rpc-method.js';
export * from './rpc-registry.js';
export * from './nats-headers.js';
export * from './grpc-options.js';
