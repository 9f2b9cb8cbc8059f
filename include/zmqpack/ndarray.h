/**
 * @file zmqpack/ndarray.h
 * @defgroup array Arrays: dtype, array descriptor, layout and byte order
 *
 * numpy's model of an array: a dtype (kind, item size, byte order), a
 * shape of up to 32 dimensions, a memory layout (C or Fortran order, or
 * explicit byte strides) and a data pointer. This layer knows nothing of
 * compression or sockets; see zmqpack/codec.h for turning an array into
 * header bytes and payload chunks.
 * @{
 */
#ifndef ZMQPACK_NDARRAY_H
#define ZMQPACK_NDARRAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zmqpack/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- dtype ---------------------------------------------------------------- */

/** numpy's kind characters for the dtypes zmqpack carries. */
typedef enum zpk_kind {
    ZPK_KIND_BOOL = 'b',    /**< bool, 1 byte */
    ZPK_KIND_INT = 'i',     /**< signed integer: 1, 2, 4, 8 bytes */
    ZPK_KIND_UINT = 'u',    /**< unsigned integer: 1, 2, 4, 8 bytes */
    ZPK_KIND_FLOAT = 'f',   /**< IEEE float: 2, 4, 8 bytes; 16 = x87 long double */
    ZPK_KIND_COMPLEX = 'c', /**< two floats: 8, 16 bytes; 32 = long double pair */
} zpk_kind_t;

/** numpy's byte order characters. */
#define ZPK_BYTEORDER_LITTLE '<'
#define ZPK_BYTEORDER_BIG '>'
/** Byte order "not applicable": every 1-byte dtype carries this one. */
#define ZPK_BYTEORDER_NA '|'
/** The byte order of the machine the library was built for. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#  define ZPK_BYTEORDER_NATIVE ZPK_BYTEORDER_BIG
#else
#  define ZPK_BYTEORDER_NATIVE ZPK_BYTEORDER_LITTLE
#endif

/**
 * An element type. Always normalised: 1-byte types have byteorder '|',
 * every other type '<' or '>'. Compare with zpk_dtype_equal().
 */
typedef struct zpk_dtype {
    char kind;         /**< a zpk_kind_t character */
    char byteorder;    /**< '<', '>' or '|' */
    uint8_t itemsize;  /**< bytes per element */
} zpk_dtype_t;

/** Longest zpk_dtype_format() output, including the NUL ("<c32"). */
#define ZPK_DTYPE_STR_SIZE 8

/**
 * Parses a dtype from numpy's array-interface typestr (`<f8`, `>i4`, `|u1`,
 * `|b1`, `<c16`, `<f2`; `=` or no prefix mean native order) or from a numpy
 * name (`float64`, `int32`, `uint8`, `bool`, `complex64`, `float16`, ...;
 * what `str(A.dtype)` prints; a name means native order). @p s need not be
 * NUL-terminated: exactly @p len bytes are read.
 * Datetimes (`<M8[ns]`), timedeltas, strings, objects and structured
 * dtypes are refused. Does not allocate. @p err may be NULL.
 * @return 0 and @p out set; ZPK_EDTYPE for an unknown or unsupported dtype
 *         (err->text says which); ZPK_EINVAL when @p s or @p out is NULL.
 */
ZPK_API int zpk_dtype_parse(const char *s, size_t len, zpk_dtype_t *out,
                            zpk_error_t *err);

/**
 * Writes the typestr of @p dt ("<f8", "|u1") with its NUL into @p buf.
 * @return the length without the NUL; ZPK_EBUFFULL when @p size is below
 *         ZPK_DTYPE_STR_SIZE-worth of what is needed; ZPK_EDTYPE when @p dt
 *         is not a valid dtype.
 */
ZPK_API int zpk_dtype_format(zpk_dtype_t dt, char *buf, size_t size);

/**
 * numpy's name of @p dt's kind and size ("float64"), whatever its byte
 * order. Returns a static string, or NULL when @p dt is not valid.
 */
ZPK_API const char *zpk_dtype_name(zpk_dtype_t dt);

/** True when @p dt is a kind/size/order combination zmqpack supports. */
ZPK_API bool zpk_dtype_valid(zpk_dtype_t dt);

/** True when @p a and @p b are the same dtype. */
ZPK_API bool zpk_dtype_equal(zpk_dtype_t a, zpk_dtype_t b);

/** True when @p dt needs no byte swapping on this machine. */
ZPK_API bool zpk_dtype_is_native(zpk_dtype_t dt);

/** @p dt in this machine's byte order. */
ZPK_API zpk_dtype_t zpk_dtype_to_native(zpk_dtype_t dt);

/** Builds a native-order dtype from a kind and size (not validated). */
ZPK_API zpk_dtype_t zpk_dtype_make(zpk_kind_t kind, size_t itemsize);

/**
 * Reverses the byte order of every element of @p data (@p nbytes bytes,
 * a whole number of @p dt items) in place. Complex items swap each of
 * their two halves. Does not change any dtype: see zpk_ndarray_to_native().
 * @return 0; ZPK_EDTYPE for an invalid @p dt; ZPK_ESHAPE when @p nbytes
 *         is not a multiple of the item size; ZPK_EINVAL for NULL data
 *         with a non-zero size.
 */
