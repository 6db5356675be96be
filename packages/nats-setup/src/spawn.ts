// Starts a real nats-server process with a generated configuration, the way
// nats.js' own test harness does (STYLE.md): `port: -1` plus `ports_file_dir`,
// then wait for the ports file the server writes once it listens.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { INSTALL_HINT, NatsSetupError } from './errors.js';
import { renderNatsConfig, type NatsConfigOptions } from './config.js';

export interface SpawnNatsServerOptions {
  /** Configuration: ready text, or options for renderNatsConfig (then `port` defaults to -1). */
  config?: string | NatsConfigOptions;
  /** Binary; default $NATS_SERVER_BIN, then `nats-server` on PATH, then /usr/sbin/nats-server. */
  bin?: string;
  /** Folder for the config file and ports file. Default: a new temporary folder. */
  workDir?: string;
  /** How long to wait for the ports file. Default 10 s. */
  startTimeoutMs?: number;
}

export interface NatsPorts {
  /** Client URLs as nats-server reports them (`nats://` or `tls://` host:port). */
  nats: string[];
  cluster?: string[];
  monitoring?: string[];
}

export interface NatsServerProcess {
  /** Client URLs for nats.js (`nats://127.0.0.1:<port>`; TLS is negotiated from the server's INFO). */
  urls: string[];
  /** The client port actually taken. */
  port: number;
  ports: NatsPorts;
  pid: number;
  configFile: string;
  workDir: string;
  /** SIGTERM, then SIGKILL after `graceMs` (default 5 s); resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
  /** Sends a signal (default SIGKILL) and resolves when the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Resolves with the exit code (or null after a signal) once the process has exited. */
  readonly exited: Promise<number | null>;
  /** The last lines the server logged (stderr), for failure messages. */
  logTail(): string;
}

const SEARCHED = '/usr/sbin/nats-server';

/** Finds the nats-server binary or throws NATS_SERVER_NOT_FOUND with how to install it. */
export function findNatsServer(bin?: string): string {
  const explicit = bin ?? process.env['NATS_SERVER_BIN'];
  if (explicit) {
    const found = isAbsolute(explicit) || explicit.includes('/') ? (isExecutable(explicit) ? explicit : undefined) : onPath(explicit);
    if (found) return found;
    throw new NatsSetupError('NATS_SERVER_NOT_FOUND', `nats-server not found at ${JSON.stringify(explicit)}. ${INSTALL_HINT}`);
  }
  const found = onPath('nats-server') ?? (isExecutable(SEARCHED) ? SEARCHED : undefined);
  if (found) return found;
  throw new NatsSetupError('NATS_SERVER_NOT_FOUND', `nats-server not found on PATH or at ${SEARCHED}. ${INSTALL_HINT}`);
}

export async function spawnNatsServer(opts: SpawnNatsServerOptions = {}): Promise<NatsServerProcess> {
  const bin = findNatsServer(opts.bin);
  const workDir = opts.workDir ?? (await mkdtemp(join(tmpdir(), 'fle-nats-')));
  await mkdir(workDir, { recursive: true });
  const portsDir = join(workDir, 'ports');
  await mkdir(portsDir, { recursive: true });
  const text =
    typeof opts.config === 'string'
      ? opts.config
      : renderNatsConfig({ port: -1, ...opts.config, portsFileDir: opts.config?.portsFileDir ?? portsDir });
  const watchDir = typeof opts.config === 'string' ? portsFileDirOf(text) : (opts.config?.portsFileDir ?? portsDir);
  if (!watchDir) {
    throw new NatsSetupError('NATS_CONFIG_INVALID', 'the configuration text must set ports_file_dir so the launcher can learn the ports');
  }
  const configFile = join(workDir, 'nats.conf');
  await writeFile(configFile, text, { mode: 0o600 });

  const child = spawn(bin, ['-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  const tail: string[] = [];
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    for (const line of chunk.split('\n')) if (line) tail.push(line);
    if (tail.length > 200) tail.splice(0, tail.length - 200);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const logTail = (): string => tail.slice(-20).join('\n');

  const pid = child.pid;
  let ports: NatsPorts;
  try {
    if (pid === undefined) throw await spawnError;
    ports = await waitForPortsFile(watchDir, pid, opts.startTimeoutMs ?? 10_000, exited, spawnError);
  } catch (cause) {
    child.kill('SIGKILL');
    throw new NatsSetupError('NATS_SERVER_START_FAILED', `nats-server did not start: ${(cause as Error).message}\n${logTail()}`, { cause });
  }
  const first = ports.nats[0];
  const port = first ? Number(new URL(first.replace(/^tls:/, 'nats:')).port) : NaN;
  return {
    urls: ports.nats.map((u) => u.replace(/^tls:/, 'nats:')),
    port,
    ports,
    pid,
    configFile,
    workDir,
    exited,
    logTail,
    stop: (graceMs = 5000) => stopChild(child, exited, graceMs),
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/**
 * SIGTERM, then SIGKILL after `graceMs`; resolves once `exited` does. Shared by
 * every launcher of child processes (nats-server here, the dev stack's services).
 */
export async function stopChild(child: ChildProcess, exited: Promise<unknown>, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

async function waitForPortsFile(dir: string, pid: number, timeoutMs: number, exited: Promise<number | null>, spawnError: Promise<Error>): Promise<NatsPorts> {
  let done: Error | undefined;
  void exited.then((code) => (done ??= new Error(`it exited with code ${code}`)));
  void spawnError.then((e) => (done ??= e));
  const deadline = Date.now() + timeoutMs;
  // nats-server names the file `<executable name>_<pid>.ports`.
  const suffix = `_${pid}.ports`;
  while (Date.now() < deadline) {
    if (done) throw done;
    const name = existsSync(dir) ? (await readdir(dir)).find((f) => f.endsWith(suffix)) : undefined;
    if (name) {
      try {
        const parsed = JSON.parse(await readFile(join(dir, name), 'utf8')) as NatsPorts;
        if (parsed.nats?.length) return parsed;
      } catch {
        // Written but not complete yet: read again on the next tick.
      }
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no ports file in ${dir} after ${timeoutMs} ms`);
}

function portsFileDirOf(text: string): string | undefined {
  const m = /^\s*ports_file_dir\s*[:=]?\s*"((?:[^"\\]|\\.)*)"/m.exec(text);
  return m ? (JSON.parse(`"${m[1]}"`) as string) : undefined;
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
