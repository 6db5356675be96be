// Envelope alg 3/4 (docs/envelope-hpke.md): what a decoder rejects before any
// key is used (§3), what fails authentication (§2, §5), and the sender policy.
import { describe, expect, it } from 'vitest';
import { DecryptionError, EnvelopeFormatError } from '../src/errors.js';
import {
  encodeHpkeHeader,
  hpkeMinimumLength,
  openHpkeEnvelope,
  parseHpkeEnvelope,
  sealHpkeEnvelope,
  type SealHpkeEnvelopeOptions,
} from '../src/hpke-envelope.js';
import { StaticSenderPolicy, UnknownSenderError } from '../src/hpke-senders.js';
import { HPKE_AUTH_ALG, HPKE_BASE_ALG } from '../src/envelope.js';
import { generateX25519KeyPair, x25519PublicKey, type HpkeKemImpl } from '../src/hpke-suite.js';
import { SecretKey } from '../src/key-provider.js';
import { encodeBase64url } from '../src/portable.js';
import { hex, utf8 } from './helpers.js';

const recipient = generateX25519KeyPair();
const device = generateX25519KeyPair();
const binding = { tenant: 'tenant-eu', messageType: 'fletest.v1.Record', fieldPath: '5.1', context: 'req/1767225600000/q83vEjRWeJq8PwAAAAAAAA' };
const plaintext = utf8('4111111111111111');

async function seal(opts: Partial<SealHpkeEnvelopeOptions> = {}): Promise<Uint8Array> {
  return sealHpkeEnvelope(plaintext, { recipientPublicKey: recipient.publicKey, keyVersion: 3, binding, ...opts });
}

describe('envelope alg 3/4', () => {
  for (const kem of ['noble', 'webcrypto'] as HpkeKemImpl[]) {
    it(`round-trips in base and auth mode (${kem}); a SecretKey works as the private key`, async () => {
      const base = await seal({ kem });
      expect(base[1]).toBe(HPKE_BASE_ALG);
      expect(base.length).toBe(hpkeMinimumLength(HPKE_BASE_ALG) + plaintext.length);
      expect(await openHpkeEnvelope(base, { recipientPrivateKey: new SecretKey(recipient.privateKey), binding, kem })).toEqual(plaintext);
      const auth = await seal({ kem, sender: device });
      expect(auth[1]).toBe(HPKE_AUTH_ALG);
      expect(hex(auth.subarray(6, 38))).toBe(hex(device.publicKey));
      expect(await openHpkeEnvelope(auth, { recipientPrivateKey: recipient.privateKey, binding, kem })).toEqual(plaintext);
    });
  }

  it('opens an envelope handed over as a Node Buffer view into a larger buffer (what protobuf decoders return)', async () => {
    const envelope = await seal({ sender: device });
    const pool = Buffer.concat([Buffer.alloc(100, 0xee), Buffer.from(envelope), Buffer.alloc(50, 0xdd)]);
    const view = pool.subarray(100, 100 + envelope.length);
    for (const kem of ['noble', 'webcrypto'] as HpkeKemImpl[]) {
      expect(await openHpkeEnvelope(view, { recipientPrivateKey: Buffer.from(recipient.privateKey), binding, kem })).toEqual(plaintext);
    }
    expect(pool.subarray(0, 100).every((b) => b === 0xee) && pool.subarray(100 + envelope.length).every((b) => b === 0xdd)).toBe(true);
  });

  it('uses a fresh ephemeral key for every envelope', async () => {
    const a = parseHpkeEnvelope(await seal());
    const b = parseHpkeEnvelope(await seal());
    expect(hex(a.enc)).not.toBe(hex(b.enc));
    expect(hex(a.ct)).not.toBe(hex(b.ct));
  });

  it('any changed byte fails: a header byte as a format error or authentication, every other byte as authentication', async () => {
    for (const sender of [undefined, device]) {
      const envelope = await seal(sender ? { sender } : {});
      for (let i = 0; i < envelope.length; i++) {
        const bad = envelope.slice();
        bad[i]! ^= 0x01;
        const attempt = openHpkeEnvelope(bad, { recipientPrivateKey: recipient.privateKey, binding, kem: 'webcrypto' });
        if (i <= 1) await expect(attempt).rejects.toBeInstanceOf(EnvelopeFormatError);
        else await expect(attempt).rejects.toBeInstanceOf(DecryptionError);
      }
    }
  });

  it('an envelope moved to another tenant, type, field or context, or opened with another key, fails with one opaque error', async () => {
    const envelope = await seal();
    const other = generateX25519KeyPair();
    const attempts = [
      () => openHpkeEnvelope(envelope, { recipientPrivateKey: recipient.privateKey, binding: { ...binding, tenant: 'tenant-us' } }),
      () => openHpkeEnvelope(envelope, { recipientPrivateKey: recipient.privateKey, binding: { ...binding, messageType: 'fletest.v1.Stored' } }),
      () => openHpkeEnvelope(envelope, { recipientPrivateKey: recipient.privateKey, binding: { ...binding, fieldPath: '6' } }),
      () => openHpkeEnvelope(envelope, { recipientPrivateKey: recipient.privateKey, binding: { ...binding, context: 'req/1767225600001/q83vEjRWeJq8PwAAAAAAAA' } }),
      () => openHpkeEnvelope(envelope, { recipientPrivateKey: other.privateKey, binding }),
    ];
    for (const attempt of attempts) {
      const err = await attempt().then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(DecryptionError);
      expect((err as Error).message).toBe('decryption failed');
    }
  });

  it('auth mode: another device key in the envelope, or the pkS stripped to pass as alg 3, fails authentication', async () => {
    const envelope = await seal({ sender: device });
    const swapped = envelope.slice();
    swapped.set(generateX25519KeyPair().publicKey, 6);
    await expect(openHpkeEnvelope(swapped, { recipientPrivateKey: recipient.privateKey, binding })).rejects.toBeInstanceOf(DecryptionError);
    const stripped = Uint8Array.from([...encodeHpkeHeader(HPKE_BASE_ALG, 3), ...envelope.subarray(38)]);
    await expect(openHpkeEnvelope(stripped, { recipientPrivateKey: recipient.privateKey, binding })).rejects.toBeInstanceOf(DecryptionError);
  });

  it('a low-order (all-zero) or otherwise bogus enc is a DecryptionError, not a crash', async () => {
    const envelope = await seal();
    for (const fill of [0x00, 0xff]) {
      const bad = envelope.slice();
      bad.fill(fill, 6, 38);
      await expect(openHpkeEnvelope(bad, { recipientPrivateKey: recipient.privateKey, binding })).rejects.toBeInstanceOf(DecryptionError);
    }
  });

  it('rejects, before any key is used: another version, another alg, key version 0, below the minimum length', async () => {
    const base = await seal();
    const auth = await seal({ sender: device });
    const cases: [string, Uint8Array][] = [
      ['version 2', Uint8Array.from([2, ...base.subarray(1)])],
      ['alg 1', Uint8Array.from([1, 1, ...base.subarray(2)])],
      ['alg 5', Uint8Array.from([1, 5, ...base.subarray(2)])],
      ['key version 0', Uint8Array.from([1, 3, 0, 0, 0, 0, ...base.subarray(6)])],
      ['alg 3, 53 bytes', base.subarray(0, 53)],
      ['alg 4, 85 bytes', auth.subarray(0, 85)],
      ['5 bytes', base.subarray(0, 5)],
    ];
    for (const [name, bytes] of cases) {
      expect(() => parseHpkeEnvelope(bytes, '5.1'), name).toThrow(EnvelopeFormatError);
    }
    expect(hpkeMinimumLength(HPKE_BASE_ALG)).toBe(54);
    expect(hpkeMinimumLength(HPKE_AUTH_ALG)).toBe(86);
    // Exactly the minimum parses (empty plaintext).
    const empty = await sealHpkeEnvelope(new Uint8Array(0), { recipientPublicKey: recipient.publicKey, keyVersion: 1, binding });
    expect(empty.length).toBe(54);
    expect(await openHpkeEnvelope(empty, { recipientPrivateKey: recipient.privateKey, binding })).toEqual(new Uint8Array(0));
  });

  it('checks its inputs: key lengths, key version range, header and sender agree', async () => {
    await expect(seal({ recipientPublicKey: new Uint8Array(31) })).rejects.toThrow(/recipient public key must be 32 bytes/);
    await expect(seal({ keyVersion: 0 })).rejects.toThrow(RangeError);
    await expect(seal({ keyVersion: 2 ** 32 })).rejects.toThrow(RangeError);
    await expect(seal({ sender: { privateKey: new Uint8Array(32), publicKey: new Uint8Array(3) } })).rejects.toThrow(/sender public key/);
    await expect(openHpkeEnvelope(await seal(), { recipientPrivateKey: new Uint8Array(16), binding })).rejects.toThrow(TypeError);
  });

  it('errors never hold key bytes or plaintext', async () => {
    const envelope = await seal();
    const err = await openHpkeEnvelope(envelope, { recipientPrivateKey: generateX25519KeyPair().privateKey, binding }).catch((e: Error) => e);
    const text = `${String(err)} ${JSON.stringify(err)}`;
    for (const secret of [recipient.privateKey, plaintext]) expect(text).not.toContain(hex(secret));
    expect(text).not.toContain('4111111111111111');
  });
});

