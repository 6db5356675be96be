// Prometheus metrics every fle service exposes (prom-client), one registry per
// service, served on loopback by ./metrics-server.ts. Key-cache hits/misses and
// keystore latency are counted where the cache lives: @fle/keystore-client
// registers `fle_keystore_client_*` into this same registry (option `registry`).
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ServiceMetrics {
  readonly registry: Registry;
  /** Messages sealed (whole messages, label `type` = protobuf type). */
  readonly seals: Counter<'type'>;
  /** Messages opened. */
  readonly opens: Counter<'type'>;
  /** Failed requests by reason (the lower-case error code). */
  readonly failures: Counter<'reason'>;
  /** Messages published to the dead-letter stream, by reason. */
  readonly deadLetters: Counter<'reason'>;
  /** Requests handled, by route, transport (grpc | nats | jetstream) and outcome (ok | error). */
  readonly requests: Counter<'route' | 'transport' | 'outcome'>;
  /** End-to-end handling time in seconds. */
  readonly requestSeconds: Histogram<'route' | 'transport'>;
  /** Side effects performed (e.g. stored records) — once per request nonce. */
  readonly effects: Counter<'kind' | 'result'>;
}

export interface MetricsOptions {
  /** Service name, set as a default label `service`. */
  readonly service: string;
  /** Add Node process metrics (default true). */
  readonly processMetrics?: boolean;
}

export function createServiceMetrics(opts: MetricsOptions): ServiceMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service: opts.service });
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'fle_' });
  const registers = [registry];
  return {
    registry,
    seals: new Counter({ name: 'fle_seals_total', help: 'Messages sealed', labelNames: ['type'], registers }),
    opens: new Counter({ name: 'fle_opens_total', help: 'Messages opened', labelNames: ['type'], registers }),
    failures: new Counter({ name: 'fle_failures_total', help: 'Failed requests by reason', labelNames: ['reason'], registers }),
    deadLetters: new Counter({ name: 'fle_dead_letters_total', help: 'Messages dead-lettered by reason', labelNames: ['reason'], registers }),
    requests: new Counter({ name: 'fle_requests_total', help: 'Requests handled', labelNames: ['route', 'transport', 'outcome'], registers }),
    requestSeconds: new Histogram({
      name: 'fle_request_seconds',
      help: 'Request handling time',
      labelNames: ['route', 'transport'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    effects: new Counter({ name: 'fle_effects_total', help: 'Side effects by kind and result (done|already_done)', labelNames: ['kind', 'result'], registers }),
  };
}
