// One fle service as a child process of `npm start`: `node --import tsx
// <service>/src/main.ts --config <file>`, its output appended to a log file
// (plus a short tail in memory for error messages), ready once it reports its
// ports: the ports file (gateway, processor) or the keystore's
// `{"msg":"keystore listening","port":N}` line on stdout.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, rmSync } from 'node:fs';
import { DevStackError } from './errors.js';
import { stopChild } from '@fle/nats-setup';

export type Readiness = { kind: 'ports-file'; path: string } | { kind: 'keystore-line' };

export interface ServiceChildOptions {
  readonly name: string;
  readonly mainPath: string;
  readonly configPath: string;
  readonly logFile: string;
  readonly readiness: Readiness;
  /** Default 60 s: tsx compiles a service's sources on its first start. */
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  /** Aborts the wait for readiness (Ctrl-C during start-up). */
  readonly signal?: AbortSignal;
}

export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ServiceChild {
  readonly name: string;
  readonly pid: number;
  /** The main listening port (gRPC) and the metrics port when there is one. */
  readonly port: number;
  readonly metricsPort: number | undefined;
  readonly logFile: string;
  readonly exited: Promise<ChildExit>;
  alive(): boolean;
  /** SIGTERM, SIGKILL after `graceMs` (default 5 s); resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL now (synchronous: usable from an exit handler). */
  killNow(): void;
  /** The last lines it wrote. */
  tail(): string;
}

const TAIL_LINES = 30;

/** The loader that runs TypeScript sources without a build step (resolved from this package). */
export const TSX_LOADER = import.meta.resolve('tsx');

export async function startServiceChild(opts: ServiceChildOptions): Promise<ServiceChild> {
  if (opts.readiness.kind === 'ports-file') rmSync(opts.readiness.path, { force: true });
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  // The config file decides; a stray variable must not (FLE_MASTER_KEY would override the master key file).
  delete env['FLE_CONFIG'];
  delete env['FLE_MASTER_KEY'];
  // `--conditions=@fle/source`: the service's @fle/* imports resolve to their sources, as in tests.
  const child = spawn(process.execPath, ['--conditions=@fle/source', '--import', TSX_LOADER, opts.mainPath, '--config', opts.configPath], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(opts.logFile, { flags: 'w', mode: 0o600 });
  const tailLines: string[] = [];
  let stdoutRest = '';
  let announcedPort: number | undefined;
  const remember = (text: string): void => {
    for (const line of text.split('\n')) if (line.trim()) tailLines.push(line);
    if (tailLines.length > TAIL_LINES) tailLines.splice(0, tailLines.length - TAIL_LINES);
  };
  child.stdout!.on('data', (chunk: Buffer) => {
    log.write(chunk);
    const text = stdoutRest + chunk.toString('utf8');
    const lines = text.split('\n');
    stdoutRest = lines.pop() ?? '';
    remember(lines.join('\n'));
    if (opts.readiness.kind === 'keystore-line' && announcedPort === undefined) {
      for (const line of lines) announcedPort ??= keystorePortFrom(line);
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    log.write(chunk);
    remember(chunk.toString('utf8'));
  });
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('exit', (code, signal) => {
      log.end();
      resolve({ code, signal });
    });
  });
  let exitInfo: ChildExit | undefined;
  void exited.then((e) => (exitInfo = e));
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  let spawnFailure: Error | undefined;
  void spawnError.then((e) => (spawnFailure = e));
  const tail = (): string => tailLines.slice(-12).join('\n');
  const alive = (): boolean => child.exitCode === null && child.signalCode === null && child.pid !== undefined;

  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let ports: { port: number; metrics?: number } | undefined;
  try {
    while (!ports) {
      if (spawnFailure) throw failure(opts, `could not be spawned: ${spawnFailure.message}`);
      if (exitInfo) throw failure(opts, `exited (code ${exitInfo.code}, signal ${exitInfo.signal}) before it was ready`, tail());
      if (opts.signal?.aborted) throw failure(opts, 'start-up was interrupted');
      if (Date.now() > deadline) throw failure(opts, `was not ready within ${opts.timeoutMs ?? 60_000} ms`, tail());
      ports = readPorts(opts.readiness, announcedPort);
      if (!ports) await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    if (alive()) child.kill('SIGKILL');
    await exited;
    throw err;
  }

  return {
    name: opts.name,
    pid: child.pid!,
    port: ports.port,
    metricsPort: ports.metrics,
    logFile: opts.logFile,
    exited,
    alive,
    stop: (graceMs = 5000) => stopChild(child, exited, graceMs),
    killNow: () => {
      if (alive()) child.kill('SIGKILL');
    },
    tail,
  };
}

function readPorts(readiness: Readiness, announced: number | undefined): { port: number; metrics?: number } | undefined {
  if (readiness.kind === 'keystore-line') return announced === undefined ? undefined : { port: announced };
  if (!existsSync(readiness.path)) return undefined;
  try {
    // Written by rename (service-kit writePortsFile): complete when it exists.
    const p = JSON.parse(readFileSync(readiness.path, 'utf8')) as { grpc?: number; metrics?: number };
    return typeof p.grpc === 'number' ? { port: p.grpc, ...(p.metrics ? { metrics: p.metrics } : {}) } : undefined;
  } catch {
    return undefined;
  }
}

function keystorePortFrom(line: string): number | undefined {
  if (!line.includes('keystore listening')) return undefined;
  try {
    const p = (JSON.parse(line) as { port?: unknown }).port;
    return typeof p === 'number' ? p : undefined;
  } catch {
    return undefined;
  }
}

function failure(opts: ServiceChildOptions, what: string, tail?: string): DevStackError {
  const hint = `see ${opts.logFile}`;
  return new DevStackError('DEVSTACK_SERVICE_FAILED', `${opts.name} ${what}; ${hint}${tail ? `\n${indent(tail)}` : ''}`);
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l.length > 300 ? `${l.slice(0, 300)}…` : l}`)
    .join('\n');
}
