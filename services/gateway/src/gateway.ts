// The public gRPC edge (DESIGN.md: gateway). Authenticates callers by mTLS,
// checks that every sensitive field is an envelope (plaintext -> INVALID_ARGUMENT
// naming the field, never its value), and routes the request bytes unchanged to
// NATS (core or JetStream) or to a processor over gRPC. It holds no key and
// never calls the keystore. What it fronts comes from the team's schema, loaded
// at start (config `schema:`), and the config's routes: no service is known
// to its code.
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData, type UntypedServiceImplementation } from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import { connect, type NatsConnection } from 'nats';
import type protobuf from 'protobufjs';
import { compileSchema, compileWireCheck, type CompiledSchema, type WireCheck } from '@fle/field-crypto';
import { fleConnectionOptions } from '@fle/nats-setup';
import { serverCredentials } from '@fle/pki';
import { loadSchema, serviceDefinition } from '@fle/schema';
import {
  ConfigError,
  GRPC_NO_CHANNELZ,
  ReplyInbox,
  RoutingError,
  RpcRegistry,
  resolveRpcMethod,
  createServiceMetrics,
  startMetricsServer,
  stampFromMetadata,
  toServiceError,
  type Logger,
  type MetricsServer,
  type ReplayStamp,
  type ServiceMetrics,
} from '@fle/service-kit';
import { callerIdentity } from './caller-identity.js';
import type { GatewayConfig, RouteConfig } from './config.js';
import type { Forwarder } from './forwarders/forwarder.js';
import { GrpcForwarder } from './forwarders/grpc.js';
import { JetStreamForwarder } from './forwarders/jetstream.js';
import { NatsCoreForwarder } from './forwarders/nats-core.js';
import { RateLimiter } from './rate-limit.js';
import { createRequestPath, type BoundRoute, type IncomingRequest } from './request-path.js';
import { planEdge, startEdge, type RunningEdge } from './edge/edge.js';
import { resolveRoutes } from './routes.js';

export interface GatewayDeps {
  readonly logger: Logger;
  readonly metrics?: ServiceMetrics;
  /** A schema already loaded (tests); otherwise config.schema is loaded. */
  readonly schema?: protobuf.Root;
}

/** What the gateway serves, all checked before it connects or listens. */
export interface GatewayPlan {
  readonly root: protobuf.Root;
  readonly schema: CompiledSchema;
  readonly routes: readonly RouteConfig[];
  readonly registry: RpcRegistry;
}

/**
 * Loads the team's schema, compiles its fle marks and checks the routes
 * against it. Throws SchemaLoadError (the file is not a schema), SchemaError
 * (a bad mark, naming file, message and field) or ConfigError (a route the
 * schema does not back), each one line; nothing is opened yet.
 */
export function planGateway(config: GatewayConfig, preloaded?: protobuf.Root): GatewayPlan {
  const root = preloaded ?? loadSchema(config.schema);
  const schema = compileSchema(root);
  const routes = resolveRoutes(config.routes, root);
  // The subject carries the tenant: a method whose request names none cannot be routed.
  for (const r of routes) {
    const method = resolveRpcMethod(root, r.method);
    if (schema.plan(method.requestType).tenantProp === undefined) {
      throw new ConfigError(`route ${r.method}: its request ${method.requestType} names no tenant field (option (fle.v1.tenant_field)), which the gateway routes by`);
    }
  }
  // The edge serves only methods routed here: checked now, before any port opens.
  if (config.edge) planEdge(config.edge, routes.map((r) => r.method));
  const services = [...new Set(routes.map((r) => r.method.split('/')[1]!))];
  const registry = new RpcRegistry(root, services.map((s) => serviceDefinition(root, s)));
  return { root, schema, routes, registry };
}

export interface RunningGateway {
  readonly grpcPort: number;
  readonly metricsPort: number | undefined;
  /** The public edge's port (config `edge`), if any. */
  readonly edgePort: number | undefined;
  readonly metrics: ServiceMetrics;
  stop(): Promise<void>;
}

const passthrough = (b: Buffer): Buffer => b;

/**
 * One call on the mTLS listener as the request path sees it: the caller is
 * the SPIFFE ID of its client certificate. A class rather than an object of
 * closures per call (this runs for every request).
 */
class GrpcIncoming implements IncomingRequest {
  readonly listener = 'grpc';
  readonly bytes: Uint8Array;
  constructor(
    readonly call: ServerUnaryCall<Buffer, Buffer>,
    readonly allowedCallers: readonly string[],
  ) {
    this.bytes = call.request;
  }

  caller(): string | undefined {
    const caller = callerIdentity(this.call);
    if (this.allowedCallers.length > 0 && (!caller || !this.allowedCallers.includes(caller))) {
      throw new RoutingError('CALLER_NOT_ALLOWED', 'caller identity is not allowed');
    }
    return caller;
  }

  stamp(): ReplayStamp {
    return stampFromMetadata(this.call.metadata);
  }
}

