// EdgeClient: a browser (or any app with fetch and Web Crypto) calls the
// gateway's public edge itself (docs/edge.md): it seals the request with the
// tenant's public keys (BrowserSealer, alg 3, or alg 4 with a device key),
// sends it as one Connect unary call (POST <baseUrl>/<pkg.Service>/<Method>,
// binary or JSON, the replay stamp in `fle-timestamp` / `fle-nonce`, an
// optional bearer token), and returns the response message, with the fields
// sealed to the device's own key opened.
//
// A minimal fetch-based Connect client rather than @connectrpc/connect-web:
// connect-web needs @bufbuild/protobuf descriptors, while the page has the
// team's schema as a protobufjs root (the one BrowserSealer compiles); a
// unary Connect call is one POST, and this keeps the bundle without a second
// protobuf runtime. Servers see a standard Connect client.
import protobuf from 'protobufjs';
import { compileSchema, openFieldsFor, type CompiledSchema, type StaticRecipientKey } from '@fle/field-crypto/portable';
import { BrowserSealer, type DeviceKey } from './browser.js';

/** Connect's error codes (connectrpc.com/docs/protocol#error-codes) and their gRPC numbers. */
const CONNECT_CODES: Record<string, number> = {
  canceled: 1,
  unknown: 2,
  invalid_argument: 3,
  deadline_exceeded: 4,
  not_found: 5,
  already_exists: 6,
  permission_denied: 7,
  resource_exhausted: 8,
  failed_precondition: 9,
  aborted: 10,
  out_of_range: 11,
  unimplemented: 12,
  internal: 13,
  unavailable: 14,
  data_loss: 15,
  unauthenticated: 16,
};

/** What the edge (or the network) refused. The message is the server's: it never holds plaintext. */
export class EdgeCallError extends Error {
  /** The Connect code, e.g. `unauthenticated`, `permission_denied`. */
  readonly code: string;
  /** The same as a gRPC status number (16, 7, …). */
  readonly status: number;
  /** fle's typed code (`UNAUTHENTICATED`, `TENANT_MISMATCH`, `UNKNOWN_SENDER`, `SYMMETRIC_ENVELOPE`, …) when the edge sent one. */
  readonly fleCode: string | undefined;
  /** The HTTP status (0 when no response came). */
  readonly httpStatus: number;
  constructor(code: string, message: string, httpStatus: number, fleCode: string | undefined) {
    super(message);
    this.name = 'EdgeCallError';
    this.code = code;
    this.status = CONNECT_CODES[code] ?? 2;
    this.httpStatus = httpStatus;
    this.fleCode = fleCode;
  }
}

export interface EdgeClientOptions {
  /** The edge's origin, e.g. `https://edge.example.com:8444` (no trailing slash needed). */
  readonly baseUrl: string;
  /** The team's schema: a protobufjs root or its JSON (as BrowserSealer takes it). */
  readonly schema: protobuf.Root | protobuf.INamespace;
  /** The tenant's ring public keys (`{ tenant, ring, version, publicKey }`), from the app's backend or config. */
  readonly publicKeys: readonly StaticRecipientKey[];
  /** Seal as alg 4 with this device key pair (enrolled with `enrollDevice`), and open response fields sealed to it. */
  readonly device?: DeviceKey;
  /** The bearer token for routes with `auth: [jwt]`: a string, or a function asked before every call. */
  readonly token?: string | (() => string | Promise<string>);
  /** Body encoding: `binary` (application/proto, default) or `json` (application/json, proto3 JSON). */
  readonly format?: 'binary' | 'json';
  /** Per-call deadline; default 15 000 ms (sent as `connect-timeout-ms`). */
  readonly timeoutMs?: number;
  /** Default: globalThis.fetch. */
  readonly fetch?: typeof fetch;
}

export interface EdgeResult<T = Record<string, unknown>> {
  /** The response message (camelCase fields, int64 as strings, bytes as Uint8Array), device-sealed fields opened. */
  readonly message: T;
  /** Paths of the response fields opened with the device key. */
  readonly opened: readonly string[];
  /** `req/<timestamp>/<nonce>` of this call. */
  readonly context: string;
}

