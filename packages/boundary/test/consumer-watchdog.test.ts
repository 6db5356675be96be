// The consumer watchdog's decisions (issue 16), with an injected clock and
// consumer info: when it calls a consumer stuck, which step it takes, how it
// escalates and backs off, when an episode ends; and what the runtime does with
// them against fake operations (steps taken, logged, counted).
import { Writable } from 'node:stream';
import { RetentionPolicy, type ConsumerConfig, type ConsumerInfo } from 'nats';
import { Registry } from 'prom-client';
import { createLogger } from '@fle/service-kit';
import { describe, expect, it } from 'vitest';
import {
  ConsumerWatchdog,
  DEFAULT_WATCHDOG_TIMING,
  WatchdogPolicy,
  classifyFailure,
  recreateStart,
  stateOf,
  type ConsumerOps,
  type ConsumerState,
  type Observation,
  type WatchdogTiming,
} from '../src/transports/consumer-watchdog.js';

const T: WatchdogTiming = { ...DEFAULT_WATCHDOG_TIMING, leaderlessAfterMs: 10_000, missingAfterMs: 5000, stallAfterMs: 30_000, escalateAfterMs: 8000, maxBackoffMs: 60_000 };

const state = (over: Partial<ConsumerState> = {}): ConsumerState => ({
  leader: 'n1',
  clustered: true,
  numPending: 0,
  numAckPending: 0,
  deliveredConsumerSeq: 10,
  ackFloorConsumerSeq: 10,
  ackFloorStreamSeq: 10,
  created: '2024-01-01T00:00:00Z',
  ...over,
});
const info = (over: Partial<ConsumerState> = {}): Observation => ({ kind: 'info', state: state(over) });
const timeout: Observation = { kind: 'failed', failure: 'timeout', detail: 'TIMEOUT' };
const notFound: Observation = { kind: 'failed', failure: 'not_found', detail: 'consumer not found' };

