/*
 * MessagePack writer: growable, fixed and sink targets, shortest encodings,
 * sticky error, and the count behind zpk_writer_check_one_object().
 *
 * The inline fast paths in msgpack.h write into the window [pos, end) with
 * one comparison. The window is closed (end = pos) whenever the next write
 * must not take the fast path, so that no extra branch is needed there
 * (mpack's trick): after an error, so that the slow path sees it and does
 * nothing; and while a str/bin/ext header's payload is owed, so that only
 * zpk_write_raw() may continue (any other value there would become payload
 * bytes, and the count would no longer describe the bytes). The functions
 * here measure room against cap_end, the buffer's true end, and every
 * exported write ends by setting the window again (s_end).
 *
 * Every value written is counted once (zpk__writer_count_* in msgpack.h,
 * shared with the inline paths).
 */
#include <string.h>

/* This file defines the functions that the header's inline fast paths call. */
#define ZPK_NO_INLINE_WRITER
#include "byteorder.h"
#include "internal.h"
#include "msgpack_internal.h"
#include "zmqpack/msgpack.h"

enum { S_GROWABLE = 1, S_FIXED = 2, S_SINK = 3 };

/* First allocation of a growable writer when no hint is given. */
#define S_DEFAULT_CAPACITY ((size_t)256)
/* Smallest sink chunk: every header and timestamp must fit in one. */
#define S_MIN_SINK_CHUNK ((size_t)64)

/* ---- errors and space -------------------------------------------------------- */

/* Opens the inline window, or closes it after an error or while payload is owed. */
static void s_end(zpk_writer_t *w)
{
    w->end = w->error || w->payload ? w->pos : w->cap_end;
}

static void s_fail(zpk_writer_t *w, int code)
{
    if (w->error == 0)
        w->error = code;
    w->end = w->pos;
}

static size_t s_room(const zpk_writer_t *w)
{
    return (size_t)(w->cap_end - w->pos);
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
        /* the first buffer: malloc, cheaper than realloc of NULL */
        uint8_t *nb = w->buf == NULL ? zpk__malloc(ncap) : zpk__realloc(w->buf, ncap);
        if (nb == NULL) {
            s_fail(w, ZPK_ENOMEM);
            return false;
        }
        w->buf = nb;
        w->pos = nb + used;
        w->cap_end = nb + ncap;
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
            w->cap_end = nb + w->hint;
        } else {
            s_flush(w);
            if (w->error)
                return false;
        }
        return n <= s_room(w);
    case S_FIXED:
        s_fail(w, ZPK_EBUFFULL);
        return false;
    default:
        s_fail(w, ZPK_EINVAL);
        return false;
    }
}

/* Room for the @p n bytes of a header (at most ZPK_MAX_HEADER_SIZE), or
 * NULL after an error. */
static uint8_t *s_reserve(zpk_writer_t *w, size_t n)
{
    if (w->error || (s_room(w) < n && !s_make_room(w, n)))
        return NULL;
    uint8_t *p = w->pos;
    w->pos += n;
    return p;
}