ZPK_API int zpk_dtype_byteswap(zpk_dtype_t dt, void *data, size_t nbytes);

/* ---- array descriptor ------------------------------------------------------ */

/** Most dimensions an array may have (numpy's NPY_MAXDIMS). */
#define ZPK_MAX_NDIM 32

/** Memory order of a contiguous array. */
#define ZPK_ORDER_C 'C'
#define ZPK_ORDER_F 'F'

/**
 * Describes an array; the struct itself is plain data the caller owns.
 * `data` is owned by the array only when `free_fn` is set: then
 * zpk_ndarray_free() calls `free_fn(data, free_hint)` (the same signature
 * as zmq_msg_init_data()'s free function). When `has_strides` is false
 * the array is contiguous in `order`; otherwise `strides` gives the byte
 * step of each dimension (numpy's strides, may be negative or zero) and
 * `data` points at element [0, 0, ...].
 * Fill it with zpk_ndarray_init() rather than by hand.
 */
typedef struct zpk_ndarray {
    zpk_dtype_t dtype;
    int ndim;                            /**< 0 .. ZPK_MAX_NDIM; 0 is a scalar */
    size_t shape[ZPK_MAX_NDIM];
    ptrdiff_t strides[ZPK_MAX_NDIM];     /**< bytes; used when has_strides */
    bool has_strides;
    char order;                          /**< 'C' or 'F' */
    void *data;
    size_t nbytes;                       /**< itemsize * product(shape) */
    void (*free_fn)(void *data, void *hint); /**< set when the array owns data */
    void *free_hint;
} zpk_ndarray_t;

/**
 * Bytes in an array of @p dt and @p shape, overflow-checked: the product
 * of the non-zero dimensions times the item size must fit in a ptrdiff_t
 * (as numpy requires), even when another dimension is zero.
 * @return 0 and *@p out set; ZPK_EOVERFLOW when it does not fit;
 *         ZPK_ESHAPE when @p ndim is outside 0..ZPK_MAX_NDIM;
 *         ZPK_EDTYPE for an invalid dtype; ZPK_EINVAL for NULL pointers.
 */
ZPK_API int zpk_shape_nbytes(zpk_dtype_t dt, int ndim, const size_t *shape,
                             size_t *out);

/**
 * Fills @p a as a contiguous array in @p order ('C' or 'F') over @p data
 * (which may be NULL only when the size is zero). Does not take ownership
 * of @p data (set a->free_fn afterwards to hand it over).
 * @return 0; the errors of zpk_shape_nbytes(); ZPK_EINVAL for a bad order.
 */
ZPK_API int zpk_ndarray_init(zpk_ndarray_t *a, zpk_dtype_t dt, int ndim,
                           const size_t *shape, char order, void *data);

/**
 * Gives @p a explicit byte strides (one per dimension), for a view such as
 * numpy's `A[:, ::2]`. When the strides are in fact C- or F-contiguous the
 * array is marked contiguous in that order instead.
 * Strides may be negative or zero; only the byte extent they span is
 * checked.
 * @return 0; ZPK_EINVAL for NULL; ZPK_EOVERFLOW when the extent spanned by
 *         the strides does not fit in a ptrdiff_t.
 */
ZPK_API int zpk_ndarray_set_strides(zpk_ndarray_t *a, const ptrdiff_t *strides);

/**
 * True when @p a's bytes are contiguous as laid out; *@p order (optional)
 * gets 'C' or 'F'. 0-d, empty and single-element arrays are both; they
 * report 'C' unless the array says 'F'.
 */
ZPK_API bool zpk_ndarray_is_contiguous(const zpk_ndarray_t *a, char *order);

/**
 * Copies @p a's elements, in any layout, into @p dst (@p dst_size bytes,
 * at least a->nbytes) as a C-ordered contiguous block.
 * Does not take ownership of any argument.
 * @return 0; ZPK_EBUFFULL when @p dst_size is too small; ZPK_EINVAL.
 */
ZPK_API int zpk_ndarray_copy_into(const zpk_ndarray_t *a, void *dst,
                                      size_t dst_size);

/**
 * Makes @p out a C-ordered contiguous copy of @p a in one new allocation
 * (through the allocator hooks). When @p a is already contiguous it is
 * still copied. Caller owns @p out and must zpk_ndarray_free() it.
 * @return 0; ZPK_ENOMEM; ZPK_EINVAL.
 */
ZPK_API int zpk_ndarray_dup(const zpk_ndarray_t *a, zpk_ndarray_t *out);

/**
 * Converts a contiguous array to native byte order in place (swapping its
 * bytes when needed) and updates a->dtype.
 * @return 0; ZPK_EINVAL when @p a is not contiguous; zpk_dtype_byteswap()'s.
 */
ZPK_API int zpk_ndarray_to_native(zpk_ndarray_t *a);

/**
 * Frees the data when @p a owns it (calls free_fn once), then clears @p a
 * to an empty 0-d descriptor. NULL and repeated calls are no-ops.
 */
ZPK_API void zpk_ndarray_free(zpk_ndarray_t *a);

/**
 * A free function for zpk_ndarray_t::free_fn and zmq_msg_init_data() that
 * frees memory from zpk_malloc() (the hint is ignored).
 */
ZPK_API void zpk_free_fn(void *data, void *hint);

#ifdef __cplusplus
}
#endif

#endif
/** @} */
