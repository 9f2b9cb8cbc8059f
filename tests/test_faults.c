/*
 * Socket faults with real sockets (issue 8, item 3): a slow subscriber
 * past the high-water mark loses whole messages, never part of one; late
 * joiners and leavers; a publisher restarted mid-stream; garbage frames
 * and garbage bytes between good messages; context termination and
 * signals during a blocking receive; memory flat over 100,000 messages.
 *
 * Every receive has a timeout (ZMQ_RCVTIMEO); every endpoint is inproc,
 * ipc in a private temporary folder, or tcp on 127.0.0.1. Nothing is timed:
 * where a test must wait for something to happen it polls with a bound.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "harness.h"
#include "zmqpack.h"

#if defined(__SANITIZE_ADDRESS__)
#  define S_ASAN 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define S_ASAN 1
#  endif
#endif
#ifndef S_ASAN
#  define S_ASAN 0
#endif

#define S_TIMEOUT_MS 10000
#define S_TAIL_MS 500

static void *s_ctx;
static char s_tmpdir[256];
static int s_seq;

static int s_setup(void **state)
{
    (void)state;
    s_ctx = zmq_ctx_new();
    snprintf(s_tmpdir, sizeof s_tmpdir, "/tmp/zpk-faults-XXXXXX");
    assert_non_null(mkdtemp(s_tmpdir));
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    zmq_ctx_term(s_ctx);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void s_msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void s_opts(void *s, int rcvtimeo)
{
    int t = rcvtimeo, st = S_TIMEOUT_MS, linger = 0;
    assert_int_equal(zmq_setsockopt(s, ZMQ_RCVTIMEO, &t, sizeof t), 0);
    assert_int_equal(zmq_setsockopt(s, ZMQ_SNDTIMEO, &st, sizeof st), 0);
    assert_int_equal(zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger), 0);
}

/* Sockets of s_ctx are registered so that a failed test still closes them
 * (else zmq_ctx_term() in the group teardown would wait forever). */
#define S_MAX_SOCKS 64
static void *s_socks[S_MAX_SOCKS];

static void *s_socket(int type, int rcvtimeo)
{
    void *s = zmq_socket(s_ctx, type);
    assert_non_null(s);
    s_opts(s, rcvtimeo);
    for (size_t i = 0; i < S_MAX_SOCKS; i++) {
        if (s_socks[i] == NULL) {
            s_socks[i] = s;
            return s;
        }
    }
    fail_msg("more than %d sockets open", S_MAX_SOCKS);
    return NULL;
}

static void s_close(void *s)
{
    for (size_t i = 0; i < S_MAX_SOCKS; i++) {
        if (s_socks[i] == s)
            s_socks[i] = NULL;
    }
    zmq_close(s);
}

static int s_test_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < S_MAX_SOCKS; i++) {
        if (s_socks[i] != NULL) {
            zmq_close(s_socks[i]);
            s_socks[i] = NULL;
        }
    }
    return 0;
}

enum { T_INPROC, T_IPC, T_TCP };
static const char *s_tname[] = {"inproc", "ipc", "tcp"};

/* Binds @p s on a fresh endpoint of @p transport; the resolved one goes to @p ep. */
static void s_bind(void *s, int transport, char *ep, size_t cap)
{
    char want[512];
    s_seq++;
    switch (transport) {
    case T_INPROC: snprintf(want, sizeof want, "inproc://faults-%d", s_seq); break;
    case T_IPC: snprintf(want, sizeof want, "ipc://%s/f%d", s_tmpdir, s_seq); break;
    default: snprintf(want, sizeof want, "tcp://127.0.0.1:*"); break;
    }
    assert_int_equal(zmq_bind(s, want), 0);
    size_t len = cap;
    assert_int_equal(zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &len), 0);
}

static uint32_t s_fnv(const void *p, size_t n, uint32_t h)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

/* ---- numbered arrays --------------------------------------------------------- */

#define S_WARM 1000000u

static void s_send_seq(void *s, uint32_t seq)
{
    uint32_t v[32];
    for (size_t i = 0; i < 32; i++)
        v[i] = seq * 7u + (uint32_t)i;
    size_t n = 32;
    zpk_ndarray_t a;
    assert_int_equal(zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_UINT, 4), 1, &n, 'C', v), 0);
    zpk_send_opts_t o;
    zpk_send_opts_init(&o);
    o.topic = "t";
    o.topic_len = 1;
    assert_int_equal(zpk_send_array(s, &a, &o, NULL), 0);
}

/* Receives a numbered array (0 and *seq, checked element by element) or returns the error. */
static int s_recv_seq(void *s, int flags, int64_t *seq)
{
    zpk_ndarray_t a;
    zpk_recv_opts_t o;
    zpk_recv_opts_init(&o);
    o.flags = flags;
    int rc = zpk_recv_array(s, &o, NULL, &a, NULL);
    if (rc != 0)
        return rc;
    assert_int_equal(a.nbytes, 32 * 4);
    const uint32_t *v = a.data;
    uint32_t base = v[0];
    assert_int_equal(base % 7u, 0);
    for (size_t i = 0; i < 32; i++)
        assert_int_equal(v[i], base + i);
    *seq = base / 7u;
    zpk_ndarray_free(&a);
    return 0;
}

/* Sends warm-up messages from @p pub until @p sub has one (subscription and
 * connection are then in place); drops everything queued after it. */
