/* The document tree: one-shot parse, accessors, ownership, errors, re-encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "doc_util.h"
#include "harness.h"
#include "zmqpack.h"

#define B(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

static int s_parse(const uint8_t *data, size_t len, unsigned flags, zpk_doc_t **doc,
                   zpk_error_t *err)
{
    zpk_error_clear(err);
    return zpk_doc_parse(data, len, NULL, flags, doc, err);
}

/* Parses bytes that must be one whole object; returns the doc. */
static zpk_doc_t *s_ok(const uint8_t *data, size_t len)
{
    zpk_doc_t *d = NULL;
    zpk_error_t err;
    assert_int_equal(s_parse(data, len, 0, &d, &err), 0);
    assert_non_null(d);
    assert_int_equal(zpk_doc_consumed(d), len);
    return d;
}

static void test_scalars(void **state)
{
    (void)state;
    int64_t i;
    uint64_t u;
    double dbl;
    bool b;
    const char *s;
    size_t len;

    zpk_doc_t *d = s_ok(B(0xcc, 0xff));
    const zpk_node_t *n = zpk_doc_root(d);
    assert_int_equal(zpk_node_type(n), ZPK_TYPE_UINT);
    assert_int_equal(zpk_node_len(n), 0);
    assert_int_equal(zpk_node_get_int(n, &i), 0);
    assert_int_equal(i, 255);
    assert_int_equal(zpk_node_get_uint(n, &u), 0);
    assert_int_equal(u, 255);
    assert_int_equal(zpk_node_get_double(n, &dbl), 0);
    assert_true(dbl == 255.0);
    assert_int_equal(zpk_node_get_bool(n, &b), ZPK_ETYPE);
    assert_int_equal(zpk_node_get_str(n, &s, &len), ZPK_ETYPE);
    assert_int_equal(zpk_node_get_int(n, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_node_get_int(NULL, &i), ZPK_EINVAL);
    zpk_doc_destroy(&d);
    assert_null(d);

    d = s_ok(B(0xd0, 0x80));
    n = zpk_doc_root(d);
    assert_int_equal(zpk_node_type(n), ZPK_TYPE_INT);
    assert_int_equal(zpk_node_get_int(n, &i), 0);
    assert_int_equal(i, -128);
    assert_int_equal(zpk_node_get_uint(n, &u), ZPK_ETYPE);
    zpk_doc_destroy(&d);

    /* a signed encoding of a non-negative value is a uint */
    d = s_ok(B(0xd3, 0, 0, 0, 0, 0, 0, 0, 5));
    assert_int_equal(zpk_node_type(zpk_doc_root(d)), ZPK_TYPE_UINT);
    zpk_doc_destroy(&d);

    d = s_ok(B(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
    n = zpk_doc_root(d);
    assert_int_equal(zpk_node_get_int(n, &i), ZPK_ETYPE); /* does not fit */
    assert_int_equal(zpk_node_get_uint(n, &u), 0);
    assert_true(u == UINT64_MAX);
    zpk_doc_destroy(&d);

    d = s_ok(B(0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0));
    assert_int_equal(zpk_node_get_int(zpk_doc_root(d), &i), 0);
    assert_true(i == INT64_MIN);
    zpk_doc_destroy(&d);

    d = s_ok(B(0xff));
    assert_int_equal(zpk_node_get_int(zpk_doc_root(d), &i), 0);
    assert_int_equal(i, -1);
    zpk_doc_destroy(&d);

    d = s_ok(B(0xca, 0x3f, 0xc0, 0x00, 0x00));
    n = zpk_doc_root(d);
    assert_int_equal(zpk_node_type(n), ZPK_TYPE_FLOAT);
    assert_int_equal(zpk_node_get_double(n, &dbl), 0);
    assert_true(dbl == 1.5);
    assert_int_equal(zpk_node_get_int(n, &i), ZPK_ETYPE);
    zpk_doc_destroy(&d);

    d = s_ok(B(0xcb, 0xc0, 0x04, 0, 0, 0, 0, 0, 0));
    n = zpk_doc_root(d);
    assert_int_equal(zpk_node_type(n), ZPK_TYPE_DOUBLE);
    assert_int_equal(zpk_node_get_double(n, &dbl), 0);
    assert_true(dbl == -2.5);
    zpk_doc_destroy(&d);

    d = s_ok(B(0xc0));
    assert_true(zpk_node_is_nil(zpk_doc_root(d)));
    assert_int_equal(zpk_node_get_bool(zpk_doc_root(d), &b), ZPK_ETYPE);
    zpk_doc_destroy(&d);

    d = s_ok(B(0xc3));
    assert_int_equal(zpk_node_get_bool(zpk_doc_root(d), &b), 0);
    assert_true(b);
    assert_false(zpk_node_is_nil(zpk_doc_root(d)));
    zpk_doc_destroy(&d);
    d = s_ok(B(0xc2));
    assert_int_equal(zpk_node_get_bool(zpk_doc_root(d), &b), 0);
    assert_false(b);
    zpk_doc_destroy(&d);

    /* NULL is harmless everywhere */
    assert_int_equal(zpk_node_type(NULL), 0);
    assert_int_equal(zpk_node_len(NULL), 0);
    assert_null(zpk_doc_root(NULL));
    assert_int_equal(zpk_doc_consumed(NULL), 0);
    zpk_doc_destroy(NULL);
    zpk_doc_destroy(&d);
}

static void test_strings_bin_ext(void **state)
{
    (void)state;
    const char *s;
    const uint8_t *p;
    size_t len;
    int8_t et;

    zpk_doc_t *d = s_ok(B(0xa3, 'a', 'b', 'c'));
    const zpk_node_t *n = zpk_doc_root(d);
    assert_int_equal(zpk_node_type(n), ZPK_TYPE_STR);
    assert_int_equal(zpk_node_len(n), 3);
    assert_int_equal(zpk_node_get_str(n, &s, &len), 0);
    assert_int_equal(len, 3);
    assert_string_equal(s, "abc"); /* copies are NUL-terminated */
    assert_int_equal(zpk_node_get_bin(n, &p, &len), ZPK_ETYPE);
    zpk_doc_destroy(&d);

    d = s_ok(B(0xd9, 0x02, 'h', 'i'));
    assert_int_equal(zpk_node_get_str(zpk_doc_root(d), &s, NULL), 0);
    assert_string_equal(s, "hi");
    zpk_doc_destroy(&d);

    d = s_ok(B(0xa0));
    assert_int_equal(zpk_node_get_str(zpk_doc_root(d), &s, &len), 0);
    assert_int_equal(len, 0);
    assert_string_equal(s, "");
    zpk_doc_destroy(&d);

    d = s_ok(B(0xc5, 0x00, 0x03, 1, 2, 3));
    n = zpk_doc_root(d);
    assert_int_equal(zpk_node_type(n), ZPK_TYPE_BIN);
    assert_int_equal(zpk_node_get_bin(n, &p, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(p, ((uint8_t[]){1, 2, 3}), 3);
    assert_int_equal(zpk_node_get_str(n, &s, &len), ZPK_ETYPE);
    zpk_doc_destroy(&d);

    d = s_ok(B(0xd5, 0x07, 0xaa, 0xbb));
    n = zpk_doc_root(d);
    assert_int_equal(zpk_node_type(n), ZPK_TYPE_EXT);
    assert_int_equal(zpk_node_get_ext(n, &et, &p, &len), 0);
    assert_int_equal(et, 7);
    assert_int_equal(len, 2);
    assert_memory_equal(p, ((uint8_t[]){0xaa, 0xbb}), 2);
    zpk_timestamp_t ts;
    assert_int_equal(zpk_node_get_timestamp(n, &ts), ZPK_ETYPE);
    zpk_doc_destroy(&d);

    d = s_ok(B(0xc7, 0x00, 0x80));
    assert_int_equal(zpk_node_get_ext(zpk_doc_root(d), &et, &p, &len), 0);
    assert_int_equal(et, -128);
    assert_int_equal(len, 0);
    zpk_doc_destroy(&d);
}

static void test_timestamps(void **state)
{
    (void)state;
    zpk_timestamp_t ts;
    zpk_doc_t *d = s_ok(B(0xd6, 0xff, 0x00, 0x00, 0x00, 0x01));
    assert_int_equal(zpk_node_get_timestamp(zpk_doc_root(d), &ts), 0);
    assert_int_equal(ts.sec, 1);
    assert_int_equal(ts.nsec, 0);
    zpk_doc_destroy(&d);

    /* ts64: nsec 1, sec 2**34 - 1 */
    d = s_ok(B(0xd7, 0xff, 0x00, 0x00, 0x00, 0x07, 0xff, 0xff, 0xff, 0xff));
    assert_int_equal(zpk_node_get_timestamp(zpk_doc_root(d), &ts), 0);
    assert_true(ts.sec == INT64_C(0x3ffffffff));
    assert_int_equal(ts.nsec, 1);
    zpk_doc_destroy(&d);

    /* ts96: nsec 999999999, sec -1 */
    d = s_ok(B(0xc7, 12, 0xff, 0x3b, 0x9a, 0xc9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
               0xff, 0xff));
    assert_int_equal(zpk_node_get_timestamp(zpk_doc_root(d), &ts), 0);
    assert_int_equal(ts.sec, -1);
    assert_int_equal(ts.nsec, 999999999);
    zpk_doc_destroy(&d);

    /* nsec 1000000000 is rejected */
    d = s_ok(B(0xc7, 12, 0xff, 0x3b, 0x9a, 0xca, 0x00, 0, 0, 0, 0, 0, 0, 0, 0));
    assert_int_equal(zpk_node_get_timestamp(zpk_doc_root(d), &ts), ZPK_EFORMAT);
    zpk_doc_destroy(&d);

    /* ext -1 of a size that is not 4, 8 or 12 */
    d = s_ok(B(0xd4, 0xff, 0x00));
    assert_int_equal(zpk_node_get_timestamp(zpk_doc_root(d), &ts), ZPK_EFORMAT);
    zpk_doc_destroy(&d);

    d = s_ok(B(0x01));
    assert_int_equal(zpk_node_get_timestamp(zpk_doc_root(d), &ts), ZPK_ETYPE);
    zpk_doc_destroy(&d);
}

static void test_containers(void **state)
{
    (void)state;
    /* {"a": 1, "bb": [1, 2], 3: "x", "": nil} */
    zpk_doc_t *d = s_ok(B(0x84, 0xa1, 'a', 0x01, 0xa2, 'b', 'b', 0x92, 0x01, 0x02, 0x03, 0xa1,
                          'x', 0xa0, 0xc0));
    const zpk_node_t *m = zpk_doc_root(d);
    assert_int_equal(zpk_node_type(m), ZPK_TYPE_MAP);
    assert_int_equal(zpk_node_len(m), 4);

    const zpk_node_t *bb = zpk_node_map_get(m, "bb");
    assert_int_equal(zpk_node_type(bb), ZPK_TYPE_ARRAY);
    assert_int_equal(zpk_node_len(bb), 2);
    uint64_t u;
    assert_int_equal(zpk_node_get_uint(zpk_node_array_at(bb, 1), &u), 0);
    assert_int_equal(u, 2);
    assert_null(zpk_node_array_at(bb, 2));
    assert_null(zpk_node_array_at(m, 0)); /* not an array */

    assert_null(zpk_node_map_get(m, "zz"));
    assert_null(zpk_node_map_get(m, "b"));
    assert_null(zpk_node_map_get(m, NULL));
    assert_null(zpk_node_map_get(bb, "a")); /* not a map */
    assert_non_null(zpk_node_map_getn(m, "bbq", 2));
    assert_true(zpk_node_is_nil(zpk_node_map_get(m, "")));

    const zpk_node_t *k = zpk_node_map_key(m, 2);
    assert_int_equal(zpk_node_type(k), ZPK_TYPE_UINT);
    const char *s;
    assert_int_equal(zpk_node_get_str(zpk_node_map_value(m, 2), &s, NULL), 0);
    assert_string_equal(s, "x");
    assert_null(zpk_node_map_key(m, 4));
    assert_null(zpk_node_map_value(m, 4));
    assert_null(zpk_node_map_key(bb, 0));
    int64_t i;
    assert_int_equal(zpk_node_get_int(m, &i), ZPK_ETYPE);
    zpk_doc_destroy(&d);

    /* empty containers */
    d = s_ok(B(0x92, 0x90, 0x80));
    m = zpk_doc_root(d);
    assert_int_equal(zpk_node_len(zpk_node_array_at(m, 0)), 0);
    assert_int_equal(zpk_node_type(zpk_node_array_at(m, 1)), ZPK_TYPE_MAP);
    assert_null(zpk_node_array_at(zpk_node_array_at(m, 0), 0));
    zpk_doc_destroy(&d);

    /* array16 / map16 headers */
    d = s_ok(B(0xdc, 0x00, 0x02, 0xde, 0x00, 0x01, 0x01, 0x02, 0xc0));
    m = zpk_doc_root(d);
    assert_int_equal(zpk_node_len(m), 2);
    assert_int_equal(zpk_node_len(zpk_node_array_at(m, 0)), 1);
    zpk_doc_destroy(&d);
}

static void test_borrow_and_copy(void **state)
{
    (void)state;
    const uint8_t in[] = {0x92, 0xa3, 'x', 'y', 'z', 0xc4, 0x01, 0x09};
    zpk_doc_t *d = NULL;
    zpk_error_t err;
    const char *s;
    const uint8_t *p;

    assert_int_equal(s_parse(in, sizeof in, ZPK_DOC_BORROW, &d, &err), 0);
    assert_int_equal(zpk_node_get_str(zpk_node_array_at(zpk_doc_root(d), 0), &s, NULL), 0);
    assert_ptr_equal(s, (const char *)in + 2);
    assert_int_equal(zpk_node_get_bin(zpk_node_array_at(zpk_doc_root(d), 1), &p, NULL), 0);
    assert_ptr_equal(p, in + 7);
    zpk_doc_destroy(&d);

    assert_int_equal(s_parse(in, sizeof in, 0, &d, &err), 0);
    assert_int_equal(zpk_node_get_str(zpk_node_array_at(zpk_doc_root(d), 0), &s, NULL), 0);
    assert_true((const uint8_t *)s < in || (const uint8_t *)s >= in + sizeof in);
    assert_memory_equal(s, "xyz", 4);
    zpk_doc_destroy(&d);
}

static int s_released;
static void s_release(void *ud)
{
    s_released++;
    *(int *)ud += 10;
}

static void test_owner_hook(void **state)
{
    (void)state;
    int token = 0;
    s_released = 0;
    zpk_doc_t *d = s_ok(B(0x91, 0x01));
    assert_int_equal(zpk_doc_set_owner(d, s_release, &token), 0);
    assert_int_equal(zpk_doc_set_owner(d, s_release, &token), ZPK_EINVAL); /* first kept */
    assert_int_equal(zpk_doc_set_owner(d, NULL, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_doc_set_owner(NULL, s_release, &token), ZPK_EINVAL);
    zpk_doc_destroy(&d);
    assert_null(d);
    zpk_doc_destroy(&d);
    assert_int_equal(s_released, 1);
    assert_int_equal(token, 10);
}

static void test_extra_data(void **state)
{
    (void)state;
    zpk_doc_t *d = NULL;
    zpk_error_t err;
    assert_int_equal(s_parse(B(0x92, 0x01, 0x02, 0xc1, 0xc1), 0, &d, &err), ZPK_EEXTRADATA);
    assert_non_null(d); /* the caller owns the complete object */
    assert_int_equal(zpk_doc_consumed(d), 3);
    assert_int_equal(err.code, ZPK_EEXTRADATA);
    assert_int_equal(err.offset, 3);
    assert_int_equal(zpk_node_len(zpk_doc_root(d)), 2);
    zpk_doc_destroy(&d);

    assert_int_equal(zpk_doc_parse(B(0x01, 0x02), NULL, 0, &d, NULL), ZPK_EEXTRADATA);
    assert_int_equal(zpk_doc_consumed(d), 1);
    zpk_doc_destroy(&d);
}

static void s_expect_error(const uint8_t *data, size_t len, int code, size_t offset)
{
    zpk_doc_t *d = (zpk_doc_t *)&d; /* must be reset to NULL */
    zpk_error_t err;
    assert_int_equal(s_parse(data, len, 0, &d, &err), code);
    assert_null(d);
    assert_int_equal(err.code, code);
    assert_int_equal(err.offset, offset);
    assert_true(strlen(err.text) > 0);
}

static void test_malformed(void **state)
{
    (void)state;
    s_expect_error(B(0xc1), ZPK_EFORMAT, 0);
    s_expect_error(B(0x93, 0x01, 0x02, 0xc1), ZPK_EFORMAT, 3);
    s_expect_error(B(0x81, 0xc1, 0x01), ZPK_EFORMAT, 1);
    s_expect_error(B(0x91, 0x81, 0xa1, 'k', 0xc1), ZPK_EFORMAT, 4);
    /* truncations: EOUTOFDATA at the end of the input */
    s_expect_error((const uint8_t *)"", 0, ZPK_EOUTOFDATA, 0);
    s_expect_error(B(0xcd, 0x01), ZPK_EOUTOFDATA, 2);
    s_expect_error(B(0x92, 0x01), ZPK_EOUTOFDATA, 2);
    s_expect_error(B(0xd9, 0x05, 'a', 'b'), ZPK_EOUTOFDATA, 4);
    s_expect_error(B(0xc7, 0x02), ZPK_EOUTOFDATA, 2);
    s_expect_error(B(0x81, 0x01), ZPK_EOUTOFDATA, 2);
    s_expect_error(B(0xcb, 0, 0, 0, 0, 0, 0, 0), ZPK_EOUTOFDATA, 8);
    /* 5 bytes claiming 4 billion elements: no large allocation */
    harness_alloc_install();
    harness_alloc_reset_peaks();
    /* the default limits refuse the length itself */
    s_expect_error(B(0xdd, 0xff, 0xff, 0xff, 0xff), ZPK_ELIMIT, 0);
    s_expect_error(B(0xdf, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02), ZPK_ELIMIT, 0);
    s_expect_error(B(0xdb, 0xff, 0xff, 0xff, 0xf0, 'a'), ZPK_ELIMIT, 0);
    /* with no limits the bytes are simply not there */
    zpk_limits_t big = {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, 10};
    const uint8_t *cases[] = {
        (const uint8_t[]){0xdd, 0xff, 0xff, 0xff, 0xff},
        (const uint8_t[]){0xdf, 0xff, 0xff, 0xff, 0xff},
        (const uint8_t[]){0xdb, 0xff, 0xff, 0xff, 0xff},
        (const uint8_t[]){0xc6, 0xff, 0xff, 0xff, 0xff},
        (const uint8_t[]){0xc9, 0xff, 0xff, 0xff, 0xff},
    };
    for (size_t c = 0; c < 5; c++) {
        zpk_doc_t *d = NULL;
        zpk_error_t err;
        zpk_error_clear(&err);
        assert_int_equal(zpk_doc_parse(cases[c], 5, &big, 0, &d, &err), ZPK_EOUTOFDATA);
        assert_int_equal(err.offset, 5);
    }
    assert_true(harness_alloc_stats().largest < 4096);
    harness_alloc_uninstall();

    /* argument errors */
    zpk_doc_t *d = NULL;
    assert_int_equal(zpk_doc_parse(B(0x01), NULL, 0, NULL, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_doc_parse(NULL, 3, NULL, 0, &d, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_doc_parse(B(0x01), NULL, 0x100, &d, NULL), ZPK_EINVAL);
    assert_null(d);
}

static void test_limits_one_shot(void **state)
{
    (void)state;
    zpk_limits_t lim;
    zpk_limits_default(&lim, 0);
    lim.max_str_len = 3;
    lim.max_array_len = 2;
    lim.max_depth = 2;
    zpk_doc_t *d = NULL;
    zpk_error_t err;
    zpk_error_clear(&err);
    assert_int_equal(zpk_doc_parse(B(0xa3, 'a', 'b', 'c'), &lim, 0, &d, &err), 0);
    zpk_doc_destroy(&d);
    assert_int_equal(zpk_doc_parse(B(0x91, 0xa4, 'a', 'b', 'c', 'd'), &lim, 0, &d, &err),
                     ZPK_ELIMIT);
    assert_int_equal(err.offset, 1);
    assert_null(d);
    zpk_error_clear(&err);
    assert_int_equal(zpk_doc_parse(B(0x91, 0x91, 0x90), &lim, 0, &d, &err), ZPK_ETOODEEP);
    assert_int_equal(err.offset, 2);
    assert_int_equal(zpk_doc_parse(B(0x91, 0x91, 0x01), &lim, 0, &d, NULL), 0);
    zpk_doc_destroy(&d);
    assert_int_equal(zpk_doc_parse(B(0x93, 0x01, 0x01, 0x01), &lim, 0, &d, &err), ZPK_ELIMIT);
    assert_non_null(strstr(err.text, "array longer than max_array_len"));
    /* a map names its own limit */
    lim.max_map_len = 1;
    assert_int_equal(zpk_doc_parse(B(0x82, 0x01, 0x01, 0x02, 0x02), &lim, 0, &d, &err), ZPK_ELIMIT);
    assert_non_null(strstr(err.text, "map longer than max_map_len"));
}

static void test_utf8_flag(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool valid;
    } cases[] = {
        {"plain ascii text, longer than eight", true},
        {"caf\xc3\xa9", true},
        {"\xf0\x9f\x98\x80 emoji", true},
        {"\xe2\x82\xac", true},
        {"\xc3\x28", false},          /* bad continuation */
        {"\xc0\xaf", false},          /* overlong */
        {"\xe0\x80\xaf", false},      /* overlong */
        {"\xed\xa0\x80", false},      /* surrogate */
        {"\xf4\x90\x80\x80", false},  /* above U+10FFFF */
        {"abcdefgh\xe2\x82", false},  /* truncated sequence */
        {"\xff", false},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint8_t buf[64];
        size_t n = strlen(cases[c].s);
        buf[0] = 0xd9;
        buf[1] = (uint8_t)n;
        memcpy(buf + 2, cases[c].s, n);
        zpk_doc_t *d = NULL;
        zpk_error_t err;
        assert_int_equal(s_parse(buf, n + 2, 0, &d, &err), 0); /* unchecked by default */
        zpk_doc_destroy(&d);
        int rc = s_parse(buf, n + 2, ZPK_DOC_CHECK_UTF8, &d, &err);
        if (cases[c].valid) {
            assert_int_equal(rc, 0);
            zpk_doc_destroy(&d);
        } else {
            assert_int_equal(rc, ZPK_EUTF8);
            assert_int_equal(err.offset, 0);
            assert_null(d);
        }
    }
}

static void s_roundtrip(const uint8_t *in, size_t len)
{
    zpk_doc_t *d = s_ok(in, len);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    assert_int_equal(zpk_node_write(&w, zpk_doc_root(d)), 0);
    assert_int_equal(zpk_writer_size(&w), len);
    assert_memory_equal(zpk_writer_data(&w), in, len);
    zpk_writer_free(&w);
    zpk_doc_destroy(&d);
}

static void test_write_roundtrip(void **state)
{
    (void)state;
    s_roundtrip(B(0xc0));
    s_roundtrip(B(0x7f));
    s_roundtrip(B(0xe0));
    s_roundtrip(B(0xcc, 0x80));
    s_roundtrip(B(0xd1, 0x80, 0x00));
    s_roundtrip(B(0xcf, 0x01, 0, 0, 0, 0, 0, 0, 0));
    s_roundtrip(B(0xca, 0x3f, 0xc0, 0x00, 0x00));
    s_roundtrip(B(0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0));
    s_roundtrip(B(0x93, 0xa1, 'a', 0xc4, 0x01, 0x02, 0x82, 0x01, 0x90, 0xa0, 0x80));
    s_roundtrip(B(0xd6, 0xff, 0, 0, 0, 1));
    s_roundtrip(B(0xc7, 0x03, 0x05, 1, 2, 3));
    s_roundtrip(B(0xd8, 0x05, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16));

    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    assert_int_equal(zpk_node_write(&w, NULL), ZPK_EINVAL);
    zpk_writer_free(&w);

    /* a writer error comes back */
    zpk_doc_t *d = s_ok(B(0x92, 0xa3, 'a', 'b', 'c', 0x01));
    uint8_t small[3];
    zpk_writer_init_buffer(&w, small, sizeof small);
    assert_int_equal(zpk_node_write(&w, zpk_doc_root(d)), ZPK_EBUFFULL);
    zpk_doc_destroy(&d);
}

/* A tree is written as one value: zpk_writer_check_one_object() counts it
 * once, whichever writes fell back to the writer's functions on the way. */
static void test_write_counts_one_value(void **state)
{
    (void)state;
    /* a map of 20 pairs and a str of 40 bytes take the functions */
    uint8_t in[256];
    size_t n = 0;
    in[n++] = 0x92;
    in[n++] = 0xde, in[n++] = 0, in[n++] = 20;
    for (int i = 0; i < 20; i++)
        in[n++] = (uint8_t)i, in[n++] = 0xc0;
    in[n++] = 0xd9, in[n++] = 40;
    memset(in + n, 'x', 40);
    n += 40;
    zpk_doc_t *d = s_ok(in, n);
    zpk_writer_t w;
    for (size_t cap = 1; cap <= n + 1; cap += 7) { /* fallbacks at every point */
        zpk_writer_init_growable(&w, cap);
        assert_int_equal(zpk_node_write(&w, zpk_doc_root(d)), 0);
        assert_int_equal(zpk_writer_check_one_object(&w, NULL), 0);
        assert_int_equal(zpk_node_write(&w, zpk_doc_root(d)), 0);
        assert_int_equal(zpk_writer_check_one_object(&w, NULL), ZPK_EINVAL); /* two */
        zpk_writer_free(&w);
    }
    /* inside an array the caller opened: one element */
    zpk_writer_init_growable(&w, 0);
    zpk_write_array(&w, 2);
    assert_int_equal(zpk_node_write(&w, zpk_node_array_at(zpk_doc_root(d), 0)), 0);
    zpk_error_t err;
    assert_int_equal(zpk_writer_check_one_object(&w, &err), ZPK_EINVAL);
    assert_non_null(strstr(err.text, "1 more values"));
    assert_int_equal(zpk_node_write(&w, zpk_node_array_at(zpk_doc_root(d), 1)), 0);
    assert_int_equal(zpk_writer_check_one_object(&w, NULL), 0);
    zpk_writer_free(&w);
    zpk_doc_destroy(&d);
}

/* Nesting 100,000 deep: parses with a raised limit, destroys and re-encodes
 * without recursion; fails cleanly at the default limit. */
static void test_deep_nesting(void **state)
{
    (void)state;
    const size_t depth = 100000;
    uint8_t *buf = malloc(depth + 1);
    assert_non_null(buf);
    memset(buf, 0x91, depth);
    buf[depth] = 0xc0;
    zpk_doc_t *d = NULL;
    zpk_error_t err;
    zpk_error_clear(&err);
    assert_int_equal(zpk_doc_parse(buf, depth + 1, NULL, 0, &d, &err), ZPK_ETOODEEP);
    assert_int_equal(err.offset, ZPK_DEFAULT_MAX_DEPTH);

    zpk_limits_t lim;
    zpk_limits_default(&lim, 0);
    lim.max_depth = depth;
    assert_int_equal(zpk_doc_parse(buf, depth + 1, &lim, 0, &d, NULL), 0);
    const zpk_node_t *n = zpk_doc_root(d);
    for (size_t i = 0; i < depth; i++)
        n = zpk_node_array_at(n, 0);
    assert_true(zpk_node_is_nil(n));
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    assert_int_equal(zpk_node_write(&w, zpk_doc_root(d)), 0);
    assert_int_equal(zpk_writer_size(&w), depth + 1);
    assert_memory_equal(zpk_writer_data(&w), buf, depth + 1);
    zpk_writer_free(&w);
    zpk_doc_destroy(&d);

    lim.max_depth = depth - 1;
    zpk_error_clear(&err);
    assert_int_equal(zpk_doc_parse(buf, depth + 1, &lim, 0, &d, &err), ZPK_ETOODEEP);
    assert_int_equal(err.offset, depth - 1);
    free(buf);
}

/* Nested containers each claiming as many elements as there are bytes
 * left: the one-shot preallocation stays bounded by the real input. */
static void test_no_amplification(void **state)
{
    (void)state;
    const size_t levels = 1000, filler = 65535;
    size_t len = levels * 3 + filler;
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    for (size_t i = 0; i < levels; i++) {
        buf[3 * i] = 0xdc;
        buf[3 * i + 1] = 0xff;
        buf[3 * i + 2] = 0xff;
    }
    memset(buf + levels * 3, 0xc0, filler);
    harness_alloc_install();
    harness_alloc_reset_peaks();
    zpk_doc_t *d = NULL;
    zpk_error_t err;
    zpk_error_clear(&err);
    assert_int_equal(zpk_doc_parse(buf, len, NULL, 0, &d, &err), ZPK_EOUTOFDATA);
    assert_null(d);
    assert_true(harness_alloc_stats().peak_bytes < 40 * len);
    /* a streaming unpacker only holds what arrived */
    zpk_unpacker_t *u = zpk_unpacker_new(NULL, 0);
    assert_int_equal(zpk_unpacker_feed(u, buf, len), 0);
    assert_int_equal(zpk_unpacker_next(u, &d), ZPK_EOUTOFDATA);
    /* buffer + at most 16 bytes of slots per byte + a doubling value stack */
    assert_true(harness_alloc_stats().peak_bytes < 64 * len);
    zpk_unpacker_destroy(&u);
    harness_alloc_uninstall();
    free(buf);
}

/* Allocation failure at each allocation of a parse: a clean error, no leak. */
static void test_alloc_failures(void **state)
{
    (void)state;
    size_t len;
    uint8_t *data = harness_corpus_or_sample("corpus/github.mpack", &len);
    harness_alloc_install();
    zpk_doc_t *ref = NULL;
    assert_int_equal(zpk_doc_parse(data, len, NULL, 0, &ref, NULL), 0);
    size_t ref_blocks = harness_alloc_stats().live_blocks;
    int rc = ZPK_ENOMEM;
    size_t n;
    for (n = 1; n < 10000 && rc != 0; n++) {
        zpk_doc_t *d = NULL;
        harness_alloc_fail_after(n);
        rc = zpk_doc_parse(data, len, NULL, 0, &d, NULL);
        harness_alloc_fail_after(0);
        if (rc == 0) {
            assert_true(tree_equal(zpk_doc_root(d), zpk_doc_root(ref)));
            zpk_doc_destroy(&d);
        } else {
            assert_int_equal(rc, ZPK_ENOMEM);
            assert_null(d);
            assert_int_equal(harness_alloc_stats().live_blocks, ref_blocks); /* only ref */
        }
    }
    assert_int_equal(rc, 0);
    assert_true(n > 2);
    zpk_doc_destroy(&ref);
    harness_alloc_uninstall();
    free(data);
}

/* float 32 keeps its exact bits, a signalling NaN included (fuzz: roundtrip) */
static void test_float_exact_bits(void **state)
{
    (void)state;
    static const uint8_t in[] = {0x92, 0xca, 0x7f, 0x80, 0x12, 0xdf, 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0};
    zpk_doc_t *doc = NULL;
    assert_int_equal(zpk_doc_parse(in, sizeof in, NULL, 0, &doc, NULL), 0);
    const zpk_node_t *root = zpk_doc_root(doc);
    float f = 0;
    assert_int_equal(zpk_node_get_float(zpk_node_array_at(root, 0), &f), 0);
    uint32_t bits;
    memcpy(&bits, &f, 4);
    assert_int_equal(bits, 0x7f8012dfu);
    assert_int_equal(zpk_node_get_float(zpk_node_array_at(root, 1), &f), ZPK_ETYPE);
    assert_int_equal(zpk_node_get_float(NULL, &f), ZPK_EINVAL);
    /* and re-encoding writes the same bytes */
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    assert_int_equal(zpk_node_write(&w, root), 0);
    assert_int_equal(zpk_writer_size(&w), sizeof in);
    assert_memory_equal(zpk_writer_data(&w), in, sizeof in);
    zpk_writer_free(&w);
    zpk_doc_destroy(&doc);
}

/* Caller mistakes: every entry point of the document API refuses NULL. */
static void test_null_arguments(void **state)
{
    (void)state;
    zpk_doc_t *d = (zpk_doc_t *)1;
    zpk_error_t err;
    assert_int_equal(zpk_doc_parse("\x01", 1, NULL, 0, NULL, &err), ZPK_EINVAL);
    assert_int_equal(zpk_doc_parse(NULL, 1, NULL, 0, &d, &err), ZPK_EINVAL);
    assert_null(d);
    assert_int_equal(zpk_doc_parse("\x01", 1, NULL, 0x80, &d, &err), ZPK_EINVAL);
    zpk_doc_destroy(NULL);
    zpk_doc_destroy(&d);
    assert_int_equal(zpk_doc_set_owner(NULL, free, NULL), ZPK_EINVAL);
    assert_null(zpk_doc_root(NULL));
    assert_int_equal(zpk_doc_consumed(NULL), 0);
    assert_int_equal(zpk_node_type(NULL), 0);
    assert_int_equal(zpk_node_len(NULL), 0);
    assert_false(zpk_node_is_nil(NULL));
    assert_null(zpk_node_array_at(NULL, 0));
    assert_null(zpk_node_map_get(NULL, "k"));
    assert_null(zpk_node_map_getn(NULL, "k", 1));
    assert_null(zpk_node_map_key(NULL, 0));
    assert_null(zpk_node_map_value(NULL, 0));
    int64_t i;
    uint64_t u;
    double x;
    float f;
    bool b;
    const char *s;
    const uint8_t *p;
    size_t len;
    int8_t et;
    zpk_timestamp_t ts;
    assert_int_equal(zpk_node_get_int(NULL, &i), ZPK_EINVAL);
    assert_int_equal(zpk_node_get_uint(NULL, &u), ZPK_EINVAL);
    assert_int_equal(zpk_node_get_double(NULL, &x), ZPK_EINVAL);
    assert_int_equal(zpk_node_get_float(NULL, &f), ZPK_EINVAL);
    assert_int_equal(zpk_node_get_bool(NULL, &b), ZPK_EINVAL);
    assert_int_equal(zpk_node_get_str(NULL, &s, &len), ZPK_EINVAL);
    assert_int_equal(zpk_node_get_bin(NULL, &p, &len), ZPK_EINVAL);
    assert_int_equal(zpk_node_get_ext(NULL, &et, &p, &len), ZPK_EINVAL);
    assert_int_equal(zpk_node_get_timestamp(NULL, &ts), ZPK_EINVAL);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    assert_int_equal(zpk_node_write(&w, NULL), ZPK_EINVAL);
    zpk_writer_free(&w);

    /* a real node, NULL outputs */
    d = s_ok(B(0x92, 0xa1, 'a', 0xd6, 0xff, 0, 0, 0, 1));
    const zpk_node_t *root = zpk_doc_root(d);
    assert_int_equal(zpk_node_write(NULL, root), ZPK_EINVAL);
    assert_null(zpk_node_map_get(root, NULL));
    assert_null(zpk_node_array_at(root, 2)); /* out of range */
    assert_int_equal(zpk_doc_set_owner(d, NULL, NULL), ZPK_EINVAL);
    const zpk_node_t *str = zpk_node_array_at(root, 0), *ext = zpk_node_array_at(root, 1);
    assert_int_equal(zpk_node_get_int(str, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_node_get_uint(str, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_node_get_double(str, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_node_get_float(str, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_node_get_bool(str, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_node_get_timestamp(ext, NULL), ZPK_EINVAL);
    /* the length is optional, the pointer and the ext type are not */
    assert_int_equal(zpk_node_get_str(str, NULL, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_node_get_str(str, &s, NULL), 0);
    assert_int_equal(zpk_node_get_bin(str, NULL, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_node_get_ext(ext, NULL, &p, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_node_get_ext(ext, &et, NULL, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_node_get_ext(ext, &et, &p, NULL), 0);
    zpk_doc_destroy(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_strings_bin_ext),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_containers),
        cmocka_unit_test(test_borrow_and_copy),
        cmocka_unit_test(test_owner_hook),
        cmocka_unit_test(test_extra_data),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_limits_one_shot),
        cmocka_unit_test(test_utf8_flag),
        cmocka_unit_test(test_write_roundtrip),
        cmocka_unit_test(test_write_counts_one_value),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_no_amplification),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_float_exact_bits),
        cmocka_unit_test(test_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
