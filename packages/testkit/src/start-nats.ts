// The one NATS harness every integration test uses (issue 6 item 1).
//
//   const nats = await startNats({ tls: true, cluster: 3 });
//   const nc = await nats.connect('processor');
//   await nats.killNode(0); … await nats.restartNode(0);
//   await nats.stop();
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type ConnectionOptions, type NatsConnection } from 'nats';
import { natsTlsOptions, NATS_SERVER_IDENTITY, type PkiPaths } from '@fle/pki';
import { natsInboxPrefix, type NatsConfigOptions } from '@fle/nats-setup';
import { freePort, tempDir } from './cleanup.js';
import { ContainerNode, containerNetwork } from './container-nodes.js';
import { HarnessError } from './errors.js';
import { BinaryNode, type NatsNode } from './nodes.js';
import { chooseProvider, type NatsProvider } from './provider.js';
import { makeTestPki } from './test-pki.js';

export interface StartNatsOptions {
  /** JetStream on every node. Default true. */
  jetstream?: boolean;
  /**
   * mTLS: a PKI folder (its `nats` certificate serves, its CA verifies
   * clients), or `true` for this test file's {@link makeTestPki}. Default off.
   */
  tls?: PkiPaths | true;
  /**
   * With TLS: `'fle'` maps certificates to the fle users and permissions (default); `'none'` admits any certificate from the CA;
   * a record gives the users a test needs (e.g. `{ ...FLE_NATS_PERMISSIONS, 'events-pub': {...} }`, their certificates in `tls`).
   */
  users?: NatsConfigOptions['users'];
  /** Number of nodes: 1 (default) or a cluster with routes (3 for R3 streams). */
  cluster?: number;
  /** Overrides env FLE_NATS. */
  provider?: NatsProvider;
  /** Server debug logging (raft elections, catch-ups). Default: env FLE_NATS_DEBUG=1. */
  debug?: boolean;
}

/** What the harness knows of one node, for diagnostics. */
export interface NatsNodeView {
  readonly name: string;
  readonly running: boolean;
  /** HTTP monitoring base URL (`/jsz`, `/varz`: outside client TLS and auth), when the node has one. */
  readonly monitorUrl: string | undefined;
  /** The nats-server process id (binary nodes that run). */
  readonly pid?: number;
}

export interface NatsHarness {
  readonly provider: NatsProvider;
  /** Client URLs of every node (running or not), for `connect({ servers })`. */
  readonly urls: string[];
  readonly pki: PkiPaths | undefined;
  readonly nodeCount: number;
  /** nats.js options for this server: all URLs, and the identity's certificate under TLS. */
  connectOptions(identity?: string, extra?: Partial<ConnectionOptions>): ConnectionOptions;
  /** Connects (closed again by `stop()`). Under TLS an identity is required, e.g. `'processor'`. */
  connect(identity?: string, extra?: Partial<ConnectionOptions>): Promise<NatsConnection>;
  /** Resolves once JetStream answers on every running node (meta leader elected, peers current). */
  waitForJetStream(timeoutMs?: number): Promise<void>;
  /** Stops every node, keeping ports and stores, then starts them again. */
  restart(): Promise<void>;
  /** SIGKILLs node `i` (a crash, no graceful shutdown). */
  killNode(i: number): Promise<void>;
  /** Starts node `i` again with its ports and store, and waits (up to `readyTimeoutMs`, default 20 s) until JetStream has caught up. */
  restartNode(i: number, readyTimeoutMs?: number): Promise<void>;
  /** Every node, running or not, in index order. */
  nodeViews(): NatsNodeView[];
  /** Node `i`'s server log so far, across restarts (binary nodes; undefined for containers). */
  serverLog(i: number): Promise<string | undefined>;
  /** Closes harness connections, stops every node, removes containers. */
  stop(): Promise<void>;
}

