/* Format strings: exact bytes for every pack character, unpack, every error with its column. */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "zmqpack.h"

/* Checks that @p w holds exactly @p hex, then resets it. */
static void s_expect(zpk_writer_t *w, const char *hex)
{
    uint8_t want[128];
    size_t n = harness_hex(hex, want, sizeof want);
    assert_int_equal(zpk_writer_finish(w), 0);
    if (zpk_writer_size(w) != n || memcmp(zpk_writer_data(w), want, n) != 0) {
        fprintf(stderr, "want %s\ngot  ", hex);
        for (size_t i = 0; i < zpk_writer_size(w); i++)
            fprintf(stderr, "%02x ", zpk_writer_data(w)[i]);
        fprintf(stderr, "\n");
        fail();
    }
    zpk_writer_reset(w);
}

/* Packs with @p fmt and checks the exact bytes. */
#define PACK_EQ(w, hex, ...)                                  \
    do {                                                      \
        assert_int_equal(zpk_pack_fmt((w), __VA_ARGS__), 0);  \
        s_expect((w), (hex));                                 \
    } while (0)

static void test_seed_tuple(void **state)
{
    (void)state;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    PACK_EQ(&w, "93 a5 68656c6c6f 0b cb 4002666666666666", "[sid]", "hello", 11, 2.3);
    PACK_EQ(&w, "82 a2 6964 0b a2 7879 92 cb 3ff0000000000000 cb 4000000000000000",
            "{s:i s:[dd]}", "id", 11, "xy", 1.0, 2.0);
    /* Whitespace, ':' and ',' are ignored; several top-level values follow each other. */
    PACK_EQ(&w, "01 02 93 01 02 03", " i,i\t[i:i\ni] ", 1, 2, 1, 2, 3);
    PACK_EQ(&w, "90 80 91 90", "[] {} [[]]");
    zpk_writer_free(&w);
}

static void test_every_pack_character(void **state)
{
    (void)state;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    PACK_EQ(&w, "c0", "n");
    PACK_EQ(&w, "c3 c2 c3", "bbb", 1, 0, 42);
    PACK_EQ(&w, "ff", "i", -1);
    PACK_EQ(&w, "cd 01 2c", "i", 300);
    PACK_EQ(&w, "d2 80 00 00 00", "i", INT_MIN);
    PACK_EQ(&w, "d3 80 00 00 00 00 00 00 00", "I", INT64_MIN);
    PACK_EQ(&w, "cf 7f ff ff ff ff ff ff ff", "I", INT64_MAX);
    PACK_EQ(&w, "cc c8", "u", 200u);
    PACK_EQ(&w, "ce ff ff ff ff", "u", UINT_MAX);
    PACK_EQ(&w, "cf ff ff ff ff ff ff ff ff", "U", UINT64_MAX);
    PACK_EQ(&w, "ca 3f c0 00 00", "f", 1.5);
    PACK_EQ(&w, "cb 3f f8 00 00 00 00 00 00", "d", 1.5);
    PACK_EQ(&w, "cb 3f f8 00 00 00 00 00 00", "F", 1.5);
    zpk_writer_set_flags(&w, ZPK_WRITER_SINGLE_FLOAT);
    PACK_EQ(&w, "ca 3f c0 00 00 cb 3f f8 00 00 00 00 00 00", "F d", 1.5, 1.5);
    zpk_writer_set_flags(&w, 0);
    PACK_EQ(&w, "a3 61 62 63", "s", "abc");
    PACK_EQ(&w, "a3 61 00 62", "s#", "a\0b", (size_t)3);
    PACK_EQ(&w, "a0", "s#", (const char *)NULL, (size_t)0);
    PACK_EQ(&w, "c4 02 01 02", "y#", "\x01\x02", (size_t)2);
    PACK_EQ(&w, "c4 00", "y#", (const void *)NULL, (size_t)0);
    PACK_EQ(&w, "d5 05 61 62", "x", 5, "ab", (size_t)2);
    PACK_EQ(&w, "c7 03 80 61 62 63", "x", -128, "abc", (size_t)3);
    zpk_timestamp_t t32 = {1, 0}, t64 = {1, 5}, t96 = {-1, 0};
    PACK_EQ(&w, "d6 ff 00 00 00 01", "t", &t32);
    PACK_EQ(&w, "d7 ff 00 00 00 14 00 00 00 01", "t", &t64);
    PACK_EQ(&w, "c7 0c ff 00 00 00 00 ff ff ff ff ff ff ff ff", "t", &t96);
    PACK_EQ(&w, "93 01 02 03", "R#", "\x93\x01\x02\x03", (size_t)4);
    /* '?' writes nil for NULL. */
    PACK_EQ(&w, "93 c0 c0 c0", "[s? s#? y#?]", (const char *)NULL, (const char *)NULL,
            (size_t)5, (const void *)NULL, (size_t)5);
    PACK_EQ(&w, "92 c0 c0", "[t? O?]", (const zpk_timestamp_t *)NULL,
            (const zpk_node_t *)NULL);
    PACK_EQ(&w, "a1 78", "s?", "x");
    zpk_writer_free(&w);
}

