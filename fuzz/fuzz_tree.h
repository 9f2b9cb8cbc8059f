/*
 * Document-tree helpers for the MessagePack fuzz targets: deep equality,
 * an independent re-encoder built only on the public node accessors and
 * writer calls, and a walk that calls every accessor and checks that they
 * agree with each other. Recursion is bounded by the parse's max_depth.
 */
#ifndef ZPK_FUZZ_TREE_H
#define ZPK_FUZZ_TREE_H

#include "fuzz_common.h"
#include "zmqpack/doc.h"

/* Reads every byte of @p p (so ASan checks the whole extent). */
volatile uint8_t fuzz_touch_sink;
static inline void ftouch(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc ^= b[i];
    fuzz_touch_sink = acc;
}

/* Bit-exact equality of two trees (NaN equals itself, -0.0 differs from 0.0). */
static inline bool ftree_equal(const zpk_node_t *a, const zpk_node_t *b)
{
    zpk_type_t t = zpk_node_type(a);
    if (t != zpk_node_type(b) || zpk_node_len(a) != zpk_node_len(b))
        return false;
    size_t n = zpk_node_len(a);
    switch (t) {
    case ZPK_TYPE_NIL:
        return true;
    case ZPK_TYPE_BOOL: {
        bool x = false, y = false;
        FUZZ_CHECK(zpk_node_get_bool(a, &x) == 0 && zpk_node_get_bool(b, &y) == 0);
        return x == y;
    }
    case ZPK_TYPE_INT: {
        int64_t x = 0, y = 0;
        FUZZ_CHECK(zpk_node_get_int(a, &x) == 0 && zpk_node_get_int(b, &y) == 0);
        return x == y;
    }
    case ZPK_TYPE_UINT: {
        uint64_t x = 0, y = 0;
        FUZZ_CHECK(zpk_node_get_uint(a, &x) == 0 && zpk_node_get_uint(b, &y) == 0);
        return x == y;
    }
    case ZPK_TYPE_FLOAT:
    case ZPK_TYPE_DOUBLE: {
        double x = 0, y = 0;
        FUZZ_CHECK(zpk_node_get_double(a, &x) == 0 && zpk_node_get_double(b, &y) == 0);
        return memcmp(&x, &y, sizeof x) == 0;
    }
    case ZPK_TYPE_STR: {
        const char *x = NULL, *y = NULL;
        size_t lx = 0, ly = 0;
        FUZZ_CHECK(zpk_node_get_str(a, &x, &lx) == 0 && zpk_node_get_str(b, &y, &ly) == 0);
        return lx == ly && (lx == 0 || memcmp(x, y, lx) == 0);
    }
    case ZPK_TYPE_BIN: {
        const uint8_t *x = NULL, *y = NULL;
        size_t lx = 0, ly = 0;
        FUZZ_CHECK(zpk_node_get_bin(a, &x, &lx) == 0 && zpk_node_get_bin(b, &y, &ly) == 0);
        return lx == ly && (lx == 0 || memcmp(x, y, lx) == 0);
    }
    case ZPK_TYPE_EXT: {
        const uint8_t *x = NULL, *y = NULL;
        size_t lx = 0, ly = 0;
        int8_t tx = 0, ty = 0;
        FUZZ_CHECK(zpk_node_get_ext(a, &tx, &x, &lx) == 0);
        FUZZ_CHECK(zpk_node_get_ext(b, &ty, &y, &ly) == 0);
        return tx == ty && lx == ly && (lx == 0 || memcmp(x, y, lx) == 0);
    }
    case ZPK_TYPE_ARRAY:
        for (size_t i = 0; i < n; i++)
            if (!ftree_equal(zpk_node_array_at(a, i), zpk_node_array_at(b, i)))
                return false;
        return true;
    case ZPK_TYPE_MAP:
        for (size_t i = 0; i < n; i++)
            if (!ftree_equal(zpk_node_map_key(a, i), zpk_node_map_key(b, i)) ||
                !ftree_equal(zpk_node_map_value(a, i), zpk_node_map_value(b, i)))
                return false;
        return true;
    }
    FUZZ_CHECK(!"node of an unknown type");
    return false;
}

