/*
 * srtp_fanout: the C ceiling of the relay's egress (issue 10), compiled at bench time
 * (gcc -O2 … -lcrypto, see bench/lib/cref.mjs). What a relay written in C would spend per
 * forwarded RTP packet: copy into a send arena, rewrite the header for the output (SSRC,
 * sequence number, timestamp offset), SRTP-protect it in place, and send everything due in
 * one sendmmsg(2) (≤ 1024 messages per call) to the outputs' UDP ports on loopback.
 * Three subcommands:
 *
 *   srtp_fanout send --dump FILE --base-port P [--streams K] [--viewers V]
 *                    [--profile aes-cm|gcm] [--seconds S] [--speed X]
 *     Replays the rtpdump recording FILE (rtptools' `-F dump` format, e.g. the relay's
 *     assets/demo.rtpdump) in real time, looping, as K ingest streams (in lockstep) each
 *     fanned out to V outputs: K×V outputs (≤ 1024), output o = stream (o / V) sent to
 *     127.0.0.1:(P + o). Each output has its own SRTP context created once at start:
 *       aes-cm  SRTP_AES128_CM_HMAC_SHA1_80 (RFC 3711): session keys by the AES-CM PRF
 *               (§4.3.1), AES-128-CTR with the IV reset per packet (§4.1.1), HMAC-SHA1 over
 *               the packet and the ROC, 80-bit tag (§4.2).
 *       gcm     SRTP_AEAD_AES_128_GCM (RFC 7714): 12-byte IV from SSRC, ROC, SEQ and the
 *               session salt (§8.1), the RTP header as AAD, 128-bit tag.
 *     Crypto is OpenSSL's EVP (EVP_aes_128_ctr / EVP_MAC "HMAC" SHA1 / EVP_aes_128_gcm).
 *     Pacing as a relay woken by its ingest: everything due is processed, then the thread
 *     sleeps until the next packet's time (at least 1 ms apart, like libuv timers).
 *     --speed X plays X times faster than real time (default 1).
 *     Prints one JSON object: ingest packets, datagrams sent, bytes, CPU (getrusage,
 *     user + sys) per datagram, and the split measured with CLOCK_THREAD_CPUTIME_ID around
 *     the two phases: protectUsPerDatagram (copy + header rewrite + SRTP protect) and
 *     sendUsPerDatagram (the sendmmsg calls, i.e. the kernel's UDP send and loopback
 *     delivery into the receiver's socket); the rest (sleeping/waking, replay bookkeeping)
 *     is otherUsPerDatagram. Plus syscalls, errors, partial sends.
 *
 *   srtp_fanout drain --base-port P --outputs N [--rcvbuf BYTES]
 *     The receiving side, in another process: binds 127.0.0.1:P..P+N-1, waits with epoll
 *     and drains each readable socket with recvmmsg(2) until EAGAIN. Prints
 *     "listening on 127.0.0.1:P" on stderr when bound; on SIGTERM/SIGINT (or after 30
 *     minutes) prints one JSON object: datagrams, bytes, per-output min and max.
 *
 *   srtp_fanout selftest
 *     Checks the crypto against the RFC test vectors: RFC 3711 B.3 (key derivation),
 *     B.2 (AES-CM keystream), RFC 7714 §16.1.1 (AEAD_AES_128_GCM protect); exit 0 if all
 *     pass, 1 otherwise.
 *
 *   srtp_fanout protect --profile aes-cm|gcm --key HEX --salt HEX --packet HEX [--roc N]
 *     Derives session keys from the master key and salt (the RFC 3711 PRF, for both
 *     profiles), protects one RTP packet and prints it in hex: a cross-check against
 *     other implementations (test/bench/srtp-fanout.test.ts compares it with the addon).
 *
 * Loopback only. Every run is bounded in time (--seconds ≤ 600).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_OUTPUTS 1024 /* UIO_MAXIOV: one sendmmsg can carry one packet to every output */
#define MAX_RTP 1500
#define SRTP_TRAILER 16 /* GCM tag; the AES-CM tag is 10 */
#define SLOT (MAX_RTP + SRTP_TRAILER)
#define MAX_SECONDS 600.0

enum profile { AES_CM, GCM };

static void die(const char *msg) {
  fprintf(stderr, "srtp_fanout: %s\n", msg);
  exit(2);
}

