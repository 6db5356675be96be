// The shipped NATS cluster configs (deploy/nats/, and the copies the kustomize
// base loads): up to date with @fle/nats-setup, accepted by `nats-server -t`,
// TLS with verify_and_map on the client port and verified TLS on routes. Then a
// real 3-node cluster started from the shipped files (only host names, ports
// and folders rewritten to loopback and a temp dir) forms its routes over mTLS,
// keeps an R3 stream, and enforces the per-identity permissions.
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, nanos, type DiscardPolicy, type NatsConnection, type StreamConfig } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevPki, natsTlsOptions, pkiPaths } from '@fle/pki';
import { freePort } from '@fle/testkit';
import { JETSTREAM_BUDGET, findNatsServer, kvLimits, natsInboxPrefix, spawnNatsServer, streamLimits, type NatsServerProcess, type StreamBudget } from '@fle/nats-setup';

/** A budget entry as nats.js stream config fields: the fle users' account refuses a stream without a byte limit. */
const limits = (b: StreamBudget): Partial<StreamConfig> => ({ ...streamLimits(b), discard: b.discard as DiscardPolicy });
import { NATS_DNS_NAMES, issueClusterCerts } from '../../deploy/scripts/cluster-certs.js';
import { AUTHORIZATIONS_BUDGET } from '@fle-examples/payments';
import { PROCESSOR_STREAMS, scaleStreams, scaleStreamsWhenReady } from '../../deploy/scripts/jetstream-replicas.js';
import { CERTS_DIR, NATS_NODES, STORE_DIR, renderShippedNatsConfigs } from '../../deploy/scripts/nats-config.js';
import { readText, repoPath } from './repo.js';

const run = promisify(execFile);
const shipped = renderShippedNatsConfigs();
let root: string;
let certs: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fle-deploy-nats-'));
  certs = join(root, 'certs');
  await issueClusterCerts(certs);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The shipped text with the certificate folder pointed at the temp PKI (nothing else changed). */
function withTempCerts(text: string): string {
  return text.replaceAll(`"${CERTS_DIR}/`, `"${certs}/`);
}

describe('shipped NATS configs', () => {
  it('are exactly what deploy/scripts/nats-config.ts renders (npx tsx deploy/scripts/sync.ts rewrites them)', () => {
    const onDisk = [
      ...readdirSync(repoPath('deploy/nats')).map((f) => `deploy/nats/${f}`),
      ...readdirSync(repoPath('deploy/k8s/base/nats')).map((f) => `deploy/k8s/base/nats/${f}`),
    ].filter((f) => f.endsWith('.conf'));
    expect(onDisk.sort()).toEqual([...shipped.keys()].sort());
    for (const [path, text] of shipped) expect(readText(repoPath(path)), path).toBe(text);
  });

  it('require client certificates mapped to users, verified route TLS, and no plaintext listener off-host', () => {
    for (const [path, text] of shipped) {
      const clientTls = /^tls \{([^}]*)\}/m.exec(text)?.[1] ?? '';
      expect(clientTls, path).toMatch(/verify_and_map: true/);
      const cluster = /^cluster \{([\s\S]*?)^\}/m.exec(text)?.[1] ?? '';
      expect(cluster, path).toMatch(/tls \{[^}]*verify: true[^}]*\}/);
      expect(text, path).not.toMatch(/allow_non_tls|no_auth_user|insecure/);
      expect(/^http: "(.*)"$/m.exec(text)?.[1], path).toMatch(/^127\.0\.0\.1:/);
      expect(text).toMatch(/user: "spiffe:\/\/fle\.local\/gateway"/);
      expect(text, 'the client identity has no NATS user').not.toMatch(/spiffe:\/\/fle\.local\/client"/);
    }
  });

  it('pass `nats-server -t` with real certificates', async () => {
    const bin = findNatsServer();
    for (const [path, text] of shipped) {
      const file = join(root, path.replaceAll('/', '_'));
      await writeFile(file, withTempCerts(text));
      const { stdout, stderr } = await run(bin, ['-t', '-c', file]);
      expect(stdout + stderr, path).toMatch(/valid/);
    }
  });

  it('`nats-server -t` reads the certificates (a missing key is an error)', async () => {
    const file = join(root, 'missing-key.conf');
    await writeFile(file, withTempCerts(shipped.get('deploy/nats/nats-0.conf')!).replaceAll('nats-key.pem', 'absent-key.pem'));
    await expect(run(findNatsServer(), ['-t', '-c', file])).rejects.toMatchObject({ code: 1 });
  });
});