static void test_pack_node(void **state)
{
    (void)state;
    /* O copies a whole tree in: every type, and a tree deeper than the inline stack. */
    uint8_t in[512];
    size_t n = harness_hex("85 a1 61 93 c0 c3 cb 7ff8000000000000 01 ca 3fc00000"
                     " c4 02 0102 d6 ff 00000001 d5 05 6162"
                     " 81 a0 92 ff d0 80 a3 78797a 80",
                     in, sizeof in);
    zpk_doc_t *doc = NULL;
    assert_int_equal(zpk_doc_parse(in, n, NULL, 0, &doc, NULL), 0);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    assert_int_equal(zpk_pack_fmt(&w, "O", zpk_doc_root(doc)), 0);
    assert_int_equal(zpk_writer_size(&w), n);
    assert_memory_equal(zpk_writer_data(&w), in, n);
    zpk_writer_reset(&w);
    assert_int_equal(zpk_pack_fmt(&w, "[i O]", 7, zpk_node_map_get(zpk_doc_root(doc), "xyz")), 0);
    s_expect(&w, "92 07 80");
    zpk_doc_destroy(&doc);
    zpk_writer_free(&w);

    uint8_t deep[300];
    for (size_t i = 0; i < 200; i++)
        deep[i] = 0x91;
    deep[200] = 0x2a;
    assert_int_equal(zpk_doc_parse(deep, 201, NULL, 0, &doc, NULL), 0);
    harness_alloc_install();
    zpk_writer_init_growable(&w, 0);
    assert_int_equal(zpk_pack_fmt(&w, "O", zpk_doc_root(doc)), 0);
    assert_int_equal(zpk_writer_size(&w), 201);
    assert_memory_equal(zpk_writer_data(&w), deep, 201);
    zpk_writer_free(&w);
    /* The stack allocation fails: ZPK_ENOMEM, no leak. */
    zpk_writer_init_growable(&w, 4096);
    zpk_write_nil(&w);
    harness_alloc_fail_after(1);
    assert_int_equal(zpk_pack_fmt(&w, "O", zpk_doc_root(doc)), ZPK_ENOMEM);
    assert_int_equal(zpk_writer_error(&w), ZPK_ENOMEM);
    harness_alloc_fail_after(0);
    zpk_writer_free(&w);
    harness_alloc_uninstall();
    zpk_doc_destroy(&doc);
}

/* Packs @p fmt, expects @p code at column @p col, and that nothing was written. */
static void s_pack_fmt_error(const char *fmt, size_t col)
{
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_nil(&w);
    zpk_error_t err;
    zpk_error_clear(&err);
    int rc = zpk_pack_fmt_ex(&w, &err, fmt, 1, 2, 3);
    if (rc != ZPK_EINVAL || err.offset != col)
        fprintf(stderr, "format \"%s\": rc %d offset %zu text %s\n", fmt, rc, err.offset,
                err.text);
    assert_int_equal(rc, ZPK_EINVAL);
    assert_int_equal(err.code, ZPK_EINVAL);
    assert_int_equal(err.offset, col);
    char want[32];
    snprintf(want, sizeof want, "column %zu", col);
    assert_non_null(strstr(err.text, want));
    /* A bad format writes nothing and leaves the writer usable. */
    assert_int_equal(zpk_writer_error(&w), 0);
    assert_int_equal(zpk_writer_size(&w), 1);
    zpk_writer_free(&w);
}

