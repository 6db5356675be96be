// Config `edge:` of the gateway: the public listener for browsers and mobile
// apps (docs/edge.md). Example:
//
//   edge:
//     listen: 0.0.0.0:8444
//     tls: { cert: certs/edge.pem, key: certs/edge-key.pem }   # server certificate; no client certificate is asked for
//     cors:
//       origins: [https://shop.example]          # exact origins; a preflight from any other is refused
//       maxAgeSeconds: 600
//     jwt:                                      # bearer tokens, for routes whose auth names jwt
//       jwks: jwks.json                         # a JWKS file, or
//       # jwksUrl: https://auth.example/.well-known/jwks.json
//       issuer: https://auth.example/
//       audience: fle-edge
//       tenantClaim: tenant                     # must equal the request's tenant
//       clockToleranceSeconds: 5
//     devices:                                  # enrolled devices in the keystore (alg 4), for auth device and enroll
//       keystore: { address: 127.0.0.1:7443, tls: { ca: ..., cert: certs/gateway.pem, key: ... } }
//       ttlMs: 30000                            # a revoked device is refused at most this long after the revoke
//       unknownSenderRefetchMs: 1000
//     enroll: true                              # serve fle.edge.v1.DeviceService/Enroll (needs devices)
//     static: { dir: web }                      # optional: GET serves the files of this folder (an app's page, same origin)
//     routes:                                   # each must be one of the gateway's routes
//       - method: /team.v1.AccountService/Open
//         auth: [jwt, device]                   # jwt, device, both, or [none] (alg 3/4 envelopes only, all the same)
import type { TlsFiles } from '@fle/pki';
import { ConfigError, parseHostPort, type ConfigReader } from '@fle/service-kit';

export type EdgeAuthMode = 'jwt' | 'device';

export interface EdgeRouteSelector {
  readonly method?: string;
  readonly service?: string;
  /** Empty: `[none]`, no caller authentication (still alg 3/4 only). */
  readonly auth: readonly EdgeAuthMode[];
  readonly at: string;
}

export interface EdgeJwtConfig {
  /** A JWKS file (absolute path) or an https URL; exactly one. */
  readonly jwksFile?: string;
  readonly jwksUrl?: string;
  readonly issuer: string;
  readonly audience: string;
  readonly tenantClaim: string;
  readonly clockToleranceSeconds: number;
}

export interface EdgeDevicesConfig {
  readonly keystore: { readonly address: string; readonly tls: TlsFiles; readonly identity: string };
  readonly ttlMs: number;
  readonly unknownSenderRefetchMs: number;
}

export interface EdgeConfig {
  readonly host: string;
  readonly port: number;
  readonly tls: { readonly cert: string; readonly key: string };
  readonly cors: { readonly origins: readonly string[]; readonly maxAgeSeconds: number };
  readonly jwt?: EdgeJwtConfig;
  readonly devices?: EdgeDevicesConfig;
  readonly enroll: boolean;
  /** A folder whose files GET requests are served from (an example or app page on the edge's own origin). */
  readonly staticDir?: string;
  readonly routes: readonly EdgeRouteSelector[];
}

const ORIGIN_RE = /^https?:\/\/[^/\s]+$/;

