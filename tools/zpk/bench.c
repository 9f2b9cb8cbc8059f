/*
 * zpk bench: throughput and latency in the manner of libzmq's perf tools
 * (local_thr, remote_thr, local_lat, remote_lat): the same roles, the same
 * arguments (ENDPOINT SIZE COUNT), the clock started after the first
 * message. Without a role both ends run here, in two threads, for a few
 * sizes, and zmqpack's array messages are measured beside raw libzmq
 * sending the same bytes in the same run.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>
#include <zmqpack.h>

#include "zpk.h"

#define S_CMD "bench"

static void s_help(FILE *f)
{
    fprintf(f,
        "usage: zpk bench [OPTIONS]\n"
        "       zpk bench local-thr  ENDPOINT SIZE COUNT   bind PULL, receive, print throughput\n"
        "       zpk bench remote-thr ENDPOINT SIZE COUNT   connect PUSH, send COUNT messages\n"
        "       zpk bench local-lat  ENDPOINT SIZE COUNT   bind REP, echo COUNT messages\n"
        "       zpk bench remote-lat ENDPOINT SIZE COUNT   connect REQ, time COUNT round trips\n"
        "\n"
        "Throughput and latency as libzmq's perf/local_thr, remote_thr, local_lat and\n"
        "remote_lat measure them (the clock starts after the first message). Messages\n"
        "are zmqpack arrays of SIZE bytes (uint8), or raw libzmq messages with --raw.\n"
        "Without a role, both ends run here in two threads for each size, and zmqpack\n"
        "is measured beside raw libzmq sending the same bytes, in the same run.\n"
        "\n"
        "options:\n"
        "  --transport T   tcp (default), ipc or inproc (without a role)\n"
        "  --sizes LIST    message sizes, e.g. 1K,64K,1M,16M (the default)\n"
        "  --count N       messages per size (default: about 512 MiB or 100000 msgs)\n"
        "  --codec SPEC    zmqpack codec (default none): zlib:1, blosc:lz4:5:shuffle...\n"
        "  --raw           roles only: send raw libzmq messages instead of zmqpack\n"
        "  --quick         an eighth of the messages\n"
        "  -h, --help      this text\n"
        "\n"
        "Output: a table with MB/s, messages/s and the ratio to raw libzmq; a live\n"
        "progress line while it runs when stdout is a terminal. A local role bound to a\n"
        "port of * prints the endpoint on stderr (\"zpk bench: bound to ...\").\n"
        "exit codes: 0 ok; 1 failure; 2 bad arguments, including an endpoint libzmq\n"
        "refuses; 3 timeout (peer missing);\n"
        "4 a message arrived with the wrong size or content.\n");
}

/* ---- one measured run ------------------------------------------------------ */

typedef enum s_mode {
    S_RAW_COPY, /* zmq_send: libzmq copies the bytes */
    S_RAW_ZC,   /* zmq_msg_init_data: zero-copy */
    S_ZPK,      /* zpk_send_array / zpk_recv_array */
} s_mode_t;

static const char *const s_mode_names[] = {"raw copy", "raw zero-copy", "zmqpack"};

typedef struct s_run {
    s_mode_t mode;
    void *ctx;
    char endpoint[256];
    size_t size;
    long count;
    const zpk_codec_t *codec;
    uint8_t *buf;          /* the payload the sender sends (size bytes) */
    int send_rc;
    uint64_t *rtt;         /* latency runs: count round-trip times (ns) */
    zpk_tracker_t *tracker; /* zmqpack sends borrow buf (it never changes) */
} s_run_t;

/* zmqpack: buf as a uint8 array, borrowed (zero-copy from 64 KiB up). */
static int s_zpk_send(void *sock, s_run_t *r)
{
    if (!r->tracker && !(r->tracker = zpk_tracker_new()))
        return ZPK_ENOMEM;
    zpk_ndarray_t a;
    size_t shape[1] = {r->size};
    int rc = zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_UINT, 1), 1, shape, ZPK_ORDER_C, r->buf);
    if (rc)
        return rc;
    zpk_send_opts_t so;
    zpk_send_opts_init(&so);
    so.codec = r->codec && r->codec->id != ZPK_CODEC_NONE ? r->codec : NULL;
    so.own = ZPK_OWN_BORROW;
    so.tracker = r->tracker;
    return zpk_send_array(sock, &a, &so, NULL);
}

