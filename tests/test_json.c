/* The JSON bridge: the mapping table both ways, tags, errors, corpus round trips. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "zmqpack.h"
#include "zmqpack/json.h"

/* One row of the mapping table: MessagePack bytes, plain JSON, lossless JSON. */
typedef struct s_row {
    const char *mpack;
    const char *plain;
    const char *lossless;
} s_row_t;

static const s_row_t s_rows[] = {
    {"c0", "null", "null"},
    {"c3", "true", "true"},
    {"c2", "false", "false"},
    {"00", "0", "0"},
    {"7f", "127", "127"},
    {"ff", "-1", "-1"},
    {"d3 8000000000000000", "-9223372036854775808", "-9223372036854775808"},
    {"cf 7fffffffffffffff", "9223372036854775807", "9223372036854775807"},
    {"cf ffffffffffffffff", "1.8446744073709552e+19", "{\"$uint\":\"18446744073709551615\"}"},
    {"cb 3ff8000000000000", "1.5", "1.5"},
    {"cb 8000000000000000", "-0.0", "-0.0"},
    {"cb 3fb999999999999a", "0.1", "0.1"},
    {"cb 3ff0000000000000", "1.0", "1.0"},
    {"cb 54b249ad2594c37d", "1e+100", "1e+100"},
    {"cb 0000000000000001", "4.94065645841247e-324", "4.94065645841247e-324"},
    {"ca 3dcccccd", "0.1", "{\"$float32\":0.1}"},
    {"cb 7ff8000000000000", "null", "{\"$float\":\"nan\"}"},
    {"cb fff8000000000000", "null", "{\"$float\":\"-nan\"}"},
    {"cb 7ff0000000000000", "null", "{\"$float\":\"inf\"}"},
    {"cb fff0000000000000", "null", "{\"$float\":\"-inf\"}"},
    {"cb 7ff0000000000001", "null", "{\"$float\":\"0x7ff0000000000001\"}"},
    {"ca 3fc00000", "1.5", "{\"$float32\":1.5}"},
    {"ca 80000000", "-0.0", "{\"$float32\":-0.0}"},
    {"ca 7fc00000", "null", "{\"$float32\":\"nan\"}"},
    {"ca ff800000", "null", "{\"$float32\":\"-inf\"}"},
    {"ca 7fc00001", "null", "{\"$float32\":\"0x7fc00001\"}"},
    {"a0", "\"\"", "\"\""},
    {"a3 610062", "\"a\\u0000b\"", "\"a\\u0000b\""},
    {"a4 f09f9880", "\"\xf0\x9f\x98\x80\"", "\"\xf0\x9f\x98\x80\""},
    {"a2 ff61", "{\"$str\":\"/2E=\"}", "{\"$str\":\"/2E=\"}"},
    /* overlong, surrogate, above U+10FFFF, cut short (2 and 3 of 4 bytes) */
    {"a2 c080", "{\"$str\":\"wIA=\"}", "{\"$str\":\"wIA=\"}"},
    {"a3 eda080", "{\"$str\":\"7aCA\"}", "{\"$str\":\"7aCA\"}"},
    {"a4 f4908080", "{\"$str\":\"9JCAgA==\"}", "{\"$str\":\"9JCAgA==\"}"},
    {"a2 e282", "{\"$str\":\"4oI=\"}", "{\"$str\":\"4oI=\"}"},
    {"a3 f09f98", "{\"$str\":\"8J+Y\"}", "{\"$str\":\"8J+Y\"}"},
    {"c4 00", "\"\"", "{\"$bin\":\"\"}"},
    {"c4 03 010203", "\"AQID\"", "{\"$bin\":\"AQID\"}"},
    {"c4 02 fffe", "\"//4=\"", "{\"$bin\":\"//4=\"}"},
    {"c4 01 00", "\"AA==\"", "{\"$bin\":\"AA==\"}"},
    {"d6 ff 00000001", "\"1970-01-01T00:00:01Z\"", "{\"$timestamp\":[1,0]}"},
    {"d7 ff 77359400 00000001", "\"1970-01-01T00:00:01.5Z\"", "{\"$timestamp\":[1,500000000]}"},
    {"c7 0c ff 00000000 ffffffffffffffff", "\"1969-12-31T23:59:59Z\"",
     "{\"$timestamp\":[-1,0]}"},
    {"d6 ff 6a1f9e7b", "\"2026-06-03T03:24:43Z\"", "{\"$timestamp\":[1780457083,0]}"},
    {"c7 0c ff 00000000 7fffffffffffffff", "{\"$timestamp\":[9223372036854775807,0]}",
     "{\"$timestamp\":[9223372036854775807,0]}"},
    /* A timestamp not in its shortest form, and a malformed one: kept as ext. */
    {"d7 ff 00000000 00000001", "{\"$ext\":[-1,\"AAAAAAAAAAE=\"]}",
     "{\"$ext\":[-1,\"AAAAAAAAAAE=\"]}"},
    {"d4 ff 00", "{\"$ext\":[-1,\"AA==\"]}", "{\"$ext\":[-1,\"AA==\"]}"},
    {"d5 05 6162", "{\"$ext\":[5,\"YWI=\"]}", "{\"$ext\":[5,\"YWI=\"]}"},
    {"c7 00 80", "{\"$ext\":[-128,\"\"]}", "{\"$ext\":[-128,\"\"]}"},
    {"90", "[]", "[]"},
    {"93 01 a1 78 90", "[1,\"x\",[]]", "[1,\"x\",[]]"},
    {"80", "{}", "{}"},
    {"82 a1 62 01 a1 61 02", "{\"b\":1,\"a\":2}", "{\"b\":1,\"a\":2}"},
    {"82 a2 2461 01 a1 62 02", "{\"$a\":1,\"b\":2}", "{\"$a\":1,\"b\":2}"},
    /* Maps JSON objects cannot hold exactly. */
    {"81 01 02", "{\"1\":2}", "{\"$map\":[[1,2]]}"},
    {"82 c0 01 92 01 02 c3", "{\"null\":1,\"[1,2]\":true}", "{\"$map\":[[null,1],[[1,2],true]]}"},
    {"81 c4 01 00 01", "{\"\\\"AA==\\\"\":1}", "{\"$map\":[[{\"$bin\":\"AA==\"},1]]}"},
    {"81 a4 2462696e 01", "{\"$bin\":1}", "{\"$map\":[[\"$bin\",1]]}"},
    {"82 a1 61 01 a1 61 02", "{\"a\":2}", "{\"$map\":[[\"a\",1],[\"a\",2]]}"},
    {"81 a3 610062 01", "{\"a\\u0000b\":1}", "{\"$map\":[[\"a\\u0000b\",1]]}"},
    {"81 a1 ff 01", "{\"{\\\"$str\\\":\\\"/w==\\\"}\":1}", "{\"$map\":[[{\"$str\":\"/w==\"},1]]}"},
};
#define S_NROWS (sizeof s_rows / sizeof s_rows[0])

