// Test helper shared by the keystore's own tests and by the gateway/processor
// integration tests: a temp folder with a dev PKI (@fle/pki), a master key, a
// policy and a config, and the REAL keystore process (`node --import tsx
// services/keystore/src/main.ts --config ...`) started on a loopback port.
//
//   const env = await createKeystoreTestEnv();
//   const ks = await startKeystoreProcess(env);
//   ... channelCredentials(env.pki.files('processor')) against ks.address ...
//   await ks.stop(); await env.cleanup();
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDevPki, type DevPki } from '@fle/pki';
import { startServiceProcess } from '@fle/service-kit/testing';
import { stringify } from 'yaml';
import type { AuditEntry } from './audit.js';
import type { PolicyDocument } from './policy.js';

export const MAIN_PATH = fileURLToPath(new URL('./main.ts', import.meta.url));

/** How long a start may take: a loaded CI machine takes several seconds to load the TypeScript. */
const START_TIMEOUT_MS = 60_000;


/** Processor and client may fetch every tenant's keys, admin administers, the gateway gets nothing. */
export const DEFAULT_TEST_POLICY: PolicyDocument = {
  deny: ['spiffe://fle.local/gateway'],
  fetch: [
    { identity: 'spiffe://fle.local/processor', tenants: ['*'] },
    { identity: 'spiffe://fle.local/client', tenants: ['*'] },
  ],
  admin: [{ identity: 'spiffe://fle.local/admin', tenants: ['*'] }],
};

export type TestStorage =
  | { kind: 'file' }
  | { kind: 'nats'; url: string; bucket?: string; tls?: { ca: string; cert: string; key: string } };

export interface KeystoreTestEnvOptions {
  /** Parent folder; default a fresh temp folder. */
  dir?: string;
  /**
   * Reuse a PKI (e.g. one shared with NATS and the gateway); default a new one
   * in `<dir>/certs` with @fle/pki's default identities (gateway, processor,
   * keystore, client, admin, nats).
   */
  pki?: DevPki;
  policy?: PolicyDocument;
  storage?: TestStorage;
  /** 64 hex characters; default random. */
  masterKeyHex?: string;
  /** rotation.checkIntervalMs of the config; default the keystore's (60 s). */
  rotationCheckMs?: number;
  /** Serve GET /metrics on a free loopback port (its port: KeystoreProcess.metricsPort). */
  metrics?: boolean;
}

export interface KeystoreTestEnv {
  dir: string;
  pki: DevPki;
  masterKeyHex: string;
  masterKeyFile: string;
  configPath: string;
  policyPath: string;
  auditLog: string;
  /** The file backend's store (unused with NATS storage). */
  storePath: string;
  /** host:port written into the config; port 0 until a process has bound one. */
  listen: string;
  storage: TestStorage;
  rotationCheckMs: number | undefined;
  metrics: boolean;
  /** Rewrites the policy file (send SIGHUP or restart to apply). */
  writePolicy(policy: PolicyDocument): void;
  /** Rewrites the config file from the fields above. */
  writeConfig(): void;
  readAudit(): Promise<AuditEntry[]>;
  cleanup(): void;
}

export async function createKeystoreTestEnv(opts: KeystoreTestEnvOptions = {}): Promise<KeystoreTestEnv> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'fle-keystore-'));
  const pki = opts.pki ?? (await createDevPki({ dir: join(dir, 'certs') }));
  const masterKeyHex = opts.masterKeyHex ?? randomBytes(32).toString('hex');
  const masterKeyFile = join(dir, 'master.key');
  writeFileSync(masterKeyFile, `${masterKeyHex}\n`, { mode: 0o600 });
  const env: KeystoreTestEnv = {
    dir,
    pki,
    masterKeyHex,
    masterKeyFile,
    configPath: join(dir, 'keystore.yaml'),
    policyPath: join(dir, 'policy.yaml'),
    auditLog: join(dir, 'audit.jsonl'),
    storePath: join(dir, 'data', 'keystore.json'),
    listen: '127.0.0.1:0',
    storage: opts.storage ?? { kind: 'file' },
    rotationCheckMs: opts.rotationCheckMs,
    metrics: opts.metrics ?? false,
    writePolicy(policy) {
      writeFileSync(env.policyPath, stringify(policy));
    },
    writeConfig() {
      const storage =
        env.storage.kind === 'file'
          ? { kind: 'file', path: env.storePath }
          : { kind: 'nats', url: env.storage.url, bucket: env.storage.bucket ?? 'fle_keystore', ...(env.storage.tls ? { tls: env.storage.tls } : {}) };
      writeFileSync(
        env.configPath,
        stringify({
          listen: env.listen,
          tls: pki.files('keystore'),
          policyFile: env.policyPath,
          masterKeyFile,
          auditLog: env.auditLog,
          storage,
          logLevel: 'warn',
          ...(env.rotationCheckMs === undefined ? {} : { rotation: { checkIntervalMs: env.rotationCheckMs } }),
          ...(env.metrics ? { metrics: { listen: '127.0.0.1:0' } } : {}),
        }),
      );
    },
    async readAudit() {
      let text = '';
      try {
        text = await readFile(env.auditLog, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      return text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as AuditEntry);
    },
    cleanup() {
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
  env.writePolicy(opts.policy ?? DEFAULT_TEST_POLICY);
  env.writeConfig();
  return env;
}

export interface KeystoreProcess {
  child: ChildProcess;
  pid: number;
  port: number;
  /** `127.0.0.1:<port>`: what clients dial. */
  address: string;
  /** GET /metrics port, when the env asked for metrics. */
  metricsPort: number | undefined;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): { stdout: string; stderr: string };
  /** SIGTERM, then SIGKILL after 5 s; resolves once exited. */
  stop(): Promise<void>;
  /** SIGKILL (a crash); resolves once exited. */
  kill(): Promise<void>;
}

/**
 * Spawns the keystore on `env`'s config and resolves once it listens. After the
 * first start the port is pinned in the config, so a restart (the keystore
 * coming back after an outage) listens on the same address.
 */
export async function startKeystoreProcess(
  env: Pick<KeystoreTestEnv, 'configPath' | 'listen' | 'writeConfig'>,
  opts: {
    timeoutMs?: number;
    extraEnv?: NodeJS.ProcessEnv;
    /**
     * Script and arguments after `node --import tsx`; default
     * `[MAIN_PATH, '--config', configPath]`. The CLI test passes
     * `[<fle.mjs>, 'keystore', 'serve', '--config', configPath]`.
     */
    argv?: string[];
  } = {},
): Promise<KeystoreProcess> {
  env.writeConfig();
  // The one service starter (@fle/service-kit/testing): ready on the keystore's listening line.
  const p = await startServiceProcess({
    name: 'keystore',
    mainPath: MAIN_PATH,
    configPath: env.configPath,
    readiness: 'keystore-line',
    timeoutMs: opts.timeoutMs ?? START_TIMEOUT_MS,
    ...(opts.argv ? { argv: opts.argv } : {}),
    ...(opts.extraEnv ? { env: opts.extraEnv } : {}),
  });
  const port = p.ports.grpc;
  env.listen = `127.0.0.1:${port}`;
  return {
    child: p.child,
    pid: p.pid,
    port,
    address: `127.0.0.1:${port}`,
    metricsPort: p.ports.metrics || undefined,
    exited: p.exited,
    output: p.output,
    stop: () => p.stop(),
    kill: p.kill,
  };
}
