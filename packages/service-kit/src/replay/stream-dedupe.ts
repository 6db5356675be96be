// The replay guard over JetStream without a nonce store (docs/replay.md).
//
// The gateway publishes each request with `Nats-Msg-Id` = its stamp's nonce,
// so the request stream itself refuses a second copy within its duplicate
// window (the publisher gets a duplicate ack). The processor checks that a
// delivered message's id IS the nonce bound into every sealed field's AAD (so
// no one can publish a copy under a fresh id), and that the stamp is within
// the replay window of the time the stream stored the message as well as of
// now. A duplicate window longer than the whole time a stamp stays acceptable
// (2 × window, plus room for clock skew between NATS servers) leaves no
// time at which a second copy could be stored and still be accepted.
import type { JetStreamManager, JsMsg } from 'nats';
import type { Logger } from '../logger.js';
import { natsHeaderValue } from '../nats-headers.js';

/** What the replay guard needs from a JetStream delivery. */
export interface StreamDelivery {
  /** The message's `Nats-Msg-Id`, undefined when it has none. */
  readonly msgId: string | undefined;
  /** When the stream stored the message (the server's clock), unix ms. */
  readonly storedAtMs: number;
  /** How many times it has been delivered, this one included (1 = first). */
  readonly deliveries: number;
}

export const MSG_ID_HEADER = 'Nats-Msg-Id';

/** Room for clock skew between NATS servers (stored times come from whichever server led the stream). */
export const DUPLICATE_WINDOW_SKEW_MS = 30_000;

/** The shortest duplicate window that makes the stream's deduplication a replay guard: 2 × window + skew. */
export function requiredDuplicateWindowMs(replayWindowMs: number): number {
  return 2 * replayWindowMs + DUPLICATE_WINDOW_SKEW_MS;
}

export function streamDelivery(m: Pick<JsMsg, 'headers' | 'info'>): StreamDelivery {
  return {
    msgId: natsHeaderValue(m.headers, MSG_ID_HEADER) || undefined,
    storedAtMs: Math.floor(m.info.timestampNanos / 1e6),
    deliveries: m.info.redeliveryCount,
  };
}

/**
 * Makes the request stream's duplicate window at least `minMs` (raising it
 * when an existing stream has less; never lowering an operator's longer one)
 * and returns the window in force, or 0 when it cannot be read or raised:
 * then the guard claims every nonce in its store instead.
 */
export async function ensureDuplicateWindow(jsm: JetStreamManager, stream: string, minMs: number, logger: Logger): Promise<number> {
  try {
    const info = await jsm.streams.info(stream);
    const current = Math.floor((info.config.duplicate_window ?? 0) / 1e6);
    if (current >= minMs) return current;
    await jsm.streams.update(stream, { ...info.config, duplicate_window: minMs * 1e6 });
    logger.info({ stream, fromMs: current, toMs: minMs }, 'raised the request stream duplicate window to cover the replay window');
    return minMs;
  } catch (err) {
    logger.warn({ stream, err }, 'could not check or raise the request stream duplicate window: every JetStream nonce goes through the nonce store');
    return 0;
  }
}