static zpk_doc_t *s_doc(const char *hex, uint8_t *buf, size_t cap, size_t *n)
{
    *n = harness_hex(hex, buf, cap);
    zpk_doc_t *doc = NULL;
    assert_int_equal(zpk_doc_parse(buf, *n, NULL, 0, &doc, NULL), 0);
    return doc;
}

static void test_mapping_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < S_NROWS; i++) {
        uint8_t in[64];
        size_t n;
        zpk_doc_t *doc = s_doc(s_rows[i].mpack, in, sizeof in, &n);
        char *plain = NULL, *lossless = NULL;
        size_t plen = 0;
        assert_int_equal(zpk_json_dumps(zpk_doc_root(doc), 0, &plain, &plen), 0);
        assert_int_equal(zpk_json_dumps(zpk_doc_root(doc), ZPK_JSON_LOSSLESS, &lossless, NULL),
                         0);
        if (strcmp(plain, s_rows[i].plain) != 0 || strcmp(lossless, s_rows[i].lossless) != 0)
            fprintf(stderr, "row %zu (%s):\n  plain    %s\n  want     %s\n  lossless %s\n"
                            "  want     %s\n",
                    i, s_rows[i].mpack, plain, s_rows[i].plain, lossless, s_rows[i].lossless);
        assert_string_equal(plain, s_rows[i].plain);
        assert_int_equal(plen, strlen(plain));
        assert_string_equal(lossless, s_rows[i].lossless);

        /* Lossless JSON back to MessagePack: the identical bytes. */
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 0);
        zpk_error_t err;
        zpk_error_clear(&err);
        assert_int_equal(zpk_json_loads_to_writer(lossless, strlen(lossless), &w, &err), 0);
        if (zpk_writer_size(&w) != n || memcmp(zpk_writer_data(&w), in, n) != 0)
            fprintf(stderr, "row %zu: lossless JSON does not give back %s\n", i,
                    s_rows[i].mpack);
        assert_int_equal(zpk_writer_size(&w), n);
        assert_memory_equal(zpk_writer_data(&w), in, n);
        zpk_writer_free(&w);
        zpk_free(plain);
        zpk_free(lossless);
        zpk_doc_destroy(&doc);
    }
}

