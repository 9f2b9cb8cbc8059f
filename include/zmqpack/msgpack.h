/**
 * @file zmqpack/msgpack.h
 * @defgroup msgpack MessagePack: shared types, writer, reader, ext, timestamps
 *
 * The MessagePack core never includes zmq.h: it works on plain buffers,
 * files and raw TCP streams. The document tree and the streaming unpacker
 * are in zmqpack/doc.h and build on the types here.
 * @{
 */
#ifndef ZMQPACK_MSGPACK_H
#define ZMQPACK_MSGPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h> /* memcpy in the writer's inline fast paths */

#include "zmqpack/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The kinds of MessagePack value. */
typedef enum zpk_type {
    ZPK_TYPE_NIL = 1,
    ZPK_TYPE_BOOL,
    ZPK_TYPE_INT,    /**< a negative integer (int64_t); non-negative ones are UINT */
    ZPK_TYPE_UINT,   /**< a non-negative integer (uint64_t) */
    ZPK_TYPE_FLOAT,  /**< float 32 */
    ZPK_TYPE_DOUBLE, /**< float 64 */
    ZPK_TYPE_STR,
    ZPK_TYPE_BIN,
    ZPK_TYPE_ARRAY,
    ZPK_TYPE_MAP,
    ZPK_TYPE_EXT,    /**< any ext type, including the timestamp (-1) */
} zpk_type_t;

/** Name of a type ("nil", "bool", "int", ...); "?" for an unknown value. */
ZPK_API const char *zpk_type_name(zpk_type_t type);

/** The MessagePack ext type code of the timestamp extension. */
#define ZPK_EXT_TIMESTAMP (-1)

/**
 * One decoded header: the type and its value, or, for str/bin/array/map/ext,
 * its length (elements for array, key/value pairs for map, bytes otherwise).
 */
typedef struct zpk_tag {
    zpk_type_t type;
    int8_t exttype;        /**< ext type code, for ZPK_TYPE_EXT */
    union {
        bool b;
        int64_t i;         /**< ZPK_TYPE_INT */
        uint64_t u;        /**< ZPK_TYPE_UINT */
        float f;           /**< ZPK_TYPE_FLOAT */
        double d;          /**< ZPK_TYPE_DOUBLE */
        uint32_t len;      /**< STR, BIN, EXT: bytes; ARRAY: elements; MAP: pairs */
    } v;
} zpk_tag_t;

/**
 * A timestamp (ext -1): seconds since the Unix epoch (may be negative) and
 * nanoseconds in [0, 999999999].
 */
typedef struct zpk_timestamp {
    int64_t sec;
    uint32_t nsec;
} zpk_timestamp_t;

/**
 * Limits applied to untrusted input. Every decoder in zmqpack checks a
 * declared length against these before it allocates or reads anything.
 * Initialise with zpk_limits_default() and change the fields you need.
 * A length equal to its limit is accepted; limit+1 fails with ZPK_ELIMIT
 * (depth: ZPK_ETOODEEP).
 */
typedef struct zpk_limits {
    size_t max_buffer_size; /**< bytes the streaming unpacker may buffer (default 100 MiB) */
    size_t max_str_len;     /**< bytes in one str (default max_buffer_size) */
    size_t max_bin_len;     /**< bytes in one bin (default max_buffer_size) */
    size_t max_array_len;   /**< elements in one array (default max_buffer_size) */
    size_t max_map_len;     /**< pairs in one map (default max_buffer_size / 2) */
    size_t max_ext_len;     /**< bytes in one ext payload (default max_buffer_size) */
    size_t max_depth;       /**< nesting of arrays and maps (default 1024) */
} zpk_limits_t;

/** Default max_buffer_size: 100 MiB, as msgpack-python 1.0. */
#define ZPK_DEFAULT_MAX_BUFFER_SIZE ((size_t)100 * 1024 * 1024)
/** Default max_depth. */
#define ZPK_DEFAULT_MAX_DEPTH ((size_t)1024)

/**
 * Fills @p limits with the defaults for a buffer of @p max_buffer_size
 * bytes (0 means ZPK_DEFAULT_MAX_BUFFER_SIZE), deriving the per-type
 * limits from it as msgpack-python 1.0 does.
 */
ZPK_API void zpk_limits_default(zpk_limits_t *limits, size_t max_buffer_size);

/* ========================================================================== */
/**
 * @name Writer (packer)
 *
 * A zpk_writer_t encodes MessagePack into one of three targets:
 * - a growable heap buffer (zpk_writer_init_growable); its bytes can be
 *   detached without a copy (zpk_writer_detach) and freed with zpk_free(),
 *   so they can go straight to zmq_msg_init_data();
 * - a caller's fixed buffer (zpk_writer_init_buffer); a write that does not
 *   fit fails with ZPK_EBUFFULL (the bytes before it stay valid);
 * - a sink callback (zpk_writer_init_sink) that receives the output in
 *   chunks of at most the chunk size, and the remainder at zpk_writer_finish().
 *
 * Every value is written in its shortest encoding. The write calls return
 * nothing: the first failure is kept (a sticky error), every later call is
 * a cheap no-op, and zpk_writer_finish() / zpk_writer_error() report it.
 * Typical use:
 *
 *     zpk_writer_t w;
 *     zpk_writer_init_growable(&w, 0);
 *     zpk_write_map(&w, 1);
 *     zpk_write_cstr(&w, "id");
 *     zpk_write_uint(&w, 11);
 *     void *data; size_t size;
 *     int rc = zpk_writer_detach(&w, &data, &size);  // caller now owns data
 *     zpk_writer_free(&w);
 *
 * The struct is public so that it can live on the stack; its fields are
 * private (read them only through the functions below). A writer is not
 * thread-safe; distinct writers are independent.
 * @{
 */