static void die_ssl(const char *what) {
  fprintf(stderr, "srtp_fanout: OpenSSL %s failed\n", what);
  exit(2);
}

static uint64_t now_ns(clockid_t clk) {
  struct timespec ts;
  clock_gettime(clk, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until_ns(uint64_t t) {
  struct timespec ts = {.tv_sec = (time_t)(t / 1000000000ull), .tv_nsec = (long)(t % 1000000000ull)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static uint32_t get32(const uint8_t *p) { return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]; }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v; }

/* ---- SRTP (RFC 3711, RFC 7714) on OpenSSL EVP ------------------------------------------ */

struct srtp_out {
  enum profile profile;
  uint8_t salt[14];        /* session salt: 14 bytes (AES-CM) or 12 (GCM) */
  EVP_CIPHER_CTX *cipher;  /* keyed once; only the IV changes per packet */
  EVP_MAC_CTX *mac;        /* HMAC-SHA1 keyed once (AES-CM only) */
};

/* RFC 3711 §4.3.1 with kdr 0: out = AES-CM(master key, IV = (salt XOR label << 48) || 0x0000). */
static void kdf(const uint8_t master_key[16], const uint8_t *master_salt, size_t salt_len, uint8_t label, uint8_t *out, size_t out_len) {
  uint8_t iv[16] = {0};
  memcpy(iv, master_salt, salt_len); /* a 12-byte (GCM) salt is zero-padded on the right, as libsrtp does */
  iv[7] ^= label;
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int outl = 0;
  memset(out, 0, out_len);
  if (!ctx || EVP_EncryptInit_ex(ctx, EVP_aes_128_ctr(), NULL, master_key, iv) != 1 || EVP_EncryptUpdate(ctx, out, &outl, out, (int)out_len) != 1) die_ssl("key derivation");
  EVP_CIPHER_CTX_free(ctx);
}

static void srtp_init_session(struct srtp_out *s, enum profile p, const uint8_t key[16], const uint8_t *salt, const uint8_t *auth_key) {
  s->profile = p;
  memset(s->salt, 0, sizeof s->salt);
  memcpy(s->salt, salt, p == GCM ? 12 : 14);
  s->cipher = EVP_CIPHER_CTX_new();
  if (!s->cipher || EVP_EncryptInit_ex(s->cipher, p == GCM ? EVP_aes_128_gcm() : EVP_aes_128_ctr(), NULL, key, NULL) != 1) die_ssl("cipher init");
  s->mac = NULL;
  if (p == AES_CM) {
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!mac) die_ssl("EVP_MAC_fetch(HMAC)");
    s->mac = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA1", 0), OSSL_PARAM_construct_end()};
    if (!s->mac || EVP_MAC_init(s->mac, auth_key, 20, params) != 1) die_ssl("HMAC-SHA1 init");
  }
}

/* Session keys from a master key and salt (14 bytes AES-CM, 12 bytes GCM). */
static void srtp_init(struct srtp_out *s, enum profile p, const uint8_t master_key[16], const uint8_t *master_salt) {
  size_t salt_len = p == GCM ? 12 : 14;
  uint8_t key[16], salt[14], auth[20];
  kdf(master_key, master_salt, salt_len, 0x00, key, 16);
  kdf(master_key, master_salt, salt_len, 0x02, salt, salt_len);
  kdf(master_key, master_salt, salt_len, 0x01, auth, 20);
  srtp_init_session(s, p, key, salt, auth);
}

static void srtp_free(struct srtp_out *s) {
  EVP_CIPHER_CTX_free(s->cipher);
  EVP_MAC_CTX_free(s->mac);
}

/* Length of the RTP header (fixed part, CSRCs, extension), or 0 when malformed. */
static size_t rtp_header_len(const uint8_t *p, size_t len) {
  if (len < 12 || (p[0] >> 6) != 2) return 0;
  size_t h = 12 + 4u * (p[0] & 0x0f);
  if (p[0] & 0x10) {
    if (h + 4 > len) return 0;
    h += 4 + 4u * get16(p + h + 2);
  }
  return h <= len ? h : 0;
}

/* Protects the RTP packet in place (room for the tag after it); returns the SRTP length. */
static size_t srtp_protect(struct srtp_out *s, uint8_t *pkt, size_t len, size_t hlen, uint32_t roc) {
  uint32_t ssrc = get32(pkt + 8);
  uint16_t seq = get16(pkt + 2);
  int outl = 0;
  if (s->profile == AES_CM) {
    uint8_t iv[16];
    memcpy(iv, s->salt, 14);
    iv[14] = iv[15] = 0;
    iv[4] ^= (uint8_t)(ssrc >> 24); iv[5] ^= (uint8_t)(ssrc >> 16); iv[6] ^= (uint8_t)(ssrc >> 8); iv[7] ^= (uint8_t)ssrc;
    iv[8] ^= (uint8_t)(roc >> 24); iv[9] ^= (uint8_t)(roc >> 16); iv[10] ^= (uint8_t)(roc >> 8); iv[11] ^= (uint8_t)roc;
    iv[12] ^= (uint8_t)(seq >> 8); iv[13] ^= (uint8_t)seq;
    if (EVP_EncryptInit_ex(s->cipher, NULL, NULL, NULL, iv) != 1) die_ssl("AES-CM IV reset");
    if (len > hlen && EVP_EncryptUpdate(s->cipher, pkt + hlen, &outl, pkt + hlen, (int)(len - hlen)) != 1) die_ssl("AES-CM encrypt");
    uint8_t rocb[4], tag[20];
    size_t tagl = 0;
    put32(rocb, roc);
    if (EVP_MAC_init(s->mac, NULL, 0, NULL) != 1 || EVP_MAC_update(s->mac, pkt, len) != 1 || EVP_MAC_update(s->mac, rocb, 4) != 1 ||
        EVP_MAC_final(s->mac, tag, &tagl, sizeof tag) != 1 || tagl != 20)
      die_ssl("HMAC-SHA1");
    memcpy(pkt + len, tag, 10);
    return len + 10;
  }
  uint8_t iv[12] = {0, 0};
  put32(iv + 2, ssrc);
  put32(iv + 6, roc);
  put16(iv + 10, seq);
  for (int i = 0; i < 12; i++) iv[i] ^= s->salt[i];
  uint8_t scratch[16];
  if (EVP_EncryptInit_ex(s->cipher, NULL, NULL, NULL, iv) != 1 || EVP_EncryptUpdate(s->cipher, NULL, &outl, pkt, (int)hlen) != 1 ||
      (len > hlen && EVP_EncryptUpdate(s->cipher, pkt + hlen, &outl, pkt + hlen, (int)(len - hlen)) != 1) ||
      EVP_EncryptFinal_ex(s->cipher, scratch, &outl) != 1 || EVP_CIPHER_CTX_ctrl(s->cipher, EVP_CTRL_GCM_GET_TAG, 16, pkt + len) != 1)
    die_ssl("AES-GCM encrypt");
  return len + 16;
}

/* ---- the recording --------------------------------------------------------------------- */

struct rec_packet {
  uint32_t offset_ms;
  uint16_t len, hlen;
  uint8_t video; /* 1: the recording's first SSRC kind that is not audio (by payload type) */
  const uint8_t *data;
};

struct recording {
  uint8_t *file;
  struct rec_packet *pkts;
  size_t n;
  uint32_t duration_ms; /* loop length: last offset + one frame's spacing */
  uint32_t video_ssrc;
};

static void read_dump(const char *path, struct recording *r) {
  FILE *f = fopen(path, "rb");
  if (!f) die("cannot open --dump file");
  if (fseek(f, 0, SEEK_END) != 0) die("cannot read --dump file");
  long size = ftell(f);
  if (size <= 0 || size > (64l << 20)) die("--dump file is empty or over 64 MiB");
  rewind(f);
  r->file = malloc((size_t)size);
  if (!r->file || fread(r->file, 1, (size_t)size, f) != (size_t)size) die("cannot read --dump file");
  fclose(f);
  const uint8_t *nl = memchr(r->file, '\n', (size_t)size);
  if (!nl || memcmp(r->file, "#!rtpplay1.0", 12) != 0) die("--dump: not an rtpdump file (no #!rtpplay1.0 line)");
  size_t off = (size_t)(nl - r->file) + 1 + 16;
  size_t cap = 1024;
  r->pkts = malloc(cap * sizeof *r->pkts);
  r->n = 0;
  if (!r->pkts) die("out of memory");
  int have_video = 0;
  while (off + 8 <= (size_t)size) {
    uint16_t length = get16(r->file + off), plen = get16(r->file + off + 2);
    uint32_t ms = get32(r->file + off + 4);
    if (length < 8 || off + length > (size_t)size) die("--dump: bad record length");
    if (plen > 0 && plen <= length - 8 && plen <= MAX_RTP) {
      const uint8_t *p = r->file + off + 8;
      size_t h = rtp_header_len(p, plen);
      if (h) {
        if (r->n == cap) {
          cap *= 2;
          r->pkts = realloc(r->pkts, cap * sizeof *r->pkts);
          if (!r->pkts) die("out of memory");
        }
        /* Video: the SSRC of the first packet with a dynamic PT other than Opus' usual 111. */
        uint32_t ssrc = get32(p + 8);
        if (!have_video && (p[1] & 0x7f) != 111) {
          r->video_ssrc = ssrc;
          have_video = 1;
        }
        r->pkts[r->n++] = (struct rec_packet){.offset_ms = ms, .len = plen, .hlen = (uint16_t)h, .data = p};
      }
    }
    off += length;
  }
  if (r->n == 0) die("--dump: no RTP packets");
  for (size_t i = 0; i < r->n; i++) r->pkts[i].video = have_video && get32(r->pkts[i].data + 8) == r->video_ssrc;
  r->duration_ms = r->pkts[r->n - 1].offset_ms + 33;
}

/* ---- send ------------------------------------------------------------------------------ */

struct output {
  struct srtp_out srtp;
  struct sockaddr_in addr;
  uint32_t ssrc[2];      /* [audio, video] */
  uint64_t index[2];     /* next packet index (ROC << 16 | SEQ) per kind */
  uint32_t ts_offset[2]; /* added to the recording's timestamps (random start, as a sender does) */
  int stream;
};

static double elapsed_cpu_us(const struct rusage *a, const struct rusage *b) {
  return (double)(b->ru_utime.tv_sec - a->ru_utime.tv_sec) * 1e6 + (double)(b->ru_utime.tv_usec - a->ru_utime.tv_usec) +
         (double)(b->ru_stime.tv_sec - a->ru_stime.tv_sec) * 1e6 + (double)(b->ru_stime.tv_usec - a->ru_stime.tv_usec);
}

static int cmd_send(int argc, char **argv) {
  const char *dump = NULL, *prof = "aes-cm";
  long base_port = 0, streams = 1, viewers = 64;
  double seconds = 10, speed = 1;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) die("send: missing value");
    const char *v = argv[++i];
    if (!strcmp(a, "--dump")) dump = v;
    else if (!strcmp(a, "--profile")) prof = v;
    else if (!strcmp(a, "--base-port")) base_port = strtol(v, NULL, 10);
    else if (!strcmp(a, "--streams")) streams = strtol(v, NULL, 10);
    else if (!strcmp(a, "--viewers")) viewers = strtol(v, NULL, 10);
    else if (!strcmp(a, "--seconds")) seconds = strtod(v, NULL);
    else if (!strcmp(a, "--speed")) speed = strtod(v, NULL);
    else die("send: unknown argument");
  }
  if (!dump) die("send: --dump FILE is required");
  enum profile p;
  if (!strcmp(prof, "aes-cm")) p = AES_CM;
  else if (!strcmp(prof, "gcm")) p = GCM;
  else die("send: --profile aes-cm|gcm");
  if (streams < 1 || viewers < 1 || streams * viewers > MAX_OUTPUTS) die("send: --streams × --viewers in 1..1024");
  if (base_port < 1024 || base_port + streams * viewers > 65536) die("send: --base-port: ports within 1024..65535");
  if (!(seconds > 0) || seconds > MAX_SECONDS) die("send: --seconds in (0, 600]");
  if (!(speed > 0) || speed > 100) die("send: --speed in (0, 100]");

  struct recording rec;
  read_dump(dump, &rec);
  size_t n_out = (size_t)(streams * viewers);
  struct output *outs = calloc(n_out, sizeof *outs);
  uint8_t *arena = aligned_alloc(64, MAX_OUTPUTS * (size_t)SLOT);
  struct mmsghdr *msgs = calloc(MAX_OUTPUTS, sizeof *msgs);
  struct iovec *iov = calloc(MAX_OUTPUTS, sizeof *iov);
  if (!outs || !arena || !msgs || !iov) die("out of memory");
  srand(12345);
  for (size_t o = 0; o < n_out; o++) {
    uint8_t key[16], salt[14];
    for (int i = 0; i < 16; i++) key[i] = (uint8_t)rand();
    for (int i = 0; i < 14; i++) salt[i] = (uint8_t)rand();
    srtp_init(&outs[o].srtp, p, key, salt);
    outs[o].addr.sin_family = AF_INET;
    outs[o].addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    outs[o].addr.sin_port = htons((uint16_t)(base_port + (long)o));
    for (int k = 0; k < 2; k++) {
      outs[o].ssrc[k] = (uint32_t)rand() ^ ((uint32_t)rand() << 16);
      outs[o].index[k] = (uint64_t)(rand() & 0x7fff);
      outs[o].ts_offset[k] = (uint32_t)rand() ^ ((uint32_t)rand() << 16);
    }
    outs[o].stream = (int)(o / (size_t)viewers);
  }
  for (int i = 0; i < MAX_OUTPUTS; i++) {
    iov[i].iov_base = arena + (size_t)i * SLOT;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
  }

  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0) die("socket failed");
  struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) die("bind failed");
  int sndbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

  uint64_t ingest = 0, sent = 0, bytes = 0, syscalls = 0, errors = 0, partial = 0, eagain = 0, wakes = 0;
  uint64_t protect_ns = 0, send_ns = 0;
  size_t next = 0;    /* next packet of the recording */
  uint64_t loop = 0;  /* completed loops of the recording */
  const double ns_per_ms = 1e6 / speed;
  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  uint64_t t0 = now_ns(CLOCK_MONOTONIC);
  uint64_t end = t0 + (uint64_t)(seconds * 1e9);
  for (;;) {
    uint64_t now = now_ns(CLOCK_MONOTONIC);
    if (now >= end) break;
    wakes++;
    /* Everything due now: each ingest packet of each stream to each of its viewers. */
    for (;;) {
      size_t m = 0;
      uint64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
      while (m + n_out <= MAX_OUTPUTS) {
        const struct rec_packet *rp = &rec.pkts[next];
        uint64_t due = t0 + (uint64_t)(((double)loop * rec.duration_ms + rp->offset_ms) * ns_per_ms);
        if (due > now) break;
        for (size_t o = 0; o < n_out; o++) {
          struct output *out = &outs[o];
          uint8_t *slot = arena + m * SLOT;
          memcpy(slot, rp->data, rp->len);
          int k = rp->video;
          uint64_t idx = out->index[k]++;
          uint32_t ts = get32(rp->data + 4) + out->ts_offset[k] + (uint32_t)(loop * (uint64_t)rec.duration_ms * (k ? 90u : 48u));
          put16(slot + 2, (uint16_t)idx);
          put32(slot + 4, ts);
          put32(slot + 8, out->ssrc[k]);
          iov[m].iov_len = srtp_protect(&out->srtp, slot, rp->len, rp->hlen, (uint32_t)(idx >> 16));
          msgs[m].msg_hdr.msg_name = &out->addr;
          bytes += iov[m].iov_len;
          m++;
        }
        ingest += (uint64_t)streams;
        if (++next == rec.n) {
          next = 0;
          loop++;
        }
      }
      uint64_t c1 = now_ns(CLOCK_THREAD_CPUTIME_ID);
      protect_ns += c1 - c0;
      if (m == 0) break;
      size_t off = 0;
      while (off < m) {
        int r = sendmmsg(fd, msgs + off, (unsigned)(m - off), 0);
        syscalls++;
        if (r < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN || errno == ENOBUFS) {
            /* The socket's send buffer is full: wait until it is writable (counted). */
            eagain++;
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            poll(&pfd, 1, 100);
            continue;
          }
          errors++; /* this datagram failed on its own: skip it */
          off++;
          continue;
        }
        if ((size_t)r < m - off) partial++;
        sent += (uint64_t)r;
        off += (size_t)r;
      }
      send_ns += now_ns(CLOCK_THREAD_CPUTIME_ID) - c1;
    }
    /* Sleep until the next packet is due (at least 1 ms, as a libuv timer would). */
    const struct rec_packet *rp = &rec.pkts[next];
    uint64_t due = t0 + (uint64_t)(((double)loop * rec.duration_ms + rp->offset_ms) * ns_per_ms);
    uint64_t min_next = now_ns(CLOCK_MONOTONIC) + 1000000ull;
    if (due < min_next) due = min_next;
    if (due > end) due = end;
    sleep_until_ns(due);
  }
  uint64_t t1 = now_ns(CLOCK_MONOTONIC);
  getrusage(RUSAGE_SELF, &ru1);
  close(fd);
  double cpu = elapsed_cpu_us(&ru0, &ru1);
  double d = sent ? (double)sent : 1;
  printf("{\"tool\":\"srtp_fanout\",\"profile\":\"%s\",\"streams\":%ld,\"viewers\":%ld,\"outputs\":%zu,\"speed\":%g,"
         "\"recordingPackets\":%zu,\"ingestPackets\":%llu,\"sent\":%llu,\"bytes\":%llu,\"durationS\":%.6f,\"datagramsPerS\":%.1f,"
         "\"cpuUs\":%.0f,\"cpuUsPerDatagram\":%.4f,\"protectUsPerDatagram\":%.4f,\"sendUsPerDatagram\":%.4f,\"otherUsPerDatagram\":%.4f,"
         "\"syscalls\":%llu,\"syscallsPerDatagram\":%.6f,\"wakes\":%llu,\"errors\":%llu,\"partial\":%llu,\"eagain\":%llu}\n",
         prof, streams, viewers, n_out, speed, rec.n, (unsigned long long)ingest, (unsigned long long)sent, (unsigned long long)bytes,
         (double)(t1 - t0) / 1e9, (double)sent / ((double)(t1 - t0) / 1e9), cpu, cpu / d, (double)protect_ns / 1e3 / d,
         (double)send_ns / 1e3 / d, (cpu - (double)(protect_ns + send_ns) / 1e3) / d, (unsigned long long)syscalls,
         (double)syscalls / d, (unsigned long long)wakes, (unsigned long long)errors, (unsigned long long)partial,
         (unsigned long long)eagain);
  for (size_t o = 0; o < n_out; o++) srtp_free(&outs[o].srtp);
  free(outs);
  free(arena);
  free(msgs);
  free(iov);
  free(rec.pkts);
  free(rec.file);
  return errors ? 1 : 0;
}

