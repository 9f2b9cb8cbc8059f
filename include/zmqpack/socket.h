/**
 * @file zmqpack/socket.h
 * @defgroup socket Socket: send and receive on libzmq (and CZMQ) sockets
 *
 * One call puts a MessagePack object, an array, or a mixed message
 * (an object whose arrays travel as their own frames) on a ZeroMQ socket;
 * one call takes it off. The wire format is docs/PROTOCOL.md.
 *
 * Sockets: every @p socket argument is a libzmq socket (`void *` from
 * zmq_socket()); in a build with CZMQ (ZPK_HAVE_CZMQ) it may also be a
 * `zsock_t *` (resolved with zsock_resolve()).
 *
 * Errors: 0 on success, a negative code on failure. libzmq's errors come
 * back as negative errno values exactly as libzmq reports them: -EAGAIN
 * (ZPK_DONTWAIT with nothing to do, or ZMQ_SNDTIMEO / ZMQ_RCVTIMEO expired),
 * -EINTR, -ETERM (the context was terminated), -ENOTSOCK, -EFSM (e.g. a
 * REQ socket out of turn)...
 *
 * Receiving never desynchronises a socket: whatever the error (a foreign
 * message, a missing or extra frame, a header that lies about its payload,
 * an unknown codec, a newer protocol version, no memory), the whole
 * multipart message has been taken off the socket and every zmq_msg_t
 * closed before the call returns, so the next receive starts on a message
 * boundary. Only -EAGAIN, -EINTR and -ETERM before the first frame leave the
 * socket untouched.
 * @{
 */
#ifndef ZMQPACK_SOCKET_H
#define ZMQPACK_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zmqpack/ndarray.h"
#include "zmqpack/codec.h"
#include "zmqpack/common.h"
#include "zmqpack/doc.h"
#include "zmqpack/message.h"
#include "zmqpack/msgpack.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Same value as ZMQ_DONTWAIT: do not block (send and receive). */
#define ZPK_DONTWAIT 1
/**
 * Send flag: single-frame mode (header and payload in one frame), for
 * ZMQ_CONFLATE. Messages whose payload is under 16 KiB are sent this way
 * even without the flag (one frame costs less than two in libzmq).
 */
#define ZPK_SEND_SINGLE 0x100
/** Send flag (arrays only): the pyzmq recipe, a JSON {"dtype", "shape"} frame and a raw frame. */
#define ZPK_SEND_RECIPE 0x200

/** Default zpk_send_opts_t::copy_below: frames under 64 KiB are copied (see docs/performance.md). */
#define ZPK_DEFAULT_COPY_BELOW ((size_t)64 * 1024)

/* ---- trackers -------------------------------------------------------------- */

/**
 * A tracker tells when libzmq has let go of borrowed memory: every
 * zero-copy frame sent with it holds it "pending" until libzmq (or, over
 * inproc, the receiver) closes the frame. One tracker may follow many
 * sends. Thread-safe.
 */
typedef struct zpk_tracker zpk_tracker_t;

/** A new tracker with nothing pending. Caller owns it and must destroy it. NULL on ENOMEM. */
ZPK_API zpk_tracker_t *zpk_tracker_new(void);

/**
 * Waits until nothing sent with @p t is held by libzmq any more.
 * @p timeout_ms: 0 polls, negative waits forever.
 * @return 0 when done; -EAGAIN when the timeout expired first;
 *         ZPK_EINVAL for NULL.
 */
ZPK_API int zpk_tracker_wait(zpk_tracker_t *t, int timeout_ms);

/** True when nothing sent with @p t is held any more (NULL: true). */
ZPK_API bool zpk_tracker_done(zpk_tracker_t *t);

/**
 * Waits for @p *t to be done (forever: destroy it only once the frames
 * can be released, e.g. after the socket or context is closed), frees it
 * and sets *@p t to NULL. NULL or *t NULL is a no-op.
 */
ZPK_API void zpk_tracker_destroy(zpk_tracker_t **t);

/* ---- send ------------------------------------------------------------------ */

