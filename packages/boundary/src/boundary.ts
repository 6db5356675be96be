// The decrypt boundary as a library, for a team's own service process: the
// team's handlers receive requests with their sensitive fields opened and
// return responses that are sealed under the request's binding. Keys come only
// through a KeyProvider (keystore-client's KeystoreKeyProvider in production).
//
//   const boundary = await Boundary.create({ schema: loadSchema({ image: 'schema.binpb' }), keys, handlers: { Open: openAccount }, nc });
//   for (const s of boundary.grpcServices({ allowedCallers: ['spiffe://example.org/gateway'] })) server.addService(s.definition, s.implementation);
//   await boundary.serveCore({ queueGroup: 'accounts' });
//   await boundary.serveJetStream({ durable: 'accounts' });
//   ...
//   await boundary.stop();
//
// services/processor is this library driven by a config file.
import type { NatsConnection } from 'nats';
import type protobuf from 'protobufjs';
import { FieldCipher, StaticSenderPolicy, compileSchema, compileWireCheck, type CompiledSchema, type KeyProvider, type RegisteredDevice } from '@fle/field-crypto';
import type { PreparedSenderPolicy } from './pipeline.js';
import { NatsKvNonceStore, ReplayGuard, ReplyInbox, STREAM_NAMES, createLogger, createServiceMetrics, ensureDuplicateWindow, requiredDuplicateWindowMs, type Logger, type NonceStore, type ServiceMetrics } from '@fle/service-kit';
import type { TlsFiles } from '@fle/pki';
import { Limiter } from './concurrency.js';
import { DeadLetterPublisher } from './dead-letter.js';
import type { HandlerMap } from './handler.js';
import { BoundaryConfigError, bindMethods, type BoundMethod, type RouteSpec } from './methods.js';
import { Pipeline, type WireCheck } from './pipeline.js';
import { ensureStreams } from './streams.js';
import { CoreNatsTransport } from './transports/core-nats.js';
import { GrpcTransport, grpcServices, type BoundaryGrpcService } from './transports/grpc.js';
import { JetStreamTransport, type JetStreamTransportOptions } from './transports/jetstream.js';

export interface BoundaryOptions {
  /** The team's schema: `loadSchema({ image })` or `loadSchema({ protoRoots })` of @fle/schema. */
  readonly schema: protobuf.Root;
  /** Where keys come from: KeystoreKeyProvider in production. */
  readonly keys: KeyProvider;
  /** The team's handlers, keyed by method name (`Open`) or full path (`/team.v1.AccountService/Open`). */
  readonly handlers: HandlerMap;
  /** Which methods to serve and their NATS route tokens; default: every method a handler names. */
  readonly routes?: readonly RouteSpec[];
  /** The NATS connection (the replay store's default home; NATS transports and dead letters). */
  readonly nc?: NatsConnection;
  /** Replay nonces; default NATS KV `fle_nonces` on `nc` (RedisNonceStore for Redis). Required without `nc`. */
  readonly nonceStore?: NonceStore;
  /** Accepted clock skew of a request's stamp (default 60 s). */
  readonly replayWindowMs?: number;
  /**
   * Envelope alg 3/4 (docs/envelope-hpke.md): X25519 implementation and the
   * registered devices of auth mode: `senders`, the devices enrolled in the
   * keystore (keystore-client's KeystoreSenderPolicy over a
   * KeystoreDeviceRegistry, docs/devices.md: a revocation takes effect within
   * the registry's TTL), or a fixed `devices` list (tests; not both).
   */
  readonly hpke?: {
    readonly kem?: 'noble' | 'webcrypto';
    readonly senders?: PreparedSenderPolicy;
    readonly devices?: readonly RegisteredDevice[];
    /** With `devices`: a tenant with a listed device refuses alg 3 (default true). `senders` has its own option. */
    readonly requireForRegisteredTenants?: boolean;
  };
  /**
   * Most sensitive values (envelopes) one request may carry (issue 17 item 3),
   * counted by the wire check before anything is decoded or opened; default
   * DEFAULT_MAX_ENVELOPES of @fle/field-crypto (1024).
   */
  readonly maxEnvelopes?: number;
  /** Requests handled at once, across every transport (default 32). */
  readonly concurrency?: number;
  readonly logger?: Logger;
  readonly metrics?: ServiceMetrics;
  readonly now?: () => number;
  /** Test only: record a digest of each opened request (see services/processor testProbe). */
  readonly testProbe?: { readonly openedDigestFile: string; readonly holdMs?: number };
}

export interface CoreServeOptions {
  /** Queue group shared by every instance (default `fle-processor`). */
  readonly queueGroup?: string;
  /**
   * Serve as a NATS service (nats.js `services.add`): each route an endpoint,
   * discoverable and with stats on `$SRV.PING|INFO|STATS` (the identity needs
   * subscribe rights on `$SRV.>`, and to answer an operator's discovery
   * request `allowResponses` on its NATS user, which fle's own users leave
   * off for its cost on nats-server: @fle/nats-setup NatsPermissions).
   * Default: plain queue subscriptions.
   */
  readonly service?: { readonly name: string; readonly version: string; readonly description?: string };
}