static void test_pack_format_errors(void **state)
{
    (void)state;
    s_pack_fmt_error("", 0);
    s_pack_fmt_error("   ", 0);
    s_pack_fmt_error("[ii", 0);
    s_pack_fmt_error("i [i {", 5);
    s_pack_fmt_error("[i]]", 3);
    s_pack_fmt_error("[i q]", 3);
    s_pack_fmt_error("ii}", 2);
    s_pack_fmt_error("y", 0);
    s_pack_fmt_error("i y", 2);
    s_pack_fmt_error("i#", 0);
    s_pack_fmt_error("b?", 0);
    s_pack_fmt_error("{s}", 0);
    s_pack_fmt_error("{s:i s}", 0);
    s_pack_fmt_error("[*]", 1);
    s_pack_fmt_error("[!]", 1);
    s_pack_fmt_error("[#]", 0);
    s_pack_fmt_error("[i]?", 2);
    char deep[80];
    memset(deep, '[', 70);
    deep[70] = '\0';
    s_pack_fmt_error(deep, 64);
    assert_int_equal(zpk_pack_fmt(NULL, "i", 1), ZPK_EINVAL);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    assert_int_equal(zpk_pack_fmt(&w, NULL), ZPK_EINVAL);
    zpk_writer_free(&w);
}

/* Packs @p fmt with the given arguments; expects an argument error at @p col. */
#define PACK_ARG_ERROR(col, ...)                                          \
    do {                                                                  \
        zpk_writer_t w_;                                                  \
        zpk_writer_init_growable(&w_, 0);                                 \
        zpk_error_t e_;                                                   \
        zpk_error_clear(&e_);                                             \
        assert_int_equal(zpk_pack_fmt_ex(&w_, &e_, __VA_ARGS__), ZPK_EINVAL); \
        assert_int_equal(e_.offset, (col));                               \
        assert_non_null(strstr(e_.text, "argument"));                     \
        /* Part of the value may be written: the writer is failed too. */ \
        assert_int_equal(zpk_writer_error(&w_), ZPK_EINVAL);              \
        assert_int_equal(zpk_writer_finish(&w_), ZPK_EINVAL);             \
        zpk_writer_free(&w_);                                             \
    } while (0)

static void test_pack_argument_errors(void **state)
{
    (void)state;
    zpk_timestamp_t bad = {0, 1000000000u};
    PACK_ARG_ERROR(0, "s", (const char *)NULL);
    PACK_ARG_ERROR(5, "[i i s]", 1, 2, (const char *)NULL);
    PACK_ARG_ERROR(3, "{s:s#}", "k", (const char *)NULL, (size_t)2);
    PACK_ARG_ERROR(1, "[y#]", (const void *)NULL, (size_t)1);
    PACK_ARG_ERROR(2, "i x", 1, 300, "a", (size_t)1);
    PACK_ARG_ERROR(0, "x", -129, "a", (size_t)1);
    PACK_ARG_ERROR(0, "x", 1, (const void *)NULL, (size_t)1);
    PACK_ARG_ERROR(0, "t", &bad);
    PACK_ARG_ERROR(0, "t", (const zpk_timestamp_t *)NULL);
    PACK_ARG_ERROR(0, "O", (const zpk_node_t *)NULL);
    PACK_ARG_ERROR(0, "R#", (const void *)NULL, (size_t)0);
    PACK_ARG_ERROR(1, "[f]", 1e300);

    /* A writer that already failed: its error comes back, nothing more written. */
    uint8_t buf[2];
    zpk_writer_t w;
    zpk_writer_init_buffer(&w, buf, sizeof buf);
    zpk_error_t err;
    zpk_error_clear(&err);
    assert_int_equal(zpk_pack_fmt_ex(&w, &err, "s", "too long"), ZPK_EBUFFULL);
    assert_int_equal(err.code, ZPK_EBUFFULL);
    assert_int_equal(zpk_pack_fmt(&w, "i", 1), ZPK_EBUFFULL);
}

/* A document from hex; the test destroys it. */
static zpk_doc_t *s_doc(const char *hex)
{
    uint8_t in[512];
    size_t n = harness_hex(hex, in, sizeof in);
    zpk_doc_t *doc = NULL;
    assert_int_equal(zpk_doc_parse(in, n, NULL, 0, &doc, NULL), 0);
    return doc;
}

