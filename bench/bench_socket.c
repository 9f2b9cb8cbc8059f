/*
 * Socket layer beside raw libzmq, in the same run.
 *
 * Arrays of 1 KiB .. 64 MiB over inproc, ipc and tcp, pipelined (a burst of
 * sends on one thread, the receives on another; the clock runs from the first
 * send to the last receive):
 *   raw copy      zmq_send() of the bytes / zmq_msg_recv()
 *   raw zero-copy zmq_msg_init_data() of the bytes / zmq_msg_recv()
 *   zpk           zpk_send_array(ZPK_OWN_BORROW, tracker) / zpk_recv_array()
 *   zpk into      zpk_send_array(ZPK_OWN_BORROW) / zpk_recv_array() into a reused buffer
 * and packed ~100-byte objects: zpk_sendf() + zpk_recv_packed() beside
 * zmq_send() of pre-encoded bytes + zmq_recv(). memcpy of the same bytes
 * into warm memory is the yardstick for "inproc zero-copy is flat in size".
 *
 * usage: bench_socket [--quick] [--json FILE] [--reps N]
 *                     [--pyzmq-only | --packed-only | --arrays-only]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "bench_util.h"
#include "zmqpack.h"

enum { M_RAW_COPY, M_RAW_ZC, M_ZPK, M_ZPK_INTO, M_PACKED_RAW, M_PACKED_BYTES, M_PACKED_ZPK,
       M_PACKED_RECVBYTES, M_RAW_ZC_HDR, M_COUNT };
static const char *s_mname[] = {"raw copy", "raw zero-copy", "zpk", "zpk into", "raw 100B",
                                 "zpk send_packed", "zpk sendf", "zpk send_packed+recv_bytes",
                                 "raw zero-copy + header frame"};

typedef struct run {
    void *ctx;
    const char *transport;
    int method;
    size_t size;
    long count;
    void *pull;
    uint8_t *into; /* M_ZPK_INTO destination */
    int failed;
} run_t;

static void s_noop_free(void *data, void *hint)
{
    (void)data;
    (void)hint;
}

static void *s_receiver(void *arg)
{
    run_t *r = arg;
    for (long i = 0; i < r->count; i++) {
        int rc = 0;
        switch (r->method) {
        case M_RAW_COPY:
        case M_RAW_ZC:
        case M_RAW_ZC_HDR: {
            zmq_msg_t m;
            zmq_msg_init(&m);
            int more = 1;
            while (rc == 0 && more) { /* every frame of the message */
                rc = zmq_msg_recv(&m, r->pull, 0) < 0 ? -1 : 0;
                more = zmq_msg_more(&m);
            }
            zmq_msg_close(&m);
            break;
        }
        case M_ZPK: {
            zpk_ndarray_t a;
            rc = zpk_recv_array(r->pull, NULL, NULL, &a, NULL);
            zpk_ndarray_free(&a);
            break;
        }
        case M_ZPK_INTO: {
            zpk_recv_opts_t ro;
            zpk_recv_opts_init(&ro);
            ro.into = r->into;
            ro.into_size = r->size;
            zpk_ndarray_t a;
            rc = zpk_recv_array(r->pull, &ro, NULL, &a, NULL);
            break;
        }
        case M_PACKED_RAW: {
            char buf[256];
            rc = zmq_recv(r->pull, buf, sizeof buf, 0) < 0 ? -1 : 0;
            break;
        }
        case M_PACKED_RECVBYTES: { /* no decode, like the raw peer */
            zpk_recv_opts_t ro;
            zpk_recv_opts_init(&ro);
            ro.flags = ZPK_RECV_BYTES;
            zpk_mixed_t b;
            rc = zpk_recv_mixed(r->pull, &ro, NULL, &b, NULL);
            zpk_mixed_free(&b);
            break;
        }
        case M_PACKED_BYTES:
        case M_PACKED_ZPK: {
            zpk_doc_t *doc = NULL;
            rc = zpk_recv_packed(r->pull, NULL, NULL, &doc, NULL);
            zpk_doc_destroy(&doc);
            break;
        }
        }
        if (rc != 0) {
            r->failed = 1;
            return NULL;
        }
    }
    return NULL;
}

static char s_ep[256];
static int s_seq;

