// Regenerates every derived deployment file, so the shipped copies never drift:
// - deploy/nats/nats-<n>.conf and deploy/k8s/base/nats/nats-<n>.conf, rendered
//   from @fle/nats-setup (nats-config.ts);
// - deploy/k8s/base/config/*.yaml, copies of deploy/config/*.yaml (kustomize
//   reads files only from inside its own folder).
// test/deploy fails when a shipped file differs from what this writes.
//
//   npx tsx --conditions=@fle/source deploy/scripts/sync.ts
import { copyFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderShippedNatsConfigs } from './nats-config.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

for (const [path, text] of renderShippedNatsConfigs()) {
  writeFileSync(join(repoRoot, path), text);
  process.stdout.write(`wrote ${path}\n`);
}
for (const f of readdirSync(join(repoRoot, 'deploy/config')).filter((n) => n.endsWith('.yaml'))) {
  copyFileSync(join(repoRoot, 'deploy/config', f), join(repoRoot, 'deploy/k8s/base/config', f));
  process.stdout.write(`copied deploy/config/${f} -> deploy/k8s/base/config/${f}\n`);
}
