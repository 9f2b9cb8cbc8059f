/**
 * @file zmqpack/message.h
 * @defgroup message Message: zmqpack messages as frames, without a socket
 *
 * A zmqpack message is a list of frames (docs/PROTOCOL.md):
 *
 *     [envelope frame ...]  header  [payload frame ...]
 *
 * The envelope is whatever routing ZeroMQ puts in front: a PUB/SUB topic,
 * ROUTER identities, the empty delimiter of REQ and of the zguide's
 * DEALER patterns, several hops of them. The header is the first frame
 * that starts like one (zpk_is_header()); the payload frames follow it.
 *
 * This header turns a message into frames and frames back into a message,
 * with no socket in between: a proxy, a logger, a replay tool, a test or
 * another binding (pyzmq's send_serialized) uses exactly what the socket
 * calls of zmqpack/socket.h use, since those are built on these calls.
 *
 * | message                 | encode to frames       | decode frames          |
 * |-------------------------|------------------------|------------------------|
 * | packed object           | zpk_encode_packed()    | zpk_decode_packed()    |
 * | ndarray                 | zpk_encode_ndarray()   | zpk_decode_ndarray()   |
 * | mixed: object + ndarrays| zpk_encode_mixed()     | zpk_decode_mixed()     |
 *
 * zpk_decode_mixed() also takes a packed message (an object with no
 * ndarrays) and can hand back the object's bytes unparsed (ZPK_RECV_BYTES).
 * Every call that takes a zpk_error_t resets it when it starts; on a
 * failure it holds the code, the index of the faulty frame, the byte
 * offset in that frame and a short text.
 * @{
 */
#ifndef ZMQPACK_MESSAGE_H
#define ZMQPACK_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zmqpack/codec.h"
#include "zmqpack/common.h"
#include "zmqpack/doc.h"
#include "zmqpack/msgpack.h"
#include "zmqpack/ndarray.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The protocol version this library writes (and the newest it reads). */
#define ZPK_PROTOCOL_VERSION 1

/**
 * The MessagePack ext type that marks an ndarray reference inside the
 * object of a mixed message: a fixext 4 whose payload is the ndarray's
 * index (big-endian uint32) in the message's "arrays" list. An ext 90 of
 * another length in a mixed message's object is malformed.
 */
#define ZPK_EXT_NDARRAY_REF 90

/**
 * True when the @p size bytes at @p data start like a zmqpack header
 * (a MessagePack fixmap whose first key is the str "zpk": `8N a3 7a 70 6b`).
 * An envelope frame that starts like this is refused by every encode and
 * send call (ZPK_EINVAL), so a receiver always finds the header.
 */
ZPK_API bool zpk_is_header(const void *data, size_t size);

/**
 * Writes a reference to ndarray number @p index of a mixed message (an ext
 * ZPK_EXT_NDARRAY_REF of 4 bytes) where an ndarray belongs in the object.
 * Errors are the writer's sticky error.
 */
ZPK_API void zpk_write_ndarray_ref(zpk_writer_t *w, uint32_t index);

/**
 * Reads an ndarray reference from @p n.
 * @return 0 and *@p index set; ZPK_ETYPE when @p n is not an ext of type
 *         ZPK_EXT_NDARRAY_REF; ZPK_EFORMAT when its payload is not 4 bytes;
 *         ZPK_EINVAL for NULL arguments.
 */
ZPK_API int zpk_node_get_ndarray_ref(const zpk_node_t *n, uint32_t *index);

/* ---- frames ------------------------------------------------------------------ */

/**
 * One frame: its bytes and how they are released. With @c free_fn set the
 * frame owns its bytes and free_fn(data, hint) releases them, exactly once
 * (the signature of zmq_msg_init_data()'s free function; it may run on any
 * thread). With @c free_fn NULL the bytes are borrowed from someone who
 * keeps them alive (see each call). To take over an owned frame, copy it
 * and set free_fn to NULL in the list it came from.
 */
typedef struct zpk_frame {
    void *data;
    size_t size;
    void (*free_fn)(void *data, void *hint);
    void *hint;
} zpk_frame_t;

/**
 * The envelope of a message: the routing frames in front of its header, in
 * wire order. A receive (or decode) fills it, and it then keeps the received
 * frames alive until zpk_envelope_free(); a ROUTER replies by passing it to
 * the send (zpk_send_opts_t::envelope). To send an envelope of your own,
 * fill only @c frames and @c n (only each frame's data and size are read).
 * A received envelope may be copied by value; free exactly one copy.
 */