static void test_unpack_seed(void **state)
{
    (void)state;
    /* {"id": 11, "xy": [1.0, 2.0]} */
    zpk_doc_t *doc = s_doc("82 a2 6964 0b a2 7879 92 cb 3ff0000000000000 ca 40000000");
    const zpk_node_t *root = zpk_doc_root(doc);
    int id = 0;
    double x = 0, y = 0;
    assert_int_equal(zpk_unpack_fmt(root, "{s:i s?[dd]}", "id", &id, "xy", &x, &y), 0);
    assert_int_equal(id, 11);
    assert_true(x == 1.0 && y == 2.0);
    /* Optional key absent: outputs untouched, later arguments still line up. */
    x = y = -7;
    id = 0;
    assert_int_equal(zpk_unpack_fmt(root, "{s?[dd] s:i}", "nope", &x, &y, "id", &id), 0);
    assert_true(x == -7 && y == -7);
    assert_int_equal(id, 11);
    /* Required key absent. */
    zpk_error_t err;
    zpk_error_clear(&err);
    assert_int_equal(zpk_unpack_fmt_ex(root, &err, "{s:i s:[dd]}", "id", &id, "zz", &x, &y),
                     ZPK_ENOTFOUND);
    assert_int_equal(err.offset, 5);
    assert_non_null(strstr(err.text, "zz"));
    /* Strictness. */
    assert_int_equal(zpk_unpack_fmt(root, "{s:* s:[**!] !}", "id", "xy"), 0);
    zpk_error_clear(&err);
    assert_int_equal(zpk_unpack_fmt_ex(root, &err, "{s:i !}", "id", &id), ZPK_ETYPE);
    assert_int_equal(err.offset, 5);
    zpk_error_clear(&err);
    assert_int_equal(zpk_unpack_fmt_ex(root, &err, "{s:[d!]}", "xy", &x), ZPK_ETYPE);
    assert_int_equal(err.offset, 5);
    zpk_error_clear(&err);
    assert_int_equal(zpk_unpack_fmt_ex(root, &err, "{s:[ddd]}", "xy", &x, &y, &y),
                     ZPK_ENOTFOUND);
    assert_int_equal(err.offset, 6);
    /* Lenient by default: a prefix of the array, a subset of the map. */
    assert_int_equal(zpk_unpack_fmt(root, "{s:[d]}", "xy", &x), 0);
    /* Keys with length. */
    id = 0;
    assert_int_equal(zpk_unpack_fmt(root, "{s#:i}", "idXX", (size_t)2, &id), 0);
    assert_int_equal(id, 11);
    zpk_doc_destroy(&doc);
}

static void test_unpack_every_character(void **state)
{
    (void)state;
    /* [nil, true, -5, 2^63, 3.5f, 2.25, "ab", "a\0b", bin 0102, ext 5 "ab", ts 1, 7, [1], {}] */
    zpk_doc_t *doc = s_doc("9e c0 c3 fb cf 8000000000000000 ca 40600000 cb 4002000000000000"
                           " a2 6162 a3 610062 c4 02 0102 d5 05 6162 d6 ff 00000001 07"
                           " 91 01 80");
    const zpk_node_t *root = zpk_doc_root(doc);
    int b = -1, i = 0, xt = 0;
    int64_t I = 0;
    unsigned u = 0;
    uint64_t U = 0;
    float f = 0;
    double d = 0, F = 0;
    const char *s = NULL, *s2 = NULL;
    size_t s2len = 0, ylen = 0, xlen = 0;
    const void *yp = NULL, *xp = NULL;
    zpk_timestamp_t ts = {0, 0};
    const zpk_node_t *o = NULL;
    assert_int_equal(zpk_unpack_fmt(root, "[n b i U f d s s# y# x t u O *]", &b, &i, &U, &f,
                                    &d, &s, &s2, &s2len, &yp, &ylen, &xt, &xp, &xlen, &ts,
                                    &u, &o),
                     0);
    assert_int_equal(b, 1);
    assert_int_equal(i, -5);
    assert_true(U == UINT64_C(1) << 63);
    assert_true(f == 3.5f);
    assert_true(d == 2.25);
    assert_string_equal(s, "ab");
    assert_int_equal(s2len, 3);
    assert_memory_equal(s2, "a\0b", 3);
    assert_int_equal(ylen, 2);
    assert_memory_equal(yp, "\x01\x02", 2);
    assert_int_equal(xt, 5);
    assert_int_equal(xlen, 2);
    assert_memory_equal(xp, "ab", 2);
    assert_true(ts.sec == 1 && ts.nsec == 0);
    assert_int_equal(u, 7);
    assert_ptr_equal(o, zpk_node_array_at(root, 12));
    /* I and F take any integer; d and f take either float width; F any number. */
    assert_int_equal(zpk_unpack_fmt(root, "[* * I * d f * * * * * F]", &I, &d, &f, &F), 0);
    assert_int_equal(I, -5);
    assert_true(d == 3.5 && f == 2.25f && F == 7.0);
    zpk_doc_destroy(&doc);
}

