/*
 * Rows of the hostile-input catalogue (docs/security.md) that no module's
 * own tests cover, checked across every decoder at once (tree parser, pull
 * reader, streaming unpacker, JSON bridge, message layer), plus the inputs
 * the fuzzers found (fuzz/crashes/) as named regression cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "doc_util.h"
#include "harness.h"
#include "message_internal.h"
#include "zmqpack.h"
#include "zmqpack/doc.h"
#include "zmqpack/json.h"

#define B(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

/* Parses one whole object with every decoder; they must agree. */
static zpk_doc_t *s_parse_all(const uint8_t *p, size_t n)
{
    zpk_doc_t *d = NULL, *d2 = NULL;
    assert_int_equal(zpk_doc_parse(p, n, NULL, 0, &d, NULL), 0);
    assert_int_equal(zpk_doc_consumed(d), n);
    zpk_reader_t r;
    zpk_reader_init(&r, p, n, NULL);
    assert_int_equal(zpk_reader_skip(&r), 0);
    assert_int_equal(zpk_reader_finish(&r), 0);
    zpk_unpacker_t *u = zpk_unpacker_new(NULL, 0);
    assert_non_null(u);
    for (size_t i = 0; i < n; i++) /* one byte at a time */
        assert_int_equal(zpk_unpacker_feed(u, p + i, 1), 0);
    assert_int_equal(zpk_unpacker_next(u, &d2), 0);
    assert_true(tree_equal(zpk_doc_root(d), zpk_doc_root(d2)));
    zpk_doc_destroy(&d2);
    zpk_unpacker_destroy(&u);
    return d;
}

/* Re-encodes @p d and checks the bytes against @p want. */
static void s_reencodes_to(const zpk_doc_t *d, const uint8_t *want, size_t n)
{
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    assert_int_equal(zpk_node_write(&w, zpk_doc_root(d)), 0);
    assert_int_equal(zpk_writer_size(&w), n);
    assert_memory_equal(zpk_writer_data(&w), want, n);
    zpk_writer_free(&w);
}

/* Lossless JSON and back gives the identical bytes. */
static void s_lossless_roundtrip(const zpk_doc_t *d, const uint8_t *want, size_t n)
{
    char *text = NULL;
    size_t tl = 0;
    assert_int_equal(zpk_json_dumps(zpk_doc_root(d), ZPK_JSON_LOSSLESS, &text, &tl), 0);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    assert_int_equal(zpk_json_loads_to_writer(text, tl, &w, NULL), 0);
    assert_int_equal(zpk_writer_size(&w), n);
    assert_memory_equal(zpk_writer_data(&w), want, n);
    zpk_writer_free(&w);
    zpk_free(text);
}

/* Catalogue: map keys of every type. */
static void test_map_keys_of_every_type(void **state)
{
    (void)state;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_map(&w, 12);
    zpk_write_nil(&w), zpk_write_uint(&w, 0);
    zpk_write_bool(&w, false), zpk_write_uint(&w, 1);
    zpk_write_uint(&w, 1), zpk_write_uint(&w, 2);
    zpk_write_int(&w, -1), zpk_write_uint(&w, 3);
    zpk_write_float(&w, 1.5f), zpk_write_uint(&w, 4);
    zpk_write_double(&w, 2.5), zpk_write_uint(&w, 5);
    zpk_write_cstr(&w, "s"), zpk_write_uint(&w, 6);
    zpk_write_bin(&w, "s", 1), zpk_write_uint(&w, 7);
    zpk_write_ext(&w, 5, "s", 1), zpk_write_uint(&w, 8);
    zpk_write_timestamp(&w, 1, 2), zpk_write_uint(&w, 9);
    zpk_write_array(&w, 1), zpk_write_cstr(&w, "s"), zpk_write_uint(&w, 10);
    zpk_write_map(&w, 1), zpk_write_cstr(&w, "s"), zpk_write_nil(&w), zpk_write_uint(&w, 11);
    void *buf;
    size_t n;
    assert_int_equal(zpk_writer_detach(&w, &buf, &n), 0);
    zpk_writer_free(&w);

    zpk_doc_t *d = s_parse_all(buf, n);
    const zpk_node_t *root = zpk_doc_root(d);
    const zpk_type_t types[12] = {ZPK_TYPE_NIL,    ZPK_TYPE_BOOL,  ZPK_TYPE_UINT, ZPK_TYPE_INT,
                                  ZPK_TYPE_FLOAT,  ZPK_TYPE_DOUBLE, ZPK_TYPE_STR, ZPK_TYPE_BIN,
                                  ZPK_TYPE_EXT,    ZPK_TYPE_EXT,   ZPK_TYPE_ARRAY, ZPK_TYPE_MAP};
    assert_int_equal(zpk_node_len(root), 12);
    for (size_t i = 0; i < 12; i++) {
        assert_int_equal(zpk_node_type(zpk_node_map_key(root, i)), types[i]);
        uint64_t v = 99;
        assert_int_equal(zpk_node_get_uint(zpk_node_map_value(root, i), &v), 0);
        assert_int_equal(v, i);
    }
    /* a lookup by str finds only the str key, never the bin/ext/array ones */
    uint64_t v = 0;
    assert_int_equal(zpk_node_get_uint(zpk_node_map_get(root, "s"), &v), 0);
    assert_int_equal(v, 6);
    assert_null(zpk_node_map_getn(root, "", 0));
    s_reencodes_to(d, buf, n);
    s_lossless_roundtrip(d, buf, n);
    /* the plain form turns non-str keys into their JSON text */
    char *text = NULL;
    assert_int_equal(zpk_json_dumps(zpk_doc_root(d), 0, &text, NULL), 0);
    assert_non_null(strstr(text, "\"[\\\"s\\\"]\":10"));
    zpk_free(text);
    zpk_doc_destroy(&d);
    zpk_free(buf);
}

