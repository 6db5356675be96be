// Processor configuration (YAML). Example:
//
//   grpc:
//     listen: 127.0.0.1:9443
//     tls: { ca: certs/ca.pem, cert: certs/processor.pem, key: certs/processor-key.pem }
//     allowedCallers: [spiffe://fle.local/gateway]     # optional; default any cert from the CA
//   nats:
//     servers: [tls://127.0.0.1:4222]
//     tls: { ca: certs/ca.pem, cert: certs/processor.pem, key: certs/processor-key.pem }
//   keystore:
//     address: 127.0.0.1:7443
//     tls: { ca: certs/ca.pem, cert: certs/processor.pem, key: certs/processor-key.pem }
//     identity: spiffe://fle.local/keystore
//     cacheTtlMs: 60000        # optional; cacheGraceMs: 300000 (served while the keystore is down)
//     cacheRefreshWindowMs: 5000   # optional; past its TTL a key is served this long while refetched in the background (0: wait)
//   core: { enabled: true, queueGroup: fle-processor }   # optional service: { name: accounts, version: 1.0.0 } — NATS service API (discovery, stats)
//   jetstream: { enabled: true, durable: fle-processor, maxAttempts: 10, ackWaitMs: 30000, nakBaseMs: 500, nakMaxMs: 30000 }
//   concurrency: 32
//   replay: { windowMs: 60000, store: nats }       # or: store: redis, redisUrl: redis://127.0.0.1:6379
//   metrics: { listen: 127.0.0.1:9465 }
//   log: { level: info }
//   portsFile: .fle/run/processor.json
//   hpke:                      # optional; envelope alg 3/4 (docs/envelope-hpke.md)
//     kem: webcrypto           # X25519 implementation: noble (default) or webcrypto (faster on Node)
//     deviceRegistry:          # alg 4 senders: the devices enrolled in the keystore (docs/devices.md), through `keystore:`
//       ttlMs: 30000           # a revocation takes effect within it; graceMs: 300000; unknownSenderRefetchMs: 1000
//     devices:                 # or a fixed list (tests; not with deviceRegistry)
//       - { tenant: team-a, id: ios-7f3a, publicKey: <base64url X25519 public key> }
//     requireForRegisteredTenants: true   # a tenant with devices refuses alg 3 from then on
//   schema: { image: schema.binpb }          # or: { protoRoots: [proto] } — relative to this file
//   handlers: handlers.ts                     # ES module: exports handlers by method name or full path
//   maxEnvelopes: 1024                        # optional; most envelopes one request may carry
//   routes:                                   # optional; default: every method the handlers module names
//     - { method: /team.v1.AccountService/Open, route: open }   # route: NATS token, default kebab(method name)
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';
import { ConfigError, ConfigReader, DEFAULT_REPLAY_WINDOW_MS, isValidNatsToken, parseHostPort } from '@fle/service-kit';
import type { TlsFiles } from '@fle/pki';
import { validateProcessorConfig } from './config-schema.js';

export interface ProcessorRoute {
  /** Full method path, `/pkg.Service/Method`. */
  readonly method: string;
  /** NATS subject token; default: the method name in kebab case. */
  readonly route?: string;
}

/** An app installation allowed to seal alg 4 envelopes for a tenant (docs/envelope-hpke.md §5). */
export interface RegisteredDeviceConfig {
  readonly tenant: string;
  readonly id: string;
  /** base64url of the device's 32-byte X25519 public key. */
  readonly publicKey: string;
}

