// Properties of envelope v1 on both backends (spec §1-§4).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DecryptionError,
  EnvelopeFormatError,
  nativeBackend,
  nobleBackend,
  openEnvelope,
  sealEnvelope,
  type AadBinding,
  type CipherBackend,
  type SymmetricAlg,
} from '../src/mod.js';
import { fixedNonces, hex } from './helpers.js';

const backends: [string, CipherBackend][] = [['native', nativeBackend], ['noble', nobleBackend]];
const text = fc.string({ unit: 'grapheme', maxLength: 24 });
const binding = fc.record({ tenant: text, messageType: text, fieldPath: text, context: text });
const input = fc.record({
  alg: fc.constantFrom<SymmetricAlg>(1, 2),
  keyVersion: fc.integer({ min: 1, max: 0xffffffff }),
  key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  nonce: fc.uint8Array({ minLength: 24, maxLength: 24 }),
  plaintext: fc.uint8Array({ maxLength: 300 }),
  binding,
});
type Input = typeof input extends fc.Arbitrary<infer T> ? T : never;

function seal(backend: CipherBackend, i: Input, b: AadBinding = i.binding): Uint8Array {
  const nonce = i.nonce.subarray(0, i.alg === 1 ? 12 : 24);
  return sealEnvelope(i.plaintext, { backend, key: i.key, keyVersion: i.keyVersion, alg: i.alg, binding: b, random: fixedNonces(nonce) });
}

describe('envelope properties', () => {
  it('native and noble produce the same bytes for the same inputs and open each other', () => {
    fc.assert(
      fc.property(input, (i) => {
        const a = seal(nativeBackend, i);
        const b = seal(nobleBackend, i);
        expect(hex(a)).toBe(hex(b));
        expect(hex(openEnvelope(a, { backend: nobleBackend, key: i.key, binding: i.binding }))).toBe(hex(i.plaintext));
        expect(hex(openEnvelope(b, { backend: nativeBackend, key: i.key, binding: i.binding }))).toBe(hex(i.plaintext));
      }),
      { numRuns: 200 },
    );
  });

  for (const [name, backend] of backends) {
    describe(`${name} backend`, () => {
      it('round-trips and has the spec §1 length', () => {
        fc.assert(
          fc.property(input, (i) => {
            const env = seal(backend, i);
            expect(env.length).toBe(6 + (i.alg === 1 ? 12 : 24) + i.plaintext.length + 16);
            expect(hex(openEnvelope(env, { backend, key: i.key, binding: i.binding }))).toBe(hex(i.plaintext));
          }),
          { numRuns: 150 },
        );
      });

      it('fails on any single bit flip anywhere in the envelope', () => {
        fc.assert(
          fc.property(input, fc.nat(), fc.nat({ max: 7 }), (i, at, bit) => {
            const env = seal(backend, i);
            env[at % env.length]! ^= 1 << bit;
            // Header flips that make the header invalid fail as format errors, all others authenticate-fail.
            expect(() => openEnvelope(env, { backend, key: i.key, binding: i.binding })).toThrow(
              at % env.length < 6 ? /unknown envelope|key version 0|decryption failed|too short|is HPKE/ : DecryptionError,
            );
          }),
          { numRuns: 300 },
        );
      });

      it('fails when moved to another tenant, message type, field path or context', () => {
        const part = fc.constantFrom<keyof AadBinding>('tenant', 'messageType', 'fieldPath', 'context');
        fc.assert(
          fc.property(input, part, text, (i, key, other) => {
            fc.pre((i.binding[key] ?? '') !== other);
            const env = seal(backend, i);
            const moved = { ...i.binding, [key]: other };
            expect(() => openEnvelope(env, { backend, key: i.key, binding: moved })).toThrow(DecryptionError);
          }),
          { numRuns: 200 },
        );
      });

      it('fails when the bytes move between tenant and message type (length prefixes)', () => {
        fc.assert(
          fc.property(input, fc.string({ minLength: 1, maxLength: 8 }), (i, shift) => {
            const b = { ...i.binding, tenant: i.binding.tenant + shift };
            const env = seal(backend, i, b);
            const moved = { ...b, tenant: i.binding.tenant, messageType: shift + b.messageType };
            expect(() => openEnvelope(env, { backend, key: i.key, binding: moved })).toThrow(DecryptionError);
          }),
          { numRuns: 100 },
        );
      });

      it('two seals of one value differ (default CSPRNG nonces)', () => {
        fc.assert(
          fc.property(input, (i) => {
            const opts = { backend, key: i.key, keyVersion: i.keyVersion, alg: i.alg, binding: i.binding };
            const a = sealEnvelope(i.plaintext, opts);
            const b = sealEnvelope(i.plaintext, opts);
            expect(hex(a)).not.toBe(hex(b));
            expect(hex(a.subarray(6, 18))).not.toBe(hex(b.subarray(6, 18)));
          }),
          { numRuns: 100 },
        );
      });

      it('a truncated envelope fails with a typed error', () => {
        fc.assert(
          fc.property(input, fc.nat(), (i, cut) => {
            const env = seal(backend, i);
            const short = env.subarray(0, cut % env.length);
            let err: unknown;
            try {
              openEnvelope(short, { backend, key: i.key, binding: i.binding });
            } catch (e) {
              err = e;
            }
            expect(err instanceof EnvelopeFormatError || err instanceof DecryptionError).toBe(true);
          }),
          { numRuns: 150 },
        );
      });
    });
  }
});
