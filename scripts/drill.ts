// `npm run drill -- cluster [--runs N] [--every K] [--load L]`: the cluster
// fault drill (test/reliability/drill-nats-cluster.int.test.ts) as a loop, not
// a coin (issue 16). Each run is a fresh vitest process with its own 3-node
// cluster and services; every K-th run (default 2; 0 = never) takes the forced
// leaderless path (the durable left without a leader on the killed node), the
// others kill the consumer leader and let nats-server and the processor find
// their way. `--load L` runs L busy processes beside the drill (a loaded
// machine). Prints one line per run (failover path, accepted, processed, lost,
// done twice, recovery time) and a tally, and writes everything to
// test/reliability/results/cluster-<time>.json (git-ignored, like
// bench/results: the figures belong to the machine and the moment).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = dirname(dirname(fileURLToPath(import.meta.url)));
const RESULTS = join(REPO, 'test/reliability/results');
const FILE = 'test/reliability/drill-nats-cluster.int.test.ts';
/** vitest -t patterns selecting one of the file's two drills. */
const PATTERN = { natural: 'loses nothing accepted', leaderless: 'forced path' } as const;

type Mode = keyof typeof PATTERN;

interface RunReport {
  mode: Mode;
  path?: string;
  victim?: string;
  accepted?: number;
  processed?: number;
  lost?: number;
  duplicates?: number;
  recoveryMs?: number;
  newLeaderMs?: number;
  watchdog?: Record<string, number>;
  watchdogLog?: string[];
  deadLetters?: number;
  restarted?: boolean;
  evidence?: string;
  error?: string;
}

interface RunResult extends RunReport {
  run: number;
  passed: boolean;
  seconds: number;
  load1: number;
  /** vitest's output, when the run failed. */
  log?: string;
}

function usage(message?: string): never {
  if (message) process.stderr.write(`npm run drill: ${message}\n`);
  process.stderr.write('usage: npm run drill -- cluster [--runs N] [--every K] [--load L]\n');
  process.exit(2);
}

function intFlag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 0) usage(`${name} takes a whole number`);
  return v;
}

function runOnce(run: number, mode: Mode): Promise<RunResult> {
  const reportFile = join(RESULTS, `.run-${process.pid}-${run}.json`);
  rmSync(reportFile, { force: true });
  const started = Date.now();
  const load1 = loadavg()[0]!;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO, 'node_modules/vitest/vitest.mjs'), 'run', FILE, '-t', PATTERN[mode]], {
      cwd: REPO,
      env: { ...process.env, FLE_DRILL_REPORT: reportFile, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    child.once('exit', (code) => {
      let reports: RunReport[] = [];
      try {
        reports = JSON.parse(readFileSync(reportFile, 'utf8')) as RunReport[];
      } catch {
        // the file did not get that far (e.g. the stack did not start)
      }
      rmSync(reportFile, { force: true });
      const report = reports.find((r) => r.mode === mode) ?? { mode, error: 'no report (see log)' };
      const passed = code === 0 && report.error === undefined;
      resolve({ run, ...report, passed, seconds: Math.round((Date.now() - started) / 1000), load1: Math.round(load1 * 10) / 10, ...(passed ? {} : { log: output }) });
    });
  });
}

const s = (ms: number | undefined) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`);
const pad = (v: unknown, n: number) => String(v ?? '-').padEnd(n);

function line(r: RunResult): string {
  const steps = Object.entries(r.watchdog ?? {})
    .map(([k, v]) => `${k}×${v}`)
    .join(' ');
  return [
    pad(r.run, 4),
    pad(r.mode, 11),
    pad(r.path ?? '?', 32),
    pad(r.accepted, 9),
    pad(r.processed, 10),
    pad(r.lost, 5),
    pad(r.duplicates, 6),
    pad(s(r.recoveryMs), 9),
    pad(s(r.newLeaderMs), 11),
    pad(steps || '-', 34),
    pad(r.load1, 6),
    r.passed ? 'pass' : `FAIL ${r.error ?? ''}`,
  ].join(' ');
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args[0] !== 'cluster') usage(args[0] ? `unknown drill ${JSON.stringify(args[0])} (there is: cluster)` : 'name the drill');
  const runs = intFlag(args, '--runs', 1);
  const every = intFlag(args, '--every', 2);
  const load = intFlag(args, '--load', 0);
  if (runs < 1) usage('--runs must be at least 1');
  mkdirSync(RESULTS, { recursive: true });

  const server = spawnSync(process.env['NATS_SERVER_BIN'] ?? 'nats-server', ['--version'], { encoding: 'utf8' });
  const natsVersion = (server.stdout || server.stderr || 'nats-server: unknown').trim();
  const burners: ChildProcess[] = Array.from({ length: load }, () => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
  const stopBurners = () => burners.forEach((b) => b.kill('SIGKILL'));
  process.once('SIGINT', () => (stopBurners(), process.exit(130)));

  process.stdout.write(`cluster drill × ${runs} (${natsVersion}, node ${process.versions.node}, ${cpus().length} cores, leaderless forced every ${every || 'never'}, ${load} load processes)\n`);
  process.stdout.write(`${['run ', 'mode       ', 'path'.padEnd(32), 'accepted ', 'processed ', 'lost ', 'twice ', 'recovery ', 'new leader ', 'watchdog steps'.padEnd(34), 'load1 ', 'result'].join(' ')}\n`);
  const results: RunResult[] = [];
  const startedAt = new Date();
  try {
    for (let run = 1; run <= runs; run++) {
      const mode: Mode = every > 0 && run % every === 0 ? 'leaderless' : 'natural';
      const r = await runOnce(run, mode);
      results.push(r);
      process.stdout.write(`${line(r)}\n`);
    }
  } finally {
    stopBurners();
  }

  const passed = results.filter((r) => r.passed).length;
  const paths: Record<string, number> = {};
  for (const r of results) paths[r.path ?? 'unknown'] = (paths[r.path ?? 'unknown'] ?? 0) + 1;
  const recoveries = (mode: Mode) => results.filter((r) => r.mode === mode && r.recoveryMs !== undefined).map((r) => r.recoveryMs!);
  const summary = {
    runs: results.length,
    passed,
    lost: results.reduce((n, r) => n + (r.lost ?? 0), 0),
    doneTwice: results.reduce((n, r) => n + (r.duplicates ?? 0), 0),
    paths,
    recoveryMs: Object.fromEntries((['natural', 'leaderless'] as const).map((m) => [m, recoveries(m).length ? { min: Math.min(...recoveries(m)), max: Math.max(...recoveries(m)) } : null])),
  };
  const out = join(RESULTS, `cluster-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(out, JSON.stringify({ drill: 'cluster', command: `npm run drill -- ${args.join(' ')}`, startedAt: startedAt.toISOString(), natsServer: natsVersion, node: process.versions.node, cores: cpus().length, load, every, summary, results }, null, 2));
  process.stdout.write(
    `\n${passed}/${results.length} passed; lost ${summary.lost}, done twice ${summary.doneTwice}; paths: ${Object.entries(paths)
      .map(([p, n]) => `${p} ${n}`)
      .join(', ')}\nrecovery (kill → first request stored after the kill handled): ${Object.entries(summary.recoveryMs)
      .map(([m, v]) => `${m} ${v ? `${s(v.min)}-${s(v.max)}` : '-'}`)
      .join(', ')}\nwritten: ${out}\n`,
  );
  return passed === results.length && summary.lost === 0 && summary.doneTwice === 0 ? 0 : 1;
}

process.exitCode = await main();
