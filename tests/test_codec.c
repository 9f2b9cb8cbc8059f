/*
 * Codecs and arrays as header + chunks: string forms, round trips of every
 * dtype through every codec, borrowing, the auto rule, and hostile input
 * (lying headers and streams, truncation, bit flips, a zlib bomb).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "internal.h"
#include "zmqpack.h"

static zpk_dtype_t s_dt(const char *s)
{
    zpk_dtype_t dt;
    assert_int_equal(zpk_dtype_parse(s, strlen(s), &dt, NULL), 0);
    return dt;
}

static zpk_codec_t s_codec(const char *s)
{
    zpk_codec_t c;
    zpk_error_t err;
    zpk_error_clear(&err);
    if (zpk_codec_parse(s, strlen(s), &c, &err) != 0)
        fail_msg("codec '%s': %s", s, err.text);
    return c;
}

/* Deterministic, somewhat compressible bytes. */
static void s_fill(uint8_t *p, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        if (i % 64 == 0)
            x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)((i / 8) + (x >> 28));
    }
}

static void s_random(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t x = seed | 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)(x >> 32);
    }
}

/* ---- strings ------------------------------------------------------------------- */

static void test_codec_strings(void **state)
{
    (void)state;
    static const struct { const char *in, *canon; } ok[] = {
        {"none", "none"},
        {"zlib", "zlib:6"},
        {"zlib:0", "zlib:0"},
        {"zlib:9", "zlib:9"},
        {"blosc", "blosc:lz4:5:shuffle"},
        {"blosc:zstd", "blosc:zstd:5:shuffle"},
        {"blosc:lz4:5:shuffle", "blosc:lz4:5:shuffle"},
        {"blosc:blosclz:9:noshuffle", "blosc:blosclz:9:noshuffle"},
        {"blosc:lz4hc:1:bitshuffle", "blosc:lz4hc:1:bitshuffle"},
        {"blosc:zlib:3", "blosc:zlib:3:shuffle"},
        {"auto", "auto:blosc:lz4:5:shuffle"},
        {"auto:zlib:1", "auto:zlib:1"},
        {"auto:blosc:zstd:3:bitshuffle", "auto:blosc:zstd:3:bitshuffle"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        zpk_codec_t c = s_codec(ok[i].in);
        char buf[ZPK_CODEC_STR_SIZE];
        int n = zpk_codec_format(&c, buf, sizeof buf);
        assert_int_equal(n, (int)strlen(ok[i].canon));
        assert_string_equal(buf, ok[i].canon);
        zpk_codec_t again = s_codec(buf);
        assert_int_equal(again.id, c.id);
        assert_int_equal(again.level, c.level);
        assert_int_equal(again.cname, c.cname);
        assert_int_equal(again.shuffle, c.shuffle);
    }
    zpk_codec_t c = s_codec("blosc:lz4:5:shuffle");
    assert_int_equal(c.id, ZPK_CODEC_BLOSC);
    assert_int_equal(c.cname, ZPK_BLOSC_LZ4);
    assert_int_equal(c.shuffle, ZPK_SHUFFLE_BYTE);
    assert_int_equal(c.level, 5);
    c = s_codec("auto");
    assert_int_equal(c.id, ZPK_CODEC_AUTO);
    assert_int_equal(c.auto_codec, ZPK_CODEC_BLOSC);
    assert_int_equal(c.auto_min_size, ZPK_DEFAULT_AUTO_MIN_SIZE);

    static const char *const bad[] = {
        "", "zlib:", "zlib:10", "zlib:a", "zlib:6:1", "blosc:lz5", "blosc:lz4:x",
        "blosc:lz4:5:shuffled", "blosc:lz4:5:shuffle:2", "none:1", "gzip", "auto:none",
        "auto:", "Zlib", "blosc:lz4:55",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        zpk_error_t err;
        zpk_error_clear(&err);
        int rc = zpk_codec_parse(bad[i], strlen(bad[i]), &c, &err);
        if (rc != ZPK_ECODEC)
            fail_msg("'%s' gave %d", bad[i], rc);
        assert_true(strlen(err.text) > 5);
    }
    char small[6];
    c = s_codec("zlib:6");
    assert_int_equal(zpk_codec_format(&c, small, sizeof small), ZPK_EBUFFULL);
    c.level = 12;
    assert_int_equal(zpk_codec_format(&c, small, sizeof small), ZPK_EINVAL);
}

/* ---- per-chunk codecs -------------------------------------------------------------- */

static void test_chunk_codecs(void **state)
{
    (void)state;
    const char *codecs[] = {"none", "zlib:1", "zlib:9", "blosc:blosclz:5:shuffle",
                            "blosc:lz4:5:noshuffle", "blosc:lz4hc:3:bitshuffle",
                            "blosc:zlib:1:shuffle", "blosc:zstd:1:bitshuffle"};
    size_t n = 100000;
    uint8_t *src = malloc(n), *dst = malloc(n);
    s_fill(src, n, 7);
    for (size_t i = 0; i < sizeof codecs / sizeof codecs[0]; i++) {
        zpk_codec_t c = s_codec(codecs[i]);
        size_t cap = zpk_codec_bound(&c, n);
        assert_true(cap >= n);
        uint8_t *buf = malloc(cap);
        size_t got = 0;
        assert_int_equal(zpk_codec_compress(&c, 8, src, n, buf, cap, &got), 0);
        if (c.id != ZPK_CODEC_NONE)
            assert_true(got < n / 2);
        memset(dst, 0, n);
        assert_int_equal(zpk_codec_decompress(c.id, buf, got, dst, n, 2), 0);
        assert_memory_equal(src, dst, n);
        /* declared one byte more or less than the truth */
        uint8_t *exact = malloc(n - 1);
        assert_int_equal(zpk_codec_decompress(c.id, buf, got, exact, n - 1, 1),
                         ZPK_EDECOMPRESS);
        free(exact);
        uint8_t *more = malloc(n + 1);
        assert_int_equal(zpk_codec_decompress(c.id, buf, got, more, n + 1, 1),
                         ZPK_EDECOMPRESS);
        free(more);
        /* truncated */
        if (c.id != ZPK_CODEC_NONE)
            assert_int_equal(zpk_codec_decompress(c.id, buf, got - 1, dst, n, 1),
                             ZPK_EDECOMPRESS);
        /* output too small for the compressed form (none: for the bytes) */
        assert_int_equal(zpk_codec_compress(&c, 8, src, n, buf, 10, &got), ZPK_EBUFFULL);
        free(buf);
    }
    /* a bound that would overflow is 0 (too large), never a wrapped size */
    assert_int_equal(zpk__zlib_bound(SIZE_MAX - 2048), 0);
    assert_true(zpk__zlib_bound(1u << 20) > 1u << 20);
    /* incompressible data always fits in the bound */
    s_random(src, n, 3);
    zpk_codec_t z = s_codec("zlib:9");
    size_t cap = zpk_codec_bound(&z, n);
    uint8_t *buf = malloc(cap);
    size_t got;
    assert_int_equal(zpk_codec_compress(&z, 1, src, n, buf, cap, &got), 0);
    assert_true(got > n);
    free(buf);
    zpk_codec_t b = s_codec("blosc");
    assert_int_equal(zpk_codec_bound(&b, ZPK_BLOSC_MAX_CHUNK + 1), 0);
    free(src);
    free(dst);
}

static void test_zlib_trailing_and_bomb(void **state)
{
    (void)state;
    /* A stream followed by junk is refused. */
    zpk_codec_t z = s_codec("zlib:6");
    uint8_t src[1000], buf[1200], out[1000];
    s_fill(src, sizeof src, 1);
    size_t got;
    assert_int_equal(zpk_codec_compress(&z, 1, src, 1000, buf, sizeof buf, &got), 0);
    buf[got] = 0x55;
    assert_int_equal(zpk_codec_decompress(ZPK_CODEC_ZLIB, buf, got + 1, out, 1000, 1),
                     ZPK_EDECOMPRESS);
    assert_int_equal(zpk_codec_decompress(ZPK_CODEC_ZLIB, buf, got, out, 1000, 1), 0);

    /* A bomb: 16 MiB of zeros in a few KiB, declared as 64 KiB. */
    size_t big = (size_t)16 << 20;
    uint8_t *zeros = calloc(1, big);
    size_t bcap = zpk_codec_bound(&z, big);
    uint8_t *bomb = malloc(bcap);
    zpk_codec_t z9 = s_codec("zlib:9");
    assert_int_equal(zpk_codec_compress(&z9, 1, zeros, big, bomb, bcap, &got), 0);
    free(zeros);
    assert_true(got < 64 * 1024);
    harness_alloc_install();
    harness_alloc_reset_peaks();
    uint8_t *dst = malloc(64 * 1024); /* ASan checks nothing is written past it */
    assert_int_equal(zpk_codec_decompress(ZPK_CODEC_ZLIB, bomb, got, dst, 64 * 1024, 1),
                     ZPK_EDECOMPRESS);
    harness_alloc_stats_t st = harness_alloc_stats();
    assert_true(st.peak_bytes < 64 * 1024); /* zlib's inflate state only */
    free(dst);
    harness_alloc_uninstall();
    free(bomb);
}

static void test_bit_flips(void **state)
{
    (void)state;
    const char *codecs[] = {"zlib:6", "blosc:lz4:5:shuffle", "blosc:zstd:3:bitshuffle",
                            "blosc:blosclz:5:noshuffle"};
    const size_t n = 4096;
    uint8_t src[4096];
    s_fill(src, n, 11);
    for (size_t k = 0; k < sizeof codecs / sizeof codecs[0]; k++) {
        zpk_codec_t c = s_codec(codecs[k]);
        size_t cap = zpk_codec_bound(&c, n), got;
        uint8_t *buf = malloc(cap);
        assert_int_equal(zpk_codec_compress(&c, 4, src, n, buf, cap, &got), 0);
        uint8_t *dst = malloc(n);
        for (size_t i = 0; i < got; i++) {
            for (int bit = 0; bit < 8; bit += 3) {
                buf[i] ^= (uint8_t)(1u << bit);
                int rc = zpk_codec_decompress(c.id, buf, got, dst, n, 1);
                buf[i] ^= (uint8_t)(1u << bit);
                if (rc != 0 && rc != ZPK_EDECOMPRESS)
                    fail_msg("%s: flip at %zu gave %d", codecs[k], i, rc);
                if (c.id == ZPK_CODEC_ZLIB && rc == 0) /* adler32 catches it */
                    assert_memory_equal(dst, src, n);
            }
        }
        /* every truncation */
        for (size_t cut = 0; cut < got; cut++) {
            int rc = zpk_codec_decompress(c.id, buf, cut, dst, n, 1);
            assert_int_equal(rc, ZPK_EDECOMPRESS);
        }
        free(dst);
        free(buf);
    }
}

static void test_blosc_lying_frame(void **state)
{
    (void)state;
    zpk_codec_t c = s_codec("blosc:lz4:5:shuffle");
    const size_t n = 8192;
    uint8_t src[8192];
    s_fill(src, n, 5);
    size_t cap = zpk_codec_bound(&c, n), got;
    uint8_t *buf = malloc(cap);
    assert_int_equal(zpk_codec_compress(&c, 8, src, n, buf, cap, &got), 0);
    uint8_t *dst = malloc(n);
    /* the frame's nbytes (offset 4) says more than declared */
    uint32_t v = (uint32_t)n * 4;
    uint8_t saved[4];
    memcpy(saved, buf + 4, 4);
    memcpy(buf + 4, &v, 4);
    assert_int_equal(zpk_codec_decompress(ZPK_CODEC_BLOSC, buf, got, dst, n, 1),
                     ZPK_EDECOMPRESS);
    /* ... and when the declared size agrees with the lie, into a big enough buffer */
    uint8_t *big = malloc(n * 4);
    int rc = zpk_codec_decompress(ZPK_CODEC_BLOSC, buf, got, big, n * 4, 1);
    assert_int_equal(rc, ZPK_EDECOMPRESS);
    free(big);
    memcpy(buf + 4, saved, 4);
    /* cbytes (offset 12) larger than the chunk */
    memcpy(saved, buf + 12, 4);
    v = (uint32_t)got + 100;
    memcpy(buf + 12, &v, 4);
    assert_int_equal(zpk_codec_decompress(ZPK_CODEC_BLOSC, buf, got, dst, n, 1),
                     ZPK_EDECOMPRESS);
    memcpy(buf + 12, saved, 4);
    assert_int_equal(zpk_codec_decompress(ZPK_CODEC_BLOSC, buf, got, dst, n, 1), 0);
    assert_memory_equal(dst, src, n);
    free(dst);
    free(buf);
}

/* ---- arrays ------------------------------------------------------------------------ */

/* Encodes @p a, decodes the header and the chunks three ways, compares. */
static void s_roundtrip(const zpk_ndarray_t *a, const zpk_codec_t *c)
{
    zpk_ndarray_enc_t enc;
    zpk_error_t err;
    zpk_error_clear(&err);
    int rc = zpk_ndarray_encode(a, c, true, &enc, &err);
    if (rc != 0)
        fail_msg("encode: %s (%s)", zpk_err_name(rc), err.text);
    assert_non_null(enc.header);
    assert_true(enc.header_size <= zpk_ndarray_header_bound(&enc.info));

    zpk_ndarray_info_t info;
    rc = zpk_ndarray_header_decode(enc.header, enc.header_size, NULL, &info, &err);
    if (rc != 0)
        fail_msg("header: %s (%s)", zpk_err_name(rc), err.text);
    assert_true(zpk_dtype_equal(info.dtype, a->dtype));
    assert_int_equal(info.ndim, a->ndim);
    for (int i = 0; i < a->ndim; i++)
        assert_int_equal(info.shape[i], a->shape[i]);
    assert_int_equal(info.nbytes, a->nbytes);
    assert_int_equal(info.nchunks, enc.nchunks);
    assert_int_equal(info.order, enc.info.order);
    assert_int_equal(info.stored_bytes, enc.info.stored_bytes);

    /* what the original looks like in the order it was sent */
    uint8_t *want = malloc(a->nbytes + 1);
    if (a->nbytes == 0)
        ;
    else if (enc.info.order == 'F' || zpk_ndarray_is_contiguous(a, NULL))
        memcpy(want, a->data, a->nbytes);
    else
        assert_int_equal(zpk_ndarray_copy_into(a, want, a->nbytes), 0);

    zpk_span_t *spans = calloc(enc.nchunks + 1, sizeof *spans);
    size_t total = 0;
    for (size_t i = 0; i < enc.nchunks; i++) {
        spans[i].data = enc.chunks[i].data;
        spans[i].size = enc.chunks[i].size;
        total += enc.chunks[i].size;
    }
    uint8_t *got = malloc(a->nbytes + 1);
    rc = zpk_ndarray_decode_into(&info, spans, enc.nchunks, got, a->nbytes, &err);
    if (rc != 0)
        fail_msg("decode: %s (%s)", zpk_err_name(rc), err.text);
    assert_memory_equal(got, want, a->nbytes);

    /* single-frame form */
    uint8_t *cat = malloc(total + 1), *p = cat;
    for (size_t i = 0; i < enc.nchunks; i++) {
        memcpy(p, spans[i].data, spans[i].size);
        p += spans[i].size;
    }
    memset(got, 0, a->nbytes);
    assert_int_equal(zpk_ndarray_decode_concat(&info, cat, total, got, a->nbytes, NULL), 0);
    assert_memory_equal(got, want, a->nbytes);

    /* one allocation */
    zpk_ndarray_t out;
    assert_int_equal(zpk_ndarray_decode(&info, spans, enc.nchunks, &out, NULL), 0);
    assert_int_equal(out.nbytes, a->nbytes);
    assert_memory_equal(out.data, want, a->nbytes);
    assert_int_equal(out.order, info.order);
    zpk_ndarray_free(&out);

    free(cat);
    free(got);
    free(spans);
    free(want);
    zpk_ndarray_info_free(&info);
    zpk_ndarray_enc_free(&enc);
}

static const char *const s_all_dtypes[] = {
    "|b1", "|i1", "<i2", ">i2", "<i4", ">i4", "<i8", ">i8", "|u1", "<u2", ">u2", "<u4",
    ">u4", "<u8", ">u8", "<f2", ">f2", "<f4", ">f4", "<f8", ">f8", "<f16", "<c8", ">c8",
    "<c16", ">c16", "<c32",
};

static const char *const s_all_codecs[] = {
    "none", "zlib:1", "blosc:blosclz:5:shuffle", "blosc:lz4:5:noshuffle",
    "blosc:lz4hc:3:bitshuffle", "blosc:zlib:1:shuffle", "blosc:zstd:1:bitshuffle", "auto",
};

static void test_roundtrip_every_dtype_and_codec(void **state)
{
    (void)state;
    /* default (one chunk), one that does not divide the payload, a row
     * (divides it exactly: 37 chunks), and tiny chunks of part of an item */
    size_t chunk_sizes[] = {0, 1000, 0, 3};
    for (size_t d = 0; d < sizeof s_all_dtypes / sizeof s_all_dtypes[0]; d++) {
        zpk_dtype_t dt = s_dt(s_all_dtypes[d]);
        size_t nbytes = 37 * 29 * dt.itemsize;
        uint8_t *data = malloc(nbytes);
        s_fill(data, nbytes, (uint32_t)d);
        chunk_sizes[2] = 29 * (size_t)dt.itemsize;
        for (size_t k = 0; k < sizeof s_all_codecs / sizeof s_all_codecs[0]; k++) {
            for (size_t cs = 0; cs < 4; cs++) {
                for (int ord = 0; ord < 2; ord++) {
                    zpk_codec_t c = s_codec(s_all_codecs[k]);
                    c.chunk_size = chunk_sizes[cs];
                    /* tiny chunks (not whole items) on a small array */
                    size_t shp[2] = {37, 29};
                    if (cs == 3) {
                        shp[0] = 5;
                        shp[1] = 3;
                    }
                    if (c.id == ZPK_CODEC_AUTO && cs == 1) {
                        c.auto_min_size = 0; /* force the compressing path */
                        c.auto_sample = 256;
                    }
                    zpk_ndarray_t a;
                    assert_int_equal(
                        zpk_ndarray_init(&a, dt, 2, shp, ord ? 'F' : 'C', data), 0);
                    s_roundtrip(&a, &c);
                    if (cs == 2 && c.id != ZPK_CODEC_NONE && c.id != ZPK_CODEC_AUTO) {
                        zpk_ndarray_enc_t enc;
                        assert_int_equal(zpk_ndarray_encode(&a, &c, false, &enc, NULL), 0);
                        assert_int_equal(enc.nchunks, 37);
                        assert_int_equal(enc.info.chunks[36].raw, 29 * dt.itemsize);
                        zpk_ndarray_enc_free(&enc);
                    }
                }
            }
        }
        free(data);
    }
}

static void test_roundtrip_shapes(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof s_all_codecs / sizeof s_all_codecs[0]; k++) {
        zpk_codec_t c = s_codec(s_all_codecs[k]);
        c.chunk_size = 64;
        zpk_ndarray_t a;
        /* 0-d */
        double x = 2.5;
        assert_int_equal(zpk_ndarray_init(&a, s_dt("<f8"), 0, NULL, 'C', &x), 0);
        s_roundtrip(&a, &c);
        /* empty */
        size_t e[2] = {0, 5};
        assert_int_equal(zpk_ndarray_init(&a, s_dt("<f4"), 2, e, 'C', NULL), 0);
        s_roundtrip(&a, &c);
        /* a non-contiguous view: B = A[1:, ::3] of a 20x30 int16 */
        int16_t base[20][30];
        for (int i = 0; i < 20; i++)
            for (int j = 0; j < 30; j++)
                base[i][j] = (int16_t)(i * 100 + j);
        size_t vs[2] = {19, 10};
        ptrdiff_t st[2] = {60, 6};
        assert_int_equal(zpk_ndarray_init(&a, s_dt("<i2"), 2, vs, 'C', &base[1][0]), 0);
        assert_int_equal(zpk_ndarray_set_strides(&a, st), 0);
        assert_true(a.has_strides);
        s_roundtrip(&a, &c);
        /* 32 dimensions */
        size_t d32[32];
        for (int i = 0; i < 32; i++)
            d32[i] = i < 3 ? 2 : 1;
        int64_t v8[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        assert_int_equal(zpk_ndarray_init(&a, s_dt("<i8"), 32, d32, 'C', v8), 0);
        s_roundtrip(&a, &c);
    }
}

static void test_header_exact_bytes(void **state)
{
    (void)state;
    int32_t v[6] = {1, 2, 3, 4, 5, 6};
    size_t shp[2] = {2, 3};
    zpk_ndarray_t a;
    assert_int_equal(zpk_ndarray_init(&a, s_dt("<i4"), 2, shp, 'C', v), 0);
    zpk_ndarray_enc_t enc;
    assert_int_equal(zpk_ndarray_encode(&a, NULL, true, &enc, NULL), 0);
    static const uint8_t want[] = {
        0x87,
        0xa5, 'd', 't', 'y', 'p', 'e', 0xa3, '<', 'i', '4',
        0xa5, 's', 'h', 'a', 'p', 'e', 0x92, 0x02, 0x03,
        0xa5, 'o', 'r', 'd', 'e', 'r', 0xa1, 'C',
        0xa6, 'n', 'b', 'y', 't', 'e', 's', 0x18,
        0xa5, 'c', 'o', 'd', 'e', 'c', 0xa4, 'n', 'o', 'n', 'e',
        0xa5, 'c', 'h', 'u', 'n', 'k', 0x18,
        0xa6, 'c', 'h', 'u', 'n', 'k', 's', 0x91, 0x18,
    };
    assert_int_equal(enc.header_size, sizeof want);
    assert_memory_equal(enc.header, want, sizeof want);
    /* borrowed: the chunk is the array's own memory */
    assert_int_equal(enc.nchunks, 1);
    assert_ptr_equal(enc.chunks[0].data, v);
    assert_int_equal(enc.chunks[0].size, 24);
    assert_null(enc.chunks[0].free_fn);
    zpk_ndarray_enc_free(&enc);
    zpk_ndarray_enc_free(&enc); /* twice is harmless */
}

static void test_auto_rule(void **state)
{
    (void)state;
    size_t n = (size_t)2 << 20;
    uint8_t *data = malloc(n);
    size_t shp[1] = {n / 4};
    zpk_ndarray_t a;
    zpk_ndarray_enc_t enc;
    zpk_codec_t c = s_codec("auto");

    /* incompressible: the sample says raw; one borrowed chunk, codec none */
    s_random(data, n, 42);
    assert_int_equal(zpk_ndarray_init(&a, s_dt("<f4"), 1, shp, 'C', data), 0);
    assert_int_equal(zpk_ndarray_encode(&a, &c, true, &enc, NULL), 0);
    assert_int_equal(enc.info.codec.id, ZPK_CODEC_NONE);
    assert_int_equal(enc.nchunks, 1);
    assert_ptr_equal(enc.chunks[0].data, data);
    assert_null(enc.chunks[0].free_fn);
    zpk_ndarray_enc_free(&enc);

    /* small payloads are left alone */
    memset(data, 0, n);
    size_t small[1] = {1000};
    assert_int_equal(zpk_ndarray_init(&a, s_dt("<f4"), 1, small, 'C', data), 0);
    assert_int_equal(zpk_ndarray_encode(&a, &c, true, &enc, NULL), 0);
    assert_int_equal(enc.info.codec.id, ZPK_CODEC_NONE);
    zpk_ndarray_enc_free(&enc);

    /* compressible: compressed chunks, owned, freed by enc_free */
    assert_int_equal(zpk_ndarray_init(&a, s_dt("<f4"), 1, shp, 'C', data), 0);
    c.chunk_size = 256 * 1024;
    c.nthreads = 2; /* blosc's own threads, through the context API */
    assert_int_equal(zpk_ndarray_encode(&a, &c, true, &enc, NULL), 0);
    assert_int_equal(enc.info.codec.id, ZPK_CODEC_BLOSC);
    assert_int_equal(enc.nchunks, 8);
    for (size_t i = 0; i < 8; i++) {
        assert_non_null(enc.chunks[i].free_fn);
        assert_true(enc.chunks[i].size < 4096);
    }
    zpk_ndarray_enc_free(&enc);

    /* mixed: zeros then noise; the noisy chunks go raw and are listed */
    s_random(data + n / 2, n / 2, 9);
    c.auto_sample = 0;
    assert_int_equal(zpk_ndarray_encode(&a, &c, true, &enc, NULL), 0);
    assert_int_equal(enc.info.codec.id, ZPK_CODEC_BLOSC);
    for (size_t i = 0; i < 8; i++) {
        assert_int_equal(enc.info.chunks[i].compressed, i < 4);
        if (i >= 4) {
            assert_ptr_equal(enc.chunks[i].data, data + i * 256 * 1024);
            assert_null(enc.chunks[i].free_fn);
        }
    }
    zpk_ndarray_info_t info;
    assert_int_equal(zpk_ndarray_header_decode(enc.header, enc.header_size, NULL, &info, NULL),
                     0);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(info.chunks[i].compressed, i < 4);
    assert_false(zpk_ndarray_info_is_raw(&info));
    zpk_ndarray_info_free(&info);
    zpk_ndarray_enc_free(&enc);
    s_roundtrip(&a, &c);
    free(data);
}

static void test_strided_copy_shared_by_raw_chunks(void **state)
{
    (void)state;
    harness_alloc_install();
    int32_t base[64][64];
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < 64; j++)
            base[i][j] = i * 64 + j;
    size_t vs[2] = {64, 32};
    ptrdiff_t st[2] = {256, 8};
    zpk_ndarray_t a;
    assert_int_equal(zpk_ndarray_init(&a, s_dt("<i4"), 2, vs, 'C', base), 0);
    assert_int_equal(zpk_ndarray_set_strides(&a, st), 0);
    zpk_codec_t c = s_codec("none");
    zpk_ndarray_enc_t enc;
    harness_alloc_reset_peaks();
    assert_int_equal(zpk_ndarray_encode(&a, &c, false, &enc, NULL), 0);
    assert_null(enc.header);
    assert_int_equal(enc.nchunks, 1);
    assert_non_null(enc.chunks[0].free_fn);
    /* exactly one copy of the payload was made */
    assert_int_equal(harness_alloc_stats().largest, 64 * 32 * 4);
    const int32_t *p = enc.chunks[0].data;
    assert_int_equal(p[33], 1 * 64 + 2);
    /* take the chunk (as the socket layer does), free the rest, then the chunk */
    zpk_chunk_t taken = enc.chunks[0];
    enc.chunks[0].free_fn = NULL;
    zpk_ndarray_enc_free(&enc);
    assert_true(harness_alloc_stats().live_bytes >= 64 * 32 * 4);
    taken.free_fn(taken.data, taken.hint);
    assert_int_equal(harness_alloc_stats().live_blocks, 0);

    /* with several raw chunks: the copy goes when the last one does */
    c.chunk_size = 1024;
    c.id = ZPK_CODEC_AUTO;
    c.auto_min_size = 0;
    c.auto_min_ratio = 1e9; /* nothing is worth compressing: all raw */
    c.auto_sample = 0;
    assert_int_equal(zpk_ndarray_encode(&a, &c, true, &enc, NULL), 0);
    assert_int_equal(enc.nchunks, 8);
    for (size_t i = 0; i < 8; i++)
        assert_false(enc.info.chunks[i].compressed);
    zpk_ndarray_enc_free(&enc);
    assert_int_equal(harness_alloc_stats().live_blocks, 0);
    harness_alloc_uninstall();
}

