/*
 * Every case of ../shared/data/msgpack-test-suite.json: each listed
 * encoding reads back to the value with the reader, and the writer
 * produces the first (shortest) encoding.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
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

/* The kinds of value a case can hold (the case's key). */
typedef enum { K_NIL, K_BOOL, K_BINARY, K_NUMBER, K_BIGNUM, K_STRING, K_ARRAY, K_MAP,
               K_TIMESTAMP, K_EXT } s_kind_t;

/* The kind of a JSON value nested in an array or map. */
static s_kind_t s_kind_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL: return K_NIL;
    case JSON_TRUE:
    case JSON_FALSE: return K_BOOL;
    case JSON_INTEGER:
    case JSON_REAL: return K_NUMBER;
    case JSON_STRING: return K_STRING;
    case JSON_ARRAY: return K_ARRAY;
    case JSON_OBJECT: return K_MAP;
    }
    fail_msg("unexpected JSON type");
    return K_NIL;
}

/* A case's number: integer (sign and value) or not, and its value as a double.
 * A bignum is given as a string, with its "number" when JSON can hold it. */
typedef struct {
    bool is_int;
    bool neg;
    int64_t i;
    uint64_t u;
    double d;
} s_num_t;

static s_num_t s_number(const json_t *num, const json_t *bignum)
{
    s_num_t n = {0};
    if (bignum) {
        const char *s = json_string_value(bignum);
        errno = 0;
        n.is_int = true;
        if (s[0] == '-') {
            n.neg = true;
            n.i = strtoll(s, NULL, 10);
        } else {
            n.u = strtoull(s, NULL, 10);
        }
        assert_int_equal(errno, 0);
        n.d = num ? json_number_value(num) : n.neg ? (double)n.i : (double)n.u;
    } else if (json_is_integer(num)) {
        json_int_t v = json_integer_value(num);
        n.is_int = true;
        n.neg = v < 0;
        n.i = v;
        n.u = (uint64_t)v;
        n.d = (double)v;
    } else {
        n.d = json_real_value(num);
    }
    return n;
}

/* Reads one value with @p r and checks it equals @p v (of kind @p k). */
static void s_check_read(zpk_reader_t *r, s_kind_t k, const json_t *v, const json_t *bignum)
{
    zpk_tag_t t;
    const void *p;
    if (k == K_TIMESTAMP) {
        zpk_timestamp_t ts;
        assert_int_equal(zpk_read_timestamp(r, &ts), 0);
        assert_true(ts.sec == (int64_t)json_integer_value(json_array_get(v, 0)));
        assert_true(ts.nsec == (uint32_t)json_integer_value(json_array_get(v, 1)));
        return;
    }
    assert_int_equal(zpk_read_item(r, &t, &p), 0);
    switch (k) {
    case K_NIL:
        assert_int_equal(t.type, ZPK_TYPE_NIL);
        break;
    case K_BOOL:
        assert_int_equal(t.type, ZPK_TYPE_BOOL);
        assert_int_equal(t.v.b, json_is_true(v));
        break;
    case K_NUMBER:
    case K_BIGNUM: {
        s_num_t n = s_number(k == K_NUMBER ? v : json_object_get(bignum, "number"),
                             k == K_BIGNUM ? json_object_get(bignum, "bignum") : NULL);
        if (t.type == ZPK_TYPE_FLOAT) {
            assert_true((double)t.v.f == n.d);
        } else if (t.type == ZPK_TYPE_DOUBLE) {
            assert_true(t.v.d == n.d);
        } else if (t.type == ZPK_TYPE_INT) {
            assert_true(n.is_int && n.neg);
            assert_true(t.v.i == n.i);
        } else {
            assert_int_equal(t.type, ZPK_TYPE_UINT);
            assert_true(n.is_int && !n.neg);
            assert_true(t.v.u == n.u);
        }
        break;
    }
    case K_STRING:
        assert_int_equal(t.type, ZPK_TYPE_STR);
        assert_int_equal(t.v.len, json_string_length(v));
        if (t.v.len)
            assert_memory_equal(p, json_string_value(v), t.v.len);
        break;
    case K_BINARY: {
        uint8_t want[256];
        size_t n = harness_hex(json_string_value(v), want, sizeof want);
        assert_int_equal(t.type, ZPK_TYPE_BIN);
        assert_int_equal(t.v.len, n);
        if (n)
            assert_memory_equal(p, want, n);
        break;
    }
    case K_EXT: {
        uint8_t want[256];
        size_t n = harness_hex(json_string_value(json_array_get(v, 1)), want, sizeof want);
        assert_int_equal(t.type, ZPK_TYPE_EXT);
        assert_int_equal(t.exttype, json_integer_value(json_array_get(v, 0)));
        assert_int_equal(t.v.len, n);
        if (n)
            assert_memory_equal(p, want, n);
        break;
    }
    case K_ARRAY: {
        assert_int_equal(t.type, ZPK_TYPE_ARRAY);
        assert_int_equal(t.v.len, json_array_size(v));
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) s_check_read(r, s_kind_of(e), e, NULL);
        break;
    }
    case K_MAP: {
        assert_int_equal(t.type, ZPK_TYPE_MAP);
        assert_int_equal(t.v.len, json_object_size(v));
        const char *key;
        json_t *e;
        json_object_foreach((json_t *)v, key, e) {
            json_t *kj = json_string(key);
            s_check_read(r, K_STRING, kj, NULL);
            json_decref(kj);
            s_check_read(r, s_kind_of(e), e, NULL);
        }
        break;
    }
    case K_TIMESTAMP:
        break;
    }
}

