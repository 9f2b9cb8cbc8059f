/*
 * The JSON bridge: document trees to jansson's json_t (plain or lossless
 * tagged form) and json_t back to MessagePack through a writer. The
 * mapping is documented in zmqpack/json.h and docs/msgpack.md.
 */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "internal.h"
#include "zmqpack/doc.h"
#include "zmqpack/json.h"
#include "zmqpack/msgpack.h"

/*
 * Doubles from here up round to infinity as a float (2^128 - 2^103: FLT_MAX
 * plus half its ulp); below it they round to a finite float.
 */
#define S_FLOAT_OVERFLOW 0x1.ffffffp+127

#define S_KNOWN_FLAGS (ZPK_JSON_LOSSLESS | ZPK_JSON_NO_TAGS | ZPK_JSON_SORT_KEYS | \
                       ZPK_JSON_INDENT(31))

/* ---- base64 (RFC 4648, with padding) ------------------------------------------ */

static const char s_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* A JSON string holding the base64 of @p data; NULL when out of memory. */
static json_t *s_b64_string(const uint8_t *data, size_t len)
{
    size_t groups = len / 3 + (len % 3 != 0), n;
    if (!zpk__mul_size(groups, 4, &n))
        return NULL;
    char *buf = zpk__malloc(n + 1);
    if (buf == NULL)
        return NULL;
    char *o = buf;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        *o++ = s_b64[v >> 18];
        *o++ = s_b64[(v >> 12) & 63];
        *o++ = s_b64[(v >> 6) & 63];
        *o++ = s_b64[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0);
        *o++ = s_b64[v >> 18];
        *o++ = s_b64[(v >> 12) & 63];
        *o++ = i + 1 < len ? s_b64[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    json_t *j = json_stringn_nocheck(buf, n);
    zpk__free(buf);
    return j;
}

static int s_b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Checks base64 text and gives its decoded length; false when malformed. */
static bool s_b64_check(const char *s, size_t n, size_t *out_len)
{
    if (n % 4 != 0)
        return false;
    size_t pad = 0;
    if (n > 0 && s[n - 1] == '=')
        pad = (n > 1 && s[n - 2] == '=') ? 2 : 1;
    for (size_t i = 0; i < n - pad; i++)
        if (s_b64_value(s[i]) < 0)
            return false;
    /* The unused low bits before the padding must be zero (canonical). */
    if (pad == 1 && (s_b64_value(s[n - 2]) & 3) != 0)
        return false;
    if (pad == 2 && (s_b64_value(s[n - 3]) & 15) != 0)
        return false;
    *out_len = n / 4 * 3 - pad;
    return true;
}

/* Decodes checked base64 and writes the bytes to @p w, in pieces. */
static void s_b64_write(zpk_writer_t *w, const char *s, size_t n)
{
    uint8_t buf[768];
    size_t used = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        int k = 0;
        for (int j = 0; j < 4; j++) {
            int d = s[i + j] == '=' ? 0 : s_b64_value(s[i + j]);
            if (s[i + j] != '=')
                k++;
            v = v << 6 | (uint32_t)d;
        }
        buf[used++] = (uint8_t)(v >> 16);
        if (k > 2)
            buf[used++] = (uint8_t)(v >> 8);
        if (k > 3)
            buf[used++] = (uint8_t)v;
        if (used + 3 > sizeof buf) {
            zpk_write_raw(w, buf, used);
            used = 0;
        }
    }
    zpk_write_raw(w, buf, used);
}

/* ---- MessagePack -> JSON: helpers ------------------------------------------------- */

/*
 * The fewest digits (as "%g" text in @p buf) that come back as the finite
 * float @p f through a double: a float 32 reads as "0.1", not as the
 * "0.10000000149011612" of its exact value. Returns that double.
 */
static double s_short32(float f, char *buf, size_t size)
{
    double d = f;
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, (double)f);
        d = strtod(buf, NULL);
        if ((float)d == f)
            break;
    }
    return d;
}

