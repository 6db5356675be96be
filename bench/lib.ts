// Benchmark primitives shared by every suite (bench/*.bench.ts).
//
// The box is small and shared, so absolute numbers wander. Candidates that are
// compared are therefore measured *interleaved*: each round runs one batch of
// every candidate back to back (in rotating order), and a ratio target uses
// the median of the per-round ratios (both sides of a ratio saw the same
// load). Time is process CPU time, not wall time.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// A scavenge (minor GC) before every batch, so no batch pays for the young
// garbage the previous candidate left behind (node:crypto ciphers make that
// garbage expensive to collect). Not a full GC: its concurrent sweeping would
// bleed into the next batch's CPU time.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (options?: { type: 'minor' | 'major'; execution?: 'sync' }) => void;

export type BenchFn = () => unknown;
export type AsyncBenchFn = () => Promise<unknown>;

export interface Candidate {
  readonly name: string;
  /** Sync or async; an async fn is awaited each call. */
  readonly fn: BenchFn | AsyncBenchFn;
  /** Bytes processed per call, for MB/s. */
  readonly bytes?: number;
}

export interface Measurement {
  readonly name: string;
  /** Median ns per call over the rounds. */
  readonly nsPerOp: number;
  readonly opsPerSec: number;
  /** MB/s (10^6 bytes) when the candidate declares bytes. */
  readonly mbPerSec?: number;
  /** Relative spread of the per-round samples (median absolute deviation / median). */
  readonly spread: number;
  /** ns per call of every round, in order. */
  readonly samples: readonly number[];
}

export interface IntervalOptions {
  /** Rounds of interleaved batches. */
  readonly rounds?: number;
  /** Target wall time of one batch. */
  readonly batchMs?: number;
  /** Warm-up (JIT, pools) per candidate before calibration. */
  readonly warmupMs?: number;
  /**
   * End every batch with a scavenge inside its timed window, so each candidate
   * pays for collecting its own young garbage (and the buffers it holds) rather
   * than leaving it to the untimed scavenge before the next batch. For
   * candidates that allocate large buffers (bench/field-crypto.bench.ts, 16 KiB).
   */
  readonly scavengeInside?: boolean;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * A percentile bootstrap confidence interval of the median of `xs`: the
 * `level` central range of the medians of `resamples` resamples drawn with
 * replacement. Seeded (mulberry32), so a report can be reproduced from its data.
 */
export function bootstrapMedianCi(xs: readonly number[], level = 0.95, resamples = 4000, seed = 1): [number, number] {
  const sample = new Array<number>(xs.length);
  return bootstrapCi(
    xs.length,
    (pick) => {
      for (let i = 0; i < pick.length; i++) sample[i] = xs[pick[i]!]!;
      return median(sample);
    },
    level,
    resamples,
    seed,
  );
}

/**
 * A percentile bootstrap confidence interval of any statistic of `n` units
 * (rounds of a benchmark): `statistic` gets the indexes of one resample (drawn
 * with replacement, n of them) and returns its value. Seeded (mulberry32).
 */
export function bootstrapCi(n: number, statistic: (pick: Int32Array) => number, level = 0.95, resamples = 4000, seed = 1): [number, number] {
  if (n === 0) return [NaN, NaN];
  let state = seed >>> 0;
  const random = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const pick = new Int32Array(n);
  const values = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) pick[i] = Math.floor(random() * n);
    values[r] = statistic(pick);
  }
  values.sort();
  const tail = (1 - level) / 2;
  return [values[Math.floor(tail * (resamples - 1))]!, values[Math.ceil((1 - tail) * (resamples - 1))]!];
}

/**
 * The q-quantile (nearest rank, as load.ts `quantile`) of the union of the
 * rounds `pick` names (each round sorted ascending; a round may be named
 * more than once). Only the top of each round can hold a high quantile, so
 * only that much of each is gathered and sorted.
 */
