/*
 * Message layer, encode: a packed object, an ndarray or a mixed message
 * to an ordered list of frames, each saying how its bytes are released
 * (zmqpack/message.h). One body, s_encode(), for every kind; its fast
 * paths (a small object in one frame, a raw ndarray without the codec's
 * allocations, a repeated ndarray header) are tests inside it. The send
 * calls (src/socket.c) and the bindings use exactly this. No zmq.h.
 */
#include "message_internal.h"

#include <stdatomic.h>
#include <string.h>

#include "msgpack_internal.h"
#include "wire.h"

/* Messages whose payload is smaller than this go as one frame: libzmq's
 * cost is per frame, and such payloads are copied anyway (PROTOCOL.md 5). */
#define S_AUTO_SINGLE ((size_t)16 * 1024)

bool zpk__msg_fast_off;

/* ---- ownership: one context per message ------------------------------------- */

/*
 * What the frames of one message hold of the caller's that must outlive
 * them: its ndarrays' data given with ZPK_OWN_GIVE and the writer's buffer
 * when it was taken. (ZPK_OWN_BORROW needs no context: each borrowing
 * frame holds the tracker.) Every frame that points into them holds a
 * reference, and so does the zpk_frames_t until zpk_frames_free(); the
 * last release runs the caller's free function (unless a failed send
 * disarmed it), frees the writer's buffer and lets the tracker go. It runs
 * on whichever thread releases last: the caller's, the receiver's
 * (inproc) or libzmq's.
 */
typedef struct s_ctx {
    atomic_size_t refs;
    atomic_bool armed;      /* false: nothing was sent, the caller keeps its data */
    zpk_tracker_t *tracker;
    void (*ffn)(void *data, void *hint);
    void *hint;
    zpk_writer_t *w;        /* the writer whose buffer was taken, or NULL */
    void *wbuf;
    size_t wlen;
    size_t nbase;
    void *base[];           /* ZPK_OWN_GIVE: each ndarray's data */
} s_ctx_t;

/* A context for @p narr ndarrays given (ZPK_OWN_GIVE), or for the
 * writer's buffer alone (@p narr 0). */
static s_ctx_t *s_ctx_new(const zpk_send_opts_t *o, size_t narr)
{
    size_t nbase = o->own == ZPK_OWN_GIVE ? narr : 0;
    s_ctx_t *c = zpk__malloc(sizeof *c + nbase * sizeof c->base[0]);
    if (c == NULL)
        return NULL;
    atomic_init(&c->refs, 1); /* the zpk_frames_t's reference */
    atomic_init(&c->armed, true);
    c->tracker = nbase > 0 ? o->tracker : NULL;
    c->ffn = nbase > 0 ? o->free_fn : NULL;
    c->hint = o->hint;
    c->w = NULL;
    c->wbuf = NULL;
    c->wlen = 0;
    c->nbase = 0;
    if (c->tracker != NULL)
        zpk__tracker_add(c->tracker);
    return c;
}

static void s_ctx_unref(s_ctx_t *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    if (atomic_load(&c->armed))
        for (size_t i = 0; i < c->nbase; i++)
            c->ffn(c->base[i], c->hint);
    zpk__free(c->wbuf);
    zpk_tracker_t *t = c->tracker;
    zpk__free(c);
    if (t != NULL)
        zpk__tracker_release(t);
}

static void s_ctx_frame_free(void *data, void *hint)
{
    (void)data;
    s_ctx_unref(hint);
}

void zpk__frames_unsent(zpk_frames_t *f)
{
    s_ctx_t *c = f->ctx_;
    if (c == NULL)
        return;
    atomic_store(&c->armed, false);
    if (c->w != NULL) { /* the writer gets its bytes back */
        zpk_writer_reset(c->w);
        zpk_write_raw(c->w, c->wbuf, c->wlen);
        c->w = NULL;
    }
}

/* ---- frames ------------------------------------------------------------------- */

void zpk_send_opts_init(zpk_send_opts_t *o)
{
    if (o != NULL)
        memset(o, 0, sizeof *o);
}