/* Catalogue: duplicate keys are kept, in order; lookups find the first. */
static void test_duplicate_keys(void **state)
{
    (void)state;
    const uint8_t dup[] = {0x83, 0xa1, 'a', 0x01, 0xa1, 'b', 0x02, 0xa1, 'a', 0x03};
    zpk_doc_t *d = s_parse_all(dup, sizeof dup);
    const zpk_node_t *root = zpk_doc_root(d);
    assert_int_equal(zpk_node_len(root), 3);
    uint64_t v = 0;
    assert_int_equal(zpk_node_get_uint(zpk_node_map_get(root, "a"), &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(zpk_node_get_uint(zpk_node_map_value(root, 2), &v), 0);
    assert_int_equal(v, 3);
    s_reencodes_to(d, dup, sizeof dup);
    s_lossless_roundtrip(d, dup, sizeof dup); /* as {"$map": [...]} */
    char *text = NULL;
    assert_int_equal(zpk_json_dumps(root, ZPK_JSON_LOSSLESS, &text, NULL), 0);
    assert_non_null(strstr(text, "$map"));
    zpk_free(text);
    zpk_doc_destroy(&d);

    /* an array header or a message header with a duplicate key is refused */
    const uint8_t hdr[] = {0x82, 0xa5, 'd', 't', 'y', 'p', 'e', 0xa3, '<', 'f', '8',
                           0xa5, 'd', 't', 'y', 'p', 'e', 0xa3, '<', 'f', '8'};
    zpk_ndarray_info_t info;
    assert_int_equal(zpk_ndarray_header_decode(hdr, sizeof hdr, NULL, &info, NULL), ZPK_EFORMAT);
}

/* Catalogue: non-minimal encodings are read, and written back shortest. */
static void test_non_minimal_encodings(void **state)
{
    (void)state;
    static const struct {
        uint8_t in[12];
        size_t n;
        uint8_t out[4];
        size_t m;
    } cases[] = {
        {{0xcc, 0x01}, 2, {0x01}, 1},
        {{0xcd, 0x00, 0x01}, 3, {0x01}, 1},
        {{0xce, 0, 0, 0, 0x01}, 5, {0x01}, 1},
        {{0xcf, 0, 0, 0, 0, 0, 0, 0, 0x01}, 9, {0x01}, 1},
        {{0xd0, 0x01}, 2, {0x01}, 1}, /* signed encoding of a positive value */
        {{0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 9, {0xff}, 1},
        {{0xd1, 0xff, 0x80}, 3, {0xd0, 0x80}, 2},
        {{0xd9, 0x01, 'a'}, 3, {0xa1, 'a'}, 2},
        {{0xda, 0x00, 0x01, 'a'}, 4, {0xa1, 'a'}, 2},
        {{0xdb, 0, 0, 0, 0x01, 'a'}, 6, {0xa1, 'a'}, 2},
        {{0xc5, 0x00, 0x01, 'b'}, 4, {0xc4, 0x01, 'b'}, 3},
        {{0xdc, 0x00, 0x01, 0xc0}, 4, {0x91, 0xc0}, 2},
        {{0xdd, 0, 0, 0, 0x01, 0xc0}, 6, {0x91, 0xc0}, 2},
        {{0xde, 0x00, 0x01, 0xc0, 0xc0}, 5, {0x81, 0xc0, 0xc0}, 3},
        {{0xc7, 0x01, 0x05, 'x'}, 4, {0xd4, 0x05, 'x'}, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        zpk_doc_t *d = s_parse_all(cases[i].in, cases[i].n);
        zpk_doc_t *want = s_parse_all(cases[i].out, cases[i].m);
        assert_true(tree_equal(zpk_doc_root(d), zpk_doc_root(want)));
        s_reencodes_to(d, cases[i].out, cases[i].m);
        zpk_doc_destroy(&d);
        zpk_doc_destroy(&want);
    }
    /* a timestamp in a longer form than needed is read, and kept as it is */
    const uint8_t ts96[] = {0xc7, 0x0c, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07};
    zpk_doc_t *d = s_parse_all(ts96, sizeof ts96);
    zpk_timestamp_t ts;
    assert_int_equal(zpk_node_get_timestamp(zpk_doc_root(d), &ts), 0);
    assert_int_equal(ts.sec, 7);
    assert_int_equal(ts.nsec, 0);
    s_reencodes_to(d, ts96, sizeof ts96);
    s_lossless_roundtrip(d, ts96, sizeof ts96);
    zpk_doc_destroy(&d);
}

/* A sample holding every type: the subject of the truncation test. */
static void *s_sample(size_t *n)
{
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_map(&w, 3);
    zpk_write_cstr(&w, "values");
    zpk_write_array(&w, 11);
    zpk_write_nil(&w);
    zpk_write_bool(&w, true);
    zpk_write_uint(&w, 70000);
    zpk_write_int(&w, -40000);
    zpk_write_float(&w, 0.5f);
    zpk_write_double(&w, -0.0);
    zpk_write_str(&w, "h\xc3\xa9llo", 6);
    zpk_write_bin(&w, "\x00\x01\x02", 3);
    zpk_write_ext(&w, 9, "0123456789abcdefg", 17);
    zpk_write_timestamp(&w, -5, 999999999);
    zpk_write_map(&w, 0);
    zpk_write_uint(&w, 300);
    zpk_write_str(&w, "x", 1);
    zpk_write_cstr(&w, "long");
    char filler[300];
    memset(filler, 'z', sizeof filler);
    zpk_write_str(&w, filler, sizeof filler);
    void *buf;
    assert_int_equal(zpk_writer_detach(&w, &buf, n), 0);
    zpk_writer_free(&w);
    return buf;
}

/* Catalogue: truncation at every offset, through every decoder. */
static void test_truncation_at_every_offset(void **state)
{
    (void)state;
    size_t n;
    uint8_t *buf = s_sample(&n);
    zpk_doc_t *whole = s_parse_all(buf, n);
    harness_alloc_install();
    for (size_t cut = 0; cut < n; cut++) {
        uint8_t *p = malloc(cut ? cut : 1); /* exact size: ASan sees any over-read */
        memcpy(p, buf, cut);
        zpk_doc_t *d = NULL;
        zpk_error_t err;
        zpk_error_clear(&err);
        assert_int_equal(zpk_doc_parse(p, cut, NULL, 0, &d, &err), ZPK_EOUTOFDATA);
        assert_null(d);
        assert_true(err.offset <= cut);
        zpk_reader_t r;
        zpk_reader_init(&r, p, cut, NULL);
        assert_int_equal(zpk_reader_skip(&r), ZPK_EOUTOFDATA);
        /* the unpacker waits, and completes when the rest arrives */
        zpk_unpacker_t *u = zpk_unpacker_new(NULL, 0);
        assert_int_equal(zpk_unpacker_feed(u, p, cut), 0);
        assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EOUTOFDATA);
        assert_int_equal(zpk_unpacker_feed(u, buf + cut, n - cut), 0);
        assert_int_equal(zpk_unpacker_next(u, &d), 0);
        assert_true(tree_equal(zpk_doc_root(d), zpk_doc_root(whole)));
        zpk_doc_destroy(&d);
        zpk_unpacker_destroy(&u);
        /* as a message frame: an error, never a crash */
        static const uint8_t hdr[] = {0x83, 0xa3, 'z', 'p', 'k', 0x01, 0xa4, 'k', 'i', 'n', 'd',
                                      0xa3, 'o', 'b', 'j', 0xa6, 'f', 'r', 'a', 'm', 'e', 's', 0x01};
        zpk_frame_t fr[2] = {{(void *)(uintptr_t)hdr, sizeof hdr, NULL, NULL},
                             {p, cut, NULL, NULL}};
        assert_int_equal(zpk_decode_packed(fr, 2, NULL, NULL, &d, NULL), ZPK_EOUTOFDATA);
        free(p);
    }
    harness_alloc_uninstall();
    zpk_doc_destroy(&whole);
    zpk_free(buf);
}

/* Catalogue: deep nesting: every decoder stops at max_depth + 1. */
static void test_deep_nesting_all_decoders(void **state)
{
    (void)state;
    const size_t depth = ZPK_DEFAULT_MAX_DEPTH + 1;
    uint8_t *p = malloc(depth + 1);
    memset(p, 0x91, depth);
    p[depth] = 0xc0;
    zpk_doc_t *d = NULL;
    assert_int_equal(zpk_doc_parse(p, depth + 1, NULL, 0, &d, NULL), ZPK_ETOODEEP);
    zpk_reader_t r;
    zpk_reader_init(&r, p, depth + 1, NULL);
    assert_int_equal(zpk_reader_skip(&r), ZPK_ETOODEEP);
    zpk_unpacker_t *u = zpk_unpacker_new(NULL, 0);
    assert_int_equal(zpk_unpacker_feed(u, p, depth + 1), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_ETOODEEP);
    zpk_unpacker_destroy(&u);
    /* one level less is fine, and converts to JSON and back */
    assert_int_equal(zpk_doc_parse(p + 1, depth, NULL, 0, &d, NULL), 0);
    s_lossless_roundtrip(d, p + 1, depth);
    zpk_doc_destroy(&d);
    free(p);
}

/* Catalogue: invalid UTF-8 is kept as bytes unless asked; JSON keeps it exact. */
static void test_invalid_utf8(void **state)
{
    (void)state;
    const uint8_t bad[] = {0x92, 0xa2, 0xc3, 0x28, 0xa3, 0xed, 0xa0, 0x80};
    zpk_doc_t *d = s_parse_all(bad, sizeof bad);
    s_lossless_roundtrip(d, bad, sizeof bad); /* as {"$str": base64} */
    zpk_doc_destroy(&d);
    zpk_error_t err;
    zpk_error_clear(&err);
    assert_int_equal(zpk_doc_parse(bad, sizeof bad, NULL, ZPK_DOC_CHECK_UTF8, &d, &err),
                     ZPK_EUTF8);
    assert_int_equal(err.offset, 1);
    assert_null(d);
}

/* fuzz/crashes/stream/: an unpacker that was never fed, or fed 0 bytes. */
static void test_fuzz_regressions_unpacker(void **state)
{
    (void)state;
    zpk_unpacker_t *u = zpk_unpacker_new(NULL, 0);
    zpk_doc_t *d = NULL;
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EOUTOFDATA);
    assert_int_equal(zpk_unpacker_feed(u, "", 0), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EOUTOFDATA);
    assert_int_equal(zpk_unpacker_feed(u, "\x01", 1), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), 0);
    zpk_doc_destroy(&d);
    zpk_unpacker_destroy(&u);
    u = zpk_unpacker_new(NULL, 0);
    assert_int_equal(zpk_unpacker_skip(u), ZPK_EOUTOFDATA);
    assert_null(zpk_unpacker_error(u));
    zpk_unpacker_destroy(&u);
}

/* fuzz/crashes/message/: a pyzmq-recipe message with a bad dtype leaked. */
static void test_fuzz_regressions_recipe_leak(void **state)
{
    (void)state;
    static const char *const headers[] = {
        "{\"dtype\": \"int01\", \"shape\": [4]}",     /* unknown dtype */
        "{\"dtype\": \"int16\", \"shape\": [-4]}",    /* negative size */
        "{\"dtype\": \"int16\", \"shape\": [5]}",     /* payload too short */
        "{\"dtype\": \"int16\", \"shape\": [99999999999, 99999999999]}", /* overflow */
    };
    uint8_t payload[8] = {0};
    harness_alloc_install();
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        zpk_frame_t fr[3] = {{"topic", 5, NULL, NULL},
                             {(void *)(uintptr_t)headers[i], strlen(headers[i]), NULL, NULL},
                             {payload, 8, NULL, NULL}};
        zpk_ndarray_t a;
        int rc = zpk_decode_ndarray(fr, 3, NULL, NULL, &a, NULL);
        assert_true(rc < 0);
        assert_null(a.data);
        assert_int_equal(harness_alloc_stats().live_blocks, 0);
    }
    harness_alloc_uninstall(); /* asserts that nothing is still live */
}

