// The fast backend's load-time self-check (issue 18 item 7). It compared one
// seal per alg with node:crypto and one open: a libsodium build whose string
// paths (sealText/openText, which FieldCipher uses for every string field up
// to 2 KiB) were wrong, or which accepted a forged tag, was used anyway; and a
// failing check fell back to node:crypto silently. Now the check covers
// seal/open/openTransient/sealText/openText on both algs and forged tags on
// every open path, and its outcome is a status (fastBackendStatus) services
// log and export as a metric.
import { beforeAll, describe, expect, it } from 'vitest';
import { DecryptionError, fastBackendReady, fastBackendStatus, nativeBackend, sodiumReady } from '../src/mod.js';
import { createFastBackend, selfCheckSodium, type SodiumPaths } from '../src/fast-backend.js';
import { SodiumAead } from '../src/sodium-aead.js';
import { counterRandom } from './helpers.js';

let real: SodiumAead;
beforeAll(async () => {
  real = (await SodiumAead.load())!;
  expect(real).toBeDefined();
});

/** The real module with one path replaced. */
function withPath(overrides: Partial<SodiumPaths>): SodiumPaths {
  return {
    seal: (...a) => real.seal(...a),
    open: (...a) => real.open(...a),
    openTransient: (...a) => real.openTransient(...a),
    sealText: (...a) => real.sealText(...a),
    openText: (...a) => real.openText(...a),
    ...overrides,
  };
}

describe('the fast backend self-check', () => {
  it('passes on the real libsodium module, and the default backend reports it is in use', async () => {
    expect(selfCheckSodium(real)).toBeUndefined();
    expect(await sodiumReady).toBe(true);
    expect(await fastBackendReady).toEqual({ state: 'sodium' });
    expect(fastBackendStatus()).toEqual({ state: 'sodium' });
  });

  it.each<[string, Partial<SodiumPaths>, RegExp]>([
    ['sealText producing other bytes', { sealText: (...a) => flipLastChar(real.sealText(...a)) }, /sealText/],
    ['sealText with a non-ASCII value producing other bytes', { sealText: (alg, h, k, aad, text, r) => (/^[\x00-\x7f]*$/.test(text) ? real.sealText(alg, h, k, aad, text, r) : flipLastChar(real.sealText(alg, h, k, aad, text, r))) }, /sealText/],
    ['openText returning another value', { openText: (...a) => `${real.openText(...a)}x` }, /openText/],
    ['open accepting a forged tag', { open: (alg, key, nonce, aad, sealed) => { try { return real.open(alg, key, nonce, aad, sealed); } catch { return new Uint8Array(sealed.length - 16); } } }, /forged tag.*open/],
    ['openTransient accepting a forged tag', { openTransient: (alg, key, nonce, aad, sealed) => { try { return real.openTransient(alg, key, nonce, aad, sealed); } catch { return new Uint8Array(sealed.length - 16); } } }, /forged tag.*openTransient/],
    ['openText accepting a forged tag', { openText: (alg, key, text, length, aad) => { try { return real.openText(alg, key, text, length, aad); } catch { return ''; } } }, /forged tag.*openText/],
    ['seal producing other bytes for alg 2', { seal: (alg, key, nonce, aad, pt, out, offset) => { const ok = real.seal(alg, key, nonce, aad, pt, out, offset); if (alg === 2) out[offset]! ^= 1; return ok; } }, /seal alg 2/],
  ])('fails on a module with %s, naming the check', (_name, override, reason) => {
    expect(selfCheckSodium(withPath(override))).toMatch(reason);
  });

  it('a failing check leaves every value on node:crypto and says why (status for logs and metrics)', async () => {
    const broken = withPath({ sealText: (...a) => flipLastChar(real.sealText(...a)) });
    const fast = createFastBackend(async () => broken);
    expect(fast.status()).toEqual({ state: 'loading' });
    const status = await fast.ready;
    expect(status).toEqual({ state: 'native-only', reason: expect.stringMatching(/^self-check failed: sealText/) });
    expect(fast.status()).toEqual(status);
    // The broken module is never used: string fields go the general way (sealText declined), bytes through node:crypto.
    expect(fast.backend.sealText!(1, Uint8Array.of(1, 1, 0, 0, 0, 1), new Uint8Array(32), new Uint8Array(0), 'x', counterRandom(1))).toBeUndefined();
    const nonce = new Uint8Array(12);
    const a = new Uint8Array(17);
    const b = new Uint8Array(17);
    fast.backend.seal(1, new Uint8Array(32).fill(3), nonce, new Uint8Array(0), Uint8Array.of(7), a, 0);
    nativeBackend.seal(1, new Uint8Array(32).fill(3), nonce, new Uint8Array(0), Uint8Array.of(7), b, 0);
    expect(a).toEqual(b);
    expect(() => fast.backend.open(1, new Uint8Array(32).fill(4), nonce, new Uint8Array(0), a)).toThrow(DecryptionError);
  });

  it('a module that does not load is reported too', async () => {
    const fast = createFastBackend(async () => undefined);
    expect(await fast.ready).toEqual({ state: 'native-only', reason: 'libsodium did not load' });
  });
});

function flipLastChar(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const last = text.at(-1)!;
  // Another base64url character of the same low bits class keeps the text canonical enough to compare.
  return text.slice(0, -1) + (last === 'A' ? 'Q' : 'A');
}
