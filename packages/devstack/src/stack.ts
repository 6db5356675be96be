// The local stack: certificates, master key, nats-server, keystore, processor
// and gateway, each a real child process on the loopback address, every link
// mutually authenticated TLS. Start order follows the dependencies (NATS and
// the keystore first, the gateway, the public edge, last); stop order is the
// reverse. Whatever was started is stopped on every path out: a failed start,
// stop(), or this process exiting (children are SIGKILLed from the exit hook).
// Start order, reverse stop, the exit hook and the ring set-up are the test
// stacks' launcher's (@fle/testkit/launcher: createLauncher, ensureRings); what is
// devstack's own is the state folder, fixed ports, YAML configs and stack.json.
import { fileURLToPath } from 'node:url';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { DEFAULT_IDENTITIES, ensureDevPki, pkiPaths, type PkiPaths } from '@fle/pki';
import { KeystorePublicKeyProvider } from '@fle/keystore-client';
import { loadSchema } from '@fle/schema';
import { createLauncher, ensureRings, type EnsuredRing } from '@fle/testkit/launcher';
import { EDGE_AUDIENCE, EDGE_DEV_ISSUER, gatewayConfig, keystoreConfig, keystorePolicy, natsUsers, processorConfig, stackIdentities, webTenant } from './configs.js';
import { DevStackError } from './errors.js';
import { startStackNats, type StackNats } from './nats-runner.js';
import { assertPortsFree, probePort } from './ports.js';
import { startServiceChild, type ServiceChild } from './service-child.js';
import type { StackSettings } from './settings.js';
import { removeStackFile, runningStack, writeStackFile, type StackInfo } from './stack-file.js';
import { ensureMasterKey, prepareStateDirs, stateLayout, type StateLayout } from './state-dir.js';
import { writeExamplePage } from './web/example-page.js';

/** The key rings of the demo tenant: `default`, and `pci` (card fields name it in the schema). */
export const DEMO_KEY_RINGS = ['default', 'pci'] as const;

/**
 * The API the stack serves: its schema and the handler module the processor
 * loads (scripts/start.ts passes the payments example's; devstack itself
 * knows no API), and the method the gateway routes.
 */
export interface StackApi {
  /** The processor config's `schema:` (absolute paths). */
  readonly schema: { readonly image: string } | { readonly protoRoots: readonly string[] };
  /** The processor config's `handlers:` (absolute path of an ES module). */
  readonly handlers: string;
  /** KV buckets the handlers keep records in: the processor's NATS user is granted them (and the demo's observer sees their puts). */
  readonly kvBuckets?: readonly string[];
  /** Key rings the handlers seal their stored records under: created (symmetric) for each tenant the stack serves, and exclusive to the processor identity in the keystore policy. */
  readonly recordRings?: readonly string[];
  /** The method the gateway routes and the demo calls, `/pkg.Service/Method`. */
  readonly method: string;
  /** Its NATS route token. */
  readonly route: string;
}

export interface StartStackOptions {
  readonly api: StackApi;
  /** One line per step, for the console. */
  readonly onStep?: (line: string) => void;
  /** Aborts start-up (Ctrl-C): what is running is stopped, then start rejects. */
  readonly signal?: AbortSignal;
  /**
   * The example page on the gateway's public edge (docs/edge.md): given the
   * @fle/client/browser bundle, the gateway opens its edge on ports.edge and
   * serves the page there. Without it, no edge.
   */
  readonly web?: { readonly bundle: string };
}

export interface RunningStack {
  readonly info: StackInfo;
  readonly settings: StackSettings;
  readonly layout: StateLayout;
  readonly pki: PkiPaths;
  /** Settles when a service exits while the stack is up (it is never rejected; the value says who and how). */
  readonly failed: Promise<DevStackError>;
  /** Stops every process (reverse start order), removes the stack file. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILLs every process still running (a second Ctrl-C). */
  killNow(): void;
}

const MAINS = {
  keystore: mainOf('@fle/keystore'),
  processor: mainOf('@fle/processor'),
  gateway: mainOf('@fle/gateway'),
};

/** `<package>/src/main.ts`, next to the module the package exports. */
function mainOf(pkg: string): string {
  return fileURLToPath(new URL('./main.ts', import.meta.resolve(pkg)));
}