void zpk_frames_free(zpk_frames_t *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n; i++)
        if (f->frames[i].free_fn != NULL)
            f->frames[i].free_fn(f->frames[i].data, f->frames[i].hint);
    if (f->frames != NULL && f->frames != f->frames_in_)
        zpk__free(f->frames);
    if (f->ctx_ != NULL)
        s_ctx_unref(f->ctx_);
    f->frames = NULL;
    f->n = 0;
    f->ctx_ = NULL;
}

static void s_push(zpk_frames_t *f, void *data, size_t size, void (*ffn)(void *, void *),
                   void *hint)
{
    f->frames[f->n++] = (zpk_frame_t){data, size, ffn, hint};
}

/* A borrowed frame (ZPK_OWN_BORROW) holds the tracker itself, one count. */
static void s_tracker_frame_free(void *data, void *hint)
{
    (void)data;
    zpk__tracker_release(hint);
}

/*
 * A frame of bytes borrowed from the caller (an ndarray's data, a writer's
 * taken buffer): it holds @p c (the message's context) when given, else
 * @p t (ZPK_OWN_BORROW's tracker) when given, else nothing (the bytes are
 * copied before the caller gets them back).
 */
static void s_push_borrowed(zpk_frames_t *f, const void *data, size_t size, s_ctx_t *c,
                            zpk_tracker_t *t)
{
    void *d = (void *)(uintptr_t)data;
    if (c != NULL) {
        atomic_fetch_add(&c->refs, 1);
        s_push(f, d, size, s_ctx_frame_free, c);
    } else if (t != NULL) {
        zpk__tracker_add(t);
        s_push(f, d, size, s_tracker_frame_free, t);
    } else {
        s_push(f, d, size, NULL, NULL);
    }
}

/* The chunks of @p enc as frames: owned chunks are taken over, raw ones
 * borrow from the caller's memory as s_push_borrowed() says. */
static void s_push_chunks(zpk_frames_t *f, zpk_ndarray_enc_t *enc, s_ctx_t *c, zpk_tracker_t *t)
{
    for (size_t i = 0; i < enc->nchunks; i++) {
        zpk_chunk_t *ch = &enc->chunks[i];
        if (ch->free_fn != NULL) {
            s_push(f, ch->data, ch->size, ch->free_fn, ch->hint);
            ch->free_fn = NULL; /* the frame owns it now */
        } else {
            s_push_borrowed(f, ch->data, ch->size, c, t);
        }
    }
}

/* ---- ndarrays: the raw one-chunk case without the codec's allocations ---------- */

/*
 * What zpk_ndarray_encode() makes of a valid contiguous ndarray without
 * compression (one raw chunk borrowing the data), built in the caller's
 * @p ch and @p ci instead of two allocations. False when @p a is anything
 * else (empty, strided, invalid, or a codec is asked for): the caller then
 * uses zpk_ndarray_encode(), which also reports the errors. The result must
 * not reach zpk_ndarray_enc_free() before s_enc_raw_detach().
 */
static bool s_enc_raw_one(const zpk_ndarray_t *a, const zpk_codec_t *codec,
                          zpk_ndarray_enc_t *enc, zpk_chunk_t *ch, zpk_chunk_info_t *ci)
{
    size_t nb = 0;
    char order = ZPK_ORDER_C;
    if (zpk__msg_fast_off || (codec != NULL && codec->id != ZPK_CODEC_NONE) ||
        a->data == NULL || a->nbytes == 0 || a->ndim < 0 || a->ndim > ZPK_MAX_NDIM ||
        !zpk_dtype_valid(a->dtype) || zpk_shape_nbytes(a->dtype, a->ndim, a->shape, &nb) != 0 ||
        nb != a->nbytes || !zpk_ndarray_is_contiguous(a, &order))
        return false;
    memset(enc, 0, offsetof(zpk_ndarray_enc_t, info));
    zpk_ndarray_info_t *info = &enc->info;
    info->dtype = a->dtype;
    info->ndim = a->ndim;
    memcpy(info->shape, a->shape, sizeof(size_t) * (size_t)a->ndim);
    info->order = order;
    info->nbytes = nb;
    if (codec == NULL)
        zpk_codec_default(&info->codec, ZPK_CODEC_NONE);
    else
        info->codec = *codec;
    if (info->codec.nthreads < 1)
        info->codec.nthreads = 1;
    info->nthreads = info->codec.nthreads;
    info->chunk_size = nb;
    info->stored_bytes = nb;
    *ci = (zpk_chunk_info_t){nb, nb, false};
    *ch = (zpk_chunk_t){a->data, nb, NULL, NULL};
    info->chunks = ci;
    info->nchunks = 1;
    enc->chunks = ch;
    enc->nchunks = 1;
    return true;
}

