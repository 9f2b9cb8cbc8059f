/*
 * The C side of tests/test_interop.py: zmqpack's C API (zmqpack/interop.h)
 * against the peers in tests/peers/ (msgpack-numpy's rules, a Karabo
 * bridge server and client), over real sockets and pipes.
 *
 *   interop_driver mpnp-read              stdin: one MessagePack object; prints a line per
 *                                         map, depth first: "TYPESTR SHAPE CRC" for a
 *                                         msgpack-numpy map, "error NAME" for a refused one
 *   interop_driver mpnp-write             stdout: a MessagePack array of msgpack-numpy maps
 *                                         of the fixed arrays below
 *   interop_driver karabo-client ENDPOINT SOCK N
 *                                         connect SOCK (REQ, SUB, PULL), receive N trains with
 *                                         zpk_karabo_recv, print each source as "TID SOURCE
 *                                         NKEYS PATH=TYPESTR:SHAPE:CRC..." or "error NAME
 *                                         FRAME"; REQ sends "next" first
 *   interop_driver karabo-serve ENDPOINT SOCK PROTO N FIRST
 *                                         bind SOCK (REP, PUB, PUSH), print the endpoint, send
 *                                         N trains (train ids FIRST...) in protocol PROTO
 *
 * SHAPE is the dimensions joined by "x" ("" for 0-d), CRC the zlib crc32 of
 * the items in C order. Every receive times out after 10 s.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>
#include <zmq.h>

#include "zmqpack.h"

#define S_DIE(...)                                                                           \
    do {                                                                                     \
        fprintf(stderr, "interop_driver: " __VA_ARGS__);                                     \
        fputc('\n', stderr);                                                                 \
        exit(1);                                                                             \
    } while (0)

/* "TYPESTR SHAPE CRC" of an ndarray view (C order). */
static void s_print_ndarray(const zpk_ndarray_t *a, char sep)
{
    char ts[ZPK_DTYPE_STR_SIZE];
    zpk_dtype_format(a->dtype, ts, sizeof ts);
    printf("%s%c", ts, sep);
    for (int i = 0; i < a->ndim; i++)
        printf("%s%zu", i ? "x" : "", a->shape[i]);
    uLong crc = crc32(0L, Z_NULL, 0);
    if (a->nbytes > 0)
        crc = crc32(crc, a->data, (uInt)a->nbytes);
    printf("%c%lu", sep, crc);
}

/* ---- msgpack-numpy ------------------------------------------------------------- */

static void s_walk(const zpk_node_t *n)
{
    zpk_type_t t = zpk_node_type(n);
    if (t == ZPK_TYPE_MAP) {
        zpk_ndarray_t a;
        zpk_error_t err;
        int rc = zpk_node_get_msgpack_numpy(n, &a, &err);
        if (rc == 0) {
            s_print_ndarray(&a, ' ');
            putchar('\n');
            return;
        }
        if (rc != ZPK_ETYPE) {
            printf("error %s\n", zpk_err_name(rc));
            return;
        }
        for (size_t i = 0; i < zpk_node_len(n); i++)
            s_walk(zpk_node_map_value(n, i));
    } else if (t == ZPK_TYPE_ARRAY) {
        for (size_t i = 0; i < zpk_node_len(n); i++)
            s_walk(zpk_node_array_at(n, i));
    }
}

static int s_mpnp_read(void)
{
    static uint8_t buf[1 << 22];
    size_t len = fread(buf, 1, sizeof buf, stdin);
    zpk_doc_t *doc = NULL;
    zpk_error_t err;
    int rc = zpk_doc_parse(buf, len, NULL, ZPK_DOC_BORROW, &doc, &err);
    if (rc != 0)
        S_DIE("parse: %s", err.text);
    s_walk(zpk_doc_root(doc));
    zpk_doc_destroy(&doc);
    return 0;
}

/* Fills @p d with @p n items of @p dt: item k is k * 3 - 7 (bool: k odd), in
 * the dtype's byte order. */
