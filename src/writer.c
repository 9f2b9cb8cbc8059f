/*
 * MessagePack writer: growable, fixed and sink targets, shortest encodings,
 * sticky error.
 *
 * The hot path is one comparison: every write reserves its bytes with
 * s_reserve(), which succeeds inline when the window [pos, end) is large
 * enough. Recording an error sets end = pos, so after a failure every
 * write falls to the slow path, which sees the error and does nothing: no
 * extra branch is needed on the fast path (mpack's trick).
 */
#include <string.h>

/* This file defines the functions that the header's inline fast paths call. */
#define ZPK_NO_INLINE_WRITER
#include "internal.h"
#include "zmqpack/msgpack.h"

enum { S_GROWABLE = 1, S_FIXED = 2, S_SINK = 3 };

/* First allocation of a growable writer when no hint is given. */
#define S_DEFAULT_CAPACITY ((size_t)256)
/* Smallest sink chunk: every header and timestamp must fit in one. */
#define S_MIN_SINK_CHUNK ((size_t)64)

/* ---- big-endian stores ------------------------------------------------------ */

static inline void s_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void s_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void s_be64(uint8_t *p, uint64_t v)
{
    s_be32(p, (uint32_t)(v >> 32));
    s_be32(p + 4, (uint32_t)v);
}

/* ---- errors and space -------------------------------------------------------- */

static void s_fail(zpk_writer_t *w, int code)
{
    if (w->error == 0)
        w->error = code;
    w->end = w->pos; /* every later reserve takes the slow path */
}

/* Hands the pending bytes of a sink writer to the sink. */
static void s_flush(zpk_writer_t *w)
{
    size_t n = (size_t)(w->pos - w->buf);
    if (n == 0)
        return;
    int rc = w->sink(w->sink_ud, w->buf, n);
    if (rc != 0) {
        s_fail(w, rc < 0 ? rc : ZPK_EIO);
        return;
    }
    w->flushed += n;
    w->pos = w->buf;
}

/* Makes room for at least @p n more bytes in the buffer (growable, sink). */
static bool s_make_room(zpk_writer_t *w, size_t n)
{
    if (w->error)
        return false;
    size_t used = (size_t)(w->pos - w->buf);
    size_t cap = (size_t)(w->cap_end - w->buf);
    switch (w->kind) {
    case S_GROWABLE: {
        size_t need;
        if (!zpk__add_size(used, n, &need)) {
            s_fail(w, ZPK_ENOMEM);
            return false;
        }
        size_t ncap = cap ? cap : (w->hint ? w->hint : S_DEFAULT_CAPACITY);
        while (ncap < need) {
            if (ncap > SIZE_MAX / 2) {
                ncap = need;
                break;
            }
            ncap *= 2;
        }
        uint8_t *nb = zpk__realloc(w->buf, ncap);
        if (nb == NULL) {
            s_fail(w, ZPK_ENOMEM);
            return false;
        }
        w->buf = nb;
        w->pos = nb + used;
        w->cap_end = w->end = nb + ncap;
        return true;
    }
    case S_SINK:
        if (w->buf == NULL) {
            uint8_t *nb = zpk__malloc(w->hint);
            if (nb == NULL) {
                s_fail(w, ZPK_ENOMEM);
                return false;
            }
            w->buf = w->pos = nb;
            w->cap_end = w->end = nb + w->hint;
        } else {
            s_flush(w);
            if (w->error)
                return false;
        }
        return n <= (size_t)(w->end - w->pos);
    case S_FIXED:
        s_fail(w, ZPK_EBUFFULL);
        return false;
    default:
        s_fail(w, ZPK_EINVAL);
        return false;
    }
}

/* Slow half of s_reserve(); @p n is at most ZPK_MAX_TIMESTAMP_SIZE. */
static uint8_t *s_reserve_slow(zpk_writer_t *w, size_t n)
{
    if (!s_make_room(w, n))
        return NULL;
    uint8_t *p = w->pos;
    w->pos += n;
    return p;
}

