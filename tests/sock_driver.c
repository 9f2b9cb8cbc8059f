/*
 * Socket driver for the Python suites (tests/test_reference_decoder.py,
 * tests/test_pyzmq_peer.py):
 *   sock_driver send ENDPOINT          connect PUSH, send the fixed corpus below
 *   sock_driver send-recipe ENDPOINT   connect PUSH, send two arrays as the pyzmq recipe
 *   sock_driver recv ENDPOINT N        connect PULL, receive N arrays, print one line each:
 *                                      "topic dtype shape order sum" or "error NAME"
 *   sock_driver recv-any ENDPOINT N    connect PULL, receive N messages of any kind (the
 *                                      frames decoded with zpk_decode_mixed(), then
 *                                      zpk_decode_ndarray() for an ndarray message), print
 *                                      one line each: "ok ENVELOPE_FRAMES KIND SUMMARY" or
 *                                      "error NAME FRAME"
 *   sock_driver send-example ENDPOINT  connect PUSH, send docs/PROTOCOL.md section 7's
 *                                      examples
 *   sock_driver router ENDPOINT N      bind a ROUTER, receive N packed messages and answer
 *                                      each, with the envelope it came with, {"seq": i,
 *                                      "envelope": number of envelope frames, "got": the
 *                                      object}
 * Every receive times out after 10 s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "zmqpack.h"

static int s_fail(const char *what, int rc)
{
    fprintf(stderr, "sock_driver: %s: %s\n", what, zpk_err_name(rc));
    return 1;
}

#define CHECK(what, expr)            \
    do {                             \
        int rc_ = (expr);            \
        if (rc_ != 0)                \
            return s_fail(what, rc_); \
    } while (0)

static int s_arr(void *s, zpk_dtype_t dt, int ndim, const size_t *shape, char order, void *data,
                 const char *codec, size_t chunk, int flags, const char *topic)
{
    zpk_ndarray_t a;
    CHECK("array_init", zpk_ndarray_init(&a, dt, ndim, shape, order, data));
    zpk_codec_t c;
    zpk_send_opts_t o;
    zpk_send_opts_init(&o);
    if (codec != NULL) {
        CHECK("codec", zpk_codec_parse(codec, strlen(codec), &c, NULL));
        c.chunk_size = chunk;
        o.codec = &c;
    }
    o.flags = flags;
    o.topic = topic;
    o.topic_len = topic ? strlen(topic) : 0;
    CHECK("send_array", zpk_send_array(s, &a, &o, NULL));
    return 0;
}

static int s_send_corpus(void *s)
{
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    /* 1: packed, topic */
    CHECK("pack", zpk_pack_fmt(&w, "{s:i s:s s:[dd]}", "id", 1, "name", "zpk", "vals", 1.5, -2.0));
    zpk_send_opts_t o;
    zpk_send_opts_init(&o);
    o.topic = "t1";
    o.topic_len = 2;
    CHECK("send1", zpk_send_packed(s, &w, &o, NULL));
    /* 2: packed, compressed in several chunks */
    zpk_write_array(&w, 20000);
    for (int i = 0; i < 20000; i++)
        zpk_write_uint(&w, (uint64_t)i * 7);
    zpk_codec_t c;
    zpk_codec_parse("zlib:6", 6, &c, NULL);
    c.chunk_size = 16384;
    zpk_send_opts_init(&o);
    o.codec = &c;
    CHECK("send2", zpk_send_packed(s, &w, &o, NULL));
    /* 3, 4: float64 arange(12) as (3, 4), C and F order */
    double d[12];
    for (int i = 0; i < 12; i++)
        d[i] = i;
    size_t s34[2] = {3, 4};
    zpk_dtype_t f8 = zpk_dtype_make(ZPK_KIND_FLOAT, 8);
    if (s_arr(s, f8, 2, s34, 'C', d, NULL, 0, 0, "cam") || s_arr(s, f8, 2, s34, 'F', d, NULL, 0, 0, NULL))
        return 1;
    /* 5: int16 arange(100000) % 1000, zlib:1 in 64 KiB chunks */
    int16_t *i16 = malloc(100000 * 2);
    for (int i = 0; i < 100000; i++)
        i16[i] = (int16_t)(i % 1000);
    size_t n5 = 100000;
    if (s_arr(s, zpk_dtype_make(ZPK_KIND_INT, 2), 1, &n5, 'C', i16, "zlib:1", 65536, 0, NULL))
        return 1;
    /* 6: float32 arange(50000), blosc lz4 shuffle, chunks of 60000 bytes (or zlib without blosc) */
    float *f4 = malloc(50000 * 4);
    for (int i = 0; i < 50000; i++)
        f4[i] = (float)i;
    size_t n6 = 50000;
    if (s_arr(s, zpk_dtype_make(ZPK_KIND_FLOAT, 4), 1, &n6, 'C', f4,
              ZPK_HAVE_BLOSC ? "blosc:lz4:5:shuffle" : "zlib:1", 60000, 0, NULL))
        return 1;
    /* 7: mixed {"ts": 12.5, "image": uint16 (250, 400), "mask": bool (300,)} */
    uint16_t *img = malloc(100000 * 2);
    for (int i = 0; i < 100000; i++)
        img[i] = (uint16_t)(i * 31);
    uint8_t mask[300];
    for (int i = 0; i < 300; i++)
        mask[i] = (uint8_t)(i & 1);
    zpk_ndarray_t arrs[2];
    size_t si[2] = {250, 400}, sm = 300;
    zpk_ndarray_init(&arrs[0], zpk_dtype_make(ZPK_KIND_UINT, 2), 2, si, 'C', img);
    zpk_ndarray_init(&arrs[1], zpk_dtype_make(ZPK_KIND_BOOL, 1), 1, &sm, 'C', mask);
    zpk_write_map(&w, 3);
    zpk_write_cstr(&w, "ts");
    zpk_write_double(&w, 12.5);
    zpk_write_cstr(&w, "image");
    zpk_write_ndarray_ref(&w, 0);
    zpk_write_cstr(&w, "mask");
    zpk_write_ndarray_ref(&w, 1);
    CHECK("send7", zpk_send_mixed(s, &w, arrs, 2, NULL, NULL));
    /* 8: single-frame int32 arange(1000) + 3000, zlib:1 */
    int32_t i32[1000];
    for (int i = 0; i < 1000; i++)
        i32[i] = 3000 + i;
    size_t n8 = 1000;
    if (s_arr(s, zpk_dtype_make(ZPK_KIND_INT, 4), 1, &n8, 'C', i32, "zlib:1", 0, ZPK_SEND_SINGLE,
              NULL))
        return 1;
    /* 9: single-frame packed {"id": 9} */
    zpk_pack_fmt(&w, "{s:i}", "id", 9);
    zpk_send_opts_init(&o);
    o.flags = ZPK_SEND_SINGLE;
    CHECK("send9", zpk_send_packed(s, &w, &o, NULL));
    /* 10: empty int32 (0, 5) */
    size_t s05[2] = {0, 5};
    if (s_arr(s, zpk_dtype_make(ZPK_KIND_INT, 4), 2, s05, 'C', NULL, NULL, 0, 0, NULL))
        return 1;
    /* 11: single-frame mixed, raw object, one array referenced twice */
    zpk_write_map(&w, 2);
    zpk_write_cstr(&w, "a");
    zpk_write_ndarray_ref(&w, 0);
    zpk_write_cstr(&w, "b");
    zpk_write_ndarray_ref(&w, 0);
    zpk_send_opts_init(&o);
    o.flags = ZPK_SEND_SINGLE;
    CHECK("send11", zpk_send_mixed(s, &w, arrs + 1, 1, &o, NULL));
    zpk_writer_free(&w);
    free(i16);
    free(f4);
    free(img);
    return 0;
}

