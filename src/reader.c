/*
 * MessagePack pull reader over a buffer: one tag at a time, payloads in
 * place, iterative skip, sticky error.
 *
 * Recording an error sets end = pos, so every later read finds no data and
 * takes the one slow path, which returns the sticky code.
 */
#include <string.h>

#define ZPK_NO_INLINE_WRITER /* this file defines the functions behind the inline accessors */
#include "byteorder.h"
#include "internal.h"
#include "msgpack_internal.h"
#include "zmqpack/msgpack.h"

/* Records @p code at @p at (unless an error is already kept); returns the kept code. */
static int s_fail_at(zpk_reader_t *r, int code, const uint8_t *at)
{
    if (r->error == 0) {
        r->error = code;
        r->error_offset = (size_t)(at - r->data);
    }
    r->end = r->pos;
    return r->error;
}

void zpk_reader_init(zpk_reader_t *r, const void *data, size_t size, const zpk_limits_t *limits)
{
    if (r == NULL)
        return;
    memset(r, 0, sizeof *r);
    r->data = r->pos = data;
    r->size = size;
    r->end = data ? r->data + size : r->data;
    if (limits)
        r->limits = *limits;
    else
        zpk_limits_default(&r->limits, 0);
    if (data == NULL && size != 0)
        s_fail_at(r, ZPK_EINVAL, r->pos);
}

/* Slow path: no byte at all, or an earlier error. */
static int s_no_data(zpk_reader_t *r)
{
    return s_fail_at(r, r->error ? r->error : ZPK_EOUTOFDATA, r->pos);
}

#define S_NEED(n)                                                                 \
    do {                                                                          \
        if (ZPK_UNLIKELY((size_t)(r->end - p) < (n)))                             \
            return s_fail_at(r, ZPK_EOUTOFDATA, p);                               \
    } while (0)

#define S_LIMIT(len, lim)                                                         \
    do {                                                                          \
        if (ZPK_UNLIKELY((size_t)(len) > r->limits.lim))                          \
            return s_fail_at(r, ZPK_ELIMIT, p);                                   \
    } while (0)

static int s_ext(zpk_reader_t *r, zpk_tag_t *tag, const uint8_t *p, size_t hdr, uint32_t len)
{
    S_LIMIT(len, max_ext_len);
    tag->type = ZPK_TYPE_EXT;
    tag->exttype = (int8_t)p[hdr - 1];
    tag->v.len = len;
    r->pos = p + hdr;
    return 0;
}

/*
 * The tag of each first byte. A header with a length: S_LEN(header bytes,
 * the length read from them, type, the limit it must not pass). A scalar:
 * S_VAL(bytes, type, field = value). Each reads nothing before checking that
 * its bytes are there (S_NEED), and consumes them only when it succeeds.
 */
#define S_LEN(hdr, get, t, lim)                                                   \
    do {                                                                          \
        if ((hdr) > 1) /* the first byte is known to be there */                \
            S_NEED(hdr);                                                          \
        len = (get);                                                              \
        S_LIMIT(len, lim);                                                        \
        tag->type = (t);                                                          \
        tag->v.len = len;                                                         \
        r->pos = p + (hdr);                                                       \
        return 0;                                                                 \
    } while (0)
#define S_VAL(bytes, t, field, value)                                             \
    do {                                                                          \
        if ((bytes) > 1)                                                          \
            S_NEED(bytes);                                                        \
        tag->type = (t);                                                          \
        tag->v.field = (value);                                                   \
        r->pos = p + (bytes);                                                     \
        return 0;                                                                 \
    } while (0)
/* int 8/16/32/64: non-negative values are UINT, as every other encoding's. */
#define S_SINT(bytes, value)                                                      \
    do {                                                                          \
        S_NEED(bytes);                                                            \
        int64_t v_ = (value);                                                     \
        tag->type = v_ < 0 ? ZPK_TYPE_INT : ZPK_TYPE_UINT;                        \
        tag->v.i = v_; /* a non-negative int64 has the bits of the uint64 */      \
        r->pos = p + (bytes);                                                     \
        return 0;                                                                 \
    } while (0)