/** How zpk_send_array() and zpk_send_mixed() treat the caller's array data. */
typedef enum zpk_own {
    /**
     * Copy: the data is copied into libzmq's messages; the caller may
     * change or free it as soon as the call returns. Best for small payloads.
     */
    ZPK_OWN_COPY = 0,
    /**
     * Borrow: the data is sent zero-copy (frames under copy_below are
     * still copied); the caller must keep it alive and unchanged until
     * opts->tracker is done (a tracker is required). Over inproc the
     * receiver gets this very memory (zpk_recv_array() hands it out
     * writable): share it only with receivers that treat it as read-only,
     * or copy.
     */
    ZPK_OWN_BORROW = 1,
    /**
     * Give: ownership of the data passes to the library on success;
     * opts->free_fn(data, opts->hint) runs exactly once when libzmq is done
     * with every frame. It may run on one of libzmq's I/O threads (tcp, ipc)
     * or on the receiving thread (inproc), so it must be thread-safe.
     * On error ownership stays with the caller and free_fn is not called;
     * except for -ETERM after part of the message was queued, after which
     * free_fn still runs once.
     * With mixed messages free_fn gets each array's data pointer in turn.
     */
    ZPK_OWN_GIVE = 2,
} zpk_own_t;

/** Options of the send calls; zero-initialise it or use zpk_send_opts_init(). */
typedef struct zpk_send_opts {
    int flags;               /**< ZPK_DONTWAIT | ZPK_SEND_SINGLE | ZPK_SEND_RECIPE */
    const void *topic;       /**< optional first frame for PUB/SUB filtering */
    size_t topic_len;        /**< bytes of topic (0: no topic frame) */
    const zpk_codec_t *codec; /**< payload compression; NULL: none */
    zpk_own_t own;           /**< arrays: copy, borrow or give */
    zpk_tracker_t *tracker;  /**< required with ZPK_OWN_BORROW; optional otherwise */
    void (*free_fn)(void *data, void *hint); /**< ZPK_OWN_GIVE */
    void *hint;              /**< passed to free_fn */
    size_t copy_below;       /**< zero-copy frames smaller than this are copied (0: default) */
    zpk_error_t *err;        /**< optional details of a failure */
} zpk_send_opts_t;

/** Fills @p o with the defaults: no flags, no topic, no codec, ZPK_OWN_COPY. */
ZPK_API void zpk_send_opts_init(zpk_send_opts_t *o);

/**
 * Sends the bytes written to @p w (one MessagePack object) as a packed
 * message, without copying them: the growable writer's buffer goes to
 * libzmq, which frees it with zpk_free() when it is done (possibly on its
 * I/O thread). @p topic (NUL-terminated) may be NULL. @p flags:
 * ZPK_DONTWAIT, ZPK_SEND_SINGLE.
 * On success the writer is left empty (its buffer now belongs to libzmq)
 * and can be written again; on error it is unchanged and still owns its
 * bytes. The writer itself stays the caller's (zpk_writer_free() it).
 * @return 0; -EAGAIN, -EINTR, -ETERM and other -errno from libzmq;
 *         the writer's sticky error; ZPK_EINVAL (not a growable writer,
 *         nothing written, a topic that looks like a header); ZPK_ENOMEM.
 */
ZPK_API int zpk_send_packed(void *socket, const char *topic, zpk_writer_t *w, int flags);

/**
 * zpk_send_packed() with options: topic, flags and codec (the payload is
 * compressed as a byte array of dtype |u1 when opts->codec says so; `auto`
 * leaves small payloads alone). @p opts may be NULL.
 * @return as zpk_send_packed(); zpk_ndarray_encode()'s errors for the codec.
 */
ZPK_API int zpk_send_packed_ex(void *socket, zpk_writer_t *w, const zpk_send_opts_t *opts);

/**
 * Packs with zmqpack/format.h's format string (zpk_pack_fmt()) and sends
 * the object in one call, without a topic. @p flags: ZPK_DONTWAIT,
 * ZPK_SEND_SINGLE.
 * @return 0; zpk_pack_fmt()'s errors (ZPK_EINVAL for a bad format...);
 *         the errors of zpk_send_packed().
 */
ZPK_API int zpk_sendf(void *socket, int flags, const char *fmt, ...);

/**
 * Sends array @p a (any layout: non-contiguous arrays are copied once to C
 * order) with @p opts (NULL: copy, no codec, no topic). Raw payloads
 * travel as one frame; compressed ones as one frame per chunk. See
 * zpk_own_t for what happens to @p a's data. With ZPK_SEND_RECIPE the
 * pyzmq recipe is sent instead (C-contiguous arrays only, no codec).
 * Each thread keeps the header of the last uncompressed two-frame array it
 * sent (when up to 512 bytes) and sends it again, without encoding, when
 * the next array has the same dtype, shape, order and size.
 * Does not take ownership of @p a itself (the descriptor).
 * @return 0; libzmq's -errno; ZPK_EINVAL (NULL, a borrow without tracker,
 *         a give without free_fn, a bad topic, recipe of an F-order array);
 *         zpk_ndarray_encode()'s errors (ZPK_EDTYPE, ZPK_ENOTSUP, ZPK_ELIMIT);
 *         ZPK_ENOMEM.
 */
