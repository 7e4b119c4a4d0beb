/**
 * The lifecycle of `peer()` handles, shared by both backends: one live handle per
 * destination (the same destination returns the same object while it is referenced),
 * released either explicitly (`release()`, `Symbol.dispose`) or, for a handle the program
 * dropped without releasing it, when the garbage collector reclaims it (a
 * FinalizationRegistry). Either way `onRelease(key)` runs exactly once per handle, so the
 * backend can unpin what the handle held (the batch backend's peer-table entry, which
 * then becomes evictable).
 */
export class PeerHandles<K, H extends object> {
  private readonly live = new Map<K, WeakRef<H>>();
  private readonly registry: FinalizationRegistry<{ key: K; ref: WeakRef<H> }>;

  constructor(private readonly onRelease: (key: K) => void) {
    this.registry = new FinalizationRegistry(({ key, ref }) => {
      // A newer handle for the same key may have replaced this one (after it was
      // collected but before this callback ran): that one keeps what it holds.
      if (this.live.get(key) !== ref) return;
      this.live.delete(key);
      this.onRelease(key);
    });
  }

  /** The live handle for `key`, if one is still referenced and not released. */
  get(key: K): H | undefined {
    return this.live.get(key)?.deref();
  }

  /** Registers `handle` as the live handle for `key`. */
  add(key: K, handle: H): void {
    const ref = new WeakRef(handle);
    this.live.set(key, ref);
    this.registry.register(handle, { key, ref }, handle);
  }

  /** Explicit release of `handle` (once; the caller guards against repeats). */
  release(key: K, handle: H): void {
    this.registry.unregister(handle);
    if (this.live.get(key)?.deref() === handle) this.live.delete(key);
    this.onRelease(key);
  }

  /** Handles registered and not yet released or collected (for tests and diagnostics). */
  get size(): number {
    return this.live.size;
  }
}
