// Issue 5 items 1 and 2 against the real processes `npm start` runs (the
// devstack, in process, on random ports and a temp state folder):
// - every listener of every link refuses plaintext, a client without a
//   certificate, and a certificate from another CA; an identity outside its
//   permissions is refused by each service and by NATS;
// - gateway, processor and keystore serve a rotated certificate to new
//   connections without a restart, and the stack keeps working across it;
// - a nats.js connection (the services' NATS client, configured with file
//   paths by natsTlsOptions) reads the files again at every reconnect.
import { X509Certificate } from 'node:crypto';
import { cpSync, readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { connect, Events, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemo, demoTargetFromStack, settingsFromEnv, startStack, type RunningStack } from '@fle/devstack';
import { PAYMENTS_API } from '@fle-examples/payments/schema';
import { KeystoreKeyProvider } from '@fle/keystore-client';
import { natsInboxPrefix } from '@fle/nats-setup';
import { channelCredentials, createDevPki, issueIdentity, natsTlsOptions, pkiPaths, spiffeId, type DevPki, type TlsFiles } from '@fle/pki';
import { makeTestPki, startNats, tempDir } from '@fle/testkit';
import { alive } from './support/start-process.js';

const AUTHORIZE = '/acme.payments.v1.PaymentService/Authorize';
const raw = (b: Buffer): Buffer => b;

let stack: RunningStack;
let otherCa: DevPki;

beforeAll(async () => {
  const home = join(await tempDir('fle-mtls-'), 'state');
  const settings = settingsFromEnv({ FLE_HOME: home, FLE_NATS_PORT: '0', FLE_KEYSTORE_PORT: '0', FLE_PROCESSOR_PORT: '0', FLE_GATEWAY_PORT: '0' }, home);
  [stack, otherCa] = await Promise.all([startStack(settings, { api: PAYMENTS_API }), makeTestPki({ identities: ['client', 'gateway'] })]);
});

afterAll(async () => {
  await stack?.stop();
});

/** A unary call with raw bytes on a fresh connection; resolves to the gRPC status code (OK = 0). */
function callStatus(address: string, creds: grpc.ChannelCredentials, path: string, body = Buffer.alloc(0)): Promise<number> {
  const client = new grpc.Client(address, creds, { 'grpc.use_local_subchannel_pool': 1, 'grpc.ssl_target_name_override': 'localhost' });
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, raw, raw, body, { deadline: Date.now() + 5000 }, (err) => {
      client.close();
      resolve(err ? err.code : grpc.status.OK);
    });
  });
}

function files(name: string): TlsFiles {
  return stack.pki.files(name);
}

describe('mTLS on every gRPC link of the running stack', () => {
  const targets = (): Array<[string, string, string]> => [
    ['gateway', stack.info.gateway, AUTHORIZE],
    ['processor', stack.info.processor, AUTHORIZE],
    ['keystore', stack.info.keystore, '/fle.keystore.v1.KeystoreService/GetPrimaryKey'],
  ];

  it('refuses plaintext, a client without a certificate and a certificate from another CA', async () => {
    const ca = readFileSync(files('client').ca);
    for (const [name, address, path] of targets()) {
      expect(await callStatus(address, grpc.credentials.createInsecure(), path), `${name} plaintext`).toBe(grpc.status.UNAVAILABLE);
      expect(await callStatus(address, grpc.credentials.createSsl(ca), path), `${name} no client certificate`).toBe(grpc.status.UNAVAILABLE);
      // Our CA verifies the server; only the server can refuse the foreign client certificate.
      const foreign = channelCredentials({ ca: files('client').ca, cert: otherCa.cert('client'), key: otherCa.key('client') });
      expect(await callStatus(address, foreign, path), `${name} other CA`).toBe(grpc.status.UNAVAILABLE);
    }
  });

  it('refuses identities outside their permissions: only the client calls the gateway, only the gateway the processor, the gateway gets no key', async () => {
    const as = (name: string, expected: string): grpc.ChannelCredentials => channelCredentials(files(name), { expectedServerIdentity: spiffeId(expected) });
    expect(await callStatus(stack.info.gateway, as('admin', 'gateway'), AUTHORIZE)).toBe(grpc.status.PERMISSION_DENIED);
    expect(await callStatus(stack.info.processor, as('client', 'processor'), AUTHORIZE)).toBe(grpc.status.PERMISSION_DENIED);
    expect(await callStatus(stack.info.processor, as('observer', 'processor'), AUTHORIZE)).toBe(grpc.status.PERMISSION_DENIED);
    for (const name of ['gateway', 'observer']) {
      const keys = new KeystoreKeyProvider({ address: stack.info.keystore, tls: files(name), channelOptions: { 'grpc.ssl_target_name_override': 'localhost' } });
      await expect(keys.primaryKey({ tenant: stack.settings.tenant, ring: 'default' }), name).rejects.toMatchObject({ code: 'KEYSTORE_PERMISSION_DENIED' });
      keys.close();
    }
    // A client that expects the gateway refuses a server with another identity (the processor's port).
    expect(await callStatus(stack.info.processor, as('gateway', 'gateway'), AUTHORIZE)).toBe(grpc.status.UNAVAILABLE);
  });
});

