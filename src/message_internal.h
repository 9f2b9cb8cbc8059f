/*
 * The message layer's private interface: the header's wire form
 * (src/message.c), the one encode body (src/message_encode.c), the one
 * decode body and the frames' holder (src/message_decode.c), the
 * trackers' counting (src/tracker.c). The socket layer (src/socket.c)
 * builds on these; nothing here includes zmq.h. See docs/PROTOCOL.md.
 * Never installed.
 */
#ifndef ZPK_MESSAGE_INTERNAL_H
#define ZPK_MESSAGE_INTERNAL_H

#include <stdatomic.h>

#include "internal.h"
#include "zmqpack/codec.h"
#include "zmqpack/message.h"

enum {
    ZPK__KIND_OBJ = 1,     /* one MessagePack object */
    ZPK__KIND_NDARRAY = 2, /* one ndarray */
    ZPK__KIND_MIXED = 3,   /* one object + ndarrays referenced from it */
    ZPK__KIND_RECIPE = 4,  /* pyzmq recipe: JSON {"dtype","shape"} + raw frame */
};

/* ---- the header (message.c) --------------------------------------------------- */

/* A decoded header: what it says, every declared size checked against the
 * frames that actually arrived. */
typedef struct zpk__msg {
    int kind;
    size_t header;         /* index of the header frame (frames before it: the envelope) */
    bool single;           /* payload inside the header frame */
    size_t payload_off;    /* single: where the payload starts in the header frame */
    bool obj_compressed;   /* object compressed: obj_info describes it */
    zpk_ndarray_info_t obj_info;
    size_t obj_nspans;     /* spans of the object (kind obj, mixed) */
    size_t n_ndarrays;
    zpk_ndarray_info_t *ndarrays;
    zpk_span_t *spans;     /* every payload chunk in order: object, ndarray 0, ... */
    size_t nspans;
    zpk_span_t spans_in[4]; /* spans when there are few (no allocation) */
    zpk_ndarray_info_t arrays_in[1]; /* the ndarray of kind ndarray (no allocation) */
} zpk__msg_t;

/* zpk_is_header(), inline (a fixmap whose first key is "zpk"). */
static inline bool zpk__is_header(const void *data, size_t size)
{
    const uint8_t *p = data;
    return p != NULL && size >= 6 && p[0] >= 0x81 && p[0] <= 0x8f && p[1] == 0xa3 &&
           p[2] == 'z' && p[3] == 'p' && p[4] == 'k';
}

/* Index of the first frame that starts like a header; @p n when none does. */
static inline size_t zpk__find_header(const zpk_frame_t *frames, size_t n)
{
    size_t h = 0;
    while (h < n && !zpk__is_header(frames[h].data, frames[h].size))
        h++;
    return h;
}

/*
 * Decodes the header of the @p n frames of one message (envelope
 * included) and checks the payload frames against it. @p lim and @p aopts
 * may be NULL. On success the caller owns @p m (zpk__msg_free()); its spans
 * point into @p frames' bytes. Errors: ZPK_EFOREIGN, ZPK_EVERSION,
 * ZPK_EFORMAT, ZPK_EFRAME, ZPK_ESHAPE, the ndarray header's errors,
 * ZPK_ENOMEM; err->frame is set to the faulty frame.
 */
int zpk__msg_parse(const zpk_frame_t *frames, size_t n, const zpk_limits_t *lim,
                   const zpk_ndarray_opts_t *aopts, zpk__msg_t *m, zpk_error_t *err);
void zpk__msg_free(zpk__msg_t *m);

/*
 * Writes a header map with @p w. @p obj_enc: the compressed object's
 * encoding (NULL when the object travels raw, or for kind ndarray);
 * @p arrs: the encoded ndarrays (one for kind ndarray). @p nframes: payload
 * frames that follow (0 when @p single).
 */
void zpk__msg_write_header(zpk_writer_t *w, int kind, bool single, size_t nframes,
                           const zpk_ndarray_enc_t *obj_enc, const zpk_ndarray_enc_t *arrs,
                           size_t narrs);

/*
 * Writes the pyzmq recipe's JSON header of @p info, {"dtype": ..., "shape":
 * [...]} after the keys of @p meta (a JSON object text, or NULL), into
 * @p buf (@p cap bytes) or, when it needs more, into *@p heap (allocated:
 * the caller frees it; NULL otherwise); *len gets its length.
 * Errors: ZPK_EINVAL (not C order with ndim > 1; a bad @p meta; a header
 * over ZPK_RECIPE_HEADER_MAX), ZPK_EDTYPE, ZPK_ENOMEM.
 */
int zpk__recipe_write(const zpk_ndarray_info_t *info, const char *meta, char *buf, size_t cap,
                      char **heap, size_t *len, zpk_error_t *err);

/*
 * *out = the keys of the recipe's JSON @p header other than dtype and shape,
 * as a JSON object text (NUL-terminated, zpk__malloc'd); "{}" for a NULL
 * @p header (a zmqpack message). Errors: ZPK_ENOMEM (*out NULL).
 */
