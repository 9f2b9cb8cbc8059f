/* Ext types: the registry of user types, and the timestamp payload functions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "zmqpack.h"

typedef struct {
    int32_t x, y;
} s_point_t;

static int s_registry_ud; /* its address is the user data */
#define S_ECUSTOM (-77)   /* an encoder's own error code */

static int s_point_encode(const void *obj, zpk_writer_t *payload, void *ud)
{
    const s_point_t *p = obj;
    assert_ptr_equal(ud, &s_registry_ud);
    uint8_t b[8];
    for (int i = 0; i < 4; i++) {
        b[i] = (uint8_t)((uint32_t)p->x >> (24 - 8 * i));
        b[4 + i] = (uint8_t)((uint32_t)p->y >> (24 - 8 * i));
    }
    if (p->x == -999)
        return S_ECUSTOM;
    zpk_write_raw(payload, b, 8);
    return 0;
}

static int s_point_decode(int8_t type, const void *data, size_t len, void **obj, void *ud)
{
    (void)ud;
    assert_int_equal(type, 5);
    if (len != 8)
        return ZPK_EFORMAT;
    const uint8_t *b = data;
    s_point_t *p = zpk_malloc(sizeof *p);
    if (p == NULL)
        return ZPK_ENOMEM;
    uint32_t x = 0, y = 0;
    for (int i = 0; i < 4; i++) {
        x = x << 8 | b[i];
        y = y << 8 | b[4 + i];
    }
    p->x = (int32_t)x;
    p->y = (int32_t)y;
    *obj = p;
    return 0;
}

