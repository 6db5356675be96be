// Test helper: start a REAL fle service process (`node --import tsx <main.ts>
// --config <file>`) with a temp config, wait until it has written its ports
// file (it does so once ready), capture stdout/stderr, and stop or SIGKILL it.
// Used by services/*/src/testing.ts; JSON is valid YAML, so configs are written as JSON.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ServicePorts {
  readonly grpc: number;
  readonly metrics: number;
  readonly pid: number;
  /** The gateway's public edge, when configured. */
  readonly edge?: number;
}

export interface ServiceProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly ports: ServicePorts;
  readonly configPath: string;
  readonly dir: string;
  /** Everything the process wrote so far (stdout, stderr). */
  output(): { stdout: string; stderr: string };
  /** stdout + stderr, for leak scans. */
  logs(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, SIGKILL after 5 s; resolves once exited. */
  stop(): Promise<void>;
  /** SIGKILL (a crash); resolves once exited. */
  kill(): Promise<void>;
}

export interface StartServiceProcessOptions {
  readonly name: string;
  /** Absolute path of the service's src/main.ts. */
  readonly mainPath: string;
  /** The config object (a `portsFile` entry is added). */
  readonly config: Record<string, unknown>;
  /** Folder for config and ports file; default a fresh temp folder. */
  readonly dir?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Default 30 000 ms. */
  readonly timeoutMs?: number;
}

export async function startServiceProcess(opts: StartServiceProcessOptions): Promise<ServiceProcess> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), `fle-${opts.name}-`));
  const stamp = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const configPath = join(dir, `${opts.name}-${stamp}.yaml`);
  const portsFile = join(dir, `${opts.name}-${stamp}.ports.json`);
  writeFileSync(configPath, JSON.stringify({ ...opts.config, portsFile }, null, 2));
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  delete env.FLE_CONFIG;
  // @fle/* resolve to their sources in the child too (docs/packages.md), not only under vitest.
  const child = spawn(process.execPath, ['--conditions=@fle/source', '--import', import.meta.resolve('tsx'), opts.mainPath, '--config', configPath], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let exitedEarly: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void exited.then((e) => (exitedEarly = e));

  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let ports: ServicePorts | undefined;
  // Bounded poll for the ports file.
  while (!ports) {
    if (exitedEarly) throw new Error(`${opts.name} exited (code ${exitedEarly.code}, signal ${exitedEarly.signal}) before ready:\n${stdout}\n${stderr}`.slice(0, 8000));
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${opts.name} not ready within ${opts.timeoutMs ?? 30_000} ms:\n${stdout}\n${stderr}`.slice(0, 8000));
    }
    if (existsSync(portsFile)) ports = JSON.parse(readFileSync(portsFile, 'utf8')) as ServicePorts;
    else await new Promise((r) => setTimeout(r, 50));
  }
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    name: opts.name,
    child,
    pid: child.pid!,
    ports,
    configPath,
    dir,
    output: () => ({ stdout, stderr }),
    logs: () => `${stdout}\n${stderr}`,
    exited,
    async stop() {
      if (!alive()) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
    async kill() {
      if (!alive()) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Rewrite a config file (e.g. to restart a process on the same settings). */
export function writeJsonConfig(path: string, config: Record<string, unknown>): void {
  writeFileSync(path, JSON.stringify(config, null, 2));
}
