// Where the encrypted path's extra CPU goes, per process and per function,
// over the whole end-to-end pipeline (issue 7):
//
//   npx tsx --conditions=@fle/source bench/profile-e2e.ts        (Linux, needs `perf` and the right to record every CPU)
//
// V8's own profiler runs inside one process and loses time to preemption
// when five processes share two cores; `perf record -a` samples every CPU
// from the kernel, whichever process runs. The stack of bench/e2e.bench.ts
// is started with --perf-basic-prof (JIT symbols in /tmp/perf-<pid>.map),
// the variants alternate in chunks (enc, plain, plain, enc, …) so drift hits
// both, and every sample is assigned to the chunk that was running at its
// timestamp (perf on CLOCK_MONOTONIC, the clock of process.hrtime).
//
// Prints CPU µs per request by process and variant; per process what the
// sampled instruction was doing (JS, WASM, GC, V8/Node runtime and builtins,
// libc, kernel); the functions whose own (self) time grows most; and the
// functions of this repository, its dependencies and WASM whose inclusive
// time (the function and what it calls) grows most from plaintext to
// encrypted. Writes bench/results/e2e-profile.json. One process's garbage
// collection or a neighbour's burst can land in one variant's chunks: compare
// a few runs before trusting a small difference.
// Env: FLE_PROFILE_CONCURRENCY (64), FLE_PROFILE_REQUESTS (per variant, 6000),
// FLE_PROFILE_CHUNK (500), FLE_PROFILE_TOP (15), FLE_PROFILE_TRANSPORT
// (jetstream, or nats for core NATS request-reply).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { PaymentServiceService } from '@fle-examples/payments/gen/acme/payments/v1/payments.js';
import { runLoad } from './support/load.js';
import { startE2eStack } from './support/e2e-stack.js';
import { benchRequest } from './support/requests.js';

const CONCURRENCY = Number(process.env.FLE_PROFILE_CONCURRENCY ?? 64);
const REQUESTS = Number(process.env.FLE_PROFILE_REQUESTS ?? 6000);
const CHUNK = Number(process.env.FLE_PROFILE_CHUNK ?? 500);
const TOP = Number(process.env.FLE_PROFILE_TOP ?? 15);
const TRANSPORT = process.env.FLE_PROFILE_TRANSPORT ?? 'jetstream';
if (TRANSPORT !== 'jetstream' && TRANSPORT !== 'nats') {
  console.error(`profile-e2e: FLE_PROFILE_TRANSPORT must be jetstream or nats, not ${TRANSPORT}`);
  process.exit(2);
}
const HZ = 1999;
const TENANTS = ['t0', 't1', 't2', 't3'];
const PERF_FLAG = '--perf-basic-prof';
/** Functions listed per process: JS of this repository and its dependencies, and WASM (libsodium); not runtime frames. */
const OWN_CODE = /(?:packages|services|node_modules)\/|wasm-function/;

type Variant = 'encrypted' | 'plaintext';
interface Window {
  readonly variant: Variant;
  readonly startNs: bigint;
  readonly endNs: bigint;
}

/** What the sampled instruction was doing, from its symbol and the object it lives in. */
type Category = 'gc' | 'kernel' | 'wasm' | 'js' | 'v8/node' | 'openssl' | 'libc' | 'other';
const CATEGORIES: readonly Category[] = ['js', 'wasm', 'gc', 'v8/node', 'openssl', 'libc', 'kernel', 'other'];

