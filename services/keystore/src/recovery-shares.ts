// Recovery shares of the master key (DESIGN.md "Keys": losing the master key
// must not mean losing the data). Threshold secret sharing is the audited
// `shamir-secret-sharing` package; this file only gives shares a text form
// that names the master key they belong to and the threshold, so a wrong,
// mixed or corrupted set is refused instead of yielding a wrong key.
//
//   fle-share:v1:<master key id, 16 hex>:<threshold>:<share, hex>
import { combine, split } from 'shamir-secret-sharing';
import { SecretKey } from '@fle/field-crypto';
import { MasterKeyError } from './errors.js';
import { masterKeyId } from './master-key.js';

const PREFIX = 'fle-share:v1:';

export interface ParsedShare {
  keyId: string;
  threshold: number;
  bytes: Uint8Array;
}

/** N shares, any T of which rebuild the master key. 2 ≤ T ≤ N ≤ 255. */
export async function splitMasterKey(master: SecretKey, shares: number, threshold: number): Promise<string[]> {
  if (!Number.isInteger(shares) || !Number.isInteger(threshold) || threshold < 2 || shares < threshold || shares > 255) {
    throw new MasterKeyError('need 2 <= threshold <= shares <= 255');
  }
  const id = masterKeyId(master);
  const parts = await split(Uint8Array.from(master.exposeBytes()), shares, threshold);
  return parts.map((p) => `${PREFIX}${id}:${threshold}:${Buffer.from(p).toString('hex')}`);
}

export function parseShare(text: string): ParsedShare {
  const m = /^fle-share:v1:([0-9a-f]{16}):(\d{1,3}):([0-9a-f]{66})$/.exec(text.trim());
  if (!m) throw new MasterKeyError('not a fle recovery share (expected fle-share:v1:<id>:<threshold>:<hex>)');
  return { keyId: m[1]!, threshold: Number(m[2]), bytes: new Uint8Array(Buffer.from(m[3]!, 'hex')) };
}

/** Rebuilds the master key from at least T shares and checks it against the shares' key id. */
export async function combineShares(texts: string[]): Promise<SecretKey> {
  const shares = texts.map(parseShare);
  const first = shares[0];
  if (!first) throw new MasterKeyError('no recovery shares given');
  if (shares.some((s) => s.keyId !== first.keyId || s.threshold !== first.threshold)) {
    throw new MasterKeyError('recovery shares belong to different master keys');
  }
  const distinct = new Set(shares.map((s) => Buffer.from(s.bytes).toString('hex')));
  if (distinct.size < first.threshold) {
    throw new MasterKeyError(`need ${first.threshold} distinct recovery shares, got ${distinct.size}`);
  }
  const secret = await combine([...distinct].map((h) => new Uint8Array(Buffer.from(h, 'hex'))));
  const key = new SecretKey(secret);
  secret.fill(0);
  if (masterKeyId(key) !== first.keyId) {
    key.destroy();
    throw new MasterKeyError('recovery shares do not rebuild the master key they name (a share is wrong or corrupted)');
  }
  return key;
}
