// NATS header names shared by the gateway (publisher) and the processor
// (consumer). The replay stamp headers are in ./replay/stamp.ts (STAMP_HEADERS).
export const FLE_HEADERS = {
  /** gRPC method path of the request, e.g. `/shop.v1.OrderService/PlaceOrder`. */
  method: 'Fle-Method',
  /** JetStream requests: the core inbox the processor replies to. */
  replyTo: 'Fle-Reply-To',
  /** SPIFFE ID of the authenticated gRPC caller (informational). */
  caller: 'Fle-Caller',
  /** Set on an error reply: the stable error code (body: the typed error payload). */
  errorCode: 'Fle-Error-Code',
  /** Dead letters: why, with which code, from which subject and delivery. */
  dlqReason: 'Fle-Dlq-Reason',
  dlqCode: 'Fle-Dlq-Code',
  dlqSubject: 'Fle-Dlq-Subject',
  dlqOrigin: 'Fle-Dlq-Origin',
  /** Dead letters: the original body's size; the letter keeps at most a prefix of it. */
  dlqSize: 'Fle-Dlq-Size',
} as const;

/** HELPERS.md subjects. */
export const SUBJECT_PREFIX = { rpc: 'fle.rpc', js: 'fle.js', dlq: 'fle.dlq' } as const;
export const STREAM_NAMES = { requests: 'FLE_REQUESTS', deadLetters: 'FLE_DLQ' } as const;
export const KV_NAMES = { nonces: 'fle_nonces', authorizations: 'fle_authorizations' } as const;

export function rpcSubject(tenant: string, route: string): string {
  return `${SUBJECT_PREFIX.rpc}.${tenant}.${route}`;
}
export function jsSubject(tenant: string, route: string): string {
  return `${SUBJECT_PREFIX.js}.${tenant}.${route}`;
}
export function dlqSubject(tenant: string, route: string): string {
  return `${SUBJECT_PREFIX.dlq}.${tenant}.${route}`;
}

/**
 * The subject token of method `method` (as named in the .proto, e.g.
 * `SubmitPlain`) of a route that selects a whole service: `<route>-<method in
 * kebab case>` (`ledger-submit-plain`). The gateway and the boundary compute
 * it alike, so one `route:` per service configures both ends.
 */
export function methodRouteToken(route: string, method: string): string {
  const kebab = method
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1-$2')
    .replace(/_/g, '-')
    .toLowerCase();
  return `${route}-${kebab}`;
}

/** `fle.<kind>.<tenant>.<route>` → parts, or undefined for anything else. */
export function parseRequestSubject(subject: string): { kind: 'rpc' | 'js'; tenant: string; route: string } | undefined {
  const parts = subject.split('.');
  if (parts.length !== 4 || parts[0] !== 'fle' || (parts[1] !== 'rpc' && parts[1] !== 'js')) return undefined;
  return { kind: parts[1], tenant: parts[2]!, route: parts[3]! };
}
