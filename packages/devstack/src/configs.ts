// The generated configs of the local stack, in the formats documented at the
// top of each service's src/config.ts, and the keystore policy and NATS users.
// Every certificate path comes from the dev PKI in the state folder; every
// listener is on the loopback address; every link is mTLS.
import { FLE_NATS_PERMISSIONS, natsInbox, withKvBuckets, type NatsPermissions } from '@fle/nats-setup';
import { spiffeId, type PkiPaths } from '@fle/pki';
import type { StackSettings } from './settings.js';
import type { StackApi } from './stack.js';
import type { StateLayout } from './state-dir.js';

/**
 * A development-only identity that may watch the request, reply and
 * dead-letter subjects, the gateway's and the processor's inboxes (replies,
 * JetStream deliveries) and the puts to the API's record buckets, and publish nothing:
 * it lets the demo show what NATS carried. It exists only in the config
 * `npm start` renders; the shipped configs (deploy/nats, FLE_NATS_PERMISSIONS)
 * have no such user, so a production certificate named `observer` cannot log in.
 */
export const OBSERVER_IDENTITY = 'observer';
export function observerPermissions(kvBuckets: readonly string[] = []): NatsPermissions {
  return {
    publish: [], // rendered as deny-all (an empty nats-server allow-list would mean "anything")
    subscribe: ['fle.rpc.>', 'fle.js.>', 'fle.dlq.>', natsInbox('gateway'), natsInbox('processor'), ...kvBuckets.map((b) => `$KV.${b}.>`)],
  };
}

/** The identities the stack's PKI holds: the project's defaults plus the dev observer. */
export function stackIdentities(defaults: readonly string[]): string[] {
  return [...defaults, OBSERVER_IDENTITY];
}

/** fle's users, the processor granted the API's record buckets, and the dev observer. */
export function natsUsers(api: Pick<StackApi, 'kvBuckets'> = {}): Record<string, NatsPermissions> {
  const buckets = api.kvBuckets ?? [];
  return { ...withKvBuckets(FLE_NATS_PERMISSIONS, 'processor', buckets), [OBSERVER_IDENTITY]: observerPermissions(buckets) };
}

/**
 * Keystore policy: the processor may fetch every tenant, the client only the
 * demo tenant, admin administers; the gateway and the observer get nothing.
 * The API's record rings are exclusive to the processor (issue 17 item 5):
 * the client's tenant-wide rule does not reach them.
 */
export function keystorePolicy(settings: StackSettings, api: Pick<StackApi, 'recordRings'> = {}): Record<string, unknown> {
  const recordRings = api.recordRings ?? [];
  return {
    ...(recordRings.length > 0 ? { exclusive: [{ rings: [...recordRings], identities: [spiffeId('processor')] }] } : {}),
    deny: [spiffeId('gateway'), spiffeId(OBSERVER_IDENTITY)],
    fetch: [
      { identity: spiffeId('processor'), tenants: ['*'] },
      { identity: spiffeId('client'), tenants: [settings.tenant] },
    ],
    admin: [{ identity: spiffeId('admin'), tenants: ['*'] }],
    // The example page seals with the web tenant's public keys, which npm start hands it.
    'fetch-public': [{ identity: spiffeId('client'), tenants: [webTenant(settings)] }],
  };
}

/** The tenant of the example page: its rings are X25519 (public-key sealing), the demo tenant's symmetric. */
export function webTenant(settings: StackSettings): string {
  return `${settings.tenant}-web`;
}

/** Issuer and audience of the example page's bearer token (signed by npm start, checked by the edge). */
export const EDGE_DEV_ISSUER = 'https://devstack.fle.local/';
export const EDGE_AUDIENCE = 'fle-edge';

