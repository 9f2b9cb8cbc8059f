/*
 * Interop formats without sockets (zmqpack/interop.h): msgpack-numpy maps
 * written byte for byte as msgpack-numpy writes them and read back as
 * views; Karabo bridge trains (protocols 2.2 and 1.0) decoded from frames
 * assembled by hand; every hostile variant refused with its code and
 * frame; allocation failures leave nothing behind.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <zmq.h>

#include "harness.h"
#include "zmqpack.h"

/* ---- helpers ------------------------------------------------------------------ */

typedef struct bytes {
    uint8_t b[4096];
    size_t n;
} bytes_t;

static void s_put(bytes_t *o, const void *p, size_t n)
{
    assert_true(o->n + n <= sizeof o->b);
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

/* A fixstr / bin 8 / raw byte, appended. */
static void s_str(bytes_t *o, const char *s)
{
    uint8_t h = (uint8_t)(0xa0 | strlen(s));
    s_put(o, &h, 1);
    s_put(o, s, strlen(s));
}
static void s_bin(bytes_t *o, const void *p, size_t n)
{
    uint8_t h[2] = {0xc4, (uint8_t)n};
    s_put(o, h, 2);
    s_put(o, p, n);
}
static void s_byte(bytes_t *o, uint8_t b)
{
    s_put(o, &b, 1);
}

/* msgpack-numpy's map with typestr @p type, the shape as MessagePack bytes
 * @p shape (NULL: no "shape" key), @p data_len bytes of @p data; keys as bin
 * (or str, as older writers wrote them); @p kind NULL leaves "kind" out.
 * @p type NULL writes a uint where the type string belongs. */
static void s_mpnp_raw(bytes_t *o, const char *type, const char *kind, const void *shape,
                       size_t shape_len, const void *data, size_t data_len, bool str_keys)
{
    s_byte(o, (uint8_t)(0x80 | (2 + (kind != NULL) + (shape != NULL) + (data != NULL))));
#define KEY(k) (str_keys ? s_str(o, k) : s_bin(o, k, strlen(k)))
    KEY("nd");
    s_byte(o, 0xc3);
    KEY("type");
    if (type != NULL)
        s_str(o, type);
    else
        s_byte(o, 0x07);
    if (kind) {
        KEY("kind");
        s_bin(o, kind, strlen(kind));
    }
    if (shape != NULL) {
        KEY("shape");
        s_put(o, shape, shape_len);
    }
    if (data != NULL) {
        KEY("data");
        s_bin(o, data, data_len);
    }
#undef KEY
}

/* The same for a 1-d shape of @p n items. */
static void s_mpnp(bytes_t *o, const char *type, const char *kind, size_t n, const void *data,
                   size_t data_len, bool str_keys)
{
    uint8_t shape[2] = {0x91, (uint8_t)n};
    s_mpnp_raw(o, type, kind, shape, 2, data, data_len, str_keys);
}

static zpk_doc_t *s_parse(const bytes_t *o)
{
    zpk_doc_t *doc = NULL;
    assert_int_equal(zpk_doc_parse(o->b, o->n, NULL, ZPK_DOC_BORROW, &doc, NULL), 0);
    return doc;
}

/* ---- msgpack-numpy: writing ------------------------------------------------------ */

static void test_mpnp_write_exact_bytes(void **state)
{
    (void)state;
    uint16_t d[3] = {0, 1, 2};
    size_t n = 3;
    zpk_ndarray_t a;
    assert_int_equal(zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_UINT, 2), 1, &n, 'C', d), 0);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    assert_int_equal(zpk_write_msgpack_numpy(&w, &a), 0);
    /* what msgpack.packb(np.arange(3, dtype="<u2"), use_bin_type=True,
     * default=msgpack_numpy.encode) writes */
    static const uint8_t want[] = {
        0x85, 0xc4, 2, 'n', 'd', 0xc3, 0xc4, 4, 't', 'y', 'p', 'e', 0xa3, '<', 'u', '2',
        0xc4, 4, 'k', 'i', 'n', 'd', 0xc4, 0, 0xc4, 5, 's', 'h', 'a', 'p', 'e', 0x91, 3,
        0xc4, 4, 'd', 'a', 't', 'a', 0xc4, 6, 0, 0, 1, 0, 2, 0};
    assert_int_equal(zpk_writer_size(&w), sizeof want);
    assert_memory_equal(zpk_writer_data(&w), want, sizeof want);
    zpk_writer_free(&w);
}

/* Writes @p a and returns the bytes' "shape" and "data" tail for comparison. */
static size_t s_write(const zpk_ndarray_t *a, uint8_t *out, size_t cap)
{
    zpk_writer_t w;
    zpk_writer_init_buffer(&w, out, cap);
    assert_int_equal(zpk_write_msgpack_numpy(&w, a), 0);
    return zpk_writer_size(&w);
}