/* Re-encodes @p n with the writer, through the public accessors only. */
static inline void ftree_write(zpk_writer_t *w, const zpk_node_t *n)
{
    size_t len = zpk_node_len(n);
    switch (zpk_node_type(n)) {
    case ZPK_TYPE_NIL:
        zpk_write_nil(w);
        return;
    case ZPK_TYPE_BOOL: {
        bool b = false;
        FUZZ_CHECK(zpk_node_get_bool(n, &b) == 0);
        zpk_write_bool(w, b);
        return;
    }
    case ZPK_TYPE_INT: {
        int64_t i = 0;
        FUZZ_CHECK(zpk_node_get_int(n, &i) == 0 && i < 0);
        zpk_write_int(w, i);
        return;
    }
    case ZPK_TYPE_UINT: {
        uint64_t u = 0;
        FUZZ_CHECK(zpk_node_get_uint(n, &u) == 0);
        zpk_write_uint(w, u);
        return;
    }
    case ZPK_TYPE_FLOAT: {
        /* the exact bits: double and back would quiet a signalling NaN */
        float f = 0;
        FUZZ_CHECK(zpk_node_get_float(n, &f) == 0);
        zpk_write_float(w, f);
        return;
    }
    case ZPK_TYPE_DOUBLE: {
        double d = 0;
        FUZZ_CHECK(zpk_node_get_double(n, &d) == 0);
        zpk_write_double(w, d);
        return;
    }
    case ZPK_TYPE_STR: {
        const char *s = NULL;
        FUZZ_CHECK(zpk_node_get_str(n, &s, NULL) == 0);
        zpk_write_str(w, s, len);
        return;
    }
    case ZPK_TYPE_BIN: {
        const uint8_t *b = NULL;
        FUZZ_CHECK(zpk_node_get_bin(n, &b, NULL) == 0);
        zpk_write_bin(w, b, len);
        return;
    }
    case ZPK_TYPE_EXT: {
        const uint8_t *b = NULL;
        int8_t t = 0;
        FUZZ_CHECK(zpk_node_get_ext(n, &t, &b, NULL) == 0);
        zpk_write_ext(w, t, b, len);
        return;
    }
    case ZPK_TYPE_ARRAY:
        zpk_write_array(w, len);
        for (size_t i = 0; i < len; i++)
            ftree_write(w, zpk_node_array_at(n, i));
        return;
    case ZPK_TYPE_MAP:
        zpk_write_map(w, len);
        for (size_t i = 0; i < len; i++) {
            ftree_write(w, zpk_node_map_key(n, i));
            ftree_write(w, zpk_node_map_value(n, i));
        }
        return;
    }
    FUZZ_CHECK(!"node of an unknown type");
}

/*
 * Calls every accessor on every node and checks that they agree: typed
 * getters succeed exactly for their types, out-of-range indexes give NULL,
 * map lookups by str key find the first pair with that key.
 */