static void s_warm(void *pub, void *sub)
{
    int64_t seq;
    int rc = -EAGAIN;
    s_opts(sub, 10);
    for (int i = 0; i < S_TIMEOUT_MS / 10 && rc == -EAGAIN; i++) {
        s_send_seq(pub, S_WARM);
        rc = s_recv_seq(sub, 0, &seq);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(seq, S_WARM);
    while (s_recv_seq(sub, 0, &seq) == 0)
        assert_int_equal(seq, S_WARM);
    s_opts(sub, S_TIMEOUT_MS);
}

/* ---- mixed messages with checksums -------------------------------------------- */

/*
 * A mixed message {"seq": i, "n": count, "sum": checksum, "a": <u32[count]>,
 * "b": <f64[3]>}: a receiver checks the checksum over both arrays, so any
 * partial, mixed-up or corrupted message would be caught.
 */
static uint32_t s_mixed_sum(const void *a, size_t an, const void *b, size_t bn)
{
    return s_fnv(b, bn, s_fnv(a, an, 2166136261u));
}

static void s_send_mixed(void *s, uint32_t seq, size_t count, int flags)
{
    uint32_t *va = malloc(count * 4 + 4);
    assert_non_null(va);
    for (size_t i = 0; i < count; i++)
        va[i] = seq ^ (uint32_t)(i * 2654435761u);
    double vb[3] = {seq * 0.5, -1.0 * (double)count, 3.25};
    zpk_ndarray_t arrs[2];
    size_t three = 3;
    assert_int_equal(zpk_ndarray_init(&arrs[0], zpk_dtype_make(ZPK_KIND_UINT, 4), 1, &count, 'C', va), 0);
    assert_int_equal(zpk_ndarray_init(&arrs[1], zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, &three, 'C', vb), 0);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_map(&w, 5);
    zpk_write_cstr(&w, "seq");
    zpk_write_uint(&w, seq);
    zpk_write_cstr(&w, "n");
    zpk_write_uint(&w, count);
    zpk_write_cstr(&w, "sum");
    zpk_write_uint(&w, s_mixed_sum(va, count * 4, vb, sizeof vb));
    zpk_write_cstr(&w, "a");
    zpk_write_ndarray_ref(&w, 0);
    zpk_write_cstr(&w, "b");
    zpk_write_ndarray_ref(&w, 1);
    zpk_send_opts_t o;
    zpk_send_opts_init(&o);
    o.topic = "m";
    o.topic_len = 1;
    o.flags = flags;
    assert_int_equal(zpk_send_mixed(s, &w, arrs, 2, &o, NULL), 0);
    zpk_writer_free(&w);
    free(va);
}

/* Checks a received mixed message completely; returns its seq. */
static uint32_t s_check_mixed(const zpk_mixed_t *m)
{
    const zpk_node_t *root = zpk_doc_root(m->doc);
    uint64_t seq, n, sum;
    assert_int_equal(zpk_node_get_uint(zpk_node_map_get(root, "seq"), &seq), 0);
    assert_int_equal(zpk_node_get_uint(zpk_node_map_get(root, "n"), &n), 0);
    assert_int_equal(zpk_node_get_uint(zpk_node_map_get(root, "sum"), &sum), 0);
    assert_int_equal(m->n_ndarrays, 2);
    const zpk_ndarray_t *a = zpk_mixed_ndarray(m, zpk_node_map_get(root, "a"));
    const zpk_ndarray_t *b = zpk_mixed_ndarray(m, zpk_node_map_get(root, "b"));
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->nbytes, n * 4);
    assert_int_equal(b->nbytes, 24);
    assert_int_equal(s_mixed_sum(a->data, a->nbytes, b->data, b->nbytes), sum);
    const uint32_t *va = a->data;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(va[i], (uint32_t)seq ^ (uint32_t)(i * 2654435761u));
    return (uint32_t)seq;
}

/* ---- the slow subscriber ----------------------------------------------------- */

/*
 * A subscriber that reads nothing while the publisher sends a burst far
 * beyond the high-water marks: libzmq drops messages, and only whole ones.
 * Every message that arrives is complete and verifies, in order, and some
 * were lost.
 */
static void test_slow_subscriber_hwm(void **state)
{
    (void)state;
    for (int t = T_INPROC; t <= T_TCP; t++) {
        enum { N = 600, COUNT = 4096, HWM = 5 };
        void *pub = s_socket(ZMQ_PUB, S_TIMEOUT_MS);
        void *sub = s_socket(ZMQ_SUB, S_TIMEOUT_MS);
        int hwm = HWM, buf = 64 * 1024;
        assert_int_equal(zmq_setsockopt(pub, ZMQ_SNDHWM, &hwm, sizeof hwm), 0);
        assert_int_equal(zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, sizeof hwm), 0);
        assert_int_equal(zmq_setsockopt(pub, ZMQ_SNDBUF, &buf, sizeof buf), 0);
        assert_int_equal(zmq_setsockopt(sub, ZMQ_RCVBUF, &buf, sizeof buf), 0);
        assert_int_equal(zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "t", 1), 0);
        assert_int_equal(zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "m", 1), 0);
        char ep[512];
        s_bind(pub, t, ep, sizeof ep);
        assert_int_equal(zmq_connect(sub, ep), 0);
        s_warm(pub, sub);

        /* The burst: 600 messages of 16 KiB, sub not reading. A PUB never blocks. */
        for (uint32_t i = 0; i < N; i++)
            s_send_mixed(pub, i, COUNT, 0);

        s_opts(sub, t == T_INPROC ? 0 : S_TAIL_MS);
        size_t got = 0;
        int64_t last = -1;
        for (;;) {
            zpk_mixed_t m;
            zpk_error_t err;
            zpk_error_clear(&err);
            zpk_recv_opts_t ro;
            zpk_recv_opts_init(&ro);
            ro.flags = t == T_INPROC ? ZPK_DONTWAIT : 0;
            int rc = zpk_recv_mixed(sub, &ro, NULL, &m, &err);
            if (rc == -EAGAIN)
                break;
            if (rc != 0)
                fail_msg("%s: message %zu: %s (%s)", s_tname[t], got, zpk_err_name(rc), err.text);
            uint32_t seq = s_check_mixed(&m);
            assert_true((int64_t)seq > last); /* in order, no repeats */
            last = seq;
            got++;
            zpk_mixed_free(&m);
        }
        print_message("%s: %zu of %d messages past HWM %d arrived, all whole\n", s_tname[t], got,
                      N, HWM);
        assert_true(got >= 1);
        assert_true(got < N);
        if (t == T_INPROC) /* an inproc pipe holds at most SNDHWM + RCVHWM messages */
            assert_true(got <= 2 * HWM);

        /* The subscriber carries on: later messages arrive whole (after any
         * of the burst that was still on its way). The publisher may go on
         * dropping a little longer: it learns that the pipe has room again
         * only when the reader has taken a low-water mark's worth. */
        s_opts(sub, 10);
        bool again = false;
        for (uint32_t k = 0; k < S_TIMEOUT_MS / 10 && !again; k++) {
            s_send_mixed(pub, N + k, 10, 0);
            zpk_mixed_t m;
            int rc;
            while ((rc = zpk_recv_mixed(sub, NULL, NULL, &m, NULL)) == 0) {
                uint32_t seq = s_check_mixed(&m);
                zpk_mixed_free(&m);
                assert_true((int64_t)seq > last);
                last = seq;
                again = again || seq >= N;
            }
            assert_int_equal(rc, -EAGAIN);
        }
        assert_true(again);
        s_close(sub);
        s_close(pub);
    }
}