/* One pipelined burst; returns seconds, or -1 on failure. */
static double s_burst(run_t *r, uint8_t *data, const uint8_t *packed, size_t packed_len)
{
    void *push = zmq_socket(r->ctx, ZMQ_PUSH);
    r->pull = zmq_socket(r->ctx, ZMQ_PULL);
    int hwm = (int)(((size_t)256 << 20) / (r->size ? r->size : 1));
    if (hwm < 4)
        hwm = 4;
    if (hwm > 10000)
        hwm = 10000;
    int to = 20000, linger = 0;
    zmq_setsockopt(push, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(r->pull, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(push, ZMQ_SNDTIMEO, &to, sizeof to);
    zmq_setsockopt(r->pull, ZMQ_RCVTIMEO, &to, sizeof to);
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(r->pull, ZMQ_LINGER, &linger, sizeof linger);
    if (strcmp(r->transport, "inproc") == 0)
        snprintf(s_ep, sizeof s_ep, "inproc://bench-%d", ++s_seq);
    else if (strcmp(r->transport, "ipc") == 0)
        snprintf(s_ep, sizeof s_ep, "ipc:///tmp/zpk-bench-%d-%d", (int)getpid(), ++s_seq);
    else
        snprintf(s_ep, sizeof s_ep, "tcp://127.0.0.1:*");
    zmq_bind(r->pull, s_ep);
    char last[256];
    size_t ll = sizeof last;
    zmq_getsockopt(r->pull, ZMQ_LAST_ENDPOINT, last, &ll);
    zmq_connect(push, last);
    /* one round trip so the connection is up before the clock starts */
    zmq_send(push, "x", 1, 0);
    char c;
    zmq_recv(r->pull, &c, 1, 0);

    zpk_ndarray_t a;
    size_t n = r->size;
    zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_UINT, 1), 1, &n, 'C', data);
    zpk_tracker_t *t = zpk_tracker_new();
    zpk_send_opts_t so;
    zpk_send_opts_init(&so);
    so.own = ZPK_OWN_BORROW;
    so.tracker = t;

    /* M_RAW_ZC_HDR: raw libzmq sending zpk's own header frame (copied)
     * before the zero-copy data, as zpk does: what a second frame costs */
    uint8_t hdr[512];
    size_t hlen = 0;
    if (r->method == M_RAW_ZC_HDR) {
        zpk_send_array(push, &a, &so, NULL);
        zmq_msg_t m;
        zmq_msg_init(&m);
        zmq_msg_recv(&m, r->pull, 0);
        hlen = zmq_msg_size(&m) < sizeof hdr ? zmq_msg_size(&m) : sizeof hdr;
        memcpy(hdr, zmq_msg_data(&m), hlen);
        zmq_msg_recv(&m, r->pull, 0);
        zmq_msg_close(&m);
    }

    zpk_writer_t pw;
    zpk_writer_init_growable(&pw, 256);
    r->failed = 0;
    pthread_t th;
    double t0 = bu_now();
    pthread_create(&th, NULL, s_receiver, r);
    int bad = 0;
    for (long i = 0; i < r->count && !bad; i++) {
        switch (r->method) {
        case M_RAW_COPY:
            bad = zmq_send(push, data, r->size, 0) < 0;
            break;
        case M_RAW_ZC_HDR:
            bad = zmq_send(push, hdr, hlen, ZMQ_SNDMORE) < 0;
            /* fall through */
        case M_RAW_ZC: {
            zmq_msg_t m;
            zmq_msg_init_data(&m, data, r->size, s_noop_free, NULL);
            bad = bad || zmq_msg_send(&m, push, 0) < 0;
            if (bad)
                zmq_msg_close(&m);
            break;
        }
        case M_ZPK:
        case M_ZPK_INTO:
            bad = zpk_send_array(push, &a, &so, NULL) != 0;
            break;
        case M_PACKED_RAW:
            bad = zmq_send(push, packed, packed_len, 0) < 0;
            break;
        case M_PACKED_BYTES: /* the same pre-encoded bytes through a writer */
        case M_PACKED_RECVBYTES:
            zpk_write_raw(&pw, packed, packed_len);
            bad = zpk_send_packed(push, &pw, NULL, NULL) != 0;
            break;
        case M_PACKED_ZPK:
            /* pack the object each time, as an application would */
            bad = zpk_sendf(push, 0, "{s:i s:s s:[dddd] s:s}", "id", (int)i, "name",
                            "sensor-0042", "xyzw", 1.5, 2.5, 3.5, 4.5, "unit",
                            "metres per second squared") != 0;
            break;
        }
    }
    pthread_join(th, NULL);
    double t1 = bu_now();
    zpk_writer_free(&pw);
    zmq_close(push);
    zmq_close(r->pull);
    zpk_tracker_wait(t, 20000);
    zpk_tracker_destroy(&t);
    return bad || r->failed ? -1 : t1 - t0;
}

