// The real keystore process over real mTLS: who gets which key, and who gets
// no connection at all.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { UnknownKeyVersionError } from '@fle/field-crypto';
import { KeystoreAdminClient, KeystoreKeyProvider, KeystorePermissionDeniedError } from '@fle/keystore-client';
import { createDevPki, type DevPki } from '@fle/pki';
import { KeystoreServiceClient } from '@fle/schema/gen/fle/keystore/v1/keystore.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeystoreTestEnv, startKeystoreProcess, type KeystoreProcess, type KeystoreTestEnv } from '../src/testing.js';

let env: KeystoreTestEnv;
let ks: KeystoreProcess;
let otherPki: DevPki;
let admin: KeystoreAdminClient;
const closers: Array<{ close(): void }> = [];

const POLICY = {
  deny: ['spiffe://fle.local/gateway'],
  fetch: [
    { identity: 'spiffe://fle.local/processor', tenants: ['*'] },
    { identity: 'spiffe://fle.local/client', tenants: ['acme'], rings: ['default'] },
    // a wildcard that would include the gateway: the deny list still wins
    { identity: 'spiffe://fle.local/*', tenants: ['public'] },
  ],
  admin: [{ identity: 'spiffe://fle.local/admin', tenants: ['*'] }],
};

const RINGS = [
  ['acme', 'default'],
  ['acme', 'pci'],
  ['globex', 'default'],
  ['public', 'default'],
] as const;

