/*
 * Socket layer: packed objects, arrays, mixed and single-frame messages
 * over inproc, ipc and tcp; PUB/SUB, PUSH/PULL, REQ/REP, DEALER/ROUTER;
 * zero-copy proven over inproc; every receive error followed by a good
 * message received intact. Every receive has a timeout (ZMQ_RCVTIMEO).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "harness.h"
#include "internal.h"
#include "zmqpack.h"
#if ZPK_HAVE_CZMQ
#  include <czmq.h>
#endif

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

#define S_TIMEOUT_MS 5000

static void *s_ctx;
static char s_tmpdir[256];
static int s_seq;

enum { T_INPROC, T_IPC, T_TCP };
static const char *s_tname[] = {"inproc", "ipc", "tcp"};

/* Sockets still open: a failed test leaves some, which the teardown closes
 * so that zmq_ctx_term() cannot hang. */
static void *s_open[64];

static void s_track(void *s)
{
    for (size_t i = 0; i < 64; i++)
        if (s_open[i] == NULL) {
            s_open[i] = s;
            return;
        }
}

static void s_close(void *s)
{
    for (size_t i = 0; i < 64; i++)
        if (s_open[i] == s)
            s_open[i] = NULL;
    zmq_close(s);
}

static void s_opts(void *s)
{
    s_track(s);
    int t = S_TIMEOUT_MS, linger = 0;
    assert_int_equal(zmq_setsockopt(s, ZMQ_RCVTIMEO, &t, sizeof t), 0);
    assert_int_equal(zmq_setsockopt(s, ZMQ_SNDTIMEO, &t, sizeof t), 0);
    assert_int_equal(zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger), 0);
}

/* Binds a socket of type @p bt, connects one of type @p ct to it. */
static void s_pair(int transport, int bt, int ct, void **b, void **c)
{
    char ep[512];
    s_seq++;
    switch (transport) {
    case T_INPROC: snprintf(ep, sizeof ep, "inproc://sock-%d", s_seq); break;
    case T_IPC: snprintf(ep, sizeof ep, "ipc://%s/s%d", s_tmpdir, s_seq); break;
    default: snprintf(ep, sizeof ep, "tcp://127.0.0.1:*"); break;
    }
    *b = zmq_socket(s_ctx, bt);
    *c = zmq_socket(s_ctx, ct);
    assert_non_null(*b);
    assert_non_null(*c);
    s_opts(*b);
    s_opts(*c);
    assert_int_equal(zmq_bind(*b, ep), 0);
    char last[512];
    size_t len = sizeof last;
    assert_int_equal(zmq_getsockopt(*b, ZMQ_LAST_ENDPOINT, last, &len), 0);
    assert_int_equal(zmq_connect(*c, last), 0);
}

static void s_close2(void *a, void *b)
{
    s_close(a);
    s_close(b);
}

static int s_setup(void **state)
{
    (void)state;
    s_ctx = zmq_ctx_new();
    snprintf(s_tmpdir, sizeof s_tmpdir, "/tmp/zpk-sock-XXXXXX");
    assert_non_null(mkdtemp(s_tmpdir));
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < 64; i++)
        if (s_open[i] != NULL)
            s_close(s_open[i]);
    zmq_ctx_term(s_ctx);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_tmpdir);
    if (system(cmd) != 0)
        return 0;
    return 0;
}

/* Shorthands for the calls most tests make: a topic or none, flags. */
static int s_send_w(void *s, const char *topic, zpk_writer_t *w, int flags)
{
    zpk_send_opts_t o;
    zpk_send_opts_init(&o);
    o.flags = flags;
    o.topic = topic;
    o.topic_len = topic != NULL ? strlen(topic) : 0;
    return zpk_send_packed(s, w, &o, NULL);
}

static int s_recv_doc(void *s, zpk_doc_t **doc, int flags)
{
    zpk_recv_opts_t o;
    zpk_recv_opts_init(&o);
    o.flags = flags;
    return zpk_recv_packed(s, &o, NULL, doc, NULL);
}

static int s_recv_arr(void *s, zpk_ndarray_t *a, int flags)
{
    zpk_recv_opts_t o;
    zpk_recv_opts_init(&o);
    o.flags = flags;
    return zpk_recv_array(s, &o, NULL, a, NULL);
}

/* zpk_recv_array() into the caller's buffer (opts->into); @p ro (NULL: none) gives the rest. */
static int s_recv_into(void *s, void *buf, size_t cap, zpk_ndarray_t *out, const zpk_recv_opts_t *ro)
{
    zpk_recv_opts_t o;
    if (ro != NULL)
        o = *ro;
    else
        zpk_recv_opts_init(&o);
    o.into = buf;
    o.into_size = cap;
    zpk_ndarray_t scratch;
    return zpk_recv_array(s, &o, NULL, out != NULL ? out : &scratch, NULL);
}

/* zpk_recv_mixed() with ZPK_RECV_BYTES added to @p ro's flags (NULL: none). */
static int s_recv_bytes(void *s, const zpk_recv_opts_t *ro, zpk_envelope_t *env, zpk_mixed_t *b)
{
    zpk_recv_opts_t o;
    if (ro != NULL)
        o = *ro;
    else
        zpk_recv_opts_init(&o);
    o.flags |= ZPK_RECV_BYTES;
    return zpk_recv_mixed(s, &o, env, b, NULL);
}

/* The only frame of a received envelope as a string (a topic); "" when
 * there is none. Lets the envelope go. */
static void s_topic(zpk_envelope_t *env, char *buf, size_t cap)
{
    assert_true(env->n <= 1);
    size_t n = env->n ? env->frames[0].size : 0;
    assert_true(n < cap);
    if (n > 0)
        memcpy(buf, env->frames[0].data, n);
    buf[n] = '\0';
    zpk_envelope_free(env);
}

/* Sends a packed {"id": id, "name": "zpk"} with a writer. */
static void s_send_good(void *s, const char *topic, int id)
{
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    assert_int_equal(zpk_pack_fmt(&w, "{s:i s:s}", "id", id, "name", "zpk"), 0);
    assert_int_equal(s_send_w(s, topic, &w, 0), 0);
    assert_int_equal(zpk_writer_size(&w), 0); /* left empty */
    zpk_writer_free(&w);
}

static void s_expect_good(void *s, int id)
{
    zpk_doc_t *doc = NULL;
    int rc = s_recv_doc(s, &doc, 0);
    assert_int_equal(rc, 0);
    int got = -1;
    const char *name = NULL;
    size_t nlen = 0;
    assert_int_equal(
        zpk_unpack_fmt(zpk_doc_root(doc), "{s:i s:s#}", "id", &got, "name", &name, &nlen), 0);
    assert_int_equal(got, id);
    assert_int_equal(nlen, 3);
    assert_memory_equal(name, "zpk", 3);
    zpk_doc_destroy(&doc);
}

/* ---- packed objects ----------------------------------------------------------- */

static void test_packed_push_pull_every_transport(void **state)
{
    (void)state;
    for (int t = T_INPROC; t <= T_TCP; t++) {
        void *pull, *push;
        s_pair(t, ZMQ_PULL, ZMQ_PUSH, &pull, &push);
        s_send_good(push, NULL, 11);
        s_expect_good(pull, 11);
        /* sendf: the seed tutorial's tuple */
        assert_int_equal(zpk_sendf(push, 0, "[sid]", "hello", 11, 2.3), 0);
        zpk_doc_t *doc = NULL;
        assert_int_equal(s_recv_doc(pull, &doc, 0), 0);
        const char *s = NULL;
        size_t sl = 0;
        int i = 0;
        double d = 0;
        assert_int_equal(zpk_unpack_fmt(zpk_doc_root(doc), "[s#id]", &s, &sl, &i, &d), 0);
        assert_int_equal(sl, 5);
        assert_memory_equal(s, "hello", 5);
        assert_int_equal(i, 11);
        assert_true(d == 2.3);
        zpk_doc_destroy(&doc);
        s_close2(pull, push);
        (void)s_tname[t];
    }
}

static void test_packed_compressed_and_large(void **state)
{
    (void)state;
    const char *codecs[] = {"zlib:6", "blosc:lz4:5:shuffle", "auto", "none"};
    for (size_t c = 0; c < sizeof codecs / sizeof codecs[0]; c++) {
        if (strncmp(codecs[c], "blosc", 5) == 0 && !ZPK_HAVE_BLOSC)
            continue;
        void *pull, *push;
        s_pair(T_TCP, ZMQ_PULL, ZMQ_PUSH, &pull, &push);
        zpk_codec_t codec;
        assert_int_equal(zpk_codec_parse(codecs[c], strlen(codecs[c]), &codec, NULL), 0);
        codec.chunk_size = 64 * 1024; /* several chunks */
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 0);
        zpk_write_array(&w, 50000);
        for (int i = 0; i < 50000; i++)
            zpk_write_uint(&w, (uint64_t)i * 7);
        size_t raw = zpk_writer_size(&w);
        zpk_send_opts_t o;
        zpk_send_opts_init(&o);
        o.codec = &codec;
        o.topic = "big";
        o.topic_len = 3;
        assert_int_equal(zpk_send_packed(push, &w, &o, NULL), 0);
        zpk_writer_free(&w);
        zpk_doc_t *doc = NULL;
        char topic[16];
        zpk_envelope_t env;
        assert_int_equal(zpk_recv_packed(pull, NULL, &env, &doc, NULL), 0);
        s_topic(&env, topic, sizeof topic);
        assert_string_equal(topic, "big");
        assert_int_equal(zpk_doc_consumed(doc), raw);
        const zpk_node_t *root = zpk_doc_root(doc);
        assert_int_equal(zpk_node_len(root), 50000);
        uint64_t v;
        assert_int_equal(zpk_node_get_uint(zpk_node_array_at(root, 49999), &v), 0);
        assert_int_equal(v, 49999u * 7);
        zpk_doc_destroy(&doc);
        s_close2(pull, push);
    }
}

static void test_pub_sub_topics(void **state)
{
    (void)state;
    for (int t = T_INPROC; t <= T_TCP; t++) {
        void *pub, *sub;
        s_pair(t, ZMQ_PUB, ZMQ_SUB, &pub, &sub);
        assert_int_equal(zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "a.", 2), 0);
        /* wait for the subscription to arrive: send until one is seen */
        int to = 20;
        zmq_setsockopt(sub, ZMQ_RCVTIMEO, &to, sizeof to);
        zpk_doc_t *doc = NULL;
        for (int i = 0; i < 250; i++) {
            s_send_good(pub, "a.sync", 0);
            if (s_recv_doc(sub, &doc, 0) == 0)
                break;
        }
        assert_non_null(doc);
        zpk_doc_destroy(&doc);
        while (s_recv_doc(sub, &doc, ZPK_DONTWAIT) == 0)
            zpk_doc_destroy(&doc);
        to = S_TIMEOUT_MS;
        zmq_setsockopt(sub, ZMQ_RCVTIMEO, &to, sizeof to);

        s_send_good(pub, "b.other", 1);
        s_send_good(pub, "a.mine", 2);
        char topic[8];
        zpk_envelope_t env;
        assert_int_equal(zpk_recv_packed(sub, NULL, &env, &doc, NULL), 0);
        s_topic(&env, topic, sizeof topic);
        assert_string_equal(topic, "a.mine");
        int id = -1;
        assert_int_equal(zpk_unpack_fmt(zpk_doc_root(doc), "{s:i}", "id", &id), 0);
        assert_int_equal(id, 2);
        zpk_doc_destroy(&doc);
        /* a topic longer than any fixed buffer comes back whole, byte for byte
         * (the envelope is the received frame: nothing is cut) */
        char *longt = malloc(5001);
        memcpy(longt, "a.", 2);
        for (size_t i = 2; i < 5000; i++)
            longt[i] = (char)('a' + i % 26);
        longt[5000] = '\0';
        s_send_good(pub, longt, 3);
        assert_int_equal(zpk_recv_packed(sub, NULL, &env, &doc, NULL), 0);
        assert_int_equal(env.n, 1);
        assert_int_equal(env.frames[0].size, 5000);
        assert_memory_equal(env.frames[0].data, longt, 5000);
        zpk_envelope_free(&env);
        assert_int_equal(env.n, 0);
        assert_null(env.frames);
        zpk_doc_destroy(&doc);
        free(longt);
        /* arrays with topics too */
        double v[3] = {1, 2, 3};
        size_t shape = 3;
        zpk_ndarray_t a;
        assert_int_equal(zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, &shape, 'C', v), 0);
        zpk_send_opts_t o;
        zpk_send_opts_init(&o);
        o.topic = "a.arr";
        o.topic_len = 5;
        assert_int_equal(zpk_send_array(pub, &a, &o, NULL), 0);
        zpk_ndarray_t r;
        assert_int_equal(zpk_recv_array(sub, NULL, &env, &r, NULL), 0);
        s_topic(&env, topic, sizeof topic);
        assert_string_equal(topic, "a.arr");
        assert_memory_equal(r.data, v, sizeof v);
        zpk_ndarray_free(&r);
        s_close2(pub, sub);
    }
}

