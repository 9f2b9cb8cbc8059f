/*
 * The array header: a MessagePack map (keys in wire.h, described in
 * docs/arrays.md). Reading validates every declared size before the only
 * allocation (the chunk table, bounded by the bytes actually present).
 */
#include <string.h>

#include "zmqpack/codec.h"

#include "byteorder.h"
#include "internal.h"
#include "msgpack_internal.h"
#include "wire.h"

void zpk_ndarray_opts_default(zpk_ndarray_opts_t *o)
{
    if (o == NULL)
        return;
    memset(o, 0, sizeof *o);
    o->max_ndarray_bytes = ZPK_DEFAULT_MAX_NDARRAY_BYTES;
    o->nthreads = 1;
    zpk_limits_default(&o->limits, 0);
    o->max_chunks = ZPK_DEFAULT_MAX_CHUNKS;
}

void zpk_ndarray_info_free(zpk_ndarray_info_t *info)
{
    if (info == NULL)
        return;
    zpk__free(info->chunks);
    memset(info, 0, sizeof *info);
}

bool zpk_ndarray_info_is_raw(const zpk_ndarray_info_t *info)
{
    if (info == NULL)
        return false;
    for (size_t i = 0; i < info->nchunks; i++)
        if (info->chunks[i].compressed)
            return false;
    return true;
}

int zpk_ndarray_info_to_ndarray(const zpk_ndarray_info_t *info, void *data, zpk_ndarray_t *out)
{
    if (info == NULL || out == NULL)
        return ZPK_EINVAL;
    return zpk_ndarray_init(out, info->dtype, info->ndim, info->shape,
                          info->order == ZPK_ORDER_F ? ZPK_ORDER_F : ZPK_ORDER_C, data);
}

/* ---- write ----------------------------------------------------------------------- */

void zpk_ndarray_header_write(zpk_writer_t *w, const zpk_ndarray_info_t *info)
{
    if (w == NULL)
        return;
    /* dt is over-sized: the inline str writer may copy up to 31 bytes */
    char dt[32 > ZPK_DTYPE_STR_SIZE ? 32 : ZPK_DTYPE_STR_SIZE], codec[ZPK_CODEC_STR_SIZE];
    int dtn = info == NULL ? ZPK_EINVAL : zpk_dtype_format(info->dtype, dt, sizeof dt);
    int cn = 4;
    if (dtn >= 0 && info->codec.id != ZPK_CODEC_NONE)
        cn = zpk_codec_format(&info->codec, codec, sizeof codec);
    if (dtn < 0 || cn < 0 || info->codec.id == ZPK_CODEC_AUTO || info->ndim < 0 ||
        info->ndim > ZPK_MAX_NDIM) {
        zpk_writer_set_error(w, ZPK_EINVAL);
        return;
    }
    size_t nraw = 0;
    for (size_t i = 0; i < info->nchunks; i++)
        nraw += !info->chunks[i].compressed;
    bool list_raw = info->codec.id != ZPK_CODEC_NONE && nraw > 0;

    zpk_write_map(w, 7 + (list_raw ? 1 : 0));
    ZPK__WRITE_LIT(w, ZPK__KEY_DTYPE);
    zpk_write_str(w, dt, (size_t)dtn);
    ZPK__WRITE_LIT(w, ZPK__KEY_SHAPE);
    zpk_write_array(w, (size_t)info->ndim);
    for (int i = 0; i < info->ndim; i++)
        zpk_write_uint(w, info->shape[i]);
    ZPK__WRITE_LIT(w, ZPK__KEY_ORDER);
    zpk_write_str(w, (const char[]){info->order == ZPK_ORDER_F ? ZPK_ORDER_F : ZPK_ORDER_C}, 1);
    ZPK__WRITE_LIT(w, ZPK__KEY_NBYTES);
    zpk_write_uint(w, info->nbytes);
    ZPK__WRITE_LIT(w, ZPK__KEY_CODEC);
    if (info->codec.id == ZPK_CODEC_NONE)
        ZPK__WRITE_LIT(w, ZPK__CODEC_STR_NONE);
    else
        zpk_write_str(w, codec, (size_t)cn);
    ZPK__WRITE_LIT(w, ZPK__KEY_CHUNK);
    zpk_write_uint(w, info->chunk_size);
    ZPK__WRITE_LIT(w, ZPK__KEY_CHUNKS);
    zpk_write_array(w, info->nchunks);
    for (size_t i = 0; i < info->nchunks; i++)
        zpk_write_uint(w, info->chunks[i].stored);
    if (list_raw) {
        ZPK__WRITE_LIT(w, ZPK__KEY_RAW);
        zpk_write_array(w, nraw);
        for (size_t i = 0; i < info->nchunks; i++)
            if (!info->chunks[i].compressed)
                zpk_write_uint(w, i);
    }
}

