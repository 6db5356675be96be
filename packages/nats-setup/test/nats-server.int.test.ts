// Against the real nats-server binary: the generated configuration parses,
// certificate identities map to users by their SPIFFE URI SAN, and each user
// can do its JetStream/KV work and nothing of another's.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AckPolicy, connect, DiscardPolicy, StringCodec, type NatsConnection, type StreamConfig } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevPki, natsTlsOptions, type DevPki } from '@fle/pki';
import {
  FLE_NATS_PERMISSIONS,
  JETSTREAM_BUDGET,
  JETSTREAM_RESERVED_BYTES,
  applyStreamBudget,
  kvLimits,
  renderNatsConfig,
  spawnNatsServer,
  streamLimits,
  type NatsServerProcess,
  type StreamBudget,
  withKvBuckets,
} from '../src/mod.js';

/** A budget entry as nats.js stream config fields. */
const limits = (b: StreamBudget): Partial<StreamConfig> => ({ ...streamLimits(b), discard: b.discard as DiscardPolicy });

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
    // fle's users, the processor also granted a team's record bucket (its handlers' own store).
    config: { tls: pki.files('nats'), users: withKvBuckets(FLE_NATS_PERMISSIONS, 'processor', ['team_records']), jetstream: { storeDir: join(root, 'js') } },
  });
});

afterAll(async () => {
  await Promise.allSettled(conns.map((c) => c.close()));
  await server?.stop();
  await rm(root, { recursive: true, force: true });
});

/** Connects as `name`, with that identity's own reply-inbox prefix (as every fle service does). */
async function as(name: string, inboxPrefix = `_INBOX_${name}`): Promise<NatsConnection> {
  const nc = await connect({ servers: server.urls, tls: natsTlsOptions(pki.files(name)), reconnect: false, timeout: 3000, inboxPrefix });
  conns.push(nc);
  return nc;
}

