/* The error table, the error struct, the allocator hooks, the version. */
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
#include "internal.h"
#include "zmqpack.h"

static const struct {
    int code;
    const char *name;
} s_table[] = {
#define S_ROW(name, value, msg) {ZPK_##name, #name},
    ZPK_ERRNO_MAP(S_ROW)
#undef S_ROW
};
#define S_NCODES (sizeof s_table / sizeof s_table[0])

static void test_every_code_has_name_and_distinct_message(void **state)
{
    (void)state;
    for (size_t i = 0; i < S_NCODES; i++) {
        int c = s_table[i].code;
        assert_true(c < 0);
        assert_string_equal(zpk_err_name(c), s_table[i].name);
        assert_string_not_equal(zpk_strerror(c), "unknown error");
        assert_true(strlen(zpk_strerror(c)) > 5);
        for (size_t j = 0; j < i; j++) {
            assert_int_not_equal(c, s_table[j].code);
            assert_string_not_equal(zpk_strerror(c), zpk_strerror(s_table[j].code));
        }
    }
}

static void test_required_kinds_exist(void **state)
{
    (void)state;
    /* The kinds every later layer relies on (issue 2, item 3). */
    const int kinds[] = {ZPK_EOUTOFDATA, ZPK_EEXTRADATA, ZPK_EFORMAT, ZPK_ETOODEEP,
                         ZPK_EBUFFULL, ZPK_ELIMIT, ZPK_EUTF8, ZPK_ENOMEM, ZPK_EINVAL,
                         ZPK_ETYPE, ZPK_EDTYPE, ZPK_ESHAPE, ZPK_ECODEC, ZPK_EDECOMPRESS,
                         ZPK_EVERSION, ZPK_EFRAME};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        assert_string_not_equal(zpk_err_name(kinds[i]), "UNKNOWN");
}

static void test_our_codes_do_not_collide_with_errno(void **state)
{
    (void)state;
    for (size_t i = 0; i < S_NCODES; i++) {
        int c = s_table[i].code;
        /* glibc knows no errno this large; libzmq's start at 156384712. */
        assert_true(-c > 4000 && -c < 5000);
    }
}

static void test_system_and_zmq_codes(void **state)
{
    (void)state;
    assert_string_equal(zpk_err_name(-EAGAIN), "EAGAIN");
    assert_string_equal(zpk_err_name(-EINTR), "EINTR");
    assert_string_equal(zpk_err_name(-ETERM), "ETERM");
    assert_string_equal(zpk_strerror(-ETERM), "context was terminated");
    assert_string_equal(zpk_err_name(-EFSM), "EFSM");
    assert_string_equal(zpk_strerror(-EAGAIN), strerror(EAGAIN));
    assert_string_equal(zpk_strerror(0), "success");
    assert_string_equal(zpk_err_name(0), "OK");
    assert_string_equal(zpk_strerror(-123456), "unknown error");
    assert_string_equal(zpk_err_name(-123456), "UNKNOWN");
    assert_string_equal(zpk_err_name(77), "UNKNOWN");
}

static void test_error_struct_keeps_first(void **state)
{
    (void)state;
    zpk_error_t err;
    zpk_error_clear(&err);
    assert_int_equal(err.code, 0);
    assert_int_equal(err.frame, -1);
    assert_int_equal(zpk__error(&err, ZPK_EFORMAT, 7, "reserved byte 0x%02x", 0xc1), ZPK_EFORMAT);
    assert_int_equal(zpk__error(&err, ZPK_ELIMIT, 9, "later"), ZPK_ELIMIT);
    assert_int_equal(err.code, ZPK_EFORMAT);
    assert_int_equal(err.offset, 7);
    assert_string_equal(err.text, "reserved byte 0xc1");
    zpk_error_clear(&err);
    assert_int_equal(zpk__error(&err, ZPK_ENOMEM, 0, NULL), ZPK_ENOMEM);
    assert_string_equal(err.text, zpk_strerror(ZPK_ENOMEM));
    /* NULL error struct is allowed everywhere. */
    assert_int_equal(zpk__error(NULL, ZPK_EINVAL, 0, "x"), ZPK_EINVAL);
    zpk_error_clear(NULL);
}

static void test_allocator_hooks_count_and_fail(void **state)
{
    (void)state;
    harness_alloc_install();
    void *a = zpk_malloc(100);
    assert_non_null(a);
    a = zpk_realloc(a, 300);
    assert_non_null(a);
    harness_alloc_stats_t s = harness_alloc_stats();
    assert_int_equal(s.live_blocks, 1);
    assert_int_equal(s.live_bytes, 300);
    assert_int_equal(s.largest, 300);

    harness_alloc_fail_after(2);
    void *b = zpk_malloc(10); /* 1st: succeeds */
    void *c = zpk_malloc(10); /* 2nd: fails */
    assert_non_null(b);
    assert_null(c);
    assert_int_equal(harness_alloc_stats().failed, 1);

    harness_alloc_fail_above(1000);
    assert_null(zpk_malloc(1001));
    void *d = zpk_malloc(1000);
    assert_non_null(d);
    harness_alloc_fail_above(0);

    /* internal calloc refuses overflowing products without calling the hook */
    size_t calls = harness_alloc_stats().calls;
    assert_null(zpk__calloc(SIZE_MAX / 2, 3));
    assert_int_equal(harness_alloc_stats().calls, calls);

    zpk_free(a);
    zpk_free(b);
    zpk_free(d);
    zpk_free(NULL);
    harness_alloc_uninstall();
}

static void test_set_allocator_rejects_incomplete(void **state)
{
    (void)state;
    zpk_allocator_t cur;
    zpk_get_allocator(&cur);
    zpk_allocator_t bad = cur;
    bad.free_fn = NULL;
    assert_int_equal(zpk_set_allocator(&bad), ZPK_EINVAL);
    zpk_allocator_t after;
    zpk_get_allocator(&after);
    assert_ptr_equal(after.malloc_fn, cur.malloc_fn);
    assert_ptr_equal(after.free_fn, cur.free_fn);
}

static void test_version(void **state)
{
    (void)state;
    assert_int_equal(zpk_version(), ZPK_VERSION_HEX);
    char buf[32];
    snprintf(buf, sizeof buf, "%d.%d.%d", ZPK_VERSION_MAJOR, ZPK_VERSION_MINOR, ZPK_VERSION_PATCH);
    assert_string_equal(zpk_version_string(), buf);
}

/* Caller mistakes: every entry point of common.h takes NULL without crashing. */
static void test_null_arguments(void **state)
{
    (void)state;
    zpk_error_clear(NULL);
    zpk_get_allocator(NULL);
    assert_int_equal(zpk_set_allocator(&(zpk_allocator_t){NULL, NULL, NULL, NULL}), ZPK_EINVAL);
    assert_int_equal(zpk_set_allocator(NULL), 0); /* restores libc's */
    zpk_free(NULL);
    void *p = zpk_realloc(NULL, 8); /* as realloc: NULL is a new block */
    assert_non_null(p);
    zpk_free(p);
    assert_non_null(zpk_strerror(0x12345678));
    assert_string_equal(zpk_err_name(0x12345678), "UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_has_name_and_distinct_message),
        cmocka_unit_test(test_required_kinds_exist),
        cmocka_unit_test(test_our_codes_do_not_collide_with_errno),
        cmocka_unit_test(test_system_and_zmq_codes),
        cmocka_unit_test(test_error_struct_keeps_first),
        cmocka_unit_test(test_allocator_hooks_count_and_fail),
        cmocka_unit_test(test_set_allocator_rejects_incomplete),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
