// Re-encryption of stored records (docs/records.md "Rewrap"): every record of
// a bucket whose envelopes (in the selected ring, of the selected tenant) are
// under a version other than the ring's primary is opened and sealed again
// under the primary, and written back only if nobody changed it meanwhile.
//
// - Deciding needs no key: the key versions are read from the envelope
//   headers (envelope-uses.ts); a key is asked for only to rewrap.
// - Concurrent writers: the write carries the revision that was read
//   (kv.update); a record changed meanwhile is read again and decided again,
//   never overwritten.
// - Resumable without a checkpoint: a record already under the primary is
//   recognised by its headers and left alone, so a run that was killed is
//   finished by running it again; the second run reads every record but
//   opens and writes only the ones still to do (docs/records.md gives the
//   reasons and the measured cost of that read).
// - A record that cannot be rewrapped (not a sealed record, a type the
//   schema lacks, a version the keystore no longer hands out, ...) is counted
//   as failed with its reason, and the run goes on. An outage (keystore or
//   NATS unreachable, this identity refused by the keystore) that outlasts a
//   few retries stops the run: every later record would fail the same way.
import type { JetStreamClient } from 'nats';
import { FieldCipher, readTenant, type CompiledSchema, type KeyProvider } from '@fle/field-crypto';
import { envelopeUses } from './envelope-uses.js';
import { RecordFormatError, RecordStoreUnavailableError } from './errors.js';
import type { MessageCodec } from './record-type.js';
import { isRevisionConflict } from './sealed-kv.js';
import { assertStoreName, decodeSealedRecord, encodeSealedRecord, recordContext } from './sealed-record.js';
import { scanBucket, type ScannedEntry } from './scan.js';

export interface RecordScanOptions {
  readonly js: JetStreamClient;
  readonly bucket: string;
  /** Store name of the records' identity; default the bucket's name. */
  readonly store?: string;
  /** compileSchema(root) of the schema declaring the records' types. */
  readonly schema: CompiledSchema;
  /** The codec of a record type found in the bucket; undefined: such records fail with `unknown_type`. */
  readonly codecFor: (typeName: string) => MessageCodec<unknown> | undefined;
  /** Records looked at the same time. Default 16. */
  readonly concurrency?: number;
}

export interface RewrapOptions extends RecordScanOptions {
  /** Keys of the records' rings: the storing service's identity. */
  readonly keys: KeyProvider;
  /** Only records of this tenant. */
  readonly tenant?: string;
  /** Only envelopes of this key ring decide (the record is sealed again whole). */
  readonly ring?: string;
  /** Reads and writes per record while others keep changing it. Default 5. */
  readonly maxAttempts?: number;
  /** Called after every record with the counts so far. */
  readonly onProgress?: (progress: RewrapProgress) => void;
}

export interface RewrapCounts {
  /** Records looked at (every live key of the bucket). */
  seen: number;
  /** Sealed again under the primary and written back. */
  rewrapped: number;
  /** Already under the primary (or holding no envelope of the selected ring). */
  current: number;
  /** Of another tenant than --tenant. */
  skipped: number;
  /** Deleted by someone else between the read and the write. */
  deleted: number;
  failed: number;
}

export interface RewrapProgress extends Readonly<RewrapCounts> {
  /** Upper bound on `seen` at the end (live keys plus delete markers at the start). */
  readonly estimatedTotal: number;
}

export interface RewrapFailure {
  readonly key: string;
  /** Stable lower-case reason, e.g. `unknown_key_version`, `not_a_sealed_record`. */
  readonly reason: string;
}

export interface RewrapSummary extends Readonly<RewrapCounts> {
  /** Failures by reason. */
  readonly failedByReason: Readonly<Record<string, number>>;
  /** The first failures (at most 100), to look into. */
  readonly failures: readonly RewrapFailure[];
}

/** The run stopped on an outage; `summary` holds what was done (run again to continue). */
export class RewrapInterruptedError extends Error {
  readonly code = 'REWRAP_INTERRUPTED';
  constructor(readonly summary: RewrapSummary, cause: unknown) {
    super(`rewrap stopped: ${cause instanceof Error ? cause.message : 'unexpected error'}`, { cause });
    this.name = 'RewrapInterruptedError';
  }
}