/** Longest header of any MessagePack type (ext 32: 1 + 4 + 1 bytes). */
#define ZPK_MAX_HEADER_SIZE 6
/** Longest encoded timestamp (ext 8 header of 3 bytes + 12 bytes). */
#define ZPK_MAX_TIMESTAMP_SIZE 15
/** Sink chunk size used when zpk_writer_init_sink() is given 0. */
#define ZPK_DEFAULT_SINK_CHUNK ((size_t)4096)

/** Writer option: zpk_write_real() writes float 32 instead of float 64. */
#define ZPK_WRITER_SINGLE_FLOAT 0x1u

/**
 * Receives @p n bytes of output (n > 0) for a sink writer; @p data is valid
 * only during the call. Returns 0 on success; a negative code (a ZPK_E* or a
 * -errno) becomes the writer's sticky error; any other non-zero value
 * becomes ZPK_EIO.
 */
typedef int (*zpk_sink_fn)(void *ud, const void *data, size_t n);

/** A MessagePack writer. All fields are private. */
typedef struct zpk_writer {
    uint8_t *pos;      /**< private: next byte to write */
    uint8_t *end;      /**< private: end of the writable window (== pos after an error) */
    uint8_t *buf;      /**< private: start of the buffer */
    uint8_t *cap_end;  /**< private: true end of the buffer */
    int error;         /**< private: the sticky error, 0 when none */
    int kind;          /**< private: target kind (growable, fixed, sink) */
    unsigned flags;    /**< private: ZPK_WRITER_* options */
    size_t hint;       /**< private: initial capacity or sink chunk size */
    size_t flushed;    /**< private: bytes already handed to the sink */
    zpk_sink_fn sink;  /**< private: the sink callback */
    void *sink_ud;     /**< private: the sink's user data */
    /* private: what zpk_writer_check_one_object() reports, kept as values are written */
    uint64_t need;     /**< private: values still to come to complete the first object
                        *   (1 when empty; below 0, as int64_t, once a second one starts) */
    uint64_t payload;  /**< private: str/bin/ext payload bytes owed to zpk_write_raw() */
    uint8_t shape;     /**< private: ZPK__WRITER_NOT_MSGPACK */
    uint8_t nsplit;    /**< private: bytes of a header cut by the end of a zpk_write_raw() */
    uint8_t split[8];  /**< private: those bytes (a header or a scalar is at most 9 bytes) */
} zpk_writer_t;

/**
 * Initialises @p w to write into a growable heap buffer. Nothing is
 * allocated until the first write, which allocates at least
 * @p initial_capacity bytes (0 picks a small default); the buffer then grows
 * geometrically. Never fails. Release with zpk_writer_free() (after
 * zpk_writer_detach() if you keep the bytes).
 */
ZPK_API void zpk_writer_init_growable(zpk_writer_t *w, size_t initial_capacity);

/**
 * Initialises @p w to write into the caller's @p size bytes at @p buf. A
 * write that does not fit records ZPK_EBUFFULL (a part of that value may
 * have been written). Does not take ownership of @p buf. Never fails;
 * zpk_writer_free() is optional (it does nothing for this target).
 */
ZPK_API void zpk_writer_init_buffer(zpk_writer_t *w, void *buf, size_t size);

/**
 * Initialises @p w to hand its output to @p sink in chunks of at most
 * @p chunk_size bytes (0: ZPK_DEFAULT_SINK_CHUNK; sizes under 64 are raised
 * to 64). A zpk_write_raw() block at least a chunk long may go to the sink
 * in one call, without a copy. The chunk buffer is allocated on the first
 * write (a failure there is a sticky ZPK_ENOMEM). Call zpk_writer_finish() to
 * flush the rest, then zpk_writer_free(). Does not take ownership of @p ud.
 */
ZPK_API void zpk_writer_init_sink(zpk_writer_t *w, zpk_sink_fn sink, void *ud,
                                  size_t chunk_size);

/** Sets the ZPK_WRITER_* option bits (replacing the previous ones). */
ZPK_API void zpk_writer_set_flags(zpk_writer_t *w, unsigned flags);

/**
 * Flushes a sink writer's pending bytes and returns the sticky error.
 * Does not free anything; the written bytes of a buffer writer stay
 * readable with zpk_writer_data(). Calling it again is harmless.
 * @return 0, or the first error: ZPK_EBUFFULL, ZPK_ENOMEM, ZPK_EINVAL (bad
 *         argument to a write, e.g. nsec > 999999999 or a length over
 *         UINT32_MAX), ZPK_EIO or the sink's code, or a code set with
 *         zpk_writer_set_error().
 */
ZPK_API int zpk_writer_finish(zpk_writer_t *w);

/**
 * Takes the bytes of a growable writer without copying them. On success
 * *@p data (caller owns it; free with zpk_free(), e.g. as the free function
 * given to zmq_msg_init_data) and *@p size are set and the writer is left
 * empty, ready to write a new buffer. With no bytes written, *data is NULL
 * and *size 0. On error *data = NULL, *size = 0 and the writer keeps its
 * buffer (release it with zpk_writer_free()).
 * @return 0; the sticky error; or ZPK_EINVAL if @p w is not a growable writer.
 */
ZPK_API int zpk_writer_detach(zpk_writer_t *w, void **data, size_t *size);