/* ---- late joiner, leaver ------------------------------------------------------ */

static void test_join_late_and_leave(void **state)
{
    (void)state;
    for (int t = T_IPC; t <= T_TCP; t++) {
        void *pub = s_socket(ZMQ_PUB, S_TIMEOUT_MS);
        void *a = s_socket(ZMQ_SUB, S_TIMEOUT_MS), *b = s_socket(ZMQ_SUB, S_TIMEOUT_MS);
        assert_int_equal(zmq_setsockopt(a, ZMQ_SUBSCRIBE, "t", 1), 0);
        assert_int_equal(zmq_setsockopt(b, ZMQ_SUBSCRIBE, "t", 1), 0);
        char ep[512];
        s_bind(pub, t, ep, sizeof ep);
        assert_int_equal(zmq_connect(a, ep), 0);
        s_warm(pub, a);

        int64_t seq;
        uint32_t i = 0;
        for (; i < 100; i++) {
            s_send_seq(pub, i);
            assert_int_equal(s_recv_seq(a, 0, &seq), 0);
            assert_int_equal(seq, i);
        }
        /* b joins late: it gets a contiguous tail of the stream, a none of it lost. */
        assert_int_equal(zmq_connect(b, ep), 0);
        int64_t first = -1;
        for (int k = 0; k < S_TIMEOUT_MS / 5 && first < 0; k++, i++) {
            s_send_seq(pub, i);
            assert_int_equal(s_recv_seq(a, 0, &seq), 0);
            assert_int_equal(seq, i);
            zmq_pollitem_t it = {b, 0, ZMQ_POLLIN, 0};
            if (zmq_poll(&it, 1, 5) == 1) {
                assert_int_equal(s_recv_seq(b, 0, &first), 0);
                assert_true(first >= 100 && first <= i);
            }
        }
        assert_true(first >= 100);
        for (int64_t want = first + 1; want < i; want++) { /* what b has queued */
            assert_int_equal(s_recv_seq(b, 0, &seq), 0);
            assert_int_equal(seq, want);
        }
        uint32_t stop = i + 200;
        for (; i < stop; i++) {
            s_send_seq(pub, i);
            assert_int_equal(s_recv_seq(a, 0, &seq), 0);
            assert_int_equal(seq, i);
            assert_int_equal(s_recv_seq(b, 0, &seq), 0);
            assert_int_equal(seq, i);
        }
        /* a leaves mid-stream: the publisher and b carry on. */
        s_close(a);
        for (stop = i + 200; i < stop; i++) {
            s_send_seq(pub, i);
            assert_int_equal(s_recv_seq(b, 0, &seq), 0);
            assert_int_equal(seq, i);
        }
        print_message("%s: late joiner's first message was %lld\n", s_tname[t], (long long)first);
        s_close(b);
        s_close(pub);
    }
}

/* ---- publisher restart --------------------------------------------------------- */

/*
 * The subscriber is the stable side and binds; each publisher connects to
 * it. Restarting the publisher is a new socket connecting again (as a new
 * process would), so no port is ever closed and bound again: a port freed
 * for a moment could be taken by another process.
 */
static void test_publisher_restart(void **state)
{
    (void)state;
    for (int t = T_IPC; t <= T_TCP; t++) {
        void *pub = s_socket(ZMQ_PUB, S_TIMEOUT_MS);
        void *sub = s_socket(ZMQ_SUB, S_TIMEOUT_MS);
        assert_int_equal(zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "t", 1), 0);
        assert_int_equal(zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "m", 1), 0);
        char ep[512];
        s_bind(sub, t, ep, sizeof ep);
        assert_int_equal(zmq_connect(pub, ep), 0);
        s_warm(pub, sub);
        int64_t seq;
        uint32_t i = 0;
        for (int round = 0; round < 3; round++) {
            uint32_t stop = i + 100;
            for (; i < stop; i++) {
                s_send_seq(pub, i);
                if (i % 10 == 9) /* a mixed message now and then */
                    s_send_mixed(pub, i, 1000, 0);
                assert_int_equal(s_recv_seq(sub, 0, &seq), 0);
                assert_int_equal(seq, i);
                if (i % 10 == 9) {
                    zpk_mixed_t m;
                    assert_int_equal(zpk_recv_mixed(sub, NULL, NULL, &m, NULL), 0);
                    assert_int_equal(s_check_mixed(&m), i);
                    zpk_mixed_free(&m);
                }
            }
            /* Restart: the publisher goes away right after a burst the
             * subscriber has not read yet, and a new one connects. */
            for (uint32_t k = 0; k < 20; k++)
                s_send_mixed(pub, S_WARM + k, 2000, 0);
            s_close(pub);
            pub = s_socket(ZMQ_PUB, S_TIMEOUT_MS);
            assert_int_equal(zmq_connect(pub, ep), 0);
            int rc;
            /* Whatever of the burst reached the subscriber arrives whole, in
             * order; then the new publisher's messages once it has connected
             * and learnt the subscriptions. */
            s_opts(sub, 10);
            bool joined = false;
            int64_t last = -1;
            for (int k = 0; k < S_TIMEOUT_MS / 10 && !joined; k++) {
                s_send_mixed(pub, 2 * S_WARM, 10, 0);
                for (;;) {
                    zpk_mixed_t m;
                    rc = zpk_recv_mixed(sub, NULL, NULL, &m, NULL);
                    if (rc == -EAGAIN)
                        break;
                    assert_int_equal(rc, 0);
                    uint32_t s2 = s_check_mixed(&m);
                    zpk_mixed_free(&m);
                    if (s2 == 2 * S_WARM) {
                        joined = true;
                        continue; /* drain the other warm-ups */
                    }
                    assert_false(joined);
                    assert_true(s2 >= S_WARM && s2 < S_WARM + 20 && (int64_t)s2 > last);
                    last = s2;
                }
            }
            assert_true(joined);
            s_opts(sub, S_TIMEOUT_MS);
        }
        s_close(sub);
        s_close(pub);
    }
}

