// Authorization records at rest in NATS KV (bucket `fle_authorizations`),
// sealed BEFORE storage: their sensitive fields are envelopes bound to the
// storage context `store/authorization/<request_id>` (envelope-v1 §3 context:
// "data at rest binds its record identity"), so a stored field cannot be moved
// to another record, and in-flight envelopes cannot be replayed into storage.
//
// Keyed by `<tenant>.<request nonce>`, written with `kv.create`: the effect
// happens once per request nonce, a redelivery finds the record already there.
import type { JetStreamClient, KV } from 'nats';
import type { FieldCipher } from '@fle/field-crypto';
import { AuthorizationRecord } from '@fle/schema/gen/acme/payments/v1/payments.js';
import { KV_NAMES, RoutingError } from '@fle/service-kit';

export const RECORD_TYPE = 'acme.payments.v1.AuthorizationRecord';

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

function unavailable(err: unknown): RoutingError {
  return new RoutingError('UPSTREAM_UNAVAILABLE', 'authorization store unavailable', { cause: err });
}

export class AuthorizationStore {
  constructor(readonly kv: KV) {}

  static async open(js: JetStreamClient, bucket: string = KV_NAMES.authorizations): Promise<AuthorizationStore> {
    return new AuthorizationStore(await js.views.kv(bucket, { history: 1 }));
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
    const sealed = AuthorizationRecord.decode(entry.value);
    return cipher.openMessage(RECORD_TYPE, sealed, { context: storageContext(sealed.requestId) });
  }

  /**
   * Seal and store `record` under `key` unless one is already there.
   * Returns `created`, or `exists` when an earlier delivery stored it first.
   */
  async create(key: string, record: AuthorizationRecord, cipher: FieldCipher): Promise<'created' | 'exists'> {
    const sealed = await cipher.sealMessage(RECORD_TYPE, record, { context: storageContext(record.requestId) });
    try {
      await this.kv.create(key, AuthorizationRecord.encode(sealed).finish());
      return 'created';
    } catch (err) {
      if (isConflict(err)) return 'exists';
      throw unavailable(err);
    }
  }
}
