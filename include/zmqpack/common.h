/**
 * @file zmqpack/common.h
 * @defgroup common Common: errors, allocator hooks, version
 *
 * Every fallible zmqpack call returns an `int`: 0 on success, a negative
 * `ZPK_E*` code on failure. System and libzmq failures come back as
 * `-errno` (for example `-EAGAIN`, `-EINTR`, or libzmq's `-ETERM`), so one
 * `zpk_strerror()` explains every code a call can return.
 *
 * Bad bytes from a peer (`ZPK_EFORMAT` and friends) never assert or abort.
 * Misuse by the caller (`ZPK_EINVAL`) is reported the same way.
 * @{
 */
#ifndef ZMQPACK_COMMON_H
#define ZMQPACK_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "zmqpack/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Marks a symbol exported from the shared library (all others are hidden). */
#if defined(_WIN32)
#  if defined(ZPK_BUILDING)
#    define ZPK_API __declspec(dllexport)
#  else
#    define ZPK_API
#  endif
#elif defined(__GNUC__) || defined(__clang__)
#  define ZPK_API __attribute__((visibility("default")))
#else
#  define ZPK_API
#endif

/**
 * The error table: XX(NAME, value, message). One list generates the enum,
 * zpk_strerror() and zpk_err_name(). Values stay far from -errno values so
 * that both kinds can travel through the same int.
 */
#define ZPK_ERRNO_MAP(XX)                                                        \
    /* MessagePack layer */                                                      \
    XX(EOUTOFDATA,  -4001, "need more data: the input ends inside an object")  \
    XX(EEXTRADATA,  -4002, "extra data after the object")                       \
    XX(EFORMAT,     -4003, "malformed input")                                   \
    XX(ETOODEEP,    -4004, "nesting deeper than the depth limit")               \
    XX(EBUFFULL,    -4005, "buffer full")                                       \
    XX(ELIMIT,      -4006, "a declared length is over its limit")               \
    XX(EUTF8,       -4007, "invalid UTF-8 in a string")                         \
    XX(ENOMEM,      -4008, "out of memory")                                     \
    XX(EINVAL,      -4009, "invalid argument")                                  \
    XX(ETYPE,       -4010, "type mismatch")                                     \
    XX(ENOTFOUND,   -4011, "no such key or index")                              \
    XX(EOVERFLOW,   -4012, "size computation overflows")                        \
    XX(EIO,         -4013, "read or write callback failed")                     \
    XX(ENOTSUP,     -4014, "not supported by this build")                       \
    /* array, codec and socket layers */                                        \
    XX(EDTYPE,      -4101, "bad or unsupported dtype")                          \
    XX(ESHAPE,      -4102, "shape and size do not match")                       \
    XX(ECODEC,      -4103, "unknown codec")                                     \
    XX(EDECOMPRESS, -4104, "decompression failed")                              \
    XX(EVERSION,    -4105, "unsupported protocol version")                      \
    XX(EFRAME,      -4106, "frame missing or unexpected")                       \
    XX(EFOREIGN,    -4107, "not a zmqpack message")

/** Error codes. All are negative; 0 means success. */
typedef enum zpk_errno {
    ZPK_OK = 0,
#define ZPK__ERR_ENUM(name, value, msg) ZPK_##name = (value),
    ZPK_ERRNO_MAP(ZPK__ERR_ENUM)
#undef ZPK__ERR_ENUM
} zpk_errno_t;

/**
 * A human-readable message for any code a zmqpack call returns: a ZPK_E*
 * code, a negative errno, or a negative libzmq error such as -ETERM.
 * Returns a static string; never NULL. Unknown codes get "unknown error".
 */
ZPK_API const char *zpk_strerror(int code);

/**
 * The code's symbolic name without the ZPK_ prefix for our codes
 * ("EFORMAT"), the errno name for system codes ("EAGAIN", "ETERM").
 * Returns a static string; never NULL ("UNKNOWN" for unknown codes).
 */
ZPK_API const char *zpk_err_name(int code);

/** Longest text kept in a zpk_error_t, including the terminating NUL. */
#define ZPK_ERROR_TEXT_SIZE 128

/**
 * Details of a failure, filled by the calls that take one (all optional).
 * Every call that takes one resets it when it starts (as jansson does), so
 * it never reports an earlier call's error; within one call the first
 * error found is kept. zpk_error_clear() resets it by hand.
 */
typedef struct zpk_error {
    int code;          /**< the ZPK_E* code, 0 when no error was recorded */
    size_t offset;     /**< byte offset in the input where it was detected */
    int frame;         /**< frame index for multipart messages, else -1 */
    char text[ZPK_ERROR_TEXT_SIZE]; /**< short explanation, NUL-terminated */
} zpk_error_t;

/** Resets @p err to "no error" (code 0, offset 0, frame -1, empty text). */
ZPK_API void zpk_error_clear(zpk_error_t *err);

/**
 * Allocator hooks. Every allocation the library makes goes through these,
 * including buffers later handed to libzmq. @p ud is passed back unchanged.
 * realloc and free are always given pointers that came from the same hooks.
 */
typedef struct zpk_allocator {
    void *(*malloc_fn)(size_t size, void *ud);
    void *(*realloc_fn)(void *ptr, size_t size, void *ud);
    void (*free_fn)(void *ptr, void *ud);
    void *ud;
} zpk_allocator_t;

/**
 * Replaces the allocator for all later allocations; NULL restores libc's.
 * Not thread-safe: call it before any other zmqpack call, and never while
 * memory from the previous hooks is still alive (it would be freed by the
 * new hooks). Does not take ownership of @p alloc (it is copied).
 * @return 0, or ZPK_EINVAL when a function pointer is missing.
 */
ZPK_API int zpk_set_allocator(const zpk_allocator_t *alloc);

/** Copies the allocator in force into @p out. */
ZPK_API void zpk_get_allocator(zpk_allocator_t *out);

/** Allocates through the hooks (for callers that hand memory to zmqpack). */
ZPK_API void *zpk_malloc(size_t size);
/** Reallocates through the hooks. */
ZPK_API void *zpk_realloc(void *ptr, size_t size);
/** Frees memory from zpk_malloc()/zpk_realloc() or returned by zmqpack. NULL is a no-op. */
ZPK_API void zpk_free(void *ptr);

/** The library's version as ZPK_VERSION_HEX of the build that made it. */
ZPK_API unsigned zpk_version(void);
/** The library's version as a static string, e.g. "0.1.0". */
ZPK_API const char *zpk_version_string(void);

#ifdef __cplusplus
}
#endif

#endif
/** @} */