const MAX_LISTED_FAILURES = 100;
/** Tries of one record through an outage before the run stops: 0.5 + 1 + 2 + 4 s of waiting. */
const OUTAGE_RETRIES = 4;
const OUTAGE_BACKOFF_MS = 500;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Error codes after which no later record can succeed either: stop the run (the first three after a few retries). */
const OUTAGE_CODES = new Set(['KEYSTORE_UNAVAILABLE', 'KEYSTORE_ERROR', 'RECORD_STORE_UNAVAILABLE', 'KEYSTORE_PERMISSION_DENIED']);
const NOT_RETRIED = new Set(['KEYSTORE_PERMISSION_DENIED']);

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

function reasonOf(err: unknown): string {
  if (err instanceof RecordFormatError) return 'not_a_sealed_record';
  if (err instanceof Outcome) return err.reason;
  const code = codeOf(err);
  return code ? code.toLowerCase() : 'internal';
}

/** A per-record failure with a reason of its own (not an error code). */
class Outcome extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

interface Decoded {
  readonly typeName: string;
  readonly codec: MessageCodec<unknown>;
  readonly message: Record<string, unknown>;
  readonly tenant: string;
}

/** Decodes a stored record down to its message and tenant, or throws an Outcome / typed error. */
function decodeRecord(opts: RecordScanOptions, value: Uint8Array): Decoded {
  const { typeName, message: bytes } = decodeSealedRecord(value);
  const codec = opts.codecFor(typeName);
  if (!codec) throw new Outcome('unknown_type');
  let message: Record<string, unknown>;
  try {
    message = codec.decode(bytes) as Record<string, unknown>;
  } catch {
    throw new Outcome('does_not_decode');
  }
  // Writing back what the codec re-encodes must not drop anything: fields the
  // codec does not know (a newer schema wrote them) would be lost. Same length
  // or refuse; field order may differ between encoders, lengths do not.
  if (codec.encode(message).finish().length !== bytes.length) throw new Outcome('does_not_round_trip');
  const tenant = readTenant(opts.schema, typeName, message);
  return { typeName, codec, message, tenant };
}

