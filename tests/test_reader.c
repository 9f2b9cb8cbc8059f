/* The MessagePack pull reader: types, zero-copy, skip, truncation, errors, limits. */
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

/* A sample holding every type and form, as one top-level array. */
static size_t s_sample(uint8_t **out)
{
    static uint8_t blob[70000];
    for (size_t i = 0; i < sizeof blob; i++)
        blob[i] = (uint8_t)(i * 7);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_array(&w, 27);
    zpk_write_nil(&w);                        /* 0 */
    zpk_write_bool(&w, true);                 /* 1 */
    zpk_write_bool(&w, false);                /* 2 */
    zpk_write_uint(&w, 5);                    /* 3 */
    zpk_write_uint(&w, 200);                  /* 4 */
    zpk_write_uint(&w, 60000);                /* 5 */
    zpk_write_uint(&w, 4000000000u);          /* 6 */
    zpk_write_uint(&w, UINT64_MAX);           /* 7 */
    zpk_write_int(&w, -5);                    /* 8 */
    zpk_write_int(&w, -100);                  /* 9 */
    zpk_write_int(&w, -30000);                /* 10 */
    zpk_write_int(&w, -2000000000);           /* 11 */
    zpk_write_int(&w, INT64_MIN);             /* 12 */
    zpk_write_float(&w, 2.5f);                /* 13 */
    zpk_write_double(&w, -1e300);             /* 14 */
    zpk_write_str(&w, "hello", 5);            /* 15 */
    zpk_write_str(&w, (const char *)blob, 300); /* 16 */
    zpk_write_bin(&w, blob, 70000);           /* 17 */
    zpk_write_ext(&w, 3, blob, 8);            /* 18 */
    zpk_write_ext(&w, -5, blob, 1000);        /* 19 */
    zpk_write_timestamp(&w, -5, 7);           /* 20 */
    zpk_write_map(&w, 2);                     /* 21 */
    zpk_write_cstr(&w, "a");
    zpk_write_array(&w, 20);
    for (int i = 0; i < 20; i++)
        zpk_write_int(&w, -i);
    zpk_write_cstr(&w, "b");
    zpk_write_map(&w, 0);
    zpk_write_array(&w, 0);                   /* 22 */
    zpk_write_str(&w, (const char *)blob, 40000); /* 23 */
    zpk_write_bin(&w, NULL, 0);               /* 24 */
    zpk_write_timestamp(&w, 4294967296, 5);   /* 25 */
    zpk_write_timestamp(&w, 1, 0);            /* 26 */
    void *data;
    size_t size;
    assert_int_equal(zpk_writer_detach(&w, &data, &size), 0);
    zpk_writer_free(&w);
    *out = data;
    return size;
}