/* ---- drain ----------------------------------------------------------------------------- */

static volatile sig_atomic_t stop_flag = 0;
static void on_signal(int sig) { (void)sig; stop_flag = 1; }

static int cmd_drain(int argc, char **argv) {
  long base_port = 0, n = 64, rcvbuf = 4 << 20;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) die("drain: missing value");
    const char *v = argv[++i];
    if (!strcmp(a, "--base-port")) base_port = strtol(v, NULL, 10);
    else if (!strcmp(a, "--outputs")) n = strtol(v, NULL, 10);
    else if (!strcmp(a, "--rcvbuf")) rcvbuf = strtol(v, NULL, 10);
    else die("drain: unknown argument");
  }
  if (n < 1 || n > MAX_OUTPUTS) die("drain: --outputs 1..1024");
  if (base_port < 1024 || base_port + n > 65536) die("drain: --base-port: ports within 1024..65535");
  int ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1 failed");
  int *fds = calloc((size_t)n, sizeof *fds);
  uint64_t *count = calloc((size_t)n, sizeof *count);
  if (!fds || !count) die("out of memory");
  for (long i = 0; i < n; i++) {
    fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fds[i] < 0) die("socket failed");
    /* Past net.core.rmem_max when root (SO_RCVBUFFORCE), else up to it. */
    if (setsockopt(fds[i], SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0) setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons((uint16_t)(base_port + i))};
    if (bind(fds[i], (struct sockaddr *)&sa, sizeof sa) != 0) {
      fprintf(stderr, "srtp_fanout: drain: bind 127.0.0.1:%ld: %s\n", base_port + i, strerror(errno));
      return 2;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) != 0) die("epoll_ctl failed");
  }
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  fprintf(stderr, "listening on 127.0.0.1:%ld\n", base_port);
  fflush(stderr);
  enum { BATCH = 64 };
  static uint8_t bufs[BATCH][2048];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  for (int i = 0; i < BATCH; i++) {
    iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = sizeof bufs[i]};
    msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
  }
  uint64_t total = 0, bytes = 0;
  uint64_t end = now_ns(CLOCK_MONOTONIC) + 1800ull * 1000000000ull;
  struct epoll_event evs[64];
  int stopping = 0;
  for (;;) {
    int k;
    if (stop_flag || now_ns(CLOCK_MONOTONIC) >= end) {
      /* Stopping: one last pass over every socket, so what was queued before the signal counts. */
      if (stopping) break;
      stopping = 1;
      k = (int)(n < 64 ? n : 64);
    } else {
      k = epoll_wait(ep, evs, 64, 1000);
      if (k < 0) {
        if (errno == EINTR) continue;
        die("epoll_wait failed");
      }
    }
    for (long base = 0; base < (stopping ? n : 1); base += 64) {
      int kk = stopping ? (int)(n - base < 64 ? n - base : 64) : k;
      for (int e = 0; e < kk; e++) {
        long i = stopping ? base + e : (long)evs[e].data.u64;
        for (;;) {
          int r = recvmmsg(fds[i], msgs, BATCH, 0, NULL);
          if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            die("recvmmsg failed");
          }
          count[i] += (uint64_t)r;
          total += (uint64_t)r;
          for (int j = 0; j < r; j++) bytes += msgs[j].msg_len;
          if (r < BATCH && !stopping) break;
        }
      }
    }
  }
  uint64_t mn = UINT64_MAX, mx = 0;
  for (long i = 0; i < n; i++) {
    if (count[i] < mn) mn = count[i];
    if (count[i] > mx) mx = count[i];
    close(fds[i]);
  }
  printf("{\"tool\":\"srtp_fanout drain\",\"outputs\":%ld,\"datagrams\":%llu,\"bytes\":%llu,\"perOutputMin\":%llu,\"perOutputMax\":%llu}\n", n,
         (unsigned long long)total, (unsigned long long)bytes, (unsigned long long)mn, (unsigned long long)mx);
  free(fds);
  free(count);
  close(ep);
  return 0;
}

