import { describe, expect, it } from 'vitest';
import { bootstrapCi, bootstrapMedianCi, median, pooledQuantile } from '../../bench/lib.js';
import { quantile, sortedCopy } from '../../bench/support/load.js';

describe('bootstrapMedianCi (the e2e benchmark reports it beside each median ratio)', () => {
  it('brackets the median, narrows with more data and is reproducible from its seed', () => {
    // A fixed, spread-out sample: 0.80, 0.81, ... 1.19 in a scrambled order.
    const xs = Array.from({ length: 40 }, (_, i) => 0.8 + ((i * 17) % 40) / 100);
    const [lo, hi] = bootstrapMedianCi(xs);
    expect(lo).toBeLessThan(median(xs));
    expect(hi).toBeGreaterThan(median(xs));
    expect(lo).toBeGreaterThan(0.8);
    expect(hi).toBeLessThan(1.19);
    expect(bootstrapMedianCi(xs)).toEqual([lo, hi]);
    const fewer = bootstrapMedianCi(xs.slice(0, 10));
    expect(fewer[1] - fewer[0]).toBeGreaterThan(hi - lo);
  });

  it('is a single point for constant data and empty for no data', () => {
    expect(bootstrapMedianCi([0.9, 0.9, 0.9])).toEqual([0.9, 0.9]);
    expect(bootstrapMedianCi([]).every(Number.isNaN)).toBe(true);
  });
});

describe('pooledQuantile (the e2e p99 over every request of the rounds a resample names)', () => {
  /** Rounds of scrambled latencies, each sorted ascending as the benchmark keeps them. */
  const rounds = Array.from({ length: 7 }, (_, r) =>
    Float64Array.from({ length: 50 + r * 13 }, (_, i) => ((i * 7919 + r * 104729) % 1000) / 10 + (i % 97 === 0 ? 500 : 0)).sort(),
  );

  it('equals the quantile of the concatenated rounds, repeats included', () => {
    for (const pick of [[0, 1, 2, 3, 4, 5, 6], [6, 6, 0, 3], [2], [1, 1, 1, 5, 5]]) {
      for (const q of [0.5, 0.9, 0.99, 0.999, 1]) {
        expect(pooledQuantile(rounds, pick, q)).toBe(quantile(sortedCopy(...pick.map((i) => rounds[i]!)), q));
      }
    }
    expect(pooledQuantile([new Float64Array(0)], [0], 0.99)).toBeNaN();
  });
});

describe('bootstrapCi (any statistic of resampled rounds)', () => {
  it('agrees with bootstrapMedianCi for the median, and brackets a pooled p99 ratio', () => {
    const xs = Array.from({ length: 30 }, (_, i) => 1 + ((i * 11) % 30) / 100);
    expect(bootstrapCi(xs.length, (pick) => median(Array.from(pick, (i) => xs[i]!)))).toEqual(bootstrapMedianCi(xs));
    // Two variants whose latencies differ by exactly 10 %: every resample's pooled ratio is 1.1.
    const plain = Array.from({ length: 20 }, (_, r) => Float64Array.from({ length: 100 }, (_, i) => 1 + ((i * 37 + r) % 100)).sort());
    const enc = plain.map((round) => round.map((x) => x * 1.1));
    const [lo, hi] = bootstrapCi(20, (pick) => pooledQuantile(enc, pick, 0.99) / pooledQuantile(plain, pick, 0.99), 0.95, 500);
    expect(lo).toBeCloseTo(1.1, 10);
    expect(hi).toBeCloseTo(1.1, 10);
  });
});
