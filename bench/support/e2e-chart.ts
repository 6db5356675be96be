// The end-to-end benchmark's chart as hand-written SVG (no native
// dependencies): four panels, readable at a glance.
//   top:    requests/s, encrypted beside plaintext, by concurrency | by payload size
//   bottom: encrypted ÷ plaintext (throughput and p99) with the target lines
export interface ChartPoint {
  /** x label, e.g. "c=16" or "16 KiB". */
  readonly label: string;
  readonly encryptedRps: number;
  readonly plaintextRps: number;
  /** encrypted ÷ plaintext throughput (target >= minThroughputRatio). */
  readonly throughputRatio: number;
  /** encrypted ÷ plaintext p99 latency (target <= maxP99Ratio). */
  readonly p99Ratio: number;
}

export interface ChartInput {
  readonly title: string;
  readonly subtitle: string;
  readonly byConcurrency: readonly ChartPoint[];
  readonly bySize: readonly ChartPoint[];
  readonly sizeCaption: string;
  readonly minThroughputRatio: number;
  readonly maxP99Ratio: number;
}

const W = 1000;
const H = 640;
const PANEL_W = 420;
const PANEL_H = 200;
const COLORS = { enc: '#1f6feb', plain: '#8b949e', thr: '#1f6feb', p99: '#d1242f', grid: '#d0d7de', text: '#24292f', pass: '#1a7f37', fail: '#d1242f' };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const f1 = (n: number) => (Math.round(n * 10) / 10).toString();

function text(x: number, y: number, s: string, opts: { size?: number; anchor?: 'start' | 'middle' | 'end'; color?: string; weight?: string } = {}): string {
  return `<text x="${f1(x)}" y="${f1(y)}" font-size="${opts.size ?? 12}" text-anchor="${opts.anchor ?? 'start'}" fill="${opts.color ?? COLORS.text}"${opts.weight ? ` font-weight="${opts.weight}"` : ''}>${esc(s)}</text>`;
}

/** The smallest 4 × (1, 2, 2.5 or 5 × 10^k) that is at least `v`: four round grid steps. */
function niceMax(v: number): number {
  if (!(v > 0)) return 4;
  const step = v / 4;
  const p = 10 ** Math.floor(Math.log10(step));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= step) return 4 * m * p;
  return 40 * p;
}

/** Grouped bars: plaintext and encrypted requests/s per x label. */
function barsPanel(x0: number, y0: number, title: string, points: readonly ChartPoint[]): string {
  const out: string[] = [text(x0, y0 - 12, title, { size: 13, weight: 'bold' })];
  const max = niceMax(Math.max(...points.map((p) => Math.max(p.encryptedRps, p.plaintextRps))));
  for (let i = 0; i <= 4; i++) {
    const y = y0 + PANEL_H - (PANEL_H * i) / 4;
    out.push(`<line x1="${x0}" y1="${f1(y)}" x2="${x0 + PANEL_W}" y2="${f1(y)}" stroke="${COLORS.grid}" stroke-width="1"/>`);
    out.push(text(x0 - 6, y + 4, String(Math.round((max * i) / 4)), { size: 10, anchor: 'end' }));
  }
  const slot = PANEL_W / points.length;
  const bw = Math.min(48, slot / 3);
  points.forEach((p, i) => {
    const cx = x0 + slot * (i + 0.5);
    for (const [k, v, dx] of [['plain', p.plaintextRps, -bw - 2], ['enc', p.encryptedRps, 2]] as const) {
      const h = (PANEL_H * v) / max;
      out.push(`<rect x="${f1(cx + dx)}" y="${f1(y0 + PANEL_H - h)}" width="${f1(bw)}" height="${f1(h)}" fill="${COLORS[k]}"/>`);
      out.push(text(cx + dx + bw / 2, y0 + PANEL_H - h - 4, String(Math.round(v)), { size: 10, anchor: 'middle' }));
    }
    out.push(text(cx, y0 + PANEL_H + 16, p.label, { anchor: 'middle' }));
  });
  out.push(text(x0 - 44, y0 + PANEL_H / 2, 'req/s', { size: 11, anchor: 'middle' }));
  return out.join('\n');
}

