// The fast backend (fast-backend.ts: libsodium WASM up to 2 KiB, node:crypto
// above): published vectors (RFC 8439 §2.8.2, draft-irtf-cfrg-xchacha §A.3.1),
// byte equality with node:crypto and @noble/ciphers on both sides of the size
// threshold, one opaque error, and no key or plaintext left in the WASM heap;
// the string paths (sealText/openText) give the same text as seal/open with
// base64url around them.
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { DecryptionError, defaultBackend, fastBackend, FieldCipher, nativeBackend, nobleBackend, sodiumReady, StaticKeyProvider, type SymmetricAlg } from '../src/mod.js';
import { fastBackendHeapForTests } from '../src/fast-backend.js';
import { RECORD as REQ, schema } from './fixtures.js';
import { MAX_AAD, MAX_VALUE, SodiumAead } from '../src/sodium-aead.js';
import { decodeBase64url, encodeBase64url } from '../src/base64url.js';
import { encodeHeader, HEADER_LENGTH } from '../src/envelope.js';
import type { PooledRandomSource, RandomSource } from '../src/random.js';
import { counterRandom, hex, seq, unhex, utf8 } from './helpers.js';

const SUNSCREEN = utf8(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
);
const AAD = unhex('50515253c0c1c2c3c4c5c6c7');
const KEY = seq(32, 0x80);
const VECTORS: { alg: SymmetricAlg; nonce: Uint8Array; sealed: string }[] = [
  {
    alg: 1,
    nonce: unhex('070000004041424344454647'),
    sealed: `d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b
      1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
      3ff4def08e4b7a9de576d26586cec64b61161ae10b594f09e26a7e902ecbd0600691`,
  },
  {
    alg: 2,
    nonce: seq(24, 0x40),
    sealed: `bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39
      ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
      21f9664c97637da9768812f615c68b13b52ec0875924c1c7987947deafd8780acf49`,
  },
];

function sealWith(backend: typeof fastBackend, alg: SymmetricAlg, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array): Uint8Array {
  const out = new Uint8Array(pt.length + 16);
  backend.seal(alg, key, nonce, aad, pt, out, 0);
  return out;
}

beforeAll(async () => {
  expect(await sodiumReady).toBe(true);
});