export function pooledQuantile(rounds: readonly Float64Array[], pick: ArrayLike<number>, q: number): number {
  let n = 0;
  for (let i = 0; i < pick.length; i++) n += rounds[pick[i]!]!.length;
  if (n === 0) return NaN;
  const rank = Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1));
  const fromTop = n - 1 - rank; // 0 = the largest
  const k = fromTop + 1;
  let size = 0;
  for (let i = 0; i < pick.length; i++) size += Math.min(k, rounds[pick[i]!]!.length);
  const top = new Float64Array(size);
  let o = 0;
  for (let i = 0; i < pick.length; i++) {
    const round = rounds[pick[i]!]!;
    const from = Math.max(0, round.length - k);
    top.set(round.subarray(from), o);
    o += round.length - from;
  }
  top.sort();
  return top[top.length - 1 - fromTop]!;
}

function isPromise(v: unknown): v is Promise<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as Promise<unknown>).then === 'function';
}

/**
 * Runs `fn` `n` times; returns the process CPU time (user + system) it took,
 * in ns. CPU time rather than wall time: on a shared box, time spent
 * descheduled is someone else's load, not the code's cost.
 */
async function batch(fn: BenchFn | AsyncBenchFn, isAsync: boolean, n: number, scavengeInside = false): Promise<number> {
  gc({ type: 'minor', execution: 'sync' });
  const start = process.cpuUsage();
  if (isAsync) {
    for (let i = 0; i < n; i++) await fn();
  } else {
    for (let i = 0; i < n; i++) fn();
  }
  if (scavengeInside) gc({ type: 'minor', execution: 'sync' });
  const used = process.cpuUsage(start);
  return (used.user + used.system) * 1000;
}

/** Calls `fn` for about `ms` of CPU time; returns calls per CPU ms. */
async function rate(fn: BenchFn | AsyncBenchFn, isAsync: boolean, ms: number): Promise<number> {
  let n = 1;
  let calls = 0;
  let spentNs = 0;
  while (spentNs < ms * 1e6) {
    spentNs += await batch(fn, isAsync, n);
    calls += n;
    n = Math.min(n * 2, 1 << 16);
  }
  return calls / (spentNs / 1e6);
}

/** Measures the candidates interleaved (see the top of this file). */
export async function interleaved(candidates: readonly Candidate[], opts: IntervalOptions = {}): Promise<Measurement[]> {
  const rounds = opts.rounds ?? 15;
  const batchMs = opts.batchMs ?? 30;
  const warmupMs = opts.warmupMs ?? 150;
  const plan: { c: Candidate; isAsync: boolean; n: number; samples: number[] }[] = [];
  for (const c of candidates) {
    const isAsync = isPromise(c.fn());
    if (isAsync) await c.fn();
    const perMs = await rate(c.fn, isAsync, warmupMs);
    plan.push({ c, isAsync, n: Math.max(1, Math.round(perMs * batchMs)), samples: [] });
  }
  for (let r = 0; r < rounds; r++) {
    // Rotate the order every round so no candidate always follows the same one.
    for (let j = 0; j < plan.length; j++) {
      const p = plan[(j + r) % plan.length]!;
      p.samples.push((await batch(p.c.fn, p.isAsync, p.n, opts.scavengeInside)) / p.n);
    }
  }
  return plan.map(({ c, samples }) => measurementOf(c, samples));
}

function measurementOf(c: Candidate, samples: number[]): Measurement {
  const ns = median(samples);
  const mad = median(samples.map((s) => Math.abs(s - ns)));
  return {
    name: c.name,
    nsPerOp: ns,
    opsPerSec: 1e9 / ns,
    ...(c.bytes !== undefined ? { mbPerSec: (c.bytes / ns) * 1e3 } : {}),
    spread: mad / ns,
    samples,
  };
}

