// How a sealed event is bound and labelled (docs/events.md "Binding").
//
// Every envelope of an event carries, in its AAD context (envelope-v1 §3),
//
//     evt/<subject>/<msg-id>
//
// the subject it was published on and its message id. The subscriber opens
// with the subject the message arrived on and the id in its Nats-Msg-Id
// header, so an event moved (or republished) onto another subject, or given
// another id, fails to authenticate. A message id is 1-128 characters of
// `A-Z a-z 0-9 _ -`: it holds no `/`, so the text names exactly one (subject,
// id) pair even though a NATS subject may contain `/`.
import { defaultRandom, encodeBase64url } from '@fle/field-crypto';
import { RoutingError } from '@fle/service-kit';

/** The headers a sealed event carries. */
export const EVENT_HEADERS = {
  /** The event's id: bound into the AAD, JetStream de-duplicates on it, subscribers deliver once per id. */
  msgId: 'Nats-Msg-Id',
  /** Full protobuf name of the event type (also bound in the AAD, as message_type). */
  type: 'Fle-Event-Type',
  /** The tenant whose keys sealed it (the event's tenant field, repeated so a dead letter can be routed without decoding). */
  tenant: 'Fle-Tenant',
} as const;

const MSG_ID = /^[A-Za-z0-9_-]{1,128}$/;

export function isValidMsgId(id: unknown): id is string {
  return typeof id === 'string' && MSG_ID.test(id);
}

/** A fresh id: 16 random bytes (field-crypto's pooled CSPRNG, no system call per id), base64url (22 characters). */
export function newMsgId(): string {
  return encodeBase64url(defaultRandom(16));
}

/**
 * A subject an event can be published on: non-empty tokens separated by
 * single dots, no wildcard, no whitespace.
 */
export function assertPublishSubject(subject: string): string {
  const ok =
    typeof subject === 'string' &&
    subject.length > 0 &&
    subject.length <= 1024 &&
    !/[\s*>]/.test(subject) &&
    subject.split('.').every((t) => t.length > 0);
  if (!ok) throw new RoutingError('BAD_REQUEST', 'event subject must be a concrete NATS subject (non-empty tokens, no wildcards or spaces)');
  return subject;
}

/** The AAD context of an event published on `subject` with id `msgId`. */
export function eventContext(subject: string, msgId: string): string {
  return `evt/${subject}/${msgId}`;
}