static void test_mpnp_write_layouts(void **state)
{
    (void)state;
    int32_t d[12];
    for (int i = 0; i < 12; i++)
        d[i] = i * 7 - 20;
    size_t shape[2] = {3, 4};
    zpk_dtype_t i4 = zpk_dtype_make(ZPK_KIND_INT, 4);
    /* F order: the items go in C order, as numpy's tobytes() */
    zpk_ndarray_t f, c;
    assert_int_equal(zpk_ndarray_init(&f, i4, 2, shape, 'F', d), 0);
    assert_int_equal(zpk_ndarray_dup(&f, &c), 0);
    uint8_t bf[256], bc[256];
    size_t nf = s_write(&f, bf, sizeof bf), nc = s_write(&c, bc, sizeof bc);
    assert_int_equal(nf, nc);
    assert_memory_equal(bf, bc, nc);
    zpk_ndarray_free(&c);
    /* a strided view (every other column) */
    zpk_ndarray_t v;
    size_t vshape[2] = {3, 2};
    ptrdiff_t st[2] = {16, 8};
    assert_int_equal(zpk_ndarray_init(&v, i4, 2, vshape, 'C', d), 0);
    assert_int_equal(zpk_ndarray_set_strides(&v, st), 0);
    int32_t want_items[6] = {d[0], d[2], d[4], d[6], d[8], d[10]};
    size_t nv = s_write(&v, bf, sizeof bf);
    assert_memory_equal(bf + nv - sizeof want_items, want_items, sizeof want_items);
    /* 0-d: shape [] */
    double x = 2.5;
    zpk_ndarray_t z;
    assert_int_equal(zpk_ndarray_init(&z, zpk_dtype_make(ZPK_KIND_FLOAT, 8), 0, NULL, 'C', &x), 0);
    size_t nz = s_write(&z, bf, sizeof bf);
    static const uint8_t ztail[] = {0xc4, 5, 's', 'h', 'a', 'p', 'e', 0x90, 0xc4, 4, 'd', 'a', 't',
                                    'a', 0xc4, 8};
    assert_memory_equal(bf + nz - 8 - sizeof ztail, ztail, sizeof ztail);
    /* empty (2, 0) */
    size_t eshape[2] = {2, 0};
    zpk_ndarray_t e;
    assert_int_equal(zpk_ndarray_init(&e, zpk_dtype_make(ZPK_KIND_FLOAT, 4), 2, eshape, 'C', NULL), 0);
    size_t ne = s_write(&e, bf, sizeof bf);
    static const uint8_t etail[] = {0x92, 2, 0, 0xc4, 4, 'd', 'a', 't', 'a', 0xc4, 0};
    assert_memory_equal(bf + ne - sizeof etail, etail, sizeof etail);
}

static void test_mpnp_write_errors(void **state)
{
    (void)state;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_ndarray_t a;
    size_t n = 4;
    double d[4] = {0};
    assert_int_equal(zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, &n, 'C', d), 0);
    a.data = NULL;
    assert_int_equal(zpk_write_msgpack_numpy(&w, &a), ZPK_EINVAL); /* NULL data, 32 bytes */
    assert_int_equal(zpk_writer_error(&w), ZPK_EINVAL);            /* sticky */
    zpk_writer_free(&w);
    zpk_writer_init_growable(&w, 0);
    a.data = d;
    a.dtype.kind = 'U';
    assert_int_equal(zpk_write_msgpack_numpy(&w, &a), ZPK_EDTYPE);
    zpk_writer_free(&w);
    assert_int_equal(zpk_write_msgpack_numpy(NULL, &a), ZPK_EINVAL);
    uint8_t small[20];
    a.dtype = zpk_dtype_make(ZPK_KIND_FLOAT, 8);
    zpk_writer_init_buffer(&w, small, sizeof small);
    assert_int_equal(zpk_write_msgpack_numpy(&w, &a), ZPK_EBUFFULL);
}

/* ---- msgpack-numpy: reading --------------------------------------------------------- */

static void test_mpnp_read_round_trip(void **state)
{
    (void)state;
    static const char *types[] = {"|b1", "|i1", "<i2", ">i2", "<i4", ">i8", "|u1", "<u2", ">u4",
                                  "<u8", "<f2", "<f4", ">f8", "<c8", ">c16"};
    uint8_t data[64];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 37 + 1);
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        zpk_dtype_t dt;
        assert_int_equal(zpk_dtype_parse(types[t], strlen(types[t]), &dt, NULL), 0);
        size_t n = 32 / dt.itemsize;
        bytes_t o = {.n = 0};
        s_mpnp(&o, types[t], "", n, data, n * dt.itemsize, false);
        zpk_doc_t *doc = s_parse(&o);
        zpk_ndarray_t a;
        memset(&a, 0xab, sizeof a);
        assert_int_equal(zpk_node_get_msgpack_numpy(zpk_doc_root(doc), &a, NULL), 0);
        assert_true(zpk_dtype_equal(a.dtype, dt));
        assert_int_equal(a.ndim, 1);
        assert_int_equal(a.shape[0], n);
        assert_int_equal(a.nbytes, n * dt.itemsize);
        assert_null(a.free_fn);
        /* a view of the input's bytes (the document borrows them) */
        assert_ptr_equal(a.data, o.b + o.n - a.nbytes);
        /* written again, the same bytes */
        uint8_t again[256];
        size_t k = s_write(&a, again, sizeof again);
        assert_int_equal(k, o.n);
        assert_memory_equal(again, o.b, o.n);
        zpk_doc_destroy(&doc);
    }
}

