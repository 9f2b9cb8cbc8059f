/*
 * The reader's and writer's private interface for the layers built on them
 * (the ndarray header, the message header): what their fast paths need, so
 * that no file but reader.c and writer.c touches the fields msgpack.h calls
 * private. Never installed.
 *
 * A fast path reads a header written by this library's own writer in one
 * pass over the bytes; when anything differs it consumes nothing and the
 * general walk (zpk_read_*) decides, so both give the same result. It must
 * therefore refuse whatever the general walk would refuse: it looks at the
 * limits and stays within the window.
 */
#ifndef ZPK_MSGPACK_INTERNAL_H
#define ZPK_MSGPACK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "zmqpack/msgpack.h"

/*
 * The bytes not read yet: returns where they start and sets *@p avail to
 * their count (0 after an error: the window is empty and the sticky code
 * stays).
 */
const uint8_t *zpk__reader_window(const zpk_reader_t *r, size_t *avail);

/* Consumes @p n bytes of the window (@p n <= *avail), matched by the caller. */
void zpk__reader_advance(zpk_reader_t *r, size_t n);

/* The limits in force. */
const zpk_limits_t *zpk__reader_limits(const zpk_reader_t *r);

/*
 * Reads the header at @p p[0..n) with no limits (the writer's count of
 * zpk_write_raw() bytes): returns its size and fills @p tag, or 0 when the
 * bytes end inside it, or SIZE_MAX for the reserved byte 0xc1.
 */
size_t zpk__tag_at(const uint8_t *p, size_t n, zpk_tag_t *tag);

/*
 * Whether zpk_writer_check_one_object() would return 0 (one whole object,
 * no error), in a few loads and no call: a send tests this first and calls
 * the function, which says what is missing or extra, only when it is false.
 * need is 0 only once something was written (it starts at 1).
 */
static inline bool zpk__writer_one_object(const zpk_writer_t *w)
{
    return (w->error | (int)w->shape | (int)w->nsplit) == 0 && (w->need | w->payload) == 0;
}

/*
 * The bytes in the writer's buffer (*@p size of them), for a layer that
 * sends them: NULL when some were flushed to a sink already (the buffer
 * does not hold the whole object then).
 */
static inline const uint8_t *zpk__writer_bytes(const zpk_writer_t *w, size_t *size)
{
    *size = (size_t)(w->pos - w->buf);
    return w->flushed == 0 ? w->buf : NULL;
}

/*
 * Writes the str @p lit, a string literal of fewer than 32 bytes: how the
 * keys and strings of wire.h are written (one inline fixstr write).
 */
#define ZPK__WRITE_LIT(w, lit)                                                    \
    ((void)sizeof(char[sizeof(lit) <= 32 ? 1 : -1]), /* a fixstr: under 32 bytes */ \
     zpk_write_str((w), (lit), sizeof(lit) - 1))

/*
 * Whether the bytes at *@p pp (up to @p end) are the str @p s of @p n < 32
 * bytes, in its fixstr form; if so moves *@p pp past it. ZPK__MATCH_LIT
 * takes a string literal (the keys of wire.h).
 */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((always_inline)) /* so that memcmp sees the literal's length */
#endif
static inline bool zpk__match_str(const uint8_t **pp, const uint8_t *end, const char *s,
                                  size_t n)
{
    const uint8_t *p = *pp;
    if ((size_t)(end - p) <= n || p[0] != (0xa0 | n) || memcmp(p + 1, s, n) != 0)
        return false;
    *pp = p + 1 + n;
    return true;
}
#define ZPK__MATCH_LIT(pp, end, lit)                                              \
    ((void)sizeof(char[sizeof(lit) <= 32 ? 1 : -1]),                              \
     zpk__match_str((pp), (end), (lit), sizeof(lit) - 1))

/* Whether the @p n bytes at @p s (a str read from the input) are @p lit. */
#define ZPK__STR_IS(s, n, lit) ((n) == sizeof(lit) - 1 && memcmp((s), (lit), sizeof(lit) - 1) == 0)

#endif