static ZPK_ALWAYS_INLINE int s_read_tag(zpk_reader_t *r, zpk_tag_t *tag)
{
    const uint8_t *p = r->pos;
    if (ZPK_UNLIKELY(p >= r->end))
        return s_no_data(r);
    uint8_t b = *p;
    uint32_t len;

    if (b <= 0x7f)
        S_VAL(1, ZPK_TYPE_UINT, u, b);
    if (b >= 0xe0)
        S_VAL(1, ZPK_TYPE_INT, i, (int8_t)b);
    if (b >= 0xa0 && b <= 0xbf)
        S_LEN(1, b & 0x1fu, ZPK_TYPE_STR, max_str_len);
    if (b <= 0x8f)
        S_LEN(1, b & 0x0fu, ZPK_TYPE_MAP, max_map_len);
    if (b <= 0x9f)
        S_LEN(1, b & 0x0fu, ZPK_TYPE_ARRAY, max_array_len);

    switch (b) {
    case 0xc0:
        tag->type = ZPK_TYPE_NIL;
        r->pos = p + 1;
        return 0;
    case 0xc2:
    case 0xc3: S_VAL(1, ZPK_TYPE_BOOL, b, b == 0xc3);
    case 0xc4: S_LEN(2, p[1], ZPK_TYPE_BIN, max_bin_len);
    case 0xc5: S_LEN(3, zpk__get_be16(p + 1), ZPK_TYPE_BIN, max_bin_len);
    case 0xc6: S_LEN(5, zpk__get_be32(p + 1), ZPK_TYPE_BIN, max_bin_len);
    case 0xc7:
        S_NEED(3);
        return s_ext(r, tag, p, 3, p[1]);
    case 0xc8:
        S_NEED(4);
        return s_ext(r, tag, p, 4, zpk__get_be16(p + 1));
    case 0xc9:
        S_NEED(6);
        return s_ext(r, tag, p, 6, zpk__get_be32(p + 1));
    case 0xca: {
        S_NEED(5);
        uint32_t bits = zpk__get_be32(p + 1);
        tag->type = ZPK_TYPE_FLOAT;
        memcpy(&tag->v.f, &bits, 4);
        r->pos = p + 5;
        return 0;
    }
    case 0xcb: {
        S_NEED(9);
        uint64_t bits = zpk__get_be64(p + 1);
        tag->type = ZPK_TYPE_DOUBLE;
        memcpy(&tag->v.d, &bits, 8);
        r->pos = p + 9;
        return 0;
    }
    case 0xcc: S_VAL(2, ZPK_TYPE_UINT, u, p[1]);
    case 0xcd: S_VAL(3, ZPK_TYPE_UINT, u, zpk__get_be16(p + 1));
    case 0xce: S_VAL(5, ZPK_TYPE_UINT, u, zpk__get_be32(p + 1));
    case 0xcf: S_VAL(9, ZPK_TYPE_UINT, u, zpk__get_be64(p + 1));
    case 0xd0: S_SINT(2, (int8_t)p[1]);
    case 0xd1: S_SINT(3, (int16_t)zpk__get_be16(p + 1));
    case 0xd2: S_SINT(5, (int32_t)zpk__get_be32(p + 1));
    case 0xd3: {
        S_NEED(9);
        uint64_t u = zpk__get_be64(p + 1);
        int64_t v;
        memcpy(&v, &u, sizeof v);
        S_SINT(9, v);
    }
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8: /* fixext 1, 2, 4, 8, 16 */
        S_NEED(2);
        return s_ext(r, tag, p, 2, 1u << (b - 0xd4));
    case 0xd9: S_LEN(2, p[1], ZPK_TYPE_STR, max_str_len);
    case 0xda: S_LEN(3, zpk__get_be16(p + 1), ZPK_TYPE_STR, max_str_len);
    case 0xdb: S_LEN(5, zpk__get_be32(p + 1), ZPK_TYPE_STR, max_str_len);
    case 0xdc: S_LEN(3, zpk__get_be16(p + 1), ZPK_TYPE_ARRAY, max_array_len);
    case 0xdd: S_LEN(5, zpk__get_be32(p + 1), ZPK_TYPE_ARRAY, max_array_len);
    case 0xde: S_LEN(3, zpk__get_be16(p + 1), ZPK_TYPE_MAP, max_map_len);
    case 0xdf: S_LEN(5, zpk__get_be32(p + 1), ZPK_TYPE_MAP, max_map_len);
    default: /* 0xc1, the one reserved byte */
        return s_fail_at(r, ZPK_EFORMAT, p);
    }
}

