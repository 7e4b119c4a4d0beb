// Property-based fuzzing of the JS→native boundary, run in a child process by
// test/fuzz/*.test.ts so that a crash (SIGSEGV, abort, sanitizer report) is observed as a
// failed test rather than a dead test runner.
//
//   FUZZ_MODE=native|api  FUZZ_RUNS=<n>  FUZZ_SEED=<n>  [FUZZ_NETNS=1]
//
// native: random sequences of calls on raw addon sockets (src/native/binding.ts) with random
//   argument types, sizes, offsets, counts, peer tables, ring layouts, detached and shrunk
//   buffers, and call orders; ingest routes (random fan-out serials, streams and states,
//   armed or garbage) that a real fan-out's forwardIngest() walks in every dispatcher
//   delivery (it must consume only entries it marks -1). Every call must return a well-formed result or throw an Error
//   that is a TypeError/RangeError or carries a string `code`.
// api: random sequences on createBatchSocket() sockets of both backends (payload types and
//   sizes, offsets/lengths, ports, addresses, peers, connect/disconnect, flush, close in the
//   middle). Every synchronous throw must carry a `code`; afterwards every callback has run
//   exactly once, the accounting identity holds, and the receiver saw each (tx, seq) at most
//   once and in increasing order per sender.
//
// Destinations: random bytes in peer tables and arbitrary IP literals are used only inside a
// private network namespace (FUZZ_NETNS=1: the parent runs us under `unshare -n`, where only
// lo exists and nothing can leave); without it every destination is a loopback address.
//
// Prints one JSON line: { mode, runs, seed, ms, ... }. Exit 0 = property held.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { loadNative, C, FANOUT, INGEST } = await import(join(root, 'dist', 'native', 'binding.js'));
const lib = await import(join(root, 'dist', 'index.js'));

const MAGIC = 0x46555a5a; // 'FUZZ'
const MODE = process.env.FUZZ_MODE ?? 'native';
const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const NETNS = process.env.FUZZ_NETNS === '1';
const fds = () => readdirSync('/proc/self/fd').length;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const immediate = () => new Promise((r) => setImmediate(r));

/** A thrown value is acceptable when it is a typed error. */
function typedError(e) {
  if (e instanceof Error && e.message === 'getter') return true; // our own throwing getter, passed through
  return e instanceof Error && (e instanceof TypeError || e instanceof RangeError || typeof e.code === 'string');
}
class Violation extends Error {}
function attempt(what, f, check) {
  let r;
  try {
    r = f();
  } catch (e) {
    if (!typedError(e)) throw new Violation(`${what} threw an untyped error: ${e?.stack ?? String(e)}`);
    return { threw: e };
  }
  if (check && !check(r)) throw new Violation(`${what} returned a malformed result: ${JSON.stringify(r)}`);
  return { value: r };
}

// ---------------------------------------------------------------- shared arbitraries

const weirdNumbers = fc.constantFrom(0, 1, -1, 2, 4, 6, 31, 32, 33, 64, 1023, 1024, 1025, 65507, 65535, 65536, 2 ** 24, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53, -(2 ** 31), NaN, Infinity, -Infinity, -0, 0.5, 1e-300);
const num = fc.oneof({ arbitrary: fc.integer({ min: -4, max: 70000 }), weight: 4 }, { arbitrary: weirdNumbers, weight: 3 }, { arbitrary: fc.double(), weight: 1 });
const notNumber = fc.oneof(fc.constant(undefined), fc.constant(null), fc.string({ maxLength: 8 }), fc.boolean(), fc.constant({}), fc.constant([]), fc.bigInt({ min: -5n, max: 5n }), fc.constant(Symbol('s')));
const anyNum = fc.oneof({ arbitrary: num, weight: 9 }, { arbitrary: notNumber, weight: 1 });
const loopbackIps = ['127.0.0.1', '::1', '0.0.0.0', '::', '::ffff:127.0.0.1', 'localhost', '127.0.0.2', 'fe80::1%lo', 'fe80::1%1', 'fe80::1%nosuchif', '::1%lo'];
const netnsIps = ['192.0.2.1', '198.51.100.7', '2001:db8::1', '10.1.2.3', '255.255.255.255', '224.0.0.1', 'ff02::1'];
const garbageIps = ['', ' ', '1.2.3', '1.2.3.4.5', '256.1.1.1', '::g', 'a'.repeat(300), '127.0.0.1\u0000x', '127.0.0.1 ', '[::1]', '%', 'fe80::1%', '😀', '::ffff:999.1.1.1'];
const ip = fc.oneof({ arbitrary: fc.constantFrom(...loopbackIps, ...(NETNS ? netnsIps : [])), weight: 6 }, { arbitrary: fc.constantFrom(...garbageIps), weight: 2 }, { arbitrary: fc.string({ maxLength: 48 }), weight: 1 }, { arbitrary: notNumber, weight: 1 });

