/*
 * zpk_soak: one process of the soak test (issue 19, item 3). The driver,
 * tests/soak/soak.py, starts a sender and a receiver per pattern, kills
 * and restarts receivers, stops them, slows them down, samples memory and
 * judges the counts this program reports.
 *
 *   zpk_soak send PATTERN [--rate N] [--inject-corrupt N] [--inject-loss N]
 *       PATTERN is push, pub or router. Binds one socket per stream on
 *       tcp://127.0.0.1:* and prints "endpoints EP..." on one line, then
 *       sends until SIGTERM, then sends each stream's end marker (waiting
 *       for the receiver as long as it takes) and prints its counts.
 *       --rate: at most N messages a second (0, the default: no limit).
 *       --inject-*: the driver's self-test (soak.py --self-test): every Nth
 *       message of a stream carries a wrong CRC, or is never sent while its
 *       sequence number is used up, so the receiver must report it.
 *   zpk_soak recv PATTERN STATE_FILE EP...
 *       Connects the matching socket (PULL, SUB, DEALER) to each endpoint,
 *       receives and verifies until every stream's end marker arrived
 *       (or SIGTERM), then prints its counts. SIGUSR1 toggles slow mode
 *       (2 ms after each message). STATE_FILE keeps the counts and the
 *       last sequence number of every stream across a SIGKILL: a restarted
 *       receiver carries on from what its predecessor had verified.
 *
 * Streams: one socket pair per message kind (packed, compressed packed,
 * single-frame packed, an array with each codec, a single-frame array,
 * mixed), so that the receiver knows which receive call a socket needs.
 * Every message carries its stream, a sequence number, the sender's count
 * of the earlier sequence numbers it had to skip (PUB: EAGAIN at the HWM
 * under ZMQ_XPUB_NODROP, where a plain PUB drops silently; ROUTER:
 * EHOSTUNREACH under ZMQ_ROUTER_MANDATORY, no peer with that identity)
 * and a CRC-32 over its bytes. A gap in the sequence is then explained by
 * the sender's count, by a restart of the receiver (what was queued to the
 * killed process, bounded below), or it is unexplained: a failure.
 *
 * Sizes: each message's size follows from (stream, sequence number), so a
 * receiver knows what a lost message weighed: from 10 bytes (arrays from
 * 32: their first 32 bytes carry the stream, sequence number, skip count
 * and CRC) to 16 MiB, most of them small.
 *
 * Output: one line per event, "key value key value ..." (the driver reads
 * them): "endpoints", "progress" every 5 s, "stream" per stream at the end,
 * "error" for anything unexpected. Exit status: 0; 2 on a usage error; 3 on
 * an unexpected failure of a call (the "error" line says which).
 *
 * Uses the public API only: zpk_send_packed, zpk_send_array,
 * zpk_send_mixed, zpk_recv_packed, zpk_recv_array, zpk_recv_mixed.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>
#include <zmq.h>

#include "zmqpack.h"

/* Socket settings; the loss bound after a kill follows from them. */
#define S_HWM 64                       /* ZMQ_SNDHWM and ZMQ_RCVHWM, messages */
#define S_KBUF (64 * 1024)             /* ZMQ_SNDBUF and ZMQ_RCVBUF, bytes */
#define S_ZMQ_BATCH 8192               /* libzmq's in and out batch buffers */
#define S_MIN_SIZE 10
#define S_MAX_SIZE ((size_t)16 << 20)
#define S_ARRAY_HDR 32                 /* in-band header of array payloads */
#define S_POOL_SIZE (S_MAX_SIZE + ((size_t)1 << 20))
/* Compressed payloads are never smaller than a quarter of their raw size:
 * two bytes of every eight in the pool are PRNG output (s_pool_init). */
#define S_MIN_RATIO_DEN 4
#define S_MAGIC 0x4b4f535au           /* "ZSOK" little-endian */
#define S_FLAG_END 1u
#define S_SLOW_NS 2000000L             /* slow mode: 2 ms after each message */
#define S_PROGRESS_S 5
#define S_ACK_EVERY 64                 /* DEALER -> ROUTER acknowledgements */

enum { S_PACKED, S_NDARRAY, S_MIXED };
enum { S_PUSH, S_PUB, S_ROUTER };

typedef struct {
    const char *name;
    int kind;
    const char *codec;     /* NULL: none */
    int flags;             /* ZPK_SEND_SINGLE */
    zpk_kind_t dkind;      /* arrays: dtype */
    size_t itemsize;
} s_stream_def_t;

static const s_stream_def_t s_streams[] = {
    {"packed", S_PACKED, NULL, 0, ZPK_KIND_UINT, 1},
    {"packed-zlib", S_PACKED, "zlib:1", 0, ZPK_KIND_UINT, 1},
    {"packed-single", S_PACKED, NULL, ZPK_SEND_SINGLE, ZPK_KIND_UINT, 1},
    {"ndarray-none", S_NDARRAY, NULL, 0, ZPK_KIND_FLOAT, 4},
    {"ndarray-zlib", S_NDARRAY, "zlib:1", 0, ZPK_KIND_FLOAT, 4},
    {"ndarray-blosc", S_NDARRAY, "blosc:lz4:5:shuffle", 0, ZPK_KIND_FLOAT, 8},
    {"ndarray-auto", S_NDARRAY, "auto", 0, ZPK_KIND_INT, 2},
    {"ndarray-single", S_NDARRAY, "zlib:1", ZPK_SEND_SINGLE, ZPK_KIND_UINT, 2},
    {"mixed", S_MIXED, "auto", 0, ZPK_KIND_FLOAT, 4},
};
#define S_NSTREAMS (sizeof s_streams / sizeof s_streams[0])

static const char *const s_pattern_names[] = {"push", "pub", "router"};