static inline void ftree_walk(const zpk_node_t *n)
{
    zpk_type_t t = zpk_node_type(n);
    size_t len = zpk_node_len(n);
    FUZZ_CHECK(t >= ZPK_TYPE_NIL && t <= ZPK_TYPE_EXT);
    FUZZ_CHECK(zpk_node_is_nil(n) == (t == ZPK_TYPE_NIL));
    int64_t i64;
    uint64_t u64;
    double d;
    bool b;
    const char *s;
    const uint8_t *p;
    int8_t et;
    size_t l;
    zpk_timestamp_t ts;
    int rc = zpk_node_get_int(n, &i64);
    FUZZ_CHECK(rc == 0 ? (t == ZPK_TYPE_INT || t == ZPK_TYPE_UINT) : rc == ZPK_ETYPE);
    rc = zpk_node_get_uint(n, &u64);
    FUZZ_CHECK(rc == 0 ? t == ZPK_TYPE_UINT : rc == ZPK_ETYPE);
    if (t == ZPK_TYPE_INT)
        FUZZ_CHECK(zpk_node_get_int(n, &i64) == 0 && i64 < 0);
    if (t == ZPK_TYPE_UINT && u64 <= INT64_MAX)
        FUZZ_CHECK(zpk_node_get_int(n, &i64) == 0 && (uint64_t)i64 == u64);
    if (t == ZPK_TYPE_UINT && u64 > INT64_MAX)
        FUZZ_CHECK(zpk_node_get_int(n, &i64) == ZPK_ETYPE);
    rc = zpk_node_get_double(n, &d);
    FUZZ_CHECK(rc == 0 ? (t == ZPK_TYPE_INT || t == ZPK_TYPE_UINT || t == ZPK_TYPE_FLOAT ||
                          t == ZPK_TYPE_DOUBLE)
                       : rc == ZPK_ETYPE);
    rc = zpk_node_get_bool(n, &b);
    FUZZ_CHECK(rc == 0 ? t == ZPK_TYPE_BOOL : rc == ZPK_ETYPE);
    rc = zpk_node_get_str(n, &s, &l);
    FUZZ_CHECK(rc == 0 ? (t == ZPK_TYPE_STR && l == len && (l == 0 || s != NULL))
                       : rc == ZPK_ETYPE);
    if (rc == 0)
        ftouch(s, l);
    rc = zpk_node_get_bin(n, &p, &l);
    FUZZ_CHECK(rc == 0 ? (t == ZPK_TYPE_BIN && l == len) : rc == ZPK_ETYPE);
    if (rc == 0)
        ftouch(p, l);
    rc = zpk_node_get_ext(n, &et, &p, &l);
    FUZZ_CHECK(rc == 0 ? (t == ZPK_TYPE_EXT && l == len) : rc == ZPK_ETYPE);
    rc = zpk_node_get_timestamp(n, &ts);
    if (rc == 0) {
        FUZZ_CHECK(t == ZPK_TYPE_EXT && et == ZPK_EXT_TIMESTAMP);
        FUZZ_CHECK(l == 4 || l == 8 || l == 12);
        FUZZ_CHECK(ts.nsec <= 999999999u);
        zpk_timestamp_t ts2;
        FUZZ_CHECK(zpk_timestamp_decode(p, l, &ts2) == 0);
        FUZZ_CHECK(ts2.sec == ts.sec && ts2.nsec == ts.nsec);
    } else if (t == ZPK_TYPE_EXT && et == ZPK_EXT_TIMESTAMP) {
        FUZZ_CHECK(rc == ZPK_EFORMAT);
    } else {
        FUZZ_CHECK(rc == ZPK_ETYPE);
    }
    FUZZ_CHECK(zpk_node_get_int(n, NULL) == ZPK_EINVAL);
    FUZZ_CHECK(zpk_node_get_int(NULL, &i64) == ZPK_EINVAL);

    FUZZ_CHECK(zpk_node_array_at(n, len) == NULL);
    FUZZ_CHECK(zpk_node_map_key(n, len) == NULL);
    FUZZ_CHECK(zpk_node_map_value(n, SIZE_MAX) == NULL);
    if (t == ZPK_TYPE_ARRAY) {
        for (size_t i = 0; i < len; i++) {
            const zpk_node_t *c = zpk_node_array_at(n, i);
            FUZZ_CHECK(c != NULL);
            ftree_walk(c);
        }
    } else {
        FUZZ_CHECK(zpk_node_array_at(n, 0) == NULL);
    }
    if (t == ZPK_TYPE_MAP) {
        for (size_t i = 0; i < len; i++) {
            const zpk_node_t *k = zpk_node_map_key(n, i);
            const zpk_node_t *v = zpk_node_map_value(n, i);
            FUZZ_CHECK(k != NULL && v != NULL);
            ftree_walk(k);
            ftree_walk(v);
            const char *ks;
            size_t kl;
            if (zpk_node_get_str(k, &ks, &kl) == 0) {
                /* The lookup finds the first pair whose key is this str. */
                const zpk_node_t *found = zpk_node_map_getn(n, ks, kl);
                FUZZ_CHECK(found != NULL);
                for (size_t j = 0; j <= i; j++) {
                    const char *js;
                    size_t jl;
                    if (zpk_node_get_str(zpk_node_map_key(n, j), &js, &jl) == 0 && jl == kl &&
                        (kl == 0 || memcmp(js, ks, kl) == 0)) {
                        FUZZ_CHECK(found == zpk_node_map_value(n, j));
                        break;
                    }
                }
            }
        }
    } else {
        FUZZ_CHECK(zpk_node_map_get(n, "") == NULL);
    }
}

#endif
