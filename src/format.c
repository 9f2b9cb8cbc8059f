/*
 * Format strings in the style of jansson's json_pack/json_unpack:
 * zpk_pack_fmt() writes values described by a format string through a
 * zpk_writer_t, zpk_unpack_fmt() extracts values from a document tree.
 * The grammar and the table of type characters are in zmqpack/format.h.
 *
 * Both sides first check the whole format (no argument is read, nothing is
 * written), then walk it again with the arguments. So a bad format is
 * reported before any byte is written or any output is stored.
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "doc_internal.h"
#include "internal.h"
#include "zmqpack/doc.h"
#include "zmqpack/format.h"
#include "zmqpack/msgpack.h"

/*
 * Doubles from here up round to infinity as a float (2^128 - 2^103: FLT_MAX
 * plus half its ulp); below it they round to a finite float.
 */
#define S_FLOAT_OVERFLOW 0x1.ffffffp+127

/* Deepest nesting of [ and { a format may have (keeps the recursion small). */
#define S_MAX_FMT_DEPTH 64

/* One format token: a type character with its column and suffixes. */
typedef struct s_tok {
    char c;      /* the character; 0 at the end of the format */
    bool hash;   /* followed by '#' */
    bool opt;    /* followed by '?' */
    size_t col;  /* column of c in the format */
} s_tok_t;

static bool s_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ':' || c == ',';
}

/* Reads the token at *pos and moves past it and its suffixes. */
static void s_next(const char *fmt, size_t *pos, s_tok_t *t)
{
    while (s_is_space(fmt[*pos]))
        (*pos)++;
    t->col = *pos;
    t->c = fmt[*pos];
    t->hash = t->opt = false;
    if (t->c == '\0')
        return;
    (*pos)++;
    if (fmt[*pos] == '#') {
        t->hash = true;
        (*pos)++;
    }
    if (fmt[*pos] == '?') {
        t->opt = true;
        (*pos)++;
    }
}

/* The token at *pos without consuming it. */
static s_tok_t s_peek(const char *fmt, size_t pos)
{
    s_tok_t t;
    s_next(fmt, &pos, &t);
    return t;
}

static int s_fmt_error(zpk_error_t *err, size_t col, const char *what, char c)
{
    if (c == '\0')
        return zpk__error(err, ZPK_EINVAL, col, "column %zu: %s at the end of the format",
                          col, what);
    return zpk__error(err, ZPK_EINVAL, col, "column %zu: %s '%c'", col, what, c);
}

/* ---- checking a format ----------------------------------------------------- */

enum { S_PACK, S_UNPACK };

/* Does the type character take '#'? 1 = required, 0 = optional, -1 = never. */
static int s_hash_rule(int mode, char c)
{
    switch (c) {
    case 's':
        return 0;
    case 'y':
        return 1;
    case 'R':
        return mode == S_PACK ? 1 : -1;
    default:
        return -1;
    }
}

static bool s_is_scalar(int mode, char c)
{
    switch (c) {
    case 'n': case 'b': case 'i': case 'I': case 'u': case 'U':
    case 'f': case 'd': case 'F': case 's': case 'y': case 'x': case 't': case 'O':
        return true;
    case 'R':
        return mode == S_PACK;
    case '*':
        return mode == S_UNPACK;
    default:
        return false;
    }
}

/* May '?' follow this pack character (a NULL pointer then writes nil)? */
static bool s_pack_nullable(char c)
{
    return c == 's' || c == 'y' || c == 'O' || c == 't' || c == 'R';
}

/*
 * What the check of a pack format records for the pack pass, so that the
 * format is lexed once: every value token in order (pre-order), and for
 * containers their item count. Formats with more tokens than fit are
 * packed the old way (lexed again, counts by scanning ahead).
 */
#define S_REC_MAX 64
typedef struct s_rtok {
    s_tok_t t;
    size_t count; /* [ and {: values (array) or pairs (map) */
} s_rtok_t;
typedef struct s_rec {
    s_rtok_t tok[S_REC_MAX];
    size_t n;
    bool overflow;
} s_rec_t;

