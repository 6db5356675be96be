// Against the real nats-server binary: the generated configuration parses,
// certificate identities map to users by their SPIFFE URI SAN, and each user
// can do its JetStream/KV work and nothing of another's.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AckPolicy, connect, StringCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevPki, natsTlsOptions, type DevPki } from '@fle/pki';
import { spawnNatsServer, type NatsServerProcess } from '../src/mod.js';

const sc = StringCodec();
let root: string;
let pki: DevPki;
let server: NatsServerProcess;
const conns: NatsConnection[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fle-nats-setup-'));
  pki = await createDevPki({ dir: join(root, 'certs') });
  server = await spawnNatsServer({
    workDir: join(root, 'server'),
    config: { tls: pki.files('nats'), jetstream: { storeDir: join(root, 'js') } },
  });
});

afterAll(async () => {
  await Promise.allSettled(conns.map((c) => c.close()));
  await server?.stop();
  await rm(root, { recursive: true, force: true });
});

async function as(name: string): Promise<NatsConnection> {
  const nc = await connect({ servers: server.urls, tls: natsTlsOptions(pki.files(name)), reconnect: false, timeout: 3000 });
  conns.push(nc);
  return nc;
}

describe('spawnNatsServer', () => {
  it('reports the port it took and the process id', () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.urls).toEqual([`nats://127.0.0.1:${server.port}`]);
    expect(server.pid).toBeGreaterThan(0);
  });

  it('starts a plain server from options and stops it', async () => {
    const plain = await spawnNatsServer({ workDir: join(root, 'plain'), config: {} });
    try {
      const nc = await connect({ servers: plain.urls, reconnect: false });
      const sub = nc.subscribe('hello', { max: 1 });
      nc.publish('hello', sc.encode('world'));
      for await (const m of sub) expect(sc.decode(m.data)).toBe('world');
      await nc.close();
    } finally {
      await plain.stop();
    }
    expect(await plain.exited).not.toBeUndefined();
  });

  it('fails with the server log when the configuration is wrong', async () => {
    const text = `port: -1\nports_file_dir: "${join(root, 'bad')}"\nno_such_option { x: 1 }\njetstream { store_dir: 5 }\n`;
    await expect(spawnNatsServer({ workDir: join(root, 'bad'), config: text })).rejects.toMatchObject({ code: 'NATS_SERVER_START_FAILED' });
  });
});

describe('verify_and_map with the fle users (nats-server 2.9)', () => {
  it('lets the processor create the streams, the gateway publish, and the processor consume and reply', async () => {
    const processor = await as('processor');
    const gateway = await as('gateway');
    const jsm = await processor.jetstreamManager();
    await jsm.streams.add({ name: 'FLE_REQUESTS', subjects: ['fle.js.>'] });
    await jsm.streams.add({ name: 'FLE_DLQ', subjects: ['fle.dlq.>'] });
    await jsm.consumers.add('FLE_REQUESTS', { durable_name: 'processor', ack_policy: AckPolicy.Explicit });

    const inbox = gateway.subscribe('_INBOX.fle-test.reply', { max: 1 });
    const ack = await gateway.jetstream().publish('fle.js.acme.authorize', sc.encode('sealed-request'));
    expect(ack.stream).toBe('FLE_REQUESTS');

    const consumer = await processor.jetstream().consumers.get('FLE_REQUESTS', 'processor');
    const msg = await consumer.next({ expires: 2000 });
    expect(msg && sc.decode(msg.data)).toBe('sealed-request');
    msg!.ack();
    processor.publish('_INBOX.fle-test.reply', sc.encode('sealed-reply'));
    for await (const m of inbox) expect(sc.decode(m.data)).toBe('sealed-reply');

    const dlqAck = await processor.jetstream().publish('fle.dlq.acme.authorize', sc.encode('dead'));
    expect(dlqAck.stream).toBe('FLE_DLQ');
  });

  it('lets the processor use fle_nonces and fle_authorizations, and the keystore fle_keystore', async () => {
    const processor = await as('processor');
    const nonces = await processor.jetstream().views.kv('fle_nonces', { history: 1 });
    expect(await nonces.create('n1', sc.encode('1'))).toBeGreaterThan(0);
    await expect(nonces.create('n1', sc.encode('1'))).rejects.toThrow(); // a replayed nonce is refused by KV create
    const auths = await processor.jetstream().views.kv('fle_authorizations');
    await auths.put('a1', sc.encode('record'));
    expect(sc.decode((await auths.get('a1'))!.value)).toBe('record');

    const keystore = await as('keystore');
    const ks = await keystore.jetstream().views.kv('fle_keystore');
    await ks.put('tenant.acme', sc.encode('wrapped'));
    expect(sc.decode((await ks.get('tenant.acme'))!.value)).toBe('wrapped');
  });

  it('refuses JetStream work outside a user\'s permissions', async () => {
    const keystore = await as('keystore');
    await expect(keystore.jetstream().views.kv('fle_nonces')).rejects.toThrow(/permission/i);
    const gateway = await as('gateway');
    const gjsm = await gateway.jetstreamManager();
    await expect(gjsm.streams.add({ name: 'EVIL', subjects: ['evil.>'] })).rejects.toThrow(/permission/i);
    // The admin may inspect streams (so it can bind the bucket) but not read the keystore's data.
    const admin = await as('admin');
    const bound = await admin.jetstream().views.kv('fle_keystore');
    await expect(bound.get('tenant.acme')).rejects.toThrow(/permission/i);
  });
});