export async function startNats(opts: StartNatsOptions = {}): Promise<NatsHarness> {
  const provider = opts.provider ?? (await chooseProvider());
  const size = opts.cluster ?? 1;
  if (!Number.isInteger(size) || size < 1 || size > 5) throw new HarnessError('HARNESS_UNSUPPORTED', 'cluster must be 1..5 nodes');
  const pki = opts.tls === true ? await makeTestPki() : opts.tls;
  if (pki && provider !== 'url' && !existsSync(pki.cert(NATS_SERVER_IDENTITY))) {
    throw new HarnessError('HARNESS_UNSUPPORTED', `${pki.dir} has no ${NATS_SERVER_IDENTITY}.pem for the server: create the PKI with the default identities (they include "${NATS_SERVER_IDENTITY}")`);
  }
  const users = pki ? (opts.users ?? 'fle') : 'none';
  const jetstream = opts.jetstream ?? true;
  const debug = opts.debug ?? process.env['FLE_NATS_DEBUG'] === '1';

  if (provider === 'url') return urlHarness(pki);

  const nodes: NatsNode[] = [];
  const cleanup: Array<() => Promise<void>> = [];
  if (provider === 'binary') {
    const root = await tempDir('fle-nats-');
    const clusterPorts = size > 1 ? await Promise.all(Array.from({ length: size }, () => freePort())) : [];
    for (let i = 0; i < size; i++) {
      const dir = join(root, `node-${i}`);
      const config: Omit<NatsConfigOptions, 'port' | 'httpPort' | 'portsFileDir'> = {
        serverName: `fle-nats-${i}`,
        debug,
        jetstream: jetstream ? { storeDir: join(dir, 'jetstream'), maxFileStore: '1GB', maxMemoryStore: '128MB' } : false,
        users,
        ...(pki ? { tls: pki.files(NATS_SERVER_IDENTITY) } : {}),
        ...(size > 1
          ? { cluster: { name: 'fle', port: clusterPorts[i]!, routes: clusterPorts.filter((_, j) => j !== i).map((p) => `nats-route://127.0.0.1:${p}`) } }
          : {}),
      };
      nodes.push(new BinaryNode(`fle-nats-${i}`, dir, config));
    }
  } else {
    const network = size > 1 ? await containerNetwork() : undefined;
    if (network) cleanup.push(async () => void (await network.stop()));
    for (let i = 0; i < size; i++) {
      const node = new ContainerNode({
        name: `fle-nats-${i}`,
        alias: `nats-${i}`,
        ...(network ? { network } : {}),
        ...(pki ? { tls: pki.files(NATS_SERVER_IDENTITY) } : {}),
        config: {
          serverName: `fle-nats-${i}`,
          debug,
          jetstream,
          users,
          // Routes stay inside the private Docker network; the dev certificate
          // does not name the container aliases, so route TLS is left off here.
          ...(size > 1
            ? { cluster: { name: 'fle', port: 6222, tls: false as const, routes: Array.from({ length: size }, (_, j) => j).filter((j) => j !== i).map((j) => `nats-route://nats-${j}:6222`) } }
            : {}),
        },
      });
      nodes.push(node);
      cleanup.unshift(() => node.remove());
    }
  }

  const harness = new NodesHarness(provider, nodes, pki, jetstream, cleanup);
  try {
    await Promise.all(nodes.map((n) => n.start()));
    if (jetstream) await harness.waitForJetStream();
  } catch (e) {
    await harness.stop();
    throw e;
  }
  return harness;
}

class NodesHarness implements NatsHarness {
  private readonly conns = new Set<NatsConnection>();

  constructor(
    readonly provider: NatsProvider,
    private readonly nodes: NatsNode[],
    readonly pki: PkiPaths | undefined,
    private readonly jetstream: boolean,
    private readonly cleanup: Array<() => Promise<void>>,
  ) {}

