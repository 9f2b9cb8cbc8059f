/*
 * Message layer, decode: the frames of one message (received zmq_msg_t's
 * or plain buffers, each with its own release) to a document, an ndarray
 * or a mixed message, and its envelope (zmqpack/message.h). One body,
 * zpk__decode(), for every kind; its fast paths (the fixed header of a
 * small object, a header repeated byte for byte) are tests inside it. The
 * receive calls (src/socket.c) and the bindings use exactly this.
 *
 * What is decoded aliases the frames where it can (an uncompressed object
 * is parsed in place, a raw aligned ndarray is used in place): the frames
 * live in one holder that every result keeps a reference on. No zmq.h.
 */
#include "message_internal.h"

#include <string.h>

/* ---- the holder ------------------------------------------------------------------ */

void zpk__hold_unref(zpk__hold_t *h)
{
    if (h == NULL || atomic_fetch_sub(&h->refs, 1) != 1)
        return;
    if (h->release != NULL)
        h->release(h);
    else
        for (size_t i = 0; i < h->n; i++)
            if (h->frames[i].free_fn != NULL)
                h->frames[i].free_fn(h->frames[i].data, h->frames[i].hint);
    if (h->obj != NULL)
        zpk__free(h->obj);
    zpk__free(h);
}

static zpk__hold_t *s_hold_ref(zpk__hold_t *h)
{
    atomic_fetch_add(&h->refs, 1);
    return h;
}

/* A reference on @p h for one more result: the decode's own reference the
 * first time (*@p given becomes true), a new one after that. */
static zpk__hold_t *s_take_ref(zpk__hold_t *h, bool *given)
{
    if (!*given) {
        *given = true;
        return h;
    }
    return s_hold_ref(h);
}

/* The holder as a document's owner and as an ndarray's free function. */
static void s_hold_release(void *ud) { zpk__hold_unref(ud); }

static void s_hold_free_fn(void *data, void *hint)
{
    (void)data;
    zpk__hold_unref(hint);
}

/* ---- small public pieces ------------------------------------------------------------ */

void zpk_recv_opts_init(zpk_recv_opts_t *o)
{
    if (o != NULL)
        memset(o, 0, sizeof *o);
}

void zpk_envelope_free(zpk_envelope_t *env)
{
    if (env == NULL)
        return;
    zpk__hold_unref(env->hold_);
    env->frames = NULL;
    env->n = 0;
    env->hold_ = NULL;
}

const zpk_ndarray_t *zpk_mixed_ndarray(const zpk_mixed_t *m, const zpk_node_t *n)
{
    uint32_t idx;
    if (m == NULL || zpk_node_get_ndarray_ref(n, &idx) != 0 || idx >= m->n_ndarrays)
        return NULL;
    return &m->ndarrays[idx];
}

void zpk_mixed_free(zpk_mixed_t *m)
{
    if (m == NULL)
        return;
    if (m->doc != NULL)
        zpk_doc_destroy(&m->doc);
    if (m->ndarrays != NULL) {
        for (size_t i = 0; i < m->n_ndarrays; i++)
            zpk_ndarray_free(&m->ndarrays[i]);
        zpk__free(m->ndarrays);
    }
    zpk__hold_unref(m->hold_);
    memset(m, 0, sizeof *m);
}

/* ---- the repeated ndarray header ---------------------------------------------------- */

/*
 * The last ndarray header decoded on this thread, with the ndarray it
 * describes: a stream of ndarrays of one dtype and shape repeats its
 * header byte for byte, and a match skips the header walk. Only headers
 * of raw one-chunk ndarrays decoded with the default limits are kept (in
 * their own frame, the common large ndarray; or in front of the payload in
 * one frame, the common small one), so a match decodes exactly as the
 * walk would.
 */
