/*
 * The message layer without a socket (zmqpack/message.h): encode to frames
 * and decode frames, their ownership, envelopes, the protocol's rules as
 * written (issue 14, item 6), every route giving the same frames and the
 * same results (fast paths and caches against the general walk, encode
 * against what a send puts on the wire, decode against a receive), and
 * every entry point's argument checks (NULL, impossible sizes).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <zmq.h>

#include "harness.h"
#include "message_internal.h"
#include "msgpack_internal.h"
#include "zmqpack.h"

#define S_TIMEOUT_MS 5000

/* A borrowed frame over @p p (frames carry void *). */
#define S_FR(p, n) ((zpk_frame_t){(void *)(uintptr_t)(p), (n), NULL, NULL})

/* ---- helpers ----------------------------------------------------------------- */

/* A frame list copied out of @p f (bytes and sizes), freed with s_copy_free(). */
typedef struct s_copy {
    size_t n;
    uint8_t *data[64];
    size_t size[64];
} s_copy_t;

static void s_copy(s_copy_t *c, const zpk_frames_t *f)
{
    assert_true(f->n <= 64);
    c->n = f->n;
    for (size_t i = 0; i < f->n; i++) {
        c->size[i] = f->frames[i].size;
        c->data[i] = malloc(c->size[i] + 1);
        if (c->size[i] > 0)
            memcpy(c->data[i], f->frames[i].data, c->size[i]);
    }
}

static void s_copy_free(s_copy_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->data[i]);
    c->n = 0;
}

static void s_assert_same(const s_copy_t *a, const s_copy_t *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->size[i], b->size[i]);
        if (a->size[i] > 0)
            assert_memory_equal(a->data[i], b->data[i], a->size[i]);
    }
}

/* The frames of @p c as borrowed frames for a decode. */
static void s_as_frames(const s_copy_t *c, zpk_frame_t *fr)
{
    for (size_t i = 0; i < c->n; i++)
        fr[i] = S_FR(c->data[i], c->size[i]);
}

static void s_fill(double *d, size_t n, double seed)
{
    for (size_t i = 0; i < n; i++)
        d[i] = seed + (double)(i % 997) * 0.25;
}

/* ---- every route gives the same frames ------------------------------------------ */

/* One message to encode, by kind. */
typedef struct s_case {
    const char *name;
    int kind;       /* ZPK__KIND_OBJ, _NDARRAY, _MIXED */
    size_t objlen;  /* approximate object size (kinds obj, mixed) */
    size_t n;       /* float64 items of the ndarray(s) */
    const char *codec;
    size_t chunk;
    int flags;
    const char *topic;
} s_case_t;

static const s_case_t s_cases[] = {
    {"small object", ZPK__KIND_OBJ, 100, 0, NULL, 0, 0, NULL},
    {"small object, topic", ZPK__KIND_OBJ, 100, 0, NULL, 0, 0, "t"},
    {"object of 2 KiB", ZPK__KIND_OBJ, 2000, 0, NULL, 0, 0, NULL},
    {"object of 30 KiB", ZPK__KIND_OBJ, 30000, 0, NULL, 0, 0, NULL},
    {"object of 200 KiB", ZPK__KIND_OBJ, 200000, 0, NULL, 0, 0, NULL},
    {"object, zlib", ZPK__KIND_OBJ, 200000, 0, "zlib:1", 65536, 0, NULL},
    {"object, single", ZPK__KIND_OBJ, 30000, 0, NULL, 0, ZPK_SEND_SINGLE, NULL},
    {"ndarray of 1 KiB", ZPK__KIND_NDARRAY, 0, 128, NULL, 0, 0, NULL},
    {"ndarray of 64 KiB", ZPK__KIND_NDARRAY, 0, 8192, NULL, 0, 0, NULL},
    {"ndarray of 64 KiB, topic", ZPK__KIND_NDARRAY, 0, 8192, NULL, 0, 0, "cam"},
    {"ndarray, zlib, chunk 1001", ZPK__KIND_NDARRAY, 0, 8192, "zlib:1", 1001, 0, NULL},
    {"ndarray, zlib, chunk 1001, single", ZPK__KIND_NDARRAY, 0, 8192, "zlib:1", 1001,
     ZPK_SEND_SINGLE, NULL},
    {"ndarray, blosc, single", ZPK__KIND_NDARRAY, 0, 8192, "blosc:lz4:5:shuffle", 10000,
     ZPK_SEND_SINGLE, NULL},
    {"ndarray, auto", ZPK__KIND_NDARRAY, 0, 80000, "auto", 0, 0, NULL},
    {"ndarray, recipe", ZPK__KIND_NDARRAY, 0, 8192, NULL, 0, ZPK_SEND_RECIPE, NULL},
    {"ndarray, recipe, topic", ZPK__KIND_NDARRAY, 0, 100, NULL, 0, ZPK_SEND_RECIPE, "t"},
    {"mixed, small", ZPK__KIND_MIXED, 100, 16, NULL, 0, 0, NULL},
    {"mixed, large", ZPK__KIND_MIXED, 100, 20000, NULL, 0, 0, "m"},
    {"mixed, zlib, single", ZPK__KIND_MIXED, 3000, 2000, "zlib:1", 0, ZPK_SEND_SINGLE, NULL},
};

/* The writer, arrays and options of case @p c. */
typedef struct s_input {
    zpk_writer_t w;
    double *d;
    zpk_ndarray_t a[2];
    zpk_codec_t codec;
    zpk_send_opts_t o;
} s_input_t;

static void s_input(s_input_t *in, const s_case_t *c)
{
    memset(in, 0, sizeof *in);
    zpk_writer_init_growable(&in->w, 0);
    if (c->kind != ZPK__KIND_NDARRAY) {
        size_t items = c->objlen / 10 + 1;
        zpk_write_map(&in->w, c->kind == ZPK__KIND_MIXED ? 3 : 1);
        zpk_write_cstr(&in->w, "v");
        zpk_write_array(&in->w, items);
        for (size_t i = 0; i < items; i++)
            zpk_write_uint(&in->w, (uint64_t)(i % 50) * 100000000ull);
        if (c->kind == ZPK__KIND_MIXED) {
            zpk_write_cstr(&in->w, "a");
            zpk_write_ndarray_ref(&in->w, 0);
            zpk_write_cstr(&in->w, "b");
            zpk_write_ndarray_ref(&in->w, 1);
        }
    }
    if (c->n > 0) {
        in->d = malloc(c->n * 2 * sizeof(double));
        s_fill(in->d, c->n * 2, 3.0);
        size_t n = c->n, shape2[2] = {c->n / 8 ? c->n / 8 : 1, 8};
        zpk_ndarray_init(&in->a[0], zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, &n, 'C', in->d);
        if (c->n % 8 == 0)
            zpk_ndarray_init(&in->a[1], zpk_dtype_make(ZPK_KIND_FLOAT, 8), 2, shape2, 'F',
                             in->d + c->n);
        else
            zpk_ndarray_init(&in->a[1], zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, &n, 'C',
                             in->d + c->n);
    }
    zpk_send_opts_init(&in->o);
    in->o.flags = c->flags;
    in->o.topic = c->topic;
    in->o.topic_len = c->topic != NULL ? strlen(c->topic) : 0;
    if (c->codec != NULL) {
        if (strncmp(c->codec, "blosc", 5) == 0 && !ZPK_HAVE_BLOSC)
            assert_int_equal(zpk_codec_parse("zlib:1", 6, &in->codec, NULL), 0);
        else
            assert_int_equal(zpk_codec_parse(c->codec, strlen(c->codec), &in->codec, NULL), 0);
        in->codec.chunk_size = c->chunk;
        in->o.codec = &in->codec;
    }
}

static void s_input_free(s_input_t *in)
{
    zpk_writer_free(&in->w);
    free(in->d);
}

static int s_encode(s_input_t *in, const s_case_t *c, zpk_frames_t *f, zpk_error_t *err)
{
    if (c->kind == ZPK__KIND_OBJ)
        return zpk_encode_packed(&in->w, &in->o, f, err);
    if (c->kind == ZPK__KIND_NDARRAY)
        return zpk_encode_ndarray(&in->a[0], &in->o, f, err);
    return zpk_encode_mixed(&in->w, in->a, 2, &in->o, f, err);
}

static int s_send(void *s, s_input_t *in, const s_case_t *c)
{
    if (c->kind == ZPK__KIND_OBJ)
        return zpk_send_packed(s, &in->w, &in->o, NULL);
    if (c->kind == ZPK__KIND_NDARRAY)
        return zpk_send_array(s, &in->a[0], &in->o, NULL);
    return zpk_send_mixed(s, &in->w, in->a, 2, &in->o, NULL);
}