static int s_send_recipe(void *s)
{
    float f[6] = {1, 2, 3, 4, 5, 6};
    size_t s23[2] = {2, 3};
    if (s_arr(s, zpk_dtype_make(ZPK_KIND_FLOAT, 4), 2, s23, 'C', f, NULL, 0, ZPK_SEND_RECIPE, NULL))
        return 1;
    int64_t *v = malloc(100000 * 8);
    for (int i = 0; i < 100000; i++)
        v[i] = (int64_t)i * 3;
    size_t n = 100000;
    int rc = s_arr(s, zpk_dtype_make(ZPK_KIND_INT, 8), 1, &n, 'C', v, NULL, 0, ZPK_SEND_RECIPE, "t");
    free(v);
    return rc;
}

/* The sum of an ndarray's items (native order afterwards). */
static double s_sum(zpk_ndarray_t *a)
{
    double sum = 0;
    size_t items = a->dtype.itemsize ? a->nbytes / a->dtype.itemsize : 0;
    zpk_ndarray_to_native(a);
    for (size_t i = 0; i < items; i++) {
        const uint8_t *p = (const uint8_t *)a->data + i * a->dtype.itemsize;
        switch (a->dtype.kind) {
        case 'f': sum += a->dtype.itemsize == 8 ? *(const double *)p : *(const float *)p; break;
        case 'i':
            sum += a->dtype.itemsize == 8   ? (double)*(const int64_t *)p
                   : a->dtype.itemsize == 4 ? *(const int32_t *)p
                   : a->dtype.itemsize == 2 ? *(const int16_t *)p
                                            : *(const int8_t *)p;
            break;
        default:
            sum += a->dtype.itemsize == 8   ? (double)*(const uint64_t *)p
                   : a->dtype.itemsize == 4 ? *(const uint32_t *)p
                   : a->dtype.itemsize == 2 ? *(const uint16_t *)p
                                            : *(const uint8_t *)p;
            break;
        }
    }
    return sum;
}