static void test_each_type(void **state)
{
    (void)state;
    uint8_t *buf;
    size_t n = s_sample(&buf);
    zpk_reader_t r;
    zpk_reader_init(&r, buf, n, NULL);
    zpk_tag_t t;
    const void *p;

#define NEXT(ty)                                                                  \
    do {                                                                          \
        assert_int_equal(zpk_read_item(&r, &t, &p), 0);                           \
        assert_int_equal(t.type, (ty));                                           \
    } while (0)

    NEXT(ZPK_TYPE_ARRAY);
    assert_int_equal(t.v.len, 27);
    assert_null(p);
    NEXT(ZPK_TYPE_NIL);
    NEXT(ZPK_TYPE_BOOL); assert_true(t.v.b);
    NEXT(ZPK_TYPE_BOOL); assert_false(t.v.b);
    NEXT(ZPK_TYPE_UINT); assert_int_equal(t.v.u, 5);
    NEXT(ZPK_TYPE_UINT); assert_int_equal(t.v.u, 200);
    NEXT(ZPK_TYPE_UINT); assert_int_equal(t.v.u, 60000);
    NEXT(ZPK_TYPE_UINT); assert_int_equal(t.v.u, 4000000000u);
    NEXT(ZPK_TYPE_UINT); assert_true(t.v.u == UINT64_MAX);
    NEXT(ZPK_TYPE_INT); assert_int_equal(t.v.i, -5);
    NEXT(ZPK_TYPE_INT); assert_int_equal(t.v.i, -100);
    NEXT(ZPK_TYPE_INT); assert_int_equal(t.v.i, -30000);
    NEXT(ZPK_TYPE_INT); assert_int_equal(t.v.i, -2000000000);
    NEXT(ZPK_TYPE_INT); assert_true(t.v.i == INT64_MIN);
    NEXT(ZPK_TYPE_FLOAT); assert_true(t.v.f == 2.5f);
    NEXT(ZPK_TYPE_DOUBLE); assert_true(t.v.d == -1e300);
    size_t off = zpk_reader_offset(&r);
    NEXT(ZPK_TYPE_STR);
    assert_int_equal(t.v.len, 5);
    assert_ptr_equal(p, buf + off + 1); /* zero copy: a pointer into the input */
    assert_memory_equal(p, "hello", 5);
    off = zpk_reader_offset(&r);
    NEXT(ZPK_TYPE_STR);
    assert_int_equal(t.v.len, 300);
    assert_ptr_equal(p, buf + off + 3);
    off = zpk_reader_offset(&r);
    NEXT(ZPK_TYPE_BIN);
    assert_int_equal(t.v.len, 70000);
    assert_ptr_equal(p, buf + off + 5);
    assert_int_equal(((const uint8_t *)p)[69999], (uint8_t)(69999 * 7));
    off = zpk_reader_offset(&r);
    NEXT(ZPK_TYPE_EXT);
    assert_int_equal(t.exttype, 3);
    assert_int_equal(t.v.len, 8);
    assert_ptr_equal(p, buf + off + 2);
    off = zpk_reader_offset(&r);
    NEXT(ZPK_TYPE_EXT);
    assert_int_equal(t.exttype, -5);
    assert_int_equal(t.v.len, 1000);
    assert_ptr_equal(p, buf + off + 4);
    zpk_timestamp_t ts;
    assert_int_equal(zpk_read_timestamp(&r, &ts), 0);
    assert_true(ts.sec == -5);
    assert_int_equal(ts.nsec, 7);
    NEXT(ZPK_TYPE_MAP);
    assert_int_equal(t.v.len, 2);
    NEXT(ZPK_TYPE_STR);
    assert_memory_equal(p, "a", 1);
    assert_int_equal(zpk_reader_skip(&r), 0); /* the 20-element array */
    NEXT(ZPK_TYPE_STR);
    assert_memory_equal(p, "b", 1);
    NEXT(ZPK_TYPE_MAP);
    assert_int_equal(t.v.len, 0);
    NEXT(ZPK_TYPE_ARRAY);
    assert_int_equal(t.v.len, 0);
    /* Header only, then the payload three ways. */
    assert_int_equal(zpk_read_tag(&r, &t), 0);
    assert_int_equal(t.type, ZPK_TYPE_STR);
    assert_int_equal(t.v.len, 40000);
    uint8_t copy[100];
    assert_int_equal(zpk_read_bytes(&r, copy, 100), 0);
    assert_int_equal(copy[99], (uint8_t)(99 * 7));
    assert_int_equal(zpk_skip_bytes(&r, 39000), 0);
    assert_int_equal(zpk_read_bytes_inplace(&r, 900, &p), 0);
    assert_int_equal(((const uint8_t *)p)[0], (uint8_t)(39100 * 7));
    NEXT(ZPK_TYPE_BIN);
    assert_int_equal(t.v.len, 0);
    assert_int_equal(zpk_read_timestamp(&r, &ts), 0);
    assert_true(ts.sec == 4294967296);
    assert_int_equal(ts.nsec, 5);
    assert_int_equal(zpk_read_timestamp(&r, &ts), 0);
    assert_true(ts.sec == 1);
    assert_int_equal(ts.nsec, 0);
    assert_int_equal(zpk_reader_remaining(&r), 0);
    assert_int_equal(zpk_reader_finish(&r), 0);
    assert_int_equal(zpk_read_tag(&r, &t), ZPK_EOUTOFDATA); /* the end */
    assert_int_equal(zpk_reader_error_offset(&r), n);
#undef NEXT
    zpk_free(buf);
}

