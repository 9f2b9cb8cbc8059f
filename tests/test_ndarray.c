/* The array descriptor: sizes, layout, one-copy contiguous conversion. */
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

static zpk_dtype_t s_dt(const char *s)
{
    zpk_dtype_t dt;
    assert_int_equal(zpk_dtype_parse(s, strlen(s), &dt, NULL), 0);
    return dt;
}

static void test_shape_nbytes(void **state)
{
    (void)state;
    size_t n = 99;
    size_t shp[3] = {2, 3, 4};
    assert_int_equal(zpk_shape_nbytes(s_dt("<f8"), 3, shp, &n), 0);
    assert_int_equal(n, 2 * 3 * 4 * 8);
    /* 0-d: one element */
    assert_int_equal(zpk_shape_nbytes(s_dt("<i2"), 0, NULL, &n), 0);
    assert_int_equal(n, 2);
    /* zero-size */
    size_t z[2] = {5, 0};
    assert_int_equal(zpk_shape_nbytes(s_dt("<f4"), 2, z, &n), 0);
    assert_int_equal(n, 0);
    /* overflowing products */
    size_t big[2] = {SIZE_MAX / 2, 3};
    assert_int_equal(zpk_shape_nbytes(s_dt("|u1"), 2, big, &n), ZPK_EOVERFLOW);
    size_t big2[2] = {(size_t)1 << 61, 1};
    assert_int_equal(zpk_shape_nbytes(s_dt("<f8"), 2, big2, &n), ZPK_EOVERFLOW);
    /* over PTRDIFF_MAX without wrapping size_t */
    size_t half[1] = {(size_t)PTRDIFF_MAX / 2 + 1};
    assert_int_equal(zpk_shape_nbytes(s_dt("<i2"), 1, half, &n), ZPK_EOVERFLOW);
    /* overflow hidden behind a zero dimension is still refused */
    size_t hidden[3] = {0, SIZE_MAX, SIZE_MAX};
    assert_int_equal(zpk_shape_nbytes(s_dt("|u1"), 3, hidden, &n), ZPK_EOVERFLOW);
    /* ndim */
    size_t many[33];
    for (int i = 0; i < 33; i++)
        many[i] = 1;
    assert_int_equal(zpk_shape_nbytes(s_dt("|u1"), 32, many, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(zpk_shape_nbytes(s_dt("|u1"), 33, many, &n), ZPK_ESHAPE);
    assert_int_equal(zpk_shape_nbytes(s_dt("|u1"), -1, many, &n), ZPK_ESHAPE);
    zpk_dtype_t bad = {'q', '<', 4};
    assert_int_equal(zpk_shape_nbytes(bad, 1, many, &n), ZPK_EDTYPE);
    assert_int_equal(zpk_shape_nbytes(s_dt("|u1"), 1, many, NULL), ZPK_EINVAL);
}

static void test_init_and_contiguity(void **state)
{
    (void)state;
    double d[12];
    size_t shp[2] = {3, 4};
    zpk_ndarray_t a;
    assert_int_equal(zpk_ndarray_init(&a, s_dt("<f8"), 2, shp, 'C', d), 0);
    assert_int_equal(a.nbytes, 96);
    char o = 0;
    assert_true(zpk_ndarray_is_contiguous(&a, &o));
    assert_int_equal(o, 'C');
    assert_int_equal(zpk_ndarray_init(&a, s_dt("<f8"), 2, shp, 'F', d), 0);
    assert_true(zpk_ndarray_is_contiguous(&a, &o));
    assert_int_equal(o, 'F');
    assert_int_equal(zpk_ndarray_init(&a, s_dt("<f8"), 2, shp, 'X', d), ZPK_EINVAL);
    assert_int_equal(zpk_ndarray_init(&a, s_dt("<f8"), 2, shp, 'C', NULL), ZPK_EINVAL);
    size_t z[1] = {0};
    assert_int_equal(zpk_ndarray_init(&a, s_dt("<f8"), 1, z, 'C', NULL), 0);
    assert_true(zpk_ndarray_is_contiguous(&a, &o));

    /* strides that are C or F after all: marked contiguous */
    assert_int_equal(zpk_ndarray_init(&a, s_dt("<f8"), 2, shp, 'C', d), 0);
    ptrdiff_t fst[2] = {8, 24};
    assert_int_equal(zpk_ndarray_set_strides(&a, fst), 0);
    assert_false(a.has_strides);
    assert_int_equal(a.order, 'F');
    /* a view A[:, ::2] */
    ptrdiff_t vst[2] = {32, 16};
    size_t vshp[2] = {3, 2};
    assert_int_equal(zpk_ndarray_init(&a, s_dt("<f8"), 2, vshp, 'C', d), 0);
    assert_int_equal(zpk_ndarray_set_strides(&a, vst), 0);
    assert_true(a.has_strides);
    assert_false(zpk_ndarray_is_contiguous(&a, &o));
    /* dimension of 1: its stride does not matter */
    size_t one[2] = {1, 4};
    ptrdiff_t ost[2] = {12345, 8};
    assert_int_equal(zpk_ndarray_init(&a, s_dt("<f8"), 2, one, 'C', d), 0);
    assert_int_equal(zpk_ndarray_set_strides(&a, ost), 0);
    assert_false(a.has_strides);
    /* strides spanning more than ptrdiff_t can */
    size_t two[1] = {3};
    ptrdiff_t huge[1] = {PTRDIFF_MAX / 2 + 1};
    assert_int_equal(zpk_ndarray_init(&a, s_dt("<f8"), 1, two, 'C', d), 0);
    assert_int_equal(zpk_ndarray_set_strides(&a, huge), ZPK_EOVERFLOW);
}

static void test_copy_contiguous_views(void **state)
{
    (void)state;
    int32_t base[4][6];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 6; j++)
            base[i][j] = i * 10 + j;
    zpk_ndarray_t a;
    int32_t out[24];

    /* A[:, ::2] -> 4x3 */
    size_t s1[2] = {4, 3};
    ptrdiff_t st1[2] = {24, 8};
    assert_int_equal(zpk_ndarray_init(&a, s_dt("<i4"), 2, s1, 'C', base), 0);
    assert_int_equal(zpk_ndarray_set_strides(&a, st1), 0);
    assert_int_equal(zpk_ndarray_copy_into(&a, out, sizeof out), 0);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            assert_int_equal(out[i * 3 + j], i * 10 + 2 * j);

    /* A.T (6x4) as strides: that is F-contiguous, so no strides kept;
     * copying gives the C order of the transposed array. */
    size_t s2[2] = {6, 4};
    ptrdiff_t st2[2] = {4, 24};
    assert_int_equal(zpk_ndarray_init(&a, s_dt("<i4"), 2, s2, 'C', base), 0);
    assert_int_equal(zpk_ndarray_set_strides(&a, st2), 0);
    assert_int_equal(a.order, 'F');
    assert_int_equal(zpk_ndarray_copy_into(&a, out, sizeof out), 0);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 4; j++)
            assert_int_equal(out[i * 4 + j], j * 10 + i);

    /* A[::-1, 1::2] with a negative stride: data points at element [0,0] */
    size_t s3[2] = {4, 3};
    ptrdiff_t st3[2] = {-24, 8};
    assert_int_equal(zpk_ndarray_init(&a, s_dt("<i4"), 2, s3, 'C', &base[3][1]), 0);
    assert_int_equal(zpk_ndarray_set_strides(&a, st3), 0);
    assert_int_equal(zpk_ndarray_copy_into(&a, out, sizeof out), 0);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            assert_int_equal(out[i * 3 + j], (3 - i) * 10 + 1 + 2 * j);

    /* 3-d view with a broadcast (zero) stride */
    size_t s4[3] = {2, 2, 3};
    ptrdiff_t st4[3] = {0, 24, 4};
    assert_int_equal(zpk_ndarray_init(&a, s_dt("<i4"), 3, s4, 'C', base), 0);
    assert_int_equal(zpk_ndarray_set_strides(&a, st4), 0);
    assert_int_equal(zpk_ndarray_copy_into(&a, out, sizeof out), 0);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                assert_int_equal(out[k * 6 + i * 3 + j], i * 10 + j);

    assert_int_equal(zpk_ndarray_copy_into(&a, out, 47), ZPK_EBUFFULL);
}