static void test_encode_allocation_failures(void **state)
{
    (void)state;
    size_t n = 64 * 1024;
    uint8_t *data = malloc(n);
    s_fill(data, n, 3);
    size_t vs[1] = {n / 8 / 2};
    ptrdiff_t st[1] = {16};
    harness_alloc_install();
    const char *codecs[] = {"blosc:lz4:5:shuffle", "zlib:1", "none"};
    for (size_t k = 0; k < 3; k++) {
        zpk_codec_t c = s_codec(codecs[k]);
        c.chunk_size = 8192;
        zpk_ndarray_t a;
        assert_int_equal(zpk_ndarray_init(&a, s_dt("<f8"), 1, vs, 'C', data), 0);
        assert_int_equal(zpk_ndarray_set_strides(&a, st), 0);
        int ok = 0;
        for (size_t f = 1; f < 200 && !ok; f++) {
            zpk_ndarray_enc_t enc;
            harness_alloc_fail_after(f);
            int rc = zpk_ndarray_encode(&a, &c, true, &enc, NULL);
            harness_alloc_fail_after(0);
            if (rc == 0) {
                ok = 1;
                zpk_ndarray_enc_free(&enc);
            } else {
                assert_int_equal(rc, ZPK_ENOMEM);
                assert_null(enc.chunks);
                assert_null(enc.header);
            }
            assert_int_equal(harness_alloc_stats().live_blocks, 0);
        }
        assert_true(ok);
    }
    harness_alloc_uninstall();
    free(data);
}

