/*
 * One-shot parse in copy mode (the default): strings are copied in runs of
 * the input ("chunks", src/doc.c s_chunk), not one by one. These tests pin
 * what that must preserve: every str is an exact, NUL-terminated copy that
 * does not point into the input; strings of every length around the chunk
 * sizes; little copied past a small object's end; allocation failure at
 * every allocation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "zmqpack.h"
#include "zmqpack/json.h"

/* Checks every str of @p c (copy mode) against the same node of @p b
 * (borrow mode); returns the number of strs seen. */
static size_t s_compare(const zpk_node_t *c, const zpk_node_t *b, const uint8_t *in,
                        size_t inlen)
{
    assert_int_equal(zpk_node_type(c), zpk_node_type(b));
    assert_int_equal(zpk_node_len(c), zpk_node_len(b));
    size_t n = 0;
    switch (zpk_node_type(c)) {
    case ZPK_TYPE_STR: {
        const char *cs, *bs;
        size_t cl, bl;
        assert_int_equal(zpk_node_get_str(c, &cs, &cl), 0);
        assert_int_equal(zpk_node_get_str(b, &bs, &bl), 0);
        assert_int_equal(cl, bl);
        /* borrowed: inside the input; copied: outside it, same bytes, NUL */
        assert_true((const uint8_t *)bs >= in && (const uint8_t *)bs + bl <= in + inlen);
        assert_false((const uint8_t *)cs + cl > in && (const uint8_t *)cs < in + inlen);
        assert_memory_equal(cs, bs, cl);
        assert_int_equal(cs[cl], '\0');
        return 1;
    }
    case ZPK_TYPE_ARRAY:
        for (size_t i = 0; i < zpk_node_len(c); i++)
            n += s_compare(zpk_node_array_at(c, i), zpk_node_array_at(b, i), in, inlen);
        return n;
    case ZPK_TYPE_MAP:
        for (size_t i = 0; i < zpk_node_len(c); i++) {
            n += s_compare(zpk_node_map_key(c, i), zpk_node_map_key(b, i), in, inlen);
            n += s_compare(zpk_node_map_value(c, i), zpk_node_map_value(b, i), in, inlen);
        }
        return n;
    default:
        return 0;
    }
}

static size_t s_check_bytes(const uint8_t *in, size_t len)
{
    zpk_doc_t *c = NULL, *b = NULL;
    assert_int_equal(zpk_doc_parse(in, len, NULL, 0, &c, NULL), 0);
    assert_int_equal(zpk_doc_parse(in, len, NULL, ZPK_DOC_BORROW, &b, NULL), 0);
    size_t n = s_compare(zpk_doc_root(c), zpk_doc_root(b), in, len);
    /* the copy's tree outlives a scribbled input */
    zpk_doc_destroy(&b);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, len);
    assert_int_equal(zpk_node_write(&w, zpk_doc_root(c)), 0);
    assert_int_equal(zpk_writer_size(&w), len);
    assert_memory_equal(zpk_writer_data(&w), in, len);
    zpk_writer_free(&w);
    zpk_doc_destroy(&c);
    return n;
}

static void test_corpus(void **state)
{
    (void)state;
    static const char *names[] = {"twitter", "citm_catalog", "canada", "github"};
    for (size_t i = 0; i < 4; i++) {
        char name[64];
        snprintf(name, sizeof name, "corpus/%s.mpack", names[i]);
        size_t len;
        uint8_t *data = harness_corpus_or_sample(name, &len);
        assert_true(s_check_bytes(data, len) > 0);
        free(data);
    }
}

/* Strings of every length from 0 to 600 (across S_CHUNK_MIN = 256 and the
 * str8/str16 boundary), in one array, then the same with a long string
 * (100 KiB, above S_CHUNK_MAX) in the middle and last. */