/* RFC 3339 text of a timestamp, or false for years outside 0..9999. */
static bool s_rfc3339(const zpk_timestamp_t *ts, char *buf, size_t size)
{
    int64_t days = ts->sec / 86400, rem = ts->sec % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    /* Howard Hinnant's civil_from_days. */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    y += (m <= 2);
    if (y < 0 || y > 9999)
        return false;
    int n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d", (int)y, (int)m, (int)d,
                     (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
    if (ts->nsec != 0) {
        char frac[16];
        snprintf(frac, sizeof frac, ".%09u", (unsigned)ts->nsec);
        size_t fl = strlen(frac);
        while (frac[fl - 1] == '0')
            frac[--fl] = '\0';
        snprintf(buf + n, size - (size_t)n, "%sZ", frac);
    } else {
        snprintf(buf + n, size - (size_t)n, "Z");
    }
    return true;
}

/* True when the ext node is a timestamp written in its shortest form. */
static bool s_canonical_timestamp(const zpk_node_t *n, zpk_timestamp_t *ts)
{
    int8_t type;
    const uint8_t *p;
    size_t len, elen;
    uint8_t enc[12];
    return zpk_node_get_ext(n, &type, &p, &len) == 0 && type == ZPK_EXT_TIMESTAMP &&
           zpk_node_get_timestamp(n, ts) == 0 &&
           zpk_timestamp_encode(ts->sec, ts->nsec, enc, &elen) == 0 && elen == len &&
           memcmp(enc, p, len) == 0;
}

/* Can map @p n be a JSON object in the lossless form? (see json.h) */
static bool s_plain_object_ok(const zpk_node_t *n)
{
    size_t len = zpk_node_len(n);
    for (size_t i = 0; i < len; i++) {
        const char *k;
        size_t kl;
        if (zpk_node_get_str(zpk_node_map_key(n, i), &k, &kl) != 0)
            return false;
        if (kl > 0 && (memchr(k, 0, kl) != NULL || !zpk__utf8_valid((const uint8_t *)k, kl)))
            return false;
        if (len == 1 && kl > 0 && k[0] == '$')
            return false;
    }
    return true;
}

/*
 * Longest JSON text a non-str key may render to in the plain form. Without a
 * cap, keys nested inside keys double the output at every level (each level
 * escapes the quotes of the one inside): 47 bytes of MessagePack became 25 MB
 * of JSON (fuzz finding F2). Inner keys are capped first, so the work stays
 * linear in the input.
 */
#define S_MAX_KEY_TEXT ((size_t)4096)

static int s_key_too_long(size_t n)
{
    return n > S_MAX_KEY_TEXT ? ZPK_ELIMIT : 0;
}

/* ---- MessagePack -> JSON: one walk, two outputs ------------------------------------ */

/*
 * s_walk() decides everything about the JSON: the form of each value, the
 * tags, the keys of objects (repeats collapsed, sorted on request) and the
 * depth. It hands each token to an output: s_tree_ops builds a json_t
 * (zpk_json_from_node), s_text_ops writes the text itself (zpk_json_dumps:
 * one pass, no allocation per value, all memory through the zmqpack hooks,
 * reals in their shortest exact form, "0.1" and not jansson's
 * "0.10000000000000001"). One walk, so both give the same JSON.
 *
 * Depth is counted in JSON values, the top one at 1, as jansson's parser
 * counts it: nothing deeper than ZPK_JSON_MAX_DEPTH is written, so whatever
 * the bridge writes, it reads back.
 */

/* Containers of the output. Tags and inline arrays stay on one line when
 * pretty-printing: {"$ext": [5, "AA=="]}. */
enum { S_ARRAY, S_OBJECT, S_TAG, S_INLINE };

typedef struct s_level {
    uint8_t kind;
    bool any;          /* text: an element was written */
    json_t *j;         /* tree: the container (its parent holds the reference) */
    const char *key;   /* tree: the key of the value to come (S_OBJECT, S_TAG) */
    size_t keylen;
} s_level_t;

typedef struct s_out s_out_t;

typedef struct s_out_ops {
    void (*null)(s_out_t *o);
    void (*boolean)(s_out_t *o, bool b);
    void (*integer)(s_out_t *o, int64_t i);
    void (*real)(s_out_t *o, double d);    /* finite */
    void (*real32)(s_out_t *o, float f);   /* finite: the fewest digits that name it */
    void (*string)(s_out_t *o, const char *s, size_t n); /* valid UTF-8 */
    void (*base64)(s_out_t *o, const uint8_t *data, size_t n);
    void (*open)(s_out_t *o, int kind);
    void (*key)(s_out_t *o, const char *s, size_t n);    /* in S_OBJECT and S_TAG */
    void (*close)(s_out_t *o);
} s_out_ops_t;

struct s_out {
    const s_out_ops_t *ops;
    unsigned flags;     /* ZPK_JSON_* */
    int err;            /* first failure (ZPK_ENOMEM); every later token is dropped */
    s_level_t *lv;      /* open containers, innermost last */
    size_t depth, caplv;
    char *buf;          /* text: the output so far, room for a NUL kept */
    size_t len, cap;
    unsigned indent;    /* text: spaces per level, 0 for compact */
    size_t blocks;      /* text: open S_ARRAY and S_OBJECT (the indent level) */
    json_t *root;       /* tree: the result */
};

static s_level_t *s_push(s_out_t *o, int kind)
{
    if (o->depth == o->caplv) {
        size_t cap = o->caplv ? 2 * o->caplv : 16;
        s_level_t *lv = zpk__realloc(o->lv, cap * sizeof *lv);
        if (lv == NULL) {
            o->err = ZPK_ENOMEM;
            return NULL;
        }
        o->lv = lv;
        o->caplv = cap;
    }
    s_level_t *l = &o->lv[o->depth++];
    memset(l, 0, sizeof *l);
    l->kind = (uint8_t)kind;
    return l;
}

/* -- text -- */

static void s_put(s_out_t *o, const void *p, size_t n)
{
    if (o->err != 0)
        return;
    if (o->cap - o->len < n + 1) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap - o->len < n + 1) {
            if (!zpk__mul_size(cap, 2, &cap)) {
                o->err = ZPK_ENOMEM;
                return;
            }
        }
        char *nb = zpk__realloc(o->buf, cap);
        if (nb == NULL) {
            o->err = ZPK_ENOMEM;
            return;
        }
        o->buf = nb;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

static void s_puts(s_out_t *o, const char *s)
{
    s_put(o, s, strlen(s));
}

/* A newline and the indent of the open blocks, when pretty-printing. */
static void s_newline(s_out_t *o)
{
    if (o->indent == 0)
        return;
    s_put(o, "\n", 1);
    static const char spaces[32] = "                                ";
    size_t n = o->blocks * o->indent;
    while (n > 0) {
        size_t k = n < sizeof spaces ? n : sizeof spaces;
        s_put(o, spaces, k);
        n -= k;
    }
}

/* What comes before an element of an array, or a key of an object. */
static void s_sep(s_out_t *o)
{
    if (o->depth == 0)
        return;
    s_level_t *l = &o->lv[o->depth - 1];
    if (l->kind == S_TAG)
        return;
    if (l->any)
        s_put(o, ",", 1);
    if (l->kind == S_INLINE) {
        if (l->any && o->indent)
            s_put(o, " ", 1);
    } else {
        s_newline(o);
    }
    l->any = true;
}

/* Before a value: a separator in arrays (in objects and tags, the key came first). */
static void s_t_value(s_out_t *o)
{
    if (o->depth > 0) {
        int kind = o->lv[o->depth - 1].kind;
        if (kind == S_ARRAY || kind == S_INLINE)
            s_sep(o);
    }
}

/* A JSON string of @p n bytes of valid UTF-8 (escaped as jansson does). */
static void s_put_string(s_out_t *o, const char *s, size_t n)
{
    s_put(o, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        s_put(o, s + run, i - run);
        run = i + 1;
        char esc[8];
        switch (c) {
        case '"': s_puts(o, "\\\""); break;
        case '\\': s_puts(o, "\\\\"); break;
        case '\b': s_puts(o, "\\b"); break;
        case '\f': s_puts(o, "\\f"); break;
        case '\n': s_puts(o, "\\n"); break;
        case '\r': s_puts(o, "\\r"); break;
        case '\t': s_puts(o, "\\t"); break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", c);
            s_puts(o, esc);
            break;
        }
    }
    s_put(o, s + run, n - run);
    s_put(o, "\"", 1);
}

/* Makes "%g" output a JSON real: "1" -> "1.0" (as jansson does). */
static void s_put_real_text(s_out_t *o, const char *buf)
{
    s_puts(o, buf);
    if (strpbrk(buf, ".eE") == NULL)
        s_puts(o, ".0");
}

static void s_t_null(s_out_t *o)
{
    s_t_value(o);
    s_puts(o, "null");
}

static void s_t_boolean(s_out_t *o, bool b)
{
    s_t_value(o);
    s_puts(o, b ? "true" : "false");
}

static void s_t_integer(s_out_t *o, int64_t i)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, i);
    s_t_value(o);
    s_puts(o, buf);
}

