// What a hostile message can make openMessage spend (issue 17 items 3 and 6).
// - HPKE opens (alg 3/4) cost about 1.3-2.4 ms of CPU each: they were all
//   started at once, so a message of N junk alg 3 envelopes cost N opens. Now
//   they run HPKE_OPEN_BATCH at a time and the first failure ends the message.
// - No tenant probing: an unknown tenant (or key version) failed with
//   UNKNOWN_KEY_VERSION "unknown key version 1 for tenant X", a known tenant's
//   forged envelope with DECRYPTION_FAILED. Now both are the same
//   DecryptionError (code and message); the provider's error stays in `cause`.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  DecryptionError,
  encodeBase64url,
  encodeHpkeHeader,
  FieldCipher,
  generateX25519KeyPair,
  HPKE_BASE_ALG,
  HPKE_OPEN_BATCH,
  HpkeSealer,
  StaticKeyProvider,
  StaticRecipientKeys,
  UnknownKeyVersionError,
  type SenderPolicy,
} from '../src/mod.js';
import { exampleRecord, keyProvider, RECORD, schema, TENANT, type TestRecord } from './fixtures.js';

const CONTEXT = 'req/1767225600000/q83vEjRWeJq8PwAAAAAAAA';

/** A sender policy that requires no device and counts how many alg 3 opens were attempted (it is asked once per envelope, first). */
function countingSenders(): SenderPolicy & { asked: number } {
  const p = {
    asked: 0,
    deviceOf: () => undefined,
    requiresSender() {
      p.asked++;
      return false;
    },
  };
  return p;
}

/** A well-formed alg 3 envelope (header, enc, ciphertext and tag) that opens under no key. */
function junkHpke(keyVersion: number): string {
  return encodeBase64url(Uint8Array.from([...encodeHpkeHeader(HPKE_BASE_ALG, keyVersion), ...randomBytes(32 + 8 + 16)]));
}

describe('HPKE opens per message are bounded', () => {
  const pair = generateX25519KeyPair();
  const keys = new StaticKeyProvider([
    { tenant: TENANT, versions: [{ version: 2, key: pair.privateKey, alg: 3 }] },
    { tenant: TENANT, ring: 'pci', versions: [{ version: 2, key: pair.privateKey, alg: 3 }] },
  ]);
  const recipients = new StaticRecipientKeys([
    { tenant: TENANT, version: 2, publicKey: pair.publicKey },
    { tenant: TENANT, ring: 'pci', version: 2, publicKey: pair.publicKey },
  ]);

  it(`a message of 300 junk alg 3 envelopes attempts at most ${HPKE_OPEN_BATCH} opens, then fails at the first junk field`, async () => {
    const senders = countingSenders();
    const cipher = new FieldCipher({ schema, keys, hpke: { senders } });
    const junk: TestRecord = exampleRecord({ badge: undefined, nationalId: '', email: undefined, blob: new Uint8Array(0), lines: [], attributes: {}, addresses: Array.from({ length: 300 }, () => junkHpke(2)) });
    const err = (await cipher.openMessage(RECORD, junk, { context: CONTEXT }).catch((e: unknown) => e)) as DecryptionError;
    expect(err).toBeInstanceOf(DecryptionError);
    expect(err.fieldPath).toBe('8');
    expect(senders.asked).toBeGreaterThanOrEqual(1);
    expect(senders.asked).toBeLessThanOrEqual(HPKE_OPEN_BATCH);
  });

  it('one junk envelope among valid ones stops the opens at its batch', async () => {
    const senders = countingSenders();
    const cipher = new FieldCipher({ schema, keys, hpke: { senders } });
    const valid = await new HpkeSealer({ schema, recipients }).sealMessage(RECORD, exampleRecord({ addresses: Array.from({ length: 40 }, (_, i) => `street ${i}`) }), { context: CONTEXT });
    // The first value in field order (5.1) is junk: the first batch fails, no other starts.
    const err = (await cipher.openMessage(RECORD, { ...valid, badge: { ...valid.badge!, code: junkHpke(2) } }, { context: CONTEXT }).catch((e: unknown) => e)) as DecryptionError;
    expect(err).toBeInstanceOf(DecryptionError);
    expect(err.fieldPath).toBe('5.1');
    expect(senders.asked).toBeLessThanOrEqual(HPKE_OPEN_BATCH);
    // The same message without the junk opens every value.
    senders.asked = 0;
    expect((await cipher.openMessage(RECORD, valid, { context: CONTEXT })).addresses).toHaveLength(40);
    expect(senders.asked).toBeGreaterThan(40);
  });
});

describe('no tenant probing: an unknown tenant or key version fails as a forged envelope does', () => {
  const cipher = new FieldCipher({ schema, keys: keyProvider() });

  async function failure(message: TestRecord): Promise<DecryptionError> {
    const err = await cipher.openMessage(RECORD, message, { context: CONTEXT }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DecryptionError);
    return err as DecryptionError;
  }

  it('same error class, code and message for: unknown tenant, unknown key version, forged envelope', async () => {
    // Sealed by a tenant the keys do not know: every envelope names its key version 1.
    const ghost = await new FieldCipher({ schema, keys: keyProvider('ghost') }).sealMessage(RECORD, exampleRecord({ tenantId: 'ghost' }), { context: CONTEXT });
    const sealed = await cipher.sealMessage(RECORD, exampleRecord(), { context: CONTEXT });
    const pinOf = (version: number) => {
      const pin = Uint8Array.from(sealed.badge!.pin);
      pin[5] = version; // pci's key version 5 -> another one
      return pin;
    };
    const forged = Uint8Array.from(sealed.badge!.pin);
    forged[forged.length - 1]! ^= 1;
    const unknownTenant = await failure(ghost);
    const unknownVersion = await failure({ ...sealed, badge: { ...sealed.badge!, pin: pinOf(9) } });
    const forgedEnvelope = await failure({ ...sealed, badge: { ...sealed.badge!, pin: forged } });
    for (const e of [unknownTenant, unknownVersion, forgedEnvelope]) {
      expect(e.constructor).toBe(DecryptionError);
      expect(e.code).toBe('DECRYPTION_FAILED');
    }
    // Each names the first field its failure stops at, nothing about the tenant or the version.
    expect(unknownTenant.message).toBe('decryption failed (field 5.1)');
    expect(unknownVersion.message).toBe('decryption failed (field 5.5)');
    expect(forgedEnvelope.message).toBe('decryption failed (field 5.5)');
    for (const e of [unknownTenant, unknownVersion]) expect(JSON.stringify({ ...e, message: e.message })).not.toMatch(/ghost|version 9/);
    // The provider's answer is kept for server logs only.
    expect(unknownTenant.cause).toBeInstanceOf(UnknownKeyVersionError);
    expect((unknownTenant.cause as UnknownKeyVersionError).tenant).toBe('ghost');
    expect((unknownVersion.cause as UnknownKeyVersionError).version).toBe(9);
  });
});
