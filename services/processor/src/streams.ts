// The JetStream objects the processor uses, created if missing (the processor's
// NATS permissions allow exactly these; nats-setup/src/permissions.ts):
// - FLE_REQUESTS on `fle.js.>`: work-queue retention, so an acked request is
//   removed and only in-flight ciphertext is ever on disk;
// - FLE_DLQ on `fle.dlq.>`: limits retention, kept for inspection and re-drive;
// - the durable pull consumer every processor instance shares.
// Both streams get their share of the JetStream budget (@fle/nats-setup
// storage-budget.ts: byte, message and size limits; discard new for requests,
// old for dead letters). Existing streams/consumers are left as they are
// (operators may tune them), except that a stream without limits gets them.
import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, nanos, type DiscardPolicy, type JetStreamManager, type StreamConfig } from 'nats';
import { JETSTREAM_BUDGET, applyStreamBudget, streamLimits, type StreamBudget } from '@fle/nats-setup';
import { STREAM_NAMES, SUBJECT_PREFIX } from '@fle/service-kit';

export interface StreamSetupOptions {
  readonly durable: string;
  readonly ackWaitMs: number;
  /** Unacked messages one consumer may have out, across all instances. */
  readonly maxAckPending?: number;
  /** Dead letters are kept this long (default 14 days). */
  readonly deadLetterMaxAgeMs?: number;
}

function notFound(err: unknown): boolean {
  const code = (err as { api_error?: { err_code?: number }; code?: string }).api_error?.err_code;
  return code === 10059 || code === 10014 || (err as { code?: string }).code === '404';
}

function limitsOf(b: StreamBudget): Partial<StreamConfig> {
  const l = streamLimits(b);
  return { ...l, discard: l.discard as DiscardPolicy };
}

async function ensureStream(jsm: JetStreamManager, cfg: Partial<StreamConfig> & { name: string }, budget: StreamBudget): Promise<void> {
  try {
    await jsm.streams.info(cfg.name);
    await applyStreamBudget(jsm, budget);
  } catch (err) {
    if (!notFound(err)) throw err;
    try {
      await jsm.streams.add(cfg);
    } catch (addErr) {
      // Another instance created it meanwhile.
      await jsm.streams.info(cfg.name).catch(() => {
        throw addErr;
      });
    }
  }
}

export async function ensureStreams(jsm: JetStreamManager, opts: StreamSetupOptions): Promise<void> {
  await ensureStream(jsm, {
    name: STREAM_NAMES.requests,
    subjects: [`${SUBJECT_PREFIX.js}.>`],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    // Longer than a replay stamp stays acceptable (2 × 60 s + skew): the deduplication is the replay guard (docs/replay.md).
    duplicate_window: nanos(150_000),
    ...limitsOf(JETSTREAM_BUDGET.requests),
  }, JETSTREAM_BUDGET.requests);
  await ensureStream(jsm, {
    name: STREAM_NAMES.deadLetters,
    subjects: [`${SUBJECT_PREFIX.dlq}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(opts.deadLetterMaxAgeMs ?? 14 * 86_400_000),
    duplicate_window: nanos(120_000),
    ...limitsOf(JETSTREAM_BUDGET.deadLetters),
  }, JETSTREAM_BUDGET.deadLetters);
  try {
    await jsm.consumers.info(STREAM_NAMES.requests, opts.durable);
  } catch (err) {
    if (!notFound(err)) throw err;
    await jsm.consumers
      .add(STREAM_NAMES.requests, {
        durable_name: opts.durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(opts.ackWaitMs),
        // Unlimited: the processor itself dead-letters after maxAttempts, so the
        // server never silently stops redelivering a message.
        max_deliver: -1,
        max_ack_pending: opts.maxAckPending ?? 1000,
        filter_subject: `${SUBJECT_PREFIX.js}.>`,
      })
      .catch(async (addErr: unknown) => {
        await jsm.consumers.info(STREAM_NAMES.requests, opts.durable).catch(() => {
          throw addErr;
        });
      });
  }
}