static uint64_t s_inject_corrupt, s_inject_loss; /* every Nth message; 0: never */
static volatile sig_atomic_t s_stop;
static volatile sig_atomic_t s_slow;
static uint8_t *s_pool;

/* ---- output ------------------------------------------------------------------ */

static void s_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

static _Noreturn void s_fatal(const char *what, int rc)
{
    s_line("error call %s code %d name %s text \"%s\"", what, rc, zpk_err_name(rc),
           zpk_strerror(rc));
    exit(3);
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void s_nsleep(long ns)
{
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !s_stop) {
    }
}

/* ---- what each message is ----------------------------------------------------- */

static uint64_t s_mix(uint64_t x)
{
    /* splitmix64's finaliser */
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

static size_t s_log_uniform(uint64_t h, double lo, double hi)
{
    double f = (double)(h >> 11) / 9007199254740992.0; /* [0, 1) */
    return (size_t)exp(log(lo) + f * (log(hi) - log(lo)));
}

/* Payload bytes of message @p seq of stream @p st (the same in every process). */
static size_t s_size(size_t st, uint64_t seq)
{
    const s_stream_def_t *d = &s_streams[st];
    size_t n;
    uint64_t h = s_mix(((uint64_t)st << 48) ^ seq);
    unsigned c = (unsigned)(h % 1000);
    if (seq % 4096 == 7)
        n = S_MAX_SIZE;
    else if (seq % 4096 == 1)
        n = S_MIN_SIZE;
    else if (c < 900)
        n = s_log_uniform(s_mix(h), S_MIN_SIZE, 4096);
    else if (c < 997)
        n = s_log_uniform(s_mix(h), 4096, 256 * 1024);
    else
        n = s_log_uniform(s_mix(h), 256 * 1024, (double)S_MAX_SIZE);
    if (d->kind == S_NDARRAY) {
        if (n < S_ARRAY_HDR)
            n = S_ARRAY_HDR;
        n -= n % d->itemsize;
    }
    return n;
}

/* Where in the pool message @p seq's bytes start (8-byte aligned). */
static size_t s_offset(size_t st, uint64_t seq, size_t salt)
{
    return (size_t)(s_mix(((uint64_t)st << 40) ^ seq ^ ((uint64_t)salt << 60)) % (1u << 17)) * 8;
}

/* Smallest size message @p seq can have on the wire, for the loss bound. */
static size_t s_wire_min(size_t st, uint64_t seq)
{
    size_t n = s_size(st, seq);
    return s_streams[st].codec != NULL ? n / S_MIN_RATIO_DEN : n;
}

static void s_pool_init(void)
{
    s_pool = malloc(S_POOL_SIZE);
    if (s_pool == NULL)
        s_fatal("malloc", -ENOMEM);
    uint64_t x = 0x2545f4914f6cdd1du;
    for (size_t i = 0; i < S_POOL_SIZE; i += 8) {
        /* six bytes of a slow ramp (compressible), two of xorshift output */
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t w = ((uint64_t)(i >> 9) << 16) | (x & 0xffffu);
        memcpy(s_pool + i, &w, 8);
    }
}

static void s_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void s_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t s_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t s_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* CRC-32 (zlib's) over size_t lengths, which may pass 4 GiB in principle. */
static uint32_t s_crc(uint32_t crc, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = (uint32_t)crc32(crc, b, k);
        b += k;
        n -= k;
    }
    return crc;
}

static uint32_t s_crc_seq(uint64_t seq)
{
    uint8_t b[8];
    s_put64(b, seq);
    return s_crc(0, b, 8);
}

/* ---- sockets ----------------------------------------------------------------- */

static void s_setopt(void *s, int opt, int v)
{
    if (zmq_setsockopt(s, opt, &v, sizeof v) != 0)
        s_fatal("zmq_setsockopt", -errno);
}

static void s_common_opts(void *s)
{
    s_setopt(s, ZMQ_SNDHWM, S_HWM);
    s_setopt(s, ZMQ_RCVHWM, S_HWM);
    s_setopt(s, ZMQ_SNDBUF, S_KBUF);
    s_setopt(s, ZMQ_RCVBUF, S_KBUF);
}

static int s_pattern(const char *name)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(name, s_pattern_names[i]) == 0)
            return i;
    return -1;
}

static void s_identity(size_t st, char *buf, size_t cap)
{
    snprintf(buf, cap, "r.%s", s_streams[st].name);
}

static void s_topic(size_t st, char *buf, size_t cap)
{
    snprintf(buf, cap, "t.%s", s_streams[st].name);
}

static void s_on_signal(int sig)
{
    if (sig == SIGUSR1)
        s_slow = !s_slow;
    else
        s_stop++;
}

static void s_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

/* ---- sender ------------------------------------------------------------------- */

typedef struct {
    void *sock;
    zpk_codec_t codec;
    bool has_codec;
    uint64_t seq;        /* next sequence number */
    uint64_t skipped;    /* sequence numbers skipped (dropped at HWM, unroutable) */
    uint64_t sent, dropped, unroutable, blocked, acks, acks_replaced, bad_acks, bytes;
    bool was_blocked;
    double retry_at;     /* PUB after EAGAIN: try again from then on */
    bool ended;          /* stopping: the next message is the end marker */
    bool done;           /* the end marker went */
    /* the message being sent, kept until libzmq takes it */
    bool pending;
    zpk_writer_t w;
    uint8_t *buf;        /* arrays: malloc'ed payload */
    size_t n;
} s_tx_t;

static void s_free_buf(void *data, void *hint)
{
    (void)hint;
    free(data);
}

static void s_write_meta(zpk_writer_t *w, uint64_t seq, uint64_t skipped, bool end, uint32_t crc)
{
    zpk_write_cstr(w, "seq");
    zpk_write_uint(w, seq);
    zpk_write_cstr(w, "skipped");
    zpk_write_uint(w, skipped);
    zpk_write_cstr(w, "end");
    zpk_write_bool(w, end);
    zpk_write_cstr(w, "crc");
    zpk_write_uint(w, crc);
}

