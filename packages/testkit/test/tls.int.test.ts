// NATS under mTLS with the fle users (issue 5 item 2): who is refused and who
// may do what. Real nats-server, real certificates from @fle/pki.
import { connect as tcpConnect } from 'node:net';
import { connect, StringCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DevPki } from '@fle/pki';
import { makeTestPki, startNats, type NatsHarness } from '../src/mod.js';

const sc = StringCodec();
let nats: NatsHarness;
let otherCa: DevPki;

beforeAll(async () => {
  [nats, otherCa] = await Promise.all([startNats({ tls: true }), makeTestPki({ identities: ['gateway'] })]);
});
afterAll(async () => {
  await nats?.stop();
});

/** What a plaintext client gets: the server's INFO, then an error and a closed socket. */
function plaintextAttempt(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: hostname, port: Number(port) });
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      text += d;
      if (text.startsWith('INFO') && text.includes('\r\n') && !text.includes('CONNECT-SENT')) {
        socket.write('CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n');
        text += 'CONNECT-SENT\n';
      }
    });
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer')));
  });
}

describe('NATS mTLS with the fle users', () => {
  it('refuses a plaintext connection', async () => {
    const transcript = await plaintextAttempt(nats.urls[0]!);
    expect(transcript).toMatch(/"tls_required":true/);
    expect(transcript).not.toContain('PONG');
  });

  it('refuses a TLS client without a certificate', async () => {
    await expect(connect({ servers: nats.urls, reconnect: false, timeout: 3000, tls: { caFile: nats.pki!.caCert } })).rejects.toThrow();
  });

  it('refuses a certificate from another CA', async () => {
    const tls = { caFile: nats.pki!.caCert, certFile: otherCa.cert('gateway'), keyFile: otherCa.key('gateway') };
    await expect(connect({ servers: nats.urls, reconnect: false, timeout: 3000, tls })).rejects.toThrow();
  });

  it('refuses the client identity: it has no NATS user', async () => {
    await expect(nats.connect('client', { reconnect: false })).rejects.toMatchObject({ code: 'AUTHORIZATION_VIOLATION' });
  });

  it('does not let the gateway subscribe to fle.rpc.>', async () => {
    const gateway = await nats.connect('gateway', { reconnect: false });
    const sub = gateway.subscribe('fle.rpc.>');
    const outcome = await (async () => {
      for await (const _m of sub) return 'message';
      return 'closed without error';
    })().catch((e: unknown) => e);
    expect(outcome).toMatchObject({ code: 'PERMISSIONS_VIOLATION' });
    expect(String((outcome as Error).message)).toContain('fle.rpc.>');
  });

  it('lets the processor serve fle.rpc.> and answer the gateway', async () => {
    const processor: NatsConnection = await nats.connect('processor');
    processor.subscribe('fle.rpc.>', { queue: 'processors', callback: (_e, m) => m.respond(sc.encode(`handled ${m.subject}`)) });
    await processor.flush();
    const gateway = await nats.connect('gateway');
    const reply = await gateway.request('fle.rpc.t1.submit', sc.encode('sealed'), { timeout: 3000 });
    expect(sc.decode(reply.data)).toBe('handled fle.rpc.t1.submit');
  });

  it('does not let the gateway publish outside its subjects', async () => {
    const gateway = await nats.connect('gateway', { reconnect: false });
    const errors: string[] = [];
    void (async () => {
      for await (const s of gateway.status()) if (s.type === 'error') errors.push(String(s.data));
    })();
    gateway.publish('fle.dlq.t1.submit', sc.encode('forged dead letter'));
    await gateway.flush();
    await new Promise((r) => setTimeout(r, 100));
    expect(errors.join(' ')).toMatch(/PERMISSIONS_VIOLATION|Permissions Violation/i);
  });
});
