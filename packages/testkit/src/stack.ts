// @fle/testkit/stack: the one launcher of an fle stack for tests and the
// benchmark (issue 19 item 5). All real processes: nats-server (mTLS, the fle
// users, one node or a routed cluster: startNats), the keystore with its
// rings, the processor (the boundary service: schema, handler module, routes
// from options) and gateways (schema, routes, transports). Every process
// goes through the one service starter (@fle/service-kit/testing) and the
// one nats-server spawner (@fle/nats-setup); the stacks of the test suites
// (processor, reliability, browser, bench) are thin uses of this one.
// Every process ever started (killed ones included) stays listed so its logs
// can be scanned at the end; stop() ends everything in reverse start order.
// The two parts `npm start` (packages/devstack) shares with it live in
// ./launcher.ts (@fle/testkit/launcher, no test helpers loaded):
// createLauncher (reverse-order stop, kill on exit) and ensureRings (create
// the tenant's missing rings as the admin identity).
import { createKeystoreTestEnv, startKeystoreProcess, type KeystoreProcess, type KeystoreTestEnv } from '@fle/keystore/testing';
import { startGatewayProcess, type GatewayProcess, type GatewayProcessOptions } from '@fle/gateway/testing';
import { startProcessorProcess, type ProcessorProcess, type ProcessorProcessOptions } from '@fle/processor/testing';
import { FLE_NATS_PERMISSIONS, withKvBuckets, type NatsConfigOptions, type NatsPermissions } from '@fle/nats-setup';
import type { DevPki } from '@fle/pki';
import type { NatsConnection } from 'nats';
import { startNats, type NatsHarness } from './start-nats.js';
import { makeTestPki } from './test-pki.js';
import { createLauncher, ensureRings } from './launcher.js';

export { createLauncher, ensureRings, type EnsuredRing, type Launcher, type LauncherPart } from './launcher.js';

/** The keystore's policy document (services/keystore/src/policy.ts), as the test env writes it. */
type KeystorePolicy = NonNullable<Parameters<typeof createKeystoreTestEnv>[0]>['policy'];

export interface LaunchOptions {
  /** Default: this test file's makeTestPki(). */
  readonly pki?: DevPki;
  /** NATS users: default the fle users and permissions; `'none'` admits any certificate from the CA. */
  readonly natsUsers?: Record<string, NatsPermissions> | 'none';
  /** KV buckets the processor's handlers keep records in: granted to the processor's NATS user. */
  readonly kvBuckets?: readonly string[];
  /** NATS nodes: 1 (default) or a routed cluster. */
  readonly natsNodes?: number;
  /** The keystore's policy; default the keystore test env's. */
  readonly keystorePolicy?: KeystorePolicy;
  /** Tenants whose rings are created (as the admin identity) once the keystore listens. */
  readonly tenants?: readonly string[];
  /** Default `default` and `pci`. */
  readonly rings?: readonly string[];
  /** 3: X25519 rings (public-key sealing); default the keystore's symmetric rings. */
  readonly ringAlg?: 3;
  /**
   * The processor's options beyond what the stack fills in (pki, NATS URLs,
   * keystore address): at least its schema and handler module. Omitted: no
   * processor is started (start one with startProcessor).
   */
  readonly processor?: LaunchProcessorOptions;
}

export type LaunchProcessorOptions = Omit<ProcessorProcessOptions, 'pki' | 'natsUrls' | 'keystoreAddress'> & Partial<Pick<ProcessorProcessOptions, 'natsUrls' | 'keystoreAddress'>>;
export type LaunchGatewayOptions = Omit<GatewayProcessOptions, 'pki'> & Partial<Pick<GatewayProcessOptions, 'pki'>>;

/** A started process, for log scans. */
export interface LaunchedProcess {
  readonly name: string;
  logs(): string;
  alive(): boolean;
}