/* Builds message tx->seq of stream @p st (unless one is pending). */
static void s_build(s_tx_t *tx, size_t st)
{
    if (tx->pending)
        return;
    const s_stream_def_t *d = &s_streams[st];
    uint64_t seq = tx->seq;
    size_t n = s_size(st, seq);
    const uint8_t *src = s_pool + s_offset(st, seq, 0);
    tx->n = n;
    uint32_t bad = s_inject_corrupt != 0 && !tx->ended && seq % s_inject_corrupt == s_inject_corrupt - 1;
    if (d->kind == S_PACKED) {
        zpk_writer_init_growable(&tx->w, n + 64);
        zpk_write_map(&tx->w, 5);
        s_write_meta(&tx->w, seq, tx->skipped, tx->ended, s_crc(s_crc_seq(seq), src, n) ^ bad);
        zpk_write_cstr(&tx->w, "data");
        zpk_write_bin(&tx->w, src, n);
    } else if (d->kind == S_NDARRAY) {
        tx->buf = malloc(n);
        if (tx->buf == NULL)
            s_fatal("malloc", -ENOMEM);
        memcpy(tx->buf, src, n);
        s_put32(tx->buf, S_MAGIC);
        s_put64(tx->buf + 8, seq);
        s_put64(tx->buf + 16, tx->skipped);
        s_put32(tx->buf + 24, tx->ended ? S_FLAG_END : 0);
        s_put32(tx->buf + 28, (uint32_t)st);
        s_put32(tx->buf + 4, s_crc(0, tx->buf + 8, n - 8) ^ bad);
    } else {
        /* two arrays straight from the pool (borrowed: it lives as long as
         * the process), their CRC in the object */
        size_t n0 = (n / 2) & ~(size_t)3;
        const uint8_t *a0 = src, *a1 = s_pool + s_offset(st, seq, 1);
        uint32_t crc = s_crc(s_crc(s_crc_seq(seq), a0, n0), a1, n - n0) ^ bad;
        zpk_writer_init_growable(&tx->w, 128);
        zpk_write_map(&tx->w, 5);
        s_write_meta(&tx->w, seq, tx->skipped, tx->ended, crc);
        zpk_write_cstr(&tx->w, "ndarrays");
        zpk_write_array(&tx->w, 2);
        zpk_write_ndarray_ref(&tx->w, 0);
        zpk_write_ndarray_ref(&tx->w, 1);
    }
    tx->pending = true;
}

static void s_unbuild(s_tx_t *tx)
{
    zpk_writer_free(&tx->w);
    free(tx->buf);
    tx->buf = NULL;
    tx->pending = false;
}

/* One attempt to send the pending message; returns 0 or a negative code. */
static int s_try_send(s_tx_t *tx, size_t st, int pattern, zpk_tracker_t *tracker)
{
    const s_stream_def_t *d = &s_streams[st];
    char env[64];
    zpk_send_opts_t o;
    zpk_send_opts_init(&o);
    o.flags = ZPK_DONTWAIT | d->flags;
    o.codec = tx->has_codec ? &tx->codec : NULL;
    if (pattern == S_PUB)
        s_topic(st, env, sizeof env);
    else if (pattern == S_ROUTER)
        s_identity(st, env, sizeof env);
    if (pattern != S_PUSH) {
        o.topic = env;
        o.topic_len = strlen(env);
    }
    if (d->kind == S_PACKED)
        return zpk_send_packed(tx->sock, &tx->w, &o, NULL);
    zpk_ndarray_t a[2];
    if (d->kind == S_NDARRAY) {
        size_t shape = tx->n / d->itemsize;
        zpk_ndarray_init(&a[0], zpk_dtype_make(d->dkind, d->itemsize), 1, &shape, 'C', tx->buf);
        /* give half of the messages to the library, copy the others */
        if (tx->seq % 2 == 0) {
            o.own = ZPK_OWN_GIVE;
            o.free_fn = s_free_buf;
        }
        int rc = zpk_send_array(tx->sock, &a[0], &o, NULL);
        if (rc == 0 && o.own == ZPK_OWN_GIVE)
            tx->buf = NULL;
        return rc;
    }
    size_t n0 = (tx->n / 2) & ~(size_t)3, s0 = n0 / 4, s1 = tx->n - n0;
    zpk_ndarray_init(&a[0], zpk_dtype_make(ZPK_KIND_FLOAT, 4), 1, &s0, 'C',
                     s_pool + s_offset(st, tx->seq, 0));
    zpk_ndarray_init(&a[1], zpk_dtype_make(ZPK_KIND_UINT, 1), 1, &s1, 'C',
                     s_pool + s_offset(st, tx->seq, 1));
    o.own = ZPK_OWN_BORROW;
    o.tracker = tracker;
    return zpk_send_mixed(tx->sock, &tx->w, a, 2, &o, NULL);
}

/* Receive options: do not wait. */
static void s_recv_opts(zpk_recv_opts_t *o)
{
    zpk_recv_opts_init(o);
    o->flags = ZPK_DONTWAIT;
}

/* The envelope's first frame (topic, identity) into @p buf as text (cut to
 * fit), then the envelope released; returns the frame's length. */
static size_t s_envelope_text(zpk_envelope_t *env, char *buf, size_t cap)
{
    size_t n = env->n > 0 ? env->frames[0].size : 0, k = n < cap ? n : cap - 1;
    if (k > 0)
        memcpy(buf, env->frames[0].data, k);
    buf[k] = '\0';
    zpk_envelope_free(env);
    return n;
}

