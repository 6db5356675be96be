// The whole ciphertext path for the reliability suite (issue 6), all real
// processes: nats-server through @fle/testkit (mTLS, per-identity users, one
// node or a routed cluster), the keystore, the processor, one gateway per
// transport, and a client SDK per gateway. Every process ever started (killed
// ones included) stays listed so its logs can be scanned at the end.
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { FieldCipher, compileSchema } from '@fle/field-crypto';
import { FleCallError } from '@fle/client';
import { PAYMENTS_HANDLERS, PAYMENTS_KV_BUCKETS, PAYMENTS_RECORDS_RING, PAYMENTS_SCHEMA_SOURCE, PaymentsClient } from '@fle-examples/payments';
import { canaryAuthorizeRequest, type CanaryRequest } from '@fle-examples/payments/testing';
import type { Transport } from '@fle/gateway';
import type { GatewayProcess, GatewayProcessOptions, TestRoute } from '@fle/gateway/testing';
import { authorizeRoute, PAYMENTS_SCHEMA } from './payments-gateway.js';
import type { KeystoreProcess, KeystoreTestEnv } from '@fle/keystore/testing';
import { KeystoreKeyProvider } from '@fle/keystore-client';
import { channelCredentials, type DevPki } from '@fle/pki';
import type { ProcessorProcess, ProcessorProcessOptions } from '@fle/processor/testing';
import { paymentsSchema as schemaRoot } from '@fle-examples/payments/schema';
import type { AuthorizeRequest } from '@fle-examples/payments/gen/acme/payments/v1/payments.js';
import { newReplayStamp, replayContext, type ReplayStamp } from '@fle/service-kit';
import type { NatsHarness } from '@fle/testkit';
import { launchStack, type LaunchedProcess } from '@fle/testkit/stack';
import type { NatsConnection } from 'nats';

export const REQUEST_TYPE = 'acme.payments.v1.AuthorizeRequest';
export const RESPONSE_TYPE = 'acme.payments.v1.AuthorizeResponse';
export const AUTHORIZE_PATH = '/acme.payments.v1.PaymentService/Authorize';
export const GATEWAY_ID = 'spiffe://fle.local/gateway';

export type LoggedProcess = LaunchedProcess;

export interface ReliabilityStack {
  readonly pki: DevPki;
  readonly nats: NatsHarness;
  readonly keystoreEnv: KeystoreTestEnv;
  keystore: KeystoreProcess;
  processor: ProcessorProcess;
  readonly gateways: Partial<Record<Transport, GatewayProcess>>;
  readonly clients: Partial<Record<Transport, PaymentsClient>>;
  /** The client's cipher: keys from the keystore under the client identity. */
  readonly cipher: FieldCipher;
  /** Every service process started so far, killed ones included. */
  processes(): LoggedProcess[];
  /** Another processor process on the stack's settings (plus `extra`). */
  startProcessor(extra?: Partial<ProcessorProcessOptions>): Promise<ProcessorProcess>;
  /** Another gateway (e.g. on a route no processor serves). */
  startGateway(routes: readonly TestRoute[], extra?: Partial<GatewayProcessOptions>): Promise<GatewayProcess>;
  /** Starts the keystore again on its pinned port (after stop/kill). */
  restartKeystore(): Promise<KeystoreProcess>;
  /** A NATS connection under `identity`, closed by stop(). */
  connect(identity: string): Promise<NatsConnection>;
  stop(): Promise<void>;
}

export interface ReliabilityStackOptions {
  /** One gateway (and client) per transport, each routing Authorize that way. */
  readonly transports: readonly Transport[];
  /** NATS nodes: 1 (default) or a routed cluster. */
  readonly natsNodes?: number;
  readonly tenants?: readonly string[];
  readonly processor?: Partial<ProcessorProcessOptions>;
  readonly gateway?: Partial<Pick<GatewayProcessOptions, 'maxMessageBytes' | 'maxFieldBytes'>>;
  /** Gateway route timeout; default 5000 ms. */
  readonly routeTimeoutMs?: number;
}

