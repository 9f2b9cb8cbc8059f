/*
 * Arrays as chunk lists: encode (chunking, the `auto` rule, a shared
 * contiguous copy of a strided array) and decode (straight into the
 * destination, after every size has been checked against the header).
 * Built on the codec dispatch (codec.c) and the ndarray header
 * (ndarray_header.c); neither calls back here.
 */
#include "zmqpack/codec.h"

#include <stdatomic.h>
#include <string.h>

#include "internal.h"

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

/*
 * The codec `auto` stands for, for @p nbytes at @p src: small or
 * incompressible payloads (judged on a sample) go raw. Any other codec is
 * used as it is. Returns 0 or ZPK_ENOMEM.
 */
static int s_resolve_auto(const zpk_codec_t *c, size_t item, const uint8_t *src, size_t nbytes,
                          zpk_codec_t *used)
{
    *used = *c;
    if (c->id != ZPK_CODEC_AUTO)
        return 0;
    used->id = c->auto_codec;
    if (nbytes < c->auto_min_size || nbytes == 0) {
        used->id = ZPK_CODEC_NONE;
    } else if (c->auto_sample && nbytes / 64 >= S_MIN_SAMPLE) {
        /* at most 1/64 of the payload: the sample costs a small fraction
         * of one memcpy of it even when it then goes raw */
        size_t sample = c->auto_sample < nbytes / 64 ? c->auto_sample : nbytes / 64;
        double ratio = 0;
        int rc = s_sample_ratio(used, item, src, nbytes, sample, &ratio);
        if (rc == ZPK_ENOMEM)
            return rc;
        if (rc != 0 || ratio < c->auto_min_ratio)
            used->id = ZPK_CODEC_NONE;
    }
    return 0;
}

/*
 * Chunk @p raw bytes at @p src + @p off: compressed into a buffer of its own
 * when @p used compresses and the result is worth it (at least
 * @p min_ratio), else borrowed from @p src (a reference to @p shared when
 * src is the shared contiguous copy). Returns 0, ZPK_ENOMEM or the codec's
 * error.
 */
static int s_encode_chunk(const zpk_codec_t *used, size_t item, double min_ratio,
                          const uint8_t *src, size_t off, size_t raw, s_shared_t *shared,
                          zpk_chunk_info_t *ci, zpk_chunk_t *ch)
{
    ci->raw = raw;
    if (used->id != ZPK_CODEC_NONE) {
        size_t cap = zpk_codec_bound(used, raw);
        uint8_t *buf = cap ? zpk__malloc(cap) : NULL;
        if (buf == NULL)
            return ZPK_ENOMEM;
        size_t got = 0;
        int rc = zpk_codec_compress(used, item, src + off, raw, buf, cap, &got);
        if (rc != 0) {
            zpk__free(buf);
            return rc;
        }
        if ((double)raw >= min_ratio * (double)got && !(min_ratio <= 1.0 && got >= raw)) {
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
            return 0;
        }
        zpk__free(buf);
    }
    ch->data = (void *)(uintptr_t)(src + off);
    ch->size = raw;
    ci->stored = raw;
    ci->compressed = false;
    if (shared != NULL) {
        atomic_fetch_add(&shared->refs, 1);
        ch->free_fn = s_shared_release;
        ch->hint = shared;
    }
    return 0;
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
    if (!zpk__codec_settings_ok(&c))
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

    zpk_codec_t used;
    rc = s_resolve_auto(&c, item, src, nbytes, &used);
    if (rc != 0)
        goto fail_nomem;
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
        rc = s_encode_chunk(&used, item, min_ratio, src, i * chunk,
                            nbytes - i * chunk < chunk ? nbytes - i * chunk : chunk, shared,
                            &enc->info.chunks[i], &enc->chunks[i]);
        if (rc == ZPK_ENOMEM)
            goto fail_nomem;
        if (rc != 0) {
            rc = zpk__error(err, rc, 0, "compressing chunk %zu failed", i);
            goto fail;
        }
        enc->info.stored_bytes += enc->info.chunks[i].stored;
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
    if (size && data == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL payload of %zu bytes", size);
    if (size != info->stored_bytes)
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
