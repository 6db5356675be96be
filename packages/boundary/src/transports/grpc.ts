// gRPC (mTLS): the same methods served directly (gateway routes with
// `transport: grpc`). Errors go back as a numeric status + `fle-error-code`
// (toServiceError), never UNKNOWN with a raw message.
import { randomUUID } from 'node:crypto';
import { Server, type ServerUnaryCall, type ServiceDefinition, type sendUnaryData, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { identityFromPeerCertificate, serverCredentials, type TlsFiles } from '@fle/pki';
import { GRPC_NO_CHANNELZ, RoutingError, classifyError, stampFromMetadata, toServiceError, type Logger, type ServiceMetrics } from '@fle/service-kit';
import type { Limiter } from '../concurrency.js';
import type { Pipeline } from '../pipeline.js';

/** What wraps a boundary's methods as grpc-js service implementations. */
export interface GrpcServiceOptions {
  /** SPIFFE IDs allowed to call (peer certificate URI SAN); empty: any certificate the server's CA accepts. */
  readonly allowedCallers: readonly string[];
  readonly pipeline: Pipeline;
  readonly limiter: Limiter;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
}

export interface GrpcTransportOptions extends GrpcServiceOptions {
  readonly host: string;
  readonly port: number;
  readonly tls: TlsFiles;
  readonly maxMessageBytes: number;
}

/** A grpc-js service: pass both to `server.addService(definition, implementation)`. */
export interface BoundaryGrpcService {
  /** Full service name, e.g. `team.v1.AccountService`. */
  readonly name: string;
  readonly definition: ServiceDefinition;
  readonly implementation: UntypedServiceImplementation;
}

const passthrough = (b: Buffer): Buffer => b;

/**
 * The boundary's methods as grpc-js services, one per schema service: the
 * request bytes go through the pipeline (caller check, wire check, replay
 * check, open, the team's handler, seal) and the sealed response bytes are
 * sent back; errors as a numeric status + `fle-error-code` (toServiceError).
 * The definitions carry raw bytes (passthrough serializers): the pipeline
 * decodes and encodes with the loaded schema.
 */
export function grpcServices(o: GrpcServiceOptions): BoundaryGrpcService[] {
  const byService = new Map<string, { definition: Record<string, unknown>; implementation: UntypedServiceImplementation }>();
  for (const method of o.pipeline.methods) {
    const entry = byService.get(method.service) ?? { definition: {}, implementation: {} };
    entry.definition[method.name] = {
      path: method.path,
      requestStream: false,
      responseStream: false,
      originalName: method.name,
      requestSerialize: passthrough,
      requestDeserialize: passthrough,
      responseSerialize: passthrough,
      responseDeserialize: passthrough,
    };
    entry.implementation[method.name] = (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
      const accepted = o.limiter.run(() =>
        handleCall(o, method.path, method.route, call).then(
          (bytes) => cb(null, bytes),
          (err: unknown) => cb(toServiceError(err)),
        ),
      );
      if (!accepted) cb(toServiceError(new RoutingError('OVERLOADED', 'processor overloaded')));
    };
    byService.set(method.service, entry);
  }
  return [...byService].map(([name, e]) => ({ name, definition: e.definition as unknown as ServiceDefinition, implementation: e.implementation }));
}

async function handleCall(o: GrpcServiceOptions, path: string, route: string, call: ServerUnaryCall<Buffer, Buffer>): Promise<Buffer> {
  const started = performance.now();
  const labels = { route, transport: 'grpc' };
  try {
    const caller = identityFromPeerCertificate(call.getAuthContext()?.sslPeerCertificate);
    if (o.allowedCallers.length > 0 && (!caller || !o.allowedCallers.includes(caller))) {
      throw new RoutingError('CALLER_NOT_ALLOWED', 'caller identity is not allowed');
    }
    const handled = await o.pipeline.handle({
      transport: 'grpc',
      path,
      bytes: call.request,
      stamp: stampFromMetadata(call.metadata),
      origin: `grpc:${randomUUID()}`,
      caller,
    });
    // The reply is handed to grpc-js right after; the nonce is done either way.
    await handled.claim.complete().catch((e: unknown) => o.logger.warn({ err: e }, 'could not mark nonce done'));
    o.metrics.requests.inc({ ...labels, outcome: 'ok' });
    o.logger.info({ transport: 'grpc', tenant: handled.tenant, route, caller, size: call.request.byteLength, ms: Math.round(performance.now() - started) }, 'request handled');
    return handled.bytes;
  } catch (err) {
    const c = classifyError(err);
    o.metrics.requests.inc({ ...labels, outcome: 'error' });
    o.metrics.failures.inc({ reason: c.reason });
    o.logger.warn({ transport: 'grpc', route, err, size: call.request?.byteLength }, 'request failed');
    throw err;
  } finally {
    o.metrics.requestSeconds.observe(labels, (performance.now() - started) / 1000);
  }
}

/** A grpc-js server of its own (mTLS) serving the boundary's services, with gRPC health. */
export class GrpcTransport {
  readonly #server: Server;
  readonly #health: HealthImplementation;
  readonly #services: string[];
  constructor(private readonly o: GrpcTransportOptions) {
    this.#server = new Server({ ...GRPC_NO_CHANNELZ, 'grpc.max_receive_message_length': o.maxMessageBytes, 'grpc.max_send_message_length': o.maxMessageBytes });
    const services = grpcServices(o);
    for (const s of services) this.#server.addService(s.definition, s.implementation);
    this.#services = services.map((s) => s.name);
    this.#health = new HealthImplementation({ '': 'SERVING', ...Object.fromEntries(this.#services.map((s) => [s, 'SERVING' as const])) });
    this.#health.addToServer(this.#server);
  }

  async start(): Promise<number> {
    return new Promise<number>((resolve, reject) =>
      this.#server.bindAsync(`${this.o.host}:${this.o.port}`, serverCredentials(this.o.tls), (err, port) => (err ? reject(err) : resolve(port))),
    );
  }

  async stop(): Promise<void> {
    for (const s of this.#services) this.#health.setStatus(s, 'NOT_SERVING');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, 2000);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
