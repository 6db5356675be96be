// The whole pipeline for the end-to-end benchmark, all real processes on
// loopback: nats-server (mTLS, per-identity permissions, @fle/testkit), the
// keystore, one processor and one gateway, and the client SDK in this process.
//
// Both variants share every process: the gateway routes
//   /acme.payments.v1.PaymentService/Authorize      -> core NATS `fle.rpc.<tenant>.authorize`
//   /acme.payments.v1.PaymentService/AuthorizePlain -> core NATS `fle.rpc.<tenant>.authorize-plain`
// and the processor runs the same handler for both (`authorize`, `authorize-plain`).
// AuthorizePlain carries the unmarked twin types (proto: AuthorizePlainRequest),
// so nothing is sealed on that path and no switch turns encryption off.
import { FieldCipher, compileSchema } from '@fle/field-crypto';
import { FleClient } from '@fle/client';
import type { KeystoreProcess, KeystoreTestEnv } from '@fle/keystore/testing';
import { KeystoreKeyProvider } from '@fle/keystore-client';
import { DEFAULT_IDENTITIES, channelCredentials, type DevPki } from '@fle/pki';
import { paymentsSchema as schemaRoot } from '@fle-examples/payments/schema';
import { makeTestPki, type NatsHarness } from '@fle/testkit';
import { launchStack } from '@fle/testkit/stack';
import type { Transport } from '@fle/gateway';
import type { GatewayProcess } from '@fle/gateway/testing';
import { AUTHORIZE_METHOD, PAYMENTS_SCHEMA } from '../../test/support/payments-gateway.js';
import type { ProcessorProcess } from '@fle/processor/testing';
import { AUTHORIZE_METHOD as AUTHORIZE_PATH, AUTHORIZE_PLAIN_METHOD, PAYMENTS_HANDLERS, PAYMENTS_KV_BUCKETS, PAYMENTS_RECORDS_RING, PAYMENTS_SCHEMA_SOURCE } from '@fle-examples/payments/schema';
import { FLE_NATS_PERMISSIONS } from '@fle/nats-setup';
import { BARE_IDENTITIES, natsUsersWithBare, startBareStack, type BareStack } from './bare-stack.js';

/** The payments example's two routes: the product one and the benchmark baseline on the unmarked twin types. */
const AUTHORIZE_ROUTE = { method: AUTHORIZE_PATH, route: 'authorize' } as const;
const AUTHORIZE_PLAIN_ROUTE = { method: AUTHORIZE_PLAIN_METHOD, route: 'authorize-plain' } as const;

export const RINGS = ['default', 'pci'] as const;

export interface E2eStackOptions {
  readonly tenants: readonly string[];
  /** Key cache TTL of the processor and of the client (ms). */
  readonly keyCacheTtlMs: number;
  /** Processor concurrency (config `concurrency`). */
  readonly processorConcurrency: number;
  /**
   * One gateway per transport (how it reaches the processor, for both routes),
   * all in front of the same processor and NATS server.
   */
  readonly transports: readonly Transport[];
  /** Gateway and processor log level; default `warn` (no line per request). */
  readonly logLevel?: string;
  /** Extra node flags for gateway and processor, e.g. `--cpu-prof` (env NODE_OPTIONS). */
  readonly nodeOptions?: string;
  /** Also start the bare baseline (bench/bare, no fle code) for the `nats` and `jetstream` transports. */
  readonly bare?: boolean;
}

/** A process of the pipeline whose memory and CPU the benchmark samples. */
export interface ServicePid {
  readonly name: 'gateway' | 'processor' | 'keystore' | 'nats-server';
  readonly pid: number;
}

/** A gateway and the SDK client that calls it. */
export interface GatewayEntry {
  readonly process: GatewayProcess;
  readonly client: FleClient;
}

