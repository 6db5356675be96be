// At most `limit` handlers at once: the receive loops take the next message
// only when a slot is free, so one instance holds no more than it can work on.
export class Limiter {
  #active = 0;
  readonly #waiting: Array<() => void> = [];
  readonly #idle: Array<() => void> = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('concurrency must be an integer >= 1');
  }

  /** Resolves when a slot is taken. */
  acquire(): Promise<void> {
    if (this.#active < this.limit) {
      this.#active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  release(): void {
    const next = this.#waiting.shift();
    if (next) return next(); // the slot passes on
    this.#active--;
    if (this.#active === 0) for (const done of this.#idle.splice(0)) done();
  }

  /** Resolves when nothing holds a slot. */
  idle(): Promise<void> {
    return this.#active === 0 ? Promise.resolve() : new Promise((resolve) => this.#idle.push(resolve));
  }
}