/* A finite double in the fewest digits that read back to the same bits. */
static void s_t_real(s_out_t *o, double d)
{
    /* 17 digits always read back; fewer are tried 16 first, then 15 (when
     * p digits read back, so do p+1), which takes two rounds at most. */
    char buf[40];
    snprintf(buf, sizeof buf, "%.16g", d);
    if (strtod(buf, NULL) == d) {
        char shorter[40];
        snprintf(shorter, sizeof shorter, "%.15g", d);
        if (strtod(shorter, NULL) == d)
            memcpy(buf, shorter, sizeof buf);
    } else {
        snprintf(buf, sizeof buf, "%.17g", d);
    }
    s_t_value(o);
    s_put_real_text(o, buf);
}

static void s_t_real32(s_out_t *o, float f)
{
    char buf[40];
    s_short32(f, buf, sizeof buf);
    s_t_value(o);
    s_put_real_text(o, buf);
}

static void s_t_string(s_out_t *o, const char *s, size_t n)
{
    s_t_value(o);
    s_put_string(o, s, n);
}

static void s_t_base64(s_out_t *o, const uint8_t *data, size_t len)
{
    s_t_value(o);
    s_put(o, "\"", 1);
    char chunk[256];
    size_t used = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        chunk[used++] = s_b64[v >> 18];
        chunk[used++] = s_b64[(v >> 12) & 63];
        chunk[used++] = s_b64[(v >> 6) & 63];
        chunk[used++] = s_b64[v & 63];
        if (used == sizeof chunk) {
            s_put(o, chunk, used);
            used = 0;
        }
    }
    if (i < len) {
        uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0);
        chunk[used++] = s_b64[v >> 18];
        chunk[used++] = s_b64[(v >> 12) & 63];
        chunk[used++] = i + 1 < len ? s_b64[(v >> 6) & 63] : '=';
        chunk[used++] = '=';
    }
    s_put(o, chunk, used);
    s_put(o, "\"", 1);
}

static void s_t_open(s_out_t *o, int kind)
{
    s_t_value(o);
    s_put(o, kind == S_ARRAY || kind == S_INLINE ? "[" : "{", 1);
    if (s_push(o, kind) != NULL && (kind == S_ARRAY || kind == S_OBJECT))
        o->blocks++;
}

static void s_t_key(s_out_t *o, const char *s, size_t n)
{
    s_sep(o);
    s_put_string(o, s, n);
    s_puts(o, o->indent ? ": " : ":");
}

static void s_t_close(s_out_t *o)
{
    if (o->depth == 0)
        return;
    s_level_t *l = &o->lv[--o->depth];
    bool block = l->kind == S_ARRAY || l->kind == S_OBJECT;
    if (block)
        o->blocks--;
    if (block && l->any)
        s_newline(o);
    s_put(o, l->kind == S_ARRAY || l->kind == S_INLINE ? "]" : "}", 1);
}

static const s_out_ops_t s_text_ops = {
    s_t_null, s_t_boolean, s_t_integer, s_t_real, s_t_real32, s_t_string, s_t_base64,
    s_t_open, s_t_key, s_t_close,
};

/* -- tree (json_t) -- */