function categoryOf(sym: string, dso: string): Category {
  if (dso.includes('kernel') || dso.startsWith('[vdso')) return 'kernel';
  if (/wasm-function/.test(sym)) return 'wasm';
  if (/libcrypto|libssl/.test(dso)) return 'openssl';
  if (/libc[.-]|libm[.-]|libstdc|ld-linux|libpthread/.test(dso)) return 'libc';
  if (/Heap::|Scavenge|MarkCompact|Sweep|Marking|Evacuat|GCTracer|Compactor|Marker|ObjectVisitor|SemiSpace|Collector|Allocat|Minor|Heap\b/.test(sym)) return 'gc';
  if (/perf-\d+\.map/.test(dso) || /^(?:JS|LazyCompile|Function):/.test(sym)) return 'js';
  if (dso.includes('node') || /^(?:Builtin|Bytecode|Handler|Stub|RegExp):/.test(sym)) return 'v8/node';
  return 'other';
}

if (spawnSync('perf', ['--version']).status !== 0) {
  console.error('profile-e2e: needs Linux `perf` (e.g. apt-get install linux-perf)');
  process.exit(2);
}
// This process is the client: it needs JIT symbols too. Re-run with the flag if it is missing.
if (!`${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`.includes(PERF_FLAG)) {
  const env = { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${PERF_FLAG}`.trim() };
  const child = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env });
  process.exit(child.status ?? 1);
}

const here = dirname(fileURLToPath(import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'fle-profile-'));
const perfData = join(work, 'perf.data');
const stack = await startE2eStack({ tenants: TENANTS, keyCacheTtlMs: 600_000, processorConcurrency: 32, transports: [TRANSPORT], nodeOptions: PERF_FLAG });
try {
  const { client } = stack.gateways.get(TRANSPORT)!;
  const pool = Array.from({ length: 64 }, (_, i) => benchRequest(TENANTS[i % TENANTS.length]!, i, 1024));
  const calls: Record<Variant, (i: number) => Promise<unknown>> = {
    encrypted: (i) => client.call(PaymentServiceService.authorize, pool[i % pool.length]!),
    plaintext: (i) => client.call(PaymentServiceService.authorizePlain, pool[i % pool.length]!),
  };
  for (let k = 0; k < 3; k++) for (const v of ['encrypted', 'plaintext'] as const) await runLoad(calls[v], 1000, CONCURRENCY);

  const perf = spawn('perf', ['record', '-a', '-g', '-F', String(HZ), '-k', 'CLOCK_MONOTONIC', '-o', perfData], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 1000));
  const windows: Window[] = [];
  const requests: Record<Variant, number> = { encrypted: 0, plaintext: 0 };
  for (let r = 0; r < Math.ceil((2 * REQUESTS) / CHUNK); r++) {
    const variant: Variant = r % 4 === 0 || r % 4 === 3 ? 'encrypted' : 'plaintext';
    const startNs = process.hrtime.bigint();
    const res = await runLoad(calls[variant], CHUNK, CONCURRENCY);
    windows.push({ variant, startNs, endNs: process.hrtime.bigint() });
    requests[variant] += res.count - res.errors;
  }
  perf.kill('SIGINT');
  await new Promise((r) => perf.once('exit', r));

  const names = new Map<number, string>([[process.pid, 'client'], ...stack.services(TRANSPORT).map((s) => [s.pid, s.name] as [number, string])]);
  const profile = await attribute(perfData, windows, names);
  const usPerSample = 1e6 / HZ;
  const perRequest = (v: Variant, samples: number) => (samples * usPerSample) / requests[v];

  console.log(`perf record -a at ${HZ} Hz; ${requests.encrypted} encrypted and ${requests.plaintext} plaintext requests over ${TRANSPORT} at concurrency ${CONCURRENCY}, alternating chunks of ${CHUNK}`);
  console.log('\nCPU µs per request');
  console.log(`${'process'.padEnd(12)} ${'encrypted'.padStart(10)} ${'plaintext'.padStart(10)} ${'diff'.padStart(8)}`);
  let enc = 0;
  let plain = 0;
  for (const name of names.values()) {
    const e = perRequest('encrypted', profile.encrypted.total.get(name) ?? 0);
    const p = perRequest('plaintext', profile.plaintext.total.get(name) ?? 0);
    enc += e;
    plain += p;
    console.log(`${name.padEnd(12)} ${e.toFixed(0).padStart(10)} ${p.toFixed(0).padStart(10)} ${(e - p).toFixed(0).padStart(8)}`);
  }
  console.log(`${'all'.padEnd(12)} ${enc.toFixed(0).padStart(10)} ${plain.toFixed(0).padStart(10)} ${(enc - plain).toFixed(0).padStart(8)}   plaintext ÷ encrypted ${(plain / enc).toFixed(3)}`);

  console.log('\nCPU µs per request by what the sampled frame was doing (encrypted / plaintext)');
  console.log(`${'process'.padEnd(12)} ${CATEGORIES.map((c) => c.padStart(13)).join('')}`);
  const categories: Record<string, Record<string, { encryptedUs: number; plaintextUs: number }>> = {};
  for (const name of names.values()) {
    const row: Record<string, { encryptedUs: number; plaintextUs: number }> = {};
    for (const c of CATEGORIES) {
      row[c] = {
        encryptedUs: perRequest('encrypted', profile.encrypted.self.get(name)?.get(c) ?? 0),
        plaintextUs: perRequest('plaintext', profile.plaintext.self.get(name)?.get(c) ?? 0),
      };
    }
    categories[name] = row;
    console.log(`${name.padEnd(12)} ${CATEGORIES.map((c) => `${row[c]!.encryptedUs.toFixed(0)}/${row[c]!.plaintextUs.toFixed(0)}`.padStart(13)).join('')}`);
  }

  const selfFunctions: Record<string, Array<{ fn: string; encryptedUs: number; plaintextUs: number }>> = {};
  for (const name of names.values()) {
    const e = profile.encrypted.leaves.get(name) ?? new Map<string, number>();
    const p = profile.plaintext.leaves.get(name) ?? new Map<string, number>();
    const rows = [...new Set([...e.keys(), ...p.keys()])]
      .map((fn) => ({ fn, encryptedUs: perRequest('encrypted', e.get(fn) ?? 0), plaintextUs: perRequest('plaintext', p.get(fn) ?? 0) }))
      .sort((a, b) => b.encryptedUs - b.plaintextUs - (a.encryptedUs - a.plaintextUs))
      .slice(0, TOP);
    selfFunctions[name] = rows;
    if (rows.length === 0) continue;
    console.log(`\n${name}: functions whose own (self) µs per request grew most (encrypted, plaintext, diff)`);
    for (const r of rows) console.log(`  ${r.encryptedUs.toFixed(1).padStart(7)} ${r.plaintextUs.toFixed(1).padStart(7)} ${(r.encryptedUs - r.plaintextUs).toFixed(1).padStart(7)}  ${r.fn}`);
  }

  const functions: Record<string, Array<{ fn: string; encryptedUs: number; plaintextUs: number }>> = {};
  for (const name of names.values()) {
    const e = profile.encrypted.inclusive.get(name) ?? new Map<string, number>();
    const p = profile.plaintext.inclusive.get(name) ?? new Map<string, number>();
    const rows = [...new Set([...e.keys(), ...p.keys()])]
      .filter((fn) => OWN_CODE.test(fn))
      .map((fn) => ({ fn, encryptedUs: perRequest('encrypted', e.get(fn) ?? 0), plaintextUs: perRequest('plaintext', p.get(fn) ?? 0) }))
      .sort((a, b) => b.encryptedUs - b.plaintextUs - (a.encryptedUs - a.plaintextUs))
      .slice(0, TOP);
    functions[name] = rows;
    console.log(`\n${name}: functions whose inclusive µs per request grew most (encrypted, plaintext, diff)`);
    for (const r of rows) console.log(`  ${r.encryptedUs.toFixed(1).padStart(7)} ${r.plaintextUs.toFixed(1).padStart(7)} ${(r.encryptedUs - r.plaintextUs).toFixed(1).padStart(7)}  ${r.fn}`);
  }
  mkdirSync(join(here, 'results'), { recursive: true });
  const out = join(here, 'results', 'e2e-profile.json');
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), transport: TRANSPORT, concurrency: CONCURRENCY, chunk: CHUNK, hz: HZ, requests, cpuUsPerRequest: { encrypted: enc, plaintext: plain }, categories, selfFunctions, functions }, null, 2) + '\n');
  console.log(`\nwrote ${out}`);
} finally {
  await stack.stop();
  rmSync(work, { recursive: true, force: true });
}

interface VariantProfile {
  /** Samples per process. */
  readonly total: Map<string, number>;
  /** Samples per process and function anywhere on the stack (counted once per sample). */
  readonly inclusive: Map<string, Map<string, number>>;
  /** Samples per process and category of the sampled (leaf) frame. */
  readonly self: Map<string, Map<Category, number>>;
  /** Samples per process and sampled (leaf) function. */
  readonly leaves: Map<string, Map<string, number>>;
}


/** Reads `perf script` and counts each sample of a named process under the variant whose window holds it. */
async function attribute(data: string, windows: readonly Window[], names: ReadonlyMap<number, string>): Promise<Record<Variant, VariantProfile>> {
  const result: Record<Variant, VariantProfile> = {
    encrypted: { total: new Map(), inclusive: new Map(), self: new Map(), leaves: new Map() },
    plaintext: { total: new Map(), inclusive: new Map(), self: new Map(), leaves: new Map() },
  };
  const script = spawn('perf', ['script', '-i', data, '-F', 'pid,time,ip,sym,dso', '--ns'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let current: { profile: VariantProfile; name: string; frames: Set<string>; leaf: Category | undefined; leafFn: string | undefined } | undefined;
  const flush = () => {
    if (!current) return;
    const { profile, name, frames, leaf, leafFn } = current;
    let leaves = profile.leaves.get(name);
    if (!leaves) profile.leaves.set(name, (leaves = new Map()));
    leaves.set(leafFn ?? '?', (leaves.get(leafFn ?? '?') ?? 0) + 1);
    profile.total.set(name, (profile.total.get(name) ?? 0) + 1);
    let cats = profile.self.get(name);
    if (!cats) profile.self.set(name, (cats = new Map()));
    cats.set(leaf ?? 'other', (cats.get(leaf ?? 'other') ?? 0) + 1);
    let fns = profile.inclusive.get(name);
    if (!fns) profile.inclusive.set(name, (fns = new Map()));
    for (const f of frames) fns.set(f, (fns.get(f) ?? 0) + 1);
    current = undefined;
  };
  for await (const line of createInterface({ input: script.stdout })) {
    const header = /^\s*(\d+)\s+(\d+)\.(\d+):/.exec(line);
    if (header) {
      flush();
      const name = names.get(Number(header[1]));
      const t = BigInt(header[2]!) * 1_000_000_000n + BigInt(header[3]!.padEnd(9, '0').slice(0, 9));
      const w = windows.find((x) => x.startNs <= t && t <= x.endNs);
      if (name && w) current = { profile: result[w.variant], name, frames: new Set(), leaf: undefined, leafFn: undefined };
      continue;
    }
    const frame = /^\s+[0-9a-f]+ (.+?)(?: \(([^()]*)\))?$/.exec(line);
    if (frame && current) {
      const fn = symbolName(frame[1]!);
      if (current.leaf === undefined) {
        current.leaf = categoryOf(frame[1]!, frame[2] ?? '');
        current.leafFn = fn;
      }
      current.frames.add(fn);
    }
  }
  flush();
  return result;
}

/** A readable function name: JIT prefixes and the repository path dropped. */
function symbolName(sym: string): string {
  return sym
    .replace(/^(?:JS|LazyCompile|Function|Builtin|Handler):[*~^]?/, '')
    .replace(/file:\/\/\/[^ ]*?\/(packages|services|node_modules|bench)\//, '$1/')
    .slice(0, 120);
}
