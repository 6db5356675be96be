// The master key: 32 bytes that wrap every key at rest (wrap.ts) and encrypt
// backups (backup.ts). Loaded from env FLE_MASTER_KEY (hex) or a file (hex
// text or 32 raw bytes). Never logged: it lives in a SecretKey, which redacts
// itself, and every error here names the source, never the value.
import { hkdfSync } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { SecretKey } from '@fle/field-crypto';
import { MasterKeyError } from './errors.js';

export const MASTER_KEY_ENV = 'FLE_MASTER_KEY';

/** Parses 64 hex characters (surrounding whitespace allowed). */
export function masterKeyFromHex(text: string, source: string): SecretKey {
  const hex = text.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new MasterKeyError(`${source}: master key must be 64 hex characters (32 bytes)`);
  return new SecretKey(Buffer.from(hex, 'hex'));
}

/**
 * Reads the master key file. Refuses a file that group or others can read, as
 * ssh does for private keys: a readable master key is a leaked master key.
 */
export function readMasterKeyFile(path: string): SecretKey {
  let raw: Buffer;
  try {
    const st = statSync(path);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw new MasterKeyError(`master key file ${path} is accessible by group or others (chmod 600 it)`);
    }
    raw = readFileSync(path);
  } catch (err) {
    if (err instanceof MasterKeyError) throw err;
    throw new MasterKeyError(`cannot read master key file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  try {
    if (raw.length === 32) return new SecretKey(raw);
    return masterKeyFromHex(raw.toString('latin1'), `master key file ${path}`);
  } finally {
    raw.fill(0);
  }
}

/**
 * The env var wins over the file (a container secret usually arrives as env).
 * The variable is removed from this process's environment once read, so child
 * processes never inherit it.
 */
export function loadMasterKey(opts: { file?: string | undefined; env?: NodeJS.ProcessEnv }): SecretKey {
  const env = opts.env ?? process.env;
  const fromEnv = env[MASTER_KEY_ENV];
  if (fromEnv !== undefined && fromEnv !== '') {
    delete env[MASTER_KEY_ENV];
    return masterKeyFromHex(fromEnv, `env ${MASTER_KEY_ENV}`);
  }
  if (!opts.file) throw new MasterKeyError(`no master key: set ${MASTER_KEY_ENV} or masterKeyFile in the config`);
  return readMasterKeyFile(opts.file);
}

const SALT = Buffer.from('fle.keystore.v1', 'utf8');

/**
 * Separate keys per purpose (HKDF-SHA256, RFC 5869): wrapping, backups, the key
 * id, authenticating ring records (record-auth.ts) and audit lines (audit.ts).
 */
export type MasterKeyPurpose = 'wrap' | 'backup' | 'key-id' | 'record' | 'audit';

export function deriveFromMaster(master: SecretKey, purpose: MasterKeyPurpose, length = 32): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', master.exposeBytes(), SALT, Buffer.from(purpose, 'utf8'), length));
}

/**
 * A public fingerprint of the master key (16 hex characters, HKDF output, not
 * invertible). Storage and backups record it so a wrong master key is reported
 * as such instead of as a decryption failure, and recombined shares are checked.
 */
export function masterKeyId(master: SecretKey): string {
  return Buffer.from(deriveFromMaster(master, 'key-id', 8)).toString('hex');
}