/* JSON text -> MessagePack bytes (flags for zpk_json_to_msgpack_ex). */
static void s_to_bytes(const char *json, unsigned flags, unsigned wflags, const char *hex)
{
    uint8_t want[64];
    size_t n = harness_hex(hex, want, sizeof want);
    json_error_t jerr;
    json_t *j = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    assert_non_null(j);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_writer_set_flags(&w, wflags);
    int rc = flags ? zpk_json_to_msgpack_ex(j, flags, &w, NULL) : zpk_json_to_msgpack(j, &w);
    assert_int_equal(rc, 0);
    if (zpk_writer_size(&w) != n || memcmp(zpk_writer_data(&w), want, n) != 0) {
        fprintf(stderr, "%s: want %s got ", json, hex);
        for (size_t i = 0; i < zpk_writer_size(&w); i++)
            fprintf(stderr, "%02x", zpk_writer_data(&w)[i]);
        fprintf(stderr, "\n");
        fail();
    }
    zpk_writer_free(&w);
    json_decref(j);
}

static void test_json_to_msgpack(void **state)
{
    (void)state;
    s_to_bytes("5", 0, 0, "05");
    s_to_bytes("-33", 0, 0, "d0 df");
    s_to_bytes("70000", 0, 0, "ce 00011170");
    s_to_bytes("1.0", 0, 0, "cb 3ff0000000000000");
    s_to_bytes("1.5", 0, ZPK_WRITER_SINGLE_FLOAT, "ca 3fc00000");
    s_to_bytes("\"x\"", 0, 0, "a1 78");
    s_to_bytes("[null,true,false]", 0, 0, "93 c0 c3 c2");
    s_to_bytes("{\"a\":{\"b\":[]}}", 0, 0, "81 a1 61 81 a1 62 90");
    /* Unknown $ keys and several keys are ordinary maps; NO_TAGS turns tags off. */
    s_to_bytes("{\"$x\":1}", 0, 0, "81 a2 2478 01");
    s_to_bytes("{\"$bin\":\"AA==\",\"b\":1}", 0, 0, "82 a4 2462696e a4 41413d3d a1 62 01");
    s_to_bytes("{\"$bin\":\"AA==\"}", ZPK_JSON_NO_TAGS, 0, "81 a4 2462696e a4 41413d3d");
    /* Tags also take the forms a person would type. */
    s_to_bytes("{\"$uint\":5}", 0, 0, "05");
    s_to_bytes("{\"$float\":2}", 0, 0, "cb 4000000000000000");
    s_to_bytes("{\"$float32\":\"inf\"}", 0, 0, "ca 7f800000");
    s_to_bytes("{\"$float32\":\"-nan\"}", 0, 0, "ca ffc00000");
    s_to_bytes("{\"$timestamp\":[4294967296,0]}", 0, 0, "d7 ff 00000001 00000000");
    s_to_bytes("{\"$map\":[]}", 0, 0, "80");
    s_to_bytes("{\"$str\":\"\"}", 0, 0, "a0");
}

/* @p sticky: the writer is failed too (a tag error after part of the value). */
static void s_bad(const char *json, int code, size_t offset, bool sticky)
{
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_error_t err;
    zpk_error_clear(&err);
    int rc = zpk_json_loads_to_writer(json, strlen(json), &w, &err);
    if (rc != code)
        fprintf(stderr, "%s: rc %d (%s)\n", json, rc, err.text);
    assert_int_equal(rc, code);
    assert_int_equal(err.code, code);
    assert_int_equal(err.offset, offset);
    assert_true(strlen(err.text) > 0);
    assert_int_equal(zpk_writer_error(&w), sticky ? code : 0);
    zpk_writer_free(&w);
}