/** Ratio lines (throughput, p99) with the two target lines. */
function ratioPanel(x0: number, y0: number, title: string, points: readonly ChartPoint[], minThr: number, maxP99: number): string {
  const out: string[] = [text(x0, y0 - 12, title, { size: 13, weight: 'bold' })];
  const values = points.flatMap((p) => [p.throughputRatio, p.p99Ratio]).filter(Number.isFinite);
  // A margin of 0.05 keeps the value labels inside the panel.
  const lo = Math.min(0.6, Math.floor((Math.min(...values, minThr) - 0.05) * 10) / 10);
  const hi = Math.max(1.4, Math.ceil((Math.max(...values, maxP99) + 0.05) * 10) / 10);
  const y = (v: number) => y0 + PANEL_H - ((v - lo) / (hi - lo)) * PANEL_H;
  for (let v = lo; v <= hi + 1e-9; v += 0.1) {
    const major = Math.abs(v * 10 - Math.round(v * 10)) < 1e-6 && Math.round(v * 10) % 2 === 0;
    out.push(`<line x1="${x0}" y1="${f1(y(v))}" x2="${x0 + PANEL_W}" y2="${f1(y(v))}" stroke="${COLORS.grid}" stroke-width="${major ? 1 : 0.5}"/>`);
    if (major) out.push(text(x0 - 6, y(v) + 4, `${v.toFixed(1)}×`, { size: 10, anchor: 'end' }));
  }
  out.push(`<line x1="${x0}" y1="${f1(y(1))}" x2="${x0 + PANEL_W}" y2="${f1(y(1))}" stroke="${COLORS.text}" stroke-width="1"/>`);
  for (const [v, color, label] of [[minThr, COLORS.thr, `throughput target ≥ ${minThr}×`], [maxP99, COLORS.p99, `p99 target ≤ ${maxP99}×`]] as const) {
    out.push(`<line x1="${x0}" y1="${f1(y(v))}" x2="${x0 + PANEL_W}" y2="${f1(y(v))}" stroke="${color}" stroke-width="1.2" stroke-dasharray="6 4"/>`);
    out.push(text(x0 + PANEL_W - 4, y(v) + (v < 1 ? 14 : -5), label, { size: 10, anchor: 'end', color }));
  }
  const slot = PANEL_W / points.length;
  const px = (i: number) => x0 + slot * (i + 0.5);
  for (const [key, color, pass] of [
    ['throughputRatio', COLORS.thr, (v: number) => v >= minThr],
    ['p99Ratio', COLORS.p99, (v: number) => v <= maxP99],
  ] as const) {
    const pts = points.map((p, i) => `${f1(px(i))},${f1(y(p[key]))}`).join(' ');
    out.push(`<polyline points="${pts}" fill="none" stroke="${color}" stroke-width="2"/>`);
    points.forEach((p, i) => {
      const v = p[key];
      out.push(`<circle cx="${f1(px(i))}" cy="${f1(y(v))}" r="4" fill="${pass(v) ? color : '#fff'}" stroke="${color}" stroke-width="2"/>`);
      // p99 labels left of their point, throughput labels right: they never cover each other.
      const left = key === 'p99Ratio';
      out.push(text(px(i) + (left ? -7 : 7), y(v) + (left ? -6 : 14), `${v.toFixed(2)}×`, { size: 10, color, anchor: left ? 'end' : 'start' }));
    });
  }
  points.forEach((p, i) => out.push(text(px(i), y0 + PANEL_H + 16, p.label, { anchor: 'middle' })));
  return out.join('\n');
}

function legend(x: number, y: number): string {
  const items: [string, string, 'box' | 'line'][] = [
    ['plaintext (AuthorizePlain, unmarked twin types)', COLORS.plain, 'box'],
    ['encrypted (Authorize, sealed fields)', COLORS.enc, 'box'],
    ['throughput enc ÷ plain', COLORS.thr, 'line'],
    ['p99 latency enc ÷ plain', COLORS.p99, 'line'],
  ];
  const out: string[] = [];
  let cx = x;
  for (const [label, color, kind] of items) {
    out.push(kind === 'box' ? `<rect x="${cx}" y="${y - 9}" width="12" height="10" fill="${color}"/>` : `<line x1="${cx}" y1="${y - 4}" x2="${cx + 14}" y2="${y - 4}" stroke="${color}" stroke-width="2"/>`);
    out.push(text(cx + 18, y, label, { size: 11 }));
    cx += 18 + label.length * 6.1 + 18;
  }
  return out.join('\n');
}

export function renderE2eChart(input: ChartInput): string {
  const left = 70;
  const right = left + PANEL_W + 80;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    text(left - 50, 26, input.title, { size: 16, weight: 'bold' }),
    text(left - 50, 46, input.subtitle, { size: 11, color: '#57606a' }),
    legend(left - 50, 70),
    barsPanel(left, 110, 'Throughput by concurrency', input.byConcurrency),
    barsPanel(right, 110, `Throughput by sensitive payload size (${input.sizeCaption})`, input.bySize),
    ratioPanel(left, 390, 'Encrypted ÷ plaintext by concurrency', input.byConcurrency, input.minThroughputRatio, input.maxP99Ratio),
    ratioPanel(right, 390, `Encrypted ÷ plaintext by payload size (${input.sizeCaption})`, input.bySize, input.minThroughputRatio, input.maxP99Ratio),
    text(left - 50, H - 10, 'filled marker = target met, hollow = missed', { size: 10, color: '#57606a' }),
    '</svg>',
  ];
  return parts.join('\n') + '\n';
}
