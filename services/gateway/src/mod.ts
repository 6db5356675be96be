// @fle/gateway: the public gRPC edge that routes ciphertext only.
export { startGateway, type GatewayDeps, type RunningGateway } from './gateway.js';
export { parseGatewayConfig, loadGatewayConfig, type GatewayConfig, type RouteConfig, type Transport, type ProcessorTarget } from './config.js';
export { checkRequest, checkResponse } from './request-check.js';
export { KNOWN_SERVICES } from './known-services.js';
