// Runs `npm start` (or its entry, scripts/start.ts) as a real child process
// with its own state folder and ports, and finds every process it left.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export interface StartedCommand {
  readonly child: ChildProcess;
  readonly pid: number;
  output(): string;
  errors(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once stdout contains `text`; rejects if the process exits first or after `timeoutMs`. */
  waitFor(text: string, timeoutMs: number): Promise<void>;
}

export function startCommand(command: string, args: readonly string[], env: NodeJS.ProcessEnv, opts: { detached?: boolean } = {}): StartedCommand {
  const child = spawn(command, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached ?? false });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let done = false;
  void exited.then(() => (done = true));
  return {
    child,
    pid: child.pid!,
    output: () => out,
    errors: () => err,
    exited,
    async waitFor(text, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!out.includes(text)) {
        if (done) throw new Error(`exited before printing ${JSON.stringify(text)}:\n${out}\n${err}`);
        if (Date.now() > deadline) throw new Error(`no ${JSON.stringify(text)} within ${timeoutMs} ms:\n${out}\n${err}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}

/**
 * Every running process whose environment holds `FLE_HOME=<home>`: npm, tsx,
 * the start script, and everything it spawned (children inherit the
 * environment), whatever their parent now is. Zombies do not count: they have
 * exited. Processes this test runner cannot read are skipped.
 */
export function processesOfHome(home: string): number[] {
  const needle = Buffer.from(`FLE_HOME=${home}\0`);
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/environ`).includes(needle)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'Z') found.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** Polls (bounded) until no process of `home` is left; returns those still there. */
export async function waitUntilNoneLeft(home: string, timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let left = processesOfHome(home);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    left = processesOfHome(home);
  }
  return left;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