export interface LaunchedStack {
  readonly pki: DevPki;
  readonly nats: NatsHarness;
  readonly keystoreEnv: KeystoreTestEnv;
  /** The keystore now running (restartKeystore replaces it). */
  readonly keystore: KeystoreProcess;
  /** The first processor, when `processor` was given. */
  readonly processor: ProcessorProcess | undefined;
  /** Another processor on the stack's settings (plus `extra`). */
  startProcessor(extra?: Partial<ProcessorProcessOptions>): Promise<ProcessorProcess>;
  /** A gateway on the stack's PKI and NATS (natsUrls default the stack's). */
  startGateway(opts: LaunchGatewayOptions): Promise<GatewayProcess>;
  /** Starts the keystore again on its pinned port (after stop/kill). */
  restartKeystore(): Promise<KeystoreProcess>;
  /** A NATS connection under `identity`, closed by stop(). */
  connect(identity: string): Promise<NatsConnection>;
  /** Every service process started so far, killed ones included. */
  processes(): LaunchedProcess[];
  /** Runs `fn` at stop(), before what was started earlier (reverse order). */
  defer(fn: () => unknown): void;
  /** Stops everything (reverse start order). Idempotent. */
  stop(): Promise<void>;
}

export async function launchStack(opts: LaunchOptions = {}): Promise<LaunchedStack> {
  const launcher = createLauncher();
  const started: LaunchedProcess[] = [];
  const stop = (): Promise<void> => launcher.stop();
  const track = (name: string, p: { output(): { stdout: string; stderr: string }; child: { exitCode: number | null; signalCode: NodeJS.Signals | null } }): void => {
    started.push({
      name,
      logs: () => `${p.output().stdout}\n${p.output().stderr}`,
      alive: () => p.child.exitCode === null && p.child.signalCode === null,
    });
  };
  try {
    const pki = opts.pki ?? (await makeTestPki());
    const base = opts.natsUsers ?? FLE_NATS_PERMISSIONS;
    const users: NatsConfigOptions['users'] = base !== 'none' && opts.kvBuckets?.length ? withKvBuckets(base, 'processor', opts.kvBuckets) : base;
    const nats = await startNats({ tls: pki, users, cluster: opts.natsNodes ?? 1 });
    launcher.add({ name: 'nats-server', stop: () => nats.stop() });
    const keystoreEnv = await createKeystoreTestEnv({ pki, ...(opts.keystorePolicy ? { policy: opts.keystorePolicy } : {}) });
    launcher.defer(() => keystoreEnv.cleanup());
    let keystore = await startKeystoreProcess(keystoreEnv);
    track('keystore', keystore);
    launcher.add({ name: 'keystore', stop: () => keystore.stop() });
    const rings = (opts.rings ?? ['default', 'pci']).map((ring) => (opts.ringAlg ? { ring, alg: opts.ringAlg } : { ring }));
    for (const tenant of opts.tenants ?? []) await ensureRings({ address: keystore.address, tls: pki.files('admin'), tenant, rings });

    const startProcessor = async (extra: Partial<ProcessorProcessOptions> = {}): Promise<ProcessorProcess> => {
      const merged = { pki, natsUrls: nats.urls, keystoreAddress: keystore.address, ...opts.processor, ...extra };
      const p = await startProcessorProcess(merged as ProcessorProcessOptions);
      track('processor', p);
      launcher.add({ name: 'processor', stop: () => p.stop() });
      return p;
    };
    const startGateway = async (g: LaunchGatewayOptions): Promise<GatewayProcess> => {
      const gw = await startGatewayProcess({ pki, natsUrls: nats.urls, ...g });
      track('gateway', gw);
      launcher.add({ name: 'gateway', stop: () => gw.stop() });
      return gw;
    };
    const processor = opts.processor ? await startProcessor() : undefined;
    const conns: NatsConnection[] = [];
    launcher.defer(async () => void (await Promise.allSettled(conns.map((c) => c.close()))));
    const stack: LaunchedStack = {
      pki,
      nats,
      keystoreEnv,
      get keystore() {
        return keystore;
      },
      processor,
      startProcessor,
      startGateway,
      async restartKeystore() {
        keystore = await startKeystoreProcess(keystoreEnv);
        track('keystore', keystore);
        return keystore;
      },
      async connect(identity) {
        const nc = await nats.connect(identity);
        conns.push(nc);
        return nc;
      },
      processes: () => [...started],
      defer: (fn) => launcher.defer(fn),
      stop,
    };
    return stack;
  } catch (err) {
    await stop();
    throw err;
  }
}
