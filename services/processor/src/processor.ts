// Assembles the processor: NATS connection, streams, replay guard, cipher
// (keys only through the KeyProvider), handlers, and the three transports.
import { Redis } from 'ioredis';
import { connect, type NatsConnection } from 'nats';
import { FieldCipher, StaticSenderPolicy, compileSchema, type KeyProvider } from '@fle/field-crypto';
import { natsInboxPrefix } from '@fle/nats-setup';
import { natsTlsOptions } from '@fle/pki';
import { schemaRoot } from '@fle/schema';
import {
  NatsKvNonceStore,
  RedisNonceStore,
  ReplayGuard,
  RpcRegistry,
  STREAM_NAMES,
  createServiceMetrics,
  ensureDuplicateWindow,
  requiredDuplicateWindowMs,
  startMetricsServer,
  type Logger,
  type MetricsServer,
  type NonceStore,
  type ServiceMetrics,
} from '@fle/service-kit';
import { Limiter } from './concurrency.js';
import type { ProcessorConfig } from './config.js';
import { DeadLetterPublisher } from './dead-letter.js';
import { AuthorizationStore } from './handlers/authorization-store.js';
import { HANDLERS } from './handlers/registry.js';
import { KNOWN_SERVICES } from './known-services.js';
import { Pipeline, type BoundHandler } from './pipeline.js';
import { ensureStreams } from './streams.js';
import { CoreNatsTransport } from './transports/core-nats.js';
import { GrpcTransport } from './transports/grpc.js';
import { JetStreamTransport } from './transports/jetstream.js';

export interface ProcessorDeps {
  readonly logger: Logger;
  /** Where keys come from: KeystoreKeyProvider in main.ts, StaticKeyProvider in unit tests. */
  readonly keys: KeyProvider;
  readonly metrics?: ServiceMetrics;
  /** Overrides config.replay.store (tests). */
  readonly nonceStore?: NonceStore;
  readonly now?: () => number;
}

export interface RunningProcessor {
  readonly grpcPort: number | undefined;
  readonly metricsPort: number | undefined;
  readonly metrics: ServiceMetrics;
  readonly nc: NatsConnection;
  stop(): Promise<void>;
}

export async function startProcessor(config: ProcessorConfig, deps: ProcessorDeps): Promise<RunningProcessor> {
  const log = deps.logger;
  const metrics = deps.metrics ?? createServiceMetrics({ service: 'processor' });
  const schema = compileSchema(schemaRoot());
  const registry = new RpcRegistry(schemaRoot(), KNOWN_SERVICES);
  const cleanups: Array<() => Promise<void>> = [];

  const nc = await connect({
    servers: [...config.nats.servers],
    tls: config.nats.tls ? natsTlsOptions(config.nats.tls) : undefined,
    name: config.nats.name,
    inboxPrefix: natsInboxPrefix('processor'), // replies and pull deliveries are private to the processor identity
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  });
  cleanups.push(() => nc.drain().catch(() => undefined));
  try {
    const js = nc.jetstream();
    const jsm = await nc.jetstreamManager();
    await ensureStreams(jsm, { durable: config.jetstream.durable, ackWaitMs: config.jetstream.ackWaitMs });

    let store = deps.nonceStore;
    if (!store && config.replay.store === 'redis') {
      const redis = new Redis(config.replay.redisUrl ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 2, enableOfflineQueue: false });
      cleanups.push(async () => void redis.disconnect());
      store = new RedisNonceStore(redis);
    }
    store ??= await NatsKvNonceStore.open(js, { ttlMs: config.replay.windowMs * 2 });
    // Over JetStream the request stream's deduplication is the replay guard when its window covers the stamp's (docs/replay.md).
    const streamDuplicateWindowMs = await ensureDuplicateWindow(jsm, STREAM_NAMES.requests, requiredDuplicateWindowMs(config.replay.windowMs), log);
    const guard = new ReplayGuard({ store, windowMs: config.replay.windowMs, now: deps.now, streamDuplicateWindowMs });
    // Envelope alg 3/4 (HPKE): X25519 rings' private keys come through the same
    // KeyProvider; alg 4 senders must be devices registered in config.hpke.
    const senders = new StaticSenderPolicy(config.hpke.devices, { requireForRegisteredTenants: config.hpke.requireForRegisteredTenants });
    const cipher = new FieldCipher({ schema, keys: deps.keys, hpke: { senders, kem: config.hpke.kem } });

    let authorizations: Promise<AuthorizationStore> | undefined;
    const handlerDeps = { authorizations: () => (authorizations ??= AuthorizationStore.open(js)) };
    const handlers: BoundHandler[] = [];
    for (const route of config.routes) {
      const factory = HANDLERS[route.handler];
      if (!factory) throw new Error(`unknown handler ${JSON.stringify(route.handler)} for route ${route.route}`);
      handlers.push({ route, method: registry.get(route.method), handler: await factory(handlerDeps) });
    }
    const pipeline = new Pipeline({ schema, registry, cipher, guard, handlers, logger: log, metrics, testProbe: config.testProbe });
    const limiter = new Limiter(config.concurrency);
    const deadLetters = new DeadLetterPublisher(js, log, metrics);

    const stops: Array<() => Promise<void>> = [];
    if (config.core.enabled) {
      const core = new CoreNatsTransport({ nc, pipeline, queueGroup: config.core.queueGroup, limiter, deadLetters, logger: log, metrics });
      core.start();
      stops.push(() => core.stop());
    }
    if (config.jetstream.enabled) {
      const jst = new JetStreamTransport({ nc, js, durable: config.jetstream.durable, pipeline, limiter, deadLetters, maxAttempts: config.jetstream.maxAttempts, nakBaseMs: config.jetstream.nakBaseMs, nakMaxMs: config.jetstream.nakMaxMs, logger: log, metrics });
      await jst.start();
      stops.push(() => jst.stop());
    }
    let grpcPort: number | undefined;
    if (config.grpc) {
      const grpc = new GrpcTransport({ ...config.grpc, pipeline, limiter, logger: log, metrics });
      grpcPort = await grpc.start();
      stops.push(() => grpc.stop());
    }
    let metricsServer: MetricsServer | undefined;
    if (config.metrics) {
      metricsServer = await startMetricsServer({ registry: metrics.registry, host: config.metrics.host, port: config.metrics.port });
      cleanups.push(() => metricsServer!.close());
    }
    log.info({ grpcPort, metricsPort: metricsServer?.port, routes: config.routes.map((r) => r.route), core: config.core.enabled, jetstream: config.jetstream.enabled, replayStore: deps.nonceStore ? 'custom' : config.replay.store }, 'processor running');

    return {
      grpcPort,
      metricsPort: metricsServer?.port,
      metrics,
      nc,
      async stop() {
        // Stop taking work, let in-flight messages finish (bounded), then close.
        for (const s of stops) await s().catch(() => undefined);
        await limiter.idle(5000);
        for (const c of cleanups.reverse()) await c();
      },
    };
  } catch (err) {
    for (const c of cleanups.reverse()) await c();
    throw err;
  }
}