/**
 * Releases what the writer owns (the growable buffer unless detached, the
 * sink chunk). Does not flush: call zpk_writer_finish() first for a sink.
 * Accepts a writer already freed; afterwards only an init call is valid.
 */
ZPK_API void zpk_writer_free(zpk_writer_t *w);

/**
 * Discards everything written and the sticky error, keeping the buffer
 * (growable, fixed) or chunk (sink; pending bytes are dropped, not flushed).
 * Cheap: use it to build many small messages with one writer.
 */
ZPK_API void zpk_writer_reset(zpk_writer_t *w);

/** The sticky error, 0 when none. */
ZPK_API int zpk_writer_error(const zpk_writer_t *w);

/**
 * Records @p code (negative) as the sticky error unless one is already
 * recorded; for callers layering encoders on the writer. Positive or zero
 * codes are ignored.
 */
ZPK_API void zpk_writer_set_error(zpk_writer_t *w, int code);

/**
 * Start of the bytes written so far (growable and fixed targets; for a sink,
 * the bytes not yet flushed). May be NULL when nothing was written. The
 * pointer is invalidated by the next write to a growable writer. The writer
 * keeps ownership.
 */
ZPK_API const uint8_t *zpk_writer_data(const zpk_writer_t *w);

/** Total bytes written so far (for a sink: including the flushed ones). */
ZPK_API size_t zpk_writer_size(const zpk_writer_t *w);

/**
 * Whether the writer holds exactly one complete MessagePack object, as a
 * message must: the writer counts, as values are written, the elements that
 * every array and map header announces and the payload bytes that every
 * str/bin/ext header announces, so this costs a few comparisons. Bytes
 * given to zpk_write_raw() count as the payload still owed to a header, or
 * else as encoded values, which are read (headers only) to be counted.
 * Does not change the writer. @p err (optional) is reset, then says what is
 * missing or extra.
 * @return 0; ZPK_EINVAL when @p w is NULL, holds nothing, holds an
 *         unfinished object (elements or payload bytes still to come), more
 *         than one object, or raw bytes that are not MessagePack; or the
 *         writer's sticky error.
 */
ZPK_API int zpk_writer_check_one_object(const zpk_writer_t *w, zpk_error_t *err);

/** Writes nil (0xc0). */
ZPK_API void zpk_write_nil(zpk_writer_t *w);
/** Writes true (0xc3) or false (0xc2). */
ZPK_API void zpk_write_bool(zpk_writer_t *w, bool value);
/**
 * Writes a signed integer in its shortest form: non-negative values as
 * zpk_write_uint() does, negative ones as negative fixint, int 8/16/32/64.
 */
ZPK_API void zpk_write_int(zpk_writer_t *w, int64_t value);
/** Writes an unsigned integer in its shortest form: fixint, uint 8/16/32/64. */
ZPK_API void zpk_write_uint(zpk_writer_t *w, uint64_t value);
/** Writes float 32 (0xca). */
ZPK_API void zpk_write_float(zpk_writer_t *w, float value);
/** Writes float 64 (0xcb). */
ZPK_API void zpk_write_double(zpk_writer_t *w, double value);
/**
 * Writes a floating-point number as float 64, or as float 32 when the
 * writer has ZPK_WRITER_SINGLE_FLOAT.
 */
ZPK_API void zpk_write_real(zpk_writer_t *w, double value);

/**
 * Writes a whole str: the shortest header (fixstr, str 8/16/32) and @p len
 * bytes of @p s (not checked for UTF-8; may contain NUL). @p s may be NULL
 * when @p len is 0. A length over UINT32_MAX records ZPK_EINVAL.
 * Does not take ownership of @p s.
 */
ZPK_API void zpk_write_str(zpk_writer_t *w, const char *s, size_t len);
/** zpk_write_str(w, s, strlen(s)); NULL records ZPK_EINVAL. */
ZPK_API void zpk_write_cstr(zpk_writer_t *w, const char *s);
/** Writes a whole bin: the shortest header (bin 8/16/32) and the bytes. */
ZPK_API void zpk_write_bin(zpk_writer_t *w, const void *data, size_t len);
/**
 * Writes a whole ext value of type @p type: the shortest header (fixext
 * 1/2/4/8/16 when the length is exactly that, else ext 8/16/32) and the
 * payload. Unknown types round-trip untouched through this call.
 */
ZPK_API void zpk_write_ext(zpk_writer_t *w, int8_t type, const void *data, size_t len);

/**
 * Header-only writes. After a str/bin/ext header, write exactly @p len
 * payload bytes with zpk_write_raw() (in any number of pieces): any other
 * write before the payload is complete records ZPK_EINVAL. After an array
 * header, write @p count values; after a map header, 2 * @p count values
 * (key, value, key, value...). Those counts are not errors while writing
 * (the object may still be growing); zpk_writer_check_one_object() tells
 * whether they were met. A length over UINT32_MAX records ZPK_EINVAL.
 */
ZPK_API void zpk_write_str_header(zpk_writer_t *w, size_t len);
/** See zpk_write_str_header(). */
ZPK_API void zpk_write_bin_header(zpk_writer_t *w, size_t len);
/** See zpk_write_str_header(); fixext forms are used for lengths 1/2/4/8/16. */
ZPK_API void zpk_write_ext_header(zpk_writer_t *w, int8_t type, size_t len);
/** Writes an array header (fixarray, array 16/32) for @p count elements. */
ZPK_API void zpk_write_array(zpk_writer_t *w, size_t count);
/** Writes a map header (fixmap, map 16/32) for @p count key/value pairs. */
ZPK_API void zpk_write_map(zpk_writer_t *w, size_t count);