size_t zpk_ndarray_header_bound(const zpk_ndarray_info_t *info)
{
    if (info == NULL)
        return 0;
    /* keys, str and map headers, codec string: under 160 bytes; each
     * dimension and each chunk (its size, and maybe its raw index) at
     * most 9 bytes */
    size_t n = 0;
    if (!zpk__mul_size(info->nchunks, 18, &n) ||
        !zpk__add_size(n, 160 + 9 * (size_t)(info->ndim > 0 ? info->ndim : 0), &n))
        return 0;
    return n;
}

/* ---- read ------------------------------------------------------------------------ */

enum {
    S_DTYPE = 1 << 0,
    S_SHAPE = 1 << 1,
    S_ORDER = 1 << 2,
    S_NBYTES = 1 << 3,
    S_CODEC = 1 << 4,
    S_CHUNK = 1 << 5,
    S_CHUNKS = 1 << 6,
    S_RAW = 1 << 7,
};

/* Reads a str value; ZPK_EFORMAT for another type. */
static int s_read_str(zpk_reader_t *r, const char **s, uint32_t *n)
{
    zpk_tag_t t;
    const void *p = NULL;
    int rc = zpk_read_item(r, &t, &p);
    if (rc != 0)
        return rc;
    if (t.type != ZPK_TYPE_STR)
        return ZPK_EFORMAT;
    *s = p;
    *n = t.v.len;
    return 0;
}

static int s_read_uint(zpk_reader_t *r, uint64_t *v)
{
    zpk_tag_t t;
    int rc = zpk_read_tag(r, &t);
    if (rc != 0)
        return rc;
    if (t.type != ZPK_TYPE_UINT)
        return ZPK_EFORMAT;
    *v = t.v.u;
    return 0;
}

static int s_read_array_len(zpk_reader_t *r, uint32_t *n)
{
    zpk_tag_t t;
    int rc = zpk_read_tag(r, &t);
    if (rc != 0)
        return rc;
    if (t.type != ZPK_TYPE_ARRAY)
        return ZPK_EFORMAT;
    *n = t.v.len;
    return 0;
}

/* ---- read: fast path --------------------------------------------------------- */

/* What the fast path took from the header, for the checks shared with the
 * general walk. */
typedef struct s_fast {
    uint64_t nbytes, chunk;
    uint32_t nchunks;
    uint64_t stored;
} s_fast_t;

/* The wide encodings of s_fast_uint(). */
static bool s_fast_uint_wide(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    size_t n = p[0] == 0xcc ? 1 : p[0] == 0xcd ? 2 : p[0] == 0xce ? 4 : p[0] == 0xcf ? 8 : 0;
    if (n == 0 || (size_t)(end - p) < 1 + n)
        return false;
    uint64_t x = n == 1   ? p[1]
                 : n == 2 ? zpk__get_be16(p + 1)
                 : n == 4 ? zpk__get_be32(p + 1)
                          : zpk__get_be64(p + 1);
    if (x > SIZE_MAX)
        return false;
    *v = x;
    *pp = p + 1 + n;
    return true;
}

/* A non-negative int in the encodings zpk_write_uint() uses. */
static inline bool s_fast_uint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    if (p == end)
        return false;
    if (p[0] < 0x80) {
        *v = p[0];
        *pp = p + 1;
        return true;
    }
    return s_fast_uint_wide(pp, end, v);
}

/*
 * The header exactly as zpk_ndarray_header_write() writes it for a raw array
 * of one chunk (or none): the seven keys in order, short typestr, codec
 * "none". Fills @p info's dtype, shape and order and @p f, and moves the
 * reader past the map; anything else (other orders, unknown keys, a codec,
 * an error of any kind, tight reader limits) returns false with nothing
 * consumed, and the general walk decides.
 */