/* Writes the value with the writer, the way an application would. */
static void s_write(zpk_writer_t *w, s_kind_t k, const json_t *v, const json_t *c)
{
    uint8_t buf[256];
    switch (k) {
    case K_NIL: zpk_write_nil(w); break;
    case K_BOOL: zpk_write_bool(w, json_is_true(v)); break;
    case K_NUMBER:
    case K_BIGNUM: {
        s_num_t n = s_number(k == K_NUMBER ? v : json_object_get(c, "number"),
                             k == K_BIGNUM ? json_object_get(c, "bignum") : NULL);
        if (!n.is_int)
            zpk_write_double(w, n.d);
        else if (n.neg)
            zpk_write_int(w, n.i);
        else
            zpk_write_uint(w, n.u);
        break;
    }
    case K_STRING: zpk_write_str(w, json_string_value(v), json_string_length(v)); break;
    case K_BINARY: {
        size_t n = harness_hex(json_string_value(v), buf, sizeof buf);
        zpk_write_bin(w, buf, n);
        break;
    }
    case K_EXT: {
        size_t n = harness_hex(json_string_value(json_array_get(v, 1)), buf, sizeof buf);
        zpk_write_ext(w, (int8_t)json_integer_value(json_array_get(v, 0)), buf, n);
        break;
    }
    case K_TIMESTAMP:
        zpk_write_timestamp(w, (int64_t)json_integer_value(json_array_get(v, 0)),
                            (uint32_t)json_integer_value(json_array_get(v, 1)));
        break;
    case K_ARRAY: {
        zpk_write_array(w, json_array_size(v));
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) s_write(w, s_kind_of(e), e, NULL);
        break;
    }
    case K_MAP: {
        zpk_write_map(w, json_object_size(v));
        const char *key;
        json_t *e;
        json_object_foreach((json_t *)v, key, e) {
            zpk_write_cstr(w, key);
            s_write(w, s_kind_of(e), e, NULL);
        }
        break;
    }
    }
}

