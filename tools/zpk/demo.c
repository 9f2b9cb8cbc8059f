/*
 * zpk demo: the main demo. A publisher process streams sensor frames (a
 * 1024x1024 float32 image plus a timestamped metadata map, one mixed
 * message each, blosc-compressed) over tcp://127.0.0.1 to a subscriber
 * process, which checks every frame's checksum and measures latency. The
 * parent starts both (fork + exec of this very program), shows a progress
 * line and prints the table at the end.
 *
 *   parent ──exec──> zpk demo --role sub   binds tcp://127.0.0.1:*, reports its endpoint
 *          ──exec──> zpk demo --role pub   connects, waits for the subscription, streams
 *   both write "key value" result lines to a pipe the parent reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>
#include <zmqpack.h>

#include "zpk.h"
#include "zpk_msg.h"

#define S_CMD "demo"
#define S_TOPIC "sensor/cam0"
#define S_NBASE 8            /* distinct frames generated up front */
#define S_MAX_LAT 1000000    /* latency samples kept */

typedef struct s_opts {
    double seconds;
    size_t width, height;
    const char *codec;
    const char *role;       /* NULL (parent), "pub" or "sub" */
    const char *endpoint;   /* pub: where to connect; sub: where to bind */
    int report_fd;
    long timeout_ms;
    double fps;             /* frames per second; 0: as fast as the subscriber takes them */
    bool quick;
} s_opts_t;

static void s_help(FILE *f)
{
    fprintf(f,
        "usage: zpk demo [--seconds S] [--quick] [--size WxH] [--codec SPEC] [--fps N]\n"
        "\n"
        "The main demo. A publisher and a subscriber, two separate processes, stream\n"
        "sensor frames over tcp://127.0.0.1: each frame is one mixed message holding a\n"
        "timestamped metadata map and a WxH float32 image, compressed with blosc. The\n"
        "subscriber checks every frame's checksum. At the end a table shows frames,\n"
        "raw and wire GB/s, the compression ratio, zero-copy, latency percentiles.\n"
        "\n"
        "options:\n"
        "  --seconds S     how long to stream (default 4)\n"
        "  --quick         a short run for the test suite (0.5 s, 512x512)\n"
        "  --size WxH      image size (default 1024x1024)\n"
        "  --codec SPEC    payload codec (default blosc:lz4:5:shuffle, or zlib:1 in a\n"
        "                  build without blosc; none, zlib:6, auto, ...)\n"
        "  --fps N         publish N frames per second (default: as fast as they are\n"
        "                  taken; latency then includes the time frames wait in queues)\n"
        "  --endpoint EP   bind the subscriber here (default tcp://127.0.0.1:*)\n"
        "  --timeout MS    give up when nothing arrives for MS ms (default 10000)\n"
        "  -h, --help      this text\n"
        "\n"
        "exit codes: 0 every frame verified; 1 failure; 2 bad arguments;\n"
        "3 timeout; 4 a checksum did not match or no frame arrived.\n");
}

/* ---- frames -------------------------------------------------------------- */

/*
 * A 64-bit checksum of a frame's bytes: four independent multiply-xor
 * lanes over 8-byte words (fast enough to check every frame), folded.
 */
static uint64_t s_checksum(const void *data, size_t n)
{
    const uint8_t *p = data;
    uint64_t h[4] = {0x9e3779b97f4a7c15u, 0xc2b2ae3d27d4eb4fu, 0x165667b19e3779f9u,
                     0x27d4eb2f165667c5u};
    const uint64_t k = 0xff51afd7ed558ccdu;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        uint64_t w[4];
        memcpy(w, p + i, 32);
        for (int j = 0; j < 4; j++)
            h[j] = (h[j] ^ w[j]) * k;
    }
    uint64_t r = h[0] ^ (h[1] << 1 | h[1] >> 63) ^ (h[2] << 2 | h[2] >> 62)
                 ^ (h[3] << 3 | h[3] >> 61);
    for (; i < n; i++)
        r = (r ^ p[i]) * k;
    r ^= (uint64_t)n;
    r ^= r >> 33;
    r *= 0xc4ceb9fe1a85ec53u;
    r ^= r >> 29;
    return r;
}

