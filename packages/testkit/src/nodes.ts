// One NATS server the harness controls, whatever runs it. Every provider keeps
// a node's client port and JetStream store across restarts, so clients
// reconnect to the same URL and accepted messages survive.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnNatsServer, type NatsConfigOptions, type NatsServerProcess } from '@fle/nats-setup';
import { forgetPid, killOnExit } from './cleanup.js';

export interface NatsNode {
  readonly name: string;
  /** Client URL (`nats://127.0.0.1:<port>`); stable across restarts. */
  url(): string;
  /** HTTP monitoring base URL, when the node has one. */
  monitorUrl(): string | undefined;
  /** The nats-server process id while a binary node runs (benchmarks sample its memory and CPU). */
  pid?(): number | undefined;
  running(): boolean;
  /** (Re)starts with the same ports and store. */
  start(): Promise<void>;
  /** Graceful stop (SIGTERM, lame duck skipped). */
  stop(): Promise<void>;
  /** Abrupt death (SIGKILL): the crash a fault drill wants. */
  kill(): Promise<void>;
  /**
   * Everything the server logged so far, across restarts (killed runs
   * included), for a failed drill to explain itself; undefined where the
   * provider does not keep it (containers).
   */
  serverLog(): Promise<string | undefined>;
}

/** A nats-server process from @fle/nats-setup, config regenerated with the learnt ports on restart. */
export class BinaryNode implements NatsNode {
  private proc: NatsServerProcess | undefined;
  private port = -1;
  private httpPort = -1;

  constructor(
    readonly name: string,
    private readonly workDir: string,
    private readonly config: Omit<NatsConfigOptions, 'port' | 'httpPort' | 'portsFileDir'>,
  ) {}

  url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  monitorUrl(): string | undefined {
    return this.httpPort > 0 ? `http://127.0.0.1:${this.httpPort}` : undefined;
  }

  running(): boolean {
    return this.proc !== undefined;
  }

  pid(): number | undefined {
    return this.proc?.pid;
  }

  async start(): Promise<void> {
    if (this.proc) return;
    // A log file in the node's folder (nats-server appends): it outlives a SIGKILL
    // and a restart, so a failed drill can show what every node said.
    const proc = await spawnNatsServer({
      workDir: this.workDir,
      config: { ...this.config, port: this.port, httpPort: this.httpPort, portsFileDir: join(this.workDir, 'ports'), logFile: this.logFile() },
    }).catch(async (err: unknown) => {
      const log = await this.serverLog();
      throw log ? new Error(`${(err as Error).message}\n${log.split('\n').slice(-20).join('\n')}`, { cause: err }) : err;
    });
    killOnExit(proc.pid);
    this.proc = proc;
    this.port = proc.port;
    const monitoring = proc.ports.monitoring?.[0];
    if (monitoring) this.httpPort = Number(new URL(monitoring).port);
  }

  async stop(): Promise<void> {
    await this.end((p) => p.stop());
  }

  async kill(): Promise<void> {
    await this.end((p) => p.kill('SIGKILL'));
  }

  async serverLog(): Promise<string | undefined> {
    return readFile(this.logFile(), 'utf8').catch(() => undefined);
  }

  private logFile(): string {
    return join(this.workDir, 'nats.log');
  }

  private async end(how: (p: NatsServerProcess) => Promise<void>): Promise<void> {
    const p = this.proc;
    if (!p) return;
    this.proc = undefined;
    await how(p);
    forgetPid(p.pid);
  }
}