static void s_fill(zpk_dtype_t dt, void *d, size_t n)
{
    uint8_t *p = d;
    for (size_t k = 0; k < n; k++, p += dt.itemsize) {
        double v = (double)k * 3 - 7;
        switch (dt.kind) {
        case 'b': p[0] = (uint8_t)(k & 1); break;
        case 'i':
        case 'u': {
            int64_t x = (int64_t)v;
            memcpy(p, &x, dt.itemsize); /* the low bytes: little-endian host */
            break;
        }
        case 'f':
            if (dt.itemsize == 4) {
                float f = (float)v;
                memcpy(p, &f, 4);
            } else if (dt.itemsize == 8) {
                memcpy(p, &v, 8);
            } else { /* float16: k * 3 - 7 is exact in half precision for small k */
                uint16_t h = 0;
                double a = v < 0 ? -v : v;
                if (a != 0) {
                    int e = 0;
                    while (a >= 2) { a /= 2; e++; }
                    while (a < 1) { a *= 2; e--; }
                    h = (uint16_t)(((e + 15) << 10) | (uint16_t)((a - 1) * 1024));
                }
                if (v < 0)
                    h |= 0x8000;
                memcpy(p, &h, 2);
            }
            break;
        case 'c': {
            /* imaginary part -k; +0.0 for k = 0, as numpy's 0 - 0j */
            double im = k == 0 ? 0.0 : -(double)k;
            if (dt.itemsize == 8) {
                float c[2] = {(float)v, (float)im};
                memcpy(p, c, 8);
            } else {
                double c[2] = {v, im};
                memcpy(p, c, 16);
            }
            break;
        }
        }
        if (!zpk_dtype_is_native(dt))
            zpk_dtype_byteswap(dt, p, dt.itemsize);
    }
}

/* The arrays of mpnp-write, mirrored in tests/test_interop.py:MPNP_ARRAYS. */
static const char *const s_typestrs[] = {"|b1", "|i1", "<i2", ">i2", "<i4", ">i4", "<i8",
                                         "|u1", "<u2", ">u4", "<u8", "<f2", "<f4", ">f4",
                                         "<f8", ">f8", "<c8", "<c16"};
#define S_NTYPES (sizeof s_typestrs / sizeof s_typestrs[0])

static int s_mpnp_write(void)
{
    static uint8_t data[4096];
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_array(&w, S_NTYPES + 4);
    size_t shape[3] = {3, 4, 2};
    for (size_t t = 0; t < S_NTYPES; t++) {
        zpk_dtype_t dt;
        if (zpk_dtype_parse(s_typestrs[t], strlen(s_typestrs[t]), &dt, NULL) != 0)
            S_DIE("dtype %s", s_typestrs[t]);
        zpk_ndarray_t a;
        s_fill(dt, data, 24);
        zpk_ndarray_init(&a, dt, 3, shape, 'C', data);
        zpk_write_msgpack_numpy(&w, &a);
    }
    /* F order (3, 4) of <i4, a strided view (every other column), 0-d, empty */
    zpk_dtype_t i4 = zpk_dtype_make(ZPK_KIND_INT, 4), f8 = zpk_dtype_make(ZPK_KIND_FLOAT, 8);
    s_fill(i4, data, 12);
    zpk_ndarray_t a;
    zpk_ndarray_init(&a, i4, 2, shape, 'F', data);
    zpk_write_msgpack_numpy(&w, &a);
    size_t vshape[2] = {3, 2};
    ptrdiff_t st[2] = {16, 8};
    zpk_ndarray_init(&a, i4, 2, vshape, 'C', data);
    zpk_ndarray_set_strides(&a, st);
    zpk_write_msgpack_numpy(&w, &a);
    s_fill(f8, data, 1);
    zpk_ndarray_init(&a, f8, 0, NULL, 'C', data);
    zpk_write_msgpack_numpy(&w, &a);
    size_t eshape[2] = {0, 5};
    zpk_ndarray_init(&a, f8, 2, eshape, 'C', NULL);
    zpk_write_msgpack_numpy(&w, &a);
    if (zpk_writer_finish(&w) != 0)
        S_DIE("write: %s", zpk_strerror(zpk_writer_error(&w)));
    fwrite(zpk_writer_data(&w), 1, zpk_writer_size(&w), stdout);
    zpk_writer_free(&w);
    return 0;
}

/* ---- Karabo bridge ---------------------------------------------------------------- */

static int s_sock_type(const char *name)
{
    static const struct {
        const char *name;
        int type;
    } types[] = {{"REQ", ZMQ_REQ}, {"SUB", ZMQ_SUB}, {"PULL", ZMQ_PULL},
                 {"REP", ZMQ_REP}, {"PUB", ZMQ_PUB}, {"PUSH", ZMQ_PUSH}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(types[i].name, name) == 0)
            return types[i].type;
    S_DIE("unknown socket type %s", name);
}

