// A second `npm start` must never damage a stack that is running (issue 17
// item 9): it deleted the running stack's stack.json and ports files when it
// failed on a taken port, after which `fle demo` checked almost nothing. And
// when a port is taken, the port it suggests must be one it checked is free.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { FIXTURE_PROTO_DIR, freePort, tempDir } from '@fle/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { assertPortsFree, probePort } from '../src/ports.js';
import type { StackSettings } from '../src/settings.js';
import { startStack } from '../src/stack.js';
import { writeStackFile, type StackInfo } from '../src/stack-file.js';
import { prepareStateDirs, stateLayout } from '../src/state-dir.js';

/** Any API: the start is refused before the processor would load it. */
const API = { schema: { protoRoots: [FIXTURE_PROTO_DIR] }, handlers: '/nonexistent/handlers.ts', method: '/fletest.svc.v1.LedgerService/Submit', route: 'submit' };

const listeners: Server[] = [];
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const l of listeners.splice(0)) await new Promise((r) => l.close(r));
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

async function occupy(port = 0): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, resolve);
  });
  listeners.push(srv);
  return (srv.address() as { port: number }).port;
}

/** A long-lived process standing in for the running `npm start`. */
function runningProcess(): number {
  const c = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  children.push(c);
  return c.pid!;
}

function settingsFor(home: string, gateway: number, others: number[]): StackSettings {
  return { home, host: '127.0.0.1', ports: { nats: others[0]!, keystore: others[1]!, processor: others[2]!, gateway, edge: 0 }, tenant: 'demo', transport: 'jetstream', natsRunner: 'binary' };
}

describe('a second start next to a running stack', () => {
  it('refuses, names the running stack, and leaves its stack file and ports files as they were', async () => {
    const home = join(await tempDir('fle-second-'), 'state');
    const layout = stateLayout(home);
    await prepareStateDirs(layout);
    const gateway = await occupy(); // the running stack's gateway
    const others = [await freePort(), await freePort(), await freePort()];
    const info: StackInfo = {
      pid: runningProcess(),
      startedAt: new Date().toISOString(),
      home,
      certsDir: layout.certs,
      tenant: 'demo',
      transport: 'jetstream',
      natsRunner: 'binary',
      gateway: `127.0.0.1:${gateway}`,
      keystore: `127.0.0.1:${others[1]}`,
      processor: `127.0.0.1:${others[2]}`,
      nats: `nats://127.0.0.1:${others[0]}`,
      processes: [],
    };
    await writeStackFile(layout.stackFile, info);
    writeFileSync(layout.portsFile('gateway'), '{"grpc":1}\n');
    writeFileSync(layout.portsFile('processor'), '{"grpc":2}\n');
    writeFileSync(layout.log('gateway'), 'the running gateway log\n');
    const before = [layout.stackFile, layout.portsFile('gateway'), layout.portsFile('processor'), layout.log('gateway')].map((p) => ({ p, text: readFileSync(p, 'utf8'), mtime: statSync(p).mtimeMs }));

    const err = await startStack(settingsFor(home, gateway, others), { api: API }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'DEVSTACK_ALREADY_RUNNING' });
    expect((err as Error).message).toContain(`a stack is already running from ${home} (pid ${info.pid}, gateway 127.0.0.1:${gateway})`);
    for (const b of before) {
      expect(readFileSync(b.p, 'utf8'), b.p).toBe(b.text);
      expect(statSync(b.p).mtimeMs, b.p).toBe(b.mtime);
    }
  });

  it('ignores a stale stack file (its process is gone) and fails on the taken port without removing what it did not write', async () => {
    const home = join(await tempDir('fle-second-'), 'state');
    const layout = stateLayout(home);
    await prepareStateDirs(layout);
    const gone = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    await new Promise((r) => gone.once('exit', r));
    const gateway = await occupy(); // held by something else
    const others = [await freePort(), await freePort(), await freePort()];
    await writeStackFile(layout.stackFile, { pid: gone.pid!, gateway: `127.0.0.1:${gateway}`, processes: [] } as unknown as StackInfo);
    writeFileSync(layout.portsFile('gateway'), '{"grpc":1}\n');

    const err = await startStack(settingsFor(home, gateway, others), { api: API }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'DEVSTACK_PORT_IN_USE' });
    // Not this run's files: left for whoever wrote them.
    expect(readFileSync(layout.portsFile('gateway'), 'utf8')).toBe('{"grpc":1}\n');
  });
});

describe('a taken port', () => {
  it('is reported with a suggestion that was checked free a moment ago (never the obvious neighbour when that is taken too)', async () => {
    // Take a port and the port the old message always suggested (port + 10000).
    let taken = 0;
    for (let i = 0; i < 20 && taken === 0; i++) {
      const p = await freePort();
      if (p + 10000 > 65535) continue;
      try {
        await occupy(p);
        await occupy(p + 10000);
        taken = p;
      } catch {
        for (const l of listeners.splice(0)) await new Promise((r) => l.close(r));
      }
    }
    expect(taken).toBeGreaterThan(0);
    const err = await assertPortsFree('127.0.0.1', { nats: 0, keystore: 0, processor: 0, gateway: taken, edge: 0 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'DEVSTACK_PORT_IN_USE' });
    const message = (err as Error).message;
    expect(message).toContain(`port ${taken} for the gateway on 127.0.0.1 is already in use: stop what uses it, or set FLE_GATEWAY_PORT`);
    const suggested = Number(/FLE_GATEWAY_PORT=(\d+)/.exec(message)?.[1]);
    expect(suggested).toBeGreaterThan(0);
    expect(suggested).not.toBe(taken);
    expect(suggested).not.toBe(taken + 10000);
    await expect(probePort('127.0.0.1', suggested)).resolves.toBeUndefined();
  });
});
