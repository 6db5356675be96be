// The one starter of fle service processes (issue 19 item 5): `node
// --conditions=@fle/source --import tsx <main.ts> --config <file>` (or other
// arguments after the loader), output captured in memory and optionally
// appended to a log file, ready once it reports its ports — the ports file
// (gateway, processor, bench/bare) or the keystore's `{"msg":"keystore
// listening","port":N}` line on stdout. Used by the tests' helpers
// (services/*/src/testing.ts, bench/support/bare-stack.ts) and by `npm start`
// (packages/devstack/src/service-child.ts). JSON is valid YAML, so configs
// given as objects are written as JSON.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface ServicePorts {
  readonly grpc: number;
  readonly metrics: number;
  readonly pid: number;
  /** The gateway's public edge, when configured. */
  readonly edge?: number;
}

export type ServiceExit = { code: number | null; signal: NodeJS.Signals | null };

export interface ServiceProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** From the ports file; with `readiness: 'keystore-line'`, `grpc` is the announced port and `metrics` its metricsPort (or 0). */
  readonly ports: ServicePorts;
  readonly configPath: string;
  readonly dir: string;
  /** Everything the process wrote so far (stdout, stderr). */
  output(): { stdout: string; stderr: string };
  /** stdout + stderr, for leak scans. */
  logs(): string;
  /** The last lines it wrote (for error messages). */
  tail(): string;
  alive(): boolean;
  readonly exited: Promise<ServiceExit>;
  /** SIGTERM, SIGKILL after `graceMs` (default 5 s); resolves once exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL (a crash); resolves once exited. */
  kill(): Promise<void>;
  /** SIGKILL now (synchronous: usable from an exit handler). */
  killNow(): void;
}

export interface StartServiceProcessOptions {
  readonly name: string;
  /** Absolute path of the service's src/main.ts. */
  readonly mainPath: string;
  /** The config object (a `portsFile` entry is added), written as JSON into `dir`. */
  readonly config?: Record<string, unknown>;
  /** Or a config file already written (then `portsFile` names where the service writes its ports). */
  readonly configPath?: string;
  /** Where the service writes its ports (with `configPath`; default `<dir>/<name>-<stamp>.ports.json` with `config`). */
  readonly portsFile?: string;
  /** Script and arguments after the loader; default `[mainPath, '--config', configPath]`. */
  readonly argv?: readonly string[];
  /** How readiness is reported: the ports file (default) or the keystore's listening line. */
  readonly readiness?: 'ports-file' | 'keystore-line';
  /** Folder for config and ports file; default a fresh temp folder. */
  readonly dir?: string;
  /** Also write the output to this file (created anew, mode 0600). */
  readonly logFile?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Default 30 000 ms. */
  readonly timeoutMs?: number;
  /** Aborts the wait for readiness (Ctrl-C during start-up). */
  readonly signal?: AbortSignal;
}

/** Why a service did not become ready: `reason` reads after the service's name; `tail` is its last output. */
export class ServiceStartError extends Error {
  constructor(
    readonly service: string,
    readonly reason: string,
    readonly tail: string,
    message: string,
  ) {
    super(message);
    this.name = 'ServiceStartError';
  }
}

/** The loader that runs TypeScript sources without a build step. */
export const TSX_LOADER = import.meta.resolve('tsx');

const TAIL_LINES = 30;

// Children still running when this process exits (a crashed test file, a
// second Ctrl-C) are SIGKILLed, so no service outlives its parent.
const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
}

