// Walks every record of a KV bucket once: each key's latest value as of the
// moment the scan starts, streamed in stream order by an ordered consumer
// (deliver last per subject) rather than listed and fetched key by key.
// Values written after the start (by the scan's own caller or anyone else)
// have a higher stream sequence than the start's last one and end the walk;
// a key rewritten before the walk reaches it shows up once, at its new place,
// as long as that is not past the start.
import { DeliverPolicy, type JetStreamClient, type JsMsg } from 'nats';
import { RecordStoreUnavailableError } from './errors.js';

export interface ScannedEntry {
  readonly key: string;
  readonly value: Uint8Array;
  readonly revision: number;
}

export interface ScanOptions {
  /** Entries visited at the same time. Default 16. */
  readonly concurrency?: number;
  /** Messages per pull. Default 256. */
  readonly batch?: number;
}

export interface ScanStart {
  /** Live entries plus delete markers in the bucket's stream at the start: an upper bound on the records the walk visits. */
  readonly estimatedRecords: number;
}

const KV_OPERATION = 'KV-Operation';

/**
 * Calls `visit` for each live key of `bucket` (deleted and purged keys are
 * skipped), at most `concurrency` at once, and resolves when every visit has
 * settled. A visit that throws stops the walk and the error is rethrown.
 */
export async function scanBucket(
  js: JetStreamClient,
  bucket: string,
  visit: (entry: ScannedEntry) => Promise<void>,
  opts: ScanOptions & { onStart?: (start: ScanStart) => void } = {},
): Promise<void> {
  const stream = `KV_${bucket}`;
  const prefix = `$KV.${bucket}.`;
  const concurrency = Math.max(1, opts.concurrency ?? 16);
  const batch = Math.max(1, opts.batch ?? 256);
  let lastAtStart: number;
  let consumer;
  try {
    const info = await (await js.streams.get(stream)).info();
    lastAtStart = info.state.last_seq;
    opts.onStart?.({ estimatedRecords: info.state.messages });
    if (info.state.messages === 0) return;
    consumer = await js.consumers.get(stream, { filterSubjects: `${prefix}>`, deliver_policy: DeliverPolicy.LastPerSubject });
  } catch (err) {
    throw new RecordStoreUnavailableError(`cannot read bucket ${bucket}`, { cause: err });
  }

  const inFlight = new Set<Promise<void>>();
  let failure: { err: unknown } | undefined;
  const start = (entry: ScannedEntry): void => {
    const p = visit(entry).then(
      () => void inFlight.delete(p),
      (err: unknown) => {
        inFlight.delete(p);
        failure ??= { err };
      },
    );
    inFlight.add(p);
  };

  let done = false;
  while (!done && !failure) {
    let messages;
    try {
      messages = await consumer.fetch({ max_messages: batch, expires: 2000 });
    } catch (err) {
      throw new RecordStoreUnavailableError(`cannot read bucket ${bucket}`, { cause: err });
    }
    let got = 0;
    for await (const m of messages) {
      got++;
      if (m.seq > lastAtStart) {
        done = true; // written after the start: the snapshot is complete
        break;
      }
      const entry = toEntry(m, prefix);
      if (entry) {
        while (inFlight.size >= concurrency) await Promise.race(inFlight);
        if (failure) break;
        start(entry);
      }
      if (m.info.pending === 0 || m.seq === lastAtStart) {
        done = true;
        break;
      }
    }
    if (done || failure) messages.stop();
    if (got === 0) done = true; // nothing left at or below the start
  }
  await Promise.all(inFlight);
  if (failure) throw failure.err;
}

function toEntry(m: JsMsg, prefix: string): ScannedEntry | undefined {
  const op = m.headers?.get(KV_OPERATION);
  if (op === 'DEL' || op === 'PURGE') return undefined;
  return { key: m.subject.slice(prefix.length), value: m.data, revision: m.seq };
}
