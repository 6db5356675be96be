// Second step of `npm run build` (after `tsc -b tsconfig.build.json`): the
// browser entry of @fle/client as one minified ESM file inside the package
// (packages/client/dist/fle-browser.mjs, the "browser" condition of
// `@fle/client/browser`), its size printed, and the build failed when its
// minified+gzip size passes the budget docs/packages.md states.
import { gzipSync } from 'node:zlib';
import { buildBrowserBundle, DEFAULT_BROWSER_BUNDLE } from '../packages/client/src/browser-build.js';

/** Minified+gzip bytes the bundle may reach: the measured size (2026-12: 65.7 KiB) + ~20 %. */
export const BROWSER_BUDGET_GZIP_BYTES = 80 * 1024;

const bundle = await buildBrowserBundle({ outfile: DEFAULT_BROWSER_BUNDLE, minify: true });
const raw = Buffer.byteLength(bundle.code);
const gzip = gzipSync(bundle.code, { level: 9 }).length;
const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
console.log(`@fle/client browser bundle: ${kib(raw)} minified, ${kib(gzip)} minified+gzip (budget ${kib(BROWSER_BUDGET_GZIP_BYTES)})`);
if (gzip > BROWSER_BUDGET_GZIP_BYTES) {
  console.error(`browser bundle over budget: ${gzip} > ${BROWSER_BUDGET_GZIP_BYTES} bytes minified+gzip (docs/packages.md)`);
  process.exit(1);
}
