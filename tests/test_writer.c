/* The MessagePack writer: exact bytes at every boundary, targets, errors, one object. */
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
#include "msgpack_internal.h"
#include "zmqpack.h"

/* Checks that the growable writer @p w holds exactly @p hex, then resets it. */
static void s_expect(zpk_writer_t *w, const char *hex)
{
    uint8_t want[64];
    size_t n = harness_hex(hex, want, sizeof want);
    assert_int_equal(zpk_writer_finish(w), 0);
    assert_int_equal(zpk_writer_size(w), n);
    assert_memory_equal(zpk_writer_data(w), want, n);
    zpk_writer_reset(w);
}

static void test_uint_boundaries(void **state)
{
    (void)state;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_uint(&w, 0);            s_expect(&w, "00");
    zpk_write_uint(&w, 127);          s_expect(&w, "7f");
    zpk_write_uint(&w, 128);          s_expect(&w, "cc80");
    zpk_write_uint(&w, 255);          s_expect(&w, "ccff");
    zpk_write_uint(&w, 256);          s_expect(&w, "cd0100");
    zpk_write_uint(&w, 65535);        s_expect(&w, "cdffff");
    zpk_write_uint(&w, 65536);        s_expect(&w, "ce00010000");
    zpk_write_uint(&w, 4294967295u);  s_expect(&w, "ceffffffff");
    zpk_write_uint(&w, 4294967296u);  s_expect(&w, "cf0000000100000000");
    zpk_write_uint(&w, UINT64_MAX);   s_expect(&w, "cfffffffffffffffff");
    zpk_write_uint(&w, (uint64_t)INT64_MAX + 1); s_expect(&w, "cf8000000000000000");
    zpk_writer_free(&w);
}

static void test_int_boundaries(void **state)
{
    (void)state;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    /* Non-negative values take the unsigned forms. */
    zpk_write_int(&w, 0);             s_expect(&w, "00");
    zpk_write_int(&w, 127);           s_expect(&w, "7f");
    zpk_write_int(&w, 128);           s_expect(&w, "cc80");
    zpk_write_int(&w, 65536);         s_expect(&w, "ce00010000");
    zpk_write_int(&w, INT64_MAX);     s_expect(&w, "cf7fffffffffffffff");
    zpk_write_int(&w, -1);            s_expect(&w, "ff");
    zpk_write_int(&w, -32);           s_expect(&w, "e0");
    zpk_write_int(&w, -33);           s_expect(&w, "d0df");
    zpk_write_int(&w, -128);          s_expect(&w, "d080");
    zpk_write_int(&w, -129);          s_expect(&w, "d1ff7f");
    zpk_write_int(&w, -32768);        s_expect(&w, "d18000");
    zpk_write_int(&w, -32769);        s_expect(&w, "d2ffff7fff");
    zpk_write_int(&w, INT32_MIN);     s_expect(&w, "d280000000");
    zpk_write_int(&w, (int64_t)INT32_MIN - 1); s_expect(&w, "d3ffffffff7fffffff");
    zpk_write_int(&w, INT64_MIN);     s_expect(&w, "d38000000000000000");
    zpk_writer_free(&w);
}

static void test_nil_bool_float(void **state)
{
    (void)state;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_nil(&w);                s_expect(&w, "c0");
    zpk_write_bool(&w, false);        s_expect(&w, "c2");
    zpk_write_bool(&w, true);         s_expect(&w, "c3");
    zpk_write_float(&w, 1.5f);        s_expect(&w, "ca3fc00000");
    zpk_write_double(&w, 1.5);        s_expect(&w, "cb3ff8000000000000");
    zpk_write_double(&w, -0.0);       s_expect(&w, "cb8000000000000000");
    zpk_write_real(&w, 0.5);          s_expect(&w, "cb3fe0000000000000"); /* double by default */
    zpk_writer_set_flags(&w, ZPK_WRITER_SINGLE_FLOAT);
    zpk_write_real(&w, 0.5);          s_expect(&w, "ca3f000000");
    zpk_writer_set_flags(&w, 0);
    zpk_write_real(&w, -0.5);         s_expect(&w, "cbbfe0000000000000");
    zpk_writer_free(&w);
}

/* Writes a str/bin of @p len bytes and checks header bytes, size and body. */
static void s_check_blob(bool str, size_t len, const char *hdr_hex)
{
    uint8_t hdr[8];
    size_t hn = harness_hex(hdr_hex, hdr, sizeof hdr);
    uint8_t *body = malloc(len ? len : 1);
    for (size_t i = 0; i < len; i++)
        body[i] = (uint8_t)('a' + i % 26);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    if (str)
        zpk_write_str(&w, (const char *)body, len);
    else
        zpk_write_bin(&w, body, len);
    assert_int_equal(zpk_writer_finish(&w), 0);
    assert_int_equal(zpk_writer_size(&w), hn + len);
    assert_memory_equal(zpk_writer_data(&w), hdr, hn);
    if (len)
        assert_memory_equal(zpk_writer_data(&w) + hn, body, len);
    /* The split form (header, then the body in two pieces) gives the same bytes. */
    zpk_writer_t w2;
    zpk_writer_init_growable(&w2, 0);
    if (str)
        zpk_write_str_header(&w2, len);
    else
        zpk_write_bin_header(&w2, len);
    zpk_write_raw(&w2, body, len / 2);
    zpk_write_raw(&w2, body + len / 2, len - len / 2);
    assert_int_equal(zpk_writer_finish(&w2), 0);
    assert_int_equal(zpk_writer_size(&w2), hn + len);
    assert_memory_equal(zpk_writer_data(&w2), zpk_writer_data(&w), hn + len);
    zpk_writer_free(&w2);
    zpk_writer_free(&w);
    free(body);
}

static void test_str_lengths(void **state)
{
    (void)state;
    s_check_blob(true, 0, "a0");
    s_check_blob(true, 1, "a1");
    s_check_blob(true, 31, "bf");
    s_check_blob(true, 32, "d920");
    s_check_blob(true, 255, "d9ff");
    s_check_blob(true, 256, "da0100");
    s_check_blob(true, 65535, "daffff");
    s_check_blob(true, 65536, "db00010000");
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_cstr(&w, "hi");        s_expect(&w, "a26869");
    zpk_write_str(&w, NULL, 0);      s_expect(&w, "a0");
    zpk_writer_free(&w);
}

static void test_bin_lengths(void **state)
{
    (void)state;
    s_check_blob(false, 0, "c400");
    s_check_blob(false, 1, "c401");
    s_check_blob(false, 255, "c4ff");
    s_check_blob(false, 256, "c50100");
    s_check_blob(false, 65535, "c5ffff");
    s_check_blob(false, 65536, "c600010000");
}