/** `edge:` of the gateway: the example page on the edge's own origin, Authorize behind a bearer token. */
export function edgeConfig(settings: StackSettings, layout: StateLayout, pki: PkiPaths, api: Pick<StackApi, 'method'>): Record<string, unknown> {
  const files = pki.files('gateway');
  return {
    listen: `${settings.host}:${settings.ports.edge}`,
    tls: { cert: files.cert, key: files.key },
    cors: { origins: [] }, // the page is same-origin; no other origin may call
    jwt: { jwks: layout.edgeJwks, issuer: EDGE_DEV_ISSUER, audience: EDGE_AUDIENCE, tenantClaim: 'tenant' },
    static: { dir: layout.web },
    routes: [{ method: api.method, auth: ['jwt'] }],
  };
}

export function keystoreConfig(settings: StackSettings, layout: StateLayout, pki: PkiPaths): Record<string, unknown> {
  return {
    listen: `${settings.host}:${settings.ports.keystore}`,
    tls: pki.files('keystore'),
    policyFile: layout.policyFile,
    masterKeyFile: layout.masterKey,
    auditLog: layout.auditLog,
    storage: { kind: 'file', path: layout.keystoreStore },
    logLevel: 'info',
  };
}

export function processorConfig(settings: StackSettings, layout: StateLayout, pki: PkiPaths, natsUrl: string, keystoreAddress: string, api: StackApi): Record<string, unknown> {
  const files = pki.files('processor');
  return {
    // Served whatever the transport, so FLE_TRANSPORT=grpc needs no other change; only the gateway may call it.
    grpc: { listen: `${settings.host}:${settings.ports.processor}`, tls: files, allowedCallers: [spiffeId('gateway')] },
    nats: { servers: [natsUrl], tls: files, name: 'fle-processor' },
    keystore: { address: keystoreAddress, tls: files, identity: spiffeId('keystore') },
    core: { enabled: true },
    jetstream: { enabled: true },
    replay: { store: 'nats' },
    metrics: { listen: `${settings.host}:0` },
    log: { level: 'info' },
    // Alg 4 senders: the devices enrolled in the keystore (`fle devices enroll`), no list here.
    hpke: { deviceRegistry: { ttlMs: 30_000 } },
    portsFile: layout.portsFile('processor'),
    // The API's schema and handler module, as scripts/start.ts names them.
    schema: api.schema,
    handlers: api.handlers,
    routes: [{ method: api.method, route: api.route }],
  };
}

export function gatewayConfig(settings: StackSettings, layout: StateLayout, pki: PkiPaths, natsUrl: string, processorAddress: string, api: StackApi, withEdge = false): Record<string, unknown> {
  const files = pki.files('gateway');
  return {
    ...(withEdge ? { edge: edgeConfig(settings, layout, pki, api) } : {}),
    grpc: { listen: `${settings.host}:${settings.ports.gateway}`, tls: files, allowedCallers: [spiffeId('client')] },
    nats: { servers: [natsUrl], tls: files, name: 'fle-gateway' },
    metrics: { listen: `${settings.host}:0` },
    log: { level: 'info' },
    portsFile: layout.portsFile('gateway'),
    // The API's schema, as scripts/start.ts names it (the gateway routes its method).
    schema: api.schema,
    // One machine runs everything: admit no more than its one processor can open
    // (4 MiB/s per tenant is one largest request a second, or ~1 000 demo requests).
    rateLimits: {
      perCaller: { requestsPerSecond: 2000, burstRequests: 4000, bytesPerSecond: 16 * 2 ** 20, burstBytes: 32 * 2 ** 20 },
      perTenant: { requestsPerSecond: 1000, burstRequests: 2000, bytesPerSecond: 4 * 2 ** 20, burstBytes: 8 * 2 ** 20 },
    },
    routes: [
      {
        method: api.method,
        route: api.route,
        transport: settings.transport,
        timeoutMs: 5000,
        ...(settings.transport === 'grpc' ? { processor: { address: processorAddress, tls: files, identity: spiffeId('processor') } } : {}),
      },
    ],
  };
}