static void test_lengths(void **state)
{
    (void)state;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    char *s = malloc(100 * 1024);
    assert_non_null(s);
    for (size_t i = 0; i < 100 * 1024; i++)
        s[i] = (char)('a' + i % 26);
    for (int round = 0; round < 3; round++) {
        zpk_writer_reset(&w);
        zpk_write_array(&w, 603);
        for (size_t n = 0; n <= 600; n++) {
            if (round == 1 && n == 300)
                zpk_write_str(&w, s, 100 * 1024);
            else
                zpk_write_str(&w, s + n % 7, n);
            if (round == 2 && n == 0)
                zpk_write_int(&w, -1);
        }
        if (round != 2) {
            zpk_write_nil(&w);
            zpk_write_uint(&w, 7);
        } else {
            zpk_write_str(&w, s, 100 * 1024); /* the last item */
        }
        assert_int_equal(zpk_writer_error(&w), 0);
        size_t want = round == 2 ? 602 : 601;
        assert_int_equal(s_check_bytes(zpk_writer_data(&w), zpk_writer_size(&w)), want);
    }
    free(s);
    zpk_writer_free(&w);
}

/* A small object at the front of a large buffer: EEXTRADATA, and the
 * string copies stay in proportion to the object, not to the buffer. */
static void test_small_object_large_buffer(void **state)
{
    (void)state;
    size_t len = 4 << 20;
    uint8_t *buf = calloc(1, len); /* the trailing data: 0x00 bytes */
    assert_non_null(buf);
    zpk_writer_t w;
    zpk_writer_init_buffer(&w, buf, 64);
    zpk_write_map(&w, 1);
    zpk_write_cstr(&w, "key");
    zpk_write_cstr(&w, "a value");
    assert_int_equal(zpk_writer_error(&w), 0);
    size_t objlen = zpk_writer_size(&w);
    harness_alloc_install();
    harness_alloc_reset_peaks();
    zpk_doc_t *d = NULL;
    zpk_error_t err;
    zpk_error_clear(&err);
    assert_int_equal(zpk_doc_parse(buf, len, NULL, 0, &d, &err), ZPK_EEXTRADATA);
    assert_int_equal(err.offset, objlen);
    assert_non_null(d);
    const char *v;
    size_t vl;
    assert_int_equal(zpk_node_get_str(zpk_node_map_get(zpk_doc_root(d), "key"), &v, &vl), 0);
    assert_string_equal(v, "a value");
    /* The arena's first block is sized from the input (2x, capped at
     * 1 MiB); a chunk that copied the 4 MiB of trailing bytes would need a
     * block of its own on top of that. */
    assert_true(harness_alloc_stats().peak_bytes < (1u << 20) + (64u << 10));
    assert_true(harness_alloc_stats().largest <= (1u << 20) + 64);
    zpk_doc_destroy(&d);
    harness_alloc_uninstall();
    free(buf);
}

/* Fail each allocation of a parse in turn: ZPK_ENOMEM, nothing leaked. */
static void test_alloc_failure(void **state)
{
    (void)state;
    size_t len;
    uint8_t *data = harness_corpus_or_sample("corpus/github.mpack", &len);
    harness_alloc_install();
    size_t calls = 0;
    for (size_t n = 1;; n++) {
        harness_alloc_reset_peaks();
        harness_alloc_fail_after(n);
        zpk_doc_t *d = NULL;
        int rc = zpk_doc_parse(data, len, NULL, 0, &d, NULL);
        harness_alloc_fail_after(0);
        if (rc == 0) {
            assert_non_null(d);
            zpk_doc_destroy(&d);
            calls = n;
            break;
        }
        assert_int_equal(rc, ZPK_ENOMEM);
        assert_null(d);
        assert_int_equal(harness_alloc_stats().live_blocks, 0);
        assert_true(n < 10000);
    }
    assert_true(calls > 1);
    harness_alloc_uninstall();
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_small_object_large_buffer),
        cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
