// Traffic for the fault drills (issue 6 item 2): requests published straight
// to JetStream the way the gateway does (as the gateway identity), each with a
// message id equal to its request nonce so that a retried publish is stored
// once; and the bookkeeping that checks "nothing accepted is lost, no effect
// twice" against the records the processor stores per nonce.
import { status } from '@grpc/grpc-js';
import type { FieldCipher } from '@fle/field-crypto';
import { AuthorizeRequest } from '@fle-examples/payments/gen/acme/payments/v1/payments.js';
import { stampToHeaders } from '@fle/service-kit';
import { headers as natsHeaders, type NatsConnection } from 'nats';
import type { AuthorizationLedger, DeadLetter } from './jetstream-watch.js';
import { AUTHORIZE_PATH, sealedRequest, type CallOutcome, type SealedRequest } from './reliability-stack.js';

export interface Publication {
  readonly request: SealedRequest;
  /** The stream acknowledged it: from here on it must be processed exactly once. */
  acked: boolean;
  /** When the stream acknowledged it (ms since epoch). */
  ackedAt?: number;
  attempts: number;
}

/**
 * Publishes a sealed request to `fle.js.<tenant>.authorize` and retries the
 * same message (same Nats-Msg-Id) until the stream acknowledges it or
 * `deadlineMs` passes: a producer that does not give up on a failover.
 */
export async function publishReliably(nc: NatsConnection, request: SealedRequest, deadlineMs: number): Promise<Publication> {
  const pub: Publication = { request, acked: false, attempts: 0 };
  const data = AuthorizeRequest.encode(request.sealed).finish();
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    pub.attempts++;
    const h = natsHeaders();
    stampToHeaders(request.stamp, h);
    h.set('Fle-Method', AUTHORIZE_PATH);
    try {
      await nc.jetstream().publish(`fle.js.${request.request.tenantId}.authorize`, data, { headers: h, msgID: request.stamp.nonce, timeout: 2000 });
      pub.acked = true;
      pub.ackedAt = Date.now();
      return pub;
    } catch {
      await new Promise((r) => setTimeout(r, 150));
    }
  }
  return pub;
}

/** `count` sealed requests for `tenant`. */
export function sealMany(cipher: FieldCipher, count: number, tenant = 't1'): Promise<SealedRequest[]> {
  return Promise.all(Array.from({ length: count }, () => sealedRequest(cipher, tenant)));
}

/** Runs `fn` over `items` with at most `width` at a time, in order of start. */
export async function inWaves<T, R>(items: readonly T[], width: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!, i);
    }),
  );
  return out;
}

/**
 * Statuses a caller may see while a part of the system is down: the request
 * was not accepted or its answer did not arrive in time. Anything else
 * (INTERNAL, UNKNOWN, INVALID_ARGUMENT...) during a fault is a bug.
 */
export const TRANSIENT_STATUSES: readonly number[] = [status.UNAVAILABLE, status.DEADLINE_EXCEEDED];

export function isTransientRefusal(o: CallOutcome<unknown>): boolean {
  return !o.ok && TRANSIENT_STATUSES.includes(o.status);
}

export interface EffectsReport {
  /** Nonces that must have exactly one record but have none. */
  readonly lost: string[];
  /** Records written during the drill, and distinct nonces stored. */
  readonly writes: number;
  readonly stored: number;
}

/**
 * Waits (bounded) until every nonce in `mustHave` has its record, then counts
 * the bucket's writes since `writesBefore`: one write per stored nonce means no
 * effect happened twice (a second write of the same key would take a second
 * sequence even though the bucket keeps one revision).
 */
export async function settleEffects(ledger: AuthorizationLedger, tenant: string, mustHave: readonly string[], mayHave: readonly string[], writesBefore: number, timeoutMs: number): Promise<EffectsReport> {
  const until = Date.now() + timeoutMs;
  let missing = [...mustHave];
  while (missing.length > 0 && Date.now() < until) {
    missing = (await ledger.present(tenant, missing)).missing;
    if (missing.length > 0) await new Promise((r) => setTimeout(r, 200));
  }
  const all = [...new Set([...mustHave, ...mayHave])];
  const { present } = await ledger.present(tenant, all);
  return { lost: missing, writes: (await ledger.writes()) - writesBefore, stored: present.length };
}

/**
 * JetStream is at-least-once: after a server restart or a failover it may
 * redeliver requests that were already processed and acked (consumer ack
 * state not yet persisted or replicated). The processor's replay guard
 * refuses such a copy (REPLAY_NONCE: no second effect) and dead-letters it.
 * This checks that every dead letter of a drill is exactly that: a
 * replay_nonce of a request whose one record exists. Returns their number.
 */
export async function expectOnlyRedeliveredDuplicates(letters: readonly DeadLetter[], ledger: AuthorizationLedger, tenant: string): Promise<number> {
  for (const l of letters) {
    if (l.headers['Fle-Dlq-Reason'] !== 'replay_nonce') throw new Error(`unexpected dead letter ${l.headers['Fle-Dlq-Reason']} (${l.headers['Fle-Dlq-Origin']})`);
    const nonce = l.headers['Fle-Nonce'] ?? '';
    if (!(await ledger.record(tenant, nonce))) throw new Error(`dead-lettered replay ${nonce} has no record: a request was lost`);
  }
  return letters.length;
}
