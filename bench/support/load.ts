// A bounded closed-loop load: exactly `count` calls, at most `concurrency` in
// flight (each worker starts its next call when its last one ends), every
// call's latency recorded, every failure counted by its code.

export interface LoadResult {
  readonly count: number;
  readonly concurrency: number;
  /** Wall time from the first call's start to the last call's end. */
  readonly ms: number;
  /** Latency of every successful call, ms, in completion order. */
  readonly latenciesMs: Float64Array;
  readonly errors: number;
  /** Failures by `code` (FleCallError) or error name. */
  readonly errorCodes: Record<string, number>;
}

export async function runLoad(call: (i: number) => Promise<unknown>, count: number, concurrency: number): Promise<LoadResult> {
  const latencies = new Float64Array(count);
  let ok = 0;
  let errors = 0;
  const errorCodes: Record<string, number> = {};
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const t0 = performance.now();
      try {
        await call(i);
        latencies[ok++] = performance.now() - t0;
      } catch (err) {
        errors++;
        const code = String((err as { code?: unknown }).code ?? (err as Error).name ?? 'Error');
        errorCodes[code] = (errorCodes[code] ?? 0) + 1;
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { count, concurrency, ms: performance.now() - started, latenciesMs: latencies.slice(0, ok), errors, errorCodes };
}

/** The q-quantile (0..1) of `sorted` (ascending), nearest rank. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export function sortedCopy(...parts: readonly Float64Array[]): Float64Array {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Float64Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out.sort();
}
