import { createCipheriv } from 'node:crypto';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { SecretKey } from '@fle/field-crypto';
import { describe, expect, it } from 'vitest';
import { MasterKeyError } from '../src/errors.js';
import { deriveFromMaster, masterKeyId } from '../src/master-key.js';
import { KeyWrapper, wrapAad, type WrapContext } from '../src/wrap.js';

const master = new SecretKey(new Uint8Array(32).fill(7));
const ctx: WrapContext = { tenant: 'acme', ring: 'pci', version: 3, kind: 'symmetric', alg: 1 };
const key = new Uint8Array(32).map((_, i) => i);

describe('key wrapping at rest', () => {
  it('round-trips and produces nonce || ct || tag (60 bytes)', () => {
    const w = new KeyWrapper(master);
    const wrapped = w.wrap(ctx, key);
    expect(Buffer.from(wrapped, 'base64')).toHaveLength(60);
    expect(w.unwrap(ctx, wrapped)).toEqual(key);
  });

  it('is plain RFC 8439 ChaCha20-Poly1305 under the HKDF-derived key (cross-checked with @noble/ciphers)', () => {
    const wrapped = Buffer.from(new KeyWrapper(master).wrap(ctx, key), 'base64');
    const kek = deriveFromMaster(master, 'wrap');
    const opened = chacha20poly1305(kek, wrapped.subarray(0, 12), wrapAad(ctx)).decrypt(wrapped.subarray(12));
    expect(opened).toEqual(key);
  });

  it.each([
    ['tenant', { ...ctx, tenant: 'other' }],
    ['ring', { ...ctx, ring: 'default' }],
    ['version', { ...ctx, version: 4 }],
    ['alg', { ...ctx, alg: 2 as const }],
  ])('a wrapped key moved to another %s does not unwrap', (_what, moved) => {
    const w = new KeyWrapper(master);
    expect(() => w.unwrap(moved, w.wrap(ctx, key))).toThrow(MasterKeyError);
  });

  it('another master key does not unwrap, and the error names no key bytes', () => {
    const wrapped = new KeyWrapper(master).wrap(ctx, key);
    const other = new KeyWrapper(new SecretKey(new Uint8Array(32).fill(8)));
    let message = '';
    try {
      other.unwrap(ctx, wrapped);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/does not unwrap under this master key/);
    expect(message).not.toContain(wrapped);
    expect(message).not.toContain(Buffer.from(key).toString('hex'));
  });

  it('uses a fresh nonce every time', () => {
    const w = new KeyWrapper(master);
    const nonces = new Set(Array.from({ length: 50 }, () => Buffer.from(w.wrap(ctx, key), 'base64').subarray(0, 12).toString('hex')));
    expect(nonces.size).toBe(50);
  });

  it('derives independent keys per purpose and a stable public id', () => {
    const a = Buffer.from(deriveFromMaster(master, 'wrap')).toString('hex');
    const b = Buffer.from(deriveFromMaster(master, 'backup')).toString('hex');
    expect(a).not.toBe(b);
    expect(masterKeyId(master)).toMatch(/^[0-9a-f]{16}$/);
    expect(masterKeyId(master)).toBe(masterKeyId(new SecretKey(new Uint8Array(32).fill(7))));
    expect(masterKeyId(master)).not.toBe(masterKeyId(new SecretKey(new Uint8Array(32).fill(8))));
    // the id is not a prefix of the key or of the wrapping key
    expect(Buffer.from(master.exposeBytes()).toString('hex')).not.toContain(masterKeyId(master));
  });

  it('the AAD layout is the documented one', () => {
    const aad = wrapAad({ tenant: 'a', ring: 'bc', version: 258, kind: 'symmetric', alg: 2 });
    expect(aad.toString('hex')).toBe(
      Buffer.concat([
        Buffer.from('fle.keystore.v1.wrap\0'),
        Buffer.from([0, 0, 0, 1]),
        Buffer.from('a'),
        Buffer.from([0, 0, 0, 2]),
        Buffer.from('bc'),
        Buffer.from([0, 0, 1, 2, 1, 2]),
      ]).toString('hex'),
    );
    // node:crypto and noble agree on this AAD (sanity of the construction)
    const c = createCipheriv('chacha20-poly1305', Buffer.alloc(32), Buffer.alloc(12), { authTagLength: 16 });
    c.setAAD(aad, { plaintextLength: 0 });
    c.final();
    expect(Buffer.from(chacha20poly1305(new Uint8Array(32), new Uint8Array(12), aad).encrypt(new Uint8Array(0)))).toEqual(c.getAuthTag());
  });
});