static int s_check_value(int mode, const char *fmt, size_t *pos, int depth, zpk_error_t *err,
                         s_rec_t *rec);
static int s_check_tok(int mode, const char *fmt, size_t *pos, s_tok_t t, int depth,
                       zpk_error_t *err, s_rec_t *rec);

/*
 * Checks the items of a container up to its closing character @p close
 * (after the opening one was consumed) and counts them (values for an
 * array, pairs for a map).
 */
static int s_check_items(int mode, const char *fmt, size_t *pos, char close, int depth,
                         size_t open_col, size_t *count, zpk_error_t *err, s_rec_t *rec)
{
    size_t n = 0;
    for (;;) {
        s_tok_t t;
        s_next(fmt, pos, &t); /* lexed once: handed to s_check_tok() */
        if (t.c == close) {
            if (t.hash || t.opt)
                return s_fmt_error(err, t.col, "no suffix may follow", close);
            break;
        }
        if (t.c == '\0')
            return zpk__error(err, ZPK_EINVAL, open_col,
                              "column %zu: '%c' is never closed", open_col,
                              close == ']' ? '[' : '{');
        if (t.c == '!' && mode == S_UNPACK) {
            s_tok_t c = s_peek(fmt, *pos);
            if (t.hash || t.opt || c.c != close)
                return s_fmt_error(err, t.col, "'!' must come right before the closing",
                                   close);
            continue;
        }
        if (close == '}' && mode == S_UNPACK) {
            /* A key: s (with optional # and ?), then its value. */
            if (t.c != 's')
                return s_fmt_error(err, t.col, "a map key in unpack must be 's', not", t.c);
            int rc = s_check_value(mode, fmt, pos, depth, err, NULL);
            if (rc != 0)
                return rc;
            n++;
            continue;
        }
        int rc = s_check_tok(mode, fmt, pos, t, depth, err, rec);
        if (rc != 0)
            return rc;
        n++;
    }
    if (close == '}' && mode == S_PACK) {
        if (n & 1)
            return zpk__error(err, ZPK_EINVAL, open_col,
                              "column %zu: map has a key without a value", open_col);
        n /= 2;
    }
    *count = n;
    return 0;
}

static int s_check_value(int mode, const char *fmt, size_t *pos, int depth, zpk_error_t *err,
                         s_rec_t *rec)
{
    s_tok_t t;
    s_next(fmt, pos, &t);
    return s_check_tok(mode, fmt, pos, t, depth, err, rec);
}

/* Checks the value whose first token @p t was just read (*pos is past it). */
static int s_check_tok(int mode, const char *fmt, size_t *pos, s_tok_t t, int depth,
                       zpk_error_t *err, s_rec_t *rec)
{
    s_rtok_t *rt = NULL;
    if (rec != NULL) {
        if (rec->n < S_REC_MAX) {
            rt = &rec->tok[rec->n++];
            rt->t = t;
            rt->count = 0;
        } else {
            rec->overflow = true;
        }
    }
    if (t.c == '[' || t.c == '{') {
        if (t.hash || t.opt)
            return s_fmt_error(err, t.col, "no suffix may follow", t.c);
        if (depth >= S_MAX_FMT_DEPTH)
            return zpk__error(err, ZPK_EINVAL, t.col,
                              "column %zu: format nested deeper than %d", t.col,
                              S_MAX_FMT_DEPTH);
        size_t n = 0;
        int rc = s_check_items(mode, fmt, pos, t.c == '[' ? ']' : '}', depth + 1, t.col, &n, err,
                               rec);
        if (rt != NULL)
            rt->count = n;
        return rc;
    }
    if (t.c == '\0')
        return s_fmt_error(err, t.col, "a value is missing", t.c);
    if (!s_is_scalar(mode, t.c))
        return s_fmt_error(err, t.col, "unexpected format character", t.c);
    int h = s_hash_rule(mode, t.c);
    if (h == 1 && !t.hash)
        return s_fmt_error(err, t.col, "'#' (pointer and length) must follow", t.c);
    if (h == -1 && t.hash)
        return s_fmt_error(err, t.col, "'#' may not follow", t.c);
    if (t.opt && !(mode == S_PACK && s_pack_nullable(t.c)))
        return s_fmt_error(err, t.col, "'?' may not follow", t.c);
    return 0;
}

