// One fle service as a child process of `npm start`, through the one service
// starter (@fle/service-kit/testing startServiceProcess): its output appended
// to a log file, ready once it reports its ports (the ports file of gateway
// and processor, the keystore's listening line). This file only maps the
// result and the failures onto the dev stack's terms (DevStackError naming
// the log file).
import { ServiceStartError, startServiceProcess } from '@fle/service-kit/testing';
import { DevStackError } from './errors.js';

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

export async function startServiceChild(opts: ServiceChildOptions): Promise<ServiceChild> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let p;
  try {
    p = await startServiceProcess({
      name: opts.name,
      mainPath: opts.mainPath,
      configPath: opts.configPath,
      ...(opts.readiness.kind === 'ports-file' ? { portsFile: opts.readiness.path } : { readiness: 'keystore-line' as const }),
      logFile: opts.logFile,
      timeoutMs,
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  } catch (err) {
    if (!(err instanceof ServiceStartError)) throw err;
    const reason = err.reason.replace(/ before ready$/, ' before it was ready').replace(/^not ready within/, 'was not ready within');
    const tail = /^(exited|was not ready)/.test(reason) ? err.tail : '';
    throw new DevStackError('DEVSTACK_SERVICE_FAILED', `${opts.name} ${reason}; see ${opts.logFile}${tail ? `\n${indent(tail)}` : ''}`);
  }
  return {
    name: opts.name,
    pid: p.pid,
    port: p.ports.grpc,
    metricsPort: p.ports.metrics || undefined,
    logFile: opts.logFile,
    exited: p.exited,
    alive: p.alive,
    stop: p.stop,
    killNow: p.killNow,
    tail: p.tail,
  };
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l.length > 300 ? `${l.slice(0, 300)}…` : l}`)
    .join('\n');
}
