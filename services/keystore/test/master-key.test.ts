import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { MasterKeyError } from '../src/errors.js';
import { MASTER_KEY_ENV, loadMasterKey, readMasterKeyFile } from '../src/master-key.js';

const dir = mkdtempSync(join(tmpdir(), 'fle-mk-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const hex = 'ab'.repeat(32);

describe('master key loading', () => {
  it('reads hex text or 32 raw bytes from a 0600 file', () => {
    const p1 = join(dir, 'hex.key');
    writeFileSync(p1, `${hex}\n`, { mode: 0o600 });
    expect(Buffer.from(readMasterKeyFile(p1).exposeBytes()).toString('hex')).toBe(hex);
    const p2 = join(dir, 'raw.key');
    writeFileSync(p2, Buffer.alloc(32, 0xcd), { mode: 0o600 });
    expect(Buffer.from(readMasterKeyFile(p2).exposeBytes())).toEqual(Buffer.alloc(32, 0xcd));
  });

  it('refuses a file others can read', () => {
    const p = join(dir, 'open.key');
    writeFileSync(p, hex, { mode: 0o644 });
    expect(() => readMasterKeyFile(p)).toThrow(/accessible by group or others/);
  });

  it('refuses malformed content without echoing it', () => {
    const p = join(dir, 'bad.key');
    writeFileSync(p, 'deadbeef-not-a-key', { mode: 0o600 });
    let message = '';
    try {
      readMasterKeyFile(p);
    } catch (err) {
      expect(err).toBeInstanceOf(MasterKeyError);
      message = (err as Error).message;
    }
    expect(message).toMatch(/64 hex characters/);
    expect(message).not.toContain('deadbeef');
  });

  it('prefers env FLE_MASTER_KEY and removes it from the environment', () => {
    const env: NodeJS.ProcessEnv = { [MASTER_KEY_ENV]: 'cd'.repeat(32) };
    const key = loadMasterKey({ file: join(dir, 'missing.key'), env });
    expect(Buffer.from(key.exposeBytes()).toString('hex')).toBe('cd'.repeat(32));
    expect(env[MASTER_KEY_ENV]).toBeUndefined();
  });

  it('says where a key should come from when there is none', () => {
    expect(() => loadMasterKey({ env: {} })).toThrow(/set FLE_MASTER_KEY or masterKeyFile/);
  });

  it('never shows the key when logged', () => {
    const key = loadMasterKey({ env: { [MASTER_KEY_ENV]: hex } });
    expect(inspect(key)).not.toContain('ab');
    expect(JSON.stringify({ key })).not.toContain('abab');
    expect(String(key)).toBe('SecretKey(<redacted>)');
  });
});
