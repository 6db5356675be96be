// deploy/docker/grpc-health-probe.mjs, the container health check, against a
// real grpc-js server with mutual TLS and grpc.health.v1: exit 0 only when the
// service says SERVING over a verified mTLS connection.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Server } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevPki, serverCredentials, type DevPki } from '@fle/pki';
import { repoPath } from './repo.js';

const run = promisify(execFile);
const probe = repoPath('deploy/docker/grpc-health-probe.mjs');
let root: string;
let pki: DevPki;
let other: DevPki;
let server: Server;
let port: number;
const health = new HealthImplementation({ '': 'SERVING' });

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fle-deploy-probe-'));
  pki = await createDevPki({ dir: join(root, 'pki'), identities: ['gateway', 'processor'] });
  other = await createDevPki({ dir: join(root, 'other'), identities: ['gateway'] });
  server = new Server();
  health.addToServer(server);
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', serverCredentials(pki.files('gateway')), (err, p) => (err ? reject(err) : resolve(p))),
  );
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  await rm(root, { recursive: true, force: true });
});

async function runProbe(files: { ca: string; cert: string; key: string }, extra: string[] = []): Promise<{ code: number; out: string }> {
  const args = [probe, '--addr', `localhost:${port}`, '--ca', files.ca, '--cert', files.cert, '--key', files.key, '--timeout-ms', '3000', ...extra];
  try {
    const { stdout } = await run(process.execPath, args);
    return { code: 0, out: stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, out: e.stdout };
  }
}

describe('grpc-health-probe.mjs', () => {
  it('exits 0 when the service is SERVING over mTLS (the container probes itself with its own certificate)', async () => {
    health.setStatus('', 'SERVING');
    expect(await runProbe(pki.files('gateway'))).toEqual({ code: 0, out: 'healthy: SERVING\n' });
  });

  it('exits 1 when the service reports NOT_SERVING', async () => {
    health.setStatus('', 'NOT_SERVING');
    const r = await runProbe(pki.files('gateway'));
    health.setStatus('', 'SERVING');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/unhealthy: status NOT_SERVING/);
  });

  it('exits 1 with a client certificate from another CA, and never prints key material', async () => {
    const r = await runProbe({ ca: pki.caCert, cert: other.cert('gateway'), key: other.key('gateway') });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^unhealthy: /);
    expect(r.out).not.toMatch(/PRIVATE KEY|BEGIN/);
  });

  it('exits 1 when nothing listens, and for an unknown service name', async () => {
    expect((await runProbe(pki.files('gateway'), ['--service', 'no.such.Service'])).code).toBe(1);
    const closed = await run(process.execPath, [probe, '--addr', 'localhost:1', '--ca', pki.caCert, '--cert', pki.cert('gateway'), '--key', pki.key('gateway'), '--timeout-ms', '1000']).catch((e: { code: number }) => e);
    expect((closed as { code: number }).code).toBe(1);
  });

  it('--tls-only completes an mTLS handshake (for a service without grpc.health.v1)', async () => {
    expect(await runProbe(pki.files('processor'), ['--tls-only'])).toEqual({ code: 0, out: 'healthy: mTLS handshake ok\n' });
    const wrongCa = await runProbe({ ca: other.caCert, cert: other.cert('gateway'), key: other.key('gateway') }, ['--tls-only']);
    expect(wrongCa.code).toBe(1);
  });

  it('refuses missing arguments', async () => {
    const r = await run(process.execPath, [probe, '--addr', 'localhost:1']).catch((e: { code: number; stdout: string }) => e);
    expect((r as { code: number }).code).toBe(1);
    expect((r as { stdout: string }).stdout).toMatch(/--ca is required/);
  });
});
