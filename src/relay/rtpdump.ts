/**
 * The rtpdump file format of rtptools (`rtpdump -F dump`, read by `rtpplay` and
 * Wireshark): a text line `#!rtpplay1.0 ADDRESS/PORT\n`, a 16-byte binary header
 * (start time, source address, port), then per packet an 8-byte record header —
 * `length` (u16, record length incl. this header), `plen` (u16, RTP packet length; 0
 * for RTCP), `offset` (u32, ms since the start) — followed by the packet. Big-endian.
 *
 * The relay's bundled demo (assets/demo.rtpdump) is stored in this format, so any RTP
 * tool can inspect it.
 */

/** One recorded packet: RTP bytes and when it was captured, ms from the start. */
export interface DumpPacket {
  offsetMs: number;
  data: Buffer;
}

const MAGIC = '#!rtpplay1.0 ';

/** Serialises packets (RTP only) into an rtpdump file. `source` is informational (`'127.0.0.1/5004'`). */
export function writeRtpdump(packets: readonly DumpPacket[], source = '127.0.0.1/5004', startSec = 0): Buffer {
  const head = Buffer.from(`${MAGIC}${source}\n`, 'latin1');
  const fixed = Buffer.alloc(16);
  fixed.writeUInt32BE(startSec >>> 0, 0);
  const [ip, port] = source.split('/');
  const octets = ip.split('.').map(Number);
  if (octets.length === 4 && octets.every((o) => o >= 0 && o < 256)) fixed.writeUInt32BE(((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0, 8);
  fixed.writeUInt16BE(Number(port) & 0xffff, 12);
  const parts: Buffer[] = [head, fixed];
  for (const p of packets) {
    if (p.data.length > 0xffff - 8) throw new RangeError(`packet of ${p.data.length} bytes is too long for rtpdump`);
    const rec = Buffer.alloc(8);
    rec.writeUInt16BE(p.data.length + 8, 0);
    rec.writeUInt16BE(p.data.length, 2);
    rec.writeUInt32BE(Math.max(0, Math.round(p.offsetMs)) >>> 0, 4);
    parts.push(rec, p.data);
  }
  return Buffer.concat(parts);
}

/** Parses an rtpdump file. Throws `Error` with a clear message on a malformed file; RTCP records (plen 0) are skipped. */
export function readRtpdump(file: Buffer): DumpPacket[] {
  const nl = file.indexOf(0x0a);
  if (nl < 0 || !file.subarray(0, nl).toString('latin1').startsWith(MAGIC.trim())) {
    throw new Error('not an rtpdump file (missing "#!rtpplay1.0" line)');
  }
  let off = nl + 1 + 16;
  if (off > file.length) throw new Error('rtpdump file truncated in its header');
  const out: DumpPacket[] = [];
  while (off < file.length) {
    if (off + 8 > file.length) throw new Error(`rtpdump record header truncated at byte ${off}`);
    const length = file.readUInt16BE(off);
    const plen = file.readUInt16BE(off + 2);
    const offsetMs = file.readUInt32BE(off + 4);
    if (length < 8 || off + length > file.length) throw new Error(`rtpdump record at byte ${off} has a bad length ${length}`);
    if (plen > 0) {
      if (plen > length - 8) throw new Error(`rtpdump record at byte ${off}: plen ${plen} exceeds the record`);
      out.push({ offsetMs, data: Buffer.from(file.subarray(off + 8, off + 8 + plen)) });
    }
    off += length;
  }
  return out;
}