function provider(name: string, files = env.pki.files(name)): KeystoreKeyProvider {
  const p = new KeystoreKeyProvider({ address: ks.address, tls: files, ttlMs: 60_000, negativeTtlMs: 0, channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
  closers.push(p);
  return p;
}

beforeAll(async () => {
  env = await createKeystoreTestEnv({ policy: POLICY });
  [ks, otherPki] = await Promise.all([startKeystoreProcess(env), createDevPki({ dir: join(env.dir, 'other-ca'), identities: ['processor'] })]);
  admin = new KeystoreAdminClient({ address: ks.address, tls: env.pki.files('admin') });
  closers.push(admin);
  for (const [t, r] of RINGS) await admin.createKeyRing(t, r);
  await admin.rotate('acme', 'default'); // v2 pending
});

afterAll(async () => {
  for (const c of closers) c.close();
  await ks?.stop();
  env?.cleanup();
});

describe('keystore policy over mTLS', () => {
  it('the gateway identity gets PERMISSION_DENIED for every key', async () => {
    const gw = provider('gateway');
    const attempts: Array<Promise<unknown>> = [];
    for (const [tenant, ring] of [...RINGS, ['nope', 'nope'] as const]) {
      attempts.push(gw.primaryKey({ tenant, ring }));
      for (const v of [1, 2, 3]) attempts.push(gw.keyVersion({ tenant, ring }, v));
    }
    const results = await Promise.allSettled(attempts);
    expect(results).toHaveLength(20);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(KeystorePermissionDeniedError);
    }
    const gwAdmin = new KeystoreAdminClient({ address: ks.address, tls: env.pki.files('gateway') });
    closers.push(gwAdmin);
    await expect(gwAdmin.listRings()).rejects.toMatchObject({ code: 'KEYSTORE_PERMISSION_DENIED' });
    await expect(gwAdmin.rotate('acme', 'default')).rejects.toMatchObject({ code: 'KEYSTORE_PERMISSION_DENIED' });
    const audit = (await env.readAudit()).filter((e) => e.identity === 'spiffe://fle.local/gateway');
    expect(audit.length).toBeGreaterThanOrEqual(22);
    expect(audit.every((e) => !e.allowed && e.outcome === 'PERMISSION_DENIED' && e.reason === 'identity is denied by policy')).toBe(true);
  });

  it('the processor gets every tenant; the client only what its rule names', async () => {
    const proc = provider('processor');
    for (const [tenant, ring] of RINGS) expect((await proc.primaryKey({ tenant, ring })).version).toBe(1);
    expect((await proc.keyVersion({ tenant: 'acme', ring: 'default' }, 2)).version).toBe(2); // pending: for openers
    expect((await proc.primaryKey({ tenant: 'acme', ring: 'default' })).version).toBe(1); // never sealed with
    const client = provider('client');
    const a = await client.primaryKey({ tenant: 'acme', ring: 'default' });
    expect(Buffer.from(a.key.exposeBytes())).toEqual(Buffer.from((await proc.primaryKey({ tenant: 'acme', ring: 'default' })).key.exposeBytes()));
    await expect(client.primaryKey({ tenant: 'acme', ring: 'pci' })).rejects.toBeInstanceOf(KeystorePermissionDeniedError);
    await expect(client.primaryKey({ tenant: 'globex', ring: 'default' })).rejects.toBeInstanceOf(KeystorePermissionDeniedError);
    expect((await client.primaryKey({ tenant: 'public', ring: 'default' })).version).toBe(1);
    await expect(proc.keyVersion({ tenant: 'acme', ring: 'default' }, 7)).rejects.toBeInstanceOf(UnknownKeyVersionError);
  });

  it('fetchers cannot administer; the audit log names who asked for what, never key bytes', async () => {
    const procAdmin = new KeystoreAdminClient({ address: ks.address, tls: env.pki.files('processor') });
    closers.push(procAdmin);
    await expect(procAdmin.createKeyRing('acme', 'new')).rejects.toMatchObject({ code: 'KEYSTORE_PERMISSION_DENIED' });
    const key = (await provider('processor').primaryKey({ tenant: 'globex', ring: 'default' })).key.exposeBytes();
    const text = readFileSync(env.auditLog, 'utf8');
    for (const enc of ['hex', 'base64', 'base64url'] as const) expect(text).not.toContain(Buffer.from(key).toString(enc));
    const entry = (await env.readAudit()).find((e) => e.identity === 'spiffe://fle.local/processor' && e.tenant === 'globex');
    expect(entry).toMatchObject({ action: 'GetPrimaryKey', ring: 'default', version: 1, allowed: true, outcome: 'OK' });
    expect(Object.keys(entry!).sort()).toEqual(['action', 'allowed', 'generation', 'identity', 'mac', 'outcome', 'prev', 'reason', 'ring', 'seq', 'tenant', 'time', 'version']);
  });

  it('invalid transitions are FAILED_PRECONDITION with a clear message', async () => {
    await expect(admin.rotate('acme', 'default')).rejects.toThrow(/FAILED_PRECONDITION: key ring acme\/default already has pending version 2/);
    await expect(admin.destroy('acme', 'default', 1)).rejects.toThrow(/FAILED_PRECONDITION: .*version 1 is primary: disable it before destroying it/);
    await expect(admin.disable('acme', 'default', 1)).rejects.toThrow(/promote another version before disabling it/);
  });

  it('a client certificate from another CA is refused', async () => {
    const stranger = provider('processor', { ...otherPki.files('processor'), ca: env.pki.caCert });
    await expect(stranger.primaryKey({ tenant: 'acme', ring: 'default' })).rejects.toMatchObject({ code: 'KEYSTORE_UNAVAILABLE' });
    expect((await env.readAudit()).some((e) => e.identity === null)).toBe(false); // never reached a handler
  });

  it('a connection without a client certificate is refused (gRPC and raw TLS)', async () => {
    const noCert = new KeystoreServiceClient(ks.address, grpc.credentials.createSsl(readFileSync(env.pki.caCert)), {
      'grpc.use_local_subchannel_pool': 1,
    });
    closers.push(noCert);
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      noCert.getPrimaryKey({ tenant: 'acme', ring: 'default' }, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (e) => resolve(e)),
    );
    expect(err?.code).toBe(grpc.status.UNAVAILABLE);
    // the TLS handshake itself fails: the server demands a certificate
    const outcome = await new Promise<string>((resolve) => {
      const sock = tlsConnect({ host: '127.0.0.1', port: ks.port, ca: readFileSync(env.pki.caCert), servername: 'localhost', ALPNProtocols: ['h2'] });
      sock.on('secureConnect', () => sock.once('data', () => resolve('data')).once('close', () => resolve('closed')));
      sock.on('error', (e: NodeJS.ErrnoException) => resolve(`error:${e.code ?? e.message}`));
      setTimeout(() => resolve('timeout'), 5000);
    });
    expect(outcome === 'closed' || outcome.startsWith('error:')).toBe(true);
    expect(outcome).not.toBe('timeout');
  });

  it('a client refuses a server whose certificate is not the keystore identity', async () => {
    // The processor certificate, same CA: TLS is fine, but it is not spiffe://fle.local/keystore.
    const p = new KeystoreKeyProvider({
      address: ks.address,
      tls: env.pki.files('processor'),
      expectedServerIdentity: 'spiffe://fle.local/processor',
      channelOptions: { 'grpc.use_local_subchannel_pool': 1 },
    });
    closers.push(p);
    await expect(p.primaryKey({ tenant: 'acme', ring: 'default' })).rejects.toMatchObject({ code: 'KEYSTORE_UNAVAILABLE' });
  });

  it('SIGHUP reloads the policy', async () => {
    const client = provider('client');
    await expect(client.primaryKey({ tenant: 'acme', ring: 'pci' })).rejects.toBeInstanceOf(KeystorePermissionDeniedError);
    env.writePolicy({ ...POLICY, fetch: [...POLICY.fetch, { identity: 'spiffe://fle.local/client', tenants: ['acme'], rings: ['pci'] }] });
    ks.child.kill('SIGHUP');
    const deadline = Date.now() + 5000;
    let got: number | undefined;
    while (got === undefined && Date.now() < deadline) {
      got = await client.primaryKey({ tenant: 'acme', ring: 'pci' }).then((m) => m.version, () => undefined);
      if (got === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    expect(got).toBe(1);
    env.writePolicy(POLICY);
    ks.child.kill('SIGHUP');
  });
});