static void test_errors(void **state)
{
    (void)state;
    /* Malformed tags. */
    s_bad("{\"$bin\":5}", ZPK_EFORMAT, 0, true);
    s_bad("{\"$bin\":\"AQI\"}", ZPK_EFORMAT, 0, true);
    s_bad("{\"$bin\":\"A*==\"}", ZPK_EFORMAT, 0, true);
    s_bad("{\"$bin\":\"AB==\"}", ZPK_EFORMAT, 0, true); /* non-zero bits in the padding */
    s_bad("[1,{\"$ext\":[300,\"\"]}]", ZPK_EFORMAT, 0, true);
    s_bad("{\"$ext\":[1]}", ZPK_EFORMAT, 0, true);
    s_bad("{\"$timestamp\":[1,1000000000]}", ZPK_EFORMAT, 0, true);
    s_bad("{\"$timestamp\":[1]}", ZPK_EFORMAT, 0, true);
    s_bad("{\"$uint\":\"-1\"}", ZPK_EFORMAT, 0, true);
    s_bad("{\"$uint\":\"18446744073709551616\"}", ZPK_EFORMAT, 0, true);
    s_bad("{\"$uint\":\"\"}", ZPK_EFORMAT, 0, true);
    s_bad("{\"$float\":\"bogus\"}", ZPK_EFORMAT, 0, true);
    s_bad("{\"$float\":\"0x7fc00000\"}", ZPK_EFORMAT, 0, true); /* a float32's bits for a double */
    s_bad("{\"$float32\":1e300}", ZPK_EFORMAT, 0, true);
    s_bad("{\"$map\":[[1]]}", ZPK_EFORMAT, 0, true);
    s_bad("{\"$map\":{}}", ZPK_EFORMAT, 0, true);
    /* Invalid JSON: jansson's message and the byte offset. */
    s_bad("[1,", ZPK_EFORMAT, 3, false);
    s_bad("[1 2]", ZPK_EFORMAT, 4, false);
    s_bad("18446744073709551616", ZPK_EFORMAT, 20, false);

    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    assert_int_equal(zpk_json_loads_to_writer(NULL, 1, &w, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_json_loads_to_writer("1", 1, NULL, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_json_to_msgpack(NULL, &w), ZPK_EINVAL);
    json_t *j = json_integer(1);
    assert_int_equal(zpk_json_to_msgpack_ex(j, 0x80000000u, &w, NULL), ZPK_EINVAL);
    json_decref(j);
    zpk_writer_free(&w);
    /* A full fixed buffer: the writer's code. */
    uint8_t small[2];
    zpk_writer_init_buffer(&w, small, sizeof small);
    assert_int_equal(zpk_json_loads_to_writer("\"abc\"", 5, &w, NULL), ZPK_EBUFFULL);

    json_t *out = (json_t *)&w;
    char *text = (char *)&w;
    assert_int_equal(zpk_json_from_node(NULL, 0, &out), ZPK_EINVAL);
    assert_null(out);
    assert_int_equal(zpk_json_dumps(NULL, 0, &text, NULL), ZPK_EINVAL);
    assert_null(text);
    uint8_t in[4];
    size_t n;
    zpk_doc_t *doc = s_doc("c0", in, sizeof in, &n);
    assert_int_equal(zpk_json_from_node(zpk_doc_root(doc), 0x40000000u, &out), ZPK_EINVAL);
    assert_int_equal(zpk_json_from_node(zpk_doc_root(doc), 0, NULL), ZPK_EINVAL);
    zpk_doc_destroy(&doc);
}

/* A document of @p levels nested containers: arrays (0x91), or maps {1: ...}
 * (0x81 0x01), around @p leaf. */
static zpk_doc_t *s_nested(size_t levels, bool maps, const char *leaf)
{
    uint8_t tail[32];
    size_t tn = harness_hex(leaf, tail, sizeof tail);
    size_t per = maps ? 2 : 1;
    uint8_t *in = malloc(levels * per + tn);
    assert_non_null(in);
    for (size_t i = 0; i < levels; i++) {
        in[i * per] = maps ? 0x81 : 0x91;
        if (maps)
            in[i * per + 1] = 0x01;
    }
    memcpy(in + levels * per, tail, tn);
    zpk_limits_t lim;
    zpk_limits_default(&lim, 0);
    lim.max_depth = levels + 1;
    zpk_doc_t *doc = NULL;
    assert_int_equal(zpk_doc_parse(in, levels * per + tn, &lim, 0, &doc, NULL), 0);
    free(in);
    return doc;
}

/* Lossless JSON of @p doc: written and read back to the same bytes, or
 * ZPK_ETOODEEP when written (never text that jansson cannot read). */
static int s_round_trip(zpk_doc_t *doc)
{
    char *text = NULL;
    size_t len = 0;
    int rc = zpk_json_dumps(zpk_doc_root(doc), ZPK_JSON_LOSSLESS, &text, &len);
    json_t *j = NULL;
    int rc2 = zpk_json_from_node(zpk_doc_root(doc), ZPK_JSON_LOSSLESS, &j);
    assert_int_equal(rc, rc2); /* one walk: the text and the tree agree */
    json_decref(j);
    if (rc != 0) {
        assert_null(text);
        return rc;
    }
    zpk_writer_t w, canon;
    zpk_writer_init_growable(&w, 0);
    zpk_writer_init_growable(&canon, 0);
    assert_int_equal(zpk_json_loads_to_writer(text, len, &w, NULL), 0);
    assert_int_equal(zpk_node_write(&canon, zpk_doc_root(doc)), 0);
    assert_int_equal(zpk_writer_size(&w), zpk_writer_size(&canon));
    assert_memory_equal(zpk_writer_data(&w), zpk_writer_data(&canon), zpk_writer_size(&w));
    zpk_writer_free(&w);
    zpk_writer_free(&canon);
    zpk_free(text);
    return 0;
}

/*
 * The bound, exactly: JSON values nest at most ZPK_JSON_MAX_DEPTH deep (the
 * top one at 1), jansson's parser limit. An array or a map with str keys
 * takes one level; a map with other keys three ({"$map": [[k, v]]}); a
 * tagged leaf one or two more. So the default max_depth (1024) always round
 * trips when maps have str keys, and 681 levels of any maps do; a document
 * deeper than its JSON can hold is refused when written, with ZPK_ETOODEEP.
 */
static void test_depth(void **state)
{
    (void)state;
    /* arrays: the innermost value at depth levels + 1 */
    zpk_doc_t *doc = s_nested(ZPK_JSON_MAX_DEPTH - 1, false, "c0");
    assert_int_equal(s_round_trip(doc), 0);
    zpk_doc_destroy(&doc);
    doc = s_nested(ZPK_JSON_MAX_DEPTH, false, "c0");
    assert_int_equal(s_round_trip(doc), ZPK_ETOODEEP);
    zpk_doc_destroy(&doc);
    /* max_depth levels of arrays around the deepest leaf ($ext: two more) */
    doc = s_nested(ZPK_DEFAULT_MAX_DEPTH, false, "d4 05 aa");
    assert_int_equal(s_round_trip(doc), 0);
    zpk_doc_destroy(&doc);
    /* the 700 maps {1: ...}: 3 levels each, 2101 > 2048 */
    doc = s_nested(700, true, "c0");
    assert_int_equal(s_round_trip(doc), ZPK_ETOODEEP);
    zpk_doc_destroy(&doc);
    doc = s_nested(681, true, "d4 05 aa"); /* 3 * 681 + 1 + 2 = 2046 */
    assert_int_equal(s_round_trip(doc), 0);
    zpk_doc_destroy(&doc);
    doc = s_nested(682, true, "c0"); /* the innermost value at 3 * 682 + 1 = 2047 */
    assert_int_equal(s_round_trip(doc), 0);
    zpk_doc_destroy(&doc);
    doc = s_nested(683, true, "c0"); /* 2050 */
    assert_int_equal(s_round_trip(doc), ZPK_ETOODEEP);
    zpk_doc_destroy(&doc);

    /* JSON text nested past jansson's limit: ZPK_ETOODEEP, not EFORMAT */
    size_t n = ZPK_JSON_MAX_DEPTH;
    char *text = malloc(2 * n + 2);
    memset(text, '[', n);
    text[n] = '1';
    memset(text + n + 1, ']', n);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_error_t err;
    assert_int_equal(zpk_json_loads_to_writer(text, 2 * n + 1, &w, &err), ZPK_ETOODEEP);
    assert_int_equal(err.code, ZPK_ETOODEEP);
    assert_int_equal(zpk_writer_size(&w), 0);
    zpk_writer_reset(&w);
    /* one level less: read */
    assert_int_equal(zpk_json_loads_to_writer(text + 1, 2 * n - 1, &w, &err), 0);
    free(text);

    /* a json_t built deeper than any parser gives: refused too */
    json_t *root = json_array(), *cur = root;
    for (size_t i = 0; i < ZPK_JSON_MAX_DEPTH + 10; i++) {
        json_t *a = json_array();
        json_array_append_new(cur, a);
        cur = a;
    }
    zpk_writer_reset(&w);
    assert_int_equal(zpk_json_to_msgpack(root, &w), ZPK_ETOODEEP);
    zpk_writer_free(&w);
    json_decref(root);
}

static void test_pretty_and_sorted(void **state)
{
    (void)state;
    uint8_t in[32];
    size_t n;
    zpk_doc_t *doc = s_doc("82 a1 62 01 a1 61 91 02", in, sizeof in, &n);
    char *text = NULL;
    assert_int_equal(zpk_json_dumps(zpk_doc_root(doc), ZPK_JSON_SORT_KEYS | ZPK_JSON_INDENT(2),
                                    &text, NULL),
                     0);
    assert_string_equal(text, "{\n  \"a\": [\n    2\n  ],\n  \"b\": 1\n}");
    zpk_free(text);
    zpk_doc_destroy(&doc);
}

/* JSON file -> MessagePack -> tree -> plain JSON: json_equal to the original. */
static void s_json_corpus(const char *name)
{
    size_t len;
    uint8_t *text = harness_corpus_or_sample(name, &len);
    json_error_t jerr;
    json_t *a = json_loadb((const char *)text, len, 0, &jerr);
    free(text);
    assert_non_null(a);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    assert_int_equal(zpk_json_to_msgpack(a, &w), 0);
    zpk_doc_t *doc = NULL;
    assert_int_equal(zpk_doc_parse(zpk_writer_data(&w), zpk_writer_size(&w), NULL, 0, &doc,
                                   NULL),
                     0);
    json_t *b = NULL;
    assert_int_equal(zpk_json_from_node(zpk_doc_root(doc), 0, &b), 0);
    assert_true(json_equal(a, b));
    json_decref(b);
    /* The lossless form of a tree that came from JSON is the same JSON. */
    assert_int_equal(zpk_json_from_node(zpk_doc_root(doc), ZPK_JSON_LOSSLESS, &b), 0);
    assert_true(json_equal(a, b));
    json_decref(b);
    zpk_doc_destroy(&doc);
    zpk_writer_free(&w);
    json_decref(a);
}

static void test_json_corpus_roundtrip(void **state)
{
    (void)state;
    s_json_corpus("corpus/twitter.json");
    s_json_corpus("corpus/citm_catalog.json");
}

/* .mpack -> lossless JSON text -> MessagePack: the identical bytes. */
static void test_mpack_corpus_lossless(void **state)
{
    (void)state;
    const char *names[] = {"corpus/twitter.mpack", "corpus/citm_catalog.mpack",
                           "corpus/canada.mpack", "corpus/github.mpack"};
    for (size_t i = 0; i < 4; i++) {
        size_t len = 0;
        uint8_t *data = harness_corpus_or_sample(names[i], &len);
        zpk_doc_t *doc = NULL;
        assert_int_equal(zpk_doc_parse(data, len, NULL, 0, &doc, NULL), 0);
        char *text = NULL;
        size_t tlen = 0;
        assert_int_equal(zpk_json_dumps(zpk_doc_root(doc), ZPK_JSON_LOSSLESS, &text, &tlen), 0);
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 0);
        zpk_error_t err;
        zpk_error_clear(&err);
        assert_int_equal(zpk_json_loads_to_writer(text, tlen, &w, &err), 0);
        assert_int_equal(zpk_writer_size(&w), len);
        assert_memory_equal(zpk_writer_data(&w), data, len);
        zpk_writer_free(&w);
        zpk_free(text);
        zpk_doc_destroy(&doc);
        free(data);
    }
}

/*
 * Allocation failure at every allocation of a conversion, with jansson
 * routed through the zmqpack hooks too: a clean ZPK_ENOMEM, nothing leaked.
 */
static void test_allocation_failures(void **state)
{
    (void)state;
    uint8_t in[128];
    size_t n = harness_hex("86 a1 61 c4 02 0102 01 ca 7fc00000 a1 62 81 01 02 a1 63 d6 ff 00000001"
                     " c0 cf ffffffffffffffff a1 64 92 a2 ff61 d5 05 6162",
                     in, sizeof in);
    json_malloc_t old_malloc;
    json_free_t old_free;
    json_get_alloc_funcs(&old_malloc, &old_free);
    json_set_alloc_funcs(zpk_malloc, zpk_free);
    harness_alloc_install();
    zpk_doc_t *doc = NULL;
    assert_int_equal(zpk_doc_parse(in, n, NULL, 0, &doc, NULL), 0);
    for (unsigned flags = 0; flags <= ZPK_JSON_LOSSLESS; flags++) {
        size_t failures = 0;
        for (size_t k = 1; k < 1000; k++) {
            char *text = NULL;
            harness_alloc_fail_after(k);
            int rc = zpk_json_dumps(zpk_doc_root(doc), flags, &text, NULL);
            harness_alloc_fail_after(0);
            if (rc == 0) {
                /*
                 * And back, failing each allocation of the writer. (jansson's
                 * parser reports some of its own allocation failures as syntax
                 * errors, so it keeps libc's allocator here.)
                 */
                json_set_alloc_funcs(old_malloc, old_free);
                for (size_t m = 1; m < 1000; m++) {
                    zpk_writer_t w;
                    zpk_writer_init_growable(&w, 0);
                    harness_alloc_fail_after(m);
                    zpk_error_t err;
                    zpk_error_clear(&err);
                    int rc2 = zpk_json_loads_to_writer(text, strlen(text), &w, &err);
                    if (rc2 != 0 && rc2 != ZPK_ENOMEM)
                        fprintf(stderr, "allocation %zu: %s\n", m, err.text);
                    harness_alloc_fail_after(0);
                    zpk_writer_free(&w);
                    if (rc2 == 0)
                        break;
                    assert_int_equal(rc2, ZPK_ENOMEM);
                }
                json_set_alloc_funcs(zpk_malloc, zpk_free);
                zpk_free(text);
                break;
            }
            assert_int_equal(rc, ZPK_ENOMEM);
            assert_null(text);
            failures++;
        }
        assert_true(failures >= 2);
        /* The json_t form: many more allocations (jansson's, through the hooks). */
        failures = 0;
        for (size_t k = 1; k < 1000; k++) {
            json_t *j = NULL;
            harness_alloc_fail_after(k);
            int rc = zpk_json_from_node(zpk_doc_root(doc), flags, &j);
            harness_alloc_fail_after(0);
            if (rc == 0) {
                json_decref(j);
                break;
            }
            assert_int_equal(rc, ZPK_ENOMEM);
            assert_null(j);
            failures++;
        }
        assert_true(failures > 10);
    }
    zpk_doc_destroy(&doc);
    harness_alloc_uninstall();
    json_set_alloc_funcs(old_malloc, old_free);
}

/* zpk_json_dumps() (direct text) and zpk_json_from_node() (json_t) agree. */
static void s_same_json(const zpk_node_t *root, unsigned flags)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(zpk_json_dumps(root, flags, &text, &len), 0);
    json_error_t jerr;
    json_t *a = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (a == NULL)
        fprintf(stderr, "%s at %d: %.200s\n", jerr.text, jerr.position, text);
    assert_non_null(a);
    json_t *b = NULL;
    assert_int_equal(zpk_json_from_node(root, flags, &b), 0);
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    zpk_free(text);
}

