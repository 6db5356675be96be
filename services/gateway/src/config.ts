// Gateway configuration (YAML). Example:
//
//   grpc:
//     listen: 127.0.0.1:8443
//     tls: { ca: certs/ca.pem, cert: certs/gateway.pem, key: certs/gateway-key.pem }
//     maxMessageBytes: 4194304
//     maxFieldBytes: 65536                           # optional; largest single string/bytes value
//     allowedCallers: [spiffe://fle.local/client]   # optional; default: any cert from the CA
//   nats:
//     servers: [tls://127.0.0.1:4222]
//     tls: { ca: certs/ca.pem, cert: certs/gateway.pem, key: certs/gateway-key.pem }
//   rateLimits:                                      # optional; token buckets per caller identity and per tenant
//     perCaller: { requestsPerSecond: 5000, burstRequests: 10000, bytesPerSecond: 67108864, burstBytes: 134217728 }
//     perTenant: { requestsPerSecond: 2000, burstRequests: 4000, bytesPerSecond: 33554432, burstBytes: 67108864 }
//     maxKeys: 10000                                 # buckets kept per kind; `perTenant: { enabled: false }` turns one off
//   metrics: { listen: 127.0.0.1:9464 }
//   log: { level: info }
//   portsFile: .fle/run/gateway.json                 # optional, written when ready
//   schema:                                          # the team's schema, loaded at start (paths relative to this file)
//     image: schema.binpb                            # `buf build -o schema.binpb`, or
//     # protoRoots: [proto]                          # folders of .proto files
//   maxEnvelopes: 1024                               # optional; most envelopes one request may carry
//   routes:
//     - method: /shop.v1.OrderService/PlaceOrder     # one unary method, or
//       route: orders                                # the <method> token of the subject
//       transport: jetstream                         # nats | jetstream | grpc
//       timeoutMs: 5000
//     - service: billing.v1.InvoiceService           # every unary method of a service; method M goes
//       route: invoices                              # to token `<route>-<m>` (methodRouteToken: invoices-create-draft)
//       transport: grpc
//       processor: { address: 127.0.0.1:9443, tls: {...}, identity: spiffe://fle.local/processor }
//   edge:                                            # optional: the public listener for browsers and apps,
//     listen: 0.0.0.0:8444                           # see edge/config.ts and docs/edge.md
//     tls: { cert: certs/edge.pem, key: certs/edge-key.pem }
//     cors: { origins: [https://shop.example] }
//     routes: [{ method: /team.v1.PatientService/Admit, auth: [jwt] }]
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import { DEFAULT_MAX_ENVELOPES } from '@fle/field-crypto';
import type { SchemaSource } from '@fle/schema';
import { ConfigError, ConfigReader, isValidNatsToken, parseHostPort } from '@fle/service-kit';
import type { TlsFiles } from '@fle/pki';
import { DEFAULT_RATE_LIMITS, type BucketLimits, type RateLimits } from './rate-limit.js';
import { parseEdgeConfig, type EdgeConfig } from './edge/config.js';
import { validateGatewayConfig } from './config-schema.js';

export type Transport = 'nats' | 'jetstream' | 'grpc';

export interface ProcessorTarget {
  readonly address: string;
  readonly tls: TlsFiles;
  /** Expected SPIFFE ID of the processor; default spiffe://fle.local/processor. */
  readonly identity: string;
}

/** One fronted method, as the forwarders see it (routes.ts expands selectors into these). */
export interface RouteConfig {
  /** gRPC path, `/pkg.Service/Method`. */
  readonly method: string;
  /** The <method> token of the NATS subject. */
  readonly route: string;
  readonly transport: Transport;
  readonly timeoutMs: number;
  readonly processor?: ProcessorTarget;
}

/** A `routes[]` entry: one method (`method:`) or every unary method of a service (`service:`). */
export type RouteSelector = Omit<RouteConfig, 'method'> & {
  readonly method?: string;
  readonly service?: string;
  /** The entry's key path (`routes[2]`) for load-time errors. */
  readonly at: string;
};

export interface GatewayConfig {
  readonly grpc: {
    readonly host: string;
    readonly port: number;
    readonly tls: TlsFiles;
    readonly maxMessageBytes: number;
    /** Largest single string or bytes value (an envelope is one); undefined = only the message limit. */
    readonly maxFieldBytes: number | undefined;
    readonly allowedCallers: readonly string[];
  };
  readonly nats?: { readonly servers: readonly string[]; readonly tls?: TlsFiles; readonly name: string };
  readonly metrics?: { readonly host: string; readonly port: number };
  readonly log: { readonly level: string };
  readonly portsFile?: string;
  /** Token buckets per caller identity and per tenant (rate-limit.ts); defaults DEFAULT_RATE_LIMITS. */
  readonly rateLimits: RateLimits;
  /** Where the team's schema comes from (paths absolute); loaded by loadGatewaySchema. */
  readonly schema: SchemaSource;
  /** Most envelopes one request may carry (wire check); default DEFAULT_MAX_ENVELOPES. */
  readonly maxEnvelopes: number;
  /** As written; resolveRoutes (routes.ts) checks them against the schema and expands services. */
  readonly routes: readonly RouteSelector[];
  /** The public listener for browsers and apps (edge/config.ts, docs/edge.md); none when absent. */
  readonly edge?: EdgeConfig;
  /** The config file, when loaded from one (for error messages). */
  readonly file?: string;
}

