// `npm start` end to end, as a developer runs it: a real `npm start` child
// process with its own state folder (FLE_HOME, a temp folder: the developer's
// .fle is never touched) and random loopback ports. It must come up, print
// what each hop saw, answer `fle demo --json`, and on Ctrl-C (SIGINT to its
// process group, as a terminal sends it) stop every process it started. A
// second start on the same state keeps the master key and key rings, and
// SIGTERM to the start script alone stops everything too.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { freePort, tempDir } from '@fle/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoSummary, GatewayHop, NatsHop, ProcessorHop, StackInfo } from '@fle/devstack';
import { REPO, alive, processesOfHome, startCommand, waitUntilNoneLeft, type StartedCommand } from './support/start-process.js';

// A loaded two-core machine (other suites running) can take a minute to compile and start everything.
const START_TIMEOUT = 100_000;
const FLE = join(REPO, 'packages/cli/bin/fle.mjs');

interface Ports {
  nats: number;
  keystore: number;
  processor: number;
  gateway: number;
  edge: number;
}

function stackEnv(home: string, ports: Ports): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    FLE_HOME: home,
    FLE_NATS_PORT: String(ports.nats),
    FLE_KEYSTORE_PORT: String(ports.keystore),
    FLE_PROCESSOR_PORT: String(ports.processor),
    FLE_GATEWAY_PORT: String(ports.gateway),
    FLE_EDGE_PORT: String(ports.edge),
  };
  for (const k of ['FLE_TRANSPORT', 'FLE_DEMO_TENANT', 'FLE_NATS_RUNNER', 'FLE_CONFIG', 'FLE_MASTER_KEY', 'FLE_LOG_LEVEL']) delete env[k];
  return env;
}

function readStack(home: string): StackInfo {
  return JSON.parse(readFileSync(join(home, 'run/stack.json'), 'utf8')) as StackInfo;
}

function fle(args: string[], env: NodeJS.ProcessEnv): StartedCommand {
  return startCommand(process.execPath, [FLE, ...args], env);
}

