// The gRPC serializer to use for a method definition: a ts-proto generated
// one is replaced by the same encoding on the reused writer of encode.ts
// (same bytes, fewer allocations); any other definition (a caller's wrapper
// around a generated one, say) keeps its own serializer.
import type { Buffer } from 'node:buffer';
import { encodeToBuffer } from './encode.js';
import { messageFns, serviceDefinitions } from './gen/message-registry.js';

/** Every method definition object of the generated services. */
const generated = new Set<object>(serviceDefinitions.flatMap((service) => Object.values(service) as object[]));

/**
 * How to serialize `typeName` (the request or response type of `def`):
 * on the reused writer when `def` is a generated method definition and the
 * type is in the registry, else `own` (the definition's serializer).
 */
export function serializerFor<T>(def: object, typeName: string, own: (value: T) => Buffer): (value: T) => Buffer {
  const fns = messageFns[typeName];
  return generated.has(def) && fns ? (value: T) => encodeToBuffer(fns, value) : own;
}
