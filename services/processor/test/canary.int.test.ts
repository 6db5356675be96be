// The product's promise at the decrypt boundary, with real processes
// (nats-server with TLS, keystore, the processor serving the neutral fixture
// service from config, requests sent as a gateway sends them over each
// transport): a canary in every sensitive field appears NOWHERE outside the
// handler — not in the bytes a gateway forwards and receives, not on any NATS
// subject, not in JetStream/KV files on disk, not in processor logs — and the
// handler gets it exactly. (The gateway's own logs: test/stack, test/reliability.)
//
// NATS runs with `users: 'none'` here so an observer certificate may subscribe
// to `>`; per-identity permissions are exercised in failure-policy.int.test.ts.
import { createHash } from 'node:crypto';
import { messageCodec } from '@fle/schema';
import { FIXTURE_RECORD, LEDGER_BUCKET, canaryLedgerRequest, fixtureSchema, ledgerEntryContext, type CanaryLedgerRequest, type LedgerResponse } from '@fle/testkit';
import type { NatsConnection, Subscription } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findNeedles, makeCaller, natsStoreDir, readTree, requestCodec, startStack, type Stack, type Transport } from './support/stack.js';

const TRANSPORTS: Transport[] = ['nats', 'jetstream', 'grpc'];
const entryCodec = messageCodec<Record<string, string>>(fixtureSchema(), FIXTURE_RECORD);

describe('canary: plaintext exists only inside the processor', () => {
  let stack: Stack;
  let observer: NatsConnection;
  let sub: Subscription;
  const seenOnNats: Buffer[] = [];
  const subjects = new Set<string>();

  beforeAll(async () => {
    stack = await startStack({ natsUsers: 'none', processor: { replay: { store: 'redis', redisUrl: 'redis://127.0.0.1:6379' } } });
    observer = await stack.nats.connect('admin');
    sub = observer.subscribe('>', {
      callback: (_err, m) => {
        subjects.add(m.subject.split('.').slice(0, 2).join('.'));
        const headers = m.headers ? [...m.headers].map(([k, v]) => `${k}:${v.join(',')}`).join('\n') : '';
        seenOnNats.push(Buffer.concat([Buffer.from(`${m.subject}\n${m.reply ?? ''}\n${headers}\n`), Buffer.from(m.data)]));
      },
    });
    await observer.flush();
  });

  afterAll(async () => {
    sub?.unsubscribe();
    await stack?.stop();
  });

  it('carries ciphertext only, and the handler receives every field exactly', async () => {
    const sent: Array<{ transport: Transport; fx: CanaryLedgerRequest; nonce: string; response: LedgerResponse }> = [];
    const wire: Buffer[] = [];
    for (const transport of TRANSPORTS) {
      const fx = canaryLedgerRequest('t1');
      // The exact bytes a gateway would forward and receive back.
      const { send } = stack.callers[transport];
      const capturing = makeCaller(async (b, tenant, stamp) => {
        wire.push(Buffer.from(b));
        const res = await send(b, tenant, stamp);
        wire.push(Buffer.from(res));
        return res;
      }, stack.cipher);
      const { response, stamp } = await capturing.call(fx.request);
      sent.push({ transport, fx, nonce: stamp.nonce, response });
    }
    await observer.flush();
    await new Promise((r) => setTimeout(r, 300)); // let the observer drain late publishes (KV, acks)

    for (const { fx, response } of sent) {
      expect(response.approved).toBe(true);
      expect(response.cardLastFour).toBe(fx.request.card!.number.slice(-4));
      expect(response.cardToken).toMatch(/^tok_/);
    }
    const needles = sent.flatMap((s) => s.fx.needles);

    // 1. What a gateway handles: request and response bytes.
    expect(wire.length).toBe(2 * TRANSPORTS.length);
    for (const b of wire) expect(findNeedles(b, needles)).toEqual([]);

    // 2. Every byte on every NATS subject (requests, replies, JetStream acks, KV puts, dead letters).
    expect([...subjects]).toEqual(expect.arrayContaining(['fle.rpc', 'fle.js', `$KV.${LEDGER_BUCKET}`]));
    expect(seenOnNats.length).toBeGreaterThan(5);
    for (const b of seenOnNats) expect(findNeedles(b, needles)).toEqual([]);

    // 3. The handler got every field exactly: the digest of the opened request equals the original's.
    const digests = await stack.processor.digests();
    for (const { fx, nonce } of sent) {
      const expected = createHash('sha256').update(requestCodec.encode(fx.request)).digest('hex');
      expect(digests.filter((d) => d.nonce === nonce).map((d) => d.sha256)).toEqual([expected]);
    }

    // 4. Records at rest are sealed under their storage context (encryption before storage).
    const kv = await observer.jetstream().views.kv(LEDGER_BUCKET);
    const stored: Array<Record<string, string>> = [];
    for (const { nonce } of sent) {
      const e = await kv.get(`t1.${nonce}`);
      expect(e?.operation).toBe('PUT');
      const rec = entryCodec.decode(e!.value);
      expect(findNeedles(Buffer.from(e!.value), needles)).toEqual([]);
      stored.push(rec);
    }
    for (const [i, rec] of stored.entries()) {
      const opened = await stack.cipher.openMessage(FIXTURE_RECORD, rec, { context: ledgerEntryContext(rec.requestId!) });
      expect(opened.cardNumber).toBe(sent[i]!.fx.request.card!.number);
      expect(opened.nationalId).toBe(sent[i]!.fx.request.nationalId);
      expect(opened.cardToken).toBe(sent[i]!.response.cardToken);
      await expect(stack.cipher.openMessage(FIXTURE_RECORD, rec, { context: ledgerEntryContext('other') })).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    }

    // 5. JetStream and KV files on disk. Positive control: a stored envelope IS found, so the scan covers the store.
    const files = await readTree(await natsStoreDir(stack.nats.urls[0]!));
    const control = stored[0]!.cardNumber!;
    expect(files.some((f) => f.bytes.includes(control))).toBe(true);
    for (const f of files) expect(findNeedles(f.bytes, needles), f.path).toEqual([]);

    // 6. Logs: the processor's own, and the keystore's.
    expect(stack.processor.logs()).toContain('request handled');
    expect(findNeedles(stack.processor.logs(), needles)).toEqual([]);
    expect(findNeedles(stack.keystore.output().stdout + stack.keystore.output().stderr, needles)).toEqual([]);
  });
});

