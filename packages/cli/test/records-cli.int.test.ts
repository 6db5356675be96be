// `fle records rewrap` and `fle keys destroy --check-bucket` as real
// processes, against a real nats-server (mTLS, per-identity permissions,
// JetStream) and the real keystore: 10 000 records across two key versions,
// a writer updating some of them all along, the first rewrap SIGKILLed in the
// middle, a second run finishing the job. Every record ends under the
// primary, and no write of the writer is lost.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NatsConnection } from 'nats';
import { createKeystoreTestEnv, startKeystoreProcess, type KeystoreProcess, type KeystoreTestEnv } from '@fle/keystore/testing';
import { KeystoreAdminClient, KeystoreKeyProvider } from '@fle/keystore-client';
import { FLE_NATS_PERMISSIONS, kvBucket, natsInbox } from '@fle/nats-setup';
import { DEFAULT_IDENTITIES, type DevPki } from '@fle/pki';
import { decodeSealedRecord, envelopeUses, RecordConflictError, recordsUsingVersion, RecordStoreUnavailableError, scanBucket, SealedKv } from '@fle/records';
import { makeTestPki, startNats, type NatsHarness } from '@fle/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The neutral record schema of @fle/records' own tests (fletest.records.v1).
import { codecFor, Dossiers, dossier, FIXTURE_PROTO, schema, type Dossier } from '../../records/test/fixtures/schema.js';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '../bin/fle.mjs');
const BUCKET = 'fletest_rewrap';
const RECORDS = 10_000;
const TENANTS = ['ten-a', 'ten-b'] as const;
const KEY_TTL_MS = 200;

let pki: DevPki;
let nats: NatsHarness;
let env: KeystoreTestEnv;
let ks: KeystoreProcess;
let admin: KeystoreAdminClient;
let keys: KeystoreKeyProvider;
let nc: NatsConnection;
let store: SealedKv<Dossier>;

beforeAll(async () => {
  pki = await makeTestPki({ identities: [...DEFAULT_IDENTITIES, 'records-service'] });
  nats = await startNats({
    tls: pki,
    users: { ...FLE_NATS_PERMISSIONS, 'records-service': { publish: ['$JS.API.INFO', '$JS.API.STREAM.NAMES', ...kvBucket(BUCKET)], subscribe: [natsInbox('records-service')] } },
  });
  env = await createKeystoreTestEnv({
    pki,
    policy: {
      deny: ['spiffe://fle.local/gateway'],
      fetch: [{ identity: 'spiffe://fle.local/records-service', tenants: ['*'], rings: ['records'] }],
      admin: [{ identity: 'spiffe://fle.local/admin', tenants: ['*'] }],
    },
  });
  ks = await startKeystoreProcess(env);
  admin = new KeystoreAdminClient({ address: ks.address, tls: pki.files('admin') });
  for (const t of TENANTS) await admin.createKeyRing(t, 'records');
  keys = new KeystoreKeyProvider({ address: ks.address, tls: pki.files('records-service'), ttlMs: KEY_TTL_MS, refreshWindowMs: 0 });
  nc = await nats.connect('records-service');
  store = await SealedKv.open(nc.jetstream(), { bucket: BUCKET, type: Dossiers, schema, keys });
}, 120_000);