static int s_zpk_recv(void *sock, s_run_t *r)
{
    zpk_ndarray_t a;
    int rc = zpk_recv_array(sock, NULL, NULL, &a, NULL);
    if (rc)
        return rc;
    rc = a.nbytes == r->size ? 0 : ZPK_ESHAPE;
    zpk_ndarray_free(&a);
    return rc;
}

static void s_nofree(void *data, void *hint)
{
    (void)data;
    (void)hint;
}

static int s_zerr(void)
{
    return -zmq_errno();
}

/* Sends one message of r->size bytes. */
static int s_send_one(void *sock, s_run_t *r)
{
    switch (r->mode) {
    case S_RAW_COPY:
        return zmq_send(sock, r->buf, r->size, 0) < 0 ? s_zerr() : 0;
    case S_RAW_ZC: {
        zmq_msg_t m;
        zmq_msg_init_data(&m, r->buf, r->size, s_nofree, NULL);
        if (zmq_msg_send(&m, sock, 0) < 0) {
            int rc = s_zerr();
            zmq_msg_close(&m);
            return rc;
        }
        return 0;
    }
    case S_ZPK:
        return s_zpk_send(sock, r);
    }
    return ZPK_EINVAL;
}

/* Receives one message and checks its size (and, for zmqpack, its first byte). */
static int s_recv_one(void *sock, s_run_t *r)
{
    if (r->mode == S_ZPK)
        return s_zpk_recv(sock, r);
    zmq_msg_t m;
    zmq_msg_init(&m);
    int n = zmq_msg_recv(&m, sock, 0);
    int rc = n < 0 ? s_zerr() : ((size_t)n != r->size ? ZPK_ESHAPE : 0);
    zmq_msg_close(&m);
    return rc;
}

static void *s_sender(void *arg)
{
    s_run_t *r = arg;
    void *s = zmq_socket(r->ctx, ZMQ_PUSH);
    int tmo = 10000, hwm = 1000;
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt(s, ZMQ_LINGER, &tmo, sizeof tmo);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    r->send_rc = zmq_connect(s, r->endpoint) ? s_zerr() : 0;
    for (long i = 0; i < r->count && r->send_rc == 0; i++)
        r->send_rc = s_send_one(s, r);
    zmq_close(s);
    zpk_tracker_destroy(&r->tracker); /* waits until libzmq has sent every frame */
    return NULL;
}

static void *s_requester(void *arg)
{
    s_run_t *r = arg;
    void *s = zmq_socket(r->ctx, ZMQ_REQ);
    int tmo = 10000;
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    r->send_rc = zmq_connect(s, r->endpoint) ? s_zerr() : 0;
    for (long i = 0; i < r->count && r->send_rc == 0; i++) {
        uint64_t t0 = zt_now_ns();
        r->send_rc = s_send_one(s, r);
        if (r->send_rc == 0)
            r->send_rc = s_recv_one(s, r);
        r->rtt[i] = zt_now_ns() - t0;
    }
    zmq_close(s);
    zpk_tracker_destroy(&r->tracker);
    return NULL;
}

static void s_endpoint_for(const char *transport, char *out, size_t cap)
{
    static unsigned n;
    if (!strcmp(transport, "inproc"))
        snprintf(out, cap, "inproc://zpk-bench-%u", n++);
    else if (!strcmp(transport, "ipc"))
        snprintf(out, cap, "ipc:///tmp/zpk-bench-%d-%u", (int)getpid(), n++);
    else
        snprintf(out, cap, "tcp://127.0.0.1:*");
}

/*
 * Throughput: this thread binds PULL and receives; a second thread sends.
 * Returns 0 and the elapsed time from the first message to the last.
 */
