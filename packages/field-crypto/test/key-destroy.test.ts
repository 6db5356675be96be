// Keys die when destroyed (issue 18 item 6). SecretKey.destroy() used to zero
// the bytes and nothing else: a later seal went on under an all-zero key,
// without error, and exposeBytes() handed out the live array, so a reference
// kept by a caller survived destroy() as a zero key. Now every use throws
// KeyDestroyedError, the handed-out array is emptied (its buffer detached), and
// every backend refuses a key that is not 32 bytes instead of sealing under
// whatever the array holds.
import { describe, expect, it } from 'vitest';
import {
  decodeBase64url,
  DecryptionError,
  fastBackend,
  FieldCipher,
  HpkeSealer,
  generateX25519KeyPair,
  KeyDestroyedError,
  nativeBackend,
  nobleBackend,
  openEnvelope,
  sealEnvelope,
  SecretKey,
  sodiumReady,
  StaticKeyProvider,
  StaticRecipientKeys,
  type CipherBackend,
  type SymmetricAlg,
} from '../src/mod.js';
import { exampleRecord, RECORD, schema, TENANT } from './fixtures.js';
import { seq } from './helpers.js';

const binding = { tenant: TENANT, messageType: RECORD, fieldPath: '6', context: '' };
const backends: [string, CipherBackend][] = [['native', nativeBackend], ['noble', nobleBackend], ['fast', fastBackend]];

function providerWith(defaultKey: SecretKey, pciKey = new SecretKey(seq(32, 0x50))): StaticKeyProvider {
  return new StaticKeyProvider([
    { tenant: TENANT, versions: [{ version: 1, key: defaultKey }] },
    { tenant: TENANT, ring: 'pci', versions: [{ version: 5, key: pciKey, alg: 2 }] },
  ]);
}

describe('SecretKey.destroy()', () => {
  it('makes every use throw KeyDestroyedError: exposeBytes, sealMessage, openMessage', async () => {
    const key = new SecretKey(seq(32, 0x10));
    const cipher = new FieldCipher({ schema, keys: providerWith(key) });
    const sealed = await cipher.sealMessage(RECORD, exampleRecord());
    key.destroy();
    expect(key.destroyed).toBe(true);
    expect(() => key.exposeBytes()).toThrow(KeyDestroyedError);
    const err = (await cipher.sealMessage(RECORD, exampleRecord()).catch((e: unknown) => e)) as KeyDestroyedError;
    expect(err).toBeInstanceOf(KeyDestroyedError);
    expect(err.code).toBe('KEY_DESTROYED');
    await expect(cipher.openMessage(RECORD, sealed)).rejects.toBeInstanceOf(KeyDestroyedError);
    // Destroying twice is harmless.
    key.destroy();
  });

  it('empties the array exposeBytes() handed out before; every backend and sealEnvelope refuse it', async () => {
    expect(await sodiumReady).toBe(true);
    const key = new SecretKey(seq(32, 0x10));
    const kept = key.exposeBytes();
    expect(kept.length).toBe(32);
    key.destroy();
    expect(kept.length).toBe(0);
    for (const [name, backend] of backends) {
      for (const alg of [1, 2] as SymmetricAlg[]) {
        const nonce = new Uint8Array(alg === 1 ? 12 : 24);
        const out = new Uint8Array(16 + 3);
        expect(() => backend.seal(alg, kept, nonce, new Uint8Array(0), Uint8Array.of(1, 2, 3), out, 0), `${name} seal alg ${alg}`).toThrow(KeyDestroyedError);
        expect(out.every((b) => b === 0), `${name} wrote nothing`).toBe(true);
        expect(() => backend.open(alg, kept, nonce, new Uint8Array(0), new Uint8Array(19)), `${name} open alg ${alg}`).toThrow(KeyDestroyedError);
        if (backend.sealText) expect(() => backend.sealText!(alg, Uint8Array.of(1, alg, 0, 0, 0, 1), kept, new Uint8Array(0), 'x', () => nonce)).toThrow(KeyDestroyedError);
      }
      expect(() => sealEnvelope(Uint8Array.of(1), { backend, key: kept, keyVersion: 1, alg: 1, binding })).toThrow();
    }
  });

  it('a destroyed X25519 key opens nothing more', async () => {
    const pair = generateX25519KeyPair();
    const key = new SecretKey(pair.privateKey);
    const keys = new StaticKeyProvider([
      { tenant: TENANT, versions: [{ version: 1, key, alg: 3 }] },
      { tenant: TENANT, ring: 'pci', versions: [{ version: 1, key, alg: 3 }] },
    ]);
    const sealed = await new HpkeSealer({ schema, recipients: new StaticRecipientKeys([
      { tenant: TENANT, version: 1, publicKey: pair.publicKey },
      { tenant: TENANT, ring: 'pci', version: 1, publicKey: pair.publicKey },
    ]) }).sealMessage(RECORD, exampleRecord());
    const cipher = new FieldCipher({ schema, keys });
    expect(await cipher.openMessage(RECORD, sealed)).toEqual(exampleRecord());
    key.destroy();
    await expect(cipher.openMessage(RECORD, sealed)).rejects.toBeInstanceOf(KeyDestroyedError);
  });
});

