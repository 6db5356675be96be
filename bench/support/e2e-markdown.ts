// Prints the README "Performance" table from the latest end-to-end run
// (docs/perf/e2e.json, written by `npm run bench -- e2e`; or the JSON file given):
//   npx tsx --conditions=@fle/source bench/support/e2e-markdown.ts [file.json]
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CellResult } from './e2e-cells.js';
import { sizeLabel } from './e2e-report.js';

interface Latest {
  readonly date: string;
  readonly machine: string;
  readonly loadAverage: { before: { load1: number }; after: { load1: number } };
  readonly seconds: number;
  readonly byConcurrency: CellResult[];
  readonly byPayloadSize: CellResult[];
  readonly coreNats: CellResult;
  /** Core NATS at every concurrency (runs with the bare baseline; older runs have coreNats alone). */
  readonly coreNatsByConcurrency?: CellResult[];
  readonly targets: { name: string; pass: boolean; measured: number; comparator: string; limit: number; unit: string }[];
  readonly keystoreFetches: { fetches: Record<string, number>; windows: Record<string, number>; worst: number };
}

const file = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'perf', 'e2e.json');
const j = JSON.parse(readFileSync(file, 'utf8')) as Latest;
const f0 = (n: number) => n.toFixed(0);
const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);
/** A bootstrap interval, when the run recorded one (runs before it did not). */
const ci = (r: readonly [number, number] | undefined) => (r ? `(${f2(r[0])}-${f2(r[1])})` : '');

const cells = [...j.byConcurrency, ...j.byPayloadSize.filter((s) => !j.byConcurrency.some((c) => c.label === s.label)), ...(j.coreNatsByConcurrency ?? [j.coreNats])];
const withBare = cells.some((c) => c.bareRatios);
/** fle ÷ bare columns (issue 23), when the run had the bare baseline. */
const bareCols = (c: CellResult) => {
  const r = c.bareRatios;
  if (!withBare) return '';
  if (!r) return '  |  |  |  |';
  return ` ${f0(c.bare!.rps)} | **${f2(r.encryptedThroughput)}×** ${ci(r.encryptedThroughputCi)} | **${f2(r.plaintextThroughput)}×** ${ci(r.plaintextThroughputCi)} | ${f2(r.encryptedP50)}× / ${f2(r.plaintextP50)}× |`;
};
const transport = (c: CellResult) => (c.transport === 'jetstream' ? 'JetStream' : 'core NATS');
const lines = [
  `Run ${j.date.slice(0, 16).replace('T', ' ')} UTC, ${j.machine}, load average ${f1(j.loadAverage.before.load1)} → ${f1(j.loadAverage.after.load1)}, ${f0(j.seconds)} s:`,
  '',
  `| transport | concurrency | sensitive payload | plaintext req/s | encrypted req/s | throughput enc ÷ plain (95% CI) | p50 ms plain / enc | p99 ms plain / enc | p99 enc ÷ plain (95% CI) | CPU enc ÷ plain |${withBare ? ' bare req/s | throughput enc ÷ bare (95% CI) | throughput plain ÷ bare (95% CI) | p50 enc / plain ÷ bare |' : ''}`,
  `|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|${withBare ? '---:|---:|---:|---:|' : ''}`,
  ...cells.map(
    (c) =>
      `| ${transport(c)} | ${c.concurrency} | ${sizeLabel(c.payloadBytes)} | ${f0(c.plaintext.rps)} | ${f0(c.encrypted.rps)} | **${f2(c.throughputRatio)}×** ${ci(c.throughputRatioCi)} | ${f1(c.plaintext.p50Ms)} / ${f1(c.encrypted.p50Ms)} | ${f1(c.plaintext.p99Ms)} / ${f1(c.encrypted.p99Ms)} | **${f2(c.p99Ratio)}×** ${ci(c.p99RatioCi)} | ${f2(1 / c.cpuThroughputRatio)}× |${bareCols(c)}`,
  ),
  '',
  ...j.targets.map((t) => `- ${t.pass ? 'PASS' : 'FAIL'} ${t.name}: ${f2(t.measured)}${t.unit} ${t.comparator} ${t.limit}${t.unit}`),
  '',
  `Peak RSS, MiB (encrypted / plaintext, c=64): ${['client', 'gateway', 'processor', 'nats-server', 'keystore']
    .map((p) => {
      const c = j.byConcurrency.find((x) => x.concurrency === 64) ?? j.byConcurrency[0]!;
      return `${p} ${f0(c.encrypted.peakRssMiB[p] ?? NaN)} / ${f0(c.plaintext.peakRssMiB[p] ?? NaN)}`;
    })
    .join(', ')}.`,
];
console.log(lines.join('\n'));
