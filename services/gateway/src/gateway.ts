// The public gRPC edge (DESIGN.md: gateway). Authenticates callers by mTLS,
// checks that every sensitive field is an envelope (plaintext -> INVALID_ARGUMENT
// naming the field, never its value), and routes the request bytes unchanged to
// NATS (core or JetStream) or to a processor over gRPC. It holds no key and
// never calls the keystore.
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData, type UntypedServiceImplementation } from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import { connect, type NatsConnection } from 'nats';
import { compileSchema, type CompiledSchema } from '@fle/field-crypto';
import { natsTlsOptions, serverCredentials } from '@fle/pki';
import { schemaRoot } from '@fle/schema';
import {
  RoutingError,
  RpcRegistry,
  classifyError,
  createServiceMetrics,
  startMetricsServer,
  stampFromMetadata,
  toServiceError,
  type Logger,
  type MetricsServer,
  type RegisteredMethod,
  type ServiceMetrics,
} from '@fle/service-kit';
import { callerIdentity } from './caller-identity.js';
import type { GatewayConfig, RouteConfig } from './config.js';
import type { Forwarder } from './forwarders/forwarder.js';
import { GrpcForwarder } from './forwarders/grpc.js';
import { JetStreamForwarder } from './forwarders/jetstream.js';
import { NatsCoreForwarder } from './forwarders/nats-core.js';
import { GATEWAY_INBOX_PREFIX } from './forwarders/nats-reply.js';
import { KNOWN_SERVICES } from './known-services.js';
import { RateLimiter } from './rate-limit.js';
import { checkRequest, checkResponse } from './request-check.js';

export interface GatewayDeps {
  readonly logger: Logger;
  readonly metrics?: ServiceMetrics;
}

export interface RunningGateway {
  readonly grpcPort: number;
  readonly metricsPort: number | undefined;
  readonly metrics: ServiceMetrics;
  stop(): Promise<void>;
}

interface BoundRoute {
  readonly route: RouteConfig;
  readonly method: RegisteredMethod;
  readonly forwarder: Forwarder;
}

const passthrough = (b: Buffer): Buffer => b;

export async function startGateway(config: GatewayConfig, deps: GatewayDeps): Promise<RunningGateway> {
  const log = deps.logger;
  const metrics = deps.metrics ?? createServiceMetrics({ service: 'gateway' });
  const schema: CompiledSchema = compileSchema(schemaRoot());
  const registry = new RpcRegistry(schemaRoot(), KNOWN_SERVICES);
  const rateLimiter = new RateLimiter(config.rateLimits);

  let nc: NatsConnection | undefined;
  if (config.nats) {
    nc = await connect({
      servers: [...config.nats.servers],
      tls: config.nats.tls ? natsTlsOptions(config.nats.tls) : undefined,
      name: config.nats.name,
      inboxPrefix: GATEWAY_INBOX_PREFIX, // replies are private to the gateway identity (nats-setup permissions)
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    log.info({ servers: config.nats.servers.length }, 'connected to NATS');
  }
  const core = nc ? new NatsCoreForwarder(nc) : undefined;
  const jetstream = nc ? new JetStreamForwarder(nc) : undefined;

  const routes = new Map<string, BoundRoute>();
  for (const route of config.routes) {
    const method = registry.get(route.method);
    const forwarder =
      route.transport === 'grpc' ? new GrpcForwarder(route.processor!, config.grpc.maxMessageBytes) : route.transport === 'jetstream' ? jetstream! : core!;
    routes.set(method.path, { route, method, forwarder });
  }

  const server = new Server({
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
          (bytes) => callback(null, bytes),
          (err: unknown) => callback(toServiceError(err)),
        );
      };
    }
    server.addService(definition as never, impl);
  }

  async function handle(b: BoundRoute, call: ServerUnaryCall<Buffer, Buffer>): Promise<Buffer> {
    const started = performance.now();
    const labels = { route: b.route.route, transport: b.route.transport };
    let tenant: string | undefined;
    try {
      const caller = callerIdentity(call);
      if (config.grpc.allowedCallers.length > 0 && (!caller || !config.grpc.allowedCallers.includes(caller))) {
        throw new RoutingError('CALLER_NOT_ALLOWED', 'caller identity is not allowed');
      }
      rateLimiter.admitCaller(caller, call.request.byteLength); // before decoding: RATE_LIMITED
      const stamp = stampFromMetadata(call.metadata);
      const checked = checkRequest(schema, b.method, call.request, config.grpc.maxMessageBytes, config.grpc.maxFieldBytes);
      tenant = checked.tenant;
      rateLimiter.admitTenant(tenant, call.request.byteLength);
      const reply = await b.forwarder.forward({ method: b.method, route: b.route, tenant, bytes: call.request, stamp, caller });
      checkResponse(schema, b.method, reply);
      metrics.requests.inc({ ...labels, outcome: 'ok' });
      log.info({ method: b.method.path, route: b.route.route, transport: b.route.transport, tenant, caller, size: call.request.byteLength, envelopes: checked.envelopes, replySize: reply.byteLength, ms: Math.round(performance.now() - started) }, 'request routed');
      return Buffer.isBuffer(reply) ? reply : Buffer.from(reply.buffer, reply.byteOffset, reply.byteLength);
    } catch (err) {
      const c = classifyError(err);
      metrics.requests.inc({ ...labels, outcome: 'error' });
      metrics.failures.inc({ reason: c.reason });
      log.warn({ method: b.method.path, route: b.route.route, transport: b.route.transport, tenant, size: call.request?.byteLength, err, status: c.grpcStatus }, 'request refused');
      throw err;
    } finally {
      metrics.requestSeconds.observe(labels, (performance.now() - started) / 1000);
    }
  }

  // Health (grpc.health.v1) and reflection (v1 + v1alpha) for the fronted services only.
  const servedServices = [...byService.keys()];
  const health = new HealthImplementation({ '': 'SERVING', ...Object.fromEntries(servedServices.map((s) => [s, 'SERVING' as const])) });
  health.addToServer(server);
  const pkg = protoLoader.fromJSON(schemaRoot().toJSON(), { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  new ReflectionService(pkg, { services: servedServices }).addToServer(server);

  const creds: ServerCredentials = serverCredentials(config.grpc.tls);
  const grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${config.grpc.host}:${config.grpc.port}`, creds, (err, port) => (err ? reject(err) : resolve(port))),
  );
  let metricsServer: MetricsServer | undefined;
  if (config.metrics) metricsServer = await startMetricsServer({ registry: metrics.registry, host: config.metrics.host, port: config.metrics.port });
  log.info({ grpcPort, metricsPort: metricsServer?.port, routes: config.routes.map((r) => `${r.method}->${r.transport}:${r.route}`) }, 'gateway listening');

  return {
    grpcPort,
    metricsPort: metricsServer?.port,
    metrics,
    async stop() {
      for (const s of servedServices) health.setStatus(s, 'NOT_SERVING');
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
      if (nc) await nc.drain().catch(() => undefined);
    },
  };
}
