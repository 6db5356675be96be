import { luhnCardNumber } from '../src/testing.js';
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

describe('canaryAuthorizeRequest', () => {
  it('puts the canary in every sensitive field and a Luhn-valid card number', async () => {
    const { canaryAuthorizeRequest, luhnValid: valid } = await import('../src/testing.js');
    const fx = canaryAuthorizeRequest('t9');
    expect(valid(fx.request.card!.number)).toBe(true);
    const sensitive = [fx.request.card!.holderName, fx.request.nationalId, ...fx.request.previousAddresses, fx.request.items[0]!.note, fx.request.customerAttributes['tier']!, fx.request.email!, Buffer.from(fx.request.card!.cvv).toString(), Buffer.from(fx.request.biometricTemplate).toString()];
    for (const v of sensitive) expect(v).toContain(fx.canary);
  });
});