describe('SecretKey.retire(): destroyed once no operation uses it', () => {
  it('destroys at once when unused, else when the last acquirer releases it', () => {
    const idle = new SecretKey(seq(32));
    idle.retire();
    expect(idle.destroyed).toBe(true);

    const busy = new SecretKey(seq(32));
    busy.acquire();
    busy.acquire();
    busy.retire();
    expect(busy.destroyed).toBe(false);
    expect(busy.exposeBytes().length).toBe(32);
    busy.release();
    expect(busy.destroyed).toBe(false);
    busy.release();
    expect(busy.destroyed).toBe(true);
    expect(() => busy.acquire()).toThrow(KeyDestroyedError);
  });

  it('FieldCipher holds the keys of a message for as long as it works on it: a retire meanwhile lands after', async () => {
    const pair = generateX25519KeyPair();
    const key = new SecretKey(pair.privateKey);
    const sym = new SecretKey(seq(32, 0x10));
    const keys = new StaticKeyProvider([
      { tenant: TENANT, versions: [{ version: 1, key: sym }] },
      { tenant: TENANT, ring: 'pci', versions: [{ version: 1, key, alg: 3 }] },
    ]);
    const cipher = new FieldCipher({ schema, keys });
    // HPKE seals and opens are asynchronous: the key is retired while they run.
    const sealing = cipher.sealMessage(RECORD, exampleRecord());
    key.retire();
    sym.retire();
    const sealed = await sealing;
    expect(key.destroyed).toBe(true);
    expect(sym.destroyed).toBe(true);
    expect(decodeBase64url(sealed.badge!.code)[1]).toBe(3);
    // The retired keys opened nothing after the seal released them.
    await expect(cipher.openMessage(RECORD, sealed)).rejects.toBeInstanceOf(KeyDestroyedError);
    expect(() => openEnvelope(decodeBase64url(sealed.nationalId), { backend: nativeBackend, key: seq(32), binding: { ...binding, fieldPath: '6' } })).toThrow(DecryptionError);
  });

  it('an open of many HPKE values (run in batches, across awaits) survives a retire of its key meanwhile', async () => {
    const pair = generateX25519KeyPair();
    const recipients = new StaticRecipientKeys([
      { tenant: TENANT, version: 1, publicKey: pair.publicKey },
      { tenant: TENANT, ring: 'pci', version: 1, publicKey: pair.publicKey },
    ]);
    const input = exampleRecord({ addresses: Array.from({ length: 12 }, (_, i) => `street ${i}`) });
    const sealed = await new HpkeSealer({ schema, recipients }).sealMessage(RECORD, input);
    const key = new SecretKey(pair.privateKey);
    const keys = new StaticKeyProvider([
      { tenant: TENANT, versions: [{ version: 1, key, alg: 3 }] },
      { tenant: TENANT, ring: 'pci', versions: [{ version: 1, key, alg: 3 }] },
    ]);
    const opening = new FieldCipher({ schema, keys }).openMessage(RECORD, sealed);
    // Retired while the opens run (a cache dropping the key): they finish, then the key dies.
    await new Promise((r) => setTimeout(r, 0));
    key.retire();
    expect(key.destroyed).toBe(false);
    expect(await opening).toEqual(input);
    expect(key.destroyed).toBe(true);
  });
});
