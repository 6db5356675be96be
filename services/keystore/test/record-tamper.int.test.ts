// Issue 18 item 4, the two attacks on the keystore's storage, against the real
// keystore process over mTLS, with the file backend and the NATS KV backend:
//   1. edit the stored record to make a disabled version primary;
//   2. put back an older copy of a record to bring back a destroyed version.
// Both must be refused (DATA_LOSS, an audit line), never served.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeystoreAdminClient, KeystoreKeyProvider } from '@fle/keystore-client';
import { createDevPki, type DevPki } from '@fle/pki';
import { startNats, type NatsHarness } from '@fle/testkit';
import type { KV, NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYSTORE_BUCKET } from '../src/storage/nats-kv.js';
import { createKeystoreTestEnv, startKeystoreProcess, type KeystoreProcess, type KeystoreTestEnv } from '../src/testing.js';

let root: string;
let pki: DevPki;
let nats: NatsHarness;
const closers: Array<{ close(): void }> = [];
const procs: KeystoreProcess[] = [];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'fle-tamper-'));
  pki = await createDevPki({ dir: join(root, 'certs') });
  nats = await startNats({ tls: pki, users: 'fle' });
});

afterAll(async () => {
  for (const c of closers) c.close();
  await Promise.all(procs.map((p) => p.stop()));
  await nats?.stop();
  rmSync(root, { recursive: true, force: true });
});

interface Versions {
  versions: Array<{ version: number; state: string }>;
}

/** The versions array of a stored ring, whatever wraps the record. */
function versionsOf(stored: { record?: Versions } & Partial<Versions>): Versions['versions'] {
  return (stored.record ?? (stored as Versions)).versions;
}

async function start(env: KeystoreTestEnv): Promise<{ ks: KeystoreProcess; admin: KeystoreAdminClient; keys: KeystoreKeyProvider }> {
  const ks = await startKeystoreProcess(env);
  procs.push(ks);
  const opts = { address: ks.address, channelOptions: { 'grpc.use_local_subchannel_pool': 1 } };
  const admin = new KeystoreAdminClient({ ...opts, tls: pki.files('admin') });
  const keys = new KeystoreKeyProvider({ ...opts, tls: pki.files('processor'), negativeTtlMs: 0 });
  closers.push(admin, keys);
  return { ks, admin, keys };
}

/** v1 disabled, v2 primary. */
async function disabledV1(admin: KeystoreAdminClient, tenant: string): Promise<void> {
  await admin.createKeyRing(tenant, 'default');
  await admin.rotate(tenant, 'default');
  await admin.promote(tenant, 'default', 2);
  await admin.disable(tenant, 'default', 1);
}

/** What every refusal looks like to a fetcher, and in the audit log. */
async function expectRefused(env: KeystoreTestEnv, fetch: Promise<unknown>, tenant: string, why: RegExp): Promise<void> {
  await expect(fetch).rejects.toMatchObject({ code: 'KEYSTORE_ERROR', message: expect.stringMatching(/DATA_LOSS/) });
  const audit = await env.readAudit();
  const refused = audit.filter((e) => e.tenant === tenant && e.outcome === 'DATA_LOSS');
  expect(refused.length).toBeGreaterThan(0);
  expect(refused.some((e) => why.test(e.reason))).toBe(true);
}

