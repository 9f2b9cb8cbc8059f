/**
 * @file zmqpack/codec.h
 * @defgroup codec Codecs: none, zlib, blosc, auto; array header and chunks
 *
 * An array travels as a small header (a MessagePack map: dtype, shape,
 * order, codec, chunk table, byte count; see docs/arrays.md) followed by
 * payload chunks. The payload is split into chunks of `chunk_size` raw
 * bytes (the last may be shorter); each chunk is compressed on its own, or
 * stored raw. Uncompressed chunks are borrowed from the array (no copy);
 * compressed ones are owned buffers with a free function that fits
 * zmq_msg_init_data(). Decoding checks every declared size before it
 * allocates anything and writes straight into the destination.
 *
 * Nothing here includes zmq.h: files, streams and tests use it directly.
 * @{
 */
#ifndef ZMQPACK_CODEC_H
#define ZMQPACK_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zmqpack/ndarray.h"
#include "zmqpack/common.h"
#include "zmqpack/msgpack.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Codec families. */
typedef enum zpk_codec_id {
    ZPK_CODEC_NONE = 0,  /**< raw bytes */
    ZPK_CODEC_ZLIB = 1,  /**< zlib format (RFC 1950), as Python's zlib.compress */
    ZPK_CODEC_BLOSC = 2, /**< blosc 1.x frames, as python-blosc's blosc.compress */
    ZPK_CODEC_AUTO = 3,  /**< send side only: pick none or auto_codec per payload/chunk */
} zpk_codec_id_t;

/** blosc's internal compressors. */
typedef enum zpk_blosc_cname {
    ZPK_BLOSC_BLOSCLZ = 0,
    ZPK_BLOSC_LZ4 = 1,
    ZPK_BLOSC_LZ4HC = 2,
    ZPK_BLOSC_ZLIB = 3,
    ZPK_BLOSC_ZSTD = 4,
} zpk_blosc_cname_t;

/** blosc's shuffle filters (same values as BLOSC_NOSHUFFLE, ...). */
typedef enum zpk_shuffle {
    ZPK_SHUFFLE_NONE = 0,
    ZPK_SHUFFLE_BYTE = 1,
    ZPK_SHUFFLE_BIT = 2,
} zpk_shuffle_t;

/** Default raw bytes per chunk (see docs/arrays.md for the measurement). */
#define ZPK_DEFAULT_CHUNK_SIZE ((size_t)4 * 1024 * 1024)
/** `auto` leaves payloads smaller than this alone (default). */
#define ZPK_DEFAULT_AUTO_MIN_SIZE ((size_t)64 * 1024)
/** `auto` keeps a compressed chunk when raw/compressed reaches this (default). */
#define ZPK_DEFAULT_AUTO_MIN_RATIO 1.25
/** Bytes `auto` compresses as a sample (4 pieces spread over the payload) (default). */
#define ZPK_DEFAULT_AUTO_SAMPLE ((size_t)32 * 1024)
/** Largest chunk the blosc codec accepts (blosc 1.x takes < 2 GiB per call). */
#define ZPK_BLOSC_MAX_CHUNK ((size_t)1 << 30)
/** Longest zpk_codec_format() output, including the NUL. */
#define ZPK_CODEC_STR_SIZE 48

/**
 * Codec settings. Fill with zpk_codec_default() or zpk_codec_parse(), then
 * change fields. Only id, level, cname and shuffle travel on the wire (in
 * the codec string); the rest are local choices.
 */
typedef struct zpk_codec {
    zpk_codec_id_t id;
    int level;               /**< zlib 0..9, blosc 0..9 */
    zpk_blosc_cname_t cname; /**< blosc compressor */
    zpk_shuffle_t shuffle;   /**< blosc filter; typesize comes from the dtype */
    int nthreads;            /**< blosc threads per call (>= 1) */
    size_t chunk_size;       /**< raw bytes per chunk, rounded down to whole items; 0 = default */
    /* auto */
    zpk_codec_id_t auto_codec; /**< what auto tries: ZPK_CODEC_BLOSC or ZPK_CODEC_ZLIB */
    size_t auto_min_size;    /**< payloads below this go raw */
    double auto_min_ratio;   /**< a chunk is kept compressed when raw/stored >= this */
    size_t auto_sample;      /**< most bytes sampled first (at most 1/64 of the payload,
                                  none below 256 KiB; 0: never sample) */
} zpk_codec_t;

/**
 * Fills @p c with the defaults of @p id: zlib level 6; blosc lz4 level 5
 * with byte shuffle; auto tries blosc lz4:5:shuffle (zlib:1 without blosc)
 * with the ZPK_DEFAULT_AUTO_* thresholds; one thread; the default chunk size.
 */
