// `fle keystore audit verify`: exit 0 on an intact chain, exit 1 naming the
// first break (line and what broke) on a removed, edited or reordered line.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileAuditLog, auditKeyFromMaster, masterKeyFromHex } from '@fle/keystore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/main.js';

const dir = mkdtempSync(join(tmpdir(), 'fle-audit-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const MASTER = '5a'.repeat(32);
const logPath = join(dir, 'audit.jsonl');
const configPath = join(dir, 'keystore.yaml');
let lines: string[];

async function fle(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  try {
    return { code: await main(['node', 'fle', ...args]), stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

function variant(name: string, ls: string[]): string {
  const p = join(dir, name);
  writeFileSync(p, `${ls.join('\n')}\n`);
  return p;
}

beforeAll(async () => {
  writeFileSync(join(dir, 'master.key'), `${MASTER}\n`, { mode: 0o600 });
  writeFileSync(
    configPath,
    ['tls: { ca: ca.pem, cert: ks.pem, key: ks-key.pem }', 'policyFile: policy.yaml', 'masterKeyFile: master.key', 'auditLog: audit.jsonl', ''].join('\n'),
  );
  const log = await FileAuditLog.open(logPath, { macKey: auditKeyFromMaster(masterKeyFromHex(MASTER, 'test')) });
  for (let i = 1; i <= 4; i++) {
    log.record({ identity: 'spiffe://fle.local/admin', action: 'RotateKeyRing', tenant: 'acme', ring: 'default', version: i, generation: i, allowed: true, reason: 'admin[0]', outcome: 'OK' });
  }
  log.close();
  lines = readFileSync(logPath, 'utf8').slice(0, -1).split('\n');
});

describe('fle keystore audit verify', () => {
  it('an intact log: exit 0, one line saying so; with --config the macs are checked too', async () => {
    const r = await fle('keystore', 'audit', 'verify', logPath);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^ok: .*audit\.jsonl: 4 line\(s\), chain intact up to seq 4 \(head [0-9a-f]{64}\); macs not checked/);
    const withKey = await fle('keystore', 'audit', 'verify', '--config', configPath);
    expect(withKey).toMatchObject({ code: 0, stderr: '' });
    expect(withKey.stdout).toMatch(/macs checked under the master key/);
    const json = await fle('keystore', 'audit', 'verify', logPath, '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, lines: 4, lastSeq: 4 });
  });

  it('a removed line: exit 1 and the line where the chain breaks', async () => {
    const p = variant('removed.jsonl', [lines[0]!, lines[1]!, lines[3]!]);
    const r = await fle('keystore', 'audit', 'verify', p);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^fle: audit log .*removed\.jsonl is broken at line 3: prev is not the hash of line 2: .*removed/);
  });

  it('an edited line: found by the chain, and by its mac with --config', async () => {
    const edited = [...lines];
    edited[1] = edited[1]!.replace('RotateKeyRing', 'ListKeyRings');
    const p = variant('edited.jsonl', edited);
    const r = await fle('keystore', 'audit', 'verify', p);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is broken at line 3: prev is not the hash of line 2: line 2 was edited/);
    const withKey = await fle('keystore', 'audit', 'verify', p, '--config', configPath);
    expect(withKey.code).toBe(1);
    expect(withKey.stderr).toMatch(/is broken at line 2: mac does not verify/);
  });

  it('reordered lines: exit 1', async () => {
    const p = variant('reordered.jsonl', [lines[0]!, lines[2]!, lines[1]!, lines[3]!]);
    const r = await fle('keystore', 'audit', 'verify', p, '--json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, break: { line: 2 } });
  });
});
