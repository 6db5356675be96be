// Nonces come from an injectable RandomSource (STYLE: the RNG injectable for
// vectors). The default draws from the platform CSPRNG (Web Crypto
// getRandomValues: Node 20 and browsers, no import) in pooled blocks, so one
// seal does not pay one CSPRNG call.

/** Returns `n` fresh random bytes. Must never return the same bytes twice. */
export type RandomSource = (n: number) => Uint8Array;

/** A pooled source can also copy its bytes straight into an envelope (no view allocated). */
export interface PooledRandomSource extends RandomSource {
  /** Writes `n` fresh random bytes at out[offset..offset+n). */
  fillInto(out: Uint8Array, offset: number, n: number): void;
}

/** Web Crypto fills at most 65536 bytes per call. */
const MAX_FILL = 65536;
/**
 * One CSPRNG call costs about the same from 4 to 64 KiB (Node 20: 13-18 µs,
 * nearly all of it per call), so the pool is one whole call: 5461 nonces of
 * 12 bytes per call instead of 341.
 */
export const DEFAULT_POOL_SIZE = MAX_FILL;

function fillRandom(out: Uint8Array): Uint8Array {
  for (let i = 0; i < out.length; i += MAX_FILL) {
    globalThis.crypto.getRandomValues(out.subarray(i, Math.min(out.length, i + MAX_FILL)));
  }
  return out;
}

/**
 * A RandomSource that fills a `poolSize`-byte block from the CSPRNG once and
 * hands out consecutive, non-overlapping slices of it. A used block is never
 * refilled: when it runs out a new block is allocated, so a slice handed out
 * earlier never changes and no byte is handed out twice.
 */
export function pooledRandom(poolSize: number = DEFAULT_POOL_SIZE): PooledRandomSource {
  if (!Number.isInteger(poolSize) || poolSize < 1) throw new RangeError(`poolSize must be a positive integer, got ${poolSize}`);
  let pool: Uint8Array = new Uint8Array(0);
  let offset = 0;
  const take = (n: number): number => {
    if (offset + n > pool.length) {
      pool = fillRandom(new Uint8Array(poolSize));
      offset = 0;
    }
    const at = offset;
    offset += n;
    return at;
  };
  const random = (n: number): Uint8Array => {
    if (n > poolSize) return fillRandom(new Uint8Array(n));
    const at = take(n);
    return pool.subarray(at, at + n);
  };
  return Object.assign(random, {
    fillInto(out: Uint8Array, outOffset: number, n: number): void {
      if (n > poolSize) {
        out.set(fillRandom(new Uint8Array(n)), outOffset);
        return;
      }
      const at = take(n);
      for (let i = 0; i < n; i++) out[outOffset + i] = pool[at + i]!;
    },
  });
}

/** The shared default: one pool per process (per JS realm). */
export const defaultRandom: PooledRandomSource = pooledRandom();

/** Writes `n` fresh bytes from `random` at out[offset..]: straight from a pooled source, else checked and copied. */
export function fillFrom(random: RandomSource, out: Uint8Array, offset: number, n: number): void {
  const { fillInto } = random as Partial<PooledRandomSource>;
  if (fillInto !== undefined) {
    fillInto(out, offset, n);
    return;
  }
  const bytes = random(n);
  if (bytes.length !== n) throw new RangeError(`random source returned ${bytes.length} bytes, expected ${n}`);
  out.set(bytes, offset);
}
