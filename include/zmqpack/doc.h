/**
 * @file zmqpack/doc.h
 * @defgroup doc MessagePack: document tree and streaming unpacker
 *
 * A document (zpk_doc_t) is one decoded MessagePack object held as a tree
 * of nodes in one arena: every node, every copied string and the document
 * itself are freed together by zpk_doc_destroy(). Nodes are read through
 * `const zpk_node_t *` and the accessors below; a node pointer stays valid
 * until its document is destroyed.
 *
 * Two ways to get one:
 * - zpk_doc_parse(): one-shot, from a complete buffer;
 * - zpk_unpacker_t: streaming, bytes fed in any chunking (down to one byte
 *   at a time), from a read callback or a file descriptor, or received
 *   straight into its buffer (reserve/commit). Its parse state survives
 *   between feeds, so the total work is linear in the bytes fed.
 *
 * Both parse iteratively (no recursion), check every declared length
 * against a zpk_limits_t before using it, and never allocate because the
 * input claims a size: children are preallocated only when bytes really
 * received can fill them (one byte per element at least: the input at hand
 * for zpk_doc_parse(); for the unpacker, the object's bytes parsed or
 * buffered so far, each backing one slot still open at most), else they are
 * gathered as they arrive.
 *
 * Strings are not checked for valid UTF-8 unless ZPK_DOC_CHECK_UTF8 is
 * given (msgpack-python only fails when it decodes a str to text).
 *
 * A document is read-only once made: any number of threads may read one
 * document at once (zpk_unpack_fmt()'s copies of borrowed strings, the one
 * thing it adds later, are made under a lock).
 * @{
 */
#ifndef ZMQPACK_DOC_H
#define ZMQPACK_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zmqpack/common.h"
#include "zmqpack/msgpack.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One decoded document: a tree of nodes in one arena. */
typedef struct zpk_doc zpk_doc_t;
/** One value in a document. Read it only through the zpk_node_* calls. */
typedef struct zpk_node zpk_node_t;

/**
 * Parse flags (bitwise or).
 *
 * ZPK_DOC_BORROW: str, bin and ext payloads point into the caller's input
 * instead of being copied into the arena. The rule: the input must stay
 * alive and unchanged until the document is destroyed (zpk_doc_set_owner()
 * can make the document own it). Only zpk_doc_parse() accepts it; the
 * unpacker always copies (its buffer moves). Without it, zpk_doc_parse()
 * copies strings in runs of the input (with the bytes between them: at
 * most the object's own size plus 64 KiB in all), each str NUL-terminated
 * in the copy.
 *
 * ZPK_DOC_CHECK_UTF8: every str must be valid UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF), else the parse fails with ZPK_EUTF8.
 */
#define ZPK_DOC_BORROW     0x1u
#define ZPK_DOC_CHECK_UTF8 0x2u

/* ---- documents --------------------------------------------------------- */

/**
 * Parses exactly one MessagePack object from @p data[0..len) into a new
 * document. @p lim may be NULL for the defaults (zpk_limits_default(0)).
 * @p err (optional) receives the code, the byte offset and a short text of
 * the first error.
 *
 * Returns:
 * - 0: *out is the document; the caller owns it and must destroy it.
 * - ZPK_EEXTRADATA: the object ended before @p len. *out is still set to
 *   the complete document, which the caller owns and must destroy (as
 *   msgpack-python's ExtraData(unpacked, extra)); the object's size in bytes
 *   is zpk_doc_consumed(*out), also written to err->offset. The trailing
 *   bytes are not examined.
 * - ZPK_EOUTOFDATA: the input ends inside the object (truncated, or empty).
 * - ZPK_EFORMAT (the reserved byte 0xc1), ZPK_ELIMIT, ZPK_ETOODEEP,
 *   ZPK_EUTF8 (with ZPK_DOC_CHECK_UTF8), ZPK_ENOMEM.
 * - ZPK_EINVAL: @p out is NULL, or @p data is NULL with @p len > 0, or an
 *   unknown flag.
 * On every error but ZPK_EEXTRADATA, *out is set to NULL and nothing is
 * left allocated. Does not take ownership of @p data (see ZPK_DOC_BORROW).
 */
ZPK_API int zpk_doc_parse(const void *data, size_t len, const zpk_limits_t *lim,
                          unsigned flags, zpk_doc_t **out, zpk_error_t *err);

