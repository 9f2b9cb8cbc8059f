/*
 * Big-endian loads and stores: the one copy the library uses (MessagePack
 * lengths and numbers, timestamps, the ndarray-reference ext, header fast
 * paths). Never installed.
 *
 * The stores are defined in zmqpack/msgpack.h, because the public header's
 * inline writer encodes integers with them and a public header cannot
 * include a private one; this header takes them from there and adds the
 * loads, so every file includes this one and nothing else spells a shift.
 * Byte-swapping whole arrays of numbers (dtype.c) is another job: it uses
 * the compiler's bswap builtins on native words.
 */
#ifndef ZPK_BYTEORDER_H
#define ZPK_BYTEORDER_H

#include <stdint.h>

#include "zmqpack/msgpack.h" /* zpk__put_be16, zpk__put_be32, zpk__put_be64 */

static inline uint16_t zpk__get_be16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t zpk__get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t zpk__get_be64(const uint8_t *p)
{
    return (uint64_t)zpk__get_be32(p) << 32 | zpk__get_be32(p + 4);
}

#endif
