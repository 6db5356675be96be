// The golden vectors freeze envelope alg 3/4 (docs/envelope-hpke.md). Nothing
// is regenerated here: both X25519 implementations must produce and open
// exactly the committed bytes, and each envelope is also rebuilt from the
// document's text with direct @hpke/* calls (no fle code in the loop).
import { CipherSuite, HkdfSha256 } from '@hpke/core';
import { Chacha20Poly1305 } from '@hpke/chacha20poly1305';
import { DhkemX25519HkdfSha256 } from '@hpke/dhkem-x25519';
import { describe, expect, it } from 'vitest';
import { buildAad, decodeBase64url, encodeBase64url, inspectEnvelope, minimumLength } from '../src/portable.js';
import { encodeHpkeHeader, openHpkeEnvelope, parseHpkeEnvelope, sealHpkeEnvelope } from '../src/hpke-envelope.js';
import type { HpkeAlg } from '../src/envelope.js';
import type { HpkeKemImpl } from '../src/hpke-suite.js';
import { hex, unhex } from './helpers.js';
import doc from '../../../test/vectors/envelope-hpke.json' with { type: 'json' };

interface Vector {
  name: string;
  alg: number;
  keyVersion: number;
  recipientPrivateKey: string;
  recipientPublicKey: string;
  senderPrivateKey?: string;
  senderPublicKey?: string;
  ikmE: string;
  tenant: string;
  messageType: string;
  fieldPath: string;
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
const ab = (s: string): ArrayBuffer => unhex(s).slice().buffer as ArrayBuffer;

describe('envelope alg 3/4 golden vectors', () => {
  it('cover both algs, string and bytes, empty plaintext, a map path, a context, unicode, the largest key version', () => {
    expect(new Set(vectors.map((v) => v.alg))).toEqual(new Set([3, 4]));
    expect(new Set(vectors.map((v) => v.fieldType))).toEqual(new Set(['string', 'bytes']));
    expect(vectors.some((v) => v.plaintext === '')).toBe(true);
    expect(vectors.some((v) => v.fieldPath.includes('['))).toBe(true);
    expect(vectors.some((v) => v.context !== '')).toBe(true);
    expect(vectors.some((v) => /[^\x00-\x7f]/.test(v.tenant + v.context + (v.plaintextText ?? '')))).toBe(true);
    expect(vectors.some((v) => v.keyVersion === 0xffff_ffff)).toBe(true);
  });

  for (const v of vectors) {
    describe(v.name, () => {
      it('is what the document describes (independent rebuild with @hpke/*)', async () => {
        const lp = (s: string) => {
          const b = new TextEncoder().encode(s);
          return [(b.length >>> 24) & 255, (b.length >>> 16) & 255, (b.length >>> 8) & 255, b.length & 255, ...b];
        };
        const kv = v.keyVersion;
        const header = [1, v.alg, kv >>> 24, (kv >>> 16) & 255, (kv >>> 8) & 255, kv & 255];
        const aad = Uint8Array.from([...new TextEncoder().encode('fle.v1'), 0, ...header, ...lp(v.tenant), ...lp(v.messageType), ...lp(v.fieldPath), ...lp(v.context)]);
        expect(hex(aad)).toBe(v.aad);
        const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Chacha20Poly1305() });
        const auth = v.alg === 4;
        const { ct, enc } = await suite.seal(
          {
            recipientPublicKey: await suite.kem.importKey('raw', ab(v.recipientPublicKey), true),
            info: new TextEncoder().encode('fle.v1.hpke'),
            ekm: ab(v.ikmE),
            ...(auth
              ? {
                  senderKey: {
                    privateKey: await suite.kem.importKey('raw', ab(v.senderPrivateKey!), false),
                    publicKey: await suite.kem.importKey('raw', ab(v.senderPublicKey!), true),
                  },
                }
              : {}),
          },
          unhex(v.plaintext),
          aad,
        );
        const pkS = auth ? [...unhex(v.senderPublicKey!)] : [];
        expect(hex(Uint8Array.from([...header, ...pkS, ...new Uint8Array(enc), ...new Uint8Array(ct)]))).toBe(v.envelope);
        expect(unhex(v.envelope).length).toBe(6 + (auth ? 64 : 32) + unhex(v.plaintext).length + 16);
        if (v.plaintextText !== undefined) expect(hex(new TextEncoder().encode(v.plaintextText))).toBe(v.plaintext);
      });

      it('parses into header, [pkS], enc, ct; buildAad gives the vector AAD; base64url text form', () => {
        const env = parseHpkeEnvelope(unhex(v.envelope));
        expect(env.alg).toBe(v.alg);
        expect(env.keyVersion).toBe(v.keyVersion);
        expect(env.senderPublicKey && hex(env.senderPublicKey)).toBe(v.senderPublicKey);
        expect(env.enc.length).toBe(32);
        expect(env.ct.length).toBe(unhex(v.plaintext).length + 16);
        expect(hex(buildAad(encodeHpkeHeader(v.alg as HpkeAlg, v.keyVersion), bindingOf(v)))).toBe(v.aad);
        expect(encodeBase64url(unhex(v.envelope))).toBe(v.envelopeText);
        expect(hex(decodeBase64url(v.envelopeText))).toBe(v.envelope);
      });

      it('envelope.ts knows its header and lengths (what the gateway and `fle envelope inspect` read)', () => {
        expect(inspectEnvelope(unhex(v.envelope))).toEqual({
          version: 1,
          alg: v.alg,
          keyVersion: v.keyVersion,
          nonceLength: v.alg === 3 ? 32 : 64,
          ciphertextLength: unhex(v.plaintext).length,
        });
        expect(minimumLength(v.alg as HpkeAlg)).toBe(v.alg === 3 ? 54 : 86);
      });

      for (const kem of ['noble', 'webcrypto'] as HpkeKemImpl[]) {
        it(`${kem} X25519 seals exactly these bytes and opens them`, async () => {
          const sender = v.senderPrivateKey ? { privateKey: unhex(v.senderPrivateKey), publicKey: unhex(v.senderPublicKey!) } : undefined;
          const envelope = await sealHpkeEnvelope(unhex(v.plaintext), {
            recipientPublicKey: unhex(v.recipientPublicKey),
            keyVersion: v.keyVersion,
            binding: bindingOf(v),
            ikmE: unhex(v.ikmE),
            kem,
            ...(sender ? { sender } : {}),
          });
          expect(hex(envelope)).toBe(v.envelope);
          const opened = await openHpkeEnvelope(unhex(v.envelope), { recipientPrivateKey: unhex(v.recipientPrivateKey), binding: bindingOf(v), kem });
          expect(hex(opened)).toBe(v.plaintext);
        });
      }
    });
  }
});