/* Attaches @p v (a new reference, NULL when out of memory) where the walk is. */
static void s_j_value(s_out_t *o, json_t *v)
{
    if (v == NULL || o->err != 0) {
        json_decref(v);
        if (o->err == 0)
            o->err = ZPK_ENOMEM;
        return;
    }
    if (o->depth == 0) {
        o->root = v;
        return;
    }
    s_level_t *l = &o->lv[o->depth - 1];
    int bad = l->kind == S_ARRAY || l->kind == S_INLINE
                  ? json_array_append_new(l->j, v) /* consumes v even when it fails */
                  : json_object_setn_new_nocheck(l->j, l->key, l->keylen, v);
    if (bad)
        o->err = ZPK_ENOMEM;
}

static void s_j_null(s_out_t *o)
{
    s_j_value(o, json_null());
}

static void s_j_boolean(s_out_t *o, bool b)
{
    s_j_value(o, json_boolean(b));
}

static void s_j_integer(s_out_t *o, int64_t i)
{
    s_j_value(o, json_integer((json_int_t)i));
}

static void s_j_real(s_out_t *o, double d)
{
    s_j_value(o, json_real(d));
}

static void s_j_real32(s_out_t *o, float f)
{
    char buf[40];
    s_j_value(o, json_real(s_short32(f, buf, sizeof buf)));
}

static void s_j_string(s_out_t *o, const char *s, size_t n)
{
    s_j_value(o, json_stringn_nocheck(s != NULL ? s : "", n));
}

static void s_j_base64(s_out_t *o, const uint8_t *data, size_t n)
{
    s_j_value(o, s_b64_string(data, n));
}

static void s_j_open(s_out_t *o, int kind)
{
    json_t *c = kind == S_ARRAY || kind == S_INLINE ? json_array() : json_object();
    s_j_value(o, c);
    if (o->err != 0)
        return;
    s_level_t *l = s_push(o, kind);
    if (l != NULL)
        l->j = c; /* the parent (or root) holds the reference */
}

static void s_j_key(s_out_t *o, const char *s, size_t n)
{
    if (o->depth == 0)
        return;
    o->lv[o->depth - 1].key = s;
    o->lv[o->depth - 1].keylen = n;
}

static void s_j_close(s_out_t *o)
{
    if (o->depth > 0)
        o->depth--;
}

static const s_out_ops_t s_tree_ops = {
    s_j_null, s_j_boolean, s_j_integer, s_j_real, s_j_real32, s_j_string, s_j_base64,
    s_j_open, s_j_key, s_j_close,
};

/* -- the walk -- */

static int s_walk(s_out_t *o, const zpk_node_t *n, size_t depth);

/* Depth @p depth is still within the limit. */
static int s_depth_ok(size_t depth)
{
    return depth <= ZPK_JSON_MAX_DEPTH ? 0 : ZPK_ETOODEEP;
}

/* Opens the tag {"$tag": ...} of a value at @p depth (its content one deeper). */
static void s_tag(s_out_t *o, const char *tag)
{
    o->ops->open(o, S_TAG);
    o->ops->key(o, tag, strlen(tag));
}

/* Text for a non-finite float of @p bits (@p hexdigits 8 or 16): "nan",
 * "-nan", "inf", "-inf", or every bit of any other NaN. */
static void s_nonfinite(s_out_t *o, uint64_t bits, int hexdigits)
{
    const uint64_t sign = (uint64_t)1 << (hexdigits * 4 - 1);
    const uint64_t inf = hexdigits == 8 ? UINT64_C(0x7f800000) : UINT64_C(0x7ff0000000000000);
    const uint64_t qnan = hexdigits == 8 ? UINT64_C(0x7fc00000) : UINT64_C(0x7ff8000000000000);
    char buf[24];
    uint64_t mag = bits & ~sign;
    if (mag == inf)
        snprintf(buf, sizeof buf, "%s", bits & sign ? "-inf" : "inf");
    else if (mag == qnan)
        snprintf(buf, sizeof buf, "%s", bits & sign ? "-nan" : "nan");
    else
        snprintf(buf, sizeof buf, "0x%0*" PRIx64, hexdigits, bits);
    o->ops->string(o, buf, strlen(buf));
}

/* Timestamps and other ext values. */
static int s_walk_ext(s_out_t *o, const zpk_node_t *n, size_t depth)
{
    bool lossless = o->flags & ZPK_JSON_LOSSLESS;
    zpk_timestamp_t ts;
    char buf[48];
    if (s_canonical_timestamp(n, &ts) && !lossless && s_rfc3339(&ts, buf, sizeof buf)) {
        o->ops->string(o, buf, strlen(buf));
        return 0;
    }
    if (s_depth_ok(depth + 2) != 0) /* {"$tag": [a, b]}: a and b two deeper */
        return ZPK_ETOODEEP;
    if (s_canonical_timestamp(n, &ts)) {
        s_tag(o, "$timestamp");
        o->ops->open(o, S_INLINE);
        o->ops->integer(o, ts.sec);
        o->ops->integer(o, (int64_t)ts.nsec);
    } else {
        int8_t type = 0;
        const uint8_t *p = NULL;
        size_t len = 0;
        zpk_node_get_ext(n, &type, &p, &len);
        s_tag(o, "$ext");
        o->ops->open(o, S_INLINE);
        o->ops->integer(o, type);
        o->ops->base64(o, p, len);
    }
    o->ops->close(o);
    o->ops->close(o);
    return 0;
}

