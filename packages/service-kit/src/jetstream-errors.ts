// JetStream's "no room" answers, recognised by their API error codes
// (nats-server errors.json; checked against nats-server 2.9.10 in
// test/jetstream-errors.int.test.ts), so that a full stream or bucket is
// reported as what it is: RESOURCE_EXHAUSTED with STORE_FULL naming the
// store, not UNAVAILABLE (issue 17 item 2).
import { StoreFullError } from '@fle/protocol';

/** JetStream API error codes meaning "no room" (a full stream answers 10077 with one of NO_ROOM_DESCRIPTIONS). */
export const JETSTREAM_NO_ROOM_CODES = Object.freeze({
  /** JSInsufficientResourcesErr: the server cannot take more. */
  insufficientResources: 10023,
  /** JSMemoryResourcesExceededErr. */
  memoryResourcesExceeded: 10028,
  /** JSStorageResourcesExceededErr: the store (or its reservations) is full. */
  storageResourcesExceeded: 10047,
  /** JSStreamStoreFailedF: the stream refused the message; only a limit in its description means full. */
  streamStoreFailed: 10077,
});

const NO_ROOM_DESCRIPTIONS = /maximum (bytes|messages|messages per subject) exceeded|insufficient (storage )?resources|resource limits exceeded/i;

interface ApiErrorLike {
  api_error?: { err_code?: number; description?: string };
  message?: string;
}

/** The server's description when `err` is a JetStream "no room" answer; undefined otherwise. */
export function jetStreamNoRoom(err: unknown): string | undefined {
  const api = (err as ApiErrorLike | undefined)?.api_error;
  if (!api?.err_code) return undefined;
  const description = api.description ?? '';
  switch (api.err_code) {
    case JETSTREAM_NO_ROOM_CODES.insufficientResources:
    case JETSTREAM_NO_ROOM_CODES.memoryResourcesExceeded:
    case JETSTREAM_NO_ROOM_CODES.storageResourcesExceeded:
      return description || 'insufficient resources';
    case JETSTREAM_NO_ROOM_CODES.streamStoreFailed:
      return NO_ROOM_DESCRIPTIONS.test(description) ? description : undefined;
    default:
      return undefined;
  }
}

/**
 * STORE_FULL naming `what` (e.g. "the request stream") and the server's reason
 * when `err` is a "no room" answer; otherwise `otherwise(err)`.
 */
export function storeFullOr(err: unknown, what: string, otherwise: (err: unknown) => Error): Error {
  const why = jetStreamNoRoom(err);
  return why === undefined ? otherwise(err) : new StoreFullError(`${what} is full (${why}): retry later`, { cause: err });
}