describe('WatchdogPolicy', () => {
  it('leaves a consumer alone that has a leader and nothing to deliver, or keeps delivering', () => {
    const p = new WatchdogPolicy(T);
    expect(p.decide(info(), 0)).toEqual({ reason: 'nothing to deliver' });
    // Work outstanding, and the delivered sequence moves every look: never a stall.
    for (let t = 0, seq = 10; t <= 300_000; t += 3000, seq++) {
      const d = p.decide(info({ numPending: 50, deliveredConsumerSeq: seq }), t);
      expect(d.trouble).toBeUndefined();
      expect(d.step).toBeUndefined();
    }
  });

  it('waits out a normal election before acting on a leaderless consumer, then resubscribes, then recreates', () => {
    const p = new WatchdogPolicy(T);
    p.decide(info({ numPending: 5 }), 0);
    expect(p.decide(timeout, 3000)).toEqual({ trouble: 'no_leader', reason: 'consumer info timeout: TIMEOUT' });
    expect(p.decide(info({ leader: undefined }), 9000)).toEqual({ trouble: 'no_leader', reason: 'consumer info names no leader' });
    // 10 s after the first leaderless look.
    const first = p.decide(timeout, 13_000);
    expect(first).toMatchObject({ trouble: 'no_leader', step: 'resubscribe' });
    // The resubscribe could not even fetch the durable's info: the recreate follows at the next look.
    p.stepTaken('resubscribe', false, 15_000);
    expect(p.decide(timeout, 17_000).step).toBe('recreate');
  });

  it('gives a step that worked time to show it before the next', () => {
    const p = new WatchdogPolicy(T);
    p.decide(timeout, 0);
    expect(p.decide(timeout, 10_000).step).toBe('resubscribe');
    p.stepTaken('resubscribe', true, 10_500);
    expect(p.decide(timeout, 12_000).step).toBeUndefined();
    expect(p.decide(timeout, 18_000).step).toBeUndefined();
    expect(p.decide(timeout, 18_500).step).toBe('recreate'); // 8 s after the resubscribe
  });

  it('a consumer that finds its leader within the wait costs nothing', () => {
    const p = new WatchdogPolicy(T);
    expect(p.decide(timeout, 0).trouble).toBe('no_leader');
    expect(p.decide(timeout, 6000).step).toBeUndefined();
    const back = p.decide(info({ leader: 'n2', numPending: 3, deliveredConsumerSeq: 11 }), 9000);
    expect(back).toMatchObject({ recovered: { afterMs: 9000, steps: 0 } });
    expect(back.trouble).toBeUndefined();
    // A later election starts a fresh episode with the full wait.
    expect(p.decide(timeout, 60_000).step).toBeUndefined();
    expect(p.decide(timeout, 69_999).step).toBeUndefined();
    expect(p.decide(timeout, 70_000).step).toBe('resubscribe');
  });

  it('repeats the recreate with a doubling backoff, capped, while the trouble lasts', () => {
    const p = new WatchdogPolicy(T);
    p.decide(timeout, 0);
    let t = 10_000;
    const steps: Array<[number, string]> = [];
    while (t <= 400_000) {
      const d = p.decide(timeout, t);
      if (d.step) {
        steps.push([t, d.step]);
        p.stepTaken(d.step, false, t);
      }
      t += 1000;
    }
    expect(steps.slice(0, 6)).toEqual([
      [10_000, 'resubscribe'],
      [11_000, 'recreate'], // the resubscribe failed: at once
      [19_000, 'recreate'], // then 8 s, 16 s, 32 s, ... between recreates
      [35_000, 'recreate'],
      [67_000, 'recreate'],
      [127_000, 'recreate'], // capped at 60 s
    ]);
    const gaps = steps.slice(1).map(([at], i) => at - steps[i]![0]);
    expect(Math.max(...gaps)).toBe(60_000);
  });

  it('recreates a missing durable (no resubscribe first) after a short wait', () => {
    const p = new WatchdogPolicy(T);
    expect(p.decide(notFound, 0)).toEqual({ trouble: 'missing', reason: 'consumer info: consumer not found' });
    expect(p.decide(notFound, 5000)).toMatchObject({ trouble: 'missing', step: 'recreate' });
  });

  it('calls a consumer with a leader stalled only when work waits and nothing moves for the stall time', () => {
    const p = new WatchdogPolicy(T);
    const stuck = info({ numPending: 60, numAckPending: 0, deliveredConsumerSeq: 40, ackFloorConsumerSeq: 40 });
    expect(p.decide(stuck, 0).trouble).toBeUndefined();
    expect(p.decide(stuck, 29_999).trouble).toBeUndefined();
    expect(p.decide(stuck, 30_000)).toMatchObject({ trouble: 'stalled', step: 'resubscribe' });
    p.stepTaken('resubscribe', true, 30_100);
    expect(p.decide(stuck, 38_100)).toMatchObject({ trouble: 'stalled', step: 'recreate' });
    p.stepTaken('recreate', true, 39_000);
    // The recreated durable delivers: the episode ends.
    const d = p.decide(info({ numPending: 59, deliveredConsumerSeq: 1, ackFloorConsumerSeq: 0, created: '2024-01-02T00:00:00Z' }), 42_000);
    expect(d.recovered).toEqual({ afterMs: 42_000, steps: 2 });
  });

  it('a slow handler or a NAK backoff longer than the floor raises the stall time', () => {
    expect(WatchdogPolicy.stallAfterMs(T, 3000, 1000)).toBe(30_000);
    expect(WatchdogPolicy.stallAfterMs(T, 30_000, 30_000)).toBe(90_000);
    expect(WatchdogPolicy.stallAfterMs(T, 5000, 40_000)).toBe(80_000);
    const p = new WatchdogPolicy(T);
    const waiting = info({ numAckPending: 1, deliveredConsumerSeq: 7, ackFloorConsumerSeq: 6 });
    p.decide(waiting, 0, 90_000);
    expect(p.decide(waiting, 60_000, 90_000).trouble).toBeUndefined();
    expect(p.decide(waiting, 90_000, 90_000).trouble).toBe('stalled');
  });

  it('resubscribes at once when the pull loop ended, even while the consumer itself is fine', () => {
    const p = new WatchdogPolicy(T);
    expect(p.decide(info(), 0).step).toBeUndefined();
    p.subscriptionEnded();
    expect(p.decide(info(), 3000)).toMatchObject({ trouble: 'subscription', step: 'resubscribe' });
    p.stepTaken('resubscribe', false, 3000);
    expect(p.decide(info(), 6000).step).toBeUndefined(); // failed: try again after the escalation wait
    expect(p.decide(info(), 11_000).step).toBe('resubscribe');
    p.stepTaken('resubscribe', true, 11_000);
    expect(p.decide(info(), 14_000)).toMatchObject({ recovered: { afterMs: 11_000, steps: 2 } });
  });

  it('judges nothing while the NATS connection is down', () => {
    const p = new WatchdogPolicy(T);
    p.decide(timeout, 0);
    expect(p.decide({ kind: 'disconnected' }, 30_000).step).toBeUndefined();
    expect(p.decide({ kind: 'disconnected' }, 60_000).step).toBeUndefined();
    // Still leaderless once connected again: act on the time it has lasted.
    expect(p.decide(timeout, 61_000).step).toBe('resubscribe');
  });

  it('does not call a single server (no raft group) leaderless', () => {
    const p = new WatchdogPolicy(T);
    expect(p.decide(info({ leader: undefined, clustered: false }), 0).trouble).toBeUndefined();
    expect(p.decide(info({ leader: undefined, clustered: false }), 60_000).trouble).toBeUndefined();
  });
});

