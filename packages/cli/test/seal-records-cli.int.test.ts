// A keystore state folder written by an older fle (records without tags or
// generations, an audit log without a chain, as `npm start` left in .fle/data)
// does not start silently broken: the keystore refuses to start and names
// `fle keystore seal-records`, which tags the records once; then it serves
// the same keys, and the audit chain continues after the old lines.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { KeystoreAdminClient, KeystoreKeyProvider } from '@fle/keystore-client';
import { auditKeyFromMaster, masterKeyFromHex, verifyAuditFile } from '@fle/keystore';
import { createKeystoreTestEnv, startKeystoreProcess, type KeystoreProcess, type KeystoreTestEnv } from '@fle/keystore/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/main.js';

let env: KeystoreTestEnv;
let ks: KeystoreProcess | undefined;
const closers: Array<{ close(): void }> = [];

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

beforeAll(async () => {
  env = await createKeystoreTestEnv();
});

afterAll(async () => {
  for (const c of closers) c.close();
  await ks?.stop();
  env?.cleanup();
});

describe('a store from before authenticated records', () => {
  it('is refused at start with the command to run, sealed once by `fle keystore seal-records`, then served unchanged', { timeout: 240_000 }, async () => {
    ks = await startKeystoreProcess(env);
    const admin = new KeystoreAdminClient({ address: ks.address, tls: env.pki.files('admin') });
    closers.push(admin);
    await admin.createKeyRing('demo', 'default');
    await admin.createKeyRing('demo', 'pci');
    await admin.rotate('demo', 'pci');
    const before = new KeystoreKeyProvider({ address: ks.address, tls: env.pki.files('processor') });
    closers.push(before);
    const key = Buffer.from((await before.keyVersion({ tenant: 'demo', ring: 'pci' }, 2)).key.exposeBytes());
    await ks.stop();
    before.close();

    // What an older keystore left: bare records (no tag, no generation) and audit lines without a chain.
    const store = JSON.parse(readFileSync(env.storePath, 'utf8')) as { rings: Record<string, Record<string, unknown> & { record: Record<string, unknown> }> };
    for (const r of Object.values(store.rings)) {
      delete r.mac;
      delete r.prevRevision;
      delete r.record.generation;
    }
    writeFileSync(env.storePath, JSON.stringify(store));
    const oldLine = (action: string, ring: string): string =>
      JSON.stringify({ time: '2025-01-01T00:00:00.000Z', identity: 'spiffe://fle.local/admin', action, tenant: 'demo', ring, version: 1, allowed: true, reason: 'admin[0]', outcome: 'OK' });
    writeFileSync(env.auditLog, `${oldLine('CreateKeyRing', 'default')}\n${oldLine('CreateKeyRing', 'pci')}\n`);
    rmSync(`${env.auditLog}.checkpoint`); // older versions wrote none

    await expect(startKeystoreProcess(env)).rejects.toThrow(/written before records were authenticated: stop the keystore and run `fle keystore seal-records --config/);

    const sealed = await fle('keystore', 'seal-records', '--config', env.configPath);
    expect(sealed).toMatchObject({ code: 0, stderr: '' });
    expect(sealed.stdout).toBe('sealed demo/default (primary v1)\nsealed demo/pci (primary v1)\n');
    expect((await fle('keystore', 'seal-records', '--config', env.configPath)).stdout).toMatch(/^nothing to seal/);

    ks = await startKeystoreProcess(env);
    const after = new KeystoreKeyProvider({ address: ks.address, tls: env.pki.files('processor') });
    closers.push(after);
    expect(Buffer.from((await after.keyVersion({ tenant: 'demo', ring: 'pci' }, 2)).key.exposeBytes())).toEqual(key);
    expect((await after.primaryKey({ tenant: 'demo', ring: 'default' })).version).toBe(1);
    await ks.stop();

    const chain = await verifyAuditFile(env.auditLog, { macKey: auditKeyFromMaster(masterKeyFromHex(env.masterKeyHex, 'test')) });
    expect(chain).toMatchObject({ legacyLines: 2 });
    expect(chain.break).toBeUndefined();
    const sealLines = (await env.readAudit()).filter((e) => e.action === 'SealRecord');
    expect(sealLines.map((e) => [e.ring, e.generation])).toEqual([['default', 1], ['pci', 1]]);

    // The audit log now shows tagged records: stripping the tags again is not "an old store" any more.
    const again = JSON.parse(readFileSync(env.storePath, 'utf8')) as typeof store;
    for (const r of Object.values(again.rings)) delete r.mac;
    writeFileSync(env.storePath, JSON.stringify(again));
    const refused = await fle('keystore', 'seal-records', '--config', env.configPath);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/not sealing: the audit log shows authenticated records/);
  });
});