static void test_topic_that_looks_like_a_header_is_refused(void **state)
{
    (void)state;
    void *pull, *push;
    s_pair(T_INPROC, ZMQ_PULL, ZMQ_PUSH, &pull, &push);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_map(&w, 1);
    zpk_write_cstr(&w, "zpk");
    zpk_write_uint(&w, 1);
    char topic[16];
    memcpy(topic, zpk_writer_data(&w), zpk_writer_size(&w));
    topic[zpk_writer_size(&w)] = '\0';
    assert_true(zpk_is_header(topic, strlen(topic)));
    assert_int_equal(s_send_w(push, topic, &w, 0), ZPK_EINVAL);
    assert_int_equal(zpk_writer_size(&w), 6); /* unchanged on error */
    zpk_writer_free(&w);
    s_close2(pull, push);
}

/* ---- arrays ------------------------------------------------------------------- */

static void s_fill(double *d, size_t n, double seed)
{
    for (size_t i = 0; i < n; i++)
        d[i] = seed + (double)(i % 1000) * 0.5;
}

static void test_arrays_every_codec_both_orders(void **state)
{
    (void)state;
    const char *codecs[] = {"none", "zlib:1", "blosc:lz4:5:shuffle", "blosc:zstd:3:bitshuffle",
                            "auto"};
    enum { R = 300, C = 257 };
    double *d = malloc(sizeof(double) * R * C);
    s_fill(d, R * C, 1.0);
    for (int t = T_INPROC; t <= T_TCP; t++) {
        void *pull, *push;
        s_pair(t, ZMQ_PULL, ZMQ_PUSH, &pull, &push);
        for (size_t c = 0; c < sizeof codecs / sizeof codecs[0]; c++) {
            if (strncmp(codecs[c], "blosc", 5) == 0 && !ZPK_HAVE_BLOSC)
                continue;
            zpk_codec_t codec;
            assert_int_equal(zpk_codec_parse(codecs[c], strlen(codecs[c]), &codec, NULL), 0);
            codec.chunk_size = 100000; /* does not divide the payload */
            for (int o = 0; o < 2; o++) {
                char order = o ? 'F' : 'C';
                size_t shape[2] = {R, C};
                zpk_ndarray_t a;
                assert_int_equal(zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 8), 2, shape,
                                                order, d), 0);
                zpk_send_opts_t so;
                zpk_send_opts_init(&so);
                so.codec = &codec;
                assert_int_equal(zpk_send_array(push, &a, &so, NULL), 0);
                zpk_ndarray_t r;
                assert_int_equal(s_recv_arr(pull, &r, 0), 0);
                assert_int_equal(r.ndim, 2);
                assert_int_equal(r.shape[0], R);
                assert_int_equal(r.shape[1], C);
                assert_int_equal(r.order, order);
                assert_true(zpk_dtype_equal(r.dtype, a.dtype));
                assert_int_equal(r.nbytes, sizeof(double) * R * C);
                assert_memory_equal(r.data, d, r.nbytes);
                ((double *)r.data)[0] = -1; /* writable */
                zpk_ndarray_free(&r);
                /* and into a caller's buffer */
                assert_int_equal(zpk_send_array(push, &a, &so, NULL), 0);
                double *buf = malloc(sizeof(double) * R * C);
                zpk_ndarray_t into;
                assert_int_equal(s_recv_into(pull, buf, sizeof(double) * R * C, &into, NULL), 0);
                assert_ptr_equal(into.data, buf);
                assert_null(into.free_fn);
                assert_int_equal(into.order, order);
                assert_memory_equal(buf, d, sizeof(double) * R * C);
                free(buf);
            }
        }
        s_close2(pull, push);
    }
    free(d);
}

static void test_array_dtypes_empty_scalar_noncontiguous(void **state)
{
    (void)state;
    void *pull, *push;
    s_pair(T_INPROC, ZMQ_PULL, ZMQ_PUSH, &pull, &push);
    /* empty */
    size_t shape0[2] = {0, 5};
    zpk_ndarray_t a;
    assert_int_equal(zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_INT, 4), 2, shape0, 'C', NULL), 0);
    assert_int_equal(zpk_send_array(push, &a, NULL, NULL), 0);
    zpk_ndarray_t r;
    assert_int_equal(s_recv_arr(pull, &r, 0), 0);
    assert_int_equal(r.nbytes, 0);
    assert_int_equal(r.ndim, 2);
    assert_int_equal(r.shape[1], 5);
    zpk_ndarray_free(&r);
    /* 0-d */
    int16_t v = -7;
    assert_int_equal(zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_INT, 2), 0, NULL, 'C', &v), 0);
    assert_int_equal(zpk_send_array(push, &a, NULL, NULL), 0);
    assert_int_equal(s_recv_arr(pull, &r, 0), 0);
    assert_int_equal(r.ndim, 0);
    assert_int_equal(*(int16_t *)r.data, -7);
    zpk_ndarray_free(&r);
    /* a strided view: every other element of 10 uint32 */
    uint32_t base[10];
    for (int i = 0; i < 10; i++)
        base[i] = (uint32_t)i * 3;
    size_t shape5 = 5;
    assert_int_equal(zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_UINT, 4), 1, &shape5, 'C', base), 0);
    ptrdiff_t st = 8;
    assert_int_equal(zpk_ndarray_set_strides(&a, &st), 0);
    assert_int_equal(zpk_send_array(push, &a, NULL, NULL), 0);
    assert_int_equal(s_recv_arr(pull, &r, 0), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(((uint32_t *)r.data)[i], (uint32_t)i * 6);
    zpk_ndarray_free(&r);
    /* big-endian complex64 keeps its byte order */
    zpk_dtype_t be;
    assert_int_equal(zpk_dtype_parse(">c8", 3, &be, NULL), 0);
    uint8_t raw[16];
    for (int i = 0; i < 16; i++)
        raw[i] = (uint8_t)i;
    size_t two = 2;
    assert_int_equal(zpk_ndarray_init(&a, be, 1, &two, 'C', raw), 0);
    assert_int_equal(zpk_send_array(push, &a, NULL, NULL), 0);
    assert_int_equal(s_recv_arr(pull, &r, 0), 0);
    assert_true(zpk_dtype_equal(r.dtype, be));
    assert_memory_equal(r.data, raw, 16);
    zpk_ndarray_free(&r);
    s_close2(pull, push);
}

static void test_req_rep_and_dealer_router(void **state)
{
    (void)state;
    for (int t = T_INPROC; t <= T_TCP; t++) {
        void *rep, *req;
        s_pair(t, ZMQ_REP, ZMQ_REQ, &rep, &req);
        float q[4] = {1, 2, 3, 4};
        size_t n = 4;
        zpk_ndarray_t a;
        zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 4), 1, &n, 'C', q);
        assert_int_equal(zpk_send_array(req, &a, NULL, NULL), 0);
        zpk_ndarray_t r;
        assert_int_equal(s_recv_arr(rep, &r, 0), 0);
        float sum = 0;
        for (int i = 0; i < 4; i++)
            sum += ((float *)r.data)[i];
        zpk_ndarray_free(&r);
        assert_int_equal(zpk_sendf(rep, 0, "{s:d}", "sum", (double)sum), 0);
        zpk_doc_t *doc = NULL;
        assert_int_equal(s_recv_doc(req, &doc, 0), 0);
        double s = 0;
        assert_int_equal(zpk_unpack_fmt(zpk_doc_root(doc), "{s:d}", "sum", &s), 0);
        assert_true(s == 10.0);
        zpk_doc_destroy(&doc);
        /* REQ out of turn: libzmq's EFSM comes back as such */
        assert_int_equal(s_recv_doc(req, &doc, ZPK_DONTWAIT), -EFSM);
        assert_string_equal(zpk_err_name(-EFSM), "EFSM");
        s_close2(rep, req);

        /* ROUTER sees the identity in front: the envelope */
        void *router, *dealer;
        s_pair(t, ZMQ_ROUTER, ZMQ_DEALER, &router, &dealer);
        s_send_good(dealer, NULL, 5);
        zpk_envelope_t env;
        assert_int_equal(zpk_recv_packed(router, NULL, &env, &doc, NULL), 0);
        assert_int_equal(env.n, 1);
        assert_true(env.frames[0].size > 0);
        zpk_doc_destroy(&doc);
        /* reply: the envelope received routes it back */
        zpk_send_opts_t so;
        zpk_send_opts_init(&so);
        so.envelope = &env;
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 0);
        zpk_pack_fmt(&w, "{s:i s:s}", "id", 6, "name", "zpk");
        assert_int_equal(zpk_send_packed(router, &w, &so, NULL), 0);
        zpk_writer_free(&w);
        zpk_envelope_free(&env);
        s_expect_good(dealer, 6);
        s_close2(router, dealer);
    }
}

/* ---- mixed and single-frame ---------------------------------------------------- */