/**
 * Destroys *@p doc (all its nodes and copied strings, in one sweep, no
 * recursion), calls its owner hook if one is set, and sets *@p doc to NULL.
 * NULL and *doc == NULL are no-ops.
 */
ZPK_API void zpk_doc_destroy(zpk_doc_t **doc);

/**
 * Makes @p doc own something: zpk_doc_destroy() will call @p release(@p ud)
 * exactly once, after the nodes are freed. Typical use: a document parsed
 * with ZPK_DOC_BORROW out of a received zmq_msg_t owns that message.
 * Returns 0, or ZPK_EINVAL when @p doc or @p release is NULL or an owner is
 * already set (the first one is kept).
 */
ZPK_API int zpk_doc_set_owner(zpk_doc_t *doc, void (*release)(void *ud), void *ud);

/** The root node; never NULL for a document (NULL when @p doc is NULL). */
ZPK_API const zpk_node_t *zpk_doc_root(const zpk_doc_t *doc);

/** Bytes of input the object took (its encoded size). 0 for NULL. */
ZPK_API size_t zpk_doc_consumed(const zpk_doc_t *doc);

/* ---- nodes ------------------------------------------------------------- */

/** The node's type, or 0 when @p n is NULL. */
ZPK_API zpk_type_t zpk_node_type(const zpk_node_t *n);

/**
 * Length: bytes for str, bin and ext; elements for array; key/value pairs
 * for map; 0 for every other type and for NULL.
 */
ZPK_API size_t zpk_node_len(const zpk_node_t *n);

/** True when @p n is nil (false for NULL). */
ZPK_API bool zpk_node_is_nil(const zpk_node_t *n);

/** Element @p i of an array, or NULL (not an array, or out of range). */
ZPK_API const zpk_node_t *zpk_node_array_at(const zpk_node_t *n, size_t i);

/**
 * The value of the first pair of map @p n whose key is a str equal to the
 * NUL-terminated @p key; NULL when absent or @p n is not a map. Linear in
 * the number of pairs. Keys of other types never match.
 */
ZPK_API const zpk_node_t *zpk_node_map_get(const zpk_node_t *n, const char *key);
/** As zpk_node_map_get() with a key of @p len bytes (may contain NUL). */
ZPK_API const zpk_node_t *zpk_node_map_getn(const zpk_node_t *n, const void *key,
                                            size_t len);
/** Key of pair @p i of map @p n, or NULL (not a map, or out of range). */
ZPK_API const zpk_node_t *zpk_node_map_key(const zpk_node_t *n, size_t i);
/** Value of pair @p i of map @p n, or NULL (not a map, or out of range). */
ZPK_API const zpk_node_t *zpk_node_map_value(const zpk_node_t *n, size_t i);

/*
 * Typed getters. Each returns 0 and writes *out, or ZPK_ETYPE when the node
 * has another type or its value does not fit the output (nothing written),
 * or ZPK_EINVAL when @p n or an output pointer is NULL.
 */

/** Any integer (int or uint) that fits in int64_t. */
ZPK_API int zpk_node_get_int(const zpk_node_t *n, int64_t *out);
/** Any non-negative integer (int or uint). */
ZPK_API int zpk_node_get_uint(const zpk_node_t *n, uint64_t *out);
/** A float, a double, or an integer (converted, possibly rounded). */
ZPK_API int zpk_node_get_double(const zpk_node_t *n, double *out);
/**
 * The exact float 32 of a ZPK_TYPE_FLOAT node, bits unchanged (a signalling
 * NaN stays signalling, which a conversion to double would not keep).
 * @return 0; ZPK_ETYPE for any other type; ZPK_EINVAL for NULL.
 */
ZPK_API int zpk_node_get_float(const zpk_node_t *n, float *out);
/** A bool. */
ZPK_API int zpk_node_get_bool(const zpk_node_t *n, bool *out);
/**
 * A str: *ptr points to its @p *len bytes (in the arena, or in the input with
 * ZPK_DOC_BORROW). Copied strings are followed by a NUL byte, so *ptr is
 * also a C string when the str holds no NUL; borrowed ones are not.
 * @p len may be NULL. Valid until the document is destroyed.
 */
