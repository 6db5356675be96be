// Which gRPC methods a service can carry: the ts-proto grpc-js service
// definitions (ts-proto, or serviceDefinition over a loaded schema) joined with the reflection schema's
// request/response type names. Services pass the definitions they serve.
import { RoutingError } from './errors.js';
import { resolveRpcMethod, type RpcMethod, type SchemaRootLike } from './rpc-method.js';

/** A unary method of a ts-proto grpc-js service definition (structural). */
export interface UnaryMethodDef {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly requestSerialize: (value: any) => Buffer;
  readonly requestDeserialize: (value: Buffer) => any;
  readonly responseSerialize: (value: any) => Buffer;
  readonly responseDeserialize: (value: Buffer) => any;
}

export type ServiceDefinitionLike = Record<string, UnaryMethodDef>;

export interface RegisteredMethod extends RpcMethod {
  readonly def: UnaryMethodDef;
  /** The service definition this method belongs to. */
  readonly serviceDef: ServiceDefinitionLike;
  /** Key of the method in its service definition (ts-proto camelCase, e.g. `authorize`). */
  readonly key: string;
}

export class RpcRegistry {
  readonly #byPath = new Map<string, RegisteredMethod>();

  constructor(root: SchemaRootLike, services: readonly ServiceDefinitionLike[]) {
    for (const svc of services) {
      for (const [key, def] of Object.entries(svc)) {
        if (def.requestStream || def.responseStream) continue;
        this.#byPath.set(def.path, { ...resolveRpcMethod(root, def.path), def, serviceDef: svc, key });
      }
    }
  }

  /** The method at `path`; RoutingError(UNKNOWN_METHOD) when it is not carried. */
  get(path: string): RegisteredMethod {
    const m = this.#byPath.get(path);
    if (!m) throw new RoutingError('UNKNOWN_METHOD', `unknown method ${path.slice(0, 200)}`);
    return m;
  }

  has(path: string): boolean {
    return this.#byPath.has(path);
  }

  get methods(): RegisteredMethod[] {
    return [...this.#byPath.values()];
  }
}

/** Decode with a ts-proto decoder; any failure is a permanent BAD_PROTOBUF (no bytes echoed). */
export function decodeOrThrow<T>(decode: (b: Buffer) => T, bytes: Uint8Array, what: string): T {
  try {
    return decode(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (err) {
    throw new RoutingError('BAD_PROTOBUF', `${what} is not valid protobuf`, { cause: err });
  }
}