static void s_enc_raw_detach(zpk_ndarray_enc_t *enc)
{
    enc->chunks = NULL;
    enc->nchunks = 0;
    enc->info.chunks = NULL;
    enc->info.nchunks = 0;
}

/*
 * The last ndarray header encoded on this thread and what it describes: a
 * stream of ndarrays of one dtype and shape has the same header every
 * time, and a match copies it instead of writing it again. Only the
 * header of a raw one-chunk ndarray is kept, in its own frame or in front
 * of the payload in one frame (single: its "pad" depends only on the
 * header, so it is the same every time too).
 */
#define S_HCACHE_HDR 512
typedef struct s_hcache {
    size_t len; /* header bytes; 0: empty */
    bool single;
    zpk_dtype_t dtype;
    int ndim;
    char order;
    size_t nbytes;
    size_t shape[ZPK_MAX_NDIM];
    uint8_t hdr[S_HCACHE_HDR];
} s_hcache_t;
static _Thread_local s_hcache_t s_hcache;

static void s_hcache_put(s_hcache_t *c, const zpk_ndarray_info_t *info, bool single,
                         const void *hdr, size_t len)
{
    c->len = 0;
    if (len > sizeof c->hdr)
        return;
    c->single = single;
    c->dtype = info->dtype;
    c->ndim = info->ndim;
    c->order = info->order;
    c->nbytes = info->nbytes;
    memcpy(c->shape, info->shape, sizeof(size_t) * (size_t)info->ndim);
    memcpy(c->hdr, hdr, len);
    c->len = len;
}

/* ---- the one body ----------------------------------------------------------------- */

/* Arguments of one encode. */
typedef struct s_enc {
    int kind;
    zpk_writer_t *w;             /* NULL for kind ndarray */
    const zpk_ndarray_t *arrs;
    size_t narr;
    const zpk_send_opts_t *o;    /* never NULL: s_no_opts when the caller gave none */
    size_t copy_below;           /* o->copy_below, or its default */
    zpk_frames_t *out;
    zpk_error_t *err;
} s_enc_t;

static const zpk_send_opts_t s_no_opts;

/* Checks the routing frames: an envelope or a topic, never both, none of
 * whose frames starts like a header. */
static int s_check_envelope(const zpk_send_opts_t *o, zpk_error_t *err)
{
    if (o->topic_len > 0 && o->envelope != NULL && o->envelope->n > 0)
        return zpk__error(err, ZPK_EINVAL, 0, "both a topic and an envelope: give one");
    if (o->topic_len > 0 && (o->topic == NULL || zpk__is_header(o->topic, o->topic_len)))
        return zpk__error(err, ZPK_EINVAL, 0,
                          "topic is NULL or starts like a zmqpack header (8N a3 'zpk')");
    const zpk_envelope_t *e = o->envelope;
    if (e != NULL && e->n > 0 && e->frames == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "envelope of %zu frames without frames", e->n);
    for (size_t i = 0; e != NULL && i < e->n; i++) {
        if (e->frames[i].data == NULL && e->frames[i].size > 0)
            return zpk__error(err, ZPK_EINVAL, 0, "envelope frame %zu is NULL", i);
        if (zpk__is_header(e->frames[i].data, e->frames[i].size))
            return zpk__error(err, ZPK_EINVAL, 0,
                              "envelope frame %zu starts like a zmqpack header (8N a3 'zpk')",
                              i);
    }
    return 0;
}

