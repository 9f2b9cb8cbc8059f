/* dtype: typestrs and numpy names, byte order, byte swapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "internal.h"
#include "zmqpack.h"

static zpk_dtype_t s_parse_ok(const char *s)
{
    zpk_dtype_t dt;
    zpk_error_t err;
    zpk_error_clear(&err);
    int rc = zpk_dtype_parse(s, strlen(s), &dt, &err);
    if (rc != 0)
        fail_msg("'%s' refused: %s", s, err.text);
    return dt;
}

static void s_expect(const char *s, char kind, unsigned size, char order)
{
    zpk_dtype_t dt = s_parse_ok(s);
    if (dt.kind != kind || dt.itemsize != size || dt.byteorder != order)
        fail_msg("'%s' -> %c%u%c, want %c%u%c", s, dt.kind, dt.itemsize, dt.byteorder, kind,
                 size, order);
}

static void test_every_typestr_both_orders(void **state)
{
    (void)state;
    static const struct { char kind; unsigned sizes[4]; } kinds[] = {
        {'b', {1}}, {'i', {1, 2, 4, 8}}, {'u', {1, 2, 4, 8}},
        {'f', {2, 4, 8, 16}}, {'c', {8, 16, 32}},
    };
    const char orders[] = {'<', '>', '|', '='};
    for (size_t k = 0; k < 5; k++) {
        for (size_t j = 0; j < 4 && kinds[k].sizes[j]; j++) {
            unsigned size = kinds[k].sizes[j];
            for (size_t o = 0; o < 4; o++) {
                char s[16];
                snprintf(s, sizeof s, "%c%c%u", orders[o], kinds[k].kind, size % 100u);
                zpk_dtype_t dt;
                int rc = zpk_dtype_parse(s, strlen(s), &dt, NULL);
                if (size == 1) {
                    assert_int_equal(rc, 0); /* any prefix; normalised to '|' */
                    assert_int_equal(dt.byteorder, '|');
                } else if (orders[o] == '|') {
                    assert_int_equal(rc, ZPK_EDTYPE);
                    continue;
                } else {
                    assert_int_equal(rc, 0);
                    char want = orders[o] == '=' ? ZPK_BYTEORDER_NATIVE : orders[o];
                    assert_int_equal(dt.byteorder, want);
                }
                assert_int_equal(dt.kind, kinds[k].kind);
                assert_int_equal(dt.itemsize, size);
                assert_true(zpk_dtype_valid(dt));
                /* format gives the canonical typestr back */
                char out[ZPK_DTYPE_STR_SIZE];
                int n = zpk_dtype_format(dt, out, sizeof out);
                assert_true(n >= 3);
                assert_int_equal((size_t)n, strlen(out));
                zpk_dtype_t again = s_parse_ok(out);
                assert_true(zpk_dtype_equal(dt, again));
                if (orders[o] == '<' || orders[o] == '>' || size == 1) {
                    if (size > 1)
                        assert_string_equal(out, s);
                }
            }
        }
    }
    s_expect("<f8", 'f', 8, '<');
    s_expect(">i4", 'i', 4, '>');
    s_expect("|u1", 'u', 1, '|');
    s_expect("|b1", 'b', 1, '|');
    s_expect("<c16", 'c', 16, '<');
    s_expect("<f2", 'f', 2, '<');
    s_expect("f8", 'f', 8, ZPK_BYTEORDER_NATIVE);
    s_expect("?", 'b', 1, '|');
    s_expect("|?", 'b', 1, '|');
}

static void test_numpy_names(void **state)
{
    (void)state;
    const char nat = ZPK_BYTEORDER_NATIVE;
    s_expect("bool", 'b', 1, '|');
    s_expect("int8", 'i', 1, '|');
    s_expect("int16", 'i', 2, nat);
    s_expect("int32", 'i', 4, nat);
    s_expect("int64", 'i', 8, nat);
    s_expect("uint8", 'u', 1, '|');
    s_expect("uint16", 'u', 2, nat);
    s_expect("uint32", 'u', 4, nat);
    s_expect("uint64", 'u', 8, nat);
    s_expect("float16", 'f', 2, nat);
    s_expect("float32", 'f', 4, nat);
    s_expect("float64", 'f', 8, nat);
    s_expect("float128", 'f', 16, nat);
    s_expect("complex64", 'c', 8, nat);
    s_expect("complex128", 'c', 16, nat);
    s_expect("complex256", 'c', 32, nat);
    /* name() is the inverse, whatever the order */
    zpk_dtype_t dt = s_parse_ok(">c8");
    assert_string_equal(zpk_dtype_name(dt), "complex64");
    assert_string_equal(zpk_dtype_name(s_parse_ok("|b1")), "bool");
    assert_string_equal(zpk_dtype_name(s_parse_ok("<u2")), "uint16");
    dt.itemsize = 3;
    assert_null(zpk_dtype_name(dt));
    /* not NUL-terminated: exactly len bytes are read */
    assert_int_equal(zpk_dtype_parse("int32XYZ", 5, &dt, NULL), 0);
    assert_int_equal(dt.kind, 'i');
    assert_int_equal(dt.itemsize, 4);
}