static void test_mixed(void **state)
{
    (void)state;
    for (int t = T_INPROC; t <= T_TCP; t++) {
        void *pull, *push;
        s_pair(t, ZMQ_PULL, ZMQ_PUSH, &pull, &push);
        for (int single = 0; single < 2; single++) {
            enum { N = 100000 };
            uint16_t *img = malloc(N * 2);
            uint8_t mask[300];
            for (int i = 0; i < N; i++)
                img[i] = (uint16_t)(i * 31);
            for (int i = 0; i < 300; i++)
                mask[i] = (uint8_t)(i & 1);
            zpk_ndarray_t arrs[2];
            size_t s1[2] = {250, 400}, s2 = 300;
            zpk_ndarray_init(&arrs[0], zpk_dtype_make(ZPK_KIND_UINT, 2), 2, s1, 'C', img);
            zpk_ndarray_init(&arrs[1], zpk_dtype_make(ZPK_KIND_BOOL, 1), 1, &s2, 'C', mask);
            zpk_writer_t w;
            zpk_writer_init_growable(&w, 0);
            zpk_write_map(&w, 3);
            zpk_write_cstr(&w, "ts");
            zpk_write_double(&w, 12.5);
            zpk_write_cstr(&w, "image");
            zpk_write_ndarray_ref(&w, 0);
            zpk_write_cstr(&w, "mask");
            zpk_write_ndarray_ref(&w, 1);
            zpk_codec_t codec;
            zpk_codec_parse("zlib:1", 6, &codec, NULL);
            zpk_send_opts_t so;
            zpk_send_opts_init(&so);
            so.flags = single ? ZPK_SEND_SINGLE : 0;
            so.codec = single ? &codec : NULL;
            assert_int_equal(zpk_send_mixed(push, &w, arrs, 2, &so, NULL), 0);
            zpk_writer_free(&w);
            zpk_mixed_t m;
            assert_int_equal(zpk_recv_mixed(pull, NULL, NULL, &m, NULL), 0);
            assert_int_equal(m.n_ndarrays, 2);
            const zpk_node_t *root = zpk_doc_root(m.doc);
            double ts;
            assert_int_equal(zpk_node_get_double(zpk_node_map_get(root, "ts"), &ts), 0);
            assert_true(ts == 12.5);
            const zpk_ndarray_t *ri = zpk_mixed_ndarray(&m, zpk_node_map_get(root, "image"));
            const zpk_ndarray_t *rm = zpk_mixed_ndarray(&m, zpk_node_map_get(root, "mask"));
            assert_non_null(ri);
            assert_non_null(rm);
            assert_null(zpk_mixed_ndarray(&m, zpk_node_map_get(root, "ts")));
            assert_int_equal(ri->shape[1], 400);
            assert_memory_equal(ri->data, img, N * 2);
            assert_memory_equal(rm->data, mask, 300);
            zpk_mixed_free(&m);
            free(img);
        }
        s_close2(pull, push);
    }
}

/* zpk_recv_mixed() with ZPK_RECV_BYTES: the exact bytes sent, small (one frame),
 * large (zero-copy frame), compressed, mixed; errors keep the socket in
 * sync; the small path allocates only the frames' holder. */
static void test_recv_packed_bytes(void **state)
{
    (void)state;
    for (int t = T_INPROC; t <= T_TCP; t++) {
        void *pull, *push;
        s_pair(t, ZMQ_PULL, ZMQ_PUSH, &pull, &push);
        const size_t sizes[] = {1, 100, 20000, 200000};
        for (size_t k = 0; k < 4; k++) {
            for (int comp = 0; comp < 2; comp++) {
                zpk_writer_t w;
                zpk_writer_init_growable(&w, 0);
                size_t n = sizes[k];
                if (n == 1) {
                    zpk_write_nil(&w);
                } else {
                    zpk_write_array(&w, (uint32_t)(n / 10));
                    for (size_t i = 0; i < n / 10; i++)
                        zpk_write_uint(&w, (uint64_t)(i % 100) * 1000);
                }
                size_t len = zpk_writer_size(&w);
                uint8_t *copy = malloc(len);
                memcpy(copy, zpk_writer_data(&w), len);
                zpk_codec_t codec;
                assert_int_equal(zpk_codec_parse("zlib:1", 6, &codec, NULL), 0);
                zpk_send_opts_t so;
                zpk_send_opts_init(&so);
                so.codec = comp ? &codec : NULL;
                so.topic = "tp";
                so.topic_len = 2;
                assert_int_equal(zpk_send_packed(push, &w, &so, NULL), 0);
                zpk_writer_free(&w);
                zpk_mixed_t b;
                char topic[8];
                zpk_envelope_t env;
                assert_int_equal(s_recv_bytes(pull, NULL, &env, &b), 0);
                s_topic(&env, topic, sizeof topic);
                assert_string_equal(topic, "tp");
                assert_null(b.doc);
                assert_int_equal(b.packed_size, len);
                assert_memory_equal(b.packed, copy, len);
                assert_int_equal(b.n_ndarrays, 0);
                assert_null(b.ndarrays);
                zpk_mixed_free(&b);
                assert_null(b.packed);
                zpk_mixed_free(&b); /* released twice: no-op */
                free(copy);
            }
        }

        /* mixed: the object's bytes with their array references, and the arrays */
        uint32_t img[64];
        for (int i = 0; i < 64; i++)
            img[i] = (uint32_t)i * 3u;
        zpk_ndarray_t arr;
        size_t shp = 64;
        zpk_ndarray_init(&arr, zpk_dtype_make(ZPK_KIND_UINT, 4), 1, &shp, 'C', img);
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 0);
        zpk_write_map(&w, 1);
        zpk_write_cstr(&w, "a");
        zpk_write_ndarray_ref(&w, 0);
        const uint8_t expect[] = {0x81, 0xa1, 'a', 0xd6, ZPK_EXT_NDARRAY_REF, 0, 0, 0, 0};
        assert_int_equal(zpk_writer_size(&w), sizeof expect);
        assert_memory_equal(zpk_writer_data(&w), expect, sizeof expect);
        assert_int_equal(zpk_send_mixed(push, &w, &arr, 1, NULL, NULL), 0);
        zpk_writer_free(&w);
        zpk_mixed_t b;
        assert_int_equal(s_recv_bytes(pull, NULL, NULL, &b), 0);
        assert_int_equal(b.packed_size, sizeof expect);
        assert_memory_equal(b.packed, expect, sizeof expect);
        assert_int_equal(b.n_ndarrays, 1);
        assert_int_equal(b.ndarrays[0].nbytes, sizeof img);
        assert_memory_equal(b.ndarrays[0].data, img, sizeof img);
        zpk_mixed_free(&b);

        /* an array message: ZPK_ETYPE, then a good message */
        assert_int_equal(zpk_send_array(push, &arr, NULL, NULL), 0);
        s_send_good(push, NULL, 7);
        assert_int_equal(s_recv_bytes(pull, NULL, NULL, &b), ZPK_ETYPE);
        assert_null(b.packed);
        assert_int_equal(b.n_ndarrays, 0);
        s_expect_good(pull, 7);

        /* a compressed object over max_buffer_size: ZPK_ELIMIT, then a good message */
        {
            zpk_writer_init_growable(&w, 0);
            zpk_write_array(&w, 5000);
            for (int i = 0; i < 5000; i++)
                zpk_write_uint(&w, 1);
            zpk_codec_t codec;
            zpk_codec_parse("zlib:1", 6, &codec, NULL);
            zpk_send_opts_t so;
            zpk_send_opts_init(&so);
            so.codec = &codec;
            assert_int_equal(zpk_send_packed(push, &w, &so, NULL), 0);
            zpk_writer_free(&w);
            s_send_good(push, NULL, 8);
            zpk_limits_t lim;
            zpk_limits_default(&lim, 1000);
            zpk_recv_opts_t ro;
            zpk_recv_opts_init(&ro);
            ro.limits = &lim;
            assert_int_equal(s_recv_bytes(pull, &ro, NULL, &b), ZPK_ELIMIT);
            assert_null(b.packed);
            s_expect_good(pull, 8);
        }

        /* nothing waiting */
        assert_int_equal(s_recv_bytes(pull, &(zpk_recv_opts_t){.flags = ZPK_DONTWAIT}, NULL, &b),
                         -EAGAIN);
        s_close2(pull, push);
    }
    assert_int_equal(zpk_recv_mixed(NULL, NULL, NULL, NULL, NULL), ZPK_EINVAL);
    zpk_mixed_free(NULL);

    /* a small message costs one allocation on receive (the frames' holder), none kept */
    void *pull, *push;
    s_pair(T_INPROC, ZMQ_PULL, ZMQ_PUSH, &pull, &push);
    harness_alloc_install();
    s_send_good(push, NULL, 9);
    harness_alloc_reset_peaks();
    zpk_mixed_t b;
    assert_int_equal(s_recv_bytes(pull, NULL, NULL, &b), 0);
    harness_alloc_stats_t st = harness_alloc_stats();
    assert_int_equal(st.calls, 1);
    zpk_doc_t *doc = NULL;
    assert_int_equal(zpk_doc_parse(b.packed, b.packed_size, NULL, 0, &doc, NULL), 0);
    int64_t id = 0;
    assert_int_equal(zpk_node_get_int(zpk_node_map_get(zpk_doc_root(doc), "id"), &id), 0);
    assert_int_equal(id, 9);
    zpk_doc_destroy(&doc);
    zpk_mixed_free(&b);
    harness_alloc_uninstall();
    s_close2(pull, push);
}

/* The fast paths write and read exactly what the general ones do: a small
 * uncompressed object (fixed header copied) against the same object sent
 * with codec "auto" (which leaves it raw, header written by the general
 * writer); zpk_sendf() with a format of more tokens than it records. */
static void test_fast_paths_match_general(void **state)
{
    (void)state;
    void *pull, *push;
    s_pair(T_INPROC, ZMQ_PULL, ZMQ_PUSH, &pull, &push);
    zpk_codec_t autoc;
    assert_int_equal(zpk_codec_parse("auto", 4, &autoc, NULL), 0);
    uint8_t frames[2][256];
    size_t sizes[2];
    for (int k = 0; k < 2; k++) {
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 0);
        assert_int_equal(zpk_pack_fmt(&w, "{s:i s:s}", "id", 42, "name", "zpk"), 0);
        zpk_send_opts_t so;
        zpk_send_opts_init(&so);
        so.codec = k ? &autoc : NULL;
        so.topic = "t";
        so.topic_len = 1;
        assert_int_equal(zpk_send_packed(push, &w, &so, NULL), 0);
        zpk_writer_free(&w);
        zmq_msg_t m;
        zmq_msg_init(&m);
        assert_int_equal(zmq_msg_recv(&m, pull, 0), 1); /* the topic */
        assert_true(zmq_msg_more(&m));
        int n = zmq_msg_recv(&m, pull, 0);
        assert_true(n > 0 && n <= 256);
        assert_false(zmq_msg_more(&m));
        sizes[k] = (size_t)n;
        memcpy(frames[k], zmq_msg_data(&m), (size_t)n);
        zmq_msg_close(&m);
    }
    assert_int_equal(sizes[0], sizes[1]);
    assert_memory_equal(frames[0], frames[1], sizes[0]);
    const uint8_t hdr[] = "\x84\xa3zpk\x01\xa4kind\xa3obj\xa6" "frames\x00\xa6single\xc3";
    assert_memory_equal(frames[0], hdr, sizeof hdr - 1);

    /* a format of 70 values (over the recorded 64): packed the general way */
    assert_int_equal(
        zpk_sendf(push, 0,
                  "[iiiiiiiiii iiiiiiiiii iiiiiiiiii iiiiiiiiii iiiiiiiiii iiiiiiiiii [ii]{s:i}]",
                  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                  23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42,
                  43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61,
                  "k", 66),
        0);
    zpk_doc_t *doc = NULL;
    assert_int_equal(s_recv_doc(pull, &doc, 0), 0);
    const zpk_node_t *root = zpk_doc_root(doc);
    assert_int_equal(zpk_node_len(root), 62);
    int64_t v;
    assert_int_equal(zpk_node_get_int(zpk_node_array_at(root, 59), &v), 0);
    assert_int_equal(v, 59);
    assert_int_equal(zpk_node_get_int(zpk_node_array_at(zpk_node_array_at(root, 60), 1), &v), 0);
    assert_int_equal(v, 61);
    assert_int_equal(zpk_node_get_int(zpk_node_map_get(zpk_node_array_at(root, 61), "k"), &v), 0);
    assert_int_equal(v, 66);
    zpk_doc_destroy(&doc);
    /* and a bad format still writes nothing and sends nothing */
    assert_int_equal(zpk_sendf(push, 0, "[i", 1), ZPK_EINVAL);
    zpk_error_t err;
    assert_int_equal(zpk_recv_packed(pull, &(zpk_recv_opts_t){.flags = ZPK_DONTWAIT}, NULL, &doc,
                                     &err), -EAGAIN);
    /* nothing to take: the code and libzmq's own words, nothing of an earlier call */
    assert_int_equal(err.code, -EAGAIN);
    assert_string_equal(err.text, strerror(EAGAIN));
    assert_null(doc);
    s_close2(pull, push);
}