static uint64_t s_rng(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/*
 * A plausible detector image: a dark level, a few Gaussian spots drifting
 * from frame to frame, shot noise, quantised to a 12-bit ADC and scaled to
 * float32 (so blosc's shuffle finds the redundancy a real sensor has).
 */
static void s_make_frame(float *img, size_t w, size_t h, unsigned index)
{
    uint64_t seed = 0x5eed0000u + index;
    float *gx = malloc(w * sizeof *gx), *gy = malloc(h * sizeof *gy);
    for (size_t i = 0; i < w * h; i++)
        img[i] = 100.0f;
    for (int spot = 0; spot < 3; spot++) {
        double cx = (0.2 + 0.3 * spot + 0.01 * index) * (double)w;
        double cy = (0.3 + 0.2 * spot + 0.005 * index) * (double)h;
        double sig = (0.04 + 0.02 * spot) * (double)w, amp = 1500.0 + 700.0 * spot;
        for (size_t x = 0; x < w; x++)
            gx[x] = (float)exp(-((double)x - cx) * ((double)x - cx) / (2 * sig * sig));
        for (size_t y = 0; y < h; y++)
            gy[y] = (float)(amp * exp(-((double)y - cy) * ((double)y - cy) / (2 * sig * sig)));
        for (size_t y = 0; y < h; y++)
            for (size_t x = 0; x < w; x++)
                img[y * w + x] += gy[y] * gx[x];
    }
    for (size_t i = 0; i < w * h; i++) {
        uint64_t r = s_rng(&seed);
        float noise = (float)((r & 0xff) + ((r >> 8) & 0xff) + ((r >> 16) & 0xff)) / 96.0f - 4.0f;
        float v = img[i] + noise;
        if (v < 0)
            v = 0;
        if (v > 4095)
            v = 4095;
        img[i] = floorf(v) / 4096.0f;
    }
    free(gx);
    free(gy);
}

/* ---- results: "key value" lines on a pipe -------------------------------- */

static void s_report(int fd, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_report(int fd, const char *key, const char *fmt, ...)
{
    if (fd < 0)
        return;
    char line[256];
    int n = snprintf(line, sizeof line, "%s ", key);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (n < (int)sizeof line - 1)
        line[n++] = '\n';
    ssize_t w = write(fd, line, (size_t)n);
    (void)w;
}

static int s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t s_pct(const uint64_t *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return sorted[i < n ? i : n - 1];
}

/* ---- the transport: one mixed message per frame ---------------------------- */

typedef struct s_frame {
    float *img;
    uint64_t checksum;
} s_frame_t;

typedef struct s_rx {
    bool end;               /* the publisher's last message */
    uint64_t seq, t_send_ns, checksum, sent_frames;
    uint64_t computed;      /* checksum of the received image */
    size_t raw_bytes, wire_bytes;
    bool in_place;          /* image data used where it was received or decompressed once */
} s_rx_t;

static int s_send_frame(void *sock, const s_opts_t *o, const s_frame_t *f, uint64_t seq);
static int s_send_end(void *sock, uint64_t frames);
static int s_recv_frame(void *sock, const s_opts_t *o, s_rx_t *rx);
static const char *s_zero_copy_send_note(void);
static const char *s_zero_copy_recv_note(void);
static int s_parent(const s_opts_t *o);
static void s_count_allocations(void);
static void s_transport_close(void);
static size_t s_send_zero_copy;

/* ---- the publisher process ---------------------------------------------------- */

static int s_pub(const s_opts_t *o)
{
    int fd = o->report_fd;
    s_count_allocations();
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_XPUB);
    int one = 1, hwm = 2, tmo = (int)o->timeout_ms;
    /* XPUB: learn when the subscriber is there; NODROP: block instead of
       dropping frames when the subscriber is slower (back-pressure). */
    zmq_setsockopt(s, ZMQ_XPUB_NODROP, &one, sizeof one);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt(s, ZMQ_LINGER, &tmo, sizeof tmo);
    int rc = ZT_EXIT_OK;
    if (zmq_connect(s, o->endpoint) != 0) {
        s_report(fd, "error", "connect %s: %s", o->endpoint, zpk_strerror(-zmq_errno()));
        rc = ZT_EXIT_ERROR;
        goto out;
    }
    char sub[64];
    if (zmq_recv(s, sub, sizeof sub, 0) < 0) {
        s_report(fd, "error", "no subscription within %ld ms", o->timeout_ms);
        rc = ZT_EXIT_TIMEOUT;
        goto out;
    }
    size_t npix = o->width * o->height;
    s_frame_t frames[S_NBASE];
    for (int i = 0; i < S_NBASE; i++) {
        frames[i].img = zpk_malloc(npix * sizeof(float));
        s_make_frame(frames[i].img, o->width, o->height, (unsigned)i);
        frames[i].checksum = s_checksum(frames[i].img, npix * sizeof(float));
    }
    uint64_t t0 = zt_now_ns(), end = t0 + (uint64_t)(o->seconds * 1e9), seq = 0;
    while (zt_now_ns() < end) {
        if (o->fps > 0) { /* pace: frame n leaves at t0 + n / fps */
            uint64_t due = t0 + (uint64_t)((double)seq * 1e9 / o->fps), now = zt_now_ns();
            if (due > now) {
                struct timespec ts = {(time_t)((due - now) / 1000000000u),
                                      (long)((due - now) % 1000000000u)};
                nanosleep(&ts, NULL);
            }
        }
        int e = s_send_frame(s, o, &frames[seq % S_NBASE], seq);
        if (e) {
            s_report(fd, "error", "frame %llu: %s", (unsigned long long)seq, zpk_strerror(e));
            rc = e == -EAGAIN ? ZT_EXIT_TIMEOUT : ZT_EXIT_ERROR;
            break;
        }
        seq++;
    }
    if (rc == ZT_EXIT_OK) {
        int e = s_send_end(s, seq);
        if (e) {
            s_report(fd, "error", "end message: %s", zpk_strerror(e));
            rc = ZT_EXIT_ERROR;
        }
    }
    zmq_close(s);
    s = NULL;
    zmq_ctx_term(ctx); /* waits (up to the linger) until libzmq let go of every frame */
    ctx = NULL;
    s_transport_close();
    s_report(fd, "frames", "%llu", (unsigned long long)seq);
    s_report(fd, "zero_copy_frames", "%zu", s_send_zero_copy);
    s_report(fd, "zero_copy", "%s", s_zero_copy_send_note());
    for (int i = 0; i < S_NBASE; i++)
        zpk_free(frames[i].img);
out:
    if (s)
        zmq_close(s);
    if (ctx)
        zmq_ctx_term(ctx);
    return rc;
}

/* ---- the subscriber process --------------------------------------------------- */

static int s_sub(const s_opts_t *o)
{
    int fd = o->report_fd;
    s_count_allocations();
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_SUB);
    int hwm = 2, tmo = (int)o->timeout_ms, zero = 0;
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_SUBSCRIBE, S_TOPIC, strlen(S_TOPIC));
    int rc = ZT_EXIT_OK;
    char ep[256];
    rc = zt_attach("demo", s, o->endpoint, ZT_BIND, ep, sizeof ep);
    if (rc) {
        zmq_close(s);
        zmq_ctx_term(ctx);
        return rc;
    }
    s_report(fd, "endpoint", "%s", ep);

    uint64_t *lat = malloc(S_MAX_LAT * sizeof *lat);
    size_t nlat = 0;
    uint64_t frames = 0, verified = 0, in_place = 0, sent = 0;
    double raw = 0, wire = 0;
    uint64_t t_first = 0, t_last = 0, t_progress = 0;
    for (;;) {
        s_rx_t rx;
        memset(&rx, 0, sizeof rx);
        int e = s_recv_frame(s, o, &rx);
        uint64_t now = zt_now_ns();
        if (e) {
            s_report(fd, "error", "after %llu frames: %s", (unsigned long long)frames,
                     zpk_strerror(e));
            rc = e == -EAGAIN ? ZT_EXIT_TIMEOUT : ZT_EXIT_ERROR;
            break;
        }
        if (rx.end) {
            sent = rx.sent_frames;
            break;
        }
        if (frames == 0)
            t_first = now;
        t_last = now;
        frames++;
        verified += rx.computed == rx.checksum;
        in_place += rx.in_place;
        raw += (double)rx.raw_bytes;
        wire += (double)rx.wire_bytes;
        if (nlat < S_MAX_LAT)
            lat[nlat++] = now - rx.t_send_ns;
        if (now - t_progress > 200000000u) {
            t_progress = now;
            uint64_t *tmp = malloc(nlat * sizeof *tmp);
            memcpy(tmp, lat, nlat * sizeof *tmp);
            qsort(tmp, nlat, sizeof *tmp, s_cmp_u64);
            double el = (double)(now - t_first) / 1e9;
            s_report(fd, "progress", "%llu %.3f %.3f", (unsigned long long)frames,
                     el > 0 ? raw / el / 1e9 : 0, (double)s_pct(tmp, nlat, 50) / 1e6);
            free(tmp);
        }
    }
    /* The first frame's arrival starts the clock, as libzmq's local_thr does:
       the elapsed time covers frames 2..n. */
    double el = frames > 1 ? (double)(t_last - t_first) / 1e9 : 0;
    double per = frames ? 1.0 / (double)frames : 0;
    if (frames > 1) {
        raw *= (double)(frames - 1) * per;
        wire *= (double)(frames - 1) * per;
    }
    qsort(lat, nlat, sizeof *lat, s_cmp_u64);
    s_report(fd, "frames", "%llu", (unsigned long long)frames);
    s_report(fd, "sent", "%llu", (unsigned long long)sent);
    s_report(fd, "verified", "%llu", (unsigned long long)verified);
    s_report(fd, "in_place_frames", "%llu", (unsigned long long)in_place);
    s_report(fd, "zero_copy", "%s", s_zero_copy_recv_note());
    s_report(fd, "raw_bytes", "%.0f", raw);
    s_report(fd, "wire_bytes", "%.0f", wire);
    s_report(fd, "elapsed_s", "%.6f", el);
    s_report(fd, "lat_p50_ms", "%.3f", (double)s_pct(lat, nlat, 50) / 1e6);
    s_report(fd, "lat_p90_ms", "%.3f", (double)s_pct(lat, nlat, 90) / 1e6);
    s_report(fd, "lat_p99_ms", "%.3f", (double)s_pct(lat, nlat, 99) / 1e6);
    s_report(fd, "lat_max_ms", "%.3f", nlat ? (double)lat[nlat - 1] / 1e6 : 0.0);
    free(lat);
    s_transport_close();
    zmq_close(s);
    zmq_ctx_term(ctx);
    if (rc == ZT_EXIT_OK && (frames == 0 || verified != frames || sent != frames))
        rc = ZT_EXIT_CHECK;
    return rc;
}

