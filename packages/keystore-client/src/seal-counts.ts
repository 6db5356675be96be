// Seal counts per (tenant, ring, version), reported to the keystore, whose
// rotation policy rotates an alg 1 ring once its primary reaches the envelope
// budget (96-bit random nonces, envelope-v1.md §2; issue 18 item 3).
//
// What is counted: each time a provider hands out a ring's primary to seal
// with (KeystoreKeyProvider counts its primaryKey and cachedPrimaryKey). The
// FieldCipher asks once per message and ring, so one count is one sealed
// message under that ring: a message holding k sensitive fields of one ring
// is k envelopes. Set the budget accordingly (see the keystore README), or
// count exactly with `count(ref, material, n)` where the number is known.
// The cipher also asks for every ring of a message type that it finds cached,
// used or not: counts err high, which rotates early, never late.
import { Metadata, status, type ChannelCredentials, type ChannelOptions, type ServiceError } from '@grpc/grpc-js';
import type { KeyRingRef, KeyVersionMaterial } from '@fle/field-crypto';
import { KeystoreServiceClient } from '@fle/schema/gen/fle/keystore/v1/keystore.js';
import { DEFAULT_CHANNEL_OPTIONS } from './grpc-fetcher.js';

/** Seals under one version not yet reported. */
export interface PendingSeals {
  tenant: string;
  ring: string;
  version: number;
  seals: number;
}

interface Entry extends PendingSeals {}

/**
 * Counts seals without building a string per seal: entries are keyed by the
 * material object, which a cache hands out unchanged for as long as it keeps
 * a version (a refetch starts a new entry; `drain` merges them).
 */
export class SealCounter {
  #byMaterial = new Map<KeyVersionMaterial, Entry>();
  #total = 0;

  count(ref: KeyRingRef, material: KeyVersionMaterial, n = 1): void {
    let e = this.#byMaterial.get(material);
    if (e === undefined) this.#byMaterial.set(material, (e = { tenant: ref.tenant, ring: ref.ring, version: material.version, seals: 0 }));
    e.seals += n;
    this.#total += n;
  }

  /** Seals counted since this counter was made (reported or not). */
  get total(): number {
    return this.#total;
  }

  /** Takes everything not yet reported, merged per (tenant, ring, version). */
  drain(): PendingSeals[] {
    const merged = new Map<string, PendingSeals>();
    for (const e of this.#byMaterial.values()) {
      if (e.seals === 0) continue;
      const k = JSON.stringify([e.tenant, e.ring, e.version]);
      const m = merged.get(k);
      if (m) m.seals += e.seals;
      else merged.set(k, { ...e });
    }
    this.#byMaterial = new Map();
    return [...merged.values()];
  }

  /** Puts back counts whose report failed, to go with the next one. */
  restore(items: readonly PendingSeals[]): void {
    for (const it of items) {
      // A fresh object as key: merged with the live entries at the next drain.
      this.#byMaterial.set({ version: it.version } as KeyVersionMaterial, { ...it });
    }
  }
}

export interface SealReporterOptions {
  address: string;
  credentials: ChannelCredentials;
  channelOptions?: ChannelOptions;
  /** How often counts are reported. Default 60 000 ms. */
  intervalMs?: number;
  /** Deadline of one report. Default 5000 ms. */
  rpcTimeoutMs?: number;
  /** A report that failed (counts kept for the next one unless the keystore refused them for good). */
  onError?: (err: Error, ring: { tenant: string; ring: string }) => void;
}

export interface SealReportStats {
  /** Seals the keystore accepted. */
  reported: number;
  /** Reports that failed and were kept for the next attempt. */
  retried: number;
  /** Seals dropped because the keystore refused them for good (PERMISSION_DENIED, NOT_FOUND, INVALID_ARGUMENT, UNIMPLEMENTED). */
  dropped: number;
}

/** Versions per ReportSealCounts request (the keystore's limit). */
const MAX_VERSIONS_PER_REPORT = 16;

/** Statuses after which retrying the same counts cannot succeed. */
const FINAL = new Set<number>([status.PERMISSION_DENIED, status.UNAUTHENTICATED, status.NOT_FOUND, status.INVALID_ARGUMENT, status.UNIMPLEMENTED]);

/** Reports a SealCounter's counts to the keystore (ReportSealCounts, one request per ring). */
export class SealReporter {
  readonly #counter: SealCounter;
  readonly #client: KeystoreServiceClient;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #onError: SealReporterOptions['onError'];
  readonly #stats: SealReportStats = { reported: 0, retried: 0, dropped: 0 };
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;

  constructor(counter: SealCounter, opts: SealReporterOptions) {
    this.#counter = counter;
    this.#client = new KeystoreServiceClient(opts.address, opts.credentials, { ...DEFAULT_CHANNEL_OPTIONS, ...opts.channelOptions });
    this.#intervalMs = opts.intervalMs ?? 60_000;
    if (!Number.isFinite(this.#intervalMs) || this.#intervalMs <= 0) throw new RangeError('sealReports.intervalMs must be a positive number of milliseconds');
    this.#timeoutMs = opts.rpcTimeoutMs ?? 5000;
    this.#onError = opts.onError;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.flush(), this.#intervalMs);
    this.#timer.unref(); // reporting never keeps a process alive
  }

  stats(): SealReportStats {
    return { ...this.#stats };
  }

  /** Reports what is counted now (one flush at a time; a second caller waits for the running one, then runs). */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    this.#flushing = this.#send().finally(() => (this.#flushing = undefined));
    return this.#flushing;
  }

  /** Stops the timer and closes the channel (unreported counts are lost: call flush first). */
  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#client.close();
  }

  async #send(): Promise<void> {
    const byRing = new Map<string, PendingSeals[]>();
    for (const p of this.#counter.drain()) {
      const k = JSON.stringify([p.tenant, p.ring]);
      const list = byRing.get(k);
      if (list) list.push(p);
      else byRing.set(k, [p]);
    }
    for (const items of byRing.values()) {
      for (let i = 0; i < items.length; i += MAX_VERSIONS_PER_REPORT) {
        const chunk = items.slice(i, i + MAX_VERSIONS_PER_REPORT);
        const { tenant, ring } = chunk[0]!;
        const seals = chunk.reduce((s, c) => s + c.seals, 0);
        try {
          await this.#report(tenant, ring, chunk);
          this.#stats.reported += seals;
        } catch (err) {
          const e = err as ServiceError;
          if (FINAL.has(e.code)) this.#stats.dropped += seals;
          else {
            this.#counter.restore(chunk);
            this.#stats.retried++;
          }
          this.#onError?.(new Error(`seal count report for ${tenant}/${ring} failed: ${status[e.code] ?? e.code}: ${e.details ?? e.message}`, { cause: err }), { tenant, ring });
        }
      }
    }
  }

  #report(tenant: string, ring: string, chunk: PendingSeals[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#client.reportSealCounts(
        { tenant, ring, counts: chunk.map((c) => ({ version: c.version, seals: c.seals })) },
        new Metadata(),
        { deadline: Date.now() + this.#timeoutMs },
        (err) => (err ? reject(err) : resolve()),
      );
    });
  }
}