export interface ProcessorConfig {
  readonly grpc?: { readonly host: string; readonly port: number; readonly tls: TlsFiles; readonly maxMessageBytes: number; readonly allowedCallers: readonly string[] };
  readonly nats: { readonly servers: readonly string[]; readonly tls?: TlsFiles; readonly name: string };
  readonly keystore?: {
    readonly address: string;
    readonly tls: TlsFiles;
    readonly identity: string;
    readonly cacheTtlMs?: number;
    /** How much longer cached keys serve while the keystore is unreachable (keystore-client `graceMs`). */
    readonly cacheGraceMs?: number;
    /** How long past its TTL a key is served while refetched in the background (keystore-client `refreshWindowMs`). */
    readonly cacheRefreshWindowMs?: number;
  };
  readonly core: { readonly enabled: boolean; readonly queueGroup: string; readonly service?: { readonly name: string; readonly version: string } };
  readonly jetstream: {
    readonly enabled: boolean;
    readonly durable: string;
    /** Deliveries before a message that keeps failing transiently is dead-lettered. */
    readonly maxAttempts: number;
    readonly ackWaitMs: number;
    readonly nakBaseMs: number;
    readonly nakMaxMs: number;
  };
  /** Messages handled at once (core + JetStream + gRPC). */
  readonly concurrency: number;
  readonly replay: { readonly windowMs: number; readonly store: 'nats' | 'redis'; readonly redisUrl?: string };
  readonly metrics?: { readonly host: string; readonly port: number };
  readonly log: { readonly level: string };
  readonly portsFile?: string;
  /** HPKE (envelope alg 3/4): X25519 implementation and the registered devices of auth mode. */
  readonly hpke: {
    readonly kem: 'noble' | 'webcrypto';
    readonly devices: readonly RegisteredDeviceConfig[];
    /** The devices enrolled in the keystore, cached (keystore-client's KeystoreDeviceRegistry); excludes `devices`. */
    readonly deviceRegistry?: { readonly ttlMs?: number; readonly graceMs?: number; readonly unknownSenderRefetchMs?: number };
    readonly requireForRegisteredTenants: boolean;
  };
  /**
   * Test only: append `{nonce, sha256}` of each opened request's protobuf bytes
   * to this file, then wait `holdMs` (default 0) before the handler, so a
   * crash drill can reliably kill the process with requests inside the handler.
   */
  readonly testProbe?: { readonly openedDigestFile: string; readonly holdMs: number };
  /** The team's schema: a Buf image / FileDescriptorSet, or .proto roots (absolute paths). */
  readonly schema: { readonly image: string } | { readonly protoRoots: readonly string[] };
  /** Absolute path of the ES module holding the handlers. */
  readonly handlers: string;
  /** Most envelopes one request may carry (wire check); undefined: the check's default. */
  readonly maxEnvelopes?: number;
  /** Undefined: every method the handlers module names. */
  readonly routes?: readonly ProcessorRoute[];
}