/* Takes one multipart message off @p s as copied frames. */
static void s_recv_raw(void *s, s_copy_t *c)
{
    c->n = 0;
    int more = 1;
    while (more) {
        assert_true(c->n < 64);
        zmq_msg_t m;
        zmq_msg_init(&m);
        assert_true(zmq_msg_recv(&m, s, 0) >= 0);
        c->size[c->n] = zmq_msg_size(&m);
        c->data[c->n] = malloc(c->size[c->n] + 1);
        memcpy(c->data[c->n], zmq_msg_data(&m), c->size[c->n]);
        c->n++;
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
}

/*
 * Each case encoded twice in a row (the second may hit the header cache),
 * with every fast path and cache off, and sent on a socket: the frames are
 * byte for byte the same on every route.
 */
static void test_every_route_gives_the_same_frames(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    void *pull = zmq_socket(ctx, ZMQ_PULL), *push = zmq_socket(ctx, ZMQ_PUSH);
    int to = S_TIMEOUT_MS;
    zmq_setsockopt(pull, ZMQ_RCVTIMEO, &to, sizeof to);
    assert_int_equal(zmq_bind(pull, "inproc://frames-routes"), 0);
    assert_int_equal(zmq_connect(push, "inproc://frames-routes"), 0);
    for (size_t k = 0; k < sizeof s_cases / sizeof s_cases[0]; k++) {
        const s_case_t *c = &s_cases[k];
        s_copy_t route[4];
        for (int r = 0; r < 4; r++) {
            s_input_t in;
            s_input(&in, c);
            zpk__msg_fast_off = r == 2;
            if (r < 3) { /* 0: first, 1: again (a cache hit), 2: fast paths off */
                zpk_frames_t f;
                zpk_error_t err;
                int rc = s_encode(&in, c, &f, &err);
                if (rc != 0)
                    fail_msg("%s: %s (%s)", c->name, zpk_err_name(rc), err.text);
                s_copy(&route[r], &f);
                zpk_frames_free(&f);
            } else { /* 3: what a send puts on the wire */
                assert_int_equal(s_send(push, &in, c), 0);
                s_recv_raw(pull, &route[r]);
            }
            zpk__msg_fast_off = false;
            s_input_free(&in);
        }
        for (int r = 1; r < 4; r++) {
            if (route[r].n != route[0].n)
                fail_msg("%s: route %d gives %zu frames, route 0 %zu", c->name, r, route[r].n,
                         route[0].n);
            s_assert_same(&route[0], &route[r]);
        }
        /* and every route decodes to the message sent */
        zpk_frame_t fr[64];
        s_as_frames(&route[0], fr);
        zpk_envelope_t env;
        zpk_error_t err;
        if (c->kind == ZPK__KIND_NDARRAY) {
            zpk_ndarray_t a;
            assert_int_equal(zpk_decode_ndarray(fr, route[0].n, NULL, &env, &a, &err), 0);
            assert_int_equal(a.nbytes, c->n * 8);
            s_input_t in;
            s_input(&in, c);
            assert_memory_equal(a.data, in.d, a.nbytes);
            s_input_free(&in);
            zpk_ndarray_free(&a);
        } else {
            zpk_mixed_t m;
            assert_int_equal(zpk_decode_mixed(fr, route[0].n, NULL, &env, &m, &err), 0);
            assert_int_equal(m.n_ndarrays, c->kind == ZPK__KIND_MIXED ? 2 : 0);
            zpk_mixed_free(&m);
        }
        assert_int_equal(env.n, c->topic != NULL ? 1 : 0);
        zpk_envelope_free(&env);
        for (int r = 0; r < 4; r++)
            s_copy_free(&route[r]);
    }
    zmq_close(pull);
    zmq_close(push);
    zmq_ctx_term(ctx);
}

/* The chunk rounding case of issue 14: float64, zlib, chunk_size 1001 says
 * "chunk": 1000 with and without ZPK_SEND_SINGLE. */
static void test_single_frame_rounds_chunks_like_every_send(void **state)
{
    (void)state;
    for (int single = 0; single < 2; single++) {
        s_input_t in;
        s_input(&in, &s_cases[single ? 11 : 10]);
        zpk_frames_t f;
        assert_int_equal(zpk_encode_ndarray(&in.a[0], &in.o, &f, NULL), 0);
        zpk__msg_t m;
        assert_int_equal(zpk__msg_parse(f.frames, f.n, NULL, NULL, &m, NULL), 0);
        if (single)
            assert_true(m.single);
        assert_int_equal(m.ndarrays[0].chunk_size, 1000);
        assert_int_equal(m.ndarrays[0].nchunks, (8192 * 8 + 999) / 1000);
        zpk__msg_free(&m);
        zpk_frames_free(&f);
        s_input_free(&in);
    }
}

/* The fixed header the fast paths copy is what the writer writes. */
static void test_fixed_header_is_the_writers(void **state)
{
    (void)state;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk__msg_write_header(&w, ZPK__KIND_OBJ, true, 0, NULL, NULL, 0);
    assert_int_equal(zpk_writer_finish(&w), 0);
    assert_int_equal(zpk_writer_size(&w), ZPK__HDR_OBJ_SINGLE_LEN);
    assert_memory_equal(zpk_writer_data(&w), zpk__hdr_obj_single, ZPK__HDR_OBJ_SINGLE_LEN);
    zpk_writer_free(&w);
}

/* ---- every decode route gives the same results ----------------------------------- */

/* What a decode gave, for comparison. */
typedef struct s_result {
    int rc;
    int err_frame;
    size_t env_n;
    size_t bytes_len;
    uint8_t bytes[256];    /* a digest of what was decoded */
} s_result_t;

static void s_digest(s_result_t *r, const void *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    assert_true(r->bytes_len + 8 <= sizeof r->bytes);
    memcpy(r->bytes + r->bytes_len, &h, 8);
    r->bytes_len += 8;
}

static void s_digest_ndarray(s_result_t *r, const zpk_ndarray_t *a)
{
    char dt[ZPK_DTYPE_STR_SIZE];
    zpk_dtype_format(a->dtype, dt, sizeof dt);
    s_digest(r, dt, strlen(dt));
    s_digest(r, a->shape, sizeof(size_t) * (size_t)a->ndim);
    s_digest(r, &a->order, 1);
    s_digest(r, a->data, a->nbytes);
}

/* Decodes @p c as @p want (0 doc, 1 ndarray, 2 mixed, 3 mixed bytes). */
static s_result_t s_decode_as(const s_copy_t *c, int want, const zpk_recv_opts_t *opts)
{
    s_result_t r;
    memset(&r, 0, sizeof r);
    zpk_frame_t fr[64];
    s_as_frames(c, fr);
    zpk_envelope_t env;
    zpk_error_t err;
    zpk_recv_opts_t o;
    if (opts != NULL)
        o = *opts;
    else
        zpk_recv_opts_init(&o);
    if (want == 3)
        o.flags |= ZPK_RECV_BYTES;
    if (want == 0) {
        zpk_doc_t *doc = NULL;
        r.rc = zpk_decode_packed(fr, c->n, &o, &env, &doc, &err);
        if (r.rc == 0) {
            zpk_writer_t w;
            zpk_writer_init_growable(&w, 0);
            assert_int_equal(zpk_node_write(&w, zpk_doc_root(doc)), 0);
            s_digest(&r, zpk_writer_data(&w), zpk_writer_size(&w));
            zpk_writer_free(&w);
        }
        zpk_doc_destroy(&doc);
    } else if (want == 1) {
        zpk_ndarray_t a;
        r.rc = zpk_decode_ndarray(fr, c->n, &o, &env, &a, &err);
        if (r.rc == 0)
            s_digest_ndarray(&r, &a);
        zpk_ndarray_free(&a);
    } else {
        zpk_mixed_t m;
        r.rc = zpk_decode_mixed(fr, c->n, &o, &env, &m, &err);
        if (r.rc == 0) {
            s_digest(&r, m.packed, m.packed_size);
            for (size_t i = 0; i < m.n_ndarrays; i++)
                s_digest_ndarray(&r, &m.ndarrays[i]);
        }
        zpk_mixed_free(&m);
    }
    r.err_frame = r.rc != 0 ? err.frame : -1;
    if (r.rc != 0)
        assert_int_equal(err.code, r.rc);
    r.env_n = env.n;
    zpk_envelope_free(&env);
    return r;
}

static void s_assert_results_equal(const s_result_t *a, const s_result_t *b, const char *what)
{
    if (a->rc != b->rc)
        fail_msg("%s: %s, then %s", what, zpk_err_name(a->rc), zpk_err_name(b->rc));
    assert_int_equal(a->err_frame, b->err_frame);
    assert_int_equal(a->env_n, b->env_n);
    assert_int_equal(a->bytes_len, b->bytes_len);
    assert_memory_equal(a->bytes, b->bytes, a->bytes_len);
}

/* Builds a corpus of messages (valid and broken) from the encode cases. */
static size_t s_corpus(s_copy_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t k = 0; k < sizeof s_cases / sizeof s_cases[0] && n + 4 <= cap; k++) {
        s_input_t in;
        s_input(&in, &s_cases[k]);
        zpk_frames_t f;
        assert_int_equal(s_encode(&in, &s_cases[k], &f, NULL), 0);
        s_copy(&out[n], &f);
        zpk_frames_free(&f);
        s_input_free(&in);
        const s_copy_t *good = &out[n++];
        /* broken copies: last byte flipped, last frame cut by one, a frame dropped */
        s_copy_t *b = &out[n++];
        b->n = good->n;
        for (size_t i = 0; i < good->n; i++) {
            b->size[i] = good->size[i];
            b->data[i] = malloc(good->size[i] + 1);
            memcpy(b->data[i], good->data[i], good->size[i]);
        }
        b->data[b->n - 1][b->size[b->n - 1] - 1] ^= 0x5a;
        s_copy_t *cut = &out[n++];
        *cut = *b;
        for (size_t i = 0; i < good->n; i++) {
            cut->data[i] = malloc(good->size[i] + 1);
            memcpy(cut->data[i], good->data[i], good->size[i]);
        }
        cut->size[cut->n - 1]--;
        if (good->n > 1) {
            s_copy_t *drop = &out[n++];
            drop->n = good->n - 1;
            for (size_t i = 0; i < drop->n; i++) {
                drop->size[i] = good->size[i];
                drop->data[i] = malloc(good->size[i] + 1);
                memcpy(drop->data[i], good->data[i], good->size[i]);
            }
        }
    }
    return n;
}