static int s_karabo_client(const char *endpoint, const char *sock, int ntrains)
{
    void *ctx = zmq_ctx_new();
    int type = s_sock_type(sock);
    void *s = zmq_socket(ctx, type);
    int timeout = 10000, zero = 0;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (type == ZMQ_SUB)
        zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    if (zmq_connect(s, endpoint) != 0)
        S_DIE("connect %s: %s", endpoint, zmq_strerror(zmq_errno()));
    for (int k = 0; k < ntrains; k++) {
        if (type == ZMQ_REQ && zmq_send(s, "next", 4, 0) != 4)
            S_DIE("send next: %s", zmq_strerror(zmq_errno()));
        zpk_karabo_train_t t;
        zpk_error_t err;
        int rc = zpk_karabo_recv(s, NULL, &t, &err);
        if (rc == -EAGAIN || rc == -ETERM || rc == -EINTR)
            S_DIE("recv: %s", zpk_strerror(rc));
        if (rc != 0) {
            printf("error %s %d\n", zpk_err_name(rc), err.frame);
        } else {
            uint64_t tid = 0;
            zpk_karabo_train_id(&t, &tid);
            for (size_t i = 0; i < t.n_sources; i++) {
                const zpk_karabo_source_t *src = &t.sources[i];
                printf("%llu %.*s %zu", (unsigned long long)tid, (int)src->name_len, src->name,
                       zpk_node_len(src->data));
                for (size_t j = 0; j < src->n_ndarrays; j++) {
                    printf(" %.*s=", (int)src->ndarrays[j].path_len, src->ndarrays[j].path);
                    s_print_ndarray(&src->ndarrays[j].ndarray, ':');
                }
                putchar('\n');
            }
            zpk_karabo_train_free(&t);
        }
        fflush(stdout);
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}

/* A source's values, mirrored in tests/test_interop.py:c_train(). */
static void s_write_payload(zpk_writer_t *w, int source, uint64_t tid, bool with_arrays);

static uint16_t s_image[24];
static uint8_t s_mask[4];
static uint8_t s_be[24];
static int32_t s_zero_d;
static uint8_t s_c8[16];

static int s_arrays(int source, uint64_t tid, zpk_ndarray_t *a, const char **paths)
{
    if (source == 1) {
        size_t two = 2;
        zpk_dtype_t c8 = zpk_dtype_make(ZPK_KIND_COMPLEX, 8);
        s_fill(c8, s_c8, 2);
        zpk_ndarray_init(&a[0], c8, 1, &two, 'C', s_c8);
        paths[0] = "c";
        return 1;
    }
    size_t ishape[3] = {2, 3, 4}, four = 4, three = 3, eshape[2] = {0, 2};
    for (size_t k = 0; k < 24; k++)
        s_image[k] = (uint16_t)(k * 7 + tid);
    for (size_t k = 0; k < 4; k++)
        s_mask[k] = (uint8_t)(k & 1);
    zpk_dtype_t be = zpk_dtype_make(ZPK_KIND_FLOAT, 8);
    be.byteorder = ZPK_BYTEORDER_BIG;
    s_fill(be, s_be, 3);
    s_zero_d = -7;
    zpk_ndarray_init(&a[0], zpk_dtype_make(ZPK_KIND_UINT, 2), 3, ishape, 'C', s_image);
    zpk_ndarray_init(&a[1], zpk_dtype_make(ZPK_KIND_BOOL, 1), 1, &four, 'C', s_mask);
    zpk_ndarray_init(&a[2], be, 1, &three, 'C', s_be);
    zpk_ndarray_init(&a[3], zpk_dtype_make(ZPK_KIND_INT, 4), 0, NULL, 'C', &s_zero_d);
    zpk_ndarray_init(&a[4], zpk_dtype_make(ZPK_KIND_FLOAT, 4), 2, eshape, 'C', NULL);
    static const char *const p[] = {"image.data", "image.mask", "be", "zero_d", "empty"};
    memcpy(paths, p, sizeof p);
    return 5;
}

static void s_write_payload(zpk_writer_t *w, int source, uint64_t tid, bool with_arrays)
{
    zpk_ndarray_t a[5];
    const char *paths[5];
    int na = s_arrays(source, tid, a, paths);
    if (source == 1) {
        zpk_write_map(w, 1 + (with_arrays ? (size_t)na + 1 : 0));
        zpk_write_cstr(w, "x");
        zpk_write_uint(w, 1);
    } else {
        zpk_write_map(w, 4 + (with_arrays ? (size_t)na + 1 : 0));
        zpk_write_cstr(w, "frames");
        zpk_write_uint(w, 4);
        zpk_write_cstr(w, "temperature");
        zpk_write_double(w, 21.5);
        zpk_write_cstr(w, "name");
        zpk_write_cstr(w, "AGIPD");
        zpk_write_cstr(w, "present");
        zpk_write_array(w, 2);
        zpk_write_bool(w, true);
        zpk_write_bool(w, false);
    }
    if (!with_arrays)
        return;
    for (int i = 0; i < na; i++) { /* protocol 1.0: arrays inside, as msgpack-numpy maps */
        zpk_write_cstr(w, paths[i]);
        zpk_write_msgpack_numpy(w, &a[i]);
    }
}

static const char *const s_sources[] = {"DET/0", "DET/1"};

static void s_write_metadata(zpk_writer_t *w, int source, uint64_t tid)
{
    zpk_write_map(w, 2);
    zpk_write_cstr(w, "source");
    zpk_write_cstr(w, s_sources[source]);
    zpk_write_cstr(w, "timestamp.tid");
    zpk_write_uint(w, tid);
}

/* Sends the writer's bytes as one frame (copied), @p more when frames follow. */
static void s_send_writer(void *s, zpk_writer_t *w, bool more)
{
    if (zpk_writer_finish(w) != 0)
        S_DIE("write: %s", zpk_strerror(zpk_writer_error(w)));
    if (zmq_send(s, zpk_writer_data(w), zpk_writer_size(w), more ? ZMQ_SNDMORE : 0) < 0)
        S_DIE("send: %s", zmq_strerror(zmq_errno()));
    zpk_writer_reset(w);
}

static void s_send_train(void *s, bool v1, uint64_t tid)
{
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    if (v1) {
        zpk_write_map(&w, 2);
        for (int src = 0; src < 2; src++) {
            zpk_write_cstr(&w, s_sources[src]);
            s_write_payload(&w, src, tid, true);
            zpk_write_cstr(&w, "metadata");
            s_write_metadata(&w, src, tid);
        }
        s_send_writer(s, &w, false);
    }
    for (int src = 0; !v1 && src < 2; src++) {
        zpk_karabo_write_source_header(&w, s_sources[src]);
        s_write_metadata(&w, src, tid);
        s_send_writer(s, &w, true);
        s_write_payload(&w, src, tid, false);
        zpk_ndarray_t a[5];
        const char *paths[5];
        int na = s_arrays(src, tid, a, paths);
        s_send_writer(s, &w, true);
        for (int i = 0; i < na; i++) {
            if (zpk_karabo_write_ndarray_header(&w, s_sources[src], paths[i], &a[i]) != 0)
                S_DIE("array header");
            s_send_writer(s, &w, true);
            bool last = src == 1 && i == na - 1;
            if (zmq_send(s, a[i].data, a[i].nbytes, last ? 0 : ZMQ_SNDMORE) < 0)
                S_DIE("send: %s", zmq_strerror(zmq_errno()));
        }
    }
    zpk_writer_free(&w);
}

static int s_karabo_serve(const char *endpoint, const char *sock, const char *proto, int ntrains,
                          uint64_t first)
{
    void *ctx = zmq_ctx_new();
    int type = s_sock_type(sock);
    void *s = zmq_socket(ctx, type);
    int timeout = 10000, linger = 5000;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(s, endpoint) != 0)
        S_DIE("bind %s: %s", endpoint, zmq_strerror(zmq_errno()));
    char ep[256];
    size_t eplen = sizeof ep;
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &eplen);
    printf("%s\n", ep);
    fflush(stdout);
    bool v1 = strcmp(proto, "1.0") == 0;
    for (int k = 0; k < ntrains; k++) {
        if (type == ZMQ_REP) {
            char req[64];
            int n = zmq_recv(s, req, sizeof req, 0);
            if (n != 4 || memcmp(req, "next", 4) != 0)
                S_DIE("request: %d bytes", n);
        }
        if (type == ZMQ_PUB)
            usleep(50000); /* a subscriber that is still joining misses trains: resend */
        s_send_train(s, v1, first + (uint64_t)(type == ZMQ_PUB ? 0 : k));
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "mpnp-read") == 0)
        return s_mpnp_read();
    if (argc >= 2 && strcmp(argv[1], "mpnp-write") == 0)
        return s_mpnp_write();
    if (argc == 5 && strcmp(argv[1], "karabo-client") == 0)
        return s_karabo_client(argv[2], argv[3], atoi(argv[4]));
    if (argc == 7 && strcmp(argv[1], "karabo-serve") == 0)
        return s_karabo_serve(argv[2], argv[3], argv[4], atoi(argv[5]),
                              strtoull(argv[6], NULL, 10));
    fprintf(stderr, "usage: see the comment at the top of tests/interop_driver.c\n");
    return 2;
}
