/*
 * Codecs behind one small interface: settings and their string form,
 * per-chunk compress/decompress dispatch, and arrays as chunk lists
 * (encode with chunking and the `auto` rule; decode straight into the
 * destination after every size has been checked).
 */
#include "zmqpack/codec.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "wire.h"

/* ---- settings ---------------------------------------------------------------- */

static const char *const s_cnames[] = {"blosclz", "lz4", "lz4hc", "zlib", "zstd"};
static const char *const s_shuffles[] = {"noshuffle", "shuffle", "bitshuffle"};

bool zpk_codec_available(zpk_codec_id_t id)
{
    switch (id) {
    case ZPK_CODEC_NONE:
    case ZPK_CODEC_ZLIB:
    case ZPK_CODEC_AUTO:
        return true;
    case ZPK_CODEC_BLOSC:
        return ZPK_HAVE_BLOSC != 0;
    }
    return false;
}

void zpk_codec_default(zpk_codec_t *c, zpk_codec_id_t id)
{
    if (c == NULL)
        return;
    memset(c, 0, sizeof *c);
    c->id = id;
    c->level = id == ZPK_CODEC_ZLIB ? 6 : 5;
    c->cname = ZPK_BLOSC_LZ4;
    c->shuffle = ZPK_SHUFFLE_BYTE;
    c->nthreads = 1;
    c->chunk_size = 0;
    c->auto_codec = ZPK_HAVE_BLOSC ? ZPK_CODEC_BLOSC : ZPK_CODEC_ZLIB;
    if (id == ZPK_CODEC_AUTO && !ZPK_HAVE_BLOSC)
        c->level = 1;
    c->auto_min_size = ZPK_DEFAULT_AUTO_MIN_SIZE;
    c->auto_min_ratio = ZPK_DEFAULT_AUTO_MIN_RATIO;
    c->auto_sample = ZPK_DEFAULT_AUTO_SAMPLE;
}

/* Splits off the next ':'-separated field of [*p, end). */
static bool s_field(const char **p, const char *end, const char **f, size_t *flen)
{
    if (*p == NULL || *p > end)
        return false;
    const char *colon = memchr(*p, ':', (size_t)(end - *p));
    *f = *p;
    if (colon) {
        *flen = (size_t)(colon - *p);
        *p = colon + 1;
    } else {
        *flen = (size_t)(end - *p);
        *p = NULL;
    }
    return true;
}

static bool s_eq(const char *f, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(f, lit, n) == 0;
}

static bool s_level(const char *f, size_t n, int *out)
{
    if (n != 1 || f[0] < '0' || f[0] > '9')
        return false;
    *out = f[0] - '0';
    return true;
}

/* Parses a zlib or blosc string (no auto) into the family fields of @p c. */
static int s_parse_family(const char *s, const char *end, zpk_codec_t *c, zpk_error_t *err,
                          int shown, const char *whole)
{
    const char *p = s, *f = s;
    size_t n = 0;
    s_field(&p, end, &f, &n);
    if (s_eq(f, n, ZPK__CODEC_STR_NONE)) {
        c->id = ZPK_CODEC_NONE;
        if (p != NULL)
            return zpk__error(err, ZPK_ECODEC, 0, "codec '%.*s': none takes no options",
                              shown, whole);
        return 0;
    }
    if (s_eq(f, n, "zlib")) {
        c->id = ZPK_CODEC_ZLIB;
        c->level = 6;
        if (p != NULL) {
            s_field(&p, end, &f, &n);
            if (!s_level(f, n, &c->level) || p != NULL)
                return zpk__error(err, ZPK_ECODEC, 0,
                                  "codec '%.*s': expected zlib:LEVEL with LEVEL 0..9",
                                  shown, whole);
        }
        return 0;
    }
    if (s_eq(f, n, "blosc")) {
        if (!ZPK_HAVE_BLOSC)
            return zpk__error(err, ZPK_ENOTSUP, 0,
                              "codec '%.*s': this build has no blosc", shown, whole);
        c->id = ZPK_CODEC_BLOSC;
        c->level = 5;
        c->cname = ZPK_BLOSC_LZ4;
        c->shuffle = ZPK_SHUFFLE_BYTE;
        if (p != NULL) {
            s_field(&p, end, &f, &n);
            int k = -1;
            for (int i = 0; i < 5; i++)
                if (s_eq(f, n, s_cnames[i]))
                    k = i;
            if (k < 0)
                return zpk__error(err, ZPK_ECODEC, 0,
                                  "codec '%.*s': blosc compressor must be "
                                  "blosclz, lz4, lz4hc, zlib or zstd", shown, whole);
            c->cname = (zpk_blosc_cname_t)k;
        }
        if (p != NULL) {
            s_field(&p, end, &f, &n);
            if (!s_level(f, n, &c->level))
                return zpk__error(err, ZPK_ECODEC, 0,
                                  "codec '%.*s': blosc level must be 0..9", shown, whole);
        }
        if (p != NULL) {
            s_field(&p, end, &f, &n);
            int k = -1;
            for (int i = 0; i < 3; i++)
                if (s_eq(f, n, s_shuffles[i]))
                    k = i;
            if (k < 0)
                return zpk__error(err, ZPK_ECODEC, 0,
                                  "codec '%.*s': shuffle must be noshuffle, shuffle "
                                  "or bitshuffle", shown, whole);
            c->shuffle = (zpk_shuffle_t)k;
        }
        if (p != NULL)
            return zpk__error(err, ZPK_ECODEC, 0, "codec '%.*s': too many fields", shown,
                              whole);
        return 0;
    }
    return zpk__error(err, ZPK_ECODEC, 0,
                      "unknown codec '%.*s' (expected none, zlib[:L], "
                      "blosc[:CNAME[:L[:SHUFFLE]]] or auto[:...])", shown, whole);
}

