// Reading what a service logged during the demo: remember each log file's
// size before the request, read what was appended after it.
import { closeSync, openSync, readSync, statSync } from 'node:fs';

const MAX_READ = 4 * 1024 * 1024;

export function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** Text appended to `path` since `offset` (at most 4 MiB), or undefined when unreadable. */
export function appendedSince(path: string, offset: number): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = statSync(path).size;
    const from = size < offset ? 0 : offset; // truncated meanwhile (a restart): read it all
    const length = Math.min(size - from, MAX_READ);
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, from);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** The JSON log lines of `text` whose `msg` is `message`. */
export function jsonLines(text: string, message: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    if (!line.includes(message)) continue;
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      if (o['msg'] === message) out.push(o);
    } catch {
      // not a JSON line
    }
  }
  return out;
}

/**
 * Waits (bounded) until a `message` line matching `match` was appended after
 * `offset`: a service may write its log line just after it answered.
 * Returns the appended text as last read (undefined when unreadable).
 */
export async function waitForLogLine(
  path: string,
  offset: number,
  message: string,
  match: (line: Record<string, unknown>) => boolean,
  timeoutMs = 3000,
): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  let text = appendedSince(path, offset);
  while (text !== undefined && !jsonLines(text, message).some(match) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    text = appendedSince(path, offset);
  }
  return text;
}
