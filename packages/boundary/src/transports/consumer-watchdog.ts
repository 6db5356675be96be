// The JetStream consumer watchdog (issue 16): the processor notices by itself
// when the durable it pulls from stops delivering, and recovers without an
// operator.
//
// Why: older nats-server releases can leave an R3 consumer without a leader
// after its leader dies, for long or for good: before 2.9.22 a follower whose
// election timer fires while it is catching up never re-arms it (commit
// 2669f77), and before 2.10.16 a follower that refuses a stale candidate's
// vote still restarts its own timer (5fe8be82d), so the candidate that cannot
// win keeps the one that could from standing (seen in the cluster drill on
// 2.9.10). Meanwhile the requests stay in FLE_REQUESTS, JetStream API calls
// for the consumer time out or answer 10008/10119, and nothing is delivered.
// The client side can stall too (a pull iterator that ended, a pull parked on
// a dead node). docs/production.md "NATS cluster: losing a node".
//
// What it watches, every `checkEveryMs`: the consumer's info through the API
// (leader, pending, ack-pending, delivered and ack-floor sequences), API errors
// and timeouts, and the end of the processor's own pull loop. What it does, in
// escalating steps while the trouble lasts (each logged and counted in
// `fle_jetstream_consumer_recoveries_total{step,result}`):
//   1. `resubscribe`: re-bind to the durable (a fresh handle, its info fetched
//      through whichever node leads it now) and replace the pull subscription
//      (new inbox, new pull requests). There is no separate "rebind": nats.js
//      pulls by durable name and the server routes pulls and acks to the
//      current leader, so the pull subscription is the only client state.
//   2. `recreate`: delete the durable and create it again from the stream's
//      state, with the configuration it had (replicas: as many as the
//      stream's), so that its new raft group elects a leader among the nodes
//      that are up. Nothing unprocessed is skipped: on a work-queue stream
//      (FLE_REQUESTS) an acked message is removed, so every stored message is
//      unprocessed work and the new durable delivers all of them (JetStream
//      requires deliver-all there anyway); on another retention it starts at
//      the last ack floor seen + 1. Requests that were processed
//      but whose ack was lost come again with the same stream sequence and are
//      answered from the stored effect (replay guard: same origin = resumed;
//      the handler's record is created once per nonce), never done twice.
//      Repeated, with backoff, while the trouble lasts.
// Several processor instances each run a watchdog: a durable another instance
// has just recreated answers with a leader or shows a new creation time, which
// ends the trouble or counts as progress, so it is left alone. Were two to
// recreate at once, the cost is redeliveries, answered from stored effects.
import { AckPolicy, DeliverPolicy, RetentionPolicy, type ConsumerConfig, type ConsumerInfo, type JetStreamManager, type NatsConnection } from 'nats';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '@fle/service-kit';

export type RecoveryStep = 'resubscribe' | 'recreate';

/** What is wrong with the consumer, as the watchdog sees it. */
export type Trouble =
  /** No leader: info times out or answers "unavailable"/"offline", or names no leader. */
  | 'no_leader'
  /** The durable does not exist (deleted, or lost with its raft group). */
  | 'missing'
  /** It has a leader and work, but neither delivers nor acks anything. */
  | 'stalled'
  /** The processor's own pull loop ended (the iterator stopped). */
  | 'subscription';

/** The consumer state the decisions need, from its info. */
export interface ConsumerState {
  /** Leader's server name; undefined when a clustered consumer has none. */
  readonly leader: string | undefined;
  /** false on a single server (its info has no cluster leader to check). */
  readonly clustered: boolean;
  readonly numPending: number;
  readonly numAckPending: number;
  readonly deliveredConsumerSeq: number;
  readonly ackFloorConsumerSeq: number;
  readonly ackFloorStreamSeq: number;
  readonly created: string;
}

export type Observation =
  | { readonly kind: 'info'; readonly state: ConsumerState }
  | { readonly kind: 'failed'; readonly failure: 'timeout' | 'unavailable' | 'not_found' | 'error'; readonly detail: string }
  /** The NATS connection is down: nats.js reconnects by itself, nothing to judge. */
  | { readonly kind: 'disconnected' };

export interface WatchdogTiming {
  /** How often the consumer is looked at. */
  readonly checkEveryMs: number;
  /** Leaderless this long before the first step (2.9 raft elections take 4-9 s a round). */
  readonly leaderlessAfterMs: number;
  /** Missing this long before it is recreated (another instance may be recreating it). */
  readonly missingAfterMs: number;
  /** Work outstanding and no delivery/ack progress this long = stalled; raised to 3 × ack wait and 2 × the longest NAK delay. */
  readonly stallAfterMs: number;
  /** After a step that worked, before the next; doubles after each recreate, up to `maxBackoffMs`. A failed step escalates at the next look. */
  readonly escalateAfterMs: number;
  readonly maxBackoffMs: number;
  /** Bound on each JetStream API request the watchdog makes. */
  readonly requestTimeoutMs: number;
}

