/*
 * Fuzz target: array header decode, then the payload decoded against it.
 *
 * Input: [array header map][payload: every chunk stored back to back].
 * The header is read with zpk_ndarray_header_read() (max_ndarray_bytes 1 MiB);
 * the rest of the input is the payload. Checks:
 * - a header that reads is consistent: the shape's byte count is nbytes,
 *   the chunk table covers nbytes exactly, raw chunks store their raw
 *   size, the stored sizes add up; it writes back (zpk_ndarray_header_write)
 *   to a header that reads to the same info;
 * - decoding the payload in one buffer (zpk_ndarray_decode_concat) and as
 *   separate chunks (zpk_ndarray_decode, one allocation of exactly nbytes)
 *   agree, and the only errors are the documented ones;
 * - nothing larger than max_ndarray_bytes (plus the input) is allocated.
 */
#include "fuzz_common.h"
#include "zmqpack/codec.h"

#define S_MAX_ARRAY ((size_t)1 << 20)

static void s_check_info(const zpk_ndarray_info_t *info)
{
    size_t nb = 0;
    FUZZ_CHECK(zpk_shape_nbytes(info->dtype, info->ndim, info->shape, &nb) == 0);
    FUZZ_CHECK(nb == info->nbytes && nb <= S_MAX_ARRAY);
    FUZZ_CHECK(info->order == ZPK_ORDER_C || info->order == ZPK_ORDER_F);
    FUZZ_CHECK(info->codec.id != ZPK_CODEC_AUTO);
    size_t raw = 0, stored = 0;
    for (size_t i = 0; i < info->nchunks; i++) {
        const zpk_chunk_info_t *c = &info->chunks[i];
        FUZZ_CHECK(c->raw > 0);
        if (!c->compressed)
            FUZZ_CHECK(c->stored == c->raw);
        else
            FUZZ_CHECK(c->stored > 0);
        raw += c->raw;
        stored += c->stored;
    }
    FUZZ_CHECK(raw == info->nbytes);
    FUZZ_CHECK(stored == info->stored_bytes);
}

static bool s_same_info(const zpk_ndarray_info_t *a, const zpk_ndarray_info_t *b)
{
    if (!zpk_dtype_equal(a->dtype, b->dtype) || a->ndim != b->ndim || a->order != b->order ||
        a->nbytes != b->nbytes || a->codec.id != b->codec.id || a->nchunks != b->nchunks ||
        a->stored_bytes != b->stored_bytes)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return false;
    for (size_t i = 0; i < a->nchunks; i++)
        if (a->chunks[i].stored != b->chunks[i].stored ||
            a->chunks[i].raw != b->chunks[i].raw ||
            a->chunks[i].compressed != b->chunks[i].compressed)
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_begin(size, 64, S_MAX_ARRAY + 64 * 1024);
    zpk_ndarray_opts_t opts;
    zpk_ndarray_opts_default(&opts);
    opts.max_ndarray_bytes = S_MAX_ARRAY;
    zpk_reader_t r;
    zpk_reader_init(&r, data, size, &opts.limits);
    zpk_ndarray_info_t info;
    zpk_error_t err;
    zpk_error_clear(&err);
    int rc = zpk_ndarray_header_read(&r, &opts, &info, &err);
    if (rc != 0) {
        FUZZ_CHECK(rc < 0 && err.code == rc);
        FUZZ_CHECK(info.chunks == NULL && info.nchunks == 0);
        fuzz_end();
        return 0;
    }
    s_check_info(&info);

    /* Written back, it reads to the same thing. */
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_ndarray_header_write(&w, &info);
    FUZZ_CHECK(zpk_writer_finish(&w) == 0);
    zpk_ndarray_info_t info2;
    FUZZ_CHECK(zpk_ndarray_header_decode(zpk_writer_data(&w), zpk_writer_size(&w), &opts,
                                       &info2, NULL) == 0);
    FUZZ_CHECK(s_same_info(&info, &info2));
    zpk_ndarray_info_free(&info2);
    zpk_writer_free(&w);

    /* The payload: the rest of the input. */
    size_t off = zpk_reader_offset(&r);
    const uint8_t *pay = fuzz_dup(data + off, size - off);
    size_t plen = size - off;
    uint8_t *dst = malloc(info.nbytes ? info.nbytes : 1);
    FUZZ_CHECK(dst != NULL);
    int rc1 = zpk_ndarray_decode_concat(&info, pay, plen, dst, info.nbytes, &err);
    FUZZ_CHECK(rc1 == 0 || rc1 == ZPK_EDECOMPRESS || rc1 == ZPK_ESHAPE ||
               rc1 == ZPK_EFRAME || rc1 == ZPK_ENOTSUP);
    if (rc1 == 0)
        FUZZ_CHECK(plen == info.stored_bytes);
    if (plen == info.stored_bytes) {
        /* The same bytes as separate chunks, decoded into a new array. */
        zpk_span_t *spans = calloc(info.nchunks ? info.nchunks : 1, sizeof *spans);
        FUZZ_CHECK(spans != NULL);
        size_t at = 0;
        for (size_t i = 0; i < info.nchunks; i++) {
            spans[i].data = pay + at;
            spans[i].size = info.chunks[i].stored;
            at += info.chunks[i].stored;
        }
        zpk_ndarray_t a;
        int rc2 = zpk_ndarray_decode(&info, spans, info.nchunks, &a, NULL);
        FUZZ_CHECK(rc2 == rc1);
        if (rc2 == 0) {
            FUZZ_CHECK(a.nbytes == info.nbytes && zpk_dtype_equal(a.dtype, info.dtype));
            FUZZ_CHECK(info.nbytes == 0 || memcmp(a.data, dst, info.nbytes) == 0);
            zpk_ndarray_free(&a);
        }
        /* A chunk missing is a frame error. */
        if (info.nchunks > 0)
            FUZZ_CHECK(zpk_ndarray_decode_into(&info, spans, info.nchunks - 1, dst, info.nbytes,
                                             NULL) == ZPK_EFRAME);
        free(spans);
    }
    /* A destination one byte short is refused up front. */
    if (info.nbytes > 0)
        FUZZ_CHECK(zpk_ndarray_decode_concat(&info, pay, plen, dst, info.nbytes - 1, NULL) != 0);
    free(dst);
    free((void *)pay);
    zpk_ndarray_info_free(&info);
    fuzz_end();
    return 0;
}
