// Who may do what on NATS (issue 5 item 2, HELPERS.md subject conventions).
// Each certificate identity maps to one NATS user (see config.ts); these are
// the users' publish/subscribe allow-lists. Everything not listed is denied.
//
// JetStream is used through its API subjects, so stream and KV rights are
// spelled as those subjects, one stream at a time:
//   $JS.API.STREAM.<verb>.<stream>              stream management
//   $JS.API.CONSUMER.<verb>.<stream>[.…]        consumers, pull requests
//   $JS.ACK.<stream>.>  $JS.FC.<stream>.>       acks and flow-control replies
//   $KV.<bucket>.>                              KV puts (stream KV_<bucket>)
//   $JS.API.DIRECT.GET.KV_<bucket>[.>]          KV gets
// and every JetStream user may ask `$JS.API.INFO` (nats.js checks it).
//
// Replies are private (issue 17 item 4): each identity has its own inbox
// prefix, `_INBOX_<identity>` (nats.js `inboxPrefix`; natsInboxPrefix below),
// and may subscribe to that inbox only. JetStream API replies, pull
// deliveries, publish acks and request replies all arrive there, so no
// identity can read another's (a shared `_INBOX.>` let admin and keystore
// receive the processor's deliveries and every reply). Every fle connection
// sets its identity's prefix; without it, it cannot even read its own replies.

export interface NatsPermissions {
  publish: string[];
  subscribe: string[];
  /**
   * May answer the requests it receives (nats-server `allow_responses`): one
   * reply to each request's reply subject, whatever inbox that is. None of
   * fle's identities has it: nats-server (2.9, 2.10) remembers the reply
   * subject of every message delivered to such a connection for two minutes
   * unless the answer went through this rule, and once it holds over 4096
   * scans them all on every delivery: with a processor's acks and replies
   * allowed by name, its CPU grew with the traffic of the last two minutes
   * until it was three quarters of the server's (docs/perf/journal.md;
   * nats-io/nats-server#6058).
   */
  allowResponses?: boolean;
}

export const SUBJECTS = {
  rpc: 'fle.rpc.>',
  js: 'fle.js.>',
  dlq: 'fle.dlq.>',
} as const;

/** The nats.js `inboxPrefix` of an identity: its replies arrive on `_INBOX_<identity>.<id>`. */
export function natsInboxPrefix(identity: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(identity)) throw new TypeError(`identity ${JSON.stringify(identity)} must be one NATS subject token`);
  return `_INBOX_${identity}`;
}

/** Everything under an identity's inbox prefix: what it may subscribe to for replies. */
export function natsInbox(identity: string): string {
  return `${natsInboxPrefix(identity)}.>`;
}

export const STREAMS = { requests: 'FLE_REQUESTS', deadLetters: 'FLE_DLQ' } as const;
export const KV_BUCKETS = { nonces: 'fle_nonces', keystore: 'fle_keystore' } as const;

const JS_BASE = ['$JS.API.INFO', '$JS.API.STREAM.NAMES'];
/** The NATS service API's discovery subjects ($SRV.PING|INFO|STATS[.<name>[.<id>]]). */
const SERVICE_API = '$SRV.>';

/** Create/update/inspect one stream. */
export function streamManagement(stream: string): string[] {
  return [`$JS.API.STREAM.CREATE.${stream}`, `$JS.API.STREAM.UPDATE.${stream}`, `$JS.API.STREAM.INFO.${stream}`];
}

/** Create/inspect/delete consumers of one stream, pull from them, ack, answer flow control. */
export function streamConsumption(stream: string): string[] {
  return [
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.>`,
    `$JS.API.CONSUMER.DELETE.${stream}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.>`,
    `$JS.ACK.${stream}.>`,
    `$JS.FC.${stream}.>`,
  ];
}

/** Everything a client needs to create and use one KV bucket (nats.js v2 `js.views.kv`). */
export function kvBucket(bucket: string): string[] {
  const stream = `KV_${bucket}`;
  return [
    ...streamManagement(stream),
    ...streamConsumption(stream), // watch / keys / history use ordered consumers
    `$KV.${bucket}.>`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.STREAM.PURGE.${stream}`,
  ];
}