describe('fast backend (libsodium WASM for small values)', () => {
  it('is the Node default', () => {
    expect(defaultBackend).toBe(fastBackend);
  });

  it.each(VECTORS)('seals and opens the published vector for alg $alg', (v) => {
    expect(hex(sealWith(fastBackend, v.alg, KEY, v.nonce, AAD, SUNSCREEN))).toBe(hex(unhex(v.sealed)));
    expect(hex(fastBackend.open(v.alg, KEY, v.nonce, AAD, unhex(v.sealed)))).toBe(hex(SUNSCREEN));
  });

  it('matches node:crypto and noble byte for byte on both sides of the size threshold', () => {
    const sizes = [0, 1, 15, 16, 17, 63, 64, 65, 1024, MAX_VALUE - 1, MAX_VALUE, MAX_VALUE + 1, 3 * MAX_VALUE, 65_536];
    for (const alg of [1, 2] as const) {
      for (const size of sizes) {
        for (const aadLength of [0, 13, MAX_AAD, MAX_AAD + 1]) {
          const key = randomBytes(32);
          const nonce = randomBytes(alg === 1 ? 12 : 24);
          const aad = randomBytes(aadLength);
          const pt = randomBytes(size);
          const sealed = sealWith(fastBackend, alg, key, nonce, aad, pt);
          expect(hex(sealed), `alg ${alg}, ${size} B, aad ${aadLength} B`).toBe(hex(sealWith(nativeBackend, alg, key, nonce, aad, pt)));
          if (size <= 4096) expect(hex(sealed)).toBe(hex(sealWith(nobleBackend, alg, key, nonce, aad, pt)));
          expect(hex(fastBackend.open(alg, key, nonce, aad, sealed))).toBe(hex(pt));
        }
      }
    }
  });

  it('writes at an offset without touching the bytes around it', () => {
    const big = new Uint8Array(10 + SUNSCREEN.length + 16 + 10).fill(0xee);
    fastBackend.seal(1, KEY, VECTORS[0]!.nonce, AAD, SUNSCREEN, big, 10);
    expect(hex(big.subarray(10, 10 + SUNSCREEN.length + 16))).toBe(hex(unhex(VECTORS[0]!.sealed)));
    expect([...big.subarray(0, 10), ...big.subarray(10 + SUNSCREEN.length + 16)].every((b) => b === 0xee)).toBe(true);
  });

  it.each(VECTORS)('refuses tampering, another AAD, another key and short input for alg $alg with one opaque error', (v) => {
    const flipped = unhex(v.sealed);
    flipped[3]! ^= 0x01;
    const cases: Array<() => unknown> = [
      () => fastBackend.open(v.alg, KEY, v.nonce, AAD, flipped),
      () => fastBackend.open(v.alg, KEY, v.nonce, AAD.subarray(1), unhex(v.sealed)),
      () => fastBackend.open(v.alg, seq(32, 0x81), v.nonce, AAD, unhex(v.sealed)),
      () => fastBackend.open(v.alg, KEY, v.nonce, AAD, new Uint8Array(15)),
    ];
    for (const c of cases) {
      let err: unknown;
      try {
        c();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DecryptionError);
      expect((err as DecryptionError).message).toBe('decryption failed');
    }
  });

  it('leaves no key and no plaintext in the WASM heap', async () => {
    const s = (await SodiumAead.load())!;
    const key = randomBytes(32);
    const pt = randomBytes(700);
    const aad = randomBytes(40);
    const nonce = randomBytes(12);
    const out = new Uint8Array(pt.length + 16);
    expect(s.seal(1, key, nonce, aad, pt, out, 0)).toBe(true);
    expect(hex(s.open(1, key, nonce, aad, out)!)).toBe(hex(pt));
    const tampered = out.slice();
    tampered[0]! ^= 1;
    expect(() => s.open(1, key, nonce, aad, tampered)).toThrow(DecryptionError);
    const heap = Buffer.from(s.heapForTests().buffer, s.heapForTests().byteOffset, s.heapForTests().byteLength);
    expect(heap.indexOf(Buffer.from(key))).toBe(-1);
    expect(heap.indexOf(Buffer.from(pt.subarray(0, 32)))).toBe(-1);
    expect(heap.indexOf(Buffer.from(pt.subarray(600, 632)))).toBe(-1);
  });

  it('leaves no plaintext on the WASM stack either (libsodium decrypts a last partial block in a stack buffer)', async () => {
    const s = (await SodiumAead.load())!;
    for (const alg of [1, 2] as const) {
      for (const length of [16, 40, 63, 64, 65, 100, 700]) {
        const key = randomBytes(32);
        const pt = randomBytes(length);
        const nonce = randomBytes(alg === 1 ? 12 : 24);
        const out = new Uint8Array(length + 16);
        s.seal(alg, key, nonce, AAD, pt, out, 0);
        expect(hex(s.open(alg, key, nonce, AAD, out)!)).toBe(hex(pt));
        const heap = Buffer.from(s.heapForTests().buffer, s.heapForTests().byteOffset, s.heapForTests().byteLength);
        // Any 16 bytes of the plaintext, the tail (the partial block) included.
        for (const at of [0, length - 16, Math.floor((length - 16) / 2)]) {
          expect(heap.indexOf(Buffer.from(pt.subarray(at, at + 16))), `alg ${alg}, ${length} B, bytes ${at}..${at + 16}`).toBe(-1);
        }
      }
    }
  });

  it('openTransient hands out the plaintext in place; once the caller wipes it, the heap holds none', async () => {
    const s = (await SodiumAead.load())!;
    const key = randomBytes(32);
    const pt = randomBytes(300);
    const nonce = randomBytes(12);
    const out = new Uint8Array(pt.length + 16);
    s.seal(1, key, nonce, AAD, pt, out, 0);
    const view = s.openTransient(1, key, nonce, AAD, out)!;
    expect(view.buffer).toBe(s.heapForTests().buffer);
    expect(hex(view)).toBe(hex(pt));
    view.fill(0);
    const heap = Buffer.from(s.heapForTests().buffer, s.heapForTests().byteOffset, s.heapForTests().byteLength);
    expect(heap.indexOf(Buffer.from(pt.subarray(0, 32)))).toBe(-1);
    expect(heap.indexOf(Buffer.from(key))).toBe(-1);
  });

  it('FieldCipher opens string fields in place and leaves none of their text in the WASM heap', async () => {
    const keys = new StaticKeyProvider([{ tenant: 'tenant-eu', versions: [{ version: 1, key: KEY }] }, { tenant: 'tenant-eu', ring: 'pci', versions: [{ version: 5, key: KEY, alg: 2 }] }]);
    const cipher = new FieldCipher({ schema, keys });
    const secret = `national-id-${randomBytes(12).toString('hex')}`;
    const msg = { tenantId: 'tenant-eu', recordId: 'r', nationalId: secret, email: `${secret}@example.com`, addresses: [], lines: [], attributes: {} };
    const opened = await cipher.openMessage(REQ, await cipher.sealMessage(REQ, msg));
    expect(opened.nationalId).toBe(secret);
    const heap = fastBackendHeapForTests()!;
    expect(Buffer.from(heap.buffer, heap.byteOffset, heap.byteLength).indexOf(Buffer.from(secret))).toBe(-1);
  });

  it('declines what does not fit its scratch (the caller then uses node:crypto)', async () => {
    const s = (await SodiumAead.load())!;
    const out = new Uint8Array(MAX_VALUE + 1 + 16);
    expect(s.seal(1, KEY, seq(12), AAD, new Uint8Array(MAX_VALUE + 1), out, 0)).toBe(false);
    expect(s.seal(1, KEY, seq(12), new Uint8Array(MAX_AAD + 1), new Uint8Array(1), out, 0)).toBe(false);
    expect(s.open(1, KEY, seq(12), AAD, new Uint8Array(MAX_VALUE + 17))).toBeUndefined();
    expect(out.every((b) => b === 0)).toBe(true);
  });
});

