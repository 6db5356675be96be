// One cell of the end-to-end benchmark: a fixed number of requests per
// variant at one concurrency and payload size, in rounds that alternate the
// variants (enc, plain / plain, enc / ...; with the bare baseline, every order
// of the three in turn) so machine noise hits all alike.
// Per round and variant: latencies, throughput, CPU time and peak RSS of every
// process of the pipeline (proc-stats.ts).
import { PaymentServiceService, type AuthorizeRequest } from '@fle/schema/gen/acme/payments/v1/payments.js';
import { bootstrapCi, bootstrapMedianCi, median, pooledQuantile } from '../lib.js';
import type { Transport } from '@fle/gateway';
import type { E2eStack } from './e2e-stack.js';
import { quantile, runLoad, sortedCopy } from './load.js';
import { cpuMs, peakRssMiB, resetPeakRss } from './proc-stats.js';
import { benchRequest } from './requests.js';

export type Variant = 'encrypted' | 'plaintext' | 'bare';
export const VARIANTS: readonly Variant[] = ['encrypted', 'plaintext'];
/** The round orders with the bare baseline: each variant goes first, second and third equally often. */
const ORDERS_WITH_BARE: readonly (readonly Variant[])[] = [
  ['encrypted', 'plaintext', 'bare'],
  ['bare', 'plaintext', 'encrypted'],
  ['plaintext', 'bare', 'encrypted'],
  ['encrypted', 'bare', 'plaintext'],
  ['bare', 'encrypted', 'plaintext'],
  ['plaintext', 'encrypted', 'bare'],
];

/** fle's two variants against the bare pipeline (bench/bare: the same hops, no fle code) in the same rounds. */
export interface BareRatios {
  /** Median over rounds of fle encrypted rps ÷ bare rps, and its 95% bootstrap interval. */
  readonly encryptedThroughput: number;
  readonly encryptedThroughputCi: readonly [number, number];
  /** Median over rounds of fle plaintext rps ÷ bare rps, and its interval. */
  readonly plaintextThroughput: number;
  readonly plaintextThroughputCi: readonly [number, number];
  /** p50 and p99 over every request of the cell, fle ÷ bare. */
  readonly encryptedP50: number;
  readonly plaintextP50: number;
  readonly encryptedP99: number;
  readonly plaintextP99: number;
  /** CPU per request summed over the processes, fle ÷ bare. */
  readonly encryptedCpu: number;
  readonly plaintextCpu: number;
}

export interface VariantResult {
  readonly variant: Variant;
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly errorCodes: Record<string, number>;
  /** Requests/s of each round, in order. */
  readonly roundRps: readonly number[];
  /** p99 latency (ms) of each round, in order. */
  readonly roundP99Ms: readonly number[];
  /** CPU time per request, µs, by process (client = this benchmark process). */
  readonly cpuUsPerRequest: Record<string, number>;
  /** Peak RSS while this variant ran, MiB, by process. */
  readonly peakRssMiB: Record<string, number>;
}

export interface CellResult {
  readonly label: string;
  readonly transport: Transport;
  readonly concurrency: number;
  readonly payloadBytes: number;
  readonly encrypted: VariantResult;
  readonly plaintext: VariantResult;
  /** Median over rounds of encrypted rps ÷ plaintext rps. */
  readonly throughputRatio: number;
  /** 95% bootstrap interval of throughputRatio (over the rounds): how far one run's figure can be trusted. */
  readonly throughputRatioCi: readonly [number, number];
  /**
   * p99 of every encrypted request of the cell ÷ p99 of every plaintext one.
   * Pooled: a round holds too few requests for its own p99 (at c=1, 50: its
   * p99 is its largest value, i.e. whichever round caught a GC pause or a
   * neighbour's burst); the alternating rounds spread such events over both variants.
   */
  readonly p99Ratio: number;
  /** 95% bootstrap interval of p99Ratio, resampling rounds (both variants' batches of a round together). */
  readonly p99RatioCi: readonly [number, number];
  /** Median over rounds of encrypted p99 ÷ plaintext p99 of the round (for comparison only; see p99Ratio). */
  readonly roundP99Ratio: number;
  readonly p50Ratio: number;
  /**
   * Plaintext ÷ encrypted CPU time per request, summed over every process:
   * the throughput ratio a CPU-bound pipeline would reach, and far less
   * sensitive than wall time to other load on the machine.
   */
  readonly cpuThroughputRatio: number;
  /** The bare pipeline, when the stack runs it for this transport. */
  readonly bare?: VariantResult;
  readonly bareRatios?: BareRatios;
}