static void s_write_bytes(zpk_writer_t *w, const void *data, size_t n)
{
    const uint8_t *p = data;
    if (w->error || n == 0)
        return;
    if (w->kind == S_SINK) {
        while (n > 0) {
            size_t room = s_room(w);
            if (room == 0) {
                if (!s_make_room(w, 1))
                    return;
                room = s_room(w);
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
    if (s_room(w) < n && !s_make_room(w, n))
        return;
    memcpy(w->pos, p, n);
    w->pos += n;
}

/* ---- lifecycle --------------------------------------------------------------- */

/* Forgets the one-object count: the writer holds nothing. */
static void s_count_reset(zpk_writer_t *w)
{
    w->need = 1;
    w->payload = 0;
    w->shape = 0;
    w->nsplit = 0;
}

static void s_init(zpk_writer_t *w, int kind)
{
    /* field by field: split needs no bytes while nsplit is 0 (and a
     * memset of the whole struct is a rep stos of 14 words) */
    w->pos = w->end = w->buf = w->cap_end = NULL;
    w->error = 0;
    w->kind = kind;
    w->flags = 0;
    w->hint = 0;
    w->flushed = 0;
    w->sink = NULL;
    w->sink_ud = NULL;
    s_count_reset(w);
}

void zpk_writer_init_growable(zpk_writer_t *w, size_t initial_capacity)
{
    if (w == NULL)
        return;
    s_init(w, S_GROWABLE);
    w->hint = initial_capacity;
}

void zpk_writer_init_buffer(zpk_writer_t *w, void *buf, size_t size)
{
    if (w == NULL)
        return;
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
    if (w == NULL)
        return;
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
    if (w != NULL)
        w->flags = flags;
}

int zpk_writer_finish(zpk_writer_t *w)
{
    if (w == NULL)
        return ZPK_EINVAL;
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
    if (w == NULL || data == NULL || size == NULL || w->kind != S_GROWABLE)
        return ZPK_EINVAL;
    if (w->error)
        return w->error;
    size_t used = (size_t)(w->pos - w->buf);
    s_count_reset(w);
    s_end(w);
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
    if (w == NULL)
        return;
    w->error = 0;
    w->flushed = 0;
    w->pos = w->buf;
    s_count_reset(w);
    if (w->kind == 0)
        w->error = ZPK_EINVAL;
    s_end(w);
}

int zpk_writer_error(const zpk_writer_t *w)
{
    return w != NULL ? w->error : ZPK_EINVAL;
}

void zpk_writer_set_error(zpk_writer_t *w, int code)
{
    if (w != NULL && code < 0)
        s_fail(w, code);
}

const uint8_t *zpk_writer_data(const zpk_writer_t *w)
{
    return w != NULL ? w->buf : NULL;
}

size_t zpk_writer_size(const zpk_writer_t *w)
{
    return w != NULL ? w->flushed + (size_t)(w->pos - w->buf) : 0;
}

/* ---- the one-object count of zpk_write_raw() bytes ----------------------------- */

/* Longest value without payload: uint 64, int 64, float 64 (1 + 8 bytes). */
#define S_MAX_TAG 9
_Static_assert(sizeof ((zpk_writer_t *)0)->split == S_MAX_TAG - 1,
               "a cut header keeps at most S_MAX_TAG - 1 bytes");

/*
 * What the count needs to know of each first byte, in one load:
 *   k > 0   a whole value of k bytes: fixint, nil, bool, fixstr with its
 *           payload (1 + len), the fixed-size numbers 0xca..0xd3, fixext
 *           (2 + 1..16);
 *   S_FIX - e   a fixmap or fixarray of e elements (0..30);
 *   S_READ  any other header (str, bin, ext 8/16/32, array and map 16/32)
 *           and 0xc1: the reader's (zpk__tag_at).
 * Every entry but a whole value is negative: as a size_t it is more than
 * any count of bytes (an object is at most PTRDIFF_MAX bytes), so that one
 * comparison tells a whole value that is all there from everything else.
 */
#define S_FIX (-1)
#define S_READ (-128)
#define F(e) (S_FIX - (e))
#define R S_READ
static const int8_t s_first_byte[256] = {
    /* 0x00..0x7f positive fixint */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x80..0x8f fixmap: 2 * (b & 0x0f) elements */
    F(0), F(2), F(4), F(6), F(8), F(10), F(12), F(14),
    F(16), F(18), F(20), F(22), F(24), F(26), F(28), F(30),
    /* 0x90..0x9f fixarray: b & 0x0f elements */
    F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7),
    F(8), F(9), F(10), F(11), F(12), F(13), F(14), F(15),
    /* 0xa0..0xbf fixstr: 1 + (b & 0x1f) bytes */
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
    /* 0xc0 nil, 0xc1 reserved, 0xc2 0xc3 bool, 0xc4..0xc9 bin and ext 8/16/32,
     * 0xca..0xcf float 32/64, uint 8..64 */
    1, R, 1, 1, R, R, R, R, R, R, 5, 9, 2, 3, 5, 9,
    /* 0xd0..0xd3 int 8..64, 0xd4..0xd8 fixext 1..16, 0xd9..0xdf str, array, map 8..32 */
    2, 3, 5, 9, 3, 4, 6, 10, 18, R, R, R, R, R, R, R,
    /* 0xe0..0xff negative fixint */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};
#undef F
#undef R

/* The count @p need after the value whose header is @p t; its payload in *@p payload. */
static uint64_t s_count_tag(uint64_t need, const zpk_tag_t *t, uint64_t *payload)
{
    switch (t->type) {
    case ZPK_TYPE_ARRAY:
        return zpk__count_container(need, t->v.len);
    case ZPK_TYPE_MAP:
        return zpk__count_container(need, 2 * (uint64_t)t->v.len);
    case ZPK_TYPE_STR:
    case ZPK_TYPE_BIN:
    case ZPK_TYPE_EXT:
        *payload = t->v.len;
        return need - 1;
    default:
        return need - 1;
    }
}

/*
 * The reader's route of the count: the header at @p p[0..n) that the table
 * does not take (one with a length, 0xc1, a value cut by the end of the
 * bytes), completing the w->nsplit bytes of a header cut by the previous
 * call if any. Keeps need and payload in w. Returns the bytes of @p p it
 * took, or SIZE_MAX when the count of these bytes stops there (0xc1, or a
 * header still cut, kept in w->split). Not inlined: it keeps the walk's
 * loop free of its stack frame.
 */
ZPK_NOINLINE static size_t s_count_header(zpk_writer_t *w, const uint8_t *p,
                                          size_t n)
{
    uint8_t buf[2 * S_MAX_TAG];
    const uint8_t *q = p;
    size_t old = w->nsplit, qn = n;
    if (old > 0) {
        qn = old + (n < S_MAX_TAG ? n : S_MAX_TAG);
        memcpy(buf, w->split, old);
        memcpy(buf + old, p, qn - old);
        q = buf;
    }
    zpk_tag_t t;
    size_t used = zpk__tag_at(q, qn, &t);
    if (used == SIZE_MAX) {
        w->shape |= ZPK__WRITER_NOT_MSGPACK;
        return SIZE_MAX;
    }
    if (used == 0) { /* cut: then n < S_MAX_TAG (S_MAX_TAG bytes hold any header) */
        memcpy(w->split + old, p, n);
        w->nsplit = (uint8_t)(old + n);
        return SIZE_MAX;
    }
    w->nsplit = 0;
    w->need = s_count_tag(w->need, &t, &w->payload);
    return used - old;
}

/*
 * Counts @p n bytes given to zpk_write_raw(): payload owed first, then
 * values. A value whose first byte says its whole size, and that is all
 * there, takes one table load and one test (s_first_byte); so does a
 * fixmap or fixarray header. Anything else is the reader's
 * (s_count_header): a header cut short waits in w->split for the next
 * call, a payload cut short is owed.
 */
static void s_count_raw(zpk_writer_t *w, const uint8_t *p, size_t n)
{
    if (w->shape & ZPK__WRITER_NOT_MSGPACK)
        return;
    if (w->nsplit > 0 && n > 0) { /* complete the cut header first */
        size_t used = s_count_header(w, p, n);
        if (used == SIZE_MAX)
            return;
        p += used;
        n -= used;
    }
    uint64_t need = w->need, payload = w->payload;
    for (;;) {
        if (payload > 0) { /* payload owed */
            size_t k = n < payload ? n : (size_t)payload;
            payload -= k;
            p += k;
            n -= k;
        }
        while (n > 0) {
            size_t c = (size_t)(ptrdiff_t)s_first_byte[p[0]];
            if (c <= n) { /* a whole value, all there */
                need--;
                p += c;
                n -= c;
            } else if ((ptrdiff_t)c < 0 && (ptrdiff_t)c != S_READ) { /* fixmap, fixarray */
                need = zpk__count_container(need, (uint64_t)(S_FIX - (ptrdiff_t)c));
                p++;
                n--;
            } else {
                break;
            }
        }
        if (n == 0)
            break;
        w->need = need;
        w->payload = payload;
        size_t used = s_count_header(w, p, n);
        if (used == SIZE_MAX)
            return;
        need = w->need;
        payload = w->payload;
        p += used;
        n -= used;
    }
    w->need = need;
    w->payload = payload;
}

int zpk_writer_check_one_object(const zpk_writer_t *w, zpk_error_t *err)
{
    zpk_error_clear(err);
    if (w == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL writer");
    size_t size = zpk_writer_size(w);
    if (w->error != 0)
        return zpk__error(err, w->error, size, "the writer failed earlier: %s",
                          zpk_strerror(w->error));
    if (w->shape & ZPK__WRITER_NOT_MSGPACK)
        return zpk__error(err, ZPK_EINVAL, size,
                          "bytes given to zpk_write_raw() are not MessagePack (0xc1)");
    if (w->need > (uint64_t)INT64_MAX)
        return zpk__error(err, ZPK_EINVAL, size,
                          "more than one object written: a message holds one (wrap them "
                          "in an array)");
    if (size == 0)
        return zpk__error(err, ZPK_EINVAL, 0, "nothing written: a message holds one object");
    if (w->nsplit > 0)
        return zpk__error(err, ZPK_EINVAL, size,
                          "unfinished object: a header given to zpk_write_raw() is cut short");
    if (w->need > 0)
        return zpk__error(err, ZPK_EINVAL, size,
                          "unfinished object: %llu more values expected by the array and "
                          "map headers written", (unsigned long long)w->need);
    if (w->payload > 0)
        return zpk__error(err, ZPK_EINVAL, size,
                          "unfinished object: %llu more payload bytes expected by a str, bin "
                          "or ext header", (unsigned long long)w->payload);
    return 0;
}

/* ---- headers ----------------------------------------------------------------- */

/*
 * One header of the str/bin/array/map families: @p fix is the fix-form
 * base (0 if none) valid below @p fixlim, then the 8/16/32-bit markers
 * (m8 0 when the family has no 8-bit form). A length over UINT32_MAX
 * cannot be encoded: ZPK_EINVAL.
 */
static void s_header(zpk_writer_t *w, size_t len, uint8_t fix, size_t fixlim, uint8_t m8,
                     uint8_t m16, uint8_t m32)
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
            p[0] = m16, zpk__put_be16(p + 1, (uint16_t)len);
    } else if (len <= UINT32_MAX) {
        if ((p = s_reserve(w, 5)))
            p[0] = m32, zpk__put_be32(p + 1, (uint32_t)len);
    } else {
        s_fail(w, ZPK_EINVAL);
    }
}

static void s_str_header(zpk_writer_t *w, size_t len)
{
    s_header(w, len, 0xa0, 32, 0xd9, 0xda, 0xdb);
}

static void s_bin_header(zpk_writer_t *w, size_t len)
{
    s_header(w, len, 0, 0, 0xc4, 0xc5, 0xc6);
}

static void s_ext_header(zpk_writer_t *w, int8_t type, size_t len)
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
            p[0] = 0xc8, zpk__put_be16(p + 1, (uint16_t)len), p[3] = (uint8_t)type;
    } else if (len <= UINT32_MAX) {
        if ((p = s_reserve(w, 6)))
            p[0] = 0xc9, zpk__put_be32(p + 1, (uint32_t)len), p[5] = (uint8_t)type;
    } else {
        s_fail(w, ZPK_EINVAL);
    }
}