export function parseEdgeConfig(e: ConfigReader): EdgeConfig {
  const listen = parseHostPort(e.string('listen', '127.0.0.1:0'), `${e.at}.listen`);
  const t = e.child('tls');
  const c = e.optionalChild('cors');
  const origins = c?.strings('origins') ?? [];
  for (const o of origins) {
    if (o === '*' || !ORIGIN_RE.test(o)) throw new ConfigError(`${e.at}.cors.origins: ${o} must be an exact origin (scheme://host[:port], no path, no wildcard)`);
  }
  const j = e.optionalChild('jwt');
  let jwt: EdgeJwtConfig | undefined;
  if (j) {
    if (j.has('jwks') === j.has('jwksUrl')) throw new ConfigError(`${j.at} must give either jwks (a JWKS file) or jwksUrl`);
    const url = j.optionalString('jwksUrl');
    if (url !== undefined && !/^https?:\/\//.test(url)) throw new ConfigError(`${j.at}.jwksUrl must be an http(s) URL`);
    jwt = {
      ...(j.has('jwks') ? { jwksFile: j.path('jwks') } : { jwksUrl: url }),
      issuer: j.string('issuer'),
      audience: j.string('audience'),
      tenantClaim: j.string('tenantClaim', 'tenant'),
      clockToleranceSeconds: j.number('clockToleranceSeconds', 5, 0),
    };
  }
  const d = e.optionalChild('devices');
  let devices: EdgeDevicesConfig | undefined;
  if (d) {
    const k = d.child('keystore');
    parseHostPort(k.string('address'), `${k.at}.address`);
    devices = {
      keystore: { address: k.string('address'), tls: k.tls('tls'), identity: k.string('identity', 'spiffe://fle.local/keystore') },
      ttlMs: d.number('ttlMs', 30_000, 1),
      unknownSenderRefetchMs: d.number('unknownSenderRefetchMs', 1000, 0),
    };
  }
  const enroll = e.boolean('enroll', false);
  if (enroll && !devices) throw new ConfigError(`${e.at}.enroll needs ${e.at}.devices.keystore (the keystore the enrollments are relayed to)`);
  const routes = (e.has('routes') ? e.list('routes') : []).map((rr): EdgeRouteSelector => {
    if (rr.has('method') === rr.has('service')) throw new ConfigError(`${rr.at} must name either a method (/pkg.Service/Method) or a service (pkg.Service)`);
    const raw = rr.strings('auth');
    if (raw.length === 0) throw new ConfigError(`${rr.at}.auth is required: jwt, device, both, or [none] for a route anyone may call`);
    for (const a of raw) if (!['jwt', 'device', 'none'].includes(a)) throw new ConfigError(`${rr.at}.auth: ${a} must be jwt, device or none`);
    if (raw.includes('none') && raw.length > 1) throw new ConfigError(`${rr.at}.auth: none cannot be combined with jwt or device`);
    const auth = raw.filter((a): a is EdgeAuthMode => a !== 'none');
    if (auth.includes('jwt') && !jwt) throw new ConfigError(`${rr.at}.auth names jwt but ${e.at}.jwt is not configured`);
    if (auth.includes('device') && !devices) throw new ConfigError(`${rr.at}.auth names device but ${e.at}.devices is not configured`);
    return { ...(rr.has('method') ? { method: rr.string('method') } : { service: rr.string('service').replace(/^\./, '') }), auth, at: rr.at };
  });
  if (routes.length === 0 && !enroll) throw new ConfigError(`${e.at}.routes must list at least one route (or enroll: true)`);
  return {
    ...listen,
    tls: { cert: t.path('cert'), key: t.path('key') },
    cors: { origins, maxAgeSeconds: c?.number('maxAgeSeconds', 600, 0) ?? 600 },
    ...(jwt ? { jwt } : {}),
    ...(devices ? { devices } : {}),
    enroll,
    ...(e.has('static') ? { staticDir: e.child('static').path('dir') } : {}),
    routes,
  };
}

/** The edge route of each fronted method path; ConfigError for a selector that names no route of the gateway. */
export function resolveEdgeRoutes(selectors: readonly EdgeRouteSelector[], frontedPaths: readonly string[]): Map<string, readonly EdgeAuthMode[]> {
  const out = new Map<string, readonly EdgeAuthMode[]>();
  for (const sel of selectors) {
    const paths = sel.method !== undefined ? [sel.method] : frontedPaths.filter((p) => p.startsWith(`/${sel.service}/`));
    if (sel.method !== undefined && !frontedPaths.includes(sel.method)) {
      throw new ConfigError(`${sel.at}.method ${sel.method} is not one of the gateway's routes: the edge serves only methods the gateway routes`);
    }
    if (paths.length === 0) throw new ConfigError(`${sel.at}.service ${sel.service} has no method among the gateway's routes`);
    for (const p of paths) {
      if (out.has(p)) throw new ConfigError(`${sel.at} selects ${p}, which another edge route selects already`);
      out.set(p, sel.auth);
    }
  }
  return out;
}