static void test_single_frame_conflate(void **state)
{
    (void)state;
    void *pull = zmq_socket(s_ctx, ZMQ_PULL), *push = zmq_socket(s_ctx, ZMQ_PUSH);
    int one = 1;
    assert_int_equal(zmq_setsockopt(pull, ZMQ_CONFLATE, &one, sizeof one), 0);
    s_opts(pull);
    s_opts(push);
    /* inproc: each send lands in the conflating pipe before the call returns
     * (libzmq takes an inproc pipe's conflate option from the connecting side) */
    assert_int_equal(zmq_bind(push, "inproc://conflate"), 0);
    assert_int_equal(zmq_connect(pull, "inproc://conflate"), 0);
    zpk_codec_t codec;
    zpk_codec_parse("zlib:1", 6, &codec, NULL);
    int32_t v[1000];
    for (int k = 1; k <= 3; k++) {
        for (int i = 0; i < 1000; i++)
            v[i] = k * 1000 + i;
        size_t n = 1000;
        zpk_ndarray_t a;
        zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_INT, 4), 1, &n, 'C', v);
        zpk_send_opts_t so;
        zpk_send_opts_init(&so);
        so.flags = ZPK_SEND_SINGLE;
        so.codec = k == 2 ? &codec : NULL;
        assert_int_equal(zpk_send_array(push, &a, &so, NULL), 0);
    }
    zpk_ndarray_t r;
    assert_int_equal(s_recv_arr(pull, &r, 0), 0);
    assert_int_equal(((int32_t *)r.data)[0], 3000);
    assert_int_equal(((int32_t *)r.data)[999], 3999);
    zpk_ndarray_free(&r);
    assert_int_equal(s_recv_arr(pull, &r, ZPK_DONTWAIT), -EAGAIN);
    /* a single-frame packed object, compressed */
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_pack_fmt(&w, "{s:i s:s}", "id", 9, "name", "zpk");
    zpk_send_opts_t so;
    zpk_send_opts_init(&so);
    so.flags = ZPK_SEND_SINGLE;
    so.codec = &codec; /* small: zlib stored anyway when it saves */
    assert_int_equal(zpk_send_packed(push, &w, &so, NULL), 0);
    zpk_writer_free(&w);
    s_expect_good(pull, 9);
    s_close2(pull, push);
}

static int s_freed;
static void *s_freed_ptr;
static void s_count_free(void *data, void *hint);

static void test_single_frame_compressed_chunks(void **state)
{
    (void)state;
    void *pull, *push;
    s_pair(T_INPROC, ZMQ_PULL, ZMQ_PUSH, &pull, &push);
    enum { N = 60000 };
    uint32_t *v = malloc(N * 4);
    uint32_t x = 12345;
    for (int i = 0; i < N; i++) { /* first half smooth, second half noise */
        x = x * 1103515245u + 12345u;
        v[i] = i < N / 2 ? (uint32_t)i / 16 : x;
    }
    const char *codecs[] = {"zlib:1", "blosc:lz4:5:shuffle"};
    for (int c = 0; c < 2; c++) {
        if (c == 1 && !ZPK_HAVE_BLOSC)
            continue;
        zpk_codec_t codec;
        assert_int_equal(zpk_codec_parse(codecs[c], strlen(codecs[c]), &codec, NULL), 0);
        codec.chunk_size = 50000;
        size_t shape[2] = {300, 200};
        zpk_ndarray_t a;
        zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_UINT, 4), 2, shape, 'F', v);
        s_freed = 0;
        zpk_send_opts_t so;
        zpk_send_opts_init(&so);
        so.flags = ZPK_SEND_SINGLE;
        so.codec = &codec;
        so.topic = "sf";
        so.topic_len = 2;
        so.own = ZPK_OWN_GIVE;
        so.free_fn = s_count_free;
        assert_int_equal(zpk_send_array(push, &a, &so, NULL), 0);
        assert_int_equal(s_freed, 1); /* compressed: the caller's data is free at once */
        zmq_msg_t m[2];
        zmq_msg_init(&m[0]);
        zmq_msg_init(&m[1]);
        assert_true(zmq_msg_recv(&m[0], pull, 0) == 2 && zmq_msg_more(&m[0]));
        assert_true(zmq_msg_recv(&m[1], pull, 0) > 0 && !zmq_msg_more(&m[1]));
        assert_true(zmq_msg_size(&m[1]) < N * 4); /* the smooth half compressed */
        /* send the same frames back through a raw socket and decode them */
        assert_int_equal(zmq_msg_send(&m[0], push, ZMQ_SNDMORE), 2);
        assert_true(zmq_msg_send(&m[1], push, 0) > 0);
        zpk_ndarray_t r;
        assert_int_equal(s_recv_arr(pull, &r, 0), 0);
        assert_int_equal(r.order, 'F');
        assert_int_equal(r.shape[0], 300);
        assert_memory_equal(r.data, v, N * 4);
        zpk_ndarray_free(&r);
    }
    free(v);
    s_close2(pull, push);
}

/* ---- zero-copy ------------------------------------------------------------------ */

static void s_count_free(void *data, void *hint)
{
    (void)hint;
    s_freed++;
    s_freed_ptr = data;
}

static void test_zero_copy_inproc(void **state)
{
    (void)state;
    void *pull, *push;
    s_pair(T_INPROC, ZMQ_PULL, ZMQ_PUSH, &pull, &push);
    enum { N = 1 << 18 };
    double *d = malloc(N * sizeof(double));
    s_fill(d, N, 3);
    size_t n = N;
    zpk_ndarray_t a;
    zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, &n, 'C', d);

    /* borrow with a tracker */
    zpk_tracker_t *t = zpk_tracker_new();
    zpk_send_opts_t so;
    zpk_send_opts_init(&so);
    so.own = ZPK_OWN_BORROW;
    assert_int_equal(zpk_send_array(push, &a, &so, NULL), ZPK_EINVAL); /* tracker required */
    so.tracker = t;
    assert_int_equal(zpk_send_array(push, &a, &so, NULL), 0);
    assert_false(zpk_tracker_done(t));
    zpk_ndarray_t r;
    assert_int_equal(s_recv_arr(pull, &r, 0), 0);
    assert_ptr_equal(r.data, d); /* the very address it was sent from */
    assert_int_equal(zpk_tracker_wait(t, 0), -EAGAIN); /* the receiver holds it */
    assert_int_equal(zpk_tracker_wait(t, 10), -EAGAIN);
    zpk_ndarray_free(&r);
    assert_int_equal(zpk_tracker_wait(t, 0), 0);
    assert_true(zpk_tracker_done(t));
    zpk_tracker_destroy(&t);
    assert_null(t);

    /* give with a free function: exactly once, after the receiver lets go */
    s_freed = 0;
    so.own = ZPK_OWN_GIVE;
    so.tracker = NULL;
    so.free_fn = s_count_free;
    assert_int_equal(zpk_send_array(push, &a, &so, NULL), 0);
    assert_int_equal(s_recv_arr(pull, &r, 0), 0);
    assert_ptr_equal(r.data, d);
    assert_int_equal(s_freed, 0);
    zpk_ndarray_free(&r);
    assert_int_equal(s_freed, 1);
    assert_ptr_equal(s_freed_ptr, d);

    /* a give that fails leaves the data with the caller */
    s_freed = 0;
    void *lonely = zmq_socket(s_ctx, ZMQ_PUSH);
    s_opts(lonely);
    assert_int_equal(zpk_send_array(lonely, &a,
                                    &(zpk_send_opts_t){.flags = ZPK_DONTWAIT,
                                                       .own = ZPK_OWN_GIVE,
                                                       .free_fn = s_count_free},
                                    NULL),
                     -EAGAIN);
    assert_int_equal(s_freed, 0);
    s_close(lonely);

    /* the packed writer's bytes travel without a copy too */
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_bin(&w, d, 200000);
    const uint8_t *wb = zpk_writer_data(&w);
    assert_int_equal(s_send_w(push, NULL, &w, 0), 0);
    assert_null(zpk_writer_data(&w));
    zpk_writer_free(&w);
    zpk_doc_t *doc = NULL;
    assert_int_equal(s_recv_doc(pull, &doc, 0), 0);
    const uint8_t *bin;
    size_t blen;
    assert_int_equal(zpk_node_get_bin(zpk_doc_root(doc), &bin, &blen), 0);
    assert_int_equal(blen, 200000);
    assert_ptr_equal(bin, wb + 5); /* bin 32 header, then the borrowed bytes */
    zpk_doc_destroy(&doc);
    /* a large packed send that fails leaves the writer as it was */
    lonely = zmq_socket(s_ctx, ZMQ_PUSH);
    s_opts(lonely);
    zpk_writer_init_growable(&w, 0);
    zpk_write_bin(&w, d, 200000);
    assert_int_equal(s_send_w(lonely, NULL, &w, ZPK_DONTWAIT), -EAGAIN);
    assert_int_equal(zpk_writer_size(&w), 200005);
    assert_memory_equal(zpk_writer_data(&w) + 5, d, 200000);
    assert_int_equal(s_send_w(push, NULL, &w, 0), 0);
    zpk_writer_free(&w);
    assert_int_equal(s_recv_doc(pull, &doc, 0), 0);
    assert_int_equal(zpk_node_get_bin(zpk_doc_root(doc), &bin, &blen), 0);
    assert_memory_equal(bin, d, 200000);
    zpk_doc_destroy(&doc);
    s_close(lonely);
    free(d);
    s_close2(pull, push);
}

static void test_one_gib_end_to_end(void **state)
{
    (void)state;
    if (S_ASAN) {
        print_message("skipped under ASan (1 GiB)\n");
        skip();
    }
    const size_t N = (size_t)1 << 30;
    uint8_t *d = malloc(N);
    if (d == NULL) {
        print_message("skipped: no 1 GiB\n");
        skip();
    }
    /* touch a page in every 16 MiB: a hidden full copy would touch them all */
    for (size_t i = 0; i < N; i += (size_t)16 << 20)
        d[i] = (uint8_t)(i >> 24);
    d[N - 1] = 0x5a;
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    harness_alloc_install();
    void *pull, *push;
    s_pair(T_INPROC, ZMQ_PULL, ZMQ_PUSH, &pull, &push);
    size_t n = N;
    zpk_ndarray_t a;
    zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_UINT, 1), 1, &n, 'C', d);
    zpk_tracker_t *t = zpk_tracker_new();
    zpk_send_opts_t so;
    zpk_send_opts_init(&so);
    so.own = ZPK_OWN_BORROW;
    so.tracker = t;
    assert_int_equal(zpk_send_array(push, &a, &so, NULL), 0);
    zpk_ndarray_t r;
    assert_int_equal(s_recv_arr(pull, &r, 0), 0);
    assert_ptr_equal(r.data, d);
    assert_int_equal(r.nbytes, N);
    assert_int_equal(((uint8_t *)r.data)[N - 1], 0x5a);
    assert_int_equal(((uint8_t *)r.data)[(size_t)32 << 20], 2);
    zpk_ndarray_free(&r);
    assert_int_equal(zpk_tracker_wait(t, 1000), 0);
    zpk_tracker_destroy(&t);
    harness_alloc_stats_t st = harness_alloc_stats();
    assert_true(st.peak_bytes < (size_t)1 << 20); /* no payload-sized allocation */
    s_close2(pull, push);
    harness_alloc_uninstall();
    getrusage(RUSAGE_SELF, &ru1);
    assert_true(ru1.ru_maxrss - ru0.ru_maxrss < 256 * 1024); /* KiB: far below 1 GiB */
    free(d);
}

