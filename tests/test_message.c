/*
 * Message layer without sockets: exact header bytes, header decoding and
 * every rule of docs/PROTOCOL.md section 3, single-frame splitting, the
 * pyzmq recipe's JSON header, array references, truncation and allocation
 * failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "message_internal.h"
#include "zmqpack.h"

#define S_LIT(s) {s, sizeof s - 1, NULL, NULL}
/* A borrowed frame over @p p (the decode API takes void *). */
#define S_FR(p, n) ((zpk_frame_t){(void *)(uintptr_t)(p), (n), NULL, NULL})

/* Encodes a float64 array of @p n items with @p codec_str into @p enc. */
static void s_encode(zpk_ndarray_enc_t *enc, double *d, size_t n, const char *codec_str, size_t chunk)
{
    zpk_ndarray_t a;
    assert_int_equal(zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, &n, 'C', d), 0);
    zpk_codec_t c;
    assert_int_equal(zpk_codec_parse(codec_str, strlen(codec_str), &c, NULL), 0);
    c.chunk_size = chunk;
    assert_int_equal(zpk_ndarray_encode(&a, &c, false, enc, NULL), 0);
}

static void test_obj_header_exact_bytes(void **state)
{
    (void)state;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk__msg_write_header(&w, ZPK__KIND_OBJ, false, 1, NULL, NULL, 0);
    assert_int_equal(zpk_writer_finish(&w), 0);
    static const uint8_t want[] = {0x83, 0xa3, 'z', 'p', 'k', 0x01, 0xa4, 'k', 'i', 'n', 'd',
                                   0xa3, 'o', 'b', 'j', 0xa6, 'f', 'r', 'a', 'm', 'e', 's', 0x01};
    assert_int_equal(zpk_writer_size(&w), sizeof want);
    assert_memory_equal(zpk_writer_data(&w), want, sizeof want);
    assert_true(zpk_is_header(want, sizeof want));
    zpk_writer_free(&w);
}

static void test_is_header(void **state)
{
    (void)state;
    assert_true(zpk_is_header("\x81\xa3zpk\x01", 6));
    assert_true(zpk_is_header("\x8f\xa3zpk\x01", 6));
    assert_false(zpk_is_header("\x80\xa3zpk\x01", 6));
    assert_false(zpk_is_header("\x90\xa3zpk\x01", 6));
    assert_false(zpk_is_header("\x81\xa3zpq\x01", 6));
    assert_false(zpk_is_header("\x81\xa3zpk", 5));
    assert_false(zpk_is_header(NULL, 6));
    assert_false(zpk_is_header("topic", 5));
}

static void test_array_header_roundtrip_and_frames(void **state)
{
    (void)state;
    double d[1000];
    for (int i = 0; i < 1000; i++)
        d[i] = i % 10;
    zpk_ndarray_enc_t enc;
    s_encode(&enc, d, 1000, "zlib:1", 3000); /* 3 chunks: 3000, 3000, 2000 */
    assert_int_equal(enc.nchunks, 3);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk__msg_write_header(&w, ZPK__KIND_NDARRAY, false, enc.nchunks, NULL, &enc, 1);
    assert_int_equal(zpk_writer_finish(&w), 0);
    zpk_frame_t fr[6];
    fr[0] = S_FR("topic", 5);
    fr[1] = S_FR(zpk_writer_data(&w), zpk_writer_size(&w));
    for (size_t i = 0; i < 3; i++)
        fr[2 + i] = S_FR(enc.chunks[i].data, enc.chunks[i].size);
    zpk__msg_t m;
    zpk_error_t err;
    zpk_error_clear(&err);
    assert_int_equal(zpk__msg_parse(fr, 5, NULL, NULL, &m, &err), 0);
    assert_int_equal(m.header, 1); /* frame 0 is the envelope */
    assert_int_equal(m.kind, ZPK__KIND_NDARRAY);
    assert_int_equal(m.n_ndarrays, 1);
    assert_int_equal(m.nspans, 3);
    assert_int_equal(m.ndarrays[0].nbytes, 8000);
    assert_int_equal(m.ndarrays[0].chunk_size, 3000);
    double back[1000];
    assert_int_equal(zpk_ndarray_decode_into(&m.ndarrays[0], m.spans, m.nspans, back, sizeof back, NULL), 0);
    assert_memory_equal(back, d, sizeof d);
    zpk__msg_free(&m);
    /* no topic */
    assert_int_equal(zpk__msg_parse(fr + 1, 4, NULL, NULL, &m, NULL), 0);
    assert_int_equal(m.header, 0);
    zpk__msg_free(&m);
    /* a frame missing, an extra frame */
    zpk_error_clear(&err);
    assert_int_equal(zpk__msg_parse(fr, 4, NULL, NULL, &m, &err), ZPK_EFRAME);
    assert_int_equal(err.frame, 4);
    fr[5] = fr[4];
    zpk_error_clear(&err);
    assert_int_equal(zpk__msg_parse(fr, 6, NULL, NULL, &m, &err), ZPK_EFRAME);
    assert_int_equal(err.frame, 5);
    /* a chunk of the wrong size */
    fr[3].size--;
    zpk_error_clear(&err);
    assert_int_equal(zpk__msg_parse(fr, 5, NULL, NULL, &m, &err), ZPK_ESHAPE);
    fr[3].size++;
    /* every truncation of the header fails cleanly */
    for (size_t cut = 0; cut < fr[1].size; cut++) {
        zpk_frame_t t[4] = {S_FR(fr[1].data, cut), fr[2], fr[3], fr[4]};
        int rc = zpk__msg_parse(t, 4, NULL, NULL, &m, NULL);
        assert_true(rc < 0);
    }
    zpk_writer_free(&w);
    zpk_ndarray_enc_free(&enc);
}

