/**
 * What an encoder's SDP says about its RTP (ffmpeg `-sdp_file`, GStreamer's caps as
 * SDP): the port, the payload types of H.264 and Opus, and the H.264 parameter sets
 * (`sprop-parameter-sets`, RFC 6184 §8.1) — the only place an encoder run with
 * `-flags +global_header` puts them. Parsed with werift's SDP parser
 * (`SessionDescription.parse`, werift packages/webrtc/src/sdp.ts).
 */
import { parseSpropParameterSets, type ParameterSets } from './h264.js';
import type { WeriftModule } from './viewer.js';

export interface IngestSdp {
  /** UDP port of the first H.264 or Opus m-line. */
  port: number;
  videoPayloadType?: number;
  audioPayloadType?: number;
  parameterSets?: ParameterSets;
}

/** Parses an ingest SDP. Throws `Error` with the reason when it has no H.264/Opus m-line or a bad sprop. */
export function parseIngestSdp(werift: WeriftModule, sdp: string): IngestSdp {
  let desc: InstanceType<WeriftModule['SessionDescription']>;
  try {
    desc = werift.SessionDescription.parse(sdp);
  } catch (err) {
    throw new Error(`the SDP does not parse: ${(err as Error).message}`);
  }
  const out: Partial<IngestSdp> = {};
  for (const m of desc.media) {
    for (const c of m.rtp.codecs) {
      const mime = c.mimeType.toLowerCase();
      if (mime === 'video/h264' && out.videoPayloadType === undefined) {
        out.videoPayloadType = c.payloadType;
        if (out.port !== undefined && out.port !== m.port) throw new Error(`the SDP sends audio to port ${out.port} and video to ${m.port}: the relay takes both on one port per stream`);
        out.port ??= m.port;
        const sprop = /(?:^|;)\s*sprop-parameter-sets=([^;\s]+)/.exec(c.parameters ?? '');
        if (sprop) out.parameterSets = parseSpropParameterSets(sprop[1]);
      } else if (mime === 'audio/opus' && out.audioPayloadType === undefined) {
        out.audioPayloadType = c.payloadType;
        if (out.port !== undefined && out.port !== m.port) throw new Error(`the SDP sends video to port ${out.port} and audio to ${m.port}: the relay takes both on one port per stream`);
        out.port ??= m.port;
      }
    }
  }
  if (out.port === undefined) throw new Error('the SDP has no H.264 video or Opus audio m-line');
  if (!(out.port > 0 && out.port < 65536)) throw new Error(`the SDP's m-line port ${out.port} is not a usable UDP port`);
  return out as IngestSdp;
}
