/*
 * zlib backend: zlib-format streams (RFC 1950), one per chunk, as Python's
 * zlib.compress() writes them. zlib's own state is allocated through the
 * allocator hooks. Decoding writes exactly the declared size and refuses
 * any stream that would produce more (a bomb) or less.
 */
#include <limits.h>
#include <string.h>

#include <zlib.h>

#include "internal.h"

static voidpf s_zalloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return zpk__calloc(items, size);
}

static void s_zfree(voidpf opaque, voidpf addr)
{
    (void)opaque;
    zpk__free(addr);
}

/* Largest piece handed to zlib at once (avail_in/avail_out are uInt). */
#define S_PIECE ((size_t)UINT_MAX)

size_t zpk__zlib_bound(size_t n)
{
    /* compressBound() for one stream, plus the per-piece block overhead
     * when the input is fed in several pieces. */
    if (n > (size_t)ULONG_MAX - 1024)
        return 0;
    size_t b = (size_t)compressBound((uLong)n);
    size_t extra = (n / S_PIECE + 1) * 16;
    if (b < n || !zpk__add_size(b, extra, &b))
        return 0;
    return b;
}

int zpk__zlib_compress(int level, const void *src, size_t n, void *dst, size_t cap,
                       size_t *out_n)
{
    if (level < 0 || level > 9 || (n && src == NULL) || dst == NULL || out_n == NULL)
        return ZPK_EINVAL;
    z_stream s;
    memset(&s, 0, sizeof s);
    s.zalloc = s_zalloc;
    s.zfree = s_zfree;
    int zrc = deflateInit(&s, level);
    if (zrc == Z_MEM_ERROR)
        return ZPK_ENOMEM;
    if (zrc != Z_OK)
        return ZPK_EINVAL;
    const uint8_t *in = src;
    uint8_t *out = dst;
    size_t in_left = n, out_left = cap;
    int rc = 0;
    for (;;) {
        if (s.avail_in == 0 && in_left) {
            size_t k = in_left < S_PIECE ? in_left : S_PIECE;
            s.next_in = (Bytef *)(uintptr_t)in;
            s.avail_in = (uInt)k;
            in += k;
            in_left -= k;
        }
        if (s.avail_out == 0) {
            if (out_left == 0) {
                rc = ZPK_EBUFFULL;
                break;
            }
            size_t k = out_left < S_PIECE ? out_left : S_PIECE;
            s.next_out = out;
            s.avail_out = (uInt)k;
            out += k;
            out_left -= k;
        }
        zrc = deflate(&s, in_left ? Z_NO_FLUSH : Z_FINISH);
        if (zrc == Z_STREAM_END)
            break;
        if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
            rc = ZPK_EINVAL;
            break;
        }
    }
    if (rc == 0)
        *out_n = (size_t)(cap - out_left - s.avail_out);
    deflateEnd(&s);
    return rc;
}

int zpk__zlib_decompress(const void *src, size_t n, void *dst, size_t raw)
{
    if ((n && src == NULL) || (raw && dst == NULL))
        return ZPK_EINVAL;
    z_stream s;
    memset(&s, 0, sizeof s);
    s.zalloc = s_zalloc;
    s.zfree = s_zfree;
    int zrc = inflateInit(&s);
    if (zrc == Z_MEM_ERROR)
        return ZPK_ENOMEM;
    if (zrc != Z_OK)
        return ZPK_EDECOMPRESS;
    const uint8_t *in = src;
    uint8_t *out = dst;
    size_t in_left = n, out_left = raw;
    uint8_t scratch; /* catches a stream that goes on past the declared size */
    bool past_end = false;
    int rc = 0;
    for (;;) {
        if (s.avail_in == 0 && in_left) {
            size_t k = in_left < S_PIECE ? in_left : S_PIECE;
            s.next_in = (Bytef *)(uintptr_t)in;
            s.avail_in = (uInt)k;
            in += k;
            in_left -= k;
        }
        if (s.avail_out == 0) {
            if (out_left) {
                size_t k = out_left < S_PIECE ? out_left : S_PIECE;
                s.next_out = out;
                s.avail_out = (uInt)k;
                out += k;
                out_left -= k;
            } else {
                if (past_end) { /* scratch byte was written: too long */
                    rc = ZPK_EDECOMPRESS;
                    break;
                }
                past_end = true;
                s.next_out = &scratch;
                s.avail_out = 1;
            }
        }
        zrc = inflate(&s, Z_NO_FLUSH);
        if (zrc == Z_STREAM_END) {
            if (past_end && s.avail_out == 0) /* produced a byte too many */
                rc = ZPK_EDECOMPRESS;
            else if (out_left != 0 || (!past_end && s.avail_out != 0))
                rc = ZPK_EDECOMPRESS; /* shorter than declared */
            else if (s.avail_in != 0 || in_left != 0)
                rc = ZPK_EDECOMPRESS; /* trailing bytes after the stream */
            break;
        }
        if (zrc == Z_MEM_ERROR) {
            rc = ZPK_ENOMEM;
            break;
        }
        if (zrc == Z_BUF_ERROR) {
            /* No progress possible: out of input (truncated) or output. */
            if (s.avail_in == 0 && in_left == 0) {
                rc = ZPK_EDECOMPRESS;
                break;
            }
            continue;
        }
        if (zrc != Z_OK) { /* Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR */
            rc = ZPK_EDECOMPRESS;
            break;
        }
        if (past_end && s.avail_out == 0) {
            rc = ZPK_EDECOMPRESS; /* inflated past the declared size */
            break;
        }
    }
    inflateEnd(&s);
    return rc;
}
