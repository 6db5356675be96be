// Whatever a test file starts, its process removes on exit, even when a test
// forgot its afterAll: temp folders are deleted and spawned servers killed.
import { readFileSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dirs = new Set<string>();
const pids = new Set<number>();
let hooked = false;

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
}

/** A new empty folder under the OS temp dir, removed when the process exits. */
export async function tempDir(prefix = 'fle-test-'): Promise<string> {
  hook();
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

/** Kill `pid` when this process exits (until {@link forgetPid}). */
export function killOnExit(pid: number): void {
  hook();
  pids.add(pid);
}

export function forgetPid(pid: number): void {
  pids.delete(pid);
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago. For the few places that
 * must know a port before the server starts (cluster routes); everything else
 * lets the server pick with port -1.
 *
 * Picked below the kernel's ephemeral range (net.ipv4.ip_local_port_range),
 * at random, and checked by listening on it: a port the OS hands out with
 * listen(0) comes from the ephemeral range, where any outgoing connection of a
 * parallel test may take it before the server binds it (a CI run lost a
 * nats-server route port that way: "bind: address already in use").
 */
export async function freePort(): Promise<number> {
  const { from, to } = portsBelowEphemeral();
  for (let attempt = 0; attempt < 32 && to > from; attempt++) {
    const port = from + Math.floor(Math.random() * (to - from + 1));
    if (handedOut.has(port)) continue;
    handedOut.add(port); // before the check: concurrent calls never hand out one port twice
    if (await canListen(port)) return port;
  }
  return listenAndClose(0);
}

/** Ports this process already handed out (a test asks for a few dozen at most). */
const handedOut = new Set<number>();

/** Default floor of the picks; the ceiling is the port below the ephemeral range (32767 on Linux's default). */
const LOWEST_PICK = 20_000;

function portsBelowEphemeral(): { from: number; to: number } {
  let firstEphemeral = 32_768; // Linux's default
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    if (Number.isInteger(Number(low))) firstEphemeral = Number(low);
  } catch {
    // Not Linux: keep the default.
  }
  return { from: LOWEST_PICK, to: firstEphemeral - 1 };
}

async function canListen(port: number): Promise<boolean> {
  try {
    return (await listenAndClose(port)) === port;
  } catch {
    return false;
  }
}

function listenAndClose(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}
