// The gateway's token buckets (issue 17 item 2), on a hand-driven clock.
import { status } from '@grpc/grpc-js';
import { classifyError } from '@fle/service-kit';
import { describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../src/config.js';
import { DEFAULT_RATE_LIMITS, RateLimiter, TokenBucket, type BucketLimits, type RateLimits } from '../src/rate-limit.js';

const MiB = 2 ** 20;
const small: BucketLimits = { requestsPerSecond: 10, burstRequests: 20, bytesPerSecond: 8 * MiB, burstBytes: 16 * MiB };

function limiter(limits: Partial<RateLimits>, clock: { t: number }): RateLimiter {
  return new RateLimiter({ perCaller: undefined, perTenant: undefined, maxKeys: 100, ...limits }, () => clock.t);
}

function refusal(fn: () => void): unknown {
  try {
    fn();
    return undefined;
  } catch (e) {
    return e;
  }
}

describe('TokenBucket', () => {
  it('allows the burst, then the sustained rate', () => {
    const b = new TokenBucket(small, 0);
    for (let i = 0; i < 20; i++) expect(b.take(100, 0), `request ${i}`).toBe(true);
    expect(b.take(100, 0)).toBe(false);
    expect(b.take(100, 99)).toBe(false); // 0.99 tokens after 99 ms
    expect(b.take(100, 100)).toBe(true); // 1 token after 100 ms at 10/s
    expect(b.take(100, 100)).toBe(false);
  });

  it('counts bytes: a flood of large requests is stopped by bytes long before the request rate', () => {
    const b = new TokenBucket(small, 0);
    let admitted = 0;
    for (let i = 0; i < 20; i++) if (b.take(4 * MiB, 0)) admitted++;
    expect(admitted).toBe(4); // 16 MiB burst / 4 MiB
    // One second later: 8 MiB more, two more 4 MiB requests.
    expect([b.take(4 * MiB, 1000), b.take(4 * MiB, 1000), b.take(4 * MiB, 1000)]).toEqual([true, true, false]);
  });

  it('takes nothing from a refused request, so a small one still fits after a large one was refused', () => {
    const b = new TokenBucket(small, 0);
    expect(b.take(15 * MiB, 0)).toBe(true);
    expect(b.take(4 * MiB, 0)).toBe(false);
    expect(b.take(2048, 0)).toBe(true);
  });

  it('never holds more than its capacity, however long it was idle, and ignores a clock that goes back', () => {
    const b = new TokenBucket(small, 0);
    expect(b.take(16 * MiB, 0)).toBe(true);
    for (let i = 0; i < 20; i++) expect(b.take(1, 3_600_000)).toBe(true);
    expect(b.take(1, 3_600_000)).toBe(false); // 20 requests at most
    expect(b.take(1, 1000)).toBe(false); // time went back: no refill
  });
});

describe('RateLimiter', () => {
  it('limits each caller identity on its own, and refuses with RATE_LIMITED → RESOURCE_EXHAUSTED', () => {
    const clock = { t: 0 };
    const rl = limiter({ perCaller: { ...small, burstRequests: 2 } }, clock);
    rl.admitCaller('spiffe://fle.local/client', 10);
    rl.admitCaller('spiffe://fle.local/client', 10);
    const err = refusal(() => rl.admitCaller('spiffe://fle.local/client', 10));
    expect(err).toMatchObject({ code: 'RATE_LIMITED', message: 'rate limit exceeded for this caller: retry later' });
    expect(classifyError(err)).toMatchObject({ grpcStatus: status.RESOURCE_EXHAUSTED, permanent: false, reason: 'rate_limited' });
    // Another identity has its own bucket.
    expect(refusal(() => rl.admitCaller('spiffe://fle.local/other', 10))).toBeUndefined();
  });

  it('limits each tenant on its own', () => {
    const clock = { t: 0 };
    const rl = limiter({ perTenant: small }, clock);
    for (let i = 0; i < 4; i++) rl.admitTenant('flooder', 4 * MiB);
    expect(refusal(() => rl.admitTenant('flooder', 4 * MiB))).toMatchObject({ code: 'RATE_LIMITED', message: 'rate limit exceeded for this tenant: retry later' });
    expect(refusal(() => rl.admitTenant('quiet', 4 * MiB))).toBeUndefined();
    clock.t = 500; // half a second: 4 MiB refilled
    expect(refusal(() => rl.admitTenant('flooder', 4 * MiB))).toBeUndefined();
  });

  it('has no limit of a kind that is not configured', () => {
    const rl = limiter({}, { t: 0 });
    for (let i = 0; i < 10_000; i++) {
      rl.admitCaller('c', 4 * MiB);
      rl.admitTenant('t', 4 * MiB);
    }
    expect(rl.keys).toEqual({ callers: 0, tenants: 0 });
  });

  it('keeps at most maxKeys buckets: a caller inventing tenant names cannot grow memory', () => {
    const rl = new RateLimiter({ perCaller: undefined, perTenant: small, maxKeys: 50 }, () => 0);
    for (let i = 0; i < 5000; i++) rl.admitTenant(`t${i}`, 1);
    expect(rl.keys.tenants).toBe(50);
  });

  it('keeps a busy key when it evicts: the least recently used goes first', () => {
    const clock = { t: 0 };
    const rl = new RateLimiter({ perCaller: undefined, perTenant: { ...small, burstRequests: 1, requestsPerSecond: 0.001 }, maxKeys: 2 }, () => clock.t);
    rl.admitTenant('busy', 1);
    rl.admitTenant('a', 1);
    expect(refusal(() => rl.admitTenant('busy', 1))).toMatchObject({ code: 'RATE_LIMITED' }); // touched: now most recent
    rl.admitTenant('b', 1); // evicts `a`, not `busy`
    expect(refusal(() => rl.admitTenant('busy', 1))).toMatchObject({ code: 'RATE_LIMITED' });
  });

  it('defaults limit both kinds, with room for a request of the gateway\'s largest size', () => {
    expect(DEFAULT_RATE_LIMITS.perCaller!.burstBytes).toBeGreaterThanOrEqual(4 * MiB);
    expect(DEFAULT_RATE_LIMITS.perTenant!.burstBytes).toBeGreaterThanOrEqual(4 * MiB);
    const rl = new RateLimiter(DEFAULT_RATE_LIMITS, () => 0);
    let admitted = 0;
    for (let i = 0; i < 100; i++) {
      try {
        rl.admitTenant('flooder', 4 * MiB);
        admitted++;
      } catch {
        // refused
      }
    }
    expect(admitted).toBe(DEFAULT_RATE_LIMITS.perTenant!.burstBytes / (4 * MiB));
  });
});

describe('gateway config rateLimits', () => {
  const tls = { ca: 'ca.pem', cert: 'gateway.pem', key: 'gateway-key.pem' };
  const base = { grpc: { tls }, schema: { image: 'schema.binpb' }, routes: [{ method: '/a.B/C', route: 'c', transport: 'grpc', processor: { address: '127.0.0.1:9443', tls } }] };

  it('defaults to DEFAULT_RATE_LIMITS', () => {
    expect(parseGatewayConfig(base).rateLimits).toEqual(DEFAULT_RATE_LIMITS);
  });

  it('reads each bucket, field by field over the defaults, and turns one off', () => {
    const c = parseGatewayConfig({ ...base, rateLimits: { perCaller: { requestsPerSecond: 50 }, perTenant: { enabled: false }, maxKeys: 100 } });
    expect(c.rateLimits).toEqual({ perCaller: { ...DEFAULT_RATE_LIMITS.perCaller, requestsPerSecond: 50 }, perTenant: undefined, maxKeys: 100 });
  });

  it('refuses a burst too small for the largest request, and nonsense numbers, naming the key', () => {
    expect(() => parseGatewayConfig({ ...base, rateLimits: { perTenant: { burstBytes: 1024 } } })).toThrow('rateLimits.perTenant.burstBytes must be at least grpc.maxMessageBytes (4194304)');
    expect(() => parseGatewayConfig({ ...base, rateLimits: { perCaller: { requestsPerSecond: -1 } } })).toThrow(/rateLimits\.perCaller\.requestsPerSecond must be a number/);
  });
});