/* Room for @p n bytes (small: headers and scalars), or NULL after an error. */
static inline uint8_t *s_reserve(zpk_writer_t *w, size_t n)
{
    if (ZPK_LIKELY((size_t)(w->end - w->pos) >= n)) {
        uint8_t *p = w->pos;
        w->pos += n;
        return p;
    }
    return s_reserve_slow(w, n);
}

static void s_write_bytes_slow(zpk_writer_t *w, const uint8_t *p, size_t n)
{
    if (w->error)
        return;
    if (w->kind == S_SINK) {
        while (n > 0) {
            size_t room = (size_t)(w->end - w->pos);
            if (room == 0) {
                if (!s_make_room(w, 1))
                    return;
                room = (size_t)(w->end - w->pos);
                /* A large block goes to the sink directly, without copying. */
                if (w->pos == w->buf && n >= room) {
                    int rc = w->sink(w->sink_ud, p, n);
                    if (rc != 0) {
                        s_fail(w, rc < 0 ? rc : ZPK_EIO);
                        return;
                    }
                    w->flushed += n;
                    return;
                }
            }
            size_t k = n < room ? n : room;
            memcpy(w->pos, p, k);
            w->pos += k;
            p += k;
            n -= k;
        }
        return;
    }
    if (!s_make_room(w, n))
        return;
    memcpy(w->pos, p, n);
    w->pos += n;
}

static inline void s_write_bytes(zpk_writer_t *w, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (ZPK_LIKELY((size_t)(w->end - w->pos) >= n)) {
        memcpy(w->pos, p, n);
        w->pos += n;
        return;
    }
    s_write_bytes_slow(w, p, n);
}

/* ---- lifecycle --------------------------------------------------------------- */

static void s_init(zpk_writer_t *w, int kind)
{
    memset(w, 0, sizeof *w);
    w->kind = kind;
}

void zpk_writer_init_growable(zpk_writer_t *w, size_t initial_capacity)
{
    s_init(w, S_GROWABLE);
    w->hint = initial_capacity;
}

void zpk_writer_init_buffer(zpk_writer_t *w, void *buf, size_t size)
{
    s_init(w, S_FIXED);
    if (buf == NULL) {
        if (size != 0)
            s_fail(w, ZPK_EINVAL);
        return;
    }
    w->buf = w->pos = buf;
    w->end = w->cap_end = w->buf + size;
}

void zpk_writer_init_sink(zpk_writer_t *w, zpk_sink_fn sink, void *ud, size_t chunk_size)
{
    s_init(w, S_SINK);
    w->sink = sink;
    w->sink_ud = ud;
    if (chunk_size == 0)
        chunk_size = ZPK_DEFAULT_SINK_CHUNK;
    w->hint = chunk_size < S_MIN_SINK_CHUNK ? S_MIN_SINK_CHUNK : chunk_size;
    if (sink == NULL)
        s_fail(w, ZPK_EINVAL);
}

void zpk_writer_set_flags(zpk_writer_t *w, unsigned flags)
{
    w->flags = flags;
}

int zpk_writer_finish(zpk_writer_t *w)
{
    if (w->kind == S_SINK && w->error == 0 && w->buf != NULL)
        s_flush(w);
    return w->error;
}

int zpk_writer_detach(zpk_writer_t *w, void **data, size_t *size)
{
    if (data)
        *data = NULL;
    if (size)
        *size = 0;
    if (data == NULL || size == NULL || w->kind != S_GROWABLE)
        return ZPK_EINVAL;
    if (w->error)
        return w->error;
    size_t used = (size_t)(w->pos - w->buf);
    if (used == 0)
        return 0; /* keep the (empty) buffer for the next message */
    *data = w->buf;
    *size = used;
    w->buf = w->pos = w->end = w->cap_end = NULL;
    return 0;
}

void zpk_writer_free(zpk_writer_t *w)
{
    if (w == NULL)
        return;
    if (w->kind == S_GROWABLE || w->kind == S_SINK)
        zpk__free(w->buf);
    w->buf = w->pos = w->end = w->cap_end = NULL;
    w->kind = 0;
    if (w->error == 0)
        w->error = ZPK_EINVAL; /* a freed writer writes nothing */
}

