// The replay stamp (DESIGN.md "Replay protection"; HELPERS.md conventions):
// unix-ms timestamp + 16 random bytes, carried as gRPC metadata
// `fle-timestamp` / `fle-nonce` or NATS headers `Fle-Timestamp` / `Fle-Nonce`,
// and bound into every sealed field's AAD as context `req/<ts>/<nonce>`.
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import { MissingStampError } from './errors.js';

export interface ReplayStamp {
  /** Unix milliseconds when the client stamped the request. */
  readonly timestampMs: number;
  /** base64url (no padding) of 16 random bytes. */
  readonly nonce: string;
}

export const STAMP_METADATA = { timestamp: 'fle-timestamp', nonce: 'fle-nonce' } as const;
export const STAMP_HEADERS = { timestamp: 'Fle-Timestamp', nonce: 'Fle-Nonce' } as const;

const NONCE_RE = /^[A-Za-z0-9_-]{22}$/;
const TS_RE = /^[0-9]{1,15}$/;

export interface StampOptions {
  readonly now?: () => number;
  /** Injectable for vectors; default node:crypto randomBytes. */
  readonly randomBytes?: (n: number) => Uint8Array;
}

export function newReplayStamp(opts: StampOptions = {}): ReplayStamp {
  const ts = Math.floor((opts.now ?? Date.now)());
  const bytes = (opts.randomBytes ?? nodeRandomBytes)(16);
  return { timestampMs: ts, nonce: Buffer.from(bytes).toString('base64url') };
}

/** The AAD context of an in-flight request: `req/<ts>/<nonce>`. */
export function replayContext(stamp: ReplayStamp): string {
  return `req/${stamp.timestampMs}/${stamp.nonce}`;
}

/** Parse and validate the two stamp strings; throws MissingStampError. */
export function parseReplayStamp(timestamp: string | undefined, nonce: string | undefined): ReplayStamp {
  if (timestamp === undefined || nonce === undefined || !TS_RE.test(timestamp) || !NONCE_RE.test(nonce)) {
    throw new MissingStampError();
  }
  return { timestampMs: Number(timestamp), nonce };
}

export function stampToMetadata(stamp: ReplayStamp, md: Metadata): Metadata {
  md.set(STAMP_METADATA.timestamp, String(stamp.timestampMs));
  md.set(STAMP_METADATA.nonce, stamp.nonce);
  return md;
}

/** The one string value of metadata key `k`, or undefined (absent, repeated or binary). */
function singleValue(md: Metadata, k: string): string | undefined {
  const v = md.get(k);
  return v.length === 1 && typeof v[0] === 'string' ? v[0] : undefined;
}

export function stampFromMetadata(md: Metadata): ReplayStamp {
  return parseReplayStamp(singleValue(md, STAMP_METADATA.timestamp), singleValue(md, STAMP_METADATA.nonce));
}

/** The subset of nats.js MsgHdrs the stamp needs. */
export interface HeaderLike {
  get(k: string): string;
  set(k: string, v: string): void;
}

/** Sets the stamp's NATS headers (`Fle-Timestamp`, `Fle-Nonce`) on `h`, and returns it. */
export function stampToHeaders<H extends Pick<HeaderLike, 'set'>>(stamp: ReplayStamp, h: H): H {
  h.set(STAMP_HEADERS.timestamp, String(stamp.timestampMs));
  h.set(STAMP_HEADERS.nonce, stamp.nonce);
  return h;
}

export function stampFromHeaders(h: Pick<HeaderLike, 'get'> | undefined): ReplayStamp {
  if (!h) throw new MissingStampError();
  const ts = h.get(STAMP_HEADERS.timestamp);
  const nonce = h.get(STAMP_HEADERS.nonce);
  return parseReplayStamp(ts === '' ? undefined : ts, nonce === '' ? undefined : nonce);
}