ZPK_API int zpk_node_get_str(const zpk_node_t *n, const char **ptr, size_t *len);
/** A bin: as zpk_node_get_str() (no NUL terminator is promised). */
ZPK_API int zpk_node_get_bin(const zpk_node_t *n, const uint8_t **ptr, size_t *len);
/** Any ext, including the timestamp: its type code and payload. */
ZPK_API int zpk_node_get_ext(const zpk_node_t *n, int8_t *type, const uint8_t **ptr,
                             size_t *len);
/**
 * A timestamp (ext -1 of 4, 8 or 12 bytes). Returns ZPK_ETYPE for any other
 * node, ZPK_EFORMAT for an ext -1 of another size or with nanoseconds over
 * 999999999.
 */
ZPK_API int zpk_node_get_timestamp(const zpk_node_t *n, zpk_timestamp_t *out);

/**
 * Writes the value of @p n (and everything under it, iteratively) to @p w,
 * each value in its shortest form: float 32 stays float 32, ext payloads
 * and unknown ext types are copied untouched. A document parsed from
 * shortest-form bytes re-encodes to the identical bytes.
 * Returns 0, the writer's sticky error (e.g. ZPK_EBUFFULL, ZPK_ENOMEM),
 * ZPK_ENOMEM when a very deep tree needs a stack that cannot be allocated,
 * or ZPK_EINVAL for NULL arguments. Does not take ownership of anything.
 */
ZPK_API int zpk_node_write(zpk_writer_t *w, const zpk_node_t *n);

/* ---- streaming unpacker ------------------------------------------------ */

/**
 * The streaming unpacker (msgpack-python's Unpacker in C). Feed bytes in
 * any chunking, take out whole objects as they complete.
 *
 * Errors: after any error from zpk_unpacker_next() or zpk_unpacker_skip()
 * other than ZPK_EOUTOFDATA (and other than an error returned by the read
 * callback), the unpacker stays failed: every later next/skip/feed/commit
 * returns the same code and reserve returns NULL, until
 * zpk_unpacker_reset(). Nothing ever crashes on a failed unpacker.
 *
 * When bad bytes are reported: so that feeding a byte at a time stays cheap,
 * next() and skip() do not look at new bytes after every feed. They parse
 * again once the object in progress could be complete, or once
 * ZPK_UNPACKER_WAIT (256) bytes from the start of the first item not yet
 * parsed are buffered, whichever comes first. So a whole object is returned
 * by the first next() after its last byte arrives (never later), and a bad
 * byte (ZPK_EFORMAT, ZPK_ELIMIT, ZPK_ETOODEEP, ZPK_EUTF8) is reported by the
 * first next() or skip() after at most ZPK_UNPACKER_WAIT bytes from the
 * start of its item are buffered. To look at every buffered byte at once
 * (for instance when the peer has stopped sending), call
 * zpk_unpacker_check(). With a source, next() and skip() do that before
 * reporting the end of the input.
 */
typedef struct zpk_unpacker zpk_unpacker_t;

/** See zpk_unpacker_t: the most bytes, counted from the start of the first
 * item not yet parsed, that next() and skip() let arrive before parsing
 * again while the object in progress cannot be complete yet. */
#define ZPK_UNPACKER_WAIT 256

/*
 * Private: the first members of every zpk_unpacker_t, read and written by
 * the inline fast paths of zpk_unpacker_feed() and zpk_unpacker_next()
 * below. Not part of the API; the layout may change with the soname.
 */
typedef struct zpk__unpacker_head {
    uint8_t *buf; /* the buffer */
    size_t wr;    /* end of the buffered bytes */
    size_t lim;   /* a feed of n bytes may append in place when n <= lim - wr */
    size_t gate;  /* next() has nothing to do while wr < gate */
} zpk__unpacker_head_t;

/**
 * Creates an unpacker. @p lim may be NULL for the defaults (copied).
 * @p flags: ZPK_DOC_CHECK_UTF8 or 0 (ZPK_DOC_BORROW is refused: the
 * unpacker's buffer moves, so it always copies).
 * Returns NULL when out of memory or on a bad flag. Caller owns the return
 * value and must destroy it.
 */
ZPK_API zpk_unpacker_t *zpk_unpacker_new(const zpk_limits_t *lim, unsigned flags);

/** Destroys *@p u and any half-built object, sets *@p u to NULL. NULL is a no-op. */
ZPK_API void zpk_unpacker_destroy(zpk_unpacker_t **u);