/**
 * Writes @p len bytes as they are: the payload owed to a str/bin/ext
 * header, then (or instead) values already encoded as MessagePack, whose
 * headers are read to count them for zpk_writer_check_one_object() (a
 * header or scalar may be cut between two calls). @p data may be NULL when
 * @p len is 0; NULL with a length records ZPK_EINVAL.
 */
ZPK_API void zpk_write_raw(zpk_writer_t *w, const void *data, size_t len);

/**
 * Writes the value or header described by @p tag (as zpk_read_tag()
 * returns it): scalars whole, str/bin/ext/array/map as headers only.
 * An unknown type records ZPK_EINVAL.
 */
ZPK_API void zpk_write_tag(zpk_writer_t *w, const zpk_tag_t *tag);

/**
 * Writes a timestamp (ext -1) in its shortest form: timestamp 32 when
 * nsec == 0 and 0 <= sec < 2^32, timestamp 64 when 0 <= sec < 2^34,
 * otherwise timestamp 96. @p nsec > 999999999 records ZPK_EINVAL.
 */
ZPK_API void zpk_write_timestamp(zpk_writer_t *w, int64_t sec, uint32_t nsec);

/*
 * Private helpers (zpk__ names: not API) shared by the inline fast paths
 * below and src/writer.c, so that each encoding is written once: the
 * big-endian stores, the integer encoders, and the count behind
 * zpk_writer_check_one_object(). They are defined whatever
 * ZPK_NO_INLINE_WRITER says, because writer.c builds on them.
 */

/* zpk_writer_t.shape bit: zpk_write_raw() bytes held the reserved byte 0xc1. */
#define ZPK__WRITER_NOT_MSGPACK 0x1u

static inline void zpk__put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void zpk__put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void zpk__put_be64(uint8_t *p, uint64_t v)
{
    zpk__put_be32(p, (uint32_t)(v >> 32));
    zpk__put_be32(p + 4, (uint32_t)v);
}

/* Encodes @p v in its shortest form at @p p (room for 9 bytes); returns its size. */
static inline size_t zpk__encode_uint(uint8_t *p, uint64_t v)
{
    if (v < 0x80) {
        p[0] = (uint8_t)v;
        return 1;
    }
    if (v <= 0xff) {
        p[0] = 0xcc;
        p[1] = (uint8_t)v;
        return 2;
    }
    if (v <= 0xffff) {
        p[0] = 0xcd;
        zpk__put_be16(p + 1, (uint16_t)v);
        return 3;
    }
    if (v <= 0xffffffffu) {
        p[0] = 0xce;
        zpk__put_be32(p + 1, (uint32_t)v);
        return 5;
    }
    p[0] = 0xcf;
    zpk__put_be64(p + 1, v);
    return 9;
}

/* Encodes @p v in its shortest form (non-negative ones as uint); returns its size. */
static inline size_t zpk__encode_int(uint8_t *p, int64_t v)
{
    if (v >= 0)
        return zpk__encode_uint(p, (uint64_t)v);
    if (v >= -32) {
        p[0] = (uint8_t)(int8_t)v;
        return 1;
    }
    if (v >= INT8_MIN) {
        p[0] = 0xd0;
        p[1] = (uint8_t)(int8_t)v;
        return 2;
    }
    if (v >= INT16_MIN) {
        p[0] = 0xd1;
        zpk__put_be16(p + 1, (uint16_t)(int16_t)v);
        return 3;
    }
    if (v >= INT32_MIN) {
        p[0] = 0xd2;
        zpk__put_be32(p + 1, (uint32_t)(int32_t)v);
        return 5;
    }
    p[0] = 0xd3;
    zpk__put_be64(p + 1, (uint64_t)v);
    return 9;
}

/*
 * The one-object count. need starts at 1 (the object to come); every value
 * takes one, and an array or map header adds its elements. need reaches 0
 * exactly when the first object is complete, and only a value with nothing
 * inside it (a scalar, an empty container) can bring it there, so a second
 * object takes need below 0 (as int64_t; unsigned here, so that wrapping is
 * defined). A container header could lift it back up: one that finds no
 * slot open sets the top two bits of the new count, without a branch, which
 * puts it 2^62 below 0: no writer can count its way back from there, so
 * need stays below 0 until the writer is reset.
 */
static inline void zpk__writer_count_value(zpk_writer_t *w)
{
    w->need--;
}
/* The count @p need after a container header of @p elements. */
static inline uint64_t zpk__count_container(uint64_t need, uint64_t elements)
{
    need--;
    return (need + elements) | (need >> 63) * ((uint64_t)3 << 62);
}
static inline void zpk__writer_count_container(zpk_writer_t *w, uint64_t elements)
{
    w->need = zpk__count_container(w->need, elements);
}
/*
 * For an encoder that writes one whole value by many calls (zpk_node_write:
 * a tree is one value by construction): it writes with the inline paths'
 * counted = false, takes the count before with zpk__writer_count_save() and
 * counts the value once at the end, whatever the calls that fell back to the
 * functions counted on the way.
 */
static inline uint64_t zpk__writer_count_save(const zpk_writer_t *w)
{
    return w->need;
}
static inline void zpk__writer_count_whole(zpk_writer_t *w, uint64_t saved)
{
    w->need = saved;
    zpk__writer_count_value(w);
}