export const DEFAULT_WATCHDOG_TIMING: WatchdogTiming = {
  checkEveryMs: 2000,
  leaderlessAfterMs: 10_000,
  missingAfterMs: 5000,
  stallAfterMs: 30_000,
  escalateAfterMs: 8000,
  maxBackoffMs: 60_000,
  requestTimeoutMs: 3000,
};

export interface Decision {
  /** The trouble seen now, if any. */
  readonly trouble?: Trouble;
  /** The step to take now, if any. */
  readonly step?: RecoveryStep;
  /** The episode just ended: the consumer works again (after `steps` steps). */
  readonly recovered?: { readonly afterMs: number; readonly steps: number };
  readonly reason: string;
}

/**
 * The watchdog's decisions, without I/O: fed observations and the time, it
 * says what is wrong and which step to take. Unit-tested with an injected clock.
 */
export class WatchdogPolicy {
  #troubleSince: number | undefined;
  #trouble: Trouble | undefined;
  #steps = 0;
  #lastStepAt = 0;
  #lastStepOk = false;
  #progress: { marker: string; at: number } | undefined;
  #subscriptionEnded = false;

  constructor(private readonly timing: WatchdogTiming) {}

  /** The processor's pull loop ended on its own: resubscribe at the next look. */
  subscriptionEnded(): void {
    this.#subscriptionEnded = true;
  }

  /** A step was carried out (`ok`: without error). A resubscribe that worked clears the ended loop. */
  stepTaken(step: RecoveryStep, ok: boolean, now: number): void {
    this.#steps++;
    this.#lastStepAt = now;
    this.#lastStepOk = ok;
    if (ok) this.#subscriptionEnded = false;
    if (ok && step === 'recreate') this.#progress = undefined; // a new durable: its sequences start again
  }

  get trouble(): Trouble | undefined {
    return this.#trouble;
  }

  /** `stallAfterMs` for this consumer: at least 3 ack waits and 2 of the longest NAK delays, so a slow or backed-off message is not a stall. */
  static stallAfterMs(timing: WatchdogTiming, ackWaitMs: number, nakMaxMs: number): number {
    return Math.max(timing.stallAfterMs, 3 * ackWaitMs, 2 * nakMaxMs);
  }