/*
 * Runs the @p n methods of @p runs interleaved: repetition by repetition,
 * one burst of each (the first method rotating), so that a slow spell of
 * the shared machine hits every method of a repetition alike. rate[i][m]
 * gets messages/s of method m in repetition i; bytes per message are
 * runs[m].size. Returns the repetitions run.
 */
#define S_MAX_REPS 32
static int s_interleave(const bu_opts_t *o, run_t *runs, int n, uint8_t *data,
                        const uint8_t *packed, size_t plen, double rate[][8])
{
    int reps = o->reps > S_MAX_REPS ? S_MAX_REPS : o->reps;
    for (int i = 0; i < reps; i++)
        for (int k = 0; k < n; k++) {
            run_t *r = &runs[(i + k) % n];
            double s = s_burst(r, data, packed, plen);
            if (s <= 0) {
                fprintf(stderr, "bench_socket: %s %s %zu failed\n", r->transport,
                        s_mname[r->method], r->size);
                s = 1e9;
            }
            rate[i][(i + k) % n] = (double)r->count / s;
        }
    return reps;
}

/*
 * The pyzmq recipe beside zpk, both pipelined over tcp in one thread: a
 * burst of sends, then the receives (unbounded high-water marks). Python
 * sends with copy=False and receives with copy=False, as pyzmq's docs do.
 */
static const char *s_pyzmq_script =
    "import sys, time, zmq, numpy as np\n"
    "def send_array(s, A, flags=0, copy=False):\n"
    "    s.send_json(dict(dtype=str(A.dtype), shape=A.shape), flags | zmq.SNDMORE)\n"
    "    return s.send(A, flags, copy=copy)\n"
    "def recv_array(s, flags=0, copy=False):\n"
    "    md = s.recv_json(flags=flags)\n"
    "    msg = s.recv(flags=flags, copy=copy)\n"
    "    return np.frombuffer(memoryview(msg), dtype=md['dtype']).reshape(md['shape'])\n"
    "ctx = zmq.Context()\n"
    "for arg in sys.argv[1:]:\n"
    "    size, count = map(int, arg.split(':'))\n"
    "    pull = ctx.socket(zmq.PULL); push = ctx.socket(zmq.PUSH)\n"
    "    for so in (pull, push): so.sndhwm = 0; so.rcvhwm = 0; so.linger = 0\n"
    "    pull.bind('tcp://127.0.0.1:*'); push.connect(pull.getsockopt_string(zmq.LAST_ENDPOINT))\n"
    "    A = np.ones(size // 8, dtype=np.float64)\n"
    "    send_array(push, A); recv_array(pull)\n"
    "    best = 0\n"
    "    for rep in range(3):\n"
    "        t0 = time.perf_counter()\n"
    "        for i in range(count): send_array(push, A)\n"
    "        for i in range(count): recv_array(pull)\n"
    "        best = max(best, count / (time.perf_counter() - t0))\n"
    "    print(size, best, flush=True)\n"
    "    pull.close(); push.close()\n";