export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
export const DEFAULT_ROUTE_TIMEOUT_MS = 5000;
export { DEFAULT_MAX_ENVELOPES };

export function parseGatewayConfig(value: unknown, baseDir?: string): GatewayConfig {
  validateGatewayConfig(value); // unknown keys, wrong types: refused before any default is applied
  const r = ConfigReader.root(value, baseDir);
  const g = r.child('grpc');
  const listen = parseHostPort(g.string('listen', '127.0.0.1:0'), 'grpc.listen');
  const routes = r.list('routes').map((rr): RouteSelector => {
    const transport = rr.oneOf<Transport>('transport', ['nats', 'jetstream', 'grpc']);
    const route = rr.string('route');
    if (!isValidNatsToken(route)) throw new ConfigError(`${rr.at}.route must be a NATS token of [A-Za-z0-9_-]`);
    let processor: ProcessorTarget | undefined;
    if (transport === 'grpc') {
      const p = rr.child('processor');
      parseHostPort(p.string('address'), `${rr.at}.processor.address`);
      processor = { address: p.string('address'), tls: p.tls('tls'), identity: p.string('identity', 'spiffe://fle.local/processor') };
    }
    if (rr.has('method') === rr.has('service')) throw new ConfigError(`${rr.at} must name either a method (/pkg.Service/Method) or a service (pkg.Service)`);
    const selector = rr.has('method') ? { method: rr.string('method') } : { service: rr.string('service') };
    return { ...selector, route, transport, timeoutMs: rr.number('timeoutMs', DEFAULT_ROUTE_TIMEOUT_MS, 1), processor, at: rr.at };
  });
  if (routes.length === 0) throw new ConfigError('routes must list at least one route');
  const n = r.optionalChild('nats');
  if (!n && routes.some((x) => x.transport !== 'grpc')) throw new ConfigError('nats is required when a route uses nats or jetstream');
  const m = r.optionalChild('metrics');
  const maxMessageBytes = g.number('maxMessageBytes', DEFAULT_MAX_MESSAGE_BYTES, 1);
  if (!r.has('schema')) throw new ConfigError('schema is required: image (a Buf image or FileDescriptorSet) or protoRoots (folders of .proto files)');
  const schema = parseSchemaSource(r.child('schema'));
  const rl = r.optionalChild('rateLimits');
  const bucket = (k: 'perCaller' | 'perTenant'): BucketLimits | undefined => {
    const d = DEFAULT_RATE_LIMITS[k]!;
    const b = rl?.optionalChild(k);
    if (!b) return d;
    if (!b.boolean('enabled', true)) return undefined;
    const limits = {
      requestsPerSecond: b.number('requestsPerSecond', d.requestsPerSecond, 0.001),
      burstRequests: b.number('burstRequests', d.burstRequests, 1),
      bytesPerSecond: b.number('bytesPerSecond', d.bytesPerSecond, 1),
      burstBytes: b.number('burstBytes', d.burstBytes, 1),
    };
    // Otherwise a request of the largest allowed size could never pass.
    if (limits.burstBytes < maxMessageBytes) throw new ConfigError(`${b.at}.burstBytes must be at least grpc.maxMessageBytes (${maxMessageBytes})`);
    return limits;
  };
  return {
    grpc: {
      ...listen,
      tls: g.tls('tls'),
      maxMessageBytes,
      maxFieldBytes: g.has('maxFieldBytes') ? g.number('maxFieldBytes', undefined, 1) : undefined,
      allowedCallers: g.strings('allowedCallers'),
    },
    nats: n ? { servers: n.strings('servers'), tls: n.has('tls') ? n.tls('tls') : undefined, name: n.string('name', 'fle-gateway') } : undefined,
    metrics: m ? parseHostPort(m.string('listen', '127.0.0.1:0'), 'metrics.listen') : undefined,
    log: { level: r.optionalChild('log')?.string('level', 'info') ?? 'info' },
    portsFile: r.optionalPath('portsFile'),
    schema,
    maxEnvelopes: r.number('maxEnvelopes', DEFAULT_MAX_ENVELOPES, 1),
    rateLimits: { perCaller: bucket('perCaller'), perTenant: bucket('perTenant'), maxKeys: rl?.number('maxKeys', DEFAULT_RATE_LIMITS.maxKeys, 1) ?? DEFAULT_RATE_LIMITS.maxKeys },
    routes,
    ...(r.has('edge') ? { edge: parseEdgeConfig(r.child('edge')) } : {}),
  };
}

/** `schema: { image: file }` or `schema: { protoRoots: [folders] }`, relative to the config's folder. */
function parseSchemaSource(s: ConfigReader): SchemaSource {
  if (s.has('image') === s.has('protoRoots')) throw new ConfigError(`${s.at} must give either image (a Buf image or FileDescriptorSet) or protoRoots (folders of .proto files)`);
  if (s.has('image')) return { image: s.path('image') };
  const roots = s.strings('protoRoots');
  if (roots.length === 0) throw new ConfigError(`${s.at}.protoRoots must list at least one folder`);
  return { protoRoots: roots.map((p) => resolve(s.baseDir, p)) };
}

export async function loadGatewayConfig(path: string): Promise<GatewayConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return { ...parseGatewayConfig(parse(text), dirname(path)), file: path };
}