/* ---- errors never desynchronise ------------------------------------------------- */

static void s_raw_send(void *s, int nframes, ...)
{
    va_list ap;
    va_start(ap, nframes);
    for (int i = 0; i < nframes; i++) {
        const void *p = va_arg(ap, const void *);
        size_t n = va_arg(ap, size_t);
        assert_int_equal(zmq_send(s, p, n, i + 1 < nframes ? ZMQ_SNDMORE : 0), (int)n);
    }
    va_end(ap);
}

/* An array header for float64[4] (32 bytes) with @p tweak applied. */
enum { TW_NONE, TW_VERSION2, TW_CODEC, TW_FRAMES3, TW_DUPKEY, TW_NBYTES, TW_UNKNOWN_KEY };
static size_t s_header(uint8_t *buf, size_t cap, int tweak)
{
    zpk_writer_t w;
    zpk_writer_init_buffer(&w, buf, cap);
    zpk_write_map(&w, tweak == TW_DUPKEY || tweak == TW_UNKNOWN_KEY ? 5 : 4);
    zpk_write_cstr(&w, "zpk");
    zpk_write_uint(&w, tweak == TW_VERSION2 ? 2 : 1);
    zpk_write_cstr(&w, "kind");
    zpk_write_cstr(&w, "array");
    zpk_write_cstr(&w, "frames");
    zpk_write_uint(&w, tweak == TW_FRAMES3 ? 3 : 1);
    if (tweak == TW_DUPKEY) {
        zpk_write_cstr(&w, "kind");
        zpk_write_cstr(&w, "array");
    }
    if (tweak == TW_UNKNOWN_KEY) {
        zpk_write_cstr(&w, "future");
        zpk_write_map(&w, 1);
        zpk_write_cstr(&w, "x");
        zpk_write_array(&w, 2);
        zpk_write_nil(&w);
        zpk_write_bool(&w, true);
    }
    zpk_write_cstr(&w, "array");
    zpk_write_map(&w, 5);
    zpk_write_cstr(&w, "dtype");
    zpk_write_cstr(&w, "<f8");
    zpk_write_cstr(&w, "shape");
    zpk_write_array(&w, 1);
    zpk_write_uint(&w, 4);
    zpk_write_cstr(&w, "nbytes");
    zpk_write_uint(&w, tweak == TW_NBYTES ? 64 : 32);
    zpk_write_cstr(&w, "codec");
    zpk_write_cstr(&w, tweak == TW_CODEC ? "lzma:9" : "none");
    zpk_write_cstr(&w, "chunks");
    zpk_write_array(&w, 1);
    zpk_write_uint(&w, 32);
    assert_int_equal(zpk_writer_finish(&w), 0);
    return zpk_writer_size(&w);
}

static void test_errors_never_desynchronise(void **state)
{
    (void)state;
    for (int t = T_INPROC; t <= T_TCP; t += 2) {
        void *pull, *push;
        s_pair(t, ZMQ_PULL, ZMQ_PUSH, &pull, &push);
        uint8_t h[256];
        double payload[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        zpk_ndarray_t r;
        zpk_doc_t *doc = NULL;
        zpk_error_t err;
        struct {
            int tweak;
            int frames;   /* payload frames sent after the header */
            size_t psize; /* bytes in each */
            int code;
        } cases[] = {
            {TW_NONE, 0, 32, ZPK_EFRAME},        /* missing frame */
            {TW_NONE, 2, 32, ZPK_EFRAME},        /* extra frame */
            {TW_NONE, 1, 16, ZPK_ESHAPE},        /* header lies about its payload */
            {TW_NBYTES, 1, 32, ZPK_ESHAPE},      /* nbytes lies about the shape */
            {TW_CODEC, 1, 32, ZPK_ECODEC},       /* unknown codec */
            {TW_VERSION2, 1, 32, ZPK_EVERSION},  /* newer protocol */
            {TW_FRAMES3, 1, 32, ZPK_EFORMAT},    /* frames disagrees with the table */
            {TW_DUPKEY, 1, 32, ZPK_EFORMAT},     /* duplicate key */
        };
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            size_t hl = s_header(h, sizeof h, cases[c].tweak);
            assert_int_equal(zmq_send(push, h, hl, cases[c].frames ? ZMQ_SNDMORE : 0), (int)hl);
            for (int f = 0; f < cases[c].frames; f++)
                assert_int_equal(zmq_send(push, payload, cases[c].psize,
                                          f + 1 < cases[c].frames ? ZMQ_SNDMORE : 0),
                                 (int)cases[c].psize);
            zpk_error_clear(&err);
            assert_int_equal(zpk_recv_array(pull, NULL, NULL, &r, &err), cases[c].code);
            assert_int_equal(err.code, cases[c].code);
            assert_null(r.data);
            s_send_good(push, NULL, (int)c);
            s_expect_good(pull, (int)c);
        }
        /* an unknown key is skipped */
        size_t hl = s_header(h, sizeof h, TW_UNKNOWN_KEY);
        s_raw_send(push, 2, h, hl, payload, (size_t)32);
        assert_int_equal(s_recv_arr(pull, &r, 0), 0);
        assert_memory_equal(r.data, payload, 32);
        zpk_ndarray_free(&r);
        /* foreign messages of 1, 2 and 3 frames */
        s_raw_send(push, 1, "hello", (size_t)5);
        assert_int_equal(s_recv_doc(pull, &doc, 0), ZPK_EFOREIGN);
        s_raw_send(push, 2, "a", (size_t)1, "b", (size_t)1);
        assert_int_equal(s_recv_arr(pull, &r, 0), ZPK_EFOREIGN);
        s_raw_send(push, 3, "t", (size_t)1, "{\"x\": 1}", (size_t)8, "b", (size_t)1);
        assert_int_equal(s_recv_arr(pull, &r, 0), ZPK_EFOREIGN);
        s_send_good(push, NULL, 100);
        s_expect_good(pull, 100);
        /* a packed object that is not one whole object */
        hl = 0;
        {
            zpk_writer_t w;
            zpk_writer_init_buffer(&w, h, sizeof h);
            zpk_write_map(&w, 3);
            zpk_write_cstr(&w, "zpk");
            zpk_write_uint(&w, 1);
            zpk_write_cstr(&w, "kind");
            zpk_write_cstr(&w, "obj");
            zpk_write_cstr(&w, "frames");
            zpk_write_uint(&w, 1);
            hl = zpk_writer_size(&w);
        }
        s_raw_send(push, 2, h, hl, "\x92\x01", (size_t)2); /* truncated array */
        assert_int_equal(s_recv_doc(pull, &doc, 0), ZPK_EOUTOFDATA);
        s_raw_send(push, 2, h, hl, "\x01\x02", (size_t)2);
        assert_int_equal(s_recv_doc(pull, &doc, 0), ZPK_EEXTRADATA);
        assert_null(doc);
        /* the wrong kind */
        s_raw_send(push, 2, h, hl, "\x01", (size_t)1);
        assert_int_equal(s_recv_arr(pull, &r, 0), ZPK_ETYPE);
        s_raw_send(push, 2, h, hl, "\x01", (size_t)1);
        assert_int_equal(s_recv_into(pull, payload, 8, NULL, NULL), ZPK_ETYPE);
        s_send_good(push, NULL, 101);
        s_expect_good(pull, 101);
        /* a recipe whose shape lies, and one with a bad dtype */
        s_raw_send(push, 2, "{\"dtype\": \"float64\", \"shape\": [10]}", (size_t)35, payload,
                   (size_t)64);
        assert_int_equal(s_recv_arr(pull, &r, 0), ZPK_ESHAPE);
        s_raw_send(push, 2, "{\"dtype\": \"object\", \"shape\": [1]}", (size_t)33, payload,
                   (size_t)8);
        assert_int_equal(s_recv_arr(pull, &r, 0), ZPK_EDTYPE);
        /* too small a buffer */
        double a8[8] = {0};
        size_t n8 = 8;
        zpk_ndarray_t a;
        zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, &n8, 'C', a8);
        assert_int_equal(zpk_send_array(push, &a, NULL, NULL), 0);
        assert_int_equal(s_recv_into(pull, payload, 32, NULL, NULL), ZPK_EBUFFULL);
        s_send_good(push, NULL, 102);
        s_expect_good(pull, 102);
        /* timeouts and DONTWAIT come back as -EAGAIN */
        assert_int_equal(s_recv_doc(pull, &doc, ZPK_DONTWAIT), -EAGAIN);
        int to = 10;
        zmq_setsockopt(pull, ZMQ_RCVTIMEO, &to, sizeof to);
        assert_int_equal(s_recv_arr(pull, &r, 0), -EAGAIN);
        s_close2(pull, push);
    }
}

static void test_allocation_failures_leave_socket_in_sync(void **state)
{
    (void)state;
    void *pull, *push;
    s_pair(T_INPROC, ZMQ_PULL, ZMQ_PUSH, &pull, &push);
    harness_alloc_install();
    int16_t v[5000];
    for (int i = 0; i < 5000; i++)
        v[i] = (int16_t)i;
    size_t n = 5000;
    zpk_ndarray_t a;
    zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_INT, 2), 1, &n, 'C', v);
    zpk_codec_t codec;
    zpk_codec_parse("zlib:1", 6, &codec, NULL);
    zpk_send_opts_t so;
    zpk_send_opts_init(&so);
    so.codec = &codec;
    int failures = 0;
    for (size_t k = 1; k < 40; k++) {
        /* receive side */
        assert_int_equal(zpk_send_array(push, &a, &so, NULL), 0);
        harness_alloc_fail_after(k);
        zpk_ndarray_t r;
        int rc = s_recv_arr(pull, &r, 0);
        harness_alloc_fail_after(0);
        if (rc == 0) {
            assert_memory_equal(r.data, v, sizeof v);
            zpk_ndarray_free(&r);
        } else {
            assert_int_equal(rc, ZPK_ENOMEM);
            failures++;
        }
        /* send side: either sent whole or not at all */
        harness_alloc_fail_after(k);
        rc = zpk_send_array(push, &a, &so, NULL);
        harness_alloc_fail_after(0);
        if (rc == 0) {
            assert_int_equal(s_recv_arr(pull, &r, 0), 0);
            assert_memory_equal(r.data, v, sizeof v);
            zpk_ndarray_free(&r);
        } else {
            assert_int_equal(rc, ZPK_ENOMEM);
        }
        s_send_good(push, NULL, (int)k);
        s_expect_good(pull, (int)k);
    }
    assert_true(failures > 0);
    s_close2(pull, push);
    harness_alloc_uninstall();
}

