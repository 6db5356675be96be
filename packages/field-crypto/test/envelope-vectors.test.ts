// The golden vectors freeze envelope v1 (spec §1-§5). Nothing is regenerated
// here: both backends must produce and open exactly the committed bytes, and
// the bytes are also rebuilt from the spec text with raw @noble/ciphers calls.
import { chacha20poly1305, xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { describe, expect, it } from 'vitest';
import {
  buildAad,
  decodeBase64url,
  encodeBase64url,
  encodeHeader,
  FieldCipher,
  inspectEnvelope,
  mapKeyText,
  nativeBackend,
  nobleBackend,
  openEnvelope,
  sealEnvelope,
  StaticKeyProvider,
  type CipherBackend,
  type SymmetricAlg,
} from '../src/mod.js';
import { schema } from './fixtures.js';
import { fixedNonces, hex, unhex } from './helpers.js';
import doc from '../../../test/vectors/envelope-v1.json' with { type: 'json' };

interface Vector {
  name: string;
  alg: number;
  keyVersion: number;
  key: string;
  nonce: string;
  tenant: string;
  messageType: string;
  fieldPath: string;
  /** Map values: the raw string key (spec §3 writes it percent-encoded inside fieldPath's brackets). */
  mapKey?: string;
  context: string;
  fieldType: string;
  plaintextText?: string;
  plaintext: string;
  aad: string;
  envelope: string;
  envelopeText: string;
}
const vectors = doc.vectors as Vector[];
const bindingOf = (v: Vector) => ({ tenant: v.tenant, messageType: v.messageType, fieldPath: v.fieldPath, context: v.context });

describe('envelope v1 golden vectors', () => {
  it('cover both algs, string and bytes, empty plaintext, a map path, a context and unicode', () => {
    expect(new Set(vectors.map((v) => v.alg))).toEqual(new Set([1, 2]));
    expect(new Set(vectors.map((v) => v.fieldType))).toEqual(new Set(['string', 'bytes']));
    expect(vectors.some((v) => v.plaintext === '')).toBe(true);
    expect(vectors.some((v) => v.fieldPath.includes('['))).toBe(true);
    expect(vectors.some((v) => v.context !== '')).toBe(true);
    expect(vectors.some((v) => /[^\x00-\x7f]/.test(v.tenant + v.context + (v.plaintextText ?? '')))).toBe(true);
    // Map keys (spec §3, amended): reserved characters, UTF-8 outside ASCII, the empty key.
    expect(vectors.filter((v) => v.mapKey !== undefined).map((v) => v.fieldPath)).toEqual(['7[a%5D.3%5Bb]', '7[%C3%A9]', '7[]']);
  });

  for (const v of vectors) {
    describe(v.name, () => {
      it('has the AAD and envelope the spec text describes (independent rebuild)', () => {
        const lp = (s: string) => {
          const b = new TextEncoder().encode(s);
          return [(b.length >>> 24) & 255, (b.length >>> 16) & 255, (b.length >>> 8) & 255, b.length & 255, ...b];
        };
        const kv = v.keyVersion;
        const header = [1, v.alg, kv >>> 24, (kv >>> 16) & 255, (kv >>> 8) & 255, kv & 255];
        const aad = Uint8Array.from([
          ...new TextEncoder().encode('fle.v1'), 0, ...header, ...lp(v.tenant), ...lp(v.messageType), ...lp(v.fieldPath), ...lp(v.context),
        ]);
        expect(hex(aad)).toBe(v.aad);
        const aead = v.alg === 1 ? chacha20poly1305 : xchacha20poly1305;
        const sealed = aead(unhex(v.key), unhex(v.nonce), aad).encrypt(unhex(v.plaintext));
        expect(hex(Uint8Array.from([...header, ...unhex(v.nonce), ...sealed]))).toBe(v.envelope);
        if (v.plaintextText !== undefined) expect(hex(new TextEncoder().encode(v.plaintextText))).toBe(v.plaintext);
      });

      it('buildAad gives the vector AAD', () => {
        expect(hex(buildAad(encodeHeader(v.alg as SymmetricAlg, v.keyVersion), bindingOf(v)))).toBe(v.aad);
      });

      it('base64url text form is the envelope (spec §5)', () => {
        expect(encodeBase64url(unhex(v.envelope))).toBe(v.envelopeText);
        expect(hex(decodeBase64url(v.envelopeText))).toBe(v.envelope);
        expect(v.envelopeText).toMatch(/^[A-Za-z0-9_-]*$/);
      });

      it('inspect shows its header and lengths', () => {
        expect(inspectEnvelope(unhex(v.envelope))).toEqual({
          version: 1,
          alg: v.alg,
          keyVersion: v.keyVersion,
          nonceLength: v.alg === 1 ? 12 : 24,
          ciphertextLength: v.plaintext.length / 2,
        });
      });

      if (v.mapKey !== undefined) {
        const mapKey = v.mapKey;
        it('its field path is the map field and the key as spec §3 writes it', () => {
          expect(`7[${mapKeyText('string', mapKey)}]`).toBe(v.fieldPath);
        });

        it('FieldCipher seals the value under that key of map field 7 to exactly this envelope, and opens it', async () => {
          const keys = new StaticKeyProvider([{ tenant: v.tenant, versions: [{ version: v.keyVersion, key: unhex(v.key), alg: v.alg as SymmetricAlg }] }]);
          const cipher = new FieldCipher({ schema, keys, backend: nativeBackend, random: fixedNonces(unhex(v.nonce)) });
          const message = { tenantId: v.tenant, notes: { [mapKey]: v.plaintextText! } };
          const sealed = await cipher.sealMessage(v.messageType, message, { context: v.context });
          expect(sealed.notes[mapKey]).toBe(v.envelopeText);
          expect(await cipher.openMessage(v.messageType, sealed, { context: v.context })).toEqual(message);
        });
      }

      for (const [name, backend] of [['native', nativeBackend], ['noble', nobleBackend]] as [string, CipherBackend][]) {
        it(`${name} backend seals exactly these bytes and opens them`, () => {
          const envelope = sealEnvelope(unhex(v.plaintext), {
            backend,
            key: unhex(v.key),
            keyVersion: v.keyVersion,
            alg: v.alg as SymmetricAlg,
            binding: bindingOf(v),
            random: fixedNonces(unhex(v.nonce)),
          });
          expect(hex(envelope)).toBe(v.envelope);
          const opened = openEnvelope(unhex(v.envelope), { backend, key: unhex(v.key), binding: bindingOf(v) });
          expect(hex(opened)).toBe(v.plaintext);
        });
      }
    });
  }
});