void zpk_writer_reset(zpk_writer_t *w)
{
    w->error = 0;
    w->flushed = 0;
    w->pos = w->buf;
    w->end = w->cap_end;
    if (w->kind == 0)
        w->error = ZPK_EINVAL, w->end = w->pos;
}

int zpk_writer_error(const zpk_writer_t *w)
{
    return w->error;
}

void zpk_writer_set_error(zpk_writer_t *w, int code)
{
    if (code < 0)
        s_fail(w, code);
}

const uint8_t *zpk_writer_data(const zpk_writer_t *w)
{
    return w->buf;
}

size_t zpk_writer_size(const zpk_writer_t *w)
{
    return w->flushed + (size_t)(w->pos - w->buf);
}

/* ---- scalars ----------------------------------------------------------------- */

static inline void s_write_nil(zpk_writer_t *w)
{
    uint8_t *p = s_reserve(w, 1);
    if (p)
        p[0] = 0xc0;
}

static inline void s_write_bool(zpk_writer_t *w, bool value)
{
    uint8_t *p = s_reserve(w, 1);
    if (p)
        p[0] = value ? 0xc3 : 0xc2;
}

static inline void s_write_uint(zpk_writer_t *w, uint64_t v)
{
    uint8_t *p;
    if (v < 0x80) {
        if ((p = s_reserve(w, 1)))
            p[0] = (uint8_t)v;
    } else if (v <= UINT8_MAX) {
        if ((p = s_reserve(w, 2)))
            p[0] = 0xcc, p[1] = (uint8_t)v;
    } else if (v <= UINT16_MAX) {
        if ((p = s_reserve(w, 3)))
            p[0] = 0xcd, s_be16(p + 1, (uint16_t)v);
    } else if (v <= UINT32_MAX) {
        if ((p = s_reserve(w, 5)))
            p[0] = 0xce, s_be32(p + 1, (uint32_t)v);
    } else {
        if ((p = s_reserve(w, 9)))
            p[0] = 0xcf, s_be64(p + 1, v);
    }
}

static inline void s_write_int(zpk_writer_t *w, int64_t v)
{
    uint8_t *p;
    if (v >= 0) {
        s_write_uint(w, (uint64_t)v);
    } else if (v >= -32) {
        if ((p = s_reserve(w, 1)))
            p[0] = (uint8_t)(int8_t)v;
    } else if (v >= INT8_MIN) {
        if ((p = s_reserve(w, 2)))
            p[0] = 0xd0, p[1] = (uint8_t)(int8_t)v;
    } else if (v >= INT16_MIN) {
        if ((p = s_reserve(w, 3)))
            p[0] = 0xd1, s_be16(p + 1, (uint16_t)(int16_t)v);
    } else if (v >= INT32_MIN) {
        if ((p = s_reserve(w, 5)))
            p[0] = 0xd2, s_be32(p + 1, (uint32_t)(int32_t)v);
    } else {
        if ((p = s_reserve(w, 9)))
            p[0] = 0xd3, s_be64(p + 1, (uint64_t)v);
    }
}

static inline void s_write_float(zpk_writer_t *w, float value)
{
    uint32_t bits;
    memcpy(&bits, &value, 4);
    uint8_t *p = s_reserve(w, 5);
    if (p)
        p[0] = 0xca, s_be32(p + 1, bits);
}

static inline void s_write_double(zpk_writer_t *w, double value)
{
    uint64_t bits;
    memcpy(&bits, &value, 8);
    uint8_t *p = s_reserve(w, 9);
    if (p)
        p[0] = 0xcb, s_be64(p + 1, bits);
}

static inline void s_write_real(zpk_writer_t *w, double value)
{
    if (w->flags & ZPK_WRITER_SINGLE_FLOAT)
        s_write_float(w, (float)value);
    else
        s_write_double(w, value);
}

/* ---- headers ----------------------------------------------------------------- */

/*
 * One header of the str/bin/array/map families: @p fix is the fix-form
 * base (0 if none) valid below @p fixlim, then the 8/16/32-bit markers
 * (m8 0 when the family has no 8-bit form).
 */