/* ---- the command ---------------------------------------------------------------- */

int zt_cmd_demo(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"seconds", required_argument, NULL, 's'},
        {"quick", no_argument, NULL, 'q'},
        {"size", required_argument, NULL, 'z'},
        {"codec", required_argument, NULL, 'c'},
        {"endpoint", required_argument, NULL, 'e'},
        {"timeout", required_argument, NULL, 't'},
        {"role", required_argument, NULL, 'r'},
        {"fps", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    s_opts_t o = {.seconds = 4, .width = 1024, .height = 1024,
                  .codec = "blosc:lz4:5:shuffle", .endpoint = "tcp://127.0.0.1:*",
                  .report_fd = -1, .timeout_ms = 10000};
    bool size_set = false, secs_set = false, codec_set = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (!zt_parse_double(optarg, &o.seconds) || o.seconds <= 0 || o.seconds > 3600)
                return zt_usage(S_CMD, "--seconds takes a number of seconds in (0, 3600]");
            secs_set = true;
            break;
        case 'q':
            o.quick = true;
            break;
        case 'z': {
            char *x;
            unsigned long w = strtoul(optarg, &x, 10), h = 0;
            if (*x == 'x')
                h = strtoul(x + 1, &x, 10);
            if (*x || w < 8 || h < 8 || w > 16384 || h > 16384)
                return zt_usage(S_CMD, "--size takes WxH, 8..16384 each, e.g. 1024x1024");
            o.width = w;
            o.height = h;
            size_set = true;
            break;
        }
        case 'c':
            o.codec = optarg;
            codec_set = true;
            break;
        case 'e':
            o.endpoint = optarg;
            break;
        case 't':
            if (!zt_parse_long(optarg, 1, 3600000, &o.timeout_ms))
                return zt_usage(S_CMD, "--timeout takes milliseconds (1..3600000)");
            break;
        case 'f':
            if (!zt_parse_double(optarg, &o.fps) || o.fps < 0 || o.fps > 1e6)
                return zt_usage(S_CMD, "--fps takes frames per second (0 = unpaced)");
            break;
        case 'r':
            o.role = optarg;
            if (strcmp(optarg, "pub") && strcmp(optarg, "sub"))
                return zt_usage(S_CMD, "--role is pub or sub");
            break;
        case 'h':
            s_help(stdout);
            return ZT_EXIT_OK;
        default:
            return zt_usage(S_CMD, "unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return zt_usage(S_CMD, "takes no arguments ('%s')", argv[optind]);
    if (!codec_set && !zpk_codec_available(ZPK_CODEC_BLOSC))
        o.codec = "zlib:1"; /* a build without blosc still runs the demo */
    if (o.quick) {
        if (!secs_set)
            o.seconds = 0.5;
        if (!size_set)
            o.width = o.height = 512;
    }
    zpk_codec_t codec;
    zpk_error_t err;
    zpk_error_clear(&err);
    int e = zpk_codec_parse(o.codec, strlen(o.codec), &codec, &err);
    if (e)
        return zt_usage(S_CMD, "bad --codec '%s': %s", o.codec,
                        err.text[0] ? err.text : zpk_strerror(e));
    if (!o.role)
        return s_parent(&o);
    o.report_fd = 3; /* set up by the parent */
    signal(SIGPIPE, SIG_IGN);
    return !strcmp(o.role, "pub") ? s_pub(&o) : s_sub(&o);
}

/* ZPK_DEMO_TRANSPORT (publisher and subscriber bodies below) */
/* ---- the transport, implemented ---------------------------------------------- */

/*
 * Every allocation zmqpack makes in a demo process goes through these
 * hooks, which keep the live byte count and its peak (libzmq may free on
 * its I/O thread, hence atomics). The peak during one send or receive is
 * the proof of zero-copy: a copy of the image would need a buffer of its
 * size. The sender needs none (codec none: the image itself is sent) or
 * just the compressor's output (written once, handed to libzmq as it is);
 * the receiver needs none (the image stays in the received frame) or one
 * (blosc decompresses into it, once).
 */
static atomic_size_t s_live, s_peak;

static void s_note_live(size_t live)
{
    size_t p = atomic_load(&s_peak);
    while (live > p && !atomic_compare_exchange_weak(&s_peak, &p, live))
        ;
}

static void *s_hook_malloc(size_t n, void *ud)
{
    (void)ud;
    void *p = malloc(n);
    if (p)
        s_note_live(atomic_fetch_add(&s_live, malloc_usable_size(p)) + malloc_usable_size(p));
    return p;
}

static void *s_hook_realloc(void *p, size_t n, void *ud)
{
    (void)ud;
    size_t old = p ? malloc_usable_size(p) : 0;
    void *q = realloc(p, n);
    if (q) {
        atomic_fetch_sub(&s_live, old);
        size_t now = malloc_usable_size(q);
        s_note_live(atomic_fetch_add(&s_live, now) + now);
    }
    return q;
}

static void s_hook_free(void *p, void *ud)
{
    (void)ud;
    if (p)
        atomic_fetch_sub(&s_live, malloc_usable_size(p));
    free(p);
}

static void s_count_allocations(void)
{
    zpk_allocator_t a = {s_hook_malloc, s_hook_realloc, s_hook_free, NULL};
    zpk_set_allocator(&a);
}

/* Starts a measurement: returns the live bytes now and resets the peak. */
static size_t s_measure_start(void)
{
    size_t live = atomic_load(&s_live);
    atomic_store(&s_peak, live);
    return live;
}

/* Bytes the peak rose above @p start since s_measure_start(). */
static size_t s_measure_rise(size_t start)
{
    size_t p = atomic_load(&s_peak);
    return p > start ? p - start : 0;
}

static zpk_codec_t s_codec;
static zpk_tracker_t *s_tracker;
static size_t s_send_zero_copy, s_send_alloc_max, s_recv_alloc_max;
static bool s_recv_compressed;

static int s_send_frame(void *sock, const s_opts_t *o, const s_frame_t *f, uint64_t seq)
{
    if (!s_tracker) {
        zpk_codec_parse(o->codec, strlen(o->codec), &s_codec, NULL);
        s_tracker = zpk_tracker_new();
        if (!s_tracker)
            return ZPK_ENOMEM;
    }
    size_t before = s_measure_start();
    /* The metadata map; the image is a reference to array 0 of the message. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 256);
    zpk_write_map(&w, 8);
    zpk_write_cstr(&w, "seq");
    zpk_write_uint(&w, seq);
    zpk_write_cstr(&w, "ts");
    zpk_write_timestamp(&w, now.tv_sec, (uint32_t)now.tv_nsec);
    zpk_write_cstr(&w, "sensor");
    zpk_write_cstr(&w, "cam0");
    zpk_write_cstr(&w, "exposure_us");
    zpk_write_uint(&w, 1200);
    zpk_write_cstr(&w, "gain");
    zpk_write_double(&w, 1.5);
    zpk_write_cstr(&w, "checksum");
    zpk_write_uint(&w, f->checksum);
    zpk_write_cstr(&w, "image");
    zpk_write_ndarray_ref(&w, 0);
    zpk_write_cstr(&w, "t_send_ns");
    zpk_write_uint(&w, zt_now_ns());

    zpk_ndarray_t img;
    size_t shape[2] = {o->height, o->width};
    int rc = zpk_ndarray_init(&img, zpk_dtype_make(ZPK_KIND_FLOAT, 4), 2, shape, ZPK_ORDER_C,
                            f->img);
    if (rc == 0) {
        /* Borrow: the image goes to libzmq as it is (or through blosc, whose
           output is handed over without a copy); the tracker says when
           libzmq is done with it. The base images never change, so the
           publisher need not wait before sending one again. */
        zpk_send_opts_t so;
        zpk_send_opts_init(&so);
        so.topic = S_TOPIC;
        so.topic_len = strlen(S_TOPIC);
        so.codec = &s_codec;
        so.own = ZPK_OWN_BORROW;
        so.tracker = s_tracker;
        rc = zpk_send_mixed(sock, &w, &img, 1, &so, NULL);
    }
    zpk_writer_free(&w);
    size_t used = s_measure_rise(before);
    if (used > s_send_alloc_max)
        s_send_alloc_max = used;
    /* Room for the compressor's output at most (none: nothing of the image's
       size), never for a copy of the image on top of it. */
    size_t allowed = (s_codec.id == ZPK_CODEC_NONE ? 0 : zpk_codec_bound(&s_codec, img.nbytes))
                     + 65536;
    if (rc == 0 && used <= allowed)
        s_send_zero_copy++;
    return rc;
}