ZPK_API void zpk_codec_default(zpk_codec_t *c, zpk_codec_id_t id);

/**
 * Parses the short string form (exactly @p len bytes of @p s):
 * `none`, `zlib`, `zlib:LEVEL`, `blosc`, `blosc:CNAME`, `blosc:CNAME:LEVEL`,
 * `blosc:CNAME:LEVEL:SHUFFLE` (CNAME blosclz|lz4|lz4hc|zlib|zstd; SHUFFLE
 * noshuffle|shuffle|bitshuffle), `auto` or `auto:` followed by a zlib or
 * blosc string (the codec auto tries). Omitted parts take the defaults of
 * zpk_codec_default(). Does not allocate. @p err may be NULL.
 * @return 0; ZPK_ECODEC for an unknown or malformed string (err->text
 *         says what); ZPK_ENOTSUP for blosc in a build without blosc;
 *         ZPK_EINVAL for NULL arguments.
 */
ZPK_API int zpk_codec_parse(const char *s, size_t len, zpk_codec_t *c,
                            zpk_error_t *err);

/**
 * Writes the canonical string of @p c ("none", "zlib:6",
 * "blosc:lz4:5:shuffle", "auto:blosc:lz4:5:shuffle") with its NUL.
 * @return the length without the NUL; ZPK_EBUFFULL; ZPK_EINVAL for a
 *         setting out of range.
 */
ZPK_API int zpk_codec_format(const zpk_codec_t *c, char *buf, size_t size);

/** True when this build can compress and decompress @p id. */
ZPK_API bool zpk_codec_available(zpk_codec_id_t id);

/**
 * Largest output zpk_codec_compress() can produce for @p raw_size input
 * bytes with @p c's family (for `auto`, its auto_codec; at least raw_size).
 * Returns 0 when @p raw_size is too large for the codec (blosc: over
 * ZPK_BLOSC_MAX_CHUNK) or the bound overflows.
 */
ZPK_API size_t zpk_codec_bound(const zpk_codec_t *c, size_t raw_size);

/**
 * Compresses @p n bytes at @p src into @p dst (@p cap bytes) with @p c
 * (none copies; auto uses its auto_codec). @p typesize is the element
 * size, used by blosc's shuffle. Thread-safe (blosc's context API).
 * Does not take ownership of any argument.
 * @return 0 and *@p out_n set; ZPK_EBUFFULL when the output does not fit
 *         in @p cap (always fits in zpk_codec_bound()); ZPK_ELIMIT for a
 *         chunk too large for the codec; ZPK_ENOTSUP without blosc;
 *         ZPK_EINVAL for bad settings; ZPK_ENOMEM.
 */
ZPK_API int zpk_codec_compress(const zpk_codec_t *c, size_t typesize,
                               const void *src, size_t n, void *dst, size_t cap,
                               size_t *out_n);

/**
 * Decompresses one chunk of family @p id (@p n bytes at @p src) into
 * exactly @p raw_size bytes at @p dst, never writing past it. The stream
 * must decode to exactly @p raw_size bytes and end where @p src ends.
 * For blosc, the frame is checked with blosc_cbuffer_validate() first.
 * @p nthreads is blosc's thread count (>= 1).
 * @return 0; ZPK_EDECOMPRESS for a corrupt, truncated, too long or too
 *         short stream, or one that declares another size; ZPK_ENOTSUP;
 *         ZPK_ENOMEM (zlib's state); ZPK_EINVAL.
 */
ZPK_API int zpk_codec_decompress(zpk_codec_id_t id, const void *src, size_t n,
                                 void *dst, size_t raw_size, int nthreads);

/* ---- arrays as header + chunks ---------------------------------------------- */

/** Default zpk_ndarray_opts_t::max_ndarray_bytes: 2 GiB. */
#define ZPK_DEFAULT_MAX_NDARRAY_BYTES ((size_t)2 * 1024 * 1024 * 1024)

/** Decoding options. Fill with zpk_ndarray_opts_default(). */
typedef struct zpk_ndarray_opts {
    size_t max_ndarray_bytes; /**< larger declared arrays fail with ZPK_ELIMIT */
    int nthreads;           /**< blosc decompression threads (>= 1) */
    zpk_limits_t limits;    /**< MessagePack limits for reading the header */
    size_t max_chunks;      /**< longest chunk table (and raw list) accepted */
} zpk_ndarray_opts_t;

/** Default zpk_ndarray_opts_t::max_chunks: 1 Mi entries (a 24 MiB table at most). */
#define ZPK_DEFAULT_MAX_CHUNKS ((size_t)1 << 20)

