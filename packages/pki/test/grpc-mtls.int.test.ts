// Real TLS: a grpc-js server with serverCredentials and clients with
// channelCredentials, all on 127.0.0.1 with random ports.
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelCredentials, createDevPki, identityFromPeerCertificate, issueIdentity, serverCredentials, type DevPki, type TlsFiles } from '../src/mod.js';

const identity = (b: Buffer): Buffer => b;
/** A one-method service without a .proto: the reply is the caller's SPIFFE ID. */
const WHOAMI: grpc.ServiceDefinition = {
  whoami: {
    path: '/fle.test.WhoAmI/WhoAmI',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};
const WhoAmIClient = grpc.makeGenericClientConstructor(WHOAMI, 'WhoAmI');

let root: string;
let pki: DevPki;
let otherPki: DevPki;
let server: grpc.Server;
let port: number;
const clients: grpc.Client[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fle-pki-grpc-'));
  [pki, otherPki] = await Promise.all([createDevPki({ dir: join(root, 'pki') }), createDevPki({ dir: join(root, 'other') })]);
  server = new grpc.Server();
  server.addService(WHOAMI, {
    whoami: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const peer = call.getAuthContext().sslPeerCertificate;
      cb(null, Buffer.from(identityFromPeerCertificate(peer) ?? 'none'));
    },
  });
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', serverCredentials(pki.files('keystore'), { refreshIntervalMs: 50 }), (err, p) => (err ? reject(err) : resolve(p))),
  );
});

afterAll(async () => {
  for (const c of clients) c.close();
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  await rm(root, { recursive: true, force: true });
});

function whoami(creds: grpc.ChannelCredentials): Promise<string> {
  // A local subchannel pool: each call here is a new TLS connection, never a reused one.
  const client = new WhoAmIClient(`127.0.0.1:${port}`, creds, { 'grpc.use_local_subchannel_pool': 1 });
  clients.push(client);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest('/fle.test.WhoAmI/WhoAmI', identity, identity, Buffer.alloc(0), { deadline: Date.now() + 5000 }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res!.toString());
    });
  });
}

/** Serial number of the certificate the server presents on a fresh raw TLS connection. */
function serverSerial(files: TlsFiles): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      { host: '127.0.0.1', port, ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key), ALPNProtocols: ['h2'] },
      () => {
        const serial = socket.getPeerCertificate().serialNumber;
        socket.destroy();
        resolve(serial);
      },
    );
    socket.once('error', reject);
  });
}

describe('mTLS gRPC with @fle/pki credentials', () => {
  it('accepts a client certificate from the CA and shows the server its SPIFFE identity', async () => {
    expect(await whoami(channelCredentials(pki.files('gateway')))).toBe('spiffe://fle.local/gateway');
    expect(await whoami(channelCredentials(pki.files('admin')))).toBe('spiffe://fle.local/admin');
  });

  it('refuses a client without a certificate', async () => {
    const noCert = grpc.credentials.createSsl(readFileSync(pki.caCert));
    await expect(whoami(noCert)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });

  it('refuses a client certificate from another CA', async () => {
    const foreign = { ca: pki.caCert, cert: otherPki.cert('gateway'), key: otherPki.key('gateway') };
    await expect(whoami(channelCredentials(foreign))).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });

  it('checks the expected server identity when asked', async () => {
    const right = channelCredentials(pki.files('gateway'), { expectedServerIdentity: 'spiffe://fle.local/keystore' });
    expect(await whoami(right)).toBe('spiffe://fle.local/gateway');
    const wrong = channelCredentials(pki.files('gateway'), { expectedServerIdentity: 'spiffe://fle.local/processor' });
    await expect(whoami(wrong)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });

  it('serves a rotated server certificate to new connections without a restart, still requiring client certificates', async () => {
    const before = await serverSerial(pki.files('gateway'));
    await issueIdentity({ dir: pki.dir, name: 'keystore' });
    const rotated = new (await import('node:crypto')).X509Certificate(readFileSync(pki.cert('keystore'))).serialNumber;
    expect(rotated).not.toBe(before);
    let seen = before;
    for (let i = 0; i < 60 && seen !== rotated; i++) {
      await new Promise((r) => setTimeout(r, 50));
      seen = await serverSerial(pki.files('gateway'));
    }
    expect(seen).toBe(rotated);
    expect(await whoami(channelCredentials(pki.files('processor')))).toBe('spiffe://fle.local/processor');
    await expect(whoami(grpc.credentials.createSsl(readFileSync(pki.caCert)))).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });

  it('a client picks up its own rotated certificate on a new connection', async () => {
    const dir = join(root, 'client-rotation');
    const own = await createDevPki({ dir, identities: ['client'] });
    // The server trusts pki's CA only; the client's files start out under another CA.
    const files = { ca: pki.caCert, cert: own.cert('client'), key: own.key('client') };
    const creds = channelCredentials(files, { refreshIntervalMs: 50 });
    await expect(whoami(creds)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    // Rotate: the same paths now hold a certificate from the server's CA.
    const { copyFile } = await import('node:fs/promises');
    await copyFile(pki.key('client'), files.key);
    await copyFile(pki.cert('client'), files.cert);
    let result: string | undefined;
    for (let i = 0; i < 40 && result === undefined; i++) {
      await new Promise((r) => setTimeout(r, 50));
      result = await whoami(creds).catch(() => undefined);
    }
    expect(result).toBe('spiffe://fle.local/client');
  });
});