/* Unpacks @p fmt from @p hex; expects @p code at column @p col. */
#define UNPACK_ERROR(hex, want, col, ...)                                     \
    do {                                                                      \
        zpk_doc_t *d_ = s_doc(hex);                                           \
        zpk_error_t e_;                                                       \
        zpk_error_clear(&e_);                                                 \
        int rc_ = zpk_unpack_fmt_ex(zpk_doc_root(d_), &e_, __VA_ARGS__);      \
        if (rc_ != (want) || e_.offset != (size_t)(col))                      \
            fprintf(stderr, "line %d: rc %d offset %zu: %s\n", __LINE__, rc_, \
                    e_.offset, e_.text);                                      \
        assert_int_equal(rc_, (want));                                        \
        assert_int_equal(e_.code, (want));                                    \
        assert_int_equal(e_.offset, (col));                                   \
        zpk_doc_destroy(&d_);                                                 \
    } while (0)

static void test_unpack_errors(void **state)
{
    (void)state;
    int i;
    int64_t I;
    unsigned u;
    uint64_t U;
    float f;
    double d;
    const char *s;
    size_t len;
    const void *p;
    zpk_timestamp_t ts;
    /* Type mismatches, at the column of the character. */
    UNPACK_ERROR("01", ZPK_ETYPE, 0, "n");
    UNPACK_ERROR("01", ZPK_ETYPE, 0, "b", &i);
    UNPACK_ERROR("c0", ZPK_ETYPE, 0, "i", &i);
    UNPACK_ERROR("a1 61", ZPK_ETYPE, 0, "I", &I);
    UNPACK_ERROR("c3", ZPK_ETYPE, 0, "u", &u);
    UNPACK_ERROR("01", ZPK_ETYPE, 0, "f", &f);
    UNPACK_ERROR("01", ZPK_ETYPE, 0, "d", &d);
    UNPACK_ERROR("c0", ZPK_ETYPE, 0, "F", &d);
    UNPACK_ERROR("c4 00", ZPK_ETYPE, 0, "s", &s);
    UNPACK_ERROR("a0", ZPK_ETYPE, 0, "y#", &p, &len);
    UNPACK_ERROR("a0", ZPK_ETYPE, 0, "x", &i, &p, &len);
    UNPACK_ERROR("d5 05 6162", ZPK_ETYPE, 0, "t", &ts);
    UNPACK_ERROR("c7 03 ff 000000", ZPK_ETYPE, 0, "t", &ts);
    UNPACK_ERROR("80", ZPK_ETYPE, 0, "[]");
    UNPACK_ERROR("90", ZPK_ETYPE, 0, "{}");
    UNPACK_ERROR("92 01 a0", ZPK_ETYPE, 4, "[ i i ]", &i, &i);
    UNPACK_ERROR("81 a1 6b 91 c2", ZPK_ETYPE, 4, "{s:[i]}", "k", &i);
    /* Values that do not fit the C type. */
    UNPACK_ERROR("ce 80000000", ZPK_ETYPE, 0, "i", &i);
    UNPACK_ERROR("ff", ZPK_ETYPE, 0, "U", &U);
    UNPACK_ERROR("ff", ZPK_ETYPE, 0, "u", &u);
    UNPACK_ERROR("cf 8000000000000000", ZPK_ETYPE, 0, "I", &I);
    UNPACK_ERROR("cf 0000000100000000", ZPK_ETYPE, 0, "u", &u);
    UNPACK_ERROR("a3 610062", ZPK_ETYPE, 0, "s", &s);
    UNPACK_ERROR("cb 7e37e43c8800759c", ZPK_ETYPE, 0, "f", &f); /* 1e300 */
    /* Missing. */
    UNPACK_ERROR("80", ZPK_ENOTFOUND, 1, "{s:n}", "k");
    UNPACK_ERROR("81 01 02", ZPK_ENOTFOUND, 1, "{s:n}", "k"); /* non-str keys never match */
    UNPACK_ERROR("91 01", ZPK_ENOTFOUND, 3, "[i i]", &i, &i);
    /* Bad formats, before anything is stored. */
    UNPACK_ERROR("01", ZPK_EINVAL, 1, "ii", &i, &i);
    UNPACK_ERROR("01", ZPK_EINVAL, 0, "");
    UNPACK_ERROR("01", ZPK_EINVAL, 0, "[i");
    UNPACK_ERROR("01", ZPK_EINVAL, 1, "{i:i}");
    UNPACK_ERROR("01", ZPK_EINVAL, 3, "{s?i?}", "k", &i);
    UNPACK_ERROR("01", ZPK_EINVAL, 0, "i?", &i);
    UNPACK_ERROR("01", ZPK_EINVAL, 0, "R#", &p, &len);
    UNPACK_ERROR("01", ZPK_EINVAL, 1, "[!i]", &i);
    UNPACK_ERROR("01", ZPK_EINVAL, 0, "y", &p);
    UNPACK_ERROR("01", ZPK_EINVAL, 0, "i#", &i);
    /* Argument errors: NULL outputs and keys. */
    UNPACK_ERROR("01", ZPK_EINVAL, 0, "i", (int *)NULL);
    UNPACK_ERROR("92 01 a0", ZPK_EINVAL, 3, "[i s#]", &i, &s, (size_t *)NULL);
    UNPACK_ERROR("80", ZPK_EINVAL, 1, "{s?i}", (const char *)NULL, &i);
    /* A value that does not match a later character leaves earlier outputs set. */
    zpk_doc_t *doc = s_doc("92 05 c0");
    i = 0;
    assert_int_equal(zpk_unpack_fmt(zpk_doc_root(doc), "[i i]", &i, &i), ZPK_ETYPE);
    assert_int_equal(i, 5);
    assert_int_equal(zpk_unpack_fmt(NULL, "i", &i), ZPK_EINVAL);
    assert_int_equal(zpk_unpack_fmt(zpk_doc_root(doc), NULL), ZPK_EINVAL);
    zpk_doc_destroy(&doc);
}

