// X25519 rings without transport: kind/alg rules, public keys derived from the
// wrapped private key, the wrap AAD binding the kind, and the `fetch-public` policy.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { SecretKey } from '@fle/field-crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, InvalidTransitionError, MasterKeyError, StorageError } from '../src/errors.js';
import { Keystore } from '../src/keystore.js';
import { masterKeyId } from '../src/master-key.js';
import { assertRingRecord, type KeyRingRecord } from '../src/model.js';
import { Policy } from '../src/policy.js';
import { FileKeyStorage } from '../src/storage/file.js';
import { KeyWrapper } from '../src/wrap.js';
import { x25519PublicKeyOf } from '../src/x25519.js';

const root = mkdtempSync(join(tmpdir(), 'fle-ks-x25519-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const master = (): SecretKey => new SecretKey(new Uint8Array(32).fill(7));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** pk(sk) another way: OpenSSL's JWK export of the key pair (the keystore reads the SPKI). */
function jwkPublicKey(sk: Uint8Array): string {
  const der = Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), sk]);
  return Buffer.from(createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({ format: 'jwk' }).x!, 'base64url').toString('hex');
}

async function open(): Promise<{ ks: Keystore; storage: FileKeyStorage; path: string }> {
  const path = join(root, `k${n++}`, 'keystore.json');
  const storage = FileKeyStorage.open(path);
  await storage.init(masterKeyId(master()));
  return { ks: new Keystore({ storage, masterKey: master() }), storage, path };
}

describe('x25519 key rings', () => {
  it('hold key pairs: private key for fetch, public key of the primary for clients, derived not stored', async () => {
    const { ks, storage, path } = await open();
    const v1 = await ks.createRing('acme', 'default', { kind: 'x25519' });
    expect(v1).toMatchObject({ kind: 'x25519', alg: 3, version: 1, state: 'primary' });
    const m = await ks.primaryKey('acme', 'default');
    expect(m.publicKey).toHaveLength(32);
    expect(hex(m.publicKey!)).toBe(jwkPublicKey(m.key.exposeBytes()));
    const pub = await ks.publicKey('acme', 'default');
    expect(pub.info).toMatchObject({ version: 1, state: 'primary', kind: 'x25519' });
    expect(hex(pub.publicKey)).toBe(hex(m.publicKey!));
    await ks.rotate('acme', 'default');
    expect((await ks.publicKey('acme', 'default')).info.version).toBe(1);
    await ks.promote('acme', 'default', 2);
    expect((await ks.publicKey('acme', 'default')).info.version).toBe(2);
    expect(readFileSync(path, 'utf8')).not.toContain(hex(pub.publicKey));
    await storage.close();
  });

  it('kind and alg must agree; a symmetric ring has no public key', async () => {
    const { ks, storage } = await open();
    await expect(ks.createRing('acme', 'a', { kind: 'x25519', alg: 1 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(ks.createRing('acme', 'b', { kind: 'symmetric', alg: 3 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await ks.createRing('acme', 'sym');
    await expect(ks.publicKey('acme', 'sym')).rejects.toBeInstanceOf(InvalidTransitionError);
    await storage.close();
  });

  it('the wrap AAD binds the kind: an x25519 private key moved into a symmetric ring does not unwrap', () => {
    const w = new KeyWrapper(master());
    const wrapped = w.wrap({ tenant: 'acme', ring: 'r', version: 1, kind: 'x25519', alg: 3 }, new Uint8Array(32).fill(1));
    expect(w.unwrap({ tenant: 'acme', ring: 'r', version: 1, kind: 'x25519', alg: 3 }, wrapped)).toEqual(new Uint8Array(32).fill(1));
    expect(() => w.unwrap({ tenant: 'acme', ring: 'r', version: 1, kind: 'symmetric', alg: 1 }, wrapped)).toThrow(MasterKeyError);
  });

  it('stored records are checked: kind x25519 needs alg 3, symmetric alg 1 or 2', async () => {
    const base = { tenant: 'acme', ring: 'r', createdAt: 1, generation: 1, versions: [{ version: 1, state: 'primary', createdAt: 1, stateChangedAt: 1, wrapped: 'AA==' }] };
    expect(() => assertRingRecord({ ...base, kind: 'x25519', alg: 3 })).not.toThrow();
    expect(() => assertRingRecord({ ...base, kind: 'x25519', alg: 1 })).toThrow(/alg/);
    expect(() => assertRingRecord({ ...base, kind: 'symmetric', alg: 3 })).toThrow(/alg/);
    expect(() => assertRingRecord({ ...base, kind: 'rsa', alg: 1 })).toThrow(/kind/);
    // A store whose record is not valid is refused, not half-used.
    const path = join(root, 'bad', 'keystore.json');
    const bad: KeyRingRecord = { ...base, kind: 'x25519', alg: 1 } as unknown as KeyRingRecord;
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, JSON.stringify({ format: 'fle-keystore-file/v1', masterKeyId: null, rings: { 'acme/r': { record: bad, revision: 1 } } }));
    expect(() => FileKeyStorage.openReadOnly(path)).toThrow(StorageError);
  });

  it('x25519PublicKeyOf gives RFC 7748 §6.1 public keys and refuses other lengths', () => {
    const alice = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex');
    const bob = Buffer.from('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb', 'hex');
    expect(hex(x25519PublicKeyOf(alice))).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(hex(x25519PublicKeyOf(bob))).toBe('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    expect(() => x25519PublicKeyOf(new Uint8Array(31))).toThrow(TypeError);
  });
});

describe('policy fetch-public', () => {
  const policy = Policy.fromYaml(`
deny: [spiffe://fle.local/gateway]
fetch:
  - { identity: spiffe://fle.local/processor, tenants: ["*"] }
fetch-public:
  - { identity: spiffe://fle.local/client, tenants: [acme], rings: [default] }
  - { identity: "*", tenants: [shared] }
`);

  it('names identities that get public keys only; fetch implies fetch-public; deny still wins', () => {
    expect(policy.decide('spiffe://fle.local/client', 'fetch-public', 'acme', 'default')).toEqual({ allowed: true, reason: 'fetch-public[0]' });
    expect(policy.decide('spiffe://fle.local/client', 'fetch', 'acme', 'default').allowed).toBe(false);
    expect(policy.decide('spiffe://fle.local/client', 'fetch-public', 'acme', 'pci').allowed).toBe(false);
    expect(policy.decide('spiffe://fle.local/processor', 'fetch-public', 'acme', 'pci')).toEqual({ allowed: true, reason: 'fetch[0]' });
    expect(policy.decide('spiffe://fle.local/gateway', 'fetch-public', 'shared', 'default').allowed).toBe(false);
    expect(policy.decide('spiffe://fle.local/anyone', 'fetch-public', 'shared', 'default').allowed).toBe(true);
    expect(policy.decide('spiffe://fle.local/anyone', 'admin', 'shared', 'default').allowed).toBe(false);
  });

  it('rejects malformed fetch-public rules', () => {
    expect(() => Policy.fromYaml('fetch-public: [{ identity: x }]')).toThrow(/tenants/);
    expect(() => Policy.fromYaml('fetch-publik: []')).toThrow(/unknown key/);
  });
});