static void test_ext_registry(void **state)
{
    (void)state;
    harness_alloc_install();
    zpk_ext_registry_t *reg = zpk_ext_registry_new();
    assert_non_null(reg);
    assert_int_equal(zpk_ext_register(reg, 5, s_point_encode, s_point_decode,
                                      &s_registry_ud), 0);
    assert_int_equal(zpk_ext_register(reg, -1, s_point_encode, s_point_decode, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_ext_register(NULL, 5, s_point_encode, s_point_decode, NULL), ZPK_EINVAL);
    assert_true(zpk_ext_has_decoder(reg, 5));
    assert_false(zpk_ext_has_decoder(reg, 6));

    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    s_point_t pt = {-2, 300};
    zpk_write_array(&w, 2);
    assert_int_equal(zpk_ext_write(&w, reg, 5, &pt), 0);
    zpk_write_ext(&w, 9, "abc", 3); /* an unknown type, kept as bytes */
    assert_int_equal(zpk_writer_finish(&w), 0);
    assert_int_equal(zpk_writer_size(&w), 1 + 10 + 6);
    assert_memory_equal(zpk_writer_data(&w), "\x92\xd7\x05\xff\xff\xff\xfe\x00\x00\x01\x2c"
                                             "\xc7\x03\x09" "abc", 17);

    /* Read back: the registered type decodes, the unknown one round-trips untouched. */
    zpk_reader_t r;
    zpk_reader_init(&r, zpk_writer_data(&w), zpk_writer_size(&w), NULL);
    zpk_tag_t t;
    const void *payload;
    assert_int_equal(zpk_read_item(&r, &t, &payload), 0);
    assert_int_equal(zpk_read_item(&r, &t, &payload), 0);
    assert_int_equal(t.type, ZPK_TYPE_EXT);
    void *obj = NULL;
    assert_int_equal(zpk_ext_decode(reg, t.exttype, payload, t.v.len, &obj), 0);
    assert_int_equal(((s_point_t *)obj)->x, -2);
    assert_int_equal(((s_point_t *)obj)->y, 300);
    zpk_free(obj);
    assert_int_equal(zpk_read_item(&r, &t, &payload), 0);
    assert_int_equal(zpk_ext_decode(reg, t.exttype, payload, t.v.len, &obj), ZPK_ENOTFOUND);
    zpk_writer_t copy;
    zpk_writer_init_growable(&copy, 0);
    zpk_write_ext(&copy, t.exttype, payload, t.v.len);
    assert_int_equal(zpk_writer_finish(&copy), 0);
    assert_memory_equal(zpk_writer_data(&copy), zpk_writer_data(&w) + 11, 6);
    zpk_writer_free(&copy);
    assert_int_equal(zpk_reader_finish(&r), 0);
    assert_int_equal(zpk_ext_decode(reg, 5, "\x01", 1, &obj), ZPK_EFORMAT);

    /* Errors: no encoder, encoder failure (sticky in the writer). */
    zpk_writer_reset(&w);
    assert_int_equal(zpk_ext_write(&w, reg, 6, &pt), ZPK_ENOTFOUND);
    assert_int_equal(zpk_writer_finish(&w), ZPK_ENOTFOUND);
    zpk_writer_reset(&w);
    pt.x = -999;
    assert_int_equal(zpk_ext_write(&w, reg, 5, &pt), S_ECUSTOM);
    assert_int_equal(zpk_writer_finish(&w), S_ECUSTOM);
    assert_int_equal(zpk_writer_size(&w), 0);
    zpk_writer_free(&w);

    assert_int_equal(zpk_ext_unregister(reg, 5), 0);
    assert_int_equal(zpk_ext_unregister(reg, 5), ZPK_ENOTFOUND);
    assert_false(zpk_ext_has_decoder(reg, 5));
    zpk_ext_registry_destroy(&reg);
    assert_null(reg);
    zpk_ext_registry_destroy(&reg);
    harness_alloc_uninstall();
}

/* The timestamp payload in its three sizes, both ways, and what is refused. */
static void test_timestamp_payloads(void **state)
{
    (void)state;
    static const struct {
        int64_t sec;
        uint32_t nsec;
        const char *hex;
    } cases[] = {
        {0, 0, "00000000"},
        {4294967295, 0, "ffffffff"},                  /* timestamp 32's largest */
        {4294967296, 0, "00000001 00000000"},         /* timestamp 64 */
        {1, 1, "00000004 00000001"},
        {17179869183, 999999999, "ee6b27ff ffffffff"}, /* timestamp 64's largest */
        {17179869184, 0, "00000000 00000004 00000000"}, /* timestamp 96 */
        {-1, 999999999, "3b9ac9ff ffffffff ffffffff"},
        {INT64_MIN, 0, "00000000 80000000 00000000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t want[12], out[12];
        size_t n = harness_hex(cases[i].hex, want, sizeof want), len = 0;
        assert_int_equal(zpk_timestamp_encode(cases[i].sec, cases[i].nsec, out, &len), 0);
        assert_int_equal(len, n);
        assert_memory_equal(out, want, n);
        zpk_timestamp_t ts;
        assert_int_equal(zpk_timestamp_decode(want, n, &ts), 0);
        assert_true(ts.sec == cases[i].sec);
        assert_int_equal(ts.nsec, cases[i].nsec);
    }
    uint8_t out[12];
    size_t len;
    zpk_timestamp_t ts;
    assert_int_equal(zpk_timestamp_encode(0, 1000000000u, out, &len), ZPK_EINVAL);
    assert_int_equal(zpk_timestamp_decode("\xff\xff\xff\xff\0\0\0\0", 8, &ts), ZPK_EFORMAT);
    assert_int_equal(zpk_timestamp_decode("\x3b\x9a\xca\x00" "\0\0\0\0" "\0\0\0\0", 12, &ts),
                     ZPK_EFORMAT); /* nsec 1000000000 */
    assert_int_equal(zpk_timestamp_decode("\0\0\0\0\0", 5, &ts), ZPK_EFORMAT);
}

/* Caller mistakes: every ext and timestamp entry point refuses NULL. */
static void test_null_arguments(void **state)
{
    (void)state;
    uint8_t out[12];
    size_t len;
    zpk_timestamp_t ts;
    assert_int_equal(zpk_timestamp_encode(1, 0, NULL, &len), ZPK_EINVAL);
    assert_int_equal(zpk_timestamp_encode(1, 0, out, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_timestamp_decode(NULL, 4, &ts), ZPK_EINVAL);
    assert_int_equal(zpk_timestamp_decode("\0\0\0\0", 4, NULL), ZPK_EINVAL);
    zpk_ext_registry_destroy(NULL);
    assert_int_equal(zpk_ext_register(NULL, 1, NULL, NULL, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_ext_unregister(NULL, 1), ZPK_EINVAL);
    assert_false(zpk_ext_has_decoder(NULL, 1));
    zpk_ext_registry_t *reg = zpk_ext_registry_new();
    assert_non_null(reg);
    assert_int_equal(zpk_ext_register(reg, 5, s_point_encode, s_point_decode, &s_registry_ud), 0);
    assert_false(zpk_ext_has_decoder(reg, -1));
    assert_int_equal(zpk_ext_unregister(reg, -1), ZPK_EINVAL);
    s_point_t pt = {1, 2};
    assert_int_equal(zpk_ext_write(NULL, reg, 5, &pt), ZPK_EINVAL);
    void *obj = NULL;
    assert_int_equal(zpk_ext_decode(NULL, 5, "12345678", 8, &obj), ZPK_EINVAL);
    assert_int_equal(zpk_ext_decode(reg, 5, "12345678", 8, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_ext_decode(reg, 5, NULL, 8, &obj), ZPK_EINVAL);
    assert_null(obj);
    zpk_ext_registry_destroy(&reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ext_registry),
        cmocka_unit_test(test_timestamp_payloads),
        cmocka_unit_test(test_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