static void test_signed_encodings_of_positive_values(void **state)
{
    (void)state;
    /* int 8..64 forms holding non-negative values read as UINT. */
    const uint8_t in[] = {0xd0, 0x05, 0xd1, 0x01, 0x00, 0xd2, 0x00, 0x01, 0x00, 0x00,
                          0xd3, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    const uint64_t want[] = {5, 256, 65536, INT64_MAX};
    zpk_reader_t r;
    zpk_reader_init(&r, in, sizeof in, NULL);
    for (int i = 0; i < 4; i++) {
        zpk_tag_t t;
        assert_int_equal(zpk_read_tag(&r, &t), 0);
        assert_int_equal(t.type, ZPK_TYPE_UINT);
        assert_true(t.v.u == want[i]);
    }
    assert_int_equal(zpk_reader_finish(&r), 0);
}

static void test_skip_nested(void **state)
{
    (void)state;
    /* [1, {"a": [2, 3, {"b": bin(3)}], "c": ext}, "x"] then 7 */
    const uint8_t in[] = {0x93, 0x01, 0x82, 0xa1, 'a', 0x93, 0x02, 0x03, 0x81, 0xa1, 'b',
                          0xc4, 0x03, 1, 2, 3, 0xa1, 'c', 0xd4, 0x01, 0x00, 0xa1, 'x', 0x07};
    zpk_reader_t r;
    zpk_reader_init(&r, in, sizeof in, NULL);
    assert_int_equal(zpk_reader_skip(&r), 0);
    assert_int_equal(zpk_reader_offset(&r), sizeof in - 1);
    assert_int_equal(zpk_reader_finish(&r), ZPK_EEXTRADATA);
    zpk_tag_t t;
    assert_int_equal(zpk_read_tag(&r, &t), 0);
    assert_int_equal(t.v.u, 7);
    assert_int_equal(zpk_reader_finish(&r), 0);

    /* Skip from inside: the map only. */
    zpk_reader_init(&r, in, sizeof in, NULL);
    assert_int_equal(zpk_read_tag(&r, &t), 0);
    assert_int_equal(zpk_reader_skip(&r), 0);
    assert_int_equal(zpk_reader_offset(&r), 2);
    assert_int_equal(zpk_reader_skip(&r), 0);
    assert_int_equal(zpk_reader_offset(&r), 21);
}

static void test_truncation_at_every_offset(void **state)
{
    (void)state;
    uint8_t *buf;
    size_t n = s_sample(&buf);
    /* Every offset, over the original buffer. */
    for (size_t k = 0; k < n; k++) {
        zpk_reader_t r;
        zpk_reader_init(&r, buf, k, NULL);
        assert_int_equal(zpk_reader_skip(&r), ZPK_EOUTOFDATA);
    }
    /* Many offsets, over exact-size copies so that ASan sees any over-read. */
    for (size_t k = 0; k < n; k += (k < 2000 || n - k < 2000) ? 1 : 97) {
        uint8_t *cut = malloc(k ? k : 1); /* exact size so ASan sees over-reads */
        memcpy(cut, buf, k);
        zpk_reader_t r;
        zpk_reader_init(&r, k ? cut : NULL, k, NULL);
        assert_int_equal(zpk_reader_skip(&r), ZPK_EOUTOFDATA);
        assert_int_equal(zpk_reader_error(&r), ZPK_EOUTOFDATA);
        assert_true(zpk_reader_error_offset(&r) <= k);
        /* Walking tag by tag ends the same way. */
        zpk_reader_init(&r, cut, k, NULL);
        zpk_tag_t t;
        const void *p;
        int rc;
        while ((rc = zpk_read_item(&r, &t, &p)) == 0) {
        }
        assert_int_equal(rc, ZPK_EOUTOFDATA);
        free(cut);
    }
    zpk_reader_t r;
    zpk_reader_init(&r, buf, n, NULL);
    assert_int_equal(zpk_reader_skip(&r), 0);
    assert_int_equal(zpk_reader_finish(&r), 0);
    zpk_free(buf);
}

static void test_reserved_byte(void **state)
{
    (void)state;
    const uint8_t in[] = {0x93, 0x01, 0x02, 0xc1, 0x03};
    zpk_reader_t r;
    zpk_reader_init(&r, in, sizeof in, NULL);
    assert_int_equal(zpk_reader_skip(&r), ZPK_EFORMAT);
    assert_int_equal(zpk_reader_error(&r), ZPK_EFORMAT);
    assert_int_equal(zpk_reader_error_offset(&r), 3);
    /* Sticky: every later call returns the same code and reads nothing. */
    zpk_tag_t t;
    assert_int_equal(zpk_read_tag(&r, &t), ZPK_EFORMAT);
    const void *p = in;
    assert_int_equal(zpk_read_bytes_inplace(&r, 0, &p), ZPK_EFORMAT);
    assert_null(p);
    assert_int_equal(zpk_reader_skip(&r), ZPK_EFORMAT);
    assert_int_equal(zpk_reader_remaining(&r), 0);
    assert_int_equal(zpk_reader_finish(&r), ZPK_EFORMAT);
    zpk_reader_set_error(&r, ZPK_ETYPE); /* the first error is kept */
    assert_int_equal(zpk_reader_error(&r), ZPK_EFORMAT);
    assert_int_equal(zpk_reader_error_offset(&r), 3);
    /* Alone at offset 0. */
    zpk_reader_init(&r, in + 3, 1, NULL);
    assert_int_equal(zpk_read_tag(&r, &t), ZPK_EFORMAT);
    assert_int_equal(zpk_reader_error_offset(&r), 0);
}

/* Reads one tag of @p in with @p limits; returns the code. */
static int s_read_with(const uint8_t *in, size_t n, const zpk_limits_t *limits)
{
    zpk_reader_t r;
    zpk_reader_init(&r, in, n, limits);
    zpk_tag_t t;
    return zpk_read_tag(&r, &t);
}

static void test_limits_exact(void **state)
{
    (void)state;
    zpk_limits_t l;
    zpk_limits_default(&l, 0);
    l.max_str_len = 5;
    l.max_bin_len = 300;
    l.max_ext_len = 4;
    l.max_array_len = 16;
    l.max_map_len = 15;
    /* str: fixstr 5 ok, fixstr 6 and str8 6 over. */
    assert_int_equal(s_read_with((const uint8_t *)"\xa5", 1, &l), 0);
    assert_int_equal(s_read_with((const uint8_t *)"\xa6", 1, &l), ZPK_ELIMIT);
    assert_int_equal(s_read_with((const uint8_t *)"\xd9\x06", 2, &l), ZPK_ELIMIT);
    assert_int_equal(s_read_with((const uint8_t *)"\xdb\x00\x00\x00\x05", 5, &l), 0);
    /* bin: 300 ok, 301 over. */
    assert_int_equal(s_read_with((const uint8_t *)"\xc5\x01\x2c", 3, &l), 0);
    assert_int_equal(s_read_with((const uint8_t *)"\xc5\x01\x2d", 3, &l), ZPK_ELIMIT);
    assert_int_equal(s_read_with((const uint8_t *)"\xc6\x00\x00\x01\x2d", 5, &l), ZPK_ELIMIT);
    /* ext: fixext 4 ok, ext8 5 and fixext 8 over. */
    assert_int_equal(s_read_with((const uint8_t *)"\xd6\x01", 2, &l), 0);
    assert_int_equal(s_read_with((const uint8_t *)"\xc7\x05\x01", 3, &l), ZPK_ELIMIT);
    assert_int_equal(s_read_with((const uint8_t *)"\xd7\x01", 2, &l), ZPK_ELIMIT);
    /* array: 16 ok, 17 over. map: fixmap 15 ok, map16 16 over. */
    assert_int_equal(s_read_with((const uint8_t *)"\xdc\x00\x10", 3, &l), 0);
    assert_int_equal(s_read_with((const uint8_t *)"\xdc\x00\x11", 3, &l), ZPK_ELIMIT);
    assert_int_equal(s_read_with((const uint8_t *)"\x8f", 1, &l), 0);
    assert_int_equal(s_read_with((const uint8_t *)"\xde\x00\x10", 3, &l), ZPK_ELIMIT);
    /* The same through zpk_read_item() (whose fixstr fast path is inline). */
    {
        const uint8_t s5[] = {0xa5, 'a', 'b', 'c', 'd', 'e'};
        const uint8_t s6[] = {0xa6, 'a', 'b', 'c', 'd', 'e', 'f'};
        zpk_reader_t rr;
        zpk_tag_t t;
        const void *p;
        zpk_reader_init(&rr, s5, sizeof s5, &l);
        assert_int_equal(zpk_read_item(&rr, &t, &p), 0);
        assert_ptr_equal(p, s5 + 1);
        zpk_reader_init(&rr, s6, sizeof s6, &l);
        assert_int_equal(zpk_read_item(&rr, &t, &p), ZPK_ELIMIT);
        assert_null(p);
        assert_int_equal(zpk_reader_error_offset(&rr), 0);
        zpk_reader_init(&rr, s5, 5, &l); /* cut inside the fixstr */
        assert_int_equal(zpk_read_item(&rr, &t, &p), ZPK_EOUTOFDATA);
        assert_int_equal(zpk_read_item(&rr, &t, &p), ZPK_EOUTOFDATA);
    }
    /* The offset is that of the header, and nothing after it was read. */
    const uint8_t in[] = {0x92, 0x01, 0xda, 0x00, 0x06};
    zpk_reader_t r;
    zpk_reader_init(&r, in, sizeof in, &l);
    assert_int_equal(zpk_reader_skip(&r), ZPK_ELIMIT);
    assert_int_equal(zpk_reader_error_offset(&r), 2);

    /* Depth: 3 levels ok with max_depth 3, 4 levels fail (empty or not). */
    l.max_depth = 3;
    zpk_reader_init(&r, (const uint8_t *)"\x91\x91\x90", 3, &l);
    assert_int_equal(zpk_reader_skip(&r), 0);
    zpk_reader_init(&r, (const uint8_t *)"\x91\x91\x91\x90", 4, &l);
    assert_int_equal(zpk_reader_skip(&r), ZPK_ETOODEEP);
    assert_int_equal(zpk_reader_error_offset(&r), 3);
    zpk_reader_init(&r, (const uint8_t *)"\x92\x91\x91\x01\x91\x81\x01\x01", 8, &l);
    assert_int_equal(zpk_reader_skip(&r), 0);
    zpk_reader_init(&r, (const uint8_t *)"\x92\x91\x91\x01\x91\x81\x01\x91\x90", 9, &l);
    assert_int_equal(zpk_reader_skip(&r), ZPK_ETOODEEP);
}

static void test_deep_and_huge(void **state)
{
    (void)state;
    harness_alloc_install();
    const size_t depth = 100000;
    uint8_t *deep = malloc(depth + 1);
    memset(deep, 0x91, depth);
    deep[depth] = 0xc0;
    zpk_reader_t r;
    /* Default max_depth (1024): fails cleanly, without allocating. */
    zpk_reader_init(&r, deep, depth + 1, NULL);
    assert_int_equal(zpk_reader_skip(&r), ZPK_ETOODEEP);
    assert_int_equal(zpk_reader_error_offset(&r), ZPK_DEFAULT_MAX_DEPTH);
    /* Raised limit: the skip stack grows on the heap and is freed. */
    zpk_limits_t l;
    zpk_limits_default(&l, 0);
    l.max_depth = depth;
    zpk_reader_init(&r, deep, depth + 1, &l);
    assert_int_equal(zpk_reader_skip(&r), 0);
    assert_int_equal(zpk_reader_finish(&r), 0);
    /* ... and its allocation failing is a clean ZPK_ENOMEM. */
    for (size_t k = 1; k <= 3; k++) {
        harness_alloc_fail_after(k);
        zpk_reader_init(&r, deep, depth + 1, &l);
        int rc = zpk_reader_skip(&r);
        assert_true(rc == ZPK_ENOMEM || rc == 0);
        harness_alloc_fail_after(0);
    }
    free(deep);

    /* 5 bytes declaring 4 billion elements: ELIMIT by default, and with no
     * limit at all a prompt EOUTOFDATA; never a large allocation. */
    harness_alloc_reset_peaks();
    const uint8_t huge[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    zpk_reader_init(&r, huge, sizeof huge, NULL);
    assert_int_equal(zpk_reader_skip(&r), ZPK_ELIMIT);
    l.max_array_len = SIZE_MAX;
    zpk_reader_init(&r, huge, sizeof huge, &l);
    assert_int_equal(zpk_reader_skip(&r), ZPK_EOUTOFDATA);
    const uint8_t hugestr[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
    l.max_str_len = SIZE_MAX;
    zpk_reader_init(&r, hugestr, sizeof hugestr, &l);
    assert_int_equal(zpk_reader_skip(&r), ZPK_EOUTOFDATA);
    assert_int_equal(harness_alloc_stats().calls, 0);
    harness_alloc_uninstall();
}

static void test_timestamp_reads(void **state)
{
    (void)state;
    zpk_reader_t r;
    zpk_timestamp_t ts;
    /* 8-byte form with nsec > 999999999. */
    const uint8_t bad64[] = {0xd7, 0xff, 0xee, 0x6b, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00};
    zpk_reader_init(&r, bad64, sizeof bad64, NULL);
    assert_int_equal(zpk_read_timestamp(&r, &ts), ZPK_EFORMAT);
    assert_int_equal(zpk_reader_error_offset(&r), 0);
    /* 12-byte form with nsec = 10^9. */
    const uint8_t bad96[] = {0xc7, 0x0c, 0xff, 0x3b, 0x9a, 0xca, 0x00, 0, 0, 0, 0, 0, 0, 0, 0};
    zpk_reader_init(&r, bad96, sizeof bad96, NULL);
    assert_int_equal(zpk_read_timestamp(&r, &ts), ZPK_EFORMAT);
    /* A timestamp of a wrong length, and another ext type. */
    zpk_reader_init(&r, (const uint8_t *)"\xd5\xff\x00\x00", 4, NULL);
    assert_int_equal(zpk_read_timestamp(&r, &ts), ZPK_EFORMAT);
    zpk_reader_init(&r, (const uint8_t *)"\xd6\x01\x00\x00\x00\x00", 6, NULL);
    assert_int_equal(zpk_read_timestamp(&r, &ts), ZPK_ETYPE);
    zpk_reader_init(&r, (const uint8_t *)"\x01", 1, NULL);
    assert_int_equal(zpk_read_timestamp(&r, &ts), ZPK_ETYPE);
    assert_int_equal(zpk_reader_finish(&r), ZPK_ETYPE);
    /* Decode directly: all three forms. */
    assert_int_equal(zpk_timestamp_decode("\x5a\x4a\xf6\xa5", 4, &ts), 0);
    assert_true(ts.sec == 1514862245 && ts.nsec == 0);
    assert_int_equal(zpk_timestamp_decode("\xa1\xdc\xd7\xc8\x5a\x4a\xf6\xa5", 8, &ts), 0);
    assert_true(ts.sec == 1514862245 && ts.nsec == 678901234);
    assert_int_equal(zpk_timestamp_decode("\x3b\x9a\xc9\xff\xff\xff\xff\xff\xff\xff\xff\xff",
                                          12, &ts), 0);
    assert_true(ts.sec == -1 && ts.nsec == 999999999);
    assert_int_equal(zpk_timestamp_decode("", 0, &ts), ZPK_EFORMAT);
    assert_int_equal(zpk_timestamp_decode(NULL, 0, &ts), ZPK_EFORMAT);
}

/* Re-encodes everything a reader yields, tag by tag, with the writer. */
static void s_reencode(const uint8_t *in, size_t n, zpk_writer_t *w, size_t *values)
{
    zpk_reader_t r;
    zpk_reader_init(&r, in, n, NULL);
    zpk_tag_t t;
    const void *p;
    *values = 0;
    while (zpk_reader_remaining(&r) > 0) {
        assert_int_equal(zpk_read_item(&r, &t, &p), 0);
        zpk_write_tag(w, &t);
        if (p)
            zpk_write_raw(w, p, t.v.len);
        (*values)++;
    }
    assert_int_equal(zpk_reader_finish(&r), 0);
}

static void test_corpus_walk_and_reencode(void **state)
{
    (void)state;
    const char *docs[] = {"corpus/twitter.mpack", "corpus/citm_catalog.mpack",
                          "corpus/canada.mpack", "corpus/github.mpack"};
    for (size_t d = 0; d < 4; d++) {
        size_t n;
        uint8_t *in = harness_corpus_or_sample(docs[d], &n);
        assert_non_null(in);
        zpk_reader_t r;
        zpk_reader_init(&r, in, n, NULL);
        assert_int_equal(zpk_reader_skip(&r), 0);
        assert_int_equal(zpk_reader_finish(&r), 0);
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 0);
        size_t values;
        s_reencode(in, n, &w, &values);
        assert_int_equal(zpk_writer_finish(&w), 0);
        /* The corpus is in shortest form, so the bytes come back identical. */
        assert_int_equal(zpk_writer_size(&w), n);
        assert_memory_equal(zpk_writer_data(&w), in, n);
        assert_true(values > 1000);
        zpk_writer_free(&w);
        free(in);
    }
}

/* Seeded random bytes and mutated samples: never a crash, an over-read or an
 * unknown code; skip and a tag-by-tag walk agree on where the input is bad. */
static uint64_t s_rng = 0x9e3779b97f4a7c15u;
static uint32_t s_rand(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (uint32_t)(s_rng >> 16);
}

static void test_random_input_never_crashes(void **state)
{
    (void)state;
    zpk_limits_t l;
    zpk_limits_default(&l, 4096);
    l.max_depth = 16;
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = s_rand() % 64;
        uint8_t *buf = malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++) /* bias towards headers and small values */
            buf[i] = (s_rand() % 4) ? (uint8_t)(0x80 + s_rand() % 0x80) : (uint8_t)s_rand();
        zpk_reader_t r;
        zpk_reader_init(&r, buf, n, iter % 2 ? &l : NULL);
        int rc;
        while ((rc = zpk_reader_skip(&r)) == 0 && zpk_reader_remaining(&r) > 0) {
        }
        assert_true(rc == 0 || rc == ZPK_EOUTOFDATA || rc == ZPK_EFORMAT ||
                    rc == ZPK_ELIMIT || rc == ZPK_ETOODEEP);
        zpk_reader_init(&r, buf, n, iter % 2 ? &l : NULL);
        zpk_tag_t t;
        const void *p;
        while ((rc = zpk_read_item(&r, &t, &p)) == 0) {
            if (p)
                assert_true((const uint8_t *)p >= buf && (const uint8_t *)p + t.v.len <= buf + n);
        }
        assert_true(rc == ZPK_EOUTOFDATA || rc == ZPK_EFORMAT || rc == ZPK_ELIMIT);
        assert_true(zpk_reader_error_offset(&r) <= n);
        free(buf);
    }
}