/* zpk over tcp, the same burst-then-receive pattern, in this thread. */
static double s_zpk_burst_rate(void *ctx, uint8_t *data, size_t size, long count)
{
    void *pull = zmq_socket(ctx, ZMQ_PULL), *push = zmq_socket(ctx, ZMQ_PUSH);
    int zero = 0, to = 20000;
    void *both[2] = {pull, push};
    for (int i = 0; i < 2; i++) {
        zmq_setsockopt(both[i], ZMQ_SNDHWM, &zero, sizeof zero);
        zmq_setsockopt(both[i], ZMQ_RCVHWM, &zero, sizeof zero);
        zmq_setsockopt(both[i], ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(both[i], ZMQ_RCVTIMEO, &to, sizeof to);
    }
    zmq_bind(pull, "tcp://127.0.0.1:*");
    char ep[256];
    size_t len = sizeof ep;
    zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, ep, &len);
    zmq_connect(push, ep);
    size_t n = size / 8;
    zpk_ndarray_t a;
    zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, &n, 'C', data);
    zpk_tracker_t *t = zpk_tracker_new();
    zpk_send_opts_t so;
    zpk_send_opts_init(&so);
    so.own = ZPK_OWN_BORROW;
    so.tracker = t;
    zpk_ndarray_t r;
    zpk_send_array(push, &a, &so, NULL);
    zpk_recv_array(pull, NULL, NULL, &r, NULL);
    zpk_ndarray_free(&r);
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = bu_now();
        for (long i = 0; i < count; i++)
            zpk_send_array(push, &a, &so, NULL);
        for (long i = 0; i < count; i++) {
            if (zpk_recv_array(pull, NULL, NULL, &r, NULL) != 0)
                break;
            zpk_ndarray_free(&r);
        }
        double rate = (double)count / (bu_now() - t0);
        if (rate > best)
            best = rate;
    }
    zmq_close(push);
    zmq_close(pull);
    zpk_tracker_wait(t, 20000);
    zpk_tracker_destroy(&t);
    return best;
}

static void s_vs_pyzmq(const bu_opts_t *o, void *ctx, uint8_t *data)
{
    static const size_t sizes[] = {1 << 10, 64 << 10, 1 << 20, 16 << 20};
    long counts[4];
    char cmd[1024];
    int off = snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"$ZPK_BENCH_PY\"");
    for (int i = 0; i < 4; i++) {
        counts[i] = (long)((o->quick ? 32e6 : 128e6) / (double)sizes[i]);
        if (counts[i] > (o->quick ? 5000 : 20000))
            counts[i] = o->quick ? 5000 : 20000;
        if (counts[i] < 4)
            counts[i] = 4;
        off += snprintf(cmd + off, sizeof cmd - (size_t)off, " %zu:%ld", sizes[i], counts[i]);
    }
    setenv("ZPK_BENCH_PY", s_pyzmq_script, 1);
    FILE *p = popen(cmd, "r");
    double py[4] = {0};
    for (int i = 0; p != NULL && i < 4; i++) {
        size_t sz;
        double rate;
        if (fscanf(p, "%zu %lf", &sz, &rate) != 2)
            break;
        py[i] = rate;
    }
    if (p != NULL)
        pclose(p);
    printf("\n## Against the pyzmq recipe (copy=False), tcp, a burst of sends then the receives "
           "(messages/s)\n\n");
    printf("| size | pyzmq recipe | zpk | zpk / pyzmq |\n|---:|---:|---:|---:|\n");
    for (int i = 0; i < 4; i++) {
        double z = s_zpk_burst_rate(ctx, data, sizes[i], counts[i]);
        char kase[32];
        snprintf(kase, sizeof kase, "%zu", sizes[i]);
        bu_stat_t a = {py[i], py[i], py[i]}, b = {z, z, z};
        bu_json_row(o, "socket", "vs pyzmq tcp", kase, "pyzmq recipe", "msg/s", a);
        bu_json_row(o, "socket", "vs pyzmq tcp", kase, "zpk", "msg/s", b);
        printf("| %zu KiB | %.0f | %.0f | %.2fx |\n", sizes[i] >> 10, py[i], z,
               py[i] > 0 ? z / py[i] : 0.0);
        fflush(stdout);
    }
}

static double s_memcpy_mbps(size_t size)
{
    uint8_t *a = malloc(size), *b = malloc(size);
    memset(a, 1, size);
    memset(b, 2, size);
    int n = (int)(((size_t)1 << 30) / size) + 1;
    double t0 = bu_now();
    for (int i = 0; i < n; i++) {
        a[0] = (uint8_t)i;
        memcpy(b, a, size);
    }
    double t = bu_now() - t0;
    volatile uint8_t sink = b[size / 2];
    (void)sink;
    free(a);
    free(b);
    return (double)size * n / t / 1e6;
}