static int s_send_end(void *sock, uint64_t frames)
{
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 64);
    int rc = zpk_pack_fmt(&w, "{s:b s:U}", "end", 1, "frames", (uint64_t)frames);
    zpk_send_opts_t so;
    zpk_send_opts_init(&so);
    so.topic = S_TOPIC;
    so.topic_len = strlen(S_TOPIC);
    if (rc == 0)
        rc = zpk_send_packed(sock, &w, &so, NULL);
    zpk_writer_free(&w);
    return rc;
}

/* The frames of the message being read: taken off the socket as libzmq
   received them, so their sizes are the bytes on the wire, and decoded where
   they are. */
static zt_msg_t s_msg;

static void s_transport_close(void)
{
    zt_msg_free(&s_msg);
    zpk_tracker_destroy(&s_tracker);
}

static int s_recv_frame(void *sock, const s_opts_t *o, s_rx_t *rx)
{
    (void)o;
    int rc = zt_msg_recv(&s_msg, sock, 0);
    if (rc)
        return rc;
    size_t before = s_measure_start();
    zpk_mixed_t m;
    zpk_envelope_t env;
    rc = zpk_decode_mixed(s_msg.frames, s_msg.n, NULL, &env, &m, NULL);
    if (rc)
        return rc;
    const zpk_node_t *root = zpk_doc_root(m.doc), *image = NULL;
    int end = 0;
    if (zpk_unpack_fmt(root, "{s:b s:U}", "end", &end, "frames", &rx->sent_frames) == 0 && end) {
        rx->end = true;
    } else {
        rc = zpk_unpack_fmt(root, "{s:U s:U s:U s:O}", "seq", &rx->seq, "t_send_ns",
                            &rx->t_send_ns, "checksum", &rx->checksum, "image", &image);
        const zpk_ndarray_t *a = rc == 0 ? zpk_mixed_ndarray(&m, image) : NULL;
        if (rc == 0 && !a)
            rc = ZPK_EFRAME;
        if (rc == 0) {
            rx->computed = s_checksum(a->data, a->nbytes);
            rx->raw_bytes = a->nbytes;
            rx->wire_bytes = s_msg.bytes;
            for (size_t i = 0; i < env.n; i++) /* the topic is not the image's */
                rx->wire_bytes -= env.frames[i].size;
            size_t used = s_measure_rise(before);
            if (used > s_recv_alloc_max)
                s_recv_alloc_max = used;
            s_recv_compressed = rx->wire_bytes < a->nbytes;
            /* compressed: one buffer of the image's size (decoded once, in
               place); raw: nothing of its size (it stays in the frame) */
            rx->in_place = used <= (s_recv_compressed ? a->nbytes : 0) + 65536;
        }
    }
    zpk_mixed_free(&m);
    zpk_envelope_free(&env);
    zt_msg_close(&s_msg);
    return rc;
}