/*
 * Every message of the corpus through every decode route: the fast paths
 * and the header cache (run twice: the second run hits the cache) against
 * the general walk (fast paths off, and explicit default limits), the
 * document route against the bytes route, the decode calls against the
 * receive calls: the same results, the same codes, the same frame in
 * zpk_error_t.
 */
static void test_every_decode_route_gives_the_same_results(void **state)
{
    (void)state;
    s_copy_t corpus[96];
    size_t n = s_corpus(corpus, 96);
    zpk_limits_t lim;
    zpk_limits_default(&lim, 0);
    zpk_recv_opts_t explicit_limits;
    zpk_recv_opts_init(&explicit_limits);
    explicit_limits.limits = &lim;
    void *ctx = zmq_ctx_new();
    void *pull = zmq_socket(ctx, ZMQ_PULL), *push = zmq_socket(ctx, ZMQ_PUSH);
    int to = S_TIMEOUT_MS;
    zmq_setsockopt(pull, ZMQ_RCVTIMEO, &to, sizeof to);
    assert_int_equal(zmq_bind(pull, "inproc://frames-decode"), 0);
    assert_int_equal(zmq_connect(push, "inproc://frames-decode"), 0);
    for (size_t i = 0; i < n; i++) {
        for (int want = 0; want < 4; want++) {
            s_result_t first = s_decode_as(&corpus[i], want, NULL);
            s_result_t again = s_decode_as(&corpus[i], want, NULL); /* a cache hit */
            zpk__msg_fast_off = true;
            s_result_t general = s_decode_as(&corpus[i], want, NULL);
            zpk__msg_fast_off = false;
            s_result_t limits = s_decode_as(&corpus[i], want, &explicit_limits);
            s_assert_results_equal(&first, &again, "again");
            s_assert_results_equal(&first, &general, "fast paths off");
            s_assert_results_equal(&first, &limits, "explicit limits");
            /* a receive of the same frames */
            for (size_t k = 0; k < corpus[i].n; k++)
                assert_int_equal(zmq_send(push, corpus[i].data[k], corpus[i].size[k],
                                          k + 1 < corpus[i].n ? ZMQ_SNDMORE : 0),
                                 (int)corpus[i].size[k]);
            s_result_t recv;
            memset(&recv, 0, sizeof recv);
            zpk_envelope_t env;
            zpk_error_t err;
            zpk_recv_opts_t o;
            zpk_recv_opts_init(&o);
            o.flags = want == 3 ? ZPK_RECV_BYTES : 0;
            if (want == 0) {
                zpk_doc_t *doc = NULL;
                recv.rc = zpk_recv_packed(pull, &o, &env, &doc, &err);
                if (recv.rc == 0) {
                    zpk_writer_t w;
                    zpk_writer_init_growable(&w, 0);
                    assert_int_equal(zpk_node_write(&w, zpk_doc_root(doc)), 0);
                    s_digest(&recv, zpk_writer_data(&w), zpk_writer_size(&w));
                    zpk_writer_free(&w);
                }
                zpk_doc_destroy(&doc);
            } else if (want == 1) {
                zpk_ndarray_t a;
                recv.rc = zpk_recv_array(pull, &o, &env, &a, &err);
                if (recv.rc == 0)
                    s_digest_ndarray(&recv, &a);
                zpk_ndarray_free(&a);
            } else {
                zpk_mixed_t m;
                recv.rc = zpk_recv_mixed(pull, &o, &env, &m, &err);
                if (recv.rc == 0) {
                    s_digest(&recv, m.packed, m.packed_size);
                    for (size_t k = 0; k < m.n_ndarrays; k++)
                        s_digest_ndarray(&recv, &m.ndarrays[k]);
                }
                zpk_mixed_free(&m);
            }
            recv.err_frame = recv.rc != 0 ? err.frame : -1;
            recv.env_n = env.n;
            zpk_envelope_free(&env);
            s_assert_results_equal(&first, &recv, "receive");
        }
        /* the document route and the bytes route agree on the object */
        s_result_t doc = s_decode_as(&corpus[i], 2, NULL);
        s_result_t bytes = s_decode_as(&corpus[i], 3, NULL);
        if (doc.rc == 0 && bytes.rc == 0)
            assert_memory_equal(doc.bytes, bytes.bytes, 8);
    }
    for (size_t i = 0; i < n; i++)
        s_copy_free(&corpus[i]);
    zmq_close(pull);
    zmq_close(push);
    zmq_ctx_term(ctx);
}

/* ---- ownership -------------------------------------------------------------------- */

static atomic_int s_released;

static void s_count_release(void *data, void *hint)
{
    (void)data;
    (void)hint;
    atomic_fetch_add(&s_released, 1);
}

/* Frames with a free_fn: each released exactly once, when the last result
 * that aliases them goes; at once on error; plain buffers are aliased. */
static void test_decode_owns_the_frames(void **state)
{
    (void)state;
    double d[8192];
    s_fill(d, 8192, 1.0);
    size_t n = 8192;
    zpk_ndarray_t a;
    assert_int_equal(zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, &n, 'C', d), 0);
    zpk_send_opts_t o;
    zpk_send_opts_init(&o);
    o.topic = "t";
    o.topic_len = 1;
    zpk_frames_t f;
    assert_int_equal(zpk_encode_ndarray(&a, &o, &f, NULL), 0);
    assert_int_equal(f.n, 3);
    assert_ptr_equal(f.frames[2].data, d); /* ZPK_OWN_COPY: borrowed, not copied */
    assert_null(f.frames[2].free_fn);
    s_copy_t c;
    s_copy(&c, &f);
    zpk_frames_free(&f);

    /* plain buffers: the ndarray aliases the payload frame */
    zpk_frame_t fr[3];
    s_as_frames(&c, fr);
    zpk_envelope_t env;
    zpk_ndarray_t r;
    assert_int_equal(zpk_decode_ndarray(fr, 3, NULL, &env, &r, NULL), 0);
    assert_ptr_equal(r.data, c.data[2]);
    assert_int_equal(env.n, 1);
    assert_ptr_equal(env.frames[0].data, c.data[0]);
    zpk_ndarray_free(&r);
    zpk_envelope_free(&env);

    /* frames with a release: released once, after both results */
    atomic_store(&s_released, 0);
    for (int i = 0; i < 3; i++)
        fr[i].free_fn = s_count_release;
    assert_int_equal(zpk_decode_ndarray(fr, 3, NULL, &env, &r, NULL), 0);
    assert_int_equal(atomic_load(&s_released), 0);
    zpk_ndarray_free(&r);
    assert_int_equal(atomic_load(&s_released), 0); /* the envelope still holds them */
    zpk_envelope_t copy = env;                      /* an envelope may be copied by value */
    zpk_envelope_free(&copy);
    assert_int_equal(atomic_load(&s_released), 3);
    assert_int_equal(env.n, 1); /* only the copy was cleared */

    /* on error: released before the call returns; outputs empty */
    atomic_store(&s_released, 0);
    zpk_doc_t *doc = (zpk_doc_t *)&doc;
    assert_int_equal(zpk_decode_packed(fr, 3, NULL, &env, &doc, NULL), ZPK_ETYPE);
    assert_null(doc);
    assert_int_equal(env.n, 0);
    assert_int_equal(atomic_load(&s_released), 3);
    /* NULL output: the frames are still taken over */
    atomic_store(&s_released, 0);
    assert_int_equal(zpk_decode_packed(fr, 3, NULL, NULL, NULL, NULL), ZPK_EINVAL);
    assert_int_equal(atomic_load(&s_released), 3);
    s_copy_free(&c);
}

/* Encoded frames under each ownership mode: what the frames hold, when the
 * tracker is done, when the free function runs. */
static void test_encode_ownership(void **state)
{
    (void)state;
    enum { N = 16384 };
    double *d = malloc(N * sizeof(double));
    s_fill(d, N, 2.0);
    size_t n = N;
    zpk_ndarray_t a;
    assert_int_equal(zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, &n, 'C', d), 0);
    zpk_tracker_t *t = zpk_tracker_new();
    zpk_send_opts_t o;
    zpk_send_opts_init(&o);
    o.own = ZPK_OWN_BORROW;
    o.tracker = t;
    zpk_frames_t f;
    assert_int_equal(zpk_encode_ndarray(&a, &o, &f, NULL), 0);
    assert_ptr_equal(f.frames[1].data, d);
    assert_non_null(f.frames[1].free_fn);
    assert_false(zpk_tracker_done(t));
    /* take the frame over, as a binding does, and release it later */
    zpk_frame_t taken = f.frames[1];
    f.frames[1].free_fn = NULL;
    zpk_frames_free(&f);
    assert_false(zpk_tracker_done(t));
    assert_int_equal(zpk_tracker_wait(t, 0), -EAGAIN);
    taken.free_fn(taken.data, taken.hint);
    assert_true(zpk_tracker_done(t));
    assert_int_equal(zpk_tracker_wait(t, 0), 0);

    /* give: the free function runs once, when the frames are released */
    atomic_store(&s_released, 0);
    o.own = ZPK_OWN_GIVE;
    o.tracker = NULL;
    o.free_fn = s_count_release;
    assert_int_equal(zpk_encode_ndarray(&a, &o, &f, NULL), 0);
    assert_int_equal(atomic_load(&s_released), 0);
    zpk_frames_free(&f);
    assert_int_equal(atomic_load(&s_released), 1);
    /* give with a codec: nothing borrows the data; still once, at the free */
    atomic_store(&s_released, 0);
    zpk_codec_t zl;
    assert_int_equal(zpk_codec_parse("zlib:1", 6, &zl, NULL), 0);
    o.codec = &zl;
    assert_int_equal(zpk_encode_ndarray(&a, &o, &f, NULL), 0);
    assert_int_equal(atomic_load(&s_released), 0);
    zpk_frames_free(&f);
    assert_int_equal(atomic_load(&s_released), 1);

    /* a large object: the growable writer's buffer becomes a frame */
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_bin(&w, d, 100000);
    const uint8_t *wbuf = zpk_writer_data(&w);
    assert_int_equal(zpk_encode_packed(&w, NULL, &f, NULL), 0);
    assert_int_equal(f.n, 2);
    assert_ptr_equal(f.frames[1].data, wbuf);
    assert_int_equal(zpk_writer_size(&w), 0); /* taken */
    zpk_frames_free(&f);
    /* a small one: copied into the frames; the writer keeps its bytes */
    zpk_write_cstr(&w, "hi");
    assert_int_equal(zpk_encode_packed(&w, NULL, &f, NULL), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(zpk_writer_size(&w), 3);
    zpk_frames_free(&f);
    zpk_writer_free(&w);
    zpk_frames_free(NULL);
    zpk_tracker_destroy(&t);
    free(d);
}