/* ---- hostile headers ------------------------------------------------------------------ */

/* Writes a header map from a small description; -1 leaves a key out. */
typedef struct s_hdr {
    const char *dtype;
    int ndim;
    uint64_t shape[40];
    uint64_t nbytes;
    const char *codec;
    int64_t chunk;            /* -1: absent */
    int nchunks;
    uint64_t chunks[8];
    int nraw;                 /* -1: absent */
    uint64_t raw[8];
} s_hdr_t;

static size_t s_write_hdr(const s_hdr_t *h, uint8_t *out, size_t cap)
{
    zpk_writer_t w;
    zpk_writer_init_buffer(&w, out, cap);
    zpk_write_map(&w, 5 + (h->chunk >= 0) + (h->nraw >= 0));
    zpk_write_cstr(&w, "dtype");
    zpk_write_cstr(&w, h->dtype);
    zpk_write_cstr(&w, "shape");
    zpk_write_array(&w, (size_t)h->ndim);
    for (int i = 0; i < h->ndim; i++)
        zpk_write_uint(&w, h->shape[i]);
    zpk_write_cstr(&w, "nbytes");
    zpk_write_uint(&w, h->nbytes);
    zpk_write_cstr(&w, "codec");
    zpk_write_cstr(&w, h->codec);
    if (h->chunk >= 0) {
        zpk_write_cstr(&w, "chunk");
        zpk_write_uint(&w, (uint64_t)h->chunk);
    }
    zpk_write_cstr(&w, "chunks");
    zpk_write_array(&w, (size_t)h->nchunks);
    for (int i = 0; i < h->nchunks; i++)
        zpk_write_uint(&w, h->chunks[i]);
    if (h->nraw >= 0) {
        zpk_write_cstr(&w, "raw");
        zpk_write_array(&w, (size_t)h->nraw);
        for (int i = 0; i < h->nraw; i++)
            zpk_write_uint(&w, h->raw[i]);
    }
    assert_int_equal(zpk_writer_finish(&w), 0);
    return zpk_writer_size(&w);
}