describe('recreateStart', () => {
  it('delivers everything stored on a work queue (all of it is unacked), skips only what was acked elsewhere', () => {
    expect(recreateStart(RetentionPolicy.Workqueue, 41, 42)).toBeUndefined();
    expect(recreateStart(RetentionPolicy.Workqueue, undefined, 1)).toBeUndefined();
    expect(recreateStart(RetentionPolicy.Limits, 41, 1)).toBe(42);
    expect(recreateStart(RetentionPolicy.Interest, undefined, 17)).toBe(17);
    expect(recreateStart(RetentionPolicy.Limits, 0, 1)).toBe(1);
  });
});

describe('stateOf / classifyFailure', () => {
  const base = { num_pending: 4, num_ack_pending: 2, delivered: { consumer_seq: 9, stream_seq: 12 }, ack_floor: { consumer_seq: 7, stream_seq: 10 }, created: 'c' };
  it('reads the leader, or its absence in a raft group', () => {
    expect(stateOf({ ...base, cluster: { name: 'fle', leader: 'n2', replicas: [] } } as unknown as ConsumerInfo)).toMatchObject({ leader: 'n2', clustered: true, numPending: 4, numAckPending: 2, deliveredConsumerSeq: 9, ackFloorStreamSeq: 10 });
    expect(stateOf({ ...base, cluster: { name: 'fle', leader: '', replicas: [] } } as unknown as ConsumerInfo)).toMatchObject({ leader: undefined, clustered: true });
    expect(stateOf({ ...base, cluster: { leader: 'solo' } } as unknown as ConsumerInfo)).toMatchObject({ leader: 'solo', clustered: false });
  });
  it('sorts JetStream API failures', () => {
    expect(classifyFailure({ code: 'TIMEOUT', message: 'TIMEOUT' }).failure).toBe('timeout');
    expect(classifyFailure({ code: '503', message: '503' }).failure).toBe('unavailable');
    expect(classifyFailure({ message: 'x', api_error: { code: 503, err_code: 10008, description: 'JetStream system temporarily unavailable' } }).failure).toBe('unavailable');
    expect(classifyFailure({ message: 'x', api_error: { code: 500, err_code: 10119, description: 'consumer is offline' } }).failure).toBe('unavailable');
    expect(classifyFailure({ message: 'consumer not found', api_error: { code: 404, err_code: 10014, description: 'consumer not found' } }).failure).toBe('not_found');
    expect(classifyFailure(new Error('permissions violation')).failure).toBe('error');
  });
});