static const char *s_zero_copy_send_note(void)
{
    static char note[160];
    snprintf(note, sizeof note, "peak allocation %.2f MB per frame: %s",
             (double)s_send_alloc_max / 1e6,
             s_codec.id == ZPK_CODEC_NONE ? "the image was sent from the publisher's memory"
                                          : "the compressor's output, sent as it is");
    return note;
}

static const char *s_zero_copy_recv_note(void)
{
    static char note[160];
    snprintf(note, sizeof note, "images %s (peak allocation %.2f MB per frame)",
             s_recv_compressed ? "decompressed once, straight into their buffer"
                               : "used where libzmq received them",
             (double)s_recv_alloc_max / 1e6);
    return note;
}


/* ---- parent: start both services, show progress, print the table ----------- */

typedef struct s_child {
    pid_t pid;
    int fd;          /* read end of its report pipe */
    char buf[8192];  /* report lines received so far */
    size_t len;
    bool eof;
} s_child_t;

static int s_spawn(s_child_t *c, char *const *args)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int e = -errno;
        close(p[0]);
        close(p[1]);
        return e;
    }
    if (pid == 0) {
        /* child: the report pipe becomes fd 3 (kept across exec) */
        close(p[0]);
        if (p[1] != 3) {
            dup2(p[1], 3);
            close(p[1]);
        } else {
            fcntl(3, F_SETFD, 0);
        }
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n > 0) {
            self[n] = '\0';
            execv(self, args);
        }
        execvp(zt_argv0, args);
        _exit(127);
    }
    close(p[1]);
    memset(c, 0, sizeof *c);
    c->pid = pid;
    c->fd = p[0];
    return 0;
}

