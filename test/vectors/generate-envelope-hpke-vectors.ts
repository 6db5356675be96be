// Writes envelope-hpke.json: the golden vectors that freeze envelope alg 3
// (HPKE base mode) and alg 4 (HPKE auth mode), docs/envelope-hpke.md.
// Deterministic the way RFC 9180's own vectors are: the ephemeral key is
// derived from a given ikmE (RFC 9180 §7.1.3 DeriveKeyPair). Run once, by
// hand, when vectors are added (the tests only check the committed bytes):
//   npx tsx --conditions=@fle/source test/vectors/generate-envelope-hpke-vectors.ts
// Changing an existing vector's bytes is a format change: do not.
import { writeFileSync } from 'node:fs';
import {
  buildAad,
  encodeBase64url,
  encodeHpkeHeader,
  HPKE_AUTH_ALG,
  HPKE_BASE_ALG,
  sealHpkeEnvelope,
  x25519PublicKey,
  type HpkeAlg,
} from '@fle/field-crypto/portable';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const seq = (n: number, start: number) => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
const utf8 = (s: string) => new TextEncoder().encode(s);

interface Spec {
  name: string;
  alg: HpkeAlg;
  keyVersion: number;
  recipientPrivateKey: Uint8Array;
  senderPrivateKey?: Uint8Array;
  ikmE: Uint8Array;
  tenant: string;
  messageType: string;
  fieldPath: string;
  context: string;
  plaintext?: Uint8Array;
  /** A proto string field: plaintext is UTF-8 text, the field holds base64url. */
  text?: string;
}

const TYPE = 'acme.payments.v1.AuthorizeRequest';
const skR = seq(32, 0x80);
const skR2 = seq(32, 0x20);
const skS = seq(32, 0xc0);
const CTX = 'req/1767225600000/q83vEjRWeJq8PwAAAAAAAA';
const specs: Spec[] = [
  { name: 'alg3 bytes field', alg: HPKE_BASE_ALG, keyVersion: 1, recipientPrivateKey: skR, ikmE: seq(32, 0x40), tenant: 'acme-eu', messageType: TYPE, fieldPath: '7', context: '', plaintext: seq(20, 0x10) },
  { name: 'alg3 string field, nested path, replay context', alg: HPKE_BASE_ALG, keyVersion: 7, recipientPrivateKey: skR2, ikmE: seq(32, 0x50), tenant: 'acme-eu', messageType: TYPE, fieldPath: '5.1', context: CTX, text: '4111111111111111' },
  { name: 'alg3 empty plaintext', alg: HPKE_BASE_ALG, keyVersion: 1, recipientPrivateKey: skR, ikmE: seq(32, 0x00), tenant: 't', messageType: TYPE, fieldPath: '7', context: '', plaintext: new Uint8Array(0) },
  { name: 'alg3 map value path', alg: HPKE_BASE_ALG, keyVersion: 2, recipientPrivateKey: skR, ikmE: seq(32, 0x60), tenant: 'acme-eu', messageType: TYPE, fieldPath: '10[ssn]', context: '', text: '078-05-1120' },
  { name: 'alg3 unicode tenant, text and context', alg: HPKE_BASE_ALG, keyVersion: 3, recipientPrivateKey: skR2, ikmE: seq(32, 0x30), tenant: 'mandant-müller', messageType: TYPE, fieldPath: '6', context: 'kontext/日本/🦊', text: 'Zoë Ångström 日本語 🦊' },
  { name: 'alg4 string field, device key, replay context', alg: HPKE_AUTH_ALG, keyVersion: 7, recipientPrivateKey: skR2, senderPrivateKey: skS, ikmE: seq(32, 0x70), tenant: 'acme-eu', messageType: TYPE, fieldPath: '5.1', context: CTX, text: '4111111111111111' },
  { name: 'alg4 bytes field, empty plaintext', alg: HPKE_AUTH_ALG, keyVersion: 0xffff_ffff, recipientPrivateKey: skR, senderPrivateKey: skS, ikmE: seq(32, 0x90), tenant: 't', messageType: TYPE, fieldPath: '5.5', context: '', plaintext: new Uint8Array(0) },
];

const vectors = [];
for (const s of specs) {
  const plaintext = s.text !== undefined ? utf8(s.text) : s.plaintext!;
  const binding = { tenant: s.tenant, messageType: s.messageType, fieldPath: s.fieldPath, context: s.context };
  const recipientPublicKey = x25519PublicKey(s.recipientPrivateKey);
  const sender = s.senderPrivateKey ? { privateKey: s.senderPrivateKey, publicKey: x25519PublicKey(s.senderPrivateKey) } : undefined;
  const envelope = await sealHpkeEnvelope(plaintext, { recipientPublicKey, keyVersion: s.keyVersion, binding, ikmE: s.ikmE, ...(sender ? { sender } : {}) });
  vectors.push({
    name: s.name,
    alg: s.alg,
    keyVersion: s.keyVersion,
    recipientPrivateKey: hex(s.recipientPrivateKey),
    recipientPublicKey: hex(recipientPublicKey),
    ...(sender ? { senderPrivateKey: hex(sender.privateKey as Uint8Array), senderPublicKey: hex(sender.publicKey) } : {}),
    ikmE: hex(s.ikmE),
    tenant: s.tenant,
    messageType: s.messageType,
    fieldPath: s.fieldPath,
    context: s.context,
    fieldType: s.text !== undefined ? 'string' : 'bytes',
    ...(s.text !== undefined ? { plaintextText: s.text } : {}),
    plaintext: hex(plaintext),
    aad: hex(buildAad(encodeHpkeHeader(s.alg, s.keyVersion), binding)),
    envelope: hex(envelope),
    envelopeText: encodeBase64url(envelope),
  });
}

const out = new URL('./envelope-hpke.json', import.meta.url);
writeFileSync(
  out,
  `${JSON.stringify(
    {
      description:
        'Envelope alg 3/4 golden vectors (docs/envelope-hpke.md). Hex unless named *Text. The ephemeral key is DeriveKeyPair(ikmE) (RFC 9180 §7.1.3); info is ASCII "fle.v1.hpke"; the HPKE aad is the envelope-v1 AAD. envelopeText is the base64url form a string field holds.',
      vectors,
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote ${vectors.length} vectors to ${out.pathname}`);
