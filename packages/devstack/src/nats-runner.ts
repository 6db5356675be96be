// nats-server for the local stack, with the generated mTLS + JetStream config
// (@fle/nats-setup): the binary (NATS_SERVER_BIN, PATH, /usr/sbin) as a child
// process when there is one; otherwise the official image through
// testcontainers when a Docker engine answers; otherwise one clear message
// saying how to get either.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { findNatsServer, INSTALL_HINT, renderNatsConfig, spawnNatsServer, type NatsConfigOptions } from '@fle/nats-setup';
import type { TlsFiles } from '@fle/pki';
import { DevStackError } from './errors.js';
import type { NatsRunner } from './settings.js';

export interface StackNatsOptions {
  readonly runner: NatsRunner | undefined;
  readonly host: string;
  /** 0 = any free port. */
  readonly port: number;
  /** The server's certificate files (identity `nats`). */
  readonly tls: TlsFiles;
  readonly users: NatsConfigOptions['users'];
  /** Binary: config, ports file and JetStream store live here. */
  readonly workDir: string;
  readonly storeDir: string;
  readonly logFile: string;
}

export interface StackNats {
  readonly runner: NatsRunner;
  /** `nats://127.0.0.1:<port>` (TLS is negotiated from the server's INFO). */
  readonly url: string;
  readonly port: number;
  /** The nats-server process (binary runner only). */
  readonly pid: number | undefined;
  readonly exited: Promise<unknown>;
  alive(): boolean;
  stop(): Promise<void>;
  /** SIGKILL now (binary only; a container is removed by testcontainers' reaper). */
  killNow(): void;
  describe(): string;
}

const IMAGE = process.env['FLE_NATS_IMAGE'] ?? 'nats:2.10-alpine';

export async function startStackNats(opts: StackNatsOptions): Promise<StackNats> {
  const runner = opts.runner ?? (await chooseRunner());
  return runner === 'binary' ? startBinary(opts) : startContainer(opts);
}

async function chooseRunner(): Promise<NatsRunner> {
  try {
    findNatsServer();
    return 'binary';
  } catch {
    if (await dockerAnswers()) return 'container';
    throw new DevStackError(
      'DEVSTACK_NATS_UNAVAILABLE',
      `no nats-server binary was found and no Docker engine answered. ${INSTALL_HINT} Or start a Docker engine: npm start then runs ${IMAGE} through testcontainers.`,
    );
  }
}

async function dockerAnswers(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

async function startBinary(opts: StackNatsOptions): Promise<StackNats> {
  let bin: string;
  try {
    bin = findNatsServer();
  } catch (err) {
    throw new DevStackError('DEVSTACK_NATS_UNAVAILABLE', (err as Error).message, { cause: err });
  }
  await writeFile(opts.logFile, '', { mode: 0o600 }); // nats-server appends; one run per file
  let proc;
  try {
    proc = await spawnNatsServer({
      bin,
      workDir: opts.workDir,
      startTimeoutMs: 15_000,
      config: {
        serverName: 'fle-dev',
        host: opts.host,
        port: opts.port === 0 ? -1 : opts.port,
        tls: opts.tls,
        users: opts.users,
        jetstream: { storeDir: opts.storeDir, maxMemoryStore: '128MB', maxFileStore: '1GB' },
        logFile: opts.logFile,
      },
    });
  } catch (err) {
    const tail = lastLines(opts.logFile, 8);
    throw new DevStackError('DEVSTACK_NATS_UNAVAILABLE', `nats-server did not start (${bin}); see ${opts.logFile}${tail ? `\n${tail}` : ''}`, { cause: err });
  }
  let gone = false;
  void proc.exited.then(() => (gone = true));
  return {
    runner: 'binary',
    url: proc.urls[0]!,
    port: proc.port,
    pid: proc.pid,
    exited: proc.exited,
    alive: () => !gone,
    stop: () => proc.stop(5000),
    killNow: () => {
      if (!gone) process.kill(proc.pid, 'SIGKILL');
    },
    describe: () => `${bin} (pid ${proc.pid})`,
  };
}

async function startContainer(opts: StackNatsOptions): Promise<StackNats> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const certs = '/fle/certs';
  const inside: TlsFiles = { ca: `${certs}/ca.pem`, cert: `${certs}/nats.pem`, key: `${certs}/nats-key.pem` };
  const text = renderNatsConfig({
    serverName: 'fle-dev',
    host: '0.0.0.0', // inside the container; Docker publishes the port
    port: 4222,
    tls: inside,
    users: opts.users,
    jetstream: { storeDir: '/data/jetstream' },
  });
  let container;
  try {
    container = await new GenericContainer(IMAGE)
      .withCopyContentToContainer([{ content: text, target: '/fle/nats.conf', mode: 0o644 }])
      .withCopyFilesToContainer([
        { source: opts.tls.ca, target: inside.ca, mode: 0o644 },
        { source: opts.tls.cert, target: inside.cert, mode: 0o644 },
        { source: opts.tls.key, target: inside.key, mode: 0o600 },
      ])
      .withCommand(['-c', '/fle/nats.conf'])
      .withExposedPorts(opts.port === 0 ? 4222 : { container: 4222, host: opts.port })
      .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
      .withStartupTimeout(120_000)
      .start();
  } catch (err) {
    throw new DevStackError('DEVSTACK_NATS_UNAVAILABLE', `the ${IMAGE} container did not start: ${(err as Error).message}`, { cause: err });
  }
  const port = container.getMappedPort(4222);
  let stopped = false;
  let markExited: (v: unknown) => void = () => undefined;
  const exited = new Promise((resolve) => (markExited = resolve));
  return {
    runner: 'container',
    url: `nats://127.0.0.1:${port}`,
    port,
    pid: undefined,
    exited,
    alive: () => !stopped,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await container.stop({ timeout: 5, remove: true, removeVolumes: true }).catch(() => undefined);
      markExited(0);
    },
    killNow: () => undefined,
    describe: () => `container ${IMAGE} (${container.getId().slice(0, 12)})`,
  };
}

function lastLines(path: string, n: number): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-n).map((l) => `    ${l}`).join('\n');
  } catch {
    return '';
  }
}
