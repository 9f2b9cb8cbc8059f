/*
 * Fuzz target: zlib chunk decode against a declared size
 * (zpk_codec_decompress(ZPK_CODEC_ZLIB, ...)).
 *
 * Input: [u32 LE declared raw size][zlib stream]; with the top bit of the
 * fourth byte set, the structured mode of fuzz_codec.h instead. The declared size is
 * taken modulo 1 MiB + 1 and the destination is exactly that large (a heap
 * block of its own, so a write one byte past it is caught). Checks: the
 * only failure is ZPK_EDECOMPRESS; on success zlib's own uncompress() of
 * the whole stream gives exactly the declared size and the same bytes
 * (a stream that inflates past its size, stops short, or has trailing
 * bytes must have been refused); nothing allocated through the hooks.
 */
#include <zlib.h>

#include "fuzz_codec.h"
#include "fuzz_common.h"
#include "zmqpack/codec.h"

#define S_MAX_RAW ((size_t)1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_begin(size, 1, 64 * 1024);
    fuzz_in_t in = {data, size};
    if (size >= 4 && (data[3] & 0x80)) { /* structured mode: fuzz_codec.h */
        in.p += 4;
        in.n -= 4;
        fuzz_codec_structured(ZPK_CODEC_ZLIB, &in);
        fuzz_end();
        return 0;
    }
    size_t raw = fuzz_u32(&in) % (S_MAX_RAW + 1);
    uint8_t *src = fuzz_dup(in.p, in.n);
    uint8_t *dst = malloc(raw ? raw : 1);
    FUZZ_CHECK(dst != NULL);
    int rc = zpk_codec_decompress(ZPK_CODEC_ZLIB, src, in.n, dst, raw, 1);
    FUZZ_CHECK(rc == 0 || rc == ZPK_EDECOMPRESS);
    if (rc == 0) {
        /* zlib itself agrees: exactly raw bytes, the whole stream used. */
        uLongf got = (uLongf)raw + 1;
        uint8_t *ref = malloc(raw + 1);
        FUZZ_CHECK(ref != NULL);
        uLong srclen = (uLong)in.n;
        int zr = uncompress2(ref, &got, src, &srclen);
        FUZZ_CHECK(zr == Z_OK);
        FUZZ_CHECK(got == raw && srclen == in.n);
        FUZZ_CHECK(raw == 0 || memcmp(ref, dst, raw) == 0);
        free(ref);
    }
    /* A destination one byte short never succeeds for a non-empty stream. */
    if (rc == 0 && raw > 0) {
        uint8_t *small = malloc(raw - 1 ? raw - 1 : 1);
        FUZZ_CHECK(small != NULL);
        FUZZ_CHECK(zpk_codec_decompress(ZPK_CODEC_ZLIB, src, in.n, small, raw - 1, 1) ==
                   ZPK_EDECOMPRESS);
        free(small);
    }
    free(dst);
    free(src);
    fuzz_end();
    return 0;
}
