// gRPC (mTLS): the same methods served directly (gateway routes with
// `transport: grpc`). Errors go back as a numeric status + `fle-error-code`
// (toServiceError), never UNKNOWN with a raw message.
import { randomUUID } from 'node:crypto';
import { Server, type ServerUnaryCall, type sendUnaryData, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { identityFromPeerCertificate, serverCredentials, type TlsFiles } from '@fle/pki';
import { RoutingError, classifyError, stampFromMetadata, toServiceError, type Logger, type ServiceMetrics } from '@fle/service-kit';
import type { Limiter } from '../concurrency.js';
import type { Pipeline } from '../pipeline.js';

export interface GrpcTransportOptions {
  readonly host: string;
  readonly port: number;
  readonly tls: TlsFiles;
  readonly maxMessageBytes: number;
  readonly allowedCallers: readonly string[];
  readonly pipeline: Pipeline;
  readonly limiter: Limiter;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
}

const passthrough = (b: Buffer): Buffer => b;

export class GrpcTransport {
  readonly #server: Server;
  readonly #health: HealthImplementation;
  readonly #services: string[];
  constructor(private readonly o: GrpcTransportOptions) {
    this.#server = new Server({ 'grpc.max_receive_message_length': o.maxMessageBytes, 'grpc.max_send_message_length': o.maxMessageBytes });
    const byService = new Map<string, { definition: Record<string, unknown>; impl: UntypedServiceImplementation }>();
    for (const bound of o.pipeline.routes) {
      const { method } = bound;
      const entry = byService.get(method.service) ?? { definition: {}, impl: {} };
      entry.definition[method.key] = {
        path: method.path,
        requestStream: false,
        responseStream: false,
        originalName: method.method,
        requestSerialize: passthrough,
        requestDeserialize: passthrough,
        responseSerialize: passthrough,
        responseDeserialize: passthrough,
      };
      entry.impl[method.key] = (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
        const accepted = o.limiter.run(() =>
          this.#handle(method.path, bound.route.route, call).then(
            (bytes) => cb(null, bytes),
            (err: unknown) => cb(toServiceError(err)),
          ),
        );
        if (!accepted) cb(toServiceError(new RoutingError('OVERLOADED', 'processor overloaded')));
      };
      byService.set(method.service, entry);
    }
    for (const { definition, impl } of byService.values()) this.#server.addService(definition as never, impl);
    this.#services = [...byService.keys()];
    this.#health = new HealthImplementation({ '': 'SERVING', ...Object.fromEntries(this.#services.map((s) => [s, 'SERVING' as const])) });
    this.#health.addToServer(this.#server);
  }

  async #handle(path: string, route: string, call: ServerUnaryCall<Buffer, Buffer>): Promise<Buffer> {
    const started = performance.now();
    const labels = { route, transport: 'grpc' };
    try {
      const caller = identityFromPeerCertificate(call.getAuthContext()?.sslPeerCertificate);
      if (this.o.allowedCallers.length > 0 && (!caller || !this.o.allowedCallers.includes(caller))) {
        throw new RoutingError('CALLER_NOT_ALLOWED', 'caller identity is not allowed');
      }
      const handled = await this.o.pipeline.handle({
        transport: 'grpc',
        path,
        bytes: call.request,
        stamp: stampFromMetadata(call.metadata),
        origin: `grpc:${randomUUID()}`,
      });
      // The reply is handed to grpc-js right after; the nonce is done either way.
      await handled.claim.complete().catch((e: unknown) => this.o.logger.warn({ err: e }, 'could not mark nonce done'));
      this.o.metrics.requests.inc({ ...labels, outcome: 'ok' });
      this.o.logger.info({ transport: 'grpc', tenant: handled.tenant, route, caller, size: call.request.byteLength, ms: Math.round(performance.now() - started) }, 'request handled');
      return handled.bytes;
    } catch (err) {
      const c = classifyError(err);
      this.o.metrics.requests.inc({ ...labels, outcome: 'error' });
      this.o.metrics.failures.inc({ reason: c.reason });
      this.o.logger.warn({ transport: 'grpc', route, err, size: call.request?.byteLength }, 'request failed');
      throw err;
    } finally {
      this.o.metrics.requestSeconds.observe(labels, (performance.now() - started) / 1000);
    }
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
