// Counters of the key cache: always kept in-process (`stats()`), and exported
// to prom-client when a registry is passed in.
import { Counter, Histogram, type Registry } from 'prom-client';
import type { FetchFailureKind } from './fetcher.js';

export interface KeyCacheStats {
  /** Calls served from the cache without waiting: a fresh entry, or one in its refresh window (keystore not failing). */
  hits: number;
  /** Calls that waited: no entry, or one past its refresh window (they fetched, joined a fetch, or were served stale within the grace). */
  misses: number;
  /** Calls served from an entry past its TTL while the keystore is unreachable (within TTL + grace; in the refresh window, while backing off). */
  staleServed: number;
  /** Background refreshes started for entries in their refresh window (each is also one of `fetches`). */
  backgroundRefreshes: number;
  /** RPCs made to the keystore. */
  fetches: number;
  fetchErrors: number;
  fetchLatencyMs: { count: number; totalMs: number; maxMs: number };
  /** Successful fetches per `tenant/ring/version` (what a fetch returned). */
  fetchesByVersion: Record<string, number>;
}

export type FetchOutcome = 'ok' | FetchFailureKind;

export class KeyCacheMetrics {
  readonly #stats: KeyCacheStats = {
    hits: 0,
    misses: 0,
    staleServed: 0,
    backgroundRefreshes: 0,
    fetches: 0,
    fetchErrors: 0,
    fetchLatencyMs: { count: 0, totalMs: 0, maxMs: 0 },
    fetchesByVersion: {},
  };
  readonly #prom:
    | { hits: Counter; misses: Counter; stale: Counter; refreshes: Counter; fetches: Counter<'outcome'>; latency: Histogram<'outcome'> }
    | undefined;

  constructor(registry?: Registry) {
    if (!registry) return;
    const counter = <L extends string>(name: string, help: string, labelNames: L[] = []): Counter<L> =>
      (registry.getSingleMetric(name) as Counter<L> | undefined) ?? new Counter<L>({ name, help, labelNames, registers: [registry] });
    this.#prom = {
      hits: counter('fle_keystore_client_cache_hits_total', 'Key lookups served from the cache without waiting (fresh, or refreshing in the background)'),
      misses: counter('fle_keystore_client_cache_misses_total', 'Key lookups without a fresh cache entry'),
      stale: counter('fle_keystore_client_stale_served_total', 'Key lookups served past TTL while the keystore was unreachable'),
      refreshes: counter('fle_keystore_client_background_refreshes_total', 'Background refetches of keys served in their refresh window'),
      fetches: counter('fle_keystore_client_fetches_total', 'RPCs to the keystore by outcome', ['outcome']),
      latency:
        (registry.getSingleMetric('fle_keystore_client_fetch_duration_seconds') as Histogram<'outcome'> | undefined) ??
        new Histogram({
          name: 'fle_keystore_client_fetch_duration_seconds',
          help: 'Keystore fetch latency',
          labelNames: ['outcome'],
          buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
          registers: [registry],
        }),
    };
  }

  hit(): void {
    this.#stats.hits++;
    this.#prom?.hits.inc();
  }

  miss(): void {
    this.#stats.misses++;
    this.#prom?.misses.inc();
  }

  staleServed(): void {
    this.#stats.staleServed++;
    this.#prom?.stale.inc();
  }

  refreshStarted(): void {
    this.#stats.backgroundRefreshes++;
    this.#prom?.refreshes.inc();
  }

  fetched(outcome: FetchOutcome, ms: number, versionKey?: string): void {
    const s = this.#stats;
    s.fetches++;
    if (outcome !== 'ok') s.fetchErrors++;
    s.fetchLatencyMs.count++;
    s.fetchLatencyMs.totalMs += ms;
    s.fetchLatencyMs.maxMs = Math.max(s.fetchLatencyMs.maxMs, ms);
    if (versionKey) s.fetchesByVersion[versionKey] = (s.fetchesByVersion[versionKey] ?? 0) + 1;
    this.#prom?.fetches.inc({ outcome });
    this.#prom?.latency.observe({ outcome }, ms / 1000);
  }

  snapshot(): KeyCacheStats {
    const s = this.#stats;
    return { ...s, fetchLatencyMs: { ...s.fetchLatencyMs }, fetchesByVersion: { ...s.fetchesByVersion } };
  }
}