  decide(obs: Observation, now: number, stallAfterMs = this.timing.stallAfterMs): Decision {
    if (obs.kind === 'disconnected') return { trouble: this.#trouble, reason: 'NATS connection down: waiting for nats.js to reconnect' };
    const seen = this.#judge(obs, now, stallAfterMs);
    if (!seen.trouble && !this.#subscriptionEnded) {
      const ended = this.#troubleSince !== undefined ? { afterMs: now - this.#troubleSince, steps: this.#steps } : undefined;
      this.#troubleSince = undefined;
      this.#trouble = undefined;
      this.#steps = 0;
      return ended ? { recovered: ended, reason: seen.reason } : { reason: seen.reason };
    }
    const trouble: Trouble = seen.trouble ?? 'subscription';
    if (this.#troubleSince === undefined || this.#trouble !== trouble) {
      // A new episode, or the trouble changed (e.g. no leader → missing after a delete): keep the steps taken, restart the clock.
      this.#troubleSince = trouble === 'stalled' ? (this.#progress?.at ?? now) : now;
    }
    this.#trouble = trouble;
    const reason = trouble === 'subscription' && !seen.trouble ? 'the pull loop ended' : seen.reason;
    const ladder: readonly RecoveryStep[] = trouble === 'missing' ? ['recreate'] : trouble === 'subscription' ? ['resubscribe'] : ['resubscribe', 'recreate'];
    const waitFirst = trouble === 'no_leader' ? this.timing.leaderlessAfterMs : trouble === 'missing' ? this.timing.missingAfterMs : trouble === 'stalled' ? stallAfterMs : 0;
    if (now - this.#troubleSince < waitFirst) return { trouble, reason };
    if (this.#steps > 0) {
      // A step that worked gets time to show it; one that failed (e.g. the resubscribe could not even fetch the
      // durable's info: no leader) leads to the next step at once. The last step repeats with a doubling backoff.
      const recreates = Math.max(0, this.#steps - (ladder.length - 1));
      const escalating = !this.#lastStepOk && this.#steps < ladder.length;
      const wait = escalating ? 0 : Math.min(this.timing.maxBackoffMs, this.timing.escalateAfterMs * 2 ** Math.max(0, recreates - 1));
      if (now - this.#lastStepAt < wait) return { trouble, reason };
    }
    const step = ladder[Math.min(this.#steps, ladder.length - 1)]!;
    return { trouble, step, reason };
  }

  #judge(obs: Exclude<Observation, { kind: 'disconnected' }>, now: number, stallAfterMs: number): { trouble?: Trouble; reason: string } {
    if (obs.kind === 'failed') {
      if (obs.failure === 'not_found') return { trouble: 'missing', reason: `consumer info: ${obs.detail}` };
      return { trouble: 'no_leader', reason: `consumer info ${obs.failure}: ${obs.detail}` };
    }
    const s = obs.state;
    if (s.clustered && !s.leader) return { trouble: 'no_leader', reason: 'consumer info names no leader' };
    const marker = `${s.created}/${s.deliveredConsumerSeq}/${s.ackFloorConsumerSeq}`;
    if (!this.#progress || this.#progress.marker !== marker) this.#progress = { marker, at: now };
    const work = s.numPending + s.numAckPending;
    if (work === 0) return { reason: 'nothing to deliver' };
    const idleMs = now - this.#progress.at;
    if (idleMs >= stallAfterMs) {
      return { trouble: 'stalled', reason: `${s.numPending} pending and ${s.numAckPending} unacked, no delivery or ack for ${idleMs} ms (leader ${s.leader ?? 'n/a'})` };
    }
    return { reason: 'delivering' };
  }
}

/** What the watchdog does to NATS: look, resubscribe, recreate. Real ones in {@link natsConsumerOps}; fakes in unit tests. */
export interface ConsumerOps {
  observe(): Promise<{ observation: Observation; info?: ConsumerInfo }>;
  resubscribe(): Promise<void>;
  /**
   * Deletes and creates the durable again from `config` (as last seen) at a
   * start that skips nothing unprocessed; resolves with where it starts.
   */
  recreate(config: ConsumerConfig, lastAckFloorStreamSeq: number | undefined): Promise<{ deliver: string; startSeq?: number }>;
}

export interface ConsumerWatchdogOptions {
  readonly stream: string;
  readonly durable: string;
  readonly ops: ConsumerOps;
  readonly logger: Logger;
  /** The service's metrics registry (`ServiceMetrics.registry`). */
  readonly registry: Registry;
  /** The transport's longest NAK delay (a backed-off message is not a stall). */
  readonly nakMaxMs: number;
  readonly timing?: Partial<WatchdogTiming>;
  readonly now?: () => number;
}

const RECOVERIES = 'fle_jetstream_consumer_recoveries_total';
const TROUBLES = 'fle_jetstream_consumer_troubles_total';

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): Counter<L> {
  return (registry.getSingleMetric(name) as Counter<L> | undefined) ?? new Counter({ name, help, labelNames, registers: [registry] });
}

/** Runs the policy on a timer against real operations; one per transport. */
export class ConsumerWatchdog {
  readonly policy: WatchdogPolicy;
  readonly timing: WatchdogTiming;
  readonly #recoveries: Counter<'step' | 'result'>;
  readonly #troubles: Counter<'trouble'>;
  readonly #now: () => number;
  #lastInfo: ConsumerInfo | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(private readonly o: ConsumerWatchdogOptions) {
    this.timing = { ...DEFAULT_WATCHDOG_TIMING, ...o.timing };
    this.policy = new WatchdogPolicy(this.timing);
    this.#now = o.now ?? Date.now;
    this.#recoveries = counter(o.registry, RECOVERIES, 'JetStream consumer recovery steps taken by the watchdog, by step (resubscribe|recreate) and result (ok|failed)', ['step', 'result']);
    this.#troubles = counter(o.registry, TROUBLES, 'JetStream consumer trouble episodes the watchdog saw, by kind (no_leader|missing|stalled|subscription)', ['trouble']);
  }

  /** Seeds what the durable looked like when the transport bound to it (the configuration a recreate copies). */
  seed(info: ConsumerInfo | undefined): void {
    if (info) this.#lastInfo = info;
  }

  start(): void {
    const loop = () => {
      if (this.#stopped) return;
      this.#running = this.tick()
        .then(() => undefined)
        .catch((err: unknown) => this.o.logger.error({ err }, 'consumer watchdog: check failed'))
        .finally(() => {
          if (!this.#stopped) this.#timer = setTimeout(loop, this.timing.checkEveryMs);
        });
    };
    this.#timer = setTimeout(loop, this.timing.checkEveryMs);
  }

  /** The pull loop ended by itself (not by stop()). */
  subscriptionEnded(): void {
    if (this.#stopped) return;
    this.o.logger.warn({ stream: this.o.stream, durable: this.o.durable }, 'consumer watchdog: the pull loop ended; resubscribing at the next check');
    this.policy.subscriptionEnded();
  }

  /** One look and, if due, one step. Public for tests. */
  async tick(): Promise<Decision> {
    const { observation, info } = await this.o.ops.observe();
    if (info) this.#lastInfo = info;
    const ackWaitMs = Math.round((this.#lastInfo?.config.ack_wait ?? 0) / 1e6);
    const before = this.policy.trouble;
    const d = this.policy.decide(observation, this.#now(), WatchdogPolicy.stallAfterMs(this.timing, ackWaitMs, this.o.nakMaxMs));
    const where = { stream: this.o.stream, durable: this.o.durable };
    if (d.trouble && d.trouble !== before) {
      this.#troubles.inc({ trouble: d.trouble });
      this.o.logger.warn({ ...where, trouble: d.trouble, reason: d.reason }, 'consumer watchdog: consumer in trouble');
    }
    if (d.recovered) this.o.logger.info({ ...where, afterMs: d.recovered.afterMs, steps: d.recovered.steps, reason: d.reason }, 'consumer watchdog: consumer delivering again');
    if (d.step && !this.#stopped) await this.#take(d.step, d, where);
    return d;
  }

  async #take(step: RecoveryStep, d: Decision, where: { stream: string; durable: string }): Promise<void> {
    const started = this.#now();
    this.o.logger.warn({ ...where, step, trouble: d.trouble, reason: d.reason }, `consumer watchdog: ${step}`);
    try {
      if (step === 'resubscribe') {
        await this.o.ops.resubscribe();
        this.o.logger.warn({ ...where, step, ms: this.#now() - started }, 'consumer watchdog: re-bound to the durable and replaced the pull subscription');
      } else {
        const known = this.#lastInfo;
        if (!known) throw new Error('no configuration of the durable seen yet to recreate it from');
        // The decision rests on this very look: still leaderless, missing, or stalled (a durable another
        // instance has just recreated shows a new `created`, which counts as progress, not as a stall).
        const at = await this.o.ops.recreate(known.config, known.ack_floor?.stream_seq);
        this.o.logger.warn({ ...where, step, ...at, ms: this.#now() - started }, 'consumer watchdog: recreated the durable from the stream and re-subscribed');
      }
      this.#recoveries.inc({ step, result: 'ok' });
      this.policy.stepTaken(step, true, this.#now());
    } catch (err) {
      this.#recoveries.inc({ step, result: 'failed' });
      this.policy.stepTaken(step, false, this.#now());
      this.o.logger.error({ ...where, step, err, ms: this.#now() - started }, `consumer watchdog: ${step} failed; will escalate`);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
  }
}

/** The decision inputs from a consumer info. */
export function stateOf(info: ConsumerInfo): ConsumerState {
  return {
    leader: info.cluster?.leader || undefined,
    // A single server reports no raft group (no `cluster.replicas`); only a clustered consumer can lack a leader.
    clustered: info.cluster !== undefined && (info.cluster.replicas !== undefined || !info.cluster.leader),
    numPending: info.num_pending,
    numAckPending: info.num_ack_pending,
    deliveredConsumerSeq: info.delivered.consumer_seq,
    ackFloorConsumerSeq: info.ack_floor.consumer_seq,
    ackFloorStreamSeq: info.ack_floor.stream_seq,
    created: info.created,
  };
}

interface MaybeApiError {
  code?: string;
  message?: string;
  api_error?: { code?: number; err_code?: number; description?: string };
}

/** How a failed JetStream API request reads to the watchdog. */
export function classifyFailure(err: unknown): { failure: 'timeout' | 'unavailable' | 'not_found' | 'error'; detail: string } {
  const e = (err ?? {}) as MaybeApiError;
  const detail = e.api_error?.description ?? e.message ?? String(err);
  const errCode = e.api_error?.err_code;
  if (errCode === 10014 || errCode === 10059 || /consumer not found/i.test(detail)) return { failure: 'not_found', detail };
  // 10008 cluster not available, 10119 consumer offline, 10118 stream offline, 503 no responders.
  if (errCode === 10008 || errCode === 10119 || errCode === 10118 || e.code === '503') return { failure: 'unavailable', detail };
  if (e.code === 'TIMEOUT' || /timeout/i.test(detail)) return { failure: 'timeout', detail };
  return { failure: 'error', detail };
}

export interface NatsConsumerOpsOptions {
  readonly nc: NatsConnection;
  readonly stream: string;
  readonly durable: string;
  /** Replaces the transport's pull subscription with a new one on a fresh handle of the durable. */
  readonly resubscribe: () => Promise<void>;
  readonly requestTimeoutMs?: number;
  /** Consumer create can wait for the new group's first leader. */
  readonly createTimeoutMs?: number;
}

/** {@link ConsumerOps} against NATS: consumer info, delete, create, each bounded. */
export async function natsConsumerOps(o: NatsConsumerOpsOptions): Promise<ConsumerOps> {
  const timeout = o.requestTimeoutMs ?? DEFAULT_WATCHDOG_TIMING.requestTimeoutMs;
  // No account-info round trip up front: the cluster may be degraded when this is made.
  const jsm: JetStreamManager = await o.nc.jetstreamManager({ timeout, checkAPI: false });
  const slowJsm: JetStreamManager = await o.nc.jetstreamManager({ timeout: o.createTimeoutMs ?? 15_000, checkAPI: false });
  let connected = true;
  void (async () => {
    for await (const s of o.nc.status()) {
      if (s.type === 'disconnect') connected = false;
      else if (s.type === 'reconnect') connected = true;
    }
  })().catch(() => undefined);

  const observe: ConsumerOps['observe'] = async () => {
    if (!connected || o.nc.isClosed()) return { observation: { kind: 'disconnected' } };
    try {
      const info = await jsm.consumers.info(o.stream, o.durable);
      return { observation: { kind: 'info', state: stateOf(info) }, info };
    } catch (err) {
      return { observation: { kind: 'failed', ...classifyFailure(err) } };
    }
  };

  return {
    observe,
    resubscribe: o.resubscribe,
    async recreate(config, lastAckFloorStreamSeq) {
      const stream = await jsm.streams.info(o.stream);
      const startSeq = recreateStart(stream.config.retention, lastAckFloorStreamSeq, stream.state.first_seq);
      try {
        await jsm.consumers.delete(o.stream, o.durable);
      } catch (err) {
        // A leaderless durable's delete is applied by the meta leader but answered by nobody: check that it is gone.
        const f = classifyFailure(err);
        if (f.failure !== 'not_found' && f.failure !== 'timeout') throw err;
      }
      await waitGone(observe, timeout);
      // Replicas as the stream's (num_replicas 0): a durable kept smaller than its stream could be placed on a dead node again.
      const { deliver_policy: _d, opt_start_seq: _s, opt_start_time: _t, num_replicas: _r, ...rest } = config;
      const fresh: Partial<ConsumerConfig> = {
        ...rest,
        durable_name: o.durable,
        ack_policy: config.ack_policy ?? AckPolicy.Explicit,
        ...(startSeq === undefined ? { deliver_policy: DeliverPolicy.All } : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startSeq }),
      };
      try {
        await slowJsm.consumers.add(o.stream, fresh);
      } catch (err) {
        // Another instance created it first, or the create was applied but its answer lost: fine if it now exists.
        const now = await observe();
        if (now.observation.kind !== 'info') throw err;
      }
      await o.resubscribe();
      return startSeq === undefined ? { deliver: 'all' } : { deliver: 'by_start_sequence', startSeq };
    },
  };
}

/**
 * Where a recreated durable starts: undefined = deliver all. Work queue:
 * everything still stored is unacked (acked = removed), and JetStream insists
 * on deliver-all there. Otherwise: after the last ack floor seen (everything at
 * or below it was acked), or from the first stored message when none was seen.
 */
export function recreateStart(retention: RetentionPolicy, lastAckFloorStreamSeq: number | undefined, firstStoredSeq: number): number | undefined {
  if (retention === RetentionPolicy.Workqueue) return undefined;
  return Math.max(1, lastAckFloorStreamSeq !== undefined ? lastAckFloorStreamSeq + 1 : firstStoredSeq);
}

/** Bounded: until consumer info says "not found" (a few tries). */
async function waitGone(observe: ConsumerOps['observe'], timeoutMs: number): Promise<void> {
  for (let i = 0; i < 5; i++) {
    const { observation } = await observe();
    if (observation.kind === 'failed' && observation.failure === 'not_found') return;
    await new Promise((r) => setTimeout(r, Math.min(1000, timeoutMs / 4)));
  }
  throw new Error('the durable is still there after deleting it');
}