/* ---- selftest and protect -------------------------------------------------------------- */

static size_t unhex(const char *s, uint8_t *out, size_t cap) {
  size_t n = 0;
  int hi = -1;
  for (; *s; s++) {
    int v;
    if (*s >= '0' && *s <= '9') v = *s - '0';
    else if (*s >= 'a' && *s <= 'f') v = *s - 'a' + 10;
    else if (*s >= 'A' && *s <= 'F') v = *s - 'A' + 10;
    else if (*s == ' ') continue;
    else die("bad hex");
    if (hi < 0) hi = v;
    else {
      if (n == cap) die("hex too long");
      out[n++] = (uint8_t)(hi << 4 | v);
      hi = -1;
    }
  }
  if (hi >= 0) die("odd hex length");
  return n;
}

static int check(const char *name, const uint8_t *got, const char *want_hex) {
  uint8_t want[256];
  size_t n = unhex(want_hex, want, sizeof want);
  int ok = memcmp(got, want, n) == 0;
  fprintf(stderr, "%s %s\n", ok ? "ok  " : "FAIL", name);
  return ok;
}

static int cmd_selftest(void) {
  int ok = 1;
  uint8_t mk[16], ms[14], out[64];
  /* RFC 3711 B.3 */
  unhex("E1F97A0D3E018BE0D64FA32C06DE4139", mk, 16);
  unhex("0EC675AD498AFEEBB6960B3AABE6", ms, 14);
  kdf(mk, ms, 14, 0x00, out, 16);
  ok &= check("RFC 3711 B.3 cipher key", out, "C61E7A93744F39EE10734AFE3FF7A087");
  kdf(mk, ms, 14, 0x02, out, 14);
  ok &= check("RFC 3711 B.3 cipher salt", out, "30CBBC08863D8C85D49DB34A9AE1");
  kdf(mk, ms, 14, 0x01, out, 20);
  ok &= check("RFC 3711 B.3 auth key", out, "CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4");
  /* RFC 3711 B.2: session key and salt given; SSRC 0, ROC 0, SEQ 0; zero payload → keystream */
  struct srtp_out s;
  uint8_t key[16], salt[14], auth[20] = {0}, pkt[128] = {0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  unhex("2B7E151628AED2A6ABF7158809CF4F3C", key, 16);
  unhex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD", salt, 14);
  srtp_init_session(&s, AES_CM, key, salt, auth);
  size_t n = srtp_protect(&s, pkt, 12 + 48, 12, 0);
  ok &= check("RFC 3711 B.2 AES-CM keystream", pkt + 12, "E03EAD0935C95E80E166B16DD92B4EB4D23513162B02D0F72A43A2FE4A5F97AB41E95B3BB0A2E8DD477901E4FCA894C0");
  ok &= n == 70;
  srtp_free(&s);
  /* RFC 7714 §16.1.1: AEAD_AES_128_GCM, session key and salt given */
  uint8_t gk[16], gs[12], rtp[128];
  unhex("000102030405060708090a0b0c0d0e0f", gk, 16);
  unhex("517569642070726f2071756f", gs, 12);
  size_t len = unhex("8040f17b8041f8d35501a0b247616c6c696120657374206f6d6e697320646976697361", rtp, sizeof rtp);
  len += unhex("20696e207061727465732074726573", rtp + len, sizeof rtp - len);
  srtp_init_session(&s, GCM, gk, gs, NULL);
  n = srtp_protect(&s, rtp, len, 12, 0);
  ok &= check("RFC 7714 16.1.1 AEAD_AES_128_GCM protect",
              rtp, "8040f17b8041f8d35501a0b2f24de3a3fb34de6cacba861c9d7e4bcabe633bd50d294e6f42a5f47a51c7d19b36de3adf8833899d7f27beb16a9152cf765ee4390cce");
  ok &= n == len + 16;
  srtp_free(&s);
  fprintf(stderr, "%s\n", ok ? "selftest passed" : "selftest FAILED");
  return ok ? 0 : 1;
}

static int cmd_protect(int argc, char **argv) {
  const char *prof = "aes-cm", *key_hex = NULL, *salt_hex = NULL, *pkt_hex = NULL;
  long roc = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) die("protect: missing value");
    const char *v = argv[++i];
    if (!strcmp(a, "--profile")) prof = v;
    else if (!strcmp(a, "--key")) key_hex = v;
    else if (!strcmp(a, "--salt")) salt_hex = v;
    else if (!strcmp(a, "--packet")) pkt_hex = v;
    else if (!strcmp(a, "--roc")) roc = strtol(v, NULL, 10);
    else die("protect: unknown argument");
  }
  if (!key_hex || !salt_hex || !pkt_hex) die("protect: --key, --salt and --packet are required");
  enum profile p = !strcmp(prof, "gcm") ? GCM : AES_CM;
  if (p == AES_CM && strcmp(prof, "aes-cm")) die("protect: --profile aes-cm|gcm");
  uint8_t key[16], salt[14], pkt[MAX_RTP + SRTP_TRAILER];
  if (unhex(key_hex, key, sizeof key) != 16) die("protect: --key is 16 bytes");
  if (unhex(salt_hex, salt, sizeof salt) != (p == GCM ? 12u : 14u)) die("protect: --salt is 14 bytes (aes-cm) or 12 (gcm)");
  size_t len = unhex(pkt_hex, pkt, MAX_RTP);
  size_t h = rtp_header_len(pkt, len);
  if (!h) die("protect: --packet is not an RTP packet");
  struct srtp_out s;
  srtp_init(&s, p, key, salt);
  size_t n = srtp_protect(&s, pkt, len, h, (uint32_t)roc);
  for (size_t i = 0; i < n; i++) printf("%02x", pkt[i]);
  printf("\n");
  srtp_free(&s);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) die("usage: srtp_fanout send|drain|selftest|protect [options]");
  if (!strcmp(argv[1], "send")) return cmd_send(argc - 2, argv + 2);
  if (!strcmp(argv[1], "drain")) return cmd_drain(argc - 2, argv + 2);
  if (!strcmp(argv[1], "selftest")) return cmd_selftest();
  if (!strcmp(argv[1], "protect")) return cmd_protect(argc - 2, argv + 2);
  die("usage: srtp_fanout send|drain|selftest|protect [options]");
  return 2;
}