/* ---- garbage between good messages ----------------------------------------------- */

/*
 * Garbage: foreign frames, and real messages taken apart. Each is sent
 * between two good messages; the receive reports its exact code and the
 * good message after it arrives intact.
 */
#define S_GMAX 4

static const uint8_t s_zeros[40000];

typedef struct s_garbage {
    char name[48];
    size_t nframes;
    const void *frames[S_GMAX];
    size_t lens[S_GMAX];
    int array_code;  /* from zpk_recv_array() */
    int packed_code; /* from zpk_recv_packed() */
} s_garbage_t;

static void s_send_garbage(void *s, const s_garbage_t *g)
{
    for (size_t f = 0; f < g->nframes; f++)
        assert_int_equal(zmq_send(s, g->frames[f], g->lens[f], f + 1 < g->nframes ? ZMQ_SNDMORE : 0),
                         (int)g->lens[f]);
}

/* The frames of a real message: sends it on an inproc pair and keeps the bytes. */
typedef struct s_captured {
    size_t n;
    uint8_t *f[S_GMAX];
    size_t len[S_GMAX];
} s_captured_t;

static void s_capture(s_captured_t *c, int is_array)
{
    void *pull = s_socket(ZMQ_PULL, S_TIMEOUT_MS), *push = s_socket(ZMQ_PUSH, S_TIMEOUT_MS);
    char ep[512];
    s_bind(pull, T_INPROC, ep, sizeof ep);
    assert_int_equal(zmq_connect(push, ep), 0);
    if (is_array) { /* 32 KiB: over the single-frame threshold, so three frames */
        size_t n = 8192;
        uint32_t *v = calloc(n, 4);
        zpk_ndarray_t a;
        assert_int_equal(zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_UINT, 4), 1, &n, 'C', v), 0);
        zpk_send_opts_t o;
        zpk_send_opts_init(&o);
        o.topic = "t";
        o.topic_len = 1;
        assert_int_equal(zpk_send_array(push, &a, &o, NULL), 0);
        free(v);
    }
    else
        assert_int_equal(zpk_sendf(push, 0, "{s:i}", "id", 42), 0);
    memset(c, 0, sizeof *c);
    int more = 1;
    while (more) {
        assert_true(c->n < S_GMAX);
        zmq_msg_t m;
        zmq_msg_init(&m);
        assert_true(zmq_msg_recv(&m, pull, 0) >= 0);
        c->len[c->n] = zmq_msg_size(&m);
        c->f[c->n] = malloc(c->len[c->n] + 1);
        memcpy(c->f[c->n], zmq_msg_data(&m), c->len[c->n]);
        c->n++;
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
    s_close(push);
    s_close(pull);
}

static void s_captured_free(s_captured_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->f[i]);
}

static size_t s_add(s_garbage_t *g, size_t n, const char *name, int acode, int pcode, size_t nf, ...)
{
    va_list ap;
    va_start(ap, nf);
    memset(&g[n], 0, sizeof g[n]);
    snprintf(g[n].name, sizeof g[n].name, "%s", name);
    g[n].nframes = nf;
    for (size_t i = 0; i < nf; i++) {
        g[n].frames[i] = va_arg(ap, const void *);
        g[n].lens[i] = va_arg(ap, size_t);
    }
    va_end(ap);
    g[n].array_code = acode;
    g[n].packed_code = pcode;
    return n + 1;
}

