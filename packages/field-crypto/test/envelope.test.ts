// Envelope parsing (spec §1), base64url text form (spec §5) and AAD layout (spec §3).
import { describe, expect, it } from 'vitest';
import {
  AAD_MAGIC,
  base64urlDecodedLength,
  buildAad,
  decodeBase64url,
  encodeBase64url,
  encodeBase64urlPortable,
  encodeHeader,
  EnvelopeFormatError,
  lengthPrefixed,
  minimumLength,
  nativeBackend,
  openEnvelope,
  parseEnvelope,
  sealEnvelope,
} from '../src/mod.js';
import { hex, seq, unhex } from './helpers.js';

const envelope = (alg: number, keyVersion: number, length: number) => {
  const b = new Uint8Array(length);
  b[0] = 1;
  b[1] = alg;
  b[2] = keyVersion >>> 24;
  b[3] = (keyVersion >>> 16) & 255;
  b[4] = (keyVersion >>> 8) & 255;
  b[5] = keyVersion & 255;
  return b;
};

describe('parseEnvelope (spec §1)', () => {
  it('reads header, nonce and sealed part as views', () => {
    const b = envelope(2, 0x01020304, 50);
    b.set(seq(24, 0x40), 6);
    const env = parseEnvelope(b);
    expect(env).toMatchObject({ version: 1, alg: 2, keyVersion: 0x01020304 });
    expect(hex(env.header)).toBe('010201020304');
    expect(hex(env.nonce)).toBe(hex(seq(24, 0x40)));
    expect(env.sealed.length).toBe(20);
    expect(env.sealed.buffer).toBe(b.buffer);
  });

  it('accepts the minimum lengths 34 (alg 1) and 46 (alg 2)', () => {
    expect(minimumLength(1)).toBe(34);
    expect(minimumLength(2)).toBe(46);
    expect(parseEnvelope(envelope(1, 1, 34)).sealed.length).toBe(16);
    expect(parseEnvelope(envelope(2, 1, 46)).sealed.length).toBe(16);
  });

  it.each([
    ['empty', new Uint8Array(0), /too short/],
    ['truncated header', envelope(1, 1, 34).subarray(0, 5), /too short/],
    ['alg 1 below 34 bytes', envelope(1, 1, 33), /too short: 33 bytes, alg 1 needs at least 34/],
    ['alg 2 below 46 bytes', envelope(2, 1, 45), /too short: 45 bytes, alg 2 needs at least 46/],
    ['unknown version 0', Object.assign(envelope(1, 1, 40), { 0: 0 }), /unknown envelope version 0/],
    ['unknown version 2', Object.assign(envelope(1, 1, 40), { 0: 2 }), /unknown envelope version 2/],
    ['unknown alg 0', envelope(0, 1, 60), /unknown envelope alg 0/],
    ['unknown alg 5', envelope(5, 1, 60), /unknown envelope alg 5/],
    ['alg 3 (HPKE: parseHpkeEnvelope reads it)', envelope(3, 1, 60), /envelope alg 3 is HPKE/],
    ['alg 3 below its minimum of 54 bytes', envelope(3, 1, 53), /alg 3 needs at least 54/],
    ['key version 0', envelope(1, 0, 40), /key version 0/],
  ])('rejects %s with EnvelopeFormatError', (_name, bytes, message) => {
    expect(() => parseEnvelope(bytes)).toThrow(EnvelopeFormatError);
    expect(() => parseEnvelope(bytes)).toThrow(message);
  });

  it('labels the error with the field path and code ENVELOPE_FORMAT', () => {
    try {
      parseEnvelope(envelope(9, 1, 40), '5.1');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(EnvelopeFormatError);
      expect((err as EnvelopeFormatError).code).toBe('ENVELOPE_FORMAT');
      expect((err as EnvelopeFormatError).fieldPath).toBe('5.1');
      expect((err as Error).message).toBe('unknown envelope alg 9 (field 5.1)');
    }
  });

  it('reads the largest key version as unsigned', () => {
    expect(parseEnvelope(envelope(1, 0xffffffff, 34)).keyVersion).toBe(0xffffffff);
  });

  it('openEnvelope rejects a bad envelope before touching the key', () => {
    const key = { get length(): number { throw new Error('key was touched'); } } as unknown as Uint8Array;
    const binding = { tenant: 't', messageType: 'm', fieldPath: '1' };
    expect(() => openEnvelope(envelope(1, 0, 40), { backend: nativeBackend, key, binding })).toThrow(EnvelopeFormatError);
  });
});