#define S_RCACHE_HDR 256
typedef struct s_rcache {
    size_t len;      /* header bytes; 0: empty */
    bool single;     /* the payload follows the header in its frame */
    size_t stored;   /* the payload's size */
    size_t align;    /* the dtype's alignment */
    zpk_ndarray_t a; /* the decoded ndarray, without data */
    uint8_t hdr[S_RCACHE_HDR];
} s_rcache_t;
static _Thread_local s_rcache_t s_rcache;

static void s_rcache_put(const zpk__msg_t *m, const zpk_frame_t *hf, const zpk_ndarray_t *a)
{
    const zpk_ndarray_info_t *info = &m->ndarrays[0];
    s_rcache_t *c = &s_rcache;
    size_t len = m->single ? m->payload_off : hf->size;
    if (zpk__msg_fast_off || m->kind != ZPK__KIND_NDARRAY || info->nchunks != 1 ||
        info->chunks[0].compressed || info->nbytes == 0 || len > sizeof c->hdr)
        return;
    c->a.dtype = a->dtype;
    c->a.ndim = a->ndim;
    memcpy(c->a.shape, a->shape, sizeof(size_t) * (size_t)a->ndim);
    c->a.order = a->order;
    c->a.nbytes = a->nbytes;
    memcpy(c->hdr, hf->data, len);
    c->single = m->single;
    c->stored = info->chunks[0].stored;
    c->align = zpk__dtype_align(info->dtype);
    c->len = len;
}

/* The payload of frames [@p hi, n) when they are a header equal to @p c's
 * and a payload of its size; NULL for anything else. */
static void *s_rcache_match(const s_rcache_t *c, const zpk_frame_t *fr, size_t hi, size_t n)
{
    if (c->len == 0 || hi + (c->single ? 1 : 2) != n)
        return NULL;
    const zpk_frame_t *hf = &fr[hi];
    if (c->single ? hf->size != c->len + c->stored
                  : hf->size != c->len || fr[hi + 1].size != c->stored)
        return NULL;
    if (memcmp(hf->data, c->hdr, c->len) != 0)
        return NULL;
    return c->single ? (uint8_t *)hf->data + c->len : fr[hi + 1].data;
}

/* ---- pieces of the body ------------------------------------------------------------- */

/* Places an error found inside a payload at its frame: err->frame, and
 * err->offset counted from the frame's start (@p base: where the payload
 * starts in it). */
static int s_at_frame(zpk_error_t *err, int rc, size_t frame, size_t base)
{
    if (err != NULL && err->code != 0 && err->frame < 0) {
        err->frame = (int)frame;
        err->offset += base;
    }
    return rc;
}

/*
 * Walks the object of a mixed message item by item: an ext 90 that is not
 * 4 bytes long is malformed (PROTOCOL.md section 2). The walk also checks
 * that the bytes hold exactly one object, so an unparsed object
 * (ZPK_RECV_BYTES) is refused as a parsed one would be. Allocates nothing.
 */
static int s_check_refs(const uint8_t *p, size_t size, const zpk_limits_t *lim,
                        zpk_error_t *err)
{
    zpk_reader_t r;
    zpk_reader_init(&r, p, size, lim);
    uint64_t pending = 1;
    while (pending > 0) {
        zpk_tag_t t;
        size_t at = zpk_reader_offset(&r);
        int rc = zpk_read_item(&r, &t, NULL);
        if (rc != 0)
            return zpk__error(err, rc, zpk_reader_error_offset(&r), "bad object: %s",
                              zpk_strerror(rc));
        pending--;
        if (t.type == ZPK_TYPE_ARRAY)
            pending += t.v.len;
        else if (t.type == ZPK_TYPE_MAP)
            pending += 2 * (uint64_t)t.v.len;
        else if (t.type == ZPK_TYPE_EXT && t.exttype == ZPK_EXT_NDARRAY_REF && t.v.len != 4)
            return zpk__error(err, ZPK_EFORMAT, at,
                              "an ext 90 of %u bytes: ndarray references are 4 bytes",
                              (unsigned)t.v.len);
        if (pending > zpk_reader_remaining(&r)) /* every item takes a byte at least */
            return zpk__error(err, ZPK_EOUTOFDATA, size, "the object ends early");
    }
    if (zpk_reader_remaining(&r) != 0)
        return zpk__error(err, ZPK_EEXTRADATA, zpk_reader_offset(&r),
                          "bytes after the object");
    return 0;
}