static void test_garbage_frames(void **state)
{
    (void)state;
    enum { ROUNDS = 20 };
    s_captured_t arr, obj;
    s_capture(&arr, 1); /* topic, header, payload */
    s_capture(&obj, 0); /* header and payload in one frame (small: single-frame mode) */
    assert_int_equal(arr.n, 3);
    uint8_t *hdr = arr.f[1];
    size_t hl = arr.len[1];
    assert_true(hl > 6 && memcmp(hdr + 1, "\xa3zpk\x01", 5) == 0);
    uint8_t *v2 = malloc(hl);
    memcpy(v2, hdr, hl);
    v2[5] = 2; /* "zpk": 2 */
    uint8_t *v0 = malloc(hl);
    memcpy(v0, hdr, hl);
    v0[5] = 0; /* "zpk": 0 */
    static const char obj_hdr[] = "\x83\xa3zpk\x01\xa4kind\xa3obj\xa6" "frames\x01";
    static const char bad_kind[] = "\x83\xa3zpk\x01\xa4kind\xa3xyz\xa6" "frames\x01";

    s_garbage_t g[24];
    size_t ng = 0;
    ng = s_add(g, ng, "text", ZPK_EFOREIGN, ZPK_EFOREIGN, 1, "hello", (size_t)5);
    ng = s_add(g, ng, "empty frame", ZPK_EFOREIGN, ZPK_EFOREIGN, 1, "", (size_t)0);
    ng = s_add(g, ng, "three text frames", ZPK_EFOREIGN, ZPK_EFOREIGN, 3, "a", (size_t)1, "b",
               (size_t)1, "c", (size_t)1);
    ng = s_add(g, ng, "topic only", ZPK_EFOREIGN, ZPK_EFOREIGN, 1, arr.f[0], arr.len[0]);
    /* PROTOCOL.md rule 2: frame 1 is a header, so frame 0 is a topic, and
     * the header's payload frame is missing. */
    ng = s_add(g, ng, "payload before header", ZPK_EFRAME, ZPK_EFRAME, 2, arr.f[2], arr.len[2],
               hdr, hl);
    ng = s_add(g, ng, "version 2", ZPK_EVERSION, ZPK_EVERSION, 3, arr.f[0], arr.len[0], v2, hl,
               arr.f[2], arr.len[2]);
    ng = s_add(g, ng, "version 2 alone", ZPK_EVERSION, ZPK_EVERSION, 1, v2, hl);
    ng = s_add(g, ng, "version 0", ZPK_EFORMAT, ZPK_EFORMAT, 2, v0, hl, arr.f[2], arr.len[2]);
    ng = s_add(g, ng, "array payload missing", ZPK_EFRAME, ZPK_EFRAME, 2, arr.f[0], arr.len[0],
               hdr, hl);
    ng = s_add(g, ng, "array payload extra", ZPK_EFRAME, ZPK_EFRAME, 4, arr.f[0], arr.len[0], hdr,
               hl, arr.f[2], arr.len[2], arr.f[2], arr.len[2]);
    ng = s_add(g, ng, "array payload short", ZPK_ESHAPE, ZPK_ESHAPE, 3, arr.f[0], arr.len[0], hdr,
               hl, arr.f[2], arr.len[2] - 1);
    ng = s_add(g, ng, "array payload long", ZPK_ESHAPE, ZPK_ESHAPE, 3, arr.f[0], arr.len[0], hdr,
               hl, s_zeros, arr.len[2] + 1);
    /* A header cut short is reported by the MessagePack layer's code
     * (socket.h lists only ZPK_EFORMAT for a bad header: see the report). */
    ng = s_add(g, ng, "array header truncated", ZPK_EOUTOFDATA, ZPK_EOUTOFDATA, 2, hdr, hl - 3,
               arr.f[2], arr.len[2]);
    ng = s_add(g, ng, "unknown kind", ZPK_EFORMAT, ZPK_EFORMAT, 2, bad_kind, sizeof bad_kind - 1,
               "\xc0", (size_t)1);
    ng = s_add(g, ng, "object payload missing", ZPK_EFRAME, ZPK_EFRAME, 1, obj_hdr,
               sizeof obj_hdr - 1);
    ng = s_add(g, ng, "object, reserved byte", ZPK_ETYPE, ZPK_EFORMAT, 2, obj_hdr,
               sizeof obj_hdr - 1, "\xc1", (size_t)1);
    ng = s_add(g, ng, "object, two objects", ZPK_ETYPE, ZPK_EEXTRADATA, 2, obj_hdr,
               sizeof obj_hdr - 1, "\xc0\xc0", (size_t)2);
    ng = s_add(g, ng, "object, truncated", ZPK_ETYPE, ZPK_EOUTOFDATA, 2, obj_hdr,
               sizeof obj_hdr - 1, "\x92\xc0", (size_t)2);
    ng = s_add(g, ng, "object (good)", ZPK_ETYPE, 0, obj.n, obj.f[0], obj.len[0], obj.f[1],
               obj.len[1]);
    ng = s_add(g, ng, "array (good)", 0, ZPK_ETYPE, 3, arr.f[0], arr.len[0], hdr, hl, arr.f[2],
               arr.len[2]);

    for (int t = T_INPROC; t <= T_TCP; t++) {
        void *pull = s_socket(ZMQ_PULL, S_TIMEOUT_MS), *push = s_socket(ZMQ_PUSH, S_TIMEOUT_MS);
        char ep[512];
        s_bind(pull, t, ep, sizeof ep);
        assert_int_equal(zmq_connect(push, ep), 0);
        harness_alloc_install();
        uint32_t seq = 0;
        for (int r = 0; r < ROUNDS; r++) {
            for (size_t k = 0; k < ng; k++, seq++) {
                s_send_garbage(push, &g[k]);
                s_send_seq(push, seq);
                zpk_error_t err;
                zpk_error_clear(&err);
                zpk_ndarray_t a;
                int rc = zpk_recv_array(pull, NULL, NULL, &a, &err);
                if (rc != g[k].array_code)
                    fail_msg("%s, %s: zpk_recv_array() gave %s (%s), want %s", s_tname[t],
                             g[k].name, zpk_err_name(rc), err.text,
                             zpk_err_name(g[k].array_code));
                if (rc == 0)
                    zpk_ndarray_free(&a);
                else
                    assert_int_equal(err.code, rc);
                int64_t got = -1;
                assert_int_equal(s_recv_seq(pull, 0, &got), 0);
                assert_int_equal(got, seq);
            }
        }
        /* The same through zpk_recv_packed(): garbage, then a good object. */
        for (size_t k = 0; k < ng; k++) {
            s_send_garbage(push, &g[k]);
            assert_int_equal(zpk_sendf(push, 0, "{s:i}", "id", (int)k), 0);
            zpk_doc_t *doc = NULL;
            int rc = zpk_recv_packed(pull, NULL, NULL, &doc, NULL);
            if (rc != g[k].packed_code)
                fail_msg("%s, %s: zpk_recv_packed() gave %s, want %s", s_tname[t], g[k].name,
                         zpk_err_name(rc), zpk_err_name(g[k].packed_code));
            if (rc == 0)
                zpk_doc_destroy(&doc);
            assert_null(doc);
            assert_int_equal(zpk_recv_packed(pull, NULL, NULL, &doc, NULL), 0);
            int id = -1;
            assert_int_equal(zpk_unpack_fmt(zpk_doc_root(doc), "{s:i}", "id", &id), 0);
            assert_int_equal(id, (int)k);
            zpk_doc_destroy(&doc);
        }
        harness_alloc_stats_t st = harness_alloc_stats();
        assert_int_equal(st.live_bytes, 0);
        harness_alloc_uninstall();
        s_close(push);
        s_close(pull);
    }
    free(v2);
    free(v0);
    s_captured_free(&arr);
    s_captured_free(&obj);
}

