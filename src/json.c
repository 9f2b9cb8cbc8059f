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
#include <string.h>

#include <jansson.h>

#include "internal.h"
#include "zmqpack/doc.h"
#include "zmqpack/json.h"
#include "zmqpack/msgpack.h"

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

/* ---- MessagePack -> JSON ---------------------------------------------------------- */

/* A one-key object {tag: value}; takes the reference to @p value. */
static json_t *s_tag(const char *tag, json_t *value)
{
    if (value == NULL)
        return NULL;
    json_t *o = json_object();
    if (o == NULL || json_object_set_new_nocheck(o, tag, value) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Text for a non-finite double: "nan", "-nan", "inf", "-inf" or its bits. */
static json_t *s_nonfinite64(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    if (isinf(d))
        return json_string(d < 0 ? "-inf" : "inf");
    if (bits == UINT64_C(0x7ff8000000000000))
        return json_string("nan");
    if (bits == UINT64_C(0xfff8000000000000))
        return json_string("-nan");
    char buf[24];
    snprintf(buf, sizeof buf, "0x%016" PRIx64, bits);
    return json_string(buf);
}

static json_t *s_nonfinite32(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    if (isinf(f))
        return json_string(f < 0 ? "-inf" : "inf");
    if (bits == UINT32_C(0x7fc00000))
        return json_string("nan");
    if (bits == UINT32_C(0xffc00000))
        return json_string("-nan");
    char buf[16];
    snprintf(buf, sizeof buf, "0x%08" PRIx32, bits);
    return json_string(buf);
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

static int s_from(const zpk_node_t *n, unsigned flags, size_t depth, json_t **out);

/* Can map @p n be a JSON object in the lossless form? (see json.h) */
static bool s_plain_object_ok(const zpk_node_t *n)
{
    size_t len = zpk_node_len(n);
    for (size_t i = 0; i < len; i++) {
        const char *k;
        size_t kl;
        if (zpk_node_get_str(zpk_node_map_key(n, i), &k, &kl) != 0)
            return false;
        if (kl > 0 && memchr(k, 0, kl) != NULL)
            return false;
        if (len == 1 && kl > 0 && k[0] == '$')
            return false;
    }
    return true;
}

/* The key text for the plain form: a str as it is, else compact JSON of the key. */
static int s_plain_key(const zpk_node_t *key, unsigned flags, size_t depth, char **text,
                       size_t *len, bool *owned)
{
    const char *s;
    size_t sl;
    *owned = false;
    if (zpk_node_get_str(key, &s, &sl) == 0) {
        json_t *probe = json_stringn(s, sl); /* valid UTF-8? */
        if (probe != NULL) {
            json_decref(probe);
            *text = (char *)(uintptr_t)s;
            *len = sl;
            return 0;
        }
    }
    json_t *j = NULL;
    int rc = s_from(key, flags, depth + 1, &j);
    if (rc != 0)
        return rc;
    size_t need = json_dumpb(j, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
    char *buf = need > 0 ? zpk__malloc(need) : NULL;
    if (buf == NULL) {
        json_decref(j);
        return ZPK_ENOMEM;
    }
    json_dumpb(j, buf, need, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    *text = buf;
    *len = need;
    *owned = true;
    return 0;
}

static int s_from_map(const zpk_node_t *n, unsigned flags, size_t depth, json_t **out)
{
    size_t len = zpk_node_len(n);
    bool lossless = flags & ZPK_JSON_LOSSLESS;
    if (lossless && s_plain_object_ok(n)) {
        json_t *o = json_object();
        if (o == NULL)
            return ZPK_ENOMEM;
        for (size_t i = 0; i < len; i++) {
            const char *k;
            size_t kl;
            zpk_node_get_str(zpk_node_map_key(n, i), &k, &kl);
            if (json_object_getn(o, k, kl) != NULL)
                goto pairs; /* a repeated key: only the pair list keeps both */
            json_t *v = NULL;
            int rc = s_from(zpk_node_map_value(n, i), flags, depth + 1, &v);
            if (rc != 0) {
                json_decref(o);
                return rc;
            }
            if (json_object_setn_new(o, k, kl, v) != 0) {
                /* Not valid UTF-8 (or out of memory): use the pair list. */
                json_decref(o);
                goto pairs_fresh;
            }
        }
        *out = o;
        return 0;
    pairs:
        json_decref(o);
    pairs_fresh:;
    }
    if (lossless) {
        json_t *a = json_array();
        if (a == NULL)
            return ZPK_ENOMEM;
        for (size_t i = 0; i < len; i++) {
            json_t *k = NULL, *v = NULL;
            int rc = s_from(zpk_node_map_key(n, i), flags, depth + 1, &k);
            if (rc == 0)
                rc = s_from(zpk_node_map_value(n, i), flags, depth + 1, &v);
            json_t *pair = rc == 0 ? json_array() : NULL;
            if (rc == 0 && (pair == NULL || json_array_append_new(pair, k) != 0 ||
                            json_array_append_new(pair, v) != 0 ||
                            json_array_append_new(a, pair) != 0))
                rc = ZPK_ENOMEM;
            if (rc != 0) {
                /* json_array_append_new consumes its value even on failure. */
                if (pair == NULL) {
                    json_decref(k);
                    json_decref(v);
                }
                json_decref(a);
                return rc;
            }
        }
        *out = s_tag("$map", a);
        return *out != NULL ? 0 : ZPK_ENOMEM;
    }
    json_t *o = json_object();
    if (o == NULL)
        return ZPK_ENOMEM;
    for (size_t i = 0; i < len; i++) {
        char *k;
        size_t kl;
        bool owned;
        int rc = s_plain_key(zpk_node_map_key(n, i), flags, depth, &k, &kl, &owned);
        json_t *v = NULL;
        if (rc == 0)
            rc = s_from(zpk_node_map_value(n, i), flags, depth + 1, &v);
        if (rc == 0 && json_object_setn_new(o, k, kl, v) != 0)
            rc = ZPK_ENOMEM;
        if (owned)
            zpk__free(k);
        if (rc != 0) {
            json_decref(o);
            return rc;
        }
    }
    *out = o;
    return 0;
}

static int s_from(const zpk_node_t *n, unsigned flags, size_t depth, json_t **out)
{
    bool lossless = flags & ZPK_JSON_LOSSLESS;
    json_t *j = NULL;
    *out = NULL;
    if (depth > ZPK_JSON_MAX_DEPTH)
        return ZPK_ETOODEEP;
    switch (zpk_node_type(n)) {
    case ZPK_TYPE_NIL:
        j = json_null();
        break;
    case ZPK_TYPE_BOOL: {
        bool b = false;
        zpk_node_get_bool(n, &b);
        j = json_boolean(b);
        break;
    }
    case ZPK_TYPE_INT:
    case ZPK_TYPE_UINT: {
        int64_t i;
        uint64_t u = 0;
        if (zpk_node_get_int(n, &i) == 0) {
            j = json_integer((json_int_t)i);
        } else {
            zpk_node_get_uint(n, &u);
            if (lossless) {
                char buf[24];
                snprintf(buf, sizeof buf, "%" PRIu64, u);
                j = s_tag("$uint", json_string(buf));
            } else {
                j = json_real((double)u);
            }
        }
        break;
    }
    case ZPK_TYPE_FLOAT: {
        double d = 0;
        zpk_node_get_double(n, &d);
        float f = (float)d;
        if (isfinite(f))
            j = lossless ? s_tag("$float32", json_real(d)) : json_real(d);
        else
            j = lossless ? s_tag("$float32", s_nonfinite32(f)) : json_null();
        break;
    }
    case ZPK_TYPE_DOUBLE: {
        double d = 0;
        zpk_node_get_double(n, &d);
        if (isfinite(d))
            j = json_real(d);
        else
            j = lossless ? s_tag("$float", s_nonfinite64(d)) : json_null();
        break;
    }
    case ZPK_TYPE_STR: {
        const char *s = NULL;
        size_t len = 0;
        zpk_node_get_str(n, &s, &len);
        j = json_stringn(s != NULL ? s : "", len);
        if (j == NULL) /* not UTF-8 (or no memory: then the tag fails too) */
            j = s_tag("$str", s_b64_string((const uint8_t *)s, len));
        break;
    }
    case ZPK_TYPE_BIN: {
        const uint8_t *b = NULL;
        size_t len = 0;
        zpk_node_get_bin(n, &b, &len);
        j = s_b64_string(b, len);
        if (lossless)
            j = s_tag("$bin", j);
        break;
    }
    case ZPK_TYPE_EXT: {
        zpk_timestamp_t ts;
        char buf[48];
        if (s_canonical_timestamp(n, &ts)) {
            if (!lossless && s_rfc3339(&ts, buf, sizeof buf)) {
                j = json_string(buf);
            } else {
                j = json_array();
                if (j != NULL &&
                    (json_array_append_new(j, json_integer((json_int_t)ts.sec)) != 0 ||
                     json_array_append_new(j, json_integer((json_int_t)ts.nsec)) != 0)) {
                    json_decref(j);
                    j = NULL;
                }
                j = s_tag("$timestamp", j);
            }
            break;
        }
        int8_t type = 0;
        const uint8_t *p = NULL;
        size_t len = 0;
        zpk_node_get_ext(n, &type, &p, &len);
        json_t *a = json_array();
        if (a != NULL && (json_array_append_new(a, json_integer(type)) != 0 ||
                          json_array_append_new(a, s_b64_string(p, len)) != 0)) {
            json_decref(a);
            a = NULL;
        }
        j = s_tag("$ext", a);
        break;
    }
    case ZPK_TYPE_ARRAY: {
        size_t len = zpk_node_len(n);
        j = json_array();
        if (j == NULL)
            return ZPK_ENOMEM;
        for (size_t i = 0; i < len; i++) {
            json_t *v = NULL;
            int rc = s_from(zpk_node_array_at(n, i), flags, depth + 1, &v);
            if (rc == 0 && json_array_append_new(j, v) != 0)
                rc = ZPK_ENOMEM;
            if (rc != 0) {
                json_decref(j);
                return rc;
            }
        }
        break;
    }
    case ZPK_TYPE_MAP:
        return s_from_map(n, flags, depth, out);
    default:
        return ZPK_EINVAL;
    }
    if (j == NULL)
        return ZPK_ENOMEM;
    *out = j;
    return 0;
}

int zpk_json_from_node(const zpk_node_t *node, unsigned flags, json_t **out)
{
    if (out == NULL)
        return ZPK_EINVAL;
    *out = NULL;
    if (node == NULL || (flags & ~S_KNOWN_FLAGS) != 0)
        return ZPK_EINVAL;
    return s_from(node, flags, 0, out);
}

int zpk_json_dumps(const zpk_node_t *node, unsigned flags, char **out, size_t *len)
{
    if (out == NULL)
        return ZPK_EINVAL;
    *out = NULL;
    if (len != NULL)
        *len = 0;
    json_t *j = NULL;
    int rc = zpk_json_from_node(node, flags, &j);
    if (rc != 0)
        return rc;
    size_t jflags = JSON_ENCODE_ANY | JSON_REAL_PRECISION(17);
    unsigned indent = (flags >> 8) & 0x1f;
    jflags |= indent ? JSON_INDENT(indent) : JSON_COMPACT;
    if (flags & ZPK_JSON_SORT_KEYS)
        jflags |= JSON_SORT_KEYS;
    size_t need = json_dumpb(j, NULL, 0, jflags);
    char *buf = NULL;
    if (need == 0 || (buf = zpk__malloc(need + 1)) == NULL) {
        json_decref(j);
        return ZPK_ENOMEM;
    }
    json_dumpb(j, buf, need, jflags);
    json_decref(j);
    buf[need] = '\0';
    *out = buf;
    if (len != NULL)
        *len = need;
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
        *f = (float)*d;
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
        *f = (float)*d;
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
            rc = s_to(t, json_array_get(pair, 0), depth + 1);
            if (rc == 0)
                rc = s_to(t, json_array_get(pair, 1), depth + 1);
        }
    } else {
        return 0;
    }
    return rc != 0 ? rc : 1;
}

static int s_to(s_to_t *t, const json_t *j, size_t depth)
{
    if (depth > ZPK_JSON_MAX_DEPTH)
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
    if (json == NULL || w == NULL || (flags & ~S_KNOWN_FLAGS) != 0)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL argument or unknown flag");
    s_to_t t = {.w = w, .flags = flags, .err = err};
    int rc = s_to(&t, json, 0);
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
    if ((text == NULL && len > 0) || w == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL argument");
    json_error_t jerr;
    json_t *j = json_loadb(text != NULL ? text : "", len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                           &jerr);
    if (j == NULL) {
        int code = json_error_code(&jerr) == json_error_out_of_memory ? ZPK_ENOMEM
                                                                      : ZPK_EFORMAT;
        return zpk__error(err, code, (size_t)jerr.position, "JSON: %s", jerr.text);
    }
    int rc = zpk_json_to_msgpack_ex(j, 0, w, err);
    json_decref(j);
    return rc;
}
