// The product knows no example API (issue 19 item 4): no source, test,
// manifest, config or README under packages/ or services/ imports an example or names
// the examples' protobuf packages. The examples (examples/*) use the product's
// public packages, never the other way round.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SKIP = new Set(['node_modules', 'dist', '.tsbuildinfo']);
const CHECKED = /\.(ts|mts|js|mjs|json|ya?ml|proto|md)$/;
/** An import of an example package or folder, or an example API's protobuf package name. */
const FORBIDDEN = [/@fle-examples\//, /['"][./]*examples\//, /\bacme\.payments\b/, /\bclinic\.v1\b/];

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (SKIP.has(e.name)) return [];
    const p = join(dir, e.name);
    return e.isDirectory() ? files(p) : CHECKED.test(e.name) ? [p] : [];
  });
}

describe('no example API in the product', () => {
  it('nothing under packages/ or services/ imports an example or names its protobuf package', () => {
    const hits: string[] = [];
    for (const top of ['packages', 'services']) {
      for (const f of files(join(REPO, top))) {
        const text = readFileSync(f, 'utf8');
        text.split('\n').forEach((line, i) => {
          if (FORBIDDEN.some((re) => re.test(line))) hits.push(`${relative(REPO, f)}:${i + 1}: ${line.trim().slice(0, 120)}`);
        });
      }
    }
    expect(hits).toEqual([]);
  });

  it('can fail: the rule finds an import of an example', () => {
    expect(FORBIDDEN.some((re) => re.test("import { PaymentsClient } from '@fle-examples/payments';"))).toBe(true);
    expect(FORBIDDEN.some((re) => re.test("const m = '/acme.payments.v1.PaymentService/Authorize';"))).toBe(true);
  });
});
