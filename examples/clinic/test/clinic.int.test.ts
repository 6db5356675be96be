// The clinic example end to end, as its README runs it: `buf build` of the
// team's own proto, fle's gateway in front (one route over JetStream, one over
// core NATS), the clinic's own service with @fle/boundary embedded, a second
// process reading PatientAdmitted from JetStream, and the client SDK calling
// Admit — real nats-server (mTLS, per-identity users), real keystore, real
// mTLS gRPC. Nothing here is in fle's packages: only the team's proto,
// handler, processes and this test.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FleClient } from '@fle/client';
import { FieldCipher, compileSchema } from '@fle/field-crypto';
import { startGatewayProcess, type GatewayProcess } from '@fle/gateway/testing';
import { createKeystoreTestEnv, startKeystoreProcess, type KeystoreProcess, type KeystoreTestEnv } from '@fle/keystore/testing';
import { KeystoreAdminClient, KeystoreKeyProvider } from '@fle/keystore-client';
import { FLE_NATS_PERMISSIONS, streamConsumption, streamManagement, withKvBuckets, type NatsPermissions } from '@fle/nats-setup';
import { channelCredentials, type DevPki } from '@fle/pki';
import { loadSchema } from '@fle/schema';
import { startServiceProcess, type ServiceProcess } from '@fle/service-kit/testing';
import { makeTestPki, startNats, type NatsHarness } from '@fle/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMISSIONS_STREAM, ADMIT_METHOD } from '../src/schema.js';

const clinicDir = fileURLToPath(new URL('..', import.meta.url));
const buf = fileURLToPath(new URL('../../../node_modules/.bin/buf', import.meta.url));
const TENANT = 'stmary';
const GATEWAY_ID = 'spiffe://fle.local/gateway';

/** fle's NATS users, plus what the clinic's processes (identity `processor`) need for their own stream. */
function clinicUsers(): Record<string, NatsPermissions> {
  const users = withKvBuckets(FLE_NATS_PERMISSIONS, 'processor', ['fle_event_ids']);
  const p = users.processor!;
  const a = users.admin!;
  return {
    ...users,
    processor: { ...p, publish: [...p.publish, 'clinic.admissions.>', ...streamManagement(ADMISSIONS_STREAM), ...streamConsumption(ADMISSIONS_STREAM)] },
    // An operator reading the stream's stored messages (and holding none of the tenant's keys).
    admin: { ...a, publish: [...a.publish, '$JS.API.INFO', `$JS.API.STREAM.INFO.${ADMISSIONS_STREAM}`, `$JS.API.STREAM.MSG.GET.${ADMISSIONS_STREAM}`] },
  };
}

let dir: string;
let pki: DevPki;
let nats: NatsHarness;
let keystoreEnv: KeystoreTestEnv;
let keystore: KeystoreProcess;
let service: ServiceProcess;
let wards: ServiceProcess;
const gateways: Record<'jetstream' | 'nats', GatewayProcess | undefined> = { jetstream: undefined, nats: undefined };
const clients: FleClient[] = [];
let image: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fle-clinic-'));
  // Step 1 of the README: the team builds its schema.
  image = join(dir, 'schema.binpb');
  execFileSync(buf, ['build', '-o', image], { cwd: clinicDir, stdio: 'pipe' });

  pki = await makeTestPki();
  nats = await startNats({ tls: pki, users: clinicUsers() });
  keystoreEnv = await createKeystoreTestEnv({ pki });
  keystore = await startKeystoreProcess(keystoreEnv);
  const admin = new KeystoreAdminClient({ address: keystore.address, tls: pki.files('admin') });
  await admin.createKeyRing(TENANT, 'default');
  admin.close();

  const processConfig = () => ({
    schema: image,
    nats: { servers: nats.urls },
    identity: 'processor',
    tls: pki.files('processor'),
    keystore: { address: keystore.address },
  });
  service = await startServiceProcess({ name: 'clinic', mainPath: join(clinicDir, 'src/service.ts'), config: processConfig(), dir });
  wards = await startServiceProcess({ name: 'wards', mainPath: join(clinicDir, 'src/wards.ts'), config: processConfig(), dir });
  for (const transport of ['jetstream', 'nats'] as const) {
    gateways[transport] = await startGatewayProcess({
      pki, schema: { image }, natsUrls: nats.urls, allowedCallers: ['spiffe://fle.local/client'],
      routes: [{ method: ADMIT_METHOD, route: 'admit', transport }],
    });
  }
}, 180_000);

afterAll(async () => {
  for (const c of clients) c.close();
  for (const p of [gateways.jetstream, gateways.nats, wards, service, keystore]) await p?.stop().catch(() => undefined);
  await keystoreEnv?.cleanup();
  await nats?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function clientFor(transport: 'jetstream' | 'nats'): FleClient {
  const schema = loadSchema({ image });
  const keys = new KeystoreKeyProvider({ address: keystore.address, tls: pki.files('client') });
  const client = new FleClient({
    address: gateways[transport]!.address,
    schema,
    credentials: channelCredentials(pki.files('client'), { expectedServerIdentity: GATEWAY_ID }),
    cipher: new FieldCipher({ schema: compileSchema(schema), keys }),
  });
  clients.push(client);
  return client;
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the clinic example', () => {
  for (const transport of ['jetstream', 'nats'] as const) {
    it(`admits a patient through the gateway over ${transport === 'nats' ? 'core NATS' : 'JetStream'}, and the wards desk reads the sealed event`, async () => {
      const client = clientFor(transport);
      const patientName = `Ada Canary ${randomBytes(6).toString('hex')}`;
      const scan = randomBytes(2048);
      const ward = `W${transport.length}`;
      const { response } = await client.call(ADMIT_METHOD, { tenant: TENANT, patientName, scan, ward });
      // record_id came back sealed for the tenant; the client opened it.
      expect(response).toMatchObject({ tenant: TENANT });
      expect(String(response.recordId)).toMatch(/^adm-[0-9a-f]{16}$/);

      const digest = createHash('sha256').update(patientName).digest('hex').slice(0, 16);
      const line = await until('the wards desk to read PatientAdmitted', () =>
        wards.logs().split('\n').find((l) => l.includes(`patient=sha256:${digest}`)),
      );
      expect(line).toContain(`tenant=${TENANT} ward=${ward}`);
      expect(line).toContain(`id=${String(response.recordId)}`);
      // The patient's name is in no process's output: not the gateway's, the service's or the desk's.
      for (const p of [gateways.jetstream!, gateways.nats!, service, wards]) expect(p.logs()).not.toContain(patientName);
    }, 60_000);
  }

  it('keeps the admissions stream in ciphertext: what the broker stores holds no patient name', async () => {
    const nc = await nats.connect('admin');
    try {
      const jsm = await nc.jetstreamManager();
      const info = await jsm.streams.info(ADMISSIONS_STREAM);
      expect(info.state.messages).toBeGreaterThanOrEqual(2);
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
        const m = await jsm.streams.getMessage(ADMISSIONS_STREAM, { seq });
        const stored = Buffer.from(m.data).toString('latin1');
        expect(stored).not.toMatch(/Ada Canary/);
        expect(m.header.get('Fle-Event-Type')).toBe('clinic.v1.PatientAdmitted');
      }
    } finally {
      await nc.close();
    }
  });
});