export async function startGateway(config: GatewayConfig, deps: GatewayDeps): Promise<RunningGateway> {
  const log = deps.logger;
  const metrics = deps.metrics ?? createServiceMetrics({ service: 'gateway' });
  const { root, schema, routes: fronted, registry } = planGateway(config, deps.schema);
  const rateLimiter = new RateLimiter(config.rateLimits);

  let nc: NatsConnection | undefined;
  if (config.nats) {
    // Replies come to the gateway identity's private inbox prefix (`_INBOX_gateway`: only it may read them).
    nc = await connect(fleConnectionOptions({ servers: config.nats.servers, tls: config.nats.tls, identity: 'gateway', name: config.nats.name }));
    log.info({ servers: config.nats.servers.length }, 'connected to NATS');
  }
  // One reply subscription for both NATS transports (@fle/service-kit ReplyInbox).
  const replies = nc ? new ReplyInbox(nc) : undefined;
  const core = replies ? new NatsCoreForwarder(replies) : undefined;
  const jetstream = replies ? new JetStreamForwarder(replies) : undefined;

  const routes = new Map<string, BoundRoute>();
  for (const route of fronted) {
    const method = registry.get(route.method);
    const forwarder =
      route.transport === 'grpc' ? new GrpcForwarder(route.processor!, config.grpc.maxMessageBytes) : route.transport === 'jetstream' ? jetstream! : core!;
    const wireCheck = compileWireCheck(root, method.requestType, { maxEnvelopes: config.maxEnvelopes });
    routes.set(method.path, { route, method, forwarder, wireCheck });
  }
  // Both listeners (this mTLS server and the public edge) take this one path: request-path.ts.
  const requestPath = createRequestPath({ schema, rateLimiter, metrics, log, maxMessageBytes: config.grpc.maxMessageBytes, maxFieldBytes: config.grpc.maxFieldBytes });

  const server = new Server({
    ...GRPC_NO_CHANNELZ,
    'grpc.max_receive_message_length': config.grpc.maxMessageBytes,
    'grpc.max_send_message_length': config.grpc.maxMessageBytes,
  });

  // One passthrough service definition per fronted service: the gateway keeps
  // the request bytes as the client sent them and forwards them unchanged.
  const byService = new Map<string, BoundRoute[]>();
  for (const b of routes.values()) byService.set(b.method.service, [...(byService.get(b.method.service) ?? []), b]);
  for (const bound of byService.values()) {
    const definition: Record<string, unknown> = {};
    const impl: UntypedServiceImplementation = {};
    for (const b of bound) {
      definition[b.method.key] = {
        path: b.method.path,
        requestStream: false,
        responseStream: false,
        originalName: b.method.method,
        requestSerialize: passthrough,
        requestDeserialize: passthrough,
        responseSerialize: passthrough,
        responseDeserialize: passthrough,
      };
      impl[b.method.key] = (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
        void handle(b, call).then(
          (bytes) => callback(null, Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)),
          (err: unknown) => callback(toServiceError(err)),
        );
      };
    }
    server.addService(definition as never, impl);
  }

  /** The mTLS listener: the caller is the SPIFFE ID of its client certificate. */
  function handle(b: BoundRoute, call: ServerUnaryCall<Buffer, Buffer>): Promise<Uint8Array> {
    return requestPath(b, new GrpcIncoming(call, config.grpc.allowedCallers));
  }

  // Health (grpc.health.v1) and reflection (v1 + v1alpha) for the fronted services only.
  const servedServices = [...byService.keys()];
  const health = new HealthImplementation({ '': 'SERVING', ...Object.fromEntries(servedServices.map((s) => [s, 'SERVING' as const])) });
  health.addToServer(server);
  const pkg = protoLoader.fromJSON(root.toJSON(), { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  new ReflectionService(pkg, { services: servedServices }).addToServer(server);

  const creds: ServerCredentials = serverCredentials(config.grpc.tls);
  const grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${config.grpc.host}:${config.grpc.port}`, creds, (err, port) => (err ? reject(err) : resolve(port))),
  );
  let edge: RunningEdge | undefined;
  if (config.edge) {
    edge = await startEdge({ config: config.edge, root, schema, routes, requestPath, rateLimiter, maxMessageBytes: config.grpc.maxMessageBytes, log });
  }
  let metricsServer: MetricsServer | undefined;
  if (config.metrics) metricsServer = await startMetricsServer({ registry: metrics.registry, host: config.metrics.host, port: config.metrics.port });
  log.info({ grpcPort, metricsPort: metricsServer?.port, routes: fronted.map((r) => `${r.method}->${r.transport}:${r.route}`) }, 'gateway listening');

  return {
    grpcPort,
    metricsPort: metricsServer?.port,
    edgePort: edge?.port,
    metrics,
    async stop() {
      for (const s of servedServices) health.setStatus(s, 'NOT_SERVING');
      await edge?.stop();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      for (const b of routes.values()) if (b.route.transport === 'grpc') await b.forwarder.close();
      await metricsServer?.close();
      replies?.close();
      if (nc) await nc.drain().catch(() => undefined);
    },
  };
}