/* A peer that writes garbage bytes to the tcp port (not ZMTP at all): libzmq
 * drops that connection, and every good message from the real peer arrives. */
static void test_garbage_bytes_tcp(void **state)
{
    (void)state;
    void *pull = s_socket(ZMQ_PULL, S_TIMEOUT_MS), *push = s_socket(ZMQ_PUSH, S_TIMEOUT_MS);
    char ep[512];
    s_bind(pull, T_TCP, ep, sizeof ep);
    const char *colon = strrchr(ep, ':');
    assert_non_null(colon);
    int port = atoi(colon + 1);

    int fds[4];
    for (int k = 0; k < 4; k++) {
        fds[k] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fds[k] >= 0);
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fds[k], (struct sockaddr *)&sa, sizeof sa), 0);
    }
    /* An HTTP request, random bytes, a ZMTP signature then nonsense, and a
     * connection that says nothing at all. */
    const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_true(send(fds[0], http, sizeof http - 1, MSG_NOSIGNAL) > 0);
    uint8_t junk[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (uint8_t)(x >> 24);
    }
    assert_true(send(fds[1], junk, sizeof junk, MSG_NOSIGNAL) > 0);
    const uint8_t zmtp[] = {0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 0, 'X', 'X', 'X', 'X'};
    assert_true(send(fds[2], zmtp, sizeof zmtp, MSG_NOSIGNAL) > 0);
    assert_true(send(fds[2], junk, 64, MSG_NOSIGNAL) > 0);

    assert_int_equal(zmq_connect(push, ep), 0);
    for (uint32_t i = 0; i < 100; i++) {
        s_send_seq(push, i);
        if (i == 50) /* more garbage mid-stream, on a connection still open */
            send(fds[3], junk, sizeof junk, MSG_NOSIGNAL);
    }
    /* Bytes that happen to parse as ZMTP 1.0 frames (a first byte other
     * than 0xff) are taken as a legacy peer's messages by libzmq: they come
     * out as foreign or malformed zmqpack messages, never as good ones,
     * and never split or hold up a good one. */
    size_t bad = 0;
    for (uint32_t i = 0; i < 100;) {
        int64_t seq;
        int rc = s_recv_seq(pull, 0, &seq);
        if (rc == -EAGAIN)
            fail_msg("message %u did not arrive", i);
        if (rc != 0) {
            assert_true(rc <= ZPK_EOUTOFDATA); /* a ZPK_E* code, not a socket error */
            bad++;
            continue;
        }
        assert_int_equal(seq, i);
        i++;
    }
    print_message("100 good messages arrived in order; %zu garbage messages refused\n", bad);
    for (int k = 0; k < 4; k++)
        close(fds[k]);
    s_close(push);
    s_close(pull);
}

/* ---- ETERM and EINTR ----------------------------------------------------------- */

typedef struct s_blocked {
    void *ctx;
    int kind; /* receive: 0 array, 1 packed, 2 mixed; 3: a send that blocks */
    int rcvtimeo;
    atomic_int started;
    atomic_int done;
    int rc;
} s_blocked_t;

static void *s_blocked_recv(void *arg)
{
    s_blocked_t *b = arg;
    /* A SUB without connections never receives; a PUSH without a peer blocks on send. */
    void *sub = zmq_socket(b->ctx, b->kind == 3 ? ZMQ_PUSH : ZMQ_SUB);
    int linger = 0;
    zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sub, ZMQ_RCVTIMEO, &b->rcvtimeo, sizeof b->rcvtimeo);
    zmq_setsockopt(sub, ZMQ_SNDTIMEO, &b->rcvtimeo, sizeof b->rcvtimeo);
    if (b->kind != 3)
        zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    atomic_store(&b->started, 1);
    switch (b->kind) {
    case 3:
        b->rc = zpk_sendf(sub, 0, "{s:i}", "id", 1);
        break;
    case 0: {
        zpk_ndarray_t a;
        b->rc = zpk_recv_array(sub, NULL, NULL, &a, NULL);
        if (b->rc == 0)
            zpk_ndarray_free(&a);
        break;
    }
    case 1: {
        zpk_doc_t *d = NULL;
        b->rc = zpk_recv_packed(sub, NULL, NULL, &d, NULL);
        zpk_doc_destroy(&d);
        break;
    }
    default: {
        zpk_mixed_t m;
        b->rc = zpk_recv_mixed(sub, NULL, NULL, &m, NULL);
        if (b->rc == 0)
            zpk_mixed_free(&m);
        break;
    }
    }
    atomic_store(&b->done, 1);
    zmq_close(sub);
    return NULL;
}

static void s_wait_started(s_blocked_t *b)
{
    for (int k = 0; k < S_TIMEOUT_MS && !atomic_load(&b->started); k++)
        s_msleep(1);
    assert_true(atomic_load(&b->started));
    s_msleep(20); /* let it reach its blocking receive (not needed for correctness) */
}

