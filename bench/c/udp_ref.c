/*
 * udp_ref: the C reference of the benchmark suite, compiled at bench time
 * (gcc -O2, see bench/lib/cref.mjs). Two subcommands:
 *
 *   udp_ref send --to IP:PORT --mode sendto|sendmmsg|gso [--batch N] [--size B] [--count N]
 *                [--duration S] [--rate PPS] [--pace tick|even] [--flows N] [--flow-base F]
 *     Sends UBL1 datagrams (24-byte header: magic "UBL1", flow u32, seq u64, send time ns
 *     CLOCK_MONOTONIC u64, big-endian; the rest filler) from an unconnected socket bound
 *     to loopback, one sendto(2) per datagram or one sendmmsg(2) per batch of N (each
 *     datagram its own buffer and msg_name, as the library does); flow ids F..F+N-1
 *     round robin, each with its own sequence from 0. --mode gso: UDP GSO (UDP_SEGMENT
 *     socket option), one sendto(2) of up to N (≤ 64, ≤ 65507 bytes) equal datagrams that
 *     the kernel segments; exit code 3 when the kernel refuses UDP_SEGMENT. The ceiling for
 *     udp-blast: same payload, same header work, no runtime in between.
 *     --rate 0 (default) sends as fast as possible. With --rate, --pace tick (default)
 *     sends everything due, then sleeps at least 1 ms (udp-blast's pacing: libuv timers);
 *     --pace even sleeps until each datagram's own due time (evenly spaced arrivals).
 *     Prints one JSON object: sent, durationS, pps, gbps, cpuUserUs, cpuSysUs,
 *     cpuUsPerDatagram, syscalls, syscallsPerDatagram, errors, partial.
 *
 *   udp_ref blackhole [--listen IP:PORT] [--rcvbuf BYTES]
 *     Binds a UDP socket and never reads it: the kernel delivers into its buffer and then
 *     drops (counted as RcvbufErrors), so a sender can be measured without a receiver
 *     competing for the CPU. Prints "listening on IP:PORT" on stderr, exits on SIGTERM/
 *     SIGINT or after 30 minutes.
 *
 * Loopback only: a non-loopback address is refused. Every run is bounded in count and
 * time (default count 100000, duration capped at 600 s).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 1024
#define MAX_SIZE 65507
#define MAX_DURATION_S 600.0
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

static void die(const char *msg) {
  fprintf(stderr, "udp_ref: %s\n", msg);
  exit(2);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until_ns(uint64_t t) {
  struct timespec ts = {.tv_sec = (time_t)(t / 1000000000ull), .tv_nsec = (long)(t % 1000000000ull)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

static void put_u32(uint8_t *p, uint32_t v) {
  p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static void put_u64(uint8_t *p, uint64_t v) {
  put_u32(p, (uint32_t)(v >> 32));
  put_u32(p + 4, (uint32_t)v);
}

static void parse_addr(const char *text, struct sockaddr_in *sa) {
  char host[64];
  const char *colon = strrchr(text, ':');
  if (!colon || (size_t)(colon - text) >= sizeof host) die("expected IP:PORT");
  memcpy(host, text, (size_t)(colon - text));
  host[colon - text] = 0;
  memset(sa, 0, sizeof *sa);
  sa->sin_family = AF_INET;
  if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) die("expected an IPv4 literal");
  if ((ntohl(sa->sin_addr.s_addr) >> 24) != 127) die("refusing a non-loopback address (127.0.0.0/8 only)");
  long port = strtol(colon + 1, NULL, 10);
  if (port < 0 || port > 65535) die("bad port");
  sa->sin_port = htons((uint16_t)port);
}

static double elapsed_cpu_us(const struct rusage *a, const struct rusage *b, int sys) {
  const struct timeval *x = sys ? &a->ru_stime : &a->ru_utime;
  const struct timeval *y = sys ? &b->ru_stime : &b->ru_utime;
  return (double)(y->tv_sec - x->tv_sec) * 1e6 + (double)(y->tv_usec - x->tv_usec);
}

static volatile sig_atomic_t stop_flag = 0;
static void on_signal(int sig) { (void)sig; stop_flag = 1; }

static int cmd_blackhole(int argc, char **argv) {
  const char *listen = "127.0.0.1:0";
  long rcvbuf = 0;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--listen") && i + 1 < argc) listen = argv[++i];
    else if (!strcmp(argv[i], "--rcvbuf") && i + 1 < argc) rcvbuf = strtol(argv[++i], NULL, 10);
    else die("blackhole: unknown argument");
  }
  struct sockaddr_in sa;
  parse_addr(listen, &sa);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) die("socket failed");
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) die("bind failed");
  socklen_t len = sizeof sa;
  getsockname(fd, (struct sockaddr *)&sa, &len);
  char ip[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof ip);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  fprintf(stderr, "listening on %s:%u\n", ip, ntohs(sa.sin_port));
  fflush(stderr);
  uint64_t end = now_ns() + 1800ull * 1000000000ull;
  while (!stop_flag && now_ns() < end) pause();
  close(fd);
  return 0;
}

static int cmd_send(int argc, char **argv) {
  const char *to = NULL;
  const char *mode = "sendto";
  const char *pace = "tick";
  long batch = 64, size = 1200, flows = 1, flow_base = 0;
  double count_d = 100000, duration = MAX_DURATION_S, rate = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) die("send: missing value");
    const char *v = argv[++i];
    if (!strcmp(a, "--to")) to = v;
    else if (!strcmp(a, "--mode")) mode = v;
    else if (!strcmp(a, "--pace")) pace = v;
    else if (!strcmp(a, "--batch")) batch = strtol(v, NULL, 10);
    else if (!strcmp(a, "--size")) size = strtol(v, NULL, 10);
    else if (!strcmp(a, "--flows")) flows = strtol(v, NULL, 10);
    else if (!strcmp(a, "--flow-base")) flow_base = strtol(v, NULL, 10);
    else if (!strcmp(a, "--count")) count_d = strtod(v, NULL);
    else if (!strcmp(a, "--duration")) duration = strtod(v, NULL);
    else if (!strcmp(a, "--rate")) rate = strtod(v, NULL);
    else die("send: unknown argument");
  }
  if (!to) die("send: --to IP:PORT is required");
  int use_mmsg = !strcmp(mode, "sendmmsg");
  int use_gso = !strcmp(mode, "gso");
  if (!use_mmsg && !use_gso && strcmp(mode, "sendto")) die("send: --mode sendto|sendmmsg|gso");
  int even = !strcmp(pace, "even");
  if (!even && strcmp(pace, "tick")) die("send: --pace tick|even");
  if (batch < 1 || batch > MAX_BATCH) die("send: --batch 1..1024");
  if (size < 24 || size > MAX_SIZE) die("send: --size 24..65507");
  if (flows < 1 || flows > 65536) die("send: --flows 1..65536");
  if (flow_base < 0 || flow_base > 0x7fffffffL) die("send: --flow-base 0..2^31-1");
  if (count_d < 1 || count_d > 1e9) die("send: --count 1..1e9");
  if (!(duration > 0) || duration > MAX_DURATION_S) duration = MAX_DURATION_S;
  if (rate < 0 || rate > 1e8) die("send: --rate 0..1e8");
  if (use_gso) {
    if (batch > 64) batch = 64;
    if (batch * size > MAX_SIZE) batch = MAX_SIZE / size;
    if (batch < 1) batch = 1;
  } else if (!use_mmsg) {
    batch = 1;
  }
  uint64_t count = (uint64_t)count_d;

  struct sockaddr_in dst, src;
  parse_addr(to, &dst);
  memset(&src, 0, sizeof src);
  src.sin_family = AF_INET;
  src.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) die("socket failed");
  if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) die("bind failed");
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* precise sleeps for --pace even */
  if (use_gso) {
    int seg = (int)size;
    if (setsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof seg) != 0) {
      fprintf(stderr, "udp_ref: UDP_SEGMENT (GSO) not supported here: %s\n", strerror(errno));
      return 3;
    }
  }

  uint8_t *bufs = malloc((size_t)batch * (size_t)size);
  struct mmsghdr *msgs = calloc((size_t)batch, sizeof *msgs);
  struct iovec *iov = calloc((size_t)batch, sizeof *iov);
  uint64_t *seqs = calloc((size_t)flows, sizeof *seqs);
  if (!bufs || !msgs || !iov || !seqs) die("out of memory");
  for (long b = 0; b < batch; b++) {
    uint8_t *p = bufs + (size_t)b * (size_t)size;
    for (long j = 24; j < size; j++) p[j] = (uint8_t)j;
    put_u32(p, 0x55424C31u);
    iov[b].iov_base = p;
    iov[b].iov_len = (size_t)size;
    msgs[b].msg_hdr.msg_name = &dst;
    msgs[b].msg_hdr.msg_namelen = sizeof dst;
    msgs[b].msg_hdr.msg_iov = &iov[b];
    msgs[b].msg_hdr.msg_iovlen = 1;
  }

  uint64_t sent = 0, attempted = 0, syscalls = 0, errors = 0, partial = 0;
  long flow = 0;
  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  uint64_t t0 = now_ns();
  uint64_t end = t0 + (uint64_t)(duration * 1e9);
  double ns_per = rate > 0 ? 1e9 / rate : 0;

  while (attempted < count) {
    uint64_t now = now_ns();
    if (now >= end) break;
    uint64_t due = count;
    if (rate > 0) {
      due = (uint64_t)((double)(now - t0) / ns_per) + 1;
      if (due > count) due = count;
    }
    while (attempted < due) {
      long n = (long)(due - attempted);
      if (n > batch) n = batch;
      for (long b = 0; b < n; b++) {
        uint8_t *p = bufs + (size_t)b * (size_t)size;
        put_u32(p + 4, (uint32_t)(flow_base + flow));
        put_u64(p + 8, seqs[flow]++);
        put_u64(p + 16, now_ns());
        if (++flow == flows) flow = 0;
      }
      if (use_gso) {
        for (;;) {
          ssize_t r = sendto(fd, bufs, (size_t)n * (size_t)size, 0, (struct sockaddr *)&dst, sizeof dst);
          syscalls++;
          if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == ENOBUFS)) continue;
          if (r < 0) errors += (uint64_t)n;
          else sent += (uint64_t)n;
          break;
        }
      } else if (use_mmsg) {
        int off = 0;
        while (off < n) {
          int r = sendmmsg(fd, msgs + off, (unsigned)(n - off), 0);
          syscalls++;
          if (r < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS) continue;
            errors++; /* the first datagram not taken failed: skip it */
            off++;
            continue;
          }
          if (r < n - off) partial++;
          sent += (uint64_t)r;
          off += r;
        }
      } else {
        for (;;) {
          ssize_t r = sendto(fd, bufs, (size_t)size, 0, (struct sockaddr *)&dst, sizeof dst);
          syscalls++;
          if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == ENOBUFS)) continue;
          if (r < 0) errors++;
          else sent++;
          break;
        }
      }
      attempted += (uint64_t)n;
    }
    if (rate > 0 && attempted < count) {
      uint64_t next = t0 + (uint64_t)((double)attempted * ns_per);
      if (!even) {
        uint64_t min_next = now_ns() + 1000000ull; /* at least 1 ms, like libuv timers */
        if (next < min_next) next = min_next;
      }
      if (next > end) next = end;
      sleep_until_ns(next);
    }
  }
  uint64_t t1 = now_ns();
  getrusage(RUSAGE_SELF, &ru1);
  close(fd);
  double secs = (double)(t1 - t0) / 1e9;
  double user = elapsed_cpu_us(&ru0, &ru1, 0), sys = elapsed_cpu_us(&ru0, &ru1, 1);
  printf("{\"tool\":\"udp_ref\",\"mode\":\"%s\",\"batch\":%ld,\"size\":%ld,\"flows\":%ld,\"rate\":%.0f,\"pace\":\"%s\","
         "\"sent\":%llu,\"attempted\":%llu,\"errors\":%llu,\"partial\":%llu,\"bytes\":%llu,\"durationS\":%.6f,"
         "\"pps\":%.1f,\"gbps\":%.6f,\"cpuUserUs\":%.0f,\"cpuSysUs\":%.0f,\"cpuUsPerDatagram\":%.6f,"
         "\"syscalls\":%llu,\"syscallsPerDatagram\":%.6f}\n",
         mode, batch, size, flows, rate, pace, (unsigned long long)sent, (unsigned long long)attempted,
         (unsigned long long)errors, (unsigned long long)partial, (unsigned long long)(sent * (uint64_t)size), secs,
         secs > 0 ? (double)sent / secs : 0.0, secs > 0 ? (double)sent * (double)size * 8 / secs / 1e9 : 0.0, user, sys,
         sent ? (user + sys) / (double)sent : 0.0, (unsigned long long)syscalls,
         sent ? (double)syscalls / (double)sent : 0.0);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) die("usage: udp_ref send|blackhole [options]");
  if (!strcmp(argv[1], "send")) return cmd_send(argc - 2, argv + 2);
  if (!strcmp(argv[1], "blackhole")) return cmd_blackhole(argc - 2, argv + 2);
  die("usage: udp_ref send|blackhole [options]");
  return 2;
}
