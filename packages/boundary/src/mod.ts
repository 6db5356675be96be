// @fle/boundary: the decrypt boundary as a library, for a team's own service
// process (README.md). services/processor is this library driven by a config file.
export { Boundary, type BoundaryOptions, type CoreServeOptions, type GrpcListenOptions, type JetStreamServeOptions } from './boundary.js';
export type { Handler, HandlerContext, HandlerMap, TransportKind } from './handler.js';
export { BoundaryConfigError, bindMethods, defaultRouteName, type BoundMethod, type RouteSpec } from './methods.js';
export { loadHandlerModule, type HandlerModuleSetup } from './handler-module.js';
export { Pipeline, type HandledRequest, type InboundRequest, type PreparedSenderPolicy, type WireCheck } from './pipeline.js';
export { grpcServices, type BoundaryGrpcService } from './transports/grpc.js';
export { nakDelay } from './transports/jetstream.js';
export { ensureStreams, type StreamSetupOptions } from './streams.js';
export { DEAD_LETTER_BODY_BYTES } from './dead-letter.js';
export { Limiter } from './concurrency.js';