/* ---- exported entry points (the header's inline fast paths fall back here) ----
 *
 * Each checks its arguments, writes its bytes, counts the value once and
 * sets the window again. A NULL writer has nowhere to keep an error: those
 * calls do nothing (zpk_writer_error(NULL) and zpk_writer_finish(NULL) say
 * ZPK_EINVAL). NULL bytes with a non-zero length, and a value where a
 * header's payload is owed, are a sticky ZPK_EINVAL.
 */

/* Whether a value may be written now (@p w not NULL, no payload owed). */
static bool s_begin(zpk_writer_t *w)
{
    if (w == NULL)
        return false;
    if (w->payload > 0)
        s_fail(w, ZPK_EINVAL); /* a value where payload bytes were promised */
    return true;
}

/* s_begin(), and @p data may be NULL only when @p len is 0. */
static bool s_begin_bytes(zpk_writer_t *w, const void *data, size_t len)
{
    if (!s_begin(w))
        return false;
    if (data == NULL && len != 0)
        s_fail(w, ZPK_EINVAL);
    return true;
}

/* A whole scalar encoded in @p b. */
static void s_scalar(zpk_writer_t *w, const uint8_t *b, size_t n)
{
    if (!s_begin(w))
        return;
    s_write_bytes(w, b, n);
    zpk__writer_count_value(w);
    s_end(w);
}