/* Builds a header from a list of key/value writers. */
static size_t s_hdr(uint8_t *buf, size_t cap, const char *kind, uint64_t version, int frames,
                    const char *extra)
{
    zpk_writer_t w;
    zpk_writer_init_buffer(&w, buf, cap);
    int pairs = 1 + (kind != NULL) + (frames >= 0) + (extra != NULL);
    zpk_write_map(&w, (size_t)pairs);
    zpk_write_cstr(&w, "zpk");
    zpk_write_uint(&w, version);
    if (kind != NULL) {
        zpk_write_cstr(&w, "kind");
        zpk_write_cstr(&w, kind);
    }
    if (frames >= 0) {
        zpk_write_cstr(&w, "frames");
        zpk_write_uint(&w, (uint64_t)frames);
    }
    if (extra != NULL) {
        if (strcmp(extra, "dup") == 0) {
            zpk_write_cstr(&w, "frames");
            zpk_write_uint(&w, 1);
        } else if (strcmp(extra, "intkey") == 0) {
            zpk_write_uint(&w, 7);
            zpk_write_uint(&w, 1);
        } else if (strcmp(extra, "array") == 0) {
            zpk_write_cstr(&w, "array");
            zpk_write_map(&w, 0);
        } else if (strcmp(extra, "unknown") == 0) {
            zpk_write_cstr(&w, "later");
            zpk_write_array(&w, 2);
            zpk_write_cstr(&w, "x");
            zpk_write_map(&w, 0);
        } else if (strcmp(extra, "single") == 0) {
            zpk_write_cstr(&w, "single");
            zpk_write_bool(&w, true);
        }
    }
    assert_int_equal(zpk_writer_finish(&w), 0);
    return zpk_writer_size(&w);
}

