/*
 * Helpers for the document tests (test_doc, test_unpacker, test_corpus):
 * an iterative tree equality and small feeding helpers. Header-only.
 */
#ifndef ZPK_TEST_DOC_UTIL_H
#define ZPK_TEST_DOC_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zmqpack.h"

/* True when both trees hold the same values (floats compared bit for bit). */
static inline bool tree_equal(const zpk_node_t *a, const zpk_node_t *b)
{
    size_t cap = 64, n = 0;
    const zpk_node_t **st = malloc(cap * 2 * sizeof *st);
    if (st == NULL)
        return false;
    st[0] = a;
    st[1] = b;
    n = 1;
    bool eq = true;
    while (eq && n > 0) {
        n--;
        const zpk_node_t *x = st[2 * n], *y = st[2 * n + 1];
        zpk_type_t t = zpk_node_type(x);
        if (t != zpk_node_type(y) || zpk_node_len(x) != zpk_node_len(y)) {
            eq = false;
            break;
        }
        size_t len = zpk_node_len(x);
        switch (t) {
        case ZPK_TYPE_NIL:
            break;
        case ZPK_TYPE_BOOL: {
            bool p, q;
            zpk_node_get_bool(x, &p);
            zpk_node_get_bool(y, &q);
            eq = p == q;
            break;
        }
        case ZPK_TYPE_INT: {
            int64_t p, q;
            zpk_node_get_int(x, &p);
            zpk_node_get_int(y, &q);
            eq = p == q;
            break;
        }
        case ZPK_TYPE_UINT: {
            uint64_t p, q;
            zpk_node_get_uint(x, &p);
            zpk_node_get_uint(y, &q);
            eq = p == q;
            break;
        }
        case ZPK_TYPE_FLOAT:
        case ZPK_TYPE_DOUBLE: {
            double p, q;
            zpk_node_get_double(x, &p);
            zpk_node_get_double(y, &q);
            eq = memcmp(&p, &q, sizeof p) == 0;
            break;
        }
        case ZPK_TYPE_STR: {
            const char *p, *q;
            zpk_node_get_str(x, &p, NULL);
            zpk_node_get_str(y, &q, NULL);
            eq = len == 0 || memcmp(p, q, len) == 0;
            break;
        }
        case ZPK_TYPE_BIN: {
            const uint8_t *p, *q;
            zpk_node_get_bin(x, &p, NULL);
            zpk_node_get_bin(y, &q, NULL);
            eq = len == 0 || memcmp(p, q, len) == 0;
            break;
        }
        case ZPK_TYPE_EXT: {
            const uint8_t *p, *q;
            int8_t tp, tq;
            zpk_node_get_ext(x, &tp, &p, NULL);
            zpk_node_get_ext(y, &tq, &q, NULL);
            eq = tp == tq && (len == 0 || memcmp(p, q, len) == 0);
            break;
        }
        case ZPK_TYPE_ARRAY:
        case ZPK_TYPE_MAP: {
            size_t items = t == ZPK_TYPE_MAP ? 2 * len : len;
            if (n + items > cap) {
                while (n + items > cap)
                    cap *= 2;
                const zpk_node_t **ns = realloc(st, cap * 2 * sizeof *st);
                if (ns == NULL) {
                    eq = false;
                    break;
                }
                st = ns;
            }
            for (size_t i = 0; i < items; i++) {
                const zpk_node_t *cx, *cy;
                if (t == ZPK_TYPE_ARRAY) {
                    cx = zpk_node_array_at(x, i);
                    cy = zpk_node_array_at(y, i);
                } else if (i % 2 == 0) {
                    cx = zpk_node_map_key(x, i / 2);
                    cy = zpk_node_map_key(y, i / 2);
                } else {
                    cx = zpk_node_map_value(x, i / 2);
                    cy = zpk_node_map_value(y, i / 2);
                }
                st[2 * n] = cx;
                st[2 * n + 1] = cy;
                n++;
            }
            break;
        }
        default:
            eq = false;
        }
    }
    free(st);
    return eq;
}

/* A small deterministic generator (xorshift64*). */
static inline uint64_t test_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

#endif
