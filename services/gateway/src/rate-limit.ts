// Rate limits at the gateway (issue 17 item 2): a token bucket per caller
// identity and one per tenant, each counting requests and bytes. A request
// takes 1 request token and its size in byte tokens from its caller's bucket
// (checked before the request is decoded) and from its tenant's bucket (once
// the tenant is known); when either bucket cannot cover it, the request is
// refused with RATE_LIMITED (RESOURCE_EXHAUSTED) and takes nothing from it.
//
// Counting bytes as well as requests is what stops a flood of large
// requests: four clients sending 4 MiB each stay under any sane request rate
// while writing tens of MB/s. A small request still fits between large ones:
// it needs only its own few bytes of the bucket.
//
// Memory is bounded: at most `maxKeys` buckets per kind (tenant names are
// chosen by callers); the least recently used bucket is dropped first, which
// at worst gives that key a fresh (full) bucket.
import { RoutingError } from '@fle/service-kit';

/** One token bucket's refill rate and capacity, for requests and for bytes. */
export interface BucketLimits {
  /** Sustained requests per second. */
  readonly requestsPerSecond: number;
  /** Requests allowed at once after an idle period (the bucket's capacity). */
  readonly burstRequests: number;
  /** Sustained request bytes per second. */
  readonly bytesPerSecond: number;
  /** Bytes allowed at once after an idle period; at least the largest request. */
  readonly burstBytes: number;
}

export interface RateLimits {
  /** Per caller identity (the SPIFFE ID of its certificate). Undefined: no per-caller limit. */
  readonly perCaller: BucketLimits | undefined;
  /** Per tenant. Undefined: no per-tenant limit. */
  readonly perTenant: BucketLimits | undefined;
  /** Buckets kept per kind. */
  readonly maxKeys: number;
}

/**
 * Defaults, per gateway instance: above what one well-behaved caller or
 * tenant sends (the end-to-end benchmark peaks near 1 000 requests/s of up
 * to 16 KiB from one caller for one tenant), below a flood of large
 * requests. Size them to what the processors behind the gateways can open:
 * config `rateLimits` overrides them (the local stack of `npm start` sets
 * lower ones, packages/devstack/src/configs.ts).
 */
export const DEFAULT_RATE_LIMITS: RateLimits = Object.freeze({
  perCaller: Object.freeze({ requestsPerSecond: 5000, burstRequests: 10_000, bytesPerSecond: 64 * 2 ** 20, burstBytes: 128 * 2 ** 20 }),
  perTenant: Object.freeze({ requestsPerSecond: 2000, burstRequests: 4000, bytesPerSecond: 32 * 2 ** 20, burstBytes: 64 * 2 ** 20 }),
  maxKeys: 10_000,
});

/** Two token buckets (requests, bytes) filled at their rates up to their capacities. */
export class TokenBucket {
  #requests: number;
  #bytes: number;
  #at: number;

  constructor(
    private readonly limits: BucketLimits,
    now: number,
  ) {
    this.#requests = limits.burstRequests;
    this.#bytes = limits.burstBytes;
    this.#at = now;
  }

  /** Takes 1 request and `bytes` bytes if both are there; otherwise takes nothing and returns false. */
  take(bytes: number, now: number): boolean {
    const elapsed = Math.max(0, now - this.#at) / 1000;
    this.#at = Math.max(this.#at, now);
    this.#requests = Math.min(this.limits.burstRequests, this.#requests + elapsed * this.limits.requestsPerSecond);
    this.#bytes = Math.min(this.limits.burstBytes, this.#bytes + elapsed * this.limits.bytesPerSecond);
    if (this.#requests < 1 || this.#bytes < bytes) return false;
    this.#requests -= 1;
    this.#bytes -= bytes;
    return true;
  }
}

class BucketMap {
  readonly #buckets = new Map<string, TokenBucket>();
  constructor(
    private readonly limits: BucketLimits,
    private readonly maxKeys: number,
  ) {}

  take(key: string, bytes: number, now: number): boolean {
    let b = this.#buckets.get(key);
    if (b) this.#buckets.delete(key); // re-inserted below: Map order is least recently used first
    else b = new TokenBucket(this.limits, now);
    this.#buckets.set(key, b);
    while (this.#buckets.size > this.maxKeys) this.#buckets.delete(this.#buckets.keys().next().value!);
    return b.take(bytes, now);
  }

  get size(): number {
    return this.#buckets.size;
  }
}

export class RateLimiter {
  readonly #callers: BucketMap | undefined;
  readonly #tenants: BucketMap | undefined;

  constructor(
    limits: RateLimits = DEFAULT_RATE_LIMITS,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.#callers = limits.perCaller ? new BucketMap(limits.perCaller, limits.maxKeys) : undefined;
    this.#tenants = limits.perTenant ? new BucketMap(limits.perTenant, limits.maxKeys) : undefined;
  }

  /** Before decoding: the caller's bucket (callers without a SPIFFE ID share one). Throws RATE_LIMITED. */
  admitCaller(caller: string | undefined, bytes: number): void {
    if (this.#callers && !this.#callers.take(caller ?? '', bytes, this.now())) {
      throw new RoutingError('RATE_LIMITED', 'rate limit exceeded for this caller: retry later');
    }
  }

  /** Once the tenant is known: the tenant's bucket. Throws RATE_LIMITED. */
  admitTenant(tenant: string, bytes: number): void {
    if (this.#tenants && !this.#tenants.take(tenant, bytes, this.now())) {
      throw new RoutingError('RATE_LIMITED', 'rate limit exceeded for this tenant: retry later');
    }
  }

  /** Buckets held (for tests of the memory bound). */
  get keys(): { callers: number; tenants: number } {
    return { callers: this.#callers?.size ?? 0, tenants: this.#tenants?.size ?? 0 };
  }
}
