// Development certificates for the deployed stack (compose or the kustomize
// base): the CA and service identities of `fle certs init` (created only when
// missing), plus one NATS server certificate whose DNS SANs name every node
// (`nats`, `nats-0.nats` … `nats-2.nats`), as the shipped NATS configs expect.
//
//   npx tsx --conditions=@fle/source deploy/scripts/cluster-certs.ts [--dir .fle/certs] [--k8s]
//
// --k8s also copies the files the kustomize base's secretGenerator reads into
// deploy/k8s/base/certs/ (git-ignored). Production uses its own PKI: see
// docs/production.md "Certificates".
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureDevPki, issueIdentity, pkiPaths } from '@fle/pki';
import { NATS_NODES, nodeHost } from './nats-config.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The DNS names the shared NATS server certificate must carry. */
export const NATS_DNS_NAMES: readonly string[] = ['nats', ...NATS_NODES.map(nodeHost)];

/** Files the kustomize base's secretGenerator reads from deploy/k8s/base/certs/. */
export const K8S_CERT_FILES: readonly string[] = [
  'ca.pem',
  ...['gateway', 'processor', 'keystore', 'nats'].flatMap((n) => [`${n}.pem`, `${n}-key.pem`]),
];

export async function issueClusterCerts(dir: string): Promise<void> {
  await ensureDevPki(dir);
  await issueIdentity({ dir, name: 'nats', dnsNames: NATS_DNS_NAMES });
}

/** Copies what the kustomize base needs into `target` (default deploy/k8s/base/certs). */
export function stageK8sCerts(dir: string, target = join(repoRoot, 'deploy/k8s/base/certs')): void {
  mkdirSync(target, { recursive: true, mode: 0o700 });
  const paths = pkiPaths(dir);
  for (const f of K8S_CERT_FILES) copyFileSync(join(paths.dir, f), join(target, f));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const i = args.indexOf('--dir');
  const dir = resolve(i >= 0 && args[i + 1] ? args[i + 1]! : join(repoRoot, '.fle/certs'));
  await issueClusterCerts(dir);
  process.stdout.write(`certificates in ${dir} (NATS server certificate for ${NATS_DNS_NAMES.join(', ')})\n`);
  if (args.includes('--k8s')) {
    stageK8sCerts(dir);
    process.stdout.write('copied into deploy/k8s/base/certs/ for the secretGenerator\n');
  }
}