describe('npm start', () => {
  let home: string;
  let ports: Ports;
  let env: NodeJS.ProcessEnv;
  let first: StartedCommand | undefined;
  let second: StartedCommand | undefined;

  beforeAll(async () => {
    home = join(await tempDir('fle-start-'), 'state');
    ports = { nats: await freePort(), keystore: await freePort(), processor: await freePort(), gateway: await freePort(), edge: await freePort() };
    env = stackEnv(home, ports);
    // Its own process group, so the test can send SIGINT the way a terminal's Ctrl-C does.
    first = startCommand('npm', ['start'], env, { detached: true });
    await first.waitFor('The stack is running', START_TIMEOUT);
  });

  afterAll(async () => {
    for (const c of [first, second]) {
      if (c && c.child.exitCode === null && c.child.signalCode === null) {
        try {
          process.kill(c === first ? -c.pid : c.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    if (home) for (const pid of await waitUntilNoneLeft(home, 5000)) process.kill(pid, 'SIGKILL');
  });

  it('creates certificates and the master key, starts every service on the asked ports, and prints what each hop saw', () => {
    const out = first!.output();
    expect(out).toContain(`certificates: wrote`);
    expect(out).toContain(`master key: ${join(home, 'master.key')} (created now, mode 0600, never printed)`);
    expect(statSync(join(home, 'master.key')).mode & 0o777).toBe(0o600);
    const masterHex = readFileSync(join(home, 'master.key'), 'utf8').trim();
    expect(out + first!.errors()).not.toContain(masterHex);
    for (const name of ['ca', 'gateway', 'processor', 'keystore', 'client', 'admin', 'nats', 'observer']) expect(existsSync(join(home, 'certs', `${name}.pem`)), name).toBe(true);
    expect(out).toContain(`nats-server: nats://127.0.0.1:${ports.nats}`);
    expect(out).toContain(`keystore: 127.0.0.1:${ports.keystore}`);
    expect(out).toContain('tenant "demo" key rings default v1 (created now), pci v1 (created now)');
    expect(out).toContain(`processor: 127.0.0.1:${ports.processor}`);
    expect(out).toContain(`gateway: 127.0.0.1:${ports.gateway}`);

    // Per hop. Plaintext only in the client's section: the card number is printed there and nowhere after it.
    const client = out.slice(out.indexOf('1. client'), out.indexOf('2. gateway'));
    const card = /"(400000\d{10})"/.exec(client)?.[1];
    expect(card).toBeDefined();
    const rest = out.slice(out.indexOf('2. gateway'));
    expect(rest).not.toContain(card!);
    expect(rest).not.toContain('Ada Lovelace');
    expect(rest).toMatch(/2\. gateway — ciphertext only .* routed to fle\.js\.demo\.authorize — the same bytes, unchanged/);
    // AQIAAAAB: version 1, alg 2 (new rings are alg 2), key version 1.
    expect(rest).toMatch(/card\.number as routed: AQIAAAAB\S+… \(\d+-byte envelope, key version 1\)/);
    expect(rest).toMatch(/3\. NATS — ciphertext only/);
    expect(rest).toMatch(/request\s+fle\.js\.demo\.authorize \(\d+ bytes\)/);
    expect(rest).toMatch(/reply\s+_INBOX_gateway\.… \(\d+ bytes\)/);
    expect(rest).toMatch(/4\. processor — plaintext inside its boundary/);
    expect(rest).toContain(`Luhn check of the opened card number: passed; last four it returned: ${card!.slice(-4)} (matches)`);
    expect(rest).toContain('plaintext outside the processor: none');
    expect(rest).toContain('result: approved, nothing leaked');

    const info = readStack(home);
    expect(info).toMatchObject({ pid: expect.any(Number), gateway: `127.0.0.1:${ports.gateway}`, keystore: `127.0.0.1:${ports.keystore}`, tenant: 'demo', transport: 'jetstream', natsRunner: 'binary' });
    for (const p of info.processes) expect(alive(p.pid!), p.name).toBe(true);
    // Positive control for the "nothing left" checks below: the scan does see the running stack.
    const running = processesOfHome(home);
    for (const pid of [info.pid, ...info.processes.map((p) => p.pid!)]) expect(running).toContain(pid);
  });

  it('answers `fle demo --json` with a summary: hops in order, approved, timings, no plaintext outside the processor', async () => {
    const demo = fle(['demo', '--json'], env);
    const { code } = await demo.exited;
    expect(code, demo.errors()).toBe(0);
    const s = JSON.parse(demo.output()) as DemoSummary;
    expect(s).toMatchObject({ ok: true, approved: true, tenant: 'demo', transport: 'jetstream', gateway: `127.0.0.1:${ports.gateway}`, plaintextSeenOutsideProcessor: false, problems: [] });
    expect(s.hops.map((h) => `${h.hop}:${h.sees}`)).toEqual(['client:plaintext', 'gateway:ciphertext', 'nats:ciphertext', 'processor:plaintext inside its boundary']);
    const [client, gateway, nats, processor] = s.hops as [DemoSummary['hops'][0], GatewayHop, NatsHop, ProcessorHop];
    expect(client.hop === 'client' && client.sealedFields.length).toBe(9);
    expect(gateway).toMatchObject({ routedTo: 'fle.js.demo.authorize', envelopesFrom: 'nats', routedUnchanged: true, plaintextFound: [] });
    expect(gateway.log).toMatchObject({ tenant: 'demo', transport: 'jetstream', caller: 'spiffe://fle.local/client', envelopes: 9 });
    expect(nats.observed).toBe(true);
    expect(nats.messages.map((m) => m.what)).toEqual(expect.arrayContaining(['request', 'delivery to the processor', 'reply', 'stored record']));
    expect(nats.plaintextFound).toEqual([]);
    expect(processor).toMatchObject({ luhnCheckPassed: true, lastFourMatches: true, logPlaintextFree: true, cardToken: { openedByClient: true, keyVersion: 1 } });
    expect(processor.log).toMatchObject({ tenant: 'demo', transport: 'jetstream', route: 'authorize' });
    expect(s.checked).toEqual(expect.arrayContaining(['the gateway log', 'keystore log', 'nats log']));
    for (const v of Object.values(s.timingsMs)) expect(v).toBeGreaterThanOrEqual(0);
    expect(s.timingsMs.total).toBeGreaterThan(0);
    // The JSON carries no plaintext: sizes and envelope prefixes only.
    expect(demo.output()).not.toMatch(/"400000\d{10}"|Ada Lovelace|@example\.test/);
  });

  it('`fle demo` against no stack exits 1 with one line', async () => {
    const closed = await freePort();
    const demo = fle(['demo', '--json', '--gateway', `127.0.0.1:${closed}`, '--keystore', `127.0.0.1:${closed}`, '--home', join(home, 'nowhere'), '--certs', join(home, 'certs')], env);
    const { code } = await demo.exited;
    expect(code).toBe(1);
    expect(demo.output()).toBe('');
    const lines = demo.errors().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^fle: demo: the client could not get its keys from the keystore at 127\.0\.0\.1:\d+: .* \(is `npm start` running\?\)$/);
  });

  it('a second start while the stack runs refuses and leaves the running stack untouched (its stack file, ports files, processes)', async () => {
    const stackFile = join(home, 'run/stack.json');
    const before = readFileSync(stackFile, 'utf8');
    const portsBefore = ['gateway', 'processor'].map((n) => readFileSync(join(home, `run/${n}.ports.json`), 'utf8'));
    const again = startCommand(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], env);
    const { code } = await again.exited;
    expect(code).toBe(1);
    const info = readStack(home);
    expect(again.errors()).toContain(`npm start: a stack is already running from ${home} (pid ${info.pid}, gateway 127.0.0.1:${ports.gateway})`);
    expect(readFileSync(stackFile, 'utf8')).toBe(before);
    expect(['gateway', 'processor'].map((n) => readFileSync(join(home, `run/${n}.ports.json`), 'utf8'))).toEqual(portsBefore);
    for (const p of info.processes) expect(alive(p.pid!), p.name).toBe(true);
    // And the demo still sees every hop of the running stack.
    const demo = fle(['demo', '--json'], env);
    expect((await demo.exited).code, demo.errors()).toBe(0);
    expect((JSON.parse(demo.output()) as DemoSummary).ok).toBe(true);
  });

  it('`fle demo` fails when it cannot observe the hops it reports on (no NATS view, no service logs)', async () => {
    // The running stack's gateway and keystore, but no stack file to learn NATS and the logs from.
    const demo = fle(['demo', '--json', '--gateway', `127.0.0.1:${ports.gateway}`, '--keystore', `127.0.0.1:${ports.keystore}`, '--home', join(home, 'nowhere'), '--certs', join(home, 'certs')], env);
    const { code } = await demo.exited;
    expect(code).toBe(1);
    const s = JSON.parse(demo.output()) as DemoSummary;
    expect(s.approved).toBe(true); // the request itself went through
    expect(s.ok).toBe(false);
    expect(s.problems.join('; ')).toMatch(/NATS hop not observed: no NATS address known/);
    expect(s.problems.join('; ')).toMatch(/gateway hop not observed: its log is not readable/);
    expect(s.problems.join('; ')).toMatch(/processor hop not observed: its log is not readable/);
    expect(demo.errors().trim().split('\n')).toHaveLength(1);
  });

  it('Ctrl-C stops every process it started, and nothing is left', async () => {
    const info = readStack(home);
    const pids = [info.pid, ...info.processes.map((p) => p.pid!)];
    process.kill(-first!.pid, 'SIGINT'); // the whole foreground group, as a terminal does
    const { code, signal } = await first!.exited;
    // The start script exits 0; npm then re-raises the SIGINT it relayed (its convention), so it may end by that signal.
    expect(code === 0 || signal === 'SIGINT', `${code} ${signal} ${first!.errors()}`).toBe(true);
    expect(first!.output()).toContain('SIGINT: stopping gateway, processor, keystore, nats-server');
    expect(first!.output()).toContain('stopped; nothing left running');
    for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false);
    expect(await waitUntilNoneLeft(home, 5000)).toEqual([]);
    expect(existsSync(join(home, 'run/stack.json'))).toBe(false);
  });

  it('a second start keeps the master key and the key rings; SIGTERM to the start script alone stops everything', async () => {
    const keyBefore = createHash('sha256').update(readFileSync(join(home, 'master.key'))).digest('hex');
    second = startCommand(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], env);
    await second.waitFor('The stack is running', START_TIMEOUT);
    const out = second.output();
    expect(out).toContain('certificates: ');
    expect(out).toContain('(already there)');
    expect(out).toContain('(kept, mode 0600, never printed)');
    expect(out).toContain('tenant "demo" key rings default v1, pci v1');
    expect(out).not.toContain('created now');
    expect(out).toContain('result: approved, nothing leaked');
    expect(createHash('sha256').update(readFileSync(join(home, 'master.key'))).digest('hex')).toBe(keyBefore);

    const info = readStack(home);
    expect(info.pid).toBe(second.pid);
    process.kill(second.pid, 'SIGTERM'); // only the script: it must stop its children itself
    const { code } = await second.exited;
    expect(code, second.errors()).toBe(0);
    for (const p of info.processes) expect(alive(p.pid!), p.name).toBe(false);
    expect(await waitUntilNoneLeft(home, 5000)).toEqual([]);
  }, START_TIMEOUT + 30_000);

  it('a port already in use is a clear error before anything starts', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const taken = (blocker.address() as { port: number }).port;
    const otherHome = join(await tempDir('fle-start-'), 'state');
    try {
      const run = startCommand(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], stackEnv(otherHome, { nats: 0, keystore: 0, processor: 0, gateway: taken, edge: 0 }));
      const { code } = await run.exited;
      expect(code).toBe(1);
      expect(run.errors()).toContain(`npm start: port ${taken} for the gateway on 127.0.0.1 is already in use: stop what uses it, or set FLE_GATEWAY_PORT`);
      expect(existsSync(join(otherHome, 'nats', 'nats.conf'))).toBe(false); // nothing was started
      expect(await waitUntilNoneLeft(otherHome, 2000)).toEqual([]);
    } finally {
      blocker.close();
    }
  });
});