static void test_unpack_borrowed_str(void **state)
{
    (void)state;
    /* {"k": "abc", "m": {"q": "xyz"}}: with ZPK_DOC_BORROW (as a received
     * message is parsed) a str points into the input, which has no NUL after
     * it: `s` has the document copy it once, `s#` gives it in place. */
    static const uint8_t in[] = {0x82, 0xa1, 'k', 0xa3, 'a', 'b', 'c',
                                 0xa1, 'm', 0x81, 0xa1, 'q', 0xa3, 'x', 'y', 'z'};
    zpk_doc_t *doc = NULL;
    harness_alloc_install();
    assert_int_equal(zpk_doc_parse(in, sizeof in, NULL, ZPK_DOC_BORROW, &doc, NULL), 0);
    const char *s = NULL, *again = NULL, *q = NULL;
    size_t len = 0;
    assert_int_equal(zpk_unpack_fmt(zpk_doc_root(doc), "{s:s s:{s:s}}", "k", &s, "m", "q", &q),
                     0);
    assert_string_equal(s, "abc");
    assert_string_equal(q, "xyz");
    assert_true(s < (const char *)in || s >= (const char *)in + sizeof in); /* a copy */
    /* the same copy every time: nothing more allocated */
    size_t calls = harness_alloc_stats().calls;
    assert_int_equal(zpk_unpack_fmt(zpk_doc_root(doc), "{s:s}", "k", &again), 0);
    assert_ptr_equal(again, s);
    assert_int_equal(harness_alloc_stats().calls, calls);
    /* s# still points into the input */
    assert_int_equal(zpk_unpack_fmt(zpk_doc_root(doc), "{s:s#}", "k", &s, &len), 0);
    assert_int_equal(len, 3);
    assert_ptr_equal(s, in + 4);
    /* below the root, the document cannot be reached: a clear refusal */
    const zpk_node_t *m = zpk_node_map_get(zpk_doc_root(doc), "m");
    zpk_error_t err;
    q = NULL;
    assert_int_equal(zpk_unpack_fmt_ex(m, &err, "{s:s}", "q", &q), ZPK_ETYPE);
    assert_int_equal(err.offset, 3);
    assert_string_equal(err.text, "column 3 (key \"q\"): a str borrowed from the input "
                                  "needs 's#', or unpack from the document's root");
    assert_null(q);
    assert_int_equal(zpk_unpack_fmt(m, "{s:s#}", "q", &q, &len), 0);
    /* the copies go with the document */
    zpk_doc_destroy(&doc);
    harness_alloc_uninstall();
    /* out of memory while copying: ZPK_ENOMEM, nothing leaks */
    harness_alloc_install();
    assert_int_equal(zpk_doc_parse(in, sizeof in, NULL, ZPK_DOC_BORROW, &doc, NULL), 0);
    harness_alloc_fail_after(1);
    assert_int_equal(zpk_unpack_fmt(zpk_doc_root(doc), "{s:s}", "k", &s), ZPK_ENOMEM);
    harness_alloc_fail_after(2);
    assert_int_equal(zpk_unpack_fmt(zpk_doc_root(doc), "{s:s}", "k", &s), ZPK_ENOMEM);
    assert_int_equal(zpk_unpack_fmt(zpk_doc_root(doc), "{s:s}", "k", &s), 0);
    assert_string_equal(s, "abc");
    zpk_doc_destroy(&doc);
    harness_alloc_uninstall();
    /* the root itself a borrowed str */
    static const uint8_t str[] = {0xa2, 'h', 'i', 0xc0};
    assert_int_equal(zpk_doc_parse(str, 3, NULL, ZPK_DOC_BORROW, &doc, NULL), 0);
    assert_int_equal(zpk_unpack_fmt(zpk_doc_root(doc), "s", &s), 0);
    assert_string_equal(s, "hi");
    zpk_doc_destroy(&doc);
    /* copied documents need no copy */
    assert_int_equal(zpk_doc_parse(in, sizeof in, NULL, 0, &doc, NULL), 0);
    assert_int_equal(zpk_unpack_fmt(zpk_doc_root(doc), "{s:s}", "k", &s), 0);
    assert_string_equal(s, "abc");
    zpk_doc_destroy(&doc);
}