/*
 * Inline fast paths. The calls below are macros over static inline
 * functions that encode directly into the writer's window when it has room,
 * and otherwise call the exported function of the same name (so the
 * functions remain real symbols: their address can be taken, and bindings
 * can call them). Define ZPK_NO_INLINE_WRITER before including this header
 * to call the functions directly. Semantics are identical either way: a
 * NULL writer or NULL bytes with a length take the function, which refuses
 * them. The last argument of the bodies, counted, is true for every caller
 * but a whole-value encoder (see zpk__writer_count_whole()).
 */
#if !defined(ZPK_NO_INLINE_WRITER)
#if defined(__GNUC__) || defined(__clang__)
#  define ZPK__ROOM(w, n) __builtin_expect((w) != NULL && (size_t)((w)->end - (w)->pos) >= (n), 1)
#else
#  define ZPK__ROOM(w, n) ((w) != NULL && (size_t)((w)->end - (w)->pos) >= (n))
#endif

static inline void zpk__inline_write_nil(zpk_writer_t *w, bool counted)
{
    if (ZPK__ROOM(w, 1)) {
        *w->pos++ = 0xc0;
        if (counted)
            zpk__writer_count_value(w);
    } else {
        (zpk_write_nil)(w);
    }
}
static inline void zpk__inline_write_bool(zpk_writer_t *w, bool value, bool counted)
{
    if (ZPK__ROOM(w, 1)) {
        *w->pos++ = value ? 0xc3 : 0xc2;
        if (counted)
            zpk__writer_count_value(w);
    } else {
        (zpk_write_bool)(w, value);
    }
}
static inline void zpk__inline_write_uint(zpk_writer_t *w, uint64_t v, bool counted)
{
    if (ZPK__ROOM(w, 9)) {
        uint8_t *p = w->pos; /* a local: byte stores may alias w->pos */
        w->pos = p + zpk__encode_uint(p, v);
        if (counted)
            zpk__writer_count_value(w);
    } else {
        (zpk_write_uint)(w, v);
    }
}
static inline void zpk__inline_write_int(zpk_writer_t *w, int64_t v, bool counted)
{
    if (ZPK__ROOM(w, 9)) {
        uint8_t *p = w->pos;
        w->pos = p + zpk__encode_int(p, v);
        if (counted)
            zpk__writer_count_value(w);
    } else {
        (zpk_write_int)(w, v);
    }
}
static inline void zpk__inline_write_double(zpk_writer_t *w, double value, bool counted)
{
    if (ZPK__ROOM(w, 9)) {
        uint8_t *p = w->pos;
        uint64_t bits;
        memcpy(&bits, &value, 8);
        p[0] = 0xcb;
        zpk__put_be64(p + 1, bits);
        w->pos = p + 9;
        if (counted)
            zpk__writer_count_value(w);
    } else {
        (zpk_write_double)(w, value);
    }
}
static inline void zpk__inline_write_float(zpk_writer_t *w, float value, bool counted)
{
    if (ZPK__ROOM(w, 5)) {
        uint8_t *p = w->pos;
        uint32_t bits;
        memcpy(&bits, &value, 4);
        p[0] = 0xca;
        zpk__put_be32(p + 1, bits);
        w->pos = p + 5;
        if (counted)
            zpk__writer_count_value(w);
    } else {
        (zpk_write_float)(w, value);
    }
}
/* Copies @p n <= 16 bytes with at most two overlapping fixed-size moves
 * (never reading or writing outside [src, src+n) and [dst, dst+n)). */
static inline void zpk__copy_small(uint8_t *dst, const void *src, size_t n)
{
    const uint8_t *s = (const uint8_t *)src;
    if (n >= 8) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(dst, &a, 8);
        memcpy(dst + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(dst, &a, 4);
        memcpy(dst + n - 4, &b, 4);
    } else if (n > 0) {
        dst[0] = s[0];
        dst[n / 2] = s[n / 2];
        dst[n - 1] = s[n - 1];
    }
}
static inline void zpk__inline_write_str(zpk_writer_t *w, const char *s, size_t len,
                                         bool counted)
{
    if (len < 32) {
        if (s != NULL && ZPK__ROOM(w, 1 + len)) {
            uint8_t *p = w->pos;
            p[0] = (uint8_t)(0xa0 | len);
            if (len <= 16)
                zpk__copy_small(p + 1, s, len);
            else
                memcpy(p + 1, s, len);
            w->pos = p + 1 + len;
            if (counted)
                zpk__writer_count_value(w);
        } else {
            (zpk_write_str)(w, s, len);
        }
    } else if (len <= 0xff && s != NULL && ZPK__ROOM(w, 2 + len)) {
        uint8_t *p = w->pos;
        p[0] = 0xd9;
        p[1] = (uint8_t)len;
        memcpy(p + 2, s, len);
        w->pos = p + 2 + len;
        if (counted)
            zpk__writer_count_value(w);
    } else {
        (zpk_write_str)(w, s, len);
    }
}
static inline void zpk__inline_write_cstr(zpk_writer_t *w, const char *s)
{
    if (s != NULL)
        zpk__inline_write_str(w, s, strlen(s), true);
    else
        (zpk_write_cstr)(w, s);
}
static inline void zpk__inline_write_array(zpk_writer_t *w, size_t count, bool counted)
{
    if (count < 16 && ZPK__ROOM(w, 1)) {
        *w->pos++ = (uint8_t)(0x90 | count);
        if (counted)
            zpk__writer_count_container(w, count);
    } else {
        (zpk_write_array)(w, count);
    }
}
static inline void zpk__inline_write_map(zpk_writer_t *w, size_t count, bool counted)
{
    if (count < 16 && ZPK__ROOM(w, 1)) {
        *w->pos++ = (uint8_t)(0x80 | count);
        if (counted)
            zpk__writer_count_container(w, 2 * (uint64_t)count);
    } else {
        (zpk_write_map)(w, count);
    }
}
static inline int zpk__inline_writer_error(const zpk_writer_t *w)
{
    return w != NULL ? w->error : ZPK_EINVAL;
}