typedef struct zpk_envelope {
    const zpk_frame_t *frames; /**< n frames: read data and size only */
    size_t n;
    void *hold_;               /**< private: the received frames' holder */
} zpk_envelope_t;

/**
 * Lets go of a received envelope's frames and clears @p env. An envelope the
 * caller filled, NULL, or an empty one is a no-op.
 */
ZPK_API void zpk_envelope_free(zpk_envelope_t *env);

/* ---- trackers -------------------------------------------------------------- */

/**
 * A tracker tells when borrowed memory (ZPK_OWN_BORROW) is free again:
 * every frame made from it holds the tracker "pending" until the frame is
 * released (by libzmq, by the receiver over inproc, or by
 * zpk_frames_free()). One tracker may follow many messages. Thread-safe.
 */
typedef struct zpk_tracker zpk_tracker_t;

/** A new tracker with nothing pending. Caller owns it and must destroy it. NULL on ENOMEM. */
ZPK_API zpk_tracker_t *zpk_tracker_new(void);

/**
 * Waits until nothing made with @p t is held any more.
 * @p timeout_ms: 0 polls, negative waits forever.
 * @return 0 when done; -EAGAIN when the timeout expired first;
 *         ZPK_EINVAL for NULL.
 */
ZPK_API int zpk_tracker_wait(zpk_tracker_t *t, int timeout_ms);

/** True when nothing made with @p t is held any more (NULL: true). */
ZPK_API bool zpk_tracker_done(zpk_tracker_t *t);

/**
 * Waits for @p *t to be done (forever: destroy it only once the frames
 * can be released, e.g. after the socket or context is closed), frees it
 * and sets *@p t to NULL. NULL or *t NULL is a no-op.
 */
ZPK_API void zpk_tracker_destroy(zpk_tracker_t **t);

/* ---- options ----------------------------------------------------------------- */

/** How the encode and send calls treat the caller's ndarray data. */
typedef enum zpk_own {
    /**
     * Copy: the frames borrow the data (free_fn NULL) and a send copies it
     * into libzmq's messages; the caller may change or free it as soon as
     * the send returns (after zpk_frames_free() when encoding). Best for
     * small payloads.
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
     * opts->free_fn(data, opts->hint) runs exactly once per ndarray when
     * every frame of the message has been released. It may run on one of
     * libzmq's I/O threads (tcp, ipc) or on the receiving thread (inproc),
     * so it must be thread-safe. If a send fails before any frame left,
     * ownership stays with the caller and free_fn is not called; once part
     * of the message was queued (-ETERM mid-message) free_fn still runs.
     */
    ZPK_OWN_GIVE = 2,
} zpk_own_t;

/**
 * Encode flag: single-frame mode (header and payload in one frame), for
 * ZMQ_CONFLATE. Messages whose payload is under 16 KiB (and under
 * copy_below) are encoded this way even without the flag.
 */
#define ZPK_SEND_SINGLE 0x100
/** Encode flag (ndarrays only): the pyzmq recipe, a JSON {"dtype", "shape"} frame and a raw frame. */
#define ZPK_SEND_RECIPE 0x200

/**
 * Largest JSON header of the pyzmq recipe, in bytes: receivers refuse a
 * longer one (ZPK_EFOREIGN) and senders do not make one (ZPK_EINVAL).
 */
#define ZPK_RECIPE_HEADER_MAX 4096

/** Default zpk_send_opts_t::copy_below: frames under 64 KiB are copied (see docs/performance.md). */
#define ZPK_DEFAULT_COPY_BELOW ((size_t)64 * 1024)

/**
 * Options of the encode and send calls; zero-initialise it or use
 * zpk_send_opts_init(). Does not own anything it points to.
 */