static void test_typed_reads(void **state)
{
    (void)state;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_map(&w, 2);
    zpk_write_cstr(&w, "id");
    zpk_write_uint(&w, 11);
    zpk_write_cstr(&w, "xy");
    zpk_write_array(&w, 6);
    zpk_write_double(&w, 2.5);
    zpk_write_float(&w, 0.5f);
    zpk_write_int(&w, -7);
    zpk_write_bin(&w, "\x01\x02", 2);
    zpk_write_ext(&w, 42, "abcd", 4);
    zpk_write_nil(&w);
    zpk_write_bool(&w, true);
    zpk_write_uint(&w, UINT64_MAX);
    zpk_write_int(&w, INT64_MIN);
    assert_int_equal(zpk_writer_finish(&w), 0);
    const uint8_t *in = zpk_writer_data(&w);
    size_t n = zpk_writer_size(&w);

    zpk_reader_t r;
    zpk_reader_init(&r, in, n, NULL);
    size_t count;
    const char *s;
    size_t len;
    uint64_t u;
    int64_t i;
    double d;
    bool b;
    const void *p;
    int8_t type;
    assert_int_equal(zpk_read_map(&r, &count), 0);
    assert_int_equal(count, 2);
    assert_int_equal(zpk_read_str(&r, &s, &len), 0);
    assert_int_equal(len, 2);
    assert_memory_equal(s, "id", 2);
    assert_ptr_equal(s, in + 2); /* zero copy */
    assert_int_equal(zpk_read_uint(&r, &u), 0);
    assert_int_equal(u, 11);
    assert_int_equal(zpk_read_str(&r, NULL, NULL), 0);
    assert_int_equal(zpk_read_array(&r, &count), 0);
    assert_int_equal(count, 6);
    assert_int_equal(zpk_read_double(&r, &d), 0);
    assert_true(d == 2.5);
    assert_int_equal(zpk_read_double(&r, &d), 0);
    assert_true(d == 0.5);
    assert_int_equal(zpk_read_int(&r, &i), 0);
    assert_int_equal(i, -7);
    assert_int_equal(zpk_read_bin(&r, &p, &len), 0);
    assert_int_equal(len, 2);
    assert_memory_equal(p, "\x01\x02", 2);
    assert_int_equal(zpk_read_ext(&r, &type, &p, &len), 0);
    assert_int_equal(type, 42);
    assert_int_equal(len, 4);
    assert_memory_equal(p, "abcd", 4);
    assert_int_equal(zpk_read_nil(&r), 0);
    assert_int_equal(zpk_read_bool(&r, &b), 0);
    assert_true(b);
    /* UINT64_MAX is no int64: ETYPE at its header, sticky, output untouched. */
    size_t at = zpk_reader_offset(&r);
    i = 5;
    assert_int_equal(zpk_read_int(&r, &i), ZPK_ETYPE);
    assert_int_equal(i, 5);
    assert_int_equal(zpk_reader_error_offset(&r), at);
    assert_int_equal(zpk_read_nil(&r), ZPK_ETYPE);
    assert_int_equal(zpk_reader_finish(&r), ZPK_ETYPE);

    /* Each mismatch on its own. */
    zpk_reader_init(&r, (const uint8_t *)"\xff", 1, NULL); /* -1 */
    assert_int_equal(zpk_read_uint(&r, &u), ZPK_ETYPE);
    zpk_reader_init(&r, (const uint8_t *)"\xa1x", 2, NULL);
    assert_int_equal(zpk_read_bin(&r, &p, &len), ZPK_ETYPE);
    zpk_reader_init(&r, (const uint8_t *)"\xc0", 1, NULL);
    assert_int_equal(zpk_read_double(&r, &d), ZPK_ETYPE);
    zpk_reader_init(&r, (const uint8_t *)"\x90", 1, NULL);
    assert_int_equal(zpk_read_map(&r, &count), ZPK_ETYPE);
    zpk_reader_init(&r, (const uint8_t *)"\x80", 1, NULL);
    assert_int_equal(zpk_read_array(&r, &count), ZPK_ETYPE);
    zpk_reader_init(&r, (const uint8_t *)"\xc2", 1, NULL);
    assert_int_equal(zpk_read_nil(&r), ZPK_ETYPE);
    zpk_reader_init(&r, (const uint8_t *)"\xc0", 1, NULL);
    assert_int_equal(zpk_read_bool(&r, &b), ZPK_ETYPE);
    zpk_reader_init(&r, (const uint8_t *)"\xc4\x00", 2, NULL);
    assert_int_equal(zpk_read_str(&r, &s, &len), ZPK_ETYPE);
    assert_int_equal(zpk_read_ext(&r, &type, &p, &len), ZPK_ETYPE);
    /* Truncation is EOUTOFDATA, not ETYPE. */
    zpk_reader_init(&r, (const uint8_t *)"\xa3" "ab", 3, NULL);
    assert_int_equal(zpk_read_str(&r, &s, &len), ZPK_EOUTOFDATA);
    zpk_reader_init(&r, (const uint8_t *)"\xd3\x80", 2, NULL);
    assert_int_equal(zpk_read_int(&r, &i), ZPK_EOUTOFDATA);
    zpk_writer_free(&w);
}

