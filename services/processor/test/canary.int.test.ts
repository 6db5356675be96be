// The product's promise, end to end with real processes (nats-server with TLS,
// keystore, processor, one gateway per transport, the client SDK): a canary in
// every sensitive field appears NOWHERE outside the processor — not in gateway
// logs, not in the bytes the gateway handles, not on any NATS subject, not in
// JetStream/KV files on disk, not in processor logs — and the handler gets it exactly.
//
// NATS runs with `users: 'none'` here so an observer certificate may subscribe
// to `>`; per-identity permissions are exercised in failure-policy.int.test.ts.
import { createHash } from 'node:crypto';
import { canaryAuthorizeRequest, type CanaryRequest } from '@fle/client/testing';
import { AuthorizationRecord, AuthorizeRequest, AuthorizeResponse, PaymentServiceService } from '@fle/schema/gen/acme/payments/v1/payments.js';
import type { Transport } from '@fle/gateway';
import type { NatsConnection, Subscription } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findNeedles, natsStoreDir, readTree, startStack, type Stack } from './support/stack.js';

const TRANSPORTS: Transport[] = ['nats', 'jetstream', 'grpc'];

describe('canary: plaintext exists only inside the processor', () => {
  let stack: Stack;
  let observer: NatsConnection;
  let sub: Subscription;
  const seenOnNats: Buffer[] = [];
  const subjects = new Set<string>();

  beforeAll(async () => {
    stack = await startStack({ natsUsers: 'none', transports: TRANSPORTS, processor: { replay: { store: 'redis', redisUrl: 'redis://127.0.0.1:6379' } } });
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
    const sent: Array<{ transport: Transport; fx: CanaryRequest; nonce: string; response: AuthorizeResponse }> = [];
    const wire: Buffer[] = [];
    for (const transport of TRANSPORTS) {
      const fx = canaryAuthorizeRequest('t1');
      // The exact bytes the gateway receives and returns, captured at the client's serializers.
      const def = {
        ...PaymentServiceService.authorize,
        requestSerialize: (v: AuthorizeRequest) => {
          const b = PaymentServiceService.authorize.requestSerialize(v);
          wire.push(b);
          return b;
        },
        responseDeserialize: (b: Buffer) => {
          wire.push(Buffer.from(b));
          return PaymentServiceService.authorize.responseDeserialize(b);
        },
      };
      const { response, stamp } = await stack.clients[transport]!.fle.call(def, fx.request);
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

    // 1. What the gateway handles: request and response bytes.
    expect(wire.length).toBe(2 * TRANSPORTS.length);
    for (const b of wire) expect(findNeedles(b, needles)).toEqual([]);

    // 2. Every byte on every NATS subject (requests, replies, JetStream acks, KV puts, dead letters).
    expect([...subjects]).toEqual(expect.arrayContaining(['fle.rpc', 'fle.js', '$KV.fle_authorizations']));
    expect(seenOnNats.length).toBeGreaterThan(5);
    for (const b of seenOnNats) expect(findNeedles(b, needles)).toEqual([]);

    // 3. The handler got every field exactly: the digest of the opened request equals the original's.
    const digests = await stack.processor.digests();
    for (const { fx, nonce } of sent) {
      const expected = createHash('sha256').update(AuthorizeRequest.encode(fx.request).finish()).digest('hex');
      expect(digests.filter((d) => d.nonce === nonce).map((d) => d.sha256)).toEqual([expected]);
    }

    // 4. Records at rest are sealed under their storage context (encryption before storage).
    const kv = await observer.jetstream().views.kv('fle_authorizations');
    const stored: AuthorizationRecord[] = [];
    for (const { nonce } of sent) {
      const e = await kv.get(`t1.${nonce}`);
      expect(e?.operation).toBe('PUT');
      const rec = AuthorizationRecord.decode(e!.value);
      expect(findNeedles(Buffer.from(e!.value), needles)).toEqual([]);
      stored.push(rec);
    }
    for (const [i, rec] of stored.entries()) {
      const opened = await stack.cipher.openMessage('acme.payments.v1.AuthorizationRecord', rec, { context: `store/authorization/${rec.requestId}` });
      expect(opened.cardNumber).toBe(sent[i]!.fx.request.card!.number);
      expect(opened.nationalId).toBe(sent[i]!.fx.request.nationalId);
      expect(opened.cardToken).toBe(sent[i]!.response.cardToken);
      await expect(stack.cipher.openMessage('acme.payments.v1.AuthorizationRecord', rec, { context: 'store/authorization/other' })).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    }

    // 5. JetStream and KV files on disk. Positive control: a stored envelope IS found, so the scan covers the store.
    const files = await readTree(await natsStoreDir(stack.nats.urls[0]!));
    const control = stored[0]!.cardNumber;
    expect(files.some((f) => f.bytes.includes(control))).toBe(true);
    for (const f of files) expect(findNeedles(f.bytes, needles), f.path).toEqual([]);

    // 6. Logs of every process outside the processor, and the processor's own logs.
    for (const gw of Object.values(stack.gateways)) {
      expect(gw!.logs()).toContain('request routed');
      expect(findNeedles(gw!.logs(), needles)).toEqual([]);
    }
    expect(stack.processor.logs()).toContain('request handled');
    expect(findNeedles(stack.processor.logs(), needles)).toEqual([]);
    expect(findNeedles(stack.keystore.output().stdout + stack.keystore.output().stderr, needles)).toEqual([]);
  });
});
