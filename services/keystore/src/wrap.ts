// Keys at rest are wrapped with ChaCha20-Poly1305 (RFC 8439, node:crypto)
// under a key derived from the master key. The AAD binds where a wrapped key
// belongs (tenant, ring, version, kind, alg), so a wrapped key copied to
// another ring or version in storage fails to unwrap instead of being served.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { SecretKey } from '@fle/field-crypto';
import { MasterKeyError } from './errors.js';
import type { KeyAlgByte, KeyKindName } from './model.js';
import { deriveFromMaster } from './master-key.js';

const NONCE = 12;
const TAG = 16;
const KEY = 32;
const KIND_CODE: Record<KeyKindName, number> = { symmetric: 1, x25519: 2 };

export interface WrapContext {
  tenant: string;
  ring: string;
  version: number;
  kind: KeyKindName;
  alg: KeyAlgByte;
}

/** "fle.keystore.v1.wrap" 0x00 || lp(tenant) || lp(ring) || u32be(version) || kind || alg */
export function wrapAad(ctx: WrapContext): Buffer {
  const lp = (s: string): Buffer => {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
  };
  const version = Buffer.alloc(4);
  version.writeUInt32BE(ctx.version);
  return Buffer.concat([
    Buffer.from('fle.keystore.v1.wrap\0', 'utf8'),
    lp(ctx.tenant),
    lp(ctx.ring),
    version,
    Buffer.from([KIND_CODE[ctx.kind], ctx.alg]),
  ]);
}

/** Wraps and unwraps keys under one master key. Holds only the derived wrapping key. */
export class KeyWrapper {
  readonly #kek: SecretKey;
  constructor(master: SecretKey) {
    this.#kek = new SecretKey(deriveFromMaster(master, 'wrap'));
  }

  /** base64(nonce || ciphertext || tag). */
  wrap(ctx: WrapContext, key: Uint8Array): string {
    if (key.length !== KEY) throw new TypeError(`key must be ${KEY} bytes, got ${key.length}`);
    const nonce = randomBytes(NONCE);
    const c = createCipheriv('chacha20-poly1305', this.#kek.exposeBytes(), nonce, { authTagLength: TAG });
    c.setAAD(wrapAad(ctx), { plaintextLength: key.length });
    const ct = Buffer.concat([c.update(key), c.final()]);
    return Buffer.concat([nonce, ct, c.getAuthTag()]).toString('base64');
  }

  /** Throws MasterKeyError (one message) when the bytes do not authenticate. */
  unwrap(ctx: WrapContext, wrapped: string): Uint8Array {
    const raw = Buffer.from(wrapped, 'base64');
    if (raw.length !== NONCE + KEY + TAG) throw new MasterKeyError(`wrapped key of ${ctx.tenant}/${ctx.ring} v${ctx.version} is malformed`);
    const d = createDecipheriv('chacha20-poly1305', this.#kek.exposeBytes(), raw.subarray(0, NONCE), { authTagLength: TAG });
    d.setAAD(wrapAad(ctx), { plaintextLength: KEY });
    d.setAuthTag(raw.subarray(NONCE + KEY));
    try {
      return new Uint8Array(Buffer.concat([d.update(raw.subarray(NONCE, NONCE + KEY)), d.final()]));
    } catch {
      throw new MasterKeyError(`wrapped key of ${ctx.tenant}/${ctx.ring} v${ctx.version} does not unwrap under this master key`);
    }
  }

  /**
   * Generates a fresh 32-byte secret and returns it wrapped; the raw bytes are
   * zeroed. For an x25519 ring it is the private key: any 32 random bytes are
   * a valid X25519 private key (RFC 7748 §5: clamped when used).
   */
  wrapFresh(ctx: WrapContext, rng: (n: number) => Uint8Array = randomBytes): string {
    const key = rng(KEY);
    try {
      return this.wrap(ctx, key);
    } finally {
      key.fill(0);
    }
  }
}