static size_t s_max_chunks; /* 0: the default */

static int s_decode_hdr(const s_hdr_t *h, size_t max_bytes)
{
    uint8_t buf[1024];
    size_t n = s_write_hdr(h, buf, sizeof buf);
    zpk_ndarray_opts_t o;
    zpk_ndarray_opts_default(&o);
    if (max_bytes)
        o.max_ndarray_bytes = max_bytes;
    if (s_max_chunks)
        o.max_chunks = s_max_chunks;
    zpk_ndarray_info_t info;
    zpk_error_t err;
    zpk_error_clear(&err);
    harness_alloc_install();
    harness_alloc_reset_peaks();
    int rc = zpk_ndarray_header_decode(buf, n, &o, &info, &err);
    assert_true(harness_alloc_stats().largest < 4096);
    if (rc == 0)
        zpk_ndarray_info_free(&info);
    else
        assert_int_equal(err.code, rc);
    harness_alloc_uninstall();
    return rc;
}

static void test_hostile_headers(void **state)
{
    (void)state;
    const s_hdr_t good = {"<f8", 2, {4, 5}, 160, "zlib:6", 64, 3, {20, 20, 20}, -1, {0}};
    assert_int_equal(s_decode_hdr(&good, 0), 0);
    s_hdr_t h;

    h = good; h.nbytes = 168; /* nbytes is not what the shape holds */
    assert_int_equal(s_decode_hdr(&h, 0), ZPK_ESHAPE);
    h = good; h.dtype = "<M8[ns]";
    assert_int_equal(s_decode_hdr(&h, 0), ZPK_EDTYPE);
    h = good; h.codec = "lzma";
    assert_int_equal(s_decode_hdr(&h, 0), ZPK_ECODEC);
    h = good; h.codec = "auto";
    assert_int_equal(s_decode_hdr(&h, 0), ZPK_ECODEC);
    h = good; h.ndim = 33;
    for (int i = 0; i < 33; i++)
        h.shape[i] = 1;
    h.nbytes = 8; h.chunk = 8; h.nchunks = 1; h.chunks[0] = 8;
    assert_int_equal(s_decode_hdr(&h, 0), ZPK_ESHAPE);
    /* shape product overflowing size_t */
    h = good; h.shape[0] = (uint64_t)1 << 62; h.shape[1] = 8; h.nbytes = 0;
    assert_int_equal(s_decode_hdr(&h, 0), ZPK_EOVERFLOW);
    h = good; h.shape[0] = UINT64_MAX; h.shape[1] = 0; h.dtype = "<f8"; h.nbytes = 0;
    assert_int_equal(s_decode_hdr(&h, 0), ZPK_EOVERFLOW);
    /* a terabyte claimed in a consistent header: refused before allocating */
    h = good; h.dtype = "|u1"; h.ndim = 1; h.shape[0] = (uint64_t)1 << 40;
    h.nbytes = (uint64_t)1 << 40; h.chunk = -1; h.nchunks = 1; h.chunks[0] = 100;
    assert_int_equal(s_decode_hdr(&h, 0), ZPK_ELIMIT);
    /* at the limit: accepted; one over: refused */
    assert_int_equal(s_decode_hdr(&good, 160), 0);
    assert_int_equal(s_decode_hdr(&good, 159), ZPK_ELIMIT);
    /* a chunk table longer than max_chunks (and a raw list) */
    s_max_chunks = 3;
    assert_int_equal(s_decode_hdr(&good, 0), 0);
    s_max_chunks = 2;
    assert_int_equal(s_decode_hdr(&good, 0), ZPK_ELIMIT);
    h = good; h.chunk = 160; h.nchunks = 1; h.chunks[0] = 20; h.nraw = 3;
    h.raw[0] = 0; h.raw[1] = 1; h.raw[2] = 2;
    assert_int_equal(s_decode_hdr(&h, 0), ZPK_ELIMIT);
    s_max_chunks = 0;
    /* chunk table inconsistent with nbytes and chunk */
    h = good; h.nchunks = 2;
    assert_int_equal(s_decode_hdr(&h, 0), ZPK_EFORMAT);
    h = good; h.chunk = 0;
    assert_int_equal(s_decode_hdr(&h, 0), ZPK_EFORMAT);
    h = good; h.chunk = -1; /* absent with 3 chunks */
    assert_int_equal(s_decode_hdr(&h, 0), ZPK_EFORMAT);
    /* a compressed chunk larger than the codec's bound, or empty */
    h = good; h.chunks[1] = 1000;
    assert_int_equal(s_decode_hdr(&h, 0), ZPK_EFORMAT);
    h = good; h.chunks[1] = 0;
    assert_int_equal(s_decode_hdr(&h, 0), ZPK_EFORMAT);
    /* raw chunk whose stored size differs from its raw size */
    h = good; h.nraw = 1; h.raw[0] = 2; h.chunks[2] = 33;
    assert_int_equal(s_decode_hdr(&h, 0), ZPK_EFORMAT);
    h.chunks[2] = 32; /* the last chunk holds 160 - 128 bytes */
    assert_int_equal(s_decode_hdr(&h, 0), 0);
    h = good; h.nraw = 2; h.raw[0] = 1; h.raw[1] = 1;
    assert_int_equal(s_decode_hdr(&h, 0), ZPK_EFORMAT);
    h = good; h.nraw = 1; h.raw[0] = 3;
    assert_int_equal(s_decode_hdr(&h, 0), ZPK_EFORMAT);
    /* codec none: stored must equal raw */
    h = good; h.codec = "none"; h.chunks[0] = 64; h.chunks[1] = 64; h.chunks[2] = 33;
    assert_int_equal(s_decode_hdr(&h, 0), ZPK_EFORMAT);
    h.chunks[2] = 32;
    assert_int_equal(s_decode_hdr(&h, 0), 0);
}