/* Reads what is available from the children's pipes, waiting up to @p ms. */
static void s_pump(s_child_t *kids, int n, int ms)
{
    struct pollfd pf[2];
    for (int i = 0; i < n; i++) {
        pf[i].fd = kids[i].eof ? -1 : kids[i].fd;
        pf[i].events = POLLIN;
    }
    if (poll(pf, (nfds_t)n, ms) <= 0)
        return;
    for (int i = 0; i < n; i++) {
        if (!(pf[i].revents & (POLLIN | POLLHUP)))
            continue;
        s_child_t *c = &kids[i];
        ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
        if (r <= 0)
            c->eof = true;
        else
            c->len += (size_t)r;
        c->buf[c->len] = '\0';
    }
}

/* The last value reported for @p key ("key value\n" lines), or NULL. */
static const char *s_get(const s_child_t *c, const char *key, char *out, size_t cap)
{
    const char *found = NULL;
    size_t klen = strlen(key);
    for (const char *p = c->buf; p && *p;) {
        if (!strncmp(p, key, klen) && p[klen] == ' ')
            found = p + klen + 1;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (!found)
        return NULL;
    size_t n = strcspn(found, "\n");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, found, n);
    out[n] = '\0';
    return out;
}

static double s_getd(const s_child_t *c, const char *key)
{
    char v[64];
    return s_get(c, key, v, sizeof v) ? strtod(v, NULL) : 0.0;
}