typedef struct zpk_send_opts {
    int flags;               /**< ZPK_SEND_SINGLE | ZPK_SEND_RECIPE (| ZPK_DONTWAIT for sends) */
    const zpk_envelope_t *envelope; /**< optional routing frames sent before the header (copied) */
    const void *topic;       /**< shorthand for a one-frame envelope (PUB/SUB) */
    size_t topic_len;        /**< bytes of topic (0: no topic frame) */
    const zpk_codec_t *codec; /**< payload compression; NULL: none */
    zpk_own_t own;           /**< ndarrays: copy, borrow or give */
    zpk_tracker_t *tracker;  /**< required with ZPK_OWN_BORROW; optional otherwise */
    void (*free_fn)(void *data, void *hint); /**< ZPK_OWN_GIVE */
    void *hint;              /**< passed to free_fn */
    size_t copy_below;       /**< zero-copy frames smaller than this are copied (0: default) */
    /**
     * With ZPK_SEND_RECIPE: a JSON object (NUL-terminated text) whose keys go
     * into the recipe's JSON header before "dtype" and "shape", as imagezmq's
     * {"msg": "cam1", "dtype": ..., "shape": ...}. NULL: none. ZPK_EINVAL
     * without ZPK_SEND_RECIPE, for text that is not a JSON object, for a
     * "dtype" or "shape" key, or a header over ZPK_RECIPE_HEADER_MAX bytes.
     */
    const char *recipe_meta;
} zpk_send_opts_t;

/** Fills @p o with the defaults: no flags, no envelope, no codec, ZPK_OWN_COPY. */
ZPK_API void zpk_send_opts_init(zpk_send_opts_t *o);

/**
 * Decode and receive flag (mixed messages): hand back the object's bytes
 * unparsed (zpk_mixed_t::packed) and leave zpk_mixed_t::doc NULL, for
 * callers with their own MessagePack decoder (the Python binding).
 */
#define ZPK_RECV_BYTES 0x400

/**
 * Options of the decode and receive calls; zero-initialise it or use
 * zpk_recv_opts_init(). Does not own anything it points to.
 */
typedef struct zpk_recv_opts {
    int flags;               /**< ZPK_RECV_BYTES (| ZPK_DONTWAIT for receives) */
    const zpk_limits_t *limits;            /**< MessagePack limits (NULL: defaults) */
    const zpk_ndarray_opts_t *array_opts;  /**< ndarray limits (NULL: defaults) */
    void *into;              /**< ndarray messages: decode into this buffer (NULL: allocate or alias) */
    size_t into_size;        /**< bytes at into */
    /**
     * ndarray decodes and receives: when not NULL, on success
     * *recipe_meta is a JSON object text (NUL-terminated, allocated: release
     * it with zpk_free()) of the pyzmq recipe's header keys other than
     * "dtype" and "shape" (imagezmq's {"msg": "cam1"}), "{}" for a zmqpack
     * ndarray message; NULL on error. The other decode and receive calls
     * set it to NULL.
     */
    char **recipe_meta;
} zpk_recv_opts_t;

/** Fills @p o with the defaults (no flags, default limits, no destination buffer). */
ZPK_API void zpk_recv_opts_init(zpk_recv_opts_t *o);

/* ---- encode ------------------------------------------------------------------ */

/** Frames a zpk_frames_t holds without allocating. */
#define ZPK_FRAMES_INLINE 8
/** Header (and small single-frame message) bytes a zpk_frames_t holds without allocating. */
#define ZPK_FRAMES_INLINE_BYTES 1024

/**
 * An encoded message: @c n frames in wire order (envelope, header,
 * payload). Frames with a free_fn own their bytes (zpk_frame_t); frames
 * without one borrow them from this struct (header and small messages),
 * from the envelope given in the options, or from the caller's ndarray
 * (ZPK_OWN_COPY): copy those before zpk_frames_free() or before the caller
 * lets go of them. The struct is large (about 1.3 KiB; the stack is fine)
 * and must not be copied or moved while it holds frames. The fields ending
 * in `_` are private.
 */
typedef struct zpk_frames {
    zpk_frame_t *frames;     /**< n frames */
    size_t n;
    void *ctx_;              /**< private: ownership of the caller's data and the writer's bytes */
    zpk_frame_t frames_in_[ZPK_FRAMES_INLINE];
    uint64_t bytes_in_[ZPK_FRAMES_INLINE_BYTES / 8];
} zpk_frames_t;

/**
 * Releases every frame still in @p f (runs the free_fn of each owned one)
 * and clears it. NULL or an empty @p f is a no-op.
 */
ZPK_API void zpk_frames_free(zpk_frames_t *f);