const cpuSum = (v: VariantResult) => Object.values(v.cpuUsPerRequest).reduce((a, b) => a + b, 0);

class Accumulator {
  /** Latencies of each round, sorted ascending. */
  readonly latencies: Float64Array[] = [];
  ms = 0;
  count = 0;
  errors = 0;
  readonly errorCodes: Record<string, number> = {};
  readonly roundRps: number[] = [];
  readonly roundP99Ms: number[] = [];
  readonly cpuMs: Record<string, number> = {};
  readonly peak: Record<string, number> = {};

  result(variant: Variant): VariantResult {
    const sorted = sortedCopy(...this.latencies);
    const ok = sorted.length;
    return {
      variant,
      requests: this.count,
      seconds: this.ms / 1000,
      rps: (this.count / this.ms) * 1000,
      p50Ms: quantile(sorted, 0.5),
      p99Ms: quantile(sorted, 0.99),
      errors: this.errors,
      errorCodes: this.errorCodes,
      roundRps: this.roundRps,
      roundP99Ms: this.roundP99Ms,
      cpuUsPerRequest: Object.fromEntries(Object.entries(this.cpuMs).map(([k, v]) => [k, ok ? (v / this.count) * 1000 : NaN])),
      peakRssMiB: this.peak,
    };
  }
}

export interface E2eRunOptions {
  readonly tenants: readonly string[];
  /** Distinct requests per payload size, sent round robin. */
  readonly pool: number;
  /** Alternating rounds per cell. */
  readonly rounds: number;
}

/** Requests of one variant sent before measuring (JIT, connections, caches). */
export interface WarmUp {
  readonly transport: Transport;
  readonly payloadBytes: number;
  readonly requests: number;
  readonly concurrency: number;
}

export class E2eRun {
  readonly #requests = new Map<number, AuthorizeRequest[]>();
  constructor(
    readonly stack: E2eStack,
    readonly opts: E2eRunOptions,
  ) {}