export function parseProcessorConfig(value: unknown, baseDir?: string): ProcessorConfig {
  validateProcessorConfig(value); // unknown keys, wrong types: refused before any default is applied
  const r = ConfigReader.root(value, baseDir);
  const g = r.optionalChild('grpc');
  const n = r.child('nats');
  const k = r.optionalChild('keystore');
  const core = r.optionalChild('core');
  const js = r.optionalChild('jetstream');
  const replay = r.optionalChild('replay');
  const m = r.optionalChild('metrics');
  const h = r.optionalChild('hpke');
  const routes = r.has('routes')
    ? r.list('routes').map((rr): ProcessorRoute => {
        const route = rr.optionalString('route');
        if (route !== undefined && !isValidNatsToken(route)) throw new ConfigError(`${rr.at}.route must be a NATS token of [A-Za-z0-9_-]`);
        return { method: rr.string('method'), ...(route === undefined ? {} : { route }) };
      })
    : undefined;
  if (routes && routes.length === 0) throw new ConfigError('routes must list at least one route (or be left out: every method the handlers module names)');
  if (routes && new Set(routes.map((x) => x.route).filter((x) => x !== undefined)).size !== routes.filter((x) => x.route !== undefined).length) {
    throw new ConfigError('routes must not repeat a route name');
  }
  if (h?.has('devices') && h.has('deviceRegistry')) throw new ConfigError('hpke: give either deviceRegistry (the devices enrolled in the keystore) or a devices list, not both');
  if (h?.has('deviceRegistry') && !k) throw new ConfigError('hpke.deviceRegistry needs keystore (the devices are read from it)');
  const dr = h?.optionalChild('deviceRegistry');
  const sc = r.child('schema');
  if (sc.has('image') === sc.has('protoRoots')) throw new ConfigError('schema needs exactly one of image (buf build -o schema.binpb) and protoRoots');
  const protoRoots = sc.strings('protoRoots').map((p) => (isAbsolute(p) ? p : resolve(sc.baseDir, p)));
  if (!sc.has('image') && protoRoots.length === 0) throw new ConfigError('schema.protoRoots must list at least one folder');
  const schema = sc.has('image') ? { image: sc.path('image') } : { protoRoots };
  const store = replay?.oneOf('store', ['nats', 'redis'] as const, 'nats') ?? 'nats';
  const durable = js?.string('durable', 'fle-processor') ?? 'fle-processor';
  if (!isValidNatsToken(durable)) throw new ConfigError('jetstream.durable must be a NATS token');
  return {
    grpc: g
      ? {
          ...parseHostPort(g.string('listen', '127.0.0.1:0'), 'grpc.listen'),
          tls: g.tls('tls'),
          maxMessageBytes: g.number('maxMessageBytes', 4 * 1024 * 1024, 1),
          allowedCallers: g.strings('allowedCallers'),
        }
      : undefined,
    nats: { servers: n.strings('servers'), tls: n.has('tls') ? n.tls('tls') : undefined, name: n.string('name', 'fle-processor') },
    keystore: k
      ? {
          address: k.string('address'),
          tls: k.tls('tls'),
          identity: k.string('identity', 'spiffe://fle.local/keystore'),
          cacheTtlMs: k.has('cacheTtlMs') ? k.number('cacheTtlMs') : undefined,
          cacheGraceMs: k.has('cacheGraceMs') ? k.number('cacheGraceMs') : undefined,
          cacheRefreshWindowMs: k.has('cacheRefreshWindowMs') ? k.number('cacheRefreshWindowMs') : undefined,
        }
      : undefined,
    core: {
      enabled: core?.boolean('enabled', true) ?? true,
      queueGroup: core?.string('queueGroup', 'fle-processor') ?? 'fle-processor',
      ...(core?.has('service') ? { service: { name: core.child('service').string('name'), version: core.child('service').string('version', '0.0.0') } } : {}),
    },
    jetstream: {
      enabled: js?.boolean('enabled', true) ?? true,
      durable,
      maxAttempts: js?.number('maxAttempts', 10, 1) ?? 10,
      ackWaitMs: js?.number('ackWaitMs', 30_000, 100) ?? 30_000,
      nakBaseMs: js?.number('nakBaseMs', 500, 0) ?? 500,
      nakMaxMs: js?.number('nakMaxMs', 30_000, 0) ?? 30_000,
    },
    concurrency: r.number('concurrency', 32, 1),
    replay: { windowMs: replay?.number('windowMs', DEFAULT_REPLAY_WINDOW_MS, 1) ?? DEFAULT_REPLAY_WINDOW_MS, store, redisUrl: replay?.optionalString('redisUrl') },
    metrics: m ? parseHostPort(m.string('listen', '127.0.0.1:0'), 'metrics.listen') : undefined,
    log: { level: r.optionalChild('log')?.string('level', 'info') ?? 'info' },
    portsFile: r.optionalPath('portsFile'),
    hpke: {
      kem: h?.oneOf('kem', ['noble', 'webcrypto'] as const, 'noble') ?? 'noble',
      devices: h?.has('devices')
        ? h.list('devices').map((d): RegisteredDeviceConfig => {
            const publicKey = d.string('publicKey');
            if (!/^[A-Za-z0-9_-]{43}$/.test(publicKey)) throw new ConfigError(`${d.at}.publicKey must be the base64url of 32 bytes`);
            return { tenant: d.string('tenant'), id: d.string('id'), publicKey };
          })
        : [],
      ...(dr
        ? {
            deviceRegistry: {
              ...(dr.has('ttlMs') ? { ttlMs: dr.number('ttlMs', 30_000, 1) } : {}),
              ...(dr.has('graceMs') ? { graceMs: dr.number('graceMs', 300_000, 0) } : {}),
              ...(dr.has('unknownSenderRefetchMs') ? { unknownSenderRefetchMs: dr.number('unknownSenderRefetchMs', 1000, 0) } : {}),
            },
          }
        : {}),
      requireForRegisteredTenants: h?.boolean('requireForRegisteredTenants', true) ?? true,
    },
    testProbe: r.has('testProbe')
      ? { openedDigestFile: r.child('testProbe').path('openedDigestFile'), holdMs: r.child('testProbe').number('holdMs', 0, 0) }
      : undefined,
    schema,
    handlers: r.path('handlers'),
    maxEnvelopes: r.has('maxEnvelopes') ? r.number('maxEnvelopes', 1024, 1) : undefined,
    routes,
  };
}

export async function loadProcessorConfig(path: string): Promise<ProcessorConfig> {
  return parseProcessorConfig(parse(await readFile(path, 'utf8')), dirname(path));
}