static void test_text_and_tree_agree(void **state)
{
    (void)state;
    for (size_t i = 0; i < S_NROWS; i++) {
        uint8_t in[64];
        size_t n;
        zpk_doc_t *doc = s_doc(s_rows[i].mpack, in, sizeof in, &n);
        /* (jansson's parser refuses a NUL in an object key: the plain form of that row.) */
        if (s_rows[i].plain[0] != '{' || strstr(s_rows[i].plain, "\\u0000") == NULL)
            s_same_json(zpk_doc_root(doc), 0);
        s_same_json(zpk_doc_root(doc), ZPK_JSON_LOSSLESS);
        s_same_json(zpk_doc_root(doc), ZPK_JSON_LOSSLESS | ZPK_JSON_INDENT(3));
        zpk_doc_destroy(&doc);
    }
    /* (canada.mpack, 1 MB of floats, is left to the lossless round trip: time.) */
    const char *names[] = {"corpus/twitter.mpack", "corpus/citm_catalog.mpack",
                           "corpus/github.mpack"};
    for (size_t i = 0; i < 3; i++) {
        size_t len = 0;
        uint8_t *data = harness_corpus_or_sample(names[i], &len);
        zpk_doc_t *doc = NULL;
        assert_int_equal(zpk_doc_parse(data, len, NULL, 0, &doc, NULL), 0);
        s_same_json(zpk_doc_root(doc), 0);
        s_same_json(zpk_doc_root(doc), ZPK_JSON_LOSSLESS | ZPK_JSON_INDENT(1));
        zpk_doc_destroy(&doc);
        free(data);
    }
}