afterAll(async () => {
  keys?.close();
  admin?.close();
  await nats?.stop();
  await ks?.stop();
  env?.cleanup();
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** `fle ...` as its own process; `killWhen` sees stderr as it comes and may SIGKILL it. */
function fle(args: string[], killWhen?: (stderr: string) => boolean): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (killWhen?.(stderr) && child.exitCode === null) child.kill('SIGKILL');
    });
    child.once('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const connection = (): string[] => ['--certs-dir', pki.dir, '--nats', nats.urls.join(','), '--schema', FIXTURE_PROTO];
const rewrapArgs = (): string[] => ['records', 'rewrap', '--bucket', BUCKET, '--identity', 'records-service', '--keystore', ks.address, ...connection()];

const tenantOf = (i: number): string => (i % 2 === 0 ? 'ten-a' : 'ten-b');
const keyOf = (i: number): string => `${tenantOf(i)}.r${i}`;

async function promoteNext(): Promise<number> {
  let version = 0;
  for (const t of TENANTS) {
    const v = await admin.rotate(t, 'records');
    await admin.promote(t, 'records', v.version);
    version = v.version;
  }
  // staged rotation: writers seal under the new primary once their cache entry has expired
  await new Promise((r) => setTimeout(r, KEY_TTL_MS * 3));
  return version;
}

async function createRange(from: number, to: number): Promise<void> {
  for (let i = from; i < to; i += 200) {
    await Promise.all(Array.from({ length: Math.min(200, to - i) }, (_, j) => store.create(keyOf(i + j), dossier(tenantOf(i + j), i + j))));
  }
}

/** How many records hold an envelope under each key version (one walk of the bucket, headers only). */
async function recordsByVersion(): Promise<{ seen: number; byVersion: Map<number, number> }> {
  const byVersion = new Map<number, number>();
  let seen = 0;
  await scanBucket(nc.jetstream(), BUCKET, async (e) => {
    seen++;
    const { typeName, message } = decodeSealedRecord(e.value);
    for (const v of new Set(envelopeUses(schema, typeName, codecFor(typeName)!.decode(message)).map((u) => u.keyVersion))) {
      byVersion.set(v, (byVersion.get(v) ?? 0) + 1);
    }
  });
  return { seen, byVersion };
}

/** Read-modify-write of a few records, with revision checks, until stopped: the writes that succeeded are what must survive. */
function startWriter(keysToEdit: string[]): { stop(): Promise<Map<string, number>>; writes(): number } {
  const written = new Map<string, number>();
  let stopping = false;
  let count = 0;
  const one = async (key: string): Promise<void> => {
    for (;;) {
      const e = (await store.get(key))!;
      const edits = (e.value.edits ?? 0) + 1;
      try {
        await store.update(key, { ...e.value, edits, status: `edit ${edits}` }, e.revision);
      } catch (err) {
        if (err instanceof RecordConflictError) continue; // the rewrap (or a write of ours that timed out) wrote it meanwhile: read again
        if (!(err instanceof RecordStoreUnavailableError)) throw err;
        // timed out on a busy server: it may have landed; only this writer changes `edits`
        if ((await store.get(key))!.value.edits !== edits) continue;
      }
      written.set(key, edits);
      count++;
      return;
    }
  };
  const loops = [0, 1, 2].map(async (w) => {
    for (let n = 0; !stopping; n++) {
      const key = keysToEdit[(n * 3 + w) % keysToEdit.length]!;
      for (;;) {
        try {
          await one(key);
          break;
        } catch (err) {
          if (!(err instanceof RecordStoreUnavailableError)) throw err;
          await new Promise((r) => setTimeout(r, 200)); // a busy server: the same edit again
        }
      }
    }
  });
  return {
    writes: () => count,
    async stop() {
      stopping = true;
      await Promise.all(loops);
      return written;
    },
  };
}

describe('fle records rewrap', () => {
  it(
    'moves 10 000 records across two versions to the primary while a writer updates some; a SIGKILLed run is finished by the next; destroy is refused until then',
    async () => {
      const v1 = 1;
      await createRange(0, RECORDS / 2);
      const v2 = await promoteNext();
      await createRange(RECORDS / 2, RECORDS);
      const v3 = await promoteNext();
      expect((await recordsByVersion()).byVersion).toEqual(new Map([[v1, RECORDS / 2], [v2, RECORDS / 2]]));

      const writer = startWriter(Array.from({ length: 300 }, (_, i) => keyOf(i * 33)));

      // 1. killed in the middle of its work
      const rewrappedSoFar = (stderr: string): number => Number(/rewrapped (\d+)/.exec(stderr.split('\n').findLast((l) => l.includes('rewrapped')) ?? '')?.[1] ?? 0);
      const killed = await fle([...rewrapArgs(), '--concurrency', '2'], (stderr) => rewrappedSoFar(stderr) >= 300);
      expect(killed.signal).toBe('SIGKILL');
      const doneBeforeKill = rewrappedSoFar(killed.stderr);
      const afterKill = (await recordsByVersion()).byVersion;
      const left = (afterKill.get(v1) ?? 0) + (afterKill.get(v2) ?? 0);
      expect(left).toBeGreaterThan(0);
      expect(left).toBeLessThan(RECORDS);

      // 2. destroying v1 is refused while records still use it, saying how many
      const tenantAUsing = (await recordsUsingVersion({ js: nc.jetstream(), bucket: BUCKET, schema, codecFor, tenant: 'ten-a', ring: 'records', version: v1 })).using;
      const destroyArgs = ['keys', 'destroy', '--tenant', 'ten-a', '--ring', 'records', '--version', String(v1), '--yes', '--address', ks.address, '--check-bucket', BUCKET, '--nats-identity', 'records-service', ...connection()];
      expect(tenantAUsing).toBeGreaterThan(0);
      const refused = await fle(destroyArgs);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`refusing to destroy: ${tenantAUsing} record(s) in bucket ${BUCKET} still use ten-a/records v${v1}`);
      expect((await admin.listVersions('ten-a', 'records')).find((v) => v.version === v1)!.state).toBe('decrypt-only');

      // 3. the next run finishes the job
      const second = await fle([...rewrapArgs(), '--json']);
      expect(second.stderr).not.toMatch(/fle:/);
      expect(second.code).toBe(0);
      const summary = JSON.parse(second.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
      expect(summary).toMatchObject({ failed: 0, skipped: 0 });
      // records the writer rewrote after the run started are current and not looked at again
      expect(summary.seen).toBeLessThanOrEqual(RECORDS);
      expect(summary.seen).toBeGreaterThanOrEqual(RECORDS - 300); // the writer edits 300 keys
      expect(summary.rewrapped! + summary.current! + summary.deleted!).toBe(summary.seen);
      expect(summary.rewrapped).toBeLessThanOrEqual(RECORDS - doneBeforeKill); // the killed run's work was not done again

      const written = await writer.stop();
      expect(writer.writes()).toBeGreaterThan(0);

      // every record under the primary, every value intact, no write lost
      expect(await recordsByVersion()).toEqual({ seen: RECORDS, byVersion: new Map([[v3, RECORDS]]) });
      for (let i = 0; i < RECORDS; i += 1) {
        const key = keyOf(i);
        if (i % 7 !== 0 && !written.has(key)) continue; // every 7th record and every edited one are opened and compared
        const { value } = (await store.get(key))!;
        const edits = written.get(key) ?? 0;
        expect(value).toEqual({ ...dossier(tenantOf(i), i), edits, status: edits ? `edit ${edits}` : 'open' });
      }

      // 4. now destroying v1 passes the check (after it is disabled, as the keystore requires)
      await admin.disable('ten-a', 'records', v1);
      const destroyed = await fle(destroyArgs);
      expect(destroyed.stderr).toContain(`checked ${RECORDS} record(s) in bucket ${BUCKET}: none uses ten-a/records v${v1}`);
      expect(destroyed.code).toBe(0);
      expect(destroyed.stdout).toContain(`destroyed ten-a/records v${v1}`);
    },
    600_000,
  );
});