/* Handles one acknowledgement a DEALER sent to this ROUTER. */
static void s_read_ack(s_tx_t *tx, size_t st)
{
    char id[64], want[64];
    zpk_recv_opts_t o;
    s_recv_opts(&o);
    zpk_envelope_t env;
    zpk_doc_t *doc = NULL;
    int rc = zpk_recv_packed(tx->sock, &o, &env, &doc, NULL);
    size_t id_len = s_envelope_text(&env, id, sizeof id);
    if (rc == -EAGAIN || rc == -EINTR)
        return;
    s_identity(st, want, sizeof want);
    uint64_t ack = 0;
    if (rc == 0 && id_len == 5 && id[0] == 0) {
        /* ROUTER_HANDOVER: a new DEALER took this identity while the old
         * connection was still open; libzmq renames the old one (a zero
         * byte and a 32-bit number) and what it still had arrives so */
        tx->acks_replaced++;
    } else if (rc == 0 && strcmp(id, want) == 0 &&
        zpk_node_get_uint(zpk_node_map_get(zpk_doc_root(doc), "ack"), &ack) == 0 &&
        ack <= tx->seq && (ack < tx->seq || tx->done)) {
        tx->acks++;
    } else {
        tx->bad_acks++;
        s_line("error call ack stream %s code %d name %s identity %s ack %llu next %llu",
               s_streams[st].name, rc, zpk_err_name(rc), id, (unsigned long long)ack,
               (unsigned long long)tx->seq);
    }
    zpk_doc_destroy(&doc);
}

/* The per-stream sequence numbers, "a,b,c" (for the logs: where a stream stands). */
static void s_seqs(char *buf, size_t cap, const uint64_t *seq, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, i ? ",%llu" : "%llu",
                                (unsigned long long)seq[i]);
}

static void s_sender_progress(const s_tx_t *tx, const char *what)
{
    uint64_t seq[S_NSTREAMS];
    char seqs[S_NSTREAMS * 21];
    for (size_t i = 0; i < S_NSTREAMS; i++)
        seq[i] = tx[i].seq;
    s_seqs(seqs, sizeof seqs, seq, S_NSTREAMS);
    uint64_t t[8] = {0};
    for (size_t i = 0; i < S_NSTREAMS; i++) {
        t[0] += tx[i].seq;
        t[1] += tx[i].sent;
        t[2] += tx[i].dropped;
        t[3] += tx[i].unroutable;
        t[4] += tx[i].blocked;
        t[5] += tx[i].acks;
        t[6] += tx[i].bad_acks;
        t[7] += tx[i].bytes;
    }
    s_line("%s role send attempts %llu sent %llu dropped_hwm %llu unroutable %llu blocked %llu "
           "acks %llu bad_acks %llu bytes %llu seqs %s",
           what, (unsigned long long)t[0], (unsigned long long)t[1], (unsigned long long)t[2],
           (unsigned long long)t[3], (unsigned long long)t[4], (unsigned long long)t[5],
           (unsigned long long)t[6], (unsigned long long)t[7], seqs);
}

