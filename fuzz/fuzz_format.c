/*
 * Fuzz target: format-string unpack (zpk_unpack_fmt) against fixed formats.
 *
 * Input: raw MessagePack, parsed into a tree, then taken apart with
 * - a map format naming one optional key per type character, and
 * - a strict array format with one element per type character.
 * Checks: only ZPK_ETYPE or ZPK_ENOTFOUND may fail (the formats and the
 * output pointers are valid, so never ZPK_EINVAL), the error column lies
 * inside the format, values agree with the node accessors, and for the
 * array form unpack(pack(unpack(x))) gives the same values again. The input
 * parsed again with ZPK_DOC_BORROW: `s` gives the same text, NUL-terminated
 * (a copy the document makes once: the same pointer on a second call).
 */
#include <math.h>

#include "fuzz_tree.h"
#include "zmqpack/format.h"

#define S_MAP_FMT                                                                      \
    "{s?i s?I s?u s?U s?f s?d s?F s?s s?s# s?y# s?x s?t s?O s?* s?b s?n s?[i*] "      \
    "s?{s?i s?[]}}"
#define S_ARR_UNPACK "[i I u U f d F s# y# x t b n O !]"
#define S_ARR_PACK "[i I u U f d F s# y# x t b n O]"

typedef struct s_vals {
    int i, b, x;
    int64_t I;
    unsigned u;
    uint64_t U;
    float f;
    double d, F;
    const char *s;
    size_t slen;
    const void *y, *xp;
    size_t ylen, xlen;
    zpk_timestamp_t t;
    const zpk_node_t *O;
} s_vals_t;

/* Bit-equal, or both NaN (a float's NaN payload may change when promoted). */
static bool s_same_real(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b));
}

static bool s_same(const s_vals_t *a, const s_vals_t *b)
{
    return a->i == b->i && a->I == b->I && a->u == b->u && a->U == b->U &&
           s_same_real(a->f, b->f) && s_same_real(a->d, b->d) && s_same_real(a->F, b->F) &&
           a->slen == b->slen &&
           (a->slen == 0 || memcmp(a->s, b->s, a->slen) == 0) && a->ylen == b->ylen &&
           (a->ylen == 0 || memcmp(a->y, b->y, a->ylen) == 0) && a->x == b->x &&
           a->xlen == b->xlen && (a->xlen == 0 || memcmp(a->xp, b->xp, a->xlen) == 0) &&
           a->t.sec == b->t.sec && a->t.nsec == b->t.nsec && a->b == b->b &&
           ftree_equal(a->O, b->O);
}

static int s_unpack_array(const zpk_node_t *root, s_vals_t *v, zpk_error_t *err)
{
    return zpk_unpack_fmt_ex(root, err, S_ARR_UNPACK, &v->i, &v->I, &v->u, &v->U, &v->f,
                             &v->d, &v->F, &v->s, &v->slen, &v->y, &v->ylen, &v->x, &v->xp,
                             &v->xlen, &v->t, &v->b, &v->O);
}