static void s_free_frame(void *data, void *hint)
{
    (void)hint;
    free(data);
}

/* One message's frames, taken off @p s as heap copies the decode owns. */
static size_t s_take_frames(void *s, zpk_frame_t *fr, size_t cap)
{
    size_t n = 0;
    int more = 1;
    while (more && n < cap) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, 0) < 0)
            return 0;
        size_t len = zmq_msg_size(&m);
        void *copy = malloc(len + 1);
        memcpy(copy, zmq_msg_data(&m), len);
        fr[n++] = (zpk_frame_t){copy, len, s_free_frame, NULL};
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
    return n;
}

/* The frames again, for a second decode (the first took them over). */
static void s_dup_frames(const zpk_frame_t *src, zpk_frame_t *dst, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        void *copy = malloc(src[i].size + 1);
        memcpy(copy, src[i].data, src[i].size);
        dst[i] = (zpk_frame_t){copy, src[i].size, s_free_frame, NULL};
    }
}

static int s_recv_any(void *s, int count)
{
    for (int k = 0; k < count; k++) {
        zpk_frame_t fr[64], again[64];
        size_t n = s_take_frames(s, fr, 64);
        if (n == 0)
            return s_fail("recv-any", -zmq_errno());
        s_dup_frames(fr, again, n);
        zpk_envelope_t env;
        zpk_error_t err;
        zpk_mixed_t m;
        int rc = zpk_decode_mixed(fr, n, NULL, &env, &m, &err);
        if (rc == 0) {
            zpk_writer_t w;
            zpk_writer_init_growable(&w, 0);
            zpk_node_write(&w, zpk_doc_root(m.doc));
            printf("ok %zu %s ", env.n, m.n_ndarrays ? "mixed" : "obj");
            for (size_t i = 0; i < zpk_writer_size(&w); i++)
                printf("%02x", zpk_writer_data(&w)[i]);
            for (size_t i = 0; i < m.n_ndarrays; i++)
                printf(" %.1f", s_sum(&m.ndarrays[i]));
            printf("\n");
            zpk_writer_free(&w);
            zpk_mixed_free(&m);
            zpk_envelope_free(&env);
            for (size_t i = 0; i < n; i++)
                free(again[i].data);
        } else if (rc == ZPK_ETYPE) {
            zpk_ndarray_t a;
            rc = zpk_decode_ndarray(again, n, NULL, &env, &a, &err);
            if (rc == 0) {
                char dt[ZPK_DTYPE_STR_SIZE];
                zpk_dtype_format(a.dtype, dt, sizeof dt);
                printf("ok %zu array %s %.1f\n", env.n, dt, s_sum(&a));
                zpk_ndarray_free(&a);
                zpk_envelope_free(&env);
            }
        } else {
            for (size_t i = 0; i < n; i++)
                free(again[i].data);
        }
        if (rc != 0)
            printf("error %s %d\n", zpk_err_name(rc), err.frame);
        fflush(stdout);
    }
    return 0;
}

/* docs/PROTOCOL.md section 7: float64 arange(12) as (3, 4) and arange(12288)
 * as (3, 4096), C order, uncompressed, topic "cam". */
static int s_send_example(void *s)
{
    double *d = malloc(12288 * sizeof(double));
    for (int i = 0; i < 12288; i++)
        d[i] = i;
    size_t small[2] = {3, 4}, large[2] = {3, 4096};
    zpk_dtype_t f8 = zpk_dtype_make(ZPK_KIND_FLOAT, 8);
    int rc = s_arr(s, f8, 2, small, 'C', d, NULL, 0, 0, "cam") ||
             s_arr(s, f8, 2, large, 'C', d, NULL, 0, 0, "cam");
    free(d);
    return rc;
}