void zpk_write_nil(zpk_writer_t *w)
{
    s_scalar(w, (const uint8_t[]){0xc0}, 1);
}

void zpk_write_bool(zpk_writer_t *w, bool value)
{
    s_scalar(w, (const uint8_t[]){value ? 0xc3 : 0xc2}, 1);
}

void zpk_write_uint(zpk_writer_t *w, uint64_t v)
{
    uint8_t b[9];
    s_scalar(w, b, zpk__encode_uint(b, v));
}

void zpk_write_int(zpk_writer_t *w, int64_t v)
{
    uint8_t b[9];
    s_scalar(w, b, zpk__encode_int(b, v));
}

void zpk_write_float(zpk_writer_t *w, float value)
{
    uint8_t b[5] = {0xca};
    uint32_t bits;
    memcpy(&bits, &value, 4);
    zpk__put_be32(b + 1, bits);
    s_scalar(w, b, sizeof b);
}

void zpk_write_double(zpk_writer_t *w, double value)
{
    uint8_t b[9] = {0xcb};
    uint64_t bits;
    memcpy(&bits, &value, 8);
    zpk__put_be64(b + 1, bits);
    s_scalar(w, b, sizeof b);
}

void zpk_write_real(zpk_writer_t *w, double value)
{
    if (w != NULL && (w->flags & ZPK_WRITER_SINGLE_FLOAT))
        zpk_write_float(w, (float)value);
    else
        zpk_write_double(w, value);
}