static void s_check_code(int rc, const zpk_error_t *err, size_t fmtlen)
{
    FUZZ_CHECK(rc == 0 || rc == ZPK_ETYPE || rc == ZPK_ENOTFOUND);
    if (rc != 0) {
        FUZZ_CHECK(err->code == rc);
        FUZZ_CHECK(err->offset < fmtlen);
        FUZZ_CHECK(memchr(err->text, 0, sizeof err->text) != NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_begin(size, 64, 256 * 1024);
    zpk_doc_t *doc = NULL;
    int rc = zpk_doc_parse(data, size, NULL, 0, &doc, NULL);
    if (rc != 0 && rc != ZPK_EEXTRADATA) {
        fuzz_end();
        return 0;
    }
    const zpk_node_t *root = zpk_doc_root(doc);

    /* The map form. */
    s_vals_t v;
    memset(&v, 0, sizeof v);
    int ai = 0, mi = 0;
    const zpk_node_t *a_any = NULL;
    const void *sa = NULL;
    zpk_error_t err;
    zpk_error_clear(&err);
    rc = zpk_unpack_fmt_ex(root, &err, S_MAP_FMT, "i", &v.i, "I", &v.I, "u", &v.u, "U", &v.U,
                           "f", &v.f, "d", &v.d, "F", &v.F, "s", &sa, "s#", &v.s, &v.slen,
                           "y#", &v.y, &v.ylen, "x", &v.x, &v.xp, &v.xlen, "t", &v.t, "O",
                           &a_any, "*", "b", &v.b, "n", "a", &ai, "m", "i", &mi, "e");
    s_check_code(rc, &err, strlen(S_MAP_FMT));
    if (rc == 0) {
        const zpk_node_t *n = zpk_node_map_get(root, "i");
        int64_t i64;
        if (n != NULL)
            FUZZ_CHECK(zpk_node_get_int(n, &i64) == 0 && i64 == v.i);
        n = zpk_node_map_get(root, "U");
        uint64_t u64;
        if (n != NULL)
            FUZZ_CHECK(zpk_node_get_uint(n, &u64) == 0 && u64 == v.U);
        n = zpk_node_map_get(root, "s");
        if (n != NULL) {
            size_t l;
            const char *p;
            FUZZ_CHECK(zpk_node_get_str(n, &p, &l) == 0 && p == sa);
            FUZZ_CHECK(strlen(sa) == l);
        }
        n = zpk_node_map_get(root, "O");
        if (n != NULL)
            FUZZ_CHECK(a_any == n);
        n = zpk_node_map_get(root, "b");
        if (n != NULL)
            FUZZ_CHECK(v.b == 0 || v.b == 1);
    }

    /* A borrowed document: `s` makes the document copy the str, once. */
    zpk_doc_t *bdoc = NULL;
    if (zpk_doc_parse(data, size, NULL, ZPK_DOC_BORROW, &bdoc, NULL) != ZPK_EOUTOFDATA &&
        bdoc != NULL) {
        const char *s1 = NULL, *s2 = NULL;
        int r1 = zpk_unpack_fmt(zpk_doc_root(bdoc), "{s?s}", "s", &s1);
        int r2 = zpk_unpack_fmt(zpk_doc_root(bdoc), "{s?s}", "s", &s2);
        FUZZ_CHECK(r1 == r2 && s1 == s2);
        FUZZ_CHECK(r1 == 0 || r1 == ZPK_ETYPE);
        const zpk_node_t *n = zpk_node_map_get(zpk_doc_root(bdoc), "s");
        size_t l;
        const char *p;
        if (r1 == 0 && n != NULL) {
            FUZZ_CHECK(zpk_node_get_str(n, &p, &l) == 0 && strlen(s1) == l);
            FUZZ_CHECK(l == 0 || memcmp(s1, p, l) == 0);
        }
        zpk_doc_destroy(&bdoc);
    }

    /* The strict array form, and back through zpk_pack_fmt. */
    memset(&v, 0, sizeof v);
    zpk_error_clear(&err);
    rc = s_unpack_array(root, &v, &err);
    s_check_code(rc, &err, strlen(S_ARR_UNPACK));
    if (rc == 0) {
        FUZZ_CHECK(zpk_node_len(root) == 14);
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 0);
        rc = zpk_pack_fmt(&w, S_ARR_PACK, v.i, v.I, v.u, v.U, (double)v.f, v.d, v.F, v.s,
                          v.slen, v.y, v.ylen, v.x, v.xp, v.xlen, &v.t, v.b, v.O);
        FUZZ_CHECK(rc == 0);
        zpk_doc_t *doc2 = NULL;
        FUZZ_CHECK(zpk_doc_parse(zpk_writer_data(&w), zpk_writer_size(&w), NULL, 0, &doc2,
                                 NULL) == 0);
        s_vals_t v2;
        memset(&v2, 0, sizeof v2);
        FUZZ_CHECK(s_unpack_array(zpk_doc_root(doc2), &v2, NULL) == 0);
        FUZZ_CHECK(s_same(&v, &v2));
        zpk_doc_destroy(&doc2);
        zpk_writer_free(&w);
    }

    zpk_doc_destroy(&doc);
    fuzz_end();
    return 0;
}
