/**
 * A pool of Float32Array buffers for one training step. A step allocates the same buffers every time (activations,
 * their gradients, attention probabilities); taking them from a pool instead of `new Float32Array` saves the page
 * faults and zero-filling of ~250 MB a step at the reference size, and most of the garbage collection.
 *
 * Lifetime: everything taken since the last `release()` stays valid until the next `release()`, which the training
 * loop calls once the optimizer step is done. Buffers that must outlive a step (parameters, their gradients,
 * optimizer state) never come from the pool.
 */
export class BufferPool {
  private readonly free = new Map<number, Float32Array[]>();
  private readonly used: Float32Array[] = [];

  /** A buffer of exactly n floats; zero-filled when `zero`, else with stale contents the caller overwrites. */
  take(n: number, zero: boolean): Float32Array {
    const a = this.free.get(n)?.pop();
    if (a) {
      if (zero) a.fill(0);
      this.used.push(a);
      return a;
    }
    const b = new Float32Array(n);
    this.used.push(b);
    return b;
  }

  /**
   * Returns every buffer taken since the last release to the pool. Buffers the last step did not take are
   * dropped, so the pool never holds more than one step's worth (batches of varying length would otherwise
   * accumulate buffers of every size they ever had).
   */
  release(): void {
    this.free.clear();
    for (const a of this.used) {
      let list = this.free.get(a.length);
      if (!list) { list = []; this.free.set(a.length, list); }
      list.push(a);
    }
    this.used.length = 0;
  }

  /** Bytes held (free and in use). */
  bytes(): number {
    let n = 0;
    for (const list of this.free.values()) for (const a of list) n += a.byteLength;
    for (const a of this.used) n += a.byteLength;
    return n;
  }
}