static int s_router(void *s, int count)
{
    for (int i = 0; i < count; i++) {
        zpk_envelope_t env;
        zpk_doc_t *doc;
        zpk_error_t err;
        int rc = zpk_recv_packed(s, NULL, &env, &doc, &err);
        if (rc != 0)
            return s_fail(err.text, rc);
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 0);
        zpk_write_map(&w, 3);
        zpk_write_cstr(&w, "seq");
        zpk_write_int(&w, i);
        zpk_write_cstr(&w, "envelope");
        zpk_write_uint(&w, env.n);
        zpk_write_cstr(&w, "got");
        zpk_node_write(&w, zpk_doc_root(doc));
        zpk_send_opts_t o;
        zpk_send_opts_init(&o);
        o.envelope = &env;
        rc = zpk_send_packed(s, &w, &o, &err);
        zpk_writer_free(&w);
        zpk_doc_destroy(&doc);
        zpk_envelope_free(&env);
        if (rc != 0)
            return s_fail(err.text, rc);
    }
    return 0;
}

static int s_recv(void *s, int n)
{
    for (int k = 0; k < n; k++) {
        zpk_ndarray_t a;
        zpk_envelope_t env;
        int rc = zpk_recv_array(s, NULL, &env, &a, NULL);
        if (rc != 0) {
            printf("error %s\n", zpk_err_name(rc));
            continue;
        }
        char dt[ZPK_DTYPE_STR_SIZE];
        zpk_dtype_format(a.dtype, dt, sizeof dt);
        /* the envelope's frames, comma-separated ("-": none) */
        for (size_t i = 0; i < env.n; i++)
            printf("%s%.*s", i ? "," : "", (int)env.frames[i].size,
                   (const char *)env.frames[i].data);
        printf("%s %s ", env.n ? "" : "-", dt);
        zpk_envelope_free(&env);
        for (int i = 0; i < a.ndim; i++)
            printf("%s%zu", i ? "," : "", a.shape[i]);
        double sum = 0;
        size_t items = a.dtype.itemsize ? a.nbytes / a.dtype.itemsize : 0;
        zpk_ndarray_to_native(&a);
        for (size_t i = 0; i < items; i++) {
            const uint8_t *p = (const uint8_t *)a.data + i * a.dtype.itemsize;
            switch (a.dtype.kind) {
            case 'f': sum += a.dtype.itemsize == 8 ? *(const double *)p : *(const float *)p; break;
            case 'i':
                sum += a.dtype.itemsize == 8   ? (double)*(const int64_t *)p
                       : a.dtype.itemsize == 4 ? *(const int32_t *)p
                       : a.dtype.itemsize == 2 ? *(const int16_t *)p
                                               : *(const int8_t *)p;
                break;
            default:
                sum += a.dtype.itemsize == 8   ? (double)*(const uint64_t *)p
                       : a.dtype.itemsize == 4 ? *(const uint32_t *)p
                       : a.dtype.itemsize == 2 ? *(const uint16_t *)p
                                               : *(const uint8_t *)p;
                break;
            }
        }
        printf(" %c %.1f\n", a.order, sum);
        fflush(stdout);
        zpk_ndarray_free(&a);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: sock_driver send|send-recipe|send-example|recv|recv-any|router "
                        "ENDPOINT [N]\n");
        return 2;
    }
    void *ctx = zmq_ctx_new();
    int recv = strncmp(argv[1], "recv", 4) == 0;
    int router = strcmp(argv[1], "router") == 0;
    void *s = zmq_socket(ctx, router ? ZMQ_ROUTER : recv ? ZMQ_PULL : ZMQ_PUSH);
    int to = 10000, linger = 10000;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &to, sizeof to);
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &to, sizeof to);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (router) { /* prints the endpoint it bound, then serves */
        if (zmq_bind(s, argv[2]) != 0)
            return s_fail("bind", -zmq_errno());
        char ep[256];
        size_t len = sizeof ep;
        zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &len);
        printf("%s\n", ep);
        fflush(stdout);
    } else if (zmq_connect(s, argv[2]) != 0) {
        return s_fail("connect", -zmq_errno());
    }
    int rc;
    if (router)
        rc = s_router(s, argc > 3 ? atoi(argv[3]) : 1);
    else if (strcmp(argv[1], "recv-any") == 0)
        rc = s_recv_any(s, argc > 3 ? atoi(argv[3]) : 1);
    else if (recv)
        rc = s_recv(s, argc > 3 ? atoi(argv[3]) : 1);
    else if (strcmp(argv[1], "send-example") == 0)
        rc = s_send_example(s);
    else if (strcmp(argv[1], "send") == 0)
        rc = s_send_corpus(s);
    else
        rc = s_send_recipe(s);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return rc;
}