/**
 * The per-identity permissions of the fle system. `client` is deliberately
 * absent: the client identity has no NATS user and cannot connect at all.
 */
export const FLE_NATS_PERMISSIONS: Readonly<Record<string, NatsPermissions>> = Object.freeze({
  // Publishes requests (core and JetStream); replies and publish acks come to its own inbox.
  gateway: {
    publish: [SUBJECTS.rpc, SUBJECTS.js, ...JS_BASE, `$JS.API.STREAM.INFO.${STREAMS.requests}`],
    subscribe: [natsInbox('gateway')],
  },
  // Serves requests, consumes FLE_REQUESTS, dead-letters into FLE_DLQ, keeps
  // replay nonces in KV, and creates what it uses. The KV buckets of the
  // handlers it runs (a team's records) are the team's: withKvBuckets below.
  // Replies, to a core request and to a JetStream request (the inbox its
  // `Fle-Reply-To` header names), go to the gateway's inbox only: nothing else
  // may receive a reply. No allow_responses (NatsPermissions.allowResponses:
  // a cost on nats-server), so as a NATS service it is discoverable only where
  // an operator grants it that (docs/production.md).
  processor: {
    publish: [
      natsInbox('gateway'),
      SUBJECTS.dlq,
      ...JS_BASE,
      ...streamManagement(STREAMS.requests),
      ...streamConsumption(STREAMS.requests),
      ...streamManagement(STREAMS.deadLetters),
      ...streamConsumption(STREAMS.deadLetters),
      ...kvBucket(KV_BUCKETS.nonces),
    ],
    // $SRV.>: discovery and stats when it serves as a NATS service (boundary serveCore `service`).
    subscribe: [SUBJECTS.rpc, natsInbox('processor'), SERVICE_API],
  },
  // Its own storage bucket and nothing else.
  keystore: {
    publish: [...JS_BASE, ...kvBucket(KV_BUCKETS.keystore)],
    subscribe: [natsInbox('keystore')],
  },
  // Operators: inspect streams and consumers, read and re-drive dead letters.
  // No request subjects and no KV reads (the keystore bucket is not theirs).
  admin: {
    publish: [
      ...JS_BASE,
      '$JS.API.STREAM.LIST',
      '$JS.API.STREAM.INFO.*',
      '$JS.API.CONSUMER.NAMES.*',
      '$JS.API.CONSUMER.LIST.*',
      '$JS.API.CONSUMER.INFO.*.*',
      `$JS.API.STREAM.MSG.GET.${STREAMS.deadLetters}`,
      ...streamConsumption(STREAMS.deadLetters),
      SUBJECTS.js,
      SERVICE_API, // discover services and read their stats (nats micro ls / stats)
    ],
    subscribe: [natsInbox('admin')],
  },
});

/**
 * `users` with `buckets` added to what `identity` may create and use: the KV
 * buckets of a team's own handlers running in the decrypt boundary (their
 * records at rest), which fle's own list cannot know. Returns a copy.
 */
export function withKvBuckets(users: Readonly<Record<string, NatsPermissions>>, identity: string, buckets: readonly string[]): Record<string, NatsPermissions> {
  const base = users[identity];
  if (!base) throw new TypeError(`no NATS user ${JSON.stringify(identity)}`);
  for (const b of buckets) if (!/^[A-Za-z0-9_-]+$/.test(b)) throw new TypeError(`KV bucket ${JSON.stringify(b)} must be one NATS subject token`);
  const extra = buckets.flatMap((b) => kvBucket(b)).filter((s) => !base.publish.includes(s));
  return { ...users, [identity]: { ...base, publish: [...base.publish, ...new Set(extra)] } };
}