static int s_send_main(int pattern, double rate)
{
    static const int types[] = {ZMQ_PUSH, ZMQ_PUB, ZMQ_ROUTER};
    void *ctx = zmq_ctx_new();
    zpk_tracker_t *tracker = zpk_tracker_new();
    if (ctx == NULL || tracker == NULL)
        s_fatal("setup", -ENOMEM);
    s_tx_t tx[S_NSTREAMS];
    memset(tx, 0, sizeof tx);
    char eps[S_NSTREAMS * 64] = "";
    for (size_t i = 0; i < S_NSTREAMS; i++) {
        const s_stream_def_t *d = &s_streams[i];
        tx[i].sock = zmq_socket(ctx, types[pattern]);
        if (tx[i].sock == NULL)
            s_fatal("zmq_socket", -errno);
        s_common_opts(tx[i].sock);
        s_setopt(tx[i].sock, ZMQ_LINGER, 30000);
        if (pattern == S_PUB)
            s_setopt(tx[i].sock, ZMQ_XPUB_NODROP, 1);
        if (pattern == S_ROUTER) {
            s_setopt(tx[i].sock, ZMQ_ROUTER_MANDATORY, 1);
            s_setopt(tx[i].sock, ZMQ_ROUTER_HANDOVER, 1);
        }
        if (d->codec != NULL) {
            /* a build without blosc sends that stream with zlib: the
             * receiver decodes whatever the header says */
            const char *cs = strncmp(d->codec, "blosc", 5) == 0 &&
                                     !zpk_codec_available(ZPK_CODEC_BLOSC)
                                 ? "zlib:1"
                                 : d->codec;
            int rc = zpk_codec_parse(cs, strlen(cs), &tx[i].codec, NULL);
            if (rc != 0)
                s_fatal("zpk_codec_parse", rc);
            tx[i].has_codec = true;
        }
        if (zmq_bind(tx[i].sock, "tcp://127.0.0.1:*") != 0)
            s_fatal("zmq_bind", -errno);
        char ep[64];
        size_t len = sizeof ep;
        if (zmq_getsockopt(tx[i].sock, ZMQ_LAST_ENDPOINT, ep, &len) != 0)
            s_fatal("zmq_getsockopt", -errno);
        strcat(eps, " ");
        strcat(eps, ep);
    }
    s_line("endpoints%s", eps);

    double start = s_now(), next_progress = start + S_PROGRESS_S;
    uint64_t total = 0;
    size_t nended = 0;
    double end_deadline = 0;
    zmq_pollitem_t items[S_NSTREAMS];
    while (nended < S_NSTREAMS) {
        double now = s_now();
        if (s_stop && end_deadline == 0) {
            /* from now on each stream sends its end marker, retrying until
             * the receiver takes it: nothing is skipped any more */
            for (size_t i = 0; i < S_NSTREAMS; i++) {
                if (tx[i].pending)
                    s_unbuild(&tx[i]);
                tx[i].ended = true;
            }
            end_deadline = now + 120;
        }
        if (end_deadline != 0 && now > end_deadline) {
            s_line("error call end_markers code 0 name timeout text \"a receiver took no end "
                   "marker for 120 s\"");
            break;
        }
        if (now >= next_progress) {
            s_sender_progress(tx, "progress");
            next_progress = now + S_PROGRESS_S;
        }
        if (rate > 0 && total > (now - start) * rate) {
            s_nsleep(1000000L);
            continue;
        }
        for (size_t i = 0; i < S_NSTREAMS; i++) {
            items[i] = (zmq_pollitem_t){tx[i].sock, 0, 0, 0};
            if (!tx[i].done && now >= tx[i].retry_at)
                items[i].events |= ZMQ_POLLOUT;
            if (pattern == S_ROUTER)
                items[i].events |= ZMQ_POLLIN;
        }
        if (zmq_poll(items, (int)S_NSTREAMS, 10) < 0) {
            if (errno == EINTR)
                continue;
            s_fatal("zmq_poll", -errno);
        }
        for (size_t i = 0; i < S_NSTREAMS; i++) {
            s_tx_t *t = &tx[i];
            if (items[i].revents & ZMQ_POLLIN)
                s_read_ack(t, i);
            if (!(items[i].events & ZMQ_POLLOUT))
                continue;
            if (!(items[i].revents & ZMQ_POLLOUT)) {
                if (!t->was_blocked)
                    t->blocked++;
                t->was_blocked = true;
                continue;
            }
            if (s_inject_loss != 0 && !t->ended && t->seq % s_inject_loss == s_inject_loss - 1)
                t->seq++; /* used up, never sent, not counted as skipped */
            s_build(t, i);
            int rc = s_try_send(t, i, pattern, tracker);
            if (rc == 0) {
                t->was_blocked = false;
                t->sent++;
                t->bytes += t->n;
                total++;
                s_unbuild(t);
                if (t->ended) {
                    t->done = true;
                    nended++;
                } else {
                    t->seq++;
                }
            } else if (rc == -EAGAIN && pattern == S_PUB && !t->ended) {
                /* a PUB drops the message here; XPUB_NODROP tells us */
                t->dropped++;
                t->skipped++;
                t->seq++;
                s_unbuild(t);
                t->retry_at = now + 0.001;
            } else if (rc == -EHOSTUNREACH && !t->ended) {
                t->unroutable++;
                t->skipped++;
                t->seq++;
                s_unbuild(t);
                t->retry_at = now + 0.001;
            } else if (rc == -EAGAIN || rc == -EHOSTUNREACH || rc == -EINTR) {
                if (!t->was_blocked)
                    t->blocked++;
                t->was_blocked = true;
                t->retry_at = now + 0.001;
            } else {
                s_fatal(s_streams[i].kind == S_PACKED   ? "zpk_send_packed"
                        : s_streams[i].kind == S_MIXED ? "zpk_send_mixed"
                                                       : "zpk_send_array",
                        rc);
            }
        }
    }
    for (size_t i = 0; i < S_NSTREAMS; i++) {
        s_line("stream role send name %s attempts %llu sent %llu dropped_hwm %llu unroutable %llu "
               "blocked %llu acks %llu bad_acks %llu ended %d",
               s_streams[i].name, (unsigned long long)tx[i].seq, (unsigned long long)tx[i].sent,
               (unsigned long long)tx[i].dropped, (unsigned long long)tx[i].unroutable,
               (unsigned long long)tx[i].blocked, (unsigned long long)tx[i].acks,
               (unsigned long long)tx[i].bad_acks, (int)tx[i].done);
    }
    s_sender_progress(tx, "final");
    /* Stay until told again (the driver waits for the receivers first): a
     * process that closes a TCP socket with unread bytes in it (here the
     * DEALERs' acknowledgements) makes the kernel send a reset, and the
     * peer's kernel then throws away what its receiver had not read yet:
     * the last messages, through no fault of the library. */
    while (s_stop < 2) {
        for (size_t i = 0; i < S_NSTREAMS; i++)
            items[i] = (zmq_pollitem_t){tx[i].sock, 0, pattern == S_ROUTER ? ZMQ_POLLIN : 0, 0};
        if (zmq_poll(items, (int)S_NSTREAMS, 100) > 0)
            for (size_t i = 0; i < S_NSTREAMS; i++)
                if (items[i].revents & ZMQ_POLLIN)
                    s_read_ack(&tx[i], i);
    }
    for (size_t i = 0; i < S_NSTREAMS; i++) {
        if (tx[i].pending)
            s_unbuild(&tx[i]);
        zmq_close(tx[i].sock);
    }
    zmq_ctx_term(ctx);
    zpk_tracker_destroy(&tracker);
    return nended == S_NSTREAMS ? 0 : 3;
}

/* ---- receiver ------------------------------------------------------------------ */

/* One stream's counts, kept in the state file across restarts. */
typedef struct {
    uint64_t incarnation;      /* the process that wrote this copy */
    uint64_t next_seq;         /* one past the last verified sequence number */
    uint64_t skipped;          /* the sender's skip count at that message */
    uint64_t received, verified, corrupted, refused, bytes;
    uint64_t lost_skipped;     /* skipped by the sender (reason in its counts) */
    uint64_t lost_restart;     /* in a gap at a (re)start, within the bound */
    uint64_t lost_unexplained; /* anything else */
    uint64_t restart_gaps, restart_gap_max, out_of_order, ended, acks_sent;
    uint64_t min_size, max_size; /* of the verified messages */
    uint64_t empty_polls;      /* POLLIN, then nothing to receive (EAGAIN, EINTR) */
} s_rstate_t;

