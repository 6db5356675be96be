// A small semaphore: at most `limit` handlers run at once; the rest wait in
// FIFO order. Bounded queue: beyond `maxQueued` callers are told to back off.
export class Limiter {
  #running = 0;
  readonly #queue: Array<() => void> = [];
  constructor(
    readonly limit: number,
    readonly maxQueued: number = 10_000,
  ) {}

  get active(): number {
    return this.#running;
  }

  /** Runs `fn` when a slot is free; returns false (without running) when the queue is full. */
  run(fn: () => Promise<void>): boolean {
    if (this.#running >= this.limit && this.#queue.length >= this.maxQueued) return false;
    const start = () => {
      this.#running++;
      fn()
        .catch(() => undefined)
        .finally(() => {
          this.#running--;
          this.#queue.shift()?.();
        });
    };
    if (this.#running < this.limit) start();
    else this.#queue.push(start);
    return true;
  }

  /** Resolves when nothing runs and nothing waits (bounded by `timeoutMs`). */
  async idle(timeoutMs = 5000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while ((this.#running > 0 || this.#queue.length > 0) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  }
}