describe('StaticSenderPolicy', () => {
  it('knows registered devices per tenant; a tenant with devices requires them by default', () => {
    const policy = new StaticSenderPolicy([
      { tenant: 'tenant-eu', id: 'ios-1', publicKey: device.publicKey },
      { tenant: 'tenant-eu', id: 'web-2', publicKey: encodeBase64url(x25519PublicKey(generateX25519KeyPair().privateKey)) },
    ]);
    expect(policy.deviceOf('tenant-eu', device.publicKey)).toBe('ios-1');
    expect(policy.deviceOf('tenant-us', device.publicKey)).toBeUndefined();
    expect(policy.deviceOf('tenant-eu', generateX25519KeyPair().publicKey)).toBeUndefined();
    expect(policy.requiresSender('tenant-eu')).toBe(true);
    expect(policy.requiresSender('tenant-us')).toBe(false);
    expect(new StaticSenderPolicy([{ tenant: 'tenant-eu', id: 'ios-1', publicKey: device.publicKey }], { requireForRegisteredTenants: false }).requiresSender('tenant-eu')).toBe(false);
  });

  it('refuses malformed registrations', () => {
    expect(() => new StaticSenderPolicy([{ tenant: 'a', id: 'x', publicKey: new Uint8Array(31) }])).toThrow(/32 bytes/);
    expect(() => new StaticSenderPolicy([{ tenant: '', id: 'x', publicKey: device.publicKey }])).toThrow(/tenant/);
    expect(() => new StaticSenderPolicy([{ tenant: 'a', id: 'x', publicKey: device.publicKey }, { tenant: 'a', id: 'y', publicKey: device.publicKey }])).toThrow(/twice/);
  });

  it('UnknownSenderError has a stable code and names the field, not the key', () => {
    const err = new UnknownSenderError('5.1', 'unregistered-device');
    expect(err.code).toBe('UNKNOWN_SENDER');
    expect(err.message).toContain('5.1');
    expect(err.message).not.toContain(hex(device.publicKey));
  });
});