describe('ConsumerWatchdog (fake operations, injected clock)', () => {
  const config = { durable_name: 'fle-processor', ack_policy: 'explicit', ack_wait: 3_000_000_000 } as unknown as ConsumerConfig;
  const consumerInfo = { config, created: 'c1', num_pending: 0, num_ack_pending: 0, delivered: { consumer_seq: 5, stream_seq: 5 }, ack_floor: { consumer_seq: 5, stream_seq: 41 }, cluster: { leader: 'n1', replicas: [] } } as unknown as ConsumerInfo;

  function setup(script: Array<Observation | 'info'>) {
    let now = 0;
    const calls: string[] = [];
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger({ name: 't', level: 'info', destination: new Writable({ write: (c, _e, cb) => (lines.push(JSON.parse(String(c)) as Record<string, unknown>), cb()) }) });
    let i = 0;
    const ops: ConsumerOps = {
      async observe() {
        const o = script[Math.min(i++, script.length - 1)]!;
        return o === 'info' ? { observation: { kind: 'info', state: stateOf(consumerInfo) }, info: consumerInfo } : { observation: o };
      },
      async resubscribe() {
        calls.push('resubscribe');
        throw new Error('consumer info TIMEOUT');
      },
      async recreate(cfg, floor) {
        calls.push(`recreate ${cfg.durable_name} from floor ${floor}`);
        return { deliver: 'all' };
      },
    };
    const registry = new Registry();
    const wd = new ConsumerWatchdog({ stream: 'FLE_REQUESTS', durable: 'fle-processor', ops, logger, registry, nakMaxMs: 1000, timing: T, now: () => now });
    wd.seed(consumerInfo);
    return { wd, calls, lines, registry, advance: (ms: number) => (now += ms) };
  }

  it('takes the steps in order, logs each and counts them by step and result', async () => {
    const { wd, calls, lines, registry, advance } = setup([timeout]);
    for (let k = 0; k < 8; k++) {
      await wd.tick();
      advance(3000);
    }
    expect(calls).toEqual(['resubscribe', 'recreate fle-processor from floor 41']);
    const text = await registry.metrics();
    expect(text).toMatch(/fle_jetstream_consumer_recoveries_total\{step="resubscribe",result="failed"\} 1/);
    expect(text).toMatch(/fle_jetstream_consumer_recoveries_total\{step="recreate",result="ok"\} 1/);
    expect(text).toMatch(/fle_jetstream_consumer_troubles_total\{trouble="no_leader"\} 1/);
    const msgs = lines.map((l) => l['msg']);
    expect(msgs).toContain('consumer watchdog: consumer in trouble');
    expect(msgs).toContain('consumer watchdog: resubscribe failed; will escalate');
    expect(msgs).toContain('consumer watchdog: recreated the durable from the stream and re-subscribed');
  });

  it('ends the episode without a recreate when the durable answers again before the recreate is due', async () => {
    // Leaderless long enough for the resubscribe, then a leader again (a late election, or another instance's recreate).
    const script: Array<Observation | 'info'> = [...Array<Observation>(5).fill(timeout), 'info'];
    const { wd, calls, lines, registry, advance } = setup(script);
    for (let k = 0; k < 8; k++) {
      await wd.tick();
      advance(3000);
    }
    expect(calls).toEqual(['resubscribe']);
    expect(await registry.metrics()).not.toMatch(/step="recreate"/);
    expect(lines.find((l) => l['msg'] === 'consumer watchdog: consumer delivering again')).toMatchObject({ afterMs: 15_000, steps: 1 });
  });
});
