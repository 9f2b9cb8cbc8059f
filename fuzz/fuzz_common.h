/*
 * Helpers shared by the fuzz targets (header-only; every target is one file
 * plus this header, built either with libFuzzer or with fuzz/replay.c).
 *
 * - A checking allocator installed through zpk_set_allocator(): it aborts
 *   when one allocation is larger than the budget the target set for this
 *   input (the "nothing is allocated because the input claims a size"
 *   rule), and fuzz_end() aborts when an input leaked a zmqpack block.
 * - FUZZ_CHECK(cond): an invariant of the target; aborts with a message so
 *   that libFuzzer saves the input and the replay test fails.
 * - A small input consumer for targets that take control bytes (chunk
 *   boundaries, frame splits, declared sizes) before their payload.
 */
#ifndef ZPK_FUZZ_COMMON_H
#define ZPK_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zmqpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                           \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__,        \
                    __LINE__, #cond);                                              \
            abort();                                                               \
        }                                                                          \
    } while (0)

/* ---- checking allocator ------------------------------------------------------ */

typedef union fuzz_hdr {
    size_t size;
    max_align_t align;
} fuzz_hdr_t;

static size_t s_fz_live_blocks;
static size_t s_fz_live_bytes;
static size_t s_fz_budget = SIZE_MAX;
static size_t s_fz_input_size;

static inline void s_fz_over_budget(size_t size)
{
    fprintf(stderr,
            "fuzz: one allocation of %zu bytes for an input of %zu bytes "
            "(budget %zu): the decoder trusted a declared size\n",
            size, s_fz_input_size, s_fz_budget);
    abort();
}

static inline void *s_fz_malloc(size_t size, void *ud)
{
    (void)ud;
    if (size > s_fz_budget)
        s_fz_over_budget(size);
    if (size > SIZE_MAX - sizeof(fuzz_hdr_t))
        return NULL;
    fuzz_hdr_t *h = malloc(sizeof *h + size);
    if (h == NULL)
        return NULL;
    h->size = size;
    s_fz_live_blocks++;
    s_fz_live_bytes += size;
    return h + 1;
}

static inline void s_fz_free(void *ptr, void *ud)
{
    (void)ud;
    if (ptr == NULL)
        return;
    fuzz_hdr_t *h = (fuzz_hdr_t *)ptr - 1;
    s_fz_live_blocks--;
    s_fz_live_bytes -= h->size;
    free(h);
}

static inline void *s_fz_realloc(void *ptr, size_t size, void *ud)
{
    if (ptr == NULL)
        return s_fz_malloc(size, ud);
    if (size > s_fz_budget)
        s_fz_over_budget(size);
    if (size > SIZE_MAX - sizeof(fuzz_hdr_t))
        return NULL;
    fuzz_hdr_t *h = (fuzz_hdr_t *)ptr - 1;
    size_t old = h->size;
    fuzz_hdr_t *nh = realloc(h, sizeof *nh + size);
    if (nh == NULL)
        return NULL;
    nh->size = size;
    s_fz_live_bytes = s_fz_live_bytes - old + size;
    return nh + 1;
}

/*
 * Starts one input: installs the checking allocator (once) and sets the
 * budget for the largest single allocation to
 * max(per_byte * size, floor) bytes.
 */
static inline void fuzz_begin(size_t size, size_t per_byte, size_t floor)
{
    static bool installed;
    if (!installed) {
        zpk_allocator_t a = {s_fz_malloc, s_fz_realloc, s_fz_free, NULL};
        FUZZ_CHECK(zpk_set_allocator(&a) == 0);
        installed = true;
    }
    s_fz_input_size = size;
    size_t b = size > SIZE_MAX / (per_byte ? per_byte : 1) ? SIZE_MAX : size * per_byte;
    s_fz_budget = b > floor ? b : floor;
}

/* Replaces the budget for the rest of this input (e.g. pretty-printing). */
static inline void fuzz_set_budget(size_t bytes)
{
    s_fz_budget = bytes;
}

/* Ends one input: every block zmqpack allocated for it must be freed. */
static inline void fuzz_end(void)
{
    if (s_fz_live_blocks != 0) {
        fprintf(stderr, "fuzz: %zu zmqpack blocks (%zu bytes) leaked by this input\n",
                s_fz_live_blocks, s_fz_live_bytes);
        abort();
    }
    s_fz_budget = SIZE_MAX;
}

/* ---- input consumer ------------------------------------------------------------ */

typedef struct fuzz_in {
    const uint8_t *p;
    size_t n;
} fuzz_in_t;

static inline uint8_t fuzz_u8(fuzz_in_t *in)
{
    if (in->n == 0)
        return 0;
    uint8_t v = in->p[0];
    in->p++;
    in->n--;
    return v;
}

static inline uint16_t fuzz_u16(fuzz_in_t *in)
{
    uint16_t lo = fuzz_u8(in);
    return (uint16_t)(lo | (uint16_t)(fuzz_u8(in) << 8));
}

static inline uint32_t fuzz_u32(fuzz_in_t *in)
{
    uint32_t lo = fuzz_u16(in);
    return lo | ((uint32_t)fuzz_u16(in) << 16);
}

/* Takes up to @p want bytes; returns how many were taken into *out. */
static inline size_t fuzz_take(fuzz_in_t *in, size_t want, const uint8_t **out)
{
    size_t n = want < in->n ? want : in->n;
    *out = in->p;
    in->p += n;
    in->n -= n;
    return n;
}

/*
 * An exact-size heap copy of @p n bytes (so ASan catches a read one past
 * the end of a piece that was carved out of a larger input). Free with free().
 */
static inline uint8_t *fuzz_dup(const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    FUZZ_CHECK(c != NULL);
    if (n)
        memcpy(c, p, n);
    return c;
}

/*
 * Splits the rest of @p in into frames [u16 LE length][bytes]... (a length
 * past the end takes what is left), at most @p max of them, each an
 * exact-size heap copy (fuzz_dup). Returns how many; free them with
 * fuzz_frames_free().
 */
static inline size_t fuzz_frames(fuzz_in_t *in, zpk_span_t *frames, size_t max)
{
    size_t n = 0;
    while (in->n > 0 && n < max) {
        size_t len = fuzz_u16(in);
        const uint8_t *p;
        len = fuzz_take(in, len, &p);
        frames[n].data = fuzz_dup(p, len);
        frames[n].size = len;
        n++;
    }
    return n;
}

static inline void fuzz_frames_free(zpk_span_t *frames, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((void *)frames[i].data);
}

#endif