/* ---- envelopes ------------------------------------------------------------------ */

static void test_envelopes(void **state)
{
    (void)state;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_frame_t route[3] = {S_FR("client-7", 8), S_FR("", 0), S_FR("hop", 3)};
    for (size_t ne = 0; ne <= 3; ne++) {
        zpk_write_uint(&w, ne);
        zpk_envelope_t e = {route, ne, NULL};
        zpk_send_opts_t o;
        zpk_send_opts_init(&o);
        o.envelope = &e;
        zpk_frames_t f;
        assert_int_equal(zpk_encode_packed(&w, &o, &f, NULL), 0);
        assert_int_equal(f.n, ne + 1);
        for (size_t i = 0; i < ne; i++) {
            assert_int_equal(f.frames[i].size, route[i].size);
            assert_memory_equal(f.frames[i].data, route[i].data, route[i].size);
        }
        zpk_envelope_t got;
        zpk_doc_t *doc;
        assert_int_equal(zpk_decode_packed(f.frames, f.n, NULL, &got, &doc, NULL), 0);
        f.n = 0; /* taken over by the decode */
        assert_int_equal(got.n, ne);
        for (size_t i = 0; i < ne; i++) {
            assert_int_equal(got.frames[i].size, route[i].size);
            assert_memory_equal(got.frames[i].data, route[i].data, route[i].size);
        }
        uint64_t v;
        assert_int_equal(zpk_node_get_uint(zpk_doc_root(doc), &v), 0);
        assert_int_equal(v, ne);
        zpk_doc_destroy(&doc);
        zpk_envelope_free(&got);
        zpk_frames_free(&f);
        zpk_writer_reset(&w);
    }
    /* refused: an envelope frame that starts like a header; a topic and an
     * envelope both; an envelope without frames */
    zpk_write_nil(&w);
    zpk_frame_t hdr = S_FR("\x81\xa3zpk\x01", 6);
    zpk_envelope_t bad = {&hdr, 1, NULL};
    zpk_send_opts_t o;
    zpk_send_opts_init(&o);
    o.envelope = &bad;
    zpk_frames_t f;
    zpk_error_t err;
    assert_int_equal(zpk_encode_packed(&w, &o, &f, &err), ZPK_EINVAL);
    assert_non_null(strstr(err.text, "header"));
    assert_int_equal(f.n, 0);
    zpk_envelope_t one = {route, 1, NULL};
    o.envelope = &one;
    o.topic = "t";
    o.topic_len = 1;
    assert_int_equal(zpk_encode_packed(&w, &o, &f, &err), ZPK_EINVAL);
    assert_non_null(strstr(err.text, "topic and an envelope"));
    zpk_envelope_t none = {NULL, 2, NULL};
    o.topic_len = 0;
    o.envelope = &none;
    assert_int_equal(zpk_encode_packed(&w, &o, &f, &err), ZPK_EINVAL);
    /* a NULL frame that claims bytes; an empty NULL one is the empty frame */
    zpk_frame_t holes[2] = {S_FR("id", 2), {NULL, 3, NULL, NULL}};
    zpk_envelope_t holed = {holes, 2, NULL};
    o.envelope = &holed;
    assert_int_equal(zpk_encode_packed(&w, &o, &f, &err), ZPK_EINVAL);
    assert_non_null(strstr(err.text, "envelope frame 1 is NULL"));
    holes[1].size = 0;
    assert_int_equal(zpk_encode_packed(&w, &o, &f, &err), 0);
    assert_int_equal(f.n, 3);
    assert_int_equal(f.frames[1].size, 0);
    zpk_frames_free(&f);
    zpk_write_nil(&w);
    /* the recipe after a two-frame envelope */
    zpk_frame_t rec[4] = {S_FR("id", 2), S_FR("", 0),
                          S_FR("{\"dtype\": \"int16\", \"shape\": [2]}", 32), S_FR("\1\0\2\0", 4)};
    zpk_envelope_t env;
    zpk_ndarray_t a;
    assert_int_equal(zpk_decode_ndarray(rec, 4, NULL, &env, &a, NULL), 0);
    assert_int_equal(env.n, 2);
    assert_int_equal(a.nbytes, 4);
    assert_int_equal(((int16_t *)a.data)[1], 2);
    zpk_ndarray_free(&a);
    zpk_envelope_free(&env);
    zpk_envelope_free(&env); /* twice: a no-op */
    zpk_envelope_free(NULL);
    zpk_writer_free(&w);
}

/* ---- the protocol as written (issue 14, item 6) ------------------------------------- */

/* A header for one float64 ndarray of 4 items with codec string @p codec
 * and @p stored payload bytes, followed by @p payload. */
static size_t s_array_msg(uint8_t *buf, size_t cap, const char *codec, const void *payload,
                          size_t stored)
{
    zpk_writer_t w;
    zpk_writer_init_buffer(&w, buf, cap);
    zpk_write_map(&w, 4);
    zpk_write_cstr(&w, "zpk");
    zpk_write_uint(&w, 1);
    zpk_write_cstr(&w, "kind");
    zpk_write_cstr(&w, "array");
    zpk_write_cstr(&w, "frames");
    zpk_write_uint(&w, 1);
    zpk_write_cstr(&w, "array");
    zpk_write_map(&w, 6);
    zpk_write_cstr(&w, "dtype");
    zpk_write_cstr(&w, "<f8");
    zpk_write_cstr(&w, "shape");
    zpk_write_array(&w, 1);
    zpk_write_uint(&w, 4);
    zpk_write_cstr(&w, "nbytes");
    zpk_write_uint(&w, 32);
    zpk_write_cstr(&w, "codec");
    zpk_write_cstr(&w, codec);
    zpk_write_cstr(&w, "chunk");
    zpk_write_uint(&w, 32);
    zpk_write_cstr(&w, "chunks");
    zpk_write_array(&w, 1);
    zpk_write_uint(&w, stored);
    assert_int_equal(zpk_writer_finish(&w), 0);
    (void)payload;
    return zpk_writer_size(&w);
}

/* Receivers decode by family: what follows the first ':' is informative. */
static void test_codecs_decode_by_family(void **state)
{
    (void)state;
    double v[4] = {1, 2, 3, 4};
    uint8_t z[128];
    zpk_codec_t zl;
    assert_int_equal(zpk_codec_parse("zlib:6", 6, &zl, NULL), 0);
    size_t zn = 0;
    assert_int_equal(zpk_codec_compress(&zl, 8, v, sizeof v, z, sizeof z, &zn), 0);
    struct {
        const char *codec;
        const void *payload;
        size_t n;
        int rc;
    } cases[] = {
        {"zlib:-1", z, zn, 0},
        {"zlib:6:x", z, zn, 0},
        {"zlib:99", z, zn, 0},
        {"none:whatever", v, sizeof v, 0},
        {"lzma:9", z, zn, ZPK_ECODEC},
        {"auto", z, zn, ZPK_ECODEC},
        {"auto:zlib", z, zn, ZPK_ECODEC},
        {"", z, zn, ZPK_ECODEC},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        uint8_t h[256];
        size_t hl = s_array_msg(h, sizeof h, cases[k].codec, cases[k].payload, cases[k].n);
        zpk_frame_t fr[2] = {S_FR(h, hl), S_FR(cases[k].payload, cases[k].n)};
        zpk_ndarray_t a;
        zpk_error_t err;
        int rc = zpk_decode_ndarray(fr, 2, NULL, NULL, &a, &err);
        if (rc != cases[k].rc)
            fail_msg("codec '%s': %s (%s)", cases[k].codec, zpk_err_name(rc), err.text);
        if (rc == 0) {
            assert_memory_equal(a.data, v, sizeof v);
            zpk_ndarray_free(&a);
        } else {
            assert_int_equal(err.frame, 0);
        }
    }
#if ZPK_HAVE_BLOSC
    zpk_codec_t bl;
    assert_int_equal(zpk_codec_parse("blosc", 5, &bl, NULL), 0);
    uint8_t b[256];
    size_t bn = 0;
    assert_int_equal(zpk_codec_compress(&bl, 8, v, sizeof v, b, sizeof b, &bn), 0);
    uint8_t h[256];
    size_t hl = s_array_msg(h, sizeof h, "blosc:lz4:12:shuffle", b, bn);
    zpk_frame_t fr[2] = {S_FR(h, hl), S_FR(b, bn)};
    zpk_ndarray_t a;
    assert_int_equal(zpk_decode_ndarray(fr, 2, NULL, NULL, &a, NULL), 0);
    assert_memory_equal(a.data, v, sizeof v);
    zpk_ndarray_free(&a);
#endif
}

/* A mixed message whose object holds an ext 90 of another length than 4
 * is malformed, on every route; in a packed message ext 90 is any ext. */
