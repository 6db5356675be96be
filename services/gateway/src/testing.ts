// Test helper (reused by later issues: fault drills, end-to-end benchmark,
// `npm start`): start the REAL gateway process with a temp config.
//
//   const gw = await startGatewayProcess({
//     pki, natsUrls: nats.urls,
//     schema: { protoRoots: [FIXTURE_PROTO_DIR] },
//     routes: [methodRoute('/fletest.svc.v1.LedgerService/Submit', 'submit', 'jetstream')],
//   });
//   new FleClient({ address: gw.address, schema, credentials: channelCredentials(pki.files('client'), { expectedServerIdentity: 'spiffe://fle.local/gateway' }), cipher });
//   await gw.stop();
import { fileURLToPath } from 'node:url';
import type { PkiPaths } from '@fle/pki';
import { startServiceProcess, type ServiceProcess } from '@fle/service-kit/testing';
import type { Transport } from './config.js';
export type { Transport } from './config.js';

export const GATEWAY_MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

export interface TestRoute {
  /** `/pkg.Service/Method`; or `service` (every unary method). */
  readonly method?: string;
  readonly service?: string;
  readonly route: string;
  readonly transport: Transport;
  readonly timeoutMs?: number;
  /** For `grpc` routes: the processor's `host:port`. */
  readonly processorAddress?: string;
}

/** A route for one method over the given transport. */
export function methodRoute(method: string, route: string, transport: Transport, extra: Partial<TestRoute> = {}): TestRoute {
  return { method, route, transport, ...extra };
}

/** Config `schema:`: a Buf image / FileDescriptorSet file or .proto roots (absolute paths, or relative to `dir`). */
export type TestSchema = { readonly image: string } | { readonly protoRoots: readonly string[] };

export interface GatewayProcessOptions {
  readonly pki: PkiPaths;
  /** The schema the gateway loads (config `schema`). */
  readonly schema: TestSchema;
  /** Config `maxEnvelopes`. */
  readonly maxEnvelopes?: number;
  /** NATS client URLs (required unless every route is grpc). */
  readonly natsUrls?: readonly string[];
  readonly routes: readonly TestRoute[];
  /** Certificate identity the gateway uses (server and NATS client). Default `gateway`. */
  readonly identity?: string;
  readonly maxMessageBytes?: number;
  /** Largest single string/bytes value (config `grpc.maxFieldBytes`). */
  readonly maxFieldBytes?: number;
  readonly allowedCallers?: readonly string[];
  /** Config `rateLimits` as written in YAML (services/gateway/src/config.ts). */
  readonly rateLimits?: Record<string, unknown>;
  /** Config `edge` as written in YAML (edge/config.ts): the public listener. */
  readonly edge?: Record<string, unknown>;
  readonly logLevel?: string;
  readonly dir?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface GatewayProcess extends ServiceProcess {
  /** `127.0.0.1:<grpc port>` for clients. */
  readonly address: string;
  readonly metricsUrl: string;
  /** `https://127.0.0.1:<edge port>` when the config has `edge`. */
  readonly edgeUrl: string | undefined;
}

export function gatewayTestConfig(opts: GatewayProcessOptions): Record<string, unknown> {
  const files = opts.pki.files(opts.identity ?? 'gateway');
  return {
    grpc: {
      listen: '127.0.0.1:0',
      tls: files,
      ...(opts.maxMessageBytes ? { maxMessageBytes: opts.maxMessageBytes } : {}),
      ...(opts.maxFieldBytes ? { maxFieldBytes: opts.maxFieldBytes } : {}),
      ...(opts.allowedCallers ? { allowedCallers: opts.allowedCallers } : {}),
    },
    ...(opts.natsUrls ? { nats: { servers: opts.natsUrls, tls: files, name: 'fle-gateway' } } : {}),
    metrics: { listen: '127.0.0.1:0' },
    log: { level: opts.logLevel ?? 'info' },
    schema: opts.schema,
    ...(opts.maxEnvelopes ? { maxEnvelopes: opts.maxEnvelopes } : {}),
    ...(opts.rateLimits ? { rateLimits: opts.rateLimits } : {}),
    ...(opts.edge ? { edge: opts.edge } : {}),
    routes: opts.routes.map((r) => ({
      ...(r.service !== undefined ? { service: r.service } : { method: r.method }),
      route: r.route,
      transport: r.transport,
      timeoutMs: r.timeoutMs ?? 5000,
      ...(r.transport === 'grpc' ? { processor: { address: r.processorAddress, tls: files, identity: 'spiffe://fle.local/processor' } } : {}),
    })),
  };
}

export async function startGatewayProcess(opts: GatewayProcessOptions): Promise<GatewayProcess> {
  const p = await startServiceProcess({ name: 'gateway', mainPath: GATEWAY_MAIN, config: gatewayTestConfig(opts), dir: opts.dir, env: opts.env });
  return Object.assign(p, {
    address: `127.0.0.1:${p.ports.grpc}`,
    metricsUrl: `http://127.0.0.1:${p.ports.metrics}/metrics`,
    edgeUrl: p.ports.edge ? `https://127.0.0.1:${p.ports.edge}` : undefined,
  });
}
