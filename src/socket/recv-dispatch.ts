/**
 * Loop-coalesced receive delivery, the JS half of addon/recv_dispatch.h: sockets created
 * with `recvDispatch: 'loop'` enroll here; the addon reads their batches in the poll phase
 * and calls `deliver` once per event-loop iteration (check phase) with every batch of that
 * iteration, which goes to each socket's usual receive path, in read order. One call into
 * JS per iteration instead of one per socket: with many sparse sockets (a relay's ingest
 * ports, ~2 datagrams per wake-up) the per-call cost of napi_make_callback, the async-hooks
 * trampoline and the microtask checkpoint dominated their receive.
 *
 * The state is process-wide (per thread), shared through `globalThis` by every copy of this
 * module (the ESM and CJS builds may both be loaded; the addon has one dispatcher per
 * environment, and the last registered delivery function wins).
 *
 * Before the sockets' handlers, the delivery runs the registered hooks
 * ({@link addRecvDispatchHook}): a native fan-out with ingest routes forwards the steady
 * batches of its routed sockets there (addon/ingest_route.h) and marks their entries
 * delivered (slots -1); those entries are then skipped.
 *
 * After them, the sockets that deferred a flush to the end of the delivery
 * ({@link deferToDeliveryEnd}: what a fan-out queued on its tick-mode socket while forwarding
 * this delivery's batches) are flushed, each once: one sendmmsg for everything the
 * iteration forwarded, without an immediate per flush.
 *
 * Errors: every socket gets its batch even when a handler (or a hook) throws; the first
 * error is rethrown after the last (an uncaught exception, as from a socket's own
 * callback), later ones on the next tick.
 */
import type { NativeBinding } from '../native/binding.js';

/** A socket's receive path for one batch of `slots` ring slots (NativeBatchSocket.onRecv). */
export interface RecvReceiver {
  deliverRecv(slots: number): void;
}

interface DispatchState {
  list: Float64Array | undefined;
  receivers: (RecvReceiver | undefined)[];
  freeIds: number[];
  /** Ids withdrawn during a delivery: reused only after it, so a later entry of that call never reaches a new socket. */
  retiredIds: number[];
  delivering: boolean;
  /** Run first in every delivery with (list, count); each returns the batches it consumed. */
  hooks: ((list: Float64Array, count: number) => number)[];
  /** Calls into JS, batches delivered to sockets and batches the hooks consumed (tests and benchmarks read the ratios). */
  stats: { calls: number; batches: number; consumed: number };
  /** True while a delivery of this version runs (one that flushes {@link DispatchState.deferred} at its end). */
  deferring: boolean;
  /** Sockets to flush at the end of the running delivery. */
  deferred: Set<DeferredFlush>;
  deliver: (count: number) => void;
}

const KEY = Symbol.for('dgram-sendmmsg-native.recvDispatch');

function makeState(): DispatchState {
  const st: DispatchState = {
    list: undefined,
    receivers: [],
    freeIds: [],
    retiredIds: [],
    delivering: false,
    hooks: [],
    stats: { calls: 0, batches: 0, consumed: 0 },
    deferring: false,
    deferred: new Set(),
    deliver(count: number): void {
      const l = st.list!;
      st.stats.calls++;
      let first: { error: unknown } | undefined;
      st.delivering = true;
      st.deferring = true;
      for (const hook of st.hooks) {
        try {
          st.stats.consumed += hook(l, count);
        } catch (error) {
          if (first === undefined) first = { error };
        }
      }
      for (let i = 0; i < count; i++) {
        const slots = l[2 * i + 1];
        if (slots < 0) continue; // consumed by a hook
        const r = st.receivers[l[2 * i]];
        if (r === undefined) continue; // withdrawn (closed) after its batch was read
        st.stats.batches++;
        try {
          r.deliverRecv(slots);
        } catch (error) {
          if (first === undefined) first = { error };
          else
            process.nextTick(() => {
              throw error;
            });
        }
      }
      st.delivering = false;
      st.deferring = false;
      if (st.retiredIds.length > 0) st.freeIds.push(...st.retiredIds.splice(0));
      // Outside the delivery now: nothing can join the set while it is flushed.
      for (const s of st.deferred) {
        try {
          s.flushDeferred();
        } catch (error) {
          if (first === undefined) first = { error };
        }
      }
      st.deferred.clear();
      if (first !== undefined) throw first.error;
    },
  };
  return st;
}

const state: DispatchState = ((globalThis as Record<symbol, unknown>)[KEY] as DispatchState | undefined) ?? ((globalThis as Record<symbol, unknown>)[KEY] = makeState());

// A state made by an older copy of this module lacks what later copies added.
state.hooks ??= [];
state.stats.consumed ??= 0;
state.deferring ??= false;
state.deferred ??= new Set();

/** A socket whose flush waits for the end of the running delivery. */
export interface DeferredFlush {
  flushDeferred(): void;
}

/**
 * Inside a delivery: `s.flushDeferred()` runs once at its end (after every hook and
 * handler) and true is returned; outside one (or under a delivery function of an older
 * copy of this module, which would not run it), false: the caller flushes as usual.
 */
export function deferToDeliveryEnd(s: DeferredFlush): boolean {
  if (!state.delivering || !state.deferring) return false;
  state.deferred.add(s);
  return true;
}

/** Calls into JS, batches delivered to sockets and batches consumed by hooks (native ingest routes) so far (this thread). */
export const recvDispatchStats: { readonly calls: number; readonly batches: number; readonly consumed: number } = state.stats;

/**
 * Runs `hook(list, count)` at the start of every delivery, before any socket's handler (the
 * native fan-out's `forwardIngest`), with the delivery's entries (`list[2i]` = socket id,
 * `list[2i+1]` = slots, -1 once consumed); it returns how many batches it consumed.
 * Returns the function that removes it.
 */
export function addRecvDispatchHook(hook: (list: Float64Array, count: number) => number): () => void {
  state.hooks.push(hook);
  return () => {
    const i = state.hooks.indexOf(hook);
    if (i >= 0) state.hooks.splice(i, 1);
  };
}

/**
 * Enrolls `r`, registering the dispatcher with the addon the first time; returns its id for
 * `setRecvDispatch`, or -1 when the addon cannot dispatch here (a runtime without external
 * ArrayBuffers): the socket then keeps the immediate delivery.
 */
export function enrollRecvDispatch(binding: NativeBinding, r: RecvReceiver): number {
  if (state.list === undefined) {
    try {
      state.list = binding.setRecvDispatcher(state.deliver);
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_INVALID_STATE') return -1;
      throw err;
    }
  }
  const id = state.freeIds.pop() ?? state.receivers.length;
  state.receivers[id] = r;
  return id;
}

/** Forgets an id from {@link enrollRecvDispatch} (the socket closed): a batch still queued for it is not delivered. */
export function withdrawRecvDispatch(id: number): void {
  if (state.receivers[id] === undefined) return;
  state.receivers[id] = undefined;
  (state.delivering ? state.retiredIds : state.freeIds).push(id);
}
