// Writes envelope-v1.json: the golden vectors that freeze envelope v1.
// Run once, by hand, when vectors are added (never by the tests, which only
// check that both backends reproduce and open these exact bytes):
//   npx tsx --conditions=@fle/source test/vectors/generate-envelope-vectors.ts
// Changing an existing vector's bytes is a format change: do not.
import { writeFileSync } from 'node:fs';
import { buildAad, encodeBase64url, encodeHeader, nobleBackend, sealEnvelope, type SymmetricAlg } from '@fle/field-crypto/portable';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const seq = (n: number, start: number) => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
const utf8 = (s: string) => new TextEncoder().encode(s);

interface Spec {
  name: string;
  alg: SymmetricAlg;
  keyVersion: number;
  key: Uint8Array;
  nonce: Uint8Array;
  tenant: string;
  messageType: string;
  fieldPath: string;
  context: string;
  plaintext?: Uint8Array;
  /** The field is a proto string: plaintext is UTF-8 text, the field holds base64url. */
  text?: string;
  /** A map value: the raw string key, whose spec §3 text is inside fieldPath's brackets. */
  mapKey?: string;
}

const TYPE = 'acme.payments.v1.AuthorizeRequest';
const MAP_TYPE = 'fletest.v1.Tree';
const key80 = seq(32, 0x80);
const key00 = seq(32, 0x00);
const specs: Spec[] = [
  { name: 'alg1 bytes field', alg: 1, keyVersion: 1, key: key80, nonce: seq(12, 0x40), tenant: 'acme-eu', messageType: TYPE, fieldPath: '7', context: '', plaintext: seq(20, 0x10) },
  { name: 'alg2 bytes field', alg: 2, keyVersion: 1, key: key80, nonce: seq(24, 0x40), tenant: 'acme-eu', messageType: TYPE, fieldPath: '7', context: '', plaintext: seq(20, 0x10) },
  { name: 'alg1 string field, nested path, replay context', alg: 1, keyVersion: 7, key: key00, nonce: seq(12, 0xa0), tenant: 'acme-eu', messageType: TYPE, fieldPath: '5.1', context: 'req/1767225600000/q83vEjRWeJq8PwAAAAAAAA', text: '4111111111111111' },
  { name: 'alg2 string field, nested path, replay context', alg: 2, keyVersion: 7, key: key00, nonce: seq(24, 0xa0), tenant: 'acme-eu', messageType: TYPE, fieldPath: '5.1', context: 'req/1767225600000/q83vEjRWeJq8PwAAAAAAAA', text: '4111111111111111' },
  { name: 'alg1 empty plaintext', alg: 1, keyVersion: 1, key: key80, nonce: seq(12, 0x00), tenant: 't', messageType: TYPE, fieldPath: '7', context: '', plaintext: new Uint8Array(0) },
  { name: 'alg2 empty plaintext', alg: 2, keyVersion: 1, key: key80, nonce: seq(24, 0x00), tenant: 't', messageType: TYPE, fieldPath: '7', context: '', plaintext: new Uint8Array(0) },
  { name: 'alg1 map value path', alg: 1, keyVersion: 2, key: key80, nonce: seq(12, 0x60), tenant: 'acme-eu', messageType: TYPE, fieldPath: '10[ssn]', context: '', text: '078-05-1120' },
  { name: 'alg2 repeated message field path', alg: 2, keyVersion: 2, key: key80, nonce: seq(24, 0x60), tenant: 'acme-eu', messageType: TYPE, fieldPath: '9.3', context: 'record/auth-42', text: 'leave at the door' },
  { name: 'alg1 unicode tenant, text and context', alg: 1, keyVersion: 3, key: key00, nonce: seq(12, 0x30), tenant: 'mandant-müller', messageType: TYPE, fieldPath: '6', context: 'kontext/日本/🦊', text: 'Zoë Ångström 日本語 🦊' },
  { name: 'alg2 largest key version', alg: 2, keyVersion: 0xffffffff, key: key00, nonce: seq(24, 0xe8), tenant: 'acme-us', messageType: 'acme.payments.v1.AuthorizationRecord', fieldPath: '4', context: '', text: '5500005555555559' },
  // Map keys in paths (spec §3, amended): string keys percent-encoded. Message type of the tests' fixture (map field 7).
  { name: 'alg1 map key with reserved characters', alg: 1, keyVersion: 1, key: key80, nonce: seq(12, 0x70), tenant: 'tenant-eu', messageType: MAP_TYPE, fieldPath: '7[a%5D.3%5Bb]', mapKey: 'a].3[b', context: '', text: 'under the key a].3[b' },
  { name: 'alg2 map key outside ASCII', alg: 2, keyVersion: 1, key: key80, nonce: seq(24, 0x70), tenant: 'tenant-eu', messageType: MAP_TYPE, fieldPath: '7[%C3%A9]', mapKey: 'é', context: 'req/1767225600000/q83vEjRWeJq8PwAAAAAAAA', text: 'under the key é' },
  { name: 'alg1 empty map key', alg: 1, keyVersion: 1, key: key80, nonce: seq(12, 0x90), tenant: 'tenant-eu', messageType: MAP_TYPE, fieldPath: '7[]', mapKey: '', context: '', text: 'under the empty key' },
];

const vectors = specs.map((s) => {
  const plaintext = s.text !== undefined ? utf8(s.text) : s.plaintext!;
  const binding = { tenant: s.tenant, messageType: s.messageType, fieldPath: s.fieldPath, context: s.context };
  const envelope = sealEnvelope(plaintext, {
    backend: nobleBackend, key: s.key, keyVersion: s.keyVersion, alg: s.alg, binding, random: () => s.nonce,
  });
  return {
    name: s.name,
    alg: s.alg,
    keyVersion: s.keyVersion,
    key: hex(s.key),
    nonce: hex(s.nonce),
    tenant: s.tenant,
    messageType: s.messageType,
    fieldPath: s.fieldPath,
    ...(s.mapKey !== undefined ? { mapKey: s.mapKey } : {}),
    context: s.context,
    fieldType: s.text !== undefined ? 'string' : 'bytes',
    ...(s.text !== undefined ? { plaintextText: s.text } : {}),
    plaintext: hex(plaintext),
    aad: hex(buildAad(encodeHeader(s.alg, s.keyVersion), binding)),
    envelope: hex(envelope),
    envelopeText: encodeBase64url(envelope),
  };
});

const out = new URL('./envelope-v1.json', import.meta.url);
const doc = {
  description:
    'Envelope v1 golden vectors (docs/envelope-v1.md). Hex unless named *Text. envelopeText is the base64url form a string field holds. mapKey (map values only): the raw string key whose spec §3 text (percent-encoded) is inside the brackets of fieldPath.',
  vectors,
};
writeFileSync(out, JSON.stringify(doc, null, 2) + '\n');
console.log(`wrote ${vectors.length} vectors`);
