// HpkeSealer: the walk with public keys only (docs/envelope-hpke.md §4).
import { describe, expect, it } from 'vitest';
import { InvalidFieldValueError, MissingTenantError, UnknownKeyRingError } from '../src/errors.js';
import { openHpkeEnvelope, parseHpkeEnvelope } from '../src/hpke-envelope.js';
import { HpkeSealer, StaticRecipientKeys } from '../src/hpke-sealer.js';
import { generateX25519KeyPair } from '../src/hpke-suite.js';
import { decodeBase64url, encodeBase64url } from '../src/portable.js';
import { deepFreeze, exampleRecord, RECORD, schema } from './fixtures.js';

const CONTEXT = 'req/1767225600000/q83vEjRWeJq8PwAAAAAAAA';
const rings = { default: generateX25519KeyPair(), pci: generateX25519KeyPair() };
const recipients = new StaticRecipientKeys([
  { tenant: 'tenant-eu', version: 4, publicKey: rings.default.publicKey },
  { tenant: 'tenant-eu', ring: 'pci', version: 9, publicKey: encodeBase64url(rings.pci.publicKey) },
]);

async function opens(value: unknown, ring: 'default' | 'pci', fieldPath: string, context = CONTEXT): Promise<Uint8Array> {
  const bytes = typeof value === 'string' ? decodeBase64url(value) : (value as Uint8Array);
  return openHpkeEnvelope(bytes, {
    recipientPrivateKey: rings[ring].privateKey,
    binding: { tenant: 'tenant-eu', messageType: RECORD, fieldPath, context },
  });
}

describe('HpkeSealer', () => {
  it('seals every non-empty sensitive value of Record as alg 3 to its ring primary, at its path', async () => {
    const input = deepFreeze(exampleRecord());
    const before = structuredClone(input);
    const sealer = new HpkeSealer({ schema, recipients });
    const sealed = await sealer.sealMessage(RECORD, input, { context: CONTEXT });
    expect(input).toEqual(before);
    const header = (v: unknown) => parseHpkeEnvelope(typeof v === 'string' ? decodeBase64url(v) : (v as Uint8Array));
    expect(header(sealed.badge!.code)).toMatchObject({ alg: 3, keyVersion: 9 });
    expect(header(sealed.nationalId)).toMatchObject({ alg: 3, keyVersion: 4 });
    expect(new TextDecoder().decode(await opens(sealed.badge!.code, 'pci', '5.1'))).toBe('4111111111111111');
    expect(await opens(sealed.badge!.pin, 'pci', '5.5')).toEqual(Uint8Array.of(1, 2, 3));
    expect(new TextDecoder().decode(await opens(sealed.badge!.holder, 'default', '5.2'))).toBe('Zoë Ångström');
    expect(new TextDecoder().decode(await opens(sealed.attributes.ssn, 'default', '10[ssn]'))).toBe('078-05-1120');
    expect(new TextDecoder().decode(await opens(sealed.lines[0]!.note, 'default', '9.3'))).toBe('gift wrap');
    expect(new TextDecoder().decode(await opens(sealed.addresses[2], 'default', '8'))).toBe('2 High St 🏠');
    expect(await opens(sealed.blob, 'default', '7')).toEqual(input.blob);
    // Empty values stay empty, clear fields stay clear.
    expect(sealed.addresses[1]).toBe('');
    expect(sealed.lines[1]!.note).toBe('');
    expect(sealed.attributes.nothing).toBe('');
    expect(sealed.merchant).toBe('m-42');
    expect(sealed.labels).toEqual({ channel: 'web' });
    // The context is bound: another one does not open.
    await expect(opens(sealed.nationalId, 'default', '6', 'req/1/x')).rejects.toThrow('decryption failed');
  });

  it('with a device key pair seals alg 4 carrying the device public key', async () => {
    const device = generateX25519KeyPair();
    const sealed = await new HpkeSealer({ schema, recipients, sender: device }).sealMessage(RECORD, exampleRecord(), { context: CONTEXT });
    const env = parseHpkeEnvelope(decodeBase64url(sealed.nationalId));
    expect(env.alg).toBe(4);
    expect(env.senderPublicKey).toEqual(device.publicKey);
    expect(new TextDecoder().decode(await opens(sealed.nationalId, 'default', '6'))).toBe('123-45-6789');
  });

  it('fails clearly: no public key for a ring, no tenant, a value of the wrong type', async () => {
    const onlyDefault = new StaticRecipientKeys([{ tenant: 'tenant-eu', version: 1, publicKey: rings.default.publicKey }]);
    await expect(new HpkeSealer({ schema, recipients: onlyDefault }).sealMessage(RECORD, exampleRecord())).rejects.toBeInstanceOf(UnknownKeyRingError);
    const sealer = new HpkeSealer({ schema, recipients });
    await expect(sealer.sealMessage(RECORD, exampleRecord({ tenantId: '' }))).rejects.toBeInstanceOf(MissingTenantError);
    await expect(sealer.sealMessage(RECORD, exampleRecord({ nationalId: 42 as unknown as string }))).rejects.toBeInstanceOf(InvalidFieldValueError);
  });

  it('StaticRecipientKeys checks keys and versions', () => {
    expect(() => new StaticRecipientKeys([{ tenant: 't', version: 1, publicKey: new Uint8Array(31) }])).toThrow(/32 bytes/);
    expect(() => new StaticRecipientKeys([{ tenant: 't', version: 0, publicKey: rings.default.publicKey }])).toThrow(RangeError);
  });
});