static void test_mpnp_read_variants(void **state)
{
    (void)state;
    uint8_t d[8] = {1, 0, 0, 0, 2, 0, 0, 0};
    /* str keys and no "kind", as writers before msgpack 1.0 / 0.4.0 */
    bytes_t o = {.n = 0};
    s_mpnp(&o, "<i4", NULL, 2, d, 8, true);
    zpk_doc_t *doc = s_parse(&o);
    zpk_ndarray_t a;
    assert_int_equal(zpk_node_get_msgpack_numpy(zpk_doc_root(doc), &a, NULL), 0);
    assert_int_equal(a.shape[0], 2);
    zpk_doc_destroy(&doc);
    /* a numpy scalar: {nd: false, type, data} -> 0-d */
    o.n = 0;
    s_byte(&o, 0x83);
    s_bin(&o, "nd", 2);
    s_byte(&o, 0xc2);
    s_bin(&o, "type", 4);
    s_str(&o, "<u4");
    s_bin(&o, "data", 4);
    s_bin(&o, d + 4, 4);
    doc = s_parse(&o);
    assert_int_equal(zpk_node_get_msgpack_numpy(zpk_doc_root(doc), &a, NULL), 0);
    assert_int_equal(a.ndim, 0);
    assert_int_equal(a.nbytes, 4);
    assert_int_equal(((const uint8_t *)a.data)[0], 2);
    zpk_doc_destroy(&doc);
    /* a plain map, an array, nil: not msgpack-numpy, nothing recorded */
    zpk_error_t err;
    static const uint8_t plain[][8] = {{0x81, 0xa1, 'x', 0x01}, {0x92, 1, 2}, {0xc0},
                                       {0x81, 0xc4, 2, 'n', 'd', 0x01}};
    static const size_t plain_len[] = {4, 3, 1, 6};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(zpk_doc_parse(plain[i], plain_len[i], NULL, 0, &doc, NULL), 0);
        assert_int_equal(zpk_node_get_msgpack_numpy(zpk_doc_root(doc), &a, &err), ZPK_ETYPE);
        assert_int_equal(err.code, 0);
        zpk_doc_destroy(&doc);
    }
    assert_int_equal(zpk_node_get_msgpack_numpy(NULL, &a, NULL), ZPK_ETYPE);
    assert_int_equal(zpk_node_get_msgpack_numpy(NULL, NULL, &err), ZPK_EINVAL);
}

/* Checks that @p o is refused with @p code and a text containing @p text. */
static void s_refused(const bytes_t *o, int code, const char *text)
{
    zpk_doc_t *doc = s_parse(o);
    zpk_ndarray_t a;
    zpk_error_t err;
    assert_int_equal(zpk_node_get_msgpack_numpy(zpk_doc_root(doc), &a, &err), code);
    assert_int_equal(err.code, code);
    if (strstr(err.text, text) == NULL)
        fail_msg("error text '%s' lacks '%s'", err.text, text);
    assert_int_equal(a.nbytes, 0);
    assert_null(a.data);
    zpk_doc_destroy(&doc);
}