ZPK_API int zpk_send_array(void *socket, const zpk_ndarray_t *a, const zpk_send_opts_t *opts);

/**
 * Sends a mixed message: the object written to @p w, in which each array
 * is replaced by zpk_write_ndarray_ref(w, i), and the @p n arrays @p arrays,
 * each as its own frames, zero-copy as opts->own says. The writer's bytes
 * go to libzmq as zpk_send_packed() does (on error the writer is unchanged).
 * @return as zpk_send_array() and zpk_send_packed().
 */
ZPK_API int zpk_send_mixed(void *socket, zpk_writer_t *w, const zpk_ndarray_t *arrays, size_t n,
                           const zpk_send_opts_t *opts);

/* ---- receive ---------------------------------------------------------------- */

/** Options of the receive calls; zero-initialise it or use zpk_recv_opts_init(). */
typedef struct zpk_recv_opts {
    int flags;               /**< ZPK_DONTWAIT */
    char *topic;             /**< optional: receives the topic, NUL-terminated, truncated to topic_cap-1 */
    size_t topic_cap;        /**< bytes at topic */
    size_t topic_len;        /**< out: the topic's full length (0: no topic frame) */
    const zpk_limits_t *limits;          /**< MessagePack limits (NULL: defaults) */
    const zpk_ndarray_opts_t *array_opts;  /**< array limits (NULL: defaults) */
    zpk_error_t *err;        /**< optional details: code, frame, offset, text */
} zpk_recv_opts_t;

/** Fills @p o with the defaults (blocking, no topic buffer, default limits). */
ZPK_API void zpk_recv_opts_init(zpk_recv_opts_t *o);

/**
 * Receives a packed message into a document tree. An uncompressed payload
 * is parsed in place: the tree borrows its strings from the received
 * zmq_msg_t, which the document owns (zpk_doc_set_owner()) and releases when
 * destroyed. On success caller owns *@p doc and must zpk_doc_destroy() it.
 * @p flags: ZPK_DONTWAIT.
 * @return 0; -EAGAIN / -EINTR / -ETERM / other -errno (nothing taken);
 *         ZPK_EFOREIGN (not a zmqpack message); ZPK_EVERSION (newer
 *         protocol); ZPK_EFRAME (frame missing or extra); ZPK_ETYPE (a
 *         zmqpack message of another kind); ZPK_EFORMAT (bad header);
 *         ZPK_ECODEC; ZPK_EDECOMPRESS; ZPK_ESHAPE (a chunk's size differs
 *         from the header's); zpk_doc_parse()'s errors (ZPK_EEXTRADATA
 *         included: the payload must be exactly one object); ZPK_ELIMIT;
 *         ZPK_ENOMEM. On every error the message is drained and *doc NULL.
 */
ZPK_API int zpk_recv_packed(void *socket, zpk_doc_t **doc, int flags);

/** zpk_recv_packed() with options (topic, limits, error details). @p opts may be NULL. */
ZPK_API int zpk_recv_packed_ex(void *socket, zpk_doc_t **doc, zpk_recv_opts_t *opts);

/**
 * Receives an array (a zmqpack array message, or the pyzmq recipe: a JSON
 * {"dtype", "shape"} frame and a raw frame) into @p out. An uncompressed
 * payload stays where libzmq received it when that address is aligned for
 * the dtype (else it is copied once into an aligned allocation);
 * compressed payloads are decoded once into one allocation of exactly the
 * declared size. Either way out->data is writable and owned by @p out
 * (out->free_fn set): the caller must zpk_ndarray_free(out).
 * The byte order is the sender's (see zpk_ndarray_to_native()).
 * Each thread keeps the last header (when up to 256 bytes) of an
 * uncompressed two-frame array received with default options (@p opts
 * without limits or array_opts), with what it decodes to; a message whose header repeats it byte for
 * byte is not decoded again (zpk_recv_array_into() too).
 * @return 0; the errors of zpk_recv_packed() (ZPK_ETYPE for a message
 *         that is not an array); ZPK_EDTYPE; ZPK_ESHAPE; ZPK_ELIMIT (over
 *         max_ndarray_bytes). On error @p out is left empty.
 */