/* Scalars: everything but arrays, maps and ext. */
static int s_walk_scalar(s_out_t *o, const zpk_node_t *n, size_t depth)
{
    bool lossless = o->flags & ZPK_JSON_LOSSLESS;
    /* a tagged scalar {"$tag": v} puts v one deeper */
    const int tagged = s_depth_ok(depth + 1);
    switch (zpk_node_type(n)) {
    case ZPK_TYPE_NIL:
        o->ops->null(o);
        return 0;
    case ZPK_TYPE_BOOL: {
        bool b = false;
        zpk_node_get_bool(n, &b);
        o->ops->boolean(o, b);
        return 0;
    }
    case ZPK_TYPE_INT:
    case ZPK_TYPE_UINT: {
        int64_t i;
        uint64_t u = 0;
        if (zpk_node_get_int(n, &i) == 0) {
            o->ops->integer(o, i);
            return 0;
        }
        zpk_node_get_uint(n, &u);
        if (!lossless) {
            o->ops->real(o, (double)u);
            return 0;
        }
        if (tagged != 0)
            return tagged;
        char buf[24];
        snprintf(buf, sizeof buf, "%" PRIu64, u);
        s_tag(o, "$uint");
        o->ops->string(o, buf, strlen(buf));
        o->ops->close(o);
        return 0;
    }
    case ZPK_TYPE_FLOAT: {
        /* the float itself: through a double, a signalling NaN is quieted */
        float f = 0;
        zpk_node_get_float(n, &f);
        if (!lossless) {
            if (isfinite(f))
                o->ops->real32(o, f);
            else
                o->ops->null(o);
            return 0;
        }
        if (tagged != 0)
            return tagged;
        s_tag(o, "$float32");
        if (isfinite(f)) {
            o->ops->real32(o, f);
        } else {
            uint32_t bits;
            memcpy(&bits, &f, sizeof bits);
            s_nonfinite(o, bits, 8);
        }
        o->ops->close(o);
        return 0;
    }
    case ZPK_TYPE_DOUBLE: {
        double d = 0;
        zpk_node_get_double(n, &d);
        if (isfinite(d)) {
            o->ops->real(o, d);
        } else if (!lossless) {
            o->ops->null(o);
        } else {
            if (tagged != 0)
                return tagged;
            uint64_t bits;
            memcpy(&bits, &d, sizeof bits);
            s_tag(o, "$float");
            s_nonfinite(o, bits, 16);
            o->ops->close(o);
        }
        return 0;
    }
    case ZPK_TYPE_STR: {
        const char *s = NULL;
        size_t len = 0;
        zpk_node_get_str(n, &s, &len);
        if (zpk__utf8_valid((const uint8_t *)s, len)) {
            o->ops->string(o, s, len);
            return 0;
        }
        if (tagged != 0)
            return tagged;
        s_tag(o, "$str");
        o->ops->base64(o, (const uint8_t *)s, len);
        o->ops->close(o);
        return 0;
    }
    case ZPK_TYPE_BIN: {
        const uint8_t *b = NULL;
        size_t len = 0;
        zpk_node_get_bin(n, &b, &len);
        if (!lossless) {
            o->ops->base64(o, b, len);
            return 0;
        }
        if (tagged != 0)
            return tagged;
        s_tag(o, "$bin");
        o->ops->base64(o, b, len);
        o->ops->close(o);
        return 0;
    }
    default:
        return ZPK_EINVAL;
    }
}

/* One key of an object about to be written: its text and the pair to use. */
typedef struct s_key {
    const char *p;
    size_t n;
    size_t value;  /* pair index whose value is written (the last, in plain form) */
    bool owned;
} s_key_t;

static uint64_t s_hash(const char *p, size_t n)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * UINT64_C(1099511628211);
    return h;
}

static int s_key_cmp(const void *a, const void *b)
{
    const s_key_t *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = n ? memcmp(x->p, y->p, n) : 0;
    if (c != 0)
        return c;
    return x->n < y->n ? -1 : x->n > y->n;
}

/*
 * Collapses repeated keys of @p keys[0..*count) (the first place keeps the
 * last value) and reports whether any repeated. Returns 0 or ZPK_ENOMEM.
 */
static int s_dedupe(s_key_t *keys, size_t *count, bool *repeated)
{
    size_t n = *count, size = 16;
    *repeated = false;
    while (size < 2 * n)
        size *= 2;
    size_t *slots = zpk__calloc(size, sizeof *slots);
    if (slots == NULL)
        return ZPK_ENOMEM;
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        size_t h = (size_t)s_hash(keys[i].p, keys[i].n) & (size - 1);
        for (;;) {
            size_t s = slots[h];
            if (s == 0) {
                slots[h] = out + 1;
                keys[out++] = keys[i];
                break;
            }
            s_key_t *k = &keys[s - 1];
            if (k->n == keys[i].n && (k->n == 0 || memcmp(k->p, keys[i].p, k->n) == 0)) {
                *repeated = true;
                k->value = keys[i].value;
                if (keys[i].owned)
                    zpk__free((void *)(uintptr_t)keys[i].p);
                break;
            }
            h = (h + 1) & (size - 1);
        }
    }
    zpk__free(slots);
    *count = out;
    return 0;
}

