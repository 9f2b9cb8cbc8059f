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

/* ZPK_MSGPACK_API_BELOW (writer, reader, ext registry, timestamps, format strings) */

#ifdef __cplusplus
}
#endif

#endif
/** @} */
