// Fault drill (issue 6 item 2, issue 16): a 3-node JetStream cluster with R3
// streams, set up the way the shipped deployments do it: the processor creates
// its streams, then deploy/scripts/jetstream-replicas.ts raises FLE_REQUESTS,
// FLE_DLQ, KV_fle_nonces and KV_fle_authorizations to R3. While a fixed batch
// of requests flows, the node leading the processor's durable consumer (the
// one holding delivery and ack state) is SIGKILLed, and stays down until every
// accepted request has been processed: the survivors and the processor must
// cope on their own.
//
// Asserted, every run: every request the stream acknowledged, and every call
// answered OK, is processed, with exactly one effect (record) per nonce
// (nothing accepted lost, nothing done twice); callers see only transient
// refusals; dead letters, if any, are only redeliveries of completed requests.
//
// Two ways the failover goes (issue 16):
// - "new leader": the survivors elect a consumer leader (nats-server 2.9.10
//   takes 4-20 s here: election timeouts of 4-9 s a round);
// - "leaderless → watchdog recovered": no survivor leads the durable for
//   20 s or more. nats-server 2.9.10 does that to an R3 durable now and then
//   (a follower catching up never campaigns, fixed in 2.9.22; a stale
//   candidate's refused vote requests keep the up-to-date follower from
//   standing, fixed in 2.10.16; seen here under load): the requests stay in
//   FLE_REQUESTS, unacked, and the processor's consumer watchdog
//   (packages/boundary/src/transports/consumer-watchdog.ts) recreates the
//   durable from the stream. The second
//   test forces this path: the durable is scaled to R1 on the node about to
//   die, so the survivors cannot elect a leader for it however long they wait,
//   and the processor must recover it by itself, with the killed node down.
// Found when a CI run lost 60 requests (issue 16): with the streams R3 and
// only the consumer without a leader, the requests are still in the stream
// (work-queue retention keeps every unacked message; nothing was acked), the
// consumer is what is stuck. A natural run that took this path keeps its
// evidence under test/reliability/results/ (FLE_NATS_DEBUG=1 adds the raft
// lines that show who campaigned and who refused). A failed run says which it is: stream and
// consumer state as every node sees it, the leader timeline after the kill and
// every server and service log (test/support/cluster-diagnostics.ts), in the
// assertion message and a dump under test/reliability/results/.
//
// The guarantee checked is replication and failover: a nats-server process is
// killed, not a machine, so the page cache survives and fsync (`sync_interval`)
// is not exercised (docs/production.md "NATS cluster: losing a node").
//
// `npm run drill -- cluster --runs 20` repeats this file and tallies the
// runs (scripts/drill.ts); FLE_DRILL_REPORT names the file a run's figures go to.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JetStreamManager } from 'nats';
import { PaymentServiceService, type AuthorizeResponse } from '@fle-examples/payments/gen/acme/payments/v1/payments.js';
import { PROCESSOR_STREAMS, scaleStreams } from '../../deploy/scripts/jetstream-replicas.js';
import { LeaderTimeline, snapshotCluster, whereAreTheyVerdict, writeFailureDump, type ClusterSnapshot } from '../support/cluster-diagnostics.js';
import { AuthorizationLedger, DeadLetterWatch, withNonces } from '../support/jetstream-watch.js';
import { expectOnlyRedeliveredDuplicates, inWaves, isTransientRefusal, publishReliably, sealMany, settleEffects } from '../support/drill-traffic.js';
import { sealedRequest, settle, startReliabilityStack, waitFor, type CallOutcome, type ReliabilityStack, type SealedRequest } from '../support/reliability-stack.js';

const STREAM = 'FLE_REQUESTS';
const DURABLE = 'fle-processor';
const DIRECT = 90;
const VIA_GATEWAY = 30;
// Budgets sized for a loaded 2-core machine, far above what a healthy run takes
// (a new leader in 4-20 s; the watchdog recreates a leaderless durable 20-35 s
// after the kill). What is asserted does not depend on them: they only bound
// how long a broken run takes to fail.
/** After the traffic, how long every accepted request may take to show its one record. */
const SETTLE_MS = 120_000;
/** "new leader" runs only: if nothing has recovered by then, restart the killed node (as its StatefulSet would) and record the path as "restart". */
const RESTART_AFTER_MS = 150_000;