  get urls(): string[] {
    return this.nodes.map((n) => n.url());
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  connectOptions(identity?: string, extra: Partial<ConnectionOptions> = {}): ConnectionOptions {
    return connectOptionsFor(this.urls, this.pki, identity, extra);
  }

  async connect(identity?: string, extra?: Partial<ConnectionOptions>): Promise<NatsConnection> {
    const nc = await connect(this.connectOptions(identity, extra));
    this.conns.add(nc);
    void nc.closed().then(() => this.conns.delete(nc));
    return nc;
  }

  async waitForJetStream(timeoutMs = 20_000): Promise<void> {
    if (!this.jetstream) return;
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    // Bounded poll of each running node's /jsz (monitoring is outside client TLS and auth).
    while (Date.now() < deadline) {
      const running = this.nodes.filter((n) => n.running());
      const verdict = await jetStreamVerdict(running);
      if (verdict === true) return;
      last = verdict;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new HarnessError('HARNESS_NOT_READY', `JetStream not ready after ${timeoutMs} ms: ${last}`);
  }

  async restart(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    await Promise.all(this.nodes.map((n) => n.start()));
    await this.waitForJetStream();
  }

  async killNode(i: number): Promise<void> {
    await this.node(i).kill();
  }

  async restartNode(i: number, readyTimeoutMs?: number): Promise<void> {
    await this.node(i).start();
    await this.waitForJetStream(readyTimeoutMs);
  }

  nodeViews(): NatsNodeView[] {
    return this.nodes.map((n) => {
      const pid = n.pid?.();
      return { name: n.name, running: n.running(), monitorUrl: n.monitorUrl(), ...(pid === undefined ? {} : { pid }) };
    });
  }

  serverLog(i: number): Promise<string | undefined> {
    return this.node(i).serverLog();
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.conns].map((c) => c.close()));
    await Promise.allSettled(this.nodes.map((n) => n.stop()));
    for (const step of this.cleanup) await step().catch(() => undefined);
  }

  private node(i: number): NatsNode {
    const n = this.nodes[i];
    if (!n) throw new HarnessError('HARNESS_UNSUPPORTED', `no node ${i} (the harness has ${this.nodes.length})`);
    return n;
  }
}

interface RaftGroup {
  leader?: string;
  replicas?: Array<{ name: string; current: boolean; offline?: boolean }>;
}

interface Jsz {
  meta_cluster?: RaftGroup & { cluster_size?: number };
  account_details?: Array<{ name: string; stream_detail?: Array<{ name: string; cluster?: RaftGroup }> }>;
}

/**
 * true, or why JetStream is not ready yet. Ready means: every running node
 * knows the meta leader, the meta leader sees every running node current, and
 * every clustered stream has a leader that sees its replicas on running nodes
 * current. The last part matters after restartNode(): until a restarted
 * replica has caught up it answers stream requests with its stale state.
 */
