// The client SDK: seal a request's sensitive fields for its tenant under a
// fresh replay stamp, call the gateway over mTLS gRPC, open the response.
//
// Binding (DESIGN.md "Replay protection", envelope-v1 §3 context):
// - every request field is sealed with context `req/<ts>/<nonce>`;
// - the processor seals the response's sensitive fields under the tenant's
//   primary key version with the SAME context, so a response can only be
//   opened as the answer to the request that carries that stamp (a response
//   swapped in from another request fails authentication).
import { Client, Metadata, type ChannelCredentials, type ChannelOptions, type ServiceError } from '@grpc/grpc-js';
import { schemaRoot } from '@fle/schema';
import { encodeToBuffer } from '@fle/schema/encode';
import { messageFns, serviceDefinitions } from '@fle/schema/gen/message-registry.js';
import { newReplayStamp, replayContext, resolveRpcMethod, stampToMetadata, type ReplayStamp, type RpcMethod } from '@fle/service-kit';
import { FleCallError } from './errors.js';

/** What the SDK needs from field-crypto's FieldCipher (structurally). */
export interface MessageSealer {
  sealMessage<T extends object>(typeName: string, msg: T, opts: { context: string }): Promise<T>;
  /** `inPlace`: the SDK owns `msg` (just decoded) and lets it be opened in place; a wrapper that keeps `msg` must copy it. */
  openMessage<T extends object>(typeName: string, msg: T, opts: { context: string; inPlace?: boolean }): Promise<T>;
}

/** The shape of a ts-proto grpc-js method definition (e.g. `PaymentServiceService.authorize`). */
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
  /** mTLS credentials with the client identity: `channelCredentials(pki.files('client'), { expectedServerIdentity })`. */
  readonly credentials: ChannelCredentials;
  /** Seals/opens with the client's keys (a FieldCipher). */
  readonly cipher: MessageSealer;
  /** Per-call deadline, default 10 000 ms. */
  readonly deadlineMs?: number;
  readonly channelOptions?: ChannelOptions;
  /** Injectable clock and RNG (tests, vectors). */
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

export class FleClient {
  readonly #client: Client;
  readonly #opts: FleClientOptions;
  readonly #methods = new Map<string, KnownMethod>();

  constructor(opts: FleClientOptions) {
    this.#opts = opts;
    this.#client = new Client(opts.address, opts.credentials, opts.channelOptions);
  }

  #method(path: string): KnownMethod {
    let m = this.#methods.get(path);
    if (!m) {
      const rpc = resolveRpcMethod(schemaRoot(), path);
      const fns = messageFns[rpc.requestType];
      const generated = generatedRequestSerializers().get(path);
      m = { ...rpc, generatedSerialize: generated, fastSerialize: fns && generated ? (value: unknown) => encodeToBuffer(fns, value) : undefined };
      this.#methods.set(path, m);
    }
    return m;
  }

  /** Seal `request`, call `def.path` on the gateway, open and return the response. */
  async call<Req extends object, Res extends object>(def: UnaryMethodDefinition<Req, Res>, request: Req, opts: CallOptions = {}): Promise<CallResult<Res>> {
    const method = this.#method(def.path);
    const stamp = opts.stamp ?? newReplayStamp({ now: this.#opts.now, randomBytes: this.#opts.randomBytes });
    const context = replayContext(stamp);
    const sealed = await this.#opts.cipher.sealMessage(method.requestType, request, { context });
    // The same bytes as the generated serializer, on a reused writer; a caller's own serializer (a wrapping def) is always used.
    const serialize = def.requestSerialize === method.generatedSerialize && method.fastSerialize ? method.fastSerialize : def.requestSerialize;
    const sealedResponse = await this.#invoke(def, serialize, sealed, stamp, opts.deadlineMs);
    // In place: the response was just decoded for this call alone.
    const response = await this.#opts.cipher.openMessage(method.responseType, sealedResponse, { context, inPlace: true });
    return { response, stamp };
  }

  /**
   * Send an already-sealed (or deliberately malformed) request as is, with the
   * given stamp; returns the still-sealed response. For tests and tools.
   */
  callRaw<Req, Res>(def: UnaryMethodDefinition<Req, Res>, request: Req, stamp: ReplayStamp | undefined, deadlineMs?: number): Promise<Res> {
    return this.#invoke(def, def.requestSerialize, request, stamp, deadlineMs);
  }

  #invoke<Req, Res>(def: UnaryMethodDefinition<Req, Res>, serialize: (value: Req) => Buffer, request: Req, stamp: ReplayStamp | undefined, deadlineMs?: number): Promise<Res> {
    const md = new Metadata();
    if (stamp) stampToMetadata(stamp, md);
    const deadline = Date.now() + (deadlineMs ?? this.#opts.deadlineMs ?? 10_000);
    return new Promise<Res>((resolve, reject) => {
      this.#client.makeUnaryRequest(def.path, serialize, def.responseDeserialize, request, md, { deadline }, (err: ServiceError | null, value?: Res) => {
        if (err) reject(new FleCallError(err));
        else resolve(value as Res);
      });
    });
  }

  /** Resolves when the channel is connected (or rejects after `timeoutMs`). */
  waitForReady(timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => this.#client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve())));
  }

  close(): void {
    this.#client.close();
  }
}

/** A method of the schema, with its request encoder on the reused writer (@fle/schema/encode) when the registry has the type. */
interface KnownMethod extends RpcMethod {
  /** The ts-proto service definition's requestSerialize for this path. */
  readonly generatedSerialize: ((value: never) => Buffer) | undefined;
  readonly fastSerialize: ((value: unknown) => Buffer) | undefined;
}

let generatedSerializers: Map<string, (value: never) => Buffer> | undefined;

/** Path -> requestSerialize of every generated service definition. */
function generatedRequestSerializers(): Map<string, (value: never) => Buffer> {
  if (!generatedSerializers) {
    generatedSerializers = new Map();
    for (const service of serviceDefinitions) {
      for (const def of Object.values(service) as Array<{ path: string; requestSerialize: (value: never) => Buffer }>) generatedSerializers.set(def.path, def.requestSerialize);
    }
  }
  return generatedSerializers;
}
