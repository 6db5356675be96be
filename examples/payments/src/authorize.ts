// The payments example's handler for AuthorizeRequest, running on plaintext
// inside the decrypt boundary (the processor, or a team's own process with
// @fle/boundary): Luhn-check the card number, answer with a card token (sealed by
// the pipeline: `card_token` is sensitive) and the clear last four digits, and
// store an AuthorizationRecord sealed for its place in the store (@fle/records).
//
// Effects happen once per request nonce: the record key is `<tenant>.<nonce>`;
// a redelivery (or a race) finds the stored record and answers from it, so the
// caller sees the same authorization either way.
import { randomBytes } from 'node:crypto';
import type { Handler } from '@fle/boundary';
import type { AuthorizationRecord, AuthorizeRequest, AuthorizeResponse } from './gen/acme/payments/v1/payments.js';
import { AuthorizationStore, recordKey } from './authorization-store.js';
import { luhnValid } from './luhn.js';

export interface AuthorizeHandlerOptions {
  readonly store: AuthorizationStore;
  readonly now?: () => number;
}

function responseFrom(record: AuthorizationRecord): AuthorizeResponse {
  return {
    tenantId: record.tenantId,
    requestId: record.requestId,
    approved: true,
    declineReason: '',
    cardToken: record.cardToken,
    cardLastFour: record.cardNumber.slice(-4),
    authorizationCode: record.authorizationCode,
  };
}

export function createAuthorizeHandler(opts: AuthorizeHandlerOptions): Handler<AuthorizeRequest, AuthorizeResponse> {
  const now = opts.now ?? Date.now;
  return async (req, ctx) => {
    const number = req.card?.number ?? '';
    if (!luhnValid(number)) {
      return {
        tenantId: ctx.tenant,
        requestId: req.requestId,
        approved: false,
        declineReason: 'card number fails the Luhn check',
        cardToken: '',
        cardLastFour: '',
        authorizationCode: '',
      };
    }
    const key = recordKey(ctx.tenant, ctx.stamp.nonce);
    if (ctx.resumed) {
      // A redelivery of a request that did not complete: it may have stored already.
      const existing = await opts.store.get(key);
      if (existing) {
        ctx.metrics.effects.inc({ kind: 'authorization_record', result: 'already_done' });
        return responseFrom(existing);
      }
    }
    const record: AuthorizationRecord = {
      tenantId: ctx.tenant,
      requestId: req.requestId,
      cardToken: `tok_${randomBytes(18).toString('base64url')}`,
      cardNumber: number,
      nationalId: req.nationalId,
      amountMinor: req.amountMinor,
      currency: req.currency,
      authorizationCode: randomBytes(4).toString('hex').toUpperCase(),
      authorizedAtUnixMs: now(),
    };
    const outcome = await opts.store.create(key, record);
    if (outcome === 'exists') {
      const existing = await opts.store.get(key);
      ctx.metrics.effects.inc({ kind: 'authorization_record', result: 'already_done' });
      if (existing) return responseFrom(existing);
    } else {
      ctx.metrics.effects.inc({ kind: 'authorization_record', result: 'done' });
      ctx.metrics.seals.inc({ type: opts.store.codec.typeName });
    }
    return responseFrom(record);
  };
}