/**
 * Sets the defaults: ZPK_DEFAULT_MAX_NDARRAY_BYTES, 1 thread, default
 * MessagePack limits, ZPK_DEFAULT_MAX_CHUNKS.
 */
ZPK_API void zpk_ndarray_opts_default(zpk_ndarray_opts_t *o);

/** One chunk of the chunk table. */
typedef struct zpk_chunk_info {
    size_t stored;      /**< bytes on the wire */
    size_t raw;         /**< bytes once decoded */
    bool compressed;    /**< false: stored as is (stored == raw) */
} zpk_chunk_info_t;

/**
 * A validated array header. Produced by zpk_ndarray_encode() and
 * zpk_ndarray_header_read()/_decode(); release with zpk_ndarray_info_free().
 * When read from the wire every field has been checked: the shape's byte
 * count equals nbytes, nbytes <= max_ndarray_bytes, the chunk table covers
 * nbytes exactly, raw chunks have stored == raw, compressed ones are
 * non-empty and within zpk_codec_bound().
 */
typedef struct zpk_ndarray_info {
    zpk_dtype_t dtype;
    int ndim;
    size_t shape[ZPK_MAX_NDIM];
    char order;                 /**< 'C' or 'F' */
    size_t nbytes;              /**< decoded payload bytes */
    zpk_codec_t codec;          /**< the codec family and settings used */
    size_t chunk_size;          /**< raw bytes per chunk (last may be shorter) */
    size_t nchunks;
    zpk_chunk_info_t *chunks;   /**< nchunks entries (owned; NULL when 0) */
    size_t stored_bytes;        /**< sum of the stored sizes */
    int nthreads;               /**< from the options: blosc decode threads */
} zpk_ndarray_info_t;

/** Frees what @p info owns and clears it. NULL is a no-op. */
ZPK_API void zpk_ndarray_info_free(zpk_ndarray_info_t *info);

/** True when no chunk is compressed (the payload may be used in place). */
ZPK_API bool zpk_ndarray_info_is_raw(const zpk_ndarray_info_t *info);

/**
 * Fills @p out as a contiguous array described by @p info over @p data
 * (which must hold info->nbytes decoded bytes). Does not take ownership.
 * @return 0; zpk_ndarray_init()'s errors.
 */
ZPK_API int zpk_ndarray_info_to_ndarray(const zpk_ndarray_info_t *info, void *data,
                                    zpk_ndarray_t *out);

/**
 * One payload chunk to send. Borrowed when free_fn is NULL (it points into
 * the caller's array, which must outlive its use); otherwise owned, and
 * free_fn(data, hint) releases it (it fits zmq_msg_init_data(); it may be
 * called from any thread, once). To take ownership of an owned chunk, copy
 * its fields and set free_fn to NULL in the encoder.
 */
typedef struct zpk_chunk {
    void *data;
    size_t size;
    void (*free_fn)(void *data, void *hint);
    void *hint;
} zpk_chunk_t;

/** A received chunk to decode: read-only bytes. */
typedef struct zpk_span {
    const void *data;
    size_t size;
} zpk_span_t;

/** The result of zpk_ndarray_encode(). Release with zpk_ndarray_enc_free(). */
typedef struct zpk_ndarray_enc {
    void *header;          /**< MessagePack map (owned; zpk_free), or NULL */
    size_t header_size;
    zpk_chunk_t *chunks;   /**< info.nchunks chunks (the array is owned) */
    size_t nchunks;
    zpk_ndarray_info_t info; /**< what the header says */
} zpk_ndarray_enc_t;

/**
 * Turns @p a into chunks with @p codec (NULL: none) and, unless
 * @p want_header is false, header bytes. C- and F-contiguous arrays are
 * used in place (their order recorded); any other layout is first copied
 * once to C order (raw chunks then borrow from that copy, which is freed
 * when the last of them is). With `auto`, payloads below auto_min_size go
 * raw; from 256 KiB up they are sampled first (4 pieces spread over the
 * payload, auto_sample bytes but at most 1/64 of it) and go raw when the
 * sample does not reach auto_min_ratio;
 * otherwise each chunk is compressed and kept only when it reaches
 * auto_min_ratio, else stored raw (the header lists it in "raw").
 * Compressed chunks are written once, into buffers sized by
 * zpk_codec_bound() and then shrunk. Does not take ownership of @p a,
 * whose data must outlive the borrowed chunks.
 * On success caller owns @p enc and must zpk_ndarray_enc_free() it; on error
 * @p enc is left empty.
 * @return 0; ZPK_EINVAL (NULL, bad codec settings, `auto` absent from a
 *         chunk setting); ZPK_EDTYPE; ZPK_ENOTSUP (blosc not built);
 *         ZPK_ELIMIT (chunk_size too large for blosc); ZPK_ENOMEM.
 */