static void test_array_map_headers(void **state)
{
    (void)state;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_array(&w, 0);          s_expect(&w, "90");
    zpk_write_array(&w, 15);         s_expect(&w, "9f");
    zpk_write_array(&w, 16);         s_expect(&w, "dc0010");
    zpk_write_array(&w, 65535);      s_expect(&w, "dcffff");
    zpk_write_array(&w, 65536);      s_expect(&w, "dd00010000");
    zpk_write_array(&w, UINT32_MAX); s_expect(&w, "ddffffffff");
    zpk_write_map(&w, 0);            s_expect(&w, "80");
    zpk_write_map(&w, 15);           s_expect(&w, "8f");
    zpk_write_map(&w, 16);           s_expect(&w, "de0010");
    zpk_write_map(&w, 65535);        s_expect(&w, "deffff");
    zpk_write_map(&w, 65536);        s_expect(&w, "df00010000");
    zpk_writer_free(&w);
}

static void test_ext_forms(void **state)
{
    (void)state;
    uint8_t body[70000];
    memset(body, 0x5a, sizeof body);
    static const struct {
        size_t len;
        const char *hdr;
    } cases[] = {
        {0, "c70007"},      {1, "d407"},         {2, "d507"},        {3, "c70307"},
        {4, "d607"},        {8, "d707"},         {16, "d807"},       {17, "c71107"},
        {255, "c7ff07"},    {256, "c8010007"},   {65535, "c8ffff07"}, {65536, "c90001000007"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t hdr[8];
        size_t hn = harness_hex(cases[i].hdr, hdr, sizeof hdr);
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 0);
        zpk_write_ext(&w, 7, body, cases[i].len);
        assert_int_equal(zpk_writer_finish(&w), 0);
        assert_int_equal(zpk_writer_size(&w), hn + cases[i].len);
        assert_memory_equal(zpk_writer_data(&w), hdr, hn);
        zpk_writer_free(&w);
    }
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_ext(&w, -128, "\x01", 1);        s_expect(&w, "d48001");
    zpk_write_ext_header(&w, 127, 100000);      s_expect(&w, "c9000186a07f");
    zpk_writer_free(&w);
}

static void test_timestamps(void **state)
{
    (void)state;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_timestamp(&w, 0, 0);                   s_expect(&w, "d6ff00000000");
    zpk_write_timestamp(&w, 4294967295, 0);          s_expect(&w, "d6ffffffffff");
    zpk_write_timestamp(&w, 4294967296, 0);          s_expect(&w, "d7ff0000000100000000");
    zpk_write_timestamp(&w, 1, 1);                   s_expect(&w, "d7ff0000000400000001");
    zpk_write_timestamp(&w, 17179869183, 999999999); s_expect(&w, "d7ffee6b27ffffffffff");
    zpk_write_timestamp(&w, 17179869184, 0);
    s_expect(&w, "c70cff000000000000000400000000");
    zpk_write_timestamp(&w, -1, 999999999);
    s_expect(&w, "c70cff3b9ac9ffffffffffffffffff");
    zpk_write_timestamp(&w, INT64_MIN, 0);
    s_expect(&w, "c70cff000000008000000000000000");
    zpk_write_timestamp(&w, 0, 1000000000);
    assert_int_equal(zpk_writer_finish(&w), ZPK_EINVAL);
    assert_int_equal(zpk_writer_size(&w), 0);
    zpk_writer_free(&w);

    uint8_t out[12];
    size_t len = 99;
    assert_int_equal(zpk_timestamp_encode(5, 0, out, &len), 0);
    assert_int_equal(len, 4);
    assert_int_equal(zpk_timestamp_encode(5, 1000000000, out, &len), ZPK_EINVAL);
}

static void test_write_tag(void **state)
{
    (void)state;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_tag_t t = {.type = ZPK_TYPE_UINT, .v.u = 300};
    zpk_write_tag(&w, &t); s_expect(&w, "cd012c");
    t = (zpk_tag_t){.type = ZPK_TYPE_INT, .v.i = -3};
    zpk_write_tag(&w, &t); s_expect(&w, "fd");
    t = (zpk_tag_t){.type = ZPK_TYPE_EXT, .exttype = -1, .v.len = 4};
    zpk_write_tag(&w, &t); s_expect(&w, "d6ff");
    t = (zpk_tag_t){.type = ZPK_TYPE_MAP, .v.len = 2};
    zpk_write_tag(&w, &t); s_expect(&w, "82");
    t = (zpk_tag_t){.type = ZPK_TYPE_FLOAT, .v.f = 0.5f};
    zpk_write_tag(&w, &t); s_expect(&w, "ca3f000000");
    t = (zpk_tag_t){.type = (zpk_type_t)99};
    zpk_write_tag(&w, &t);
    assert_int_equal(zpk_writer_error(&w), ZPK_EINVAL);
    zpk_writer_free(&w);
}

static void test_fixed_buffer_full_and_sticky(void **state)
{
    (void)state;
    uint8_t buf[4];
    zpk_writer_t w;
    zpk_writer_init_buffer(&w, buf, sizeof buf);
    zpk_write_uint(&w, 256); /* 3 bytes: fits */
    assert_int_equal(zpk_writer_error(&w), 0);
    zpk_write_uint(&w, 256); /* 3 more: does not */
    assert_int_equal(zpk_writer_error(&w), ZPK_EBUFFULL);
    assert_int_equal(zpk_writer_size(&w), 3);
    /* Sticky: later writes, even ones that would fit, do nothing. */
    zpk_write_nil(&w);
    zpk_write_str(&w, "", 0);
    zpk_write_raw(&w, "x", 1);
    zpk_writer_set_error(&w, ZPK_EIO); /* the first error is kept */
    assert_int_equal(zpk_writer_size(&w), 3);
    assert_int_equal(zpk_writer_finish(&w), ZPK_EBUFFULL);
    assert_int_equal(zpk_writer_error(&w), ZPK_EBUFFULL);
    assert_memory_equal(buf, "\xcd\x01\x00", 3);
    void *data;
    size_t size;
    assert_int_equal(zpk_writer_detach(&w, &data, &size), ZPK_EINVAL); /* not growable */
    assert_null(data);
    /* Exactly full is fine; reset clears the error. */
    zpk_writer_reset(&w);
    zpk_write_uint(&w, 65536);
    assert_int_equal(zpk_writer_error(&w), ZPK_EBUFFULL); /* 5 > 4 */
    zpk_writer_reset(&w);
    zpk_write_array(&w, 3);
    zpk_write_uint(&w, 1);
    zpk_write_int(&w, -1);
    zpk_write_nil(&w);
    assert_int_equal(zpk_writer_finish(&w), 0);
    assert_memory_equal(buf, "\x93\x01\xff\xc0", 4);
    zpk_writer_free(&w);

    /* A string whose body does not fit, and a zero-size buffer. */
    zpk_writer_init_buffer(&w, buf, sizeof buf);
    zpk_write_cstr(&w, "hello");
    assert_int_equal(zpk_writer_finish(&w), ZPK_EBUFFULL);
    zpk_writer_init_buffer(&w, NULL, 0);
    zpk_write_nil(&w);
    assert_int_equal(zpk_writer_finish(&w), ZPK_EBUFFULL);
    zpk_writer_init_buffer(&w, NULL, 5);
    assert_int_equal(zpk_writer_finish(&w), ZPK_EINVAL);

    /* Bad arguments are sticky ZPK_EINVAL. */
    zpk_writer_init_growable(&w, 0);
    zpk_write_cstr(&w, NULL);
    zpk_write_nil(&w);
    assert_int_equal(zpk_writer_finish(&w), ZPK_EINVAL);
    assert_int_equal(zpk_writer_size(&w), 0);
    zpk_writer_free(&w);
#if SIZE_MAX > UINT32_MAX
    zpk_writer_init_growable(&w, 0);
    zpk_write_str_header(&w, (size_t)UINT32_MAX + 1);
    assert_int_equal(zpk_writer_finish(&w), ZPK_EINVAL);
    zpk_writer_free(&w);
#endif
}

