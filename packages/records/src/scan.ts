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
const PULL_EXPIRES_MS = 2000;
/** Pulls in a row that bring nothing while the stream holds more: then the server is not serving this walk. */
const MAX_IDLE_PULLS = 12;
const MAX_PULL_ERRORS = 5;

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

  // Each pull is drained into memory at once, then worked on: a pull's
  // messages that are still queued when it expires are dropped by nats.js,
  // while its ordered consumer has already moved past them.
  // `cursor` is the last stream sequence taken. A pull that brings nothing
  // ends the walk only when the stream holds nothing after the cursor: a busy
  // server, or an ordered consumer being recreated (nats.js does so on a
  // gap), also brings nothing.
  let cursor = 0;
  let idle = 0;
  let errors = 0;
  let done = false;
  while (!done && !failure) {
    const pulled: JsMsg[] = [];
    try {
      const messages = await consumer.fetch({ max_messages: batch, expires: PULL_EXPIRES_MS });
      for await (const m of messages) {
        pulled.push(m);
        // The end of the snapshot: do not wait for the pull to expire.
        if (m.info.pending === 0 || m.seq >= lastAtStart) {
          messages.stop();
          break;
        }
      }
      errors = 0;
    } catch (err) {
      if (++errors > MAX_PULL_ERRORS) throw new RecordStoreUnavailableError(`cannot read bucket ${bucket}`, { cause: err });
      await sleep(PULL_EXPIRES_MS);
      continue;
    }
    if (pulled.length === 0) {
      const state = await streamState(js, stream, bucket);
      if (state.messages === 0 || state.last_seq <= cursor) done = true;
      else if (++idle > MAX_IDLE_PULLS) throw new RecordStoreUnavailableError(`reading bucket ${bucket} stalled at stream sequence ${cursor}`);
      continue;
    }
    idle = 0;
    for (const m of pulled) {
      if (m.seq <= cursor) continue; // delivered twice (a recreated ordered consumer)
      if (m.seq > lastAtStart) {
        done = true; // written after the start: the snapshot is complete
        break;
      }
      cursor = m.seq;
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
  }
  await Promise.all(inFlight);
  if (failure) throw failure.err;
}

async function streamState(js: JetStreamClient, stream: string, bucket: string): Promise<{ messages: number; last_seq: number }> {
  try {
    return (await (await js.streams.get(stream)).info()).state;
  } catch (err) {
    throw new RecordStoreUnavailableError(`cannot read bucket ${bucket}`, { cause: err });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function toEntry(m: JsMsg, prefix: string): ScannedEntry | undefined {
  const op = m.headers?.get(KV_OPERATION);
  if (op === 'DEL' || op === 'PURGE') return undefined;
  return { key: m.subject.slice(prefix.length), value: m.data, revision: m.seq };
}
