// Replies over NATS: the sealed response bytes, or the typed error payload
// (header `Fle-Error-Code`, body `{code, message}`; no plaintext).
import { headers as natsHeaders, type MsgHdrs } from 'nats';
import { ERROR_HEADER, encodeErrorPayload, errorPayloadOf } from '@fle/service-kit';

export function errorReply(err: unknown): { data: Uint8Array; headers: MsgHdrs } {
  const payload = errorPayloadOf(err);
  const headers = natsHeaders();
  headers.set(ERROR_HEADER, payload.code);
  return { data: encodeErrorPayload(payload), headers };
}

/** A reply inbox must be a core inbox: the header must not steer a publish elsewhere. */
export function isInbox(subject: string | undefined): subject is string {
  return !!subject && /^_INBOX\.[A-Za-z0-9_.-]+$/.test(subject) && !subject.includes('..');
}
