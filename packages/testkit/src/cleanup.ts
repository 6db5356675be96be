// Whatever a test file starts, its process removes on exit, even when a test
// forgot its afterAll: temp folders are deleted and spawned servers killed.
import { rmSync } from 'node:fs';
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
 * A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it). For
 * the few places that must know a port before the server starts (cluster
 * routes); everything else lets the server pick with port -1.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}