/* Two copies and the index of the good one: a SIGKILL in the middle of an
 * update leaves the previous copy in force. */
typedef struct {
    uint64_t good;
    s_rstate_t copy[2];
} s_rslot_t;

typedef struct {
    uint64_t magic;
    uint64_t incarnation;      /* processes started on this file */
    s_rslot_t slot[S_NSTREAMS];
} s_rfile_t;

typedef struct {
    void *sock;
    s_rslot_t *slot;
    s_rstate_t st;             /* working copy */
} s_rx_t;

static void s_commit(s_rx_t *rx)
{
    uint64_t next = 1 - __atomic_load_n(&rx->slot->good, __ATOMIC_ACQUIRE);
    rx->slot->copy[next] = rx->st;
    __atomic_store_n(&rx->slot->good, next, __ATOMIC_RELEASE);
}

static int s_cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/*
 * Whether @p lost messages from @p first on could all have been queued to
 * a receiver that was killed: libzmq holds at most S_HWM messages in the
 * sender's pipe and S_HWM in the receiver's, one more each in the encoder,
 * the decoder and the process's hands; the rest must fit in the two
 * kernel socket buffers (Linux doubles ZMQ_SNDBUF and ZMQ_RCVBUF) and
 * libzmq's two batch buffers. The largest messages are put in the pipes.
 */
static bool s_within_queue_bound(size_t st, uint64_t first, uint64_t lost)
{
    const uint64_t in_pipes = 2 * S_HWM + 3;
    const size_t bytes = 2 * (2 * (size_t)S_KBUF) + 2 * S_ZMQ_BATCH;
    if (lost <= in_pipes)
        return true;
    if (lost > in_pipes + bytes / S_MIN_SIZE)
        return false;
    size_t n = (size_t)lost, *w = malloc(n * sizeof *w);
    if (w == NULL)
        s_fatal("malloc", -ENOMEM);
    for (size_t i = 0; i < n; i++)
        w[i] = s_wire_min(st, first + i);
    qsort(w, n, sizeof *w, s_cmp_size); /* the n - in_pipes smallest add up to sum */
    size_t sum = 0;
    for (size_t i = 0; i < n - in_pipes; i++)
        sum += w[i];
    free(w);
    return sum <= bytes;
}

/* Accounts for message @p seq (sender's skip count @p skipped) before it. */
static void s_account(s_rx_t *rx, size_t st, int pattern, uint64_t incarnation, uint64_t seq,
                      uint64_t skipped)
{
    s_rstate_t *s = &rx->st;
    bool first = s->incarnation != incarnation;
    s->incarnation = incarnation;
    if (seq < s->next_seq || skipped < s->skipped) {
        s->out_of_order++;
        return;
    }
    uint64_t gap = seq - s->next_seq, by_sender = skipped - s->skipped;
    if (by_sender > gap) {
        s->out_of_order++; /* the counts disagree: as bad as a reordering */
        by_sender = gap;
    }
    uint64_t rest = gap - by_sender;
    s->lost_skipped += by_sender;
    if (rest > 0) {
        /* After a restart a PUB sends to nobody until the new subscription
         * arrives, however long that takes; a PUSH or a ROUTER loses what
         * was queued to the killed process. Before the first connection
         * PUSH blocks and ROUTER reports EHOSTUNREACH: nothing is lost. */
        bool ok = first && (pattern == S_PUB ||
                            (incarnation > 1 && s_within_queue_bound(st, s->next_seq, rest)));
        if (ok) {
            s->lost_restart += rest;
            s->restart_gaps++;
            if (rest > s->restart_gap_max)
                s->restart_gap_max = rest;
        } else {
            s->lost_unexplained += rest;
            s_line("error call gap stream %s from %llu lost %llu first_after_start %d",
                   s_streams[st].name, (unsigned long long)s->next_seq,
                   (unsigned long long)rest, (int)first);
        }
    }
    s->next_seq = seq + 1;
    s->skipped = skipped;
}

typedef struct {
    bool ok;
    uint64_t seq, skipped;
    bool end;
} s_meta_t;

static s_meta_t s_read_meta(const zpk_node_t *root, uint32_t *crc)
{
    s_meta_t m = {false, 0, 0, false};
    uint64_t c = 0;
    if (zpk_node_get_uint(zpk_node_map_get(root, "seq"), &m.seq) == 0 &&
        zpk_node_get_uint(zpk_node_map_get(root, "skipped"), &m.skipped) == 0 &&
        zpk_node_get_bool(zpk_node_map_get(root, "end"), &m.end) == 0 &&
        zpk_node_get_uint(zpk_node_map_get(root, "crc"), &c) == 0 && c <= UINT32_MAX) {
        m.ok = true;
        *crc = (uint32_t)c;
    }
    return m;
}