/*
 * ndarray @p info, whose chunks are @p sp, into @p out: in place (holding
 * @p h) when raw, one chunk and aligned; else decoded into one allocation.
 */
static int s_take_ndarray(zpk__hold_t *h, bool *given, const zpk_ndarray_info_t *info,
                          const zpk_span_t *sp, zpk_ndarray_t *out, zpk_error_t *err)
{
    if (info->nbytes == 0)
        return zpk_ndarray_info_to_ndarray(info, NULL, out);
    if (zpk_ndarray_info_is_raw(info) && info->nchunks == 1 &&
        (uintptr_t)sp[0].data % zpk__dtype_align(info->dtype) == 0) {
        int rc = zpk_ndarray_info_to_ndarray(info, (void *)(uintptr_t)sp[0].data, out);
        if (rc != 0)
            return rc;
        out->free_fn = s_hold_free_fn;
        out->free_hint = s_take_ref(h, given);
        return 0;
    }
    return zpk_ndarray_decode(info, sp, info->nchunks, out, err);
}

/* ndarray @p info decoded or copied into the caller's buffer (opts->into). */
static int s_take_into(const zpk_ndarray_info_t *info, const zpk_span_t *sp,
                       const zpk_recv_opts_t *o, zpk_ndarray_t *out, zpk_error_t *err)
{
    if (info->nbytes > o->into_size)
        return zpk__error(err, ZPK_EBUFFULL, 0, "an ndarray of %zu bytes, the buffer holds %zu",
                          info->nbytes, o->into_size);
    int rc = 0;
    if (info->nbytes > 0)
        rc = zpk_ndarray_decode_into(info, sp, info->nchunks, o->into, o->into_size, err);
    if (rc == 0)
        rc = zpk_ndarray_info_to_ndarray(info, info->nbytes ? o->into : NULL, out);
    return rc;
}

/* What the fast path for ndarrays fills in from s_rcache (out is clear). */
static void s_from_rcache(const s_rcache_t *c, void *data, zpk_ndarray_t *out)
{
    out->dtype = c->a.dtype;
    out->ndim = c->a.ndim;
    memcpy(out->shape, c->a.shape, sizeof(size_t) * (size_t)c->a.ndim);
    out->order = c->a.order;
    out->nbytes = c->a.nbytes;
    out->data = data;
}

static void s_free_out(int want, void *out)
{
    if (want == ZPK__KIND_OBJ)
        zpk_doc_destroy(out);
    else if (want == ZPK__KIND_NDARRAY)
        zpk_ndarray_free(out);
    else
        zpk_mixed_free(out);
    zpk__decode_clear(want, out);
}

/* ---- the one body ------------------------------------------------------------------ */

static const zpk_recv_opts_t s_no_opts;

/* memcmp(p, zpk__hdr_obj_single, 31) == 0 in four 8-byte loads. */
static inline bool s_is_obj_single(const uint8_t *p)
{
    const uint8_t *q = zpk__hdr_obj_single;
    uint64_t a[4], b[4];
    memcpy(&a[0], p, 8);
    memcpy(&a[1], p + 8, 8);
    memcpy(&a[2], p + 16, 8);
    memcpy(&a[3], p + ZPK__HDR_OBJ_SINGLE_LEN - 8, 8);
    memcpy(&b[0], q, 8);
    memcpy(&b[1], q + 8, 8);
    memcpy(&b[2], q + 16, 8);
    memcpy(&b[3], q + ZPK__HDR_OBJ_SINGLE_LEN - 8, 8);
    return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3])) == 0;
}

