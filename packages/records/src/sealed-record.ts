// A record at rest (docs/records.md): a protobuf message whose sensitive
// fields are envelopes bound to the record's identity, in a small frame that
// names its message type.
//
// Binding (envelope-v1 §3 "data at rest binds its record identity"): every
// envelope's AAD context is `rec/<store>/<key>`. A stored field copied to
// another key or another store, or a whole record copied there, no longer
// opens; nor does an in-flight envelope (`req/...`) or an event (`evt/...`)
// replayed into storage, whose contexts differ.
//
// Stored form: the protobuf message `SealedRecord { string type = 1; bytes
// message = 2; }` (docs/records.md gives the .proto), so that a tool that
// walks a bucket (rewrap, the destroy check) knows each record's type without
// being told; the type is also bound into every envelope's AAD.
import protobuf from 'protobufjs';
import type { FieldCipher } from '@fle/field-crypto';
import { RecordFormatError, RecordIdentityError, RecordTypeError } from './errors.js';
import type { RecordType } from './record-type.js';

/** Where a record lives: the store (by default the KV bucket's name) and its key there. */
export interface RecordId {
  readonly store: string;
  readonly key: string;
}

const STORE_RE = /^[A-Za-z0-9_-]{1,64}$/;
// NATS KV key characters (nats.js validateKey), without a leading or trailing dot.
const KEY_RE = /^[-/_=.a-zA-Z0-9]+$/;
const MAX_KEY_LENGTH = 1024;
const TYPE_RE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/** Checks a store name: 1-64 of `A-Z a-z 0-9 _ -` (so it holds no `/`). */
export function assertStoreName(store: string): string {
  if (typeof store !== 'string' || !STORE_RE.test(store)) {
    throw new RecordIdentityError('store name must be 1-64 characters of [A-Za-z0-9_-]');
  }
  return store;
}

/** Checks a record key: a NATS KV key (`A-Z a-z 0-9 - / _ = .`, no leading or trailing dot). */
export function assertRecordKey(key: string): string {
  if (typeof key !== 'string' || key.length > MAX_KEY_LENGTH || !KEY_RE.test(key) || key.startsWith('.') || key.endsWith('.')) {
    throw new RecordIdentityError(`record key must be 1-${MAX_KEY_LENGTH} characters of [-/_=.A-Za-z0-9], not starting or ending with "."`);
  }
  return key;
}

/**
 * The AAD context of a record: `rec/<store>/<key>`. The store name has no `/`,
 * so the text names exactly one (store, key) pair even when the key has slashes.
 */
export function recordContext(id: RecordId): string {
  return `rec/${assertStoreName(id.store)}/${assertRecordKey(id.key)}`;
}

const TYPE_TAG = (1 << 3) | 2;
const MESSAGE_TAG = (2 << 3) | 2;

/** The stored bytes of a record: SealedRecord { type, message }. */
export function encodeSealedRecord(typeName: string, message: Uint8Array): Uint8Array {
  return protobuf.Writer.create().uint32(TYPE_TAG).string(typeName).uint32(MESSAGE_TAG).bytes(message).finish();
}

export interface DecodedRecord {
  readonly typeName: string;
  /** The record message's bytes (sensitive fields sealed); a view of the input. */
  readonly message: Uint8Array;
}

/**
 * Parses the stored form. Strict: both fields exactly once, nothing else (a
 * later format adds a field, and a reader that does not know it refuses rather
 * than guesses). Throws RecordFormatError.
 */
export function decodeSealedRecord(bytes: Uint8Array): DecodedRecord {
  if (!(bytes instanceof Uint8Array)) throw new RecordFormatError('expected bytes');
  let typeName: string | undefined;
  let message: Uint8Array | undefined;
  try {
    const r = protobuf.Reader.create(bytes);
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag === TYPE_TAG && typeName === undefined) typeName = r.string();
      else if (tag === MESSAGE_TAG && message === undefined) message = r.bytes();
      else throw new RecordFormatError(`unexpected field ${tag >>> 3} (wire type ${tag & 7})`);
    }
  } catch (err) {
    if (err instanceof RecordFormatError) throw err;
    throw new RecordFormatError('truncated');
  }
  if (typeName === undefined || message === undefined) throw new RecordFormatError('type or message missing');
  if (!TYPE_RE.test(typeName)) throw new RecordFormatError('type is not a protobuf message name');
  return { typeName, message };
}

/** Seals `value`'s sensitive fields bound to `id` and returns the bytes to store. */
export async function sealRecord<T>(cipher: FieldCipher, type: RecordType<T>, id: RecordId, value: T): Promise<Uint8Array> {
  const context = recordContext(id);
  const sealed = await cipher.sealMessage(type.typeName, value, { context });
  return encodeSealedRecord(type.typeName, type.codec.encode(sealed).finish());
}

/**
 * Opens stored bytes as a record of `type` that lives at `id`. Throws
 * RecordFormatError / RecordTypeError before any key is asked for, and
 * field-crypto's DecryptionError when the record was sealed for another
 * identity (copied from another key or store) or was tampered with.
 */
export async function openRecord<T>(cipher: FieldCipher, type: RecordType<T>, id: RecordId, bytes: Uint8Array): Promise<T> {
  const context = recordContext(id);
  const { typeName, message } = decodeSealedRecord(bytes);
  if (typeName !== type.typeName) throw new RecordTypeError(type.typeName, typeName);
  const decoded = decodeMessage(type, message);
  return cipher.openMessage(typeName, decoded, { context, inPlace: true });
}

/** `type.codec.decode`, its failure as RecordFormatError (the codec's own message may quote bytes). */
export function decodeMessage<T>(type: RecordType<T>, message: Uint8Array): T {
  try {
    return type.codec.decode(message);
  } catch {
    throw new RecordFormatError(`its message does not decode as ${type.typeName}`);
  }
}