static bool s_read_fast(zpk_reader_t *r, size_t max_chunks, zpk_ndarray_info_t *info,
                        s_fast_t *f)
{
    const zpk_limits_t *lim = zpk__reader_limits(r);
    if (lim->max_str_len < 31 || lim->max_array_len < 15 || lim->max_map_len < 7 ||
        lim->max_depth < 1)
        return false;
    size_t avail; /* 0 after an error */
    const uint8_t *start = zpk__reader_window(r, &avail), *end = start + avail, *p = start;
    if (p == end || *p++ != 0x87 || !ZPK__MATCH_LIT(&p, end, ZPK__KEY_DTYPE) || end - p < 4 ||
        p[0] != 0xa3 || zpk_dtype_parse((const char *)p + 1, 3, &info->dtype, NULL) != 0)
        return false;
    p += 4;
    if (!ZPK__MATCH_LIT(&p, end, ZPK__KEY_SHAPE) || p == end || (p[0] & 0xf0) != 0x90)
        return false;
    int ndim = p[0] & 0x0f;
    p++;
    for (int i = 0; i < ndim; i++) {
        uint64_t v;
        if (!s_fast_uint(&p, end, &v))
            return false;
        info->shape[i] = (size_t)v;
    }
    if (!ZPK__MATCH_LIT(&p, end, ZPK__KEY_ORDER) || end - p < 2 || p[0] != 0xa1 ||
        (p[1] != ZPK_ORDER_C && p[1] != ZPK_ORDER_F))
        return false;
    char order = (char)p[1];
    p += 2;
    if (!ZPK__MATCH_LIT(&p, end, ZPK__KEY_NBYTES) || !s_fast_uint(&p, end, &f->nbytes) ||
        !ZPK__MATCH_LIT(&p, end, ZPK__KEY_CODEC) || !ZPK__MATCH_LIT(&p, end, ZPK__CODEC_STR_NONE) ||
        !ZPK__MATCH_LIT(&p, end, ZPK__KEY_CHUNK) || !s_fast_uint(&p, end, &f->chunk) ||
        !ZPK__MATCH_LIT(&p, end, ZPK__KEY_CHUNKS) || p == end || (p[0] != 0x90 && p[0] != 0x91))
        return false;
    f->nchunks = p[0] & 0x0f;
    if (f->nchunks > max_chunks)
        return false;
    p++;
    f->stored = 0;
    if (f->nchunks == 1 && !s_fast_uint(&p, end, &f->stored))
        return false;
    info->ndim = ndim;
    info->order = order;
    zpk__reader_advance(r, (size_t)(p - start));
    return true;
}

/* Records the error at the reader's offset and returns its code. */
#define S_ERR(code, ...) zpk__error(err, (code), zpk_reader_offset(r), __VA_ARGS__)

/* What the walk read that the checks compare (and the raw table it owns). */
typedef struct s_read {
    unsigned seen;      /* S_* bits of the keys met */
    uint64_t nbytes, chunk;
    size_t *raw_idx;    /* indices read from "raw", validated by s_check */
    size_t nraw;
} s_read_t;

/* The array value of "chunks" or "raw": stored sizes or raw indices. */
static int s_read_table(zpk_reader_t *r, const zpk_ndarray_opts_t *o, bool raw,
                        const char *key, uint32_t klen, zpk_ndarray_info_t *info, s_read_t *st,
                        zpk_error_t *err)
{
    uint32_t n;
    int rc = s_read_array_len(r, &n);
    if (rc != 0)
        return S_ERR(rc, "array header: '%.*s' is not an array", (int)klen, key);
    if (n > o->max_chunks)
        return S_ERR(ZPK_ELIMIT, "array header: '%.*s' has %u entries, max_chunks is %zu",
                     (int)klen, key, n, o->max_chunks);
    /* Each entry takes at least one byte: the table is bounded by the input
     * actually present, never by what it claims. */
    if (n > zpk_reader_remaining(r))
        return S_ERR(ZPK_EOUTOFDATA, "array header: '%.*s' declares %u entries, %zu bytes left",
                     (int)klen, key, n, zpk_reader_remaining(r));
    if (raw) {
        st->raw_idx = zpk__calloc(n ? n : 1, sizeof(size_t));
        if (st->raw_idx == NULL)
            return S_ERR(ZPK_ENOMEM, "array header: no memory for %u entries", n);
        st->nraw = n;
    } else {
        info->chunks = zpk__calloc(n ? n : 1, sizeof(zpk_chunk_info_t));
        if (info->chunks == NULL)
            return S_ERR(ZPK_ENOMEM, "array header: no memory for %u chunks", n);
        info->nchunks = n;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint64_t v;
        rc = s_read_uint(r, &v);
        if (rc != 0)
            return S_ERR(rc, "array header: %.*s[%u] is not a non-negative int", (int)klen,
                         key, i);
        if (v > SIZE_MAX)
            return S_ERR(ZPK_EOVERFLOW, "array header: %.*s[%u] too large", (int)klen, key, i);
        if (raw)
            st->raw_idx[i] = (size_t)v;
        else
            info->chunks[i].stored = (size_t)v;
    }
    return 0;
}

