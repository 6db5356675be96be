// Reused working buffers for the hot path. In V8 every typed array costs a
// heap object (and one over 64 bytes an off-heap allocation too), and garbage
// means more scavenges, each slowed down by the many short-lived node:crypto
// cipher objects around it. Values that only live for one synchronous step
// (an AAD, a string field's plaintext bytes, its envelope before base64url
// encoding) are therefore built in a per-purpose scratch buffer whose views
// are cached by (offset, size). Nothing here survives past the synchronous
// call that fills it; plaintext scratch is wiped right after use.

/** Above this size a request gets its own array: large scratch would be kept forever. */
const MAX_KEPT = 64 * 1024;
/** Cached views per buffer; the cache is dropped when it grows past this. */
const MAX_VIEWS = 512;

export class Scratch {
  #buffer: Uint8Array;
  /** Views at offset 0, indexed by size. */
  #prefixViews: (Uint8Array | undefined)[] = [];
  /** Other views, by offset * 2^17 + size. */
  #views = new Map<number, Uint8Array>();

  constructor(initial: number) {
    this.#buffer = new Uint8Array(initial);
  }

  /**
   * The whole buffer, at least `size` bytes long (contents unspecified), valid
   * until the next call. Above 64 KiB a one-off array is returned instead.
   */
  buffer(size: number): Uint8Array {
    if (size <= this.#buffer.length) return this.#buffer;
    if (size > MAX_KEPT) return new Uint8Array(size);
    this.#buffer = new Uint8Array(Math.min(MAX_KEPT, Math.max(size, this.#buffer.length * 2)));
    this.#prefixViews = [];
    this.#views.clear();
    return this.#buffer;
  }

  /** A view of `size` bytes at `offset` of `buffer` (as returned by buffer()), cached. */
  view(buffer: Uint8Array, size: number, offset = 0): Uint8Array {
    if (buffer !== this.#buffer) return buffer.subarray(offset, offset + size);
    if (offset === 0) {
      let v = this.#prefixViews[size];
      if (v === undefined) {
        if (size > 4096) return buffer.subarray(0, size);
        v = this.#prefixViews[size] = buffer.subarray(0, size);
      }
      return v;
    }
    const id = offset * 0x20000 + size;
    let v = this.#views.get(id);
    if (v === undefined) {
      if (this.#views.size >= MAX_VIEWS) this.#views.clear();
      v = buffer.subarray(offset, offset + size);
      this.#views.set(id, v);
    }
    return v;
  }

  /** buffer(size) and its view of the first `size` bytes. */
  take(size: number): Uint8Array {
    return this.view(this.buffer(size), size);
  }
}