static size_t s_envelope_n(const zpk_send_opts_t *o)
{
    return (o->topic_len > 0 ? 1 : 0) + (o->envelope != NULL ? o->envelope->n : 0);
}

/* Frames for the routing frames, borrowed from the caller. */
static void s_push_envelope(zpk_frames_t *f, const zpk_send_opts_t *o)
{
    if (o->topic_len > 0)
        s_push(f, (void *)(uintptr_t)o->topic, o->topic_len, NULL, NULL);
    for (size_t i = 0; o->envelope != NULL && i < o->envelope->n; i++)
        s_push(f, o->envelope->frames[i].data, o->envelope->frames[i].size, NULL, NULL);
}

/*
 * A frame of @p total bytes starting with the header written to @p hw:
 * in the frames' own storage when it fits (free_fn NULL), else in a new
 * allocation the frame owns. Returns where the bytes after the header go.
 */
static uint8_t *s_push_header(zpk_frames_t *f, zpk_writer_t *hw, size_t total)
{
    const uint8_t *h = zpk_writer_data(hw);
    size_t hlen = zpk_writer_size(hw);
    uint8_t *inl = (uint8_t *)f->bytes_in_;
    uint8_t *buf = total <= sizeof f->bytes_in_ ? inl : zpk__malloc(total);
    if (buf == NULL)
        return NULL;
    if (buf != h)
        memmove(buf, h, hlen);
    s_push(f, buf, total, buf == inl ? NULL : zpk_free_fn, NULL);
    return buf + hlen;
}

/*
 * The commonest object message: one whole object (the writer's predicate)
 * in a growable or buffer writer, that fits in the frames' own storage with
 * the fixed header of an uncompressed single-frame object, sent with no
 * options (@p opts NULL) or none that change it. Its tests imply every
 * check of zpk__encode(), so it comes before them. False, having done
 * nothing, for anything else (the checks, then the general path, which
 * makes the same frame).
 */
static bool s_encode_obj_fast(zpk_writer_t *w, const zpk_send_opts_t *opts, zpk_frames_t *out)
{
    if (w == NULL || !zpk__writer_one_object(w) || zpk__msg_fast_off)
        return false;
    if (opts != NULL && (opts->codec != NULL || opts->topic_len > 0 || opts->envelope != NULL ||
                         opts->recipe_meta != NULL || (opts->flags & ZPK_SEND_RECIPE) != 0))
        return false;
    size_t objlen;
    const uint8_t *obj = zpk__writer_bytes(w, &objlen);
    if (obj == NULL || objlen > sizeof out->bytes_in_ - ZPK__HDR_OBJ_SINGLE_LEN ||
        (opts != NULL && opts->copy_below != 0 && objlen >= opts->copy_below))
        return false;
    uint8_t *buf = (uint8_t *)out->bytes_in_;
    out->frames[0] = (zpk_frame_t){buf, ZPK__HDR_OBJ_SINGLE_LEN + objlen, NULL, NULL};
    out->n = 1;
    memcpy(buf, zpk__hdr_obj_single, ZPK__HDR_OBJ_SINGLE_LEN);
    memcpy(buf + ZPK__HDR_OBJ_SINGLE_LEN, obj, objlen); /* last: nothing is live after it */
    return true;
}

_Static_assert(ZPK_FRAMES_INLINE_BYTES - ZPK__HDR_OBJ_SINGLE_LEN < 16 * 1024 &&
                   ZPK_FRAMES_INLINE_BYTES - ZPK__HDR_OBJ_SINGLE_LEN < ZPK_DEFAULT_COPY_BELOW,
               "an object that s_encode_obj_fast() takes goes as one frame on the general path");

/*
 * The commonest ndarray messages: a raw ndarray copied or borrowed whose
 * header this thread encoded last (s_hcache: dtype, shape, order, size and
 * framing equal, so it is as valid as that one was): the cached header and
 * the data, in two frames or (small) one, as the general path would make
 * them. False, having done nothing, for anything else.
 */
