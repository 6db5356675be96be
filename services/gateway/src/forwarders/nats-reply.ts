// Shared by the core and JetStream forwarders: read a processor reply, map
// NATS client errors to the typed routing errors.
import { ErrorCode, type Msg, type MsgHdrs } from 'nats';
import { FLE_HEADERS, NatsHeaderBuilder, RemoteError, RoutingError, decodeErrorPayload, natsHeaderValue, stampToHeaders, storeFullOr } from '@fle/service-kit';
import type { ForwardRequest } from './forwarder.js';

/** The processor's response bytes, or its typed error thrown as a RemoteError. */
export function replyBytes(msg: Msg): Uint8Array {
  if (natsHeaderValue(msg.headers, FLE_HEADERS.errorCode)) throw decodeErrorPayload(msg.data);
  return msg.data;
}

/** The processor's reply once it comes: its response bytes, its typed error, or the routing error of no reply. */
export async function processorReply(reply: Promise<Msg>): Promise<Uint8Array> {
  let msg;
  try {
    msg = await reply;
  } catch (err) {
    throw mapNatsError(err);
  }
  return replyBytes(msg);
}

/** JetStream's message id header: the stream refuses a second message with the same id within its duplicate window. */
const MSG_ID_HEADER = 'Nats-Msg-Id';

/**
 * The headers of a request to the processor: its replay stamp, method,
 * caller, and over JetStream the reply inbox and the message id.
 */
export function requestHeaders(req: ForwardRequest, replyTo?: string, msgId?: string): MsgHdrs {
  const h = stampToHeaders(req.stamp, new NatsHeaderBuilder()).set(FLE_HEADERS.method, req.method.path);
  if (req.caller) h.set(FLE_HEADERS.caller, req.caller);
  if (replyTo !== undefined) h.set(FLE_HEADERS.replyTo, replyTo);
  if (msgId !== undefined) h.set(MSG_ID_HEADER, msgId);
  return h.headers;
}

/**
 * A JetStream publish that failed: a full request stream is STORE_FULL
 * (RESOURCE_EXHAUSTED, its true cause); no answer means JetStream did not
 * take the request, which says nothing about the processors.
 */
export function mapPublishError(err: unknown): Error {
  return storeFullOr(err, 'the request stream', (e) => {
    const code = (e as { code?: string }).code;
    if (code === ErrorCode.Timeout) return new RoutingError('UPSTREAM_TIMEOUT', 'JetStream did not acknowledge the request in time', { cause: e });
    if (code === ErrorCode.NoResponders) return new RoutingError('UPSTREAM_UNAVAILABLE', 'JetStream did not take the request (no stream answered)', { cause: e });
    return new RoutingError('UPSTREAM_UNAVAILABLE', 'NATS unavailable', { cause: e });
  });
}

export function mapNatsError(err: unknown): Error {
  if (err instanceof RemoteError) return err; // the processor's typed error: keep it
  const code = (err as { code?: string }).code;
  if (code === ErrorCode.Timeout) return new RoutingError('UPSTREAM_TIMEOUT', 'processor did not reply in time', { cause: err });
  if (code === ErrorCode.NoResponders) return new RoutingError('UPSTREAM_UNAVAILABLE', 'no processor is listening', { cause: err });
  return new RoutingError('UPSTREAM_UNAVAILABLE', 'NATS unavailable', { cause: err });
}
