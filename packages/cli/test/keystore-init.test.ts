// `fle keystore init | split-master | backup | restore` without a running keystore:
// master key creation, share files, and restoring from share files.
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { main } from '../src/main.js';

const dir = mkdtempSync(join(tmpdir(), 'fle-cli-ks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function fle(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((c: string | Uint8Array) => ((stdout += String(c)), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => ((stderr += String(c)), true)) as typeof process.stderr.write;
  try {
    return { code: await main(['node', 'fle', ...args]), stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

function config(name: string): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(
    path,
    stringify({
      tls: { ca: 'certs/ca.pem', cert: 'certs/keystore.pem', key: 'certs/keystore-key.pem' },
      policyFile: 'policy.yaml',
      masterKeyFile: `${name}/master.key`,
      auditLog: `${name}/audit.jsonl`,
      storage: { kind: 'file', path: `${name}/data/keystore.json` },
    }),
  );
  return path;
}

describe('fle keystore init / split-master / restore from share files', () => {
  it('creates a 0600 master key once, writes shares as 0600 files, and restores from any T of them', async () => {
    const a = config('a');
    const init = await fle('keystore', 'init', '--config', a, '--shares', '3', '--threshold', '2', '--out-dir', join(dir, 'shares'));
    expect(init.code).toBe(0);
    const keyFile = join(dir, 'a/master.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const hex = readFileSync(keyFile, 'utf8').trim();
    expect(hex).toMatch(/^[0-9a-f]{64}$/);
    expect(init.stdout).not.toContain(hex);
    expect(init.stdout).toMatch(/^created master key .*master\.key \(id [0-9a-f]{16}\)\nwrote .*share-1\.txt\nwrote .*share-2\.txt\nwrote .*share-3\.txt\n$/);
    expect(readdirSync(join(dir, 'shares')).map((f) => statSync(join(dir, 'shares', f)).mode & 0o777)).toEqual([0o600, 0o600, 0o600]);

    const again = await fle('keystore', 'init', '--config', a, '--json');
    expect(JSON.parse(again.stdout)).toMatchObject({ created: false });
    expect(readFileSync(keyFile, 'utf8').trim()).toBe(hex);

    // a backup of a store that has never been served
    const backup = join(dir, 'backup.json');
    expect(JSON.parse((await fle('keystore', 'backup', '--config', a, '--out', backup, '--json')).stdout)).toMatchObject({ rings: 0 });

    // restore elsewhere from two share files
    const b = config('b');
    const r = await fle('keystore', 'restore', '--config', b, '--backup', backup, '--share-file', join(dir, 'shares/share-3.txt'), '--share-file', join(dir, 'shares/share-1.txt'));
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(readFileSync(join(dir, 'b/master.key'), 'utf8').trim()).toBe(hex);

    // a config whose master key file holds another key is left alone
    const c = config('c');
    await fle('keystore', 'init', '--config', c);
    const clash = await fle('keystore', 'restore', '--config', c, '--backup', backup, '--share-file', join(dir, 'shares/share-2.txt'), '--share-file', join(dir, 'shares/share-1.txt'));
    expect(clash.code).toBe(1);
    expect(clash.stderr).toMatch(/holds another master key/);
  });

  it('split-master refuses a threshold above the share count and prints nothing secret on error', async () => {
    const a = config('d');
    await fle('keystore', 'init', '--config', a);
    const r = await fle('keystore', 'split-master', '--config', a, '--shares', '2', '--threshold', '3');
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(/threshold <= shares/);
  });
});
