// What a JetStream cluster holds for the processor's work, seen from every
// node (issue 16 item 1): so that a drill that finds requests unprocessed says
// whether they are still in FLE_REQUESTS (the consumer is stuck: its leader,
// ack floor, pending) or gone from the stream (the broker lost acknowledged
// writes), with each node's server log beside it.
//
// Every node is asked on its monitoring port (`/jsz`, outside client TLS and
// permissions), so a node answers with its own replica's state even while the
// consumer or the stream has no leader and JetStream API requests time out.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NatsHarness } from '@fle/testkit';
import type { JetStreamManager } from 'nats';

interface RaftGroup {
  name?: string;
  leader?: string;
  replicas?: Array<{ name: string; current: boolean; offline?: boolean; active?: number; lag?: number }>;
}

interface SequenceInfo {
  consumer_seq: number;
  stream_seq: number;
}

interface JszConsumer {
  name: string;
  delivered?: SequenceInfo;
  ack_floor?: SequenceInfo;
  num_ack_pending?: number;
  num_redelivered?: number;
  num_waiting?: number;
  num_pending?: number;
  cluster?: RaftGroup;
}

interface JszStream {
  name: string;
  state?: { messages: number; first_seq: number; last_seq: number; num_deleted?: number };
  cluster?: RaftGroup;
  consumer_detail?: JszConsumer[];
}

interface Jsz {
  meta_cluster?: RaftGroup;
  account_details?: Array<{ name: string; stream_detail?: JszStream[] }>;
}

/** One node's own view of the stream and its consumer. */
export interface NodeView {
  readonly node: string;
  readonly running: boolean;
  readonly error?: string;
  readonly metaLeader?: string;
  readonly stream?: { messages: number; firstSeq: number; lastSeq: number; leader?: string; replicas: string[] };
  readonly consumer?: {
    leader?: string;
    /** Last stream sequence handed out, and the floor below which everything is acked. */
    deliveredStreamSeq?: number;
    ackFloorStreamSeq?: number;
    numAckPending?: number;
    numPending?: number;
    numWaiting?: number;
    numRedelivered?: number;
    replicas: string[];
  };
}

export interface ClusterSnapshot {
  readonly at: string;
  readonly stream: string;
  readonly durable: string;
  /** The JetStream API's answers (through the stream and consumer leaders), or why there was none. */
  readonly api: { stream?: unknown; consumer?: unknown; streamError?: string; consumerError?: string };
  readonly nodes: NodeView[];
}

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** Where failed drills leave their full dumps (git-ignored). */
export const RESULTS_DIR = join(REPO, 'test/reliability/results');

/** Each node's view (monitoring endpoint) plus the API's, bounded in time. */
export async function snapshotCluster(nats: NatsHarness, jsm: JetStreamManager | undefined, stream: string, durable: string): Promise<ClusterSnapshot> {
  const api: ClusterSnapshot['api'] = {};
  if (jsm) {
    const bounded = <T>(p: Promise<T>) => Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no answer within 3 s')), 3000))]);
    await Promise.all([
      bounded(jsm.streams.info(stream)).then(
        (s) => void (api.stream = { state: s.state, cluster: s.cluster }),
        (e: unknown) => void (api.streamError = String((e as Error).message ?? e)),
      ),
      bounded(jsm.consumers.info(stream, durable)).then(
        (c) => void (api.consumer = { delivered: c.delivered, ack_floor: c.ack_floor, num_ack_pending: c.num_ack_pending, num_pending: c.num_pending, num_waiting: c.num_waiting, num_redelivered: c.num_redelivered, cluster: c.cluster }),
        (e: unknown) => void (api.consumerError = String((e as Error).message ?? e)),
      ),
    ]);
  }
  const nodes = await Promise.all(nats.nodeViews().map((n) => nodeView(n.name, n.running, n.monitorUrl, stream, durable)));
  return { at: new Date().toISOString(), stream, durable, api, nodes };
}

async function nodeView(node: string, running: boolean, monitorUrl: string | undefined, stream: string, durable: string): Promise<NodeView> {
  if (!running) return { node, running };
  if (!monitorUrl) return { node, running, error: 'no monitoring endpoint' };
  let jsz: Jsz;
  try {
    const res = await fetch(`${monitorUrl}/jsz?accounts=true&streams=true&consumers=true`, { signal: AbortSignal.timeout(2000) });
    jsz = (await res.json()) as Jsz;
  } catch (e) {
    return { node, running, error: (e as Error).message };
  }
  const st = jsz.account_details?.flatMap((a) => a.stream_detail ?? []).find((s) => s.name === stream);
  const c = st?.consumer_detail?.find((x) => x.name === durable);
  const names = (g?: RaftGroup) => (g?.replicas ?? []).map((r) => `${r.name}${r.current ? '' : '(behind)'}${r.offline ? '(offline)' : ''}`);
  return {
    node,
    running,
    metaLeader: jsz.meta_cluster?.leader,
    ...(st?.state
      ? { stream: { messages: st.state.messages, firstSeq: st.state.first_seq, lastSeq: st.state.last_seq, leader: st.cluster?.leader, replicas: names(st.cluster) } }
      : {}),
    ...(c
      ? {
          consumer: {
            leader: c.cluster?.leader,
            deliveredStreamSeq: c.delivered?.stream_seq,
            ackFloorStreamSeq: c.ack_floor?.stream_seq,
            numAckPending: c.num_ack_pending,
            numPending: c.num_pending,
            numWaiting: c.num_waiting,
            numRedelivered: c.num_redelivered,
            replicas: names(c.cluster),
          },
        }
      : {}),
  };
}