static void test_refused_with_clear_text(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "<M8[ns]", "<m8[s]", "|S5", "<U3", "|V8", "|O", "", "<", "f", "<f3", "<i16",
        "<c4", "|f8", "<f08", "<f8 ", "float", "int", "float63", "datetime64[ns]",
        "b", "<b2", "??", "<x4", "<f1234",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        zpk_dtype_t dt = {0, 0, 0};
        zpk_error_t err;
        zpk_error_clear(&err);
        int rc = zpk_dtype_parse(bad[i], strlen(bad[i]), &dt, &err);
        if (rc != ZPK_EDTYPE)
            fail_msg("'%s' gave %d, want EDTYPE", bad[i], rc);
        assert_int_equal(err.code, ZPK_EDTYPE);
        assert_true(strlen(err.text) > 5);
    }
    zpk_error_t err;
    zpk_error_clear(&err);
    zpk_dtype_t dt;
    assert_int_equal(zpk_dtype_parse("<M8[ns]", 7, &dt, &err), ZPK_EDTYPE);
    assert_non_null(strstr(err.text, "datetime64"));
    assert_int_equal(zpk_dtype_parse(NULL, 3, &dt, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_dtype_parse("<f8", 3, NULL, NULL), ZPK_EINVAL);
}

static void test_format_errors(void **state)
{
    (void)state;
    char buf[8];
    zpk_dtype_t dt = s_parse_ok("<c32");
    assert_int_equal(zpk_dtype_format(dt, buf, 4), ZPK_EBUFFULL);
    assert_int_equal(zpk_dtype_format(dt, buf, 5), 4);
    assert_string_equal(buf, "<c32");
    dt.byteorder = '|'; /* '|' on a multi-byte type is not valid */
    assert_int_equal(zpk_dtype_format(dt, buf, sizeof buf), ZPK_EDTYPE);
    assert_false(zpk_dtype_valid(dt));
    zpk_dtype_t u1 = {'u', '<', 1}; /* 1-byte types carry '|' */
    assert_false(zpk_dtype_valid(u1));
}

static void test_native_and_byteswap(void **state)
{
    (void)state;
    zpk_dtype_t be = s_parse_ok(">i4");
    zpk_dtype_t le = s_parse_ok("<i4");
    assert_true(zpk_dtype_is_native(ZPK_BYTEORDER_NATIVE == '<' ? le : be));
    assert_false(zpk_dtype_is_native(ZPK_BYTEORDER_NATIVE == '<' ? be : le));
    assert_true(zpk_dtype_is_native(s_parse_ok("|u1")));
    assert_int_equal(zpk_dtype_to_native(be).byteorder, ZPK_BYTEORDER_NATIVE);
    assert_int_equal(zpk_dtype_to_native(s_parse_ok("|u1")).byteorder, '|');

    uint8_t d4[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(zpk_dtype_byteswap(be, d4, 8), 0);
    const uint8_t w4[8] = {4, 3, 2, 1, 8, 7, 6, 5};
    assert_memory_equal(d4, w4, 8);
    assert_int_equal(zpk_dtype_byteswap(be, d4, 7), ZPK_ESHAPE);

    uint8_t d2[4] = {1, 2, 3, 4};
    assert_int_equal(zpk_dtype_byteswap(s_parse_ok(">u2"), d2, 4), 0);
    const uint8_t w2[4] = {2, 1, 4, 3};
    assert_memory_equal(d2, w2, 4);

    uint8_t d8[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(zpk_dtype_byteswap(s_parse_ok(">f8"), d8, 8), 0);
    const uint8_t w8[8] = {8, 7, 6, 5, 4, 3, 2, 1};
    assert_memory_equal(d8, w8, 8);

    /* complex: each half on its own */
    uint8_t c8[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(zpk_dtype_byteswap(s_parse_ok(">c8"), c8, 8), 0);
    assert_memory_equal(c8, w4, 8);

    /* 16-byte long double: the whole item reversed */
    uint8_t l16[16], w16[16];
    for (int i = 0; i < 16; i++) {
        l16[i] = (uint8_t)i;
        w16[i] = (uint8_t)(15 - i);
    }
    assert_int_equal(zpk_dtype_byteswap(s_parse_ok(">f16"), l16, 16), 0);
    assert_memory_equal(l16, w16, 16);

    /* a real value survives the round trip through big-endian */
    double v = 3.25, x = v;
    assert_int_equal(zpk_dtype_byteswap(s_parse_ok(">f8"), &x, 8), 0);
    assert_memory_not_equal(&x, &v, 8);
    assert_int_equal(zpk_dtype_byteswap(s_parse_ok(">f8"), &x, 8), 0);
    assert_true(x == v);

    /* 1-byte types and empty buffers are no-ops */
    assert_int_equal(zpk_dtype_byteswap(s_parse_ok("|u1"), d2, 3), 0);
    assert_int_equal(zpk_dtype_byteswap(be, NULL, 0), 0);
    assert_int_equal(zpk_dtype_byteswap(be, NULL, 4), ZPK_EINVAL);
    zpk_dtype_t bad = {'x', '<', 4};
    assert_int_equal(zpk_dtype_byteswap(bad, d4, 4), ZPK_EDTYPE);
}

static void test_make(void **state)
{
    (void)state;
    zpk_dtype_t dt = zpk_dtype_make(ZPK_KIND_FLOAT, 8);
    assert_true(zpk_dtype_equal(dt, s_parse_ok("float64")));
    dt = zpk_dtype_make(ZPK_KIND_UINT, 1);
    assert_true(zpk_dtype_equal(dt, s_parse_ok("|u1")));
    assert_false(zpk_dtype_valid(zpk_dtype_make(ZPK_KIND_INT, 3)));
    assert_false(zpk_dtype_valid(zpk_dtype_make(ZPK_KIND_INT, 1024)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_typestr_both_orders),
        cmocka_unit_test(test_numpy_names),
        cmocka_unit_test(test_refused_with_clear_text),
        cmocka_unit_test(test_format_errors),
        cmocka_unit_test(test_native_and_byteswap),
        cmocka_unit_test(test_make),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