const PATH_RE = /^\/([A-Za-z_][A-Za-z0-9_.]*)\/([A-Za-z_][A-Za-z0-9_]*)$/;

function bytesOf(v: Uint8Array | string): Uint8Array {
  if (typeof v !== 'string') return v;
  const bin = atob(v.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (v.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

const compiledRoots = new WeakMap<object, { root: protobuf.Root; schema: CompiledSchema }>();
function rootOf(source: protobuf.Root | protobuf.INamespace): { root: protobuf.Root; schema: CompiledSchema } {
  let c = compiledRoots.get(source);
  if (!c) {
    const root = source instanceof protobuf.Root ? source : protobuf.Root.fromJSON(source);
    root.resolveAll();
    c = { root, schema: compileSchema(root) };
    compiledRoots.set(source, c);
  }
  return c;
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, bytes: Array, defaults: true, arrays: true, objects: true, oneofs: false };

/** protobufjs toObject with bytes as Uint8Array (its `bytes: Array` gives number[]). */
function plain(type: protobuf.Type, msg: protobuf.Message): Record<string, unknown> {
  const fix = (t: protobuf.Type, o: Record<string, unknown>): Record<string, unknown> => {
    for (const f of t.fieldsArray) {
      const v = o[f.name];
      if (v === undefined || v === null) continue;
      f.resolve();
      if (f.type === 'bytes') {
        const conv = (x: unknown) => Uint8Array.from(x as number[]);
        o[f.name] = f.map ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, conv(x)])) : f.repeated ? (v as unknown[]).map(conv) : conv(v);
      } else if (f.resolvedType instanceof protobuf.Type) {
        const sub = f.resolvedType;
        if (f.map) for (const x of Object.values(v as object)) fix(sub, x as Record<string, unknown>);
        else if (f.repeated) for (const x of v as unknown[]) fix(sub, x as Record<string, unknown>);
        else fix(sub, v as Record<string, unknown>);
      }
    }
    return o;
  };
  return fix(type, type.toObject(msg, TO_OBJECT));
}

export class EdgeClient {
  readonly #opts: EdgeClientOptions;
  readonly #root: protobuf.Root;
  readonly #schema: CompiledSchema;
  readonly #sealer: BrowserSealer;
  readonly #baseUrl: string;

