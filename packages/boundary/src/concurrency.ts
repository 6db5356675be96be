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

  #starter(fn: () => Promise<void>): () => void {
    return () => {
      this.#running++;
      fn()
        .catch(() => undefined)
        .finally(() => {
          this.#running--;
          this.#queue.shift()?.();
        });
    };
  }

  /** Runs `fn` when a slot is free; returns false (without running) when the queue is full. */
  run(fn: () => Promise<void>): boolean {
    if (this.#running >= this.limit && this.#queue.length >= this.maxQueued) return false;
    const start = this.#starter(fn);
    if (this.#running < this.limit && this.#queue.length === 0) start();
    else this.#queue.push(start);
    return true;
  }

  /**
   * Resolves once `fn` has STARTED (not finished). A pull loop awaits this
   * before taking the next message, so it never holds more messages than it
   * can work on (their ack-wait timers run while they wait).
   */
  async startWhenFree(fn: () => Promise<void>): Promise<void> {
    const start = this.#starter(fn);
    if (this.#running < this.limit && this.#queue.length === 0) {
      start();
      return;
    }
    await new Promise<void>((resolve) =>
      this.#queue.push(() => {
        start();
        resolve();
      }),
    );
  }

  /** Resolves when nothing runs and nothing waits (bounded by `timeoutMs`). */
  async idle(timeoutMs = 5000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while ((this.#running > 0 || this.#queue.length > 0) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  }
}