/* A mixed document of ~100 KB used by the sink and allocation tests. */
static void s_write_sample(zpk_writer_t *w)
{
    static uint8_t big[20000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)i;
    zpk_write_map(w, 5);
    zpk_write_cstr(w, "ints");
    zpk_write_array(w, 3000);
    for (int64_t i = 0; i < 3000; i++)
        zpk_write_int(w, (i % 2 ? -1 : 1) * i * i * i);
    zpk_write_cstr(w, "strs");
    zpk_write_array(w, 200);
    for (size_t i = 0; i < 200; i++)
        zpk_write_str(w, (const char *)big, i);
    zpk_write_cstr(w, "big");
    zpk_write_bin(w, big, sizeof big);
    zpk_write_cstr(w, "split");
    zpk_write_bin_header(w, sizeof big);
    for (size_t i = 0; i < sizeof big; i += 1000)
        zpk_write_raw(w, big + i, 1000);
    zpk_write_cstr(w, "misc");
    zpk_write_array(w, 4);
    zpk_write_double(w, 3.25);
    zpk_write_timestamp(w, 1514862245, 678901234);
    zpk_write_ext(w, 9, big, 300);
    zpk_write_nil(w);
}

typedef struct {
    uint8_t *data;
    size_t size, calls, max_chunk;
    int fail_at; /* fail this call (1-based) with rc */
    int rc;
} s_sink_t;

static int s_sink(void *ud, const void *data, size_t n)
{
    s_sink_t *s = ud;
    assert_true(n > 0);
    s->calls++;
    if (s->fail_at && (int)s->calls == s->fail_at)
        return s->rc;
    if (n > s->max_chunk)
        s->max_chunk = n;
    s->data = realloc(s->data, s->size + n);
    memcpy(s->data + s->size, data, n);
    s->size += n;
    return 0;
}

static void test_sink_chunks_equal_growable(void **state)
{
    (void)state;
    zpk_writer_t g;
    zpk_writer_init_growable(&g, 0);
    s_write_sample(&g);
    assert_int_equal(zpk_writer_finish(&g), 0);

    const size_t chunks[] = {0, 1, 64, 100, 4096, 1 << 20};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        s_sink_t s = {0};
        zpk_writer_t w;
        zpk_writer_init_sink(&w, s_sink, &s, chunks[c]);
        s_write_sample(&w);
        assert_int_equal(zpk_writer_size(&w), zpk_writer_size(&g));
        assert_int_equal(zpk_writer_finish(&w), 0);
        zpk_writer_free(&w);
        assert_int_equal(s.size, zpk_writer_size(&g));
        assert_memory_equal(s.data, zpk_writer_data(&g), s.size);
        if (chunks[c] == 100 || chunks[c] == 4096) {
            assert_true(s.calls > 10); /* really flushed in pieces */
            /* Chunks never exceed the chunk size, except blocks passed through. */
            assert_true(s.max_chunk <= 20000);
        }
        if (chunks[c] == 1 << 20)
            assert_int_equal(s.calls, 1);
        free(s.data);
    }
    zpk_writer_free(&g);

    /* A failing sink: its negative code becomes the sticky error; a positive one is EIO. */
    const int rcs[] = {-5, 1};
    const int want[] = {-5, ZPK_EIO};
    for (int k = 0; k < 2; k++) {
        s_sink_t s = {.fail_at = 2, .rc = rcs[k]};
        zpk_writer_t w;
        zpk_writer_init_sink(&w, s_sink, &s, 64);
        s_write_sample(&w);
        assert_int_equal(zpk_writer_error(&w), want[k]);
        assert_int_equal(zpk_writer_finish(&w), want[k]);
        assert_int_equal(s.calls, 2); /* no call after the failure */
        zpk_writer_free(&w);
        free(s.data);
    }
    zpk_writer_t w;
    zpk_writer_init_sink(&w, NULL, NULL, 0);
    assert_int_equal(zpk_writer_finish(&w), ZPK_EINVAL);
    zpk_writer_free(&w);
}

/* Values of every inline fast path, at sizes on both sides of each form. */
static void s_write_edge_sample(zpk_writer_t *w)
{
    static const char text[301] = "The quick brown fox jumps over the lazy dog. ";
    zpk_write_array(w, 3);
    zpk_write_map(w, 20);
    zpk_write_nil(w);
    zpk_write_bool(w, true);
    const uint64_t us[] = {0, 127, 128, 255, 256, 65535, 65536, 4294967295u, 4294967296u};
    for (size_t i = 0; i < sizeof us / sizeof us[0]; i++)
        zpk_write_uint(w, us[i]);
    const int64_t is[] = {-1, -32, -33, -128, -129, -32768, -32769, INT64_MIN, 5};
    for (size_t i = 0; i < sizeof is / sizeof is[0]; i++)
        zpk_write_int(w, is[i]);
    zpk_write_double(w, 0.25);
    zpk_write_float(w, 0.25f);
    const size_t ls[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 200, 255, 256, 300};
    for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++) {
        char *exact = malloc(ls[i] ? ls[i] : 1); /* exact size: ASan sees any over-read */
        memcpy(exact, text, ls[i]);
        zpk_write_str(w, exact, ls[i]);
        free(exact);
    }
    zpk_write_raw(w, "\xc0\xc2", 2);
    zpk_write_raw(w, NULL, 0);
    zpk_write_array(w, 16);
    zpk_write_map(w, 65536);
}