int main(int argc, char **argv)
{
    bu_opts_t o = bu_parse_args(argc, argv);
    static const size_t sizes_full[] = {1 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20,
                                        4 << 20, 16 << 20, 64 << 20};
    static const size_t sizes_quick[] = {1 << 10, 64 << 10, 1 << 20, 64 << 20};
    const size_t *sizes = o.quick ? sizes_quick : sizes_full;
    size_t nsizes = o.quick ? 4 : 8;
    const char *transports[] = {"inproc", "ipc", "tcp"};
    double budget = o.quick ? 16e6 : 256e6; /* bytes per burst */

    void *ctx = zmq_ctx_new();
    uint8_t *data = malloc(64 << 20);
    uint8_t *into = malloc(64 << 20);
    for (size_t i = 0; i < (64u << 20); i++)
        data[i] = (uint8_t)(i * 2654435761u >> 24);
    memset(into, 0, 64 << 20);
    bool packed_only = false; /* --packed-only: just the packed small objects */
    bool arrays_only = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--packed-only") == 0)
            packed_only = true;
        else if (strcmp(argv[i], "--arrays-only") == 0) /* just the arrays table */
            arrays_only = true;
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) /* repetitions (1..32) */
            o.reps = atoi(argv[++i]) < 1 ? 1 : atoi(argv[i]);
    }
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--pyzmq-only") == 0) { /* just the recipe comparison */
            s_vs_pyzmq(&o, ctx, data);
            free(data);
            free(into);
            zmq_ctx_term(ctx);
            return 0;
        }

    if (packed_only)
        goto packed;
    printf("## Arrays: zpk_send_array / zpk_recv_array beside raw libzmq (MB/s, pipelined)\n\n");
    printf("Medians over %d repetitions; the methods run interleaved, and the ratio is the median "
           "(range) of each repetition's zpk / faster raw.\n\n",
           o.reps > S_MAX_REPS ? S_MAX_REPS : o.reps);
    printf("The last two columns: raw libzmq sending zpk's header frame before the zero-copy "
           "data, and its ratio to the faster raw send:\nthe most any two-frame message can "
           "get.\n\n");
    printf("| transport | size | raw copy | raw zero-copy | zpk | zpk into | zpk / best raw | "
           "raw zero-copy + header frame | its ratio |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t ti = 0; ti < 3; ti++) {
        for (size_t si = 0; si < nsizes; si++) {
            size_t size = sizes[si];
            long count = (long)(budget / (double)size);
            if (count < 4)
                count = 4;
            if (count > 100000)
                count = 100000;
            /* the four methods, and raw zero-copy with a header frame (slot 4) */
            double mbps[5];
            run_t runs[5];
            for (int k = 0; k < 5; k++) {
                int m = k < 4 ? k : M_RAW_ZC_HDR;
                long cnt = count;
                /* inproc zero-copy costs the same at any size: enough messages to time */
                if (ti == 0 && m != M_RAW_COPY && m != M_ZPK_INTO && cnt < (o.quick ? 2000 : 20000))
                    cnt = o.quick ? 2000 : 20000;
                runs[k] = (run_t){ctx, transports[ti], m, size, cnt, NULL, into, 0};
            }
            double rate[S_MAX_REPS][8], v[S_MAX_REPS], ratio[S_MAX_REPS], ceil[S_MAX_REPS];
            int reps = s_interleave(&o, runs, 5, data, NULL, 0, rate);
            for (int k = 0; k < 5; k++) {
                int m = runs[k].method;
                for (int i = 0; i < reps; i++)
                    v[i] = rate[i][k] * (double)size / 1e6;
                bu_stat_t st = bu_stat(v, reps);
                mbps[k] = st.median;
                char group[32], kase[32];
                snprintf(group, sizeof group, "arrays %s", transports[ti]);
                snprintf(kase, sizeof kase, "%zu", size);
                bu_json_row(&o, "socket", group, kase, s_mname[m], "MB/s", st);
            }
            /* zpk against the faster raw send of the same repetition */
            for (int i = 0; i < reps; i++) {
                double b = rate[i][M_RAW_COPY] > rate[i][M_RAW_ZC] ? rate[i][M_RAW_COPY]
                                                                   : rate[i][M_RAW_ZC];
                ratio[i] = rate[i][M_ZPK] / b;
                ceil[i] = rate[i][4] / b;
            }
            bu_stat_t rs = bu_stat(ratio, reps), cs = bu_stat(ceil, reps);
            {
                char group[32], kase[32];
                snprintf(group, sizeof group, "arrays %s", transports[ti]);
                snprintf(kase, sizeof kase, "%zu", size);
                bu_json_row(&o, "socket", group, kase, "ratio zpk / best raw", "x", rs);
                bu_json_row(&o, "socket", group, kase, "ratio header frame / best raw", "x", cs);
            }
            char sz[32];
            if (size >= (1 << 20))
                snprintf(sz, sizeof sz, "%zu MiB", size >> 20);
            else
                snprintf(sz, sizeof sz, "%zu KiB", size >> 10);
            printf("| %s | %s | %.0f | %.0f | %.0f | %.0f | %.2fx (%.2f-%.2f) | %.0f | %.2fx |\n",
                   transports[ti], sz, mbps[0], mbps[1], mbps[2], mbps[3], rs.median, rs.min,
                   rs.max, mbps[4], cs.median);
            fflush(stdout);
        }
    }

    if (arrays_only)
        goto done;