static void test_header_rules(void **state)
{
    (void)state;
    uint8_t h[128];
    zpk__msg_t m;
    zpk_frame_t fr[3];
    fr[1] = S_FR("\x93\x01\x02\x03", 4);
    struct {
        const char *kind;
        uint64_t version;
        int frames;
        const char *extra;
        size_t nframes;
        int code;
    } cases[] = {
        {"obj", 1, 1, NULL, 2, 0},
        {"obj", 1, 1, "unknown", 2, 0},      /* unknown keys skipped */
        {"obj", 2, 1, NULL, 2, ZPK_EVERSION},
        {"obj", 0, 1, NULL, 2, ZPK_EFORMAT},
        {"obj", 1, 1, "dup", 2, ZPK_EFORMAT},
        {"obj", 1, 1, "intkey", 2, ZPK_EFORMAT},
        {"obj", 1, 1, "array", 2, ZPK_EFORMAT}, /* a key of another kind */
        {"thing", 1, 1, NULL, 2, ZPK_EFORMAT},
        {NULL, 1, 1, NULL, 2, ZPK_EFORMAT},
        {"obj", 1, -1, NULL, 2, ZPK_EFORMAT},
        {"obj", 1, 2, NULL, 3, ZPK_EFORMAT},  /* frames contradicts the kind */
        {"obj", 1, 1, NULL, 1, ZPK_EFRAME},
        {"obj", 1, 1, NULL, 3, ZPK_EFRAME},
        {"array", 1, 0, NULL, 1, ZPK_EFORMAT}, /* no array header */
        {"mixed", 1, 1, NULL, 2, ZPK_EFORMAT}, /* no arrays list */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fr[0] = S_FR(h, s_hdr(h, sizeof h, cases[i].kind, cases[i].version,
                                      cases[i].frames, cases[i].extra));
        fr[2] = fr[1];
        zpk_error_t err;
        zpk_error_clear(&err);
        int rc = zpk__msg_parse(fr, cases[i].nframes, NULL, NULL, &m, &err);
        assert_int_equal(rc, cases[i].code);
        assert_int_equal(err.code, cases[i].code);
        if (rc == 0) {
            assert_int_equal(m.kind, ZPK__KIND_OBJ);
            assert_int_equal(m.nspans, 1);
            assert_ptr_equal(m.spans[0].data, fr[1].data);
            zpk__msg_free(&m);
        }
    }
    /* bytes after the map */
    size_t n = s_hdr(h, sizeof h, "obj", 1, 1, NULL);
    h[n] = 0xc0;
    fr[0] = S_FR(h, n + 1);
    assert_int_equal(zpk__msg_parse(fr, 2, NULL, NULL, &m, NULL), ZPK_EFORMAT);
    /* foreign */
    zpk_frame_t foreign[2] = {S_FR("abc", 3), S_FR("def", 3)};
    assert_int_equal(zpk__msg_parse(foreign, 2, NULL, NULL, &m, NULL), ZPK_EFOREIGN);
    assert_int_equal(zpk__msg_parse(foreign, 1, NULL, NULL, &m, NULL), ZPK_EFOREIGN);
    assert_int_equal(zpk__msg_parse(foreign, 0, NULL, NULL, &m, NULL), ZPK_EFRAME);
    /* an empty topic is a topic */
    zpk_frame_t et[3] = {S_FR("", 0), S_FR(h, n), fr[1]};
    assert_int_equal(zpk__msg_parse(et, 3, NULL, NULL, &m, NULL), 0);
    assert_int_equal(m.header, 1);
    zpk__msg_free(&m);
}

static void test_single_frame_split(void **state)
{
    (void)state;
    double d[100];
    for (int i = 0; i < 100; i++)
        d[i] = i;
    zpk_ndarray_enc_t enc;
    s_encode(&enc, d, 100, "none", 0);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk__msg_write_header(&w, ZPK__KIND_MIXED, true, 0, NULL, &enc, 1);
    zpk_write_raw(&w, "\x81\xa1x\xd6\x5a\x00\x00\x00\x00", 9); /* {"x": ref 0} */
    zpk_write_raw(&w, d, sizeof d);
    assert_int_equal(zpk_writer_finish(&w), 0);
    zpk_frame_t fr = S_FR(zpk_writer_data(&w), zpk_writer_size(&w));
    zpk__msg_t m;
    assert_int_equal(zpk__msg_parse(&fr, 1, NULL, NULL, &m, NULL), 0);
    assert_true(m.single);
    assert_int_equal(m.nspans, 2);
    assert_int_equal(m.spans[0].size, 9);
    assert_memory_equal(m.spans[1].data, d, sizeof d);
    zpk_doc_t *doc;
    assert_int_equal(zpk_doc_parse(m.spans[0].data, m.spans[0].size, NULL, 0, &doc, NULL), 0);
    uint32_t idx = 99;
    assert_int_equal(zpk_node_get_ndarray_ref(zpk_node_map_get(zpk_doc_root(doc), "x"), &idx), 0);
    assert_int_equal(idx, 0);
    zpk_doc_destroy(&doc);
    zpk__msg_free(&m);
    /* an array whose single-frame payload is short */
    zpk_writer_reset(&w);
    zpk__msg_write_header(&w, ZPK__KIND_NDARRAY, true, 0, NULL, &enc, 1);
    zpk_write_raw(&w, d, sizeof d - 1);
    fr = S_FR(zpk_writer_data(&w), zpk_writer_size(&w));
    assert_int_equal(zpk__msg_parse(&fr, 1, NULL, NULL, &m, NULL), ZPK_ESHAPE);
    /* a single-frame message followed by a frame */
    zpk_writer_reset(&w);
    zpk__msg_write_header(&w, ZPK__KIND_NDARRAY, true, 0, NULL, &enc, 1);
    zpk_write_raw(&w, d, sizeof d);
    zpk_frame_t two[2] = {S_FR(zpk_writer_data(&w), zpk_writer_size(&w)), S_FR("x", 1)};
    assert_int_equal(zpk__msg_parse(two, 2, NULL, NULL, &m, NULL), ZPK_EFRAME);
    zpk_writer_free(&w);
    zpk_ndarray_enc_free(&enc);
}