int zpk_codec_parse(const char *s, size_t len, zpk_codec_t *c, zpk_error_t *err)
{
    zpk_error_clear(err);
    if (s == NULL || c == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL codec string or output");
    int shown = len > 40 ? 40 : (int)len;
    const char *end = s + len;
    zpk_codec_t tmp;
    int rc;
    if (len >= 4 && memcmp(s, "auto", 4) == 0 && (len == 4 || s[4] == ':')) {
        zpk_codec_default(&tmp, ZPK_CODEC_AUTO);
        if (len > 4) {
            zpk_codec_t inner = tmp;
            rc = s_parse_family(s + 5, end, &inner, err, shown, s);
            if (rc != 0)
                return rc;
            if (inner.id == ZPK_CODEC_NONE)
                return zpk__error(err, ZPK_ECODEC, 0, "codec '%.*s': auto needs zlib or "
                                  "blosc", shown, s);
            tmp.auto_codec = inner.id;
            tmp.level = inner.level;
            tmp.cname = inner.cname;
            tmp.shuffle = inner.shuffle;
        }
    } else {
        zpk_codec_default(&tmp, ZPK_CODEC_NONE);
        rc = s_parse_family(s, end, &tmp, err, shown, s);
        if (rc != 0)
            return rc;
    }
    *c = tmp;
    return 0;
}

static bool s_settings_ok(const zpk_codec_t *c)
{
    zpk_codec_id_t fam = c->id == ZPK_CODEC_AUTO ? c->auto_codec : c->id;
    if (c->id == ZPK_CODEC_AUTO && fam != ZPK_CODEC_ZLIB && fam != ZPK_CODEC_BLOSC)
        return false;
    switch (fam) {
    case ZPK_CODEC_NONE:
        return true;
    case ZPK_CODEC_ZLIB:
        return c->level >= 0 && c->level <= 9;
    case ZPK_CODEC_BLOSC:
        return c->level >= 0 && c->level <= 9 && (unsigned)c->cname <= ZPK_BLOSC_ZSTD &&
               (unsigned)c->shuffle <= ZPK_SHUFFLE_BIT;
    default:
        return false;
    }
}

int zpk_codec_format(const zpk_codec_t *c, char *buf, size_t size)
{
    if (c == NULL || buf == NULL || !s_settings_ok(c))
        return ZPK_EINVAL;
    char tmp[ZPK_CODEC_STR_SIZE];
    const char *prefix = c->id == ZPK_CODEC_AUTO ? "auto:" : "";
    zpk_codec_id_t fam = c->id == ZPK_CODEC_AUTO ? c->auto_codec : c->id;
    int n;
    if (fam == ZPK_CODEC_NONE)
        n = snprintf(tmp, sizeof tmp, "%s", ZPK__CODEC_STR_NONE);
    else if (fam == ZPK_CODEC_ZLIB)
        n = snprintf(tmp, sizeof tmp, "%szlib:%d", prefix, c->level);
    else
        n = snprintf(tmp, sizeof tmp, "%sblosc:%s:%d:%s", prefix, s_cnames[c->cname],
                     c->level, s_shuffles[c->shuffle]);
    if (n < 0 || (size_t)n + 1 > size)
        return ZPK_EBUFFULL;
    memcpy(buf, tmp, (size_t)n + 1);
    return n;
}

/* ---- per-chunk dispatch ----------------------------------------------------------- */

size_t zpk_codec_bound(const zpk_codec_t *c, size_t raw_size)
{
    if (c == NULL)
        return 0;
    zpk_codec_id_t fam = c->id == ZPK_CODEC_AUTO ? c->auto_codec : c->id;
    switch (fam) {
    case ZPK_CODEC_NONE:
        return raw_size;
    case ZPK_CODEC_ZLIB:
        return zpk__zlib_bound(raw_size);
    case ZPK_CODEC_BLOSC:
#if ZPK_HAVE_BLOSC
        return raw_size > ZPK_BLOSC_MAX_CHUNK ? 0 : zpk__blosc_bound(raw_size);
#else
        return 0;
#endif
    default:
        return 0;
    }
}

int zpk_codec_compress(const zpk_codec_t *c, size_t typesize, const void *src, size_t n,
                       void *dst, size_t cap, size_t *out_n)
{
    if (c == NULL || out_n == NULL || (n && (src == NULL || dst == NULL)) || !s_settings_ok(c))
        return ZPK_EINVAL;
    zpk_codec_id_t fam = c->id == ZPK_CODEC_AUTO ? c->auto_codec : c->id;
    switch (fam) {
    case ZPK_CODEC_NONE:
        if (cap < n)
            return ZPK_EBUFFULL;
        if (n)
            memcpy(dst, src, n);
        *out_n = n;
        return 0;
    case ZPK_CODEC_ZLIB:
        if (dst == NULL)
            return ZPK_EINVAL;
        return zpk__zlib_compress(c->level, src, n, dst, cap, out_n);
    case ZPK_CODEC_BLOSC:
#if ZPK_HAVE_BLOSC
        if (dst == NULL)
            return ZPK_EINVAL;
        if (n > ZPK_BLOSC_MAX_CHUNK)
            return ZPK_ELIMIT;
        return zpk__blosc_compress(c->level, (int)c->cname, (int)c->shuffle, typesize,
                                   c->nthreads < 1 ? 1 : c->nthreads, src, n, dst, cap,
                                   out_n);
#else
        (void)typesize;
        return ZPK_ENOTSUP;
#endif
    default:
        return ZPK_EINVAL;
    }
}

int zpk_codec_decompress(zpk_codec_id_t id, const void *src, size_t n, void *dst,
                         size_t raw_size, int nthreads)
{
    switch (id) {
    case ZPK_CODEC_NONE:
        if (n != raw_size)
            return ZPK_EDECOMPRESS;
        if (n && (src == NULL || dst == NULL))
            return ZPK_EINVAL;
        if (n)
            memcpy(dst, src, n);
        return 0;
    case ZPK_CODEC_ZLIB:
        return zpk__zlib_decompress(src, n, dst, raw_size);
    case ZPK_CODEC_BLOSC:
#if ZPK_HAVE_BLOSC
        return zpk__blosc_decompress(src, n, dst, raw_size, nthreads < 1 ? 1 : nthreads);
#else
        (void)nthreads;
        return ZPK_ENOTSUP;
#endif
    default:
        return ZPK_EINVAL;
    }
}

/* ---- encode ---------------------------------------------------------------------- */

/* A contiguous copy of a strided array, shared by the raw chunks that borrow
 * from it; freed when the last reference goes (from any thread). */
typedef struct s_shared {
    atomic_size_t refs;
    void *buf;
} s_shared_t;

static void s_shared_release(void *data, void *hint)
{
    (void)data;
    s_shared_t *sh = hint;
    if (atomic_fetch_sub(&sh->refs, 1) == 1) {
        zpk__free(sh->buf);
        zpk__free(sh);
    }
}

void zpk_ndarray_enc_free(zpk_ndarray_enc_t *enc)
{
    if (enc == NULL)
        return;
    for (size_t i = 0; i < enc->nchunks; i++)
        if (enc->chunks[i].free_fn != NULL)
            enc->chunks[i].free_fn(enc->chunks[i].data, enc->chunks[i].hint);
    zpk__free(enc->chunks);
    zpk__free(enc->header);
    zpk_ndarray_info_free(&enc->info);
    memset(enc, 0, sizeof *enc);
}

/* Smallest sample worth taking: 4 pieces of 1 KiB. */
#define S_MIN_SAMPLE ((size_t)4096)

/* Compressed size of a sample of @p src spread over @p n bytes, or 0 when
 * sampling is not possible; *@p sampled gets the raw bytes sampled. */
static int s_sample_ratio(const zpk_codec_t *c, size_t item, const uint8_t *src, size_t n,
                          size_t sample, double *ratio)
{
    const size_t pieces = 4;
    size_t piece = sample / pieces;
    piece -= piece % item;
    if (piece == 0)
        return ZPK_EINVAL;
    size_t cap = zpk_codec_bound(c, piece);
    if (cap == 0)
        return ZPK_EINVAL;
    uint8_t *tmp = zpk__malloc(cap);
    if (tmp == NULL)
        return ZPK_ENOMEM;
    size_t in = 0, out = 0;
    size_t step = (n - piece) / (pieces - 1);
    step -= step % item;
    int rc = 0;
    for (size_t i = 0; i < pieces && rc == 0; i++) {
        size_t got = 0;
        rc = zpk_codec_compress(c, item, src + i * step, piece, tmp, cap, &got);
        in += piece;
        out += got;
    }
    zpk__free(tmp);
    if (rc == 0)
        *ratio = out ? (double)in / (double)out : 1e9;
    return rc;
}

int zpk_ndarray_encode(const zpk_ndarray_t *a, const zpk_codec_t *codec, bool want_header,
                     zpk_ndarray_enc_t *enc, zpk_error_t *err)
{
    zpk_error_clear(err);
    if (enc == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL output");
    memset(enc, 0, sizeof *enc);
    if (a == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL array");
    zpk_codec_t c;
    if (codec == NULL)
        zpk_codec_default(&c, ZPK_CODEC_NONE);
    else
        c = *codec;
    if (!s_settings_ok(&c))
        return zpk__error(err, ZPK_EINVAL, 0, "codec settings out of range");
    if (!zpk_codec_available(c.id == ZPK_CODEC_AUTO ? c.auto_codec : c.id))
        return zpk__error(err, ZPK_ENOTSUP, 0, "codec not available in this build");
    if (c.nthreads < 1)
        c.nthreads = 1;
    if (!zpk_dtype_valid(a->dtype))
        return zpk__error(err, ZPK_EDTYPE, 0, "invalid dtype");
    size_t nbytes;
    int rc = zpk_shape_nbytes(a->dtype, a->ndim, a->shape, &nbytes);
    if (rc != 0)
        return zpk__error(err, rc, 0, "bad shape");
    if (nbytes != a->nbytes || (nbytes && a->data == NULL))
        return zpk__error(err, ZPK_EINVAL, 0, "nbytes or data do not match the shape");
    size_t chunk = c.chunk_size ? c.chunk_size : ZPK_DEFAULT_CHUNK_SIZE;
    const size_t item = a->dtype.itemsize;
    if (chunk > item)
        chunk -= chunk % item; /* whole elements per chunk: shuffle works better */

    /* Layout: contiguous arrays travel as they are; others get one copy. */
    char order = ZPK_ORDER_C;
    const uint8_t *src = a->data;
    s_shared_t *shared = NULL;
    if (!zpk_ndarray_is_contiguous(a, &order)) {
        order = ZPK_ORDER_C;
        shared = zpk__malloc(sizeof *shared);
        void *buf = zpk__malloc(nbytes);
        if (shared == NULL || buf == NULL) {
            zpk__free(shared);
            zpk__free(buf);
            return zpk__error(err, ZPK_ENOMEM, 0, "no memory for a contiguous copy");
        }
        atomic_init(&shared->refs, 1);
        shared->buf = buf;
        zpk_ndarray_copy_into(a, buf, nbytes);
        src = buf;
    }

    /* Resolve auto: small or incompressible payloads go raw. */
    zpk_codec_t used = c;
    if (c.id == ZPK_CODEC_AUTO) {
        used.id = c.auto_codec;
        if (nbytes < c.auto_min_size || nbytes == 0) {
            used.id = ZPK_CODEC_NONE;
        } else if (c.auto_sample && nbytes / 64 >= S_MIN_SAMPLE) {
            /* at most 1/64 of the payload: the sample costs a small fraction
             * of one memcpy of it even when it then goes raw */
            size_t sample = c.auto_sample < nbytes / 64 ? c.auto_sample : nbytes / 64;
            double ratio = 0;
            rc = s_sample_ratio(&used, item, src, nbytes, sample, &ratio);
            if (rc == ZPK_ENOMEM)
                goto fail_nomem;
            if (rc != 0 || ratio < c.auto_min_ratio)
                used.id = ZPK_CODEC_NONE;
        }
    }
    double min_ratio = c.id == ZPK_CODEC_AUTO ? c.auto_min_ratio : 1.0;
    if (used.id == ZPK_CODEC_NONE)
        chunk = nbytes ? nbytes : 1;
    if (used.id == ZPK_CODEC_BLOSC && chunk > ZPK_BLOSC_MAX_CHUNK) {
        rc = zpk__error(err, ZPK_ELIMIT, 0, "chunk size %zu over the blosc limit", chunk);
        goto fail;
    }

    size_t nchunks = nbytes / chunk + (nbytes % chunk != 0);
    enc->info.dtype = a->dtype;
    enc->info.ndim = a->ndim;
    memcpy(enc->info.shape, a->shape, sizeof(size_t) * (size_t)a->ndim);
    enc->info.order = order;
    enc->info.nbytes = nbytes;
    enc->info.codec = used;
    enc->info.chunk_size = chunk;
    enc->info.nthreads = c.nthreads;
    if (nchunks) {
        enc->info.chunks = zpk__calloc(nchunks, sizeof *enc->info.chunks);
        enc->chunks = zpk__calloc(nchunks, sizeof *enc->chunks);
        if (enc->info.chunks == NULL || enc->chunks == NULL)
            goto fail_nomem;
    }
    enc->info.nchunks = nchunks;
    enc->nchunks = nchunks;

    for (size_t i = 0; i < nchunks; i++) {
        size_t off = i * chunk;
        size_t raw = nbytes - off < chunk ? nbytes - off : chunk;
        zpk_chunk_info_t *ci = &enc->info.chunks[i];
        zpk_chunk_t *ch = &enc->chunks[i];
        ci->raw = raw;
        bool keep = false;
        if (used.id != ZPK_CODEC_NONE) {
            size_t cap = zpk_codec_bound(&used, raw);
            uint8_t *buf = cap ? zpk__malloc(cap) : NULL;
            if (buf == NULL)
                goto fail_nomem;
            size_t got = 0;
            rc = zpk_codec_compress(&used, item, src + off, raw, buf, cap, &got);
            if (rc != 0) {
                zpk__free(buf);
                rc = zpk__error(err, rc, 0, "compressing chunk %zu failed", i);
                goto fail;
            }
            keep = (double)raw >= min_ratio * (double)got && !(min_ratio <= 1.0 && got >= raw);
            if (keep) {
                if (got < cap / 2) { /* give back what the bound over-reserved */
                    uint8_t *small = zpk__realloc(buf, got ? got : 1);
                    if (small != NULL)
                        buf = small;
                }
                ch->data = buf;
                ch->size = got;
                ch->free_fn = zpk_free_fn;
                ch->hint = NULL;
                ci->stored = got;
                ci->compressed = true;
            } else {
                zpk__free(buf);
            }
        }
        if (!keep) {
            ch->data = (void *)(uintptr_t)(src + off);
            ch->size = raw;
            ci->stored = raw;
            ci->compressed = false;
            if (shared != NULL) {
                atomic_fetch_add(&shared->refs, 1);
                ch->free_fn = s_shared_release;
                ch->hint = shared;
            }
        }
        enc->info.stored_bytes += ci->stored;
    }
    if (shared != NULL)
        s_shared_release(NULL, shared);
    shared = NULL;

    if (want_header) {
        zpk_writer_t w;
        zpk_writer_init_growable(&w, 128 + 10 * nchunks);
        zpk_ndarray_header_write(&w, &enc->info);
        rc = zpk_writer_detach(&w, &enc->header, &enc->header_size);
        zpk_writer_free(&w);
        if (rc != 0) {
            rc = zpk__error(err, rc, 0, "writing the array header failed");
            goto fail;
        }
    }
    return 0;

fail_nomem:
    rc = zpk__error(err, ZPK_ENOMEM, 0, "out of memory");
fail:
    if (shared != NULL)
        s_shared_release(NULL, shared);
    zpk_ndarray_enc_free(enc);
    return rc;
}

/* ---- decode ---------------------------------------------------------------------- */

static int s_check_info(const zpk_ndarray_info_t *info, size_t dst_size, void *dst,
                        zpk_error_t *err)
{
    if (info == NULL || (info->nchunks && info->chunks == NULL))
        return zpk__error(err, ZPK_EINVAL, 0, "NULL array info");
    if (dst_size < info->nbytes)
        return zpk__error(err, ZPK_EBUFFULL, 0, "destination holds %zu bytes, need %zu",
                          dst_size, info->nbytes);
    if (info->nbytes && dst == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL destination");
    return 0;
}

static int s_decode_one(const zpk_ndarray_info_t *info, size_t i, const void *src,
                        uint8_t *dst, zpk_error_t *err)
{
    const zpk_chunk_info_t *ci = &info->chunks[i];
    int rc = ci->compressed
                 ? zpk_codec_decompress(info->codec.id, src, ci->stored, dst, ci->raw,
                                        info->nthreads < 1 ? 1 : info->nthreads)
                 : zpk_codec_decompress(ZPK_CODEC_NONE, src, ci->stored, dst, ci->raw, 1);
    if (rc != 0)
        return zpk__error(err, rc, 0, "chunk %zu (%zu bytes, %zu declared raw): %s", i,
                          ci->stored, ci->raw, zpk_strerror(rc));
    return 0;
}

int zpk_ndarray_decode_into(const zpk_ndarray_info_t *info, const zpk_span_t *chunks, size_t n,
                          void *dst, size_t dst_size, zpk_error_t *err)
{
    zpk_error_clear(err);
    int rc = s_check_info(info, dst_size, dst, err);
    if (rc != 0)
        return rc;
    if (n != info->nchunks || (n && chunks == NULL))
        return zpk__error(err, ZPK_EFRAME, 0, "%zu chunks given, the header declares %zu",
                          n, info->nchunks);
    for (size_t i = 0; i < n; i++)
        if (chunks[i].size != info->chunks[i].stored || (chunks[i].size && !chunks[i].data))
            return zpk__error(err, ZPK_ESHAPE, 0,
                              "chunk %zu has %zu bytes, the header declares %zu", i,
                              chunks[i].size, info->chunks[i].stored);
    uint8_t *out = dst;
    for (size_t i = 0; i < n; i++) {
        rc = s_decode_one(info, i, chunks[i].data, out, err);
        if (rc != 0)
            return rc;
        out += info->chunks[i].raw;
    }
    return 0;
}

int zpk_ndarray_decode_concat(const zpk_ndarray_info_t *info, const void *data, size_t size,
                            void *dst, size_t dst_size, zpk_error_t *err)
{
    zpk_error_clear(err);
    int rc = s_check_info(info, dst_size, dst, err);
    if (rc != 0)
        return rc;
    if (size != info->stored_bytes || (size && data == NULL))
        return zpk__error(err, ZPK_ESHAPE, 0, "payload has %zu bytes, the header declares %zu",
                          size, info->stored_bytes);
    const uint8_t *in = data;
    uint8_t *out = dst;
    for (size_t i = 0; i < info->nchunks; i++) {
        rc = s_decode_one(info, i, in, out, err);
        if (rc != 0)
            return rc;
        in += info->chunks[i].stored;
        out += info->chunks[i].raw;
    }
    return 0;
}

int zpk_ndarray_decode(const zpk_ndarray_info_t *info, const zpk_span_t *chunks, size_t n,
                     zpk_ndarray_t *out, zpk_error_t *err)
{
    zpk_error_clear(err);
    if (out == NULL || info == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL argument");
    memset(out, 0, sizeof *out);
    /* Check every size against the header before allocating anything. */
    if (n != info->nchunks || (n && chunks == NULL))
        return zpk__error(err, ZPK_EFRAME, 0, "%zu chunks given, the header declares %zu",
                          n, info->nchunks);
    for (size_t i = 0; i < n; i++)
        if (chunks[i].size != info->chunks[i].stored)
            return zpk__error(err, ZPK_ESHAPE, 0,
                              "chunk %zu has %zu bytes, the header declares %zu", i,
                              chunks[i].size, info->chunks[i].stored);
    void *buf = zpk__malloc(info->nbytes ? info->nbytes : 1);
    if (buf == NULL)
        return zpk__error(err, ZPK_ENOMEM, 0, "no memory for %zu bytes", info->nbytes);
    int rc = zpk_ndarray_decode_into(info, chunks, n, buf, info->nbytes, err);
    if (rc == 0)
        rc = zpk_ndarray_info_to_ndarray(info, buf, out);
    if (rc != 0) {
        zpk__free(buf);
        memset(out, 0, sizeof *out);
        return rc;
    }
    out->free_fn = zpk_free_fn;
    return 0;
}