static inline void s_header(zpk_writer_t *w, size_t len, uint8_t fix, size_t fixlim,
                            uint8_t m8, uint8_t m16, uint8_t m32)
{
    uint8_t *p;
    if (len < fixlim) {
        if ((p = s_reserve(w, 1)))
            p[0] = (uint8_t)(fix | len);
    } else if (m8 && len <= UINT8_MAX) {
        if ((p = s_reserve(w, 2)))
            p[0] = m8, p[1] = (uint8_t)len;
    } else if (len <= UINT16_MAX) {
        if ((p = s_reserve(w, 3)))
            p[0] = m16, s_be16(p + 1, (uint16_t)len);
    } else if (len <= UINT32_MAX) {
        if ((p = s_reserve(w, 5)))
            p[0] = m32, s_be32(p + 1, (uint32_t)len);
    } else {
        s_fail(w, ZPK_EINVAL);
    }
}

static inline void s_write_str_header(zpk_writer_t *w, size_t len)
{
    s_header(w, len, 0xa0, 32, 0xd9, 0xda, 0xdb);
}

static inline void s_write_bin_header(zpk_writer_t *w, size_t len)
{
    s_header(w, len, 0, 0, 0xc4, 0xc5, 0xc6);
}

static inline void s_write_array(zpk_writer_t *w, size_t count)
{
    s_header(w, count, 0x90, 16, 0, 0xdc, 0xdd);
}

static inline void s_write_map(zpk_writer_t *w, size_t count)
{
    s_header(w, count, 0x80, 16, 0, 0xde, 0xdf);
}

static inline void s_write_ext_header(zpk_writer_t *w, int8_t type, size_t len)
{
    uint8_t *p;
    uint8_t fix = 0;
    switch (len) {
    case 1: fix = 0xd4; break;
    case 2: fix = 0xd5; break;
    case 4: fix = 0xd6; break;
    case 8: fix = 0xd7; break;
    case 16: fix = 0xd8; break;
    default: break;
    }
    if (fix) {
        if ((p = s_reserve(w, 2)))
            p[0] = fix, p[1] = (uint8_t)type;
    } else if (len <= UINT8_MAX) {
        if ((p = s_reserve(w, 3)))
            p[0] = 0xc7, p[1] = (uint8_t)len, p[2] = (uint8_t)type;
    } else if (len <= UINT16_MAX) {
        if ((p = s_reserve(w, 4)))
            p[0] = 0xc8, s_be16(p + 1, (uint16_t)len), p[3] = (uint8_t)type;
    } else if (len <= UINT32_MAX) {
        if ((p = s_reserve(w, 6)))
            p[0] = 0xc9, s_be32(p + 1, (uint32_t)len), p[5] = (uint8_t)type;
    } else {
        s_fail(w, ZPK_EINVAL);
    }
}

/* ---- whole values ------------------------------------------------------------ */

static inline void s_write_str(zpk_writer_t *w, const char *s, size_t len)
{
    /* Fast path: a short string that fits, written in one go. */
    if (len < 32 && (size_t)(w->end - w->pos) > len) {
        uint8_t *p = w->pos;
        p[0] = (uint8_t)(0xa0 | len);
        if (len)
            memcpy(p + 1, s, len);
        w->pos = p + 1 + len;
        return;
    }
    s_write_str_header(w, len);
    s_write_bytes(w, s, len);
}

static inline void s_write_cstr(zpk_writer_t *w, const char *s)
{
    if (s == NULL) {
        s_fail(w, ZPK_EINVAL);
        return;
    }
    s_write_str(w, s, strlen(s));
}

static inline void s_write_bin(zpk_writer_t *w, const void *data, size_t len)
{
    s_write_bin_header(w, len);
    s_write_bytes(w, data, len);
}

static inline void s_write_ext(zpk_writer_t *w, int8_t type, const void *data, size_t len)
{
    s_write_ext_header(w, type, len);
    s_write_bytes(w, data, len);
}

