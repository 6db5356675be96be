// `npm run bench [-- suite...] [--strict]`: runs bench/<suite>.bench.ts (all
// suites when none is named), prints a table and the targets with PASS/FAIL,
// and writes bench/results/<suite>.json (git-ignored). A suite is a module
// whose default export is a BenchSuite (bench/lib.ts). --strict exits 1 when a
// target fails (off by default: shared machines are noisy).
import { cpus } from 'node:os';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchSuite, Row, SuiteReport, Target } from './lib.js';

const here = dirname(fileURLToPath(import.meta.url));
const SUFFIX = '.bench.ts';

function available(): string[] {
  return readdirSync(here)
    .filter((f) => f.endsWith(SUFFIX))
    .map((f) => f.slice(0, -SUFFIX.length))
    .sort();
}

function fmtNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns.toFixed(0)} ns`;
}

function fmtNum(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

function table(rows: readonly Row[]): string {
  const head = ['group', 'case', 'time/op', 'ops/s', 'MB/s', 'vs', '±'];
  const body = rows.map((r) => [
    r.group,
    r.name,
    fmtNs(r.nsPerOp),
    fmtNum(r.opsPerSec),
    r.mbPerSec !== undefined ? fmtNum(r.mbPerSec) : '',
    r.relative ?? '',
    `${(r.spread * 100).toFixed(1)}%`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function targetLine(t: Target): string {
  const value = `${fmtNum(t.measured)}${t.unit} ${t.comparator} ${fmtNum(t.limit)}${t.unit}`;
  return `${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${value}`;
}

async function main(args: string[]): Promise<number> {
  const strict = args.includes('--strict');
  const names = args.filter((a) => !a.startsWith('--'));
  const all = available();
  const unknown = names.filter((n) => !all.includes(n));
  if (unknown.length) {
    console.error(`unknown suite(s): ${unknown.join(', ')}; available: ${all.join(', ')}`);
    return 2;
  }
  const selected = names.length ? names : all;
  let failed = 0;
  mkdirSync(join(here, 'results'), { recursive: true });
  for (const name of selected) {
    const mod = (await import(pathToFileURL(join(here, name + SUFFIX)).href)) as { default: BenchSuite };
    const suite = mod.default;
    console.log(`\n== ${name}: ${suite.description}`);
    const started = Date.now();
    const report: SuiteReport = await suite.run();
    const seconds = (Date.now() - started) / 1000;
    console.log(table(report.rows));
    for (const note of report.notes ?? []) console.log(`note: ${note}`);
    if (report.targets.length) console.log(`\ntargets:\n${report.targets.map(targetLine).join('\n')}`);
    console.log(`(${seconds.toFixed(1)} s)`);
    failed += report.targets.filter((t) => !t.pass).length;
    const out = join(here, 'results', `${name}.json`);
    const env = { node: process.version, platform: process.platform, arch: process.arch, cpu: cpus()[0]?.model, cores: cpus().length };
    writeFileSync(out, JSON.stringify({ suite: name, date: new Date().toISOString(), seconds, env, ...report }, null, 2) + '\n');
    console.log(`wrote ${join('bench/results', `${name}.json`)}`);
  }
  if (failed) console.log(`\n${failed} target(s) failed`);
  return strict && failed ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