export interface JetStreamServeOptions {
  /** The durable pull consumer on FLE_REQUESTS shared by every instance (default `fle-processor`). */
  readonly durable?: string;
  /** Deliveries before a message that keeps failing transiently is dead-lettered (default 10). */
  readonly maxAttempts?: number;
  readonly ackWaitMs?: number;
  readonly nakBaseMs?: number;
  readonly nakMaxMs?: number;
  readonly watchdog?: JetStreamTransportOptions['watchdog'];
}

export interface GrpcListenOptions {
  readonly host?: string;
  readonly port?: number;
  readonly tls: TlsFiles;
  readonly maxMessageBytes?: number;
  readonly allowedCallers?: readonly string[];
}

export class Boundary {
  readonly schema: CompiledSchema;
  readonly cipher: FieldCipher;
  readonly pipeline: Pipeline;
  readonly limiter: Limiter;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  readonly nc: NatsConnection | undefined;
  readonly #stops: Array<() => Promise<void>> = [];
  #deadLetters: DeadLetterPublisher | undefined;
  readonly #streamsReady = new Map<string, Promise<void>>();

  readonly #replies: ReplyInbox | undefined;

  private constructor(opts: BoundaryOptions, methods: readonly BoundMethod[], guard: ReplayGuard, wireChecks: ReadonlyMap<string, WireCheck>, replies: ReplyInbox | undefined) {
    this.#replies = replies;
    this.logger = opts.logger ?? createLogger({ name: 'boundary' });
    this.metrics = opts.metrics ?? createServiceMetrics({ service: 'boundary' });
    this.nc = opts.nc;
    this.schema = compileSchema(opts.schema);
    // Envelope alg 3/4 (HPKE): X25519 rings' private keys come through the same
    // KeyProvider; alg 4 senders must be registered devices.
    const senders = opts.hpke?.senders ?? new StaticSenderPolicy(opts.hpke?.devices ?? [], { requireForRegisteredTenants: opts.hpke?.requireForRegisteredTenants ?? true });
    this.cipher = new FieldCipher({ schema: this.schema, keys: opts.keys, hpke: { senders, kem: opts.hpke?.kem ?? 'noble' } });
    this.limiter = new Limiter(opts.concurrency ?? 32);
    this.pipeline = new Pipeline({ schema: this.schema, cipher: this.cipher, guard, methods, wireChecks, logger: this.logger, metrics: this.metrics, testProbe: opts.testProbe, senders: opts.hpke?.senders });
  }

  /**
   * Checks everything before anything listens: every routed method exists and
   * has a handler, the schema's marks compile (a sensitive non-string field, a
   * missing tenant field), the replay store opens. Throws BoundaryConfigError
   * or the schema's error, naming what is wrong.
   */
  static async create(opts: BoundaryOptions): Promise<Boundary> {
    if (opts.hpke?.senders && opts.hpke.devices) throw new BoundaryConfigError('hpke: give either senders (the keystore\'s devices) or a devices list, not both');
    const methods = bindMethods(opts.schema, opts.handlers, opts.routes);
    const schema = compileSchema(opts.schema);
    for (const m of methods) {
      schema.plan(m.requestType);
      schema.plan(m.responseType);
    }
    const windowMs = opts.replayWindowMs ?? 60_000;
    let store = opts.nonceStore;
    let replies: ReplyInbox | undefined;
    if (!store) {
      if (!opts.nc) throw new BoundaryConfigError('a nonce store is needed: pass nc (NATS KV fle_nonces) or nonceStore');
      // Claims acknowledged on one reply subscription of the boundary's (closed by stop).
      replies = new ReplyInbox(opts.nc);
      store = await NatsKvNonceStore.open(opts.nc.jetstream(), { ttlMs: windowMs * 2, replies });
    }
    let streamDuplicateWindowMs: number | undefined;
    if (opts.nc) {
      // Over JetStream the request stream's deduplication is the replay guard
      // when its window covers the stamp's (docs/replay.md): the streams first.
      const jsm = await opts.nc.jetstreamManager();
      await ensureStreams(jsm, { ackWaitMs: 30_000 });
      streamDuplicateWindowMs = await ensureDuplicateWindow(jsm, STREAM_NAMES.requests, requiredDuplicateWindowMs(windowMs), opts.logger ?? createLogger({ name: 'boundary' }));
    }
    const guard = new ReplayGuard({ store, windowMs, now: opts.now, ...(streamDuplicateWindowMs === undefined ? {} : { streamDuplicateWindowMs }) });
    // Every request's bytes are checked before decoding (issue 17 items 1 and 3):
    // a publisher can bypass the gateway, so the boundary applies the same rule
    // — nothing a decoder would drop or merge, at most maxEnvelopes sensitive values.
    const wireChecks = new Map<string, WireCheck>();
    for (const m of methods) wireChecks.set(m.requestType, compileWireCheck(opts.schema, m.requestType, { maxEnvelopes: opts.maxEnvelopes }));
    return new Boundary(opts, methods, guard, wireChecks, replies);
  }