static inline int s_read_bytes_inplace(zpk_reader_t *r, size_t len, const void **ptr)
{
    const uint8_t *p = r->pos;
    if (ZPK_UNLIKELY((size_t)(r->end - p) < len)) {
        if (ptr)
            *ptr = NULL;
        return s_fail_at(r, r->error ? r->error : ZPK_EOUTOFDATA, p);
    }
    if (ZPK_UNLIKELY(r->error)) { /* len 0 after an error */
        if (ptr)
            *ptr = NULL;
        return r->error;
    }
    if (ptr)
        *ptr = p;
    r->pos = p + len;
    return 0;
}

static inline int s_read_item(zpk_reader_t *r, zpk_tag_t *tag, const void **data)
{
    int rc = s_read_tag(r, tag);
    if (data)
        *data = NULL;
    if (ZPK_UNLIKELY(rc))
        return rc;
    if (tag->type == ZPK_TYPE_STR || tag->type == ZPK_TYPE_BIN || tag->type == ZPK_TYPE_EXT)
        return s_read_bytes_inplace(r, tag->v.len, data);
    return 0;
}

int zpk_read_bytes(zpk_reader_t *r, void *out, size_t len)
{
    if (r == NULL)
        return ZPK_EINVAL;
    if (out == NULL && len != 0)
        return s_fail_at(r, ZPK_EINVAL, r->pos);
    const void *p;
    int rc = s_read_bytes_inplace(r, len, &p);
    if (rc == 0 && len)
        memcpy(out, p, len);
    return rc;
}

static inline int s_skip_bytes(zpk_reader_t *r, size_t len)
{
    return s_read_bytes_inplace(r, len, NULL);
}

/* Entries kept on the C stack before skip allocates. */
#define S_SKIP_LOCAL 64

int zpk_reader_skip(zpk_reader_t *r)
{
    if (r == NULL)
        return ZPK_EINVAL;
    uint64_t local[S_SKIP_LOCAL];
    uint64_t *stack = local; /* items left in each enclosing container */
    size_t cap = S_SKIP_LOCAL, depth = 0;
    uint64_t left = 1;       /* items left at the current level */
    int rc = 0;
    zpk_tag_t t;

    while (left > 0) {
        const uint8_t *at = r->pos;
        rc = s_read_tag(r, &t);
        if (rc)
            break;
        left--;
        if (t.type == ZPK_TYPE_STR || t.type == ZPK_TYPE_BIN || t.type == ZPK_TYPE_EXT) {
            rc = s_skip_bytes(r, t.v.len);
            if (rc)
                break;
        } else if (t.type == ZPK_TYPE_ARRAY || t.type == ZPK_TYPE_MAP) {
            if (depth >= r->limits.max_depth) {
                rc = s_fail_at(r, ZPK_ETOODEEP, at);
                break;
            }
            uint64_t n = t.type == ZPK_TYPE_MAP ? (uint64_t)t.v.len * 2 : t.v.len;
            if (n > 0) {
                if (depth == cap) {
                    size_t ncap = cap * 2;
                    uint64_t *ns;
                    if (stack == local) {
                        ns = zpk__malloc(ncap * sizeof *ns);
                        if (ns)
                            memcpy(ns, local, sizeof local);
                    } else {
                        ns = zpk__realloc(stack, ncap * sizeof *ns);
                    }
                    if (ns == NULL) {
                        rc = s_fail_at(r, ZPK_ENOMEM, at);
                        break;
                    }
                    stack = ns;
                    cap = ncap;
                }
                stack[depth++] = left;
                left = n;
            }
        }
        while (left == 0 && depth > 0)
            left = stack[--depth];
    }
    if (stack != local)
        zpk__free(stack);
    return rc;
}