export async function startReliabilityStack(opts: ReliabilityStackOptions): Promise<ReliabilityStack> {
  // The one stack launcher (@fle/testkit/stack), on the payments example: its schema and handler module, named like any team's.
  const launched = await launchStack({
    kvBuckets: PAYMENTS_KV_BUCKETS,
    natsNodes: opts.natsNodes ?? 1,
    tenants: opts.tenants ?? ['t1', 't2'],
    rings: ['default', 'pci', PAYMENTS_RECORDS_RING],
    processor: {
      grpc: opts.transports.includes('grpc'),
      allowedCallers: [GATEWAY_ID],
      ...opts.processor,
      schema: opts.processor?.schema ?? PAYMENTS_SCHEMA_SOURCE,
      handlers: opts.processor?.handlers ?? PAYMENTS_HANDLERS,
    },
  });
  const { pki, nats, keystoreEnv, startProcessor, stop } = launched;
  try {
    const startGateway = (routes: readonly TestRoute[], extra: Partial<GatewayProcessOptions> = {}): Promise<GatewayProcess> =>
      launched.startGateway({ schema: PAYMENTS_SCHEMA, routes, allowedCallers: ['spiffe://fle.local/client'], ...opts.gateway, ...extra });
    const processor = launched.processor!;
    const keys = new KeystoreKeyProvider({ address: launched.keystore.address, tls: pki.files('client') });
    const cipher = new FieldCipher({ schema: compileSchema(schemaRoot()), keys });
    const gateways: Partial<Record<Transport, GatewayProcess>> = {};
    const clients: Partial<Record<Transport, PaymentsClient>> = {};
    const timeoutMs = opts.routeTimeoutMs ?? 5000;
    await Promise.all(
      opts.transports.map(async (t) => {
        const gw = await startGateway([authorizeRoute(t, { timeoutMs, ...(t === 'grpc' ? { processorAddress: processor.grpcAddress } : {}) })]);
        gateways[t] = gw;
        const client = new PaymentsClient({ address: gw.address, credentials: clientCredentials(pki), cipher, deadlineMs: timeoutMs + 5000 });
        launched.defer(() => client.close());
        clients[t] = client;
      }),
    );
    const stack = {
      pki,
      nats,
      keystoreEnv,
      keystore: launched.keystore,
      processor,
      gateways,
      clients,
      cipher,
      processes: launched.processes,
      startProcessor,
      startGateway,
      async restartKeystore() {
        stack.keystore = await launched.restartKeystore();
        return stack.keystore;
      },
      connect: launched.connect,
      stop,
    };
    return stack;
  } catch (err) {
    await stop();
    throw err;
  }
}

/** mTLS credentials of the client identity, expecting the gateway. */
export function clientCredentials(pki: DevPki, identity = 'client') {
  return channelCredentials(pki.files(identity), { expectedServerIdentity: GATEWAY_ID });
}

export interface SealedRequest extends CanaryRequest {
  readonly stamp: ReplayStamp;
  readonly sealed: AuthorizeRequest;
}

/** A canary request for `tenant`, sealed by the client cipher under a (fresh) replay stamp. */
export async function sealedRequest(cipher: FieldCipher, tenant = 't1', stamp: ReplayStamp = newReplayStamp()): Promise<SealedRequest> {
  const fx = canaryAuthorizeRequest(tenant);
  return { ...fx, stamp, sealed: await cipher.sealMessage(REQUEST_TYPE, fx.request, { context: replayContext(stamp) }) };
}

/** A settled call: the value, or the gRPC status, the carried fle code and the details. */
export type CallOutcome<T> = { ok: true; value: T } | { ok: false; status: number; code: string; details: string };

export async function settle<T>(p: Promise<T>): Promise<CallOutcome<T>> {
  try {
    return { ok: true, value: await p };
  } catch (err) {
    if (err instanceof FleCallError) return { ok: false, status: err.status, code: err.code, details: err.details };
    const e = err as Partial<ServiceError>;
    if (typeof e.code === 'number' && e.metadata instanceof Metadata) {
      const carried = e.metadata.get('fle-error-code')[0];
      return { ok: false, status: e.code, code: typeof carried === 'string' ? carried : 'UNKNOWN', details: e.details ?? '' };
    }
    throw err;
  }
}

/** Polls `fn` until it returns a value (bounded by `timeoutMs`). */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Where (if anywhere) any needle occurs, as UTF-8 or as its base64 / base64url. */
export function findNeedles(haystack: Buffer | Uint8Array | string, needles: readonly string[]): string[] {
  const buf = typeof haystack === 'string' ? Buffer.from(haystack) : Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength);
  const hits = new Set<string>();
  for (const n of needles) {
    for (const form of [n, Buffer.from(n).toString('base64').replace(/=+$/, ''), Buffer.from(n).toString('base64url')]) {
      if (form.length >= 8 && buf.includes(form)) hits.add(n);
    }
  }
  return [...hits];
}
