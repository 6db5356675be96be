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
import { serializerFor } from '@fle/schema/serializers';
import { newReplayStamp, replayContext, resolveRpcMethod, stampToMetadata, type ReplayStamp, type RpcMethod } from '@fle/protocol';
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
  readonly #methods = new Map<string, RpcMethod>();
  /** Request serializer per method definition (serializerFor: the reused writer for generated ones). */
  readonly #serializers = new WeakMap<object, (value: never) => Buffer>();

  constructor(opts: FleClientOptions) {
    this.#opts = opts;
    this.#client = new Client(opts.address, opts.credentials, opts.channelOptions);
  }

  #method(path: string): RpcMethod {
    let m = this.#methods.get(path);
    if (!m) {
      m = resolveRpcMethod(schemaRoot(), path);
      this.#methods.set(path, m);
    }
    return m;
  }

  #serializer<Req>(def: UnaryMethodDefinition<Req, unknown>, typeName: string): (value: Req) => Buffer {
    let s = this.#serializers.get(def) as ((value: Req) => Buffer) | undefined;
    if (!s) {
      s = serializerFor(def, typeName, def.requestSerialize);
      this.#serializers.set(def, s as (value: never) => Buffer);
    }
    return s;
  }

  /** Seal `request`, call `def.path` on the gateway, open and return the response. */
  async call<Req extends object, Res extends object>(def: UnaryMethodDefinition<Req, Res>, request: Req, opts: CallOptions = {}): Promise<CallResult<Res>> {
    const method = this.#method(def.path);
    const stamp = opts.stamp ?? newReplayStamp({ now: this.#opts.now, randomBytes: this.#opts.randomBytes });
    const context = replayContext(stamp);
    const sealed = await this.#opts.cipher.sealMessage(method.requestType, request, { context });
    const sealedResponse = await this.#invoke(def, this.#serializer(def, method.requestType), sealed, stamp, opts.deadlineMs);
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