type Mode = 'natural' | 'leaderless';
type FailoverPath = 'new leader' | 'leaderless → watchdog recovered' | 'restart';

/** One run's figures, for scripts/drill.ts (FLE_DRILL_REPORT). */
interface RunReport {
  mode: Mode;
  path?: FailoverPath;
  victim?: string;
  accepted?: number;
  processed?: number;
  lost?: number;
  /** Effects written more than once (bucket writes beyond one per stored nonce). */
  duplicates?: number;
  /** Kill → the first request published after the kill handled by the processor. */
  recoveryMs?: number;
  /** Kill → every running node names the same new consumer leader (undefined: none within the run). */
  newLeaderMs?: number;
  watchdog?: Record<string, number>;
  /** The watchdog's log lines of this run, ms after the kill. */
  watchdogLog?: string[];
  deadLetters?: number;
  restarted?: boolean;
  /** A replica that did not catch up after the restart, and so was restarted once more (see converge). */
  stuckReplica?: string;
  /** Where a natural run that did not simply find a new leader left its evidence. */
  evidence?: string;
  error?: string;
}

describe('drill: 3-node JetStream cluster, R3 streams, one node killed mid-stream', () => {
  let stack: ReliabilityStack;
  let ledger: AuthorizationLedger;
  let jsm: JetStreamManager;
  const reports: RunReport[] = [];

  beforeAll(async () => {
    stack = await startReliabilityStack({
      natsNodes: 3,
      transports: ['jetstream'],
      routeTimeoutMs: 15_000,
      processor: { core: false, concurrency: 8, jetstream: { ackWaitMs: 3000, nakBaseMs: 200, nakMaxMs: 1000, maxAttempts: 30 } },
    });
    const asProcessor = await stack.connect('processor');
    jsm = await asProcessor.jetstreamManager();
    await waitFor('streams at R3', async () => ((await scaleStreams(jsm, PROCESSOR_STREAMS, 3)).done ? true : undefined), 30_000, 500);
    await stack.nats.waitForJetStream(30_000);
    ledger = await AuthorizationLedger.open(asProcessor);
  });

  afterAll(async () => {
    const out = process.env['FLE_DRILL_REPORT'];
    if (out) writeFileSync(out, JSON.stringify(reports, null, 2));
    await stack?.stop();
  });

  it('loses nothing accepted and does nothing twice when a node dies', { timeout: 420_000 }, async () => {
    await drill('natural', reports);
  });

  it('recovers a durable left leaderless by itself, with the killed node still down (forced path)', { timeout: 420_000 }, async () => {
    await drill('leaderless', reports);
  });

  async function drill(mode: Mode, out: RunReport[]): Promise<void> {
    const report: RunReport = { mode };
    out.push(report);
    try {
      await drillOnce(mode, report);
    } catch (err) {
      report.error = (err as Error).message.split('\n')[0];
      throw err;
    }
  }

  async function drillOnce(mode: Mode, report: RunReport): Promise<void> {
    for (const s of PROCESSOR_STREAMS) expect((await jsm.streams.info(s)).config.num_replicas, s).toBe(3);
    // Natural: an R3 consumer with a leader and two current followers (its raft
    // group may still be settling after the scale-up or the previous run), so a
    // follower can take over. Forced: a leader is all it needs, since it scales
    // the durable to R1 on it next. (After the natural run, nats-server 2.9.10
    // sometimes leaves the restarted node's consumer follower retrying its
    // catch-up for minutes: "Expected first catchup entry to be a snapshot and
    // peerstate, will retry"; more often the faster the processor acks while
    // the node is down.)
    const followersNeeded = mode === 'natural' ? 2 : 0;
    let consumer = await waitFor(`consumer leader and ${followersNeeded} current followers`, async () => {
      const c = await jsm.consumers.info(STREAM, DURABLE).catch(() => undefined);
      const followers = (c?.cluster?.replicas ?? []).filter((r) => r.current && r.name !== c?.cluster?.leader);
      return c?.cluster?.leader && followers.length >= followersNeeded ? c : undefined;
    }, 60_000, 250);
    if (mode === 'leaderless') {
      // Forced: the durable keeps its state but lives only on its leader, the node about to die.
      await jsm.consumers.update(STREAM, DURABLE, { num_replicas: 1 });
      consumer = await waitFor('durable at R1', async () => {
        const c = await jsm.consumers.info(STREAM, DURABLE).catch(() => undefined);
        return c?.cluster?.leader && (c.cluster.replicas ?? []).length === 0 ? c : undefined;
      }, 20_000, 200);
    }
    const victimName = consumer.cluster?.leader ?? '';
    const victim = Number(/^fle-nats-(\d)$/.exec(victimName)?.[1]);
    expect(Number.isInteger(victim)).toBe(true);
    report.victim = victimName;
    const recoveriesBefore = await watchdogSteps();

    const asGateway = await stack.connect('gateway');
    const writesBefore = await ledger.writes();
    const direct = await sealMany(stack.cipher, DIRECT);
    const viaGateway = await sealMany(stack.cipher, VIA_GATEWAY);
    // Paced (at least 1.8 s of publishing), so the kill lands mid-stream however fast the processor drains.
    const paced = <T, R>(items: readonly T[], fn: (x: T) => Promise<R>) =>
      inWaves(items, 3, async (x) => {
        await new Promise((r) => setTimeout(r, 60));
        return fn(x);
      });
    let ackedDirect = 0;
    const directRun = paced(direct, async (r) => {
      const p = await publishReliably(asGateway, r, 60_000);
      if (p.acked) ackedDirect++;
      return p;
    });
    const callRun: Promise<Array<CallOutcome<AuthorizeResponse>>> = paced(viaGateway, (r: SealedRequest) =>
      settle(stack.clients.jetstream!.fle.callRaw(PaymentServiceService.authorize, r.sealed, r.stamp, 25_000)),
    );

    const directNonces = direct.map((r) => r.stamp.nonce);
    const allNonces = [...directNonces, ...viaGateway.map((r) => r.stamp.nonce)];
    // By the producer's progress, not by records stored: on a loaded machine the
    // ledger query alone can outlast the remaining traffic (the kill then found
    // everything done). A record stored shows the consumer is delivering.
    await waitFor('traffic under way', async () => (ackedDirect >= DIRECT / 4 ? true : undefined), 20_000, 10);
    await waitFor('processing under way', async () => ((await ledger.present('t1', directNonces)).present.length > 0 ? true : undefined), 20_000, 20);
    const lastSeqAtKill = (await jsm.streams.info(STREAM)).state.last_seq;
    await stack.nats.killNode(victim);
    const killedAt = Date.now();
    const timeline = new LeaderTimeline(stack.nats, victimName, killedAt, STREAM, DURABLE);
    const snapshots: ClusterSnapshot[] = [];
    let restarted = false;
    // Only a "natural" run may fall back to a restart, and only long after the watchdog should have recovered.
    const fallback =
      mode === 'natural'
        ? setTimeout(() => {
            restarted = true;
            void snapshotCluster(stack.nats, jsm, STREAM, DURABLE).then((s) => snapshots.push(s));
            void stack.nats.restartNode(victim, 120_000).catch(() => undefined);
          }, RESTART_AFTER_MS)
        : undefined;
    const storedAtKill = new Set((await ledger.present('t1', allNonces)).present);

    try {
      const [published, calls] = await Promise.all([directRun, callRun]);
      // Really mid-stream: the stream acknowledged publishes on both sides of the kill.
      expect(published.some((p) => p.ackedAt !== undefined && p.ackedAt < killedAt)).toBe(true);
      expect(published.some((p) => p.ackedAt !== undefined && p.ackedAt > killedAt)).toBe(true);
      expect(published.filter((p) => !p.acked)).toEqual([]); // the producer got everything in across the failover
      for (const o of calls) if (!o.ok) expect(isTransientRefusal(o), `${o.status} ${o.code} ${o.details}`).toBe(true);
      const okCalls = viaGateway.filter((_, i) => calls[i]!.ok).map((r) => r.stamp.nonce);
      expect(okCalls.length).toBeGreaterThan(0);
      const accepted = [...directNonces, ...okCalls];
      report.accepted = accepted.length;

      const effects = await settleEffects(ledger, 't1', accepted, allNonces, writesBefore, SETTLE_MS);
      clearTimeout(fallback);
      await timeline.stop();
      const steps = diffSteps(recoveriesBefore, await watchdogSteps());
      report.lost = effects.lost.length;
      report.processed = accepted.length - effects.lost.length;
      report.duplicates = effects.writes - effects.stored;
      report.restarted = restarted;
      report.watchdog = steps;
      report.newLeaderMs = timeline.newLeaderAfterMs();
      report.recoveryMs = firstHandledAfter(stack.processor.logs(), lastSeqAtKill, killedAt);
      report.watchdogLog = watchdogLines(stack.processor.logs(), killedAt);
      report.path = restarted ? 'restart' : (steps['recreate ok'] ?? 0) > 0 ? 'leaderless → watchdog recovered' : 'new leader';

      if (effects.lost.length > 0 || effects.writes !== effects.stored) {
        const snap = await snapshotCluster(stack.nats, jsm, STREAM, DURABLE);
        const opened = new Set((await stack.processor.digests()).map((d) => d.nonce));
        const dump = writeFailureDump({
          label: `cluster-drill-${mode}`,
          snapshots: [...snapshots, snap],
          facts: {
            mode,
            victim: victimName,
            lost: effects.lost.length,
            // Work queue: FLE_REQUESTS holds exactly the unacked requests.
            where: whereAreTheyVerdict(snap, effects.lost.length),
            lostButOpenedByTheProcessor: effects.lost.filter((n) => opened.has(n)).length,
            writes: effects.writes,
            stored: effects.stored,
            restarted,
            watchdog: steps,
            leaderTimeline: timeline.samples,
          },
          logs: await allLogs(),
        });
        expect(effects.lost, dump.summary).toEqual([]);
        expect(effects.writes, `an effect was written twice\n${dump.summary}`).toBe(effects.stored);
      }
      if (mode === 'natural' && report.path !== 'new leader') {
        // nats-server took the leaderless path by itself: keep the evidence (each node's view, the leader timeline, the logs; FLE_NATS_DEBUG=1 adds the raft lines).
        const snap = await snapshotCluster(stack.nats, jsm, STREAM, DURABLE);
        report.evidence = writeFailureDump({ label: 'cluster-drill-natural-leaderless', snapshots: [...snapshots, snap], facts: { victim: victimName, watchdog: steps, restarted, leaderTimeline: timeline.samples }, logs: await allLogs() }).path;
      }
      if (mode === 'leaderless') {
        // The forced path really was leaderless, and the processor, not a restart, brought the durable back.
        expect(restarted).toBe(false);
        expect(steps['recreate ok'] ?? 0, JSON.stringify(steps)).toBeGreaterThanOrEqual(1);
      }

      // The killed node comes back (as its StatefulSet would restart it) and the cluster converges.
      // A loaded machine can take a while to bring the restarted replicas current.
      await converge(report, restarted ? undefined : victim);
      await waitFor('empty work queue', async () => ((await jsm.streams.info(STREAM).catch(() => undefined))?.state.messages === 0 ? true : undefined), 60_000, 250);

      // Dead letters of this batch, read afresh from the current FLE_DLQ leader: only redeliveries of completed requests.
      const letters = withNonces(await DeadLetterWatch.readAll(await stack.connect('admin')), new Set(allNonces));
      report.deadLetters = letters.length;
      await expectOnlyRedeliveredDuplicates(letters, ledger, 't1');
      for (const l of letters) expect(storedAtKill.has(l.headers['Fle-Nonce']!), 'a dead-lettered request had not completed before the kill').toBe(true);

      // Every node serves new requests end to end.
      const after = await sealedRequest(stack.cipher);
      expect((await stack.clients.jetstream!.authorize(after.request)).approved).toBe(true);
      for (const p of stack.processes()) expect(p.alive(), p.name).toBe(true);
    } finally {
      clearTimeout(fallback);
      await timeline.stop();
    }
  }

  /**
   * Every replica of every stream current again once the killed node is back.
   * nats-server 2.9.10 sometimes leaves a replica on the restarted node
   * retrying its catch-up of a stream written to while it was down (its
   * leader "does not see" it current) for minutes, whatever the clients do
   * (1 of 3 runs at 261f313, before this drill's traffic changed): as its
   * StatefulSet would on a failed readiness probe, that node is restarted
   * once more, and the run says so. A second stall fails the drill.
   */
  async function converge(report: RunReport, restart: number | undefined): Promise<void> {
    try {
      if (restart === undefined) await stack.nats.waitForJetStream(90_000);
      else await stack.nats.restartNode(restart, 90_000);
      return;
    } catch (err) {
      const message = (err as Error).message;
      const stuck = /does not see fle-nats-(\d) current/.exec(message)?.[1];
      if (stuck === undefined) throw err;
      report.stuckReplica = message;
      await stack.nats.killNode(Number(stuck));
      await stack.nats.restartNode(Number(stuck), 120_000);
    }
  }

  /** Watchdog steps so far, from the processor's metrics: "<step> <result>" → count. */
  async function watchdogSteps(): Promise<Record<string, number>> {
    const text = await (await fetch(stack.processor.metricsUrl)).text();
    const out: Record<string, number> = {};
    for (const m of text.matchAll(/^fle_jetstream_consumer_recoveries_total\{([^}]*)\} (\d+)/gm)) {
      const step = /step="([^"]+)"/.exec(m[1]!)?.[1];
      const result = /result="([^"]+)"/.exec(m[1]!)?.[1];
      out[`${step} ${result}`] = Number(m[2]);
    }
    return out;
  }

  async function allLogs(): Promise<Record<string, string>> {
    const logs: Record<string, string> = {};
    for (const [i, n] of stack.nats.nodeViews().entries()) logs[n.name] = (await stack.nats.serverLog(i)) ?? '(not kept by this provider)';
    for (const [i, p] of stack.processes().entries()) logs[`${p.name}-${i}`] = p.logs();
    return logs;
  }
});