static void test_recipe_both_directions(void **state)
{
    (void)state;
    void *pull, *push;
    s_pair(T_TCP, ZMQ_PULL, ZMQ_PUSH, &pull, &push);
    float f[6] = {1, 2, 3, 4, 5, 6};
    size_t shape[2] = {2, 3};
    zpk_ndarray_t a;
    zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 4), 2, shape, 'C', f);
    zpk_send_opts_t so;
    zpk_send_opts_init(&so);
    so.flags = ZPK_SEND_RECIPE;
    assert_int_equal(zpk_send_array(push, &a, &so, NULL), 0);
    /* what pyzmq's recv_json + recv would see */
    char json[128];
    int n = zmq_recv(pull, json, sizeof json - 1, 0);
    assert_true(n > 0);
    json[n] = '\0';
    assert_string_equal(json, "{\"dtype\": \"float32\", \"shape\": [2, 3]}");
    int more;
    size_t ml = sizeof more;
    zmq_getsockopt(pull, ZMQ_RCVMORE, &more, &ml);
    assert_true(more);
    float back[6];
    assert_int_equal(zmq_recv(pull, back, sizeof back, 0), (int)sizeof back);
    assert_memory_equal(back, f, sizeof f);
    /* and the recipe received, with and without topic */
    assert_int_equal(zpk_send_array(push, &a, &so, NULL), 0);
    zpk_ndarray_t r;
    assert_int_equal(s_recv_arr(pull, &r, 0), 0);
    assert_int_equal(r.ndim, 2);
    assert_int_equal(r.shape[1], 3);
    assert_memory_equal(r.data, f, sizeof f);
    zpk_ndarray_free(&r);
    so.topic = "cam";
    so.topic_len = 3;
    assert_int_equal(zpk_send_array(push, &a, &so, NULL), 0);
    char topic[8];
    zpk_envelope_t env;
    assert_int_equal(zpk_recv_array(pull, NULL, &env, &r, NULL), 0);
    s_topic(&env, topic, sizeof topic);
    assert_string_equal(topic, "cam");
    assert_memory_equal(r.data, f, sizeof f);
    zpk_ndarray_free(&r);
    /* F order cannot travel as the recipe */
    zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 4), 2, shape, 'F', f);
    so.topic_len = 0;
    assert_int_equal(zpk_send_array(push, &a, &so, NULL), ZPK_EINVAL);
    s_send_good(push, NULL, 1);
    s_expect_good(pull, 1);
    s_close2(pull, push);
}

static void test_eterm_and_bad_arguments(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    void *pull = zmq_socket(ctx, ZMQ_PULL), *push = zmq_socket(ctx, ZMQ_PUSH);
    assert_int_equal(zmq_bind(pull, "inproc://eterm"), 0);
    assert_int_equal(zmq_connect(push, "inproc://eterm"), 0);
    assert_int_equal(zmq_ctx_shutdown(ctx), 0);
    zpk_doc_t *doc = NULL;
    assert_int_equal(s_recv_doc(pull, &doc, 0), -ETERM);
    assert_string_equal(zpk_err_name(-ETERM), "ETERM");
    assert_int_equal(zpk_sendf(push, 0, "i", 1), -ETERM);
    zmq_close(pull);
    zmq_close(push);
    zmq_ctx_term(ctx);
    /* misuse */
    zpk_ndarray_t r;
    assert_int_equal(s_recv_arr(NULL, &r, 0), ZPK_EINVAL);
    assert_int_equal(s_recv_doc(NULL, &doc, 0), ZPK_EINVAL);
    assert_int_equal(zpk_recv_packed(pull, NULL, NULL, NULL, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_send_array(NULL, &r, NULL, NULL), ZPK_EINVAL);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    assert_int_equal(s_send_w(s_ctx, NULL, &w, 0), ZPK_EINVAL); /* nothing written */
    zpk_writer_free(&w);
}

/* ---- envelopes: the zguide's request-reply patterns ------------------------------- */

enum { K_PACKED, K_PACKED_SINGLE, K_ARRAY, K_ARRAY_ZLIB, K_MIXED, K_COUNT };
static const char *s_kname[] = {"packed", "packed single-frame", "array", "array zlib",
                                "mixed"};

/* Sends message kind @p k carrying @p v, behind @p env (NULL: none). */
static void s_send_kind(void *s, int k, int v, const zpk_envelope_t *env)
{
    static double d[9000]; /* 72 KB: the large array goes in two frames */
    for (size_t i = 0; i < 9000; i++)
        d[i] = v + (double)(i % 10);
    size_t n = 9000;
    zpk_ndarray_t a;
    zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, &n, 'C', d);
    zpk_codec_t zl;
    zpk_codec_parse("zlib:1", 6, &zl, NULL);
    zpk_send_opts_t o;
    zpk_send_opts_init(&o);
    o.envelope = env;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    int rc;
    switch (k) {
    case K_PACKED:
    case K_PACKED_SINGLE:
        zpk_pack_fmt(&w, "{s:i}", "v", v);
        o.flags = k == K_PACKED_SINGLE ? ZPK_SEND_SINGLE : 0;
        rc = zpk_send_packed(s, &w, &o, NULL);
        break;
    case K_ARRAY:
    case K_ARRAY_ZLIB:
        o.codec = k == K_ARRAY_ZLIB ? &zl : NULL;
        rc = zpk_send_array(s, &a, &o, NULL);
        break;
    default:
        zpk_write_map(&w, 2);
        zpk_write_cstr(&w, "v");
        zpk_write_int(&w, v);
        zpk_write_cstr(&w, "a");
        zpk_write_ndarray_ref(&w, 0);
        rc = zpk_send_mixed(s, &w, &a, 1, &o, NULL);
        break;
    }
    assert_int_equal(rc, 0);
    zpk_writer_free(&w);
}

/* Receives message kind @p k, checks that it carries @p v; returns the envelope. */
static void s_expect_kind(void *s, int k, int v, zpk_envelope_t *env)
{
    int got = -1;
    if (k == K_PACKED || k == K_PACKED_SINGLE) {
        zpk_doc_t *doc;
        assert_int_equal(zpk_recv_packed(s, NULL, env, &doc, NULL), 0);
        assert_int_equal(zpk_unpack_fmt(zpk_doc_root(doc), "{s:i}", "v", &got), 0);
        zpk_doc_destroy(&doc);
    } else if (k == K_ARRAY || k == K_ARRAY_ZLIB) {
        zpk_ndarray_t a;
        assert_int_equal(zpk_recv_array(s, NULL, env, &a, NULL), 0);
        assert_int_equal(a.nbytes, 9000 * 8);
        got = (int)((const double *)a.data)[0];
        assert_true(((const double *)a.data)[8999] == v + 9.0);
        zpk_ndarray_free(&a);
    } else {
        zpk_mixed_t m;
        assert_int_equal(zpk_recv_mixed(s, NULL, env, &m, NULL), 0);
        const zpk_node_t *ref;
        assert_int_equal(zpk_unpack_fmt(zpk_doc_root(m.doc), "{s:i s:O}", "v", &got, "a", &ref), 0);
        const zpk_ndarray_t *a = zpk_mixed_ndarray(&m, ref);
        assert_non_null(a);
        assert_true(((const double *)a->data)[1] == v + 1.0);
        zpk_mixed_free(&m);
    }
    if (got != v)
        fail_msg("%s: got %d, want %d", s_kname[k], got, v);
}

/* REQ -> ROUTER: the ROUTER receives [identity, "", header, ...], hands the
 * two routing frames back as the envelope, and replies with them. */
static void test_req_to_router_and_back(void **state)
{
    (void)state;
    for (int t = T_INPROC; t <= T_TCP; t += 2) {
        void *router, *req;
        s_pair(t, ZMQ_ROUTER, ZMQ_REQ, &router, &req);
        for (int k = 0; k < K_COUNT; k++) {
            s_send_kind(req, k, 10 + k, NULL);
            zpk_envelope_t env;
            s_expect_kind(router, k, 10 + k, &env);
            assert_int_equal(env.n, 2);
            assert_true(env.frames[0].size > 0); /* the identity */
            assert_int_equal(env.frames[1].size, 0); /* REQ's delimiter */
            s_send_kind(router, k, 20 + k, &env);
            zpk_envelope_free(&env);
            zpk_envelope_t back;
            s_expect_kind(req, k, 20 + k, &back);
            assert_int_equal(back.n, 0); /* REQ strips the delimiter */
        }
        s_close2(router, req);
    }
}

/* The broker forwards the frames of every message with zmq_proxy(): the
 * frames on both sides are the same, byte for byte. */
typedef struct s_proxy {
    void *front, *back;
} s_proxy_t;

static void *s_run_proxy(void *arg)
{
    s_proxy_t *p = arg;
    zmq_proxy(p->front, p->back, NULL); /* until the context ends */
    zmq_close(p->front);
    zmq_close(p->back);
    return NULL;
}

static void *s_rep_worker(void *arg)
{
    void *rep = arg;
    for (int i = 0; i < 2 * K_COUNT; i++) {
        int k = i % K_COUNT;
        zpk_envelope_t env;
        s_expect_kind(rep, k, 100 + i, &env);
        assert_int_equal(env.n, 0); /* REP hands the application the body only */
        s_send_kind(rep, k, 200 + i, NULL);
    }
    return NULL;
}

static void test_req_broker_rep(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    s_proxy_t p = {zmq_socket(ctx, ZMQ_ROUTER), zmq_socket(ctx, ZMQ_DEALER)};
    assert_int_equal(zmq_bind(p.front, "tcp://127.0.0.1:*"), 0);
    assert_int_equal(zmq_bind(p.back, "inproc://broker-back"), 0);
    char ep[256];
    size_t len = sizeof ep;
    assert_int_equal(zmq_getsockopt(p.front, ZMQ_LAST_ENDPOINT, ep, &len), 0);
    void *rep = zmq_socket(ctx, ZMQ_REP), *req = zmq_socket(ctx, ZMQ_REQ);
    int to = S_TIMEOUT_MS;
    zmq_setsockopt(rep, ZMQ_RCVTIMEO, &to, sizeof to);
    zmq_setsockopt(req, ZMQ_RCVTIMEO, &to, sizeof to);
    assert_int_equal(zmq_connect(rep, "inproc://broker-back"), 0);
    assert_int_equal(zmq_connect(req, ep), 0);
    pthread_t proxy, worker;
    assert_int_equal(pthread_create(&proxy, NULL, s_run_proxy, &p), 0);
    assert_int_equal(pthread_create(&worker, NULL, s_rep_worker, rep), 0);
    for (int i = 0; i < 2 * K_COUNT; i++) {
        int k = i % K_COUNT;
        s_send_kind(req, k, 100 + i, NULL);
        zpk_envelope_t env;
        s_expect_kind(req, k, 200 + i, &env);
        assert_int_equal(env.n, 0);
    }
    assert_int_equal(pthread_join(worker, NULL), 0);
    zmq_close(req);
    zmq_close(rep);
    zmq_ctx_shutdown(ctx);
    assert_int_equal(pthread_join(proxy, NULL), 0);
    zmq_ctx_term(ctx);
}

/* Several DEALERs to one ROUTER: each gets the reply meant for it; a
 * DEALER that follows the zguide's convention (an empty delimiter in its
 * envelope) gets the delimiter back. */