export interface ColdOptions {
  /** Rounds; every candidate runs once per round. */
  readonly rounds?: number;
  /** Bytes written before each call, to push the code and data of every candidate out of the CPU's caches. */
  readonly evictBytes?: number;
}

/**
 * Like interleaved, but each call runs alone with cold caches: before it,
 * `evictBytes` of memory are written (one store per 64-byte line), as when
 * other processes ran on the core since the code last did (five processes on
 * two cores in bench/e2e). Samples are the wall time of single calls (the
 * eviction untimed); the first tenth of the rounds is a warm-up and dropped.
 */
export async function coldInterleaved(candidates: readonly Candidate[], opts: ColdOptions = {}): Promise<Measurement[]> {
  const rounds = opts.rounds ?? 1000;
  const evictor = new Uint8Array(opts.evictBytes ?? 8 * 1024 * 1024);
  const warmup = Math.floor(rounds / 10);
  const samples = candidates.map(() => [] as number[]);
  for (let r = 0; r < rounds + warmup; r++) {
    for (let j = 0; j < candidates.length; j++) {
      const k = (j + r) % candidates.length;
      for (let i = 0; i < evictor.length; i += 64) evictor[i] = r;
      const start = process.hrtime.bigint();
      const out = candidates[k]!.fn();
      if (isPromise(out)) await out;
      if (r >= warmup) samples[k]!.push(Number(process.hrtime.bigint() - start));
    }
  }
  return candidates.map((c, k) => measurementOf(c, samples[k]!));
}

/** Median over rounds of a.samples[r] / b.samples[r]: a load-robust ratio of two interleaved candidates. */
export function pairedRatio(a: Measurement, b: Measurement): number {
  const n = Math.min(a.samples.length, b.samples.length);
  return median(Array.from({ length: n }, (_, r) => a.samples[r]! / b.samples[r]!));
}

/** pairedRatio with its 95% bootstrap interval (the rounds resampled, seeded). */
export function pairedRatioCi(a: Measurement, b: Measurement): { ratio: number; ci: [number, number] } {
  const n = Math.min(a.samples.length, b.samples.length);
  const ratios = Array.from({ length: n }, (_, r) => a.samples[r]! / b.samples[r]!);
  const sample = new Array<number>(n);
  const ci = bootstrapCi(n, (pick) => {
    for (let i = 0; i < n; i++) sample[i] = ratios[pick[i]!]!;
    return median(sample);
  });
  return { ratio: median(ratios), ci };
}

/** One row of a suite's table. */
export interface Row {
  readonly group: string;
  readonly name: string;
  readonly nsPerOp: number;
  readonly opsPerSec: number;
  readonly mbPerSec?: number;
  /** e.g. "1.12x raw". */
  readonly relative?: string;
  readonly spread: number;
}

/** A target a suite checks, printed with PASS/FAIL. */
export interface Target {
  readonly name: string;
  readonly measured: number;
  readonly comparator: '<=' | '>=';
  readonly limit: number;
  readonly unit: string;
  readonly pass: boolean;
}

export function target(name: string, measured: number, comparator: '<=' | '>=', limit: number, unit: string): Target {
  return { name, measured, comparator, limit, unit, pass: comparator === '<=' ? measured <= limit : measured >= limit };
}

export interface SuiteReport {
  readonly rows: readonly Row[];
  readonly targets: readonly Target[];
  readonly notes?: readonly string[];
}

/** What a bench/*.bench.ts module exports as default. */
export interface BenchSuite {
  readonly description: string;
  run(): Promise<SuiteReport>;
}

export function rowOf(group: string, m: Measurement, relative?: string): Row {
  return {
    group,
    name: m.name,
    nsPerOp: m.nsPerOp,
    opsPerSec: m.opsPerSec,
    ...(m.mbPerSec !== undefined ? { mbPerSec: m.mbPerSec } : {}),
    ...(relative !== undefined ? { relative } : {}),
    spread: m.spread,
  };
}