#define zpk_writer_error(w) zpk__inline_writer_error(w)
#define zpk_write_nil(w) zpk__inline_write_nil((w), true)
#define zpk_write_bool(w, value) zpk__inline_write_bool((w), (value), true)
#define zpk_write_uint(w, value) zpk__inline_write_uint((w), (value), true)
#define zpk_write_int(w, value) zpk__inline_write_int((w), (value), true)
#define zpk_write_double(w, value) zpk__inline_write_double((w), (value), true)
#define zpk_write_float(w, value) zpk__inline_write_float((w), (value), true)
#define zpk_write_str(w, s, len) zpk__inline_write_str((w), (s), (len), true)
#define zpk_write_cstr(w, s) zpk__inline_write_cstr((w), (s))
#define zpk_write_array(w, count) zpk__inline_write_array((w), (count), true)
#define zpk_write_map(w, count) zpk__inline_write_map((w), (count), true)
#endif /* !ZPK_NO_INLINE_WRITER */
/** @} */

/* ========================================================================== */
/**
 * @name Reader (pull API)
 *
 * A zpk_reader_t walks a buffer one tag at a time without allocating (skip
 * allocates only for nesting deeper than 64). str, bin and ext payloads are
 * returned as pointers into the input, which must outlive their use.
 *
 *     zpk_reader_t r;
 *     zpk_reader_init(&r, data, size, NULL);
 *     zpk_tag_t tag; const void *p;
 *     while (zpk_read_item(&r, &tag, &p) == 0) { ... }
 *
 * Errors are sticky like the writer's: after the first failure every call
 * returns the same code without reading. The codes:
 * - ZPK_EOUTOFDATA: the buffer ends inside a value (truncated input);
 * - ZPK_EFORMAT: the reserved byte 0xc1 (or a malformed timestamp);
 * - ZPK_ELIMIT: a declared length is over its limit in zpk_limits_t,
 *   checked when the header is read, before anything else;
 * - ZPK_ETOODEEP: zpk_reader_skip() met nesting deeper than max_depth;
 * - ZPK_ETYPE: a typed read (zpk_read_uint(), zpk_read_timestamp()...) met
 *   another type;
 * - ZPK_ENOMEM: skip could not grow its stack for deep nesting.
 * zpk_reader_error_offset() tells where: the offset of the first byte of
 * the header being read when the error was detected.
 * @{
 */

/** A MessagePack pull reader over a buffer. All fields are private. */
typedef struct zpk_reader {
    const uint8_t *pos;   /**< private: next byte */
    const uint8_t *end;   /**< private: end of input (== pos after an error) */
    const uint8_t *data;  /**< private: start of input */
    size_t size;          /**< private: input size */
    int error;            /**< private: the sticky error, 0 when none */
    size_t error_offset;  /**< private: where the error was detected */
    zpk_limits_t limits;  /**< private: copy of the limits in force */
} zpk_reader_t;

/**
 * Initialises @p r over @p size bytes at @p data (NULL allowed when size is
 * 0). @p limits is copied; NULL means zpk_limits_default(.., 0). Does not
 * take ownership of @p data, which must stay valid and unchanged while the
 * reader and the pointers it returns are used.
 */
ZPK_API void zpk_reader_init(zpk_reader_t *r, const void *data, size_t size,
                             const zpk_limits_t *limits);

/**
 * Reads one tag: a whole scalar (nil, bool, int, uint, float, double), or
 * the header of a str/bin/ext (tag->v.len bytes of payload follow: consume
 * them with zpk_read_bytes_inplace(), zpk_read_bytes() or zpk_skip_bytes())
 * or of an array/map (its elements follow as further tags).
 * Integers 0..UINT64_MAX come back as ZPK_TYPE_UINT whatever their encoding;
 * negative ones as ZPK_TYPE_INT.
 * @return 0, or ZPK_EOUTOFDATA, ZPK_EFORMAT, ZPK_ELIMIT (see above).
 */
ZPK_API int zpk_read_tag(zpk_reader_t *r, zpk_tag_t *tag);

/**
 * zpk_read_tag(), and for str/bin/ext also the payload: *@p data points to
 * its tag->v.len bytes inside the input (no copy). For other types *data is
 * NULL. @p data may be NULL to discard the payload.
 * @return as zpk_read_tag(); ZPK_EOUTOFDATA if the payload is cut short.
 */
ZPK_API int zpk_read_item(zpk_reader_t *r, zpk_tag_t *tag, const void **data);

/**
 * Consumes @p len bytes and sets *@p ptr to where they are in the input
 * (no copy; the reader's input keeps ownership).
 * @return 0 or ZPK_EOUTOFDATA (then *ptr is NULL).
 */
ZPK_API int zpk_read_bytes_inplace(zpk_reader_t *r, size_t len, const void **ptr);
/** Copies @p len bytes to @p out. @return 0 or ZPK_EOUTOFDATA. */
ZPK_API int zpk_read_bytes(zpk_reader_t *r, void *out, size_t len);
/** Consumes @p len bytes. @return 0 or ZPK_EOUTOFDATA. */
ZPK_API int zpk_skip_bytes(zpk_reader_t *r, size_t len);

