/*
 * Fuzz target: one-shot unpack (zpk_doc_parse) of arbitrary bytes.
 *
 * Input: raw MessagePack. Checks, beyond "no crash, no leak, no allocation
 * the input merely claims":
 * - copy and ZPK_DOC_BORROW|ZPK_DOC_CHECK_UTF8 parses agree (the latter may
 *   only add ZPK_EUTF8) and give equal trees, the borrowed one pointing
 *   into the input;
 * - the pull reader's skip agrees with the tree parser on where the object
 *   ends and on the error code (the tree parser may say "need more data"
 *   earlier: a container declaring more elements than bytes remain);
 * - the error offset lies inside the input; every accessor of every node
 *   agrees with the others (fuzz_tree.h);
 * - with tight limits, a parse that succeeds gives the same tree.
 */
#include "fuzz_tree.h"

/* With ZPK_DOC_BORROW every str, bin and ext payload lies inside the input. */
static void s_check_borrowed(const zpk_node_t *n, const uint8_t *data, size_t size)
{
    const uint8_t *p = NULL;
    size_t len = zpk_node_len(n);
    int8_t et;
    switch (zpk_node_type(n)) {
    case ZPK_TYPE_STR:
        FUZZ_CHECK(zpk_node_get_str(n, (const char **)&p, NULL) == 0);
        break;
    case ZPK_TYPE_BIN:
        FUZZ_CHECK(zpk_node_get_bin(n, &p, NULL) == 0);
        break;
    case ZPK_TYPE_EXT:
        FUZZ_CHECK(zpk_node_get_ext(n, &et, &p, NULL) == 0);
        break;
    case ZPK_TYPE_ARRAY:
        for (size_t i = 0; i < len; i++)
            s_check_borrowed(zpk_node_array_at(n, i), data, size);
        return;
    case ZPK_TYPE_MAP:
        for (size_t i = 0; i < len; i++) {
            s_check_borrowed(zpk_node_map_key(n, i), data, size);
            s_check_borrowed(zpk_node_map_value(n, i), data, size);
        }
        return;
    default:
        return;
    }
    if (len > 0)
        FUZZ_CHECK(p >= data && p + len <= data + size);
}

static bool s_is_error(int rc)
{
    return rc != 0 && rc != ZPK_EEXTRADATA;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A document costs a few words per byte of input; nothing near 64x. */
    fuzz_begin(size, 64, 256 * 1024);

    zpk_error_t err;
    zpk_error_clear(&err);
    zpk_doc_t *d1 = NULL, *d2 = NULL, *d3 = NULL;
    int rc1 = zpk_doc_parse(data, size, NULL, 0, &d1, &err);
    FUZZ_CHECK(rc1 <= 0);
    FUZZ_CHECK((d1 != NULL) == !s_is_error(rc1));
    if (rc1 != 0) {
        FUZZ_CHECK(err.code == rc1);
        FUZZ_CHECK(err.offset <= size);
    }
    if (d1 != NULL) {
        size_t used = zpk_doc_consumed(d1);
        FUZZ_CHECK(used > 0 && used <= size);
        FUZZ_CHECK((rc1 == ZPK_EEXTRADATA) == (used < size));
        ftree_walk(zpk_doc_root(d1));
    }

    int rc2 = zpk_doc_parse(data, size, NULL, ZPK_DOC_BORROW | ZPK_DOC_CHECK_UTF8, &d2, NULL);
    FUZZ_CHECK(rc2 == rc1 || rc2 == ZPK_EUTF8);
    if (d2 != NULL) {
        FUZZ_CHECK(d1 != NULL);
        FUZZ_CHECK(zpk_doc_consumed(d1) == zpk_doc_consumed(d2));
        FUZZ_CHECK(ftree_equal(zpk_doc_root(d1), zpk_doc_root(d2)));
        s_check_borrowed(zpk_doc_root(d2), data, size); /* zero copy, and in bounds */
    }

    /* The pull reader skips exactly the same object. */
    zpk_reader_t r;
    zpk_reader_init(&r, data, size, NULL);
    int rc3 = zpk_reader_skip(&r);
    if (rc1 == ZPK_EOUTOFDATA) {
        /* One-shot parsing stops early, with "need more data", at a
         * container that declares more elements than bytes remain; the
         * reader goes on and may meet a hard error in those bytes. */
        FUZZ_CHECK(rc3 != 0);
    } else if (s_is_error(rc1) && rc1 != ZPK_ENOMEM && rc1 != ZPK_EUTF8) {
        FUZZ_CHECK(rc3 == rc1);
    } else if (!s_is_error(rc1)) {
        FUZZ_CHECK(rc3 == 0);
        FUZZ_CHECK(zpk_reader_offset(&r) == zpk_doc_consumed(d1));
        FUZZ_CHECK(zpk_reader_finish(&r) == rc1);
    }

    /* Tight limits: either a clean error or the very same tree. */
    zpk_limits_t lim;
    zpk_limits_default(&lim, 64);
    lim.max_depth = 8;
    int rc4 = zpk_doc_parse(data, size, &lim, 0, &d3, NULL);
    FUZZ_CHECK(rc4 <= 0);
    if (d3 != NULL) {
        FUZZ_CHECK(rc4 == rc1 && d1 != NULL);
        FUZZ_CHECK(ftree_equal(zpk_doc_root(d1), zpk_doc_root(d3)));
    } else {
        FUZZ_CHECK(rc4 == rc1 || rc4 == ZPK_ELIMIT || rc4 == ZPK_ETOODEEP);
    }

    zpk_doc_destroy(&d1);
    zpk_doc_destroy(&d2);
    zpk_doc_destroy(&d3);
    FUZZ_CHECK(d1 == NULL && d2 == NULL && d3 == NULL);
    fuzz_end();
    return 0;
}