static void test_hostile_header_bytes(void **state)
{
    (void)state;
    uint8_t buf[256];
    const s_hdr_t good = {"<f8", 2, {4, 5}, 160, "zlib:6", 64, 3, {20, 20, 20}, -1, {0}};
    size_t n = s_write_hdr(&good, buf, sizeof buf);
    zpk_ndarray_info_t info;
    /* every truncation fails cleanly */
    for (size_t cut = 0; cut < n; cut++) {
        int rc = zpk_ndarray_header_decode(buf, cut, NULL, &info, NULL);
        assert_true(rc < 0);
    }
    /* trailing bytes */
    buf[n] = 0xc0;
    assert_int_equal(zpk_ndarray_header_decode(buf, n + 1, NULL, &info, NULL), ZPK_EEXTRADATA);
    /* not a map */
    uint8_t arr[1] = {0x90};
    assert_int_equal(zpk_ndarray_header_decode(arr, 1, NULL, &info, NULL), ZPK_EFORMAT);
    /* a chunk table that claims 2^32-1 entries in a few bytes */
    uint8_t huge[] = {0x81, 0xa6, 'c', 'h', 'u', 'n', 'k', 's', 0xdd, 0xff, 0xff, 0xff, 0xff,
                      0x01};
    harness_alloc_install();
    harness_alloc_reset_peaks();
    /* over the reader's max_array_len: refused as it is read */
    assert_int_equal(zpk_ndarray_header_decode(huge, sizeof huge, NULL, &info, NULL),
                     ZPK_ELIMIT);
    /* 16 Mi entries: over max_chunks */
    huge[9] = 0x00;
    assert_int_equal(zpk_ndarray_header_decode(huge, sizeof huge, NULL, &info, NULL),
                     ZPK_ELIMIT);
    /* within every limit but far more entries than bytes left */
    huge[10] = 0x0f;
    assert_int_equal(zpk_ndarray_header_decode(huge, sizeof huge, NULL, &info, NULL),
                     ZPK_EOUTOFDATA);
    assert_int_equal(harness_alloc_stats().calls, 0);
    /* duplicate key, missing key, unknown key skipped */
    uint8_t dup[] = {0x82, 0xa5, 'c', 'h', 'u', 'n', 'k', 0x01, 0xa5, 'c', 'h', 'u', 'n',
                     'k', 0x01};
    assert_int_equal(zpk_ndarray_header_decode(dup, sizeof dup, NULL, &info, NULL), ZPK_EFORMAT);
    uint8_t miss[] = {0x81, 0xa5, 'c', 'h', 'u', 'n', 'k', 0x01};
    assert_int_equal(zpk_ndarray_header_decode(miss, sizeof miss, NULL, &info, NULL),
                     ZPK_EFORMAT);
    /* allocation failure on the chunk table */
    n = s_write_hdr(&good, buf, sizeof buf);
    harness_alloc_fail_after(1);
    assert_int_equal(zpk_ndarray_header_decode(buf, n, NULL, &info, NULL), ZPK_ENOMEM);
    assert_int_equal(harness_alloc_stats().live_blocks, 0);
    harness_alloc_uninstall();
    /* an unknown key with a nested value is skipped */
    zpk_writer_t w;
    zpk_writer_init_buffer(&w, buf, sizeof buf);
    zpk_write_map(&w, 6);
    zpk_write_cstr(&w, "future");
    zpk_write_array(&w, 2);
    zpk_write_map(&w, 0);
    zpk_write_nil(&w);
    zpk_write_cstr(&w, "dtype");
    zpk_write_cstr(&w, "uint8");
    zpk_write_cstr(&w, "shape");
    zpk_write_array(&w, 1);
    zpk_write_uint(&w, 3);
    zpk_write_cstr(&w, "nbytes");
    zpk_write_uint(&w, 3);
    zpk_write_cstr(&w, "codec");
    zpk_write_cstr(&w, "none");
    zpk_write_cstr(&w, "chunks");
    zpk_write_array(&w, 1);
    zpk_write_uint(&w, 3);
    assert_int_equal(zpk_writer_finish(&w), 0);
    assert_int_equal(zpk_ndarray_header_decode(buf, zpk_writer_size(&w), NULL, &info, NULL), 0);
    assert_int_equal(info.dtype.kind, 'u');
    assert_int_equal(info.order, 'C');
    assert_int_equal(info.chunk_size, 3);
    assert_true(zpk_ndarray_info_is_raw(&info));
    zpk_ndarray_info_free(&info);
}

