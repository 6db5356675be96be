// callerIdentity (issue 23 item 3) against a real grpc-js server with mTLS:
// it finds the call's TLS socket (so the identity is parsed once per
// connection, not per call), gives the same identity as the per-call reading,
// and a new connection with another certificate gets its own.
import { Client, Server, status, type ServerUnaryCall, type sendUnaryData, type ServiceError } from '@grpc/grpc-js';
import { channelCredentials, serverCredentials } from '@fle/pki';
import { makeTestPki } from '@fle/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { callerIdentity, tlsSocketOf } from '../src/caller-identity.js';

const passthrough = (b: Buffer): Buffer => b;
const PATH = '/test.v1.Echo/Who';

describe('callerIdentity (real grpc-js, mTLS)', () => {
  let server: Server;
  let port: number;
  const seen: Array<{ identity: string | undefined; perCall: string | undefined; socketFound: boolean; peerCertReads: number }> = [];
  let pki: Awaited<ReturnType<typeof makeTestPki>>;

  beforeAll(async () => {
    pki = await makeTestPki();
    server = new Server();
    server.addService(
      { who: { path: PATH, requestStream: false, responseStream: false, requestSerialize: passthrough, requestDeserialize: passthrough, responseSerialize: passthrough, responseDeserialize: passthrough } },
      {
        who: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
          const socket = tlsSocketOf(call);
          // (The session's socket is a proxy that forwards gets to the TLS socket: count reads on the call.)
          const spy = vi.spyOn(call, 'getAuthContext');
          const identity = callerIdentity(call);
          const peerCertReads = spy.mock.calls.length;
          spy.mockRestore();
          const cert = call.getAuthContext()?.sslPeerCertificate;
          const perCall = cert?.subjectaltname?.split(', ').find((e) => e.startsWith('URI:spiffe://'))?.slice(4);
          seen.push({ identity, perCall, socketFound: socket !== undefined, peerCertReads });
          cb(null, Buffer.from(identity ?? ''));
        },
      },
    );
    port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', serverCredentials(pki.files('gateway')), (e, p) => (e ? reject(e) : resolve(p))));
  });
  afterAll(() => server?.forceShutdown());

  const call = (client: Client) =>
    new Promise<string>((resolve, reject) =>
      client.makeUnaryRequest(PATH, passthrough, passthrough, Buffer.alloc(0), (err: ServiceError | null, v?: Buffer) => (err ? reject(err) : resolve(v!.toString()))),
    );

  it('reads the certificate once per connection and answers the same identity as a per-call reading', async () => {
    const asClient = new Client(`127.0.0.1:${port}`, channelCredentials(pki.files('client'), { expectedServerIdentity: 'spiffe://fle.local/gateway' }));
    for (let i = 0; i < 4; i++) expect(await call(asClient)).toBe('spiffe://fle.local/client');
    asClient.close();
    const asAdmin = new Client(`127.0.0.1:${port}`, channelCredentials(pki.files('admin'), { expectedServerIdentity: 'spiffe://fle.local/gateway' }));
    for (let i = 0; i < 2; i++) expect(await call(asAdmin)).toBe('spiffe://fle.local/admin');
    asAdmin.close();
    expect(seen.every((s) => s.socketFound)).toBe(true);
    expect(seen.map((s) => s.identity)).toEqual(seen.map((s) => s.perCall));
    // One certificate read (the first call of each connection), none after.
    expect(seen.map((s) => s.peerCertReads)).toEqual([1, 0, 0, 0, 1, 0]);
    expect(status.OK).toBe(0);
  });
});
