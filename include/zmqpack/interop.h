/**
 * @file zmqpack/interop.h
 * @defgroup interop Interop: array formats of other ZeroMQ streams
 *
 * Reads and writes the array formats that existing ZeroMQ streams already
 * use, on documents and frames, and receives them from sockets as
 * zmqpack/socket.h does its own messages, so that zmqpack can talk to them
 * natively and zero-copy (docs/interop.md):
 * - msgpack-numpy (lebedov/msgpack-numpy): an ndarray or numpy scalar as a
 *   MessagePack map {"nd", "type", "kind", "shape", "data"};
 * - the Karabo bridge (European XFEL, karabo-bridge-py), protocols 2.2 and
 *   1.0: one "train" of per-source data in a multipart message.
 *
 * Every reader checks each declared size against the bytes actually there
 * and hands out views: an ndarray whose data points into the document or
 * the frame it came from (never copied, never aligned on purpose: use
 * memcpy or a copy to read items of more than one byte on machines that
 * care), with free_fn NULL. The view is valid as long as what it points
 * into is, and is read-only in spirit even though zpk_ndarray_t::data is
 * not const.
 * @{
 */
#ifndef ZMQPACK_INTEROP_H
#define ZMQPACK_INTEROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zmqpack/codec.h"
#include "zmqpack/common.h"
#include "zmqpack/doc.h"
#include "zmqpack/message.h"
#include "zmqpack/msgpack.h"
#include "zmqpack/ndarray.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- msgpack-numpy ----------------------------------------------------------- */

/**
 * Reads node @p n as what msgpack-numpy's encode() writes for a numpy
 * value, into the view @p out:
 * - an ndarray map {"nd": true, "type": typestr, "kind": "", "shape":
 *   [...], "data": bytes} gives an array of that shape in C order;
 * - a numpy scalar map {"nd": false, "type": typestr, "data": bytes}
 *   gives a 0-d array.
 * Keys may be bin (msgpack-numpy with use_bin_type=True, the default of
 * msgpack 1.0) or str (older writers); "type" and "data" likewise; "kind"
 * may be absent (writers before 0.4.0). out->data points at the bytes of
 * "data" inside the document (see ZPK_DOC_BORROW for where those live).
 * Does not allocate. @p err (optional) gets the details.
 * @return 0 and @p out set;
 *         ZPK_ETYPE when @p n is not a map with an "nd" bool (a plain value:
 *         nothing is recorded in @p err, so callers can probe any node);
 *         ZPK_EFORMAT when a key it needs is missing or of the wrong type;
 *         ZPK_ENOTSUP for an object array (kind "O": its data is a pickle,
 *         which zmqpack never runs);
 *         ZPK_EDTYPE for a dtype zmqpack does not carry (structured kind
 *         "V", strings, datetimes...);
 *         ZPK_ESHAPE when "data" is not exactly the dtype's item size times
 *         the shape's product (a lying shape), or more than ZPK_MAX_NDIM
 *         dimensions; ZPK_EOVERFLOW when that product overflows;
 *         ZPK_EINVAL for NULL arguments. On error @p out is left empty.
 */
ZPK_API int zpk_node_get_msgpack_numpy(const zpk_node_t *n, zpk_ndarray_t *out,
                                       zpk_error_t *err);

/**
 * Writes @p a (any layout) as msgpack-numpy's ndarray map, byte for byte
 * what `msgpack.packb(A, use_bin_type=True, default=msgpack_numpy.encode)`
 * writes for the same numpy array: bin keys, "type" the typestr ("<f8",
 * "|u1") as a str, "kind" an empty bin, "shape" an array, "data" a bin of
 * the items in C order (an array in another layout is copied once into a
 * temporary C-ordered buffer). A 0-d array is written as an ndarray of
 * shape [] (as numpy's 0-d arrays are), not as a scalar map.
 * Does not take ownership of @p a.
 * @return 0; ZPK_EDTYPE for an invalid dtype; ZPK_EINVAL for NULL, or NULL
 *         data with a non-zero size; ZPK_ENOMEM (the temporary copy); the
 *         writer's sticky error (ZPK_EBUFFULL...), which is also recorded
 *         in @p w for every failure above.
 */
ZPK_API int zpk_write_msgpack_numpy(zpk_writer_t *w, const zpk_ndarray_t *a);

/* ---- Karabo bridge --------------------------------------------------------- */