export async function startServiceProcess(opts: StartServiceProcessOptions): Promise<ServiceProcess> {
  const dir = opts.dir ?? (opts.configPath ? dirname(opts.configPath) : mkdtempSync(join(tmpdir(), `fle-${opts.name}-`)));
  const stamp = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const configPath = opts.configPath ?? join(dir, `${opts.name}-${stamp}.yaml`);
  const portsFile = opts.portsFile ?? join(dir, `${opts.name}-${stamp}.ports.json`);
  const readiness = opts.readiness ?? 'ports-file';
  if (opts.config) writeFileSync(configPath, JSON.stringify(readiness === 'ports-file' ? { ...opts.config, portsFile } : opts.config, null, 2));
  if (readiness === 'ports-file') rmSync(portsFile, { force: true });
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  // The config file decides; a stray variable must not (FLE_MASTER_KEY would override the master key file).
  if (!opts.env?.FLE_CONFIG) delete env.FLE_CONFIG;
  if (!opts.env?.FLE_MASTER_KEY) delete env.FLE_MASTER_KEY;
  const argv = opts.argv ?? [opts.mainPath, '--config', configPath];
  // `--conditions=@fle/source`: @fle/* resolve to their sources in the child too (docs/packages.md), not only under vitest.
  const child = spawn(process.execPath, ['--conditions=@fle/source', '--import', TSX_LOADER, ...argv], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  const log = opts.logFile ? createWriteStream(opts.logFile, { flags: 'w', mode: 0o600 }) : undefined;
  let stdout = '';
  let stderr = '';
  const tailLines: string[] = [];
  const remember = (text: string): void => {
    for (const line of text.split('\n')) if (line.trim()) tailLines.push(line);
    if (tailLines.length > TAIL_LINES) tailLines.splice(0, tailLines.length - TAIL_LINES);
  };
  let announced: { port: number; metricsPort?: number } | undefined;
  let scanned = 0;
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    log?.write(d);
    stdout += d;
    remember(d);
    if (readiness === 'keystore-line' && !announced) {
      // Complete lines only: a partial one is read again with the rest.
      const end = stdout.lastIndexOf('\n');
      if (end > scanned) {
        for (const line of stdout.slice(scanned, end).split('\n')) announced ??= keystoreLine(line);
        scanned = end;
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    log?.write(d);
    stderr += d;
    remember(d);
  });
  const exited = new Promise<ServiceExit>((resolve) =>
    child.once('exit', (code, signal) => {
      log?.end();
      resolve({ code, signal });
    }),
  );
  let exitInfo: ServiceExit | undefined;
  void exited.then((e) => (exitInfo = e));
  let spawnFailure: Error | undefined;
  child.once('error', (e) => (spawnFailure = e));
  const alive = (): boolean => child.exitCode === null && child.signalCode === null && child.pid !== undefined;
  const tail = (): string => tailLines.slice(-12).join('\n');
  const fail = (reason: string): ServiceStartError =>
    new ServiceStartError(opts.name, reason, tail(), `${opts.name} ${reason}:\n${stdout}\n${stderr}`.slice(0, 8000));

  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let ports: ServicePorts | undefined;
  // Bounded poll for readiness.
  try {
    while (!ports) {
      if (spawnFailure) throw fail(`could not be spawned: ${spawnFailure.message}`);
      if (exitInfo) throw fail(`exited (code ${exitInfo.code}, signal ${exitInfo.signal}) before ready`);
      if (opts.signal?.aborted) throw fail('start-up was interrupted');
      if (Date.now() > deadline) throw fail(`not ready within ${timeoutMs} ms`);
      ports = readiness === 'keystore-line' ? (announced ? { grpc: announced.port, metrics: announced.metricsPort ?? 0, pid: child.pid! } : undefined) : readPortsFile(portsFile);
      if (!ports) await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    if (alive()) child.kill('SIGKILL');
    if (child.pid !== undefined) await exited;
    throw err;
  }
  const killNow = (): void => {
    if (alive()) child.kill('SIGKILL');
  };
  return {
    name: opts.name,
    child,
    pid: child.pid!,
    ports,
    configPath,
    dir,
    output: () => ({ stdout, stderr }),
    logs: () => `${stdout}\n${stderr}`,
    tail,
    alive,
    exited,
    async stop(graceMs = 5000) {
      if (!alive()) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
    async kill() {
      if (!alive()) return;
      child.kill('SIGKILL');
      await exited;
    },
    killNow,
  };
}

function readPortsFile(path: string): ServicePorts | undefined {
  if (!existsSync(path)) return undefined;
  try {
    // Written by rename (service-kit writePortsFile): complete when it exists.
    return JSON.parse(readFileSync(path, 'utf8')) as ServicePorts;
  } catch {
    return undefined;
  }
}

function keystoreLine(line: string): { port: number; metricsPort?: number } | undefined {
  if (!line.includes('keystore listening')) return undefined;
  try {
    const ready = JSON.parse(line) as { port?: unknown; metricsPort?: unknown };
    if (typeof ready.port !== 'number') return undefined;
    return { port: ready.port, ...(typeof ready.metricsPort === 'number' ? { metricsPort: ready.metricsPort } : {}) };
  } catch {
    return undefined;
  }
}

/** Rewrite a config file (e.g. to restart a process on the same settings). */
export function writeJsonConfig(path: string, config: Record<string, unknown>): void {
  writeFileSync(path, JSON.stringify(config, null, 2));
}