/* The value of the known key @p bit. */
static int s_read_value(zpk_reader_t *r, const zpk_ndarray_opts_t *o, unsigned bit,
                        const char *key, uint32_t klen, zpk_ndarray_info_t *info, s_read_t *st,
                        zpk_error_t *err)
{
    const char *s;
    uint32_t n;
    int rc;
    switch (bit) {
    case S_DTYPE:
        rc = s_read_str(r, &s, &n);
        if (rc != 0)
            return S_ERR(rc, "array header: dtype is not a str");
        return zpk_dtype_parse(s, n, &info->dtype, err);
    case S_SHAPE:
        rc = s_read_array_len(r, &n);
        if (rc != 0)
            return S_ERR(rc, "array header: shape is not an array");
        if (n > ZPK_MAX_NDIM)
            return S_ERR(ZPK_ESHAPE, "array header: %u dimensions, at most %d", n,
                         ZPK_MAX_NDIM);
        for (uint32_t i = 0; i < n; i++) {
            uint64_t v;
            rc = s_read_uint(r, &v);
            if (rc != 0)
                return S_ERR(rc, "array header: shape[%u] is not a non-negative int", i);
            if (v > SIZE_MAX)
                return S_ERR(ZPK_EOVERFLOW, "array header: shape[%u] too large", i);
            info->shape[i] = (size_t)v;
        }
        info->ndim = (int)n;
        return 0;
    case S_ORDER:
        rc = s_read_str(r, &s, &n);
        if (rc != 0 || n != 1 || (s[0] != ZPK_ORDER_C && s[0] != ZPK_ORDER_F))
            return S_ERR(ZPK_EFORMAT, "array header: order must be \"C\" or \"F\"");
        info->order = s[0];
        return 0;
    case S_NBYTES:
        rc = s_read_uint(r, &st->nbytes);
        return rc != 0 ? S_ERR(rc, "array header: nbytes is not a non-negative int") : 0;
    case S_CODEC:
        rc = s_read_str(r, &s, &n);
        if (rc != 0)
            return S_ERR(rc, "array header: codec is not a str");
        if (ZPK__STR_IS(s, n, ZPK__CODEC_STR_NONE)) { /* the commonest: no parse */
            zpk_codec_default(&info->codec, ZPK_CODEC_NONE);
        } else {
            rc = zpk_codec_parse(s, n, &info->codec, err);
            const char *colon = rc == ZPK_ECODEC ? memchr(s, ':', n) : NULL;
            if (colon != NULL) /* decode by family: the settings are informative */
                rc = zpk_codec_parse(s, (size_t)(colon - s), &info->codec, err);
            if (rc != 0)
                return rc;
        }
        if (info->codec.id == ZPK_CODEC_AUTO)
            return S_ERR(ZPK_ECODEC, "array header: codec 'auto' is not a wire codec");
        info->codec.nthreads = info->nthreads;
        return 0;
    case S_CHUNK:
        rc = s_read_uint(r, &st->chunk);
        return rc != 0 ? S_ERR(rc, "array header: chunk is not a non-negative int") : 0;
    default: /* S_CHUNKS, S_RAW */
        return s_read_table(r, o, bit == S_RAW, key, klen, info, st, err);
    }
}