/* The plain form of a non-str key: its compact JSON text (owned), capped. */
static int s_key_text(const s_out_t *parent, const zpk_node_t *key, size_t depth, s_key_t *k)
{
    s_out_t sub = {.ops = &s_text_ops, .flags = parent->flags & ~(unsigned)ZPK_JSON_SORT_KEYS};
    int rc = s_walk(&sub, key, depth);
    if (rc == 0)
        rc = sub.err;
    if (rc == 0)
        rc = s_key_too_long(sub.len);
    zpk__free(sub.lv);
    if (rc != 0) {
        zpk__free(sub.buf);
        return rc;
    }
    k->p = sub.buf != NULL ? sub.buf : "";
    k->n = sub.len;
    k->owned = sub.buf != NULL;
    return 0;
}

/* A map as {"$map": [[key, value], ...]}; the key and value three deeper. */
static int s_walk_pairs(s_out_t *o, const zpk_node_t *n, size_t depth)
{
    if (s_depth_ok(depth + (zpk_node_len(n) > 0 ? 3 : 1)) != 0)
        return ZPK_ETOODEEP;
    s_tag(o, "$map");
    o->ops->open(o, S_ARRAY);
    int rc = 0;
    for (size_t i = 0; i < zpk_node_len(n) && rc == 0; i++) {
        o->ops->open(o, S_ARRAY);
        rc = s_walk(o, zpk_node_map_key(n, i), depth + 3);
        if (rc == 0)
            rc = s_walk(o, zpk_node_map_value(n, i), depth + 3);
        o->ops->close(o);
    }
    o->ops->close(o);
    o->ops->close(o);
    return rc;
}

static int s_walk_map(s_out_t *o, const zpk_node_t *n, size_t depth)
{
    bool lossless = o->flags & ZPK_JSON_LOSSLESS;
    size_t len = zpk_node_len(n), count = len, i;
    if (lossless && !s_plain_object_ok(n))
        return s_walk_pairs(o, n, depth);
    if (len == 0) {
        o->ops->open(o, S_OBJECT);
        o->ops->close(o);
        return 0;
    }
    s_key_t *keys = zpk__calloc(len, sizeof *keys);
    if (keys == NULL)
        return ZPK_ENOMEM;
    int rc = 0;
    for (i = 0; i < len; i++) {
        const zpk_node_t *key = zpk_node_map_key(n, i);
        keys[i].value = i;
        if (zpk_node_get_str(key, &keys[i].p, &keys[i].n) == 0 &&
            zpk__utf8_valid((const uint8_t *)keys[i].p, keys[i].n)) {
            if (keys[i].p == NULL)
                keys[i].p = "";
            continue;
        }
        rc = s_key_text(o, key, depth + 1, &keys[i]); /* plain form only */
        if (rc != 0) {
            count = i;
            goto done;
        }
    }
    bool repeated;
    rc = s_dedupe(keys, &count, &repeated);
    if (rc != 0)
        goto done;
    if (repeated && lossless) { /* only the pair list keeps both values */
        rc = s_walk_pairs(o, n, depth);
        goto done; /* lossless keys are never owned: nothing to free */
    }
    if (o->flags & ZPK_JSON_SORT_KEYS)
        qsort(keys, count, sizeof *keys, s_key_cmp);
    o->ops->open(o, S_OBJECT);
    for (i = 0; i < count && rc == 0; i++) {
        o->ops->key(o, keys[i].p, keys[i].n);
        rc = s_walk(o, zpk_node_map_value(n, keys[i].value), depth + 1);
    }
    o->ops->close(o);
done:
    for (i = 0; i < count; i++)
        if (keys[i].owned)
            zpk__free((void *)(uintptr_t)keys[i].p);
    zpk__free(keys);
    return rc;
}

/* The value @p n at JSON depth @p depth (the top value is at 1). */
static int s_walk(s_out_t *o, const zpk_node_t *n, size_t depth)
{
    if (s_depth_ok(depth) != 0)
        return ZPK_ETOODEEP;
    if (o->err != 0)
        return o->err;
    int rc;
    switch (zpk_node_type(n)) {
    case ZPK_TYPE_ARRAY: {
        size_t len = zpk_node_len(n);
        o->ops->open(o, S_ARRAY);
        rc = 0;
        for (size_t i = 0; i < len && rc == 0; i++)
            rc = s_walk(o, zpk_node_array_at(n, i), depth + 1);
        o->ops->close(o);
        break;
    }
    case ZPK_TYPE_MAP:
        rc = s_walk_map(o, n, depth);
        break;
    case ZPK_TYPE_EXT:
        rc = s_walk_ext(o, n, depth);
        break;
    default:
        rc = s_walk_scalar(o, n, depth);
        break;
    }
    return rc != 0 ? rc : o->err;
}

int zpk_json_from_node(const zpk_node_t *node, unsigned flags, json_t **out)
{
    if (out == NULL)
        return ZPK_EINVAL;
    *out = NULL;
    if (node == NULL || (flags & ~S_KNOWN_FLAGS) != 0)
        return ZPK_EINVAL;
    s_out_t o = {.ops = &s_tree_ops, .flags = flags};
    int rc = s_walk(&o, node, 1);
    zpk__free(o.lv);
    if (rc != 0) {
        json_decref(o.root);
        return rc;
    }
    *out = o.root;
    return 0;
}

int zpk_json_dumps(const zpk_node_t *node, unsigned flags, char **out, size_t *len)
{
    if (out == NULL)
        return ZPK_EINVAL;
    *out = NULL;
    if (len != NULL)
        *len = 0;
    if (node == NULL || (flags & ~S_KNOWN_FLAGS) != 0)
        return ZPK_EINVAL;
    s_out_t o = {.ops = &s_text_ops, .flags = flags, .indent = (flags >> 8) & 0x1f};
    int rc = s_walk(&o, node, 1);
    zpk__free(o.lv);
    if (rc != 0) {
        zpk__free(o.buf);
        return rc;
    }
    o.buf[o.len] = '\0'; /* s_put always leaves room for it */
    *out = o.buf;
    if (len != NULL)
        *len = o.len;
    return 0;
}