int zpk_read_timestamp(zpk_reader_t *r, zpk_timestamp_t *ts)
{
    if (r == NULL)
        return ZPK_EINVAL;
    const uint8_t *at = r->pos;
    zpk_tag_t t;
    const void *payload;
    int rc = s_read_item(r, &t, &payload);
    if (rc)
        return rc;
    if (t.type != ZPK_TYPE_EXT || t.exttype != ZPK_EXT_TIMESTAMP)
        return s_fail_at(r, ZPK_ETYPE, at);
    zpk_timestamp_t discard;
    rc = zpk_timestamp_decode(payload, t.v.len, ts != NULL ? ts : &discard);
    if (rc)
        return s_fail_at(r, rc, at);
    return 0;
}

/* ---- typed reads ---------------------------------------------------------- */

/* Reads one item and checks its type; ZPK_ETYPE (sticky) on a mismatch. */
static int s_expect(zpk_reader_t *r, zpk_tag_t *t, const void **p, zpk_type_t want)
{
    const uint8_t *at = r->pos;
    int rc = s_read_item(r, t, p);
    if (rc)
        return rc;
    if (t->type != want)
        return s_fail_at(r, ZPK_ETYPE, at);
    return 0;
}

int zpk_read_nil(zpk_reader_t *r)
{
    if (r == NULL)
        return ZPK_EINVAL;
    zpk_tag_t t;
    return s_expect(r, &t, NULL, ZPK_TYPE_NIL);
}

int zpk_read_bool(zpk_reader_t *r, bool *value)
{
    if (r == NULL)
        return ZPK_EINVAL;
    zpk_tag_t t;
    int rc = s_expect(r, &t, NULL, ZPK_TYPE_BOOL);
    if (rc == 0 && value)
        *value = t.v.b;
    return rc;
}

int zpk_read_int(zpk_reader_t *r, int64_t *value)
{
    if (r == NULL)
        return ZPK_EINVAL;
    const uint8_t *at = r->pos;
    zpk_tag_t t;
    int rc = s_read_item(r, &t, NULL);
    if (rc)
        return rc;
    if (t.type == ZPK_TYPE_INT || (t.type == ZPK_TYPE_UINT && t.v.u <= INT64_MAX)) {
        if (value)
            *value = t.type == ZPK_TYPE_INT ? t.v.i : (int64_t)t.v.u;
        return 0;
    }
    return s_fail_at(r, ZPK_ETYPE, at);
}

int zpk_read_uint(zpk_reader_t *r, uint64_t *value)
{
    if (r == NULL)
        return ZPK_EINVAL;
    zpk_tag_t t;
    int rc = s_expect(r, &t, NULL, ZPK_TYPE_UINT);
    if (rc == 0 && value)
        *value = t.v.u;
    return rc;
}

int zpk_read_double(zpk_reader_t *r, double *value)
{
    if (r == NULL)
        return ZPK_EINVAL;
    const uint8_t *at = r->pos;
    zpk_tag_t t;
    int rc = s_read_item(r, &t, NULL);
    if (rc)
        return rc;
    double d;
    switch (t.type) {
    case ZPK_TYPE_DOUBLE: d = t.v.d; break;
    case ZPK_TYPE_FLOAT: d = (double)t.v.f; break;
    case ZPK_TYPE_INT: d = (double)t.v.i; break;
    case ZPK_TYPE_UINT: d = (double)t.v.u; break;
    default: return s_fail_at(r, ZPK_ETYPE, at);
    }
    if (value)
        *value = d;
    return 0;
}

int zpk_read_str(zpk_reader_t *r, const char **s, size_t *len)
{
    if (r == NULL)
        return ZPK_EINVAL;
    zpk_tag_t t;
    const void *p;
    int rc = s_expect(r, &t, &p, ZPK_TYPE_STR);
    if (rc == 0) {
        if (s)
            *s = p;
        if (len)
            *len = t.v.len;
    }
    return rc;
}

int zpk_read_bin(zpk_reader_t *r, const void **data, size_t *len)
{
    if (r == NULL)
        return ZPK_EINVAL;
    zpk_tag_t t;
    const void *p;
    int rc = s_expect(r, &t, &p, ZPK_TYPE_BIN);
    if (rc == 0) {
        if (data)
            *data = p;
        if (len)
            *len = t.v.len;
    }
    return rc;
}

