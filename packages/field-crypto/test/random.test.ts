import { describe, expect, it } from 'vitest';
import { pooledRandom } from '../src/mod.js';
import { hex } from './helpers.js';

describe('pooledRandom', () => {
  it('hands out slices that never change and never repeat, across pool refills', () => {
    const random = pooledRandom(64);
    const taken = Array.from({ length: 40 }, () => random(12));
    const snapshot = taken.map(hex);
    expect(new Set(snapshot).size).toBe(taken.length);
    random(12);
    expect(taken.map(hex)).toEqual(snapshot);
    // 5 nonces of 12 bytes fit a 64-byte pool: slices come from a pool, not one call each.
    expect(taken[1]!.buffer).toBe(taken[0]!.buffer);
    expect(taken[5]!.buffer).not.toBe(taken[0]!.buffer);
  });

  it('serves requests larger than the pool', () => {
    const out = pooledRandom(16)(100_000);
    expect(out.length).toBe(100_000);
    expect(out.some((b) => b !== 0)).toBe(true);
  });

  it('refuses a bad pool size', () => {
    expect(() => pooledRandom(0)).toThrow(RangeError);
  });
});