describe('seal argument checks', () => {
  const binding = { tenant: 't', messageType: 'm', fieldPath: '1' };
  it.each([0, -1, 1.5, 2 ** 32])('refuses key version %s', (keyVersion) => {
    expect(() => sealEnvelope(new Uint8Array(1), { backend: nativeBackend, key: seq(32), keyVersion, alg: 1, binding })).toThrow(RangeError);
  });
  it('refuses an unknown alg and a key that is not 32 bytes', () => {
    expect(() => sealEnvelope(new Uint8Array(1), { backend: nativeBackend, key: seq(32), keyVersion: 1, alg: 3 as 1, binding })).toThrow(RangeError);
    expect(() => sealEnvelope(new Uint8Array(1), { backend: nativeBackend, key: seq(16), keyVersion: 1, alg: 1, binding })).toThrow(/key must be 32 bytes/);
  });
  it('refuses a random source that returns the wrong length', () => {
    expect(() =>
      sealEnvelope(new Uint8Array(1), { backend: nativeBackend, key: seq(32), keyVersion: 1, alg: 2, binding, random: (n) => new Uint8Array(n - 1) }),
    ).toThrow(/random source returned 23 bytes, expected 24/);
  });
});

describe('native envelope memory', () => {
  const binding = { tenant: 't', messageType: 'm', fieldPath: '1' };
  const seal = (n: number) => sealEnvelope(new Uint8Array(n).fill(0xa5), { backend: nativeBackend, key: seq(32), keyVersion: 1, alg: 1, binding });

  it('envelopes of 4-32 KiB share zero-filled slabs: no overlap, no stale memory around them', () => {
    const envelopes = [5000, 16 * 1024, 4096, 30_000, 16 * 1024].map(seal);
    for (const [i, e] of envelopes.entries()) {
      expect(e.byteOffset % 8).toBe(0);
      for (const f of envelopes.slice(i + 1)) {
        if (f.buffer !== e.buffer) continue;
        expect(f.byteOffset >= e.byteOffset + e.length || e.byteOffset >= f.byteOffset + f.length).toBe(true);
      }
      expect(hex(openEnvelope(e, { backend: nativeBackend, key: seq(32), binding }).subarray(0, 4))).toBe('a5a5a5a5');
    }
    // Every byte of a slab that no envelope holds is zero: whatever reads
    // `.buffer` without the offset sees ciphertext and zeros, never old heap.
    const slab = envelopes[1]!.buffer;
    const held = new Uint8Array(slab.byteLength);
    for (const e of envelopes) if (e.buffer === slab) held.fill(1, e.byteOffset, e.byteOffset + e.length);
    // (From our first envelope on: earlier tests may have used the slab before.)
    const from = Math.min(...envelopes.filter((e) => e.buffer === slab).map((e) => e.byteOffset));
    const bytes = new Uint8Array(slab);
    expect(bytes.every((b, i) => i < from || held[i] === 1 || b === 0)).toBe(true);
  });

  it('small and large envelopes get buffers of their own', () => {
    for (const n of [100, 64 * 1024]) {
      const e = seal(n);
      expect(e.byteOffset).toBe(0);
      expect(e.buffer.byteLength).toBe(e.length);
    }
  });
});

