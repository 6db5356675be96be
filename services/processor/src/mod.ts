// @fle/processor: the decrypt boundary (NATS queue group, JetStream durable consumer, gRPC).
export { startProcessor, type ProcessorDeps, type RunningProcessor } from './processor.js';
export { parseProcessorConfig, loadProcessorConfig, type ProcessorConfig, type ProcessorRoute } from './config.js';
export { Pipeline, type InboundRequest, type HandledRequest, type BoundHandler, type TransportKind } from './pipeline.js';
export type { Handler, HandlerContext } from './handlers/handler.js';
export { createAuthorizeHandler } from './handlers/authorize.js';
export { AUTHORIZATION_RECORD, AUTHORIZATION_RECORD_PLAIN, AuthorizationStore, RECORD_TYPE, recordKey, storageContext, type RecordCodec } from './handlers/authorization-store.js';
export { luhnValid } from './handlers/luhn.js';
export { ensureStreams } from './streams.js';
export { nakDelay } from './transports/jetstream.js';