  /** The processes one request over `transport` goes through, the client being this process. */
  #pids(transport: Transport, variant: Variant): { name: string; pid: number }[] {
    return [...this.stack.services(transport, variant === 'bare'), { name: 'client', pid: process.pid }];
  }

  /** The variants a cell over `transport` runs: fle's two, and the bare baseline when the stack has it. */
  #variants(transport: Transport): readonly Variant[] {
    return this.stack.bare?.gateways.has(transport as 'nats' | 'jetstream') ? [...VARIANTS, 'bare'] : VARIANTS;
  }

  #pool(payload: number): AuthorizeRequest[] {
    let pool = this.#requests.get(payload);
    if (!pool) {
      const { tenants } = this.opts;
      pool = Array.from({ length: this.opts.pool }, (_, i) => benchRequest(tenants[i % tenants.length]!, i, payload));
      this.#requests.set(payload, pool);
    }
    return pool;
  }

  /** One call of `variant` with pool entry `i`: the same object either way, only the method differs. */
  #caller(transport: Transport, variant: Variant, payload: number): (i: number) => Promise<unknown> {
    const pool = this.#pool(payload);
    const n = pool.length;
    if (variant === 'bare') {
      const bare = this.stack.bare!.gateways.get(transport as 'nats' | 'jetstream')!.client;
      return (i) => bare.authorize(pool[i % n]!);
    }
    const { client } = this.stack.gateways.get(transport)!;
    return variant === 'encrypted'
      ? (i) => client.call(PaymentServiceService.authorize, pool[i % n]!)
      : (i) => client.call(PaymentServiceService.authorizePlain, pool[i % n]!);
  }

  async warmUp(plan: readonly WarmUp[]): Promise<void> {
    for (const w of plan) for (const v of this.#variants(w.transport)) await runLoad(this.#caller(w.transport, v, w.payloadBytes), w.requests, w.concurrency);
  }

  /** `requests` per variant, split evenly over the rounds (default: the run's). */
  async cell(label: string, transport: Transport, concurrency: number, payloadBytes: number, requests: number, rounds = this.opts.rounds): Promise<CellResult> {
    const variants = this.#variants(transport);
    const withBare = variants.includes('bare');
    const perRound = Math.max(1, Math.round(requests / rounds));
    const acc: Record<Variant, Accumulator> = { encrypted: new Accumulator(), plaintext: new Accumulator(), bare: new Accumulator() };
    const calls = Object.fromEntries(variants.map((v) => [v, this.#caller(transport, v, payloadBytes)])) as Record<Variant, (i: number) => Promise<unknown>>;
    for (let r = 0; r < rounds; r++) {
      const order: readonly Variant[] = withBare ? ORDERS_WITH_BARE[r % ORDERS_WITH_BARE.length]! : r % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
      for (const v of order) {
        const a = acc[v];
        const pids = this.#pids(transport, v);
        for (const p of pids) resetPeakRss(p.pid);
        const before = pids.map((p) => cpuMs(p.pid));
        const res = await runLoad(calls[v], perRound, concurrency);
        pids.forEach((p, i) => {
          a.cpuMs[p.name] = (a.cpuMs[p.name] ?? 0) + cpuMs(p.pid) - before[i]!;
          a.peak[p.name] = Math.max(a.peak[p.name] ?? 0, peakRssMiB(p.pid));
        });
        const sorted = sortedCopy(res.latenciesMs);
        a.latencies.push(sorted);
        a.ms += res.ms;
        a.count += res.count;
        a.errors += res.errors;
        for (const [k, n] of Object.entries(res.errorCodes)) a.errorCodes[k] = (a.errorCodes[k] ?? 0) + n;
        a.roundRps.push((res.count / res.ms) * 1000);
        a.roundP99Ms.push(quantile(sorted, 0.99));
      }
    }
    const enc = acc.encrypted.result('encrypted');
    const plain = acc.plaintext.result('plaintext');
    const throughputRatios = enc.roundRps.map((x, i) => x / plain.roundRps[i]!);
    const p99Ratios = enc.roundP99Ms.map((x, i) => x / plain.roundP99Ms[i]!);
    let bare: VariantResult | undefined;
    let bareRatios: BareRatios | undefined;
    if (withBare) {
      bare = acc.bare.result('bare');
      const b = bare;
      const encVsBare = enc.roundRps.map((x, i) => x / b.roundRps[i]!);
      const plainVsBare = plain.roundRps.map((x, i) => x / b.roundRps[i]!);
      bareRatios = {
        encryptedThroughput: median(encVsBare),
        encryptedThroughputCi: bootstrapMedianCi(encVsBare),
        plaintextThroughput: median(plainVsBare),
        plaintextThroughputCi: bootstrapMedianCi(plainVsBare),
        encryptedP50: enc.p50Ms / b.p50Ms,
        plaintextP50: plain.p50Ms / b.p50Ms,
        encryptedP99: enc.p99Ms / b.p99Ms,
        plaintextP99: plain.p99Ms / b.p99Ms,
        encryptedCpu: cpuSum(enc) / cpuSum(b),
        plaintextCpu: cpuSum(plain) / cpuSum(b),
      };
    }
    return {
      ...(bare ? { bare, bareRatios } : {}),
      label,
      transport,
      concurrency,
      payloadBytes,
      encrypted: enc,
      plaintext: plain,
      throughputRatio: median(throughputRatios),
      throughputRatioCi: bootstrapMedianCi(throughputRatios),
      p99Ratio: enc.p99Ms / plain.p99Ms,
      p99RatioCi: bootstrapCi(rounds, (pick) => pooledQuantile(acc.encrypted.latencies, pick, 0.99) / pooledQuantile(acc.plaintext.latencies, pick, 0.99), 0.95, 1000),
      roundP99Ratio: median(p99Ratios),
      p50Ratio: enc.p50Ms / plain.p50Ms,
      cpuThroughputRatio: cpuSum(plain) / cpuSum(enc),
    };
  }
}