/* Checks a whole format; @p single requires exactly one top-level value. */
static int s_check(int mode, const char *fmt, bool single, zpk_error_t *err, s_rec_t *rec)
{
    if (fmt == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL format");
    size_t pos = 0, n = 0;
    for (;;) {
        s_tok_t t;
        s_next(fmt, &pos, &t);
        if (t.c == '\0')
            break;
        if (single && n == 1)
            return s_fmt_error(err, t.col, "only one value may be unpacked; unexpected", t.c);
        int rc = s_check_tok(mode, fmt, &pos, t, 0, err, rec);
        if (rc != 0)
            return rc;
        n++;
    }
    if (n == 0)
        return zpk__error(err, ZPK_EINVAL, 0, "column 0: empty format");
    return 0;
}

/* Moves *pos past one value of an already checked format. */
static void s_skip_value(const char *fmt, size_t *pos)
{
    s_tok_t t;
    s_next(fmt, pos, &t);
    if (t.c != '[' && t.c != '{')
        return;
    int depth = 1;
    while (depth > 0) {
        s_next(fmt, pos, &t);
        if (t.c == '[' || t.c == '{')
            depth++;
        else if (t.c == ']' || t.c == '}')
            depth--;
        else if (t.c == '\0')
            return;
    }
}

/* Values (array) or pairs (map) of the container whose items start at pos. */
static size_t s_count_items(const char *fmt, size_t pos, char close)
{
    size_t n = 0;
    for (;;) {
        s_tok_t t = s_peek(fmt, pos);
        if (t.c == close || t.c == '\0')
            break;
        s_skip_value(fmt, &pos);
        n++;
    }
    return close == '}' ? n / 2 : n;
}

/* ---- pack -------------------------------------------------------------------- */

typedef struct s_pack {
    zpk_writer_t *w;
    const char *fmt;
    size_t pos;
    zpk_error_t *err;
    va_list ap;
} s_pack_t;

static int s_arg_error(zpk_error_t *err, size_t col, char c, const char *what)
{
    return zpk__error(err, ZPK_EINVAL, col, "column %zu: argument for '%c': %s", col, c, what);
}

static int s_pack_value(s_pack_t *p);

static int s_pack_items(s_pack_t *p, char close)
{
    for (;;) {
        s_tok_t t = s_peek(p->fmt, p->pos);
        if (t.c == close) {
            s_next(p->fmt, &p->pos, &t);
            return 0;
        }
        int rc = s_pack_value(p);
        if (rc != 0)
            return rc;
    }
}

static int s_pack_scalar(s_pack_t *p, s_tok_t t);

static int s_pack_value(s_pack_t *p)
{
    zpk_writer_t *w = p->w;
    s_tok_t t;
    s_next(p->fmt, &p->pos, &t);
    switch (t.c) {
    case '[':
        zpk_write_array(w, s_count_items(p->fmt, p->pos, ']'));
        return s_pack_items(p, ']');
    case '{':
        zpk_write_map(w, s_count_items(p->fmt, p->pos, '}'));
        return s_pack_items(p, '}');
    default:
        return s_pack_scalar(p, t);
    }
}

/* Packs the recorded value at rec->tok[*i] (and its items), moving *i past it. */
static int s_pack_rec(s_pack_t *p, const s_rec_t *rec, size_t *i)
{
    const s_rtok_t *rt = &rec->tok[(*i)++];
    size_t items;
    switch (rt->t.c) {
    case '[':
        zpk_write_array(p->w, rt->count);
        items = rt->count;
        break;
    case '{':
        zpk_write_map(p->w, rt->count);
        items = 2 * rt->count;
        break;
    default:
        return s_pack_scalar(p, rt->t);
    }
    for (size_t k = 0; k < items; k++) {
        int rc = s_pack_rec(p, rec, i);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int s_pack_scalar(s_pack_t *p, s_tok_t t)
{
    zpk_writer_t *w = p->w;
    switch (t.c) {
    case 'n':
        zpk_write_nil(w);
        return 0;
    case 'b':
        zpk_write_bool(w, va_arg(p->ap, int) != 0);
        return 0;
    case 'i':
        zpk_write_int(w, va_arg(p->ap, int));
        return 0;
    case 'I':
        zpk_write_int(w, va_arg(p->ap, int64_t));
        return 0;
    case 'u':
        zpk_write_uint(w, va_arg(p->ap, unsigned));
        return 0;
    case 'U':
        zpk_write_uint(w, va_arg(p->ap, uint64_t));
        return 0;
    case 'f': {
        double d = va_arg(p->ap, double);
        if (isfinite(d) && fabs(d) >= S_FLOAT_OVERFLOW)
            return s_arg_error(p->err, t.col, t.c, "finite value outside the float range");
        zpk_write_float(w, (float)d);
        return 0;
    }
    case 'd':
        zpk_write_double(w, va_arg(p->ap, double));
        return 0;
    case 'F':
        zpk_write_real(w, va_arg(p->ap, double));
        return 0;
    case 's': {
        const char *s = va_arg(p->ap, const char *);
        size_t len = 0;
        if (t.hash)
            len = va_arg(p->ap, size_t);
        if (s == NULL && !(t.hash && len == 0)) {
            if (t.opt) {
                zpk_write_nil(w);
                return 0;
            }
            return s_arg_error(p->err, t.col, t.c, "NULL string");
        }
        if (t.hash)
            zpk_write_str(w, s, len);
        else
            zpk_write_cstr(w, s);
        return 0;
    }
    case 'y': {
        const void *d = va_arg(p->ap, const void *);
        size_t len = va_arg(p->ap, size_t);
        if (d == NULL && len != 0) {
            if (t.opt) {
                zpk_write_nil(w);
                return 0;
            }
            return s_arg_error(p->err, t.col, t.c, "NULL data with a non-zero length");
        }
        zpk_write_bin(w, d, len);
        return 0;
    }
    case 'R': {
        const void *d = va_arg(p->ap, const void *);
        size_t len = va_arg(p->ap, size_t);
        if (d == NULL || len == 0) {
            if (t.opt && d == NULL) {
                zpk_write_nil(w);
                return 0;
            }
            return s_arg_error(p->err, t.col, t.c, "no encoded value (NULL or length 0)");
        }
        zpk_write_raw(w, d, len);
        return 0;
    }
    case 'x': {
        int type = va_arg(p->ap, int);
        const void *d = va_arg(p->ap, const void *);
        size_t len = va_arg(p->ap, size_t);
        if (type < INT8_MIN || type > INT8_MAX)
            return s_arg_error(p->err, t.col, t.c, "ext type outside -128..127");
        if (d == NULL && len != 0)
            return s_arg_error(p->err, t.col, t.c, "NULL data with a non-zero length");
        zpk_write_ext(w, (int8_t)type, d, len);
        return 0;
    }
    case 't': {
        const zpk_timestamp_t *ts = va_arg(p->ap, const zpk_timestamp_t *);
        if (ts == NULL) {
            if (t.opt) {
                zpk_write_nil(w);
                return 0;
            }
            return s_arg_error(p->err, t.col, t.c, "NULL timestamp");
        }
        if (ts->nsec > 999999999u)
            return s_arg_error(p->err, t.col, t.c, "nanoseconds over 999999999");
        zpk_write_timestamp(w, ts->sec, ts->nsec);
        return 0;
    }
    case 'O': {
        const zpk_node_t *node = va_arg(p->ap, const zpk_node_t *);
        if (node == NULL) {
            if (t.opt) {
                zpk_write_nil(w);
                return 0;
            }
            return s_arg_error(p->err, t.col, t.c, "NULL node");
        }
        return zpk_node_write(w, node);
    }
    default:
        /* Unreachable after s_check(). */
        return s_fmt_error(p->err, t.col, "unexpected format character", t.c);
    }
}

int zpk_pack_fmt_ex(zpk_writer_t *w, zpk_error_t *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = zpk_pack_fmt_v_ex(w, err, fmt, ap);
    va_end(ap);
    return rc;
}

int zpk_pack_fmt(zpk_writer_t *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = zpk_pack_fmt_v_ex(w, NULL, fmt, ap);
    va_end(ap);
    return rc;
}

int zpk_pack_fmt_v(zpk_writer_t *w, const char *fmt, va_list ap)
{
    return zpk_pack_fmt_v_ex(w, NULL, fmt, ap);
}

int zpk_pack_fmt_v_ex(zpk_writer_t *w, zpk_error_t *err, const char *fmt, va_list ap)
{
    zpk_error_clear(err);
    if (w == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL writer");
    int rc = zpk_writer_error(w);
    if (rc != 0)
        return zpk__error(err, rc, 0, "the writer has already failed: %s", zpk_strerror(rc));
    s_rec_t rec;
    rec.n = 0;
    rec.overflow = false;
    rc = s_check(S_PACK, fmt, false, err, &rec);
    if (rc != 0)
        return rc;
    s_pack_t p = {.w = w, .fmt = fmt, .pos = 0, .err = err};
    va_copy(p.ap, ap);
    if (!rec.overflow) { /* the format was lexed once: pack from the record */
        for (size_t i = 0; rc == 0 && i < rec.n;)
            rc = s_pack_rec(&p, &rec, &i);
    } else {
        while (rc == 0 && s_peek(fmt, p.pos).c != '\0')
            rc = s_pack_value(&p);
    }
    va_end(p.ap);
    if (rc != 0) {
        /* Part of the value may be written: fail the writer too. */
        zpk_writer_set_error(w, rc);
        return rc;
    }
    rc = zpk_writer_error(w);
    if (rc != 0)
        return zpk__error(err, rc, zpk_writer_size(w), "writer failed: %s", zpk_strerror(rc));
    return 0;
}

/* ---- unpack ------------------------------------------------------------------ */

typedef struct s_unpack {
    const char *fmt;
    size_t pos;
    zpk_error_t *err;
    va_list ap;
    const zpk_node_t *root; /* the node given: a document's root copies borrowed strs */
    char where[48];         /* the value being unpacked: " (key \"id\")", " (element 2)" */
} s_unpack_t;

/* Names the value about to be unpacked, for the error texts. */
static void s_where_key(s_unpack_t *u, const char *key, size_t len)
{
    snprintf(u->where, sizeof u->where, len > 24 ? " (key \"%.*s...\")" : " (key \"%.*s\")",
             (int)(len > 24 ? 24 : len), key != NULL ? key : "");
}

static int s_type_error(s_unpack_t *u, size_t col, char c, const zpk_node_t *n,
                        const char *want)
{
    return zpk__error(u->err, ZPK_ETYPE, col, "column %zu%s: '%c' expects %s, found %s", col,
                      u->where, c, want, zpk_type_name(zpk_node_type(n)));
}

static int s_range_error(s_unpack_t *u, size_t col, char c)
{
    return zpk__error(u->err, ZPK_ETYPE, col, "column %zu%s: value out of range for '%c'", col,
                      u->where, c);
}

/* Fetches the next output pointer; NULL is an argument error (unless dry). */
#define S_OUT(u, T, var, t, dry)                                                     \
    T var = va_arg((u)->ap, T);                                                      \
    if (var == NULL && !(dry))                                                       \
        return s_arg_error((u)->err, (t).col, (t).c, "NULL output pointer")

static int s_unpack_value(s_unpack_t *u, const zpk_node_t *n, bool dry);

static int s_unpack_array(s_unpack_t *u, const zpk_node_t *n, s_tok_t open, bool dry)
{
    if (!dry && zpk_node_type(n) != ZPK_TYPE_ARRAY)
        return s_type_error(u, open.col, '[', n, "an array");
    size_t len = dry ? 0 : zpk_node_len(n);
    size_t i = 0;
    for (;;) {
        s_tok_t t = s_peek(u->fmt, u->pos);
        if (t.c == ']') {
            s_next(u->fmt, &u->pos, &t);
            return 0;
        }
        if (t.c == '!') {
            s_next(u->fmt, &u->pos, &t);
            if (!dry && len != i)
                return zpk__error(u->err, ZPK_ETYPE, t.col,
                                  "column %zu: array has %zu elements, the format names %zu",
                                  t.col, len, i);
            continue;
        }
        if (!dry && i >= len)
            return zpk__error(u->err, ZPK_ENOTFOUND, t.col,
                              "column %zu: array has %zu elements, no element %zu", t.col, len,
                              i);
        snprintf(u->where, sizeof u->where, " (element %zu)", i);
        int rc = s_unpack_value(u, dry ? NULL : zpk_node_array_at(n, i), dry);
        if (rc != 0)
            return rc;
        i++;
    }
}

/* Index of the first pair of map @p n whose key is the str @p key, or -1. */
static ptrdiff_t s_map_find(const zpk_node_t *n, const char *key, size_t len)
{
    size_t count = zpk_node_len(n);
    for (size_t i = 0; i < count; i++) {
        const char *s;
        size_t slen;
        if (zpk_node_get_str(zpk_node_map_key(n, i), &s, &slen) == 0 && slen == len &&
            (len == 0 || memcmp(s, key, len) == 0))
            return (ptrdiff_t)i;
    }
    return -1;
}

static int s_unpack_map(s_unpack_t *u, const zpk_node_t *n, s_tok_t open, bool dry)
{
    if (!dry && zpk_node_type(n) != ZPK_TYPE_MAP)
        return s_type_error(u, open.col, '{', n, "a map");
    size_t found = 0; /* keys of the format present in the map */
    for (;;) {
        s_tok_t t;
        s_next(u->fmt, &u->pos, &t);
        if (t.c == '}')
            return 0;
        if (t.c == '!') {
            /* Every pair of the map must be named (format keys are distinct). */
            if (!dry && found != zpk_node_len(n))
                return zpk__error(u->err, ZPK_ETYPE, t.col,
                                  "column %zu: map has %zu pairs, the format names %zu of them",
                                  t.col, zpk_node_len(n), found);
            continue;
        }
        /* t is the key: s or s#. */
        const char *key = va_arg(u->ap, const char *);
        size_t klen = 0;
        if (t.hash)
            klen = va_arg(u->ap, size_t);
        if (key == NULL && !(t.hash && klen == 0)) {
            if (!dry)
                return s_arg_error(u->err, t.col, t.c, "NULL key");
            klen = 0;
        }
        if (!t.hash && key != NULL)
            klen = strlen(key);
        const zpk_node_t *v = NULL;
        if (!dry) {
            ptrdiff_t i = s_map_find(n, key, klen);
            if (i >= 0) {
                v = zpk_node_map_value(n, (size_t)i);
                found++;
            } else if (!t.opt) {
                return zpk__error(u->err, ZPK_ENOTFOUND, t.col,
                                  "column %zu: no key \"%.*s\" in the map", t.col,
                                  (int)(klen > 40 ? 40 : klen), key != NULL ? key : "");
            }
        }
        s_where_key(u, key, klen);
        int rc = s_unpack_value(u, v, dry || v == NULL);
        if (rc != 0)
            return rc;
    }
}

/* The number characters: b, i, I, u, U, f, d, F. */
static int s_unpack_number(s_unpack_t *u, s_tok_t t, const zpk_node_t *n, zpk_type_t ty,
                           bool dry)
{
    switch (t.c) {
    case 'b': {
        S_OUT(u, int *, out, t, dry);
        if (dry)
            return 0;
        bool b;
        if (zpk_node_get_bool(n, &b) != 0)
            return s_type_error(u, t.col, t.c, n, "a bool");
        *out = b ? 1 : 0;
        return 0;
    }
    case 'i':
    case 'I': {
        int *oi = NULL;
        int64_t *oI = NULL;
        if (t.c == 'i') {
            S_OUT(u, int *, o, t, dry);
            oi = o;
        } else {
            S_OUT(u, int64_t *, o, t, dry);
            oI = o;
        }
        if (dry)
            return 0;
        if (ty != ZPK_TYPE_INT && ty != ZPK_TYPE_UINT)
            return s_type_error(u, t.col, t.c, n, "an integer");
        int64_t v;
        if (zpk_node_get_int(n, &v) != 0)
            return s_range_error(u, t.col, t.c);
        if (oi != NULL) {
            if (v < INT_MIN || v > INT_MAX)
                return s_range_error(u, t.col, t.c);
            *oi = (int)v;
        } else {
            *oI = v;
        }
        return 0;
    }
    case 'u':
    case 'U': {
        unsigned *ou = NULL;
        uint64_t *oU = NULL;
        if (t.c == 'u') {
            S_OUT(u, unsigned *, o, t, dry);
            ou = o;
        } else {
            S_OUT(u, uint64_t *, o, t, dry);
            oU = o;
        }
        if (dry)
            return 0;
        if (ty != ZPK_TYPE_INT && ty != ZPK_TYPE_UINT)
            return s_type_error(u, t.col, t.c, n, "an integer");
        uint64_t v;
        if (zpk_node_get_uint(n, &v) != 0)
            return s_range_error(u, t.col, t.c);
        if (ou != NULL) {
            if (v > UINT_MAX)
                return s_range_error(u, t.col, t.c);
            *ou = (unsigned)v;
        } else {
            *oU = v;
        }
        return 0;
    }
    case 'f': {
        S_OUT(u, float *, out, t, dry);
        if (dry)
            return 0;
        double d;
        if ((ty != ZPK_TYPE_FLOAT && ty != ZPK_TYPE_DOUBLE) || zpk_node_get_double(n, &d) != 0)
            return s_type_error(u, t.col, t.c, n, "a float");
        if (isfinite(d) && fabs(d) >= S_FLOAT_OVERFLOW)
            return s_range_error(u, t.col, t.c);
        *out = (float)d;
        return 0;
    }
    case 'd':
    case 'F': {
        S_OUT(u, double *, out, t, dry);
        if (dry)
            return 0;
        double d;
        if (t.c == 'd' && ty != ZPK_TYPE_FLOAT && ty != ZPK_TYPE_DOUBLE)
            return s_type_error(u, t.col, t.c, n, "a float");
        if (zpk_node_get_double(n, &d) != 0)
            return s_type_error(u, t.col, t.c, n, "a number");
        *out = d;
        return 0;
    }
    default:
        return s_fmt_error(u->err, t.col, "unexpected format character", t.c);
    }
}

/* The characters whose value is a payload in the document: s, y, x, t, O. */
static int s_unpack_payload(s_unpack_t *u, s_tok_t t, const zpk_node_t *n, bool dry)
{
    switch (t.c) {
    case 's': {
        S_OUT(u, const char **, out, t, dry);
        size_t *olen = NULL;
        if (t.hash) {
            S_OUT(u, size_t *, o, t, dry);
            olen = o;
        }
        if (dry)
            return 0;
        const char *s;
        size_t len;
        if (zpk_node_get_str(n, &s, &len) != 0)
            return s_type_error(u, t.col, t.c, n, "a str");
        if (s == NULL)
            s = "";
        if (!t.hash && len > 0 && memchr(s, 0, len) != NULL)
            return zpk__error(u->err, ZPK_ETYPE, t.col,
                              "column %zu%s: str holds a NUL byte; use 's#'", t.col, u->where);
        if (!t.hash && (n->flags & ZPK__NODE_BORROWED)) {
            /* not NUL-terminated in the input: the document copies it */
            int rc = zpk__doc_str_text(u->root, n, &s);
            if (rc == ZPK_ENOMEM)
                return zpk__error(u->err, rc, t.col, "column %zu%s: no memory to copy the str",
                                  t.col, u->where);
            if (rc != 0)
                return zpk__error(u->err, ZPK_ETYPE, t.col,
                                  "column %zu%s: a str borrowed from the input needs 's#', or "
                                  "unpack from the document's root", t.col, u->where);
        }
        *out = s;
        if (olen != NULL)
            *olen = len;
        return 0;
    }
    case 'y': {
        S_OUT(u, const void **, out, t, dry);
        S_OUT(u, size_t *, olen, t, dry);
        if (dry)
            return 0;
        const uint8_t *b;
        size_t len;
        if (zpk_node_get_bin(n, &b, &len) != 0)
            return s_type_error(u, t.col, t.c, n, "a bin");
        *out = b;
        *olen = len;
        return 0;
    }
    case 'x': {
        S_OUT(u, int *, otype, t, dry);
        S_OUT(u, const void **, out, t, dry);
        S_OUT(u, size_t *, olen, t, dry);
        if (dry)
            return 0;
        const uint8_t *b;
        size_t len;
        int8_t type;
        if (zpk_node_get_ext(n, &type, &b, &len) != 0)
            return s_type_error(u, t.col, t.c, n, "an ext");
        *otype = type;
        *out = b;
        *olen = len;
        return 0;
    }
    case 't': {
        S_OUT(u, zpk_timestamp_t *, out, t, dry);
        if (dry)
            return 0;
        zpk_timestamp_t ts;
        int rc = zpk_node_get_timestamp(n, &ts);
        if (rc == ZPK_EFORMAT)
            return zpk__error(u->err, ZPK_ETYPE, t.col,
                              "column %zu: 't' found a malformed timestamp", t.col);
        if (rc != 0)
            return s_type_error(u, t.col, t.c, n, "a timestamp");
        *out = ts;
        return 0;
    }
    case 'O': {
        S_OUT(u, const zpk_node_t **, out, t, dry);
        if (!dry)
            *out = n;
        return 0;
    }
    default:
        return s_fmt_error(u->err, t.col, "unexpected format character", t.c);
    }
}

static int s_unpack_value(s_unpack_t *u, const zpk_node_t *n, bool dry)
{
    s_tok_t t;
    s_next(u->fmt, &u->pos, &t);
    zpk_type_t ty = dry ? (zpk_type_t)0 : zpk_node_type(n);
    switch (t.c) {
    case '[':
        return s_unpack_array(u, n, t, dry);
    case '{':
        return s_unpack_map(u, n, t, dry);
    case '*':
        return 0;
    case 'n':
        if (!dry && ty != ZPK_TYPE_NIL)
            return s_type_error(u, t.col, t.c, n, "nil");
        return 0;
    case 'b': case 'i': case 'I': case 'u': case 'U': case 'f': case 'd': case 'F':
        return s_unpack_number(u, t, n, ty, dry);
    case 's': case 'y': case 'x': case 't': case 'O':
        return s_unpack_payload(u, t, n, dry);
    default:
        /* Unreachable after s_check(). */
        return s_fmt_error(u->err, t.col, "unexpected format character", t.c);
    }
}

int zpk_unpack_fmt(const zpk_node_t *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = zpk_unpack_fmt_v_ex(node, NULL, fmt, ap);
    va_end(ap);
    return rc;
}

int zpk_unpack_fmt_v(const zpk_node_t *node, const char *fmt, va_list ap)
{
    return zpk_unpack_fmt_v_ex(node, NULL, fmt, ap);
}

int zpk_unpack_fmt_ex(const zpk_node_t *node, zpk_error_t *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = zpk_unpack_fmt_v_ex(node, err, fmt, ap);
    va_end(ap);
    return rc;
}

int zpk_unpack_fmt_v_ex(const zpk_node_t *node, zpk_error_t *err, const char *fmt, va_list ap)
{
    zpk_error_clear(err);
    int rc = s_check(S_UNPACK, fmt, true, err, NULL);
    if (rc != 0)
        return rc;
    if (node == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL node");
    s_unpack_t u = {.fmt = fmt, .pos = 0, .err = err, .root = node, .where = ""};
    va_copy(u.ap, ap);
    rc = s_unpack_value(&u, node, false);
    va_end(u.ap);
    return rc;
}
