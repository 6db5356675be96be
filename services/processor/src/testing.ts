// Test helper (reused by later issues: fault drills, end-to-end benchmark,
// `npm start`): start the REAL processor process with a temp config. It gets
// keys from a real keystore (services/keystore/src/testing.ts).
//
//   const proc = await startProcessorProcess({ pki, natsUrls: nats.urls, keystoreAddress: ks.address, grpc: true });
//   ... proc.grpcAddress, proc.digests(), proc.kill() ...
import { mkdtempSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PkiPaths } from '@fle/pki';
import { startServiceProcess, type ServiceProcess } from '@fle/service-kit/testing';
import { TEST_PROBE_ENV } from './test-hooks.js';

export const PROCESSOR_MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

export interface ProcessorProcessOptions {
  readonly pki: PkiPaths;
  readonly natsUrls: readonly string[];
  readonly keystoreAddress: string;
  /** Certificate identity (NATS, gRPC, keystore). Default `processor`. */
  readonly identity?: string;
  /** Serve gRPC too (on a free port). Default false. */
  readonly grpc?: boolean;
  /** Pin the gRPC port (e.g. a restart after a crash keeps the gateway's target). Default 0 = free port. */
  readonly grpcPort?: number;
  readonly allowedCallers?: readonly string[];
  readonly core?: boolean;
  readonly jetstream?: { enabled?: boolean; durable?: string; maxAttempts?: number; ackWaitMs?: number; nakBaseMs?: number; nakMaxMs?: number };
  readonly replay?: { windowMs?: number; store?: 'nats' | 'redis'; redisUrl?: string };
  readonly concurrency?: number;
  readonly keyCacheTtlMs?: number;
  /** keystore-client grace while the keystore is unreachable (config `keystore.cacheGraceMs`). */
  readonly keyCacheGraceMs?: number;
  /** Record `{nonce, sha256}` of each opened request (see `digests()`), through env FLE_TEST_PROBE (test-hooks.ts). Default true. */
  readonly testProbe?: boolean;
  /** With the probe: wait this long after writing a request's line, before its handler (crash drills). */
  readonly testProbeHoldMs?: number;
  readonly logLevel?: string;
  /** The config's `hpke` section (envelope alg 3/4: X25519 implementation, registered devices). */
  readonly hpke?: { kem?: 'noble' | 'webcrypto'; devices?: ReadonlyArray<{ tenant: string; id: string; publicKey: string }>; deviceRegistry?: { ttlMs?: number; unknownSenderRefetchMs?: number }; requireForRegisteredTenants?: boolean };
  /** The config's `schema`: the API's Buf image or .proto roots (absolute paths). */
  readonly schema: { readonly image: string } | { readonly protoRoots: readonly string[] };
  /** The config's `handlers`: absolute path of the handler module. */
  readonly handlers: string;
  /** Default: every method the handler module names, with its default route. */
  readonly routes?: ReadonlyArray<{ readonly method: string; readonly route?: string }>;
  readonly maxEnvelopes?: number;
  readonly dir?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface ProcessorProcess extends ServiceProcess {
  /** `127.0.0.1:<grpc port>` when started with `grpc: true`. */
  readonly grpcAddress: string | undefined;
  readonly metricsUrl: string;
  /** The probe lines: one per opened request (a redelivery opens again). */
  digests(): Promise<Array<{ nonce: string; sha256: string }>>;
}

export function processorTestConfig(opts: ProcessorProcessOptions): Record<string, unknown> {
  const files = opts.pki.files(opts.identity ?? 'processor');
  return {
    ...(opts.grpc ? { grpc: { listen: `127.0.0.1:${opts.grpcPort ?? 0}`, tls: files, ...(opts.allowedCallers ? { allowedCallers: opts.allowedCallers } : {}) } } : {}),
    nats: { servers: opts.natsUrls, tls: files, name: 'fle-processor' },
    keystore: { address: opts.keystoreAddress, tls: files, identity: 'spiffe://fle.local/keystore', ...(opts.keyCacheTtlMs ? { cacheTtlMs: opts.keyCacheTtlMs } : {}), ...(opts.keyCacheGraceMs !== undefined ? { cacheGraceMs: opts.keyCacheGraceMs } : {}) },
    core: { enabled: opts.core ?? true },
    jetstream: { enabled: true, maxAttempts: 10, nakBaseMs: 200, nakMaxMs: 2000, ...opts.jetstream },
    concurrency: opts.concurrency ?? 16,
    replay: { windowMs: 60_000, store: 'nats', ...opts.replay },
    metrics: { listen: '127.0.0.1:0' },
    log: { level: opts.logLevel ?? 'info' },
    ...(opts.hpke ? { hpke: opts.hpke } : {}),
    schema: opts.schema,
    handlers: opts.handlers,
    ...(opts.maxEnvelopes ? { maxEnvelopes: opts.maxEnvelopes } : {}),
    ...(opts.routes ? { routes: opts.routes } : {}),
  };
}

export async function startProcessorProcess(opts: ProcessorProcessOptions): Promise<ProcessorProcess> {
  const probe = opts.testProbe ?? true;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'fle-processor-'));
  const digestFile = probe ? join(dir, `opened-${Date.now()}-${Math.random().toString(36).slice(2, 8)}.jsonl`) : undefined;
  // The probe is a test hook: it reaches the process through the environment, never its config (test-hooks.ts).
  const probeEnv = { [TEST_PROBE_ENV]: digestFile ? JSON.stringify({ openedDigestFile: digestFile, ...(opts.testProbeHoldMs ? { holdMs: opts.testProbeHoldMs } : {}) }) : undefined };
  const p = await startServiceProcess({ name: 'processor', mainPath: PROCESSOR_MAIN, config: processorTestConfig(opts), dir, env: { ...opts.env, ...probeEnv } });
  return Object.assign(p, {
    grpcAddress: opts.grpc ? `127.0.0.1:${p.ports.grpc}` : undefined,
    metricsUrl: `http://127.0.0.1:${p.ports.metrics}/metrics`,
    async digests() {
      if (!digestFile) return [];
      let text = '';
      try {
        text = await readFile(digestFile, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      return text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { nonce: string; sha256: string });
    },
  });
}