static void test_mpnp_read_hostile(void **state)
{
    (void)state;
    uint8_t d[16] = {0};
    bytes_t o = {.n = 0};
    /* a lying shape: 3 items of <f8 claimed, 16 bytes sent; and 1 claimed */
    s_mpnp(&o, "<f8", "", 3, d, 16, false);
    s_refused(&o, ZPK_ESHAPE, "16 bytes of data, but dtype <f8 and shape [3] need 24");
    o.n = 0;
    s_mpnp(&o, "<f8", "", 1, d, 16, false);
    s_refused(&o, ZPK_ESHAPE, "need 8");
    /* kind O: a pickle, never loaded */
    o.n = 0;
    s_mpnp(&o, "|O", "O", 1, "\x80\x02pickle", 8, false);
    s_refused(&o, ZPK_ENOTSUP, "pickle");
    /* kind V: structured */
    o.n = 0;
    s_mpnp(&o, "|V8", "V", 2, d, 16, false);
    s_refused(&o, ZPK_EDTYPE, "structured");
    /* strings and datetimes */
    o.n = 0;
    s_mpnp(&o, "<U2", "", 2, d, 16, false);
    s_refused(&o, ZPK_EDTYPE, "<U2");
    o.n = 0;
    s_mpnp(&o, "<M8", "", 2, d, 16, false);
    s_refused(&o, ZPK_EDTYPE, "datetime64");
    /* an unknown kind */
    o.n = 0;
    s_mpnp(&o, "<f8", "Z", 2, d, 16, false);
    s_refused(&o, ZPK_EFORMAT, "unknown kind");
    /* missing keys, wrong types, shapes that are not sizes */
    static const struct {
        const char *type;
        const char *shape;
        size_t shape_len;
        size_t data_len;
        int code;
        const char *text;
    } cases[] = {
        {"<f8", NULL, 0, 8, ZPK_EFORMAT, "no shape"},
        {NULL, "\x90", 1, 8, ZPK_EFORMAT, "no type"},
        {"<f8", "\x91\x01", 2, SIZE_MAX, ZPK_EFORMAT, "no data"},
        {"<f8", "\xa1" "3", 2, 8, ZPK_EFORMAT, "shape is not an array"},
        {"<f8", "\x91\xff", 2, 8, ZPK_ESHAPE, "not a list of sizes"}, /* -1 */
        {"<f8", "\x91\xc0", 2, 8, ZPK_ESHAPE, "not a list of sizes"}, /* nil */
        /* a product that overflows (2^62 * 2^62 items) */
        {"<f8", "\x92\xcf\x40\0\0\0\0\0\0\0\xcf\x40\0\0\0\0\0\0\0", 19, 8,
         ZPK_EOVERFLOW, "overflows"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        o.n = 0;
        size_t dl = cases[i].data_len;
        s_mpnp_raw(&o, cases[i].type, "", cases[i].shape, cases[i].shape_len,
                   dl == SIZE_MAX ? NULL : d, dl == SIZE_MAX ? 0 : dl, false);
        s_refused(&o, cases[i].code, cases[i].text);
    }
    /* more dimensions than numpy allows */
    uint8_t dims[3 + 33] = {0xdc, 0, 33};
    memset(dims + 3, 1, 33);
    o.n = 0;
    s_mpnp_raw(&o, "|u1", "", dims, sizeof dims, d, 1, false);
    s_refused(&o, ZPK_ESHAPE, "33 dimensions");
}

/* ---- Karabo bridge ------------------------------------------------------------------- */

/* A borrowed frame over @p n bytes at @p p. */
static zpk_frame_t s_fr(const void *p, size_t n)
{
    return (zpk_frame_t){(void *)(uintptr_t)p, n, NULL, NULL};
}

typedef struct frames {
    bytes_t f[12];
    zpk_frame_t s[12];
    size_t n;
} frames_t;

static bytes_t *s_frame(frames_t *fs)
{
    assert_true(fs->n < 12);
    bytes_t *b = &fs->f[fs->n++];
    b->n = 0;
    return b;
}

static void s_spans(frames_t *fs)
{
    for (size_t i = 0; i < fs->n; i++)
        fs->s[i] = s_fr(fs->f[i].b, fs->f[i].n);
}

/* Appends a writer's bytes as a frame. */
static void s_frame_from(frames_t *fs, zpk_writer_t *w)
{
    assert_int_equal(zpk_writer_finish(w), 0);
    bytes_t *b = s_frame(fs);
    s_put(b, zpk_writer_data(w), zpk_writer_size(w));
    zpk_writer_reset(w);
}

static const uint16_t s_image[6] = {10, 11, 12, 13, 14, 15};

/* A 2.2 train: source "A" (metadata tid 7, payload {n: 5}, array img uint16
 * (2, 3)) and source "B" (no metadata, payload {x: 1}). */
static void s_train_2_2(frames_t *fs)
{
    fs->n = 0;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_karabo_write_source_header(&w, "A");
    zpk_write_map(&w, 1);
    zpk_write_cstr(&w, "timestamp.tid");
    zpk_write_uint(&w, 7);
    s_frame_from(fs, &w);
    zpk_write_map(&w, 1);
    zpk_write_cstr(&w, "n");
    zpk_write_uint(&w, 5);
    s_frame_from(fs, &w);
    size_t shape[2] = {2, 3};
    zpk_ndarray_t a;
    assert_int_equal(zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_UINT, 2), 2, shape, 'C',
                                      (void *)s_image), 0);
    assert_int_equal(zpk_karabo_write_ndarray_header(&w, "A", "img", &a), 0);
    s_frame_from(fs, &w);
    s_put(s_frame(fs), s_image, sizeof s_image);
    zpk_karabo_write_source_header(&w, "B");
    zpk_write_map(&w, 0);
    s_frame_from(fs, &w);
    zpk_write_map(&w, 1);
    zpk_write_cstr(&w, "x");
    zpk_write_uint(&w, 1);
    s_frame_from(fs, &w);
    zpk_writer_free(&w);
    s_spans(fs);
}