/* A str/bin/ext header: @p len payload bytes are owed to zpk_write_raw(). */
static void s_payload_owed(zpk_writer_t *w, size_t len)
{
    zpk__writer_count_value(w);
    w->payload = len;
    s_end(w);
}

void zpk_write_str_header(zpk_writer_t *w, size_t len)
{
    if (!s_begin(w))
        return;
    s_str_header(w, len);
    s_payload_owed(w, len);
}

void zpk_write_bin_header(zpk_writer_t *w, size_t len)
{
    if (!s_begin(w))
        return;
    s_bin_header(w, len);
    s_payload_owed(w, len);
}

void zpk_write_ext_header(zpk_writer_t *w, int8_t type, size_t len)
{
    if (!s_begin(w))
        return;
    s_ext_header(w, type, len);
    s_payload_owed(w, len);
}

void zpk_write_array(zpk_writer_t *w, size_t count)
{
    if (!s_begin(w))
        return;
    s_header(w, count, 0x90, 16, 0, 0xdc, 0xdd);
    zpk__writer_count_container(w, count);
    s_end(w);
}

void zpk_write_map(zpk_writer_t *w, size_t count)
{
    if (!s_begin(w))
        return;
    s_header(w, count, 0x80, 16, 0, 0xde, 0xdf);
    zpk__writer_count_container(w, 2 * (uint64_t)count);
    s_end(w);
}

void zpk_write_str(zpk_writer_t *w, const char *s, size_t len)
{
    if (!s_begin_bytes(w, s, len))
        return;
    s_str_header(w, len);
    s_write_bytes(w, s, len);
    zpk__writer_count_value(w);
    s_end(w);
}

void zpk_write_cstr(zpk_writer_t *w, const char *s)
{
    if (w != NULL && s == NULL)
        s_fail(w, ZPK_EINVAL);
    else if (w != NULL)
        zpk_write_str(w, s, strlen(s));
}

void zpk_write_bin(zpk_writer_t *w, const void *data, size_t len)
{
    if (!s_begin_bytes(w, data, len))
        return;
    s_bin_header(w, len);
    s_write_bytes(w, data, len);
    zpk__writer_count_value(w);
    s_end(w);
}

void zpk_write_ext(zpk_writer_t *w, int8_t type, const void *data, size_t len)
{
    if (!s_begin_bytes(w, data, len))
        return;
    s_ext_header(w, type, len);
    s_write_bytes(w, data, len);
    zpk__writer_count_value(w);
    s_end(w);
}

void zpk_write_raw(zpk_writer_t *w, const void *data, size_t len)
{
    if (w == NULL)
        return;
    if (data == NULL && len != 0) {
        s_fail(w, ZPK_EINVAL);
        return;
    }
    s_write_bytes(w, data, len);
    s_count_raw(w, data, len);
    s_end(w);
}

void zpk_write_tag(zpk_writer_t *w, const zpk_tag_t *tag)
{
    if (w == NULL)
        return;
    if (tag == NULL) {
        s_fail(w, ZPK_EINVAL);
        return;
    }
    switch (tag->type) {
    case ZPK_TYPE_NIL: zpk_write_nil(w); return;
    case ZPK_TYPE_BOOL: zpk_write_bool(w, tag->v.b); return;
    case ZPK_TYPE_INT: zpk_write_int(w, tag->v.i); return;
    case ZPK_TYPE_UINT: zpk_write_uint(w, tag->v.u); return;
    case ZPK_TYPE_FLOAT: zpk_write_float(w, tag->v.f); return;
    case ZPK_TYPE_DOUBLE: zpk_write_double(w, tag->v.d); return;
    case ZPK_TYPE_STR: zpk_write_str_header(w, tag->v.len); return;
    case ZPK_TYPE_BIN: zpk_write_bin_header(w, tag->v.len); return;
    case ZPK_TYPE_ARRAY: zpk_write_array(w, tag->v.len); return;
    case ZPK_TYPE_MAP: zpk_write_map(w, tag->v.len); return;
    case ZPK_TYPE_EXT: zpk_write_ext_header(w, tag->exttype, tag->v.len); return;
    }
    s_fail(w, ZPK_EINVAL);
}

void zpk_write_timestamp(zpk_writer_t *w, int64_t sec, uint32_t nsec)
{
    uint8_t payload[12];
    size_t len;
    if (w == NULL)
        return;
    if (zpk_timestamp_encode(sec, nsec, payload, &len) != 0)
        s_fail(w, ZPK_EINVAL);
    else
        zpk_write_ext(w, ZPK_EXT_TIMESTAMP, payload, len);
}