describe('file storage', () => {
  it('a disabled version marked primary in the store JSON is refused, not served', { timeout: 240_000 }, async () => {
    const env = await createKeystoreTestEnv({ dir: mkdtempSync(join(root, 'f1-')), pki });
    let { ks, admin, keys } = await start(env);
    await disabledV1(admin, 'acme');
    expect((await keys.primaryKey({ tenant: 'acme', ring: 'default' })).version).toBe(2);
    await ks.stop();

    const store = JSON.parse(readFileSync(env.storePath, 'utf8')) as { rings: Record<string, Versions> };
    const versions = versionsOf(store.rings['acme/default']!);
    versions[0]!.state = 'primary';
    versions[1]!.state = 'decrypt-only';
    writeFileSync(env.storePath, JSON.stringify(store));

    ({ ks, admin, keys } = await start(env));
    await expectRefused(env, keys.primaryKey({ tenant: 'acme', ring: 'default' }), 'acme', /integrity/);
    await expectRefused(env, keys.keyVersion({ tenant: 'acme', ring: 'default' }, 1), 'acme', /integrity/);
    await ks.stop();
  });

  it('an older copy of the store put back does not bring a destroyed version back', { timeout: 240_000 }, async () => {
    const env = await createKeystoreTestEnv({ dir: mkdtempSync(join(root, 'f2-')), pki });
    let { ks, admin, keys } = await start(env);
    await admin.createKeyRing('acme', 'default');
    await admin.rotate('acme', 'default');
    await admin.promote('acme', 'default', 2); // v1 decrypt-only: still served
    expect((await keys.keyVersion({ tenant: 'acme', ring: 'default' }, 1)).version).toBe(1);
    await ks.stop();
    const old = join(env.dir, 'old-keystore.json');
    copyFileSync(env.storePath, old);

    ({ ks, admin, keys } = await start(env));
    await admin.disable('acme', 'default', 1);
    await admin.destroy('acme', 'default', 1);
    await ks.stop();
    copyFileSync(old, env.storePath);

    ({ ks, admin, keys } = await start(env));
    await expectRefused(env, keys.keyVersion({ tenant: 'acme', ring: 'default' }, 1), 'acme', /older copy|behind/);
    await ks.stop();
  });
});

describe('NATS KV storage', () => {
  let nc: NatsConnection;
  let kv: KV;
  let env: KeystoreTestEnv;

  beforeAll(async () => {
    env = await createKeystoreTestEnv({
      dir: mkdtempSync(join(root, 'n-')),
      pki,
      storage: { kind: 'nats', url: nats.urls[0]!, tls: pki.files('keystore') },
    });
    nc = await nats.connect('keystore');
    closers.push({ close: () => void nc.close() });
  });

  it('a disabled version marked primary in the KV entry is refused, not served', { timeout: 240_000 }, async () => {
    const { ks, admin, keys } = await start(env);
    await disabledV1(admin, 'kvedit');
    kv = await nc.jetstream().views.kv(KEYSTORE_BUCKET, { bindOnly: true });
    const entry = await kv.get('ring.kvedit.default');
    const stored = JSON.parse(entry!.string()) as Versions;
    const versions = versionsOf(stored);
    versions[0]!.state = 'primary';
    versions[1]!.state = 'decrypt-only';
    await kv.put('ring.kvedit.default', JSON.stringify(stored));
    await expectRefused(env, keys.primaryKey({ tenant: 'kvedit', ring: 'default' }), 'kvedit', /integrity/);
    await ks.stop();
  });

  it('an older KV value put back does not bring a destroyed version back, in the running keystore or after a restart', { timeout: 240_000 }, async () => {
    let { ks, admin, keys } = await start(env);
    await admin.createKeyRing('kvold', 'default');
    await admin.rotate('kvold', 'default');
    await admin.promote('kvold', 'default', 2);
    kv = await nc.jetstream().views.kv(KEYSTORE_BUCKET, { bindOnly: true });
    const old = (await kv.get('ring.kvold.default'))!.value;
    await admin.disable('kvold', 'default', 1);
    await admin.destroy('kvold', 'default', 1);
    await kv.put('ring.kvold.default', old);
    await expectRefused(env, keys.keyVersion({ tenant: 'kvold', ring: 'default' }, 1), 'kvold', /older copy|behind/);
    await ks.stop();
    ({ ks, admin, keys } = await start(env));
    await expectRefused(env, keys.keyVersion({ tenant: 'kvold', ring: 'default' }, 1), 'kvold', /older copy|behind/);
    await ks.stop();
  });
});