/** A recipe for an array-like argument; built at run time so buffers are fresh per case. */
const arrayRecipe = fc.record({
  kind: fc.constantFrom('u8', 'u8', 'u8', 'u32', 'u32', 'i32', 'i32', 'f64', 'u16', 'buffer', 'dataview', 'arraybuffer', 'array', 'resizable', 'shared', 'native8', 'native32', 'none'),
  length: fc.oneof(fc.nat(80), fc.constantFrom(0, 1, 31, 32, 33, 64, 256, 1024, 1025, 4096)),
  fill: fc.oneof(fc.constant('zero'), fc.constant('random'), fc.constant('small'), fc.constant('max')),
  seed: fc.nat(),
});
function build(recipe) {
  const n = recipe.length;
  let rnd = recipe.seed >>> 0 || 1;
  const next = () => (rnd = (rnd * 1103515245 + 12345) >>> 0);
  const value = (max) => (recipe.fill === 'zero' ? 0 : recipe.fill === 'max' ? max : recipe.fill === 'small' ? next() % 8 : next() % (max + 1));
  const fillArr = (a, max, signed = false) => {
    for (let i = 0; i < a.length; i++) a[i] = signed && recipe.fill === 'small' ? (next() % 10) - 2 : value(max);
    return a;
  };
  switch (recipe.kind) {
    case 'u8': return fillArr(new Uint8Array(n), 255);
    case 'u16': return fillArr(new Uint16Array(n), 65535);
    case 'u32': return fillArr(new Uint32Array(n), 0xffffffff);
    case 'i32': return fillArr(new Int32Array(n), 0x7fffffff, true);
    case 'f64': return new Float64Array(Math.max(n, 0));
    case 'buffer': return fillArr(Buffer.alloc(n), 255);
    case 'dataview': return new DataView(new ArrayBuffer(n));
    case 'arraybuffer': return new ArrayBuffer(n);
    case 'array': return Array.from({ length: Math.min(n, 8) }, () => value(255));
    case 'resizable': {
      if (typeof ArrayBuffer.prototype.resize !== 'function') return new Uint8Array(n);
      const ab = new ArrayBuffer(n * 4, { maxByteLength: n * 4 + 64 });
      return fillArr(new Uint32Array(ab), 64); // length-tracking
    }
    case 'shared': return fillArr(new Uint8Array(new SharedArrayBuffer(Math.max(n, 1))), 255);
    // Native memory from allocShared (the addon keeps a pointer instead of looking it up).
    case 'native8': case 'native32': {
      const b = loadNative();
      if (!b.ok) return new Uint8Array(n);
      return recipe.kind === 'native8' ? fillArr(new Uint8Array(b.binding.allocShared(Math.max(n, 1))), 255) : fillArr(new Uint32Array(b.binding.allocShared(4 * Math.max(n, 1))), 0xffffffff);
    }
    default: return undefined;
  }
}

// ---------------------------------------------------------------- native mode