/** Rewraps the bucket's records (see the top of this file); resolves with the summary. */
export async function rewrapRecords(opts: RewrapOptions): Promise<RewrapSummary> {
  const store = assertStoreName(opts.store ?? opts.bucket);
  const cipher = new FieldCipher({ schema: opts.schema, keys: opts.keys });
  const kv = await opts.js.views.kv(opts.bucket, { bindOnly: true }).catch((err: unknown) => {
    throw new RecordStoreUnavailableError(`cannot open bucket ${opts.bucket}`, { cause: err });
  });
  const maxAttempts = Math.max(1, opts.maxAttempts ?? 5);
  const counts: RewrapCounts = { seen: 0, rewrapped: 0, current: 0, skipped: 0, deleted: 0, failed: 0 };
  const failedByReason: Record<string, number> = {};
  const failures: RewrapFailure[] = [];
  let estimatedTotal = 0;
  const summary = (): RewrapSummary => ({ ...counts, failedByReason: { ...failedByReason }, failures: [...failures] });

  /** One attempt on one version of the record: what happened, or `conflict` to read again. */
  const attempt = async (key: string, value: Uint8Array, revision: number): Promise<'rewrapped' | 'current' | 'skipped' | 'conflict'> => {
    const d = decodeRecord(opts, value);
    if (opts.tenant !== undefined && d.tenant !== opts.tenant) return 'skipped';
    const uses = envelopeUses(opts.schema, d.typeName, d.message).filter((u) => opts.ring === undefined || u.ring === opts.ring);
    let stale = false;
    for (const ring of new Set(uses.map((u) => u.ring))) {
      const primary = await opts.keys.primaryKey({ tenant: d.tenant, ring });
      if (uses.some((u) => u.ring === ring && u.keyVersion !== primary.version)) stale = true;
    }
    if (!stale) return 'current';
    const context = recordContext({ store, key });
    const opened = await cipher.openMessage(d.typeName, d.message, { context, inPlace: true });
    const sealed = await cipher.sealMessage(d.typeName, opened, { context });
    const bytes = encodeSealedRecord(d.typeName, d.codec.encode(sealed).finish());
    try {
      await kv.update(key, bytes, revision);
      return 'rewrapped';
    } catch (err) {
      if (isRevisionConflict(err)) return 'conflict';
      throw new RecordStoreUnavailableError('record store: update failed', { cause: err });
    }
  };

  /** Reads again and decides again while others keep writing the record; the outcome, or throws. */
  const settle = async (entry: ScannedEntry): Promise<keyof RewrapCounts> => {
    let { value, revision } = entry;
    for (let i = 0; i < maxAttempts; i++) {
      const result = await attempt(entry.key, value, revision);
      if (result !== 'conflict') return result;
      // Someone wrote the record after it was read (or a write of ours timed
      // out but landed): decide again on what is there now.
      const latest = await kv.get(entry.key).catch((err: unknown) => {
        throw new RecordStoreUnavailableError('record store: get failed', { cause: err });
      });
      if (!latest || latest.operation !== 'PUT') return 'deleted';
      ({ value, revision } = latest);
    }
    throw new Outcome('kept_changing');
  };

  const visit = async (entry: ScannedEntry): Promise<void> => {
    counts.seen++;
    for (let outage = 0; ; outage++) {
      try {
        counts[await settle(entry)]++;
        break;
      } catch (err) {
        if (OUTAGE_CODES.has(codeOf(err) ?? '')) {
          // A busy or restarting keystore or NATS: try this record again a
          // few times before giving up on the whole run.
          if (outage < OUTAGE_RETRIES && !NOT_RETRIED.has(codeOf(err)!)) {
            await sleep(OUTAGE_BACKOFF_MS * 2 ** outage);
            continue;
          }
          throw err;
        }
        const reason = reasonOf(err);
        counts.failed++;
        failedByReason[reason] = (failedByReason[reason] ?? 0) + 1;
        if (failures.length < MAX_LISTED_FAILURES) failures.push({ key: entry.key, reason });
        break;
      }
    }
    opts.onProgress?.({ ...counts, estimatedTotal });
  };

  try {
    await scanBucket(opts.js, opts.bucket, visit, {
      concurrency: opts.concurrency,
      onStart: (s) => {
        estimatedTotal = s.estimatedRecords;
        opts.onProgress?.({ ...counts, estimatedTotal });
      },
    });
  } catch (err) {
    throw new RewrapInterruptedError(summary(), err);
  }
  return summary();
}

export interface VersionUseOptions extends RecordScanOptions {
  readonly tenant: string;
  readonly ring: string;
  readonly version: number;
}

export interface VersionUse {
  /** Records looked at. */
  readonly seen: number;
  /** Records with at least one envelope of (tenant, ring, version). */
  readonly using: number;
  /** Records that could not be read far enough to tell: they may use it. */
  readonly unreadable: number;
  /** A few keys of records using it (or unreadable), to look at. */
  readonly examples: readonly string[];
}

/**
 * How many records of the bucket still hold an envelope under (tenant, ring,
 * version), from the headers alone (no key needed): `fle keys destroy
 * --check-bucket` refuses while this is not zero.
 */
export async function recordsUsingVersion(opts: VersionUseOptions): Promise<VersionUse> {
  let seen = 0;
  let using = 0;
  let unreadable = 0;
  const examples: string[] = [];
  await scanBucket(
    opts.js,
    opts.bucket,
    async (entry) => {
      seen++;
      let uses: boolean;
      try {
        const d = decodeRecord(opts, entry.value);
        uses =
          d.tenant === opts.tenant &&
          envelopeUses(opts.schema, d.typeName, d.message).some((u) => u.ring === opts.ring && u.keyVersion === opts.version);
      } catch {
        unreadable++;
        if (examples.length < 5) examples.push(entry.key);
        return;
      }
      if (uses) {
        using++;
        if (examples.length < 5) examples.push(entry.key);
      }
    },
    { concurrency: opts.concurrency },
  );
  return { seen, using, unreadable, examples };
}
