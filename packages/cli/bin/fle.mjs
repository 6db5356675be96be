#!/usr/bin/env node
// Installed from the package, `fle` runs the built dist/ under plain node.
// In the repository (src/ beside bin/) it runs the TypeScript sources through
// tsx, with every @fle/* import resolved to its sources (the "@fle/source"
// export condition), so no build is needed between an edit and `npx fle`.
import { existsSync } from 'node:fs';

let main;
if (existsSync(new URL('../src/main.ts', import.meta.url))) {
  const { register } = await import('node:module');
  register('data:text/javascript,export function resolve(s,c,n){return n(s,{...c,conditions:[...c.conditions,"@fle/source"]})}');
  const { register: registerTsx } = await import('tsx/esm/api');
  registerTsx();
  ({ main } = await import('../src/main.ts'));
} else {
  ({ main } = await import('../dist/main.js'));
}
process.exitCode = await main(process.argv);
