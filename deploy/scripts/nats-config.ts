// Renders the shipped NATS cluster configs (deploy/nats/nats-<n>.conf and the
// copies the kustomize base loads) from @fle/nats-setup, so deployment uses the
// same certificate-to-user mapping and per-identity permissions as `npm start`
// and the integration tests. test/deploy/nats-config.test.ts fails when a
// shipped file differs from what this renders.
//
//   npx tsx --conditions=@fle/source deploy/scripts/nats-config.ts          # rewrite the shipped files
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FLE_NATS_PERMISSIONS, renderNatsConfig, withKvBuckets } from '@fle/nats-setup';
// The deployment serves the payments example (deploy/config/processor.yaml): its processor keeps records in its own bucket.
import { PAYMENTS_KV_BUCKETS } from '@fle-examples/payments/schema';

/** Node names: StatefulSet pods `nats-0..2` behind the headless Service `nats`; compose uses the same names. */
export const NATS_NODES = ['nats-0', 'nats-1', 'nats-2'] as const;
/** Route and client host names: `<node>.nats` (k8s resolves them through the namespace's search path). */
export const nodeHost = (node: string): string => `${node}.nats`;
/** Where the certificates are mounted in every container (compose bind mount, k8s Secret volume). */
export const CERTS_DIR = '/etc/fle/certs';
export const CLIENT_PORT = 4222;
export const ROUTE_PORT = 6222;
/** Monitoring stays on the node's loopback: no plaintext listener off the host; probes run inside the pod. */
export const MONITOR = '127.0.0.1:8222';
export const STORE_DIR = '/data/jetstream';

/** Shipped file (repository-relative path) → its text. */
export function renderShippedNatsConfigs(): Map<string, string> {
  const out = new Map<string, string>();
  for (const node of NATS_NODES) {
    const text = renderNatsConfig({
      serverName: node,
      host: '0.0.0.0',
      port: CLIENT_PORT,
      // One server certificate for every node: its DNS SANs name `nats` and each
      // `<node>.nats` (deploy/scripts/cluster-certs.ts), so routes and clients
      // that learn other nodes by gossip verify the same name.
      tls: { ca: `${CERTS_DIR}/ca.pem`, cert: `${CERTS_DIR}/nats.pem`, key: `${CERTS_DIR}/nats-key.pem` },
      users: withKvBuckets(FLE_NATS_PERMISSIONS, 'processor', PAYMENTS_KV_BUCKETS),
      jetstream: { storeDir: STORE_DIR, maxMemoryStore: '256MB', maxFileStore: '8GB' },
      cluster: {
        name: 'fle',
        port: ROUTE_PORT,
        // Every node lists every node; nats-server ignores the route to itself.
        routes: NATS_NODES.map((n) => `nats-route://${nodeHost(n)}:${ROUTE_PORT}`),
      },
    });
    const deployAdditions = [
      '',
      '# Deployment additions (deploy/scripts/nats-config.ts): monitoring on loopback only,',
      '# for the health checks that run inside the container.',
      `http: ${JSON.stringify(MONITOR)}`,
      '',
    ].join('\n');
    const full = text + deployAdditions;
    out.set(`deploy/nats/${node}.conf`, full);
    out.set(`deploy/k8s/base/nats/${node}.conf`, full);
  }
  return out;
}
