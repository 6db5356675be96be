// Nonce store on Redis: `SET key value NX PX ttl` claims atomically; compare
// and set / delete by origin run as small Lua scripts so they are atomic too.
import type { Redis } from 'ioredis';
import { RoutingError } from '@fle/protocol';
import { decodeNonceRecord, encodeNonceRecord, judgeExisting, type ClaimOutcome, type NonceStore } from './nonce-store.js';

// KEYS[1] key, ARGV[1] expected in-progress value, ARGV[2] new value, ARGV[3] ttl ms
const COMPLETE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end return nil`;
// KEYS[1] key, ARGV[1] expected in-progress value
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

function unavailable(err: unknown): RoutingError {
  return new RoutingError('UPSTREAM_UNAVAILABLE', 'nonce store unavailable', { cause: err });
}

export interface RedisNonceStoreOptions {
  /** Key prefix, default `fle_nonces:`. */
  readonly prefix?: string;
}

export class RedisNonceStore implements NonceStore {
  readonly #prefix: string;
  constructor(private readonly redis: Redis, opts: RedisNonceStoreOptions = {}) {
    this.#prefix = opts.prefix ?? 'fle_nonces:';
  }

  async claim(key: string, origin: string, ttlMs: number): Promise<ClaimOutcome> {
    const k = this.#prefix + key;
    try {
      for (let round = 0; round < 2; round++) {
        const ok = await this.redis.set(k, encodeNonceRecord({ state: 'in-progress', origin }), 'PX', ttlMs, 'NX');
        if (ok === 'OK') return 'claimed';
        const existing = await this.redis.get(k);
        if (existing !== null) return judgeExisting(decodeNonceRecord(existing), origin);
      }
    } catch (err) {
      if ((err as { code?: string }).code === 'REPLAY_NONCE') throw err;
      throw unavailable(err);
    }
    return judgeExisting(undefined, origin);
  }

  async complete(key: string, origin: string, ttlMs: number): Promise<void> {
    try {
      await this.redis.eval(
        COMPLETE,
        1,
        this.#prefix + key,
        encodeNonceRecord({ state: 'in-progress', origin }),
        encodeNonceRecord({ state: 'done', origin }),
        String(ttlMs),
      );
    } catch (err) {
      throw unavailable(err);
    }
  }

  async release(key: string, origin: string): Promise<void> {
    try {
      await this.redis.eval(RELEASE, 1, this.#prefix + key, encodeNonceRecord({ state: 'in-progress', origin }));
    } catch (err) {
      throw unavailable(err);
    }
  }
}
