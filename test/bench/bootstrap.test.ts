import { describe, expect, it } from 'vitest';
import { bootstrapMedianCi, median } from '../../bench/lib.js';

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