function diffSteps(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) out[k] = v - (before[k] ?? 0);
  return out;
}

/** "+<ms after the kill> <message> <step/trouble>" for each watchdog line logged since the kill. */
function watchdogLines(processorLogs: string, killedAt: number): string[] {
  const out: string[] = [];
  for (const line of processorLogs.split('\n')) {
    if (!line.includes('consumer watchdog')) continue;
    try {
      const l = JSON.parse(line) as { time: number; msg: string; step?: string; trouble?: string; reason?: string };
      if (l.time >= killedAt) out.push(`+${l.time - killedAt} ms ${l.msg}${l.step || l.trouble ? ` (${l.step ?? l.trouble})` : ''}${l.reason ? `: ${l.reason}` : ''}`);
    } catch {
      // not a JSON log line
    }
  }
  return out;
}

/** Kill → the first "request handled" line (pino `time`) of a request stored after the kill (stream sequence above `lastSeq`). */
function firstHandledAfter(processorLogs: string, lastSeq: number, killedAt: number): number | undefined {
  let first: number | undefined;
  for (const line of processorLogs.split('\n')) {
    if (!line.includes('"request handled"')) continue;
    try {
      const l = JSON.parse(line) as { time?: number; origin?: string };
      const seq = Number(/^js:[^:]+:(\d+)$/.exec(l.origin ?? '')?.[1]);
      if (seq > lastSeq && l.time !== undefined && (first === undefined || l.time < first)) first = l.time;
    } catch {
      // not a JSON log line
    }
  }
  return first === undefined ? undefined : first - killedAt;
}
