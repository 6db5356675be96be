// Small helpers shared by the field-crypto tests.
export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
export const seq = (n: number, start = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);

/** A RandomSource that returns the given nonces in order (for vectors), then fails. */
export function fixedNonces(...nonces: Uint8Array[]): (n: number) => Uint8Array {
  let i = 0;
  return (n) => {
    const nonce = nonces[i++];
    if (!nonce || nonce.length !== n) throw new Error(`fixedNonces: no ${n}-byte nonce left`);
    return nonce;
  };
}

/** A deterministic, never-repeating RandomSource for tests that compare backends. */
export function counterRandom(seed = 1): (n: number) => Uint8Array {
  let counter = seed;
  return (n) => {
    const out = new Uint8Array(n);
    let c = counter++;
    for (let i = 0; i < n && c > 0; i++, c = Math.floor(c / 256)) out[i] = c & 0xff;
    return out;
  };
}