static void test_contiguous_copy_one_allocation(void **state)
{
    (void)state;
    harness_alloc_install();
    uint16_t base[8][8];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++)
            base[i][j] = (uint16_t)(i * 8 + j);
    zpk_ndarray_t a, c;
    size_t shp[2] = {4, 4};
    ptrdiff_t st[2] = {32, 4};
    assert_int_equal(zpk_ndarray_init(&a, s_dt("<u2"), 2, shp, 'C', base), 0);
    assert_int_equal(zpk_ndarray_set_strides(&a, st), 0);
    harness_alloc_reset_peaks();
    assert_int_equal(zpk_ndarray_dup(&a, &c), 0);
    harness_alloc_stats_t s = harness_alloc_stats();
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.largest, 32);
    assert_false(c.has_strides);
    assert_int_equal(c.order, 'C');
    const uint16_t *p = c.data;
    assert_int_equal(p[5], 2 * 8 + 2); /* element [1][1] is base[2][2] */
    zpk_ndarray_free(&c);
    zpk_ndarray_free(&c); /* twice is harmless */
    harness_alloc_fail_after(1);
    assert_int_equal(zpk_ndarray_dup(&a, &c), ZPK_ENOMEM);
    harness_alloc_uninstall();
}

static void test_to_native(void **state)
{
    (void)state;
    uint8_t raw[8] = {0, 0, 0, 1, 0, 0, 0, 2};
    size_t shp[1] = {2};
    zpk_ndarray_t a;
    zpk_dtype_t be = s_dt(">u4");
    assert_int_equal(zpk_ndarray_init(&a, be, 1, shp, 'C', raw), 0);
    assert_int_equal(zpk_ndarray_to_native(&a), 0);
    assert_true(zpk_dtype_is_native(a.dtype));
    uint32_t v[2];
    memcpy(v, raw, 8);
    if (ZPK_BYTEORDER_NATIVE == '<') {
        assert_int_equal(v[0], 1);
        assert_int_equal(v[1], 2);
    }
    /* already native: nothing changes */
    assert_int_equal(zpk_ndarray_to_native(&a), 0);
    memcpy(v, raw, 8);
    if (ZPK_BYTEORDER_NATIVE == '<')
        assert_int_equal(v[1], 2);
    ptrdiff_t st[1] = {8};
    size_t one[1] = {1};
    assert_int_equal(zpk_ndarray_init(&a, be, 1, one, 'C', raw), 0);
    assert_int_equal(zpk_ndarray_set_strides(&a, st), 0);
    assert_int_equal(zpk_ndarray_to_native(&a), 0); /* one element: contiguous */
}

