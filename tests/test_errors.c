/*
 * One error channel per call (issue 14, item 4): every call that takes a
 * zpk_error_t resets it when it starts, so after a call the struct holds
 * that call's error or none, never an earlier call's. Each public call
 * that takes one is run with a struct left dirty by a previous failure:
 * once succeeding (the struct must read "no error") and once failing (the
 * struct must hold the new failure's code).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "zmqpack.h"
#include "zmqpack/json.h"

/* What an earlier failing call leaves behind. */
static void s_dirty(zpk_error_t *e)
{
    e->code = ZPK_EFORMAT;
    e->offset = 99;
    e->frame = 7;
    snprintf(e->text, sizeof e->text, "an earlier call's error");
}

static void s_assert_clean(const zpk_error_t *e)
{
    assert_int_equal(e->code, 0);
    assert_int_equal(e->offset, 0);
    assert_int_equal(e->frame, -1);
    assert_string_equal(e->text, "");
}

/* The example: the second parse must not report the first one's error. */
static void test_doc_parse_reports_its_own_error(void **state)
{
    (void)state;
    zpk_error_t err;
    zpk_error_clear(&err);
    zpk_doc_t *d = NULL;
    assert_int_equal(zpk_doc_parse("\xc1", 1, NULL, 0, &d, &err), ZPK_EFORMAT);
    assert_int_equal(err.code, ZPK_EFORMAT);
    assert_int_equal(zpk_doc_parse("\x92\x01", 2, NULL, 0, &d, &err), ZPK_EOUTOFDATA);
    assert_int_equal(err.code, ZPK_EOUTOFDATA);
    assert_null(strstr(err.text, "0xc1"));
    s_dirty(&err);
    assert_int_equal(zpk_doc_parse("\x92\x01\x02", 3, NULL, 0, &d, &err), 0);
    s_assert_clean(&err);
    zpk_doc_destroy(&d);
}

static void test_dtype_and_codec_parse(void **state)
{
    (void)state;
    zpk_error_t err;
    zpk_dtype_t dt;
    s_dirty(&err);
    assert_int_equal(zpk_dtype_parse("<f8", 3, &dt, &err), 0);
    s_assert_clean(&err);
    s_dirty(&err);
    assert_int_equal(zpk_dtype_parse("<x9", 3, &dt, &err), ZPK_EDTYPE);
    assert_int_equal(err.code, ZPK_EDTYPE);

    zpk_codec_t c;
    s_dirty(&err);
    assert_int_equal(zpk_codec_parse("zlib:1", 6, &c, &err), 0);
    s_assert_clean(&err);
    s_dirty(&err);
    assert_int_equal(zpk_codec_parse("lzma", 4, &c, &err), ZPK_ECODEC);
    assert_int_equal(err.code, ZPK_ECODEC);
}