/*
 * NaN payloads (issue 19, the fuzz_mp2json finding ca ff b2 ff ff): the
 * lossless form keeps every bit of a NaN, sign and payload, signalling NaNs
 * included, for float 32 and float 64 alike; through the text and through
 * json_t. The plain form writes null.
 */
static void test_nan_payloads_kept(void **state)
{
    (void)state;
    static const struct {
        const char *mpack, *lossless;
    } cases[] = {
        {"ca 7fc00000", "{\"$float32\":\"nan\"}"},
        {"ca ffc00000", "{\"$float32\":\"-nan\"}"},
        {"ca ffb2ffff", "{\"$float32\":\"0xffb2ffff\"}"}, /* the finding: signalling */
        {"ca 7f800001", "{\"$float32\":\"0x7f800001\"}"}, /* smallest signalling payload */
        {"ca 7fbfffff", "{\"$float32\":\"0x7fbfffff\"}"}, /* largest signalling payload */
        {"ca 7fc00001", "{\"$float32\":\"0x7fc00001\"}"},
        {"ca ffffffff", "{\"$float32\":\"0xffffffff\"}"},
        {"cb 7ff8000000000000", "{\"$float\":\"nan\"}"},
        {"cb fff8000000000000", "{\"$float\":\"-nan\"}"},
        {"cb 7ff0000000000001", "{\"$float\":\"0x7ff0000000000001\"}"},
        {"cb 7ff4000000000000", "{\"$float\":\"0x7ff4000000000000\"}"},
        {"cb fff7ffffffffffff", "{\"$float\":\"0xfff7ffffffffffff\"}"},
        {"cb 7ff8000000000001", "{\"$float\":\"0x7ff8000000000001\"}"},
        {"cb ffffffffffffffff", "{\"$float\":\"0xffffffffffffffff\"}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t in[16];
        size_t n = harness_hex(cases[i].mpack, in, sizeof in);
        zpk_doc_t *doc = NULL;
        assert_int_equal(zpk_doc_parse(in, n, NULL, 0, &doc, NULL), 0);
        char *text = NULL;
        assert_int_equal(zpk_json_dumps(zpk_doc_root(doc), ZPK_JSON_LOSSLESS, &text, NULL), 0);
        assert_string_equal(text, cases[i].lossless);
        /* text -> MessagePack: the same bytes */
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 0);
        assert_int_equal(zpk_json_loads_to_writer(text, strlen(text), &w, NULL), 0);
        assert_int_equal(zpk_writer_size(&w), n);
        assert_memory_equal(zpk_writer_data(&w), in, n);
        zpk_free(text);
        /* json_t both ways: the same bytes */
        json_t *j = NULL;
        assert_int_equal(zpk_json_from_node(zpk_doc_root(doc), ZPK_JSON_LOSSLESS, &j), 0);
        zpk_writer_reset(&w);
        assert_int_equal(zpk_json_to_msgpack(j, &w), 0);
        assert_int_equal(zpk_writer_size(&w), n);
        assert_memory_equal(zpk_writer_data(&w), in, n);
        json_decref(j);
        zpk_writer_free(&w);
        /* plain: null */
        assert_int_equal(zpk_json_dumps(zpk_doc_root(doc), 0, &text, NULL), 0);
        assert_string_equal(text, "null");
        zpk_free(text);
        zpk_doc_destroy(&doc);
    }
}