describe('NATS of the running stack', () => {
  const opts = { servers: [] as string[], reconnect: false, timeout: 3000 };
  beforeAll(() => {
    opts.servers = [stack.info.nats];
  });

  it('refuses plaintext, no certificate, another CA, and the client identity', async () => {
    await expect(connect({ ...opts })).rejects.toThrow();
    await expect(connect({ ...opts, tls: { caFile: files('client').ca } })).rejects.toThrow();
    await expect(connect({ ...opts, tls: { caFile: files('client').ca, certFile: otherCa.cert('gateway'), keyFile: otherCa.key('gateway') } })).rejects.toThrow();
    await expect(connect({ ...opts, tls: natsTlsOptions(files('client')) })).rejects.toMatchObject({ code: 'AUTHORIZATION_VIOLATION' });
  });

  it('keeps each identity to its subjects: the observer publishes nothing, the gateway cannot read requests', async () => {
    const violations = async (identity: string, act: (nc: NatsConnection) => void): Promise<number> => {
      const nc = await connect({ ...opts, tls: natsTlsOptions(files(identity)) });
      let n = 0;
      // Not awaited: a closed connection's status iterator does not necessarily end.
      void (async () => {
        for await (const s of nc.status()) if (s.type === Events.Error) n++;
      })();
      act(nc);
      await nc.flush().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 300));
      await nc.close().catch(() => undefined);
      return n;
    };
    expect(await violations('observer', (nc) => nc.publish('fle.js.demo.authorize', new Uint8Array(8)))).toBeGreaterThan(0);
    expect(await violations('observer', (nc) => nc.publish('_INBOX.forged', new Uint8Array(8)))).toBeGreaterThan(0);
    expect(await violations('gateway', (nc) => void nc.subscribe('fle.js.>', { callback: () => undefined }))).toBeGreaterThan(0);
    expect(await violations('observer', (nc) => void nc.subscribe('fle.js.>', { callback: () => undefined }))).toBe(0);
  });

  it('keeps replies private: admin and keystore cannot subscribe to the shared or another identity\'s inbox, only to their own', async () => {
    const violations = async (identity: string, subject: string): Promise<number> => {
      const nc = await connect({ ...opts, tls: natsTlsOptions(files(identity)), inboxPrefix: natsInboxPrefix(identity) });
      let n = 0;
      void (async () => {
        for await (const s of nc.status()) if (s.type === Events.Error) n++;
      })();
      nc.subscribe(subject, { callback: () => undefined });
      await nc.flush().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 300));
      await nc.close().catch(() => undefined);
      return n;
    };
    for (const identity of ['admin', 'keystore']) {
      for (const subject of ['_INBOX.>', '_INBOX_gateway.>', '_INBOX_processor.>', '>']) expect(await violations(identity, subject), `${identity}: ${subject}`).toBeGreaterThan(0);
      expect(await violations(identity, `_INBOX_${identity}.>`), `${identity}: its own inbox`).toBe(0);
    }
  });
});

