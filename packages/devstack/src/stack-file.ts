// `<FLE_HOME>/run/stack.json`: where a running stack listens and which
// processes it started. Written once every service is ready, removed on stop.
// `fle demo` reads it for its defaults; tests read the pids from it.
import { existsSync, readFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import type { StackTransport } from './settings.js';

export interface StackProcessInfo {
  readonly name: 'nats' | 'keystore' | 'processor' | 'gateway';
  /** Undefined for a NATS container. */
  readonly pid: number | undefined;
  readonly address: string;
  readonly log: string;
}

export interface StackInfo {
  /** The `npm start` process. */
  readonly pid: number;
  readonly startedAt: string;
  readonly home: string;
  readonly certsDir: string;
  readonly tenant: string;
  readonly transport: StackTransport;
  readonly natsRunner: 'binary' | 'container';
  readonly gateway: string;
  readonly keystore: string;
  readonly processor: string;
  /** nats.js URL. */
  readonly nats: string;
  /** KV buckets of the API's handlers (the demo's observer watches their puts). */
  readonly kvBuckets?: readonly string[];
  /** The API served (scripts/start.ts names it): its schema, the method the gateway routes and its route; the demo calls it. */
  readonly api?: { readonly schema: { readonly image: string } | { readonly protoRoots: readonly string[] }; readonly method: string; readonly route: string };
  /** The example page on the gateway's public edge (`https://127.0.0.1:<edge port>/`), when it was started with one. */
  readonly edge?: string;
  readonly processes: readonly StackProcessInfo[];
}

export async function writeStackFile(path: string, info: StackInfo): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

/** The stack file, or undefined when there is none (or it is not one). */
export function readStackFile(path: string): StackInfo | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const info = JSON.parse(readFileSync(path, 'utf8')) as StackInfo;
    return typeof info.gateway === 'string' && Array.isArray(info.processes) ? info : undefined;
  } catch {
    return undefined;
  }
}

export async function removeStackFile(path: string): Promise<void> {
  await rm(path, { force: true });
}

/**
 * The stack a live `npm start` runs from this state folder, or undefined. Live
 * means its process exists and its gateway port is taken (so a stale file
 * whose process id was reused by something else does not count).
 */
export async function runningStack(path: string, portTaken: (host: string, port: number) => Promise<boolean>): Promise<StackInfo | undefined> {
  const info = readStackFile(path);
  if (!info || info.pid === process.pid || !processAlive(info.pid)) return undefined;
  const m = /^(.+):(\d+)$/.exec(info.gateway);
  return m && (await portTaken(m[1]!, Number(m[2]))) ? info : undefined;
}

/** True when a process with this id exists (signal 0 probes without signalling). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
