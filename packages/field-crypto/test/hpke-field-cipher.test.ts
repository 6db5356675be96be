// FieldCipher with X25519 key rings (docs/envelope-hpke.md): what an untrusted
// client seals with public keys only, the processor opens; the processor seals
// alg 3 itself for X25519 rings; sender authentication (alg 4); the gateway's
// key-less check accepts alg 3/4.
import { describe, expect, it } from 'vitest';
import {
  checkSealed,
  decodeBase64url,
  DecryptionError,
  encodeBase64url,
  FieldCipher,
  generateX25519KeyPair,
  HpkeSealer,
  parseHpkeEnvelope,
  PlaintextInSensitiveFieldError,
  readHeader,
  StaticKeyProvider,
  StaticRecipientKeys,
  StaticSenderPolicy,
  UnknownSenderError,
  type HpkeKemImpl,
} from '../src/mod.js';
import { decodeMessage, encodeMessage, exampleRecord, KEYS, RECORD, schema, TENANT, type TestRecord } from './fixtures.js';

const CONTEXT = 'req/1767225600000/q83vEjRWeJq8PwAAAAAAAA';
const rings = { default: generateX25519KeyPair(), pci: generateX25519KeyPair() };
const publicKeys = new StaticRecipientKeys([
  { tenant: TENANT, version: 2, publicKey: rings.default.publicKey },
  { tenant: TENANT, ring: 'pci', version: 7, publicKey: rings.pci.publicKey },
]);
const x25519Keys = () =>
  new StaticKeyProvider([
    { tenant: TENANT, versions: [{ version: 2, key: rings.default.privateKey, alg: 3 }] },
    { tenant: TENANT, ring: 'pci', versions: [{ version: 7, key: rings.pci.privateKey, alg: 3 }] },
  ]);
const bytesOf = (v: unknown) => (typeof v === 'string' ? decodeBase64url(v) : (v as Uint8Array));

describe('FieldCipher with X25519 key rings', () => {
  for (const kem of ['noble', 'webcrypto'] as HpkeKemImpl[]) {
    it(`opens what HpkeSealer sealed with the public keys only (${kem})`, async () => {
      const input = exampleRecord();
      const sealed = await new HpkeSealer({ schema, recipients: publicKeys, kem }).sealMessage(RECORD, input, { context: CONTEXT });
      const processor = new FieldCipher({ schema, keys: x25519Keys(), hpke: { kem } });
      expect(await processor.openMessage(RECORD, sealed, { context: CONTEXT })).toEqual(input);
      await expect(processor.openMessage(RECORD, sealed, { context: 'req/1/other' })).rejects.toBeInstanceOf(DecryptionError);
    });
  }

  it('opens a request decoded from protobuf bytes (bytes fields are Buffer views), sealed by protobufjs-encoding clients too', async () => {
    const sealed = await new HpkeSealer({ schema, recipients: publicKeys }).sealMessage(RECORD, exampleRecord(), { context: CONTEXT });
    const processor = new FieldCipher({ schema, keys: x25519Keys() });
    for (const wire of [encodeMessage(RECORD, sealed), schema.root.lookupType(RECORD).encode(sealed as never).finish()]) {
      const decoded = decodeMessage<TestRecord>(RECORD, Buffer.concat([Buffer.alloc(0), wire]));
      expect(await processor.openMessage(RECORD, decoded, { context: CONTEXT })).toEqual(exampleRecord());
    }
  });

  it('seals alg 3 for X25519 rings itself (a processor sealing a response or record)', async () => {
    const cipher = new FieldCipher({ schema, keys: x25519Keys() });
    const sealed = await cipher.sealMessage(RECORD, exampleRecord(), { context: CONTEXT });
    expect(parseHpkeEnvelope(bytesOf(sealed.badge!.code))).toMatchObject({ alg: 3, keyVersion: 7 });
    expect(parseHpkeEnvelope(bytesOf(sealed.blob))).toMatchObject({ alg: 3, keyVersion: 2 });
    expect(await cipher.openMessage(RECORD, sealed, { context: CONTEXT })).toEqual(exampleRecord());
  });

  it('mixes a symmetric ring and an X25519 ring in one message', async () => {
    const keys = new StaticKeyProvider([
      { tenant: TENANT, versions: [{ version: 1, key: KEYS.default[1] }] },
      { tenant: TENANT, ring: 'pci', versions: [{ version: 7, key: rings.pci.privateKey, alg: 3 }] },
    ]);
    const cipher = new FieldCipher({ schema, keys });
    const sealed = await cipher.sealMessage(RECORD, exampleRecord(), { context: CONTEXT });
    expect(readHeader(bytesOf(sealed.badge!.code)).alg).toBe(3);
    expect(readHeader(bytesOf(sealed.nationalId)).alg).toBe(1);
    expect(await cipher.openMessage(RECORD, sealed, { context: CONTEXT })).toEqual(exampleRecord());
  });

  it('never uses a key across kinds: alg 1 under an X25519 version, alg 3 under a symmetric version', async () => {
    const symmetric = new FieldCipher({ schema, keys: new StaticKeyProvider([
      { tenant: TENANT, versions: [{ version: 2, key: KEYS.default[1] }] },
      { tenant: TENANT, ring: 'pci', versions: [{ version: 7, key: KEYS.pci[5] }] },
    ]) });
    const hpkeSealed = await new HpkeSealer({ schema, recipients: publicKeys }).sealMessage(RECORD, exampleRecord(), { context: CONTEXT });
    await expect(symmetric.openMessage(RECORD, hpkeSealed, { context: CONTEXT })).rejects.toBeInstanceOf(DecryptionError);
    const symSealed = await symmetric.sealMessage(RECORD, exampleRecord(), { context: CONTEXT });
    const err = await new FieldCipher({ schema, keys: x25519Keys() }).openMessage(RECORD, symSealed, { context: CONTEXT }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DecryptionError);
  });

  it('a tampered alg 3 value fails with DecryptionError naming its field; several bad values leave no unhandled rejection', async () => {
    const sealed = await new HpkeSealer({ schema, recipients: publicKeys }).sealMessage(RECORD, exampleRecord(), { context: CONTEXT });
    const flip = (text: string) => {
      const b = decodeBase64url(text);
      b[b.length - 1]! ^= 1;
      return encodeBase64url(b);
    };
    const bad = { ...sealed, nationalId: flip(sealed.nationalId), email: flip(sealed.email!) };
    const err = await new FieldCipher({ schema, keys: x25519Keys() }).openMessage(RECORD, bad, { context: CONTEXT }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DecryptionError);
    expect((err as DecryptionError).fieldPath).toMatch(/^(6|11)$/);
  });
});