/** Replaces one exact fragment, failing loudly when the shipped text no longer has it. */
function replaceExactly(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`shipped config no longer contains ${from}`);
  return text.replaceAll(from, to);
}

describe('a 3-node cluster from the shipped configs', () => {
  const servers: NatsServerProcess[] = [];
  const conns: NatsConnection[] = [];
  let clientPorts: number[] = [];

  beforeAll(async () => {
    const routePorts = await Promise.all(NATS_NODES.map(() => freePort()));
    clientPorts = await Promise.all(NATS_NODES.map(() => freePort()));
    const monitorPorts = await Promise.all(NATS_NODES.map(() => freePort()));
    for (const [i, node] of NATS_NODES.entries()) {
      let text = withTempCerts(shipped.get(`deploy/nats/${node}.conf`)!);
      text = replaceExactly(text, 'host: "0.0.0.0"', 'host: "127.0.0.1"');
      text = replaceExactly(text, 'port: 4222', `port: ${clientPorts[i]}`);
      text = replaceExactly(text, 'port: 6222', `port: ${routePorts[i]}`);
      text = replaceExactly(text, '"127.0.0.1:8222"', `"127.0.0.1:${monitorPorts[i]}"`);
      text = replaceExactly(text, `"${STORE_DIR}"`, JSON.stringify(join(root, `js-${node}`)));
      // Route host names become loopback; the routes still verify the shared certificate (IP SAN 127.0.0.1).
      for (const [j, other] of NATS_NODES.entries()) {
        text = replaceExactly(text, `nats-route://${other}.nats:6222`, `nats-route://127.0.0.1:${routePorts[j]}`);
      }
      const work = join(root, `run-${node}`);
      await mkdir(join(work, 'ports'), { recursive: true });
      text += `ports_file_dir: ${JSON.stringify(join(work, 'ports'))}\n`;
      servers.push(await spawnNatsServer({ workDir: work, config: text }));
    }
  });

  afterAll(async () => {
    await Promise.allSettled(conns.map((c) => c.close()));
    await Promise.allSettled(servers.map((s) => s.stop()));
  });

  async function as(name: string, dir = certs): Promise<NatsConnection> {
    const nc = await connect({
      servers: clientPorts.map((p) => `127.0.0.1:${p}`),
      tls: natsTlsOptions(pkiPaths(dir).files(name)),
      inboxPrefix: natsInboxPrefix(name),
      reconnect: false,
      timeout: 3000,
    });
    conns.push(nc);
    return nc;
  }

  it('connects the routes over mTLS and keeps an R3 stream on all three nodes', async () => {
    const processor = await as('processor');
    // The JetStream meta leader is elected once all routes are up; retry until then (bounded).
    let info;
    let last: unknown;
    for (let attempt = 0; attempt < 40 && !info; attempt++) {
      try {
        const jsm = await processor.jetstreamManager({ timeout: 1000 });
        info = await jsm.streams.add({ name: 'FLE_REQUESTS', subjects: ['fle.js.>'], num_replicas: 3, ...limits(JETSTREAM_BUDGET.requests) });
      } catch (err) {
        last = err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    expect(info, `${String(last)}\n${servers.map((s) => s.logTail()).join('\n')}`).toBeDefined();
    expect(info?.config.num_replicas).toBe(3);
    expect(1 + (info?.cluster?.replicas?.length ?? 0)).toBe(3);
  });

  it('scales the processor-made streams to R3 as the processor identity, keeping their settings (jetstream-replicas.ts)', async () => {
    const processor = await as('processor');
    const jsm = await processor.jetstreamManager();
    await jsm.streams.add({ name: 'FLE_DLQ', subjects: ['fle.dlq.>'], max_age: nanos(3_600_000), ...limits(JETSTREAM_BUDGET.deadLetters) });
    await processor.jetstream().views.kv('fle_nonces', { ttl: 120_000, history: 1, ...kvLimits(JETSTREAM_BUDGET.nonces) });
    const partial = await scaleStreams(jsm, PROCESSOR_STREAMS, 3);
    expect(partial.done, 'KV_fle_authorizations does not exist yet').toBe(false);
    expect(partial.replicas).toMatchObject({ FLE_REQUESTS: 3, FLE_DLQ: 3, KV_fle_nonces: 3, KV_fle_authorizations: undefined });
    await processor.jetstream().views.kv('fle_authorizations', { history: 1, ...kvLimits(AUTHORIZATIONS_BUDGET) });
    const all = await scaleStreamsWhenReady(jsm, PROCESSOR_STREAMS, 3, 10_000, 200);
    expect(all.done).toBe(true);
    const nonces = await jsm.streams.info('KV_fle_nonces');
    expect(nonces.config.num_replicas).toBe(3);
    expect(nonces.config.max_age).toBe(nanos(120_000));
    expect((await jsm.streams.info('FLE_DLQ')).config.max_age).toBe(nanos(3_600_000));
    // The gateway identity may not do this.
    const gjsm = await (await as('gateway')).jetstreamManager();
    await expect(scaleStreams(gjsm, ['FLE_DLQ'], 5)).resolves.toMatchObject({ done: false });
  });

  it('lets the gateway publish requests that a processor receives, but not read requests itself', async () => {
    const gateway = await as('gateway');
    const processor = await as('processor');
    const received = processor.subscribe('fle.rpc.>', { max: 1 });
    await processor.flush();
    // The two may sit on different nodes: publish until the interest has crossed the route (bounded).
    const got = (async () => {
      for await (const m of received) return m.subject;
      return undefined;
    })();
    let subject: string | undefined;
    for (let i = 0; i < 50 && subject === undefined; i++) {
      gateway.publish('fle.rpc.acme.authorize', new Uint8Array([7]));
      subject = await Promise.race([got, new Promise<undefined>((r) => setTimeout(() => r(undefined), 100))]);
    }
    expect(subject).toBe('fle.rpc.acme.authorize');

    const outcome = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('no error within 3 s'), 3000);
      gateway.subscribe('fle.rpc.>', {
        callback: (err) => {
          clearTimeout(timer);
          resolve(err ? err.message : 'a message arrived');
        },
      });
    });
    expect(outcome).toMatch(/permissions violation for subscription/i);
  });

  it('refuses the client identity, a certificate from another CA, and plaintext', async () => {
    await expect(as('client')).rejects.toThrow(/Authorization Violation/i);
    const other = await createDevPki({ dir: join(root, 'other-ca'), identities: ['processor'] });
    await expect(as('processor', other.dir)).rejects.toThrow();
    // A raw TCP client that never starts TLS gets no INFO-to-CONNECT session.
    const answer = await new Promise<string>((resolve) => {
      const sock = new Socket();
      let data = '';
      sock.setTimeout(3000, () => sock.destroy());
      sock.on('data', (d) => {
        data += d.toString('latin1');
        if (data.includes('\r\n')) sock.write('CONNECT {"verbose":true}\r\nPING\r\n');
      });
      sock.on('close', () => resolve(data));
      sock.connect(clientPorts[0]!, '127.0.0.1');
    });
    expect(answer).toMatch(/"tls_required":true/);
    expect(answer).not.toMatch(/PONG|\+OK/);
  });

  it('the shared server certificate names every node', () => {
    expect(NATS_DNS_NAMES).toEqual(['nats', 'nats-0.nats', 'nats-1.nats', 'nats-2.nats']);
  });
});