static void test_inline_paths_at_every_window_edge(void **state)
{
    (void)state;
    zpk_writer_t ref;
    zpk_writer_init_growable(&ref, 1 << 16);
    s_write_edge_sample(&ref);
    assert_int_equal(zpk_writer_finish(&ref), 0);
    const uint8_t *want = zpk_writer_data(&ref);
    size_t n = zpk_writer_size(&ref);
    /* The same calls through the exported functions (no inline path). */
    zpk_writer_t fn;
    zpk_writer_init_growable(&fn, 0);
    (zpk_write_array)(&fn, 3);
    (zpk_write_map)(&fn, 20);
    (zpk_write_nil)(&fn);
    assert_int_equal(zpk_writer_size(&fn), 5); /* 93 de0014 c0 */
    assert_memory_equal(zpk_writer_data(&fn), want, 5);
    zpk_writer_free(&fn);
    for (size_t cap = 0; cap <= n + 1; cap++) {
        /* A growable writer starting at every capacity gives the same bytes. */
        zpk_writer_t w;
        zpk_writer_init_growable(&w, cap);
        s_write_edge_sample(&w);
        assert_int_equal(zpk_writer_finish(&w), 0);
        assert_int_equal(zpk_writer_size(&w), n);
        assert_memory_equal(zpk_writer_data(&w), want, n);
        zpk_writer_free(&w);
        /* A fixed buffer of every size: a correct prefix, then EBUFFULL. */
        uint8_t *buf = malloc(cap ? cap : 1);
        zpk_writer_init_buffer(&w, buf, cap);
        s_write_edge_sample(&w);
        size_t got = zpk_writer_size(&w);
        assert_true(got <= cap);
        assert_int_equal(zpk_writer_finish(&w), cap >= n ? 0 : ZPK_EBUFFULL);
        if (got)
            assert_memory_equal(buf, want, got);
        free(buf);
        /* A sink with the smallest chunk. */
        s_sink_t s = {0};
        zpk_writer_init_sink(&w, s_sink, &s, 1);
        s_write_edge_sample(&w);
        assert_int_equal(zpk_writer_finish(&w), 0);
        zpk_writer_free(&w);
        assert_int_equal(s.size, n);
        assert_memory_equal(s.data, want, n);
        free(s.data);
    }
    zpk_writer_free(&ref);
}

static void test_detach(void **state)
{
    (void)state;
    harness_alloc_install();
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 8);
    void *data = (void *)1;
    size_t size = 1;
    /* Nothing written: nothing to detach. */
    assert_int_equal(zpk_writer_detach(&w, &data, &size), 0);
    assert_null(data);
    assert_int_equal(size, 0);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++)
            zpk_write_uint(&w, 65536);
        const uint8_t *before = zpk_writer_data(&w);
        assert_int_equal(zpk_writer_detach(&w, &data, &size), 0);
        assert_ptr_equal(data, before); /* no copy */
        assert_int_equal(size, 500);
        assert_memory_equal(data, "\xce\x00\x01\x00\x00", 5);
        assert_int_equal(zpk_writer_size(&w), 0);
        zpk_free(data); /* the caller owns it */
    }
    zpk_writer_free(&w);
    zpk_writer_free(&w); /* twice is harmless */
    harness_alloc_uninstall();
}

static void test_allocation_failure(void **state)
{
    (void)state;
    harness_alloc_install();
    size_t failures = 0;
    for (size_t k = 1; k < 40; k++) {
        harness_alloc_fail_after(k);
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 0);
        s_write_sample(&w);
        int rc = zpk_writer_finish(&w);
        if (rc != 0) {
            assert_int_equal(rc, ZPK_ENOMEM);
            failures++;
            void *data;
            size_t size;
            assert_int_equal(zpk_writer_detach(&w, &data, &size), ZPK_ENOMEM);
            assert_null(data);
        }
        zpk_writer_free(&w);
        harness_alloc_fail_after(0);
    }
    assert_true(failures > 5); /* the buffer grew several times */

    /* The sink's chunk allocation. */
    s_sink_t s = {0};
    zpk_writer_t w;
    zpk_writer_init_sink(&w, s_sink, &s, 64);
    harness_alloc_fail_after(1);
    zpk_write_nil(&w);
    assert_int_equal(zpk_writer_finish(&w), ZPK_ENOMEM);
    zpk_writer_free(&w);
    assert_int_equal(s.calls, 0);
    harness_alloc_fail_after(0);
    harness_alloc_uninstall();
}

static void test_reuse_for_small_headers(void **state)
{
    (void)state;
    /* The socket layer builds one small map per message with one writer. */
    harness_alloc_install();
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 128);
    for (int i = 0; i < 1000; i++) {
        zpk_writer_reset(&w);
        zpk_write_map(&w, 2);
        zpk_write_str(&w, "v", 1);
        zpk_write_uint(&w, 1);
        zpk_write_str(&w, "n", 1);
        zpk_write_uint(&w, (uint64_t)i);
        assert_int_equal(zpk_writer_finish(&w), 0);
    }
    assert_memory_equal(zpk_writer_data(&w), "\x82\xa1v\x01\xa1n\xcd\x03\xe7", 9);
    assert_int_equal(harness_alloc_stats().calls, 1); /* one allocation in all */
    zpk_writer_free(&w);
    harness_alloc_uninstall();
}


/* ---- exactly one object (zpk_writer_check_one_object) -------------------------- */

/* The answer, and that the error text holds @p text (NULL: success). */
static void s_one(const zpk_writer_t *w, const char *text)
{
    zpk_error_t err;
    zpk_error_clear(&err);
    err.code = ZPK_EIO; /* a stale error: the call must reset it */
    int rc = zpk_writer_check_one_object(w, &err);
    if (text == NULL) {
        assert_int_equal(rc, 0);
        assert_int_equal(err.code, 0);
        assert_string_equal(err.text, "");
    } else {
        assert_int_equal(rc, ZPK_EINVAL);
        assert_int_equal(err.code, ZPK_EINVAL);
        if (strstr(err.text, text) == NULL)
            fail_msg("\"%s\" does not say \"%s\"", err.text, text);
    }
}