static bool s_encode_ndarray_fast(const zpk_ndarray_t *a, const zpk_send_opts_t *o,
                                  zpk_frames_t *out)
{
    const s_hcache_t *hc = &s_hcache;
    size_t copy_below = o->copy_below ? o->copy_below : ZPK_DEFAULT_COPY_BELOW;
    bool single = (o->flags & ZPK_SEND_SINGLE) != 0 ||
                  (a->nbytes < S_AUTO_SINGLE && a->nbytes < copy_below);
    char order = ZPK_ORDER_C;
    if ((o->codec != NULL && o->codec->id != ZPK_CODEC_NONE) ||
        (o->flags & ZPK_SEND_RECIPE) != 0 ||
        !(o->own == ZPK_OWN_COPY || (o->own == ZPK_OWN_BORROW && o->tracker != NULL)) ||
        s_envelope_n(o) + 2 > ZPK_FRAMES_INLINE || a->data == NULL || hc->len == 0 ||
        hc->single != single || hc->nbytes != a->nbytes || hc->ndim != a->ndim ||
        (single && hc->len + a->nbytes > sizeof out->bytes_in_) ||
        hc->dtype.kind != a->dtype.kind || hc->dtype.itemsize != a->dtype.itemsize ||
        hc->dtype.byteorder != a->dtype.byteorder ||
        memcmp(hc->shape, a->shape, sizeof(size_t) * (size_t)a->ndim) != 0 ||
        !zpk_ndarray_is_contiguous(a, &order) || order != hc->order)
        return false;
    s_push_envelope(out, o);
    uint8_t *buf = (uint8_t *)out->bytes_in_;
    memcpy(buf, hc->hdr, hc->len);
    if (single) { /* the data copied after the header: nothing borrowed */
        memcpy(buf + hc->len, a->data, a->nbytes);
        s_push(out, buf, hc->len + a->nbytes, NULL, NULL);
        return true;
    }
    s_push(out, buf, hc->len, NULL, NULL);
    s_push_borrowed(out, a->data, a->nbytes, NULL, o->own == ZPK_OWN_BORROW ? o->tracker : NULL);
    return true;
}