/** Subscribes and resolves with the server's verdict: 'allowed', or the permissions violation. */
async function trySubscribe(nc: NatsConnection, subject: string): Promise<'allowed' | { code: string; message: string }> {
  const sub = nc.subscribe(subject);
  const verdict = (async () => {
    for await (const _m of sub) return 'allowed' as const;
    return 'allowed' as const;
  })().catch((e: { code: string; message: string }) => ({ code: e.code, message: e.message }));
  // A refusal comes back right after the SUB; a flush round-trip later, none came.
  await nc.flush();
  await new Promise((r) => setTimeout(r, 100));
  const settled = await Promise.race([verdict, Promise.resolve('pending' as const)]);
  sub.unsubscribe();
  return settled === 'pending' ? 'allowed' : settled;
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
    await jsm.streams.add({ name: 'FLE_REQUESTS', subjects: ['fle.js.>'], ...limits(JETSTREAM_BUDGET.requests) });
    await jsm.streams.add({ name: 'FLE_DLQ', subjects: ['fle.dlq.>'], ...limits(JETSTREAM_BUDGET.deadLetters) });
    await jsm.consumers.add('FLE_REQUESTS', { durable_name: 'processor', ack_policy: AckPolicy.Explicit });

    const inbox = gateway.subscribe('_INBOX_gateway.fle-test.reply', { max: 1 });
    const ack = await gateway.jetstream().publish('fle.js.t1.submit', sc.encode('sealed-request'));
    expect(ack.stream).toBe('FLE_REQUESTS');

    const consumer = await processor.jetstream().consumers.get('FLE_REQUESTS', 'processor');
    const msg = await consumer.next({ expires: 2000 });
    expect(msg && sc.decode(msg.data)).toBe('sealed-request');
    msg!.ack();
    processor.publish('_INBOX_gateway.fle-test.reply', sc.encode('sealed-reply'));
    for await (const m of inbox) expect(sc.decode(m.data)).toBe('sealed-reply');

    const dlqAck = await processor.jetstream().publish('fle.dlq.t1.submit', sc.encode('dead'));
    expect(dlqAck.stream).toBe('FLE_DLQ');
  });

  it('lets the processor use fle_nonces and the bucket it was granted (withKvBuckets), not another; the keystore fle_keystore', async () => {
    const processor = await as('processor');
    const nonces = await processor.jetstream().views.kv('fle_nonces', { history: 1, ...kvLimits(JETSTREAM_BUDGET.nonces) });
    expect(await nonces.create('n1', sc.encode('1'))).toBeGreaterThan(0);
    await expect(nonces.create('n1', sc.encode('1'))).rejects.toThrow(); // a replayed nonce is refused by KV create
    const records = await processor.jetstream().views.kv('team_records', { maxBucketSize: 1024 * 1024 });
    await records.put('a1', sc.encode('record'));
    expect(sc.decode((await records.get('a1'))!.value)).toBe('record');
    await expect(processor.jetstream().views.kv('other_records', { maxBucketSize: 1024 * 1024 })).rejects.toThrow();

    const keystore = await as('keystore');
    const ks = await keystore.jetstream().views.kv('fle_keystore', kvLimits(JETSTREAM_BUDGET.keystore));
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

describe('private reply inboxes (issue 17 item 4)', () => {
  const VIOLATION = { code: 'PERMISSIONS_VIOLATION' };

  it('refuses admin and keystore any inbox but their own: no JetStream deliveries, no replies of others', async () => {
    for (const name of ['admin', 'keystore']) {
      const nc = await as(name);
      for (const subject of ['_INBOX.>', '_INBOX_gateway.>', '_INBOX_processor.>', '>', '_INBOX_processor.abc', `_INBOX_${name === 'admin' ? 'keystore' : 'admin'}.>`]) {
        expect(await trySubscribe(nc, subject), `${name} subscribing to ${subject}`).toMatchObject(VIOLATION);
      }
      expect(await trySubscribe(nc, `_INBOX_${name}.>`), `${name} subscribing to its own inbox`).toBe('allowed');
    }
  });

  it('refuses the gateway and the processor each other\'s inbox, and the shared _INBOX.>', async () => {
    const gateway = await as('gateway');
    const processor = await as('processor');
    for (const subject of ['_INBOX.>', '_INBOX_processor.>', '_INBOX_admin.>']) expect(await trySubscribe(gateway, subject), `gateway: ${subject}`).toMatchObject(VIOLATION);
    for (const subject of ['_INBOX.>', '_INBOX_gateway.>', '_INBOX_keystore.>']) expect(await trySubscribe(processor, subject), `processor: ${subject}`).toMatchObject(VIOLATION);
  });

  it('a connection without its prefix cannot even receive JetStream API replies', async () => {
    const admin = await as('admin', '_INBOX');
    await expect(admin.jetstreamManager({ timeout: 2000 })).rejects.toThrow(/permission|timeout/i);
  });

  it('still answers a core request from the gateway (the processor replies to the request it received)', async () => {
    const processor = await as('processor');
    processor.subscribe('fle.rpc.>', { queue: 'processors', callback: (_e, m) => m.respond(sc.encode(`handled ${m.subject}`)) });
    await processor.flush();
    const gateway = await as('gateway');
    const reply = await gateway.request('fle.rpc.t1.submit', sc.encode('sealed'), { timeout: 3000 });
    expect(sc.decode(reply.data)).toBe('handled fle.rpc.t1.submit');
  });

  it('does not let the processor publish into the inboxes of admin or keystore', async () => {
    const processor = await as('processor');
    const errors: string[] = [];
    void (async () => {
      for await (const st of processor.status()) if (st.type === 'error') errors.push(String(st.data));
    })();
    const admin = await as('admin');
    const got: string[] = [];
    admin.subscribe('_INBOX_admin.>', { callback: (_e, m) => got.push(m.subject) });
    await admin.flush();
    processor.publish('_INBOX_admin.forged', sc.encode('forged reply'));
    await processor.flush();
    await new Promise((r) => setTimeout(r, 200));
    expect(got).toEqual([]);
    expect(errors.join(' ')).toMatch(/PERMISSIONS_VIOLATION|Permissions Violation/i);
  });
});

describe('the JetStream storage budget (issue 17 item 2)', () => {
  it('refuses any stream or bucket without a byte limit (account max_bytes_required)', async () => {
    const processor = await as('processor');
    const jsm = await processor.jetstreamManager();
    await expect(jsm.streams.add({ name: 'FLE_DLQ', subjects: ['fle.dlq.>'] })).rejects.toMatchObject({ api_error: { err_code: 10113 } });
  });

  it('fits the whole budget in a 1 GiB store, and refuses a stream whose reservation does not fit', async () => {
    // Streams reserve their max_bytes when created: a store too small for the budget fails at creation, not under load.
    expect(JETSTREAM_RESERVED_BYTES).toBeLessThan(1024 ** 3);
    const dir = join(root, 'budget');
    const budgetServer = await spawnNatsServer({ workDir: dir, config: { tls: pki.files('nats'), jetstream: { storeDir: join(dir, 'js'), maxFileStore: '1GB' } } });
    const conns: NatsConnection[] = [];
    try {
      const on = async (name: string) => {
        const nc = await connect({ servers: budgetServer.urls, tls: natsTlsOptions(pki.files(name)), inboxPrefix: `_INBOX_${name}`, reconnect: false, timeout: 3000 });
        conns.push(nc);
        return nc;
      };
      const processor = await on('processor');
      const jsm = await processor.jetstreamManager();
      await jsm.streams.add({ name: 'FLE_REQUESTS', subjects: ['fle.js.>'], ...limits(JETSTREAM_BUDGET.requests) });
      await jsm.streams.add({ name: 'FLE_DLQ', subjects: ['fle.dlq.>'], ...limits(JETSTREAM_BUDGET.deadLetters) });
      await processor.jetstream().views.kv('fle_nonces', kvLimits(JETSTREAM_BUDGET.nonces));
      await (await on('keystore')).jetstream().views.kv('fle_keystore', kvLimits(JETSTREAM_BUDGET.keystore));
      // Growing one stream past what the store has left is refused up front (10047), not discovered under load.
      const rest = 1024 ** 3 - JETSTREAM_RESERVED_BYTES;
      await expect(jsm.streams.update('FLE_REQUESTS', { ...(await jsm.streams.info('FLE_REQUESTS')).config, max_bytes: JETSTREAM_BUDGET.requests.maxBytes + rest + 1 })).rejects.toMatchObject({
        api_error: { err_code: 10047 },
      });
    } finally {
      await Promise.allSettled(conns.map((c) => c.close()));
      await budgetServer.stop();
    }
  });

  it('renders no store smaller than the budget', () => {
    expect(() => renderNatsConfig({ jetstream: { storeDir: '/data', maxFileStore: '128MB' } })).toThrow(/maxFileStore 128MB is smaller than the 256 MiB the fle streams reserve/);
    expect(renderNatsConfig({ jetstream: { storeDir: '/data', maxFileStore: '1GB' } })).toContain('max_file_store: 1GB');
  });

  it('gives a stream made before the budget its limits and the right discard policy, keeping the rest (applyStreamBudget)', async () => {
    const dir = join(root, 'legacy');
    const plain = await spawnNatsServer({ workDir: dir, config: { jetstream: { storeDir: join(dir, 'js') } } });
    try {
      const nc = await connect({ servers: plain.urls, reconnect: false });
      const jsm = await nc.jetstreamManager();
      await jsm.streams.add({ name: 'FLE_REQUESTS', subjects: ['fle.js.>'], description: 'made by an older processor' });
      expect(await applyStreamBudget(jsm, JETSTREAM_BUDGET.requests)).toBe('updated');
      const { config } = await jsm.streams.info('FLE_REQUESTS');
      expect(config).toMatchObject({ max_bytes: JETSTREAM_BUDGET.requests.maxBytes, max_msgs: JETSTREAM_BUDGET.requests.maxMsgs, max_msg_size: JETSTREAM_BUDGET.requests.maxMsgSize, discard: 'new', description: 'made by an older processor' });
      expect(await applyStreamBudget(jsm, JETSTREAM_BUDGET.requests)).toBe('kept');
      // An operator's own (positive) limit stays.
      await jsm.streams.update('FLE_REQUESTS', { ...config, max_bytes: 1024 * 1024 });
      expect(await applyStreamBudget(jsm, JETSTREAM_BUDGET.requests)).toBe('kept');
      expect((await jsm.streams.info('FLE_REQUESTS')).config.max_bytes).toBe(1024 * 1024);
      await nc.close();
    } finally {
      await plain.stop();
    }
  });
});