/* Keys nested in keys: the plain form writes a non-str key as its JSON text,
 * escaped again at every level (finding F2). The text of one key is capped. */
static void test_plain_nested_keys_capped(void **state)
{
    (void)state;
    for (int depth = 1; depth <= 16; depth++) {
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 0);
        /* {{{..."quote\"me": 1...}: 1}: 1}, `depth` maps deep, each the key of the next */
        for (int i = 0; i < depth; i++)
            zpk_write_map(&w, 1);
        zpk_write_cstr(&w, "quote\"me");
        for (int i = 0; i < depth; i++)
            zpk_write_uint(&w, 1);
        assert_int_equal(zpk_writer_error(&w), 0);
        zpk_doc_t *doc = NULL;
        assert_int_equal(zpk_doc_parse(zpk_writer_data(&w), zpk_writer_size(&w), NULL, 0, &doc, NULL), 0);
        char *text = NULL;
        size_t len = 0;
        int rc = zpk_json_dumps(zpk_doc_root(doc), 0, &text, &len);
        json_t *j = NULL;
        int rc2 = zpk_json_from_node(zpk_doc_root(doc), 0, &j);
        assert_int_equal(rc, rc2);
        /* The root's key renders to the whole text one level down: 3117 bytes
         * at depth 11, 6193 at depth 12, past the 4096-byte cap. */
        if (depth <= 11) {
            assert_int_equal(rc, 0);
            assert_true(len <= 2 * 4096);
        } else {
            assert_int_equal(rc, ZPK_ELIMIT);
            assert_null(text);
            assert_null(j);
        }
        zpk_free(text);
        json_decref(j);
        /* the lossless form has no such text: it always works */
        assert_int_equal(zpk_json_dumps(zpk_doc_root(doc), ZPK_JSON_LOSSLESS, &text, &len), 0);
        zpk_free(text);
        zpk_doc_destroy(&doc);
        zpk_writer_free(&w);
    }
}