static void test_eterm_while_blocked(void **state)
{
    (void)state;
    harness_alloc_install();
    for (int kind = 0; kind < 4; kind++) {
        s_blocked_t b = {.ctx = zmq_ctx_new(), .kind = kind, .rcvtimeo = 30000};
        atomic_init(&b.started, 0);
        atomic_init(&b.done, 0);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, s_blocked_recv, &b), 0);
        s_wait_started(&b);
        /* zmq_ctx_term() wakes the blocked receive with ETERM and returns
         * once the thread has closed its socket; the receive timeout is 30 s,
         * so a -EAGAIN here would mean termination did not wake it. */
        assert_int_equal(zmq_ctx_term(b.ctx), 0);
        assert_int_equal(pthread_join(th, NULL), 0);
        assert_true(atomic_load(&b.done));
        assert_int_equal(b.rc, -ETERM);
        assert_string_equal(zpk_err_name(b.rc), "ETERM");
    }
    harness_alloc_stats_t st = harness_alloc_stats();
    assert_int_equal(st.live_bytes, 0);
    harness_alloc_uninstall();

    /* zmq_ctx_shutdown() too, with the socket closed afterwards. */
    s_blocked_t b = {.ctx = zmq_ctx_new(), .kind = 0, .rcvtimeo = 30000};
    atomic_init(&b.started, 0);
    atomic_init(&b.done, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_blocked_recv, &b), 0);
    s_wait_started(&b);
    assert_int_equal(zmq_ctx_shutdown(b.ctx), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(b.rc, -ETERM);
    assert_int_equal(zmq_ctx_term(b.ctx), 0);
}

static void s_on_signal(int sig)
{
    (void)sig;
}

static void test_eintr(void **state)
{
    (void)state;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART (libzmq's poll is never restarted anyway) */
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
    harness_alloc_install();
    for (int kind = 0; kind < 4; kind++) {
        s_blocked_t b = {.ctx = s_ctx, .kind = kind, .rcvtimeo = 30000};
        atomic_init(&b.started, 0);
        atomic_init(&b.done, 0);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, s_blocked_recv, &b), 0);
        s_wait_started(&b);
        /* Signal until the receive returns: a signal that lands before the
         * thread blocks is simply followed by another. */
        for (int k = 0; k < 3000 && !atomic_load(&b.done); k++) {
            pthread_kill(th, SIGUSR1);
            s_msleep(2);
        }
        assert_int_equal(pthread_join(th, NULL), 0);
        assert_int_equal(b.rc, -EINTR);
    }
    harness_alloc_stats_t st = harness_alloc_stats();
    assert_int_equal(st.live_bytes, 0);
    harness_alloc_uninstall();
    assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
}

/*
 * A signal interrupts a blocked receive (-EINTR, nothing taken), and the
 * message sent after it arrives whole on the next receive. A helper thread
 * signals the receiving thread until the receive has come back with -EINTR,
 * and only then sends the message: each round proves that EINTR really came
 * back during the receive (a round without it fails the test).
 */
typedef struct s_interrupter {
    pthread_t target;
    void *push;
    atomic_uint eintr_seen;  /* rounds whose receive returned -EINTR */
    atomic_int stop;
    unsigned rounds;
} s_interrupter_t;

static void *s_interrupt(void *arg)
{
    s_interrupter_t *x = arg;
    for (unsigned i = 0; i < x->rounds && !atomic_load(&x->stop); i++) {
        for (int k = 0; k < S_TIMEOUT_MS && atomic_load(&x->eintr_seen) <= i; k++) {
            pthread_kill(x->target, SIGUSR1);
            s_msleep(1);
        }
        s_send_mixed(x->push, i, 300, 0); /* sent only once the receive was interrupted */
    }
    return NULL;
}

static void test_eintr_then_good(void **state)
{
    (void)state;
    enum { ROUNDS = 20 };
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
    void *pull = s_socket(ZMQ_PULL, S_TIMEOUT_MS), *push = s_socket(ZMQ_PUSH, S_TIMEOUT_MS);
    char ep[512];
    s_bind(pull, T_TCP, ep, sizeof ep);
    assert_int_equal(zmq_connect(push, ep), 0);
    s_interrupter_t x = {.target = pthread_self(), .push = push, .rounds = ROUNDS};
    atomic_init(&x.eintr_seen, 0);
    atomic_init(&x.stop, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_interrupt, &x), 0);
    for (uint32_t i = 0; i < ROUNDS; i++) {
        zpk_mixed_t m;
        int rc;
        bool interrupted = false;
        while ((rc = zpk_recv_mixed(pull, NULL, NULL, &m, NULL)) == -EINTR) {
            if (!interrupted)
                atomic_fetch_add(&x.eintr_seen, 1);
            interrupted = true;
        }
        if (rc != 0)
            atomic_store(&x.stop, 1);
        assert_int_equal(rc, 0);
        assert_true(interrupted); /* the message is sent only after an EINTR */
        assert_int_equal(s_check_mixed(&m), i);
        zpk_mixed_free(&m);
    }
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(atomic_load(&x.eintr_seen), ROUNDS);
    s_close(push);
    s_close(pull);
    assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
}

/*
 * A message of more frames than a receive keeps (ZPK_MAX_FRAMES) is
 * refused with ZPK_EFRAME and taken off the socket to its last frame: the
 * good message sent after it is received intact (without the drain it
 * would start on frame 65,537 and be refused as foreign).
 */
