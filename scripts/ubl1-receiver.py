#!/usr/bin/env python3
"""Independent UBL1 receiver: Python standard library, one recvfrom(2) per datagram.

It shares no code with this package, so it checks udp-blast from the outside: every
datagram must arrive once, in order per flow, with the size it was sent with.

  ubl1-receiver.py --listen 127.0.0.1:9000 --count 100000 [--idle-ms 3000] [--rcvbuf BYTES]

Prints `listening on HOST:PORT` on stderr once bound, then one JSON object on stdout:
received, bytes, invalid, lost, reordered, duplicates, inOrder, flows, sizes {min, max}.
Stops at --count datagrams (not with --until-end), at the end marker (a datagram of exactly the 8 bytes
`UBL1-END`, which the driver sends once the sender has exited: on loopback everything the
sender sent is queued before it), or after --idle-ms without a datagram (and always within
--max-s).
"""
import argparse
import json
import socket
import struct
import sys
import time

MAGIC = 0x55424C31
HEADER = struct.Struct(">IIQQ")
END_MARKER = b"UBL1-END"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", default="127.0.0.1:9000")
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--until-end", action="store_true", help="keep reading past --count until the end marker")
    ap.add_argument("--idle-ms", type=int, default=3000)
    ap.add_argument("--max-s", type=float, default=120.0)
    ap.add_argument("--rcvbuf", type=int, default=32 << 20)
    a = ap.parse_args()
    host, _, port = a.listen.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, 33, a.rcvbuf)  # SO_RCVBUFFORCE (root)
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, a.rcvbuf)
    s.bind((host, int(port)))
    print(f"listening on {host}:{s.getsockname()[1]}", file=sys.stderr, flush=True)

    received = nbytes = invalid = reordered = duplicates = 0
    smin, smax = 1 << 30, 0
    highest = {}  # flow -> highest seq seen
    seen = {}  # flow -> bytearray bitmap
    deadline = time.monotonic() + a.max_s
    s.settimeout(None)
    while (a.until_end or received < a.count) and time.monotonic() < deadline:
        if received:
            s.settimeout(a.idle_ms / 1000)
        else:
            s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            data = s.recv(65536)
        except socket.timeout:
            break
        n = len(data)
        if data == END_MARKER:
            break
        if n < HEADER.size:
            invalid += 1
            continue
        magic, flow, seq, _sent = HEADER.unpack_from(data)
        if magic != MAGIC or seq >= 1 << 31:
            invalid += 1
            continue
        bm = seen.setdefault(flow, bytearray())
        if seq >> 3 >= len(bm):
            bm.extend(b"\0" * max(len(bm), (seq >> 3) + 1 - len(bm)))
        bit = 1 << (seq & 7)
        if bm[seq >> 3] & bit:
            duplicates += 1
            continue
        bm[seq >> 3] |= bit
        received += 1
        nbytes += n
        smin, smax = min(smin, n), max(smax, n)
        if seq < highest.get(flow, -1):
            reordered += 1
        else:
            highest[flow] = seq
    expected = sum(h + 1 for h in highest.values())
    print(json.dumps({
        "received": received,
        "bytes": nbytes,
        "invalid": invalid,
        "lost": expected - received,
        "reordered": reordered,
        "duplicates": duplicates,
        "inOrder": reordered == 0 and duplicates == 0 and expected == received,
        "flows": len(highest),
        "sizes": {"min": smin if received else 0, "max": smax},
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
