// freePort hands out ports below the kernel's ephemeral range, so an outgoing
// connection of a parallel test cannot take one before the server binds it.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../src/cleanup.js';

function firstEphemeral(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return 32_768;
  }
}

function listen(port: number): Promise<() => Promise<void>> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(() => new Promise((done) => srv.close(() => done()))));
  });
}

describe('freePort', () => {
  it('hands out distinct ports below the ephemeral range that a server can then listen on', async () => {
    const ports = await Promise.all(Array.from({ length: 12 }, () => freePort()));
    expect(new Set(ports).size).toBe(ports.length);
    // Where the kernel leaves no room below its ephemeral range (it starts at 20001 or lower), freePort falls back to the OS's pick.
    if (firstEphemeral() > 20_001) for (const port of ports) expect(port).toBeLessThan(firstEphemeral());
    const closers = await Promise.all(ports.map((p) => listen(p)));
    await Promise.all(closers.map((close) => close()));
  });
});
