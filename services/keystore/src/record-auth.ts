// Authenticated key ring records (issue 18 item 4). Wrapping (wrap.ts) keeps
// each key secret and bound to its place, but a ring's *state* (which version
// is primary, which are disabled or destroyed) was plain JSON: editing the
// store could make a disabled version primary, and putting an older record
// back could bring a destroyed version back. Now:
//
// - Every record is stored with a tag: HMAC-SHA256 (node:crypto) under
//   HKDF-SHA256(master, "fle.keystore.v1", "record"), over a canonical encoding
//   of the WHOLE record (names, kind, alg, generation, rotation policy, every
//   version's number, state, times, wrapped bytes and seal count) and the
//   storage revision the write replaced. A record that does not authenticate
//   is refused (RecordIntegrityError → DATA_LOSS) and never used.
// - Every write increments the record's `generation`. The keystore anchors
//   the highest generation it has seen per ring (GenerationAnchor): in memory,
//   and in the audit log, whose lines carry the generation of the record each
//   request read or wrote and which the keystore re-reads at start. A record
//   whose generation is behind the anchor is an older copy put back: refused
//   (RecordRollbackError → DATA_LOSS).
// - NATS KV: the tag also binds `prevRevision`, the KV revision the write
//   replaced (the compare-and-set's expected revision), and a record whose
//   prevRevision is not below the revision it is read at is refused: a value
//   moved to another bucket or stream (restored from a snapshot) does not pass.
//
// What it cannot do: an attacker who rolls back the store AND the audit log to
// one consistent earlier state (or deletes the log) is not detected; keep the
// audit log on other storage than the store, and ship it off the host.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { SecretKey } from '@fle/field-crypto';
import { RecordIntegrityError, RecordRollbackError } from './errors.js';
import { deriveFromMaster } from './master-key.js';
import type { KeyRingRecord } from './model.js';

/** What storage keeps for a ring besides the record itself. */
export interface RecordSeal {
  /** base64 HMAC-SHA256 tag. */
  mac: string;
  /** The storage revision this write replaced (0 for a create). */
  prevRevision: number;
}

const DOMAIN = 'fle.keystore.v1.record';

/**
 * The bytes the tag covers. A JSON array in a fixed order (strings and numbers
 * only), so the encoding never depends on object key order; a field the array
 * does not hold cannot be in a record (model.ts assertRingRecord refuses
 * unknown fields).
 */
export function canonicalRecord(r: KeyRingRecord, prevRevision: number): string {
  return JSON.stringify([
    DOMAIN,
    r.tenant,
    r.ring,
    r.kind,
    r.alg,
    r.createdAt,
    r.generation,
    r.rotation === undefined ? null : [r.rotation.rotateAfterMs, r.rotation.maxEnvelopes, r.rotation.propagationDelayMs],
    r.versions.map((v) => [v.version, v.state, v.createdAt, v.stateChangedAt, v.wrapped, v.sealCount ?? 0]),
    prevRevision,
  ]);
}

export class RecordAuthenticator {
  readonly #key: SecretKey;

  constructor(master: SecretKey) {
    this.#key = new SecretKey(deriveFromMaster(master, 'record'));
  }

  seal(record: KeyRingRecord, prevRevision: number): RecordSeal {
    return { mac: this.#tag(record, prevRevision).toString('base64'), prevRevision };
  }

  /**
   * Throws RecordIntegrityError unless `seal` authenticates `record` stored at
   * `revision`. One message per cause, never anything secret.
   */
  verify(record: KeyRingRecord, seal: Partial<RecordSeal> | undefined, revision: number): void {
    const label = `key ring ${record.tenant}/${record.ring}`;
    if (!seal || typeof seal.mac !== 'string' || !Number.isSafeInteger(seal.prevRevision)) {
      throw new RecordIntegrityError(`${label} failed its integrity check: the stored record carries no authentication tag (written outside the keystore, or its tag was stripped)`);
    }
    const got = Buffer.from(seal.mac, 'base64');
    const want = this.#tag(record, seal.prevRevision!);
    if (got.length !== want.length || !timingSafeEqual(got, want)) {
      throw new RecordIntegrityError(`${label} failed its integrity check: the stored record was changed outside the keystore`);
    }
    if (!(seal.prevRevision! < revision)) {
      throw new RecordIntegrityError(`${label} failed its integrity check: it was written over revision ${seal.prevRevision} but is stored at revision ${revision} (moved or restored outside the keystore)`);
    }
  }

  #tag(record: KeyRingRecord, prevRevision: number): Buffer {
    return createHmac('sha256', this.#key.exposeBytes()).update(canonicalRecord(record, prevRevision), 'utf8').digest();
  }
}

/**
 * The highest generation seen per ring: fed by the audit log at start and by
 * every record read or written since. A ring never goes back behind it.
 */
export class GenerationAnchor {
  readonly #max = new Map<string, number>();

  static key(tenant: string, ring: string): string {
    // Names cannot hold "/" (model.ts), so the key is unambiguous.
    return `${tenant}/${ring}`;
  }

  get(tenant: string, ring: string): number | undefined {
    return this.#max.get(GenerationAnchor.key(tenant, ring));
  }

  /** Raises the anchor (never lowers it). */
  note(tenant: string, ring: string, generation: number): void {
    const k = GenerationAnchor.key(tenant, ring);
    const have = this.#max.get(k);
    if (have === undefined || generation > have) this.#max.set(k, generation);
  }

  /**
   * Throws RecordRollbackError when `generation` is behind `floor`, the anchor
   * as it was before the record was read (a read that started after a write
   * finished must return that write or a later one).
   */
  static check(record: KeyRingRecord, floor: number | undefined): void {
    if (floor !== undefined && record.generation < floor) {
      throw new RecordRollbackError(
        `key ring ${record.tenant}/${record.ring} is refused: its stored record is generation ${record.generation}, behind generation ${floor} seen before (an older copy was put back)`,
      );
    }
  }

  get size(): number {
    return this.#max.size;
  }

  /** `tenant/ring` → generation. */
  entries(): IterableIterator<[string, number]> {
    return this.#max.entries();
  }

  /** For the audit log's checkpoint (audit.ts AnchorState). */
  export(): Record<string, number> {
    return Object.fromEntries(this.#max);
  }

  /** Raises the anchor to a checkpoint's generations (malformed entries are ignored: the checkpoint's mac vouched for it). */
  import(generations: Record<string, number>): void {
    for (const [k, g] of Object.entries(generations ?? {})) {
      const slash = k.indexOf('/');
      if (slash > 0 && Number.isSafeInteger(g)) this.note(k.slice(0, slash), k.slice(slash + 1), g);
    }
  }
}