static void test_ext90_of_another_length(void **state)
{
    (void)state;
    uint8_t u[4] = {1, 2, 3, 4};
    size_t n = 4;
    zpk_ndarray_t a;
    assert_int_equal(zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_UINT, 1), 1, &n, 'C', u), 0);
    for (int len = 0; len <= 8; len++) {
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 0);
        zpk_write_array(&w, 2);
        zpk_write_ndarray_ref(&w, 0);
        zpk_write_ext(&w, ZPK_EXT_NDARRAY_REF, "\0\0\0\0\0\0\0\0", (size_t)len);
        zpk_frames_t f;
        assert_int_equal(zpk_encode_mixed(&w, &a, 1, NULL, &f, NULL), 0);
        for (int bytes = 0; bytes < 2; bytes++) {
            zpk_recv_opts_t o;
            zpk_recv_opts_init(&o);
            o.flags = bytes ? ZPK_RECV_BYTES : 0;
            zpk_mixed_t m;
            zpk_error_t err;
            int rc = zpk_decode_mixed(f.frames, f.n, &o, NULL, &m, &err);
            if (len == 4) {
                assert_int_equal(rc, 0);
                zpk_mixed_free(&m);
            } else {
                assert_int_equal(rc, ZPK_EFORMAT);
                assert_int_equal(err.frame, 0); /* a small message: one frame */
                assert_non_null(strstr(err.text, "ext 90"));
                assert_null(m.doc);
                assert_null(m.packed);
            }
        }
        zpk_frames_free(&f);
        /* the same object as a packed message: an ext like any other */
        zpk_writer_reset(&w);
        zpk_write_ext(&w, ZPK_EXT_NDARRAY_REF, "\0\0", 2);
        assert_int_equal(zpk_encode_packed(&w, NULL, &f, NULL), 0);
        zpk_mixed_t m;
        assert_int_equal(zpk_decode_mixed(f.frames, f.n, NULL, NULL, &m, NULL), 0);
        zpk_mixed_free(&m);
        zpk_frames_free(&f);
        zpk_writer_free(&w);
    }
    /* an index out of range is not an error of the message: the first one
     * past the end (1 of 1 ndarray) and one far past it */
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_array(&w, 3);
    zpk_write_ndarray_ref(&w, 0);
    zpk_write_ndarray_ref(&w, 1);
    zpk_write_ndarray_ref(&w, 7);
    zpk_frames_t f;
    assert_int_equal(zpk_encode_mixed(&w, &a, 1, NULL, &f, NULL), 0);
    zpk_mixed_t m;
    assert_int_equal(zpk_decode_mixed(f.frames, f.n, NULL, NULL, &m, NULL), 0);
    const zpk_node_t *root = zpk_doc_root(m.doc);
    assert_non_null(zpk_mixed_ndarray(&m, zpk_node_array_at(root, 0)));
    assert_null(zpk_mixed_ndarray(&m, zpk_node_array_at(root, 1)));
    assert_null(zpk_mixed_ndarray(&m, zpk_node_array_at(root, 2)));
    assert_null(zpk_mixed_ndarray(&m, NULL));
    assert_null(zpk_mixed_ndarray(NULL, zpk_node_array_at(root, 0)));
    zpk_mixed_free(&m);
    zpk_mixed_free(&m); /* twice: a no-op */
    zpk_mixed_free(NULL);
    zpk_frames_free(&f);
    zpk_writer_free(&w);
}

/* An error inside a payload frame names that frame, and the offset counts
 * from the frame's start. */
/*
 * The single-frame object's fast path tests the last frame first; it must
 * still take it only when it is the header the general walk finds: not
 * when an envelope frame before it starts like a header, nor when the frame
 * has NULL data with a size (a caller's frames). Both routes, the same code,
 * frame and text.
 */
static void test_decode_fast_object_takes_the_header_the_walk_finds(void **state)
{
    (void)state;
    uint8_t one[ZPK__HDR_OBJ_SINGLE_LEN + 1];
    memcpy(one, zpk__hdr_obj_single, ZPK__HDR_OBJ_SINGLE_LEN);
    one[ZPK__HDR_OBJ_SINGLE_LEN] = 0x01;
    const zpk_frame_t cases[][2] = {
        {S_FR("\x81\xa3zpk\x01", 6), S_FR(one, sizeof one)}, /* an envelope like a header */
        {S_FR("e", 1), S_FR(one, sizeof one)},               /* a plain envelope */
        {S_FR(NULL, 40), S_FR(NULL, 0)},                     /* NULL data with a size */
        {S_FR("e", 1), S_FR(NULL, 40)},
    };
    const size_t nframes[] = {2, 2, 1, 2};
    for (size_t k = 0; k < sizeof nframes / sizeof nframes[0]; k++) {
        int rc[2];
        zpk_error_t err[2];
        for (int general = 0; general < 2; general++) {
            zpk__msg_fast_off = general;
            zpk_doc_t *doc = NULL;
            rc[general] = zpk_decode_packed(cases[k], nframes[k], NULL, NULL, &doc, &err[general]);
            if (rc[general] == 0)
                assert_int_equal(zpk_node_type(zpk_doc_root(doc)), ZPK_TYPE_UINT);
            zpk_doc_destroy(&doc);
            zpk__msg_fast_off = false;
        }
        assert_int_equal(rc[0], rc[1]);
        assert_int_equal(err[0].code, err[1].code);
        assert_int_equal(err[0].frame, err[1].frame);
        assert_string_equal(err[0].text, err[1].text);
        assert_int_equal(rc[0] == 0, k == 1);
    }
}

static void test_payload_errors_name_their_frame(void **state)
{
    (void)state;
    static const uint8_t hdr[] = "\x83\xa3zpk\x01\xa4kind\xa3obj\xa6" "frames\x01";
    struct {
        const char *obj;
        size_t len;
        int rc;
        size_t offset;
    } cases[] = {
        {"\x92\x01\xc1", 3, ZPK_EFORMAT, 2},   /* a reserved byte at offset 2 */
        {"\x93\x01\x02", 3, ZPK_EOUTOFDATA, 3}, /* truncated */
        {"\x01\x02", 2, ZPK_EEXTRADATA, 1},     /* two objects */
        {"", 0, ZPK_EOUTOFDATA, 0},             /* empty */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        for (size_t env = 0; env < 3; env++) {
            zpk_frame_t fr[5];
            for (size_t i = 0; i < env; i++)
                fr[i] = S_FR("e", 1);
            fr[env] = S_FR(hdr, sizeof hdr - 1);
            fr[env + 1] = S_FR(cases[k].obj, cases[k].len);
            zpk_doc_t *doc;
            zpk_error_t err;
            assert_int_equal(zpk_decode_packed(fr, env + 2, NULL, NULL, &doc, &err), cases[k].rc);
            assert_int_equal(err.code, cases[k].rc);
            assert_int_equal(err.frame, (int)(env + 1));
            assert_int_equal(err.offset, cases[k].offset);
        }
    }
    /* single-frame: the same object errors at the frame's own offsets */
    for (size_t k = 0; k < 3; k++) {
        uint8_t one[64];
        memcpy(one, zpk__hdr_obj_single, ZPK__HDR_OBJ_SINGLE_LEN);
        memcpy(one + ZPK__HDR_OBJ_SINGLE_LEN, cases[k].obj, cases[k].len);
        zpk_frame_t fr[2] = {S_FR("t", 1), S_FR(one, ZPK__HDR_OBJ_SINGLE_LEN + cases[k].len)};
        for (int general = 0; general < 2; general++) {
            zpk__msg_fast_off = general;
            zpk_doc_t *doc;
            zpk_error_t err;
            assert_int_equal(zpk_decode_packed(fr, 2, NULL, NULL, &doc, &err), cases[k].rc);
            assert_int_equal(err.frame, 1);
            assert_int_equal(err.offset, ZPK__HDR_OBJ_SINGLE_LEN + cases[k].offset);
            zpk__msg_fast_off = false;
        }
    }
    /* a compressed object over max_buffer_size: its first chunk's frame */
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_array(&w, 100000);
    for (int i = 0; i < 100000; i++)
        zpk_write_uint(&w, 1);
    zpk_codec_t zl;
    assert_int_equal(zpk_codec_parse("zlib:1", 6, &zl, NULL), 0);
    zl.chunk_size = 20000;
    zpk_send_opts_t o;
    zpk_send_opts_init(&o);
    o.codec = &zl;
    o.topic = "t";
    o.topic_len = 1;
    zpk_frames_t f;
    assert_int_equal(zpk_encode_packed(&w, &o, &f, NULL), 0);
    assert_true(f.n > 3);
    zpk_limits_t lim;
    zpk_limits_default(&lim, 1000);
    zpk_recv_opts_t ro;
    zpk_recv_opts_init(&ro);
    ro.limits = &lim;
    zpk_doc_t *doc;
    zpk_error_t err;
    assert_int_equal(zpk_decode_packed(f.frames, f.n, &ro, NULL, &doc, &err), ZPK_ELIMIT);
    f.n = 0; /* the decode took the frames over (and released them) */
    assert_int_equal(err.frame, 2);
    /* a corrupt compressed chunk of an ndarray: its ndarray's first frame */
    double d[20000];
    s_fill(d, 20000, 0);
    size_t n = 20000;
    zpk_ndarray_t a;
    zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, &n, 'C', d);
    zpk_frames_free(&f);
    assert_int_equal(zpk_encode_ndarray(&a, &o, &f, NULL), 0);
    s_copy_t c;
    s_copy(&c, &f);
    zpk_frames_free(&f);
    c.data[2][c.size[2] / 2] ^= 0xff;
    zpk_frame_t fr[64];
    s_as_frames(&c, fr);
    assert_int_equal(zpk_decode_ndarray(fr, c.n, NULL, NULL, &a, &err), ZPK_EDECOMPRESS);
    assert_int_equal(err.frame, 2);
    /* a payload frame of the wrong size names itself */
    c.size[3]--;
    s_as_frames(&c, fr);
    assert_int_equal(zpk_decode_ndarray(fr, c.n, NULL, NULL, &a, &err), ZPK_ESHAPE);
    assert_int_equal(err.frame, 3);
    s_copy_free(&c);
    zpk_writer_free(&w);
}

