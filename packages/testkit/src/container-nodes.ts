// NATS in Docker through testcontainers (FLE_NATS=container, or the default
// when a Docker engine answers; `npm start` without a binary uses it too). The generated config and certificates are
// copied in; host ports are fixed at first start so a restart keeps them.
//
// Not @testcontainers/nats' NatsContainer: it always passes --user/--pass,
// which nats-server refuses beside certificate-mapped users, so the harness
// drives the same image through GenericContainer with its own config file.
import { GenericContainer, Network, Wait, type StartedNetwork, type StartedTestContainer } from 'testcontainers';
import { renderNatsConfig, type NatsConfigOptions } from '@fle/nats-setup';
import type { TlsFiles } from '@fle/pki';
import { freePort } from './cleanup.js';
import type { NatsNode } from './nodes.js';

const IMAGE = process.env['FLE_NATS_IMAGE'] ?? 'nats:2.10-alpine';
const CERTS = '/fle/certs';

export interface ContainerNodeSpec {
  name: string;
  alias: string;
  network?: StartedNetwork;
  /** Host TLS files; copied to /fle/certs inside. */
  tls?: TlsFiles;
  config: Omit<NatsConfigOptions, 'port' | 'httpPort' | 'portsFileDir' | 'tls' | 'jetstream' | 'host'> & { jetstream: boolean };
  /** Host client port; default a free one (`npm start` pins FLE_NATS_PORT). */
  hostPort?: number;
  /** Default 60 s (the first start may pull the image). */
  startupTimeoutMs?: number;
}

export class ContainerNode implements NatsNode {
  private container: StartedTestContainer | undefined;
  private stopped = false;
  private hostPort = 0;
  private hostHttpPort = 0;

  constructor(private readonly spec: ContainerNodeSpec) {}

  get name(): string {
    return this.spec.name;
  }

  url(): string {
    return `nats://${this.host()}:${this.hostPort}`;
  }

  monitorUrl(): string | undefined {
    return this.hostHttpPort ? `http://${this.host()}:${this.hostHttpPort}` : undefined;
  }

  /** Where the engine publishes ports: 127.0.0.1 locally, the remote host for a tcp DOCKER_HOST. */
  private host(): string {
    return this.container?.getHost() ?? '127.0.0.1';
  }

  running(): boolean {
    return this.container !== undefined && !this.stopped;
  }

  async start(): Promise<void> {
    if (this.container) {
      if (this.stopped) {
        await this.container.restart();
        this.stopped = false;
      }
      return;
    }
    this.hostPort = this.spec.hostPort || (await freePort());
    this.hostHttpPort = await freePort();
    const { tls, config } = this.spec;
    const inside: TlsFiles | undefined = tls && { ca: `${CERTS}/ca.pem`, cert: `${CERTS}/server.pem`, key: `${CERTS}/server-key.pem` };
    const text = renderNatsConfig({
      ...config,
      host: '0.0.0.0',
      port: 4222,
      httpPort: 8222,
      tls: inside,
      jetstream: config.jetstream ? { storeDir: '/data/jetstream' } : false,
    });
    let c = new GenericContainer(IMAGE)
      .withCopyContentToContainer([{ content: text, target: '/fle/nats.conf', mode: 0o644 }])
      .withCommand(['-c', '/fle/nats.conf'])
      .withExposedPorts({ container: 4222, host: this.hostPort }, { container: 8222, host: this.hostHttpPort })
      .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
      .withStartupTimeout(this.spec.startupTimeoutMs ?? 60_000);
    if (tls && inside) {
      c = c.withCopyFilesToContainer([
        { source: tls.ca, target: inside.ca, mode: 0o644 },
        { source: tls.cert, target: inside.cert, mode: 0o644 },
        { source: tls.key, target: inside.key, mode: 0o600 },
      ]);
    }
    if (this.spec.network) c = c.withNetwork(this.spec.network).withNetworkAliases(this.spec.alias);
    this.container = await c.start();
  }

  async stop(): Promise<void> {
    if (!this.running()) return;
    await this.container!.stop({ timeout: 5, remove: false });
    this.stopped = true;
  }

  async kill(): Promise<void> {
    if (!this.running()) return;
    await this.container!.stop({ timeout: 0, remove: false });
    this.stopped = true;
  }

  /** Not kept for containers (`docker logs` has them while the container exists). */
  async serverLog(): Promise<string | undefined> {
    return undefined;
  }

  /** The container's id, for a console line. */
  id(): string | undefined {
    return this.container?.getId();
  }

  /** Removes the container for good (end of the test file). */
  async remove(): Promise<void> {
    const c = this.container;
    this.container = undefined;
    if (c) await c.stop({ timeout: 0, remove: true, removeVolumes: true });
  }
}

export async function containerNetwork(): Promise<StartedNetwork> {
  return new Network().start();
}