  constructor(opts: EdgeClientOptions) {
    if (!opts.baseUrl) throw new TypeError('EdgeClient needs baseUrl (the edge origin)');
    this.#opts = opts;
    ({ root: this.#root, schema: this.#schema } = rootOf(opts.schema));
    this.#sealer = new BrowserSealer({ schema: opts.schema, publicKeys: opts.publicKeys, ...(opts.device ? { device: opts.device } : {}) });
    this.#baseUrl = opts.baseUrl.replace(/\/+$/, '');
  }

  /**
   * Seals `message` for method `path` (`/pkg.Service/Method` of the schema),
   * calls the edge and returns the response message (device-sealed fields opened).
   * Throws EdgeCallError for what the edge refused.
   */
  async call<T = Record<string, unknown>>(path: string, message: object): Promise<T> {
    return (await this.callDetailed<T>(path, message)).message;
  }

  async callDetailed<T = Record<string, unknown>>(path: string, message: object): Promise<EdgeResult<T>> {
    const m = PATH_RE.exec(path);
    if (!m) throw new TypeError(`method path must be /pkg.Service/Method, got ${path}`);
    const service = this.#root.lookupService(m[1]!);
    const method = service.methods[m[2]!];
    if (!method) throw new TypeError(`service ${m[1]} has no method ${m[2]}`);
    method.resolve();
    const requestType = method.resolvedRequestType!;
    const responseType = method.resolvedResponseType!;
    const sealed = await this.#sealer.seal(requestType.fullName.replace(/^\./, ''), message);
    const tenant = this.#tenantOf(requestType, sealed.bytes);

    const json = this.#opts.format === 'json';
    const headers: Record<string, string> = {
      'content-type': json ? 'application/json' : 'application/proto',
      'connect-protocol-version': '1',
      'connect-timeout-ms': String(this.#opts.timeoutMs ?? 15_000),
      'fle-timestamp': String(sealed.stamp.timestampMs),
      'fle-nonce': sealed.stamp.nonce,
    };
    const token = typeof this.#opts.token === 'function' ? await this.#opts.token() : this.#opts.token;
    if (token) headers.authorization = `Bearer ${token}`;
    const body = json ? JSON.stringify(requestType.toObject(requestType.decode(sealed.bytes), { longs: String, enums: String, bytes: String })) : sealed.bytes;

    const res = await this.#post(path, headers, body);
    const reply = json ? responseType.fromObject((await res.json()) as Record<string, unknown>) : responseType.decode(new Uint8Array(await res.arrayBuffer()));
    const out = plain(responseType, reply);
    const opened = this.#opts.device
      ? await openFieldsFor(this.#schema, responseType.fullName.replace(/^\./, ''), out, { privateKey: bytesOf(this.#opts.device.privateKey), tenant, context: sealed.context })
      : [];
    return { message: out as T, opened, context: sealed.context };
  }

  /**
   * Registers this app's device public key for `tenant` with a one-time token
   * from `fle devices enroll` (fle.edge.v1.DeviceService/Enroll on the edge).
   * Returns the device id. EdgeCallError `permission_denied` for a bad, used
   * or expired token; `already_exists` when the key is enrolled already.
   */
  async enrollDevice(req: { tenant: string; token: string; publicKey: Uint8Array | string; label?: string }): Promise<{ deviceId: string; enrolledAt: string }> {
    const res = await this.#post(
      '/fle.edge.v1.DeviceService/Enroll',
      { 'content-type': 'application/json', 'connect-protocol-version': '1' },
      JSON.stringify({ tenant: req.tenant, token: req.token, publicKey: toBase64(bytesOf(req.publicKey)), label: req.label ?? '' }),
    );
    const out = (await res.json()) as { deviceId: string; enrolledAt: string };
    return { deviceId: out.deviceId, enrolledAt: out.enrolledAt };
  }

  #tenantOf(type: protobuf.Type, bytes: Uint8Array): string {
    const prop = this.#schema.plan(type.fullName.replace(/^\./, '')).tenantProp;
    const v = prop ? (type.decode(bytes) as unknown as Record<string, unknown>)[prop] : undefined;
    return typeof v === 'string' ? v : '';
  }

  async #post(path: string, headers: Record<string, string>, body: Uint8Array | string): Promise<Response> {
    const doFetch = this.#opts.fetch ?? globalThis.fetch.bind(globalThis);
    let res: Response;
    try {
      res = await doFetch(`${this.#baseUrl}${path}`, { method: 'POST', headers, body: body as BodyInit, mode: 'cors', credentials: 'omit', signal: AbortSignal.timeout(this.#opts.timeoutMs ?? 15_000) });
    } catch (err) {
      // A network error, a refused CORS preflight or a timeout: fetch says no more.
      const timeout = (err as Error)?.name === 'TimeoutError';
      throw new EdgeCallError(timeout ? 'deadline_exceeded' : 'unavailable', timeout ? 'the edge did not answer in time' : `the edge cannot be reached (${(err as Error)?.message ?? 'network error'})`, 0, undefined);
    }
    if (res.ok) return res;
    const fleCode = res.headers.get('fle-error-code') ?? undefined;
    let code = 'unknown';
    let message = `HTTP ${res.status}`;
    try {
      const e = (await res.json()) as { code?: string; message?: string };
      if (e.code) code = e.code;
      if (e.message) message = e.message;
    } catch {
      // Not a Connect error body (a proxy's page, a refused origin).
    }
    throw new EdgeCallError(code, message, res.status, fleCode);
  }
}

function toBase64(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s);
}