/* Receives one message of stream @p st; returns 0, -EAGAIN or -EINTR. */
static int s_recv_one(s_rx_t *rx, size_t st, int pattern, uint64_t incarnation)
{
    const s_stream_def_t *d = &s_streams[st];
    char topic[64], want[64];
    zpk_recv_opts_t o;
    s_recv_opts(&o);
    zpk_envelope_t env;
    s_meta_t m = {false, 0, 0, false};
    size_t n = 0;
    bool good = false;
    int rc;
    if (d->kind == S_PACKED) {
        zpk_doc_t *doc = NULL;
        rc = zpk_recv_packed(rx->sock, &o, &env, &doc, NULL);
        if (rc == 0) {
            uint32_t crc = 0;
            const uint8_t *p = NULL;
            m = s_read_meta(zpk_doc_root(doc), &crc);
            good = m.ok && zpk_node_get_bin(zpk_node_map_get(zpk_doc_root(doc), "data"), &p, &n) == 0 &&
                   n == s_size(st, m.seq) && s_crc(s_crc_seq(m.seq), p, n) == crc;
        }
        zpk_doc_destroy(&doc);
    } else if (d->kind == S_NDARRAY) {
        zpk_ndarray_t a;
        rc = zpk_recv_array(rx->sock, &o, &env, &a, NULL);
        if (rc == 0) {
            const uint8_t *p = a.data;
            n = a.nbytes;
            bool shape_ok = zpk_dtype_equal(a.dtype, zpk_dtype_make(d->dkind, d->itemsize)) &&
                            a.ndim == 1 && a.shape[0] * d->itemsize == n && n >= S_ARRAY_HDR;
            if (shape_ok) {
                m.seq = s_get64(p + 8);
                m.skipped = s_get64(p + 16);
                m.end = (s_get32(p + 24) & S_FLAG_END) != 0;
                m.ok = s_get32(p) == S_MAGIC && s_get32(p + 28) == st;
                good = m.ok && n == s_size(st, m.seq) && s_crc(0, p + 8, n - 8) == s_get32(p + 4);
            }
            zpk_ndarray_free(&a);
        }
    } else {
        zpk_mixed_t mx;
        rc = zpk_recv_mixed(rx->sock, &o, &env, &mx, NULL);
        if (rc == 0) {
            uint32_t crc = 0;
            const zpk_node_t *root = zpk_doc_root(mx.doc), *refs = zpk_node_map_get(root, "ndarrays");
            m = s_read_meta(root, &crc);
            const zpk_ndarray_t *a0 = zpk_mixed_ndarray(&mx, zpk_node_array_at(refs, 0));
            const zpk_ndarray_t *a1 = zpk_mixed_ndarray(&mx, zpk_node_array_at(refs, 1));
            if (m.ok && a0 != NULL && a1 != NULL && mx.n_ndarrays == 2) {
                n = a0->nbytes + a1->nbytes;
                good = n == s_size(st, m.seq) && a0->nbytes == ((n / 2) & ~(size_t)3) &&
                       s_crc(s_crc(s_crc_seq(m.seq), a0->data, a0->nbytes), a1->data,
                             a1->nbytes) == crc;
            }
            zpk_mixed_free(&mx);
        }
    }
    s_envelope_text(&env, topic, sizeof topic);
    if (rc == -EAGAIN || rc == -EINTR)
        return rc;
    s_topic(st, want, sizeof want);
    if (rc == 0 && pattern == S_PUB && strcmp(topic, want) != 0)
        good = false;
    s_rstate_t *s = &rx->st;
    s->received++;
    if (rc != 0) {
        s->refused++;
        s_line("error call receive stream %s code %d name %s", d->name, rc, zpk_err_name(rc));
    } else if (!good || !m.ok) {
        s->corrupted++;
        s_line("error call verify stream %s seq %llu", d->name, (unsigned long long)m.seq);
    } else {
        s_account(rx, st, pattern, incarnation, m.seq, m.skipped);
        s->verified++;
        s->bytes += n;
        if (s->min_size == 0 || n < s->min_size)
            s->min_size = n;
        if (n > s->max_size)
            s->max_size = n;
        if (m.end)
            s->ended = 1;
    }
    s_commit(rx);
    if (pattern == S_ROUTER && s->verified % S_ACK_EVERY == 0 && m.ok) {
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 32);
        zpk_write_map(&w, 1);
        zpk_write_cstr(&w, "ack");
        zpk_write_uint(&w, m.seq);
        zpk_send_opts_t so;
        zpk_send_opts_init(&so);
        so.flags = ZPK_DONTWAIT;
        if (zpk_send_packed(rx->sock, &w, &so, NULL) == 0) {
            s->acks_sent++;
            s_commit(rx);
        }
        zpk_writer_free(&w);
    }
    return 0;
}

static void s_receiver_report(const s_rx_t *rx, const char *what)
{
    uint64_t seq[S_NSTREAMS];
    char seqs[S_NSTREAMS * 21];
    for (size_t i = 0; i < S_NSTREAMS; i++)
        seq[i] = rx[i].st.next_seq;
    s_seqs(seqs, sizeof seqs, seq, S_NSTREAMS);
    uint64_t t[10] = {0};
    for (size_t i = 0; i < S_NSTREAMS; i++) {
        const s_rstate_t *s = &rx[i].st;
        t[0] += s->received;
        t[1] += s->verified;
        t[2] += s->corrupted;
        t[3] += s->refused;
        t[4] += s->lost_skipped;
        t[5] += s->lost_restart;
        t[6] += s->lost_unexplained;
        t[7] += s->out_of_order;
        t[8] += s->bytes;
        t[9] += s->ended;
    }
    s_line("%s role recv received %llu verified %llu corrupted %llu refused %llu lost_skipped %llu "
           "lost_restart %llu lost_unexplained %llu out_of_order %llu bytes %llu ended %llu "
           "seqs %s",
           what, (unsigned long long)t[0], (unsigned long long)t[1], (unsigned long long)t[2],
           (unsigned long long)t[3], (unsigned long long)t[4], (unsigned long long)t[5],
           (unsigned long long)t[6], (unsigned long long)t[7], (unsigned long long)t[8],
           (unsigned long long)t[9], seqs);
}