/* Caller mistakes: every entry point refuses NULL with ZPK_EINVAL, never crashes. */
static void test_null_arguments(void **state)
{
    (void)state;
    zpk_tag_t t;
    const void *p;
    zpk_reader_init(NULL, "x", 1, NULL);
    assert_int_equal(zpk_read_tag(NULL, &t), ZPK_EINVAL);
    assert_int_equal((zpk_read_tag)(NULL, &t), ZPK_EINVAL);
    assert_int_equal(zpk_read_item(NULL, &t, &p), ZPK_EINVAL);
    assert_int_equal((zpk_read_item)(NULL, &t, &p), ZPK_EINVAL);
    assert_int_equal(zpk_read_bytes_inplace(NULL, 1, &p), ZPK_EINVAL);
    assert_int_equal(zpk_read_bytes(NULL, &t, 1), ZPK_EINVAL);
    assert_int_equal(zpk_skip_bytes(NULL, 1), ZPK_EINVAL);
    assert_int_equal(zpk_reader_skip(NULL), ZPK_EINVAL);
    assert_int_equal(zpk_read_timestamp(NULL, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_read_nil(NULL), ZPK_EINVAL);
    assert_int_equal(zpk_read_bool(NULL, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_read_int(NULL, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_read_uint(NULL, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_read_double(NULL, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_read_str(NULL, NULL, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_read_bin(NULL, NULL, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_read_array(NULL, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_read_map(NULL, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_read_ext(NULL, NULL, NULL, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_reader_error(NULL), ZPK_EINVAL);
    assert_int_equal((zpk_reader_error)(NULL), ZPK_EINVAL);
    assert_int_equal(zpk_reader_error_offset(NULL), 0);
    zpk_reader_set_error(NULL, ZPK_EIO);
    assert_int_equal(zpk_reader_offset(NULL), 0);
    assert_int_equal(zpk_reader_remaining(NULL), 0);
    assert_int_equal((zpk_reader_remaining)(NULL), 0);
    assert_int_equal(zpk_reader_finish(NULL), ZPK_EINVAL);
    zpk_limits_default(NULL, 0);

    /* NULL outputs that would be written to: a sticky ZPK_EINVAL on the reader */
    zpk_reader_t r;
    zpk_reader_init(&r, "\x01\x02", 2, NULL);
    assert_int_equal(zpk_read_tag(&r, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_reader_error(&r), ZPK_EINVAL);
    assert_int_equal(zpk_reader_remaining(&r), 0);
    zpk_reader_init(&r, "\x01\x02", 2, NULL);
    assert_int_equal((zpk_read_item)(&r, NULL, &p), ZPK_EINVAL);
    zpk_reader_init(&r, "\x01\x02", 2, NULL);
    assert_int_equal(zpk_read_bytes(&r, NULL, 2), ZPK_EINVAL);
    assert_int_equal(zpk_reader_offset(&r), 0);
    /* NULL data with a size */
    zpk_reader_init(&r, NULL, 2, NULL);
    assert_int_equal(zpk_reader_error(&r), ZPK_EINVAL);
    /* optional outputs may be NULL: the value is checked and dropped */
    zpk_reader_init(&r, "\xd6\xff\x00\x00\x00\x01\x05", 7, NULL);
    assert_int_equal(zpk_read_timestamp(&r, NULL), 0);
    assert_int_equal(zpk_read_uint(&r, NULL), 0);
    assert_int_equal(zpk_reader_finish(&r), 0);
    zpk_reader_init(&r, "\x01", 1, NULL);
    assert_int_equal(zpk_read_bytes_inplace(&r, 1, NULL), 0);
    assert_int_equal(zpk_reader_finish(&r), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_type),
        cmocka_unit_test(test_signed_encodings_of_positive_values),
        cmocka_unit_test(test_skip_nested),
        cmocka_unit_test(test_truncation_at_every_offset),
        cmocka_unit_test(test_reserved_byte),
        cmocka_unit_test(test_limits_exact),
        cmocka_unit_test(test_deep_and_huge),
        cmocka_unit_test(test_timestamp_reads),
        cmocka_unit_test(test_typed_reads),
        cmocka_unit_test(test_corpus_walk_and_reencode),
        cmocka_unit_test(test_random_input_never_crashes),
        cmocka_unit_test(test_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
