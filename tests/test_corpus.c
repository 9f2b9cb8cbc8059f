/*
 * The four corpus documents (github, twitter, citm_catalog, canada): one-shot and
 * streaming decode give identical trees, re-encoding gives identical bytes,
 * truncations give "need more data".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "doc_util.h"
#include "harness.h"
#include "zmqpack.h"

static uint8_t *s_load(const char *name, size_t *len)
{
    char rel[128];
    snprintf(rel, sizeof rel, "corpus/%s", name);
    const char *path = harness_data_path(rel);
    if (path == NULL)
        return NULL;
    return harness_read_file(path, len);
}

#define S_LOAD_OR_SKIP(name, len)                                                \
    uint8_t *data = s_load(name, &len);                                          \
    if (data == NULL) {                                                          \
        print_message("shared data absent: skipping %s\n", name);               \
        skip();                                                                  \
    }

/* Streams @p data in chunks (chunk 0: random 1..8192 with @p seed). */
static void s_stream_equals(const uint8_t *data, size_t len, const zpk_node_t *ref,
                            size_t chunk, uint64_t seed)
{
    zpk_unpacker_t *u = zpk_unpacker_new(NULL, 0);
    assert_non_null(u);
    zpk_doc_t *d = NULL;
    size_t off = 0;
    int rc = ZPK_EOUTOFDATA;
    while (off < len) {
        size_t n = chunk ? chunk : 1 + test_rand(&seed) % 8192;
        if (n > len - off)
            n = len - off;
        assert_int_equal(zpk_unpacker_feed(u, data + off, n), 0);
        off += n;
        rc = zpk_unpacker_next(u, &d);
        if (off < len)
            assert_int_equal(rc, ZPK_EOUTOFDATA); /* every prefix: need more */
    }
    assert_int_equal(rc, 0);
    assert_int_equal(zpk_doc_consumed(d), len);
    assert_int_equal(zpk_unpacker_tell(u), len);
    assert_true(tree_equal(zpk_doc_root(d), ref));
    zpk_doc_destroy(&d);
    zpk_unpacker_destroy(&u);
}

static void s_check_document(const char *name, bool every_truncation)
{
    size_t len;
    S_LOAD_OR_SKIP(name, len)
    zpk_doc_t *ref = NULL;
    zpk_error_t err;
    zpk_error_clear(&err);
    assert_int_equal(zpk_doc_parse(data, len, NULL, 0, &ref, &err), 0);
    assert_int_equal(zpk_doc_consumed(ref), len);

    /* borrowed strings give the same tree */
    zpk_doc_t *bor = NULL;
    assert_int_equal(zpk_doc_parse(data, len, NULL, ZPK_DOC_BORROW, &bor, NULL), 0);
    assert_true(tree_equal(zpk_doc_root(bor), zpk_doc_root(ref)));
    zpk_doc_destroy(&bor);

    /* the corpus uses shortest forms: re-encoding gives the same bytes */
    zpk_writer_t w;
    zpk_writer_init_growable(&w, len);
    assert_int_equal(zpk_node_write(&w, zpk_doc_root(ref)), 0);
    assert_int_equal(zpk_writer_size(&w), len);
    assert_memory_equal(zpk_writer_data(&w), data, len);
    zpk_writer_free(&w);

    s_stream_equals(data, len, zpk_doc_root(ref), 0, 12345);
    s_stream_equals(data, len, zpk_doc_root(ref), 4096, 0);
    s_stream_equals(data, len, zpk_doc_root(ref), 1, 0); /* checks every truncation too */

    /* one-shot truncations: every offset, or a few hundred sampled ones */
    uint64_t rs = 777;
    size_t count = every_truncation ? len : 200;
    for (size_t i = 0; i < count; i++) {
        size_t cut = every_truncation ? i : (size_t)(test_rand(&rs) % len);
        zpk_doc_t *d = NULL;
        zpk_error_clear(&err);
        assert_int_equal(zpk_doc_parse(data, cut, NULL, ZPK_DOC_BORROW, &d, &err),
                         ZPK_EOUTOFDATA);
        assert_null(d);
        assert_int_equal(err.offset, cut);
    }
    zpk_doc_destroy(&ref);
    free(data);
}

static void test_github(void **state)
{
    (void)state;
    s_check_document("github.mpack", true);
}

static void test_twitter(void **state)
{
    (void)state;
    s_check_document("twitter.mpack", false);
}

static void test_citm_catalog(void **state)
{
    (void)state;
    s_check_document("citm_catalog.mpack", false);
}

static void test_canada(void **state)
{
    (void)state;
    s_check_document("canada.mpack", false);
}

/* Spot checks that the trees hold what the documents say. */
static void test_known_values(void **state)
{
    (void)state;
    size_t len;
    S_LOAD_OR_SKIP("twitter.mpack", len)
    zpk_doc_t *d = NULL;
    assert_int_equal(zpk_doc_parse(data, len, NULL, ZPK_DOC_CHECK_UTF8, &d, NULL), 0);
    const zpk_node_t *statuses = zpk_node_map_get(zpk_doc_root(d), "statuses");
    assert_int_equal(zpk_node_type(statuses), ZPK_TYPE_ARRAY);
    assert_int_equal(zpk_node_len(statuses), 100);
    const zpk_node_t *meta = zpk_node_map_get(zpk_doc_root(d), "search_metadata");
    uint64_t count;
    assert_int_equal(zpk_node_get_uint(zpk_node_map_get(meta, "count"), &count), 0);
    assert_int_equal(count, 100);
    zpk_doc_destroy(&d);
    free(data);
}

int main(void)
{
    harness_require_data("corpus/github.mpack");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_github),
        cmocka_unit_test(test_twitter),
        cmocka_unit_test(test_citm_catalog),
        cmocka_unit_test(test_canada),
        cmocka_unit_test(test_known_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
