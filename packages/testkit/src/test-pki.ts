// One development PKI per test file (the module is evaluated once per file in
// vitest's forks pool), made by the product's own createDevPki.
import { join } from 'node:path';
import { createDevPki, type DevPki, type DevPkiOptions } from '@fle/pki';
import { tempDir } from './cleanup.js';

let cached: Promise<DevPki> | undefined;

/**
 * The CA plus every default identity (gateway, processor, keystore, client,
 * admin, nats) in a temp folder; the same promise for the whole test file.
 * With options, a separate fresh PKI (e.g. "another CA" for refusal tests).
 */
export function makeTestPki(opts?: Omit<DevPkiOptions, 'dir'>): Promise<DevPki> {
  if (opts) return fresh(opts);
  cached ??= fresh({});
  return cached;
}

async function fresh(opts: Omit<DevPkiOptions, 'dir'>): Promise<DevPki> {
  const dir = await tempDir('fle-pki-');
  return createDevPki({ ...opts, dir: join(dir, 'certs') });
}