/**
 * Skips one whole value, including everything nested in it, iteratively
 * (no recursion). Nesting deeper than limits.max_depth fails with
 * ZPK_ETOODEEP.
 * @return 0, or ZPK_EOUTOFDATA, ZPK_EFORMAT, ZPK_ELIMIT, ZPK_ETOODEEP,
 *         ZPK_ENOMEM.
 */
ZPK_API int zpk_reader_skip(zpk_reader_t *r);

/**
 * Reads a whole timestamp value (ext -1 in any of its three forms).
 * @return 0; ZPK_ETYPE if the next value is not an ext -1 (it is consumed
 *         and the error is sticky); ZPK_EFORMAT for a bad length or
 *         nsec > 999999999; or the codes of zpk_read_tag().
 */
ZPK_API int zpk_read_timestamp(zpk_reader_t *r, zpk_timestamp_t *ts);

/**
 * Typed reads ("expect" calls, as in mpack): each reads one whole value of
 * the named type. On a type mismatch the value's header is consumed, the
 * reader records a sticky ZPK_ETYPE at the header's offset and the outputs
 * are left untouched. Other codes are those of zpk_read_item(). Payloads are
 * pointers into the input (no copy); any output pointer may be NULL.
 *
 * - zpk_read_nil: nil.
 * - zpk_read_bool: true or false.
 * - zpk_read_int: any integer that fits int64_t (a uint over INT64_MAX is
 *   ZPK_ETYPE).
 * - zpk_read_uint: any non-negative integer (a negative one is ZPK_ETYPE).
 * - zpk_read_double: float 32, float 64, or an integer (converted).
 * - zpk_read_str / zpk_read_bin: the payload and its length.
 * - zpk_read_array / zpk_read_map: the header; *count elements / pairs follow.
 * - zpk_read_ext: the type code, payload and length (any ext type).
 */
ZPK_API int zpk_read_nil(zpk_reader_t *r);
/** See zpk_read_nil(). */
ZPK_API int zpk_read_bool(zpk_reader_t *r, bool *value);
/** See zpk_read_nil(). */
ZPK_API int zpk_read_int(zpk_reader_t *r, int64_t *value);
/** See zpk_read_nil(). */
ZPK_API int zpk_read_uint(zpk_reader_t *r, uint64_t *value);
/** See zpk_read_nil(). */
ZPK_API int zpk_read_double(zpk_reader_t *r, double *value);
/** See zpk_read_nil(). */
ZPK_API int zpk_read_str(zpk_reader_t *r, const char **s, size_t *len);
/** See zpk_read_nil(). */
ZPK_API int zpk_read_bin(zpk_reader_t *r, const void **data, size_t *len);
/** See zpk_read_nil(). */
ZPK_API int zpk_read_array(zpk_reader_t *r, size_t *count);
/** See zpk_read_nil(). */
ZPK_API int zpk_read_map(zpk_reader_t *r, size_t *count);
/** See zpk_read_nil(). */
ZPK_API int zpk_read_ext(zpk_reader_t *r, int8_t *type, const void **data, size_t *len);

/** The sticky error, 0 when none. */
ZPK_API int zpk_reader_error(const zpk_reader_t *r);
/** Offset of the header where the sticky error was detected (0 if none). */
ZPK_API size_t zpk_reader_error_offset(const zpk_reader_t *r);
/**
 * Records @p code (negative) as the sticky error at the current offset,
 * unless one is already recorded. For callers that find the data wrong.
 */
ZPK_API void zpk_reader_set_error(zpk_reader_t *r, int code);
/** Bytes consumed so far. */
ZPK_API size_t zpk_reader_offset(const zpk_reader_t *r);
/** Bytes left to read (0 after an error). */
ZPK_API size_t zpk_reader_remaining(const zpk_reader_t *r);
/**
 * Ends reading: the sticky error if any, else ZPK_EEXTRADATA when bytes
 * are left over, else 0. Owns nothing, so nothing to free.
 */
ZPK_API int zpk_reader_finish(zpk_reader_t *r);

/* Inline accessors (the functions exist too; see ZPK_NO_INLINE_WRITER). A
 * NULL reader or tag takes the function, which refuses it. */
#if !defined(ZPK_NO_INLINE_WRITER)
static inline size_t zpk__inline_reader_remaining(const zpk_reader_t *r)
{
    return r != NULL ? (size_t)(r->end - r->pos) : 0;
}
static inline int zpk__inline_reader_error(const zpk_reader_t *r)
{
    return r != NULL ? r->error : ZPK_EINVAL;
}
/* Fast paths for the most frequent one-byte tags; the rest go to the functions. */
static inline int zpk__inline_read_tag(zpk_reader_t *r, zpk_tag_t *tag)
{
    if (r != NULL && tag != NULL && r->pos < r->end) {
        const uint8_t *p = r->pos;
        uint8_t b = *p;
        if (b < 0x80) {
            tag->type = ZPK_TYPE_UINT;
            tag->v.u = b;
            r->pos = p + 1;
            return 0;
        }
        if (b >= 0xe0) {
            tag->type = ZPK_TYPE_INT;
            tag->v.i = (int8_t)b;
            r->pos = p + 1;
            return 0;
        }
    }
    return (zpk_read_tag)(r, tag);
}
static inline int zpk__inline_read_item(zpk_reader_t *r, zpk_tag_t *tag, const void **data)
{
    if (r != NULL && tag != NULL && r->pos < r->end) {
        const uint8_t *p = r->pos;
        uint8_t b = *p;
        if (b < 0x80) {
            tag->type = ZPK_TYPE_UINT;
            tag->v.u = b;
            r->pos = p + 1;
            if (data)
                *data = NULL;
            return 0;
        }
        if ((b & 0xe0) == 0xa0) {
            size_t len = b & 0x1fu;
            if (len <= r->limits.max_str_len && (size_t)(r->end - p) > len) {
                tag->type = ZPK_TYPE_STR;
                tag->v.len = (uint32_t)len;
                if (data)
                    *data = p + 1;
                r->pos = p + 1 + len;
                return 0;
            }
        }
    }
    return (zpk_read_item)(r, tag, data);
}