static void test_array_refs(void **state)
{
    (void)state;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_array(&w, 4);
    zpk_write_ndarray_ref(&w, 0x01020304u);
    zpk_write_ext(&w, 90, "ab", 2);
    zpk_write_ext(&w, 91, "abcd", 4);
    zpk_write_uint(&w, 1);
    static const uint8_t ref[] = {0xd6, 0x5a, 1, 2, 3, 4};
    assert_memory_equal(zpk_writer_data(&w) + 1, ref, sizeof ref);
    zpk_doc_t *doc;
    assert_int_equal(zpk_doc_parse(zpk_writer_data(&w), zpk_writer_size(&w), NULL, 0, &doc, NULL), 0);
    const zpk_node_t *root = zpk_doc_root(doc);
    uint32_t idx;
    assert_int_equal(zpk_node_get_ndarray_ref(zpk_node_array_at(root, 0), &idx), 0);
    assert_int_equal(idx, 0x01020304u);
    assert_int_equal(zpk_node_get_ndarray_ref(zpk_node_array_at(root, 1), &idx), ZPK_EFORMAT);
    assert_int_equal(zpk_node_get_ndarray_ref(zpk_node_array_at(root, 2), &idx), ZPK_ETYPE);
    assert_int_equal(zpk_node_get_ndarray_ref(zpk_node_array_at(root, 3), &idx), ZPK_ETYPE);
    assert_int_equal(zpk_node_get_ndarray_ref(NULL, &idx), ZPK_EINVAL);
    zpk_doc_destroy(&doc);
    zpk_writer_free(&w);
}

static void test_recipe(void **state)
{
    (void)state;
    zpk_ndarray_info_t info;
    memset(&info, 0, sizeof info);
    info.dtype = zpk_dtype_make(ZPK_KIND_FLOAT, 8);
    info.ndim = 2;
    info.shape[0] = 2;
    info.shape[1] = 3;
    info.order = 'C';
    char buf[128];
    size_t len = 0;
    char *heap = NULL;
    assert_int_equal(zpk__recipe_write(&info, NULL, buf, sizeof buf, &heap, &len, NULL), 0);
    assert_null(heap);
    assert_int_equal(len, strlen("{\"dtype\": \"float64\", \"shape\": [2, 3]}"));
    assert_memory_equal(buf, "{\"dtype\": \"float64\", \"shape\": [2, 3]}", len);
    zpk_dtype_parse(">f8", 3, &info.dtype, NULL);
    assert_int_equal(zpk__recipe_write(&info, NULL, buf, sizeof buf, &heap, &len, NULL), 0);
    assert_memory_equal(buf, "{\"dtype\": \">f8\"", 15);
    /* too long for buf: on the heap, the same text */
    assert_int_equal(zpk__recipe_write(&info, NULL, buf, 10, &heap, &len, NULL), 0);
    assert_non_null(heap);
    assert_memory_equal(heap, "{\"dtype\": \">f8\", \"shape\": [2, 3]}", len);
    zpk_free(heap);
    info.order = 'F';
    assert_int_equal(zpk__recipe_write(&info, NULL, buf, sizeof buf, &heap, &len, NULL), ZPK_EINVAL);

    double d[6] = {0};
    zpk__msg_t m;
    zpk_frame_t fr[3] = {S_LIT("t"), S_LIT("{\"shape\": [2, 3], \"dtype\": \"<f8\", \"x\": 1}"), S_FR(d, 48)};
    assert_int_equal(zpk__msg_parse(fr + 1, 2, NULL, NULL, &m, NULL), 0);
    assert_int_equal(m.kind, ZPK__KIND_RECIPE);
    assert_int_equal(m.header, 0);
    assert_int_equal(m.ndarrays[0].nbytes, 48);
    assert_ptr_equal(m.spans[0].data, d);
    zpk__msg_free(&m);
    assert_int_equal(zpk__msg_parse(fr, 3, NULL, NULL, &m, NULL), 0);
    assert_int_equal(m.header, 1);
    zpk__msg_free(&m);
    fr[2].size = 40;
    assert_int_equal(zpk__msg_parse(fr, 3, NULL, NULL, &m, NULL), ZPK_ESHAPE);
    zpk_frame_t bad[][2] = {
        {S_LIT("{\"dtype\": \"<f8\""), S_FR(d, 8)},                          /* bad JSON */
        {S_LIT("{\"dtype\": \"<f8\", \"dtype\": \"<f8\", \"shape\": []}"), S_FR(d, 8)}, /* duplicate */
        {S_LIT("{\"shape\": [1]}"), S_FR(d, 8)},                             /* no dtype */
    };
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(zpk__msg_parse(bad[i], 2, NULL, NULL, &m, NULL), ZPK_EFOREIGN);
    zpk_frame_t neg[2] = {S_LIT("{\"dtype\": \"<f8\", \"shape\": [-1]}"), S_FR(d, 8)};
    assert_int_equal(zpk__msg_parse(neg, 2, NULL, NULL, &m, NULL), ZPK_ESHAPE);
    zpk_frame_t huge[2] = {S_LIT("{\"dtype\": \"<f8\", \"shape\": [4294967296, 4294967296]}"), S_FR(d, 8)};
    assert_true(zpk__msg_parse(huge, 2, NULL, NULL, &m, NULL) < 0);
}

