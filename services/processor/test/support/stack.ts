// The whole ciphertext path for integration tests, all real processes:
// nats-server (TLS, @fle/testkit), keystore (services/keystore/src/testing.ts),
// processor and gateway (our testing.ts helpers), and a client SDK instance.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FieldCipher, compileSchema } from '@fle/field-crypto';
import { createKeystoreTestEnv, startKeystoreProcess, type KeystoreProcess, type KeystoreTestEnv } from '@fle/keystore/testing';
import { KeystoreAdminClient, KeystoreKeyProvider } from '@fle/keystore-client';
import { PaymentsClient } from '@fle/client';
import { channelCredentials, type DevPki } from '@fle/pki';
import { schemaRoot } from '@fle/schema';
import { makeTestPki, startNats, type NatsHarness } from '@fle/testkit';
import type { Transport } from '@fle/gateway';
import { authorizeRoute, startGatewayProcess, type GatewayProcess } from '@fle/gateway/testing';
import { startProcessorProcess, type ProcessorProcess, type ProcessorProcessOptions } from '../../src/testing.js';

export const TENANTS = ['t1', 't2', 't3'] as const;

export interface Stack {
  readonly pki: DevPki;
  readonly nats: NatsHarness;
  readonly keystoreEnv: KeystoreTestEnv;
  processor: ProcessorProcess;
  keystore: KeystoreProcess;
  /** One gateway (and one client) per transport asked for. */
  readonly gateways: Partial<Record<Transport, GatewayProcess>>;
  readonly clients: Partial<Record<Transport, PaymentsClient>>;
  /** The client's cipher (keys from the keystore under the client identity). */
  readonly cipher: FieldCipher;
  startProcessor(extra?: Partial<ProcessorProcessOptions>): Promise<ProcessorProcess>;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** NATS users: `'fle'` enforces per-identity permissions; `'none'` lets any CA cert (e.g. an observer) see everything. */
  readonly natsUsers: 'fle' | 'none';
  /** A gateway per transport, each routing Authorize that way. */
  readonly transports: readonly Transport[];
  readonly processor?: Partial<ProcessorProcessOptions>;
  /** Gateway route timeout, default 5000 ms. */
  readonly routeTimeoutMs?: number;
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const pki = await makeTestPki();
  const stack: Partial<Stack> = {};
  const stops: Array<() => Promise<void> | void> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await Promise.resolve().then(s).catch(() => undefined);
  };
  try {
    const nats = await startNats({ tls: pki, users: opts.natsUsers });
    stops.push(() => nats.stop());
    const keystoreEnv = await createKeystoreTestEnv({ pki });
    stops.push(() => keystoreEnv.cleanup());
    const keystore = await startKeystoreProcess(keystoreEnv);
    stops.push(() => (stack.keystore ?? keystore).stop());
    const admin = new KeystoreAdminClient({ address: keystore.address, tls: pki.files('admin') });
    for (const tenant of TENANTS) for (const ring of ['default', 'pci']) await admin.createKeyRing(tenant, ring);
    admin.close();

    const baseProcessor: ProcessorProcessOptions = { pki, natsUrls: nats.urls, keystoreAddress: keystore.address, grpc: true, allowedCallers: ['spiffe://fle.local/gateway'], ...opts.processor };
    const startProcessor = async (extra: Partial<ProcessorProcessOptions> = {}) => {
      const p = await startProcessorProcess({ ...baseProcessor, ...extra });
      stops.push(() => p.stop());
      return p;
    };
    const processor = await startProcessor();
    const keys = new KeystoreKeyProvider({ address: keystore.address, tls: pki.files('client') });
    const cipher = new FieldCipher({ schema: compileSchema(schemaRoot()), keys });
    const gateways: Partial<Record<Transport, GatewayProcess>> = {};
    const clients: Partial<Record<Transport, PaymentsClient>> = {};
    await Promise.all(
      opts.transports.map(async (t) => {
        const gw = await startGatewayProcess({
          pki,
          natsUrls: nats.urls,
          routes: [authorizeRoute(t, { timeoutMs: opts.routeTimeoutMs ?? 5000, ...(t === 'grpc' ? { processorAddress: processor.grpcAddress } : {}) })],
          allowedCallers: ['spiffe://fle.local/client'],
        });
        stops.push(() => gw.stop());
        gateways[t] = gw;
        const client = new PaymentsClient({
          address: gw.address,
          credentials: channelCredentials(pki.files('client'), { expectedServerIdentity: 'spiffe://fle.local/gateway' }),
          cipher,
          deadlineMs: (opts.routeTimeoutMs ?? 5000) + 5000,
        });
        stops.push(() => client.close());
        clients[t] = client;
      }),
    );
    return Object.assign(stack, { pki, nats, keystoreEnv, keystore, processor, gateways, clients, cipher, startProcessor, stop }) as Stack;
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * The JetStream store folder of the nats-server listening at `url`: found via
 * the ports file the harness's server wrote (under the OS temp folder) and its
 * monitoring endpoint's /varz (`jetstream.config.store_dir`).
 */
export async function natsStoreDir(url: string): Promise<string> {
  const port = new URL(url).port;
  for (const top of readdirSync(tmpdir()).filter((d) => d.startsWith('fle-nats-'))) {
    let nodes: string[] = [];
    try {
      nodes = readdirSync(join(tmpdir(), top));
    } catch {
      continue;
    }
    for (const node of nodes) {
      const portsDir = join(tmpdir(), top, node, 'ports');
      let files: string[] = [];
      try {
        files = readdirSync(portsDir);
      } catch {
        continue;
      }
      for (const f of files) {
        const ports = JSON.parse(readFileSync(join(portsDir, f), 'utf8')) as { nats?: string[]; monitoring?: string[] };
        if (!ports.nats?.some((u) => u.endsWith(`:${port}`)) || !ports.monitoring?.[0]) continue;
        const varz = (await (await fetch(`${ports.monitoring[0]}/varz`)).json()) as { jetstream?: { config?: { store_dir?: string } } };
        const dir = varz.jetstream?.config?.store_dir;
        if (dir) return dir;
      }
    }
  }
  throw new Error(`no JetStream store found for ${url}`);
}

/** Every file under `dir` (bounded: at most 5000 files, 512 MiB). */
export async function readTree(dir: string): Promise<Array<{ path: string; bytes: Buffer }>> {
  const out: Array<{ path: string; bytes: Buffer }> = [];
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && out.length < 5000 && total < 512 * 1024 * 1024) {
        const bytes = await readFile(p);
        total += bytes.length;
        out.push({ path: p, bytes });
      }
    }
  };
  if (statSync(dir).isDirectory()) await walk(dir);
  return out;
}

/** Where (if anywhere) any needle occurs, as UTF-8 or as its base64 / base64url. */
export function findNeedles(haystack: Buffer | string, needles: readonly string[]): string[] {
  const buf = typeof haystack === 'string' ? Buffer.from(haystack) : haystack;
  const hits: string[] = [];
  for (const n of needles) {
    for (const form of [n, Buffer.from(n).toString('base64').replace(/=+$/, ''), Buffer.from(n).toString('base64url')]) {
      if (form.length >= 8 && buf.includes(form)) hits.push(n);
    }
  }
  return [...new Set(hits)];
}