const nativeOp = fc.oneof(
  fc.record({ op: fc.constant('bind'), ip, port: anyNum, flags: fc.oneof(fc.constantFrom(0, 1, 2, 3), anyNum) }),
  fc.record({ op: fc.constant('connect'), ip, port: anyNum }),
  fc.record({ op: fc.constantFrom('disconnect', 'localAddress', 'remoteAddress', 'startRecv', 'stopRecv', 'close', 'fd', 'detach', 'shrink', 'tick', 'tick', 'encodeGood') }),
  fc.record({ op: fc.constant('setBufferSize'), which: anyNum, bytes: anyNum }),
  fc.record({ op: fc.constant('getBufferSize'), which: anyNum }),
  fc.record({ op: fc.constant('encodePeer'), ip, port: anyNum, table: arrayRecipe, offset: anyNum }),
  fc.record({ op: fc.constant('setSendRing'), arena: arrayRecipe, offsets: arrayRecipe, lengths: arrayRecipe, peers: arrayRecipe, table: arrayRecipe }),
  fc.record({ op: fc.constant('goodSendRing'), cap: fc.integer({ min: 1, max: 1100 }), size: fc.integer({ min: 1, max: 2000 }), connected: fc.boolean() }),
  fc.record({ op: fc.constant('send'), start: anyNum, count: anyNum }),
  fc.record({ op: fc.constant('sendSmall'), start: fc.nat(1100), count: fc.nat(1100) }),
  fc.record({ op: fc.constant('setRecvRing'), arena: arrayRecipe, slotSize: anyNum, lengths: arrayRecipe, addrs: arrayRecipe, flags: arrayRecipe, budget: anyNum, segSizes: arrayRecipe }),
  fc.record({ op: fc.constant('goodRecvRing'), slots: fc.integer({ min: 1, max: 64 }), slotSize: fc.constantFrom(1, 16, 100, 2048, 65527), budget: fc.integer({ min: 1, max: 300 }), seg: fc.boolean() }),
  fc.record({ op: fc.constantFrom('setGso', 'setGro', 'awaitWritable', 'ref'), on: fc.oneof(fc.boolean(), notNumber, num) }),
  fc.record({ op: fc.constant('setRecvDispatch'), id: fc.oneof({ arbitrary: fc.constantFrom(-1, 0, 1), weight: 4 }, { arbitrary: anyNum, weight: 1 }) }),
  fc.record({
    op: fc.constant('setIngestRoute'),
    fanout: fc.oneof({ arbitrary: fc.constant('real'), weight: 4 }, { arbitrary: fc.constantFrom(0, 1, 2 ** 52), weight: 1 }, { arbitrary: anyNum, weight: 1 }),
    stream: fc.oneof({ arbitrary: fc.constantFrom(0, 1), weight: 4 }, { arbitrary: anyNum, weight: 1 }),
    state: fc.oneof({ arbitrary: fc.constant('armed'), weight: 3 }, { arbitrary: arrayRecipe, weight: 1 }),
  }),
  fc.record({ op: fc.constant('inject'), errno: fc.constantFrom(5, 22, 11, 105, 90, 111, 113, 101, 13, 1, 4, 0, -1, 99999), count: fc.oneof(fc.nat(4), anyNum), gsoOnly: fc.oneof(fc.boolean(), notNumber) }),
);
const nativeCase = fc.record({
  family: fc.oneof({ arbitrary: fc.constantFrom(4, 6), weight: 9 }, { arbitrary: anyNum, weight: 1 }),
  counters: fc.oneof({ arbitrary: fc.constant('good'), weight: 9 }, { arbitrary: arrayRecipe, weight: 1 }),
  callbacks: fc.oneof({ arbitrary: fc.constant('good'), weight: 9 }, { arbitrary: fc.constantFrom('none', 'partial', 'throwing', 'getter'), weight: 1 }),
  // Most cases start from a working pair (both bound on loopback, socket 1 receiving, socket 0
  // with a valid send ring to it) so that random calls meet live send and receive paths.
  setup: fc.oneof({ arbitrary: fc.constant(null), weight: 1 }, { arbitrary: fc.record({ family: fc.constantFrom(4, 6), cap: fc.integer({ min: 1, max: 1100 }), slots: fc.integer({ min: 1, max: 64 }), gro: fc.boolean(), gso: fc.boolean() }), weight: 4 }),
  ops: fc.array(fc.record({ target: fc.nat(1), call: nativeOp }), { minLength: 1, maxLength: 30 }),
});

