// Replies over NATS: the sealed response bytes, or the typed error payload
// (header `Fle-Error-Code`, body `{code, message}`; no plaintext).
import { headers as natsHeaders, type MsgHdrs } from 'nats';
import { natsInboxPrefix } from '@fle/nats-setup';
import { ERROR_HEADER, encodeErrorPayload, errorPayloadOf } from '@fle/service-kit';

const GATEWAY_INBOX = new RegExp(`^${natsInboxPrefix('gateway')}\\.[A-Za-z0-9_.-]+$`);

export function errorReply(err: unknown): { data: Uint8Array; headers: MsgHdrs } {
  const payload = errorPayloadOf(err);
  const headers = natsHeaders();
  headers.set(ERROR_HEADER, payload.code);
  return { data: encodeErrorPayload(payload), headers };
}

/**
 * A JetStream reply goes only to a gateway inbox (`_INBOX_gateway.…`, the
 * only inbox the processor may publish to): the header must not steer a
 * publish anywhere else.
 */
export function isInbox(subject: string | undefined): subject is string {
  return !!subject && GATEWAY_INBOX.test(subject) && !subject.includes('..');
}