static void test_karabo_write_exact_bytes(void **state)
{
    (void)state;
    frames_t fs;
    s_train_2_2(&fs);
    /* as karabo-bridge-py's msgpack.Packer(use_bin_type=True) packs them */
    bytes_t want = {.n = 0};
    s_byte(&want, 0x83);
    s_str(&want, "source");
    s_str(&want, "A");
    s_str(&want, "content");
    s_str(&want, "msgpack");
    s_str(&want, "metadata");
    s_byte(&want, 0x81);
    s_str(&want, "timestamp.tid");
    s_byte(&want, 7);
    assert_int_equal(fs.f[0].n, want.n);
    assert_memory_equal(fs.f[0].b, want.b, want.n);
    want.n = 0;
    s_byte(&want, 0x85);
    s_str(&want, "source");
    s_str(&want, "A");
    s_str(&want, "content");
    s_str(&want, "array");
    s_str(&want, "path");
    s_str(&want, "img");
    s_str(&want, "dtype");
    s_str(&want, "uint16");
    s_str(&want, "shape");
    s_byte(&want, 0x92);
    s_byte(&want, 2);
    s_byte(&want, 3);
    assert_int_equal(fs.f[2].n, want.n);
    assert_memory_equal(fs.f[2].b, want.b, want.n);
    /* the other byte order is named by its typestr, as str(dtype) prints it */
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    size_t n = 1;
    zpk_ndarray_t a;
    assert_int_equal(zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 4), 1, &n, 'C',
                                      (void *)s_image), 0);
    a.dtype.byteorder = ZPK_BYTEORDER_NATIVE == '<' ? '>' : '<';
    assert_int_equal(zpk_karabo_write_ndarray_header(&w, "S", "p", &a), 0);
    const char *want_dt = ZPK_BYTEORDER_NATIVE == '<' ? "\xa3>f4" : "\xa3<f4";
    assert_non_null(memmem(zpk_writer_data(&w), zpk_writer_size(&w), want_dt, 4));
    a.dtype.kind = 'U';
    assert_int_equal(zpk_karabo_write_ndarray_header(&w, "S", "p", &a), ZPK_EDTYPE);
    zpk_writer_free(&w);
}