export interface E2eStack {
  readonly pki: DevPki;
  readonly nats: NatsHarness;
  readonly keystoreEnv: KeystoreTestEnv;
  readonly keystore: KeystoreProcess;
  readonly processor: ProcessorProcess;
  readonly gateways: ReadonlyMap<Transport, GatewayEntry>;
  /** The client's key provider (keys fetched under the `client` identity), shared by every client. */
  readonly clientKeys: KeystoreKeyProvider;
  /** The bare baseline, when asked for. */
  readonly bare: BareStack | undefined;
  /**
   * The processes a request over `transport` goes through (its gateway named
   * `gateway`); with `bare`, the bare pipeline's gateway and processor under
   * the same names, and the same nats-server.
   */
  services(transport: Transport, bare?: boolean): ServicePid[];
  stop(): Promise<void>;
}

export async function startE2eStack(opts: E2eStackOptions): Promise<E2eStack> {
  const pki = await makeTestPki(opts.bare ? { identities: [...DEFAULT_IDENTITIES, ...BARE_IDENTITIES] } : undefined);
  const env = opts.nodeOptions ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${opts.nodeOptions}`.trim() } : undefined;
  // The one stack launcher (@fle/testkit/stack). The processor keeps the payments example's records in its own bucket (granted like any team's).
  const launched = await launchStack({
    pki,
    natsUsers: opts.bare ? natsUsersWithBare() : FLE_NATS_PERMISSIONS,
    kvBuckets: PAYMENTS_KV_BUCKETS,
    tenants: opts.tenants,
    rings: [...RINGS, PAYMENTS_RECORDS_RING],
    processor: {
      schema: PAYMENTS_SCHEMA_SOURCE,
      handlers: PAYMENTS_HANDLERS,
      routes: [AUTHORIZE_ROUTE, AUTHORIZE_PLAIN_ROUTE],
      concurrency: opts.processorConcurrency,
      keyCacheTtlMs: opts.keyCacheTtlMs,
      testProbe: false,
      logLevel: opts.logLevel ?? 'warn',
      ...(env ? { env } : {}),
    },
  });
  const { nats, keystoreEnv, keystore, stop } = launched;
  const stops = { push: launched.defer };
  try {
    const processor = launched.processor!;
    const clientKeys = new KeystoreKeyProvider({ address: keystore.address, tls: pki.files('client'), ttlMs: opts.keyCacheTtlMs });
    stops.push(() => clientKeys.close());
    const cipher = new FieldCipher({ schema: compileSchema(schemaRoot()), keys: clientKeys });
    const gateways = new Map<Transport, GatewayEntry>();
    for (const transport of opts.transports) {
      const gateway = await launched.startGateway({
        schema: PAYMENTS_SCHEMA,
        routes: [
          { method: AUTHORIZE_METHOD, route: AUTHORIZE_ROUTE.route, transport },
          { method: AUTHORIZE_PLAIN_ROUTE.method, route: AUTHORIZE_PLAIN_ROUTE.route, transport },
        ],
        allowedCallers: ['spiffe://fle.local/client'],
        logLevel: opts.logLevel ?? 'warn',
        ...(env ? { env } : {}),
      });
      const client = new FleClient({
        schema: schemaRoot(),
        address: gateway.address,
        credentials: channelCredentials(pki.files('client'), { expectedServerIdentity: 'spiffe://fle.local/gateway' }),
        cipher,
        deadlineMs: 15_000,
      });
      stops.push(() => client.close());
      await client.waitForReady(10_000);
      gateways.set(transport, { process: gateway, client });
    }

    let bare: BareStack | undefined;
    if (opts.bare) {
      const bareTransports = opts.transports.filter((t): t is 'nats' | 'jetstream' => t === 'nats' || t === 'jetstream');
      bare = await startBareStack({ pki, natsUrls: nats.urls, transports: bareTransports, concurrency: opts.processorConcurrency });
      stops.push(() => bare!.stop());
    }

    const natsPid = nats.nodeViews()[0]?.pid;
    const services = (transport: Transport, useBare = false): ServicePid[] => [
      { name: 'gateway', pid: useBare ? bare!.gateways.get(transport as 'nats' | 'jetstream')!.process.pid : gateways.get(transport)!.process.pid },
      { name: 'processor', pid: useBare ? bare!.processor.pid : processor.pid },
      { name: 'keystore', pid: keystore.pid },
      ...(natsPid ? [{ name: 'nats-server' as const, pid: natsPid }] : []),
    ];
    return { pki, nats, keystoreEnv, keystore, processor, gateways, clientKeys, bare, services, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