static void test_dealers_and_router(void **state)
{
    (void)state;
    enum { N = 4 };
    void *router = zmq_socket(s_ctx, ZMQ_ROUTER);
    s_opts(router);
    assert_int_equal(zmq_bind(router, "tcp://127.0.0.1:*"), 0);
    char ep[256];
    size_t len = sizeof ep;
    assert_int_equal(zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, ep, &len), 0);
    void *dealer[N];
    zpk_frame_t delim = {"", 0, NULL, NULL};
    zpk_envelope_t with_delim = {&delim, 1, NULL};
    for (int i = 0; i < N; i++) {
        dealer[i] = zmq_socket(s_ctx, ZMQ_DEALER);
        s_opts(dealer[i]);
        char id[16];
        snprintf(id, sizeof id, "d%d", i);
        assert_int_equal(zmq_setsockopt(dealer[i], ZMQ_ROUTING_ID, id, strlen(id)), 0);
        assert_int_equal(zmq_connect(dealer[i], ep), 0);
    }
    for (int round = 0; round < K_COUNT; round++) {
        for (int i = 0; i < N; i++)
            s_send_kind(dealer[i], round, i * 10 + round, i % 2 ? &with_delim : NULL);
        for (int i = 0; i < N; i++) { /* in whatever order they come: reply to each */
            zpk_envelope_t env;
            int k = round;
            /* the value tells which dealer sent it; the identity must agree */
            zpk_doc_t *doc = NULL;
            zpk_ndarray_t a;
            zpk_mixed_t m;
            int v = -1;
            if (k == K_PACKED || k == K_PACKED_SINGLE) {
                assert_int_equal(zpk_recv_packed(router, NULL, &env, &doc, NULL), 0);
                zpk_unpack_fmt(zpk_doc_root(doc), "{s:i}", "v", &v);
                zpk_doc_destroy(&doc);
            } else if (k == K_ARRAY || k == K_ARRAY_ZLIB) {
                assert_int_equal(zpk_recv_array(router, NULL, &env, &a, NULL), 0);
                v = (int)((const double *)a.data)[0];
                zpk_ndarray_free(&a);
            } else {
                assert_int_equal(zpk_recv_mixed(router, NULL, &env, &m, NULL), 0);
                zpk_unpack_fmt(zpk_doc_root(m.doc), "{s:i}", "v", &v);
                zpk_mixed_free(&m);
            }
            int from = v / 10;
            assert_true(from >= 0 && from < N);
            char id[16];
            snprintf(id, sizeof id, "d%d", from);
            assert_int_equal(env.n, from % 2 ? 2 : 1);
            assert_int_equal(env.frames[0].size, strlen(id));
            assert_memory_equal(env.frames[0].data, id, strlen(id));
            s_send_kind(router, k, 1000 + from, &env);
            zpk_envelope_free(&env);
        }
        for (int i = 0; i < N; i++) {
            zpk_envelope_t env;
            s_expect_kind(dealer[i], round, 1000 + i, &env);
            assert_int_equal(env.n, i % 2 ? 1 : 0);
            zpk_envelope_free(&env);
        }
    }
    for (int i = 0; i < N; i++)
        s_close(dealer[i]);
    s_close(router);
}

static void test_czmq_sockets(void **state)
{
    (void)state;
#if ZPK_HAVE_CZMQ
    zsock_t *pull = zsock_new_pull("inproc://czmq-test");
    zsock_t *push = zsock_new_push(">inproc://czmq-test");
    assert_non_null(pull);
    assert_non_null(push);
    zsock_set_rcvtimeo(pull, S_TIMEOUT_MS);
    s_send_good(push, NULL, 77);
    s_expect_good(pull, 77);
    double v[4] = {1, 2, 3, 4};
    size_t n = 4;
    zpk_ndarray_t a;
    zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, &n, 'C', v);
    assert_int_equal(zpk_send_array(push, &a, NULL, NULL), 0);
    zpk_ndarray_t r;
    assert_int_equal(s_recv_arr(pull, &r, 0), 0);
    assert_memory_equal(r.data, v, sizeof v);
    zpk_ndarray_free(&r);
    zsock_destroy(&push);
    zsock_destroy(&pull);
#else
    skip();
#endif
}

/* ---- fast paths of the socket layer -------------------------------------------- */

/* Takes one whole message with raw libzmq: its frame count, and a copy of
 * frame @p k (up to @p cap bytes) with its size. */
static int s_raw_frames(void *s, int k, uint8_t *buf, size_t cap, size_t *size)
{
    int n = 0;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        assert_true(zmq_msg_recv(&m, s, 0) >= 0);
        if (n == k) {
            *size = zmq_msg_size(&m);
            memcpy(buf, zmq_msg_data(&m), *size < cap ? *size : cap);
        }
        n++;
        int more = zmq_msg_more(&m);
        zmq_msg_close(&m);
        if (!more)
            return n;
    }
}

/* A packed object of exactly @p len bytes (3 or more): a bin of the rest. */
static void s_write_len(zpk_writer_t *w, size_t len, uint8_t fill)
{
    static uint8_t buf[1 << 17];
    memset(buf, fill, sizeof buf);
    size_t hdr = len - 2 <= 0xff ? 2 : len - 3 <= 0xffff ? 3 : 5;
    zpk_write_bin(w, buf, len - hdr);
    assert_int_equal(zpk_writer_size(w), len);
}

/* Small packed objects travel in one frame up to the threshold (16 KiB of
 * payload), in two from there; both forms, with and without a topic, and
 * the two-frame form of small objects that older senders used, are
 * received by every packed receive call. */
static void test_packed_single_frame_threshold(void **state)
{
    (void)state;
    void *pull, *push;
    s_pair(T_INPROC, ZMQ_PULL, ZMQ_PUSH, &pull, &push);
    const size_t lens[] = {1, 95, 16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1};
    const int frames[] = {1, 1, 1, 2, 2};
    static uint8_t got[1 << 17];
    for (size_t k = 0; k < 5; k++) {
        for (int topic = 0; topic < 2; topic++) {
            /* the frames on the wire */
            zpk_writer_t w;
            zpk_writer_init_growable(&w, 0);
            if (lens[k] == 1)
                zpk_write_nil(&w);
            else
                s_write_len(&w, lens[k], (uint8_t)k);
            uint8_t *copy = malloc(lens[k]);
            memcpy(copy, zpk_writer_data(&w), lens[k]);
            assert_int_equal(s_send_w(push, topic ? "tp" : NULL, &w, 0), 0);
            size_t sz = 0;
            assert_int_equal(s_raw_frames(pull, topic, got, sizeof got, &sz), frames[k] + topic);
            if (frames[k] == 1) { /* the fixed header, then the object */
                assert_int_equal(sz, 31 + lens[k]);
                assert_memory_equal(
                    got, "\x84\xa3zpk\x01\xa4kind\xa3obj\xa6" "frames\x00\xa6single\xc3", 31);
                assert_memory_equal(got + 31, copy, lens[k]);
            } else {
                assert_memory_equal(got, "\x83\xa3zpk\x01\xa4kind\xa3obj\xa6" "frames\x01", sz);
            }
            /* every receive call reads it */
            for (int call = 0; call < 2; call++) {
                zpk_write_raw(&w, copy, lens[k]);
                assert_int_equal(s_send_w(push, topic ? "tp" : NULL, &w, 0), 0);
                char tbuf[8] = "";
                zpk_envelope_t env;
                if (call == 0) {
                    zpk_doc_t *doc = NULL;
                    assert_int_equal(zpk_recv_packed(pull, NULL, &env, &doc, NULL), 0);
                    assert_int_equal(zpk_doc_consumed(doc), lens[k]);
                    const zpk_node_t *root = zpk_doc_root(doc);
                    if (lens[k] == 1) {
                        assert_true(zpk_node_is_nil(root));
                    } else {
                        const uint8_t *p;
                        size_t n;
                        assert_int_equal(zpk_node_get_bin(root, &p, &n), 0);
                        assert_memory_equal(p, copy + (lens[k] - n), n);
                    }
                    zpk_doc_destroy(&doc);
                } else {
                    zpk_mixed_t b;
                    assert_int_equal(s_recv_bytes(pull, NULL, &env, &b), 0);
                    assert_int_equal(b.packed_size, lens[k]);
                    assert_memory_equal(b.packed, copy, lens[k]);
                    zpk_mixed_free(&b);
                }
                assert_int_equal(env.n, topic ? 1 : 0);
                s_topic(&env, tbuf, sizeof tbuf);
                assert_string_equal(tbuf, topic ? "tp" : "");
            }
            zpk_writer_free(&w);
            free(copy);
        }
    }

    /* a small object in the two-frame form (older senders), with and
     * without a topic, and read with explicit limits (the general path) */
    static const uint8_t hdr2[] = "\x83\xa3zpk\x01\xa4kind\xa3obj\xa6" "frames\x01";
    static const uint8_t obj[] = "\x82\xa2id\x07\xa4name\xa3zpk";
    zpk_limits_t lim;
    zpk_limits_default(&lim, 0);
    for (int v = 0; v < 4; v++) {
        int topic = v & 1;
        if (topic)
            assert_int_equal(zmq_send(push, "t", 1, ZMQ_SNDMORE), 1);
        assert_int_equal(zmq_send(push, hdr2, sizeof hdr2 - 1, ZMQ_SNDMORE), (int)sizeof hdr2 - 1);
        assert_int_equal(zmq_send(push, obj, sizeof obj - 1, 0), (int)sizeof obj - 1);
        zpk_recv_opts_t ro;
        zpk_recv_opts_init(&ro);
        ro.limits = v >= 2 ? &lim : NULL;
        zpk_mixed_t b;
        zpk_envelope_t env;
        assert_int_equal(s_recv_bytes(pull, &ro, &env, &b), 0);
        assert_int_equal(b.packed_size, sizeof obj - 1);
        assert_memory_equal(b.packed, obj, sizeof obj - 1);
        assert_int_equal(env.n, (size_t)topic);
        zpk_envelope_free(&env);
        zpk_mixed_free(&b);
        /* the same object in one frame, read with explicit limits */
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 0);
        zpk_write_raw(&w, obj, sizeof obj - 1);
        assert_int_equal(s_send_w(push, topic ? "t" : NULL, &w, 0), 0);
        zpk_writer_free(&w);
        zpk_doc_t *doc = NULL;
        assert_int_equal(zpk_recv_packed(pull, &ro, NULL, &doc, NULL), 0);
        int64_t id = 0;
        assert_int_equal(zpk_node_get_int(zpk_node_map_get(zpk_doc_root(doc), "id"), &id), 0);
        assert_int_equal(id, 7);
        zpk_doc_destroy(&doc);
    }

    /* near misses of the one-frame fast path are decided by the general
     * path: two one-frame headers in one message (frame 0 is a header, not
     * a topic), a header with no object after it, a payload that is not one
     * object; each is followed by a good message received intact */
    uint8_t one[64];
    memcpy(one, "\x84\xa3zpk\x01\xa4kind\xa3obj\xa6" "frames\x00\xa6single\xc3", 31);
    memcpy(one + 31, obj, sizeof obj - 1);
    size_t onelen = 31 + sizeof obj - 1;
    struct {
        int parts;
        size_t len;
        int doc_rc, bytes_rc;
    } bad[] = {{2, onelen, ZPK_EFRAME, ZPK_EFRAME},
               {1, 31, ZPK_EOUTOFDATA, ZPK_EOUTOFDATA}, /* one path: one code */
               {1, onelen - 1, ZPK_EOUTOFDATA, 0}};
    for (size_t k = 0; k < 3; k++) {
        for (int call = 0; call < 2; call++) {
            for (int i = 0; i < bad[k].parts; i++)
                assert_int_equal(
                    zmq_send(push, one, bad[k].len, i + 1 < bad[k].parts ? ZMQ_SNDMORE : 0),
                    (int)bad[k].len);
            s_send_good(push, NULL, 40 + (int)k);
            if (call == 0) {
                zpk_doc_t *doc = NULL;
                assert_int_equal(s_recv_doc(pull, &doc, 0), bad[k].doc_rc);
                assert_null(doc);
            } else {
                zpk_mixed_t b;
                assert_int_equal(s_recv_bytes(pull, NULL, NULL, &b), bad[k].bytes_rc);
                zpk_mixed_free(&b);
            }
            s_expect_good(pull, 40 + (int)k);
        }
    }
    s_close2(pull, push);
}

static void s_noop_free(void *data, void *hint)
{
    (void)data;
    (void)hint;
}