static void test_too_many_frames_drained(void **state)
{
    (void)state;
    enum { NFRAMES = ZPK_MAX_FRAMES + 10 };
    for (int t = T_INPROC; t <= T_TCP; t += T_TCP - T_INPROC) {
        void *pull = s_socket(ZMQ_PULL, S_TIMEOUT_MS), *push = s_socket(ZMQ_PUSH, S_TIMEOUT_MS);
        int hwm = 0;
        assert_int_equal(zmq_setsockopt(push, ZMQ_SNDHWM, &hwm, sizeof hwm), 0);
        assert_int_equal(zmq_setsockopt(pull, ZMQ_RCVHWM, &hwm, sizeof hwm), 0);
        char ep[512];
        s_bind(pull, t, ep, sizeof ep);
        assert_int_equal(zmq_connect(push, ep), 0);
        for (int f = 0; f < NFRAMES; f++)
            assert_int_equal(zmq_send(push, "x", 1, f + 1 < NFRAMES ? ZMQ_SNDMORE : 0), 1);
        s_send_seq(push, 7);
        harness_alloc_install();
        zpk_ndarray_t a;
        zpk_error_t err;
        assert_int_equal(zpk_recv_array(pull, NULL, NULL, &a, &err), ZPK_EFRAME);
        assert_int_equal(err.code, ZPK_EFRAME);
        assert_null(a.data);
        assert_int_equal(harness_alloc_stats().live_bytes, 0);
        harness_alloc_uninstall();
        int64_t seq = -1;
        assert_int_equal(s_recv_seq(pull, 0, &seq), 0);
        assert_int_equal(seq, 7);
        /* exactly ZPK_MAX_FRAMES frames are all taken: a foreign message */
        for (int f = 0; f < ZPK_MAX_FRAMES; f++)
            assert_int_equal(zmq_send(push, "x", 1, f + 1 < ZPK_MAX_FRAMES ? ZMQ_SNDMORE : 0), 1);
        s_send_seq(push, 8);
        assert_int_equal(zpk_recv_array(pull, NULL, NULL, &a, NULL), ZPK_EFOREIGN);
        assert_int_equal(s_recv_seq(pull, 0, &seq), 0);
        assert_int_equal(seq, 8);
        s_close(push);
        s_close(pull);
    }
}

/* ---- memory stays flat ----------------------------------------------------------- */

static long s_rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return -1;
    long size = 0, res = 0;
    int n = fscanf(f, "%ld %ld", &size, &res);
    fclose(f);
    return n == 2 ? res * (sysconf(_SC_PAGESIZE) / 1024) : -1;
}

static void s_roundtrip(void *push, void *pull, uint32_t i)
{
    switch (i % 4) {
    case 0: {
        assert_int_equal(zpk_sendf(push, 0, "{s:u s:s}", "seq", (unsigned)i, "k", "flat"), 0);
        zpk_doc_t *d = NULL;
        assert_int_equal(zpk_recv_packed(pull, NULL, NULL, &d, NULL), 0);
        unsigned got = 0;
        assert_int_equal(zpk_unpack_fmt(zpk_doc_root(d), "{s:u}", "seq", &got), 0);
        assert_int_equal(got, i);
        zpk_doc_destroy(&d);
        break;
    }
    case 1: {
        s_send_seq(push, i);
        int64_t seq;
        assert_int_equal(s_recv_seq(pull, 0, &seq), 0);
        assert_int_equal(seq, i);
        break;
    }
    case 2: {
        s_send_mixed(push, i, 16, 0);
        zpk_mixed_t m;
        assert_int_equal(zpk_recv_mixed(pull, NULL, NULL, &m, NULL), 0);
        assert_int_equal(s_check_mixed(&m), i);
        zpk_mixed_free(&m);
        break;
    }
    default: { /* garbage, answered with an error */
        assert_int_equal(zmq_send(push, "junk", 4, 0), 4);
        zpk_ndarray_t a;
        assert_int_equal(zpk_recv_array(pull, NULL, NULL, &a, NULL), ZPK_EFOREIGN);
        break;
    }
    }
}

static void test_memory_flat(void **state)
{
    (void)state;
    enum { N = 100000, WARM = 2000 };
    void *pull = s_socket(ZMQ_PULL, S_TIMEOUT_MS), *push = s_socket(ZMQ_PUSH, S_TIMEOUT_MS);
    char ep[512];
    s_bind(pull, T_INPROC, ep, sizeof ep);
    assert_int_equal(zmq_connect(push, ep), 0);
    harness_alloc_install();
    uint32_t i = 0;
    for (; i < WARM; i++)
        s_roundtrip(push, pull, i);
    harness_alloc_stats_t warm = harness_alloc_stats();
    harness_alloc_reset_peaks();
    long rss0 = s_rss_kib();
    size_t max_live = 0;
    for (; i < N; i++) {
        s_roundtrip(push, pull, i);
        if (i % 1000 == 0) {
            harness_alloc_stats_t st = harness_alloc_stats();
            if (st.live_bytes > max_live)
                max_live = st.live_bytes;
        }
    }
    harness_alloc_stats_t end = harness_alloc_stats();
    long rss1 = s_rss_kib();
    print_message("%d messages: live bytes %zu after warm-up, %zu at the end (max between "
                  "messages %zu), peak within a message %zu, %zu allocations; RSS %ld -> %ld KiB\n",
                  N, warm.live_bytes, end.live_bytes, max_live, end.peak_bytes, end.calls, rss0,
                  rss1);
    assert_int_equal(warm.live_bytes, 0);
    assert_int_equal(end.live_bytes, 0);
    assert_int_equal(max_live, 0);
    assert_true(end.peak_bytes < 64 * 1024); /* one small message at a time */
    if (!S_ASAN && rss0 > 0 && rss1 > 0)
        assert_true(rss1 - rss0 < 8 * 1024); /* libzmq's own buffers included */
    harness_alloc_uninstall();
    s_close(push);
    s_close(pull);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_slow_subscriber_hwm, s_test_teardown),
        cmocka_unit_test_teardown(test_join_late_and_leave, s_test_teardown),
        cmocka_unit_test_teardown(test_publisher_restart, s_test_teardown),
        cmocka_unit_test_teardown(test_garbage_frames, s_test_teardown),
        cmocka_unit_test_teardown(test_garbage_bytes_tcp, s_test_teardown),
        cmocka_unit_test_teardown(test_eterm_while_blocked, s_test_teardown),
        cmocka_unit_test_teardown(test_eintr, s_test_teardown),
        cmocka_unit_test_teardown(test_eintr_then_good, s_test_teardown),
        cmocka_unit_test_teardown(test_too_many_frames_drained, s_test_teardown),
        cmocka_unit_test_teardown(test_memory_flat, s_test_teardown),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