static void test_one_object(void **state)
{
    (void)state;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    s_one(&w, "nothing written");
    zpk_write_uint(&w, 7);
    s_one(&w, NULL);
    zpk_write_uint(&w, 8);
    s_one(&w, "more than one object");

    /* The unfinished map: two pairs announced, one key written. */
    zpk_writer_reset(&w);
    zpk_write_map(&w, 2);
    zpk_write_cstr(&w, "a");
    s_one(&w, "3 more values");
    zpk_write_int(&w, -1);
    zpk_write_cstr(&w, "b");
    zpk_write_array(&w, 0);
    s_one(&w, NULL);
    /* A second object that leaves the count at 0: the header sees it. */
    zpk_write_array(&w, 2);
    zpk_write_nil(&w);
    s_one(&w, "more than one object");
    zpk_write_nil(&w);
    s_one(&w, "more than one object");

    /* Every kind of value, nested, through inline and exported calls alike. */
    zpk_writer_reset(&w);
    zpk_write_array(&w, 12);
    zpk_write_nil(&w);
    (zpk_write_bool)(&w, true);
    zpk_write_double(&w, 1.5);
    (zpk_write_float)(&w, 1.5f);
    zpk_write_real(&w, 2.0);
    zpk_write_bin(&w, "ab", 2);
    zpk_write_ext(&w, 3, "abc", 3);
    zpk_write_timestamp(&w, 1, 2);
    (zpk_write_map)(&w, 20);
    for (int i = 0; i < 20; i++) {
        (zpk_write_uint)(&w, (uint64_t)i);
        (zpk_write_int)(&w, -1000 * i);
    }
    (zpk_write_array)(&w, 1);
    (zpk_write_str)(&w, "x", 1);
    zpk_write_tag(&w, &(zpk_tag_t){.type = ZPK_TYPE_ARRAY, .v.len = 1});
    zpk_write_tag(&w, &(zpk_tag_t){.type = ZPK_TYPE_UINT, .v.u = 1});
    s_one(&w, "1 more values");
    zpk_write_str(&w, "a string longer than thirty-one bytes", 37);
    s_one(&w, NULL);
    zpk_writer_free(&w);
}

static void test_one_object_payload_and_raw(void **state)
{
    (void)state;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    /* A header's payload, written in pieces. */
    zpk_write_str_header(&w, 5);
    s_one(&w, "5 more payload bytes");
    zpk_write_raw(&w, "abc", 3);
    s_one(&w, "2 more payload bytes");
    (zpk_write_raw)(&w, "de", 2);
    s_one(&w, NULL);
    zpk_write_raw(&w, "\x01", 1); /* no payload owed: a value */
    s_one(&w, "more than one object");

    zpk_writer_reset(&w);
    zpk_write_tag(&w, &(zpk_tag_t){.type = ZPK_TYPE_EXT, .exttype = 1, .v.len = 2});
    zpk_write_raw(&w, "xy", 2);
    s_one(&w, NULL);
    /* Any other write where payload is owed would become payload: refused,
     * through the inline paths and the functions alike. */
    for (int k = 0; k < 6; k++) {
        zpk_writer_reset(&w);
        zpk_write_bin_header(&w, 2);
        zpk_write_raw(&w, "z", 1);
        switch (k) {
        case 0: zpk_write_nil(&w); break;
        case 1: zpk_write_uint(&w, 1); break;
        case 2: zpk_write_str(&w, "ab", 2); break;
        case 3: zpk_write_map(&w, 1); break;
        case 4: (zpk_write_array)(&w, 1); break;
        default: zpk_write_ext_header(&w, 4, 1); break;
        }
        assert_int_equal(zpk_writer_error(&w), ZPK_EINVAL);
        assert_int_equal(zpk_writer_size(&w), 3);
        assert_int_equal(zpk_writer_check_one_object(&w, NULL), ZPK_EINVAL);
    }

    /* Encoded values given raw are read to be counted. */
    zpk_writer_reset(&w);
    zpk_write_raw(&w, "\x82\xa1" "a\x01\xa1" "b", 6); /* {"a": 1, "b": ...} */
    s_one(&w, "1 more values");
    zpk_write_raw(&w, "\xda\x00\x03", 3); /* a str 16 header, its payload next */
    s_one(&w, "3 more payload bytes");
    zpk_write_raw(&w, "xyz", 3);
    s_one(&w, NULL);

    /* Headers and scalars cut between two raw writes, at every byte. */
    static const uint8_t obj[] = {0x93, 0xcd, 0x01, 0x02, 0xcb, 1, 2, 3, 4, 5, 6, 7, 8,
                                  0xc6, 0, 0, 0, 2, 'h', 'i'};
    for (size_t cut = 0; cut <= sizeof obj; cut++) {
        zpk_writer_reset(&w);
        zpk_write_raw(&w, obj, cut);
        if (cut == 0)
            s_one(&w, "nothing written");
        else if (cut < sizeof obj)
            s_one(&w, "unfinished object");
        zpk_write_raw(&w, obj + cut, sizeof obj - cut);
        s_one(&w, NULL);
    }
    /* One byte at a time. */
    zpk_writer_reset(&w);
    for (size_t i = 0; i < sizeof obj; i++)
        zpk_write_raw(&w, obj + i, 1);
    s_one(&w, NULL);

    /* Bytes that are not MessagePack, and a raw block of two objects. */
    zpk_writer_reset(&w);
    zpk_write_raw(&w, "\x91\xc1", 2);
    s_one(&w, "not MessagePack");
    zpk_writer_reset(&w);
    zpk_write_raw(&w, "\x01\x02", 2);
    s_one(&w, "more than one object");
    zpk_writer_free(&w);
}