describe('sender authentication (alg 4)', () => {
  const device = generateX25519KeyPair();
  const senders = new StaticSenderPolicy([{ tenant: TENANT, id: 'ios-1', publicKey: device.publicKey }]);

  it('opens alg 4 from a registered device and reports the device per field', async () => {
    const sealed = await new HpkeSealer({ schema, recipients: publicKeys, sender: device }).sealMessage(RECORD, exampleRecord(), { context: CONTEXT });
    expect(parseHpkeEnvelope(bytesOf(sealed.nationalId)).alg).toBe(4);
    const seen: string[] = [];
    const opened = await new FieldCipher({ schema, keys: x25519Keys(), hpke: { senders } }).openMessage(RECORD, sealed, {
      context: CONTEXT,
      onSender: (path, id) => seen.push(`${path}=${id}`),
    });
    expect(opened).toEqual(exampleRecord());
    expect(seen).toContain('5.1=ios-1');
    expect(seen).toContain('10[ssn]=ios-1');
  });

  it('refuses an unregistered device, an anonymous envelope for a tenant with devices, and alg 4 when no device is registered', async () => {
    const stranger = generateX25519KeyPair();
    const forged = await new HpkeSealer({ schema, recipients: publicKeys, sender: stranger }).sealMessage(RECORD, exampleRecord(), { context: CONTEXT });
    const cipher = new FieldCipher({ schema, keys: x25519Keys(), hpke: { senders } });
    const e1 = await cipher.openMessage(RECORD, forged, { context: CONTEXT }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(UnknownSenderError);
    expect((e1 as UnknownSenderError).code).toBe('UNKNOWN_SENDER');
    const anonymous = await new HpkeSealer({ schema, recipients: publicKeys }).sealMessage(RECORD, exampleRecord(), { context: CONTEXT });
    await expect(cipher.openMessage(RECORD, anonymous, { context: CONTEXT })).rejects.toMatchObject({ code: 'UNKNOWN_SENDER', reason: 'sender-required' });
    const registered = await new HpkeSealer({ schema, recipients: publicKeys, sender: device }).sealMessage(RECORD, exampleRecord(), { context: CONTEXT });
    await expect(new FieldCipher({ schema, keys: x25519Keys() }).openMessage(RECORD, registered, { context: CONTEXT })).rejects.toBeInstanceOf(UnknownSenderError);
  });
});

describe('checkSealed (gateway) with alg 3/4', () => {
  it('accepts alg 3 and alg 4 envelopes, refuses a short one', async () => {
    const base = await new HpkeSealer({ schema, recipients: publicKeys }).sealMessage(RECORD, exampleRecord(), { context: CONTEXT });
    expect(checkSealed(schema, RECORD, base)).toBeGreaterThan(10);
    const auth = await new HpkeSealer({ schema, recipients: publicKeys, sender: generateX25519KeyPair() }).sealMessage(RECORD, exampleRecord(), { context: CONTEXT });
    expect(checkSealed(schema, RECORD, auth)).toBe(checkSealed(schema, RECORD, base));
    const short = { ...base, nationalId: encodeBase64url(decodeBase64url(base.nationalId).subarray(0, 53)) };
    expect(() => checkSealed(schema, RECORD, short)).toThrow(PlaintextInSensitiveFieldError);
    const shortAuth = { ...auth, blob: auth.blob.subarray(0, 85) };
    expect(() => checkSealed(schema, RECORD, shortAuth)).toThrow(PlaintextInSensitiveFieldError);
  });
});