async function runNative() {
  const loaded = loadNative();
  if (!loaded.ok) throw new Error(`addon not loaded: ${loaded.reason}`);
  const N = loaded.binding;
  // The receive dispatcher (recv_dispatch.h): sockets that random calls put in dispatch
  // mode deliver through it; every entry must be a sane (id, slots) pair.
  // A fan-out for ingest routes (setIngestRoute): its forwardIngest() runs first in every
  // delivery, over whatever random states and routes the sockets have; consumed entries are -1.
  const fanoutState = new Float64Array(N.allocShared(8 * (4 * FANOUT.STRIDE + FANOUT.IO_LENGTH)));
  const fio = fanoutState.subarray(4 * FANOUT.STRIDE);
  const F = new N.RtpFanout(fanoutState.subarray(0, 4 * FANOUT.STRIDE), fio);
  const fring = { arena: new Uint8Array(N.allocShared(64 * 1300)), offsets: new Uint32Array(64), lengths: new Uint32Array(64), peers: new Int32Array(64) };
  F.setRing(fring.arena, fring.offsets, fring.lengths, fring.peers);
  const fstream = F.addStream();
  F.addStream();
  const fsession = F.addSession(7, new Uint8Array(16).fill(1), new Uint8Array(12).fill(2));
  const fout = F.addOutput(fstream, fsession, 0, 1);
  fanoutState[fout * FANOUT.STRIDE + FANOUT.FLAGS] = FANOUT.FLAG_LIVE;
  const dispatchList = N.setRecvDispatcher((count) => {
    if (!(Number.isInteger(count) && count >= 1 && 2 * count <= dispatchList.length)) throw new Violation(`deliver(${count})`);
    fio[FANOUT.IO_SLOT] = 0;
    fio[FANOUT.IO_SLOTS] = 64;
    fio[FANOUT.IO_ARENA_OFF] = 0;
    fio[FANOUT.IO_ARENA_END] = fring.arena.length;
    fio[FANOUT.IO_MTU] = 1200;
    fio[FANOUT.IO_NOW] = Date.now();
    const consumed = F.forwardIngest();
    if (!(Number.isInteger(consumed) && consumed >= 0 && consumed <= count)) throw new Violation(`forwardIngest() = ${consumed}`);
    if (!(fio[FANOUT.IO_PRODUCED] >= 0 && fio[FANOUT.IO_PRODUCED] <= 64)) throw new Violation(`forwardIngest produced ${fio[FANOUT.IO_PRODUCED]}`);
    let marked = 0;
    for (let i = 0; i < count; i++) {
      const id = dispatchList[2 * i], slots = dispatchList[2 * i + 1];
      if (slots === -1) {
        marked++;
        continue;
      }
      if (!(Number.isInteger(id) && id >= 0 && Number.isInteger(slots) && slots >= 1)) throw new Violation(`dispatch entry (${id}, ${slots})`);
      counts.received += slots;
    }
    if (marked !== consumed) throw new Violation(`forwardIngest consumed ${consumed}, marked ${marked}`);
    counts.ingestConsumed += consumed;
  });
  // A live receiver on loopback so that sends and receives really happen.
  const sink = { got: 0 };
  const counts = { calls: 0, threw: 0, sent: 0, received: 0, cases: 0, ingestConsumed: 0 };
  const property = fc.asyncProperty(nativeCase, async (kase) => {
    counts.cases++;
    const socks = [];
    const state = [];
    for (let k = 0; k < 2; k++) {
      const counters = kase.counters === 'good' ? new Float64Array(C.COUNT) : build(kase.counters);
      let callbacks;
      const cb = {
        onRecv(n) {
          if (!(Number.isInteger(n) && n >= 1)) throw new Violation(`onRecv(${n})`);
          counts.received += n;
          // Reading the ring inside the callback must stay inside what was registered.
          const ring = state[k]?.recv;
          if (ring && ring.lengths instanceof Uint32Array) for (let i = 0; i < n && i < ring.lengths.length; i++) if (ring.lengths[i] > ring.slotSize) throw new Violation(`length ${ring.lengths[i]} > slot ${ring.slotSize}`);
        },
        onWritable() {},
        onRecvError(errno) {
          if (!(Number.isInteger(errno) && errno > 0)) throw new Violation(`onRecvError(${errno})`);
        },
      };
      if (kase.callbacks === 'good') callbacks = cb;
      else if (kase.callbacks === 'none') callbacks = undefined;
      else if (kase.callbacks === 'partial') callbacks = { onRecv: cb.onRecv };
      else if (kase.callbacks === 'throwing') callbacks = { ...cb, onRecv() { throw new Error('thrown by onRecv'); } };
      else callbacks = Object.defineProperty({ ...cb }, 'onWritable', { get() { throw new Error('getter'); } });
      const r = attempt('new UdpSocket', () => new N.UdpSocket(kase.family, counters, callbacks), (s) => typeof s === 'object');
      counts.calls++;
      if (r.threw) counts.threw++;
      socks.push(r.value);
      state.push({ counters, send: undefined, recv: undefined, table: new Uint8Array(64 * 32) });
    }
    const live = socks.filter(Boolean);
    try {
      if (kase.setup && socks[0] && socks[1] && (kase.family === 4 || kase.family === 6)) {
        const lo = kase.family === 4 ? '127.0.0.1' : '::1';
        attempt('bind', () => socks[0].bind(lo, 0, 0));
        attempt('bind', () => socks[1].bind(lo, 0, 0));
        const n = kase.setup.slots;
        const big = kase.setup.gro;
        const slot = big ? 65527 : 2048;
        const recv = [new Uint8Array(n * slot), slot, new Uint32Array(n), new Uint8Array(n * 32), new Uint8Array(n), 256, new Uint32Array(n)];
        if (!attempt('setRecvRing', () => socks[1].setRecvRing(...recv)).threw) state[1].recv = { lengths: recv[2], slotSize: slot };
        if (big) attempt('setGro', () => socks[1].setGro(true));
        attempt('startRecv', () => socks[1].startRecv());
        let port = 9;
        try { port = socks[1].localAddress()[1]; } catch {}
        for (let i = 0; i < 4; i++) attempt('encodePeer', () => socks[0].encodePeer(lo, port, state[0].table, i * 32));
        const cap = kase.setup.cap;
        const arena = new Uint8Array(cap * 64 + 64);
        const offsets = new Uint32Array(cap), lengths = new Uint32Array(cap), peers = new Int32Array(cap);
        for (let i = 0; i < cap; i++) { offsets[i] = (i * 64) % arena.length; lengths[i] = i % 3 === 0 ? 64 : 1 + (i % 64); peers[i] = i % 5 === 0 ? 1 : 0; }
        if (!attempt('setSendRing', () => socks[0].setSendRing(arena, offsets, lengths, peers, state[0].table)).threw) state[0].send = { arena, offsets, lengths, peers, table: state[0].table };
        attempt('setGso', () => socks[0].setGso(kase.setup.gso));
        const r = attempt('send', () => socks[0].send(0, Math.min(cap, 200)), (v) => Number.isInteger(v) && v >= 0 && v <= Math.min(cap, 200));
        if (r.value) counts.sent += r.value;
        await immediate();
      }
      for (const { target, call } of kase.ops) {
        const s = socks[target] ?? live[0];
        if (!s) break;
        const st = state[socks.indexOf(s)];
        counts.calls++;
        let r;
        switch (call.op) {
          case 'bind': r = attempt('bind', () => s.bind(call.ip, call.port, call.flags)); break;
          case 'connect': r = attempt('connect', () => s.connect(call.ip, call.port)); break;
          case 'disconnect': r = attempt('disconnect', () => s.disconnect()); break;
          case 'localAddress':
          case 'remoteAddress':
            r = attempt(call.op, () => s[call.op](), (v) => Array.isArray(v) && typeof v[0] === 'string' && Number.isInteger(v[1]) && v[1] >= 0 && v[1] <= 65535);
            break;
          case 'startRecv': case 'stopRecv': case 'close': r = attempt(call.op, () => s[call.op]()); break;
          case 'fd': r = attempt('fd', () => s.fd(), (v) => Number.isInteger(v) && v >= -1); break;
          case 'setBufferSize': r = attempt('setBufferSize', () => s.setBufferSize(call.which, call.bytes), (v) => Number.isInteger(v) && v > 0); break;
          case 'getBufferSize': r = attempt('getBufferSize', () => s.getBufferSize(call.which), (v) => Number.isInteger(v) && v >= 0); break;
          case 'encodePeer': {
            const table = build(call.table);
            r = attempt('encodePeer', () => s.encodePeer(call.ip, call.port, table, call.offset));
            if (!r.threw && NETNS && table instanceof Uint8Array) st.table = table; // may now hold any address
            break;
          }
          case 'encodeGood': {
            // Loopback entries the good rings refer to (receiver: socket 1's port if bound).
            const other = socks[1 - socks.indexOf(s)];
            let port = 9;
            try { port = other?.localAddress()[1] || 9; } catch {}
            for (let i = 0; i < 4; i++) attempt('encodePeer', () => s.encodePeer(i % 2 ? '::1' : '127.0.0.1', port, st.table, i * 32));
            r = { value: undefined };
            break;
          }
          case 'setSendRing': {
            const a = [build(call.arena), build(call.offsets), build(call.lengths), build(call.peers), NETNS ? build(call.table) : st.table];
            r = attempt('setSendRing', () => s.setSendRing(...a));
            if (!r.threw) st.send = { arena: a[0], offsets: a[1], lengths: a[2], peers: a[3], table: a[4] };
            break;
          }
          case 'goodSendRing': {
            const arena = new Uint8Array(call.cap * Math.min(call.size, 64) + 64);
            const offsets = new Uint32Array(call.cap), lengths = new Uint32Array(call.cap), peers = new Int32Array(call.cap);
            for (let i = 0; i < call.cap; i++) { offsets[i] = (i * 7) % 64; lengths[i] = 1 + (i % Math.min(call.size, 64)); peers[i] = call.connected ? -1 : i % 4; }
            r = attempt('setSendRing', () => s.setSendRing(arena, offsets, lengths, peers, st.table));
            if (!r.threw) st.send = { arena, offsets, lengths, peers, table: st.table };
            break;
          }
          case 'send':
          case 'sendSmall': {
            const fdBefore = 0;
            r = attempt('send', () => s.send(call.start, call.count), (v) => Number.isInteger(v) && v >= 0 && v <= call.count);
            if (r.value) counts.sent += r.value;
            void fdBefore;
            break;
          }
          case 'setRecvRing': {
            const a = [build(call.arena), call.slotSize, build(call.lengths), build(call.addrs), build(call.flags), call.budget, build(call.segSizes)];
            r = attempt('setRecvRing', () => s.setRecvRing(...a));
            if (!r.threw) st.recv = { lengths: a[2], slotSize: call.slotSize };
            break;
          }
          case 'goodRecvRing': {
            const n = call.slots;
            const a = [new Uint8Array(n * call.slotSize), call.slotSize, new Uint32Array(n), new Uint8Array(n * 32), new Uint8Array(n), call.budget, call.seg ? new Uint32Array(n) : undefined];
            r = attempt('setRecvRing', () => s.setRecvRing(...a));
            if (!r.threw) st.recv = { lengths: a[2], slotSize: call.slotSize };
            break;
          }
          case 'setGso': case 'setGro': r = attempt(call.op, () => s[call.op](call.on), (v) => typeof v === 'boolean'); break;
          case 'awaitWritable': case 'ref': r = attempt(call.op, () => s[call.op](call.on)); break;
          case 'setRecvDispatch': r = attempt(call.op, () => s.setRecvDispatch(call.id)); break;
          case 'setIngestRoute': {
            let state;
            if (call.state === 'armed') {
              // Armed for anything from the other socket: payload types 0/96, its address as both owners.
              const st = new Float64Array(N.allocShared(INGEST.STATE_BYTES));
              st[INGEST.ARMED] = 3;
              st[INGEST.VIDEO_PT] = 96;
              st[INGEST.MAX_LENGTH] = 1184;
              state = new Uint8Array(st.buffer);
              const other = socks[1 - socks.indexOf(s)];
              try {
                const [ip, port] = other.localAddress();
                for (const k of [0, 1]) s.encodePeer(ip, port, state, INGEST.OWNER_OFFSET + 32 * k);
              } catch {}
            } else {
              state = build(call.state);
            }
            r = attempt('setIngestRoute', () => s.setIngestRoute(call.fanout === 'real' ? F.serial : call.fanout, call.stream, state));
            break;
          }
          case 'inject': r = attempt('debugInjectSendErrno', () => s.debugInjectSendErrno(call.errno, call.count, call.gsoOnly)); break;
          case 'detach': {
            // Detach one registered buffer behind native code's back.
            const victim = [st.send?.arena, st.send?.offsets, st.recv?.lengths, st.counters].find((x) => x && x.buffer && !(x.buffer instanceof SharedArrayBuffer) && x.buffer.byteLength > 0 && !x.buffer.resizable);
            if (victim) structuredClone(victim.buffer, { transfer: [victim.buffer] });
            r = { value: undefined };
            break;
          }
          case 'shrink': {
            const victim = [st.send?.offsets, st.send?.lengths, st.send?.peers, st.recv?.lengths].find((x) => x && x.buffer && x.buffer.resizable);
            if (victim) victim.buffer.resize(0);
            r = { value: undefined };
            break;
          }
          case 'tick': await immediate(); r = { value: undefined }; break;
          default: throw new Error(`unknown op ${call.op}`);
        }
        if (r?.threw) counts.threw++;
      }
      await immediate();
    } finally {
      for (const s of live) attempt('close', () => s.close());
    }
  });
  const before = fds();
  const t0 = Date.now();
  await fc.assert(property, { numRuns: RUNS, seed: SEED, endOnFailure: true });
  await sleep(20);
  const after = fds();
  if (after !== before) throw new Violation(`fd leak: ${before} before, ${after} after ${RUNS} cases`);
  void sink;
  return { ms: Date.now() - t0, ...counts, fdsBefore: before, fdsAfter: after };
}

