/*
 * blosc backend (built only when libblosc is found). Uses blosc's context
 * API only (blosc_compress_ctx / blosc_decompress_ctx), so it needs no
 * blosc_init() and is safe from any number of threads. Every frame is
 * checked with blosc_cbuffer_validate() and blosc_cbuffer_sizes() against
 * the declared sizes before blosc touches it.
 */
#include <limits.h>
#include <string.h>

#include <blosc.h>

#include "internal.h"

static const char *const s_cnames[] = {
    BLOSC_BLOSCLZ_COMPNAME, BLOSC_LZ4_COMPNAME, BLOSC_LZ4HC_COMPNAME,
    BLOSC_ZLIB_COMPNAME, BLOSC_ZSTD_COMPNAME,
};

size_t zpk__blosc_bound(size_t n)
{
    if (n > (size_t)BLOSC_MAX_BUFFERSIZE)
        return 0;
    return n + BLOSC_MAX_OVERHEAD;
}

int zpk__blosc_compress(int level, int cname, int shuffle, size_t typesize, int nthreads,
                        const void *src, size_t n, void *dst, size_t cap, size_t *out_n)
{
    if (level < 0 || level > 9 || cname < 0 || cname > 4 || shuffle < 0 || shuffle > 2 ||
        nthreads < 1 || (n && src == NULL) || dst == NULL || out_n == NULL)
        return ZPK_EINVAL;
    if (n > (size_t)BLOSC_MAX_BUFFERSIZE)
        return ZPK_ELIMIT;
    if (typesize < 1 || typesize > 255)
        typesize = 1; /* blosc would silently turn shuffle off anyway */
    if (cap > (size_t)INT_MAX)
        cap = (size_t)INT_MAX;
    int r = blosc_compress_ctx(level, shuffle, typesize, n, src, dst, cap, s_cnames[cname],
                               0, nthreads);
    if (r == 0)
        return ZPK_EBUFFULL;
    if (r < 0)
        return ZPK_EINVAL;
    *out_n = (size_t)r;
    return 0;
}

int zpk__blosc_decompress(const void *src, size_t n, void *dst, size_t raw, int nthreads)
{
    if ((n && src == NULL) || (raw && dst == NULL) || nthreads < 1)
        return ZPK_EINVAL;
    if (n < BLOSC_MIN_HEADER_LENGTH || raw > (size_t)BLOSC_MAX_BUFFERSIZE)
        return ZPK_EDECOMPRESS;
    size_t declared = 0, cbytes = 0, blocksize = 0;
    if (blosc_cbuffer_validate(src, n, &declared) != 0)
        return ZPK_EDECOMPRESS;
    blosc_cbuffer_sizes(src, &declared, &cbytes, &blocksize);
    if (declared != raw || cbytes != n)
        return ZPK_EDECOMPRESS;
    if (raw == 0)
        return 0;
    int r = blosc_decompress_ctx(src, dst, raw, nthreads);
    if (r < 0 || (size_t)r != raw)
        return ZPK_EDECOMPRESS;
    return 0;
}
