// One alg per key version (spec §4, amended): an encryptor seals with the alg
// of the version it uses, and a decryptor refuses, before any decryption, an
// envelope whose alg differs from that of the key version it names. Before,
// seal took `FieldCipherOptions.alg ?? material.alg` and open never compared,
// so an alg 2 version opened alg 1 (96-bit random nonce) envelopes.
import { describe, expect, it } from 'vitest';
import {
  decodeBase64url,
  DecryptionError,
  encodeBase64url,
  FieldCipher,
  KeyAlgMismatchError,
  nativeBackend,
  openEnvelope,
  parseEnvelope,
  sealEnvelope,
  StaticKeyProvider,
  type CipherBackend,
  type SymmetricAlg,
} from '../src/mod.js';
import { exampleRecord, KEYS, RECORD, schema, TENANT } from './fixtures.js';
import { seq } from './helpers.js';

const CONTEXT = 'req/1767225600000/q83vEjRWeJq8PwAAAAAAAA';

/** node:crypto, counting the decryptions it is asked for. */
function countingBackend(): CipherBackend & { opens: number } {
  const b = {
    name: 'counting',
    opens: 0,
    seal: nativeBackend.seal,
    open(...args: Parameters<CipherBackend['open']>) {
      b.opens++;
      return nativeBackend.open(...args);
    },
  };
  return b;
}

/** Ring `default` v1 and ring `pci` v5, both of the given alg, same keys as the fixtures. */
function keysOfAlg(alg: SymmetricAlg): StaticKeyProvider {
  return new StaticKeyProvider([
    { tenant: TENANT, versions: [{ version: 1, key: KEYS.default[1], alg }] },
    { tenant: TENANT, ring: 'pci', versions: [{ version: 5, key: KEYS.pci[5], alg }] },
  ]);
}

/** The national id (field 6, ring default, version 1) sealed with the version's key under `alg`, as a key holder could. */
function nationalIdUnder(alg: SymmetricAlg): string {
  const binding = { tenant: TENANT, messageType: RECORD, fieldPath: '6', context: CONTEXT };
  return encodeBase64url(sealEnvelope(new TextEncoder().encode('123-45-6789'), { backend: nativeBackend, key: KEYS.default[1], keyVersion: 1, alg, binding }));
}

describe('one alg per key version (spec §4)', () => {
  it.each([
    [2, 1],
    [1, 2],
  ] as const)('an alg %i version refuses an alg %i envelope before any decryption, as an opaque DECRYPTION_FAILED', async (versionAlg, envelopeAlg) => {
    const backend = countingBackend();
    const cipher = new FieldCipher({ schema, keys: keysOfAlg(versionAlg), backend });
    const sealed = await cipher.sealMessage(RECORD, exampleRecord(), { context: CONTEXT });
    // The envelope itself is authentic under the version's key: only its alg differs.
    const forged = nationalIdUnder(envelopeAlg);
    expect(openEnvelope(decodeBase64url(forged), { backend: nativeBackend, key: KEYS.default[1], binding: { tenant: TENANT, messageType: RECORD, fieldPath: '6', context: CONTEXT } })).toBeDefined();
    backend.opens = 0;
    const err = (await cipher.openMessage(RECORD, { ...sealed, nationalId: forged }, { context: CONTEXT }).catch((e: unknown) => e)) as KeyAlgMismatchError;
    expect(err).toBeInstanceOf(KeyAlgMismatchError);
    expect(err).toBeInstanceOf(DecryptionError);
    expect(err.code).toBe('DECRYPTION_FAILED');
    expect(err.message).toBe('decryption failed (field 6)');
    expect({ envelopeAlg: err.envelopeAlg, keyAlg: err.keyAlg }).toEqual({ envelopeAlg, keyAlg: versionAlg });
    expect(backend.opens).toBe(0);
  });

  it('the same message with envelopes of the version alg opens', async () => {
    const cipher = new FieldCipher({ schema, keys: keysOfAlg(2) });
    const sealed = await cipher.sealMessage(RECORD, exampleRecord(), { context: CONTEXT });
    expect(await cipher.openMessage(RECORD, { ...sealed, nationalId: nationalIdUnder(2) }, { context: CONTEXT })).toEqual(exampleRecord());
  });

  it('seals with the alg of each ring primary (alg 1 and alg 2 rings in one message)', async () => {
    const cipher = new FieldCipher({ schema, keys: new StaticKeyProvider([
      { tenant: TENANT, versions: [{ version: 1, key: KEYS.default[1], alg: 1 }] },
      { tenant: TENANT, ring: 'pci', versions: [{ version: 5, key: KEYS.pci[5], alg: 2 }] },
    ]) });
    const sealed = await cipher.sealMessage(RECORD, exampleRecord());
    expect(parseEnvelope(decodeBase64url(sealed.nationalId)).alg).toBe(1);
    expect(parseEnvelope(decodeBase64url(sealed.badge!.code)).alg).toBe(2);
    expect(parseEnvelope(sealed.badge!.pin).alg).toBe(2);
  });

  it('has no alg override: a FieldCipher given one is refused at construction (a version alone decides, spec §4)', () => {
    expect(() => new FieldCipher({ schema, keys: keysOfAlg(1), alg: 2 } as never)).toThrow(/alg/);
  });

  it('openEnvelope with the version alg refuses another alg before decryption', () => {
    const backend = countingBackend();
    const binding = { tenant: TENANT, messageType: RECORD, fieldPath: '6', context: CONTEXT };
    const env = decodeBase64url(nationalIdUnder(1));
    expect(() => openEnvelope(env, { backend, key: KEYS.default[1], binding, keyAlg: 2 })).toThrow(KeyAlgMismatchError);
    expect(backend.opens).toBe(0);
    expect(new TextDecoder().decode(openEnvelope(env, { backend, key: KEYS.default[1], binding, keyAlg: 1 }))).toBe('123-45-6789');
    expect(() => openEnvelope(env, { backend, key: seq(32), binding, keyAlg: 3 })).toThrow(KeyAlgMismatchError);
  });
});