/** zpk_karabo_train_t::protocol of a one-frame message (msgpack-numpy inside). */
#define ZPK_KARABO_PROTOCOL_1_0 10
/** zpk_karabo_train_t::protocol of a message of (header, payload) frame pairs. */
#define ZPK_KARABO_PROTOCOL_2_2 22

/** One array of a source: its key and a view of its items. */
typedef struct zpk_karabo_ndarray {
    const char *path;      /**< the key, e.g. "image.data" (not NUL-terminated) */
    size_t path_len;
    zpk_ndarray_t ndarray; /**< a view into a frame (free_fn NULL), C order */
} zpk_karabo_ndarray_t;

/** One source (device) of a train. */
typedef struct zpk_karabo_source {
    const char *name;      /**< the source name (not NUL-terminated) */
    size_t name_len;
    /** Map of the source's metadata ("timestamp.tid"...); NULL when none was sent. */
    const zpk_node_t *metadata;
    /**
     * Map of the source's values. Protocol 2.2: the msgpack payload (the
     * arrays travel apart, in @c ndarrays). Protocol 1.0: the source's map
     * as sent, its arrays still there as msgpack-numpy maps (also listed
     * in @c ndarrays) and its "metadata" key included.
     */
    const zpk_node_t *data;
    size_t n_ndarrays;
    zpk_karabo_ndarray_t *ndarrays; /**< in message order */
    /**
     * Protocol 2.2: the index in zpk_karabo_train_t::frames of the source's
     * msgpack header; its payload is the next frame. 1.0: 0.
     */
    size_t frame;
} zpk_karabo_source_t;

/**
 * A decoded Karabo train. Fill it with zpk_karabo_decode() or
 * zpk_karabo_recv(), release it with zpk_karabo_train_free(). Fields
 * ending in `_` are private.
 */
typedef struct zpk_karabo_train {
    int protocol;                  /**< ZPK_KARABO_PROTOCOL_2_2 or _1_0 */
    size_t n_sources;
    zpk_karabo_source_t *sources;  /**< in message order */
    const zpk_frame_t *frames;     /**< the message's frames, as received (read them only) */
    size_t n_frames;
    zpk_doc_t **docs_;             /**< private: the documents the nodes live in */
    size_t n_docs_;                /**< private */
    void *hold_;                   /**< private: keeps the frames alive */
} zpk_karabo_train_t;

/**
 * Decodes the @p n frames of one Karabo bridge message (what the bridge's
 * server sends: see docs/interop.md). One frame is protocol 1.0 (a
 * msgpack map {source: {key: value, ..., "metadata": {...}}} whose arrays
 * are msgpack-numpy maps); more is protocol 2.2, (header, payload) pairs:
 * a header {"source", "content": "msgpack", "metadata"} before the
 * source's values, then for each array a header {"source", "content":
 * "array" (or "ImageData", as the C++ client accepts), "path", "dtype",
 * "shape"} before its raw C-ordered bytes.
 *
 * Nothing is copied: strings, nodes and array views point into the
 * frames. The frames are taken over as the zpk_decode_*() calls of
 * zmqpack/message.h take them, whatever happens: each frame's free_fn
 * runs exactly once, when the train is freed (or before the call returns
 * on error); frames without one are borrowed and must stay alive and
 * unchanged until the train is freed. @p opts may be NULL; opts->limits
 * bounds every MessagePack object. With ZPK_RECV_BYTES in opts->flags the
 * payloads of protocol 2.2 are left unparsed and unchecked (each source's
 * @c data is NULL; its payload is frames[frame + 1]), for callers with
 * their own MessagePack decoder (the Python binding). Array
 * sizes are checked against their frames. Stricter than karabo-bridge-py,
 * which lets some of these through: an odd number of frames, an array
 * whose size is not its dtype times its shape, a source's array headers
 * apart from its msgpack header, a source sent twice are all refused.
 * @return 0 and @p out filled (caller owns it and must
 *         zpk_karabo_train_free() it);
 *         ZPK_EFRAME: no frame, or an odd number of frames above one;
 *         ZPK_EFORMAT: a header or payload that is not a map, a missing or
 *         mistyped key, an unknown "content", an array before its source's
 *         msgpack header, a source twice, an array path twice; also the
 *         errors of zpk_doc_parse() for the MessagePack inside
 *         (ZPK_EOUTOFDATA, ZPK_EEXTRADATA, ZPK_ELIMIT, ZPK_ETOODEEP...);
 *         ZPK_EDTYPE: a dtype zmqpack does not carry;
 *         ZPK_ESHAPE: a shape that does not match its payload's size or has
 *         over ZPK_MAX_NDIM dimensions; ZPK_EOVERFLOW;
 *         zpk_node_get_msgpack_numpy()'s errors for the arrays of 1.0
 *         (ZPK_ENOTSUP for an object array);
 *         ZPK_ENOMEM; ZPK_EINVAL for NULL arguments.
 *         err->frame (when @p err is given) is the faulty frame's index:
 *         for a payload whose size disagrees with its header, the payload.
 *         On error @p out is left empty (zpk_karabo_train_free() on it is
 *         harmless).
 */
