// @fle/gateway: the public gRPC edge that routes ciphertext only.
export { startGateway, type GatewayDeps, type RunningGateway } from './gateway.js';
export { parseGatewayConfig, loadGatewayConfig, DEFAULT_MAX_ENVELOPES, type GatewayConfig, type RouteConfig, type RouteSelector, type Transport, type ProcessorTarget } from './config.js';
export { checkRequest, checkResponse } from './request-check.js';
export { planGateway, type GatewayPlan } from './gateway.js';
export { resolveRoutes } from './routes.js';
export { registryFromRoot } from './edge/descriptors.js';
export { EDGE_PROTO_FILE, ENROLL_PATH } from './edge/edge.js';
export type { EdgeConfig, EdgeAuthMode } from './edge/config.js';