#define zpk_reader_remaining(r) zpk__inline_reader_remaining(r)
#define zpk_reader_error(r) zpk__inline_reader_error(r)
#define zpk_read_tag(r, tag) zpk__inline_read_tag((r), (tag))
#define zpk_read_item(r, tag, data) zpk__inline_read_item((r), (tag), (data))
#endif
/** @} */

/* ========================================================================== */
/**
 * @name Timestamps and ext registry
 *
 * The timestamp extension (type -1) is built in. Other ext types are either
 * kept as they are (type, bytes) and written back untouched with
 * zpk_write_ext(), or mapped to the caller's own types with a registry: the
 * C form of msgpack-python's `default` and `ext_hook`.
 * @{
 */

/**
 * Encodes the payload of a timestamp (without the ext header) in its
 * shortest form into @p out (12 bytes suffice) and sets *@p len to 4, 8 or 12.
 * @return 0, or ZPK_EINVAL when @p nsec > 999999999.
 */
ZPK_API int zpk_timestamp_encode(int64_t sec, uint32_t nsec, uint8_t out[12], size_t *len);

/**
 * Decodes a timestamp payload of @p len bytes (4, 8 or 12).
 * @return 0, or ZPK_EFORMAT for any other length or nsec > 999999999.
 */
ZPK_API int zpk_timestamp_decode(const void *data, size_t len, zpk_timestamp_t *ts);

/**
 * Encodes the user object @p obj as an ext payload by writing its bytes to
 * @p payload (a growable writer: use zpk_write_raw(), or any write call).
 * Returns 0, or a negative code that zpk_ext_write() passes on.
 */
typedef int (*zpk_ext_encode_fn)(const void *obj, zpk_writer_t *payload, void *ud);
/**
 * Decodes an ext payload (@p len bytes at @p data, valid only during the
 * call) of type @p type into a new user object stored in *@p obj, which the
 * caller of zpk_ext_decode() then owns. Returns 0 or a negative code.
 */
typedef int (*zpk_ext_decode_fn)(int8_t type, const void *data, size_t len,
                                 void **obj, void *ud);

/** A table from ext type code (0..127) to encode/decode callbacks. Opaque. */
typedef struct zpk_ext_registry zpk_ext_registry_t;

/** A new, empty registry. Caller owns the return value and must destroy it. NULL on ENOMEM. */
ZPK_API zpk_ext_registry_t *zpk_ext_registry_new(void);
/** Destroys *@p reg and sets it to NULL; NULL or *reg NULL is a no-op. */
ZPK_API void zpk_ext_registry_destroy(zpk_ext_registry_t **reg);

/**
 * Maps ext type @p type (0..127; negative codes are reserved by the spec)
 * to @p encode and @p decode (either may be NULL) with user data @p ud,
 * replacing an earlier entry. Does not take ownership of @p ud.
 * @return 0, or ZPK_EINVAL for a NULL registry or a negative type.
 */
ZPK_API int zpk_ext_register(zpk_ext_registry_t *reg, int8_t type,
                             zpk_ext_encode_fn encode, zpk_ext_decode_fn decode, void *ud);
/** Removes the entry for @p type. @return 0, ZPK_ENOTFOUND or ZPK_EINVAL. */
ZPK_API int zpk_ext_unregister(zpk_ext_registry_t *reg, int8_t type);

/** True when @p type has a decoder in @p reg (NULL registry: false). */
ZPK_API bool zpk_ext_has_decoder(const zpk_ext_registry_t *reg, int8_t type);

/**
 * Writes @p obj as one ext value of type @p type using the registered
 * encoder: the payload is built, then written with the shortest ext header.
 * Errors are recorded in @p w (sticky) and also returned.
 * @return 0; ZPK_ENOTFOUND when @p type has no encoder; ZPK_EINVAL for a
 *         NULL registry; the encoder's code; ZPK_ENOMEM; or w's sticky error.
 */
ZPK_API int zpk_ext_write(zpk_writer_t *w, const zpk_ext_registry_t *reg, int8_t type,
                          const void *obj);

/**
 * Decodes an ext payload with the decoder registered for @p type. On
 * success the caller owns *@p obj (as the decoder defines). Unknown types
 * are not an error for the caller to fear: keep (type, bytes) and write them
 * back with zpk_write_ext().
 * @return 0; ZPK_ENOTFOUND when @p type has no decoder (*obj untouched);
 *         ZPK_EINVAL for a NULL registry; or the decoder's code.
 */
ZPK_API int zpk_ext_decode(const zpk_ext_registry_t *reg, int8_t type, const void *data,
                           size_t len, void **obj);
/** @} */

#ifdef __cplusplus
}
#endif

#endif
/** @} */