static void test_msgpack_test_suite(void **state)
{
    (void)state;
    const char *path = harness_data_path("msgpack-test-suite.json");
    if (path == NULL) {
        print_message("skipping: ../shared/data/msgpack-test-suite.json is absent\n");
        skip();
    }
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (root == NULL)
        fail_msg("%s:%d: %s", path, jerr.line, jerr.text);

    static const struct {
        const char *key;
        s_kind_t kind;
    } keys[] = {
        {"nil", K_NIL},       {"bool", K_BOOL},   {"binary", K_BINARY},
        {"bignum", K_BIGNUM}, {"number", K_NUMBER}, {"string", K_STRING},
        {"array", K_ARRAY},   {"map", K_MAP},     {"timestamp", K_TIMESTAMP},
        {"ext", K_EXT},
    };
    size_t ncases = 0, nencodings = 0, nalternate = 0;
    const char *group;
    json_t *cases;
    json_object_foreach(root, group, cases) {
        size_t ci;
        json_t *c;
        json_array_foreach(cases, ci, c) {
            s_kind_t k = K_NIL;
            const json_t *v = NULL;
            for (size_t i = 0; i < sizeof keys / sizeof keys[0] && v == NULL; i++) {
                if ((v = json_object_get(c, keys[i].key)) != NULL)
                    k = keys[i].kind;
            }
            assert_non_null(v);
            json_t *encs = json_object_get(c, "msgpack");
            assert_true(json_array_size(encs) > 0);

            /* Every encoding reads back to the value, with nothing left over. */
            size_t ei;
            json_t *e;
            const char *double_enc = NULL, *float_enc = NULL;
            json_array_foreach(encs, ei, e) {
                uint8_t bytes[256];
                const char *hex = json_string_value(e);
                size_t n = harness_hex(hex, bytes, sizeof bytes);
                zpk_reader_t r;
                zpk_reader_init(&r, bytes, n, NULL);
                s_check_read(&r, k, v, c);
                if (zpk_reader_finish(&r) != 0)
                    fail_msg("%s case %zu: %s: %s", group, ci, hex,
                             zpk_strerror(zpk_reader_finish(&r)));
                zpk_reader_init(&r, bytes, n, NULL); /* and skips as one value */
                assert_int_equal(zpk_reader_skip(&r), 0);
                assert_int_equal(zpk_reader_finish(&r), 0);
                if (strncmp(hex, "cb", 2) == 0)
                    double_enc = hex;
                if (strncmp(hex, "ca", 2) == 0)
                    float_enc = hex;
                nencodings++;
            }

            /* The writer produces the first (shortest) encoding. Where two
             * encodings share the shortest length (2^63-1 as d3 or cf), any of
             * them is accepted. Non-integer numbers are written as doubles
             * (the default), checked against the listed double below. */
            zpk_writer_t w;
            zpk_writer_init_growable(&w, 0);
            bool real = k == K_NUMBER && !json_is_integer(v);
            if (!real) {
                s_write(&w, k, v, c);
                assert_int_equal(zpk_writer_finish(&w), 0);
                uint8_t first[256];
                size_t fn = harness_hex(json_string_value(json_array_get(encs, 0)), first,
                                  sizeof first);
                bool matched = false;
                json_array_foreach(encs, ei, e) {
                    uint8_t bytes[256];
                    size_t n = harness_hex(json_string_value(e), bytes, sizeof bytes);
                    if (n == fn && n == zpk_writer_size(&w) &&
                        memcmp(bytes, zpk_writer_data(&w), n) == 0)
                        matched = true;
                }
                if (!matched)
                    fail_msg("%s case %zu: writer output (%zu bytes) differs from %s", group,
                             ci, zpk_writer_size(&w),
                             json_string_value(json_array_get(encs, 0)));
                if (memcmp(first, zpk_writer_data(&w), fn) != 0) {
                    print_message("%s case %zu: wrote another shortest form than %s\n", group,
                                  ci, json_string_value(json_array_get(encs, 0)));
                    nalternate++;
                }
            } else {
                assert_non_null(double_enc);
            }
            /* Integers are written as integers; 0.5 is only a float. Also
             * check the double form equals the listed one, and float form too. */
            if (double_enc) {
                s_num_t nn = s_number(k == K_NUMBER ? v : json_object_get(c, "number"),
                                      k == K_BIGNUM ? json_object_get(c, "bignum") : NULL);
                uint8_t want[16];
                size_t wn = harness_hex(double_enc, want, sizeof want);
                zpk_writer_reset(&w);
                zpk_write_double(&w, nn.d);
                assert_int_equal(zpk_writer_size(&w), wn);
                assert_memory_equal(zpk_writer_data(&w), want, wn);
                if (float_enc) {
                    wn = harness_hex(float_enc, want, sizeof want);
                    zpk_writer_reset(&w);
                    zpk_writer_set_flags(&w, ZPK_WRITER_SINGLE_FLOAT);
                    zpk_write_real(&w, nn.d);
                    assert_int_equal(zpk_writer_size(&w), wn);
                    assert_memory_equal(zpk_writer_data(&w), want, wn);
                }
            }
            zpk_writer_free(&w);
            ncases++;
        }
    }
    print_message("%zu cases, %zu encodings\n", ncases, nencodings);
    assert_int_equal(ncases, 85);
    /* Only 2^63-1: listed as d3 first, written as cf like msgpack-c and msgpack-python. */
    assert_int_equal(nalternate, 1);
    json_decref(root);
}

int main(void)
{
    harness_require_data("msgpack-test-suite.json");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msgpack_test_suite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