/* Arrays of one size sent and received again and again: the header caches
 * on both sides never mix up dtype, shape or order (all of these have the
 * same byte count), the header bytes are the same on a hit as on a miss,
 * zero-copy holds on the cached path, explicit options bypass the
 * receive cache, ownership and send errors behave as in the general path. */
static void test_array_header_caches(void **state)
{
    (void)state;
    void *pull, *push;
    s_pair(T_INPROC, ZMQ_PULL, ZMQ_PUSH, &pull, &push);
    enum { N = 8192 };
    double *data = malloc(N * sizeof(double));
    for (int i = 0; i < N; i++)
        data[i] = i * 0.5;
    struct {
        zpk_dtype_t dt;
        int ndim;
        size_t shape[2];
        char order;
    } v[] = {
        {zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, {N, 0}, 'C'},
        {zpk_dtype_make(ZPK_KIND_UINT, 1), 1, {N * 8, 0}, 'C'},
        {zpk_dtype_make(ZPK_KIND_INT, 8), 1, {N, 0}, 'C'},
        {zpk_dtype_make(ZPK_KIND_FLOAT, 8), 2, {N / 2, 2}, 'C'},
        {zpk_dtype_make(ZPK_KIND_FLOAT, 8), 2, {N / 2, 2}, 'F'},
        {zpk_dtype_make(ZPK_KIND_FLOAT, 8), 2, {2, N / 2}, 'C'},
        {zpk_dtype_make(ZPK_KIND_FLOAT, 4), 1, {N * 2, 0}, 'C'},
        {zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, {N, 0}, 'C'},
    };
    v[6].dt.byteorder = v[6].dt.byteorder == '<' ? '>' : '<'; /* the other byte order */
    zpk_tracker_t *t = zpk_tracker_new();
    zpk_send_opts_t so;
    zpk_send_opts_init(&so);
    so.own = ZPK_OWN_BORROW;
    so.tracker = t;
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
        zpk_ndarray_t a;
        assert_int_equal(zpk_ndarray_init(&a, v[k].dt, v[k].ndim, v[k].shape, v[k].order, data), 0);
        assert_int_equal(a.nbytes, N * 8);
        uint8_t h[2][512];
        size_t hl[2];
        for (int rep = 0; rep < 2; rep++) { /* the headers of a miss and a hit */
            assert_int_equal(zpk_send_array(push, &a, &so, NULL), 0);
            assert_int_equal(s_raw_frames(pull, 0, h[rep], sizeof h[rep], &hl[rep]), 2);
        }
        assert_int_equal(hl[0], hl[1]);
        assert_memory_equal(h[0], h[1], hl[0]);
        for (int rep = 0; rep < 3; rep++) { /* a miss, then hits */
            assert_int_equal(zpk_send_array(push, &a, &so, NULL), 0);
            zpk_ndarray_t r;
            assert_int_equal(s_recv_arr(pull, &r, 0), 0);
            assert_ptr_equal(r.data, data); /* zero-copy, in place */
            assert_int_equal(r.dtype.kind, v[k].dt.kind);
            assert_int_equal(r.dtype.byteorder, v[k].dt.byteorder);
            assert_int_equal(r.dtype.itemsize, v[k].dt.itemsize);
            assert_int_equal(r.ndim, v[k].ndim);
            for (int d = 0; d < v[k].ndim; d++)
                assert_int_equal(r.shape[d], v[k].shape[d]);
            assert_int_equal(r.order, v[k].order);
            assert_int_equal(r.nbytes, N * 8);
            assert_false(zpk_tracker_done(t)); /* the receiver holds the data */
            zpk_ndarray_free(&r);
            assert_int_equal(zpk_tracker_wait(t, S_TIMEOUT_MS), 0);
        }
    }

    /* with a topic; then explicit array options bypass the receive cache */
    zpk_ndarray_t a;
    size_t n = N;
    assert_int_equal(zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, &n, 'C', data), 0);
    so.topic = "cam";
    so.topic_len = 3;
    assert_int_equal(zpk_send_array(push, &a, &so, NULL), 0);
    char tbuf[8];
    zpk_recv_opts_t ro;
    zpk_envelope_t env;
    zpk_ndarray_t r;
    assert_int_equal(zpk_recv_array(pull, NULL, &env, &r, NULL), 0);
    assert_int_equal(env.n, 1);
    s_topic(&env, tbuf, sizeof tbuf);
    assert_string_equal(tbuf, "cam");
    assert_ptr_equal(r.data, data);
    zpk_ndarray_free(&r);
    so.topic = NULL;
    so.topic_len = 0;
    zpk_ndarray_opts_t ao;
    zpk_ndarray_opts_default(&ao);
    ao.max_ndarray_bytes = 1000;
    zpk_recv_opts_init(&ro);
    ro.array_opts = &ao;
    assert_int_equal(zpk_send_array(push, &a, &so, NULL), 0);
    assert_int_equal(zpk_send_array(push, &a, &so, NULL), 0);
    assert_int_equal(zpk_recv_array(pull, &ro, NULL, &r, NULL), ZPK_ELIMIT);
    assert_null(r.data);
    assert_int_equal(s_recv_arr(pull, &r, 0), 0);
    assert_ptr_equal(r.data, data);
    zpk_ndarray_free(&r);

    /* a misaligned payload after a cached header: copied, aligned */
    uint8_t hdr[512];
    size_t hlen;
    assert_int_equal(zpk_send_array(push, &a, &so, NULL), 0);
    assert_int_equal(s_raw_frames(pull, 0, hdr, sizeof hdr, &hlen), 2);
    uint8_t *odd = malloc(N * 8 + 1);
    memcpy(odd + 1, data, N * 8);
    assert_int_equal(zmq_send(push, hdr, hlen, ZMQ_SNDMORE), (int)hlen);
    zmq_msg_t m;
    assert_int_equal(zmq_msg_init_data(&m, odd + 1, N * 8, s_noop_free, NULL), 0);
    assert_int_equal(zmq_msg_send(&m, push, 0), N * 8);
    assert_int_equal(s_recv_arr(pull, &r, 0), 0);
    assert_true(r.data != odd + 1);
    assert_int_equal((uintptr_t)r.data % 8, 0);
    assert_memory_equal(r.data, data, N * 8);
    zpk_ndarray_free(&r);
    /* a header that matches but a payload frame of another size: ZPK_ESHAPE */
    assert_int_equal(zmq_send(push, hdr, hlen, ZMQ_SNDMORE), (int)hlen);
    assert_int_equal(zmq_send(push, data, 8, 0), 8);
    s_send_good(push, NULL, 50);
    assert_int_equal(s_recv_arr(pull, &r, 0), ZPK_ESHAPE);
    s_expect_good(pull, 50);
    free(odd);

    /* opts->into with a known header: copied into the buffer,
     * topic and metadata as the general path gives them; a buffer too small */
    double *into = malloc(N * 8);
    for (int rep = 0; rep < 3; rep++) {
        memset(into, 0, N * 8);
        so.topic = rep == 2 ? "tp" : NULL;
        so.topic_len = rep == 2 ? 2 : 0;
        assert_int_equal(zpk_send_array(push, &a, &so, NULL), 0);
        zpk_recv_opts_init(&ro);
        ro.into = into;
        ro.into_size = N * 8;
        assert_int_equal(zpk_recv_array(pull, &ro, &env, &r, NULL), 0);
        assert_ptr_equal(r.data, into);
        assert_int_equal(r.ndim, 1);
        assert_int_equal(r.shape[0], N);
        assert_int_equal(r.dtype.kind, ZPK_KIND_FLOAT);
        assert_int_equal(r.nbytes, N * 8);
        assert_null(r.free_fn);
        assert_memory_equal(into, data, N * 8);
        assert_int_equal(env.n, rep == 2 ? 1 : 0);
        s_topic(&env, tbuf, sizeof tbuf);
        assert_string_equal(tbuf, rep == 2 ? "tp" : "");
    }
    so.topic = NULL;
    so.topic_len = 0;
    assert_int_equal(zpk_send_array(push, &a, &so, NULL), 0);
    s_send_good(push, NULL, 51);
    assert_int_equal(s_recv_into(pull, into, N * 8 - 1, &r, NULL), ZPK_EBUFFULL);
    assert_null(r.data);
    s_expect_good(pull, 51);
    free(into);

    /* ownership on the cached path: copied, or given (freed once, after
     * the receiver lets go) */
    zpk_send_opts_init(&so);
    assert_int_equal(zpk_send_array(push, &a, &so, NULL), 0);
    assert_int_equal(s_recv_arr(pull, &r, 0), 0);
    assert_true(r.data != data);
    assert_memory_equal(r.data, data, N * 8);
    zpk_ndarray_free(&r);
    so.own = ZPK_OWN_GIVE;
    so.free_fn = s_count_free;
    s_freed = 0;
    assert_int_equal(zpk_send_array(push, &a, &so, NULL), 0);
    assert_int_equal(s_recv_arr(pull, &r, 0), 0);
    assert_ptr_equal(r.data, data);
    assert_int_equal(s_freed, 0);
    zpk_ndarray_free(&r);
    for (int i = 0; i < 500 && s_freed == 0; i++)
        usleep(1000);
    assert_int_equal(s_freed, 1);
    assert_ptr_equal(s_freed_ptr, data);

    /* a send that cannot go (no peer, ZPK_DONTWAIT): the caller keeps its
     * memory, the free function is not called, the tracker is done */
    void *lone = zmq_socket(s_ctx, ZMQ_PUSH);
    s_opts(lone);
    s_freed = 0;
    so.flags = ZPK_DONTWAIT;
    assert_int_equal(zpk_send_array(lone, &a, &so, NULL), -EAGAIN);
    zpk_send_opts_init(&so);
    so.own = ZPK_OWN_BORROW;
    so.tracker = t;
    so.flags = ZPK_DONTWAIT;
    assert_int_equal(zpk_send_array(lone, &a, &so, NULL), -EAGAIN);
    assert_true(zpk_tracker_done(t));
    assert_int_equal(s_freed, 0);
    s_close(lone);
    zpk_tracker_destroy(&t);
    free(data);
    s_close2(pull, push);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packed_push_pull_every_transport),
        cmocka_unit_test(test_packed_compressed_and_large),
        cmocka_unit_test(test_pub_sub_topics),
        cmocka_unit_test(test_topic_that_looks_like_a_header_is_refused),
        cmocka_unit_test(test_arrays_every_codec_both_orders),
        cmocka_unit_test(test_array_dtypes_empty_scalar_noncontiguous),
        cmocka_unit_test(test_req_rep_and_dealer_router),
        cmocka_unit_test(test_mixed),
        cmocka_unit_test(test_recv_packed_bytes),
        cmocka_unit_test(test_fast_paths_match_general),
        cmocka_unit_test(test_single_frame_conflate),
        cmocka_unit_test(test_single_frame_compressed_chunks),
        cmocka_unit_test(test_zero_copy_inproc),
        cmocka_unit_test(test_one_gib_end_to_end),
        cmocka_unit_test(test_errors_never_desynchronise),
        cmocka_unit_test(test_allocation_failures_leave_socket_in_sync),
        cmocka_unit_test(test_recipe_both_directions),
        cmocka_unit_test(test_eterm_and_bad_arguments),
        cmocka_unit_test(test_czmq_sockets),
        cmocka_unit_test(test_req_to_router_and_back),
        cmocka_unit_test(test_req_broker_rep),
        cmocka_unit_test(test_dealers_and_router),
        cmocka_unit_test(test_packed_single_frame_threshold),
        cmocka_unit_test(test_array_header_caches),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