/* A single-frame payload must be exactly as long as the header says: a
 * trailing byte is refused (an ndarray's size, a mixed object's end). */
static void test_single_frame_trailing_byte(void **state)
{
    (void)state;
    double d[16];
    s_fill(d, 16, 0);
    size_t n = 16;
    zpk_ndarray_t a;
    zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, &n, 'C', d);
    for (int kind = 0; kind < 2; kind++) {
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 0);
        zpk_write_map(&w, 1);
        zpk_write_cstr(&w, "a");
        zpk_write_ndarray_ref(&w, 0);
        zpk_frames_t f;
        if (kind == 0)
            assert_int_equal(zpk_encode_ndarray(&a, NULL, &f, NULL), 0);
        else
            assert_int_equal(zpk_encode_mixed(&w, &a, 1, NULL, &f, NULL), 0);
        assert_int_equal(f.n, 1); /* small: single-frame */
        uint8_t buf[1024];
        memcpy(buf, f.frames[0].data, f.frames[0].size);
        size_t len = f.frames[0].size;
        zpk_frames_free(&f);
        for (int extra = 0; extra < 2; extra++) {
            buf[len] = 0xc0;
            zpk_frame_t fr = S_FR(buf, len + (size_t)extra);
            zpk_error_t err;
            int rc;
            if (kind == 0) {
                zpk_ndarray_t r;
                rc = zpk_decode_ndarray(&fr, 1, NULL, NULL, &r, &err);
                if (rc == 0)
                    zpk_ndarray_free(&r);
            } else {
                zpk_mixed_t m;
                rc = zpk_decode_mixed(&fr, 1, NULL, NULL, &m, &err);
                if (rc == 0)
                    zpk_mixed_free(&m);
            }
            assert_int_equal(rc, extra ? (kind == 0 ? ZPK_ESHAPE : ZPK_EEXTRADATA) : 0);
            if (extra)
                assert_int_equal(err.frame, 0);
        }
        zpk_writer_free(&w);
    }
}

/* The send calls refuse a writer that does not hold exactly one whole
 * object (issue 17): nothing sent, the text says what. */
static void test_whole_objects_only(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    void *pull = zmq_socket(ctx, ZMQ_PULL), *push = zmq_socket(ctx, ZMQ_PUSH);
    int to = 200;
    zmq_setsockopt(pull, ZMQ_RCVTIMEO, &to, sizeof to);
    assert_int_equal(zmq_bind(pull, "inproc://frames-whole"), 0);
    assert_int_equal(zmq_connect(push, "inproc://frames-whole"), 0);
    uint8_t u = 1;
    size_t one = 1;
    zpk_ndarray_t a;
    zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_UINT, 1), 1, &one, 'C', &u);
    for (int k = 0; k < 4; k++) {
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 0);
        const char *want;
        if (k == 0) { /* two objects */
            zpk_write_uint(&w, 1);
            zpk_write_uint(&w, 2);
            want = "more than one";
        } else if (k == 1) { /* an unfinished map */
            zpk_write_map(&w, 2);
            zpk_write_cstr(&w, "k");
            want = "unfinished";
        } else if (k == 2) { /* nothing */
            want = "nothing";
        } else { /* a str whose payload is missing */
            zpk_write_str_header(&w, 5);
            zpk_write_raw(&w, "ab", 2);
            want = "unfinished";
        }
        size_t before = zpk_writer_size(&w);
        zpk_error_t err;
        assert_int_equal(zpk_send_packed(push, &w, NULL, &err), ZPK_EINVAL);
        assert_non_null(strstr(err.text, want));
        assert_int_equal(zpk_send_mixed(push, &w, &a, 1, NULL, &err), ZPK_EINVAL);
        assert_non_null(strstr(err.text, want));
        zpk_frames_t f;
        assert_int_equal(zpk_encode_packed(&w, NULL, &f, &err), ZPK_EINVAL);
        assert_int_equal(f.n, 0);
        assert_int_equal(zpk_writer_size(&w), before); /* unchanged */
        zpk_writer_free(&w);
    }
    zpk_doc_t *doc;
    assert_int_equal(zpk_recv_packed(pull, NULL, NULL, &doc, NULL), -EAGAIN); /* nothing sent */
    zmq_close(pull);
    zmq_close(push);
    zmq_ctx_term(ctx);
}

/* ---- argument checks: every public call of message.h and socket.h ----------------- */

static void test_null_and_impossible_arguments(void **state)
{
    (void)state;
    zpk_frames_t f;
    zpk_error_t err;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_nil(&w);
    uint8_t u = 0;
    size_t one = 1;
    zpk_ndarray_t a;
    zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_UINT, 1), 1, &one, 'C', &u);

    /* encode */
    assert_int_equal(zpk_encode_packed(NULL, NULL, &f, &err), ZPK_EINVAL);
    assert_int_equal(f.n, 0);
    assert_int_equal(zpk_encode_packed(&w, NULL, NULL, &err), ZPK_EINVAL);
    assert_int_equal(zpk_encode_ndarray(NULL, NULL, &f, &err), ZPK_EINVAL);
    assert_int_equal(zpk_encode_ndarray(&a, NULL, NULL, &err), ZPK_EINVAL);
    assert_int_equal(zpk_encode_mixed(NULL, &a, 1, NULL, &f, &err), ZPK_EINVAL);
    assert_int_equal(zpk_encode_mixed(&w, NULL, 1, NULL, &f, &err), ZPK_EINVAL);
    assert_int_equal(zpk_encode_mixed(&w, &a, (size_t)UINT32_MAX + 1, NULL, &f, &err), ZPK_EINVAL);
    assert_int_equal(zpk_encode_mixed(&w, &a, 1, NULL, NULL, &err), ZPK_EINVAL);
    zpk_send_opts_t o;
    zpk_send_opts_init(&o);
    zpk_send_opts_init(NULL);
    o.own = (zpk_own_t)7;
    assert_int_equal(zpk_encode_ndarray(&a, &o, &f, &err), ZPK_EINVAL);
    o.own = ZPK_OWN_BORROW; /* without a tracker */
    assert_int_equal(zpk_encode_ndarray(&a, &o, &f, &err), ZPK_EINVAL);
    o.own = ZPK_OWN_GIVE; /* without a free function */
    assert_int_equal(zpk_encode_mixed(&w, &a, 1, &o, &f, &err), ZPK_EINVAL);
    zpk_send_opts_init(&o);
    o.topic_len = 3; /* a NULL topic of 3 bytes */
    assert_int_equal(zpk_encode_packed(&w, &o, &f, &err), ZPK_EINVAL);
    zpk_send_opts_init(&o);
    o.flags = ZPK_SEND_RECIPE;
    assert_int_equal(zpk_encode_packed(&w, &o, &f, &err), ZPK_EINVAL);
    assert_int_equal(zpk_encode_mixed(&w, &a, 1, &o, &f, &err), ZPK_EINVAL);
    o.flags = ZPK_SEND_RECIPE | ZPK_SEND_SINGLE;
    assert_int_equal(zpk_encode_ndarray(&a, &o, &f, &err), ZPK_EINVAL);
    zpk_ndarray_t bad = a; /* an ndarray whose size does not match its shape */
    bad.nbytes = 5;
    assert_int_equal(zpk_encode_ndarray(&bad, NULL, &f, &err), ZPK_EINVAL);
    bad = a;
    bad.data = NULL;
    assert_int_equal(zpk_encode_ndarray(&bad, NULL, &f, &err), ZPK_EINVAL);
    bad = a;
    bad.ndim = 40;
    assert_true(zpk_encode_ndarray(&bad, NULL, &f, &err) < 0);

    /* decode */
    zpk_doc_t *doc;
    zpk_mixed_t m;
    assert_int_equal(zpk_decode_packed(NULL, 1, NULL, NULL, &doc, &err), ZPK_EINVAL);
    zpk_ndarray_t out;
    assert_int_equal(zpk_decode_ndarray(NULL, 2, NULL, NULL, &out, &err), ZPK_EINVAL);
    assert_null(out.data);
    assert_int_equal(zpk_decode_mixed(NULL, 3, NULL, NULL, &m, &err), ZPK_EINVAL);
    zpk_frame_t fr = S_FR("x", 1);
    assert_int_equal(zpk_decode_packed(&fr, 1, NULL, NULL, NULL, &err), ZPK_EINVAL);
    assert_int_equal(zpk_decode_ndarray(&fr, 1, NULL, NULL, NULL, &err), ZPK_EINVAL);
    assert_int_equal(zpk_decode_mixed(&fr, 1, NULL, NULL, NULL, &err), ZPK_EINVAL);
    assert_int_equal(zpk_decode_mixed(NULL, 0, NULL, NULL, &m, &err), ZPK_EFRAME);
    zpk_recv_opts_init(NULL);
    /* a destination buffer too small; NULL with a size (ignored: no buffer) */
    zpk_frames_t fa;
    assert_int_equal(zpk_encode_ndarray(&a, NULL, &fa, NULL), 0);
    zpk_recv_opts_t ro;
    zpk_recv_opts_init(&ro);
    uint8_t small[1];
    ro.into = small;
    ro.into_size = 0;
    zpk_ndarray_t r;
    assert_int_equal(zpk_decode_ndarray(fa.frames, fa.n, &ro, NULL, &r, &err), ZPK_EBUFFULL);
    assert_null(r.data);
    ro.into = NULL;
    ro.into_size = 100;
    assert_int_equal(zpk_decode_ndarray(fa.frames, fa.n, &ro, NULL, &r, &err), 0);
    zpk_ndarray_free(&r);
    zpk_frames_free(&fa);

    /* message.h's small calls */
    assert_false(zpk_is_header(NULL, 6));
    assert_false(zpk_is_header("\x81\xa3zpk", 5));
    uint32_t idx;
    assert_int_equal(zpk_node_get_ndarray_ref(NULL, &idx), ZPK_EINVAL);
    zpk_write_ndarray_ref(NULL, 1); /* a NULL writer does nothing */
    assert_null(zpk_mixed_ndarray(NULL, NULL));
    zpk_mixed_free(NULL);
    zpk_envelope_free(NULL);
    zpk_frames_free(NULL);

    /* trackers */
    zpk_tracker_t *fresh = zpk_tracker_new();
    assert_non_null(fresh);
    assert_true(zpk_tracker_done(fresh)); /* nothing sent with it yet */
    zpk_tracker_destroy(&fresh);
    assert_null(fresh);
    assert_int_equal(zpk_tracker_wait(NULL, 0), ZPK_EINVAL);
    assert_int_equal(zpk_tracker_wait(NULL, -1), ZPK_EINVAL);
    assert_true(zpk_tracker_done(NULL));
    zpk_tracker_destroy(NULL);
    zpk_tracker_t *t = NULL;
    zpk_tracker_destroy(&t);

    /* socket.h */
    assert_int_equal(zpk_send_packed(NULL, &w, NULL, &err), ZPK_EINVAL);
    assert_int_equal(zpk_send_array(NULL, &a, NULL, &err), ZPK_EINVAL);
    assert_int_equal(zpk_send_mixed(NULL, &w, &a, 1, NULL, &err), ZPK_EINVAL);
    assert_int_equal(zpk_sendf(NULL, 0, "i", 1), ZPK_EINVAL);
    assert_int_equal(zpk_sendf(NULL, 0, "{bad"), ZPK_EINVAL);
    assert_int_equal(zpk_recv_packed(NULL, NULL, NULL, &doc, &err), ZPK_EINVAL);
    assert_null(doc);
    assert_int_equal(zpk_recv_array(NULL, NULL, NULL, &out, &err), ZPK_EINVAL);
    assert_null(out.data);
    assert_int_equal(zpk_recv_mixed(NULL, NULL, NULL, &m, &err), ZPK_EINVAL);
    assert_null(m.doc);
    assert_int_equal(zpk_recv_packed(&u, NULL, NULL, NULL, &err), ZPK_EINVAL);
    assert_int_equal(zpk_recv_array(&u, NULL, NULL, NULL, &err), ZPK_EINVAL);
    assert_int_equal(zpk_recv_mixed(&u, NULL, NULL, NULL, &err), ZPK_EINVAL);
    /* not a socket: libzmq's ENOTSOCK */
    uint64_t junk[16] = {0};
    assert_int_equal(zpk_recv_packed(junk, NULL, NULL, &doc, &err), -ENOTSOCK);
    zpk_writer_free(&w);
}