static void test_one_object_targets_and_errors(void **state)
{
    (void)state;
    /* A sink counts what it has already flushed. */
    s_sink_t s = {0};
    zpk_writer_t w;
    zpk_writer_init_sink(&w, s_sink, &s, 64);
    zpk_write_array(&w, 100);
    for (int i = 0; i < 99; i++)
        zpk_write_uint(&w, 1000);
    s_one(&w, "1 more values");
    zpk_write_nil(&w);
    s_one(&w, NULL);
    assert_int_equal(zpk_writer_finish(&w), 0);
    s_one(&w, NULL);
    zpk_writer_free(&w);
    free(s.data);

    /* The sticky error comes first, with its own code. */
    uint8_t buf[2];
    zpk_writer_init_buffer(&w, buf, sizeof buf);
    zpk_write_uint(&w, 1000);
    zpk_error_t err;
    assert_int_equal(zpk_writer_check_one_object(&w, &err), ZPK_EBUFFULL);
    assert_int_equal(err.code, ZPK_EBUFFULL);
    assert_non_null(strstr(err.text, "buffer full"));
    zpk_writer_reset(&w);
    zpk_write_uint(&w, 1);
    s_one(&w, NULL);

    /* Detach and reset leave the writer empty. */
    zpk_writer_init_growable(&w, 0);
    zpk_write_array(&w, 1);
    zpk_write_nil(&w);
    void *data;
    size_t size;
    assert_int_equal(zpk_writer_detach(&w, &data, &size), 0);
    zpk_free(data);
    s_one(&w, "nothing written");
    zpk_write_nil(&w);
    s_one(&w, NULL);
    zpk_writer_free(&w);

    assert_int_equal(zpk_writer_check_one_object(NULL, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_writer_check_one_object(NULL, &err), ZPK_EINVAL);
    assert_string_equal(err.text, "NULL writer");
}

/* A tiny deterministic generator (xorshift). */
static uint64_t s_rand_state = 88172645463325252ull;
static uint64_t s_rand(void)
{
    s_rand_state ^= s_rand_state << 13;
    s_rand_state ^= s_rand_state >> 7;
    s_rand_state ^= s_rand_state << 17;
    return s_rand_state;
}

/* The truth, read back: one value, then nothing. */
static bool s_bytes_read_as_one(const uint8_t *p, size_t n)
{
    if (n == 0)
        return false;
    zpk_reader_t r;
    zpk_reader_init(&r, p, n, NULL);
    return zpk_reader_skip(&r) == 0 && zpk_reader_finish(&r) == 0;
}

static bool s_reads_as_one(const zpk_writer_t *w)
{
    return s_bytes_read_as_one(zpk_writer_data(w), zpk_writer_size(w));
}

static void test_one_object_agrees_with_a_reader(void **state)
{
    (void)state;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    int ones = 0;
    for (int round = 0; round < 4000; round++) {
        zpk_writer_reset(&w);
        int steps = 1 + (int)(s_rand() % 12);
        for (int i = 0; i < steps; i++) {
            switch (s_rand() % 9) {
            case 0: zpk_write_nil(&w); break;
            case 1: zpk_write_uint(&w, s_rand() >> (s_rand() % 64)); break;
            case 2: zpk_write_array(&w, s_rand() % 3); break;
            case 3: zpk_write_map(&w, s_rand() % 2); break;
            case 4: zpk_write_str(&w, "abc", s_rand() % 4); break;
            case 5: /* a header and its payload in two raw pieces */
                zpk_write_str_header(&w, 2);
                zpk_write_raw(&w, "q", 1);
                if (s_rand() % 4)
                    zpk_write_raw(&w, "r", 1);
                break;
            case 6: zpk_write_raw(&w, "\x92\x01", 2); break; /* encoded, unfinished */
            case 7: zpk_write_raw(&w, "\x01", 1); break;
            default: (zpk_write_array)(&w, 16 + s_rand() % 2); break;
            }
        }
        bool truth = s_reads_as_one(&w);
        ones += truth;
        assert_int_equal(zpk_writer_check_one_object(&w, NULL) == 0, truth);
    }
    assert_true(ones > 100); /* the generator reaches both answers */
    zpk_writer_free(&w);
}

/*
 * The count of zpk_write_raw() bytes against a reference walk over the
 * reader's tags, for a value of every first byte (all 256) in several
 * places (alone, nested, as a key, followed by more, cut short), given whole,
 * byte by byte and split in two at every offset. Payloads and the bytes of
 * numbers are 0xc1, the one byte that is not MessagePack: a count that read
 * them as headers would say so.
 */

/* The reference: what zpk_writer_check_one_object() should say of the
 * bytes @p p[0..n), as a piece of its text (NULL: one object). */
static const char *s_count_reference(const uint8_t *p, size_t n, char *buf, size_t bufsize)
{
    if (n == 0)
        return "nothing written";
    zpk_limits_t lim = {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX};
    zpk_reader_t r;
    zpk_reader_init(&r, p, n, &lim);
    int64_t need = 1;
    uint64_t payload = 0;
    bool over = false, cut = false;
    while (zpk_reader_remaining(&r) > 0) {
        if (payload > 0) {
            size_t k = zpk_reader_remaining(&r) < payload ? zpk_reader_remaining(&r) : payload;
            assert_int_equal(zpk_skip_bytes(&r, k), 0);
            payload -= k;
            continue;
        }
        zpk_tag_t t;
        int rc = zpk_read_tag(&r, &t);
        if (rc == ZPK_EFORMAT)
            return "not MessagePack";
        if (rc != 0) {
            assert_int_equal(rc, ZPK_EOUTOFDATA);
            cut = true;
            break;
        }
        over |= need <= 0; /* a value where none is expected */
        need--;
        if (t.type == ZPK_TYPE_ARRAY)
            need += (int64_t)t.v.len;
        else if (t.type == ZPK_TYPE_MAP)
            need += 2 * (int64_t)t.v.len;
        else if (t.type == ZPK_TYPE_STR || t.type == ZPK_TYPE_BIN || t.type == ZPK_TYPE_EXT)
            payload = t.v.len;
    }
    if (over)
        return "more than one object";
    if (cut)
        return "a header given to zpk_write_raw() is cut short";
    if (need > 0) {
        snprintf(buf, bufsize, ": %lld more values expected", (long long)need);
        return buf;
    }
    if (payload > 0) {
        snprintf(buf, bufsize, ": %llu more payload bytes expected", (unsigned long long)payload);
        return buf;
    }
    return NULL;
}

typedef struct s_verdict {
    int rc;
    zpk_error_t err;
    bool one; /* zpk__writer_one_object() */
} s_verdict_t;

/* Writes @p n bytes in pieces ending at @p cuts[0..ncuts) (then the rest). */
static s_verdict_t s_raw_in_pieces(const uint8_t *p, size_t n, const size_t *cuts, size_t ncuts)
{
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        zpk_write_raw(&w, p + at, to - at);
        at = to;
    }
    assert_int_equal(zpk_writer_size(&w), n);
    s_verdict_t v;
    v.rc = zpk_writer_check_one_object(&w, &v.err);
    v.one = zpk__writer_one_object(&w);
    zpk_writer_free(&w);
    return v;
}

static void s_same_verdict(const s_verdict_t *a, const s_verdict_t *b, const uint8_t *p, size_t n,
                           const char *how)
{
    if (a->rc != b->rc || a->err.code != b->err.code || a->err.offset != b->err.offset ||
        strcmp(a->err.text, b->err.text) != 0 || a->one != b->one)
        fail_msg("%zu bytes from 0x%02x, %s: \"%s\" (%d) against \"%s\" (%d) whole", n, p[0], how,
                 b->err.text, b->rc, a->err.text, a->rc);
}