int zpk__recipe_meta(const zpk_frame_t *header, char **out, zpk_error_t *err);

/* Sets *opts->recipe_meta to NULL when the caller asked for it. */
static inline void zpk__recipe_meta_clear(const zpk_recv_opts_t *opts)
{
    if (opts != NULL && opts->recipe_meta != NULL)
        *opts->recipe_meta = NULL;
}

/*
 * The whole header of the commonest message, an uncompressed object in one
 * frame: {"zpk": 1, "kind": "obj", "frames": 0, "single": true}, exactly as
 * zpk__msg_write_header() writes it. The encoder copies it instead of
 * writing the map; the decoder recognises it without a general walk.
 */
#define ZPK__HDR_OBJ_SINGLE_LEN 31
extern const uint8_t zpk__hdr_obj_single[ZPK__HDR_OBJ_SINGLE_LEN];

/* Alignment an ndarray of @p dt needs to be used in place. */
size_t zpk__dtype_align(zpk_dtype_t dt);

/* ---- encode (message_encode.c) -------------------------------------------------- */

/* The one encode body: kind ZPK__KIND_OBJ, _NDARRAY or _MIXED. */
int zpk__encode(int kind, zpk_writer_t *w, const zpk_ndarray_t *arrs, size_t narr,
                const zpk_send_opts_t *opts, zpk_frames_t *out, zpk_error_t *err);

/*
 * Called by a send that failed before any frame left: the caller keeps its
 * data (ZPK_OWN_GIVE's free function will not run) and a writer whose
 * buffer was taken gets its bytes back. zpk_frames_free() follows.
 */
void zpk__frames_unsent(zpk_frames_t *f);

/* zpk_frames_free(), skipped when nothing is left to release (every frame
 * sent, no context, no allocated list): the common case after a send. */
static inline void zpk__frames_done(zpk_frames_t *f)
{
    if (f->n > 0 || f->ctx_ != NULL || f->frames != f->frames_in_)
        zpk_frames_free(f);
}

/*
 * Tests only: true turns off every fast path and per-thread cache of the
 * encode and decode bodies, so that a test can compare both routes. Set it
 * only while no other thread encodes or decodes.
 */
extern bool zpk__msg_fast_off;

/* ---- decode (message_decode.c) ------------------------------------------------- */

/*
 * The frames of one received message, shared by what is decoded from
 * them (document, ndarrays, envelope): the last reference releases every
 * frame (each by its free_fn, or all of them by release()), the
 * decompressed object, and the holder itself (one allocation, zpk__free()).
 */
typedef struct zpk__hold {
    atomic_size_t refs;
    size_t n;
    zpk_frame_t *frames;   /* n frames, usually right after this struct */
    void *obj;             /* the decompressed object, or NULL */
    void (*release)(struct zpk__hold *h); /* NULL: each frame's free_fn */
    void *ud;              /* for release() */
} zpk__hold_t;

void zpk__hold_unref(zpk__hold_t *h);

/* A holder for the caller's frames (copied; each released by its free_fn):
 * one allocation, one reference. NULL when out of memory. */
zpk__hold_t *zpk__hold_new(const zpk_frame_t *frames, size_t n);

/*
 * Takes one whole multipart message off @p socket (a libzmq socket, or a
 * zsock_t with CZMQ) into a new holder (*@p out, one reference), as every
 * receive call does (socket.c): only the first part honours @p flags
 * (ZPK_DONTWAIT) and the receive timeout; a failure once the message is
 * partly in drains the rest. Returns 0; -errno (nothing taken);
 * ZPK_ENOMEM, ZPK_EFRAME (the message drained and dropped); ZPK_EINVAL for
 * a NULL socket. For decoders above the message layer (src/interop.c).
 */
int zpk__recv_all(void *socket, int flags, zpk__hold_t **out, zpk_error_t *err);

/*
 * The one decode body: the message held by @p h (one reference, which
 * the call consumes) into @p out, a zpk_doc_t * (want ZPK__KIND_OBJ), a
 * zpk_ndarray_t (ZPK__KIND_NDARRAY) or a zpk_mixed_t (ZPK__KIND_MIXED),
 * and @p env. @p out is set empty first.
 */
int zpk__decode(zpk__hold_t *h, int want, const zpk_recv_opts_t *opts, zpk_envelope_t *env,
                void *out, zpk_error_t *err);

/* Sets the output of kind @p want empty (what every failure leaves). */
static inline void zpk__decode_clear(int want, void *out)
{
    if (want == ZPK__KIND_OBJ) {
        *(zpk_doc_t **)out = NULL;
    } else if (want == ZPK__KIND_NDARRAY) {
        zpk_ndarray_t *a = out;
        memset(a, 0, sizeof *a);
        a->order = ZPK_ORDER_C;
    } else {
        memset(out, 0, sizeof(zpk_mixed_t));
    }
}

/* ---- trackers (tracker.c) ------------------------------------------------------ */

void zpk__tracker_add(zpk_tracker_t *t);
void zpk__tracker_release(zpk_tracker_t *t);

#endif