ZPK_API int zpk_recv_array(void *socket, zpk_ndarray_t *out, int flags);

/** zpk_recv_array() with options. @p opts may be NULL. */
ZPK_API int zpk_recv_array_ex(void *socket, zpk_ndarray_t *out, zpk_recv_opts_t *opts);

/**
 * Receives an array and decompresses or copies it into the caller's
 * @p buf of @p cap bytes. @p out (optional) describes the result over
 * @p buf and does not own it (out->free_fn NULL).
 * @return 0; ZPK_EBUFFULL when the array needs more than @p cap bytes
 *         (the message is drained; out->nbytes is not set); the errors
 *         of zpk_recv_array().
 */
ZPK_API int zpk_recv_array_into(void *socket, void *buf, size_t cap, zpk_ndarray_t *out,
                                zpk_recv_opts_t *opts);

/** A received mixed message: one document and its arrays. */
typedef struct zpk_mixed {
    zpk_doc_t *doc;        /**< the object; its array references index @c ndarrays */
    size_t n_ndarrays;
    zpk_ndarray_t *ndarrays; /**< each owns its data (release with zpk_mixed_free()) */
} zpk_mixed_t;

/**
 * Receives a mixed message (a packed message is accepted too: it has no
 * arrays). Arrays stay in the received frames when aligned and raw, as
 * zpk_recv_array() does. On success caller owns @p out and must
 * zpk_mixed_free() it; on error @p out is left empty.
 * @return as zpk_recv_array().
 */
ZPK_API int zpk_recv_mixed(void *socket, zpk_mixed_t *out, zpk_recv_opts_t *opts);

/**
 * The array that node @p n (an array reference) stands for, or NULL when
 * @p n is not a reference or its index is out of range. @p m keeps ownership.
 */
ZPK_API const zpk_ndarray_t *zpk_mixed_ndarray(const zpk_mixed_t *m, const zpk_node_t *n);

/** Releases the document and every array of @p m and clears it. NULL is a no-op. */
ZPK_API void zpk_mixed_free(zpk_mixed_t *m);

/**
 * The packed payload of a received packed or mixed message, as bytes: for
 * callers with their own MessagePack decoder (the Python binding) that
 * have no use for a document tree. Fill it with zpk_recv_packed_bytes(),
 * give it back with zpk_msgbuf_free(). The fields ending in `_` are
 * private.
 */
typedef struct zpk_msgbuf {
    const uint8_t *data;   /**< the object's MessagePack bytes (decompressed when it was compressed) */
    size_t size;           /**< bytes at data (at least 1) */
    size_t n_ndarrays;  /**< arrays of a mixed message (0 for a packed message) */
    zpk_ndarray_t *ndarrays; /**< each owns its data; released with the buffer */
    void (*release_)(void *); /**< private: lets go of what keeps @c data alive */
    void *owner_;          /**< private: argument of release_ */
} zpk_msgbuf_t;

/**
 * Receives a packed message (or a mixed message: its arrays as
 * zpk_recv_mixed() makes them) and hands back the object's bytes without
 * parsing them. An uncompressed payload stays in the received zmq_msg_t,
 * which @p out keeps alive (no copy, no allocation beyond the frames'
 * holder); a compressed one is decoded once into an allocation of its
 * declared size (at most limits->max_buffer_size). The bytes are exactly
 * what the sender packed and are NOT validated: decode them with a
 * decoder that checks its input (zpk_doc_parse(), zpk_reader_*, an
 * unpacker). On success caller owns @p out and must zpk_msgbuf_free()
 * it; on error @p out is left empty. @p opts may be NULL (topic, limits,
 * flags, error details as in zpk_recv_packed_ex()).
 * @return 0; ZPK_EINVAL (NULL @p out); the errors of zpk_recv_packed()
 *         except zpk_doc_parse()'s (ZPK_ETYPE for an array message);
 *         ZPK_ELIMIT (compressed object over max_buffer_size); the errors
 *         of zpk_recv_mixed() for its arrays.
 */
ZPK_API int zpk_recv_packed_bytes(void *socket, zpk_msgbuf_t *out, zpk_recv_opts_t *opts);

/** Releases the bytes and the arrays of @p b and clears it. NULL, or an empty @p b, is a no-op. */
ZPK_API void zpk_msgbuf_free(zpk_msgbuf_t *b);

#ifdef __cplusplus
}
#endif

#endif
/** @} */