/* ---- JSON -> MessagePack ---------------------------------------------------------- */

typedef struct s_to {
    zpk_writer_t *w;
    unsigned flags;
    zpk_error_t *err;
} s_to_t;

static int s_bad_tag(s_to_t *t, const char *tag, const char *why)
{
    return zpk__error(t->err, ZPK_EFORMAT, 0, "malformed %s tag: %s", tag, why);
}

/* Bits from "0x" + exactly @p digits hex digits. */
static bool s_parse_bits(const char *s, int digits, uint64_t *out)
{
    if (s[0] != '0' || s[1] != 'x' || (int)strlen(s + 2) != digits)
        return false;
    uint64_t v = 0;
    for (int i = 0; i < digits; i++) {
        char c = s[2 + i];
        int d = c >= '0' && c <= '9' ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return false;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return true;
}

/* A $float / $float32 value: a number, or a non-finite spelling. */
static bool s_parse_float(const json_t *v, bool single, double *d, float *f)
{
    if (json_is_number(v)) {
        *d = json_number_value(v);
        if (single) {
            if (fabs(*d) >= S_FLOAT_OVERFLOW)
                return false; /* not a float 32 */
            *f = (float)*d;
        }
        return true;
    }
    const char *s = json_string_value(v);
    if (s == NULL)
        return false;
    uint64_t bits;
    if (strcmp(s, "nan") == 0 || strcmp(s, "-nan") == 0) {
        bool neg = s[0] == '-';
        if (single) {
            uint32_t b = neg ? UINT32_C(0xffc00000) : UINT32_C(0x7fc00000);
            memcpy(f, &b, sizeof b);
        } else {
            bits = neg ? UINT64_C(0xfff8000000000000) : UINT64_C(0x7ff8000000000000);
            memcpy(d, &bits, sizeof bits);
        }
    } else if (strcmp(s, "inf") == 0 || strcmp(s, "-inf") == 0) {
        *d = s[0] == '-' ? -INFINITY : INFINITY;
        *f = s[0] == '-' ? -INFINITY : INFINITY;
    } else if (s_parse_bits(s, single ? 8 : 16, &bits)) {
        if (single) {
            uint32_t b = (uint32_t)bits;
            memcpy(f, &b, sizeof b);
        } else {
            memcpy(d, &bits, sizeof bits);
        }
    } else {
        return false;
    }
    return true;
}

static int s_to(s_to_t *t, const json_t *j, size_t depth);

/* Writes base64 text @p v (a JSON string) as a bin/str/ext payload after its header. */
static int s_b64_payload(s_to_t *t, const json_t *v, const char *tag, int kind, int exttype)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v), len;
    if (s == NULL)
        return s_bad_tag(t, tag, "expected a base64 string");
    if (!s_b64_check(s, n, &len))
        return s_bad_tag(t, tag, "invalid base64");
    if (kind == 'b')
        zpk_write_bin_header(t->w, len);
    else if (kind == 's')
        zpk_write_str_header(t->w, len);
    else
        zpk_write_ext_header(t->w, (int8_t)exttype, len);
    s_b64_write(t->w, s, n);
    return 0;
}

/* Returns 1 when @p j was a tag and was written, 0 when it is no tag, <0 on error. */
static int s_to_tag(s_to_t *t, const json_t *j, size_t depth)
{
    void *it = json_object_iter((json_t *)(uintptr_t)j);
    const char *tag = json_object_iter_key(it);
    const json_t *v = json_object_iter_value(it);
    if (tag == NULL || tag[0] != '$' || json_object_iter_key_len(it) != strlen(tag))
        return 0;
    int rc = 0;
    if (strcmp(tag, "$bin") == 0) {
        rc = s_b64_payload(t, v, tag, 'b', 0);
    } else if (strcmp(tag, "$str") == 0) {
        rc = s_b64_payload(t, v, tag, 's', 0);
    } else if (strcmp(tag, "$ext") == 0) {
        json_t *ty = json_array_get(v, 0);
        if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(ty) ||
            json_integer_value(ty) < INT8_MIN || json_integer_value(ty) > INT8_MAX)
            return s_bad_tag(t, tag, "expected [type -128..127, \"base64\"]");
        rc = s_b64_payload(t, json_array_get(v, 1), tag, 'x', (int)json_integer_value(ty));
    } else if (strcmp(tag, "$timestamp") == 0) {
        json_t *sec = json_array_get(v, 0), *ns = json_array_get(v, 1);
        if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(sec) ||
            !json_is_integer(ns) || json_integer_value(ns) < 0 ||
            json_integer_value(ns) > 999999999)
            return s_bad_tag(t, tag, "expected [seconds, nanoseconds 0..999999999]");
        zpk_write_timestamp(t->w, (int64_t)json_integer_value(sec),
                            (uint32_t)json_integer_value(ns));
    } else if (strcmp(tag, "$uint") == 0) {
        const char *s = json_string_value(v);
        uint64_t u = 0;
        bool ok = s != NULL && s[0] != '\0' && strlen(s) <= 20;
        for (const char *p = s; ok && *p; p++) {
            unsigned d = (unsigned)(*p - '0');
            if (d > 9 || u > (UINT64_MAX - d) / 10)
                ok = false;
            else
                u = u * 10 + d;
        }
        if (!ok && json_is_integer(v) && json_integer_value(v) >= 0) {
            u = (uint64_t)json_integer_value(v);
            ok = true;
        }
        if (!ok)
            return s_bad_tag(t, tag, "expected a decimal string 0..18446744073709551615");
        zpk_write_uint(t->w, u);
    } else if (strcmp(tag, "$float") == 0 || strcmp(tag, "$float32") == 0) {
        bool single = tag[6] == '3';
        double d = 0;
        float f = 0;
        if (!s_parse_float(v, single, &d, &f))
            return s_bad_tag(t, tag, "expected a number, \"nan\", \"-nan\", \"inf\", "
                                     "\"-inf\" or \"0x\" and the hex bits");
        if (single)
            zpk_write_float(t->w, f);
        else
            zpk_write_double(t->w, d);
    } else if (strcmp(tag, "$map") == 0) {
        if (!json_is_array(v))
            return s_bad_tag(t, tag, "expected [[key, value], ...]");
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++) {
            json_t *pair = json_array_get(v, i);
            if (!json_is_array(pair) || json_array_size(pair) != 2)
                return s_bad_tag(t, tag, "expected [[key, value], ...]");
        }
        zpk_write_map(t->w, n);
        for (size_t i = 0; i < n && rc == 0; i++) {
            json_t *pair = json_array_get(v, i);
            /* {"$map": [[key, value]]}: key and value three deeper */
            rc = s_to(t, json_array_get(pair, 0), depth + 3);
            if (rc == 0)
                rc = s_to(t, json_array_get(pair, 1), depth + 3);
        }
    } else {
        return 0;
    }
    return rc != 0 ? rc : 1;
}

