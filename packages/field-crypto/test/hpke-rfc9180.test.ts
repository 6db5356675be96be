// RFC 9180 Appendix A.2 (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
// ChaCha20Poly1305): the suite envelope alg 3/4 uses must reproduce the
// published key pairs, enc, every listed ciphertext and exported value, in
// base mode (A.2.1) and auth mode (A.2.3), with both KEM implementations.
import { describe, expect, it } from 'vitest';
import { hpkeSuite, x25519PublicKey, HPKE_SUITE_IDS, type HpkeKemImpl } from '../src/hpke-suite.js';
import { hex, unhex } from './helpers.js';
import doc from './vectors/rfc9180-x25519-sha256-chacha20poly1305.json' with { type: 'json' };

interface Vector {
  section: string;
  mode: number;
  kem_id: number;
  kdf_id: number;
  aead_id: number;
  info: string;
  ikmE: string;
  pkEm: string;
  skEm: string;
  ikmR: string;
  pkRm: string;
  skRm: string;
  ikmS?: string;
  pkSm?: string;
  skSm?: string;
  enc: string;
  encryptions: { sequence_number: number; pt: string; aad: string; ct: string }[];
  exports: { exporter_context: string; L: number; exported_value: string }[];
}
const vectors = doc.vectors as Vector[];
const ab = (s: string): ArrayBuffer => unhex(s).slice().buffer as ArrayBuffer;
const countAad = (i: number) => new TextEncoder().encode(`Count-${i}`);

describe('RFC 9180 vectors for the envelope alg 3/4 suite', () => {
  it('are the base and auth vectors of this suite only', () => {
    expect(vectors.map((v) => v.mode)).toEqual([0, 2]);
    for (const v of vectors) {
      expect([v.kem_id, v.kdf_id, v.aead_id]).toEqual([HPKE_SUITE_IDS.kem, HPKE_SUITE_IDS.kdf, HPKE_SUITE_IDS.aead]);
    }
  });

  for (const impl of ['noble', 'webcrypto'] as HpkeKemImpl[]) {
    for (const v of vectors) {
      describe(`${v.section}, ${impl} X25519`, () => {
        const suite = hpkeSuite(impl);

        it('DeriveKeyPair gives the listed key pairs; pk(sk) matches', async () => {
          const pairs: [string, string, string][] = [[v.ikmE, v.skEm, v.pkEm], [v.ikmR, v.skRm, v.pkRm]];
          if (v.ikmS) pairs.push([v.ikmS, v.skSm!, v.pkSm!]);
          for (const [ikm, sk, pk] of pairs) {
            const kp = await suite.kem.deriveKeyPair(ab(ikm));
            expect(hex(new Uint8Array(await suite.kem.serializePrivateKey(kp.privateKey)))).toBe(sk);
            expect(hex(new Uint8Array(await suite.kem.serializePublicKey(kp.publicKey)))).toBe(pk);
            expect(hex(x25519PublicKey(unhex(sk)))).toBe(pk);
          }
        });

        it('seals every listed ciphertext in sequence and opens them, exports match', async () => {
          const auth = v.mode === 2;
          const pkR = await suite.kem.importKey('raw', ab(v.pkRm), true);
          const skR = await suite.kem.importKey('raw', ab(v.skRm), false);
          const senderKey = auth
            ? { privateKey: await suite.kem.importKey('raw', ab(v.skSm!), false), publicKey: await suite.kem.importKey('raw', ab(v.pkSm!), true) }
            : undefined;
          const sender = await suite.createSenderContext({
            recipientPublicKey: pkR,
            info: ab(v.info),
            ekm: ab(v.ikmE),
            ...(senderKey ? { senderKey } : {}),
          });
          expect(hex(new Uint8Array(sender.enc))).toBe(v.enc);
          const recipient = await suite.createRecipientContext({
            recipientKey: skR,
            enc: sender.enc,
            info: ab(v.info),
            ...(senderKey ? { senderPublicKey: senderKey.publicKey } : {}),
          });
          const listed = new Map(v.encryptions.map((e) => [e.sequence_number, e]));
          const pt = unhex(v.encryptions[0]!.pt);
          const last = Math.max(...listed.keys());
          let checked = 0;
          for (let i = 0; i <= last; i++) {
            const ct = new Uint8Array(await sender.seal(pt, countAad(i)));
            const e = listed.get(i);
            if (e) {
              expect(hex(countAad(i))).toBe(e.aad);
              expect(hex(ct)).toBe(e.ct);
              checked++;
            }
            expect(hex(new Uint8Array(await recipient.open(ct, countAad(i))))).toBe(hex(pt));
          }
          expect(checked).toBe(v.encryptions.length);
          for (const x of v.exports) {
            expect(hex(new Uint8Array(await sender.export(ab(x.exporter_context), x.L)))).toBe(x.exported_value);
            expect(hex(new Uint8Array(await recipient.export(ab(x.exporter_context), x.L)))).toBe(x.exported_value);
          }
        });

        it('single-shot Seal (RFC 9180 §6.1, what an envelope uses) is sequence number 0', async () => {
          const e0 = v.encryptions.find((e) => e.sequence_number === 0)!;
          const { ct, enc } = await suite.seal(
            {
              recipientPublicKey: await suite.kem.importKey('raw', ab(v.pkRm), true),
              info: ab(v.info),
              ekm: ab(v.ikmE),
              ...(v.mode === 2
                ? { senderKey: { privateKey: await suite.kem.importKey('raw', ab(v.skSm!), false), publicKey: await suite.kem.importKey('raw', ab(v.pkSm!), true) } }
                : {}),
            },
            unhex(e0.pt),
            unhex(e0.aad),
          );
          expect(hex(new Uint8Array(enc))).toBe(v.enc);
          expect(hex(new Uint8Array(ct))).toBe(e0.ct);
        });
      });
    }
  }
});