describe('AAD (spec §3)', () => {
  it('is magic || header || lp(tenant) || lp(type) || lp(path) || lp(context)', () => {
    const aad = buildAad(encodeHeader(1, 258), { tenant: 'ü', messageType: 'a.B', fieldPath: '10[k]', context: '' });
    expect(hex(aad)).toBe(
      '666c652e763100' + '010100000102' + '00000002c3bc' + '00000003612e42' + '0000000531305b6b5d' + '00000000',
    );
    expect(hex(AAD_MAGIC)).toBe(hex(new TextEncoder().encode('fle.v1\0')));
  });

  it('lp counts UTF-8 bytes, not UTF-16 units', () => {
    expect(hex(lengthPrefixed('🦊'))).toBe('00000004f09fa68a');
    expect(hex(lengthPrefixed(''))).toBe('00000000');
  });

  it('the same binding after a different one gives the same bytes (the last binding is kept encoded)', () => {
    const h1 = encodeHeader(1, 7);
    const h2 = encodeHeader(2, 9);
    const a = { tenant: 'tenant-a', messageType: 'a.B', fieldPath: '5.1', context: 'req/1' };
    const first = hex(buildAad(h1, a));
    // Each string differs in turn, then `a` again, with another header.
    for (const other of [{ ...a, tenant: 'acmf' }, { ...a, messageType: 'a.C' }, { ...a, fieldPath: '5.2' }, { ...a, context: 'req/2' }, { ...a, context: undefined }]) {
      const b = hex(buildAad(h1, other));
      expect(b).not.toBe(first);
      expect(hex(buildAad(h1, a))).toBe(first);
      expect(hex(buildAad(h1, other))).toBe(b);
    }
    expect(hex(buildAad(h2, a)).slice(14, 26)).toBe('010200000009');
    expect(hex(buildAad(h2, a)).slice(26)).toBe(first.slice(26));
  });

  it('keeps fields apart: moving bytes between tenant and type changes the AAD', () => {
    const h = encodeHeader(1, 1);
    const a = buildAad(h, { tenant: 'ab', messageType: 'c', fieldPath: '1' });
    const b = buildAad(h, { tenant: 'a', messageType: 'bc', fieldPath: '1' });
    expect(hex(a)).not.toBe(hex(b));
  });
});

describe('base64url (spec §5, RFC 4648 §5)', () => {
  it('encodes without padding in the URL-safe alphabet, short and long inputs alike (Node and portable encoders)', () => {
    for (const n of [0, 1, 2, 3, 4, 5, 100, 191, 192, 193, 1000, 4099, 70_000]) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 151 + 7) & 255);
      const text = encodeBase64url(bytes);
      expect(text).toBe(Buffer.from(bytes).toString('base64url'));
      expect(encodeBase64urlPortable(bytes)).toBe(text);
      expect(hex(decodeBase64url(text))).toBe(hex(bytes));
      expect(base64urlDecodedLength(text)).toBe(n);
    }
    expect(encodeBase64url(unhex('fbff'))).toBe('-_8');
  });

  it('encodes a prefix or a view of a larger buffer', () => {
    const big = Uint8Array.from({ length: 300 }, (_, i) => i & 255);
    const view = big.subarray(7, 200);
    for (const encode of [encodeBase64url, encodeBase64urlPortable]) {
      expect(encode(view)).toBe(Buffer.from(view).toString('base64url'));
      expect(encode(view, 50)).toBe(Buffer.from(view.subarray(0, 50)).toString('base64url'));
      expect(encode(big, 10)).toBe(Buffer.from(big.subarray(0, 10)).toString('base64url'));
    }
  });

  it.each([
    ['standard alphabet +', 'ab+d'],
    ['standard alphabet /', 'ab/d'],
    ['padding', 'YQ=='],
    ['padding, one char', 'YWI='],
    ['whitespace', 'YW Jj'],
    ['newline', 'YWJj\n'],
    ['non-ASCII', 'YWJé'],
    ['non-ASCII above 0xff', 'YWJ日'],
    ['a char whose low 7 bits are valid', String.fromCharCode(0x41 + 0x80) + 'AAA'],
    ['length ≡ 1 mod 4', 'YWJjZ'],
    ['trailing bits set (2 chars)', 'YR'],
    ['trailing bits set (3 chars)', 'YWJ'],
  ])('rejects %s with EnvelopeFormatError', (_name, text) => {
    expect(() => decodeBase64url(text)).toThrow(EnvelopeFormatError);
    expect(() => base64urlDecodedLength(text)).toThrow(EnvelopeFormatError);
  });

  it('never repeats the rejected text in the error', () => {
    try {
      decodeBase64url('secret+value');
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).not.toContain('secret');
    }
  });
});