// ---------------------------------------------------------------- api mode

const payload = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constantFrom('buffer', 'u8', 'u16', 'f64', 'dataview', 'string', 'array', 'arrayOne'), size: fc.oneof(fc.integer({ min: 0, max: 1500 }), fc.constantFrom(0, 1, 4, 65507, 65508, 65527, 65528)) }), weight: 9 },
  { arbitrary: fc.record({ kind: fc.constantFrom('number', 'null', 'object', 'arraybuffer', 'arrayBad', 'undefined') }), weight: 1 },
);
function makePayload(p, seq, tx) {
  const head = Buffer.alloc(12);
  head.writeUInt32BE(MAGIC, 0);
  head.writeUInt32BE(tx, 4);
  head.writeUInt32BE(seq, 8);
  const body = (n) => { const b = Buffer.alloc(n, 0x61); head.copy(b, 0, 0, Math.min(12, n)); return b; };
  switch (p.kind) {
    case 'buffer': return body(p.size);
    case 'u8': return new Uint8Array(body(p.size));
    case 'u16': { const b = body(p.size & ~1); return new Uint16Array(b.buffer, b.byteOffset, b.length / 2); }
    case 'f64': { const b = body(p.size & ~7); return new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length)); }
    case 'dataview': { const b = body(p.size); return new DataView(b.buffer, b.byteOffset, b.length); }
    case 'string': return 'a'.repeat(p.size); // no header (UTF-8 would mangle one): the receiver skips it
    case 'array': return [body(Math.min(12, p.size)), body(p.size).subarray(12)];
    case 'arrayOne': return [body(p.size)];
    case 'number': return 42;
    case 'null': return null;
    case 'object': return { length: 3 };
    case 'arraybuffer': return new ArrayBuffer(8);
    case 'arrayBad': return [Buffer.alloc(2), 7];
    default: return undefined;
  }
}
const port = fc.oneof({ arbitrary: fc.constant('rx'), weight: 8 }, { arbitrary: anyNum, weight: 1 }, { arbitrary: fc.constantFrom('9', 'abc', '65536', ''), weight: 1 });
const apiOp = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('send'), payload, port, address: fc.oneof({ arbitrary: fc.constant('rx'), weight: 6 }, { arbitrary: ip, weight: 2 }, { arbitrary: fc.constant(undefined), weight: 1 }), cb: fc.boolean() }), weight: 10 },
  { arbitrary: fc.record({ op: fc.constant('sendRange'), payload, offset: num, length: anyNum, cb: fc.boolean() }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('peerSend'), payload, n: fc.integer({ min: 1, max: 40 }), cb: fc.boolean() }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('connect'), port, address: fc.oneof(fc.constant('rx'), ip) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constantFrom('disconnect', 'flush', 'flush', 'close', 'stats', 'tick', 'tick', 'bindAgain', 'address') }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('setSendBufferSize'), bytes: anyNum }), weight: 1 },
);
const apiCase = fc.record({
  backend: fc.constantFrom('batch', 'dgram'),
  type: fc.constantFrom('udp4', 'udp6'),
  opts: fc.record({
    maxBatch: fc.constantFrom(1, 2, 16, 64, 1024, 2000),
    mode: fc.constantFrom('window', 'tick'),
    maxQueue: fc.constantFrom(4, 64, 8192),
    sendBufferSize: fc.constantFrom(undefined, 1, 65536),
    gso: fc.constantFrom('auto', false),
    order: fc.constantFrom('global', 'per-peer'),
  }),
  bindFirst: fc.boolean(),
  ops: fc.array(apiOp, { minLength: 1, maxLength: 25 }),
});