/**
 * Appends a copy of @p data[0..n) to the buffer. Does not take ownership.
 * Returns 0; ZPK_EBUFFULL when the unconsumed bytes would exceed
 * limits.max_buffer_size (nothing is appended); ZPK_ENOMEM (nothing
 * appended); ZPK_EINVAL (NULL @p u, or NULL @p data with n > 0); or the
 * sticky error of a failed unpacker.
 */
ZPK_API int zpk_unpacker_feed(zpk_unpacker_t *u, const void *data, size_t n);

/**
 * Takes out the next whole object.
 * Returns 0 and sets *@p out to a new document (caller owns it and must
 * destroy it); or ZPK_EOUTOFDATA when the buffered bytes end inside (or
 * before) an object: feed more and call again; the work done so far is
 * kept. With a source (zpk_unpacker_set_source()) it reads before giving
 * up: ZPK_EOUTOFDATA then means the source reported end of input (see
 * zpk_unpacker_buffered() to tell a clean end from a truncated object), and
 * a negative value returned by the source is returned unchanged (the
 * unpacker stays usable). Otherwise ZPK_EFORMAT, ZPK_ELIMIT,
 * ZPK_ETOODEEP, ZPK_EUTF8, ZPK_ENOMEM, and with a source ZPK_EBUFFULL (an
 * object larger than max_buffer_size) or ZPK_EIO (the source returned more
 * than asked): all sticky, see above. ZPK_EINVAL for NULL arguments.
 * *out is NULL on every error.
 * If zpk_unpacker_skip() left an object half skipped, it is skipped first.
 */
ZPK_API int zpk_unpacker_next(zpk_unpacker_t *u, zpk_doc_t **out);

/**
 * Skips the next whole object without building it (an object half built by
 * zpk_unpacker_next() is dropped and the rest of it skipped). Same return
 * codes as zpk_unpacker_next() except ZPK_EUTF8 (str bytes are not looked
 * at); ELIMIT and ETOODEEP still apply. Returns 0 when the object is
 * skipped (zpk_unpacker_tell() is then just after it).
 */
ZPK_API int zpk_unpacker_skip(zpk_unpacker_t *u);

/**
 * Returns a pointer where at least @p min bytes can be written directly
 * (e.g. by recv()) and stores in *@p avail how many may be (>= min). Then
 * call zpk_unpacker_commit() with the number written. The pointer is valid
 * until the next call on the unpacker. Returns NULL (and *avail = 0) when
 * @p min would take the unconsumed bytes past max_buffer_size, when out of
 * memory, or on a failed unpacker. @p avail may be NULL. @p min 0 is
 * treated as 1.
 */
ZPK_API void *zpk_unpacker_reserve(zpk_unpacker_t *u, size_t min, size_t *avail);

/**
 * Adds @p n bytes written at the pointer from zpk_unpacker_reserve().
 * Returns 0; ZPK_EINVAL when @p n is more than was reserved, or when the
 * reserved room is gone (nothing reserved, or a feed or another call moved
 * the buffer since the reserve); or the sticky error of a failed unpacker.
 */
ZPK_API int zpk_unpacker_commit(zpk_unpacker_t *u, size_t n);

/**
 * A read callback: writes up to @p size bytes to @p buf and returns how many
 * (> 0), 0 at end of input, or a negative error code (for instance -EAGAIN
 * or ZPK_EIO), which zpk_unpacker_next() returns unchanged.
 */
typedef ptrdiff_t (*zpk_read_fn)(void *ud, void *buf, size_t size);

/**
 * Makes zpk_unpacker_next()/skip() read from @p fn in requests of
 * @p read_size bytes (0: 64 KiB) whenever the buffered bytes run out, like
 * msgpack-python's file_like and read_size. @p fn NULL removes the source.
 * Does not take ownership of @p ud. Returns 0 or ZPK_EINVAL (NULL @p u).
 */
ZPK_API int zpk_unpacker_set_source(zpk_unpacker_t *u, zpk_read_fn fn, void *ud,
                                    size_t read_size);

/**
 * zpk_unpacker_set_source() with a reader of the file descriptor @p fd
 * (read(2); EINTR is retried; other failures come back as -errno, e.g.
 * -EAGAIN on a non-blocking descriptor). Does not take ownership of @p fd
 * (it is never closed). Returns 0 or ZPK_EINVAL (NULL @p u or fd < 0).
 */
