import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@fle/testkit';
import { describe, expect, it } from 'vitest';
import { ensureMasterKey, prepareStateDirs, stateLayout } from '../src/state-dir.js';

describe('state folder', () => {
  it('makes the master key once: 32 random bytes as hex, mode 0600; a second start keeps it', async () => {
    const layout = stateLayout(join(await tempDir(), 'home'));
    await prepareStateDirs(layout);
    expect(statSync(layout.home).mode & 0o777).toBe(0o700);
    expect(await ensureMasterKey(layout.masterKey)).toEqual({ created: true });
    const first = readFileSync(layout.masterKey, 'utf8');
    expect(first).toMatch(/^[0-9a-f]{64}\n$/);
    expect(statSync(layout.masterKey).mode & 0o777).toBe(0o600);
    expect(await ensureMasterKey(layout.masterKey)).toEqual({ created: false });
    expect(readFileSync(layout.masterKey, 'utf8')).toBe(first);
  });

  it('refuses a master key file others can read, without reading it into the message', async () => {
    const layout = stateLayout(join(await tempDir(), 'home'));
    await prepareStateDirs(layout);
    writeFileSync(layout.masterKey, `${'ab'.repeat(32)}\n`);
    chmodSync(layout.masterKey, 0o644);
    const err = await ensureMasterKey(layout.masterKey).then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).toContain('chmod 600');
    expect(err?.message).not.toContain('abab');
  });
});