static int s_to(s_to_t *t, const json_t *j, size_t depth)
{
    if (depth > ZPK_JSON_MAX_DEPTH) /* the top value is at 1 */
        return zpk__error(t->err, ZPK_ETOODEEP, 0, "JSON nested deeper than %d",
                          ZPK_JSON_MAX_DEPTH);
    switch (json_typeof(j)) {
    case JSON_NULL:
        zpk_write_nil(t->w);
        return 0;
    case JSON_TRUE:
        zpk_write_bool(t->w, true);
        return 0;
    case JSON_FALSE:
        zpk_write_bool(t->w, false);
        return 0;
    case JSON_INTEGER:
        zpk_write_int(t->w, (int64_t)json_integer_value(j));
        return 0;
    case JSON_REAL:
        zpk_write_real(t->w, json_real_value(j));
        return 0;
    case JSON_STRING:
        zpk_write_str(t->w, json_string_value(j), json_string_length(j));
        return 0;
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        zpk_write_array(t->w, n);
        for (size_t i = 0; i < n; i++) {
            int rc = s_to(t, json_array_get(j, i), depth + 1);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    case JSON_OBJECT: {
        size_t n = json_object_size(j);
        if (n == 1 && !(t->flags & ZPK_JSON_NO_TAGS)) {
            int rc = s_to_tag(t, j, depth);
            if (rc != 0)
                return rc < 0 ? rc : 0;
        }
        zpk_write_map(t->w, n);
        for (void *it = json_object_iter((json_t *)(uintptr_t)j); it != NULL;
             it = json_object_iter_next((json_t *)(uintptr_t)j, it)) {
            zpk_write_str(t->w, json_object_iter_key(it), json_object_iter_key_len(it));
            int rc = s_to(t, json_object_iter_value(it), depth + 1);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    }
    return zpk__error(t->err, ZPK_EINVAL, 0, "unknown JSON type");
}

int zpk_json_to_msgpack_ex(const json_t *json, unsigned flags, zpk_writer_t *w,
                           zpk_error_t *err)
{
    zpk_error_clear(err);
    if (json == NULL || w == NULL || (flags & ~S_KNOWN_FLAGS) != 0)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL argument or unknown flag");
    s_to_t t = {.w = w, .flags = flags, .err = err};
    int rc = s_to(&t, json, 1);
    if (rc != 0) {
        zpk_writer_set_error(w, rc);
        return rc;
    }
    rc = zpk_writer_error(w);
    if (rc != 0)
        return zpk__error(err, rc, 0, "writer failed: %s", zpk_strerror(rc));
    return 0;
}

int zpk_json_to_msgpack(const json_t *json, zpk_writer_t *w)
{
    return zpk_json_to_msgpack_ex(json, 0, w, NULL);
}

int zpk_json_loads_to_writer(const char *text, size_t len, zpk_writer_t *w, zpk_error_t *err)
{
    zpk_error_clear(err);
    if ((text == NULL && len > 0) || w == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL argument");
    json_error_t jerr;
    json_t *j = json_loadb(text != NULL ? text : "", len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                           &jerr);
    if (j == NULL) {
        /* jansson gives no text when an early allocation fails. */
        int code = (json_error_code(&jerr) == json_error_out_of_memory || jerr.text[0] == '\0')
                       ? ZPK_ENOMEM
                   : json_error_code(&jerr) == json_error_stack_overflow ? ZPK_ETOODEEP
                                                                         : ZPK_EFORMAT;
        return zpk__error(err, code, (size_t)jerr.position, "JSON: %s", jerr.text);
    }
    int rc = zpk_json_to_msgpack_ex(j, 0, w, err);
    json_decref(j);
    return rc;
}