/*
 * fuzz/crashes/frames/ (the issue 19 campaign): a header with both "array"
 * and "arrays" had the second replace the first's list of ndarray headers,
 * leaking the first's chunk table. Refused, either order, nothing leaked.
 */
static void test_fuzz_regressions_array_and_arrays(void **state)
{
    (void)state;
    /* a real header of a compressed ndarray (a chunk table to leak) */
    static uint64_t d[4096]; /* 32 KiB that zlib cannot shrink under 16: several frames */
    uint64_t x = 88172645463325252u;
    for (size_t i = 0; i < 4096; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        d[i] = x;
    }
    size_t n = 4096;
    zpk_ndarray_t a;
    zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, &n, 'C', d);
    zpk_codec_t zl;
    assert_int_equal(zpk_codec_parse("zlib:1", 6, &zl, NULL), 0);
    zl.chunk_size = 8192;
    zpk_send_opts_t o;
    zpk_send_opts_init(&o);
    o.codec = &zl;
    zpk_frames_t f;
    assert_int_equal(zpk_encode_ndarray(&a, &o, &f, NULL), 0);
    assert_true(f.n > 2);
    zpk_doc_t *hdr = NULL;
    assert_int_equal(zpk_doc_parse(f.frames[0].data, f.frames[0].size, NULL, 0, &hdr, NULL), 0);
    const zpk_node_t *root = zpk_doc_root(hdr), *one = zpk_node_map_get(root, "array");
    assert_non_null(one);
    harness_alloc_install();
    for (int arrays_first = 0; arrays_first < 2; arrays_first++) {
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 0);
        size_t pairs = zpk_node_len(root);
        zpk_write_map(&w, (uint32_t)pairs + 1);
        for (size_t i = 0; i < pairs; i++) {
            if (arrays_first && i == pairs - 1) {
                zpk_write_cstr(&w, "arrays");
                zpk_write_array(&w, 1);
                zpk_node_write(&w, one);
            }
            zpk_node_write(&w, zpk_node_map_key(root, i));
            zpk_node_write(&w, zpk_node_map_value(root, i));
        }
        if (!arrays_first) {
            zpk_write_cstr(&w, "arrays");
            zpk_write_array(&w, 1);
            zpk_node_write(&w, one);
        }
        assert_int_equal(zpk_writer_finish(&w), 0);
        zpk_frame_t fr[16];
        assert_true(f.n <= 16);
        memcpy(fr, f.frames, f.n * sizeof *fr);
        for (size_t i = 0; i < f.n; i++)
            fr[i].free_fn = NULL; /* borrowed: f keeps them */
        fr[0] = (zpk_frame_t){(void *)(uintptr_t)zpk_writer_data(&w), zpk_writer_size(&w), NULL, NULL};
        zpk_ndarray_t r;
        zpk_error_t err;
        assert_int_equal(zpk_decode_ndarray(fr, f.n, NULL, NULL, &r, &err), ZPK_EFORMAT);
        assert_non_null(strstr(err.text, "both array and arrays"));
        assert_int_equal(err.frame, 0);
        zpk_writer_free(&w);
        assert_int_equal(harness_alloc_stats().live_blocks, 0);
    }
    harness_alloc_uninstall();
    zpk_doc_destroy(&hdr);
    zpk_frames_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_keys_of_every_type),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_non_minimal_encodings),
        cmocka_unit_test(test_truncation_at_every_offset),
        cmocka_unit_test(test_deep_nesting_all_decoders),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_fuzz_regressions_unpacker),
        cmocka_unit_test(test_fuzz_regressions_array_and_arrays),
        cmocka_unit_test(test_fuzz_regressions_recipe_leak),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
