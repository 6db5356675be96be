// What an event type is to this package: its full protobuf name (bound into
// every envelope's AAD and sent as the Fle-Event-Type header) and the team's
// codec. The codec is shaped so that a ts-proto `MessageFns` fits as it is,
// and a loaded schema's codec of a type (a protobufjs reflection type) with
// a one-line adapter (`{ encode: (m) => t.encode(t.fromObject(m)), decode: (b) => t.toObject(t.decode(b)) }`).

/**
 * encode/decode of one message type: ts-proto's generated `MessageFns<T>`
 * (encode returns a writer) and `@fle/schema`'s `messageCodec(root, type)`
 * (encode returns the bytes) both satisfy it.
 */
export interface MessageCodec<T> {
  encode(message: T): { finish(): Uint8Array } | Uint8Array;
  decode(bytes: Uint8Array): T;
}

/** The bytes of `message` under `codec`, whichever of the two shapes it has. */
export function encodeEvent<T>(codec: MessageCodec<T>, message: T): Uint8Array {
  const out = codec.encode(message);
  return out instanceof Uint8Array ? out : out.finish();
}

export interface EventType<T> {
  /** Full protobuf name without a leading dot, e.g. `team.v1.PatientAdmitted`. */
  readonly typeName: string;
  readonly codec: MessageCodec<T>;
}

const TYPE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/** `eventType('team.v1.PatientAdmitted', PatientAdmitted)` with the ts-proto `PatientAdmitted` MessageFns. */
export function eventType<T>(typeName: string, codec: MessageCodec<T>): EventType<T> {
  const name = typeof typeName === 'string' ? typeName.replace(/^\./, '') : '';
  if (!TYPE_NAME.test(name)) throw new TypeError('typeName must be a full protobuf message name, e.g. team.v1.PatientAdmitted');
  if (typeof codec?.encode !== 'function' || typeof codec.decode !== 'function') throw new TypeError('codec must have encode and decode (a ts-proto MessageFns)');
  return { typeName: name, codec };
}