async function jetStreamVerdict(running: NatsNode[]): Promise<true | string> {
  if (running.length === 0) return 'no node is running';
  if (running.some((n) => n.monitorUrl() === undefined)) return 'a node has no monitoring endpoint';
  const reports = new Map<string, Jsz>();
  for (const node of running) {
    try {
      const res = await fetch(`${node.monitorUrl()}/jsz?accounts=true&streams=true`, { signal: AbortSignal.timeout(1000) });
      if (!res.ok) return `${node.name}: /jsz ${res.status}`;
      reports.set(node.name, (await res.json()) as Jsz);
    } catch (e) {
      return `${node.name}: ${(e as Error).message}`;
    }
  }
  const caughtUp = (what: string, group: RaftGroup): true | string => {
    if (!group.leader) return `${what}: no leader yet`;
    if (!reports.has(group.leader)) return `${what}: leader ${group.leader} is not a running node`;
    return true;
  };
  for (const [name, jsz] of reports) {
    const meta = jsz.meta_cluster;
    if (!meta) continue; // a single server has no meta group: ready once it answers
    const ok = caughtUp(`${name} meta`, meta);
    if (ok !== true) return ok;
    const leaderMeta = reports.get(meta.leader!)!.meta_cluster;
    const lagging = behind(leaderMeta, running, true);
    if (lagging) return `meta leader ${meta.leader} does not see ${lagging} current`;
    for (const acc of jsz.account_details ?? []) {
      for (const st of acc.stream_detail ?? []) {
        if (!st.cluster?.replicas) continue; // R1: no group to wait for
        const what = `${name} stream ${acc.name}/${st.name}`;
        const okStream = caughtUp(what, st.cluster);
        if (okStream !== true) return okStream;
        const leaderStream = reports
          .get(st.cluster.leader!)!
          .account_details?.find((a) => a.name === acc.name)
          ?.stream_detail?.find((x) => x.name === st.name)?.cluster;
        const laggingStream = behind(leaderStream, running, false);
        if (laggingStream) return `${what}: leader does not see ${laggingStream} current`;
      }
    }
  }
  return true;
}

/**
 * The first running node (other than the leader) that the leader's view of the
 * group does not show current. `everyNode`: every running node must be a
 * member (the meta group); otherwise only the group's own replicas count (a
 * stream lives on `num_replicas` nodes, not necessarily all).
 */
function behind(group: RaftGroup | undefined, running: NatsNode[], everyNode: boolean): string | undefined {
  if (!group) return 'its group';
  for (const node of running) {
    if (node.name === group.leader) continue;
    const r = group.replicas?.find((x) => x.name === node.name);
    if (!r) {
      if (everyNode) return node.name;
      continue;
    }
    if (!r.current || r.offline) return node.name;
  }
  return undefined;
}

function connectOptionsFor(urls: string[], pki: PkiPaths | undefined, identity: string | undefined, extra: Partial<ConnectionOptions>): ConnectionOptions {
  if (pki && identity === undefined) {
    throw new HarnessError('HARNESS_UNSUPPORTED', 'this NATS requires a client certificate: name the identity, e.g. connect("processor")');
  }
  return {
    servers: urls,
    // Fast, bounded reconnects: fault drills restart nodes and expect clients back within seconds.
    reconnectTimeWait: 100,
    maxReconnectAttempts: 200,
    timeout: 5000,
    ...(pki && identity ? { tls: natsTlsOptions(pki.files(identity)) } : {}),
    // The identity's own reply inbox: the fle users may read no other (nats-setup permissions).
    ...(identity ? { inboxPrefix: natsInboxPrefix(identity) } : {}),
    ...extra,
  };
}

/** FLE_NATS=url: an external server the harness neither starts nor stops. */
function urlHarness(pki: PkiPaths | undefined): NatsHarness {
  const urls = (process.env['NATS_URL'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const conns = new Set<NatsConnection>();
  const unsupported = (what: string) => async (): Promise<never> => {
    throw new HarnessError('HARNESS_UNSUPPORTED', `${what} needs a NATS the harness runs (FLE_NATS=binary or container), not FLE_NATS=url`);
  };
  return {
    provider: 'url',
    urls,
    pki,
    nodeCount: urls.length,
    connectOptions: (identity, extra = {}) => connectOptionsFor(urls, pki, identity, extra),
    async connect(identity, extra) {
      const nc = await connect(connectOptionsFor(urls, pki, identity, extra ?? {}));
      conns.add(nc);
      return nc;
    },
    waitForJetStream: async () => undefined,
    nodeViews: () => urls.map((u) => ({ name: u, running: true, monitorUrl: undefined })),
    serverLog: async () => undefined,
    restart: unsupported('restart()'),
    killNode: unsupported('killNode()'),
    restartNode: unsupported('restartNode()'),
    async stop() {
      await Promise.allSettled([...conns].map((c) => c.close()));
    },
  };
}
