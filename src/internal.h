/*
 * Private declarations shared by the library's sources. Never installed.
 * Non-static internals are named zpk__x; file statics s_x.
 */
#ifndef ZPK_INTERNAL_H
#define ZPK_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "zmqpack/common.h"
#include "zmqpack/ndarray.h"

/* ZPK_ALWAYS_INLINE: one body made once for each caller, with the caller's
 * constants (zstd's FORCE_INLINE); ZPK_NOINLINE: a rare route kept out of
 * the hot body around it. */
#if defined(__GNUC__) || defined(__clang__)
#  define ZPK_LIKELY(x) __builtin_expect(!!(x), 1)
#  define ZPK_UNLIKELY(x) __builtin_expect(!!(x), 0)
#  define ZPK_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#  define ZPK_ALWAYS_INLINE inline __attribute__((always_inline))
#  define ZPK_NOINLINE __attribute__((noinline))
#else
#  define ZPK_LIKELY(x) (x)
#  define ZPK_UNLIKELY(x) (x)
#  define ZPK_PRINTF(fmt, args)
#  define ZPK_ALWAYS_INLINE inline
#  define ZPK_NOINLINE
#endif

/* Allocation through the hooks (common.c). */
void *zpk__malloc(size_t size);
void *zpk__calloc(size_t n, size_t size); /* overflow-checked, zeroed */
void *zpk__realloc(void *ptr, size_t size);
void zpk__free(void *ptr);

/*
 * Records an error in @p err (which may be NULL) unless one is already
 * recorded there; returns @p code so callers can write
 * `return zpk__error(err, ZPK_EFORMAT, off, "reserved byte 0x%02x", b);`.
 */
int zpk__error(zpk_error_t *err, int code, size_t offset, const char *fmt, ...)
    ZPK_PRINTF(4, 5);

/*
 * Strict UTF-8 (doc.c): no overlong forms, no surrogates, nothing above
 * U+10FFFF. The one validator: the parser's ZPK_DOC_CHECK_UTF8 and the JSON
 * bridge's choice between a JSON string and $str both use it.
 */
bool zpk__utf8_valid(const uint8_t *s, size_t n);

/* zpk_error_clear(), inline: what every call that takes a zpk_error_t does
 * when it starts (one call, one error). */
static inline void zpk__error_reset(zpk_error_t *err)
{
    if (err != NULL) {
        err->code = 0;
        err->offset = 0;
        err->frame = -1;
        err->text[0] = '\0';
    }
}

/* Overflow-checked size arithmetic: return false on overflow. */
static inline bool zpk__add_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}
static inline bool zpk__mul_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

/*
 * What numpy's str(A.dtype) prints for @p dt (dtype.c): its name in native
 * order ("uint16"), else its typestr (">u2", written into @p buf). NULL for
 * an invalid dtype.
 */
const char *zpk__dtype_numpy_str(zpk_dtype_t dt, char buf[ZPK_DTYPE_STR_SIZE]);

/* Whether @p c's fields are in range (codec.c). */
struct zpk_codec;
bool zpk__codec_settings_ok(const struct zpk_codec *c);

/* Codec backends (codec_zlib.c, codec_blosc.c), dispatched by codec.c. */
size_t zpk__zlib_bound(size_t n);
int zpk__zlib_compress(int level, const void *src, size_t n, void *dst, size_t cap,
                       size_t *out_n);
int zpk__zlib_decompress(const void *src, size_t n, void *dst, size_t raw);
size_t zpk__blosc_bound(size_t n);
int zpk__blosc_compress(int level, int cname, int shuffle, size_t typesize, int nthreads,
                        const void *src, size_t n, void *dst, size_t cap, size_t *out_n);
int zpk__blosc_decompress(const void *src, size_t n, void *dst, size_t raw, int nthreads);

#endif
