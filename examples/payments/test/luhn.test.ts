import { luhnCardNumber } from '@fle/client/testing';
import { describe, expect, it } from 'vitest';
import { luhnValid } from '../src/luhn.js';

describe('luhnValid', () => {
  it('accepts known test numbers and generated ones, refuses single-digit changes and non-digits', () => {
    for (const n of ['4111111111111111', '5555555555554444', '378282246310005', '6011111111111117']) expect(luhnValid(n)).toBe(true);
    for (let i = 0; i < 50; i++) {
      const n = luhnCardNumber();
      expect(luhnValid(n)).toBe(true);
      const pos = i % n.length;
      const changed = n.slice(0, pos) + String((Number(n[pos]) + 1) % 10) + n.slice(pos + 1);
      expect(luhnValid(changed)).toBe(false);
    }
    for (const n of ['', '4111-1111-1111-1111', '41111111111', '4'.repeat(20), 'abcdabcdabcdabcd']) expect(luhnValid(n)).toBe(false);
  });
});