export async function startStack(settings: StackSettings, opts: StartStackOptions): Promise<RunningStack> {
  const step = opts.onStep ?? (() => undefined);
  const layout = stateLayout(settings.home);
  const started: string[] = [];
  // Files this run wrote: only these are removed on the way out (a failed
  // second start must not delete a running stack's stack file or ports files).
  let wroteStackFile = false;
  let stopping = false;
  let stopped: Promise<void> | undefined;
  let reportFailure: (e: DevStackError) => void = () => undefined;
  const failed = new Promise<DevStackError>((resolve) => (reportFailure = resolve));

  // Last line of defence (killOnExit): whatever way this process ends, no child outlives it.
  const launcher = createLauncher({ killOnExit: true });
  const killAll = (): void => launcher.killNow();
  // Runs last, once every process is stopped.
  launcher.defer(async () => {
    if (wroteStackFile) await removeStackFile(layout.stackFile).catch(() => undefined);
    for (const name of ['processor', 'gateway'] as const) {
      if (started.includes(name)) await rm(layout.portsFile(name), { force: true }).catch(() => undefined);
    }
  });

  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      stopping = true;
      await launcher.stop();
    })());

  const watch = (name: string, exited: Promise<unknown>, log: string): void => {
    void exited.then((e) => {
      if (stopping) return;
      const how = e && typeof e === 'object' && 'code' in e ? ` (code ${String((e as { code: unknown }).code)}, signal ${String((e as { signal?: unknown }).signal ?? null)})` : '';
      reportFailure(new DevStackError('DEVSTACK_SERVICE_FAILED', `${name} exited while the stack was running${how}; see ${log}`));
    });
  };
  const checkAborted = (): void => {
    if (opts.signal?.aborted) throw new DevStackError('DEVSTACK_SERVICE_FAILED', 'start-up was interrupted');
  };

  // A stack already running from this folder is left exactly as it is.
  const other = await runningStack(layout.stackFile, async (host, port) => !(await probePort(host, port).then(() => true, () => false)));
  if (other) {
    await launcher.stop();
    throw new DevStackError(
      'DEVSTACK_ALREADY_RUNNING',
      `a stack is already running from ${layout.home} (pid ${other.pid}, gateway ${other.gateway}): use it (npx fle demo), stop it first (Ctrl-C where it runs), or set FLE_HOME to another folder`,
    );
  }

  try {
    await prepareStateDirs(layout);
    await assertPortsFree(settings.host, opts.web ? settings.ports : { ...settings.ports, edge: 0 });

    const pkiResult = await ensureDevPki({ dir: layout.certs, identities: stackIdentities(DEFAULT_IDENTITIES) });
    const pki = pkiPaths(layout.certs);
    step(pkiResult.written.length > 0 ? `certificates: wrote ${pkiResult.written.length} files to ${layout.certs}` : `certificates: ${layout.certs} (already there)`);
    const master = await ensureMasterKey(layout.masterKey);
    step(`master key: ${layout.masterKey} (${master.created ? 'created now' : 'kept'}, mode 0600, never printed)`);
    checkAborted();

    const nats: StackNats = await startStackNats({
      runner: settings.natsRunner,
      host: settings.host,
      port: settings.ports.nats,
      tls: pki.files('nats'),
      users: natsUsers(opts.api),
      workDir: layout.natsDir,
      storeDir: layout.jetstream,
      logFile: layout.log('nats'),
    });
    started.push('nats-server');
    launcher.add({ name: 'nats-server', stop: () => nats.stop(), killNow: () => nats.killNow() });
    watch('nats-server', nats.exited, layout.log('nats'));
    step(`nats-server: ${nats.url} — ${nats.describe()}, mTLS with certificate-mapped users, JetStream in ${nats.runner === 'binary' ? layout.jetstream : 'the container'}`);
    checkAborted();

    const child = async (name: 'keystore' | 'processor' | 'gateway', config: Record<string, unknown>): Promise<ServiceChild> => {
      await writeFile(layout.config(name), stringify(config), { mode: 0o600 });
      const c = await startServiceChild({
        name,
        mainPath: MAINS[name],
        configPath: layout.config(name),
        logFile: layout.log(name),
        readiness: name === 'keystore' ? { kind: 'keystore-line' } : { kind: 'ports-file', path: layout.portsFile(name) },
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      started.push(name);
      launcher.add({ name, stop: () => c.stop(), killNow: () => c.killNow() });
      watch(name, c.exited, c.logFile);
      return c;
    };

    await writeFile(layout.policyFile, stringify(keystorePolicy(settings, opts.api)), { mode: 0o600 });
    const keystore = await child('keystore', keystoreConfig(settings, layout, pki));
    const keystoreAddress = `${settings.host}:${keystore.port}`;
    const rings = await ensureDemoRings(keystoreAddress, pki, settings.tenant, undefined, opts.api.recordRings);
    step(`keystore: ${keystoreAddress} (pid ${keystore.pid}) — file storage ${layout.keystoreStore}; tenant "${settings.tenant}" key rings ${rings.map((r) => `${r.ring} v${r.version}${r.created ? ' (created now)' : ''}`).join(', ')}`);
    checkAborted();

    const processor = await child('processor', processorConfig(settings, layout, pki, nats.url, keystoreAddress, opts.api));
    const processorAddress = `${settings.host}:${processor.port}`;
    step(`processor: ${processorAddress} (pid ${processor.pid}) — NATS queue group + JetStream consumer, gRPC for the gateway only; keys from the keystore`);
    checkAborted();

    if (opts.web) {
      // The page's tenant has X25519 rings (public-key sealing); the demo tenant's are symmetric.
      const tenant = webTenant(settings);
      await ensureDemoRings(keystoreAddress, pki, tenant, 3, opts.api.recordRings);
      await writeExamplePage({
        dir: layout.web,
        jwksFile: layout.edgeJwks,
        bundle: opts.web.bundle,
        schema: loadSchema(opts.api.schema).toJSON(),
        method: opts.api.method,
        tenant,
        publicKeys: await publicKeysOf(keystoreAddress, pki, tenant),
        issuer: EDGE_DEV_ISSUER,
        audience: EDGE_AUDIENCE,
      });
    }
    const gateway = await child('gateway', gatewayConfig(settings, layout, pki, nats.url, processorAddress, opts.api, Boolean(opts.web)));
    const gatewayAddress = `${settings.host}:${gateway.port}`;
    step(`gateway: ${gatewayAddress} (pid ${gateway.pid}) — Authorize routed over ${settings.transport}; callers need the client certificate`);
    // The gateway's ports file names the edge's port next to the gRPC one (FLE_EDGE_PORT, or a free port for 0).
    const edgeUrl = opts.web ? `https://${settings.host}:${(JSON.parse(await readFile(layout.portsFile('gateway'), 'utf8')) as { edge: number }).edge}/` : undefined;
    if (edgeUrl) step(`gateway edge: ${edgeUrl} — the example page; Authorize for tenant "${webTenant(settings)}" with a bearer token, public-key envelopes only`);

    const info: StackInfo = {
      pid: process.pid,
      startedAt: new Date().toISOString(),
      home: layout.home,
      certsDir: layout.certs,
      tenant: settings.tenant,
      transport: settings.transport,
      natsRunner: nats.runner,
      gateway: gatewayAddress,
      keystore: keystoreAddress,
      processor: processorAddress,
      nats: nats.url,
      kvBuckets: [...(opts.api.kvBuckets ?? [])],
      api: { schema: opts.api.schema, method: opts.api.method, route: opts.api.route },
      ...(edgeUrl ? { edge: edgeUrl } : {}),
      processes: [
        { name: 'nats', pid: nats.pid, address: nats.url, log: layout.log('nats') },
        { name: 'keystore', pid: keystore.pid, address: keystoreAddress, log: keystore.logFile },
        { name: 'processor', pid: processor.pid, address: processorAddress, log: processor.logFile },
        { name: 'gateway', pid: gateway.pid, address: gatewayAddress, log: gateway.logFile },
      ],
    };
    await writeStackFile(layout.stackFile, info);
    wroteStackFile = true;
    return { info, settings, layout, pki, failed, stop, killNow: killAll };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Creates the demo tenant's missing key rings (as the admin identity); existing rings are kept. alg 3: X25519 rings (the record rings stay symmetric: only the processor seals and opens them). */
async function ensureDemoRings(address: string, pki: PkiPaths, tenant: string, alg?: 3, recordRings: readonly string[] = []): Promise<EnsuredRing[]> {
  try {
    return await ensureRings({
      address,
      tls: pki.files('admin'),
      tenant,
      rings: [...DEMO_KEY_RINGS.map((ring) => (alg ? { ring, alg } : { ring })), ...recordRings.map((ring) => ({ ring }))],
      // `localhost` is a SAN of every dev certificate; naming it avoids node's DEP0123 warning (SNI with an IP address).
      channelOptions: { 'grpc.ssl_target_name_override': 'localhost' },
    });
  } catch (err) {
    throw new DevStackError('DEVSTACK_SERVICE_FAILED', `could not prepare the key rings of tenant "${tenant}": ${(err as Error).message}`, { cause: err });
  }
}

/** The primary public keys of the tenant's rings, as the client identity may fetch them (fetch-public): what the page seals with. */
async function publicKeysOf(address: string, pki: PkiPaths, tenant: string): Promise<Array<{ tenant: string; ring: string; version: number; publicKey: string }>> {
  const keys = new KeystorePublicKeyProvider({ address, tls: pki.files('client'), channelOptions: { 'grpc.ssl_target_name_override': 'localhost' } });
  try {
    return await Promise.all(
      DEMO_KEY_RINGS.map(async (ring) => {
        const k = await keys.recipientKey({ tenant, ring });
        return { tenant, ring, version: k.version, publicKey: Buffer.from(k.publicKey).toString('base64url') };
      }),
    );
  } catch (err) {
    throw new DevStackError('DEVSTACK_SERVICE_FAILED', `could not fetch the public keys of tenant "${tenant}" for the example page: ${(err as Error).message}`, { cause: err });
  } finally {
    keys.close();
  }
}
