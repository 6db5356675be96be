// Assembles the processor from its config: the team's schema and handler
// module, a NATS connection, the replay store, and the @fle/boundary
// transports (core NATS queue group, JetStream durable consumer, gRPC).
// Nothing here knows any API: methods, types and handlers come from config.
import { dirname } from 'node:path';
import { Redis } from 'ioredis';
import { connect, type NatsConnection } from 'nats';
import { Boundary, loadHandlerModule, type PreparedSenderPolicy } from '@fle/boundary';
import type { KeyProvider } from '@fle/field-crypto';
import { fleConnectionOptions } from '@fle/nats-setup';
import { loadSchema } from '@fle/schema';
import {
  RedisNonceStore,
  createServiceMetrics,
  startMetricsServer,
  type Logger,
  type MetricsServer,
  type NonceStore,
  type ServiceMetrics,
} from '@fle/service-kit';
import type { ProcessorConfig } from './config.js';

export interface ProcessorDeps {
  readonly logger: Logger;
  /** Where keys come from: KeystoreKeyProvider in main.ts, StaticKeyProvider in unit tests. */
  readonly keys: KeyProvider;
  /** The devices enrolled in the keystore (config hpke.deviceRegistry): main.ts builds it on the keystore connection. */
  readonly senders?: PreparedSenderPolicy;
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
  // The schema first: a bad image or mark stops start-up before any connection.
  const schema = loadSchema(config.schema);
  const cleanups: Array<() => Promise<void>> = [];

  const nc = await connect(fleConnectionOptions({ servers: config.nats.servers, tls: config.nats.tls, identity: 'processor', name: config.nats.name }));
  cleanups.push(() => nc.drain().catch(() => undefined));
  try {
    let store = deps.nonceStore;
    if (!store && config.replay.store === 'redis') {
      const redis = new Redis(config.replay.redisUrl ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 2, enableOfflineQueue: false });
      cleanups.push(async () => void redis.disconnect());
      store = new RedisNonceStore(redis);
    }
    const handlers = await loadHandlerModule(config.handlers, { schema, keys: deps.keys, nc, js: nc.jetstream(), logger: log, metrics }, dirname(config.handlers));
    const boundary = await Boundary.create({
      schema,
      keys: deps.keys,
      handlers,
      routes: config.routes,
      nc,
      nonceStore: store,
      replayWindowMs: config.replay.windowMs,
      // Alg 4 senders: the keystore's enrolled devices when configured, else the config's fixed list.
      hpke: deps.senders ? { kem: config.hpke.kem, senders: deps.senders } : { kem: config.hpke.kem, devices: config.hpke.devices, requireForRegisteredTenants: config.hpke.requireForRegisteredTenants },
      maxEnvelopes: config.maxEnvelopes,
      concurrency: config.concurrency,
      logger: log,
      metrics,
      now: deps.now,
      testProbe: config.testProbe,
    });
    cleanups.push(() => boundary.stop());
    if (config.core.enabled) await boundary.serveCore({ queueGroup: config.core.queueGroup, service: config.core.service });
    if (config.jetstream.enabled) {
      const { durable, maxAttempts, ackWaitMs, nakBaseMs, nakMaxMs } = config.jetstream;
      await boundary.serveJetStream({ durable, maxAttempts, ackWaitMs, nakBaseMs, nakMaxMs });
    }
    const grpcPort = config.grpc ? await boundary.listenGrpc(config.grpc) : undefined;
    let metricsServer: MetricsServer | undefined;
    if (config.metrics) {
      metricsServer = await startMetricsServer({ registry: metrics.registry, host: config.metrics.host, port: config.metrics.port });
      cleanups.push(() => metricsServer!.close());
    }
    log.info(
      { grpcPort, metricsPort: metricsServer?.port, routes: boundary.methods.map((m) => m.route), core: config.core.enabled, jetstream: config.jetstream.enabled, replayStore: deps.nonceStore ? 'custom' : config.replay.store },
      'processor running',
    );

    return {
      grpcPort,
      metricsPort: metricsServer?.port,
      metrics,
      nc,
      async stop() {
        // Stop taking work, let in-flight messages finish (bounded), then close.
        for (const c of cleanups.reverse()) await c();
      },
    };
  } catch (err) {
    for (const c of cleanups.reverse()) await c();
    throw err;
  }
}