/* Every call that takes a zpk_error_t resets it: an earlier call's error
 * never shows through. */
static void test_one_error_channel_per_call(void **state)
{
    (void)state;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_uint(&w, 1);
    zpk_frames_t f;
    zpk_error_t err;
    assert_int_equal(zpk_encode_packed(NULL, NULL, &f, &err), ZPK_EINVAL);
    assert_int_equal(zpk_encode_packed(&w, NULL, &f, &err), 0);
    assert_int_equal(err.code, 0);
    assert_int_equal(err.frame, -1);
    assert_string_equal(err.text, "");
    zpk_doc_t *doc;
    zpk_frame_t bad = S_FR("junk", 4);
    assert_int_equal(zpk_decode_packed(&bad, 1, NULL, NULL, &doc, &err), ZPK_EFOREIGN);
    assert_int_equal(zpk_decode_packed(f.frames, f.n, NULL, NULL, &doc, &err), 0);
    assert_int_equal(err.code, 0);
    assert_int_equal(err.frame, -1);
    zpk_doc_destroy(&doc);
    zpk_frames_free(&f);
    void *ctx = zmq_ctx_new();
    void *pull = zmq_socket(ctx, ZMQ_PULL), *push = zmq_socket(ctx, ZMQ_PUSH);
    assert_int_equal(zmq_bind(pull, "inproc://frames-err"), 0);
    assert_int_equal(zmq_connect(push, "inproc://frames-err"), 0);
    zpk_recv_opts_t ro = {.flags = ZPK_DONTWAIT};
    assert_int_equal(zpk_recv_packed(pull, &ro, NULL, &doc, &err), -EAGAIN);
    assert_int_equal(err.code, -EAGAIN);
    assert_int_equal(zpk_send_packed(push, &w, NULL, &err), 0);
    assert_int_equal(err.code, 0);
    assert_int_equal(zpk_recv_packed(pull, NULL, NULL, &doc, &err), 0);
    assert_int_equal(err.code, 0);
    zpk_doc_destroy(&doc);
    zmq_close(pull);
    zmq_close(push);
    zmq_ctx_term(ctx);
    zpk_writer_free(&w);
}

/* The cheap one-object test the sends make first agrees with the full check. */
static void test_one_object_predicate_matches_the_check(void **state)
{
    (void)state;
    for (int k = 0; k < 9; k++) {
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 0);
        switch (k) {
        case 0: break;                                  /* empty */
        case 1: zpk_write_nil(&w); break;               /* one */
        case 2: zpk_write_nil(&w); zpk_write_nil(&w); break; /* two */
        case 3: zpk_write_array(&w, 2); zpk_write_nil(&w); break; /* unfinished */
        case 4: zpk_write_str_header(&w, 3); zpk_write_raw(&w, "ab", 2); break;
        case 5: zpk_write_raw(&w, "\x92\x01\x02", 3); break; /* raw, one */
        case 6: zpk_write_raw(&w, "\x92\x01", 2); break;     /* raw, unfinished */
        case 7: zpk_write_raw(&w, "\xc1", 1); break;         /* not MessagePack */
        default: zpk_writer_set_error(&w, ZPK_ENOMEM); break;
        }
        assert_int_equal(zpk__writer_one_object(&w), zpk_writer_check_one_object(&w, NULL) == 0);
        zpk_writer_free(&w);
    }
}

/* Every fixed-size number (0xca..0xd3), whole or cut between two
 * zpk_write_raw() calls at every byte, counts as one value (the count's
 * fast path for them and the reader's path for cut headers agree). */
static void test_one_object_count_of_fixed_size_numbers(void **state)
{
    (void)state;
    static const uint8_t numbers[10][9] = {
        {0xca, 0x3f, 0x80, 0, 0}, {0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}, {0xcc, 0xff},
        {0xcd, 0x01, 0x00}, {0xce, 0, 1, 0, 0}, {0xcf, 1, 0, 0, 0, 0, 0, 0, 0}, {0xd0, 0x80},
        {0xd1, 0x80, 0}, {0xd2, 0x80, 0, 0, 0}, {0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}};
    static const size_t sizes[10] = {5, 9, 2, 3, 5, 9, 2, 3, 5, 9};
    for (size_t k = 0; k < 10; k++) {
        /* [number, number, "x"]: 1 + 2 * size + 2 bytes */
        uint8_t msg[1 + 2 * 9 + 2];
        size_t n = 0;
        msg[n++] = 0x93;
        for (int twice = 0; twice < 2; twice++) {
            memcpy(msg + n, numbers[k], sizes[k]);
            n += sizes[k];
        }
        msg[n++] = 0xa1;
        msg[n++] = 'x';
        for (size_t cut = 0; cut <= n; cut++) {
            for (size_t drop = 0; drop < 2; drop++) { /* whole, then one byte short */
                zpk_writer_t w;
                zpk_writer_init_growable(&w, 0);
                size_t len = n - drop;
                size_t first = cut < len ? cut : len;
                zpk_write_raw(&w, msg, first);
                zpk_write_raw(&w, msg + first, len - first);
                int rc = zpk_writer_check_one_object(&w, NULL);
                if ((rc == 0) != (drop == 0))
                    fail_msg("0x%02x cut at %zu, %zu dropped: %d", numbers[k][0], cut, drop, rc);
                assert_int_equal(zpk__writer_one_object(&w), rc == 0);
                zpk_writer_free(&w);
            }
        }
    }
}

/* A negative timeout waits until the last frame is released. */
static void *s_release_later(void *arg)
{
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
    zpk_frames_free(arg);
    return NULL;
}

static void test_tracker_negative_timeout_waits(void **state)
{
    (void)state;
    double d[16384];
    s_fill(d, 16384, 0);
    size_t n = 16384;
    zpk_ndarray_t a;
    zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, &n, 'C', d);
    zpk_tracker_t *t = zpk_tracker_new();
    zpk_send_opts_t o;
    zpk_send_opts_init(&o);
    o.own = ZPK_OWN_BORROW;
    o.tracker = t;
    zpk_frames_t f;
    assert_int_equal(zpk_encode_ndarray(&a, &o, &f, NULL), 0);
    assert_int_equal(zpk_tracker_wait(t, 0), -EAGAIN);
    assert_int_equal(zpk_tracker_wait(t, 5), -EAGAIN);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_release_later, &f), 0);
    assert_int_equal(zpk_tracker_wait(t, -1), 0); /* returns once the thread released it */
    assert_true(zpk_tracker_done(t));
    assert_int_equal(pthread_join(th, NULL), 0);
    zpk_tracker_destroy(&t);
    assert_null(t);
}