describe('string paths: sealText / openText (the envelope as base64url text, spec §5)', () => {
  let s: SodiumAead;
  beforeAll(async () => {
    s = (await SodiumAead.load())!;
  });

  /** The envelope text the general path makes: header, nonce, seal(UTF-8), base64url. */
  function generalText(alg: SymmetricAlg, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, text: string): string {
    const pt = utf8(text);
    const env = new Uint8Array(HEADER_LENGTH + nonce.length + pt.length + 16);
    env.set(encodeHeader(alg, 7));
    env.set(nonce, HEADER_LENGTH);
    nativeBackend.seal(alg, key, nonce, aad, pt, env, HEADER_LENGTH + nonce.length);
    return encodeBase64url(env);
  }

  /** A deterministic pooled source (fillInto, as the default CSPRNG pool has). */
  function pooledCounter(seed: number): PooledRandomSource {
    const next = counterRandom(seed);
    return Object.assign((n: number) => next(n), {
      fillInto(out: Uint8Array, offset: number, n: number) {
        out.set(next(n), offset);
      },
    });
  }

  const texts = ['', 'a', '4111111111111111', 'x'.repeat(63), 'y'.repeat(65), 'Zoë Ångström 😀 東京', 'é'.repeat(MAX_VALUE / 2), 'z'.repeat(MAX_VALUE)];

  it.each([1, 2] as const)('alg %i: the same text as the general path, from a plain or a pooled random source, and openText opens it', (alg) => {
    const key = randomBytes(32);
    const aad = randomBytes(90);
    const nl = alg === 1 ? 12 : 24;
    for (const [i, text] of texts.entries()) {
      for (const random of [counterRandom(i + 1), pooledCounter(i + 1)]) {
        const sealed = s.sealText(alg, encodeHeader(alg, 7), key, aad, text, random);
        expect(sealed, text.slice(0, 20)).toBe(generalText(alg, key, counterRandom(i + 1)(nl), aad, text));
        expect(s.openText(alg, key, sealed!, decodeBase64url(sealed!).length, aad)).toBe(text);
      }
    }
  });

  it('declines values that do not fit (drawing no nonce), and the general path takes them', () => {
    const drawn: number[] = [];
    const random: RandomSource = (n) => {
      drawn.push(n);
      return new Uint8Array(n);
    };
    // Too many characters, UTF-8 longer than the scratch, AAD too long.
    expect(s.sealText(1, encodeHeader(1, 1), KEY, AAD, 'a'.repeat(MAX_VALUE + 1), random)).toBeUndefined();
    expect(s.sealText(1, encodeHeader(1, 1), KEY, AAD, 'é'.repeat(MAX_VALUE / 2 + 1), random)).toBeUndefined();
    expect(s.sealText(1, encodeHeader(1, 1), KEY, new Uint8Array(MAX_AAD + 1), 'a', random)).toBeUndefined();
    expect(drawn).toEqual([]);
    const big = generalText(1, KEY, seq(12), AAD, 'q'.repeat(MAX_VALUE + 1));
    expect(s.openText(1, KEY, big, decodeBase64url(big).length, AAD)).toBeUndefined();
  });

  it('refuses a length that is not the text\'s, before writing anything (the heap region is sized by the length)', () => {
    const text = generalText(1, KEY, seq(12), AAD, 'x'.repeat(500));
    const length = decodeBase64url(text).length;
    for (const wrong of [length - 1, length + 1, 40]) expect(() => s.openText(1, KEY, text, wrong, AAD)).toThrow(RangeError);
    expect(s.openText(1, KEY, text, length, AAD)).toBe('x'.repeat(500));
  });

  it('refuses another AAD, another key, a truncated envelope with one opaque error; a non-UTF-8 value with TypeError', () => {
    const text = generalText(2, KEY, seq(24), AAD, 'secret value');
    const length = decodeBase64url(text).length;
    const failures: Array<() => unknown> = [
      () => s.openText(2, KEY, text, length, AAD.subarray(1)),
      () => s.openText(2, seq(32, 0x81), text, length, AAD),
      () => s.openText(2, KEY, encodeBase64url(decodeBase64url(text).subarray(0, HEADER_LENGTH + 24 + 15)), HEADER_LENGTH + 24 + 15, AAD),
    ];
    for (const f of failures) {
      expect(f).toThrow(DecryptionError);
      expect(f).toThrow('decryption failed');
    }
    const env = new Uint8Array(HEADER_LENGTH + 12 + 2 + 16);
    env.set(encodeHeader(1, 7));
    nativeBackend.seal(1, KEY, env.subarray(HEADER_LENGTH, HEADER_LENGTH + 12), AAD, Uint8Array.of(0xc3, 0x28), env, HEADER_LENGTH + 12);
    expect(() => s.openText(1, KEY, encodeBase64url(env), env.length, AAD)).toThrow(TypeError);
  });

  it('leaves no key and no value in the WASM heap (stack included), after success and after every failure', () => {
    const heap = () => Buffer.from(s.heapForTests().buffer, s.heapForTests().byteOffset, s.heapForTests().byteLength);
    for (const alg of [1, 2] as const) {
      for (const length of [16, 40, 63, 64, 65, 100, 700]) {
        const key = randomBytes(32);
        const secret = randomBytes(length).toString('base64').slice(0, length);
        const sealed = s.sealText(alg, encodeHeader(alg, 3), key, AAD, secret, counterRandom(length))!;
        expect(heap().indexOf(Buffer.from(key))).toBe(-1);
        expect(heap().indexOf(Buffer.from(secret.slice(0, 16))), `sealText, alg ${alg}, ${length} B`).toBe(-1);
        const decoded = decodeBase64url(sealed).length;
        expect(s.openText(alg, key, sealed, decoded, AAD)).toBe(secret);
        expect(() => s.openText(alg, key, sealed, decoded, AAD.subarray(2))).toThrow(DecryptionError);
        for (const at of [0, length - 16, Math.floor((length - 16) / 2)]) {
          expect(heap().indexOf(Buffer.from(secret.slice(at, at + 16))), `openText, alg ${alg}, ${length} B, chars ${at}..${at + 16}`).toBe(-1);
        }
        expect(heap().indexOf(Buffer.from(key))).toBe(-1);
      }
    }
    // Not UTF-8: refused, and the bytes are wiped all the same.
    const bad = randomBytes(40);
    bad[0] = 0xff; // never in UTF-8
    const env = new Uint8Array(HEADER_LENGTH + 12 + bad.length + 16);
    env.set(encodeHeader(1, 7));
    nativeBackend.seal(1, KEY, env.subarray(HEADER_LENGTH, HEADER_LENGTH + 12), AAD, bad, env, HEADER_LENGTH + 12);
    expect(() => s.openText(1, KEY, encodeBase64url(env), env.length, AAD)).toThrow(TypeError);
    expect(heap().indexOf(Buffer.from(bad.subarray(0, 16)))).toBe(-1);
    expect(heap().indexOf(Buffer.from(bad.subarray(24, 40)))).toBe(-1);
  });
});
