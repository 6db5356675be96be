// Encoding and decoding by reflection over a loaded schema (load-schema.ts),
// for code that knows a message only by its protobuf name: the gateway, the
// boundary library and the client SDK with a team's schema at run time.
//
// Decoded messages are plain objects with camelCase properties, every field
// present (defaults filled, empty arrays and maps), 64-bit integers as decimal
// strings (no precision lost), enums as numbers and bytes as Uint8Array: the
// shape the field walk reads and a handler can use without protobufjs.
import type { Buffer } from 'node:buffer';
import protobuf from 'protobufjs';

/** One message type's encode/decode. */
export interface MessageCodec<T = Record<string, unknown>> {
  readonly typeName: string;
  encode(message: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: Number, defaults: true, arrays: true, objects: true };

/** The codec of `typeName` (full name, no leading dot) in `root`; throws when the type is missing. */
export function messageCodec<T = Record<string, unknown>>(root: protobuf.Root, typeName: string): MessageCodec<T> {
  const type = root.lookupType(typeName);
  return {
    typeName,
    encode: (message) => type.encode(type.fromObject(message as Record<string, unknown>)).finish(),
    decode: (bytes) => type.toObject(type.decode(checkedReader(bytes)), TO_OBJECT) as T,
  };
}

/**
 * protobufjs's Node Buffer reader clamps a string whose length runs past the
 * end instead of throwing, so a truncated message would decode. This reader
 * checks the bounds first, then decodes natively from the one buffer (no
 * Buffer view per string; the plain Uint8Array reader checks too, but decodes
 * UTF-8 in JS, ~10x slower on large values). One class, not a closure per
 * decode: the gateway and the boundary decode every request with it.
 */
class CheckedBufferReader extends protobuf.BufferReader {
  override string(): string {
    const length = this.uint32();
    const start = this.pos;
    if (start + length > this.len) throw new RangeError(`index out of range: ${start} + ${length} > ${this.len}`);
    this.pos = start + length;
    // utf8Slice: what protobufjs's own reader calls (Buffer#toString with a range adds argument checks per call).
    return (this.buf as Buffer & { utf8Slice(start: number, end: number): string }).utf8Slice(start, this.pos);
  }
}

function checkedReader(bytes: Uint8Array): protobuf.Reader {
  const B = globalThis.Buffer;
  return new CheckedBufferReader(B.isBuffer(bytes) ? bytes : B.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

/** A unary or streaming method in the shape of a grpc-js MethodDefinition. */
export interface ReflectedMethodDefinition {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly originalName: string;
  readonly requestType: string;
  readonly responseType: string;
  readonly requestSerialize: (value: any) => Buffer;
  readonly requestDeserialize: (value: Buffer) => any;
  readonly responseSerialize: (value: any) => Buffer;
  readonly responseDeserialize: (value: Buffer) => any;
}

/**
 * The grpc-js service definition of `serviceName` (full name) in `root`, keyed
 * by method name as written in the .proto (e.g. `Admit`), serializing with
 * messageCodec. Usable with grpc-js `server.addService` and `makeGenericClientConstructor`.
 */
export function serviceDefinition(root: protobuf.Root, serviceName: string): Record<string, ReflectedMethodDefinition> {
  const service = root.lookupService(serviceName);
  const out: Record<string, ReflectedMethodDefinition> = {};
  for (const method of service.methodsArray) {
    method.resolve();
    const req = messageCodec(root, method.resolvedRequestType!.fullName.slice(1));
    const res = messageCodec(root, method.resolvedResponseType!.fullName.slice(1));
    const toBuffer = (bytes: Uint8Array): Buffer => globalThis.Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    out[method.name] = {
      path: `/${serviceName}/${method.name}`,
      requestStream: method.requestStream === true,
      responseStream: method.responseStream === true,
      originalName: method.name,
      requestType: req.typeName,
      responseType: res.typeName,
      requestSerialize: (value) => toBuffer(req.encode(value)),
      requestDeserialize: (value) => req.decode(value),
      responseSerialize: (value) => toBuffer(res.encode(value)),
      responseDeserialize: (value) => res.decode(value),
    };
  }
  return out;
}

/** Full names (no leading dot) of every service in `root`. */
export function serviceNames(root: protobuf.Root): string[] {
  const names: string[] = [];
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const obj of ns.nestedArray) {
      if (obj instanceof protobuf.Service) names.push(obj.fullName.slice(1));
      else if (obj instanceof protobuf.Namespace || obj instanceof protobuf.Type) visit(obj);
    }
  };
  visit(root);
  return names.sort();
}