/* Several threads unpacking one borrowed document: each str is copied once,
 * every thread gets that copy. */
#define S_THREADS 4
#define S_KEYS 200
typedef struct {
    const zpk_node_t *root;
    const char *got[S_KEYS];
} s_unpacker_arg_t;

static void *s_unpack_all(void *p)
{
    s_unpacker_arg_t *a = p;
    for (int round = 0; round < 3; round++)
        for (int k = 0; k < S_KEYS; k++) {
            char key[16];
            snprintf(key, sizeof key, "k%d", k);
            if (zpk_unpack_fmt(a->root, "{s:s}", key, &a->got[k]) != 0)
                a->got[k] = NULL;
        }
    return NULL;
}

static void test_unpack_borrowed_str_threads(void **state)
{
    (void)state;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_map(&w, S_KEYS);
    for (int k = 0; k < S_KEYS; k++) {
        char key[16], val[16];
        snprintf(key, sizeof key, "k%d", k);
        snprintf(val, sizeof val, "v%d", k);
        zpk_write_cstr(&w, key);
        zpk_write_cstr(&w, val);
    }
    zpk_doc_t *doc = NULL;
    assert_int_equal(zpk_doc_parse(zpk_writer_data(&w), zpk_writer_size(&w), NULL,
                                   ZPK_DOC_BORROW, &doc, NULL),
                     0);
    static s_unpacker_arg_t args[S_THREADS];
    pthread_t th[S_THREADS];
    for (int t = 0; t < S_THREADS; t++) {
        args[t].root = zpk_doc_root(doc);
        assert_int_equal(pthread_create(&th[t], NULL, s_unpack_all, &args[t]), 0);
    }
    for (int t = 0; t < S_THREADS; t++)
        pthread_join(th[t], NULL);
    for (int k = 0; k < S_KEYS; k++) {
        char val[16];
        snprintf(val, sizeof val, "v%d", k);
        assert_non_null(args[0].got[k]);
        assert_string_equal(args[0].got[k], val);
        for (int t = 1; t < S_THREADS; t++)
            assert_ptr_equal(args[t].got[k], args[0].got[k]);
    }
    zpk_doc_destroy(&doc);
    zpk_writer_free(&w);
}

/* A format error names the column and the key (or element) of the value. */
static void test_unpack_errors_name_key_and_column(void **state)
{
    (void)state;
    zpk_doc_t *doc = s_doc("82 a2 6964 a3 616263 a2 7879 92 01 a1 7a"); /* {"id":"abc","xy":[1,"z"]} */
    zpk_error_t err;
    int i = 0;
    const char *s = NULL;
    assert_int_equal(zpk_unpack_fmt_ex(zpk_doc_root(doc), &err, "{s:i}", "id", &i), ZPK_ETYPE);
    assert_string_equal(err.text, "column 3 (key \"id\"): 'i' expects an integer, found str");
    assert_int_equal(zpk_unpack_fmt_ex(zpk_doc_root(doc), &err, "{s:s, s:[i i]}", "id", &s, "xy",
                                       &i, &i),
                     ZPK_ETYPE);
    assert_string_equal(err.text, "column 11 (element 1): 'i' expects an integer, found str");
    assert_int_equal(zpk_unpack_fmt_ex(zpk_doc_root(doc), &err, "{s:[is]}", "xy", &i, &s), 0);
    assert_string_equal(s, "z");
    zpk_doc_destroy(&doc);
}

