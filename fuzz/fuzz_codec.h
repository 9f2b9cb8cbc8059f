/*
 * The "structured" half of the zlib and blosc targets. Raw fuzzer bytes
 * are almost never a valid stream, and zlib and blosc themselves are not
 * instrumented, so the fuzzer cannot steer into them; instead this mode
 * compresses the fuzzer's payload with zmqpack's own encoder, then lets the
 * fuzzer lie: patch bytes anywhere in the stream (blosc's header fields
 * nbytes, blocksize, cbytes, flags, the block starts) and declare a raw
 * size off by a fuzzer-chosen amount.
 *
 * Input after the 4 mode bytes: [level][cname][shuffle][typesize]
 * [k][k x (u16 LE offset, u8 value)][int8 size delta][payload...].
 * Checks: unpatched and truthful, it decodes to the payload exactly;
 * unpatched with a wrong size it fails; patched, it fails with
 * ZPK_EDECOMPRESS or decodes to exactly the declared size, never writing
 * past the destination (an exact-size heap block) or reading past the
 * stream (an exact-size copy).
 */
#ifndef ZPK_FUZZ_CODEC_H
#define ZPK_FUZZ_CODEC_H

#include "fuzz_common.h"
#include "zmqpack/codec.h"

#define FUZZ_CODEC_MAX_PAYLOAD ((size_t)64 * 1024)

static inline void fuzz_codec_structured(zpk_codec_id_t id, fuzz_in_t *in)
{
    zpk_codec_t c;
    zpk_codec_default(&c, id);
    c.level = fuzz_u8(in) % 10;
    c.cname = (zpk_blosc_cname_t)(fuzz_u8(in) % 5);
    c.shuffle = (zpk_shuffle_t)(fuzz_u8(in) % 3);
    size_t typesize = 1 + fuzz_u8(in) % 16;
    size_t k = fuzz_u8(in) % 8;
    uint16_t off[8];
    uint8_t val[8];
    for (size_t i = 0; i < k; i++) {
        off[i] = fuzz_u16(in);
        val[i] = fuzz_u8(in);
    }
    int delta = (int8_t)fuzz_u8(in);
    const uint8_t *payload;
    size_t n = fuzz_take(in, FUZZ_CODEC_MAX_PAYLOAD, &payload);

    size_t cap = zpk_codec_bound(&c, n);
    FUZZ_CHECK(cap >= n);
    uint8_t *comp = malloc(cap ? cap : 1);
    FUZZ_CHECK(comp != NULL);
    size_t clen = 0;
    FUZZ_CHECK(zpk_codec_compress(&c, typesize, payload, n, comp, cap, &clen) == 0);
    FUZZ_CHECK(clen <= cap);
    bool patched = false;
    for (size_t i = 0; i < k && clen > 0; i++) {
        size_t at = off[i] % clen;
        patched |= comp[at] != val[i];
        comp[at] = val[i];
    }
    uint8_t *src = fuzz_dup(comp, clen);
    free(comp);
    size_t raw = (delta < 0 && (size_t)-delta > n) ? 0 : (size_t)((long long)n + delta);
    uint8_t *dst = malloc(raw ? raw : 1);
    FUZZ_CHECK(dst != NULL);
    int rc = zpk_codec_decompress(id, src, clen, dst, raw, 1);
    FUZZ_CHECK(rc == 0 || rc == ZPK_EDECOMPRESS);
    if (!patched && raw == n) {
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(n == 0 || memcmp(dst, payload, n) == 0);
    } else if (!patched) {
        FUZZ_CHECK(rc == ZPK_EDECOMPRESS); /* the size lies */
    }
    free(dst);
    free(src);
}

#endif