/*
 * The commonest packed message: the last frame (of @p h->n > 0) holds the
 * fixed header of an uncompressed single-frame object (decoded with the
 * default limits) and the object, and no frame before it (the envelope)
 * looks like a header, so that it is the header zpk__find_header() finds.
 * The fixed header is tested first: it is a header, and most messages have
 * no envelope to look through. Sets @p env and @p out as the general walk
 * would (for a document, the parse itself may fail: its error is
 * returned, as the walk would return it). Returns 1, having done nothing,
 * for anything else.
 */
static int s_decode_obj_fast(zpk__hold_t *h, int want, const zpk_recv_opts_t *o,
                             zpk_envelope_t *env, void *out, zpk_error_t *err)
{
    size_t hi = h->n - 1;
    const zpk_frame_t *hf = &h->frames[hi];
    if (o->limits != NULL || hf->size <= ZPK__HDR_OBJ_SINGLE_LEN || hf->data == NULL ||
        !s_is_obj_single(hf->data) || zpk__find_header(h->frames, hi) != hi)
        return 1;
    const uint8_t *obj = (const uint8_t *)hf->data + ZPK__HDR_OBJ_SINGLE_LEN;
    size_t size = hf->size - ZPK__HDR_OBJ_SINGLE_LEN;
    zpk_doc_t *doc = NULL;
    bool given = false; /* the decode's reference on h went to a result */
    if (want == ZPK__KIND_OBJ || !(o->flags & ZPK_RECV_BYTES)) {
        int rc = zpk_doc_parse(obj, size, NULL, ZPK_DOC_BORROW, &doc, err);
        if (rc != 0) {
            zpk_doc_destroy(&doc); /* set on ZPK_EEXTRADATA */
            if (env != NULL)
                *env = (zpk_envelope_t){NULL, 0, NULL};
            zpk__decode_clear(want, out);
            zpk__hold_unref(h);
            return s_at_frame(err, rc, hi, ZPK__HDR_OBJ_SINGLE_LEN);
        }
        /* cannot fail: a new document, a release function */
        zpk_doc_set_owner(doc, s_hold_release, s_take_ref(h, &given));
    }
    if (want == ZPK__KIND_OBJ)
        *(zpk_doc_t **)out = doc;
    else
        *(zpk_mixed_t *)out = (zpk_mixed_t){doc, obj, size, 0, NULL, s_take_ref(h, &given)};
    if (env != NULL)
        *env = hi > 0 ? (zpk_envelope_t){h->frames, hi, s_take_ref(h, &given)}
                      : (zpk_envelope_t){NULL, 0, NULL};
    if (!given)
        zpk__hold_unref(h);
    return 0;
}

/*
 * The commonest large ndarray: a header equal byte for byte to the last
 * one this thread decoded (s_rcache), then a payload frame of the size it
 * declares, decoded with the default limits; used in place when aligned,
 * or copied into opts->into. Sets @p env and @p out as the general walk
 * would. Returns 1, having done nothing, for anything else.
 */
static int s_decode_ndarray_fast(zpk__hold_t *h, size_t hi, const zpk_recv_opts_t *o,
                                 zpk_envelope_t *env, zpk_ndarray_t *out, zpk_error_t *err)
{
    const s_rcache_t *c = &s_rcache;
    if (o->limits != NULL || o->array_opts != NULL || o->recipe_meta != NULL)
        return 1;
    void *payload = s_rcache_match(c, h->frames, hi, h->n);
    if (payload == NULL || (o->into == NULL && (uintptr_t)payload % c->align != 0))
        return 1;
    zpk__decode_clear(ZPK__KIND_NDARRAY, out);
    if (env != NULL)
        *env = (zpk_envelope_t){NULL, 0, NULL};
    if (o->into != NULL) {
        int rc = 0;
        if (c->a.nbytes > o->into_size)
            rc = zpk__error(err, ZPK_EBUFFULL, 0, "an ndarray of %zu bytes, the buffer holds %zu",
                            c->a.nbytes, o->into_size);
        else
            memcpy(o->into, payload, c->a.nbytes);
        if (rc == 0)
            s_from_rcache(c, o->into, out);
        if (rc == 0 && env != NULL && hi > 0)
            *env = (zpk_envelope_t){h->frames, hi, s_hold_ref(h)};
        zpk__hold_unref(h);
        return rc;
    }
    s_from_rcache(c, payload, out);
    out->free_fn = s_hold_free_fn;
    out->free_hint = h; /* the decode's own reference */
    if (env != NULL && hi > 0)
        *env = (zpk_envelope_t){h->frames, hi, s_hold_ref(h)};
    return 0;
}