int zpk_read_array(zpk_reader_t *r, size_t *count)
{
    if (r == NULL)
        return ZPK_EINVAL;
    zpk_tag_t t;
    int rc = s_expect(r, &t, NULL, ZPK_TYPE_ARRAY);
    if (rc == 0 && count)
        *count = t.v.len;
    return rc;
}

int zpk_read_map(zpk_reader_t *r, size_t *count)
{
    if (r == NULL)
        return ZPK_EINVAL;
    zpk_tag_t t;
    int rc = s_expect(r, &t, NULL, ZPK_TYPE_MAP);
    if (rc == 0 && count)
        *count = t.v.len;
    return rc;
}

int zpk_read_ext(zpk_reader_t *r, int8_t *type, const void **data, size_t *len)
{
    if (r == NULL)
        return ZPK_EINVAL;
    zpk_tag_t t;
    const void *p;
    int rc = s_expect(r, &t, &p, ZPK_TYPE_EXT);
    if (rc == 0) {
        if (type)
            *type = t.exttype;
        if (data)
            *data = p;
        if (len)
            *len = t.v.len;
    }
    return rc;
}

int zpk_reader_error(const zpk_reader_t *r)
{
    if (r == NULL)
        return ZPK_EINVAL;
    return r->error;
}

size_t zpk_reader_error_offset(const zpk_reader_t *r)
{
    if (r == NULL)
        return 0;
    return r->error_offset;
}

void zpk_reader_set_error(zpk_reader_t *r, int code)
{
    if (r == NULL)
        return;
    if (code < 0)
        s_fail_at(r, code, r->pos);
}

size_t zpk_reader_offset(const zpk_reader_t *r)
{
    if (r == NULL)
        return 0;
    return (size_t)(r->pos - r->data);
}

size_t zpk_reader_remaining(const zpk_reader_t *r)
{
    if (r == NULL)
        return 0;
    return (size_t)(r->end - r->pos);
}

int zpk_reader_finish(zpk_reader_t *r)
{
    if (r == NULL)
        return ZPK_EINVAL;
    if (r->error)
        return r->error;
    return r->pos < r->end ? ZPK_EEXTRADATA : 0;
}

/* ---- exported entry points --------------------------------------------------- */

int zpk_read_tag(zpk_reader_t *r, zpk_tag_t *tag)
{
    if (r == NULL)
        return ZPK_EINVAL;
    if (tag == NULL)
        return s_fail_at(r, ZPK_EINVAL, r->pos);
    return s_read_tag(r, tag);
}

int zpk_read_bytes_inplace(zpk_reader_t *r, size_t len, const void **ptr)
{
    if (r == NULL)
        return ZPK_EINVAL;
    return s_read_bytes_inplace(r, len, ptr);
}

int zpk_read_item(zpk_reader_t *r, zpk_tag_t *tag, const void **data)
{
    if (r == NULL)
        return ZPK_EINVAL;
    if (tag == NULL)
        return s_fail_at(r, ZPK_EINVAL, r->pos);
    return s_read_item(r, tag, data);
}

int zpk_skip_bytes(zpk_reader_t *r, size_t len)
{
    if (r == NULL)
        return ZPK_EINVAL;
    return s_skip_bytes(r, len);
}

/* ---- the private interface for fast paths (msgpack_internal.h) ---------------- */

const uint8_t *zpk__reader_window(const zpk_reader_t *r, size_t *avail)
{
    *avail = (size_t)(r->end - r->pos);
    return r->pos;
}

void zpk__reader_advance(zpk_reader_t *r, size_t n)
{
    r->pos += n;
}

const zpk_limits_t *zpk__reader_limits(const zpk_reader_t *r)
{
    return &r->limits;
}

/* Limits that refuse nothing (zpk__tag_at counts, it allocates nothing). */
static const zpk_limits_t s_no_limits = {
    SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX,
};

size_t zpk__tag_at(const uint8_t *p, size_t n, zpk_tag_t *tag)
{
    zpk_reader_t r; /* only what s_read_tag and s_fail_at use */
    r.data = r.pos = p;
    r.end = p + n;
    r.error = 0;
    r.limits = s_no_limits;
    int rc = s_read_tag(&r, tag);
    if (rc == 0)
        return (size_t)(r.pos - p);
    return rc == ZPK_EOUTOFDATA ? 0 : SIZE_MAX;
}