static inline void s_write_raw(zpk_writer_t *w, const void *data, size_t len)
{
    s_write_bytes(w, data, len);
}

static inline void s_write_tag(zpk_writer_t *w, const zpk_tag_t *tag)
{
    switch (tag->type) {
    case ZPK_TYPE_NIL: s_write_nil(w); return;
    case ZPK_TYPE_BOOL: s_write_bool(w, tag->v.b); return;
    case ZPK_TYPE_INT: s_write_int(w, tag->v.i); return;
    case ZPK_TYPE_UINT: s_write_uint(w, tag->v.u); return;
    case ZPK_TYPE_FLOAT: s_write_float(w, tag->v.f); return;
    case ZPK_TYPE_DOUBLE: s_write_double(w, tag->v.d); return;
    case ZPK_TYPE_STR: s_write_str_header(w, tag->v.len); return;
    case ZPK_TYPE_BIN: s_write_bin_header(w, tag->v.len); return;
    case ZPK_TYPE_ARRAY: s_write_array(w, tag->v.len); return;
    case ZPK_TYPE_MAP: s_write_map(w, tag->v.len); return;
    case ZPK_TYPE_EXT: s_write_ext_header(w, tag->exttype, tag->v.len); return;
    }
    s_fail(w, ZPK_EINVAL);
}

static inline void s_write_timestamp(zpk_writer_t *w, int64_t sec, uint32_t nsec)
{
    uint8_t payload[12];
    size_t len;
    if (zpk_timestamp_encode(sec, nsec, payload, &len) != 0) {
        s_fail(w, ZPK_EINVAL);
        return;
    }
    s_write_ext_header(w, ZPK_EXT_TIMESTAMP, len);
    s_write_bytes(w, payload, len);
}

/* ---- exported entry points (the header's inline fast paths fall back here) ---- */

void zpk_write_nil(zpk_writer_t *w)
{
    s_write_nil(w);
}

void zpk_write_bool(zpk_writer_t *w, bool value)
{
    s_write_bool(w, value);
}

void zpk_write_uint(zpk_writer_t *w, uint64_t v)
{
    s_write_uint(w, v);
}

void zpk_write_int(zpk_writer_t *w, int64_t v)
{
    s_write_int(w, v);
}

void zpk_write_float(zpk_writer_t *w, float value)
{
    s_write_float(w, value);
}

void zpk_write_double(zpk_writer_t *w, double value)
{
    s_write_double(w, value);
}

void zpk_write_real(zpk_writer_t *w, double value)
{
    s_write_real(w, value);
}

void zpk_write_str_header(zpk_writer_t *w, size_t len)
{
    s_write_str_header(w, len);
}

void zpk_write_bin_header(zpk_writer_t *w, size_t len)
{
    s_write_bin_header(w, len);
}

void zpk_write_array(zpk_writer_t *w, size_t count)
{
    s_write_array(w, count);
}

void zpk_write_map(zpk_writer_t *w, size_t count)
{
    s_write_map(w, count);
}

void zpk_write_ext_header(zpk_writer_t *w, int8_t type, size_t len)
{
    s_write_ext_header(w, type, len);
}

void zpk_write_str(zpk_writer_t *w, const char *s, size_t len)
{
    s_write_str(w, s, len);
}

void zpk_write_cstr(zpk_writer_t *w, const char *s)
{
    s_write_cstr(w, s);
}

void zpk_write_bin(zpk_writer_t *w, const void *data, size_t len)
{
    s_write_bin(w, data, len);
}

void zpk_write_ext(zpk_writer_t *w, int8_t type, const void *data, size_t len)
{
    s_write_ext(w, type, data, len);
}

void zpk_write_raw(zpk_writer_t *w, const void *data, size_t len)
{
    s_write_raw(w, data, len);
}

void zpk_write_tag(zpk_writer_t *w, const zpk_tag_t *tag)
{
    s_write_tag(w, tag);
}

void zpk_write_timestamp(zpk_writer_t *w, int64_t sec, uint32_t nsec)
{
    s_write_timestamp(w, sec, nsec);
}