/**
 * Encodes the MessagePack object written to @p w (exactly one complete
 * object) as a packed message, compressed when opts->codec says so (as a
 * byte ndarray of dtype |u1; `auto` leaves small payloads alone). @p opts
 * may be NULL. An object of copy_below bytes or more written to a growable
 * writer is not copied: the writer's buffer becomes an owned frame.
 * On success the caller owns @p out and must zpk_frames_free() it, and @p w
 * is left empty (ready for the next object; it stays the caller's);
 * on error @p out is empty and @p w unchanged.
 * @return 0; ZPK_EINVAL (NULL, nothing written, not exactly one complete
 *         object, an envelope frame or topic that starts like a header, both
 *         a topic and an envelope, ZPK_SEND_RECIPE); the writer's sticky
 *         error; zpk_ndarray_encode()'s errors for the codec; ZPK_ENOMEM.
 */
ZPK_API int zpk_encode_packed(zpk_writer_t *w, const zpk_send_opts_t *opts, zpk_frames_t *out,
                              zpk_error_t *err);

/**
 * Encodes ndarray @p a (any layout: non-contiguous ones are copied once to
 * C order) as an ndarray message with @p opts (NULL: copy, no codec).
 * A raw payload is one frame, a compressed one a frame per chunk; with
 * ZPK_SEND_RECIPE the pyzmq recipe is made instead (C-contiguous data, no
 * codec). Raw chunks borrow @p a's data as opts->own says (ZPK_OWN_COPY:
 * free_fn NULL; ZPK_OWN_BORROW: a free_fn that releases the tracker;
 * ZPK_OWN_GIVE: a free_fn that runs opts->free_fn once the last frame is
 * released). Does not take ownership of @p a itself (the descriptor).
 * On success the caller owns @p out and must zpk_frames_free() it; with
 * ZPK_OWN_GIVE the data then belongs to the frames. On error @p out is
 * empty and nothing was taken.
 * @return 0; ZPK_EINVAL (NULL, a borrow without tracker, a give without
 *         free_fn, a bad envelope or topic, a recipe of an F-order ndarray or
 *         with a codec); zpk_ndarray_encode()'s errors (ZPK_EDTYPE,
 *         ZPK_ENOTSUP, ZPK_ELIMIT); ZPK_ENOMEM.
 */
ZPK_API int zpk_encode_ndarray(const zpk_ndarray_t *a, const zpk_send_opts_t *opts,
                               zpk_frames_t *out, zpk_error_t *err);

/**
 * Encodes a mixed message: the object written to @p w, in which each
 * ndarray is replaced by zpk_write_ndarray_ref(w, i), and the @p n ndarrays
 * @p arrays, each as its own frames, as zpk_encode_ndarray() does (with
 * ZPK_OWN_GIVE, opts->free_fn gets each ndarray's data in turn). The
 * writer's bytes are taken as zpk_encode_packed() takes them.
 * @return as zpk_encode_packed() and zpk_encode_ndarray(); ZPK_EINVAL for
 *         NULL @p arrays with @p n > 0, n over UINT32_MAX, ZPK_SEND_RECIPE.
 */
ZPK_API int zpk_encode_mixed(zpk_writer_t *w, const zpk_ndarray_t *arrays, size_t n,
                             const zpk_send_opts_t *opts, zpk_frames_t *out, zpk_error_t *err);

/* ---- decode ------------------------------------------------------------------ */

/**
 * A decoded mixed (or packed) message: one object and its ndarrays.
 * Release it with zpk_mixed_free(). The field ending in `_` is private.
 */
typedef struct zpk_mixed {
    zpk_doc_t *doc;          /**< the object; its ndarray references index @c ndarrays
                                  (NULL with ZPK_RECV_BYTES) */
    const uint8_t *packed;   /**< the object's MessagePack bytes (decompressed when it was
                                  compressed); valid until zpk_mixed_free() */
    size_t packed_size;      /**< bytes at packed (at least 1) */
    size_t n_ndarrays;
    zpk_ndarray_t *ndarrays; /**< each owns its data (released with zpk_mixed_free()) */
    void *hold_;             /**< private: keeps the frames (and packed) alive */
} zpk_mixed_t;

/**
 * The ndarray that node @p n (an ndarray reference) stands for, or NULL
 * when @p n is not a reference or its index is out of range. @p m keeps
 * ownership.
 */
ZPK_API const zpk_ndarray_t *zpk_mixed_ndarray(const zpk_mixed_t *m, const zpk_node_t *n);

/** Releases the document, the bytes and every ndarray of @p m and clears it. NULL is a no-op. */
ZPK_API void zpk_mixed_free(zpk_mixed_t *m);