/* Caller mistakes: every entry point of json.h refuses NULL with ZPK_EINVAL. */
static void test_null_arguments(void **state)
{
    (void)state;
    uint8_t in[8];
    size_t n;
    zpk_doc_t *doc = s_doc("91 01", in, sizeof in, &n);
    const zpk_node_t *root = zpk_doc_root(doc);
    json_t *j = (json_t *)1;
    assert_int_equal(zpk_json_from_node(NULL, 0, &j), ZPK_EINVAL);
    assert_null(j);
    assert_int_equal(zpk_json_from_node(root, 0, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_json_from_node(root, 0x80000000u, &j), ZPK_EINVAL);
    char *text = (char *)1;
    size_t len = 1;
    assert_int_equal(zpk_json_dumps(NULL, 0, &text, &len), ZPK_EINVAL);
    assert_null(text);
    assert_int_equal(len, 0);
    assert_int_equal(zpk_json_dumps(root, 0, NULL, &len), ZPK_EINVAL);
    assert_int_equal(zpk_json_dumps(root, 0, &text, NULL), 0); /* the length is optional */
    zpk_free(text);
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    json_t *one = json_integer(1);
    zpk_error_t err;
    assert_int_equal(zpk_json_to_msgpack(NULL, &w), ZPK_EINVAL);
    assert_int_equal(zpk_json_to_msgpack(one, NULL), ZPK_EINVAL);
    assert_int_equal(zpk_json_to_msgpack_ex(one, 0x80000000u, &w, &err), ZPK_EINVAL);
    assert_int_equal(zpk_json_loads_to_writer(NULL, 3, &w, &err), ZPK_EINVAL);
    assert_int_equal(zpk_json_loads_to_writer("1", 1, NULL, &err), ZPK_EINVAL);
    assert_int_equal(zpk_writer_size(&w), 0);
    json_decref(one);
    zpk_writer_free(&w);
    zpk_doc_destroy(&doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mapping_table),
        cmocka_unit_test(test_text_and_tree_agree),
        cmocka_unit_test(test_json_to_msgpack),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_pretty_and_sorted),
        cmocka_unit_test(test_json_corpus_roundtrip),
        cmocka_unit_test(test_mpack_corpus_lossless),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_plain_nested_keys_capped),
        cmocka_unit_test(test_nan_payloads_kept),
        cmocka_unit_test(test_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
