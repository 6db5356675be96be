// The gateway's public edge (docs/edge.md): a second listener for browsers
// and mobile apps, TLS with a server certificate and no client certificate,
// speaking the Connect protocol (JSON and binary), gRPC-Web and gRPC through
// @connectrpc/connect-node, with CORS per configured origin.
//
// It serves only methods the gateway routes (config `edge.routes`, each with
// its caller authentication) and hands each request to the same request path
// as the mTLS listener (request-path.ts: caps, rate limits, stamp, wire check,
// sealed fields, forwarding). What it adds: the caller is a bearer token or
// the client's address instead of a certificate, the stamp comes from the
// HTTP headers `fle-timestamp` / `fle-nonce`, and once checked a request must
// carry public-key envelopes only (alg 3/4), from the token's tenant, and
// (auth device) sealed by an enrolled device. Plus fle.edge.v1.DeviceService/Enroll,
// relayed to the keystore under the gateway's identity.
//
// What is checked is what is forwarded: the Connect router decodes the body
// (JSON or binary) against the team's schema; the path gets that message
// encoded again (unknown fields kept, so the wire check refuses them as on the
// mTLS listener), and forwards those bytes.
import { createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { fromBinary, toBinary, type DescMethodUnary, type DescService } from '@bufbuild/protobuf';
import { Code, ConnectError, cors as connectCors, createContextKey, createContextValues, type ConnectRouter, type HandlerContext } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import protobuf from 'protobufjs';
import { sealedValues, type CompiledSchema } from '@fle/field-crypto';
import { DeviceEnrollmentError, KeystoreDeviceClient, KeystoreDeviceRegistry } from '@fle/keystore-client';
import { assertTenantToken, classifyError, ConfigError, parseReplayStamp, RoutingError, STAMP_METADATA, type Logger } from '@fle/service-kit';
import type { RateLimiter } from '../rate-limit.js';
import type { BoundRoute, RequestPath } from '../request-path.js';
import { checkDeviceSenders, checkPublicKeyEnvelopes, checkTokenTenant, JwtVerifier, type VerifiedToken } from './auth.js';
import { resolveEdgeRoutes, type EdgeAuthMode, type EdgeConfig } from './config.js';
import { registryFromRoot } from './descriptors.js';
import { staticFiles } from './static-files.js';

export const EDGE_PROTO_FILE = fileURLToPath(new URL('../../proto/fle/edge/v1/edge.proto', import.meta.url));
export const ENROLL_PATH = '/fle.edge.v1.DeviceService/Enroll';

/** Headers a browser may send and read besides Connect's own (CORS). */
const ALLOWED_HEADERS = [...connectCors.allowedHeaders, 'Authorization', STAMP_METADATA.timestamp, STAMP_METADATA.nonce];
const EXPOSED_HEADERS = [...connectCors.exposedHeaders, 'Fle-Error-Code', 'Fle-Enrollment-Refusal'];

export interface EdgeDeps {
  readonly config: EdgeConfig;
  readonly root: protobuf.Root;
  readonly schema: CompiledSchema;
  /** The gateway's routes by method path (what the mTLS listener serves). */
  readonly routes: ReadonlyMap<string, BoundRoute>;
  readonly requestPath: RequestPath;
  readonly rateLimiter: RateLimiter;
  readonly maxMessageBytes: number;
  readonly log: Logger;
}

export interface RunningEdge {
  readonly port: number;
  stop(): Promise<void>;
}

/** Checks `edge:` against the gateway's routes (load time, before any port opens). */
export function planEdge(config: EdgeConfig, frontedPaths: readonly string[]): Map<string, readonly EdgeAuthMode[]> {
  return resolveEdgeRoutes(config.routes, frontedPaths);
}

const remoteAddress = createContextKey<string>('', { description: 'client address' });

/** A thrown error as the Connect error the client sees: the one status map, and the typed code in `fle-error-code`. */
function toConnectError(err: unknown): ConnectError {
  if (err instanceof DeviceEnrollmentError) {
    return new ConnectError(err.message, err.grpcCode as Code, { 'fle-error-code': err.code, 'fle-enrollment-refusal': err.reason });
  }
  const c = classifyError(err);
  return new ConnectError(c.message, c.grpcStatus as number as Code, { 'fle-error-code': c.code });
}

function methodOf(service: DescService | undefined, name: string): DescMethodUnary {
  const m = service?.methods.find((x) => x.name === name);
  if (!m || m.methodKind !== 'unary') throw new ConfigError(`edge: method ${name} is not a unary method of the loaded schema`);
  return m as DescMethodUnary;
}

export async function startEdge(deps: EdgeDeps): Promise<RunningEdge> {
  const { config, routes, requestPath, rateLimiter, log, schema } = deps;
  const auth = planEdge(config, [...routes.keys()]);
  const registry = registryFromRoot(deps.root);
  const jwt = config.jwt ? new JwtVerifier(config.jwt) : undefined;
  const keystore = config.devices ? { address: config.devices.keystore.address, tls: config.devices.keystore.tls, expectedServerIdentity: config.devices.keystore.identity } : undefined;
  const devices = keystore && config.devices ? new KeystoreDeviceRegistry({ ...keystore, ttlMs: config.devices.ttlMs, unknownSenderRefetchMs: config.devices.unknownSenderRefetchMs }) : undefined;
  const enroller = keystore && config.enroll ? new KeystoreDeviceClient(keystore) : undefined;
  const origins = new Set(config.cors.origins);

  const callerKey = (ctx: HandlerContext, token: VerifiedToken | undefined): string =>
    token ? `edge:jwt:${token.tenant}:${token.subject ?? ''}` : `edge:ip:${ctx.values.get(remoteAddress)}`;

  function serveRoute(router: ConnectRouter, b: BoundRoute, modes: readonly EdgeAuthMode[]): void {
    const desc = methodOf(registry.getService(b.method.service), b.method.method);
    router.rpc(desc, async (req, ctx) => {
      const bytes = toBinary(desc.input, req);
      let token: VerifiedToken | undefined;
      try {
        const reply = await requestPath(b, {
          bytes,
          listener: 'edge',
          async caller() {
            if (modes.includes('jwt')) token = await jwt!.verify(ctx.requestHeader.get('authorization'));
            return callerKey(ctx, token);
          },
          stamp: () => parseReplayStamp(ctx.requestHeader.get(STAMP_METADATA.timestamp) ?? undefined, ctx.requestHeader.get(STAMP_METADATA.nonce) ?? undefined),
          async authorize(checked) {
            const values = sealedValues(schema, b.method.requestType, checked.message);
            checkPublicKeyEnvelopes(values);
            if (token) checkTokenTenant(token, checked.tenant);
            if (modes.includes('device')) await checkDeviceSenders(devices!, checked.tenant, values);
          },
        });
        return fromBinary(desc.output, reply);
      } catch (err) {
        throw toConnectError(err);
      }
    });
  }

  function serveEnroll(router: ConnectRouter): void {
    const root = new protobuf.Root();
    root.loadSync(EDGE_PROTO_FILE, { keepCase: false });
    const edgeRegistry = registryFromRoot(root);
    const desc = methodOf(edgeRegistry.getService('fle.edge.v1.DeviceService'), 'Enroll');
    router.rpc(desc, async (req, ctx) => {
      const r = req as unknown as { tenant: string; token: string; publicKey: Uint8Array; label: string };
      try {
        rateLimiter.admitCaller(`edge:ip:${ctx.values.get(remoteAddress)}`, r.token.length + r.publicKey.byteLength + r.label.length);
        assertTenantToken(r.tenant);
        if (r.token === '') throw new RoutingError('BAD_REQUEST', 'token is required (from fle devices enroll)');
        const device = await enroller!.enroll({ tenant: r.tenant, token: r.token, publicKey: r.publicKey, label: r.label });
        log.info({ listener: 'edge', method: ENROLL_PATH, tenant: r.tenant, device: device.id }, 'device enrolled');
        return fromBinary(desc.output, encodeEnrollResponse(root, device));
      } catch (err) {
        const e = toConnectError(err);
        log.warn({ listener: 'edge', method: ENROLL_PATH, tenant: r.tenant, status: e.code, code: e.metadata.get('fle-error-code') }, 'enrollment refused');
        throw e;
      }
    });
  }

  const handler = connectNodeAdapter({
    routes(router) {
      for (const [path, modes] of auth) serveRoute(router, routes.get(path)!, modes);
      if (enroller) serveEnroll(router);
    },
    connect: true,
    grpcWeb: true,
    grpc: true,
    readMaxBytes: deps.maxMessageBytes,
    writeMaxBytes: deps.maxMessageBytes,
    // Unknown JSON fields are an error, as unknown protobuf fields are for the wire check.
    jsonOptions: { ignoreUnknownFields: false },
    contextValues: (req) => createContextValues().set(remoteAddress, req.socket?.remoteAddress ?? ''),
    ...(config.staticDir ? { fallback: staticFiles(config.staticDir) as unknown as NonNullable<Parameters<typeof connectNodeAdapter>[0]['fallback']> } : {}),
  });

  // CORS in front of the router: a browser's request from an origin not
  // listed is refused before anything is read (preflight or not); requests
  // without an Origin (mobile apps, servers) are not browsers' and go on, and
  // so do a page's own same-origin requests (edge.static): a browser names
  // this very https origin only for a page it loaded from here (the TLS
  // certificate rules out another name resolving to this address).
  const onRequest = (req: Http2ServerRequest | IncomingMessage, res: Http2ServerResponse | ServerResponse): void => {
    const origin = req.headers.origin;
    const authority = (req.headers[':authority'] as string | undefined) ?? req.headers.host;
    if (origin !== undefined && !(authority !== undefined && origin === `https://${authority}`)) {
      res.setHeader('Vary', 'Origin');
      if (!origins.has(origin)) {
        log.warn({ listener: 'edge', origin, path: req.url, method: req.method }, 'origin not allowed');
        res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('origin not allowed\n');
        return;
      }
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS.join(', '));
      if (req.method === 'OPTIONS') {
        res.writeHead(204, {
          'access-control-allow-methods': connectCors.allowedMethods.join(', '),
          'access-control-allow-headers': ALLOWED_HEADERS.join(', '),
          'access-control-max-age': String(config.cors.maxAgeSeconds),
        });
        res.end();
        return;
      }
    }
    handler(req as never, res as never);
  };

  const server: Http2SecureServer = createSecureServer(
    { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key), allowHTTP1: true, minVersion: 'TLSv1.2' },
    onRequest,
  );
  const sockets = new Set<import('node:net').Socket>();
  // Small replies leave at once (HTTP/1.1 answers are several small writes; no Nagle wait on them).
  server.on('connection', (tcp: import('node:net').Socket) => tcp.setNoDelay(true));
  server.on('secureConnection', (sock) => {
    sockets.add(sock);
    sock.once('close', () => sockets.delete(sock));
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve((server.address() as { port: number }).port));
  });
  log.info({ edgePort: port, routes: [...auth.keys()], enroll: Boolean(enroller), origins: config.cors.origins, static: config.staticDir }, 'edge listening');

  return {
    port,
    async stop() {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        // HTTP/1.1 keep-alive connections and HTTP/2 sessions would hold close() open.
        for (const s of sockets) s.destroy();
      });
      devices?.close();
      enroller?.close();
    },
  };
}

function encodeEnrollResponse(root: protobuf.Root, d: { id: string; tenant: string; publicKey: string; enrolledAt: string }): Uint8Array {
  const T = root.lookupType('fle.edge.v1.EnrollResponse');
  return T.encode(T.fromObject({ deviceId: d.id, tenant: d.tenant, publicKey: Buffer.from(d.publicKey, 'base64url'), enrolledAt: d.enrolledAt })).finish();
}
