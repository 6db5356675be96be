// The end-to-end benchmark's outputs: its own table (the harness's table is
// per-call oriented), the harness rows, and chart points.
import { median, type Row } from '../lib.js';
import type { ChartPoint } from './e2e-chart.js';
import type { CellResult } from './e2e-cells.js';

export const sizeLabel = (b: number) => (b >= 1024 ? `${b / 1024} KiB` : `${b} B`);
const PROCESSES = ['client', 'gateway', 'processor', 'nats-server', 'keystore'];

export function printTable(cells: readonly CellResult[]): void {
  const head = ['cell', 'variant', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'enc/plain', 'fle/bare', ...PROCESSES.map((p) => `cpu µs ${p}`), ...PROCESSES.map((p) => `peak MiB ${p}`)];
  const body: string[][] = [];
  for (const c of cells) {
    for (const v of [c.encrypted, c.plaintext, ...(c.bare ? [c.bare] : [])]) {
      body.push([
        c.label,
        v.variant,
        v.rps.toFixed(0),
        v.p50Ms.toFixed(2),
        v.p99Ms.toFixed(2),
        String(v.errors),
        v.variant === 'encrypted' ? `thr ${c.throughputRatio.toFixed(2)}x (cpu ${c.cpuThroughputRatio.toFixed(2)}x) p99 ${c.p99Ratio.toFixed(2)}x (per round ${c.roundP99Ratio.toFixed(2)}x)` : '',
        bareCell(c, v.variant),
        ...PROCESSES.map((p) => (v.cpuUsPerRequest[p] ?? NaN).toFixed(0)),
        ...PROCESSES.map((p) => (v.peakRssMiB[p] ?? NaN).toFixed(0)),
      ]);
    }
  }
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 2 && i !== 6 && i !== 7 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  console.log([line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n'));
}

/** fle ÷ bare for the encrypted and plaintext rows: throughput (median of rounds), p50, CPU per request. */
function bareCell(c: CellResult, variant: string): string {
  const r = c.bareRatios;
  if (!r || variant === 'bare') return '';
  const [thr, p50, cpu] = variant === 'encrypted' ? [r.encryptedThroughput, r.encryptedP50, r.encryptedCpu] : [r.plaintextThroughput, r.plaintextP50, r.plaintextCpu];
  return `thr ${thr.toFixed(2)}x p50 ${p50.toFixed(2)}x cpu ${cpu.toFixed(2)}x`;
}

export function rowsOf(cells: readonly CellResult[]): Row[] {
  return cells.flatMap((c) =>
    [c.encrypted, c.plaintext, ...(c.bare ? [c.bare] : [])].map((v) => {
      const m = median(v.roundRps);
      return {
        group: c.label,
        name: v.variant,
        // time/op of the pipeline at this concurrency: 1 / throughput
        nsPerOp: 1e9 / v.rps,
        opsPerSec: v.rps,
        ...(v.variant === 'encrypted'
          ? { relative: `${c.throughputRatio.toFixed(2)}x thr, ${c.p99Ratio.toFixed(2)}x p99${c.bareRatios ? `; ${c.bareRatios.encryptedThroughput.toFixed(2)}x bare` : ''}` }
          : v.variant === 'plaintext' && c.bareRatios
            ? { relative: `${c.bareRatios.plaintextThroughput.toFixed(2)}x bare` }
            : {}),
        spread: median(v.roundRps.map((x) => Math.abs(x - m))) / m,
      };
    }),
  );
}

export function chartPoint(label: string, c: CellResult): ChartPoint {
  return { label, encryptedRps: c.encrypted.rps, plaintextRps: c.plaintext.rps, throughputRatio: c.throughputRatio, p99Ratio: c.p99Ratio };
}
