// nats-server for the local stack, with the generated mTLS + JetStream config
// (@fle/nats-setup): the binary (NATS_SERVER_BIN, PATH, /usr/sbin) as a child
// process through the one spawner (@fle/nats-setup spawnNatsServer) when
// there is one; otherwise the official image through the tests' container
// node (@fle/testkit ContainerNode) when a Docker engine answers; otherwise one clear message
// saying how to get either.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { findNatsServer, INSTALL_HINT, spawnNatsServer, type NatsConfigOptions } from '@fle/nats-setup';
import { ContainerNode, dockerReachable } from '@fle/testkit';
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
    if (await dockerReachable()) return 'container';
    throw new DevStackError(
      'DEVSTACK_NATS_UNAVAILABLE',
      `no nats-server binary was found and no Docker engine answered. ${INSTALL_HINT} Or start a Docker engine: npm start then runs ${IMAGE} through testcontainers.`,
    );
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
  // The harness's container node (@fle/testkit), pinned to the stack's port.
  const node = new ContainerNode({
    name: 'fle-dev',
    alias: 'nats',
    tls: opts.tls,
    config: { serverName: 'fle-dev', users: opts.users, jetstream: true },
    ...(opts.port === 0 ? {} : { hostPort: opts.port }),
    startupTimeoutMs: 120_000,
  });
  try {
    await node.start();
  } catch (err) {
    await node.remove().catch(() => undefined);
    throw new DevStackError('DEVSTACK_NATS_UNAVAILABLE', `the ${IMAGE} container did not start: ${(err as Error).message}`, { cause: err });
  }
  const port = Number(new URL(node.url()).port);
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
      await node.remove().catch(() => undefined);
      markExited(0);
    },
    killNow: () => undefined,
    describe: () => `container ${IMAGE} (${(node.id() ?? '').slice(0, 12)})`,
  };
}

function lastLines(path: string, n: number): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-n).map((l) => `    ${l}`).join('\n');
  } catch {
    return '';
  }
}