/*
 * A key twice in an otherwise valid header is refused as a duplicate, never
 * read as the later one (issue 19: with the duplicate check removed, every
 * other test still passed, because their duplicates also lacked a key).
 */
static void test_header_duplicate_key(void **state)
{
    (void)state;
    static const char *const keys[] = {"dtype", "shape", "order", "nbytes", "codec",
                                       "chunk", "chunks"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        uint8_t buf[256];
        zpk_writer_t w;
        zpk_writer_init_buffer(&w, buf, sizeof buf);
        /* a complete header for 2 x <f4 (8 bytes, raw, one chunk) ... */
        zpk_write_map(&w, 8);
        zpk_write_cstr(&w, "dtype");
        zpk_write_cstr(&w, "<f4");
        zpk_write_cstr(&w, "shape");
        zpk_write_array(&w, 1);
        zpk_write_uint(&w, 2);
        zpk_write_cstr(&w, "order");
        zpk_write_cstr(&w, "C");
        zpk_write_cstr(&w, "nbytes");
        zpk_write_uint(&w, 8);
        zpk_write_cstr(&w, "codec");
        zpk_write_cstr(&w, "none");
        zpk_write_cstr(&w, "chunk");
        zpk_write_uint(&w, 8);
        zpk_write_cstr(&w, "chunks");
        zpk_write_array(&w, 1);
        zpk_write_uint(&w, 8);
        /* ... and key k again, with a value that would also be valid alone */
        zpk_write_cstr(&w, keys[k]);
        switch (k) {
        case 0: zpk_write_cstr(&w, "<i4"); break;
        case 1: zpk_write_array(&w, 2); zpk_write_uint(&w, 1); zpk_write_uint(&w, 2); break;
        case 2: zpk_write_cstr(&w, "F"); break;
        case 3: zpk_write_uint(&w, 8); break;
        case 4: zpk_write_cstr(&w, "none"); break;
        case 5: zpk_write_uint(&w, 8); break;
        default: zpk_write_array(&w, 1); zpk_write_uint(&w, 8); break;
        }
        assert_int_equal(zpk_writer_check_one_object(&w, NULL), 0);
        size_t n = zpk_writer_size(&w);
        zpk_ndarray_info_t info;
        zpk_error_t err;
        assert_int_equal(zpk_ndarray_header_decode(buf, n, NULL, &info, &err), ZPK_EFORMAT);
        char want[64];
        snprintf(want, sizeof want, "duplicate key '%s'", keys[k]);
        if (strstr(err.text, want) == NULL)
            fail_msg("key %s: \"%s\"", keys[k], err.text);
        /* without the second one, the same header is good */
        buf[0] = 0x87;
        zpk_reader_t r;
        zpk_reader_init(&r, buf, n, NULL);
        assert_int_equal(zpk_ndarray_header_read(&r, NULL, &info, NULL), 0);
        assert_int_equal(info.dtype.kind, 'f');
        assert_int_equal(info.order, 'C');
        zpk_ndarray_info_free(&info);
    }
}