/* A header cut inside its version (a uint 16 with one byte of two) is a
 * truncated header (ZPK_EOUTOFDATA), not a bad version (mutation pass: the
 * check of that read survived). */
static void test_header_cut_in_the_version(void **state)
{
    (void)state;
    static const uint8_t cut[] = {0x82, 0xa3, 'z', 'p', 'k', 0xcd, 0x00};
    zpk_frame_t fr = S_FR(cut, sizeof cut);
    zpk_doc_t *doc;
    zpk_error_t err;
    assert_int_equal(zpk_decode_packed(&fr, 1, NULL, NULL, &doc, &err), ZPK_EOUTOFDATA);
    assert_int_equal(err.frame, 0);
    assert_int_equal(err.offset, 5); /* the version's first byte */
    assert_non_null(strstr(err.text, "truncated header"));
}

/* A recipe whose array is over max_ndarray_bytes is refused at its header,
 * as a zmqpack ndarray message is, though its payload frame matches the shape. */
static void test_recipe_over_max_ndarray_bytes(void **state)
{
    (void)state;
    double d[6] = {0};
    zpk_ndarray_opts_t ao;
    zpk_ndarray_opts_default(&ao);
    zpk_recv_opts_t o;
    zpk_recv_opts_init(&o);
    o.array_opts = &ao;
    for (size_t max = 47; max <= 48; max++) {
        ao.max_ndarray_bytes = max;
        zpk_frame_t fr[2] = {S_FR("{\"dtype\": \"<f8\", \"shape\": [2, 3]}", 33), S_FR(d, 48)};
        zpk_ndarray_t r;
        zpk_error_t err;
        int rc = zpk_decode_ndarray(fr, 2, &o, NULL, &r, &err);
        assert_int_equal(rc, max < 48 ? ZPK_ELIMIT : 0);
        if (rc == 0) {
            assert_int_equal(r.nbytes, 48);
            zpk_ndarray_free(&r);
        } else {
            assert_int_equal(err.frame, 0);
            assert_non_null(strstr(err.text, "max_ndarray_bytes"));
        }
    }
}

/* imagezmq's header: recipe_meta's keys before dtype and shape, and back (issue 18, item 1) */
static void s_meta_roundtrip(const zpk_ndarray_t *a, const char *meta, const char *header,
                             const char *back)
{
    zpk_send_opts_t o;
    zpk_send_opts_init(&o);
    o.flags = ZPK_SEND_RECIPE;
    o.recipe_meta = meta;
    zpk_frames_t f;
    zpk_error_t err;
    assert_int_equal(zpk_encode_ndarray(a, &o, &f, &err), 0);
    assert_int_equal(f.n, 2);
    assert_int_equal(f.frames[0].size, strlen(header));
    assert_memory_equal(f.frames[0].data, header, strlen(header));
    char *got = (char *)"unset";
    zpk_recv_opts_t ro;
    zpk_recv_opts_init(&ro);
    ro.recipe_meta = &got;
    zpk_ndarray_t r;
    assert_int_equal(zpk_decode_ndarray(f.frames, f.n, &ro, NULL, &r, &err), 0);
    f.n = 0; /* the decode took the frames over */
    assert_non_null(got);
    assert_string_equal(got, back);
    zpk_free(got);
    assert_int_equal(r.nbytes, a->nbytes);
    assert_memory_equal(r.data, a->data, a->nbytes);
    zpk_ndarray_free(&r);
    zpk_frames_free(&f);
}

static void test_recipe_meta(void **state)
{
    (void)state;
    uint8_t d[6] = {1, 2, 3, 4, 5, 6};
    size_t shape[2] = {2, 3};
    zpk_ndarray_t a;
    zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_UINT, 1), 2, shape, 'C', d);
    s_meta_roundtrip(&a, "{\"msg\": \"cam1\"}",
                     "{\"msg\": \"cam1\", \"dtype\": \"uint8\", \"shape\": [2, 3]}",
                     "{\"msg\": \"cam1\"}");
    s_meta_roundtrip(&a, NULL, "{\"dtype\": \"uint8\", \"shape\": [2, 3]}", "{}");
    s_meta_roundtrip(&a, "{}", "{\"dtype\": \"uint8\", \"shape\": [2, 3]}", "{}");
    /* the caller's order kept; Python's json.dumps() spelling (non-ASCII escaped) */
    s_meta_roundtrip(&a, "{\"z\":[1,{\"k\":null}],\"a\":\"caf\xc3\xa9\"}",
                     "{\"z\": [1, {\"k\": null}], \"a\": \"caf\\u00E9\", \"dtype\": \"uint8\", "
                     "\"shape\": [2, 3]}",
                     "{\"z\": [1, {\"k\": null}], \"a\": \"caf\\u00E9\"}");
    /* a header past the frames' own storage: on the heap, up to the limit */
    static char meta[ZPK_RECIPE_HEADER_MAX + 64], header[ZPK_RECIPE_HEADER_MAX + 64],
        back[ZPK_RECIPE_HEADER_MAX + 64];
    const char *tail = ", \"dtype\": \"uint8\", \"shape\": [2, 3]}";
    size_t fill = ZPK_RECIPE_HEADER_MAX - strlen("{\"m\": \"\"") - strlen(tail);
    snprintf(meta, sizeof meta, "{\"m\": \"%0*d\"}", (int)fill, 0);
    snprintf(header, sizeof header, "{\"m\": \"%0*d\"%s", (int)fill, 0, tail);
    snprintf(back, sizeof back, "{\"m\": \"%0*d\"}", (int)fill, 0);
    assert_int_equal(strlen(header), ZPK_RECIPE_HEADER_MAX);
    s_meta_roundtrip(&a, meta, header, back);

    /* what a caller can get wrong: each refused before anything is made */
    snprintf(meta, sizeof meta, "{\"m\": \"%0*d\"}", (int)fill + 1, 0);
    static const struct {
        int flags;
        const char *meta, *text;
    } bad[] = {
        {0, "{\"msg\": 1}", "set ZPK_SEND_RECIPE"},
        {ZPK_SEND_RECIPE, "[1]", "must be a JSON object"},
        {ZPK_SEND_RECIPE, "{\"msg\": ", "is not JSON"},
        {ZPK_SEND_RECIPE, "{\"a\": 1, \"a\": 2}", "is not JSON"},
        {ZPK_SEND_RECIPE, "{\"dtype\": \"<f8\"}", "cannot set \"dtype\""},
        {ZPK_SEND_RECIPE, "{\"x\": 1, \"shape\": []}", "cannot set \"shape\""},
        {ZPK_SEND_RECIPE, meta, "shorten recipe_meta"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        zpk_send_opts_t o;
        zpk_send_opts_init(&o);
        o.flags = bad[i].flags;
        o.recipe_meta = bad[i].meta;
        zpk_frames_t f;
        zpk_error_t err;
        assert_int_equal(zpk_encode_ndarray(&a, &o, &f, &err), ZPK_EINVAL);
        assert_int_equal(f.n, 0);
        if (strstr(err.text, bad[i].text) == NULL)
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.text, bad[i].text);
    }

    /* a packed message leaves it NULL; so does a failed decode */
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_int(&w, 7);
    zpk_frames_t f;
    assert_int_equal(zpk_encode_packed(&w, NULL, &f, NULL), 0);
    char *got = (char *)"unset";
    zpk_recv_opts_t ro;
    zpk_recv_opts_init(&ro);
    ro.recipe_meta = &got;
    zpk_doc_t *doc;
    assert_int_equal(zpk_decode_packed(f.frames, f.n, &ro, NULL, &doc, NULL), 0);
    f.n = 0;
    assert_null(got);
    zpk_doc_destroy(&doc);
    zpk_frames_free(&f);
    zpk_writer_free(&w);
    got = (char *)"unset";
    zpk_frame_t fr[2] = {S_FR("{\"dtype\": \"uint8\", \"shape\": [2, 2]}", 35), S_FR(d, 6)};
    zpk_ndarray_t r;
    assert_int_equal(zpk_decode_ndarray(fr, 2, &ro, NULL, &r, NULL), ZPK_ESHAPE);
    assert_null(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route_gives_the_same_frames),
        cmocka_unit_test(test_single_frame_rounds_chunks_like_every_send),
        cmocka_unit_test(test_fixed_header_is_the_writers),
        cmocka_unit_test(test_every_decode_route_gives_the_same_results),
        cmocka_unit_test(test_decode_fast_object_takes_the_header_the_walk_finds),
        cmocka_unit_test(test_decode_owns_the_frames),
        cmocka_unit_test(test_encode_ownership),
        cmocka_unit_test(test_envelopes),
        cmocka_unit_test(test_codecs_decode_by_family),
        cmocka_unit_test(test_ext90_of_another_length),
        cmocka_unit_test(test_payload_errors_name_their_frame),
        cmocka_unit_test(test_single_frame_trailing_byte),
        cmocka_unit_test(test_whole_objects_only),
        cmocka_unit_test(test_null_and_impossible_arguments),
        cmocka_unit_test(test_one_error_channel_per_call),
        cmocka_unit_test(test_one_object_predicate_matches_the_check),
        cmocka_unit_test(test_one_object_count_of_fixed_size_numbers),
        cmocka_unit_test(test_tracker_negative_timeout_waits),
        cmocka_unit_test(test_recipe_meta),
        cmocka_unit_test(test_recipe_over_max_ndarray_bytes),
        cmocka_unit_test(test_header_cut_in_the_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
