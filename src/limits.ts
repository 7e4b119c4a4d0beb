/**
 * Limits of UDP itself (bytes, datagrams), in one place for the TypeScript side. The addon
 * has the same numbers (addon/udp_offload.h) and exports them; src/native/binding.ts
 * refuses an addon whose numbers differ.
 */

/** Largest UDP payload over IPv4: 65535 − 20 (IPv4 header) − 8 (UDP header). Also the most one GSO message to an IPv4 (or IPv4-mapped) peer carries in all. */
export const MAX_PAYLOAD_V4 = 65507;
/** Largest UDP payload over IPv6: 65535 − 8 (jumbograms aside). Also the most one GSO message to an IPv6 peer carries in all, and the smallest receive slot GRO is enabled with. */
export const MAX_PAYLOAD_V6 = 65527;
/** Most datagrams one GSO message carries: UDP_MAX_SEGMENTS of the first kernels with UDP_SEGMENT (Linux 4.18). */
export const GSO_MAX_SEGMENTS = 64;