/* zpk_ndarray_decode_concat takes exactly the bytes the header declares:
 * one byte more or less is ZPK_ESHAPE, for raw and compressed arrays. */
static void test_decode_concat_exact_size(void **state)
{
    (void)state;
    size_t n = 3000;
    uint8_t *data = malloc(n), *cat = malloc(n + 64), *dst = malloc(n);
    s_fill(data, n, 5);
    size_t shp[1] = {n / 4};
    zpk_ndarray_t a;
    assert_int_equal(zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 4), 1, shp, ZPK_ORDER_C, data), 0);
    zpk_codec_id_t ids[] = {ZPK_CODEC_NONE, ZPK_CODEC_ZLIB};
    for (size_t k = 0; k < 2; k++) {
        zpk_codec_t c;
        zpk_codec_default(&c, ids[k]);
        c.chunk_size = 1024; /* several chunks */
        zpk_ndarray_enc_t enc;
        assert_int_equal(zpk_ndarray_encode(&a, &c, false, &enc, NULL), 0);
        size_t total = 0;
        for (size_t i = 0; i < enc.nchunks; i++) {
            memcpy(cat + total, enc.chunks[i].data, enc.chunks[i].size);
            total += enc.chunks[i].size;
        }
        assert_int_equal(total, enc.info.stored_bytes);
        memset(cat + total, 0, 64);
        assert_int_equal(zpk_ndarray_decode_concat(&enc.info, cat, total, dst, n, NULL), 0);
        assert_memory_equal(dst, data, n);
        zpk_error_t err;
        assert_int_equal(zpk_ndarray_decode_concat(&enc.info, cat, total + 1, dst, n, &err),
                         ZPK_ESHAPE);
        assert_non_null(strstr(err.text, "header declares"));
        assert_int_equal(zpk_ndarray_decode_concat(&enc.info, cat, total - 1, dst, n, NULL),
                         ZPK_ESHAPE);
        assert_int_equal(zpk_ndarray_decode_concat(&enc.info, NULL, total, dst, n, NULL),
                         ZPK_EINVAL);
        zpk_ndarray_enc_free(&enc);
    }
    free(data);
    free(cat);
    free(dst);
}

static void test_hostile_chunks(void **state)
{
    (void)state;
    size_t n = 20000;
    uint8_t *data = malloc(n);
    s_fill(data, n, 2);
    size_t shp[1] = {n / 4};
    zpk_ndarray_t a;
    assert_int_equal(zpk_ndarray_init(&a, s_dt("<f4"), 1, shp, 'C', data), 0);
    const char *codecs[] = {"zlib:6", "blosc:lz4:5:shuffle"};
    for (size_t k = 0; k < 2; k++) {
        zpk_codec_t c = s_codec(codecs[k]);
        c.chunk_size = 8000;
        zpk_ndarray_enc_t enc;
        assert_int_equal(zpk_ndarray_encode(&a, &c, true, &enc, NULL), 0);
        assert_int_equal(enc.nchunks, 3);
        zpk_ndarray_info_t info;
        assert_int_equal(
            zpk_ndarray_header_decode(enc.header, enc.header_size, NULL, &info, NULL), 0);
        zpk_span_t sp[3];
        for (int i = 0; i < 3; i++) {
            sp[i].data = enc.chunks[i].data;
            sp[i].size = enc.chunks[i].size;
        }
        uint8_t *dst = malloc(n);
        harness_alloc_install();
        zpk_ndarray_t out;
        /* wrong chunk count, wrong chunk size: nothing allocated */
        harness_alloc_reset_peaks();
        assert_int_equal(zpk_ndarray_decode(&info, sp, 2, &out, NULL), ZPK_EFRAME);
        sp[1].size--;
        assert_int_equal(zpk_ndarray_decode(&info, sp, 3, &out, NULL), ZPK_ESHAPE);
        assert_int_equal(zpk_ndarray_decode_into(&info, sp, 3, dst, n, NULL), ZPK_ESHAPE);
        assert_int_equal(harness_alloc_stats().calls, 0);
        sp[1].size++;
        assert_int_equal(zpk_ndarray_decode_into(&info, sp, 3, dst, n - 1, NULL), ZPK_EBUFFULL);
        assert_int_equal(zpk_ndarray_decode_concat(&info, sp[0].data, 5, dst, n, NULL),
                         ZPK_ESHAPE);
        /* a corrupted chunk: the error names it, nothing leaks */
        uint8_t *bad = malloc(sp[1].size);
        memcpy(bad, sp[1].data, sp[1].size);
        memset(bad + sp[1].size / 2, 0xff, sp[1].size - sp[1].size / 2);
        const void *saved = sp[1].data;
        sp[1].data = bad;
        zpk_error_t err;
        zpk_error_clear(&err);
        int rc = zpk_ndarray_decode(&info, sp, 3, &out, &err);
        assert_int_equal(rc, ZPK_EDECOMPRESS);
        assert_non_null(strstr(err.text, "chunk 1"));
        assert_int_equal(harness_alloc_stats().live_blocks, 0);
        sp[1].data = saved;
        free(bad);
        /* the good chunks decode, allocating exactly nbytes once */
        harness_alloc_reset_peaks();
        assert_int_equal(zpk_ndarray_decode(&info, sp, 3, &out, NULL), 0);
        assert_true(harness_alloc_stats().largest == n);
        assert_memory_equal(out.data, data, n);
        zpk_ndarray_free(&out);
        harness_alloc_uninstall();
        free(dst);
        zpk_ndarray_info_free(&info);
        zpk_ndarray_enc_free(&enc);
    }
    free(data);
}

/* Caller mistakes: every entry point of codec.h refuses NULL and impossible
 * sizes with an error code, never a crash. */