ZPK_API int zpk_ndarray_encode(const zpk_ndarray_t *a, const zpk_codec_t *codec,
                             bool want_header, zpk_ndarray_enc_t *enc,
                             zpk_error_t *err);

/**
 * Frees the header, the chunk list, and every owned chunk whose free_fn
 * is still set. NULL is a no-op; leaves @p enc empty.
 */
ZPK_API void zpk_ndarray_enc_free(zpk_ndarray_enc_t *enc);

/**
 * Writes @p info as the array header map (keys in src/wire.h, documented
 * in docs/arrays.md) with @p w, so that a message header can embed it.
 * Errors are the writer's sticky error.
 */
ZPK_API void zpk_ndarray_header_write(zpk_writer_t *w, const zpk_ndarray_info_t *info);

/**
 * Most bytes zpk_ndarray_header_write() can produce for @p info (for a fixed
 * buffer given to zpk_writer_init_buffer()). Returns 0 on overflow.
 */
ZPK_API size_t zpk_ndarray_header_bound(const zpk_ndarray_info_t *info);

/**
 * Reads an array header map from @p r (positioned at the map) into
 * @p info, validating everything listed at zpk_ndarray_info_t before any
 * allocation; the only allocation is the chunk table, whose length is
 * bounded by the bytes left in the reader. Unknown keys are skipped.
 * @p opts may be NULL (defaults). On success caller owns @p info and must
 * zpk_ndarray_info_free() it; on error @p info is left empty.
 * @return 0; the reader's errors (ZPK_EOUTOFDATA, ZPK_EFORMAT, ...);
 *         ZPK_EFORMAT (not a map, missing/duplicate key, wrong type,
 *         inconsistent chunk table); ZPK_EDTYPE; ZPK_ESHAPE (ndim > 32,
 *         byte count differs from the shape's); ZPK_EOVERFLOW; ZPK_ELIMIT
 *         (over max_ndarray_bytes, or a chunk table or raw list longer than
 *         max_chunks); ZPK_ECODEC; ZPK_ENOTSUP; ZPK_ENOMEM.
 */
ZPK_API int zpk_ndarray_header_read(zpk_reader_t *r, const zpk_ndarray_opts_t *opts,
                                  zpk_ndarray_info_t *info, zpk_error_t *err);

/**
 * zpk_ndarray_header_read() over @p size bytes at @p data, which must hold
 * exactly one map (ZPK_EEXTRADATA otherwise).
 */
ZPK_API int zpk_ndarray_header_decode(const void *data, size_t size,
                                    const zpk_ndarray_opts_t *opts,
                                    zpk_ndarray_info_t *info, zpk_error_t *err);

/**
 * Decodes the @p n chunks (exactly info->nchunks, each exactly its stored
 * size) into @p dst (at least info->nbytes bytes), writing exactly
 * info->nbytes bytes, nothing past them, and allocating nothing (zlib's
 * inflate state aside). Does not take ownership of any argument.
 * @return 0; ZPK_EFRAME (chunk count differs); ZPK_ESHAPE (a chunk's size
 *         differs from the table); ZPK_EBUFFULL (@p dst_size too small);
 *         ZPK_EDECOMPRESS; ZPK_ENOTSUP; ZPK_ENOMEM; ZPK_EINVAL.
 */
ZPK_API int zpk_ndarray_decode_into(const zpk_ndarray_info_t *info,
                                  const zpk_span_t *chunks, size_t n, void *dst,
                                  size_t dst_size, zpk_error_t *err);

/**
 * As zpk_ndarray_decode_into() with every chunk stored back to back in one
 * buffer of exactly info->stored_bytes bytes (single-frame mode).
 */
ZPK_API int zpk_ndarray_decode_concat(const zpk_ndarray_info_t *info, const void *data,
                                    size_t size, void *dst, size_t dst_size,
                                    zpk_error_t *err);

/**
 * As zpk_ndarray_decode_into() into one new allocation of exactly
 * info->nbytes bytes (made only after the chunk count and sizes have been
 * checked), described by @p out. Caller owns @p out and must
 * zpk_ndarray_free() it; on error nothing is allocated and @p out is
 * left empty.
 */
ZPK_API int zpk_ndarray_decode(const zpk_ndarray_info_t *info, const zpk_span_t *chunks,
                             size_t n, zpk_ndarray_t *out, zpk_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
/** @} */
