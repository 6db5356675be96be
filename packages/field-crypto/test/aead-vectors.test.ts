// Published AEAD vectors on both backends (spec §4): RFC 8439 §2.8.2 for alg 1,
// draft-irtf-cfrg-xchacha §A.3.1 for alg 2 and §2.2.1 for HChaCha20.
import { describe, expect, it } from 'vitest';
import { DecryptionError, nativeBackend, nobleBackend, type CipherBackend, type SymmetricAlg } from '../src/mod.js';
import { xchachaSubkey } from '../src/hchacha-subkey.js';
import { hex, seq, unhex, utf8 } from './helpers.js';

const SUNSCREEN = utf8(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
);
const AAD = unhex('50515253c0c1c2c3c4c5c6c7');
const KEY = seq(32, 0x80);

const VECTORS: { name: string; alg: SymmetricAlg; nonce: Uint8Array; sealed: string }[] = [
  {
    name: 'RFC 8439 §2.8.2 (ChaCha20-Poly1305)',
    alg: 1,
    nonce: unhex('070000004041424344454647'),
    sealed: `d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b
      1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
      3ff4def08e4b7a9de576d26586cec64b6116 1ae10b594f09e26a7e902ecbd0600691`,
  },
  {
    name: 'draft-irtf-cfrg-xchacha §A.3.1 (XChaCha20-Poly1305)',
    alg: 2,
    nonce: seq(24, 0x40),
    sealed: `bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39
      ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
      21f9664c97637da9768812f615c68b13b52e c0875924c1c7987947deafd8780acf49`,
  },
];

describe.each<[string, CipherBackend]>([
  ['native', nativeBackend],
  ['noble', nobleBackend],
])('%s backend', (_name, backend) => {
  for (const v of VECTORS) {
    it(`seals ${v.name}`, () => {
      const out = new Uint8Array(SUNSCREEN.length + 16);
      backend.seal(v.alg, KEY, v.nonce, AAD, SUNSCREEN, out, 0);
      expect(hex(out)).toBe(hex(unhex(v.sealed)));
    });

    it(`opens ${v.name}`, () => {
      expect(hex(backend.open(v.alg, KEY, v.nonce, AAD, unhex(v.sealed)))).toBe(hex(SUNSCREEN));
    });

    it(`rejects ${v.name} with a flipped tag bit, other AAD or other key as DecryptionError`, () => {
      const sealed = unhex(v.sealed);
      sealed[sealed.length - 1]! ^= 0x01;
      expect(() => backend.open(v.alg, KEY, v.nonce, AAD, sealed)).toThrow(DecryptionError);
      expect(() => backend.open(v.alg, KEY, v.nonce, AAD.subarray(1), unhex(v.sealed))).toThrow(DecryptionError);
      expect(() => backend.open(v.alg, seq(32, 0x81), v.nonce, AAD, unhex(v.sealed))).toThrow(DecryptionError);
      expect(() => backend.open(v.alg, KEY, v.nonce, AAD, new Uint8Array(15))).toThrow(DecryptionError);
    });
  }

  it('writes at an offset of a larger buffer without touching the bytes around it', () => {
    const big = new Uint8Array(10 + SUNSCREEN.length + 16 + 10).fill(0xee);
    backend.seal(1, KEY, VECTORS[0]!.nonce, AAD, SUNSCREEN, big, 10);
    expect(hex(big.subarray(10, 10 + SUNSCREEN.length + 16))).toBe(hex(unhex(VECTORS[0]!.sealed)));
    expect([...big.subarray(0, 10), ...big.subarray(10 + SUNSCREEN.length + 16)].every((b) => b === 0xee)).toBe(true);
  });

  it('uses one opaque message for every decryption failure', () => {
    const errors = [AAD.subarray(1), AAD].map((aad, i) => {
      const sealed = unhex(VECTORS[1]!.sealed);
      if (i === 1) sealed[0]! ^= 0x80;
      try {
        backend.open(2, KEY, VECTORS[1]!.nonce, aad, sealed);
      } catch (err) {
        return err as DecryptionError;
      }
      throw new Error('expected a failure');
    });
    expect(errors.map((e) => [e.code, e.message])).toEqual([
      ['DECRYPTION_FAILED', 'decryption failed'],
      ['DECRYPTION_FAILED', 'decryption failed'],
    ]);
  });
});

describe('HChaCha20 subkey (draft-irtf-cfrg-xchacha §2.2.1)', () => {
  it('derives the published subkey and the short nonce', () => {
    const nonce24 = new Uint8Array(24);
    nonce24.set(unhex('000000090000004a0000000031415927'));
    nonce24.set(seq(8, 0xf0), 16);
    const subkey = new Uint8Array(32);
    const nonce12 = new Uint8Array(12).fill(0xaa);
    xchachaSubkey(seq(32, 0), nonce24, subkey, nonce12);
    expect(hex(subkey)).toBe('82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc');
    expect(hex(nonce12)).toBe('00000000' + hex(seq(8, 0xf0)));
  });
});