static void test_null_arguments(void **state)
{
    (void)state;
    zpk_codec_t c;
    zpk_codec_default(&c, ZPK_CODEC_ZLIB);
    zpk_codec_default(NULL, ZPK_CODEC_ZLIB);
    zpk_error_t err;
    char buf[64];
    zpk_codec_default(&c, (zpk_codec_id_t)99); /* an unknown id: refused where it is used */
    assert_int_equal(zpk_codec_format(&c, buf, sizeof buf), ZPK_EINVAL);
    assert_int_equal(zpk_codec_parse(NULL, 4, &c, &err), ZPK_EINVAL);
    assert_int_equal(zpk_codec_parse("zlib", 4, NULL, &err), ZPK_EINVAL);
    zpk_codec_default(&c, ZPK_CODEC_ZLIB);
    assert_int_equal(zpk_codec_format(NULL, buf, sizeof buf), ZPK_EINVAL);
    assert_int_equal(zpk_codec_format(&c, NULL, sizeof buf), ZPK_EINVAL);
    assert_int_equal(zpk_codec_format(&c, buf, 0), ZPK_EBUFFULL);
    assert_false(zpk_codec_available((zpk_codec_id_t)99));
    assert_int_equal(zpk_codec_bound(NULL, 10), 0);
    assert_int_equal(zpk_codec_bound(&c, SIZE_MAX), 0); /* overflows */
    size_t got = 0;
    uint8_t src[16] = {0}, dst[64];
    assert_int_equal(zpk_codec_compress(NULL, 1, src, 16, dst, sizeof dst, &got), ZPK_EINVAL);
    assert_int_equal(zpk_codec_compress(&c, 1, NULL, 16, dst, sizeof dst, &got), ZPK_EINVAL);
    assert_int_equal(zpk_codec_compress(&c, 1, src, 16, NULL, sizeof dst, &got), ZPK_EINVAL);
    assert_int_equal(zpk_codec_compress(&c, 1, src, 16, dst, sizeof dst, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_codec_compress(&c, 0, src, 16, dst, sizeof dst, &got), ZPK_EINVAL);
    assert_int_equal(zpk_codec_decompress(ZPK_CODEC_ZLIB, NULL, 4, dst, 16, 1), ZPK_EINVAL);
    assert_int_equal(zpk_codec_decompress(ZPK_CODEC_ZLIB, src, 4, NULL, 16, 1), ZPK_EINVAL);
    assert_int_equal(zpk_codec_decompress((zpk_codec_id_t)99, src, 4, dst, 16, 1), ZPK_EINVAL);
    assert_int_equal(zpk_codec_decompress(ZPK_CODEC_AUTO, src, 4, dst, 16, 1), ZPK_EINVAL);

    zpk_ndarray_opts_default(NULL);
    zpk_ndarray_info_free(NULL);
    assert_false(zpk_ndarray_info_is_raw(NULL));
    zpk_ndarray_info_t info;
    memset(&info, 0, sizeof info);
    zpk_ndarray_t a;
    assert_int_equal(zpk_ndarray_info_to_ndarray(NULL, src, &a), ZPK_EINVAL);
    assert_int_equal(zpk_ndarray_info_to_ndarray(&info, src, NULL), ZPK_EINVAL);
    zpk_ndarray_enc_t enc;
    assert_int_equal(zpk_ndarray_encode(NULL, &c, true, &enc, &err), ZPK_EINVAL);
    assert_int_equal(zpk_ndarray_encode(&a, &c, true, NULL, &err), ZPK_EINVAL);
    zpk_ndarray_enc_free(NULL);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_ndarray_header_write(NULL, &info);
    zpk_ndarray_header_write(&w, NULL);
    assert_int_equal(zpk_writer_error(&w), ZPK_EINVAL);
    zpk_writer_free(&w);
    assert_int_equal(zpk_ndarray_header_bound(NULL), 0);
    zpk_reader_t r;
    zpk_reader_init(&r, "\x80", 1, NULL);
    assert_int_equal(zpk_ndarray_header_read(NULL, NULL, &info, &err), ZPK_EINVAL);
    assert_int_equal(zpk_ndarray_header_read(&r, NULL, NULL, &err), ZPK_EINVAL);
    assert_int_equal(zpk_ndarray_header_decode(NULL, 4, NULL, &info, &err), ZPK_EINVAL);
    assert_int_equal(zpk_ndarray_header_decode("\x80", 1, NULL, NULL, &err), ZPK_EINVAL);
    zpk_span_t span = {src, 16};
    assert_int_equal(zpk_ndarray_decode_into(NULL, &span, 1, dst, 16, &err), ZPK_EINVAL);
    assert_int_equal(zpk_ndarray_decode_concat(NULL, src, 16, dst, 16, &err), ZPK_EINVAL);
    assert_int_equal(zpk_ndarray_decode(NULL, &span, 1, &a, &err), ZPK_EINVAL);
    /* a header read, then NULL chunks, data or destination */
    uint8_t hdr[256];
    size_t shp[1] = {4};
    zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_UINT, 1), 1, shp, ZPK_ORDER_C, src);
    assert_int_equal(zpk_ndarray_encode(&a, NULL, true, &enc, &err), 0);
    memcpy(hdr, enc.header, enc.header_size);
    assert_int_equal(zpk_ndarray_header_decode(hdr, enc.header_size, NULL, &info, &err), 0);
    zpk_ndarray_enc_free(&enc);
    assert_int_equal(zpk_ndarray_decode_into(&info, NULL, 1, dst, 4, &err), ZPK_EFRAME);
    assert_int_equal(zpk_ndarray_decode_into(&info, &span, 1, NULL, 4, &err), ZPK_EINVAL);
    span.size = 4;
    span.data = NULL;
    assert_int_equal(zpk_ndarray_decode_into(&info, &span, 1, dst, 4, &err), ZPK_ESHAPE);
    assert_int_equal(zpk_ndarray_decode_concat(&info, NULL, 4, dst, 4, &err), ZPK_EINVAL);
    assert_int_equal(zpk_ndarray_decode(&info, &span, 1, NULL, &err), ZPK_EINVAL);
    zpk_ndarray_info_free(&info);
}

int main(void)
{
    if (!ZPK_HAVE_BLOSC) { /* the cases mix blosc settings throughout */
        printf("skipped: this build has no blosc\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_strings),
        cmocka_unit_test(test_chunk_codecs),
        cmocka_unit_test(test_zlib_trailing_and_bomb),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_blosc_lying_frame),
        cmocka_unit_test(test_roundtrip_every_dtype_and_codec),
        cmocka_unit_test(test_roundtrip_shapes),
        cmocka_unit_test(test_header_exact_bytes),
        cmocka_unit_test(test_auto_rule),
        cmocka_unit_test(test_strided_copy_shared_by_raw_chunks),
        cmocka_unit_test(test_encode_allocation_failures),
        cmocka_unit_test(test_hostile_headers),
        cmocka_unit_test(test_hostile_header_bytes),
        cmocka_unit_test(test_hostile_chunks),
        cmocka_unit_test(test_header_duplicate_key),
        cmocka_unit_test(test_decode_concat_exact_size),
        cmocka_unit_test(test_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