/* Every single-bit flip and every byte value at each position of a valid
 * mixed header: an error code or a valid parse, never a crash or a leak. */
static void test_mutated_headers(void **state)
{
    (void)state;
    double d[300];
    for (int i = 0; i < 300; i++)
        d[i] = i;
    zpk_ndarray_enc_t enc[2];
    s_encode(&enc[0], d, 300, "zlib:1", 1000);
    s_encode(&enc[1], d, 100, "none", 0);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk__msg_write_header(&w, ZPK__KIND_MIXED, false, 1 + enc[0].nchunks + enc[1].nchunks, NULL,
                          enc, 2);
    assert_int_equal(zpk_writer_finish(&w), 0);
    size_t hl = zpk_writer_size(&w);
    uint8_t h[1024];
    assert_true(hl <= sizeof h);
    zpk_frame_t fr[8];
    size_t n = 0;
    fr[n++] = S_FR(h, hl);
    fr[n++] = S_FR("\x81\xa1x\xd6\x5a\x00\x00\x00\x00", 9);
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < enc[k].nchunks; i++)
            fr[n++] = S_FR(enc[k].chunks[i].data, enc[k].chunks[i].size);
    harness_alloc_install();
    zpk__msg_t m;
    memcpy(h, zpk_writer_data(&w), hl);
    assert_int_equal(zpk__msg_parse(fr, n, NULL, NULL, &m, NULL), 0);
    assert_int_equal(m.n_ndarrays, 2);
    zpk__msg_free(&m);
    size_t ok = 0;
    for (size_t pos = 0; pos < hl; pos++) {
        for (int v = 0; v < 256 + 8; v++) {
            memcpy(h, zpk_writer_data(&w), hl);
            h[pos] = v < 256 ? (uint8_t)v : (uint8_t)(h[pos] ^ (1u << (v - 256)));
            if (zpk__msg_parse(fr, n, NULL, NULL, &m, NULL) == 0) {
                ok++;
                zpk__msg_free(&m);
            }
        }
    }
    assert_true(ok > 0);
    harness_alloc_uninstall();
    zpk_writer_free(&w);
    zpk_ndarray_enc_free(&enc[0]);
    zpk_ndarray_enc_free(&enc[1]);
}

static void test_allocation_failures(void **state)
{
    (void)state;
    double d[1000] = {0};
    zpk_ndarray_enc_t enc;
    s_encode(&enc, d, 1000, "zlib:1", 2000);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk__msg_write_header(&w, ZPK__KIND_MIXED, false, 1 + enc.nchunks, NULL, &enc, 1);
    zpk_frame_t fr[8];
    fr[0] = S_FR(zpk_writer_data(&w), zpk_writer_size(&w));
    fr[1] = S_FR("\xc0", 1);
    for (size_t i = 0; i < enc.nchunks; i++)
        fr[2 + i] = S_FR(enc.chunks[i].data, enc.chunks[i].size);
    size_t n = 2 + enc.nchunks;
    harness_alloc_install();
    int fails = 0;
    for (size_t k = 1; k < 20; k++) {
        harness_alloc_fail_after(k);
        zpk__msg_t m;
        int rc = zpk__msg_parse(fr, n, NULL, NULL, &m, NULL);
        harness_alloc_fail_after(0);
        if (rc == 0)
            zpk__msg_free(&m);
        else {
            assert_int_equal(rc, ZPK_ENOMEM);
            fails++;
        }
    }
    assert_true(fails > 0);
    harness_alloc_uninstall();
    zpk_writer_free(&w);
    zpk_ndarray_enc_free(&enc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_obj_header_exact_bytes),
        cmocka_unit_test(test_is_header),
        cmocka_unit_test(test_array_header_roundtrip_and_frames),
        cmocka_unit_test(test_header_rules),
        cmocka_unit_test(test_single_frame_split),
        cmocka_unit_test(test_array_refs),
        cmocka_unit_test(test_recipe),
        cmocka_unit_test(test_mutated_headers),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
