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
//   routes:
//     - method: /acme.payments.v1.PaymentService/Authorize
//       route: authorize                             # the <method> token of the subject
//       transport: jetstream                         # nats | jetstream | grpc
//       timeoutMs: 5000
//     - method: ...
//       transport: grpc
//       processor: { address: 127.0.0.1:9443, tls: {...}, identity: spiffe://fle.local/processor }
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parse } from 'yaml';
import { ConfigError, ConfigReader, isValidNatsToken, parseHostPort } from '@fle/service-kit';
import type { TlsFiles } from '@fle/pki';
import { DEFAULT_RATE_LIMITS, type BucketLimits, type RateLimits } from './rate-limit.js';
import { validateGatewayConfig } from './config-schema.js';

export type Transport = 'nats' | 'jetstream' | 'grpc';

export interface ProcessorTarget {
  readonly address: string;
  readonly tls: TlsFiles;
  /** Expected SPIFFE ID of the processor; default spiffe://fle.local/processor. */
  readonly identity: string;
}

export interface RouteConfig {
  readonly method: string;
  readonly route: string;
  readonly transport: Transport;
  readonly timeoutMs: number;
  readonly processor?: ProcessorTarget;
}

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
  readonly routes: readonly RouteConfig[];
}

export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
export const DEFAULT_ROUTE_TIMEOUT_MS = 5000;

export function parseGatewayConfig(value: unknown, baseDir?: string): GatewayConfig {
  validateGatewayConfig(value); // unknown keys, wrong types: refused before any default is applied
  const r = ConfigReader.root(value, baseDir);
  const g = r.child('grpc');
  const listen = parseHostPort(g.string('listen', '127.0.0.1:0'), 'grpc.listen');
  const routes = r.list('routes').map((rr): RouteConfig => {
    const transport = rr.oneOf<Transport>('transport', ['nats', 'jetstream', 'grpc']);
    const route = rr.string('route');
    if (!isValidNatsToken(route)) throw new ConfigError(`${rr.at}.route must be a NATS token of [A-Za-z0-9_-]`);
    let processor: ProcessorTarget | undefined;
    if (transport === 'grpc') {
      const p = rr.child('processor');
      parseHostPort(p.string('address'), `${rr.at}.processor.address`);
      processor = { address: p.string('address'), tls: p.tls('tls'), identity: p.string('identity', 'spiffe://fle.local/processor') };
    }
    return { method: rr.string('method'), route, transport, timeoutMs: rr.number('timeoutMs', DEFAULT_ROUTE_TIMEOUT_MS, 1), processor };
  });
  if (routes.length === 0) throw new ConfigError('routes must list at least one route');
  const methods = new Set(routes.map((x) => x.method));
  if (methods.size !== routes.length) throw new ConfigError('routes must not repeat a method');
  const n = r.optionalChild('nats');
  if (!n && routes.some((x) => x.transport !== 'grpc')) throw new ConfigError('nats is required when a route uses nats or jetstream');
  const m = r.optionalChild('metrics');
  const maxMessageBytes = g.number('maxMessageBytes', DEFAULT_MAX_MESSAGE_BYTES, 1);
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
    rateLimits: { perCaller: bucket('perCaller'), perTenant: bucket('perTenant'), maxKeys: rl?.number('maxKeys', DEFAULT_RATE_LIMITS.maxKeys, 1) ?? DEFAULT_RATE_LIMITS.maxKeys },
    routes,
  };
}

export async function loadGatewayConfig(path: string): Promise<GatewayConfig> {
  return parseGatewayConfig(parse(await readFile(path, 'utf8')), dirname(path));
}
