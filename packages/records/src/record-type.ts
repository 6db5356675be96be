// What a record type is to this package: its full protobuf name (bound into
// every envelope's AAD, envelope-v1 §3) and an encode/decode pair. The pair is
// shaped so that a ts-proto `MessageFns` is one as it is, and a protobufjs
// reflection type (a loaded schema) becomes one through reflectionCodec.
import type protobuf from 'protobufjs';

/** encode/decode of one message type; ts-proto's generated `MessageFns<T>` satisfies it. */
export interface MessageCodec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(bytes: Uint8Array): T;
}

export interface RecordType<T> {
  /** Full protobuf name without a leading dot, e.g. `fletest.records.v1.Dossier`. */
  readonly typeName: string;
  readonly codec: MessageCodec<T>;
}

/** `recordType('team.v1.Account', Account)` with the ts-proto `Account` MessageFns. */
export function recordType<T>(typeName: string, codec: MessageCodec<T>): RecordType<T> {
  if (typeof typeName !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(typeName.replace(/^\./, ''))) {
    throw new TypeError('typeName must be a full protobuf message name, e.g. team.v1.Account');
  }
  return { typeName: typeName.replace(/^\./, ''), codec };
}

/**
 * A codec for a type of a protobufjs Root, giving and taking the plain objects
 * FieldCipher walks (camelCase properties, bytes as Uint8Array, maps as
 * objects). Only the fields present on the wire appear after decode, so
 * encode(decode(bytes)) writes the same fields again (rewrap.ts relies on it).
 */
export function reflectionCodec<T = Record<string, unknown>>(type: protobuf.Type): MessageCodec<T> {
  return {
    encode: (message) => type.encode(type.fromObject(message as Record<string, unknown>)),
    decode: (bytes) => type.toObject(type.decode(bytes)) as T,
  };
}
