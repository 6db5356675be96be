// The client SDK: seal a request's sensitive fields for its tenant under a
// fresh replay stamp, call the gateway over mTLS gRPC, open the response.
//
// Binding (DESIGN.md "Replay protection", envelope-v1 §3 context):
// - every request field is sealed with context `req/<ts>/<nonce>`;
// - the processor seals the response's sensitive fields under the tenant's
//   primary key version with the SAME context, so a response can only be
//   opened as the answer to the request that carries that stamp (a response
//   swapped in from another request fails authentication).
//
// Methods, message types and codecs resolve through the team's schema (option
// `schema`, a protobufjs root from loadSchema): any unary method of it can be
// called by its path, with plain objects, no generated code needed.
import { Client, Metadata, status, type ChannelCredentials, type ChannelInterface, type ChannelOptions, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { defaultRandom } from '@fle/field-crypto/portable';
import { messageCodec, schemaRoot } from '@fle/schema';
import { serializerFor } from '@fle/schema/serializers';
import { GRPC_NO_CHANNELZ, newReplayStamp, replayContext, resolveRpcMethod, stampToMetadata, type ReplayStamp, type RpcMethod } from '@fle/protocol';
import { FleCallError } from './errors.js';

/** What the SDK needs from field-crypto's FieldCipher (structurally). */
export interface MessageSealer {
  sealMessage<T extends object>(typeName: string, msg: T, opts: { context: string }): Promise<T>;
  /** `inPlace`: the SDK owns `msg` (just decoded) and lets it be opened in place; a wrapper that keeps `msg` must copy it. */
  openMessage<T extends object>(typeName: string, msg: T, opts: { context: string; inPlace?: boolean }): Promise<T>;
}

/** The shape of a ts-proto grpc-js method definition (e.g. `OrderServiceService.placeOrder`). */
export interface UnaryMethodDefinition<Req, Res> {
  readonly path: string;
  readonly requestStream: false;
  readonly responseStream: false;
  readonly requestSerialize: (value: Req) => Buffer;
  readonly responseDeserialize: (value: Buffer) => Res;
}

export interface FleClientOptions {
  /** Gateway `host:port`. */
  readonly address: string;
  /**
   * The team's schema: `loadSchema({ image: 'schema.binpb' })` or
   * `loadSchema({ protoRoots: ['proto'] })` from @fle/schema. Every method the
   * client calls and every type it seals resolves through it. (Without it only
   * fle's compiled-in protos resolve; kept for the generated example client.)
   */
  readonly schema?: protobuf.Root;
  /** mTLS credentials with the client identity: `channelCredentials(pki.files('client'), { expectedServerIdentity })`. */
  readonly credentials: ChannelCredentials;
  /** Seals/opens with the client's keys (a FieldCipher). */
  readonly cipher: MessageSealer;
  /** Per-call deadline, default 10 000 ms. */
  readonly deadlineMs?: number;
  readonly channelOptions?: ChannelOptions;
  /** Injectable clock and RNG (tests, vectors); the RNG defaults to field-crypto's pooled CSPRNG (defaultRandom). */
  readonly now?: () => number;
  readonly randomBytes?: (n: number) => Uint8Array;
}

export interface CallOptions {
  readonly deadlineMs?: number;
  /** Use this stamp instead of a fresh one (tests of replay protection). */
  readonly stamp?: ReplayStamp;
}

export interface CallResult<Res> {
  /** The response with its sensitive fields opened. */
  readonly response: Res;
  /** The stamp the request was sent with. */
  readonly stamp: ReplayStamp;
}

/** A method as the client calls it: the schema's names and codecs for it. */
interface ResolvedMethod extends RpcMethod {
  readonly serialize: (value: object) => Buffer;
  readonly deserialize: (bytes: Buffer) => object;
}

/** A method given by path (resolved through the schema) or by a generated definition. */
export type MethodRef<Req, Res> = string | UnaryMethodDefinition<Req, Res>;

const toBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

export class FleClient {
  readonly #client: Client;
  readonly #opts: FleClientOptions;
  readonly #root: protobuf.Root;
  readonly #methods = new Map<string, ResolvedMethod>();
  /** Request serializer per method definition (serializerFor: the reused writer for generated ones). */
  readonly #serializers = new WeakMap<object, (value: never) => Buffer>();

  constructor(opts: FleClientOptions) {
    this.#opts = opts;
    this.#root = opts.schema ?? schemaRoot();
    this.#client = new Client(opts.address, opts.credentials, { ...GRPC_NO_CHANNELZ, ...opts.channelOptions });
  }

  /** The method at `path` in the schema; RoutingError(UNKNOWN_METHOD) when the schema has no such unary method. */
  #method(path: string): ResolvedMethod {
    let m = this.#methods.get(path);
    if (!m) {
      const rpc = resolveRpcMethod(this.#root, path);
      const req = messageCodec(this.#root, rpc.requestType);
      const res = messageCodec(this.#root, rpc.responseType);
      m = { ...rpc, serialize: (v) => toBuffer(req.encode(v as Record<string, unknown>)), deserialize: (b) => res.decode(b) };
      this.#methods.set(path, m);
    }
    return m;
  }

  /** `path`'s request and response type names (full names), e.g. to seal a request yourself. */
  methodTypes(path: string): { readonly requestType: string; readonly responseType: string } {
    const m = this.#method(path);
    return { requestType: m.requestType, responseType: m.responseType };
  }

  #serializer<Req>(def: UnaryMethodDefinition<Req, unknown>, typeName: string): (value: Req) => Buffer {
    let s = this.#serializers.get(def) as ((value: Req) => Buffer) | undefined;
    if (!s) {
      s = serializerFor(def, typeName, def.requestSerialize);
      this.#serializers.set(def, s as (value: never) => Buffer);
    }
    return s;
  }

  /**
   * Seal `request`, call the method on the gateway, open and return the response.
   * `method` is a path in the schema (`'/shop.v1.OrderService/PlaceOrder'`;
   * `request` a plain object with camelCase fields, bytes as Uint8Array) or a
   * generated (ts-proto) method definition.
   */
  async call<Req extends object = Record<string, unknown>, Res extends object = Record<string, unknown>>(
    method: MethodRef<Req, Res>,
    request: Req,
    opts: CallOptions = {},
  ): Promise<CallResult<Res>> {
    const path = typeof method === 'string' ? method : method.path;
    const m = this.#method(path);
    // The stamp's 16 random bytes come from the pooled CSPRNG (one Web Crypto call per 64 KiB, not one per call: ~15 µs each on Node 20).
    const stamp = opts.stamp ?? newReplayStamp({ now: this.#opts.now, randomBytes: this.#opts.randomBytes ?? defaultRandom });
    const context = replayContext(stamp);
    const sealed = await this.#opts.cipher.sealMessage(m.requestType, request, { context });
    const [serialize, deserialize] =
      typeof method === 'string' ? [m.serialize as (v: Req) => Buffer, m.deserialize as (b: Buffer) => Res] : [this.#serializer(method, m.requestType), method.responseDeserialize];
    const sealedResponse = await this.#invoke(path, serialize, deserialize, sealed, stamp, opts.deadlineMs);
    // In place: the response was just decoded for this call alone.
    const response = await this.#opts.cipher.openMessage(m.responseType, sealedResponse, { context, inPlace: true });
    return { response, stamp };
  }

  /**
   * Send an already-sealed (or deliberately malformed) request as is, with the
   * given stamp; returns the still-sealed response. For relays, tests and tools.
   * With a path, `request` is an object encoded with the schema or protobuf
   * bytes sent unchanged (a browser's sealed request, say).
   */
  callRaw<Req = Record<string, unknown> | Uint8Array, Res = Record<string, unknown>>(method: MethodRef<Req, Res>, request: Req, stamp: ReplayStamp | undefined, deadlineMs?: number): Promise<Res> {
    if (typeof method !== 'string') return this.#invoke(method.path, method.requestSerialize, method.responseDeserialize, request, stamp, deadlineMs);
    const m = this.#method(method);
    const serialize = (v: Req): Buffer => (v instanceof Uint8Array ? toBuffer(v) : m.serialize(v as object));
    return this.#invoke(method, serialize, m.deserialize as (b: Buffer) => Res, request, stamp, deadlineMs);
  }

  #invoke<Req, Res>(path: string, serialize: (value: Req) => Buffer, deserialize: (b: Buffer) => Res, request: Req, stamp: ReplayStamp | undefined, deadlineMs?: number): Promise<Res> {
    const md = new Metadata();
    if (stamp) stampToMetadata(stamp, md);
    const deadline = Date.now() + (deadlineMs ?? this.#opts.deadlineMs ?? 10_000);
    return new Promise<Res>((resolve, reject) => unaryCall(this.#client.getChannel(), path, serialize, deserialize, request, md, deadline, resolve, reject));
  }

  /** Resolves when the channel is connected (or rejects after `timeoutMs`). */
  waitForReady(timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => this.#client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve())));
  }

  close(): void {
    this.#client.close();
  }
}

/**
 * One unary call on the channel itself: what grpc-js's `makeUnaryRequest`
 * does for a client without interceptors or call credentials (FleClient has
 * neither), in the same order (start, read, send, half-close) and with the
 * same statuses for a response that does not parse, none or two responses.
 * Why: `makeUnaryRequest` captures a stack trace for every call (`new
 * Error()`, kept in case the call fails) and builds an interceptor chain and
 * an event emitter nobody here listens to; under the e2e load the stack
 * trace alone was ~13 µs of the client's CPU per call (perf, issue 23).
 * A failed call rejects with FleCallError over a ServiceError as grpc-js makes it.
 */
function unaryCall<Req, Res>(
  channel: ChannelInterface,
  path: string,
  serialize: (value: Req) => Buffer,
  deserialize: (b: Buffer) => Res,
  request: Req,
  metadata: Metadata,
  deadline: number,
  resolve: (value: Res) => void,
  reject: (err: FleCallError) => void,
): void {
  const call = channel.createCall(path, deadline, undefined, null, undefined);
  let response: Res | undefined;
  let received = false;
  let readError: StatusObject | undefined;
  call.start(metadata, {
    onReceiveMetadata() {},
    onReceiveMessage(bytes: Buffer) {
      if (received) {
        call.cancelWithStatus(status.UNIMPLEMENTED, 'Too many responses received');
        return;
      }
      received = true;
      try {
        response = deserialize(bytes);
      } catch (e) {
        readError = { code: status.INTERNAL, details: `Response message parsing error: ${(e as Error).message}`, metadata: new Metadata() };
        call.cancelWithStatus(readError.code, readError.details);
      }
    },
    onReceiveStatus(s: StatusObject) {
      const final = readError ?? s;
      if (final.code !== status.OK) reject(new FleCallError(serviceError(final)));
      else if (!received) reject(new FleCallError(serviceError({ code: status.UNIMPLEMENTED, details: 'No message received', metadata: s.metadata })));
      else resolve(response as Res);
    },
  });
  call.startRead();
  let bytes: Buffer;
  try {
    bytes = serialize(request);
  } catch (e) {
    call.cancelWithStatus(status.INTERNAL, `Request message serialization failure: ${(e as Error).message}`);
    return;
  }
  call.sendMessageWithContext({}, bytes);
  call.halfClose();
}

/** A failed call's status as grpc-js reports it (an Error carrying code, details and metadata). */
function serviceError(s: StatusObject): ServiceError {
  return Object.assign(new Error(`${s.code} ${status[s.code]}: ${s.details}`), s);
}