static int s_thr(s_run_t *r, uint64_t *elapsed)
{
    void *s = zmq_socket(r->ctx, ZMQ_PULL);
    int tmo = 10000, hwm = 1000;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (zmq_bind(s, r->endpoint)) {
        int rc = s_zerr();
        zmq_close(s);
        return rc;
    }
    size_t len = sizeof r->endpoint;
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, r->endpoint, &len);
    pthread_t th;
    pthread_create(&th, NULL, s_sender, r);
    int rc = 0;
    uint64_t t0 = 0;
    for (long i = 0; i < r->count && rc == 0; i++) {
        rc = s_recv_one(s, r);
        if (i == 0)
            t0 = zt_now_ns();
    }
    *elapsed = zt_now_ns() - t0;
    pthread_join(th, NULL);
    zmq_close(s);
    return rc ? rc : r->send_rc;
}

/* Latency: this thread binds REP and echoes; a second thread times round trips. */
static int s_lat(s_run_t *r)
{
    void *s = zmq_socket(r->ctx, ZMQ_REP);
    int tmo = 10000;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &tmo, sizeof tmo);
    if (zmq_bind(s, r->endpoint)) {
        int rc = s_zerr();
        zmq_close(s);
        return rc;
    }
    size_t len = sizeof r->endpoint;
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, r->endpoint, &len);
    s_run_t echo = *r; /* this thread's own state (its own tracker) */
    pthread_t th;
    pthread_create(&th, NULL, s_requester, r);
    int rc = 0;
    for (long i = 0; i < echo.count && rc == 0; i++) {
        rc = s_recv_one(s, &echo);
        if (rc == 0)
            rc = s_send_one(s, &echo);
    }
    pthread_join(th, NULL);
    zmq_close(s);
    zpk_tracker_destroy(&echo.tracker);
    return rc ? rc : r->send_rc;
}

static int s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void s_fmt_size(size_t n, char *buf, size_t cap)
{
    if (n >= (1u << 20) && n % (1u << 20) == 0)
        snprintf(buf, cap, "%zu MiB", n >> 20);
    else if (n >= 1024 && n % 1024 == 0)
        snprintf(buf, cap, "%zu KiB", n >> 10);
    else
        snprintf(buf, cap, "%zu B", n);
}

/* ---- the roles (separate processes, as libzmq's perf tools) ----------------- */

static int s_role(const char *role, const char *endpoint, size_t size, long count,
                  bool raw, const zpk_codec_t *codec)
{
    void *ctx = zmq_ctx_new();
    s_run_t r = {.mode = raw ? (size >= 65536 ? S_RAW_ZC : S_RAW_COPY) : S_ZPK,
                 .ctx = ctx, .size = size, .count = count, .codec = codec};
    snprintf(r.endpoint, sizeof r.endpoint, "%s", endpoint);
    r.buf = malloc(size ? size : 1);
    memset(r.buf, 0x5a, size);
    int rc = 0, type;
    bool bind = !strncmp(role, "local", 5), lat = strstr(role, "lat") != NULL;
    type = lat ? (bind ? ZMQ_REP : ZMQ_REQ) : (bind ? ZMQ_PULL : ZMQ_PUSH);
    void *s = zmq_socket(ctx, type);
    int tmo = 30000;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt(s, ZMQ_LINGER, &tmo, sizeof tmo);
    int one = 1; /* PUSH: queue only on a live connection (a missing peer times out).
                    Not for REQ: with it, a reply that arrives just before the peer
                    disconnects may be dropped. */
    if (type == ZMQ_PUSH)
        zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof one);
    rc = zt_attach(S_CMD, s, endpoint, bind ? ZT_BIND | ZT_ANNOUNCE : 0, NULL, 0);
    if (rc)
        goto out;
    uint64_t t0 = 0;
    for (long i = 0; i < count; i++) {
        int e = 0;
        if (type == ZMQ_PUSH)
            e = s_send_one(s, &r);
        else if (type == ZMQ_PULL)
            e = s_recv_one(s, &r);
        else if (type == ZMQ_REP)
            e = (e = s_recv_one(s, &r)) ? e : s_send_one(s, &r);
        else
            e = (e = s_send_one(s, &r)) ? e : s_recv_one(s, &r);
        if (e) {
            rc = e == -EAGAIN ? ZT_EXIT_TIMEOUT : e == ZPK_ESHAPE ? ZT_EXIT_CHECK
                                                                   : ZT_EXIT_ERROR;
            zt_fail(S_CMD, e, "%s: message %ld", role, i);
            goto out;
        }
        if (i == 0)
            t0 = zt_now_ns();
    }
    double secs = (double)(zt_now_ns() - t0) / 1e9;
    if (type == ZMQ_PULL) {
        double rate = count > 1 && secs > 0 ? (double)(count - 1) / secs : 0;
        printf("message size: %zu [B]\nmessage count: %ld\n", size, count);
        printf("mean throughput: %.0f [msg/s]\n", rate);
        printf("mean throughput: %.3f [Mb/s]\n", rate * (double)size * 8 / 1e6);
    } else if (type == ZMQ_REQ) {
        printf("message size: %zu [B]\nroundtrip count: %ld\n", size, count);
        printf("average latency: %.3f [us]\n", secs * 1e6 / (double)count / 2);
    }
