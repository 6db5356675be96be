// Authorization records at rest in NATS KV (bucket `fle_authorizations`),
// sealed BEFORE storage through @fle/records' SealedKv: every sensitive field
// is an envelope bound to the record's identity `rec/<bucket>/<key>`
// (envelope-v1 §3: data at rest binds its record identity; docs/records.md),
// so a stored field cannot be moved to another record, and in-flight
// envelopes (`req/...`) cannot be replayed into storage. The stored form
// names the record type, so `fle records rewrap` can move records to a ring's
// primary version.
//
// Keyed by `<tenant>.<request nonce>`, written with create: the effect
// happens once per request nonce, a redelivery finds the record already there.
//
// The record type is a codec: AuthorizationRecord (sealed fields) for the
// product route, its unmarked twin AuthorizationRecordPlain for the benchmark
// baseline route (nothing to seal there), same bucket, same work otherwise.
import type { JetStreamClient, KV } from 'nats';
import type { CompiledSchema, KeyProvider } from '@fle/field-crypto';
import { applyStreamBudget, kvLimits, type StreamBudget } from '@fle/nats-setup';
import { RecordExistsError, RecordStoreUnavailableError, SealedKv, recordType, type RecordType } from '@fle/records';
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
export type RecordCodec = RecordType<AuthorizationRecord>;

export const AUTHORIZATION_RECORD: RecordCodec = recordType(RECORD_TYPE, AuthorizationRecord);

/** The benchmark baseline's twin: same fields, nothing sensitive (proto: AuthorizationRecordPlain). */
export const AUTHORIZATION_RECORD_PLAIN: RecordCodec = recordType('acme.payments.v1.AuthorizationRecordPlain', AuthorizationRecordPlain);

export function recordKey(tenant: string, nonce: string): string {
  return `${tenant}.${nonce}`;
}

function unavailable(err: unknown): Error {
  const cause = err instanceof RecordStoreUnavailableError ? (err.cause ?? err) : err;
  return storeFullOr(cause, 'the authorization store', (e) => new RoutingError('UPSTREAM_UNAVAILABLE', 'authorization store unavailable', { cause: e }));
}

export interface AuthorizationStoreOptions {
  readonly kv: KV;
  /** compileSchema of the payments schema. */
  readonly schema: CompiledSchema;
  /** The storing service's keys (the processor's KeyProvider). */
  readonly keys: KeyProvider;
  readonly codec?: RecordCodec;
}

export class AuthorizationStore {
  readonly codec: RecordCodec;
  readonly #records: SealedKv<AuthorizationRecord>;
  constructor(private readonly o: AuthorizationStoreOptions) {
    this.codec = o.codec ?? AUTHORIZATION_RECORD;
    this.#records = new SealedKv({ kv: o.kv, store: AUTHORIZATIONS_BUCKET, type: this.codec, schema: o.schema, keys: o.keys });
  }

  /** Creates (or binds to) the bucket with its bounds (AUTHORIZATIONS_BUDGET). */
  static async open(js: JetStreamClient, deps: { schema: CompiledSchema; keys: KeyProvider }): Promise<AuthorizationStore> {
    const kv = await js.views.kv(AUTHORIZATIONS_BUCKET, { history: 1, ...kvLimits(AUTHORIZATIONS_BUDGET) });
    await applyStreamBudget(await js.jetstreamManager(), AUTHORIZATIONS_BUDGET);
    return new AuthorizationStore({ kv, ...deps });
  }

  /** The same bucket, records of another type. */
  withCodec(codec: RecordCodec): AuthorizationStore {
    return new AuthorizationStore({ ...this.o, codec });
  }

  /** The stored record for `key`, opened; undefined when none. */
  async get(key: string): Promise<AuthorizationRecord | undefined> {
    try {
      return (await this.#records.get(key))?.value;
    } catch (err) {
      if (err instanceof RecordStoreUnavailableError) throw unavailable(err);
      throw err;
    }
  }

  /**
   * Seal and store `record` under `key` unless one is already there.
   * Returns `created`, or `exists` when an earlier delivery stored it first.
   */
  async create(key: string, record: AuthorizationRecord): Promise<'created' | 'exists'> {
    try {
      await this.#records.create(key, record);
      return 'created';
    } catch (err) {
      if (err instanceof RecordExistsError) return 'exists';
      if (err instanceof RecordStoreUnavailableError) throw unavailable(err);
      throw err;
    }
  }
}
