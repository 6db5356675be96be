// Failure policy with real processes and NATS per-identity permissions
// (`users: 'fle'`), on the neutral fixture service: the gateway cannot get
// keys; replays, moved envelopes and plaintext are refused with the right
// status on every transport; poison messages reach FLE_DLQ with their reason;
// a keystore outage is retried (NAK with backoff) and nothing is lost; a
// processor SIGKILLed mid-stream loses no JetStream message and stores every
// effect exactly once per nonce.
import { status } from '@grpc/grpc-js';
import { KeystoreKeyProvider } from '@fle/keystore-client';
import { startKeystoreProcess } from '@fle/keystore/testing';
import { newReplayStamp, replayContext, stampToHeaders, type ReplayStamp } from '@fle/service-kit';
import { LEDGER_BUCKET, canaryLedgerRequest } from '@fle/testkit';
import { headers as natsHeaders, type JsMsg, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallError, METHOD, REQUEST_TYPE as REQ, requestCodec, startStack, type Stack, type Transport } from './support/stack.js';

const TRANSPORTS: Transport[] = ['nats', 'jetstream', 'grpc'];

async function refusal(p: Promise<unknown>): Promise<{ status: status; code: string; details: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CallError) return { status: err.status, code: err.code, details: err.details };
    throw err;
  }
  throw new Error('expected the call to be refused');
}