ZPK_API int zpk_karabo_decode(const zpk_frame_t *frames, size_t n, const zpk_recv_opts_t *opts,
                              zpk_karabo_train_t *out, zpk_error_t *err);

/**
 * Receives one message from @p socket (the client's side of the bridge: a
 * REQ socket that has sent "next", a SUB or a PULL; or a zsock_t with
 * CZMQ) and decodes it as zpk_karabo_decode() does; the train keeps the
 * received frames, without copying them, until zpk_karabo_train_free().
 * Whatever the error, the whole message has been taken off the socket, so
 * the next receive starts on a message boundary (see zmqpack/socket.h).
 * opts->flags takes ZPK_DONTWAIT (and ZPK_RECV_BYTES). Caller owns @p out on success.
 * @return 0; -EAGAIN / -EINTR / -ETERM / other -errno from libzmq (nothing
 *         taken); ZPK_EFRAME for a message of more than ZPK_MAX_FRAMES
 *         frames; zpk_karabo_decode()'s errors; ZPK_EINVAL (NULL socket or
 *         @p out). On error @p out is left empty.
 */
ZPK_API int zpk_karabo_recv(void *socket, const zpk_recv_opts_t *opts, zpk_karabo_train_t *out,
                            zpk_error_t *err);

/** Frees everything @p t holds and clears it. NULL and an empty train are no-ops. */
ZPK_API void zpk_karabo_train_free(zpk_karabo_train_t *t);

/** The source named @p name (NUL-terminated) of @p t, or NULL. */
ZPK_API const zpk_karabo_source_t *zpk_karabo_train_source(const zpk_karabo_train_t *t,
                                                           const char *name);

/** The array at key @p path (NUL-terminated) of source @p s, or NULL. */
ZPK_API const zpk_ndarray_t *zpk_karabo_source_ndarray(const zpk_karabo_source_t *s,
                                                       const char *path);

/**
 * The train id: the "timestamp.tid" of the first source whose metadata
 * has one (the bridge gives every source the same).
 * @return 0 and *@p tid set; ZPK_ENOTFOUND when no source has one;
 *         ZPK_ETYPE when it is not a non-negative integer; ZPK_EINVAL.
 */
ZPK_API int zpk_karabo_train_id(const zpk_karabo_train_t *t, uint64_t *tid);

/**
 * Writes the protocol 2.2 header of source @p source's values,
 * {"source": source, "content": "msgpack", "metadata": ...} as
 * karabo-bridge-py writes it, and leaves the "metadata" value to the
 * caller: write exactly one map next (zpk_write_map(w, 0) for none). The
 * source's non-array values, packed as one map, are the payload frame
 * that follows; each array then goes as zpk_karabo_write_ndarray_header()
 * and its bytes. Sources go in sorted order of names (as the bridge sends
 * them). Errors are the writer's sticky error.
 */
ZPK_API void zpk_karabo_write_source_header(zpk_writer_t *w, const char *source);

/**
 * Writes the protocol 2.2 header of array @p a at key @p path of source
 * @p source: {"source", "content": "array", "path", "dtype": numpy's name
 * of the dtype as str(A.dtype) prints it ("uint16", or ">u2" in the
 * other byte order), "shape": [...]}, byte for byte as karabo-bridge-py.
 * The frame after it holds the array's items in C order (@p a's data when
 * it is C-contiguous, else a copy such as zpk_ndarray_dup() makes).
 * @return 0; ZPK_EDTYPE; ZPK_EINVAL for NULL; the writer's sticky error.
 */
ZPK_API int zpk_karabo_write_ndarray_header(zpk_writer_t *w, const char *source,
                                            const char *path, const zpk_ndarray_t *a);

#ifdef __cplusplus
}
#endif

#endif
/** @} */
