/*
 * Fuzz target: blosc chunk decode against a declared size
 * (zpk_codec_decompress(ZPK_CODEC_BLOSC, ...)).
 *
 * Input: [u32 LE declared raw size][blosc frame]; with the top bit of the
 * fourth byte set, the structured mode of fuzz_codec.h instead. The declared size is
 * taken modulo 1 MiB + 1 and the destination is exactly that large. A
 * blosc header that lies (cbytes past the input, nbytes other than
 * declared, bad version or flags) must give ZPK_EDECOMPRESS, never a read
 * past the input or a write past the destination. On success blosc's own
 * header agrees with the declared size and the input size.
 */
#include "fuzz_codec.h"
#include "fuzz_common.h"
#include "zmqpack/codec.h"

#if ZPK_HAVE_BLOSC
#  include <blosc.h>
#endif

#define S_MAX_RAW ((size_t)1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_begin(size, 1, 64 * 1024);
#if !ZPK_HAVE_BLOSC
    /* A build without blosc refuses blosc chunks, whatever they hold. */
    uint8_t out[16];
    FUZZ_CHECK(!zpk_codec_available(ZPK_CODEC_BLOSC));
    FUZZ_CHECK(zpk_codec_decompress(ZPK_CODEC_BLOSC, data, size, out, sizeof out, 1) ==
               ZPK_ENOTSUP);
    fuzz_end();
    return 0;
#else
    fuzz_in_t in = {data, size};
    if (size >= 4 && (data[3] & 0x80)) { /* structured mode: fuzz_codec.h */
        in.p += 4;
        in.n -= 4;
        fuzz_codec_structured(ZPK_CODEC_BLOSC, &in);
        fuzz_end();
        return 0;
    }
    size_t raw = fuzz_u32(&in) % (S_MAX_RAW + 1);
    int nthreads = (raw & 0xff) == 0x5a ? 2 : 1; /* threads are slow to start: rarely */
    uint8_t *src = fuzz_dup(in.p, in.n);
    uint8_t *dst = malloc(raw ? raw : 1);
    FUZZ_CHECK(dst != NULL);
    int rc = zpk_codec_decompress(ZPK_CODEC_BLOSC, src, in.n, dst, raw, nthreads);
    FUZZ_CHECK(rc == 0 || rc == ZPK_EDECOMPRESS);
    if (rc == 0) {
        size_t nbytes = 0, cbytes = 0, bsize = 0;
        FUZZ_CHECK(in.n >= BLOSC_MIN_HEADER_LENGTH);
        blosc_cbuffer_sizes(src, &nbytes, &cbytes, &bsize);
        FUZZ_CHECK(nbytes == raw);
        FUZZ_CHECK(cbytes == in.n);
    }
    free(dst);
    free(src);
    fuzz_end();
    return 0;
#endif
}