function grpcCodeInCauses(err: unknown): number | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) {
    if (typeof e.code === 'number') return e.code;
  }
  return undefined;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('failure policy (NATS with per-identity permissions)', () => {
  let stack: Stack;
  let admin: NatsConnection; // may publish fle.js.> and read FLE_DLQ
  let inspector: NatsConnection; // the processor identity, to read KV like the processor does

  beforeAll(async () => {
    stack = await startStack({ natsUsers: 'fle', timeoutMs: 15_000, processor: { jetstream: { nakBaseMs: 200, nakMaxMs: 1000, maxAttempts: 30, ackWaitMs: 2000 } } });
    admin = await stack.nats.connect('admin');
    inspector = await stack.nats.connect('processor');
  });

  afterAll(async () => {
    await stack?.stop();
  });

  async function sealed(tenant = 't1', stamp: ReplayStamp = newReplayStamp()) {
    const fx = canaryLedgerRequest(tenant);
    return { ...fx, stamp, msg: await stack.cipher.sealMessage(REQ, fx.request, { context: replayContext(stamp) }) };
  }

  async function deadLetters(): Promise<JsMsg[]> {
    const c = await admin.jetstream().consumers.get('FLE_DLQ');
    const out: JsMsg[] = [];
    const batch = await c.fetch({ max_messages: 500, expires: 1000 });
    for await (const m of batch) out.push(m);
    return out;
  }

  it('the gateway identity cannot fetch keys (PERMISSION_DENIED from the keystore), and never asked for one', async () => {
    const before = (await stack.keystoreEnv.readAudit()).filter((e) => e.identity === 'spiffe://fle.local/gateway');
    expect(before).toEqual([]);
    const asGateway = new KeystoreKeyProvider({ address: stack.keystore.address, tls: stack.pki.files('gateway') });
    for (const ring of ['default', 'pci']) {
      const err = await asGateway.primaryKey({ tenant: 't1', ring }).then(() => undefined, (e: unknown) => e);
      expect(err).toMatchObject({ code: 'KEYSTORE_PERMISSION_DENIED' });
      expect(grpcCodeInCauses((err as Error).cause)).toBe(status.PERMISSION_DENIED);
    }
    const after = (await stack.keystoreEnv.readAudit()).filter((e) => e.identity === 'spiffe://fle.local/gateway');
    expect(after.length).toBeGreaterThanOrEqual(2);
    expect(after.every((e) => !e.allowed && e.outcome === 'PERMISSION_DENIED')).toBe(true);
  });

  it.each(TRANSPORTS)('refuses replays over %s: same nonce, and a timestamp outside the window', async (t) => {
    const client = stack.callers[t];
    const first = await sealed();
    await client.callRaw(first.msg, first.stamp);
    const again = await refusal(client.callRaw(first.msg, first.stamp));
    expect(again).toMatchObject({ status: status.PERMISSION_DENIED, code: 'REPLAY_NONCE' });

    const old = await sealed('t1', newReplayStamp({ now: () => Date.now() - 120_000 }));
    expect(await refusal(client.callRaw(old.msg, old.stamp))).toMatchObject({ status: status.PERMISSION_DENIED, code: 'REPLAY_TIMESTAMP' });
    const future = await sealed('t1', newReplayStamp({ now: () => Date.now() + 120_000 }));
    expect(await refusal(client.callRaw(future.msg, future.stamp))).toMatchObject({ status: status.PERMISSION_DENIED, code: 'REPLAY_TIMESTAMP' });
  });

  it.each(TRANSPORTS)('refuses an envelope moved to another field, tenant or request over %s', async (t) => {
    const client = stack.callers[t];
    const a = await sealed();
    const movedField = { ...a.msg, previousAddresses: [a.msg.nationalId, a.msg.previousAddresses[1]!] };
    expect(await refusal(client.callRaw(movedField, a.stamp))).toMatchObject({ status: status.PERMISSION_DENIED, code: 'DECRYPTION_FAILED' });

    const b = await sealed('t2');
    const movedTenant = { ...b.msg, tenantId: 't1' };
    expect(await refusal(client.callRaw(movedTenant, b.stamp))).toMatchObject({ status: status.PERMISSION_DENIED, code: 'DECRYPTION_FAILED' });

    const c = await sealed();
    const d = await sealed();
    const movedRequest = { ...d.msg, nationalId: c.msg.nationalId };
    expect(await refusal(client.callRaw(movedRequest, d.stamp))).toMatchObject({ status: status.PERMISSION_DENIED, code: 'DECRYPTION_FAILED' });
    // The whole of c under another request's stamp.
    expect(await refusal(client.callRaw(c.msg, newReplayStamp()))).toMatchObject({ status: status.PERMISSION_DENIED, code: 'DECRYPTION_FAILED' });
  });

  it('the boundary refuses plaintext in a sensitive field (a publisher can bypass the gateway), bad tenants and missing stamps', async () => {
    const client = stack.callers.jetstream;
    const a = await sealed();
    const plain = await refusal(client.callRaw({ ...a.msg, nationalId: `ssn-${a.canary}` }, a.stamp));
    expect(plain.status).toBe(status.INVALID_ARGUMENT);
    expect(plain.details).not.toContain(a.canary);
    // The refusal is answered before its log line is flushed: wait for the line.
    await expect.poll(() => stack.processor.logs(), { timeout: 5000 }).toContain(plain.code);
    expect(stack.processor.logs()).not.toContain(a.canary);

    const b = await sealed();
    expect(await refusal(client.callRaw({ ...b.msg, tenantId: 't1.>' }, b.stamp))).toMatchObject({ status: status.INVALID_ARGUMENT, code: 'INVALID_TENANT' });
    expect(await refusal(client.callRaw(b.msg, undefined))).toMatchObject({ status: status.INVALID_ARGUMENT, code: 'MISSING_STAMP' });
    // Raw plaintext request with no SDK at all (its own stamp: over JetStream a published nonce is the message id).
    const c = await sealed();
    expect((await refusal(client.callRaw(c.request, c.stamp))).status).toBe(status.INVALID_ARGUMENT);
  });

  it('poison messages reach the dead-letter stream with their reason, and are acked', async () => {
    const js = admin.jetstream();
    const publish = async (data: Uint8Array, opts: { stamp?: ReplayStamp; method?: string } = {}) => {
      const h = natsHeaders();
      if (opts.stamp) stampToHeaders(opts.stamp, h);
      h.set('Fle-Method', opts.method ?? METHOD);
      await js.publish('fle.js.t1.submit', data, { headers: h });
    };
    const garbage = Uint8Array.of(0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f);
    await publish(garbage, { stamp: newReplayStamp() });
    const tampered = await sealed();
    const tamperedBytes = requestCodec.encode({ ...tampered.msg, email: tampered.msg.nationalId });
    await publish(tamperedBytes, { stamp: tampered.stamp });
    const unstamped = await sealed();
    await publish(requestCodec.encode(unstamped.msg));
    const unknown = await sealed();
    await publish(requestCodec.encode(unknown.msg), { stamp: unknown.stamp, method: '/fletest.svc.v1.LedgerService/Refund' });
    // A publisher bypassing the gateway (issue 17 item 1): plaintext in an earlier
    // copy of a sensitive field, which a decoder would drop in favour of the sealed one.
    const smuggled = await sealed();
    const smuggledBytes = Buffer.concat([requestCodec.encode({ nationalId: `ssn-${smuggled.canary}` } as typeof smuggled.request), requestCodec.encode(smuggled.msg)]);
    await publish(smuggledBytes, { stamp: smuggled.stamp });
    const wrongTenant = await sealed('t2');
    await publish(requestCodec.encode(wrongTenant.msg), { stamp: wrongTenant.stamp });
    // Core NATS poison (the gateway identity may publish fle.rpc.>): answered with the typed error AND dead-lettered.
    const gwConn = await stack.nats.connect('gateway');
    const h = natsHeaders();
    stampToHeaders(newReplayStamp(), h);
    const reply = await gwConn.request('fle.rpc.t1.submit', garbage, { timeout: 5000, headers: h });
    expect(reply.headers?.get('Fle-Error-Code')).toBe('BAD_PROTOBUF');
    expect(new TextDecoder().decode(reply.data)).toContain('not valid protobuf');

    const want = ['bad_protobuf', 'decryption_failed', 'missing_stamp', 'unknown_method', 'tenant_mismatch', 'wire_format'];
    const dlq = await waitFor('dead letters', async () => {
      const msgs = await deadLetters();
      const reasons = msgs.filter((m) => m.subject === 'fle.dlq.t1.submit').map((m) => m.headers?.get('Fle-Dlq-Reason'));
      return want.every((r) => reasons.includes(r)) && reasons.filter((r) => r === 'bad_protobuf').length >= 2 ? msgs : undefined;
    });
    const byReason = (r: string) => dlq.filter((m) => m.headers?.get('Fle-Dlq-Reason') === r);
    // The body is (a bounded prefix of) the original ciphertext bytes, with the original size; subject and delivery origin recorded.
    const tamperedLetter = byReason('decryption_failed').find(
      (m) => m.data.length > 0 && Buffer.from(tamperedBytes).subarray(0, m.data.length).equals(Buffer.from(m.data)) && m.headers?.get('Fle-Dlq-Size') === String(tamperedBytes.length),
    );
    expect(tamperedLetter?.headers?.get('Fle-Dlq-Origin')).toMatch(/^js:FLE_REQUESTS:\d+$/);
    expect(tamperedLetter?.headers?.get('Fle-Nonce')).toBe(tampered.stamp.nonce);
    expect(byReason('bad_protobuf').map((m) => m.headers?.get('Fle-Dlq-Subject')).sort()).toEqual(expect.arrayContaining(['fle.js.t1.submit', 'fle.rpc.t1.submit']));
    // Replays over JetStream from the previous test were dead-lettered too.
    expect(dlq.some((m) => m.headers?.get('Fle-Dlq-Reason') === 'replay_nonce')).toBe(true);
    for (const m of dlq) expect(Buffer.from(m.data).includes(tampered.canary)).toBe(false);
    // The smuggled plaintext never reached the handler nor the dead letters: the letter keeps reason, headers and size only.
    const smuggledLetter = byReason('wire_format').find((m) => m.headers?.get('Fle-Nonce') === smuggled.stamp.nonce);
    expect(smuggledLetter?.headers?.get('Fle-Dlq-Size')).toBe(String(smuggledBytes.length));
    expect(smuggledLetter?.data.length).toBe(0);
    for (const m of dlq) expect(Buffer.from(m.data).includes(smuggled.canary)).toBe(false);
    expect((await stack.processor.digests()).some((d) => d.nonce === smuggled.stamp.nonce)).toBe(false);

    // Nothing left unacked in the work queue.
    const jsm = await admin.jetstreamManager();
    await waitFor('empty work queue', async () => ((await jsm.streams.info('FLE_REQUESTS')).state.messages === 0 ? true : undefined));
    const metrics = await (await fetch(stack.processor.metricsUrl)).text();
    expect(metrics).toMatch(/fle_dead_letters_total\{reason="decryption_failed",service="processor"\} [1-9]/);
    expect(metrics).toMatch(/fle_opens_total\{type="fletest.svc.v1.SubmitRequest",service="processor"\} [1-9]/);
    expect(metrics).toMatch(/fle_seals_total\{type="fletest.svc.v1.SubmitResponse",service="processor"\} [1-9]/);
    expect(metrics).toMatch(/fle_failures_total\{reason="replay_nonce",service="processor"\} [1-9]/);
    expect(metrics).toMatch(/fle_keystore_client_cache_hits_total\{service="processor"\} [1-9]/);
    expect(metrics).toMatch(/fle_keystore_client_fetch_duration_seconds_count\{[^}]*outcome="ok"[^}]*\} [1-9]/);
  });

  it('a keystore outage is transient: UNAVAILABLE on core and gRPC, NAK with backoff on JetStream until it is back', async () => {
    // t3's keys are fetched by the client first; the processor has never needed them.
    const warm = await sealed('t3');
    expect(warm.msg.nationalId).not.toBe(warm.request.nationalId);
    await stack.keystore.stop();
    try {
      for (const t of ['nats', 'grpc'] as const) {
        const r = await sealed('t3');
        expect(await refusal(stack.callers[t].callRaw(r.msg, r.stamp)), t).toMatchObject({ status: status.UNAVAILABLE, code: 'KEYSTORE_UNAVAILABLE' });
      }
      // JetStream: the call waits while the processor NAKs; the keystore comes back; the same message succeeds.
      const r = await sealed('t3');
      const pending = stack.callers.jetstream.callRaw(r.msg, r.stamp, 20_000);
      await new Promise((res) => setTimeout(res, 1500));
      stack.keystore = await startKeystoreProcess(stack.keystoreEnv);
      const res = await pending;
      expect(res.approved).toBe(true);
      expect(res.cardLastFour).toBe(r.request.card!.number.slice(-4));
    } finally {
      if (stack.keystore.child.exitCode !== null || stack.keystore.child.signalCode !== null) stack.keystore = await startKeystoreProcess(stack.keystoreEnv);
    }
    const metrics = await (await fetch(stack.processor.metricsUrl)).text();
    expect(metrics).toMatch(/fle_requests_total\{route="submit",transport="jetstream",outcome="retry",service="processor"\} [1-9]/);
    await expect.poll(() => stack.processor.logs(), { timeout: 5000 }).toContain('transient failure: NAK with delay');
  });

  it('a processor SIGKILLed mid-stream loses no JetStream message; every effect happens once per nonce', async () => {
    const N = 150;
    const kv = await inspector.jetstream().views.kv(LEDGER_BUCKET);
    const base = (await kv.status()).values;
    const msgs = await Promise.all(Array.from({ length: N }, () => sealed()));
    const js = admin.jetstream();
    // Publish the whole batch first (durable in FLE_REQUESTS), then let processing race the kill.
    for (const m of msgs) {
      const h = natsHeaders();
      stampToHeaders(m.stamp, h);
      h.set('Fle-Method', METHOD);
      await js.publish('fle.js.t1.submit', requestCodec.encode(m.msg), { headers: h });
    }
    await waitFor('first records', async () => ((await kv.status()).values - base >= 5 ? true : undefined), 20_000);
    const old = stack.processor;
    await old.kill();
    const doneAtKill = (await kv.status()).values - base;
    expect(doneAtKill).toBeLessThan(N); // really mid-stream
    stack.processor = await stack.startProcessor({ grpcPort: old.ports.grpc });

    await waitFor('all records', async () => ((await kv.status()).values - base >= N ? true : undefined), 60_000);
    const jsm = await admin.jetstreamManager();
    await waitFor('empty work queue', async () => ((await jsm.streams.info('FLE_REQUESTS')).state.messages === 0 ? true : undefined), 20_000);
    for (const m of msgs) {
      const history = [];
      for await (const e of await kv.history({ key: `t1.${m.stamp.nonce}` })) history.push(e);
      expect(history.map((e) => e.operation)).toEqual(['PUT']); // stored exactly once
    }
    expect((await kv.status()).values - base).toBe(N);
    // None of them was dead-lettered, and every nonce was opened by one of the two processes.
    const nonces = new Set(msgs.map((m) => m.stamp.nonce));
    expect((await deadLetters()).filter((d) => nonces.has(d.headers?.get('Fle-Nonce') ?? ''))).toEqual([]);
    const opened = new Set([...(await old.digests()), ...(await stack.processor.digests())].map((d) => d.nonce));
    for (const n of nonces) expect(opened.has(n)).toBe(true);
    // The restarted processor serves the gateway's gRPC route on the same port.
    const after = await sealed();
    await expect(stack.callers.grpc.callRaw(after.msg, after.stamp)).resolves.toMatchObject({ approved: true });
  });
});