static void test_karabo_decode_2_2(void **state)
{
    (void)state;
    frames_t fs;
    s_train_2_2(&fs);
    zpk_karabo_train_t t;
    zpk_error_t err;
    assert_int_equal(zpk_karabo_decode(fs.s, fs.n, NULL, &t, &err), 0);
    assert_int_equal(t.protocol, ZPK_KARABO_PROTOCOL_2_2);
    assert_int_equal(t.n_sources, 2);
    const zpk_karabo_source_t *a = zpk_karabo_train_source(&t, "A");
    const zpk_karabo_source_t *b = zpk_karabo_train_source(&t, "B");
    assert_ptr_equal(a, &t.sources[0]);
    assert_ptr_equal(b, &t.sources[1]);
    assert_null(zpk_karabo_train_source(&t, "C"));
    assert_null(zpk_karabo_train_source(&t, NULL));
    uint64_t v;
    assert_int_equal(zpk_node_get_uint(zpk_node_map_get(a->data, "n"), &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(zpk_node_get_uint(zpk_node_map_get(b->data, "x"), &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(zpk_node_len(b->metadata), 0);
    assert_int_equal(zpk_karabo_train_id(&t, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(a->n_ndarrays, 1);
    assert_int_equal(b->n_ndarrays, 0);
    const zpk_ndarray_t *img = zpk_karabo_source_ndarray(a, "img");
    assert_non_null(img);
    assert_null(zpk_karabo_source_ndarray(a, "im"));
    assert_int_equal(img->ndim, 2);
    assert_int_equal(img->shape[0], 2);
    assert_int_equal(img->shape[1], 3);
    assert_true(zpk_dtype_equal(img->dtype, zpk_dtype_make(ZPK_KIND_UINT, 2)));
    assert_ptr_equal(img->data, fs.f[3].b); /* a view of the frame */
    assert_int_equal(a->ndarrays[0].path_len, 3);
    assert_memory_equal(a->ndarrays[0].path, "img", 3);
    assert_int_equal(t.n_frames, 6);
    assert_ptr_equal(t.frames[3].data, fs.f[3].b);
    assert_int_equal(a->frame, 0);
    assert_int_equal(b->frame, 4);
    zpk_karabo_train_free(&t);
    zpk_karabo_train_free(&t); /* harmless */
    assert_int_equal(t.n_sources, 0);

    /* ZPK_RECV_BYTES: the same train, the payloads left to the caller */
    zpk_recv_opts_t o;
    zpk_recv_opts_init(&o);
    o.flags = ZPK_RECV_BYTES;
    assert_int_equal(zpk_karabo_decode(fs.s, fs.n, &o, &t, &err), 0);
    assert_int_equal(t.n_sources, 2);
    a = zpk_karabo_train_source(&t, "A");
    assert_null(a->data);
    assert_int_equal(zpk_karabo_train_id(&t, &v), 0); /* the headers are parsed */
    assert_int_equal(v, 7);
    assert_ptr_equal(t.frames[a->frame + 1].data, fs.f[1].b);
    assert_ptr_equal(zpk_karabo_source_ndarray(a, "img")->data, fs.f[3].b);
    zpk_karabo_train_free(&t);
    /* ... so a payload that is not a map goes through */
    zpk_frame_t pay[2] = {fs.s[0], s_fr("\x05", 1)};
    assert_int_equal(zpk_karabo_decode(pay, 2, &o, &t, &err), 0);
    assert_null(t.sources[0].data);
    zpk_karabo_train_free(&t);
}

/* A 1.0 train: {"S": {"v": 3, "img": <msgpack-numpy <u2 (3,)>, "sc":
 * <msgpack-numpy scalar>, "metadata": {"timestamp.tid": 9}}}. */
static void s_train_1_0(bytes_t *o, const char *kind)
{
    o->n = 0;
    s_byte(o, 0x81);
    s_str(o, "S");
    s_byte(o, 0x84);
    s_str(o, "v");
    s_byte(o, 3);
    s_str(o, "img");
    s_mpnp(o, "<u2", kind, 3, s_image, 6, false);
    s_str(o, "sc");
    s_byte(o, 0x83);
    s_bin(o, "nd", 2);
    s_byte(o, 0xc2);
    s_bin(o, "type", 4);
    s_str(o, "<u2");
    s_bin(o, "data", 4);
    s_bin(o, s_image, 2);
    s_str(o, "metadata");
    s_byte(o, 0x81);
    s_str(o, "timestamp.tid");
    s_byte(o, 9);
}

static void test_karabo_decode_1_0(void **state)
{
    (void)state;
    bytes_t o;
    s_train_1_0(&o, "");
    zpk_frame_t f = s_fr(o.b, o.n);
    zpk_karabo_train_t t;
    assert_int_equal(zpk_karabo_decode(&f, 1, NULL, &t, NULL), 0);
    assert_int_equal(t.protocol, ZPK_KARABO_PROTOCOL_1_0);
    assert_int_equal(t.n_sources, 1);
    const zpk_karabo_source_t *s = zpk_karabo_train_source(&t, "S");
    assert_non_null(s);
    uint64_t v;
    assert_int_equal(zpk_karabo_train_id(&t, &v), 0);
    assert_int_equal(v, 9);
    assert_int_equal(s->n_ndarrays, 1); /* the scalar stays a value of the map */
    const zpk_ndarray_t *img = zpk_karabo_source_ndarray(s, "img");
    assert_int_equal(img->shape[0], 3);
    assert_memory_equal(img->data, s_image, 6);
    assert_true((const uint8_t *)img->data > o.b && (const uint8_t *)img->data < o.b + o.n);
    assert_int_equal(zpk_node_len(s->data), 4);
    zpk_karabo_train_free(&t);
    /* a train without sources */
    f = s_fr("\x80", 1);
    assert_int_equal(zpk_karabo_decode(&f, 1, NULL, &t, NULL), 0);
    assert_int_equal(t.n_sources, 0);
    assert_int_equal(zpk_karabo_train_id(&t, &v), ZPK_ENOTFOUND);
    zpk_karabo_train_free(&t);
}

/* Decodes @p fs and checks the error: @p code, in frame @p frame, with @p text. */
static void s_karabo_refused(const zpk_frame_t *s, size_t n, int code, int frame, const char *text)
{
    zpk_karabo_train_t t;
    zpk_error_t err;
    memset(&t, 0x5a, sizeof t);
    assert_int_equal(zpk_karabo_decode(s, n, NULL, &t, &err), code);
    assert_int_equal(err.code, code);
    assert_int_equal(err.frame, frame);
    if (strstr(err.text, text) == NULL)
        fail_msg("error text '%s' lacks '%s'", err.text, text);
    assert_int_equal(t.n_sources, 0);
    assert_null(t.sources);
    zpk_karabo_train_free(&t);
}

static void test_karabo_hostile(void **state)
{
    (void)state;
    frames_t fs;
    s_train_2_2(&fs);
    /* odd number of frames: the last one has no pair */
    s_karabo_refused(fs.s, 5, ZPK_EFRAME, 4, "5 frames");
    s_karabo_refused(fs.s, 0, ZPK_EFRAME, 0, "at least one frame");
    /* an array header whose shape disagrees with its payload */
    fs.s[3].size = 10;
    s_karabo_refused(fs.s, 6, ZPK_ESHAPE, 3,
                     "10 bytes of data, but dtype <u2 and shape [2, 3] need 12");
    s_train_2_2(&fs);
    /* the array before its source's msgpack header */
    zpk_frame_t swapped[4] = {fs.s[2], fs.s[3], fs.s[0], fs.s[1]};
    s_karabo_refused(swapped, 4, ZPK_EFORMAT, 0, "not right after its msgpack header");
    /* the array after another source's header */
    zpk_frame_t other[6] = {fs.s[0], fs.s[1], fs.s[4], fs.s[5], fs.s[2], fs.s[3]};
    s_karabo_refused(other, 6, ZPK_EFORMAT, 4, "source 'A'");
    /* a source twice; an array twice */
    zpk_frame_t twice[4] = {fs.s[4], fs.s[5], fs.s[4], fs.s[5]};
    s_karabo_refused(twice, 4, ZPK_EFORMAT, 2, "source 'B' sent twice");
    zpk_frame_t dup[6] = {fs.s[0], fs.s[1], fs.s[2], fs.s[3], fs.s[2], fs.s[3]};
    s_karabo_refused(dup, 6, ZPK_EFORMAT, 4, "array 'img' sent twice");
    /* headers that are not maps, or lack keys */
    zpk_frame_t bad[2] = {s_fr("\x92\x01\x02", 3), fs.s[1]};
    s_karabo_refused(bad, 2, ZPK_EFORMAT, 0, "the header is not a map but a MessagePack array");
    bad[0] = s_fr("\x81\xa6source\xa1" "A", 10);
    s_karabo_refused(bad, 2, ZPK_EFORMAT, 0, "no \"content\"");
    bad[0] = s_fr("\x82\xa6source\xa1" "A\xa7" "content\xa3" "xyz", 22);
    s_karabo_refused(bad, 2, ZPK_EFORMAT, 0, "unknown content 'xyz'");
    bad[0] = s_fr("\x81\xa6source", 8);
    s_karabo_refused(bad, 2, ZPK_EOUTOFDATA, 0, "");
    /* a payload that is not a map, or not one object */
    zpk_frame_t pay[2] = {fs.s[0], s_fr("\x05", 1)};
    s_karabo_refused(pay, 2, ZPK_EFORMAT, 1, "the payload is not a map but a MessagePack uint");
    pay[1] = s_fr("\x80\x80", 2);
    s_karabo_refused(pay, 2, ZPK_EEXTRADATA, 1, "");
    /* an unknown dtype, a shape that is not sizes */
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_pack_fmt(&w, "{s:s s:s s:s s:s s:[i]}", "source", "A", "content", "array", "path", "p",
                 "dtype", "<U1", "shape", 2);
    zpk_frame_t dt[4] = {fs.s[0], fs.s[1], s_fr(zpk_writer_data(&w), zpk_writer_size(&w)),
                         s_fr("12345678", 8)};
    s_karabo_refused(dt, 4, ZPK_EDTYPE, 2, "<U1");
    zpk_writer_reset(&w);
    zpk_pack_fmt(&w, "{s:s s:s s:s s:s s:[i]}", "source", "A", "content", "ImageData", "path",
                 "p", "dtype", "float32", "shape", -2);
    dt[2] = s_fr(zpk_writer_data(&w), zpk_writer_size(&w));
    s_karabo_refused(dt, 4, ZPK_ESHAPE, 2, "not a list of sizes");
    zpk_writer_free(&w);
    /* 1.0: an object array inside, a lying shape, not a map */
    bytes_t o;
    s_train_1_0(&o, "O");
    zpk_frame_t one = s_fr(o.b, o.n);
    s_karabo_refused(&one, 1, ZPK_ENOTSUP, 0, "pickle");
    one = s_fr("\x91\x01", 2);
    s_karabo_refused(&one, 1, ZPK_EFORMAT, 0, "not a map");
    one = s_fr("\x81\xa1S\x05", 4);
    s_karabo_refused(&one, 1, ZPK_EFORMAT, 0, "source 'S' is not a map");
    one = s_fr("\x81\x01\x80", 3);
    s_karabo_refused(&one, 1, ZPK_EFORMAT, 0, "source name is not a string");
    /* a zmqpack message read as a train (one frame: as 1.0; two: as 2.2); JSON text */
    for (int single = 1; single >= 0; single--) {
        zpk_writer_t zw;
        zpk_writer_init_growable(&zw, 0);
        static const uint8_t big[20000]; /* over 16 KiB: a payload frame of its own */
        zpk_write_map(&zw, 1);
        zpk_write_cstr(&zw, "a");
        zpk_write_bin(&zw, big, single ? 1 : sizeof big);
        zpk_send_opts_t so;
        zpk_send_opts_init(&so);
        so.flags = single ? ZPK_SEND_SINGLE : 0;
        zpk_frames_t zf;
        assert_int_equal(zpk_encode_packed(&zw, &so, &zf, NULL), 0);
        assert_int_equal(zf.n, single ? 1 : 2);
        zpk_frame_t lent[2]; /* the decode takes frames over: lend it copies without free_fn */
        for (size_t i = 0; i < zf.n; i++)
            lent[i] = s_fr(zf.frames[i].data, zf.frames[i].size);
        s_karabo_refused(lent, zf.n, ZPK_EFORMAT, 0,
                         "a zmqpack message, not a Karabo train: receive it with recv_packed");
        zpk_frames_free(&zf);
        zpk_writer_free(&zw);
    }
    one = s_fr("{\"x\": 1}", 8);
    s_karabo_refused(&one, 1, ZPK_EEXTRADATA, 0, "Karabo 1.0 is one MessagePack map: extra data");
    /* NULLs */
    zpk_karabo_train_t t;
    assert_int_equal(zpk_karabo_decode(NULL, 2, NULL, &t, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_karabo_decode(fs.s, 2, NULL, NULL, NULL), ZPK_EINVAL);
}

static void test_karabo_lying_shape_1_0(void **state)
{
    (void)state;
    bytes_t o = {.n = 0};
    s_byte(&o, 0x81);
    s_str(&o, "S");
    s_byte(&o, 0x81);
    s_str(&o, "img");
    s_mpnp(&o, "<u2", "", 4, s_image, 6, false); /* 4 items claimed, 3 sent */
    zpk_frame_t one = s_fr(o.b, o.n);
    s_karabo_refused(&one, 1, ZPK_ESHAPE, 0, "6 bytes of data, but dtype <u2 and shape [4] need 8");
}

static void s_count(void *data, void *hint)
{
    (void)data;
    ++*(int *)hint;
}

static void test_karabo_owner_and_alloc_failures(void **state)
{
    (void)state;
    frames_t fs;
    s_train_2_2(&fs);
    bytes_t o;
    s_train_1_0(&o, "");
    zpk_frame_t one = s_fr(o.b, o.n);
    harness_alloc_install();
    for (size_t k = 1;; k++) {
        harness_alloc_fail_after(k);
        zpk_karabo_train_t t, t1;
        int rc = zpk_karabo_decode(fs.s, fs.n, NULL, &t, NULL);
        int rc1 = zpk_karabo_decode(&one, 1, NULL, &t1, NULL);
        harness_alloc_fail_after(0);
        zpk_karabo_train_free(&t);
        zpk_karabo_train_free(&t1);
        if (rc == 0 && rc1 == 0)
            break;
        assert_true(rc == 0 || rc == ZPK_ENOMEM);
        assert_true(rc1 == 0 || rc1 == ZPK_ENOMEM);
        assert_int_equal(harness_alloc_stats().live_blocks, 0);
        assert_true(k < 100);
    }
    harness_alloc_uninstall();
    /* frames with a free function are taken over: released once, when the
     * train is freed, or before the call returns when it fails */
    int released = 0;
    zpk_frame_t owned[6];
    for (size_t i = 0; i < 6; i++)
        owned[i] = (zpk_frame_t){fs.s[i].data, fs.s[i].size, s_count, &released};
    zpk_karabo_train_t t;
    assert_int_equal(zpk_karabo_decode(owned, 6, NULL, &t, NULL), 0);
    assert_int_equal(released, 0);
    zpk_karabo_train_free(&t);
    assert_int_equal(released, 6);
    zpk_karabo_train_free(&t);
    assert_int_equal(released, 6);
    released = 0;
    assert_int_equal(zpk_karabo_decode(owned, 5, NULL, &t, NULL), ZPK_EFRAME);
    assert_int_equal(released, 5);
    released = 0;
    assert_int_equal(zpk_karabo_decode(owned, 2, NULL, NULL, NULL), ZPK_EINVAL);
    assert_int_equal(released, 2);
}

/* Sends @p n frames of @p fs as one message on @p s. */
static void s_send_frames(void *s, const zpk_frame_t *fs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(zmq_send(s, fs[i].data, fs[i].size, i + 1 < n ? ZMQ_SNDMORE : 0),
                         (int)fs[i].size);
}

static void test_karabo_recv_stays_in_step(void **state)
{
    (void)state;
    frames_t fs;
    s_train_2_2(&fs);
    void *ctx = zmq_ctx_new();
    void *a = zmq_socket(ctx, ZMQ_PAIR), *b = zmq_socket(ctx, ZMQ_PAIR);
    assert_int_equal(zmq_bind(a, "inproc://karabo-recv"), 0);
    assert_int_equal(zmq_connect(b, "inproc://karabo-recv"), 0);
    zpk_karabo_train_t t;
    zpk_error_t err;
    zpk_recv_opts_t o;
    zpk_recv_opts_init(&o);
    o.flags = ZPK_DONTWAIT;
    assert_int_equal(zpk_karabo_recv(b, &o, &t, &err), -EAGAIN);
    assert_int_equal(t.n_sources, 0);
    /* a hostile train, then a good one: the first refused whole, the second read */
    s_send_frames(a, fs.s, 5);
    fs.s[3].size = 10;
    s_send_frames(a, fs.s, 6);
    fs.s[3].size = sizeof s_image;
    s_send_frames(a, fs.s, 6);
    assert_int_equal(zpk_karabo_recv(b, NULL, &t, &err), ZPK_EFRAME);
    assert_int_equal(err.frame, 4);
    assert_int_equal(zpk_karabo_recv(b, NULL, &t, &err), ZPK_ESHAPE);
    assert_int_equal(err.frame, 3);
    assert_int_equal(zpk_karabo_recv(b, NULL, &t, &err), 0);
    const zpk_ndarray_t *img = zpk_karabo_source_ndarray(zpk_karabo_train_source(&t, "A"), "img");
    assert_non_null(img);
    assert_memory_equal(img->data, s_image, sizeof s_image); /* in the received frame */
    assert_ptr_not_equal(img->data, s_image);
    zpk_karabo_train_free(&t);
    assert_int_equal(zpk_karabo_recv(b, &o, &t, &err), -EAGAIN);
    assert_int_equal(zpk_karabo_recv(NULL, NULL, &t, &err), ZPK_EINVAL);
    assert_int_equal(zpk_karabo_recv(b, NULL, NULL, &err), ZPK_EINVAL);
    zmq_close(a);
    zmq_close(b);
    zmq_ctx_term(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mpnp_write_exact_bytes),
        cmocka_unit_test(test_mpnp_write_layouts),
        cmocka_unit_test(test_mpnp_write_errors),
        cmocka_unit_test(test_mpnp_read_round_trip),
        cmocka_unit_test(test_mpnp_read_variants),
        cmocka_unit_test(test_mpnp_read_hostile),
        cmocka_unit_test(test_karabo_write_exact_bytes),
        cmocka_unit_test(test_karabo_decode_2_2),
        cmocka_unit_test(test_karabo_decode_1_0),
        cmocka_unit_test(test_karabo_hostile),
        cmocka_unit_test(test_karabo_lying_shape_1_0),
        cmocka_unit_test(test_karabo_owner_and_alloc_failures),
        cmocka_unit_test(test_karabo_recv_stays_in_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