/* The general walk: the map's pairs in any order; unknown keys skipped. */
static int s_read_map(zpk_reader_t *r, const zpk_ndarray_opts_t *o, zpk_ndarray_info_t *info,
                      s_read_t *st, zpk_error_t *err)
{
    zpk_tag_t t;
    int rc = zpk_read_tag(r, &t);
    if (rc != 0)
        return S_ERR(rc, "array header: %s", zpk_strerror(rc));
    if (t.type != ZPK_TYPE_MAP)
        return S_ERR(ZPK_EFORMAT, "array header is a %s, not a map", zpk_type_name(t.type));
    uint32_t pairs = t.v.len;
    for (uint32_t k = 0; k < pairs; k++) {
        const char *key;
        uint32_t klen;
        rc = s_read_str(r, &key, &klen);
        if (rc != 0)
            return S_ERR(rc, "array header: key %u is not a str", k);
        unsigned bit = ZPK__STR_IS(key, klen, ZPK__KEY_DTYPE)    ? S_DTYPE
                       : ZPK__STR_IS(key, klen, ZPK__KEY_SHAPE)  ? S_SHAPE
                       : ZPK__STR_IS(key, klen, ZPK__KEY_ORDER)  ? S_ORDER
                       : ZPK__STR_IS(key, klen, ZPK__KEY_NBYTES) ? S_NBYTES
                       : ZPK__STR_IS(key, klen, ZPK__KEY_CODEC)  ? S_CODEC
                       : ZPK__STR_IS(key, klen, ZPK__KEY_CHUNK)  ? S_CHUNK
                       : ZPK__STR_IS(key, klen, ZPK__KEY_CHUNKS) ? S_CHUNKS
                       : ZPK__STR_IS(key, klen, ZPK__KEY_RAW)    ? S_RAW
                                                                 : 0;
        if (bit == 0) { /* unknown keys are skipped (forward compatible) */
            rc = zpk_reader_skip(r);
            if (rc != 0)
                return S_ERR(rc, "array header: %s", zpk_strerror(rc));
            continue;
        }
        if (st->seen & bit)
            return S_ERR(ZPK_EFORMAT, "array header: duplicate key '%.*s'", (int)klen, key);
        st->seen |= bit;
        rc = s_read_value(r, o, bit, key, klen, info, st, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Every required key, then every size against the others; fills the chunk table. */
static int s_check(zpk_reader_t *r, const zpk_ndarray_opts_t *o, zpk_ndarray_info_t *info,
                   s_read_t *st, zpk_error_t *err)
{
    const unsigned required = S_DTYPE | S_SHAPE | S_NBYTES | S_CODEC | S_CHUNKS;
    unsigned seen = st->seen;
    if ((seen & required) != required)
        return S_ERR(ZPK_EFORMAT, "array header: missing %s",
                     !(seen & S_DTYPE)    ? ZPK__KEY_DTYPE
                     : !(seen & S_SHAPE)  ? ZPK__KEY_SHAPE
                     : !(seen & S_NBYTES) ? ZPK__KEY_NBYTES
                     : !(seen & S_CODEC)  ? ZPK__KEY_CODEC
                                          : ZPK__KEY_CHUNKS);
    size_t want;
    int rc = zpk_shape_nbytes(info->dtype, info->ndim, info->shape, &want);
    if (rc != 0)
        return S_ERR(rc, "array header: the shape's byte count %s",
                     rc == ZPK_EOVERFLOW ? "overflows" : "is invalid");
    if (st->nbytes != want)
        return S_ERR(ZPK_ESHAPE, "array header: nbytes %llu but the shape holds %zu bytes",
                     (unsigned long long)st->nbytes, want);
    if (want > o->max_ndarray_bytes)
        return S_ERR(ZPK_ELIMIT, "array header: %zu bytes over max_ndarray_bytes %zu", want,
                     o->max_ndarray_bytes);
    info->nbytes = want;
    uint64_t chunk = st->chunk;
    if (!(seen & S_CHUNK))
        chunk = info->nchunks <= 1 ? want : 0;
    if (want && chunk == 0)
        return S_ERR(ZPK_EFORMAT, "array header: chunk size is 0");
    if (chunk > SIZE_MAX)
        return S_ERR(ZPK_EOVERFLOW, "array header: chunk size too large");
    size_t cs = (size_t)chunk;
    size_t nch = want ? want / cs + (want % cs != 0) : 0;
    if (nch != info->nchunks)
        return S_ERR(ZPK_EFORMAT, "array header: %zu chunks listed, %zu bytes in chunks of %zu "
                     "need %zu", info->nchunks, want, cs, nch);
    if (info->codec.id == ZPK_CODEC_BLOSC && cs > ZPK_BLOSC_MAX_CHUNK && nch)
        return S_ERR(ZPK_ELIMIT, "array header: blosc chunk size %zu over the limit", cs);
    info->chunk_size = cs;
    for (size_t i = 0; i < nch; i++) {
        zpk_chunk_info_t *ci = &info->chunks[i];
        ci->raw = i + 1 < nch ? cs : want - i * cs;
        ci->compressed = info->codec.id != ZPK_CODEC_NONE;
    }
    for (size_t j = 0; j < st->nraw; j++) {
        size_t idx = st->raw_idx[j];
        if (idx >= nch || (j && idx <= st->raw_idx[j - 1]))
            return S_ERR(ZPK_EFORMAT, "array header: raw index %zu out of order or range", idx);
        info->chunks[idx].compressed = false;
    }
    for (size_t i = 0; i < nch; i++) {
        zpk_chunk_info_t *ci = &info->chunks[i];
        if (!ci->compressed && ci->stored != ci->raw)
            return S_ERR(ZPK_EFORMAT, "array header: raw chunk %zu stores %zu bytes, not %zu", i,
                         ci->stored, ci->raw);
        if (ci->compressed) {
            size_t bound = zpk_codec_bound(&info->codec, ci->raw);
            if (ci->stored == 0 || bound == 0 || ci->stored > bound)
                return S_ERR(ZPK_EFORMAT, "array header: chunk %zu stores %zu bytes for %zu raw",
                             i, ci->stored, ci->raw);
        }
        if (!zpk__add_size(info->stored_bytes, ci->stored, &info->stored_bytes))
            return S_ERR(ZPK_EOVERFLOW, "array header: stored sizes overflow");
    }
    return 0;
}

int zpk_ndarray_header_read(zpk_reader_t *r, const zpk_ndarray_opts_t *opts,
                            zpk_ndarray_info_t *info, zpk_error_t *err)
{
    zpk_error_clear(err);
    if (r == NULL || info == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL reader or output");
    memset(info, 0, sizeof *info);
    zpk_ndarray_opts_t o;
    if (opts != NULL)
        o = *opts;
    else
        zpk_ndarray_opts_default(&o);
    info->order = ZPK_ORDER_C;
    info->nthreads = o.nthreads < 1 ? 1 : o.nthreads;

    s_read_t st = {0};
    s_fast_t f;
    int rc;
    if (s_read_fast(r, o.max_chunks, info, &f)) {
        zpk_codec_default(&info->codec, ZPK_CODEC_NONE);
        info->codec.nthreads = info->nthreads;
        info->chunks = zpk__calloc(1, sizeof(zpk_chunk_info_t));
        if (info->chunks == NULL) {
            rc = S_ERR(ZPK_ENOMEM, "array header: no memory for %u chunks", f.nchunks);
            goto out;
        }
        info->nchunks = f.nchunks;
        info->chunks[0].stored = (size_t)f.stored;
        st.seen = S_DTYPE | S_SHAPE | S_ORDER | S_NBYTES | S_CODEC | S_CHUNK | S_CHUNKS;
        st.nbytes = f.nbytes;
        st.chunk = f.chunk;
        rc = 0;
    } else {
        rc = s_read_map(r, &o, info, &st, err);
    }
    if (rc == 0)
        rc = s_check(r, &o, info, &st, err);
out:
    zpk__free(st.raw_idx);
    if (rc != 0) {
        zpk_ndarray_info_free(info);
    } else if (info->nchunks == 0) {
        zpk__free(info->chunks);
        info->chunks = NULL;
    }
    return rc;
}

int zpk_ndarray_header_decode(const void *data, size_t size, const zpk_ndarray_opts_t *opts,
                            zpk_ndarray_info_t *info, zpk_error_t *err)
{
    zpk_error_clear(err);
    if (info == NULL || (size && data == NULL))
        return zpk__error(err, ZPK_EINVAL, 0, "NULL argument");
    zpk_ndarray_opts_t o;
    if (opts != NULL)
        o = *opts;
    else
        zpk_ndarray_opts_default(&o);
    zpk_reader_t r;
    zpk_reader_init(&r, data, size, &o.limits);
    int rc = zpk_ndarray_header_read(&r, &o, info, err);
    if (rc != 0)
        return rc;
    rc = zpk_reader_finish(&r);
    if (rc != 0) {
        zpk_ndarray_info_free(info);
        return zpk__error(err, rc, zpk_reader_offset(&r), "array header: %s",
                          zpk_strerror(rc));
    }
    return 0;
}