/**
 * Where the unprocessed requests are, from the snapshot: `in-stream` when the
 * stream (work-queue retention: it holds exactly the unacked requests) still
 * holds at least as many messages as are missing; `gone` when it holds fewer.
 */
export function whereAreTheyVerdict(snap: ClusterSnapshot, missing: number): 'in-stream' | 'gone' | 'unknown' {
  const counts = snap.nodes.map((n) => n.stream?.messages).filter((m): m is number => m !== undefined);
  const apiCount = (snap.api.stream as { state?: { messages: number } } | undefined)?.state?.messages;
  if (apiCount !== undefined) counts.push(apiCount);
  if (counts.length === 0) return 'unknown';
  return Math.max(...counts) >= missing ? 'in-stream' : 'gone';
}

/** One line per node: the state that tells a stuck consumer from a lost write. */
export function describeSnapshot(snap: ClusterSnapshot): string {
  const lines = [`cluster at ${snap.at}: ${snap.stream}/${snap.durable}`];
  const s = snap.api.stream as { state?: { messages: number; first_seq: number; last_seq: number }; cluster?: RaftGroup } | undefined;
  lines.push(s ? `  api stream: ${s.state?.messages} msgs [${s.state?.first_seq}..${s.state?.last_seq}] leader ${s.cluster?.leader}` : `  api stream: ${snap.api.streamError}`);
  const c = snap.api.consumer as { delivered?: SequenceInfo; ack_floor?: SequenceInfo; num_ack_pending?: number; num_pending?: number; cluster?: RaftGroup } | undefined;
  lines.push(
    c
      ? `  api consumer: leader ${c.cluster?.leader} delivered ${c.delivered?.stream_seq} ack floor ${c.ack_floor?.stream_seq} ack pending ${c.num_ack_pending} pending ${c.num_pending}`
      : `  api consumer: ${snap.api.consumerError}`,
  );
  for (const n of snap.nodes) {
    if (!n.running || n.error) {
      lines.push(`  ${n.node}: ${n.running ? n.error : 'down'}`);
      continue;
    }
    const st = n.stream ? `stream ${n.stream.messages} msgs [${n.stream.firstSeq}..${n.stream.lastSeq}] leader ${n.stream.leader ?? 'NONE'}` : 'stream: none here';
    const co = n.consumer
      ? `consumer leader ${n.consumer.leader ?? 'NONE'} delivered ${n.consumer.deliveredStreamSeq} ack floor ${n.consumer.ackFloorStreamSeq} ack pending ${n.consumer.numAckPending} pending ${n.consumer.numPending} waiting ${n.consumer.numWaiting} replicas ${n.consumer.replicas.join(',')}`
      : 'consumer: none here';
    lines.push(`  ${n.node}: meta leader ${n.metaLeader ?? 'NONE'}; ${st}; ${co}`);
  }
  return lines.join('\n');
}

export interface FailureDump {
  readonly label: string;
  readonly snapshots: readonly ClusterSnapshot[];
  readonly facts: Record<string, unknown>;
  /** Process name → its whole log. */
  readonly logs: Record<string, string>;
}

/**
 * Writes everything (snapshots, facts, every server and service log) to
 * `test/reliability/results/<label>-<time>.json` and returns a readable
 * summary with the path: the assertion message of a failed drill.
 */
export function writeFailureDump(dump: FailureDump): { path: string; summary: string } {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${dump.label}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(path, JSON.stringify(dump, null, 2));
  const tails = Object.entries(dump.logs).map(([name, text]) => `--- ${name} (last lines; JetStream/RAFT/errors) ---\n${interestingTail(text, 25)}`);
  const summary = [JSON.stringify(dump.facts), ...dump.snapshots.map(describeSnapshot), ...tails, `full dump: ${path}`].join('\n');
  return { path, summary };
}

/** The last `n` lines that say something about leaders, raft, catch-up or errors. */
function interestingTail(text: string, n: number): string {
  const lines = text.split('\n').filter((l) => /leader|RAFT|raft|catchup|catch up|JetStream|\[ERR\]|\[WRN\]|consumer|error/i.test(l));
  return lines.slice(-n).join('\n');
}

/** One sample of who leads what, per running node, after a kill. */
export interface LeaderSample {
  readonly ms: number;
  /** node → [meta leader, consumer leader] as that node sees them ('' = none). */
  readonly views: Record<string, [string, string]>;
}

/**
 * Samples every running node's view of the meta and consumer leaders every
 * `everyMs` from `since` on (bounded by `stop()`): when the survivors agreed on
 * a new consumer leader, and for how long none led it.
 */
export class LeaderTimeline {
  readonly samples: LeaderSample[] = [];
  #stopped = false;
  readonly #loop: Promise<void>;

  constructor(nats: NatsHarness, readonly victim: string, readonly since: number, stream: string, durable: string, everyMs = 500) {
    this.#loop = (async () => {
      while (!this.#stopped) {
        const nodes = await Promise.all(nats.nodeViews().filter((n) => n.running).map((n) => nodeView(n.name, n.running, n.monitorUrl, stream, durable)));
        const views: Record<string, [string, string]> = {};
        for (const n of nodes) views[n.node] = [n.metaLeader ?? '', n.consumer?.leader ?? ''];
        this.samples.push({ ms: Date.now() - since, views });
        await new Promise((r) => setTimeout(r, everyMs));
      }
    })();
  }

  /** First time (ms after `since`) every running node named the same leader, other than the victim. */
  newLeaderAfterMs(): number | undefined {
    for (const s of this.samples) {
      const leaders = Object.values(s.views).map((v) => v[1]);
      if (leaders.length > 0 && leaders.every((l) => l !== '' && l !== this.victim && l === leaders[0])) return s.ms;
    }
    return undefined;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }
}
