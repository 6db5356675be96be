// A tenant id becomes one token of a NATS subject (`fle.rpc.<tenant>.<route>`),
// so it must not contain separators or wildcards; we accept a conservative set.
import { RoutingError } from './errors.js';

const TOKEN_RE = /^[A-Za-z0-9_-]{1,64}$/;

export function isValidNatsToken(s: string): boolean {
  return TOKEN_RE.test(s);
}

/** Throws RoutingError(INVALID_TENANT) — without echoing the value — when `tenant` is not a safe token. */
export function assertTenantToken(tenant: string): string {
  if (!isValidNatsToken(tenant)) {
    throw new RoutingError('INVALID_TENANT', 'tenant id must be 1-64 characters of [A-Za-z0-9_-]');
  }
  return tenant;
}