static int s_encode(const s_enc_t *e)
{
    zpk_frames_t *out = e->out;
    zpk_error_t *err = e->err;
    const zpk_send_opts_t *o = e->o;
    int kind = e->kind;
    bool single = (o->flags & ZPK_SEND_SINGLE) != 0;
    bool recipe = (o->flags & ZPK_SEND_RECIPE) != 0;
    const zpk_codec_t *codec =
        o->codec != NULL && o->codec->id != ZPK_CODEC_NONE ? o->codec : NULL;
    if (o->own != ZPK_OWN_COPY && o->own != ZPK_OWN_BORROW && o->own != ZPK_OWN_GIVE)
        return zpk__error(err, ZPK_EINVAL, 0, "bad ownership mode %d", (int)o->own);
    if (e->narr > 0 && o->own == ZPK_OWN_BORROW && o->tracker == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "ZPK_OWN_BORROW needs a tracker");
    if (e->narr > 0 && o->own == ZPK_OWN_GIVE && o->free_fn == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "ZPK_OWN_GIVE needs a free_fn");
    if (recipe && kind != ZPK__KIND_NDARRAY)
        return zpk__error(err, ZPK_EINVAL, 0, "ZPK_SEND_RECIPE carries an ndarray, not an object");
    if (recipe && (single || codec != NULL))
        return zpk__error(err, ZPK_EINVAL, 0,
                          "the pyzmq recipe carries one uncompressed ndarray in two frames: "
                          "no ZPK_SEND_SINGLE, no codec");
    /* zpk__encode() checked that the writer holds one whole object */
    size_t objlen = 0;
    const uint8_t *obj = e->w != NULL ? zpk__writer_bytes(e->w, &objlen) : NULL;
    size_t nenv = s_envelope_n(o);
    int rc;

    s_ctx_t *ctx = NULL;
    if (e->narr > 0 && o->own == ZPK_OWN_GIVE) {
        ctx = s_ctx_new(o, e->narr);
        if (ctx == NULL)
            return zpk__error(err, ZPK_ENOMEM, 0, "no memory");
        out->ctx_ = ctx;
    }
    zpk_tracker_t *tracker = o->own == ZPK_OWN_BORROW ? o->tracker : NULL;
    /* a large object from a growable writer is not copied: its buffer
     * becomes the object's frame */
    s_ctx_t *obj_ctx = NULL;
    if (obj != NULL && objlen >= e->copy_below && !single) {
        if (ctx == NULL) {
            ctx = s_ctx_new(o, 0);
            if (ctx == NULL)
                return zpk__error(err, ZPK_ENOMEM, 0, "no memory");
            out->ctx_ = ctx;
        }
        void *d = NULL;
        size_t dn = 0;
        if (zpk_writer_detach(e->w, &d, &dn) == 0 && d != NULL) {
            ctx->w = e->w;
            ctx->wbuf = d;
            ctx->wlen = dn;
            obj = d;
            obj_ctx = ctx;
        }
    }

    zpk_ndarray_enc_t oenc;
    memset(&oenc, 0, sizeof oenc);
    bool obj_compressed = false;
    zpk_ndarray_enc_t aenc_one, *aenc = NULL;
    zpk_chunk_t one_ch;
    zpk_chunk_info_t one_ci;
    bool one_raw = false; /* aenc_one's tables are one_ch and one_ci */
    zpk_writer_t hw;
    zpk_writer_init_buffer(&hw, out->bytes_in_, sizeof out->bytes_in_);

    if (obj != NULL && codec != NULL) { /* the object as a |u1 vector */
        zpk_ndarray_t oa;
        size_t shape = objlen;
        zpk_ndarray_init(&oa, zpk_dtype_make(ZPK_KIND_UINT, 1), 1, &shape, ZPK_ORDER_C,
                         (void *)(uintptr_t)obj);
        rc = zpk_ndarray_encode(&oa, codec, false, &oenc, err);
        if (rc != 0)
            goto fail;
        if (zpk_ndarray_info_is_raw(&oenc.info))
            zpk_ndarray_enc_free(&oenc);
        else
            obj_compressed = true;
    }
    size_t nchunks = obj == NULL ? 0 : obj_compressed ? oenc.nchunks : 1;
    if (e->narr == 1) {
        aenc = &aenc_one;
        memset(aenc, 0, sizeof *aenc);
    } else if (e->narr > 1) {
        aenc = zpk__calloc(e->narr, sizeof *aenc);
        if (aenc == NULL) {
            rc = zpk__error(err, ZPK_ENOMEM, 0, "no memory");
            goto fail;
        }
    }
    for (size_t i = 0; i < e->narr; i++) {
        if (e->narr == 1 && s_enc_raw_one(&e->arrs[0], codec, aenc, &one_ch, &one_ci))
            one_raw = true;
        else if ((rc = zpk_ndarray_encode(&e->arrs[i], codec, false, &aenc[i], err)) != 0)
            goto fail;
        nchunks += aenc[i].nchunks;
        if (ctx != NULL && o->own == ZPK_OWN_GIVE)
            ctx->base[ctx->nbase++] = e->arrs[i].data;
    }

    /* small messages go as one frame (PROTOCOL.md section 5) */
    size_t payload = obj != NULL && !obj_compressed ? objlen : 0;
    for (size_t i = 0; obj_compressed && i < oenc.nchunks; i++)
        payload += oenc.chunks[i].size;
    for (size_t i = 0; i < e->narr; i++)
        payload += aenc[i].info.stored_bytes;
    if (!single && !recipe && obj_ctx == NULL && payload < S_AUTO_SINGLE &&
        payload < e->copy_below)
        single = true;

    size_t nframes = nenv + 1 + (single ? 0 : nchunks) + (recipe && nchunks == 0 ? 1 : 0);
    if (nframes > ZPK_FRAMES_INLINE) {
        out->frames = zpk__calloc(nframes, sizeof *out->frames);
        if (out->frames == NULL) {
            out->frames = out->frames_in_;
            rc = zpk__error(err, ZPK_ENOMEM, 0, "no memory for %zu frames", nframes);
            goto fail;
        }
    }
    s_push_envelope(out, o);

    /* the header */
    bool cacheable = one_raw && kind == ZPK__KIND_NDARRAY && !recipe;
    if (recipe) {
        size_t jl = 0;
        char *heap;
        rc = zpk__recipe_write(&aenc[0].info, o->recipe_meta, (char *)out->bytes_in_,
                               sizeof out->bytes_in_, &heap, &jl, err);
        if (rc != 0)
            goto fail;
        if (heap != NULL)
            s_push(out, heap, jl, zpk_free_fn, NULL);
        else
            s_push(out, out->bytes_in_, jl, NULL, NULL);
    } else {
        zpk__msg_write_header(&hw, kind, single, single ? 0 : nchunks,
                              obj_compressed ? &oenc : NULL, aenc, e->narr);
        if (zpk_writer_error(&hw) == ZPK_EBUFFULL) { /* a long header: on the heap */
            zpk_writer_init_growable(&hw, 2 * sizeof out->bytes_in_);
            zpk__msg_write_header(&hw, kind, single, single ? 0 : nchunks,
                                  obj_compressed ? &oenc : NULL, aenc, e->narr);
        }
        rc = zpk_writer_finish(&hw);
        if (rc != 0) {
            rc = zpk__error(err, rc, 0, "cannot write the header");
            goto fail;
        }
        if (cacheable && !zpk__msg_fast_off)
            s_hcache_put(&s_hcache, &aenc[0].info, single, zpk_writer_data(&hw),
                         zpk_writer_size(&hw));
        size_t total = zpk_writer_size(&hw);
        if (single && !zpk__add_size(total, payload, &total)) {
            rc = zpk__error(err, ZPK_EOVERFLOW, 0, "message too large");
            goto fail;
        }
        if (!single && zpk_writer_data(&hw) != (const uint8_t *)out->bytes_in_) {
            /* the heap header's own buffer becomes the frame */
            void *d = NULL;
            size_t dn = 0;
            zpk_writer_detach(&hw, &d, &dn);
            s_push(out, d, dn, zpk_free_fn, NULL);
        } else {
            uint8_t *p = s_push_header(out, &hw, total);
            if (p == NULL) {
                rc = zpk__error(err, ZPK_ENOMEM, 0, "no memory for a frame of %zu bytes", total);
                goto fail;
            }
            /* single frame: the payload after the header, copied once */
            for (size_t i = 0; single && obj_compressed && i < oenc.nchunks; i++) {
                memcpy(p, oenc.chunks[i].data, oenc.chunks[i].size);
                p += oenc.chunks[i].size;
            }
            if (single && obj != NULL && !obj_compressed) {
                memcpy(p, obj, objlen);
                p += objlen;
            }
            for (size_t i = 0; single && i < e->narr; i++)
                for (size_t c = 0; c < aenc[i].nchunks; c++) {
                    if (aenc[i].chunks[c].size > 0)
                        memcpy(p, aenc[i].chunks[c].data, aenc[i].chunks[c].size);
                    p += aenc[i].chunks[c].size;
                }
        }
    }

    if (!single) { /* the payload frames */
        if (obj != NULL && !obj_compressed)
            s_push_borrowed(out, obj, objlen, obj_ctx, NULL);
        if (obj_compressed)
            s_push_chunks(out, &oenc, obj_ctx, NULL);
        for (size_t i = 0; i < e->narr; i++)
            s_push_chunks(out, &aenc[i], o->own == ZPK_OWN_GIVE ? ctx : NULL, tracker);
        if (recipe && nchunks == 0) /* an empty ndarray: an empty raw frame */
            s_push(out, (void *)"", 0, NULL, NULL);
    }
    rc = 0;
    goto done;

fail:
    zpk__frames_unsent(out); /* the caller keeps its data and its writer's bytes */
    zpk_frames_free(out);
done:
    if (one_raw)
        s_enc_raw_detach(&aenc_one);
    for (size_t i = 0; aenc != NULL && i < e->narr; i++)
        zpk_ndarray_enc_free(&aenc[i]);
    if (e->narr > 1)
        zpk__free(aenc);
    zpk_ndarray_enc_free(&oenc);
    zpk_writer_free(&hw);
    return rc;
}