packed:;
    /* packed small objects */
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_pack_fmt(&w, "{s:i s:s s:[dddd] s:s}", "id", 1, "name", "sensor-0042", "xyzw", 1.5, 2.5,
                 3.5, 4.5, "unit", "metres per second squared");
    size_t plen = zpk_writer_size(&w);
    uint8_t packed[256];
    memcpy(packed, zpk_writer_data(&w), plen);
    zpk_writer_free(&w);
    printf("\n## Packed %zu-byte objects: zpk_sendf + zpk_recv_packed beside raw zmq_send of "
           "pre-encoded bytes (messages/s)\n\n",
           plen);
    printf("Medians over %d repetitions, the methods interleaved; each ratio is the median of "
           "the repetitions' ratios to raw.\n\n",
           o.reps > S_MAX_REPS ? S_MAX_REPS : o.reps);
    printf("| transport | raw zmq_send + zmq_recv | zpk_send_packed + recv_packed | ratio | "
           "zpk_sendf + recv_packed | ratio | zpk_send_packed + recv_packed (ZPK_RECV_BYTES) | ratio |\n"
           "|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t ti = 0; ti < 3; ti++) {
        double rate[4], ratio[4];
        run_t runs[4];
        for (int m = M_PACKED_RAW; m <= M_PACKED_RECVBYTES; m++)
            runs[m - M_PACKED_RAW] =
                (run_t){ctx, transports[ti], m, plen, o.quick ? 30000 : 300000, NULL, NULL, 0};
        double rr[S_MAX_REPS][8], v[S_MAX_REPS];
        int reps = s_interleave(&o, runs, 4, data, packed, plen, rr);
        for (int k = 0; k < 4; k++) {
            for (int i = 0; i < reps; i++)
                v[i] = rr[i][k];
            bu_stat_t st = bu_stat(v, reps);
            rate[k] = st.median;
            bu_stat_t row = {st.median, st.median, st.median};
            bu_json_row(&o, "socket", "packed", transports[ti], s_mname[M_PACKED_RAW + k],
                        "msg/s", row);
            for (int i = 0; i < reps; i++) /* against raw in the same repetition */
                v[i] = rr[i][k] / rr[i][0];
            bu_stat_t rs = bu_stat(v, reps);
            ratio[k] = rs.median;
            if (k > 0) {
                char impl[64];
                snprintf(impl, sizeof impl, "ratio %s", s_mname[M_PACKED_RAW + k]);
                bu_json_row(&o, "socket", "packed", transports[ti], impl, "x", rs);
            }
        }
        printf("| %s | %.0f | %.0f | %.2fx | %.0f | %.2fx | %.0f | %.2fx |\n", transports[ti],
               rate[0], rate[1], ratio[1], rate[2], ratio[2], rate[3], ratio[3]);
        fflush(stdout);
    }
    if (packed_only)
        goto done;

    s_vs_pyzmq(&o, ctx, data);

    double mc = s_memcpy_mbps(64 << 20);
    printf("\nmemcpy of 64 MiB into warm memory: %.0f MB/s\n", mc);
    bu_stat_t st = {mc, mc, mc};
    bu_json_row(&o, "socket", "memcpy", "64 MiB", "memcpy", "MB/s", st);
done:
    free(data);
    free(into);
    zmq_ctx_term(ctx);
    return 0;
}
