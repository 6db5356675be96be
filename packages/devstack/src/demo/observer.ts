// A NATS connection under the dev-only `observer` identity (configs.ts): it
// subscribes to the request, reply, dead-letter and stored-record subjects and
// keeps every message it sees, so the demo can show what NATS carried and
// check that no plaintext was among it. It can publish nothing.
import { connect, type Msg, type NatsConnection } from 'nats';
import { fleConnectionOptions } from '@fle/nats-setup';
import type { TlsFiles } from '@fle/pki';
import { OBSERVER_IDENTITY, observerPermissions } from '../configs.js';

export interface ObservedMessage {
  readonly subject: string;
  /** The subscription that matched (an inbox subscription also sees JetStream deliveries under their stream subject). */
  readonly via: string;
  readonly reply: string | undefined;
  readonly headers: ReadonlyMap<string, readonly string[]>;
  readonly data: Uint8Array;
  /** Subject, reply, headers and data as one buffer, for the plaintext scan. */
  readonly wire: Buffer;
}

export class NatsObserver {
  readonly #nc: NatsConnection;
  readonly #seen: ObservedMessage[] = [];

  private constructor(nc: NatsConnection) {
    this.#nc = nc;
  }

  static async connect(url: string, tls: TlsFiles, kvBuckets: readonly string[] = [], timeoutMs = 3000): Promise<NatsObserver> {
    const nc = await connect({ ...fleConnectionOptions({ servers: [url], tls, identity: OBSERVER_IDENTITY, name: 'fle-demo-observer' }), timeout: timeoutMs, maxReconnectAttempts: 0 });
    const o = new NatsObserver(nc);
    for (const subject of observerPermissions(kvBuckets).subscribe) nc.subscribe(subject, { callback: (_err, m) => o.#record(subject, m) });
    await nc.flush(); // the server has every subscription before the request is sent
    return o;
  }

  #record(via: string, m: Msg): void {
    const headers = new Map<string, string[]>();
    if (m.headers) for (const [k, v] of m.headers) headers.set(k, v);
    const headerText = [...headers].map(([k, v]) => `${k}: ${v.join(',')}`).join('\n');
    const wire = Buffer.concat([Buffer.from(`${m.subject}\n${m.reply ?? ''}\n${headerText}\n`), Buffer.from(m.data)]);
    this.#seen.push({ subject: m.subject, via, reply: m.reply || undefined, headers, data: m.data, wire });
  }

  messages(): readonly ObservedMessage[] {
    return this.#seen;
  }

  /** Waits (bounded) until `done` holds for what was seen, flushing so late messages arrive. */
  async settle(done: (seen: readonly ObservedMessage[]) => boolean, timeoutMs = 2000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      await this.#nc.flush();
      if (done(this.#seen)) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return done(this.#seen);
  }

  async close(): Promise<void> {
    await this.#nc.close().catch(() => undefined);
  }
}