  get methods(): BoundMethod[] {
    return this.pipeline.methods;
  }

  /**
   * grpc-js services for the team's own server (one per schema service with a
   * routed method): `server.addService(s.definition, s.implementation)`.
   * `allowedCallers`: SPIFFE IDs that may call; empty means any certificate
   * the server's CA accepts.
   */
  grpcServices(opts: { allowedCallers?: readonly string[] } = {}): BoundaryGrpcService[] {
    return grpcServices({ allowedCallers: opts.allowedCallers ?? [], pipeline: this.pipeline, limiter: this.limiter, logger: this.logger, metrics: this.metrics });
  }

  /** One service of grpcServices by full name (e.g. `team.v1.AccountService`); BoundaryConfigError when none of its methods is routed. */
  grpcService(serviceName: string, opts: { allowedCallers?: readonly string[] } = {}): BoundaryGrpcService {
    const s = this.grpcServices(opts).find((x) => x.name === serviceName);
    if (!s) throw new BoundaryConfigError(`no routed method of ${serviceName}`);
    return s;
  }

  /** A grpc-js server of the boundary's own (mTLS, gRPC health); resolves to the bound port. */
  async listenGrpc(opts: GrpcListenOptions): Promise<number> {
    const t = new GrpcTransport({
      host: opts.host ?? '127.0.0.1',
      port: opts.port ?? 0,
      tls: opts.tls,
      maxMessageBytes: opts.maxMessageBytes ?? 4 * 1024 * 1024,
      allowedCallers: opts.allowedCallers ?? [],
      pipeline: this.pipeline,
      limiter: this.limiter,
      logger: this.logger,
      metrics: this.metrics,
    });
    const port = await t.start();
    this.#stops.push(() => t.stop());
    return port;
  }

  #requireNats(what: string): NatsConnection {
    if (!this.nc) throw new BoundaryConfigError(`${what} needs a NATS connection (BoundaryOptions.nc)`);
    return this.nc;
  }

  /** FLE_REQUESTS and FLE_DLQ (and the durable, when given) exist; the dead-letter publisher. */
  async #ready(consumer?: { durable: string; ackWaitMs: number }): Promise<DeadLetterPublisher> {
    const nc = this.#requireNats('NATS');
    const key = consumer?.durable ?? '';
    let ready = this.#streamsReady.get(key);
    if (!ready) {
      ready = nc.jetstreamManager().then((jsm) => ensureStreams(jsm, { durable: consumer?.durable, ackWaitMs: consumer?.ackWaitMs ?? 30_000 }));
      this.#streamsReady.set(key, ready);
    }
    await ready;
    this.#deadLetters ??= new DeadLetterPublisher(nc.jetstream(), this.logger, this.metrics);
    return this.#deadLetters;
  }

  /**
   * Core NATS request-reply: a queue-group subscription on `fle.rpc.*.<route>`
   * per method. A permanent failure is answered with the typed error and
   * dead-lettered (FLE_DLQ); a transient one is answered UNAVAILABLE.
   */
  async serveCore(opts: CoreServeOptions = {}): Promise<void> {
    const nc = this.#requireNats('serveCore');
    const deadLetters = await this.#ready();
    const core = new CoreNatsTransport({ nc, pipeline: this.pipeline, queueGroup: opts.queueGroup ?? 'fle-processor', limiter: this.limiter, deadLetters, logger: this.logger, metrics: this.metrics, service: opts.service });
    await core.start();
    this.#stops.push(() => core.stop());
  }

  /**
   * JetStream: the durable pull consumer on FLE_REQUESTS (created if missing).
   * Acked after the handler and the reply; permanent failures are dead-lettered
   * then acked; transient ones NAKed with backoff and dead-lettered after
   * `maxAttempts`; a redelivery resumes its nonce (the handler sees `resumed`);
   * a watchdog recreates a lost or stalled durable.
   */
  async serveJetStream(opts: JetStreamServeOptions = {}): Promise<void> {
    const nc = this.#requireNats('serveJetStream');
    const durable = opts.durable ?? 'fle-processor';
    const deadLetters = await this.#ready({ durable, ackWaitMs: opts.ackWaitMs ?? 30_000 });
    const t = new JetStreamTransport({
      nc,
      js: nc.jetstream(),
      durable,
      pipeline: this.pipeline,
      limiter: this.limiter,
      deadLetters,
      maxAttempts: opts.maxAttempts ?? 10,
      nakBaseMs: opts.nakBaseMs ?? 500,
      nakMaxMs: opts.nakMaxMs ?? 30_000,
      logger: this.logger,
      metrics: this.metrics,
      watchdog: opts.watchdog,
    });
    await t.start();
    this.#stops.push(() => t.stop());
  }

  /** Stops taking work, lets in-flight requests finish (bounded by `idleTimeoutMs`). The NATS connection stays the caller's. */
  async stop(idleTimeoutMs = 5000): Promise<void> {
    for (const s of this.#stops.splice(0)) await s().catch(() => undefined);
    await this.limiter.idle(idleTimeoutMs);
    this.#replies?.close();
  }
}
