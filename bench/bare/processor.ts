// Bare processor (see common.ts): serves core request-reply on
// `bare.rpc.*.authorize` (queue group) and a durable pull consumer on the
// JetStream work queue BARE_REQUESTS, at most `concurrency` requests at once.
// The handler does the example handler's business work on the plaintext twin
// types: decode, Luhn-check the card, build the authorization record, store
// it in NATS KV (one `put`), answer. After a JetStream reply the message is acked.
import { randomBytes } from 'node:crypto';
import { AckPolicy, RetentionPolicy, StorageType, connect, headers as natsHeaders, nanos, type JsMsg, type Msg } from 'nats';
import { BARE, loadTypes, natsTls, readConfig, writePorts } from './common.js';

const config = readConfig(process.argv);
const types = loadTypes(config.protoDir);
const limit = config.concurrency ?? 32;
const MiB = 1024 * 1024;

// noAsyncTraces as fle's own connections have it (@fle/nats-setup fleConnectionOptions).
const nc = await connect({ servers: [...config.natsUrls], tls: natsTls(config.tls), inboxPrefix: BARE.processorInbox, name: 'bare-processor', noAsyncTraces: true });
const js = nc.jetstream();
const jsm = await nc.jetstreamManager();
// The server requires byte limits on every stream (max_bytes_required).
await jsm.streams.add({ name: BARE.stream, subjects: [`${BARE.jsPrefix}.>`], retention: RetentionPolicy.Workqueue, storage: StorageType.File, max_bytes: 64 * MiB, max_msg_size: 8 * MiB });
await jsm.consumers.add(BARE.stream, { durable_name: BARE.durable, ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000), max_ack_pending: 1000 });
const kv = await js.views.kv(BARE.bucket, { history: 1, maxBucketSize: 256 * MiB, maxValueSize: 64 * 1024, ttl: 600_000 });

function luhnValid(number: string): boolean {
  if (!/^[0-9]{12,19}$/.test(number)) return false;
  let sum = 0;
  for (let i = 0; i < number.length; i++) {
    let d = number.charCodeAt(number.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

interface PlainRequest {
  tenantId: string;
  requestId: string;
  amountMinor: number | { toNumber(): number };
  currency: string;
  card?: { number?: string };
  nationalId: string;
}

/** The example handler's work (services/processor/src/handlers/authorize.ts) without fle. */
async function handle(bytes: Uint8Array): Promise<Uint8Array> {
  const req = types.request.decode(bytes) as unknown as PlainRequest;
  const number = req.card?.number ?? '';
  if (!luhnValid(number)) {
    return types.response.encode({ tenantId: req.tenantId, requestId: req.requestId, approved: false, declineReason: 'card number fails the Luhn check' }).finish();
  }
  const id = randomBytes(16).toString('base64url');
  const record = {
    tenantId: req.tenantId,
    requestId: req.requestId,
    cardToken: `tok_${randomBytes(18).toString('base64url')}`,
    cardNumber: number,
    nationalId: req.nationalId,
    amountMinor: req.amountMinor,
    currency: req.currency,
    authorizationCode: randomBytes(4).toString('hex').toUpperCase(),
    authorizedAtUnixMs: Date.now(),
  };
  await kv.put(`${req.tenantId}.${id}`, types.record.encode(record).finish());
  return types.response.encode({
    tenantId: record.tenantId,
    requestId: record.requestId,
    approved: true,
    cardToken: record.cardToken,
    cardLastFour: number.slice(-4),
    authorizationCode: record.authorizationCode,
  }).finish();
}

let active = 0;
const waiting: Array<() => void> = [];
async function slot<T>(fn: () => Promise<T>): Promise<T> {
  if (active >= limit) await new Promise<void>((r) => waiting.push(r));
  active++;
  try {
    return await fn();
  } finally {
    active--;
    waiting.shift()?.();
  }
}

nc.subscribe(`${BARE.rpcPrefix}.*.authorize`, {
  queue: 'bare',
  callback: (_err, m: Msg) => {
    void slot(() => handle(m.data)).then(
      (reply) => m.respond(reply),
      () => {
        const h = natsHeaders();
        h.set(BARE.errorHeader, 'failed');
        m.respond(new Uint8Array(0), { headers: h });
      },
    );
  },
});

const consumer = await js.consumers.get(BARE.stream, BARE.durable);
const messages = await consumer.consume({ max_messages: limit });
void (async () => {
  for await (const m of messages) {
    if (active >= limit) await new Promise<void>((r) => waiting.push(r));
    active++;
    void (async (msg: JsMsg) => {
      try {
        const reply = await handle(msg.data);
        const to = msg.headers?.get(BARE.replyHeader);
        if (to) nc.publish(to, reply);
        msg.ack();
      } catch {
        msg.nak(500);
      } finally {
        active--;
        waiting.shift()?.();
      }
    })(m);
  }
})();

writePorts(config.portsFile, { grpc: 0, metrics: 0, pid: process.pid });
process.once('SIGTERM', () => {
  messages.stop();
  void nc.drain().finally(() => process.exit(0));
});