static int s_decode_walk(zpk__hold_t *h, int want, const zpk_recv_opts_t *o,
                         zpk_envelope_t *env, void *out, zpk_error_t *err);

int zpk__decode(zpk__hold_t *h, int want, const zpk_recv_opts_t *opts, zpk_envelope_t *env,
                void *out, zpk_error_t *err)
{
    const zpk_recv_opts_t *o = opts != NULL ? opts : &s_no_opts;
    zpk__recipe_meta_clear(o);
    /* cheap tests first: the commonest messages; anything else (and every
     * error but a document's own) takes the general walk */
    if (!zpk__msg_fast_off && h->n > 0) {
        int rc;
        if (want != ZPK__KIND_NDARRAY) {
            rc = s_decode_obj_fast(h, want, o, env, out, err);
        } else {
            size_t hi = zpk__find_header(h->frames, h->n);
            rc = hi == h->n ? 1 : s_decode_ndarray_fast(h, hi, o, env, out, err);
        }
        if (rc != 1)
            return rc;
    }
    return s_decode_walk(h, want, o, env, out, err);
}

/* The general walk: the whole header read and checked, then the kind's
 * results made. */
ZPK_NOINLINE static int s_decode_walk(zpk__hold_t *h, int want,
                                      const zpk_recv_opts_t *o,
                                      zpk_envelope_t *env, void *out,
                                      zpk_error_t *err)
{
    const zpk_frame_t *fr = h->frames;
    size_t n = h->n;
    if (env != NULL)
        *env = (zpk_envelope_t){NULL, 0, NULL};
    zpk__decode_clear(want, out);
    zpk__msg_t m;
    bool have_m = false;
    bool given = false; /* the decode's reference on h went to a result */
    int rc = 0;
    int kind;
    zpk_span_t obj = {NULL, 0};
    size_t obj_frame = 0, obj_base = 0;
    size_t hi;

    rc = zpk__msg_parse(fr, n, o->limits, o->array_opts, &m, err);
    if (rc != 0)
        goto fail;
    have_m = true;
    hi = m.header;
    kind = m.kind;
    if (want == ZPK__KIND_OBJ && kind != ZPK__KIND_OBJ) {
        rc = zpk__error(err, ZPK_ETYPE, 0, "a %s message, not a packed object",
                        kind == ZPK__KIND_MIXED ? "mixed" : "ndarray");
        goto fail;
    }
    if (want == ZPK__KIND_NDARRAY && kind != ZPK__KIND_NDARRAY && kind != ZPK__KIND_RECIPE) {
        rc = zpk__error(err, ZPK_ETYPE, 0, "a %s message, not an ndarray",
                        kind == ZPK__KIND_MIXED ? "mixed" : "packed object");
        goto fail;
    }
    if (want == ZPK__KIND_MIXED && kind != ZPK__KIND_OBJ && kind != ZPK__KIND_MIXED) {
        rc = zpk__error(err, ZPK_ETYPE, 0, "an ndarray message, not a mixed or packed one");
        goto fail;
    }
    if (want == ZPK__KIND_NDARRAY) {
        zpk_ndarray_t *a = out;
        size_t first = m.single ? hi : hi + 1;
        rc = o->into != NULL ? s_take_into(&m.ndarrays[0], m.spans, o, a, err)
                             : s_take_ndarray(h, &given, &m.ndarrays[0], m.spans, a, err);
        if (rc != 0) {
            s_at_frame(err, rc, first, m.single ? m.payload_off : 0);
            goto fail;
        }
        if (o->recipe_meta != NULL) {
            rc = zpk__recipe_meta(kind == ZPK__KIND_RECIPE ? &fr[hi] : NULL, o->recipe_meta, err);
            if (rc != 0)
                goto fail;
        }
        if (o->limits == NULL && o->array_opts == NULL)
            s_rcache_put(&m, &fr[hi], a);
        goto done;
    }

    /* the object */
    zpk_limits_t dl;
    const zpk_limits_t *lim = o->limits;
    if (lim == NULL) {
        zpk_limits_default(&dl, 0);
        lim = &dl;
    }
    obj_frame = m.single ? hi : hi + 1;
    if (m.obj_compressed) {
        size_t nb = m.obj_info.nbytes;
        if (nb > lim->max_buffer_size) {
            rc = zpk__error(err, ZPK_ELIMIT, 0,
                            "a compressed object of %zu bytes, over max_buffer_size (%zu)", nb,
                            lim->max_buffer_size);
            s_at_frame(err, rc, obj_frame, 0);
            goto fail;
        }
        h->obj = nb > 0 ? zpk__malloc(nb) : NULL;
        if (nb > 0 && h->obj == NULL) {
            rc = zpk__error(err, ZPK_ENOMEM, 0, "no memory for an object of %zu bytes", nb);
            goto fail;
        }
        rc = zpk_ndarray_decode_into(&m.obj_info, m.spans, m.obj_nspans, h->obj, nb, err);
        if (rc != 0) {
            s_at_frame(err, rc, obj_frame, m.single ? m.payload_off : 0);
            goto fail;
        }
        obj = (zpk_span_t){h->obj, nb};
        obj_base = 0; /* offsets count in the decompressed bytes */
    } else {
        obj = m.spans[0];
        obj_base = m.single ? m.payload_off : 0;
    }

    if (obj.size == 0) {
        rc = zpk__error(err, ZPK_EOUTOFDATA, 0, "the object is empty");
        s_at_frame(err, rc, obj_frame, obj_base);
        goto fail;
    }
    if (want == ZPK__KIND_OBJ || !(o->flags & ZPK_RECV_BYTES)) {
        zpk_doc_t **doc = want == ZPK__KIND_OBJ ? out : &((zpk_mixed_t *)out)->doc;
        rc = zpk_doc_parse(obj.data, obj.size, o->limits, ZPK_DOC_BORROW, doc, err);
        if (rc != 0) {
            s_at_frame(err, rc, obj_frame, obj_base);
            goto fail;
        }
        /* cannot fail: a new document, a release function */
        zpk_doc_set_owner(*doc, s_hold_release, s_take_ref(h, &given));
    }
    if (want == ZPK__KIND_MIXED) {
        zpk_mixed_t *mx = out;
        if (kind == ZPK__KIND_MIXED) {
            rc = s_check_refs(obj.data, obj.size, o->limits, err);
            if (rc != 0) {
                s_at_frame(err, rc, obj_frame, obj_base);
                goto fail;
            }
        }
        mx->packed = obj.data;
        mx->packed_size = obj.size;
        mx->hold_ = s_take_ref(h, &given);
        if (have_m && m.n_ndarrays > 0) {
            mx->ndarrays = zpk__calloc(m.n_ndarrays, sizeof *mx->ndarrays);
            if (mx->ndarrays == NULL) {
                rc = zpk__error(err, ZPK_ENOMEM, 0, "no memory");
                goto fail;
            }
        }
        size_t first = have_m ? m.obj_nspans : 0;
        for (size_t i = 0; have_m && i < m.n_ndarrays; i++) {
            rc = s_take_ndarray(h, &given, &m.ndarrays[i], &m.spans[first], &mx->ndarrays[i],
                                err);
            if (rc != 0) {
                s_at_frame(err, rc, m.single ? hi : hi + 1 + first,
                           m.single ? m.payload_off : 0);
                goto fail;
            }
            mx->n_ndarrays = i + 1;
            first += m.ndarrays[i].nchunks;
        }
    }

done:
    if (env != NULL && hi > 0 && hi < n)
        *env = (zpk_envelope_t){fr, hi, s_take_ref(h, &given)};
    if (have_m)
        zpk__msg_free(&m);
    if (!given)
        zpk__hold_unref(h);
    return 0;

fail:
    s_free_out(want, out); /* releases the references the results took */
    if (have_m)
        zpk__msg_free(&m);
    if (!given)
        zpk__hold_unref(h);
    return rc;
}