/* zpk__encode() past its first test: the checks, the ndarray fast path,
 * the general path. Not inlined, so that the first test needs no stack
 * frame. */
ZPK_NOINLINE static int s_encode_checked(int kind, zpk_writer_t *w,
                                         const zpk_ndarray_t *arrs, size_t narr,
                                         const zpk_send_opts_t *opts,
                                         zpk_frames_t *out, zpk_error_t *err)
{
    if (kind != ZPK__KIND_NDARRAY && w == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL writer");
    if (narr > 0 && arrs == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL ndarray (%zu expected)", narr);
    if (narr > UINT32_MAX)
        return zpk__error(err, ZPK_EINVAL, 0, "%zu ndarrays: references hold 32 bits", narr);
    /* a message holds exactly one whole object: what is missing or extra,
     * or the writer's sticky error (issue 17) */
    if (kind != ZPK__KIND_NDARRAY) {
        if (!zpk__writer_one_object(w)) {
            int rc = zpk_writer_check_one_object(w, err);
            if (rc != 0)
                return rc;
        }
        size_t n;
        if (zpk__writer_bytes(w, &n) == NULL)
            return zpk__error(err, ZPK_EINVAL, 0,
                              "the object went to the writer's sink: send from a growable "
                              "or a buffer writer");
    }
    const zpk_send_opts_t *o = opts != NULL ? opts : &s_no_opts;
    if (o->recipe_meta != NULL && (o->flags & ZPK_SEND_RECIPE) == 0)
        return zpk__error(err, ZPK_EINVAL, 0,
                          "recipe_meta rides in the pyzmq recipe's JSON header: "
                          "set ZPK_SEND_RECIPE (and send an ndarray)");
    if (o->topic_len > 0 || o->envelope != NULL) {
        int rc = s_check_envelope(o, err);
        if (rc != 0)
            return rc;
    }
    if (kind == ZPK__KIND_NDARRAY && !zpk__msg_fast_off && s_encode_ndarray_fast(arrs, o, out))
        return 0;
    s_enc_t e = {kind, w, arrs, narr, o, o->copy_below ? o->copy_below : ZPK_DEFAULT_COPY_BELOW,
                 out, err};
    return s_encode(&e);
}

int zpk__encode(int kind, zpk_writer_t *w, const zpk_ndarray_t *arrs, size_t narr,
                const zpk_send_opts_t *opts, zpk_frames_t *out, zpk_error_t *err)
{
    if (out == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL frames");
    out->frames = out->frames_in_;
    out->n = 0;
    out->ctx_ = NULL;
    /* cheap tests first: the commonest message */
    if (kind == ZPK__KIND_OBJ && s_encode_obj_fast(w, opts, out))
        return 0;
    return s_encode_checked(kind, w, arrs, narr, opts, out, err);
}

int zpk_encode_packed(zpk_writer_t *w, const zpk_send_opts_t *opts, zpk_frames_t *out,
                      zpk_error_t *err)
{
    zpk__error_reset(err);
    return zpk__encode(ZPK__KIND_OBJ, w, NULL, 0, opts, out, err);
}

int zpk_encode_ndarray(const zpk_ndarray_t *a, const zpk_send_opts_t *opts, zpk_frames_t *out,
                       zpk_error_t *err)
{
    zpk__error_reset(err);
    return zpk__encode(ZPK__KIND_NDARRAY, NULL, a, 1, opts, out, err);
}

int zpk_encode_mixed(zpk_writer_t *w, const zpk_ndarray_t *arrays, size_t n,
                     const zpk_send_opts_t *opts, zpk_frames_t *out, zpk_error_t *err)
{
    zpk__error_reset(err);
    return zpk__encode(ZPK__KIND_MIXED, w, arrays, n, opts, out, err);
}
