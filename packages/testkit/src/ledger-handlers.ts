// The fixture service's handlers (fletest.svc.v1.LedgerService), loaded by a
// processor under test from its config (`handlers:`), the way a team's
// processor loads the team's module. Submit: a Luhn check, a sealed card
// token, the clear last four digits, and a StoredEntry sealed under its own
// context in KV (LEDGER_BUCKET) at `<tenant>.<nonce>`, created once per nonce:
// a redelivery finds it and answers from it. SubmitPlain: the same on the
// unmarked twin types (the benchmark baseline shape).
import { randomBytes } from 'node:crypto';
import type { JetStreamClient, KV } from 'nats';
import type protobuf from 'protobufjs';
import { messageCodec } from '@fle/schema';
import { luhnValid } from '@fle/client/testing';
import { LEDGER_BUCKET, ledgerEntryContext, ledgerKey, type LedgerRequest, type LedgerResponse } from './ledger.js';

// Structural: testkit does not depend on @fle/boundary (which tests with it).
interface Ctx {
  readonly tenant: string;
  readonly stamp: { readonly nonce: string };
  readonly resumed: boolean;
  readonly cipher: { sealMessage<T>(type: string, m: T, o: { context: string }): Promise<T>; openMessage<T>(type: string, m: T, o: { context: string }): Promise<T> };
}

interface Entry {
  tenantId: string;
  requestId: string;
  cardToken: string;
  cardNumber: string;
  nationalId: string;
  amountMinor: string;
  currency: string;
  authorizationCode: string;
  authorizedAtUnixMs: string;
}

function isConflict(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; message?: string } | undefined;
  return e?.api_error?.err_code === 10071 || /wrong last sequence/i.test(e?.message ?? '');
}

function handler(kv: KV, root: protobuf.Root, entryType: string) {
  const codec = messageCodec<Entry>(root, entryType);
  const answer = (e: Entry): LedgerResponse => ({
    tenantId: e.tenantId,
    requestId: e.requestId,
    approved: true,
    declineReason: '',
    cardToken: e.cardToken,
    cardLastFour: e.cardNumber.slice(-4),
    authorizationCode: e.authorizationCode,
  });
  const stored = async (key: string, ctx: Ctx): Promise<Entry | undefined> => {
    const got = await kv.get(key);
    if (!got || got.operation !== 'PUT') return undefined;
    const sealed = codec.decode(got.value);
    return ctx.cipher.openMessage(entryType, sealed, { context: ledgerEntryContext(sealed.requestId) });
  };
  return async (req: LedgerRequest, ctx: Ctx): Promise<LedgerResponse> => {
    const number = req.card?.number ?? '';
    if (!luhnValid(number)) {
      return { tenantId: ctx.tenant, requestId: req.requestId, approved: false, declineReason: 'card number fails the Luhn check', cardToken: '', cardLastFour: '', authorizationCode: '' };
    }
    const key = ledgerKey(ctx.tenant, ctx.stamp.nonce);
    if (ctx.resumed) {
      const existing = await stored(key, ctx);
      if (existing) return answer(existing);
    }
    const entry: Entry = {
      tenantId: ctx.tenant,
      requestId: req.requestId,
      cardToken: `tok_${randomBytes(18).toString('base64url')}`,
      cardNumber: number,
      nationalId: req.nationalId,
      amountMinor: req.amountMinor,
      currency: req.currency,
      authorizationCode: randomBytes(4).toString('hex').toUpperCase(),
      authorizedAtUnixMs: String(Date.now()),
    };
    const sealed = await ctx.cipher.sealMessage(entryType, entry, { context: ledgerEntryContext(entry.requestId) });
    try {
      await kv.create(key, codec.encode(sealed));
    } catch (err) {
      if (!isConflict(err)) throw Object.assign(new Error('entry store unavailable', { cause: err }), { code: 'UPSTREAM_UNAVAILABLE' });
      const existing = await stored(key, ctx);
      if (existing) return answer(existing);
    }
    return answer(entry);
  };
}

export default async function ledgerHandlers(setup: { schema: protobuf.Root; js?: JetStreamClient }) {
  if (!setup.js) throw new Error('the ledger handlers need JetStream (their entries are a KV bucket)');
  const kv = await setup.js.views.kv(LEDGER_BUCKET, { history: 1, maxBucketSize: 64 * 1024 * 1024, maxValueSize: 64 * 1024 });
  return {
    Submit: handler(kv, setup.schema, 'fletest.svc.v1.StoredEntry'),
    SubmitPlain: handler(kv, setup.schema, 'fletest.svc.v1.StoredEntryPlain'),
  };
}