static void test_roundtrip_through_format(void **state)
{
    (void)state;
    /* pack -> parse -> unpack gives back every value; exact bytes of a nested map. */
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_timestamp_t ts = {1700000000, 123456789};
    assert_int_equal(zpk_pack_fmt(&w, "{s:{s:U s:t} s:[b n I]}", "a", "big", UINT64_MAX,
                                  "when", &ts, "list", 1, (int64_t)-42),
                     0);
    zpk_doc_t *doc = NULL;
    assert_int_equal(zpk_doc_parse(zpk_writer_data(&w), zpk_writer_size(&w), NULL, 0, &doc,
                                   NULL),
                     0);
    uint64_t U = 0;
    zpk_timestamp_t t2 = {0, 0};
    int b = 0;
    int64_t I = 0;
    assert_int_equal(zpk_unpack_fmt(zpk_doc_root(doc), "{s:{s:U s:t !} s:[b n I !] !}", "a",
                                    "big", &U, "when", &t2, "list", &b, &I),
                     0);
    assert_true(U == UINT64_MAX);
    assert_true(t2.sec == ts.sec && t2.nsec == ts.nsec);
    assert_int_equal(b, 1);
    assert_int_equal(I, -42);
    zpk_doc_destroy(&doc);
    zpk_writer_free(&w);
}

/* Caller mistakes: every entry point of format.h refuses NULL with ZPK_EINVAL. */
static int s_pack_v(zpk_writer_t *w, zpk_error_t *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = err != NULL ? zpk_pack_fmt_v_ex(w, err, fmt, ap) : zpk_pack_fmt_v(w, fmt, ap);
    va_end(ap);
    return rc;
}

static int s_unpack_v(const zpk_node_t *n, zpk_error_t *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = err != NULL ? zpk_unpack_fmt_v_ex(n, err, fmt, ap) : zpk_unpack_fmt_v(n, fmt, ap);
    va_end(ap);
    return rc;
}

static void test_null_arguments(void **state)
{
    (void)state;
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_error_t err;
    assert_int_equal(zpk_pack_fmt(NULL, "i", 1), ZPK_EINVAL);
    assert_int_equal(zpk_pack_fmt_ex(NULL, &err, "i", 1), ZPK_EINVAL);
    assert_int_equal(s_pack_v(NULL, NULL, "i", 1), ZPK_EINVAL);
    assert_int_equal(s_pack_v(NULL, &err, "i", 1), ZPK_EINVAL);
    assert_int_equal(zpk_pack_fmt(&w, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_pack_fmt_ex(&w, &err, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_writer_size(&w), 0);
    assert_int_equal(zpk_writer_error(&w), 0); /* a bad format leaves the writer as it was */
    zpk_writer_free(&w);
    zpk_doc_t *doc = s_doc("01");
    int i = 0;
    assert_int_equal(zpk_unpack_fmt(NULL, "i", &i), ZPK_EINVAL);
    assert_int_equal(zpk_unpack_fmt_ex(NULL, &err, "i", &i), ZPK_EINVAL);
    assert_int_equal(s_unpack_v(NULL, NULL, "i", &i), ZPK_EINVAL);
    assert_int_equal(s_unpack_v(NULL, &err, "i", &i), ZPK_EINVAL);
    assert_int_equal(zpk_unpack_fmt(zpk_doc_root(doc), NULL), ZPK_EINVAL);
    assert_int_equal(zpk_unpack_fmt_ex(zpk_doc_root(doc), &err, "i", (int *)NULL), ZPK_EINVAL);
    assert_non_null(strstr(err.text, "NULL output pointer"));
    zpk_doc_destroy(&doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_tuple),
        cmocka_unit_test(test_every_pack_character),
        cmocka_unit_test(test_pack_node),
        cmocka_unit_test(test_pack_format_errors),
        cmocka_unit_test(test_pack_argument_errors),
        cmocka_unit_test(test_unpack_seed),
        cmocka_unit_test(test_unpack_every_character),
        cmocka_unit_test(test_unpack_errors),
        cmocka_unit_test(test_unpack_borrowed_str),
        cmocka_unit_test(test_unpack_borrowed_str_threads),
        cmocka_unit_test(test_unpack_errors_name_key_and_column),
        cmocka_unit_test(test_roundtrip_through_format),
        cmocka_unit_test(test_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