out:
    zmq_close(s);
    zmq_ctx_term(ctx);
    zpk_tracker_destroy(&r.tracker);
    free(r.buf);
    return rc;
}

/* ---- in-process: both ends here, zmqpack beside raw libzmq ------------------ */

static int s_table(const char *transport, const size_t *sizes, size_t nsizes, long count_opt,
                   bool quick, const zpk_codec_t *codec, const char *codec_str)
{
    bool tty = zt_isatty(1);
    void *ctx = zmq_ctx_new();
    int rc = 0;
    printf("zpk bench: %s, codec %s, one sender and one receiver thread\n\n", transport,
           codec_str);
    printf("| size | msgs | zmqpack MB/s | zmqpack msg/s | raw copy MB/s | raw zero-copy MB/s "
           "| zmqpack / best raw | zmqpack lat p50 us | raw lat p50 us |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    fflush(stdout);
    for (size_t k = 0; k < nsizes && rc == 0; k++) {
        size_t size = sizes[k];
        long count = count_opt;
        if (count <= 0) {
            size_t target = (size_t)512 << 20;
            count = (long)(target / (size ? size : 1));
            if (count > 100000)
                count = 100000;
            if (count < 50)
                count = 50;
            if (quick)
                count = count / 8 > 10 ? count / 8 : 10;
        }
        uint8_t *buf = malloc(size ? size : 1);
        for (size_t i = 0; i < size; i++)
            buf[i] = (uint8_t)(i * 31 + (i >> 12));
        double mbs[3] = {0}, rate[3] = {0}, lat[3] = {0};
        for (int m = 0; m < 3 && rc == 0; m++) {
            char sz[32];
            s_fmt_size(size, sz, sizeof sz);
            if (tty) {
                printf("\r\033[K  measuring %s %s: throughput...", sz, s_mode_names[m]);
                fflush(stdout);
            }
            s_run_t r = {.mode = (s_mode_t)m, .ctx = ctx, .size = size, .count = count,
                         .codec = codec, .buf = buf};
            s_endpoint_for(transport, r.endpoint, sizeof r.endpoint);
            uint64_t ns = 0;
            int e = s_thr(&r, &ns);
            if (e) {
                rc = zt_fail(S_CMD, e, "%s throughput, %s", s_mode_names[m], sz);
                if (e == -EAGAIN)
                    rc = ZT_EXIT_TIMEOUT;
                else if (e == ZPK_ESHAPE)
                    rc = ZT_EXIT_CHECK;
                break;
            }
            double secs = (double)ns / 1e9;
            rate[m] = count > 1 && secs > 0 ? (double)(count - 1) / secs : 0;
            mbs[m] = rate[m] * (double)size / 1e6;
            if (m == S_RAW_ZC)
                continue; /* latency: one raw figure is enough (copy) */
            if (tty) {
                printf("\r\033[K  measuring %s %s: latency...", sz, s_mode_names[m]);
                fflush(stdout);
            }
            long nlat = count < 2000 ? count : 2000;
            if (quick && nlat > 200)
                nlat = 200;
            s_run_t l = r;
            l.count = nlat;
            l.rtt = calloc((size_t)nlat, sizeof *l.rtt);
            s_endpoint_for(transport, l.endpoint, sizeof l.endpoint);
            e = s_lat(&l);
            if (e == 0) {
                qsort(l.rtt, (size_t)nlat, sizeof *l.rtt, s_cmp_u64);
                lat[m] = (double)l.rtt[nlat / 2] / 2e3; /* one way: half a round trip */
            } else {
                rc = zt_fail(S_CMD, e, "%s latency, %s", s_mode_names[m], sz);
            }
            free(l.rtt);
        }
        free(buf);
        if (rc)
            break;
        char sz[32];
        s_fmt_size(size, sz, sizeof sz);
        double best = mbs[S_RAW_COPY] > mbs[S_RAW_ZC] ? mbs[S_RAW_COPY] : mbs[S_RAW_ZC];
        if (tty)
            printf("\r\033[K");
        printf("| %s | %ld | %.0f | %.0f | %.0f | %.0f | %.2fx | %.1f | %.1f |\n", sz, count,
               mbs[S_ZPK], rate[S_ZPK], mbs[S_RAW_COPY], mbs[S_RAW_ZC],
               best > 0 ? mbs[S_ZPK] / best : 0, lat[S_ZPK], lat[S_RAW_COPY]);
        fflush(stdout);
    }
    zmq_ctx_term(ctx);
    return rc;
}

int zt_cmd_bench(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"transport", required_argument, NULL, 't'},
        {"sizes", required_argument, NULL, 's'},
        {"count", required_argument, NULL, 'n'},
        {"codec", required_argument, NULL, 'c'},
        {"raw", no_argument, NULL, 'r'},
        {"quick", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *transport = "tcp", *codec_str = "none";
    size_t sizes[32] = {1024, 65536, 1u << 20, 16u << 20};
    size_t nsizes = 4;
    long count = 0;
    bool raw = false, quick = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            transport = optarg;
            if (strcmp(transport, "tcp") && strcmp(transport, "ipc") && strcmp(transport, "inproc"))
                return zt_usage(S_CMD, "--transport must be tcp, ipc or inproc, not '%s'", optarg);
            break;
        case 's': {
            nsizes = 0;
            char *copy = strdup(optarg), *save = NULL;
            for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (nsizes == 32 || !zt_parse_size(tok, &sizes[nsizes]) || sizes[nsizes] > (1u << 30)) {
                    free(copy);
                    return zt_usage(S_CMD, "bad --sizes '%s' (e.g. 1K,64K,1M; at most 32 sizes of 1G)",
                                    optarg);
                }
                nsizes++;
            }
            free(copy);
            if (nsizes == 0)
                return zt_usage(S_CMD, "--sizes needs at least one size");
            break;
        }
        case 'n':
            if (!zt_parse_long(optarg, 1, 100000000, &count))
                return zt_usage(S_CMD, "bad --count '%s'", optarg);
            break;
        case 'c':
            codec_str = optarg;
            break;
        case 'r':
            raw = true;
            break;
        case 'q':
            quick = true;
            break;
        case 'h':
            s_help(stdout);
            return ZT_EXIT_OK;
        default:
            return zt_usage(S_CMD, "unknown option");
        }
    }
    zpk_codec_t codec;
    zpk_error_t err;
    zpk_error_clear(&err);
    int e = zpk_codec_parse(codec_str, strlen(codec_str), &codec, &err);
    if (e)
        return zt_usage(S_CMD, "bad --codec '%s': %s", codec_str, err.text[0] ? err.text : zpk_strerror(e));
    int rest = argc - optind;
    if (rest == 0)
        return s_table(transport, sizes, nsizes, count, quick, &codec, codec_str);
    const char *role = argv[optind];
    if (strcmp(role, "local-thr") && strcmp(role, "remote-thr") && strcmp(role, "local-lat")
        && strcmp(role, "remote-lat"))
        return zt_usage(S_CMD, "unknown role '%s'", role);
    if (rest != 4)
        return zt_usage(S_CMD, "%s needs ENDPOINT SIZE COUNT", role);
    size_t size;
    long n;
    if (!zt_parse_size(argv[optind + 2], &size) || size > ((size_t)1 << 31))
        return zt_usage(S_CMD, "bad SIZE '%s'", argv[optind + 2]);
    if (!zt_parse_long(argv[optind + 3], 1, 1000000000, &n))
        return zt_usage(S_CMD, "bad COUNT '%s'", argv[optind + 3]);
    return s_role(role, argv[optind + 1], size, n, raw, &codec);
}