static void test_ndarray_codec_calls(void **state)
{
    (void)state;
    zpk_error_t err;
    double d[64];
    for (int i = 0; i < 64; i++)
        d[i] = i;
    size_t n = 64;
    zpk_ndarray_t a;
    assert_int_equal(zpk_ndarray_init(&a, zpk_dtype_make(ZPK_KIND_FLOAT, 8), 1, &n, 'C', d), 0);
    zpk_codec_t zl;
    assert_int_equal(zpk_codec_parse("zlib", 4, &zl, NULL), 0);

    zpk_ndarray_enc_t enc;
    s_dirty(&err);
    assert_int_equal(zpk_ndarray_encode(&a, &zl, true, &enc, &err), 0);
    s_assert_clean(&err);
    zpk_codec_t bad = zl;
    bad.level = 42;
    zpk_ndarray_enc_t enc2;
    s_dirty(&err);
    assert_int_equal(zpk_ndarray_encode(&a, &bad, true, &enc2, &err), ZPK_EINVAL);
    assert_int_equal(err.code, ZPK_EINVAL);

    zpk_ndarray_info_t info;
    s_dirty(&err);
    assert_int_equal(zpk_ndarray_header_decode(enc.header, enc.header_size, NULL, &info, &err), 0);
    s_assert_clean(&err);
    zpk_ndarray_info_t info2;
    s_dirty(&err);
    assert_int_equal(zpk_ndarray_header_decode("\x80", 1, NULL, &info2, &err), ZPK_EFORMAT);
    assert_int_equal(err.code, ZPK_EFORMAT);
    zpk_reader_t r;
    zpk_reader_init(&r, enc.header, enc.header_size, NULL);
    s_dirty(&err);
    assert_int_equal(zpk_ndarray_header_read(&r, NULL, &info2, &err), 0);
    s_assert_clean(&err);
    zpk_ndarray_info_free(&info2);

    zpk_span_t spans[8];
    assert_true(enc.nchunks <= 8);
    size_t stored = 0;
    uint8_t concat[1024];
    for (size_t i = 0; i < enc.nchunks; i++) {
        spans[i] = (zpk_span_t){enc.chunks[i].data, enc.chunks[i].size};
        memcpy(concat + stored, enc.chunks[i].data, enc.chunks[i].size);
        stored += enc.chunks[i].size;
    }
    double out[64];
    s_dirty(&err);
    assert_int_equal(zpk_ndarray_decode_into(&info, spans, enc.nchunks, out, sizeof out, &err), 0);
    s_assert_clean(&err);
    assert_memory_equal(out, d, sizeof d);
    s_dirty(&err);
    assert_int_equal(zpk_ndarray_decode_into(&info, spans, enc.nchunks, out, 8, &err),
                     ZPK_EBUFFULL);
    assert_int_equal(err.code, ZPK_EBUFFULL);
    s_dirty(&err);
    assert_int_equal(zpk_ndarray_decode_concat(&info, concat, stored, out, sizeof out, &err), 0);
    s_assert_clean(&err);
    zpk_ndarray_t dec;
    s_dirty(&err);
    assert_int_equal(zpk_ndarray_decode(&info, spans, enc.nchunks, &dec, &err), 0);
    s_assert_clean(&err);
    zpk_ndarray_free(&dec);
    s_dirty(&err);
    assert_int_equal(zpk_ndarray_decode(&info, spans, 0, &dec, &err), ZPK_EFRAME);
    assert_int_equal(err.code, ZPK_EFRAME);
    zpk_ndarray_info_free(&info);
    zpk_ndarray_enc_free(&enc);
}

static void test_format_calls(void **state)
{
    (void)state;
    zpk_error_t err;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    s_dirty(&err);
    assert_int_equal(zpk_pack_fmt_ex(&w, &err, "{s:i}", "a", 1), 0);
    s_assert_clean(&err);
    zpk_doc_t *d = NULL;
    assert_int_equal(zpk_doc_parse(zpk_writer_data(&w), zpk_writer_size(&w), NULL, 0, &d, NULL),
                     0);
    int v = 0;
    s_dirty(&err);
    assert_int_equal(zpk_unpack_fmt_ex(zpk_doc_root(d), &err, "{s:i}", "a", &v), 0);
    s_assert_clean(&err);
    assert_int_equal(v, 1);
    s_dirty(&err);
    assert_int_equal(zpk_unpack_fmt_ex(zpk_doc_root(d), &err, "{s:i}", "b", &v), ZPK_ENOTFOUND);
    assert_int_equal(err.code, ZPK_ENOTFOUND);
    zpk_doc_destroy(&d);
    zpk_writer_free(&w);
}

static void test_json_calls(void **state)
{
    (void)state;
    zpk_error_t err;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    s_dirty(&err);
    assert_int_equal(zpk_json_loads_to_writer("[1, 2]", 6, &w, &err), 0);
    s_assert_clean(&err);
    s_dirty(&err);
    assert_int_equal(zpk_json_loads_to_writer("[1, 2", 5, &w, &err), ZPK_EFORMAT);
    assert_int_equal(err.code, ZPK_EFORMAT);
    zpk_writer_reset(&w);
    json_t *j = json_integer(5);
    s_dirty(&err);
    assert_int_equal(zpk_json_to_msgpack_ex(j, 0, &w, &err), 0);
    s_assert_clean(&err);
    json_decref(j);
    zpk_writer_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doc_parse_reports_its_own_error),
        cmocka_unit_test(test_dtype_and_codec_parse),
        cmocka_unit_test(test_ndarray_codec_calls),
        cmocka_unit_test(test_format_calls),
        cmocka_unit_test(test_json_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