static int s_recv_main(int pattern, const char *state_path, char **eps, int neps)
{
    static const int types[] = {ZMQ_PULL, ZMQ_SUB, ZMQ_DEALER};
    if (neps != (int)S_NSTREAMS) {
        fprintf(stderr, "zpk_soak recv: %zu endpoints expected, %d given\n", S_NSTREAMS, neps);
        return 2;
    }
    int fd = open(state_path, O_RDWR | O_CREAT, 0600);
    if (fd < 0 || ftruncate(fd, sizeof(s_rfile_t)) != 0)
        s_fatal("open state file", -errno);
    s_rfile_t *f = mmap(NULL, sizeof *f, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (f == MAP_FAILED)
        s_fatal("mmap", -errno);
    close(fd);
    if (f->magic != S_MAGIC) {
        memset(f, 0, sizeof *f);
        f->magic = S_MAGIC;
    }
    uint64_t incarnation = ++f->incarnation;

    void *ctx = zmq_ctx_new();
    if (ctx == NULL)
        s_fatal("zmq_ctx_new", -errno);
    s_rx_t rx[S_NSTREAMS];
    zmq_pollitem_t items[S_NSTREAMS];
    for (size_t i = 0; i < S_NSTREAMS; i++) {
        rx[i].slot = &f->slot[i];
        rx[i].st = f->slot[i].copy[f->slot[i].good & 1];
        rx[i].sock = zmq_socket(ctx, types[pattern]);
        if (rx[i].sock == NULL)
            s_fatal("zmq_socket", -errno);
        s_common_opts(rx[i].sock);
        s_setopt(rx[i].sock, ZMQ_LINGER, 0);
        char name[64];
        if (pattern == S_PUB) {
            s_topic(i, name, sizeof name);
            if (zmq_setsockopt(rx[i].sock, ZMQ_SUBSCRIBE, name, strlen(name)) != 0)
                s_fatal("zmq_setsockopt", -errno);
        } else if (pattern == S_ROUTER) {
            s_identity(i, name, sizeof name);
            if (zmq_setsockopt(rx[i].sock, ZMQ_ROUTING_ID, name, strlen(name)) != 0)
                s_fatal("zmq_setsockopt", -errno);
        }
        if (zmq_connect(rx[i].sock, eps[i]) != 0)
            s_fatal("zmq_connect", -errno);
    }
    s_line("ready incarnation %llu", (unsigned long long)incarnation);

    double next_progress = s_now() + S_PROGRESS_S;
    for (;;) {
        size_t nended = 0;
        for (size_t i = 0; i < S_NSTREAMS; i++) {
            items[i] = (zmq_pollitem_t){rx[i].sock, 0, rx[i].st.ended ? 0 : ZMQ_POLLIN, 0};
            nended += rx[i].st.ended != 0;
        }
        if (nended == S_NSTREAMS || s_stop)
            break;
        if (s_now() >= next_progress) {
            s_receiver_report(rx, "progress");
            next_progress = s_now() + S_PROGRESS_S;
        }
        if (zmq_poll(items, (int)S_NSTREAMS, 100) < 0) {
            if (errno == EINTR)
                continue;
            s_fatal("zmq_poll", -errno);
        }
        for (size_t i = 0; i < S_NSTREAMS; i++) {
            if (!(items[i].revents & ZMQ_POLLIN))
                continue;
            int rc = s_recv_one(&rx[i], i, pattern, incarnation);
            if (rc != 0)
                rx[i].st.empty_polls++;
            else if (s_slow)
                s_nsleep(S_SLOW_NS);
        }
    }
    for (size_t i = 0; i < S_NSTREAMS; i++) {
        const s_rstate_t *s = &rx[i].st;
        s_line("stream role recv name %s next_seq %llu received %llu verified %llu corrupted %llu refused %llu "
               "lost_skipped %llu lost_restart %llu lost_unexplained %llu restart_gaps %llu "
               "restart_gap_max %llu out_of_order %llu acks_sent %llu bytes %llu min_size %llu "
               "max_size %llu empty_polls %llu ended %llu",
               s_streams[i].name, (unsigned long long)s->next_seq, (unsigned long long)s->received,
               (unsigned long long)s->verified,
               (unsigned long long)s->corrupted, (unsigned long long)s->refused,
               (unsigned long long)s->lost_skipped, (unsigned long long)s->lost_restart,
               (unsigned long long)s->lost_unexplained, (unsigned long long)s->restart_gaps,
               (unsigned long long)s->restart_gap_max, (unsigned long long)s->out_of_order,
               (unsigned long long)s->acks_sent, (unsigned long long)s->bytes,
               (unsigned long long)s->min_size, (unsigned long long)s->max_size,
               (unsigned long long)s->empty_polls, (unsigned long long)s->ended);
        zmq_close(rx[i].sock);
    }
    s_receiver_report(rx, "final");
    zmq_ctx_term(ctx);
    munmap(f, sizeof *f);
    return 0;
}

/* ---- main --------------------------------------------------------------------- */

static int s_usage(void)
{
    fprintf(stderr, "usage: zpk_soak send PATTERN [--rate N] [--inject-corrupt N] [--inject-loss N]\n"
                    "       zpk_soak recv PATTERN STATE_FILE ENDPOINT...\n"
                    "PATTERN: push, pub or router (see tests/soak/soak.py)\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return s_usage();
    int pattern = s_pattern(argv[2]);
    if (pattern < 0)
        return s_usage();
    setvbuf(stdout, NULL, _IOLBF, 0);
    s_signals();
    s_pool_init();
    int rc;
    if (strcmp(argv[1], "send") == 0) {
        double rate = 0;
        for (int i = 3; i < argc; i += 2) {
            if (i + 1 >= argc)
                return s_usage();
            if (strcmp(argv[i], "--rate") == 0)
                rate = atof(argv[i + 1]);
            else if (strcmp(argv[i], "--inject-corrupt") == 0)
                s_inject_corrupt = strtoull(argv[i + 1], NULL, 10);
            else if (strcmp(argv[i], "--inject-loss") == 0)
                s_inject_loss = strtoull(argv[i + 1], NULL, 10);
            else
                return s_usage();
        }
        rc = s_send_main(pattern, rate);
    } else if (strcmp(argv[1], "recv") == 0 && argc >= 4) {
        rc = s_recv_main(pattern, argv[3], argv + 4, argc - 4);
    } else {
        return s_usage();
    }
    free(s_pool);
    return rc;
}