ZPK_API int zpk_unpacker_set_fd(zpk_unpacker_t *u, int fd, size_t read_size);

/**
 * Parses every buffered byte now, without the wait described at
 * zpk_unpacker_t, and reports what next() would. Returns 0 when a whole
 * object is ready (it stays in the unpacker: the next zpk_unpacker_next()
 * returns it, or zpk_unpacker_skip() drops it; tell() and buffered() do not
 * move until then); ZPK_EOUTOFDATA when the buffered bytes are empty or the
 * valid beginning of an object; otherwise the same codes as
 * zpk_unpacker_next() (errors are sticky). With a source it reads first,
 * as next() does. ZPK_EINVAL for NULL @p u.
 */
ZPK_API int zpk_unpacker_check(zpk_unpacker_t *u);

/**
 * Stream offset just after the last object returned or skipped: the total
 * bytes consumed since creation or the last reset.
 */
ZPK_API uint64_t zpk_unpacker_tell(const zpk_unpacker_t *u);

/** Bytes buffered after that offset (a half-parsed object's bytes included). */
ZPK_API size_t zpk_unpacker_buffered(const zpk_unpacker_t *u);

/**
 * The first error of a failed unpacker (code, stream offset, text), or NULL
 * when it has not failed.
 */
ZPK_API const zpk_error_t *zpk_unpacker_error(const zpk_unpacker_t *u);

/**
 * Drops the buffered bytes, any half-built object and the error; tell()
 * restarts at 0. Keeps the limits, flags and source. NULL is a no-op.
 */
ZPK_API void zpk_unpacker_reset(zpk_unpacker_t *u);

/*
 * Inline fast paths of zpk_unpacker_feed() and zpk_unpacker_next(): a feed
 * that fits in the buffer's spare room is appended in place, and next()
 * returns ZPK_EOUTOFDATA at once while the unpacker is waiting for bytes
 * (see zpk_unpacker_t); everything else calls the exported function of the
 * same name, which stays a real symbol. Define ZPK_NO_INLINE_UNPACKER (or
 * ZPK_NO_INLINE_WRITER) before including this header to always call the
 * functions. Semantics are identical either way.
 */
#if !defined(ZPK_NO_INLINE_UNPACKER) && !defined(ZPK_NO_INLINE_WRITER)
#if defined(__GNUC__) || defined(__clang__)
#  define ZPK__FAST(x) __builtin_expect(!!(x), 1)
#else
#  define ZPK__FAST(x) (x)
#endif
/* The fast path falls through (the hints keep it free of taken jumps, which
 * bound a byte-at-a-time loop as much as its arithmetic), and wr is read
 * once: the byte stored into the buffer could alias it as far as the
 * compiler knows. */
static inline int zpk__inline_unpacker_feed(zpk_unpacker_t *u, const void *data, size_t n)
{
    zpk__unpacker_head_t *h = (zpk__unpacker_head_t *)(void *)u;
    if (ZPK__FAST(u != NULL && data != NULL)) {
        size_t wr = h->wr;
        if (ZPK__FAST(n - 1 < h->lim - wr)) {
            uint8_t *dst = h->buf + wr;
            if (n == 1)
                *dst = *(const uint8_t *)data;
            else
                memcpy(dst, data, n);
            h->wr = wr + n;
            return 0;
        }
    }
    return (zpk_unpacker_feed)(u, data, n);
}
static inline int zpk__inline_unpacker_next(zpk_unpacker_t *u, zpk_doc_t **out)
{
    const zpk__unpacker_head_t *h = (const zpk__unpacker_head_t *)(const void *)u;
    if (ZPK__FAST(u != NULL && out != NULL && h->wr < h->gate)) {
        *out = NULL;
        return ZPK_EOUTOFDATA;
    }
    return (zpk_unpacker_next)(u, out);
}
/* Variadic, so that an argument list that is itself a macro still works. */
#define zpk_unpacker_feed(...) zpk__inline_unpacker_feed(__VA_ARGS__)
#define zpk_unpacker_next(...) zpk__inline_unpacker_next(__VA_ARGS__)
#endif

#ifdef __cplusplus
}
#endif

#endif
/** @} */