/*
 * The decode calls share these rules.
 *
 * Input: @p frames, @p n frames of one message as received (envelope
 * included), from libzmq or plain buffers. The call takes over the frames
 * whatever happens: the free_fn of each frame that has one runs exactly
 * once, when nothing decoded from the message is alive any more (before
 * the call returns on error; else when @p env and @p out have been freed).
 * Frames without free_fn are borrowed: keep them alive and unchanged as
 * long as @p env and @p out are. The array @p frames itself is not kept.
 * Frames from zpk_encode_*() decode as they are (a loopback): pass
 * f.frames and f.n, then set f.n to 0 (the decode took them over) before
 * zpk_frames_free(&f).
 *
 * Envelope: @p env (may be NULL) receives the frames before the header
 * (n = 0 when there are none); it keeps them alive until
 * zpk_envelope_free(). @p opts may be NULL (default limits).
 *
 * Errors: ZPK_EINVAL (NULL @p frames with n > 0, NULL output); ZPK_EFOREIGN
 * (no header, not the pyzmq recipe); ZPK_EVERSION (newer protocol);
 * ZPK_EFORMAT (a bad header); ZPK_EFRAME (a payload frame missing or
 * extra); ZPK_ESHAPE (a frame or single-frame payload whose size differs
 * from the header's); ZPK_ETYPE (a message of another kind); ZPK_ECODEC,
 * ZPK_EDECOMPRESS, ZPK_EDTYPE, ZPK_ELIMIT (the limits in @p opts),
 * zpk_doc_parse()'s errors for the object (it must be exactly one object:
 * ZPK_EOUTOFDATA, ZPK_EEXTRADATA...); ZPK_ENOMEM. err->frame is the index
 * (in @p frames) of the frame at fault, payload frames included, and
 * err->offset the byte offset in it. On error @p env and @p out are empty.
 */

/**
 * Decodes a packed message into a document. An uncompressed object is
 * parsed in place: the tree borrows its strings from the frame, which the
 * document keeps alive. On success the caller owns *@p doc and must
 * zpk_doc_destroy() it. Errors: see above (ZPK_ETYPE for an ndarray or a
 * mixed message).
 */
ZPK_API int zpk_decode_packed(const zpk_frame_t *frames, size_t n, const zpk_recv_opts_t *opts,
                              zpk_envelope_t *env, zpk_doc_t **doc, zpk_error_t *err);

/**
 * Decodes an ndarray message (or the pyzmq recipe) into @p out. With
 * opts->into set, the payload is decompressed or copied into that buffer
 * and @p out describes it without owning it (out->free_fn NULL;
 * ZPK_EBUFFULL when it needs more than opts->into_size bytes). Otherwise
 * an uncompressed payload stays in its frame when the frame's address is
 * aligned for the dtype (else it is copied once into an aligned
 * allocation), and a compressed one is decoded once into an allocation of
 * exactly the declared size: out->data is writable and owned by @p out
 * (out->free_fn set; the caller must zpk_ndarray_free(out)). The byte order
 * is the sender's (see zpk_ndarray_to_native()). Errors: see above
 * (ZPK_ETYPE for a packed or mixed message; ZPK_ELIMIT over
 * max_ndarray_bytes).
 */
ZPK_API int zpk_decode_ndarray(const zpk_frame_t *frames, size_t n, const zpk_recv_opts_t *opts,
                               zpk_envelope_t *env, zpk_ndarray_t *out, zpk_error_t *err);

/**
 * Decodes a mixed message, or a packed one (no ndarrays), into @p out: the
 * object as a document (or, with ZPK_RECV_BYTES, only as bytes) and the
 * ndarrays as zpk_decode_ndarray() makes them. A mixed message whose object
 * holds an ext 90 of another length than 4 is malformed (ZPK_EFORMAT).
 * With ZPK_RECV_BYTES the object's bytes are not validated: decode them
 * with a decoder that checks its input. On success the caller owns @p out
 * and must zpk_mixed_free() it. Errors: see above (ZPK_ETYPE for an
 * ndarray message; ZPK_ELIMIT for a compressed object over
 * limits->max_buffer_size).
 */
ZPK_API int zpk_decode_mixed(const zpk_frame_t *frames, size_t n, const zpk_recv_opts_t *opts,
                             zpk_envelope_t *env, zpk_mixed_t *out, zpk_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
/** @} */
