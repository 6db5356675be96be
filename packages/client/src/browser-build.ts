// Builds the browser bundle of @fle/client/browser (browser.ts) with esbuild:
// one ESM file, no Node built-in (platform `browser` makes any `node:*` or
// built-in import a build error, and the inputs are checked again below).
//
//   npm run build                                   # all packages; minified -> packages/client/dist/fle-browser.mjs
//   npm run build:browser -w @fle/client            # only this bundle
//   npx tsx --conditions=@fle/source packages/client/src/browser-build.ts --out <file>
import { mkdirSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

export const BROWSER_ENTRY = fileURLToPath(new URL('./browser.ts', import.meta.url));
export const DEFAULT_BROWSER_BUNDLE = fileURLToPath(new URL('../dist/fle-browser.mjs', import.meta.url));

export interface BrowserBundle {
  /** The ESM source. */
  readonly code: string;
  /** Every file that went into it (paths relative to the working directory). */
  readonly inputs: readonly string[];
}

const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** Bundles browser.ts; writes it to `outfile` when given. */
export async function buildBrowserBundle(opts: { outfile?: string; minify?: boolean } = {}): Promise<BrowserBundle> {
  const result = await build({
    entryPoints: [BROWSER_ENTRY],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    // @fle/* from their TypeScript sources (as in tests), so the bundle does not wait for tsc.
    conditions: ['@fle/source'],
    target: 'es2022',
    write: false,
    metafile: true,
    minify: opts.minify ?? false,
    legalComments: 'inline',
    logLevel: 'error',
  });
  const inputs = Object.keys(result.metafile.inputs);
  const nodeOnly = inputs.filter((i) => BUILTINS.has(i) || i.startsWith('node:'));
  if (nodeOnly.length > 0) throw new Error(`browser bundle pulls in Node built-ins: ${nodeOnly.join(', ')}`);
  const code = result.outputFiles[0]!.text;
  if (opts.outfile) {
    mkdirSync(dirname(opts.outfile), { recursive: true });
    writeFileSync(opts.outfile, code);
  }
  return { code, inputs };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const i = process.argv.indexOf('--out');
  const outfile = i > 0 && process.argv[i + 1] ? resolve(process.argv[i + 1]!) : DEFAULT_BROWSER_BUNDLE;
  const bundle = await buildBrowserBundle({ outfile, minify: process.argv.includes('--minify') });
  console.log(`wrote ${outfile} (${bundle.code.length} bytes, ${bundle.inputs.length} inputs)`);
}