/* Every way of giving @p p[0..n) agrees with the whole and with the reference. */
static void s_check_count(const uint8_t *p, size_t n)
{
    char buf[96];
    const char *want = s_count_reference(p, n, buf, sizeof buf);
    s_verdict_t whole = s_raw_in_pieces(p, n, NULL, 0);
    if (want == NULL) {
        assert_int_equal(whole.rc, 0);
        assert_int_equal(whole.err.code, 0);
    } else {
        assert_int_equal(whole.rc, ZPK_EINVAL);
        assert_int_equal(whole.err.code, ZPK_EINVAL);
        assert_int_equal(whole.err.offset, n);
        if (strstr(whole.err.text, want) == NULL)
            fail_msg("%zu bytes from 0x%02x: \"%s\" does not say \"%s\"", n, p[0], whole.err.text,
                     want);
    }
    assert_int_equal(whole.one, whole.rc == 0);
    assert_int_equal(s_bytes_read_as_one(p, n), whole.rc == 0);

    size_t cuts[128];
    assert_true(n <= 128);
    for (size_t i = 0; i < n; i++)
        cuts[i] = i;
    s_verdict_t v = s_raw_in_pieces(p, n, cuts + 1, n > 0 ? n - 1 : 0);
    s_same_verdict(&whole, &v, p, n, "byte by byte");
    for (size_t cut = 0; cut <= n; cut++) {
        v = s_raw_in_pieces(p, n, &cut, 1);
        s_same_verdict(&whole, &v, p, n, "in two");
    }
}

/* Whole values, every kind, for the children of containers. */
static const struct {
    const char *b;
    size_t n;
} s_children[] = {
    {"\x05", 1}, {"\xa2hi", 3}, {"\xcb\x3f\xf0\0\0\0\0\0\0", 9}, {"\xc0", 1},
    {"\x91\xe0", 2}, {"\xd4\x01\x02", 3}, {"\xc4\x01\xff", 3}, {"\x80", 1},
    {"\xcd\x01\x02", 3}, {"\x81\xa1k\xc3", 4}, {"\xd9\x01z", 3}, {"\xa0", 1},
};

/* Writes at @p out one whole value whose first byte is @p b (0xc1: that byte
 * alone); returns its size. */
static size_t s_value_from(uint8_t b, uint8_t *out)
{
    static const uint8_t fixed_size[10] = {5, 9, 2, 3, 5, 9, 2, 3, 5, 9}; /* 0xca..0xd3 */
    size_t n = 0, children = 0, payload = 0;
    out[n++] = b;
    if (b < 0x80 || b >= 0xe0 || b == 0xc0 || b == 0xc1 || b == 0xc2 || b == 0xc3) {
    } else if (b < 0x90) {
        children = 2u * (b & 0x0fu);
    } else if (b < 0xa0) {
        children = b & 0x0fu;
    } else if (b < 0xc0) {
        payload = b & 0x1fu;
    } else if (b >= 0xca && b <= 0xd3) {
        payload = fixed_size[b - 0xca] - 1u; /* not a payload, but any bytes */
    } else if (b >= 0xd4 && b <= 0xd8) {
        out[n++] = 0x07; /* the ext type */
        payload = 1u << (b - 0xd4);
    } else {
        static const uint8_t rest[][6] = {
            [0xc4 - 0xc4] = {2, 2},          [0xc5 - 0xc4] = {3, 0, 0},   /* bin 8, empty bin 16 */
            [0xc6 - 0xc4] = {5, 0, 0, 0, 3}, [0xc7 - 0xc4] = {3, 3, 7},      /* bin 32, ext 8 */
            [0xc8 - 0xc4] = {4, 0, 1, 7},    [0xc9 - 0xc4] = {6, 0, 0, 0, 2, 7},
            [0xd9 - 0xc4] = {2, 3},          [0xda - 0xc4] = {3, 0, 2},      /* str 8, 16 */
            [0xdb - 0xc4] = {5, 0, 0, 0, 1}, [0xdc - 0xc4] = {3, 0, 2},      /* str 32, array 16 */
            [0xdd - 0xc4] = {5, 0, 0, 0, 1}, [0xde - 0xc4] = {3, 0, 1},      /* array 32, map 16 */
            [0xdf - 0xc4] = {5, 0, 0, 0, 0},                                 /* empty map 32 */
        };
        const uint8_t *r = rest[b - 0xc4];
        memcpy(out + n, r + 1, r[0] - 1u);
        n += r[0] - 1u;
        uint32_t len = out[n - 1];
        if (b == 0xc7 || b == 0xc8 || b == 0xc9)
            len = out[n - 2];
        if (b == 0xdc || b == 0xdd)
            children = len;
        else if (b == 0xde || b == 0xdf)
            children = 2 * len;
        else
            payload = len;
    }
    memset(out + n, 0xc1, payload);
    n += payload;
    for (size_t i = 0; i < children; i++) {
        size_t k = (b + i) % (sizeof s_children / sizeof s_children[0]);
        memcpy(out + n, s_children[k].b, s_children[k].n);
        n += s_children[k].n;
    }
    return n;
}

static void test_one_object_raw_every_first_byte(void **state)
{
    (void)state;
    s_check_count(NULL, 0);
    for (unsigned b = 0; b < 256; b++) {
        uint8_t v[100];
        size_t n = s_value_from((uint8_t)b, v);
        assert_true(n <= sizeof v);
        /* the value with what comes before and after it */
        static const struct {
            const char *before, *after;
            size_t nb, na;
        } places[] = {
            {"", "", 0, 0},              /* alone */
            {"", "\x01", 0, 1},          /* followed by a second object */
            {"", "\xc1", 0, 1},          /* followed by a byte that is not MessagePack */
            {"\x91", "", 1, 0},          /* in an array */
            {"\x92", "\xc0", 1, 1},      /* first of two */
            {"\x93", "", 1, 0},          /* in an array that wants two more */
            {"\x81", "\xa1k", 1, 2},     /* a key */
            {"\x81\xa1k", "", 3, 0},     /* a value */
            {"\xdc\x00\x01", "", 3, 0},  /* in an array 16 */
            {"\xc0", "", 1, 0},          /* after a whole object */
        };
        for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
            uint8_t msg[128];
            size_t m = 0;
            memcpy(msg + m, places[i].before, places[i].nb);
            m += places[i].nb;
            memcpy(msg + m, v, n);
            m += n;
            memcpy(msg + m, places[i].after, places[i].na);
            m += places[i].na;
            s_check_count(msg, m);
            /* cut short: without its last byte, and without the last two */
            for (size_t drop = 1; drop <= 2 && drop < m; drop++)
                s_check_count(msg, m - drop);
        }
    }
}

