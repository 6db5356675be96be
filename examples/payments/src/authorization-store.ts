// Authorization records at rest in NATS KV (bucket `fle_authorizations`),
// sealed BEFORE storage: their sensitive fields are envelopes bound to the
// storage context `store/authorization/<request_id>` (envelope-v1 §3 context:
// "data at rest binds its record identity"), so a stored field cannot be moved
// to another record, and in-flight envelopes cannot be replayed into storage.
//
// Keyed by `<tenant>.<request nonce>`, written with `kv.create`: the effect
// happens once per request nonce, a redelivery finds the record already there.
//
// The record type is a codec: AuthorizationRecord (sealed fields) for the
// product route, its unmarked twin AuthorizationRecordPlain for the benchmark
// baseline route (sealMessage finds nothing to seal there), same bucket, same work otherwise.
import type { JetStreamClient, KV } from 'nats';
import type { FieldCipher } from '@fle/field-crypto';
import { applyStreamBudget, kvLimits, type StreamBudget } from '@fle/nats-setup';
import { encodeMessage } from '@fle/schema/encode';
import { RoutingError, storeFullOr } from '@fle/service-kit';
import { AuthorizationRecord, AuthorizationRecordPlain } from './gen/acme/payments/v1/payments.js';

export const RECORD_TYPE = 'acme.payments.v1.AuthorizationRecord';

/**
 * The example's own bucket (the processor identity must be granted it:
 * nats-setup withKvBuckets) and its bounds: a full bucket refuses the write
 * (RESOURCE_EXHAUSTED to the caller, retried), nothing stored is dropped.
 */
export const AUTHORIZATIONS_BUCKET = 'fle_authorizations';
export const AUTHORIZATIONS_BUDGET: StreamBudget = Object.freeze({ stream: `KV_${AUTHORIZATIONS_BUCKET}`, maxBytes: 128 * 1024 * 1024, maxMsgs: 500_000, maxMsgSize: 64 * 1024, discard: 'new' });

/** How a record type is named (for the cipher) and put on the wire. */
export interface RecordCodec {
  readonly typeName: string;
  encode(record: AuthorizationRecord): Uint8Array;
  decode(bytes: Uint8Array): AuthorizationRecord;
}

export const AUTHORIZATION_RECORD: RecordCodec = {
  typeName: RECORD_TYPE,
  encode: (r) => encodeMessage(AuthorizationRecord, r),
  decode: (b) => AuthorizationRecord.decode(b),
};

/** The benchmark baseline's twin: same fields, nothing sensitive (proto: AuthorizationRecordPlain). */
export const AUTHORIZATION_RECORD_PLAIN: RecordCodec = {
  typeName: 'acme.payments.v1.AuthorizationRecordPlain',
  encode: (r) => encodeMessage(AuthorizationRecordPlain, r),
  decode: (b) => AuthorizationRecordPlain.decode(b),
};

export function storageContext(requestId: string): string {
  return `store/authorization/${requestId}`;
}

export function recordKey(tenant: string, nonce: string): string {
  return `${tenant}.${nonce}`;
}

function isConflict(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; message?: string } | undefined;
  return e?.api_error?.err_code === 10071 || /wrong last sequence/i.test(e?.message ?? '');
}

function unavailable(err: unknown): Error {
  return storeFullOr(err, 'the authorization store', (e) => new RoutingError('UPSTREAM_UNAVAILABLE', 'authorization store unavailable', { cause: e }));
}

export class AuthorizationStore {
  constructor(
    readonly kv: KV,
    readonly codec: RecordCodec = AUTHORIZATION_RECORD,
  ) {}

  /** Creates (or binds to) the bucket with its bounds (AUTHORIZATIONS_BUDGET). */
  static async open(js: JetStreamClient, bucket: string = AUTHORIZATIONS_BUCKET): Promise<AuthorizationStore> {
    const budget = { ...AUTHORIZATIONS_BUDGET, stream: `KV_${bucket}` };
    const kv = await js.views.kv(bucket, { history: 1, ...kvLimits(budget) });
    await applyStreamBudget(await js.jetstreamManager(), budget);
    return new AuthorizationStore(kv);
  }

  /** The same bucket, records of another type. */
  withCodec(codec: RecordCodec): AuthorizationStore {
    return new AuthorizationStore(this.kv, codec);
  }

  /** The stored record for `key`, opened; undefined when none. */
  async get(key: string, cipher: FieldCipher): Promise<AuthorizationRecord | undefined> {
    let entry;
    try {
      entry = await this.kv.get(key);
    } catch (err) {
      throw unavailable(err);
    }
    if (!entry || entry.operation !== 'PUT') return undefined;
    const sealed = this.codec.decode(entry.value);
    return cipher.openMessage(this.codec.typeName, sealed, { context: storageContext(sealed.requestId), inPlace: true });
  }

  /**
   * Seal and store `record` under `key` unless one is already there.
   * Returns `created`, or `exists` when an earlier delivery stored it first.
   */
  async create(key: string, record: AuthorizationRecord, cipher: FieldCipher): Promise<'created' | 'exists'> {
    const sealed = await cipher.sealMessage(this.codec.typeName, record, { context: storageContext(record.requestId) });
    try {
      await this.kv.create(key, this.codec.encode(sealed));
      return 'created';
    } catch (err) {
      if (isConflict(err)) return 'exists';
      throw unavailable(err);
    }
  }
}
