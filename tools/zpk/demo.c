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
    bool quick;
} s_opts_t;

static void s_help(FILE *f)
{
    fprintf(f,
        "usage: zpk demo [--seconds S] [--quick] [--size WxH] [--codec SPEC]\n"
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
        "  --codec SPEC    payload codec (default blosc:lz4:5:shuffle; none, zlib:1, ...)\n"
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

static int s_send_frame(void *sock, const s_opts_t *o, const s_frame_t *f, uint64_t seq,
                        atomic_size_t *released);
static int s_send_end(void *sock, uint64_t frames);
static int s_recv_frame(void *sock, const s_opts_t *o, s_rx_t *rx);
static const char *s_zero_copy_send_note(void);
static const char *s_zero_copy_recv_note(void);
static int s_parent(const s_opts_t *o);

/* ---- the publisher process ---------------------------------------------------- */

static atomic_size_t s_released;

static int s_pub(const s_opts_t *o)
{
    int fd = o->report_fd;
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_XPUB);
    int one = 1, hwm = 4, tmo = (int)o->timeout_ms;
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
        int e = s_send_frame(s, o, &frames[seq % S_NBASE], seq, &s_released);
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
    s_report(fd, "frames", "%llu", (unsigned long long)seq);
    s_report(fd, "zero_copy_frames", "%zu", atomic_load(&s_released));
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
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_SUB);
    int hwm = 4, tmo = (int)o->timeout_ms, zero = 0;
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_SUBSCRIBE, S_TOPIC, strlen(S_TOPIC));
    int rc = ZT_EXIT_OK;
    if (zmq_bind(s, o->endpoint) != 0) {
        int e = -zmq_errno();
        fprintf(stderr, "zpk demo: cannot bind '%s': %s\n", o->endpoint, zpk_strerror(e));
        zmq_close(s);
        zmq_ctx_term(ctx);
        return e == -EINVAL || e == -EPROTONOSUPPORT ? ZT_EXIT_USAGE : ZT_EXIT_ERROR;
    }
    char ep[256];
    size_t eplen = sizeof ep;
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &eplen);
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
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    s_opts_t o = {.seconds = 4, .width = 1024, .height = 1024,
                  .codec = "blosc:lz4:5:shuffle", .endpoint = "tcp://127.0.0.1:*",
                  .report_fd = -1, .timeout_ms = 10000};
    bool size_set = false, secs_set = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
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
            break;
        case 'e':
            o.endpoint = optarg;
            break;
        case 't':
            if (!zt_parse_long(optarg, 1, 3600000, &o.timeout_ms))
                return zt_usage(S_CMD, "--timeout takes milliseconds (1..3600000)");
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
    char secs[32], size[64], tmo[32];
    snprintf(secs, sizeof secs, "%g", o->seconds);
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
        int rc = s_wait_child(&kids[0], zt_now_ns());
        zt_fail(S_CMD, 0, "the subscriber did not start (exit %d)", rc);
        return rc == ZT_EXIT_USAGE ? rc : ZT_EXIT_ERROR;
    }
    char *pub_args[] = {"zpk", "demo", "--role", "pub", "--endpoint", ep, "--seconds", secs,
                        "--size", size, "--codec", (char *)o->codec, "--timeout", tmo, NULL};
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
           " %g s\n", o->width, o->height, o->codec, o->seconds);
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
    printf("\n  %-28s %s\n", "", "zmqpack demo results");
    printf("  %-28s %.0f sent, %.0f received, %.0f checksums verified\n", "frames", sent,
           frames, ok);
    printf("  %-28s %.2f GB/s (%.1f frames/s)\n", "raw throughput", el > 0 ? raw / el / 1e9 : 0,
           el > 0 ? frames / el : 0);
    printf("  %-28s %.2f GB/s\n", "wire throughput", el > 0 ? wire / el / 1e9 : 0);
    printf("  %-28s %.2fx (%.1f MB -> %.1f MB per frame)\n", "compression ratio",
           wire > 0 ? raw / wire : 0, frames > 0 ? raw / frames / 1e6 : 0,
           frames > 0 ? wire / frames / 1e6 : 0);
    s_get(pub, "zero_copy", v, sizeof v);
    printf("  %-28s sender: %.0f/%.0f frames handed to libzmq without a copy (%s)\n",
           "zero-copy", zc_sent, sent, v);
    s_get(sub, "zero_copy", v, sizeof v);
    printf("  %-28s receiver: %.0f/%.0f %s\n", "", zc_recv, frames, v);
    printf("  %-28s p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
           "latency (send to verified)", s_getd(sub, "lat_p50_ms"), s_getd(sub, "lat_p90_ms"),
           s_getd(sub, "lat_p99_ms"), s_getd(sub, "lat_max_ms"));
    if (frames < 1 || ok != frames) {
        fprintf(stderr, "zpk demo: %.0f of %.0f frames failed their checksum\n", frames - ok,
                frames);
        return ZT_EXIT_CHECK;
    }
    return ZT_EXIT_OK;
}