/* Caller mistakes: every entry point of ndarray.h refuses NULL and impossible
 * sizes with an error code, never a crash. */
static void test_null_arguments(void **state)
{
    (void)state;
    zpk_dtype_t dt;
    zpk_error_t err;
    char buf[16];
    assert_int_equal(zpk_dtype_parse(NULL, 3, &dt, &err), ZPK_EINVAL);
    assert_int_equal(zpk_dtype_parse("<f8", 3, NULL, &err), ZPK_EINVAL);
    zpk_dtype_t f8 = zpk_dtype_make(ZPK_KIND_FLOAT, 8);
    assert_int_equal(zpk_dtype_format(f8, NULL, sizeof buf), ZPK_EINVAL);
    assert_int_equal(zpk_dtype_format(f8, buf, 0), ZPK_EBUFFULL);
    zpk_dtype_t bad = zpk_dtype_make((zpk_kind_t)'?', 3);
    assert_false(zpk_dtype_valid(bad));
    assert_int_equal(zpk_dtype_format(bad, buf, sizeof buf), ZPK_EDTYPE);
    assert_null(zpk_dtype_name(bad));
    assert_int_equal(zpk_dtype_byteswap(f8, NULL, 8), ZPK_EINVAL);
    uint8_t data[64] = {0};
    assert_int_equal(zpk_dtype_byteswap(f8, data, 7), ZPK_ESHAPE); /* not whole elements */
    assert_int_equal(zpk_dtype_byteswap(bad, data, 8), ZPK_EDTYPE);
    size_t shape[2] = {2, 4}, nbytes;
    assert_int_equal(zpk_shape_nbytes(f8, 2, NULL, &nbytes), ZPK_EINVAL);
    assert_int_equal(zpk_shape_nbytes(f8, 2, shape, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_shape_nbytes(f8, -1, shape, &nbytes), ZPK_ESHAPE);
    assert_int_equal(zpk_shape_nbytes(f8, ZPK_MAX_NDIM + 1, shape, &nbytes), ZPK_ESHAPE);
    size_t huge[2] = {SIZE_MAX / 2, 4};
    assert_int_equal(zpk_shape_nbytes(f8, 2, huge, &nbytes), ZPK_EOVERFLOW);
    zpk_ndarray_t a, b;
    assert_int_equal(zpk_ndarray_init(NULL, f8, 2, shape, ZPK_ORDER_C, data), ZPK_EINVAL);
    assert_int_equal(zpk_ndarray_init(&a, f8, 2, NULL, ZPK_ORDER_C, data), ZPK_EINVAL);
    assert_int_equal(zpk_ndarray_init(&a, f8, 2, shape, ZPK_ORDER_C, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_ndarray_init(&a, f8, 2, shape, 'X', data), ZPK_EINVAL);
    assert_int_equal(zpk_ndarray_init(&a, f8, 2, huge, ZPK_ORDER_C, data), ZPK_EOVERFLOW);
    assert_int_equal(zpk_ndarray_init(&a, f8, 2, shape, ZPK_ORDER_C, data), 0);
    assert_int_equal(zpk_ndarray_set_strides(NULL, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_ndarray_set_strides(&a, NULL), ZPK_EINVAL);
    assert_false(zpk_ndarray_is_contiguous(NULL, NULL));
    assert_true(zpk_ndarray_is_contiguous(&a, NULL)); /* the order output is optional */
    assert_int_equal(zpk_ndarray_copy_into(NULL, data, sizeof data), ZPK_EINVAL);
    assert_int_equal(zpk_ndarray_copy_into(&a, NULL, sizeof data), ZPK_EINVAL);
    assert_int_equal(zpk_ndarray_copy_into(&a, data, 8), ZPK_EBUFFULL);
    assert_int_equal(zpk_ndarray_dup(NULL, &b), ZPK_EINVAL);
    assert_int_equal(zpk_ndarray_dup(&a, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_ndarray_to_native(NULL), ZPK_EINVAL);
    zpk_ndarray_free(NULL);
    zpk_free_fn(NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape_nbytes),
        cmocka_unit_test(test_init_and_contiguity),
        cmocka_unit_test(test_copy_contiguous_views),
        cmocka_unit_test(test_contiguous_copy_one_allocation),
        cmocka_unit_test(test_to_native),
        cmocka_unit_test(test_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
