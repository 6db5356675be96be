// Test helpers: Luhn-valid card numbers (test cards for any API with a card
// field; the examples' canary requests build on them).
import { randomInt } from 'node:crypto';

/** A Luhn-valid card number of `length` digits starting with `prefix`. */
export function luhnCardNumber(prefix = '4', length = 16): string {
  let digits = prefix;
  while (digits.length < length - 1) digits += String(randomInt(10));
  for (let check = 0; check < 10; check++) {
    if (luhnValid(digits + check)) return digits + check;
  }
  throw new Error('unreachable: one check digit always fits');
}

export function luhnValid(number: string): boolean {
  if (!/^[0-9]{12,19}$/.test(number)) return false;
  let sum = 0;
  for (let i = 0; i < number.length; i++) {
    let d = number.charCodeAt(number.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}
