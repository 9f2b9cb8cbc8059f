/*
 * The message layer's private interface to the socket layer: header
 * encode/decode and the frame plan, on plain buffers (no zmq.h).
 * See docs/PROTOCOL.md. Never installed.
 */
#ifndef ZPK_MESSAGE_INTERNAL_H
#define ZPK_MESSAGE_INTERNAL_H

#include "internal.h"
#include "zmqpack/codec.h"
#include "zmqpack/message.h"

enum {
    ZPK__KIND_OBJ = 1,    /* one MessagePack object */
    ZPK__KIND_NDARRAY = 2,  /* one array */
    ZPK__KIND_MIXED = 3,  /* one object + arrays referenced from it */
    ZPK__KIND_RECIPE = 4, /* pyzmq recipe: JSON {"dtype","shape"} + raw frame */
};

/* A decoded message: what its header says, every declared size checked
 * against the frames that actually arrived. */
typedef struct zpk__msg {
    int kind;
    bool has_topic;        /* frame 0 is a topic */
    size_t header;         /* index of the header frame */
    bool single;           /* payload inside the header frame */
    bool obj_compressed;       /* object compressed: obj_info describes it */
    zpk_ndarray_info_t obj_info;
    size_t obj_nspans;     /* spans of the object (kind obj, mixed) */
    size_t n_ndarrays;
    zpk_ndarray_info_t *ndarrays;
    zpk_span_t *spans;     /* every payload chunk in order: object, array 0, ... */
    size_t nspans;
    zpk_span_t spans_in[4]; /* spans when there are few (no allocation) */
    zpk_ndarray_info_t arrays_in[1]; /* arrays of kind array (no allocation) */
} zpk__msg_t;

/*
 * Decodes the @p n frames of one received message (topic included).
 * @p lim and @p aopts may be NULL. On success the caller owns @p m
 * (zpk__msg_free()); its spans point into @p frames' bytes.
 * Errors: ZPK_EFOREIGN, ZPK_EVERSION, ZPK_EFORMAT, ZPK_EFRAME, the array
 * header's errors, ZPK_ENOMEM. err->frame is set to the faulty frame.
 */
int zpk__msg_parse(const zpk_span_t *frames, size_t n, const zpk_limits_t *lim,
                   const zpk_ndarray_opts_t *aopts, zpk__msg_t *m, zpk_error_t *err);
void zpk__msg_free(zpk__msg_t *m);

/*
 * Writes a header map with @p w. @p obj_enc: the compressed object's
 * encoding (NULL when the object travels raw, or for kind array);
 * @p arrs: the encoded arrays (one for kind array). @p nframes: payload
 * frames that follow (0 when @p single).
 */
void zpk__msg_write_header(zpk_writer_t *w, int kind, bool single, size_t nframes,
                           const zpk_ndarray_enc_t *obj_enc, const zpk_ndarray_enc_t *arrs,
                           size_t narrs);

/*
 * Writes the pyzmq recipe's JSON header {"dtype": ..., "shape": [...]} of
 * @p info into @p buf (@p cap bytes); *len gets its length.
 * Errors: ZPK_EINVAL (not C order with ndim > 1), ZPK_EBUFFULL, ZPK_ENOMEM.
 */
int zpk__recipe_write(const zpk_ndarray_info_t *info, char *buf, size_t cap, size_t *len);

/*
 * The whole header of the commonest message, an uncompressed object in one
 * frame: {"zpk": 1, "kind": "obj", "frames": 0, "single": true}, exactly as
 * zpk__msg_write_header() writes it. The send path copies it instead of
 * writing the map; the receive path recognises it without a general walk.
 */
#define ZPK__HDR_OBJ_SINGLE_LEN 31
extern const uint8_t zpk__hdr_obj_single[ZPK__HDR_OBJ_SINGLE_LEN];

/* Alignment an array of @p dt needs to be used in place. */
size_t zpk__dtype_align(zpk_dtype_t dt);

/* True when @p topic of @p len bytes may be sent (it does not look like a header). */
bool zpk__topic_ok(const void *topic, size_t len);

#endif