/* ---- caller mistakes: errors, never crashes -------------------------------------- */

static void test_null_arguments(void **state)
{
    (void)state;
    /* A NULL writer: nowhere to keep an error, so nothing happens. */
    zpk_writer_init_growable(NULL, 0);
    zpk_writer_init_buffer(NULL, NULL, 0);
    zpk_writer_init_sink(NULL, s_sink, NULL, 0);
    zpk_writer_set_flags(NULL, 0);
    zpk_writer_reset(NULL);
    zpk_writer_free(NULL);
    zpk_writer_set_error(NULL, ZPK_EIO);
    assert_int_equal(zpk_writer_finish(NULL), ZPK_EINVAL);
    assert_int_equal(zpk_writer_error(NULL), ZPK_EINVAL);
    assert_int_equal((zpk_writer_error)(NULL), ZPK_EINVAL);
    assert_null(zpk_writer_data(NULL));
    assert_int_equal(zpk_writer_size(NULL), 0);
    void *data = (void *)1;
    size_t size = 1;
    assert_int_equal(zpk_writer_detach(NULL, &data, &size), ZPK_EINVAL);
    assert_null(data);
    assert_int_equal(size, 0);
    zpk_write_nil(NULL);
    zpk_write_bool(NULL, true);
    zpk_write_int(NULL, -100000);
    zpk_write_uint(NULL, 100000);
    zpk_write_float(NULL, 1.0f);
    zpk_write_double(NULL, 1.0);
    zpk_write_real(NULL, 1.0);
    zpk_write_str(NULL, "abc", 3);
    zpk_write_cstr(NULL, "abc");
    zpk_write_bin(NULL, "abc", 3);
    zpk_write_ext(NULL, 1, "abc", 3);
    zpk_write_str_header(NULL, 3);
    zpk_write_bin_header(NULL, 3);
    zpk_write_ext_header(NULL, 1, 3);
    zpk_write_array(NULL, 3);
    zpk_write_map(NULL, 3);
    zpk_write_raw(NULL, "abc", 3);
    zpk_write_tag(NULL, &(zpk_tag_t){.type = ZPK_TYPE_NIL});
    zpk_write_timestamp(NULL, 1, 1);
    (zpk_write_nil)(NULL);
    (zpk_write_str)(NULL, "abc", 3);
    (zpk_write_raw)(NULL, "abc", 3);

    /* NULL bytes with a length: a sticky ZPK_EINVAL, nothing written
     * (docs/msgpack.md), through the inline path and the function alike. */
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
#define S_REFUSED(call)                                                      \
    do {                                                                     \
        zpk_writer_reset(&w);                                                \
        call;                                                                \
        assert_int_equal(zpk_writer_error(&w), ZPK_EINVAL);                  \
        assert_int_equal(zpk_writer_size(&w), 0);                            \
        zpk_write_nil(&w); /* sticky */                                      \
        assert_int_equal(zpk_writer_size(&w), 0);                            \
    } while (0)
    S_REFUSED(zpk_write_str(&w, NULL, 3));
    S_REFUSED((zpk_write_str)(&w, NULL, 3));
    S_REFUSED(zpk_write_str(&w, NULL, 300));
    S_REFUSED(zpk_write_cstr(&w, NULL));
    S_REFUSED((zpk_write_cstr)(&w, NULL));
    S_REFUSED(zpk_write_bin(&w, NULL, 3));
    S_REFUSED(zpk_write_ext(&w, 1, NULL, 3));
    S_REFUSED(zpk_write_raw(&w, NULL, 3));
    S_REFUSED((zpk_write_raw)(&w, NULL, 3));
    S_REFUSED(zpk_write_tag(&w, NULL));
    S_REFUSED(zpk_write_tag(&w, &(zpk_tag_t){.type = (zpk_type_t)99}));
    S_REFUSED(zpk_write_timestamp(&w, 0, 1000000000u));
    /* Impossible sizes: more than MessagePack's 32-bit lengths. */
    S_REFUSED(zpk_write_array(&w, (size_t)UINT32_MAX + 1));
    S_REFUSED(zpk_write_map(&w, (size_t)UINT32_MAX + 1));
    S_REFUSED(zpk_write_str_header(&w, (size_t)UINT32_MAX + 1));
    S_REFUSED(zpk_write_bin_header(&w, (size_t)UINT32_MAX + 1));
    S_REFUSED(zpk_write_ext_header(&w, 1, (size_t)UINT32_MAX + 1));
#undef S_REFUSED
    /* NULL with length 0 is the empty value. */
    zpk_writer_reset(&w);
    zpk_write_str(&w, NULL, 0);
    zpk_write_bin(&w, NULL, 0);
    zpk_write_ext(&w, 1, NULL, 0);
    zpk_write_raw(&w, NULL, 0);
    s_expect(&w, "a0 c400 c70001");
    /* detach's outputs, and a buffer writer without its buffer. */
    assert_int_equal(zpk_writer_detach(&w, NULL, &size), ZPK_EINVAL);
    assert_int_equal(zpk_writer_detach(&w, &data, NULL), ZPK_EINVAL);
    zpk_writer_free(&w);
    zpk_writer_init_buffer(&w, NULL, 4);
    assert_int_equal(zpk_writer_error(&w), ZPK_EINVAL);
    zpk_writer_init_sink(&w, NULL, NULL, 0);
    assert_int_equal(zpk_writer_error(&w), ZPK_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uint_boundaries),
        cmocka_unit_test(test_int_boundaries),
        cmocka_unit_test(test_nil_bool_float),
        cmocka_unit_test(test_str_lengths),
        cmocka_unit_test(test_bin_lengths),
        cmocka_unit_test(test_array_map_headers),
        cmocka_unit_test(test_ext_forms),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_write_tag),
        cmocka_unit_test(test_fixed_buffer_full_and_sticky),
        cmocka_unit_test(test_sink_chunks_equal_growable),
        cmocka_unit_test(test_inline_paths_at_every_window_edge),
        cmocka_unit_test(test_detach),
        cmocka_unit_test(test_allocation_failure),
        cmocka_unit_test(test_reuse_for_small_headers),
        cmocka_unit_test(test_one_object),
        cmocka_unit_test(test_one_object_payload_and_raw),
        cmocka_unit_test(test_one_object_targets_and_errors),
        cmocka_unit_test(test_one_object_agrees_with_a_reader),
        cmocka_unit_test(test_one_object_raw_every_first_byte),
        cmocka_unit_test(test_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
