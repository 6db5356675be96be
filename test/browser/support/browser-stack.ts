// The real processes behind the browser test: nats-server (mTLS, fle users),
// the keystore (X25519 rings; the client identity may fetch public keys only),
// the processor (JetStream, HPKE options) and the gateway (JetStream route,
// only the client identity may call it over mTLS), gateways with the public
// edge configured (startEdgeGateway), and what a web app's backend would
// hand its page: the tenant's public keys (fetch-public).
import * as grpc from '@grpc/grpc-js';
import type { GatewayProcess } from '@fle/gateway/testing';
import { authorizeRoute, PAYMENTS_SCHEMA } from '../../support/payments-gateway.js';
import type { KeystoreProcess, KeystoreTestEnv } from '@fle/keystore/testing';
import { KeystoreAdminClient, KeystorePublicKeyProvider } from '@fle/keystore-client';
import { channelCredentials, type DevPki } from '@fle/pki';
import type { ProcessorProcess } from '@fle/processor/testing';
import { PAYMENTS_HANDLERS, PAYMENTS_KV_BUCKETS, PAYMENTS_RECORDS_RING, PAYMENTS_SCHEMA_SOURCE } from '@fle-examples/payments/schema';
import { KeystoreServiceClient, type KeyMaterial } from '@fle/schema/gen/fle/keystore/v1/keystore.js';
import type { NatsHarness } from '@fle/testkit';
import { launchStack } from '@fle/testkit/stack';

/** The client may seal (public keys) but never open; the processor opens; the gateway gets nothing. */
export const BROWSER_POLICY = {
  deny: ['spiffe://fle.local/gateway'],
  // The gateway's public edge relays enrollments and checks alg 4 senders (docs/devices.md); still no key.
  enroll: [{ identity: 'spiffe://fle.local/gateway', tenants: ['*'] }],
  devices: [{ identity: 'spiffe://fle.local/gateway', tenants: ['*'] }],
  fetch: [{ identity: 'spiffe://fle.local/processor', tenants: ['*'] }],
  'fetch-public': [{ identity: 'spiffe://fle.local/client', tenants: ['*'] }],
  admin: [{ identity: 'spiffe://fle.local/admin', tenants: ['*'] }],
};

export interface BrowserStack {
  readonly pki: DevPki;
  readonly nats: NatsHarness;
  readonly keystoreEnv: KeystoreTestEnv;
  readonly keystore: KeystoreProcess;
  readonly processor: ProcessorProcess;
  readonly gateway: GatewayProcess;
  /** What the app backend hands its page: the primary public keys of the tenant's rings (client identity). */
  publicKeysFor(tenant: string): Promise<Array<{ tenant: string; ring: string; version: number; publicKey: string }>>;
  /** A ring version's X25519 private key, fetched as the processor (to check what the processor sealed). */
  privateKeyOf(tenant: string, ring: string, version: number): Promise<Uint8Array>;
  /**
   * One more gateway on the same NATS, fronting the same route, with the
   * public edge configured (`edge`, as in YAML; its `tls` defaults to the
   * gateway's certificate and `devices.keystore` to this keystore as the gateway).
   */
  startEdgeGateway(edge: Record<string, unknown>, opts?: { rateLimits?: Record<string, unknown> }): Promise<GatewayProcess>;
  /** Processor and gateway output so far. */
  logs(): string;
  stop(): Promise<void>;
}

export interface BrowserStackOptions {
  /**
   * A fixed device list (processor config `hpke.devices`). Default: the
   * processor reads the devices enrolled in the keystore (`hpke.deviceRegistry`,
   * TTL 1500 ms as the edges' `devices.ttlMs` in the tests), so enrolling
   * through the edge alone lets a device call, and a revoke refuses it after the TTL.
   */
  readonly devices?: ReadonlyArray<{ tenant: string; id: string; publicKey: string }>;
}

export async function startBrowserStack(opts: BrowserStackOptions = {}): Promise<BrowserStack> {
  // The one stack launcher (@fle/testkit/stack): the payments example on JetStream, HPKE options, no rings yet (buildAdminAndRings).
  const launched = await launchStack({
    kvBuckets: PAYMENTS_KV_BUCKETS,
    keystorePolicy: BROWSER_POLICY,
    processor: {
      core: false,
      hpke: { kem: 'webcrypto', ...(opts.devices ? { devices: opts.devices } : { deviceRegistry: { ttlMs: 1500, unknownSenderRefetchMs: 0 } }) },
      schema: PAYMENTS_SCHEMA_SOURCE,
      handlers: PAYMENTS_HANDLERS,
    },
  });
  const { pki, nats, keystoreEnv, keystore, stop } = launched;
  const stops = { push: launched.defer };
  try {
    const processor = launched.processor!;
    const gatewayOptions = {
      schema: PAYMENTS_SCHEMA,
      routes: [authorizeRoute('jetstream', { timeoutMs: 10_000 })],
      allowedCallers: ['spiffe://fle.local/client'],
    };
    const gateway = await launched.startGateway(gatewayOptions);

    const recipients = new KeystorePublicKeyProvider({ address: keystore.address, tls: pki.files('client'), ttlMs: 1000 });
    stops.push(() => recipients.close());
    const proc = new KeystoreServiceClient(keystore.address, channelCredentials(pki.files('processor'), { expectedServerIdentity: 'spiffe://fle.local/keystore' }));
    stops.push(() => proc.close());
    const edgeGateways: GatewayProcess[] = [];
    return {
      pki,
      nats,
      keystoreEnv,
      keystore,
      processor,
      gateway,
      async publicKeysFor(tenant) {
        return Promise.all(
          ['default', 'pci'].map(async (ring) => {
            const k = await recipients.recipientKey({ tenant, ring });
            return { tenant, ring, version: k.version, publicKey: Buffer.from(k.publicKey).toString('base64url') };
          }),
        );
      },
      privateKeyOf(tenant, ring, version) {
        return new Promise((resolve, reject) =>
          proc.getKeyVersion({ tenant, ring, version }, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, res) =>
            err ? reject(err) : resolve(new Uint8Array((res.key as KeyMaterial).x25519PrivateKey)),
          ),
        );
      },
      async startEdgeGateway(edge, extra = {}) {
        const files = pki.files('gateway');
        const withDefaults = {
          tls: { cert: files.cert, key: files.key },
          ...edge,
          ...(edge.devices ? { devices: { keystore: { address: keystore.address, tls: files }, ...(edge.devices as object) } } : {}),
        };
        const gw = await launched.startGateway({ ...gatewayOptions, edge: withDefaults, ...(extra.rateLimits ? { rateLimits: extra.rateLimits } : {}) });
        edgeGateways.push(gw);
        return gw;
      },
      logs: () => [processor.logs(), gateway.logs(), ...edgeGateways.map((g) => g.logs())].join('\n'),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Creates the X25519 rings `default` and `pci` and the records ring for each tenant (admin identity). */
export async function buildAdminAndRings(stack: BrowserStack, tenants: readonly string[]): Promise<void> {
  const admin = new KeystoreAdminClient({ address: stack.keystore.address, tls: stack.pki.files('admin') });
  try {
    for (const tenant of tenants) {
      for (const ring of ['default', 'pci']) await admin.createKeyRing(tenant, ring, { alg: 3 });
      await admin.createKeyRing(tenant, PAYMENTS_RECORDS_RING); // the processor's records: symmetric
    }
  } finally {
    admin.close();
  }
}