static int s_wait_child(s_child_t *c, uint64_t deadline_ns)
{
    int st = 0;
    for (;;) {
        pid_t r = waitpid(c->pid, &st, WNOHANG);
        if (r == c->pid)
            break;
        if (zt_now_ns() > deadline_ns) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &st, 0);
            return ZT_EXIT_TIMEOUT;
        }
        s_pump(c, 1, 50);
    }
    while (!c->eof)
        s_pump(c, 1, 100);
    close(c->fd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : ZT_EXIT_ERROR;
}

static int s_parent(const s_opts_t *o)
{
    char secs[32], size[64], tmo[32], fps[32];
    snprintf(secs, sizeof secs, "%g", o->seconds);
    snprintf(fps, sizeof fps, "%g", o->fps);
    snprintf(size, sizeof size, "%zux%zu", o->width, o->height);
    snprintf(tmo, sizeof tmo, "%ld", o->timeout_ms);
    s_child_t kids[2]; /* 0: subscriber, 1: publisher */
    char *sub_args[] = {"zpk", "demo", "--role", "sub", "--endpoint", (char *)o->endpoint,
                        "--seconds", secs, "--size", size, "--codec", (char *)o->codec,
                        "--timeout", tmo, NULL};
    int e = s_spawn(&kids[0], sub_args);
    if (e)
        return zt_fail(S_CMD, e, "cannot start the subscriber");
    /* the subscriber reports where it listens */
    char ep[256];
    uint64_t deadline = zt_now_ns() + (uint64_t)o->timeout_ms * 1000000u;
    while (!s_get(&kids[0], "endpoint", ep, sizeof ep) && !kids[0].eof
           && zt_now_ns() < deadline)
        s_pump(kids, 1, 100);
    if (!s_get(&kids[0], "endpoint", ep, sizeof ep)) {
        int rc = s_wait_child(&kids[0], zt_now_ns() + 5000000000u);
        zt_fail(S_CMD, 0, "the subscriber did not start (exit %d)", rc);
        return rc == ZT_EXIT_USAGE ? rc : ZT_EXIT_ERROR;
    }
    char *pub_args[] = {"zpk", "demo", "--role", "pub", "--endpoint", ep, "--seconds", secs,
                        "--size", size, "--codec", (char *)o->codec, "--timeout", tmo,
                        "--fps", fps, NULL};
    e = s_spawn(&kids[1], pub_args);
    if (e) {
        kill(kids[0].pid, SIGTERM);
        s_wait_child(&kids[0], zt_now_ns() + 2000000000u);
        return zt_fail(S_CMD, e, "cannot start the publisher");
    }
    bool tty = zt_isatty(1);
    printf("zpk demo: publisher (pid %d) -> subscriber (pid %d) over %s\n", (int)kids[1].pid,
           (int)kids[0].pid, ep);
    printf("          %zux%zu float32 frames + metadata, one mixed message each, codec %s,"
           " %g s%s\n", o->width, o->height, o->codec, o->seconds,
           o->fps > 0 ? "" : ", as fast as the subscriber takes them");
    if (o->fps > 0)
        printf("          paced at %g frames/s\n", o->fps);
    fflush(stdout);
    /* progress while both run */
    deadline = zt_now_ns() + (uint64_t)((o->seconds + 10) * 1e9)
               + (uint64_t)o->timeout_ms * 1000000u;
    uint64_t last = 0;
    while (!(kids[0].eof && kids[1].eof) && zt_now_ns() < deadline) {
        s_pump(kids, 2, 100);
        uint64_t now = zt_now_ns();
        if (tty && now - last > 200000000u) {
            last = now;
            char v[64];
            if (s_get(&kids[0], "progress", v, sizeof v)) {
                double f = 0, gbs = 0, lat = 0;
                sscanf(v, "%lf %lf %lf", &f, &gbs, &lat);
                printf("\r\033[K  frames received %6.0f   %6.2f GB/s raw   latency p50 %7.2f ms",
                       f, gbs, lat);
                fflush(stdout);
            }
        }
    }
    int rc_sub = s_wait_child(&kids[0], deadline);
    int rc_pub = s_wait_child(&kids[1], zt_now_ns() + 5000000000u);
    if (tty)
        printf("\r\033[K");
    char v[64];
    if (rc_pub != 0 || rc_sub != 0 || !s_get(&kids[0], "frames", v, sizeof v)) {
        if (s_get(&kids[0], "error", v, sizeof v))
            fprintf(stderr, "zpk demo: subscriber: %s\n", v);
        if (s_get(&kids[1], "error", v, sizeof v))
            fprintf(stderr, "zpk demo: publisher: %s\n", v);
        zt_fail(S_CMD, 0, "publisher exited %d, subscriber exited %d", rc_pub, rc_sub);
        return rc_sub ? rc_sub : rc_pub ? rc_pub : ZT_EXIT_ERROR;
    }
    const s_child_t *sub = &kids[0], *pub = &kids[1];
    double frames = s_getd(sub, "frames"), ok = s_getd(sub, "verified"),
           sent = s_getd(pub, "frames"), raw = s_getd(sub, "raw_bytes"),
           wire = s_getd(sub, "wire_bytes"), el = s_getd(sub, "elapsed_s");
    double zc_sent = s_getd(pub, "zero_copy_frames"), zc_recv = s_getd(sub, "in_place_frames");
    char note_pub[256] = "", note_sub[256] = "";
    s_get(pub, "zero_copy", note_pub, sizeof note_pub);
    s_get(sub, "zero_copy", note_sub, sizeof note_sub);
    bool zc = frames > 0 && zc_sent == sent && zc_recv == frames;
    printf("\n");
    printf("  %-22s %.0f sent, %.0f received, %.0f checksums verified\n", "frames", sent, frames,
           ok);
    printf("  %-22s %.2f GB/s  (%.1f frames/s, %.1f MB each)\n", "raw throughput",
           el > 0 ? raw / el / 1e9 : 0, el > 0 ? (frames - 1) / el : 0,
           (double)(o->width * o->height * 4) / 1e6);
    printf("  %-22s %.2f GB/s\n", "wire throughput", el > 0 ? wire / el / 1e9 : 0);
    printf("  %-22s %.2fx  (%s)\n", "compression ratio", wire > 0 ? raw / wire : 0, o->codec);
    printf("  %-22s %s\n", "zero-copy", zc ? "confirmed" : "NOT confirmed");
    printf("  %-22s   sender:   %.0f/%.0f frames, %s\n", "", zc_sent, sent, note_pub);
    printf("  %-22s   receiver: %.0f/%.0f frames, %s\n", "", zc_recv, frames, note_sub);
    printf("  %-22s p50 %.2f ms   p90 %.2f ms   p99 %.2f ms   max %.2f ms\n", "latency",
           s_getd(sub, "lat_p50_ms"), s_getd(sub, "lat_p90_ms"), s_getd(sub, "lat_p99_ms"),
           s_getd(sub, "lat_max_ms"));
    printf("  %-22s (from the publisher's send call to the subscriber's verified checksum)\n", "");
    if (frames < 1 || ok != frames) {
        fprintf(stderr, "zpk demo: %.0f of %.0f frames failed their checksum\n", frames - ok,
                frames);
        return ZT_EXIT_CHECK;
    }
    return ZT_EXIT_OK;
}