describe('certificate rotation without a restart', () => {
  /** Serial of the certificate a server presents on a fresh TLS connection. */
  function servedSerial(address: string): Promise<string> {
    const [host, port] = address.split(':') as [string, string];
    const f = files('client');
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ host, port: Number(port), servername: 'localhost', ca: readFileSync(f.ca), cert: readFileSync(f.cert), key: readFileSync(f.key), ALPNProtocols: ['h2'] }, () => {
        const serial = socket.getPeerCertificate().serialNumber;
        socket.destroy();
        resolve(serial);
      });
      socket.once('error', reject);
    });
  }

  it('gateway, processor and keystore serve their new certificates to new connections, same processes, and the demo still passes', async () => {
    const services = [
      ['gateway', stack.info.gateway],
      ['processor', stack.info.processor],
      ['keystore', stack.info.keystore],
    ] as const;
    const pids = stack.info.processes.map((p) => p.pid!);
    for (const [name, address] of services) expect(await servedSerial(address), name).toBe(new X509Certificate(readFileSync(stack.pki.cert(name))).serialNumber);
    for (const name of ['gateway', 'processor', 'keystore', 'client']) await issueIdentity({ dir: stack.pki.dir, name });
    await Promise.all(
      services.map(async ([name, address]) => {
        const rotated = new X509Certificate(readFileSync(stack.pki.cert(name))).serialNumber;
        let seen = '';
        // The credentials re-read their files every 5 s (@fle/pki ReloadOptions default).
        for (let i = 0; i < 80 && seen !== rotated; i++) {
          seen = await servedSerial(address);
          if (seen !== rotated) await new Promise((r) => setTimeout(r, 100));
        }
        expect(seen, name).toBe(rotated);
      }),
    );
    for (const pid of pids) expect(alive(pid)).toBe(true);
    const run = await runDemo(demoTargetFromStack(stack.info));
    expect(run.summary).toMatchObject({ ok: true, approved: true, plaintextSeenOutsideProcessor: false });
  });

  it('a NATS client configured with file paths reads them again at every reconnect', async () => {
    const pki = await makeTestPki();
    const nats = await startNats({ tls: pki });
    const dir = join(await tempDir('fle-nats-rotation-'), 'certs');
    cpSync(pki.dir, dir, { recursive: true }); // the same CA (and CA key, to issue from)
    const mine = pkiPaths(dir);
    const nc = await connect({ servers: nats.urls, tls: natsTlsOptions(mine.files('processor')), maxReconnectAttempts: -1, reconnectTimeWait: 100, timeout: 2000, name: 'rotation-test' });
    const reconnects: number[] = [];
    const events: string[] = [];
    void (async () => {
      for await (const s of nc.status()) {
        events.push(`${s.type}:${String(s.data)}`);
        if (s.type === Events.Reconnect) reconnects.push(Date.now());
      }
    })();
    try {
      // The files now hold a certificate the server does not trust: a client that
      // cached the old (still valid) pair would reconnect anyway.
      const foreign = await createDevPki({ dir: join(dir, '..', 'foreign'), identities: ['processor'] });
      cpSync(foreign.key('processor'), mine.key('processor'));
      cpSync(foreign.cert('processor'), mine.cert('processor'));
      await nats.restart();
      // Longer than one dial attempt (timeout 2 s: a refused handshake is noticed only then).
      await new Promise((r) => setTimeout(r, 3500));
      expect(reconnects).toEqual([]); // it kept trying with the files on disk, and was refused
      // Rotate properly under the right CA: a following reconnect attempt succeeds.
      await issueIdentity({ dir, name: 'processor' });
      for (let i = 0; i < 100 && reconnects.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(reconnects.length, events.join('\n')).toBeGreaterThan(0);
      const echo = nc.subscribe('_INBOX_processor.rotation-check', { max: 1 });
      await nc.flush();
      expect(echo.isClosed()).toBe(false); // a working, authorised connection again
    } finally {
      await nc.close();
      await nats.stop();
    }
  });
});