/* ---- the decode calls ---------------------------------------------------------------- */

zpk__hold_t *zpk__hold_new(const zpk_frame_t *frames, size_t n)
{
    size_t bytes;
    if (!zpk__mul_size(n, sizeof *frames, &bytes) ||
        !zpk__add_size(bytes, sizeof(zpk__hold_t), &bytes))
        return NULL;
    zpk__hold_t *h = zpk__malloc(bytes);
    if (h == NULL)
        return NULL;
    atomic_init(&h->refs, 1);
    h->n = n;
    h->frames = (zpk_frame_t *)(h + 1);
    h->obj = NULL;
    h->release = NULL;
    h->ud = NULL;
    if (n > 0)
        memcpy(h->frames, frames, n * sizeof *frames);
    return h;
}

static int s_decode(const zpk_frame_t *frames, size_t n, int want, const zpk_recv_opts_t *opts,
                    zpk_envelope_t *env, void *out, zpk_error_t *err)
{
    zpk__error_reset(err);
    zpk__recipe_meta_clear(opts);
    if (env != NULL)
        *env = (zpk_envelope_t){NULL, 0, NULL};
    zpk__hold_t *h = NULL;
    int rc = 0;
    if (frames == NULL && n > 0) {
        if (out != NULL)
            zpk__decode_clear(want, out);
        return zpk__error(err, ZPK_EINVAL, 0, "NULL frames");
    }
    if (out == NULL)
        rc = zpk__error(err, ZPK_EINVAL, 0, "NULL output");
    else if ((h = zpk__hold_new(frames, n)) == NULL)
        rc = zpk__error(err, ZPK_ENOMEM, 0, "no memory for %zu frames", n);
    if (rc != 0) { /* the frames were handed over all the same */
        for (size_t i = 0; i < n; i++)
            if (frames[i].free_fn != NULL)
                frames[i].free_fn(frames[i].data, frames[i].hint);
        if (out != NULL)
            zpk__decode_clear(want, out);
        return rc;
    }
    return zpk__decode(h, want, opts, env, out, err);
}

int zpk_decode_packed(const zpk_frame_t *frames, size_t n, const zpk_recv_opts_t *opts,
                      zpk_envelope_t *env, zpk_doc_t **doc, zpk_error_t *err)
{
    return s_decode(frames, n, ZPK__KIND_OBJ, opts, env, doc, err);
}

int zpk_decode_ndarray(const zpk_frame_t *frames, size_t n, const zpk_recv_opts_t *opts,
                       zpk_envelope_t *env, zpk_ndarray_t *out, zpk_error_t *err)
{
    return s_decode(frames, n, ZPK__KIND_NDARRAY, opts, env, out, err);
}

int zpk_decode_mixed(const zpk_frame_t *frames, size_t n, const zpk_recv_opts_t *opts,
                     zpk_envelope_t *env, zpk_mixed_t *out, zpk_error_t *err)
{
    return s_decode(frames, n, ZPK__KIND_MIXED, opts, env, out, err);
}
