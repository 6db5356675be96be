// Reading what the processor leaves in JetStream, for the reliability suite:
// dead letters (FLE_DLQ, read as the admin identity) and the authorization
// records it stores once per request nonce (KV bucket fle_authorizations, read
// as the processor identity: no other identity may).
import type { ConsumerMessages, KV, KvEntry, NatsConnection } from 'nats';

export interface DeadLetter {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
}

/** Collects every dead letter from the start of FLE_DLQ, in the background (an ordered consumer). */
export class DeadLetterWatch {
  readonly letters: DeadLetter[] = [];
  #messages: ConsumerMessages | undefined;
  #loop: Promise<void> | undefined;

  static async start(admin: NatsConnection): Promise<DeadLetterWatch> {
    const w = new DeadLetterWatch();
    const consumer = await admin.jetstream().consumers.get('FLE_DLQ');
    w.#messages = await consumer.consume();
    const messages = w.#messages;
    w.#loop = (async () => {
      for await (const m of messages) {
        const headers: Record<string, string> = {};
        if (m.headers) for (const [k, v] of m.headers) headers[k] = v.join(',');
        w.letters.push({ subject: m.subject, data: m.data, headers });
      }
    })().catch(() => undefined);
    return w;
  }

  /**
   * Every dead letter in FLE_DLQ right now, read afresh. Use after a NATS node
   * was killed: a background consumer parked on that node may have stalled.
   */
  static async readAll(admin: NatsConnection): Promise<DeadLetter[]> {
    // One stream-message get per sequence (plain request/reply with a timeout,
    // retried), rather than a consumer that could be parked on a dead node.
    const jsm = await retrying(() => admin.jetstreamManager());
    const { first_seq, last_seq, messages } = (await retrying(() => jsm.streams.info('FLE_DLQ'))).state;
    const out: DeadLetter[] = [];
    for (let seq = first_seq; messages > 0 && seq <= last_seq; seq++) {
      const m = await retrying(() => jsm.streams.getMessage('FLE_DLQ', { seq }));
      const headers: Record<string, string> = {};
      if (m.header) for (const [k, v] of m.header) headers[k] = v.join(',');
      out.push({ subject: m.subject, data: m.data, headers });
    }
    return out;
  }

  /**
   * The first dead letter of `body`, waiting for it up to `timeoutMs`: a dead
   * letter keeps at most a prefix of the body and its size (`Fle-Dlq-Size`).
   */
  async byBody(body: Uint8Array, timeoutMs = 10_000): Promise<DeadLetter> {
    const want = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    const until = Date.now() + timeoutMs;
    const matches = (l: DeadLetter): boolean =>
      l.headers['Fle-Dlq-Size'] === String(want.byteLength) && l.data.byteLength <= want.byteLength && want.subarray(0, l.data.byteLength).equals(Buffer.from(l.data.buffer, l.data.byteOffset, l.data.byteLength));
    for (;;) {
      const hit = this.letters.find(matches);
      if (hit) return hit;
      if (Date.now() > until) throw new Error(`no dead letter with that body within ${timeoutMs} ms (have ${this.letters.length})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Dead letters carrying one of these request nonces (header Fle-Nonce). */
  withNonces(nonces: ReadonlySet<string>): DeadLetter[] {
    return withNonces(this.letters, nonces);
  }

  async stop(): Promise<void> {
    this.#messages?.stop();
    await this.#loop;
  }
}

/**
 * The processor's effects, counted by request nonce: one record per accepted
 * request under `<tenant>.<nonce>`. The bucket keeps one revision per key, so
 * "written twice" is counted on the stream itself: every write (create, put,
 * delete) takes one stream sequence.
 */
export class AuthorizationLedger {
  private constructor(
    private readonly nc: NatsConnection,
    readonly kv: KV,
  ) {}

  static async open(asProcessor: NatsConnection): Promise<AuthorizationLedger> {
    return new AuthorizationLedger(asProcessor, await asProcessor.jetstream().views.kv('fle_authorizations', { bindOnly: true }));
  }

  /** Writes ever made to the bucket (its stream's last sequence). */
  async writes(): Promise<number> {
    return retrying(async () => {
      const jsm = await this.nc.jetstreamManager();
      return (await jsm.streams.info('KV_fle_authorizations')).state.last_seq;
    });
  }

  async record(tenant: string, nonce: string): Promise<KvEntry | undefined> {
    const e = await retrying(() => this.kv.get(`${tenant}.${nonce}`));
    return e && e.operation === 'PUT' ? e : undefined;
  }

  /** Which of `nonces` have a stored record. */
  async present(tenant: string, nonces: Iterable<string>): Promise<{ present: string[]; missing: string[] }> {
    const present: string[] = [];
    const missing: string[] = [];
    for (const n of nonces) ((await this.record(tenant, n)) ? present : missing).push(n);
    return { present, missing };
  }
}

/** The dead letters carrying one of these request nonces (header Fle-Nonce). */
export function withNonces(letters: readonly DeadLetter[], nonces: ReadonlySet<string>): DeadLetter[] {
  return letters.filter((l) => nonces.has(l.headers['Fle-Nonce'] ?? ''));
}

/**
 * Reads during a fault drill may hit a stream whose leader just died: retry a
 * timed-out or refused read (bounded) until a new leader answers.
 */
async function retrying<T>(fn: () => Promise<T>, attempts = 20, delayMs = 250): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}