async function runApi() {
  const counts = { cases: 0, sends: 0, accepted: 0, threw: 0, callbacks: 0, received: 0, codes: {} };
  const batchOk = lib.batchBackendStatus().available;
  // One receiver per family for the whole run; every datagram carries (tx id, seq).
  const receivers = {};
  const seen = new Map(); // tx id -> last seq seen
  let dupOrReorder = null;
  for (const type of ['udp4', 'udp6']) {
    const rx = lib.createBatchSocket({ type, backend: batchOk ? 'batch' : 'dgram', recvBufferSize: 8 << 20 });
    rx.on('message', (m) => {
      counts.received++;
      // Only whole headers count (send(buf, offset, length) may cut it; strings carry none).
      if (m.length < 12 || m.readUInt32BE(0) !== MAGIC) return;
      const tx = m.readUInt32BE(4), s = m.readUInt32BE(8);
      const last = seen.get(tx) ?? -1;
      // tx is (case, destination stream): see txFor
      if (s <= last && !dupOrReorder) dupOrReorder = `tx ${tx}: seq ${s} after ${last}`;
      seen.set(tx, Math.max(last, s));
    });
    await new Promise((r) => rx.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', r));
    receivers[type] = { rx, port: rx.address().port, address: type === 'udp4' ? '127.0.0.1' : '::1' };
  }
  let txId = 0;
  const property = fc.asyncProperty(apiCase, async (kase) => {
    counts.cases++;
    if (kase.backend === 'batch' && !batchOk) kase.backend = 'dgram';
    const id = ++txId;
    const target = receivers[kase.type];
    let sock;
    const opts = { type: kase.type, backend: kase.backend, ...kase.opts };
    if (kase.backend === 'dgram') { delete opts.gso; delete opts.order; }
    const made = attempt('createBatchSocket', () => lib.createBatchSocket(opts), (s) => typeof s === 'object');
    if (made.threw) { if (!made.threw.code) throw new Violation(`createBatchSocket threw without code: ${made.threw.message}`); return; }
    sock = made.value;
    sock.on('error', () => {});
    const calls = [];
    let seq = 0;
    // A call that throws must never call its callback: count it as already run once, so a
    // later call would show up as 2.
    const expectNone = () => { if (calls.length && calls[calls.length - 1] === 0) calls[calls.length - 1] = 1; };
    const labels = [];
    let label = '';
    const mkCb = () => { const i = calls.length; calls.push(0); labels.push(label); return (err) => { calls[i]++; counts.callbacks++; const c = err ? err.code ?? 'NO_CODE' : 'ok'; counts.codes[c] = (counts.codes[c] ?? 0) + 1; if (err && !err.code) throw new Violation(`callback error without code: ${err.message}`); }; };
    let threwLast = false;
    const guarded = (what, f) => {
      threwLast = false;
      try { return f(); } catch (e) {
        threwLast = true;
        if (!(e instanceof Error) || typeof e.code !== 'string') throw new Violation(`${what} threw without a code: ${e?.stack ?? e}`);
        counts.threw++;
        return undefined;
      }
    };
    if (kase.bindFirst) await new Promise((r) => { guarded('bind', () => sock.bind(0, kase.type === 'udp4' ? '127.0.0.1' : '::1', r)); setTimeout(r, 50); });
    // The order promised is per destination as the scheduler sees it. 'global' keeps one
    // order for the whole case; 'per-peer' only per destination, and '::1', '::1%lo' and an
    // omitted address (or the connected peer of one connect() epoch) can reach the same
    // receiver as different destinations: each gets its own stream id in the header.
    const streams = new Map();
    let epoch = 0;
    const txFor = (dest) => {
      if (kase.backend === 'dgram' || kase.opts.order !== 'per-peer') return id * 256;
      const key = `${epoch}|${dest}`;
      if (!streams.has(key)) streams.set(key, streams.size);
      return id * 256 + streams.get(key);
    };
    let peer;
    for (const o of kase.ops) {
      label = o.op;
      switch (o.op) {
        case 'send': {
          counts.sends++;
          const port = o.port === 'rx' ? target.port : o.port;
          const addr = o.address === 'rx' ? target.address : o.address;
          const p = makePayload(o.payload, seq++, txFor(`${String(port)}|${String(addr)}`));
          const r = guarded('send', () => (o.cb ? sock.send(p, port, addr, mkCb()) : sock.send(p, port, addr)));
          if (threwLast && o.cb) expectNone();
          if (r !== undefined && typeof r !== 'boolean') throw new Violation(`send returned ${r}`);
          if (r === true) counts.accepted++;
          break;
        }
        case 'sendRange': {
          // (offset is always a number here: with a non-number the dgram overloads read the
          // call as send(msg, callback=offset, …) and the callback is legitimately ignored)
          counts.sends++;
          const p = makePayload(o.payload, seq++, txFor(`${target.port}|${target.address}`));
          guarded('send(offset,length)', () => (o.cb ? sock.send(p, o.offset, o.length, target.port, target.address, mkCb()) : sock.send(p, o.offset, o.length, target.port, target.address)));
          if (threwLast && o.cb) expectNone();
          break;
        }
        case 'peerSend': {
          if (!peer) peer = guarded('peer', () => sock.peer(target.port, target.address));
          if (!peer) break;
          for (let i = 0; i < o.n; i++) {
            counts.sends++;
            const p = makePayload(o.payload, seq++, txFor('peer'));
            guarded('peer.send', () => (o.cb ? peer.send(p, mkCb()) : peer.send(p)));
            if (threwLast && o.cb) expectNone();
          }
          break;
        }
        case 'connect': epoch++; guarded('connect', () => sock.connect(o.port === 'rx' ? target.port : o.port, o.address === 'rx' ? target.address : o.address)); await immediate(); break;
        case 'disconnect': epoch++; guarded('disconnect', () => sock.disconnect()); break;
        case 'flush': guarded('flush', () => sock.flush()); break;
        case 'close': guarded('close', () => sock.close()); break;
        case 'stats': { const st = sock.stats(); if (st.enqueued !== st.sent + st.failed + st.dropped + st.queued) throw new Violation(`identity broken mid-run: ${JSON.stringify(st)}`); break; }
        case 'tick': await immediate(); break;
        case 'bindAgain': guarded('bind', () => sock.bind(0)); break;
        case 'address': guarded('address', () => sock.address()); break;
        case 'setSendBufferSize':
          guarded('setSendBufferSize', () => sock.setSendBufferSize(o.bytes));
          break;
      }
    }
    // Close and wait (bounded) for every callback.
    guarded('flush', () => sock.flush());
    const end = Date.now() + 1500;
    while (Date.now() < end && calls.some((n) => n === 0)) await sleep(2);
    if (!sock.closed) sock.close();
    const end2 = Date.now() + 1500;
    // (dgram backend: libuv cancels what was in flight at close() asynchronously, ECANCELED)
    while (Date.now() < end2 && (calls.some((n) => n === 0) || sock.stats().queued > 0)) await sleep(2);
    const bad = calls.findIndex((n) => n !== 1);
    if (bad >= 0) throw new Violation(`callback ${bad} (${labels[bad]}) ran ${calls[bad]} times (backend ${kase.backend}); stats ${JSON.stringify(sock.stats())}`);
    const st = sock.stats();
    if (st.enqueued !== st.sent + st.failed + st.dropped + st.queued) throw new Violation(`identity broken: ${JSON.stringify(st)}`);
    if (st.queued !== 0) throw new Violation(`queued ${st.queued} after close`);
    if (dupOrReorder) throw new Violation(`receiver: ${dupOrReorder}`);
  });
  const t0 = Date.now();
  const before = fds();
  await fc.assert(property, { numRuns: RUNS, seed: SEED, endOnFailure: true });
  await sleep(50);
  for (const { rx } of Object.values(receivers)) rx.close();
  await sleep(20);
  const after = fds();
  if (after > before) throw new Violation(`fd leak: ${before} before, ${after} after`);
  return { ms: Date.now() - t0, ...counts, fdsBefore: before, fdsAfter: after };
}

// Errors thrown by onRecv ('throwing' callbacks case) surface as uncaught exceptions by
// contract; count them instead of dying.
let uncaught = 0;
process.on('uncaughtException', (e) => {
  if (e instanceof Violation) {
    console.error(e.stack);
    process.exit(1);
  }
  if (e?.message === 'thrown by onRecv') uncaught++;
  else {
    console.error('unexpected uncaught exception:', e?.stack ?? e);
    process.exit(1);
  }
});

try {
  const result = MODE === 'native' ? await runNative() : await runApi();
  console.log(JSON.stringify({ mode: MODE, runs: RUNS, seed: SEED, netns: NETNS, uncaughtFromOnRecv: uncaught, ...result }));
  process.exit(0);
} catch (e) {
  const cause = e?.cause ? `\ncause: ${e.cause?.stack ?? e.cause}` : '';
  console.error((e?.stack ?? String(e)) + cause);
  console.log(JSON.stringify({ mode: MODE, runs: RUNS, seed: SEED, failed: true, message: (String(e?.message ?? e) + cause).slice(0, 6000) }));
  process.exit(1);
}
