// `kill -9` while the keystore is writing: every acknowledged write survives
// and the store still parses (file storage: temp file, fsync, rename, fsync dir).
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { KeystoreAdminClient, KeystoreKeyProvider } from '@fle/keystore-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStoreFile } from '../src/storage/file.js';
import { createKeystoreTestEnv, startKeystoreProcess, type KeystoreProcess, type KeystoreTestEnv } from '../src/testing.js';

let env: KeystoreTestEnv;
let ks: KeystoreProcess | undefined;
const closers: Array<{ close(): void }> = [];

beforeAll(async () => {
  env = await createKeystoreTestEnv();
});

afterAll(async () => {
  for (const c of closers) c.close();
  await ks?.stop();
  env?.cleanup();
});

/** What the admin was told succeeded, per ring: versions that exist and the last acknowledged primary. */
interface Acked {
  versions: number;
  primary: number;
}

describe('kill -9 during writes', () => {
  it('loses no acknowledged write and never corrupts the store', async () => {
    const acked = new Map<string, Acked>();
    ks = await startKeystoreProcess(env);
    const writer = new KeystoreAdminClient({ address: ks.address, tls: env.pki.files('admin'), rpcTimeoutMs: 2000, channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
    closers.push(writer);
    let stop = false;
    const worker = async (w: number): Promise<void> => {
      for (let i = 0; !stop && i < 10_000; i++) {
        const tenant = `w${w}n${i}`;
        try {
          await writer.createKeyRing(tenant, 'default');
          acked.set(tenant, { versions: 1, primary: 1 });
          for (let v = 2; v <= 3 && !stop; v++) {
            await writer.rotate(tenant, 'default');
            acked.get(tenant)!.versions = v;
            await writer.promote(tenant, 'default', v);
            acked.get(tenant)!.primary = v;
          }
        } catch {
          return; // the keystore died under us: this write was not acknowledged
        }
      }
    };
    const workers = [0, 1, 2, 3].map(worker);
    // SIGKILL at a random moment once writes are flowing (bounded wait for the first acknowledgements)
    const flowing = Date.now();
    while (acked.size < 3 && Date.now() - flowing < 10_000) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, Math.random() * 400));
    await ks.kill();
    stop = true;
    await Promise.all(workers);
    writer.close();
    expect(acked.size).toBeGreaterThan(0);

    // the store parses as a whole (readStoreFile validates every record)
    const contents = readStoreFile(env.storePath);
    expect(Object.keys(contents.rings).length).toBeGreaterThanOrEqual(acked.size);

    // restart: every acknowledged ring, version and promotion is there
    ks = await startKeystoreProcess(env);
    expect(readdirSync(dirname(env.storePath)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const admin = new KeystoreAdminClient({ address: ks.address, tls: env.pki.files('admin') });
    closers.push(admin);
    const rings = new Map((await admin.listRings()).map((r) => [r.tenant, r]));
    const keys = new KeystoreKeyProvider({ address: ks.address, tls: env.pki.files('processor') });
    closers.push(keys);
    for (const [tenant, a] of acked) {
      const ring = rings.get(tenant);
      expect(ring, tenant).toBeDefined();
      // the state may be one step ahead (committed, then killed before the answer), never behind
      expect(ring!.primaryVersion).toBeGreaterThanOrEqual(a.primary);
      const versions = await admin.listVersions(tenant, 'default');
      expect(versions.length).toBeGreaterThanOrEqual(a.versions);
      // and every key still unwraps under the master key
      expect((await keys.primaryKey({ tenant, ring: 'default' })).version).toBe(ring!.primaryVersion);
    }
  });
});
