/*
 * Socket layer: send and receive zmqpack messages on libzmq sockets (and
 * CZMQ zsock_t when built with CZMQ). The only file that includes zmq.h.
 *
 * Receive: every call first takes the whole multipart message off the
 * socket (s_recv_all), so whatever goes wrong afterwards the socket is on a
 * message boundary; then the message layer decodes it; on error every
 * zmq_msg_t is closed. Send: the message layer plans the frames, this file
 * turns each into a zmq_msg_t (zero-copy with a shared, refcounted release
 * context, or copied when small) and sends them as one multipart message.
 */
#include "internal.h"
#include "message_internal.h"

#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <zmq.h>
#if ZPK_HAVE_CZMQ
#  include <czmq.h>
#endif

#include "zmqpack/format.h"
#include "zmqpack/socket.h"

/* ---- sockets and errors --------------------------------------------------- */

static void *s_resolve(void *socket)
{
#if ZPK_HAVE_CZMQ
    /* zsock_t and zactor_t are recognised by their tags (zsock_is(),
     * zactor_is()); anything else goes to libzmq as it is, which checks its
     * own tag (ENOTSOCK). Skips zsock_resolve()'s zmq_getsockopt() probe on
     * every call with a plain libzmq socket. */
    if (socket != NULL && (zsock_is(socket) || zactor_is(socket)))
        return zsock_resolve(socket);
#endif
    return socket;
}

/* ---- trackers ------------------------------------------------------------- */

/* pending goes up without the lock (one atomic add per send) and down
 * without it while other sends are pending; it reaches 0 only under the
 * lock, with the broadcast, so a waiter that saw 0 under the lock can
 * destroy the tracker: its last releaser is done with it. */
struct zpk_tracker {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_size_t pending; /* frames libzmq still holds */
};

zpk_tracker_t *zpk_tracker_new(void)
{
    zpk_tracker_t *t = zpk__malloc(sizeof *t);
    if (t == NULL)
        return NULL;
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&t->pending, 0);
    return t;
}

static void s_tracker_add(zpk_tracker_t *t)
{
    atomic_fetch_add(&t->pending, 1);
}

static void s_tracker_release(zpk_tracker_t *t)
{
    size_t old = atomic_load(&t->pending);
    while (old > 1) /* not the last: no waiter to wake */
        if (atomic_compare_exchange_weak(&t->pending, &old, old - 1))
            return;
    if (old == 0)
        return;
    pthread_mutex_lock(&t->mu);
    size_t p = atomic_load(&t->pending);
    while (p > 0 && !atomic_compare_exchange_weak(&t->pending, &p, p - 1))
        ; /* adds and other releases may run meanwhile */
    if (p == 1)
        pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

bool zpk_tracker_done(zpk_tracker_t *t)
{
    if (t == NULL)
        return true;
    pthread_mutex_lock(&t->mu);
    bool done = atomic_load(&t->pending) == 0;
    pthread_mutex_unlock(&t->mu);
    return done;
}

int zpk_tracker_wait(zpk_tracker_t *t, int timeout_ms)
{
    if (t == NULL)
        return ZPK_EINVAL;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (timeout_ms > 0) {
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    int rc = 0;
    pthread_mutex_lock(&t->mu);
    while (atomic_load(&t->pending) > 0) {
        if (timeout_ms == 0) {
            rc = -EAGAIN;
            break;
        }
        if (timeout_ms < 0) {
            pthread_cond_wait(&t->cv, &t->mu);
        } else if (pthread_cond_timedwait(&t->cv, &t->mu, &deadline) == ETIMEDOUT) {
            rc = atomic_load(&t->pending) > 0 ? -EAGAIN : 0;
            break;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

void zpk_tracker_destroy(zpk_tracker_t **pt)
{
    if (pt == NULL || *pt == NULL)
        return;
    zpk_tracker_t *t = *pt;
    zpk_tracker_wait(t, -1);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    zpk__free(t);
    *pt = NULL;
}

/* ---- zero-copy release contexts ------------------------------------------- */

/*
 * One context per zero-copy buffer: every frame that points into the
 * buffer holds a reference; the last release runs the owner's free
 * function (when armed) and releases the tracker. Runs on whichever thread
 * closes the last zmq_msg_t: the caller's, the receiver's (inproc) or one
 * of libzmq's I/O threads.
 */
typedef void s_ffn_t(void *data, void *hint);

typedef struct s_ctx {
    atomic_size_t refs;
    void *base;            /* passed to ffn */
    s_ffn_t *ffn;          /* NULL: nothing to free */
    void *hint;
    zpk_tracker_t *tracker;
    atomic_bool armed;     /* false: the send failed, the caller keeps the buffer */
} s_ctx_t;

static s_ctx_t *s_ctx_new(void *base, s_ffn_t *ffn, void *hint, zpk_tracker_t *tracker)
{
    s_ctx_t *c = zpk__malloc(sizeof *c);
    if (c == NULL)
        return NULL;
    atomic_init(&c->refs, 1); /* the sender's own reference */
    c->base = base;
    c->ffn = ffn;
    c->hint = hint;
    c->tracker = tracker;
    atomic_init(&c->armed, true);
    if (tracker != NULL)
        s_tracker_add(tracker);
    return c;
}

static void s_ctx_unref(s_ctx_t *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    if (atomic_load(&c->armed) && c->ffn != NULL)
        c->ffn(c->base, c->hint);
    zpk_tracker_t *t = c->tracker;
    zpk__free(c);
    if (t != NULL)
        s_tracker_release(t);
}

static void s_ctx_frame_free(void *data, void *hint)
{
    (void)data;
    s_ctx_unref(hint);
}

static void s_zpk_free_fn(void *data, void *hint)
{
    (void)hint;
    zpk__free(data);
}

/* ---- sending frames --------------------------------------------------------- */

/*
 * Sends @p n frames as one multipart message. Frame i is copied when
 * frames[i].ctx and .tracker are NULL, else sent zero-copy holding a
 * reference on its context (or one pending send on its tracker).
 * Returns 0, or -errno. *sent_any tells whether libzmq accepted a frame.
 */
typedef struct s_out {
    const void *data;
    size_t size;
    s_ctx_t *ctx;
    const void *data2; /* copied frames only: more bytes after data (or NULL) */
    size_t size2;
    zpk_tracker_t *tracker; /* ctx NULL: zero-copy borrowed memory that only this
                             * tracker follows (no free function, no context) */
} s_out_t;

/* Frees a frame of s_out_t.tracker: the tracker lets go of one send. */
static void s_tracker_frame_free(void *data, void *hint)
{
    (void)data;
    s_tracker_release(hint);
}

static int s_send_frames(void *zs, const s_out_t *frames, size_t n, int flags, bool *sent_any)
{
    *sent_any = false;
    int dontwait = flags & ZMQ_DONTWAIT;
    for (size_t i = 0; i < n; i++) {
        zmq_msg_t m;
        int rc;
        if (frames[i].ctx == NULL && frames[i].tracker == NULL) {
            rc = zmq_msg_init_size(&m, frames[i].size + frames[i].size2);
            uint8_t *d = rc == 0 ? zmq_msg_data(&m) : NULL;
            if (rc == 0 && frames[i].size > 0)
                memcpy(d, frames[i].data, frames[i].size);
            if (rc == 0 && frames[i].size2 > 0)
                memcpy(d + frames[i].size, frames[i].data2, frames[i].size2);
        } else if (frames[i].ctx == NULL) {
            s_tracker_add(frames[i].tracker);
            rc = zmq_msg_init_data(&m, (void *)frames[i].data, frames[i].size,
                                   s_tracker_frame_free, frames[i].tracker);
            if (rc != 0)
                s_tracker_release(frames[i].tracker);
        } else {
            atomic_fetch_add(&frames[i].ctx->refs, 1);
            rc = zmq_msg_init_data(&m, (void *)frames[i].data, frames[i].size, s_ctx_frame_free,
                                   frames[i].ctx);
            if (rc != 0)
                atomic_fetch_sub(&frames[i].ctx->refs, 1);
        }
        if (rc != 0)
            return ZPK_ENOMEM;
        int f = (i + 1 < n) ? ZMQ_SNDMORE : 0;
        /* Only the first part may wait or fail with EAGAIN: libzmq accepts
         * the rest of a multipart message once its first part is in. */
        if (i == 0)
            f |= dontwait;
        for (;;) {
            rc = zmq_msg_send(&m, zs, f);
            if (rc >= 0)
                break;
            int e = zmq_errno();
            if (e == EINTR && *sent_any)
                continue; /* never leave half a message */
            zmq_msg_close(&m);
            return -e;
        }
        *sent_any = true;
    }
    return 0;
}

/* ---- receiving ---------------------------------------------------------------- */

/* Hard cap on frames kept from one message; the rest are drained. */
#define S_MAX_FRAMES 65536

/*
 * Received frames shared by the documents and arrays made from them: the
 * last owner to let go closes every zmq_msg_t. One allocation holds the
 * count and the frames.
 */
typedef struct s_hold {
    atomic_size_t refs;
    size_t n;
    zmq_msg_t parts[];
} s_hold_t;

/* A message being received: its frames live in a growing s_hold_t. */
typedef struct s_rmsg {
    s_hold_t *h;
    zmq_msg_t *parts; /* h->parts */
    size_t n, cap;
} s_rmsg_t;

static void s_rmsg_close(s_rmsg_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        zmq_msg_close(&r->parts[i]);
    zpk__free(r->h);
    r->h = NULL;
    r->parts = NULL;
    r->n = r->cap = 0;
}

/* Drains what is left of a multipart message after @p m (which had MORE). */
static void s_drain(void *zs)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    int more = 1;
    while (more) {
        if (zmq_msg_recv(&m, zs, 0) < 0) {
            if (zmq_errno() == EINTR)
                continue;
            break;
        }
        more = zmq_msg_more(&m);
    }
    zmq_msg_close(&m);
}

/* Takes one message off the socket and drops it: ZPK_ENOMEM, or the
 * receive error when there was nothing to take. */
static int s_recv_drop(void *zs, int flags)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, zs, flags) < 0) {
        int e = zmq_errno();
        zmq_msg_close(&m);
        return -e;
    }
    if (zmq_msg_more(&m))
        s_drain(zs);
    zmq_msg_close(&m);
    return ZPK_ENOMEM;
}

/*
 * Takes one whole multipart message off the socket. Only the first part
 * honours ZMQ_DONTWAIT / ZMQ_RCVTIMEO; once it is in, the rest of the
 * message is already queued and is always taken, whatever happens. Returns
 * 0, -errno (-EAGAIN, -EINTR, -ETERM: nothing was taken), ZPK_ENOMEM or
 * ZPK_EFRAME (too many parts; the message was drained and dropped).
 */
static int s_recv_all(void *zs, int flags, s_rmsg_t *r)
{
    memset(r, 0, sizeof *r);
    int first_flags = flags & ZMQ_DONTWAIT;
    int rc = 0;
    for (;;) {
        if (r->n == r->cap) {
            size_t ncap = r->cap ? r->cap * 2 : 4;
            s_hold_t *np = zpk__realloc(r->h, sizeof *np + ncap * sizeof(zmq_msg_t));
            if (np == NULL) {
                rc = ZPK_ENOMEM;
                if (r->n == 0) /* take the message anyway and drop it */
                    return s_recv_drop(zs, first_flags);
                break;
            }
            r->h = np;
            r->parts = np->parts;
            r->cap = ncap;
        }
        zmq_msg_t *m = &r->parts[r->n];
        zmq_msg_init(m);
        int got = zmq_msg_recv(m, zs, r->n == 0 ? first_flags : 0);
        if (got < 0) {
            int e = zmq_errno();
            zmq_msg_close(m);
            if (r->n > 0 && e == EINTR)
                continue;
            if (r->n == 0) {
                zpk__free(r->h);
                r->h = NULL;
                r->parts = NULL;
                r->cap = 0;
                return -e;
            }
            rc = -e;
            break; /* ETERM mid-message: nothing more can be read */
        }
        r->n++;
        if (!zmq_msg_more(m))
            return 0;
        if (r->n == S_MAX_FRAMES) {
            rc = ZPK_EFRAME;
            break;
        }
    }
    /* failure with a message partly taken: drain it so the next receive
     * starts on a boundary */
    if (r->n > 0 && zmq_msg_more(&r->parts[r->n - 1]))
        s_drain(zs);
    s_rmsg_close(r);
    return rc;
}

static void s_hold_unref(s_hold_t *h)
{
    if (h == NULL || atomic_fetch_sub(&h->refs, 1) != 1)
        return;
    for (size_t i = 0; i < h->n; i++)
        zmq_msg_close(&h->parts[i]);
    zpk__free(h);
}

static void s_hold_release(void *ud) { s_hold_unref(ud); }

static void s_hold_free_fn(void *data, void *hint)
{
    (void)data;
    s_hold_unref(hint);
}

static void s_zpk_release(void *ud) { zpk__free(ud); }

/* ---- options ------------------------------------------------------------------ */

_Static_assert(ZPK_DONTWAIT == ZMQ_DONTWAIT, "ZPK_DONTWAIT must be ZMQ_DONTWAIT");

void zpk_send_opts_init(zpk_send_opts_t *o)
{
    if (o != NULL)
        memset(o, 0, sizeof *o);
}

void zpk_recv_opts_init(zpk_recv_opts_t *o)
{
    if (o != NULL)
        memset(o, 0, sizeof *o);
}

/* ---- the send path ---------------------------------------------------------------- */

typedef struct s_send {
    void *zs;
    zpk_send_opts_t o;
    s_out_t *out;          /* frames */
    size_t nout;
    s_ctx_t *ctx_w;        /* the writer's detached buffer, when sent zero-copy */
    s_ctx_t **ctx_a;       /* one per array: the caller's data */
    s_ctx_t **owned;       /* contexts of library-owned chunks */
    size_t nowned;
} s_send_t;

/* Adds a frame for chunk @p ch. @p caller: the ctx of the caller memory the
 * chunk borrows from when ch->free_fn is NULL (NULL: copy it). */
static int s_add_chunk(s_send_t *s, zpk_chunk_t *ch, s_ctx_t *caller)
{
    s_out_t *f = &s->out[s->nout++];
    *f = (s_out_t){ch->data, ch->size, NULL, NULL, 0, NULL};
    if (ch->free_fn != NULL) { /* library-owned buffer: zero-copy unless small */
        if (ch->size < s->o.copy_below)
            return 0; /* copied; zpk_ndarray_enc_free() frees it */
        s_ctx_t *c = s_ctx_new(ch->data, ch->free_fn, ch->hint, NULL);
        if (c == NULL)
            return ZPK_ENOMEM;
        ch->free_fn = NULL; /* the context owns it now */
        s->owned[s->nowned++] = c;
        f->ctx = c;
        return 0;
    }
    if (caller != NULL && ch->size >= s->o.copy_below)
        f->ctx = caller;
    return 0;
}

/* Frames of up to this many parts are planned on the stack. */
#define S_STACK_FRAMES 8
/* Header bytes written on the stack before falling back to the heap. */
#define S_STACK_HEADER 512
/* Single-frame messages up to this size are built on the stack. */
#define S_STACK_SINGLE 4096
/* Messages whose payload is smaller than this go as one frame. */
#define S_AUTO_SINGLE ((size_t)16 * 1024)

/* Puts detached bytes back into a growable writer after a failed send. */
static void s_writer_restore(zpk_writer_t *w, void *d, size_t n)
{
    zpk_writer_reset(w);
    zpk_write_raw(w, d, n);
    zpk__free(d);
}

/*
 * Single-frame mode for a contiguous array with zlib or blosc: every chunk
 * is compressed straight into the frame's buffer, after room left for the
 * header, which is then written just in front of the first chunk. The
 * frame goes to libzmq zero-copy; nothing is copied but incompressible
 * chunks (stored raw).
 */
static int s_single_direct(s_send_t *s, const zpk_ndarray_t *a)
{
    zpk_error_t *err = s->o.err;
    zpk_codec_t c = *s->o.codec;
    if (c.nthreads < 1)
        c.nthreads = 1;
    if (!zpk_codec_available(c.id))
        return zpk__error(err, ZPK_ENOTSUP, 0, "codec not available in this build");
    size_t chunk = c.chunk_size ? c.chunk_size : ZPK_DEFAULT_CHUNK_SIZE;
    if (c.id == ZPK_CODEC_BLOSC && chunk > ZPK_BLOSC_MAX_CHUNK)
        return zpk__error(err, ZPK_ELIMIT, 0, "chunk size over the blosc limit");
    size_t nb = 0;
    int src_rc = zpk_shape_nbytes(a->dtype, a->ndim, a->shape, &nb);
    if (src_rc != 0 || nb != a->nbytes)
        return zpk__error(err, src_rc ? src_rc : ZPK_EINVAL, 0, "nbytes does not match the shape");
    const size_t item = a->dtype.itemsize;
    const size_t nchunks = nb / chunk + (nb % chunk != 0);
    size_t room, total, bound = 0;
    if (!zpk__mul_size(nchunks, 24, &room) || !zpk__add_size(room, 512, &room))
        return zpk__error(err, ZPK_EOVERFLOW, 0, "too many chunks");
    for (size_t i = 0; i < nchunks; i++) {
        size_t raw = nb - i * chunk < chunk ? nb - i * chunk : chunk;
        size_t b = zpk_codec_bound(&c, raw);
        if (b == 0 || !zpk__add_size(bound, b, &bound))
            return zpk__error(err, ZPK_ELIMIT, 0, "payload too large for the codec");
    }
    if (!zpk__add_size(room, bound, &total))
        return zpk__error(err, ZPK_EOVERFLOW, 0, "payload too large");
    zpk_ndarray_enc_t enc;
    memset(&enc, 0, sizeof enc);
    uint8_t *buf = zpk__malloc(total);
    enc.info.chunks = zpk__calloc(nchunks, sizeof *enc.info.chunks);
    if (buf == NULL || enc.info.chunks == NULL) {
        zpk__free(buf);
        zpk__free(enc.info.chunks);
        return zpk__error(err, ZPK_ENOMEM, 0, "no memory for the frame");
    }
    zpk_ndarray_info_t *info = &enc.info;
    info->dtype = a->dtype;
    info->ndim = a->ndim;
    memcpy(info->shape, a->shape, sizeof(size_t) * (size_t)a->ndim);
    zpk_ndarray_is_contiguous(a, &info->order);
    info->nbytes = nb;
    info->codec = c;
    info->chunk_size = chunk;
    info->nchunks = nchunks;
    info->nthreads = c.nthreads;
    const uint8_t *src = a->data;
    uint8_t *p = buf + room;
    int rc = 0;
    for (size_t i = 0; i < nchunks && rc == 0; i++) {
        size_t off = i * chunk, raw = nb - off < chunk ? nb - off : chunk, got = 0;
        rc = zpk_codec_compress(&c, item, src + off, raw, p, zpk_codec_bound(&c, raw), &got);
        bool keep = rc == 0 && got < raw;
        if (rc == 0 && !keep) {
            memcpy(p, src + off, raw);
            got = raw;
        }
        info->chunks[i] = (zpk_chunk_info_t){got, raw, keep};
        info->stored_bytes += got;
        p += got;
    }
    zpk_writer_t hw;
    zpk_writer_init_buffer(&hw, buf, room);
    if (rc == 0) {
        zpk__msg_write_header(&hw, ZPK__KIND_NDARRAY, true, 0, NULL, &enc, 1);
        rc = zpk_writer_finish(&hw);
    }
    if (rc != 0) {
        zpk__free(buf);
        zpk_ndarray_info_free(info);
        return zpk__error(err, rc, 0, "cannot compress or write the header");
    }
    size_t hlen = zpk_writer_size(&hw);
    memmove(buf + room - hlen, buf, hlen);
    zpk_ndarray_info_free(info);
    s_ctx_t *ctx = s_ctx_new(buf, s_zpk_free_fn, NULL, NULL);
    if (ctx == NULL) {
        zpk__free(buf);
        return zpk__error(err, ZPK_ENOMEM, 0, "no memory");
    }
    s_out_t out[2];
    size_t n = 0;
    if (s->o.topic_len > 0)
        out[n++] = (s_out_t){s->o.topic, s->o.topic_len, NULL, NULL, 0, NULL};
    out[n++] =
        (s_out_t){buf + room - hlen, hlen + (size_t)(p - (buf + room)), ctx, NULL, 0, NULL};
    bool sent_any;
    rc = s_send_frames(s->zs, out, n, s->o.flags, &sent_any);
    s_ctx_unref(ctx);
    if (rc != 0)
        return zpk__error(err, rc, 0, "send failed");
    return 0;
}

/*
 * What zpk_ndarray_encode() makes of a valid contiguous array without
 * compression (one raw chunk borrowing the data), built in the caller's
 * @p ch and @p ci instead of two allocations. False when @p a is anything
 * else (empty, strided, invalid, or a codec is asked for): the caller then
 * uses zpk_ndarray_encode(), which also reports the errors. The result must
 * not be passed to zpk_ndarray_enc_free() before s_enc_raw_detach().
 */
static bool s_enc_raw_one(const zpk_ndarray_t *a, const zpk_codec_t *codec, zpk_ndarray_enc_t *enc,
                          zpk_chunk_t *ch, zpk_chunk_info_t *ci)
{
    size_t nb = 0;
    char order = ZPK_ORDER_C;
    if ((codec != NULL && codec->id != ZPK_CODEC_NONE) || a->data == NULL || a->nbytes == 0 ||
        a->ndim < 0 || a->ndim > ZPK_MAX_NDIM || !zpk_dtype_valid(a->dtype) ||
        zpk_shape_nbytes(a->dtype, a->ndim, a->shape, &nb) != 0 || nb != a->nbytes ||
        !zpk_ndarray_is_contiguous(a, &order))
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

/* Forgets the caller-owned storage of an s_enc_raw_one() result. */
static void s_enc_raw_detach(zpk_ndarray_enc_t *enc)
{
    enc->chunks = NULL;
    enc->nchunks = 0;
    enc->info.chunks = NULL;
    enc->info.nchunks = 0;
}

/*
 * A small uncompressed object (checked by the caller: under S_AUTO_SINGLE
 * and copy_below, no codec, a valid topic) as one frame holding the fixed
 * header and the writer's bytes, built straight in libzmq's buffer (no
 * header writer, no allocation). On success the writer is reset.
 */
static int s_send_obj_single(void *zs, const void *topic, size_t topic_len, int flags,
                             zpk_writer_t *w, const void *obj, size_t objlen, zpk_error_t *err)
{
    s_out_t fo[2];
    size_t nf = 0;
    if (topic_len > 0)
        fo[nf++] = (s_out_t){topic, topic_len, NULL, NULL, 0, NULL};
    fo[nf++] = (s_out_t){zpk__hdr_obj_single, ZPK__HDR_OBJ_SINGLE_LEN, NULL, obj, objlen, NULL};
    bool sent_any;
    int rc = s_send_frames(zs, fo, nf, flags, &sent_any);
    if (rc != 0)
        return zpk__error(err, rc, 0, "send failed");
    zpk_writer_reset(w);
    return 0;
}

/*
 * The last array header sent on this thread and what it describes: a
 * stream of arrays of one dtype and shape sends the same header every
 * time, and a match copies it instead of encoding it again.
 */
#define S_SCACHE_HDR 512
typedef struct s_scache {
    size_t len;        /* header bytes; 0: empty */
    zpk_dtype_t dtype;
    int ndim;
    char order;
    size_t nbytes;
    size_t shape[ZPK_MAX_NDIM];
    uint8_t hdr[S_SCACHE_HDR];
} s_scache_t;
static _Thread_local s_scache_t s_scache;

/*
 * The commonest large array message: [topic] header data, for a valid
 * contiguous array sent without codec in two frames. The header comes from
 * s_scache when dtype, shape, order and size match the last one sent;
 * frames, ownership and errors are exactly the general path's. Returns 1,
 * having done nothing, for anything else.
 */
static int s_send_array_fast(s_send_t *s, const zpk_ndarray_t *a)
{
    s_scache_t *c = &s_scache;
    char order = ZPK_ORDER_C;
    if (a->data == NULL || a->ndim < 0 || a->ndim > ZPK_MAX_NDIM ||
        !zpk_ndarray_is_contiguous(a, &order))
        return 1;
    bool hit = c->len > 0 && c->nbytes == a->nbytes && c->ndim == a->ndim && c->order == order &&
               c->dtype.kind == a->dtype.kind && c->dtype.byteorder == a->dtype.byteorder &&
               c->dtype.itemsize == a->dtype.itemsize &&
               memcmp(c->shape, a->shape, sizeof(size_t) * (size_t)a->ndim) == 0;
    if (!hit) { /* validates the array exactly as the general path does */
        zpk_ndarray_enc_t enc;
        zpk_chunk_t ch;
        zpk_chunk_info_t ci;
        if (!s_enc_raw_one(a, s->o.codec, &enc, &ch, &ci))
            return 1;
        zpk_writer_t hw;
        zpk_writer_init_buffer(&hw, c->hdr, sizeof c->hdr);
        c->len = 0;
        zpk__msg_write_header(&hw, ZPK__KIND_NDARRAY, false, 1, NULL, &enc, 1);
        if (zpk_writer_finish(&hw) != 0)
            return 1;
        c->dtype = a->dtype;
        c->ndim = a->ndim;
        c->order = order;
        c->nbytes = a->nbytes;
        memcpy(c->shape, a->shape, sizeof(size_t) * (size_t)a->ndim);
        c->len = zpk_writer_size(&hw);
    }
    zpk_error_t *err = s->o.err;
    bool zc = a->nbytes >= s->o.copy_below;
    s_ctx_t *ctx = NULL;
    if (s->o.own == ZPK_OWN_GIVE || (s->o.own == ZPK_OWN_BORROW && !zc)) {
        /* a free function to run (or a tracker released at once when the
         * data is copied): the general path's release context */
        ctx = s_ctx_new(a->data, s->o.own == ZPK_OWN_GIVE ? s->o.free_fn : NULL, s->o.hint,
                        s->o.tracker);
        if (ctx == NULL)
            return zpk__error(err, ZPK_ENOMEM, 0, "no memory");
    }
    s_out_t out[3];
    size_t n = 0;
    if (s->o.topic_len > 0)
        out[n++] = (s_out_t){s->o.topic, s->o.topic_len, NULL, NULL, 0, NULL};
    /* a copy: a free function that libzmq runs during the send (user code)
     * may itself send on this thread and rewrite the cache */
    uint8_t hdr[S_SCACHE_HDR];
    memcpy(hdr, c->hdr, c->len);
    out[n++] = (s_out_t){hdr, c->len, NULL, NULL, 0, NULL};
    /* a zero-copy borrow needs no context: its one frame holds the tracker */
    out[n++] = (s_out_t){a->data, a->nbytes, zc ? ctx : NULL, NULL, 0,
                         zc && s->o.own == ZPK_OWN_BORROW ? s->o.tracker : NULL};
    bool sent_any = false;
    int rc = s_send_frames(s->zs, out, n, s->o.flags, &sent_any);
    if (ctx != NULL) {
        if (rc != 0 && !sent_any) /* nothing left: the caller keeps its memory */
            atomic_store(&ctx->armed, false);
        s_ctx_unref(ctx);
    }
    if (rc != 0)
        return zpk__error(err, rc, 0, "send failed");
    return 0;
}

/*
 * Sends one message: an object (@p obj, @p objlen: the writer's bytes, or
 * NULL for kind array), and @p narr arrays.
 */
static int s_send(void *socket, const zpk_send_opts_t *opts, zpk_writer_t *w, int kind,
                  const zpk_ndarray_t *arrs, size_t narr)
{
    s_send_t s;
    memset(&s, 0, sizeof s);
    s.zs = s_resolve(socket);
    if (opts != NULL)
        s.o = *opts;
    zpk_error_t *err = s.o.err;
    if (s.o.copy_below == 0)
        s.o.copy_below = ZPK_DEFAULT_COPY_BELOW;
    if (s.zs == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL socket");
    if (s.o.topic_len > 0 && (s.o.topic == NULL || !zpk__topic_ok(s.o.topic, s.o.topic_len)))
        return zpk__error(err, ZPK_EINVAL, 0, "topic missing or looks like a zmqpack header");
    if (narr > 0 && s.o.own == ZPK_OWN_BORROW && s.o.tracker == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "ZPK_OWN_BORROW needs a tracker");
    if (narr > 0 && s.o.own == ZPK_OWN_GIVE && s.o.free_fn == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "ZPK_OWN_GIVE needs a free_fn");
    if (s.o.own != ZPK_OWN_COPY && s.o.own != ZPK_OWN_BORROW && s.o.own != ZPK_OWN_GIVE)
        return zpk__error(err, ZPK_EINVAL, 0, "bad ownership mode");
    bool single = (s.o.flags & ZPK_SEND_SINGLE) != 0;
    bool recipe = (s.o.flags & ZPK_SEND_RECIPE) != 0;
    if (recipe && (kind != ZPK__KIND_NDARRAY || single))
        return zpk__error(err, ZPK_EINVAL, 0, "the recipe carries one array, in two frames");
    if (kind == ZPK__KIND_NDARRAY && single && s.o.codec != NULL && arrs[0].nbytes > 0 &&
        (s.o.codec->id == ZPK_CODEC_ZLIB || s.o.codec->id == ZPK_CODEC_BLOSC) &&
        zpk_dtype_valid(arrs[0].dtype) && arrs[0].data != NULL &&
        zpk_ndarray_is_contiguous(&arrs[0], NULL)) {
        int rc = s_single_direct(&s, &arrs[0]);
        if (rc == 0 && s.o.own == ZPK_OWN_GIVE)
            s.o.free_fn(arrs[0].data, s.o.hint); /* compressed: the data is free */
        return rc;
    }

    if (kind == ZPK__KIND_NDARRAY && !single && !recipe &&
        (s.o.codec == NULL || s.o.codec->id == ZPK_CODEC_NONE) &&
        (arrs[0].nbytes >= S_AUTO_SINGLE || arrs[0].nbytes >= s.o.copy_below)) {
        int rc = s_send_array_fast(&s, &arrs[0]);
        if (rc != 1)
            return rc;
    }

    const void *obj = NULL;
    size_t objlen = 0;
    if (w != NULL) {
        int werr = zpk_writer_error(w);
        if (werr != 0)
            return zpk__error(err, werr, 0, "writer error");
        obj = zpk_writer_data(w);
        objlen = zpk_writer_size(w);
        if (obj == NULL || objlen == 0)
            return zpk__error(err, ZPK_EINVAL, 0, "nothing written");
        /* fast path, the commonest message: a small uncompressed object
         * goes as one frame holding the fixed header and the bytes */
        if (kind == ZPK__KIND_OBJ && !recipe &&
            (s.o.codec == NULL || s.o.codec->id == ZPK_CODEC_NONE) && objlen < S_AUTO_SINGLE &&
            objlen < s.o.copy_below)
            return s_send_obj_single(s.zs, s.o.topic, s.o.topic_len, s.o.flags, w, obj, objlen,
                                     err);
        /* large objects travel zero-copy: take the growable writer's buffer
         * (other writers, and single-frame messages, are copied) */
        void *d = NULL;
        size_t dn = 0;
        if (objlen >= s.o.copy_below && !single && zpk_writer_detach(w, &d, &dn) == 0 &&
            d != NULL) {
            s.ctx_w = s_ctx_new(d, s_zpk_free_fn, NULL, NULL);
            if (s.ctx_w == NULL) {
                s_writer_restore(w, d, dn);
                return zpk__error(err, ZPK_ENOMEM, 0, "no memory");
            }
            obj = d;
        }
    }

    int rc = 0;
    zpk_ndarray_enc_t oenc;
    memset(&oenc, 0, sizeof oenc);
    bool obj_compressed = false;
    zpk_ndarray_enc_t *aenc = NULL;
    zpk_chunk_t aenc_one_ch;
    zpk_chunk_info_t aenc_one_ci;
    bool aenc_one_stack = false; /* aenc_one's tables are the two above */
    zpk_writer_t hw;
    uint8_t hbuf[S_STACK_HEADER];
    zpk_writer_init_buffer(&hw, hbuf, sizeof hbuf);
    s_out_t out_stack[S_STACK_FRAMES];
    uint8_t sbuf[S_STACK_SINGLE];
    s_ctx_t *owned_stack[S_STACK_FRAMES];
    void *single_buf = NULL;
    size_t nchunks = 0;

    /* compress the object when asked */
    const zpk_codec_t *codec = recipe ? NULL : s.o.codec;
    if (obj != NULL && codec != NULL && codec->id != ZPK_CODEC_NONE) {
        zpk_ndarray_t oa;
        size_t shape = objlen;
        zpk_ndarray_init(&oa, zpk_dtype_make(ZPK_KIND_UINT, 1), 1, &shape, ZPK_ORDER_C,
                       (void *)(uintptr_t)obj);
        rc = zpk_ndarray_encode(&oa, codec, false, &oenc, err);
        if (rc != 0)
            goto out;
        if (zpk_ndarray_info_is_raw(&oenc.info))
            zpk_ndarray_enc_free(&oenc);
        else
            obj_compressed = true;
    }
    nchunks = obj == NULL ? 0 : obj_compressed ? oenc.nchunks : 1;
    zpk_ndarray_enc_t aenc_one;
    s_ctx_t *ctx_a_one = NULL;
    if (narr == 1) { /* the common case, without allocations */
        memset(&aenc_one, 0, sizeof aenc_one);
        aenc = &aenc_one;
        s.ctx_a = &ctx_a_one;
    } else if (narr > 1) {
        aenc = zpk__calloc(narr, sizeof *aenc);
        s.ctx_a = zpk__calloc(narr, sizeof *s.ctx_a);
    }
    if (narr > 0) {
        if (aenc == NULL || s.ctx_a == NULL) {
            rc = zpk__error(err, ZPK_ENOMEM, 0, "no memory");
            goto out;
        }
        for (size_t i = 0; i < narr; i++) {
            if (narr == 1 && s_enc_raw_one(&arrs[0], codec, &aenc_one, &aenc_one_ch,
                                           &aenc_one_ci))
                aenc_one_stack = true;
            else if ((rc = zpk_ndarray_encode(&arrs[i], codec, false, &aenc[i], err)) != 0)
                goto out;
            nchunks += aenc[i].nchunks;
            if (s.o.own != ZPK_OWN_COPY) {
                s.ctx_a[i] = s_ctx_new(arrs[i].data,
                                       s.o.own == ZPK_OWN_GIVE ? s.o.free_fn : NULL, s.o.hint,
                                       s.o.tracker);
                if (s.ctx_a[i] == NULL) {
                    rc = zpk__error(err, ZPK_ENOMEM, 0, "no memory");
                    goto out;
                }
            }
        }
    }
    if (nchunks + 3 <= S_STACK_FRAMES) {
        s.out = out_stack;
        s.owned = owned_stack;
    } else {
        s.out = zpk__calloc(nchunks + 3, sizeof *s.out);
        s.owned = zpk__calloc(nchunks + 1, sizeof *s.owned);
    }
    if (s.out == NULL || s.owned == NULL) {
        rc = zpk__error(err, ZPK_ENOMEM, 0, "no memory");
        goto out;
    }
    if (s.o.topic_len > 0)
        s.out[s.nout++] = (s_out_t){s.o.topic, s.o.topic_len, NULL, NULL, 0, NULL};

    /* small messages go as one frame: libzmq's cost is per frame, and the
     * payload is copied either way (docs/PROTOCOL.md, section 5) */
    if (!single && !recipe && s.ctx_w == NULL) {
        size_t payload = obj != NULL && !obj_compressed ? objlen : 0;
        for (size_t i = 0; obj_compressed && i < oenc.nchunks; i++)
            payload += oenc.chunks[i].size;
        for (size_t i = 0; i < narr; i++)
            payload += aenc[i].info.stored_bytes;
        if (payload < S_AUTO_SINGLE && payload < s.o.copy_below)
            single = true;
    }

    /* the header */
    char json[2048];
    if (recipe) {
        size_t jl = 0;
        rc = zpk__recipe_write(&aenc[0].info, json, sizeof json, &jl);
        if (rc != 0) {
            rc = zpk__error(err, rc, 0, "cannot write the recipe header (F order?)");
            goto out;
        }
        s.out[s.nout++] = (s_out_t){json, jl, NULL, NULL, 0, NULL};
    } else {
        zpk__msg_write_header(&hw, kind, single, single ? 0 : nchunks,
                              obj_compressed ? &oenc : NULL, aenc, narr);
        if (zpk_writer_error(&hw) == ZPK_EBUFFULL) { /* a long header: on the heap */
            zpk_writer_init_growable(&hw, 2 * S_STACK_HEADER);
            zpk__msg_write_header(&hw, kind, single, single ? 0 : nchunks,
                                  obj_compressed ? &oenc : NULL, aenc, narr);
        }
        rc = zpk_writer_finish(&hw);
        if (rc != 0) {
            rc = zpk__error(err, rc, 0, "cannot write the header");
            goto out;
        }
    }

    if (single) {
        /* header and payload in one buffer (the payload copied once) */
        size_t total = zpk_writer_size(&hw);
        for (size_t i = 0; obj_compressed && i < oenc.nchunks; i++)
            total += oenc.chunks[i].size;
        if (obj != NULL && !obj_compressed)
            total += objlen;
        for (size_t i = 0; i < narr; i++)
            for (size_t c = 0; c < aenc[i].nchunks; c++)
                total += aenc[i].chunks[c].size;
        uint8_t *buf = total <= sizeof sbuf ? sbuf : zpk__malloc(total);
        if (buf == NULL) {
            rc = zpk__error(err, ZPK_ENOMEM, 0, "no memory for the frame");
            goto out;
        }
        if (buf != sbuf)
            single_buf = buf;
        uint8_t *p = buf;
        memcpy(p, zpk_writer_data(&hw), zpk_writer_size(&hw));
        p += zpk_writer_size(&hw);
        for (size_t i = 0; obj_compressed && i < oenc.nchunks; i++) {
            memcpy(p, oenc.chunks[i].data, oenc.chunks[i].size);
            p += oenc.chunks[i].size;
        }
        if (obj != NULL && !obj_compressed) {
            memcpy(p, obj, objlen);
            p += objlen;
        }
        for (size_t i = 0; i < narr; i++)
            for (size_t c = 0; c < aenc[i].nchunks; c++) {
                if (aenc[i].chunks[c].size)
                    memcpy(p, aenc[i].chunks[c].data, aenc[i].chunks[c].size);
                p += aenc[i].chunks[c].size;
            }
        s_ctx_t *c = NULL;
        if (total >= s.o.copy_below) { /* large: the buffer goes to libzmq */
            c = s_ctx_new(buf, s_zpk_free_fn, NULL, NULL);
            if (c == NULL) {
                rc = zpk__error(err, ZPK_ENOMEM, 0, "no memory");
                goto out;
            }
            single_buf = NULL;
            s.owned[s.nowned++] = c;
        }
        s.out[s.nout++] = (s_out_t){buf, total, c, NULL, 0, NULL};
    } else {
        if (!recipe)
            s.out[s.nout++] =
                (s_out_t){zpk_writer_data(&hw), zpk_writer_size(&hw), NULL, NULL, 0, NULL};
        if (obj != NULL && !obj_compressed) {
            s_out_t *f = &s.out[s.nout++];
            *f = (s_out_t){obj, objlen, s.ctx_w, NULL, 0, NULL};
        }
        for (size_t i = 0; obj_compressed && i < oenc.nchunks; i++) {
            rc = s_add_chunk(&s, &oenc.chunks[i], s.ctx_w);
            if (rc != 0)
                goto out;
        }
        for (size_t i = 0; i < narr; i++)
            for (size_t c = 0; c < aenc[i].nchunks; c++) {
                rc = s_add_chunk(&s, &aenc[i].chunks[c], s.ctx_a[i]);
                if (rc != 0)
                    goto out;
            }
        if (recipe && aenc[0].nchunks == 0) /* an empty array: an empty raw frame */
            s.out[s.nout++] = (s_out_t){"", 0, NULL, NULL, 0, NULL};
    }

    bool sent_any = false;
    rc = s_send_frames(s.zs, s.out, s.nout, s.o.flags, &sent_any);
    if (rc != 0) {
        zpk__error(err, rc, 0, "send failed");
        if (!sent_any) { /* nothing left: the caller keeps its memory */
            if (s.ctx_w != NULL)
                atomic_store(&s.ctx_w->armed, false);
            for (size_t i = 0; i < narr; i++)
                if (s.ctx_a[i] != NULL)
                    atomic_store(&s.ctx_a[i]->armed, false);
        }
    }
    if (w != NULL && rc == 0 && s.ctx_w == NULL)
        zpk_writer_reset(w); /* copied: keep the buffer for the next message */
    goto cleanup;

out:
    /* failed before sending: nothing was handed over */
    if (s.ctx_w != NULL)
        atomic_store(&s.ctx_w->armed, false);
    for (size_t i = 0; s.ctx_a != NULL && i < narr; i++)
        if (s.ctx_a[i] != NULL)
            atomic_store(&s.ctx_a[i]->armed, false);
cleanup:
    if (s.ctx_w != NULL) {
        bool give_back = !atomic_load(&s.ctx_w->armed);
        void *d = s.ctx_w->base;
        s_ctx_unref(s.ctx_w);
        if (give_back) /* nothing was sent: the writer gets its bytes back */
            s_writer_restore(w, d, objlen);
    }
    for (size_t i = 0; s.ctx_a != NULL && i < narr; i++)
        if (s.ctx_a[i] != NULL)
            s_ctx_unref(s.ctx_a[i]);
    for (size_t i = 0; i < s.nowned; i++)
        s_ctx_unref(s.owned[i]);
    zpk__free(single_buf);
    if (s.out != out_stack)
        zpk__free(s.out);
    if (s.owned != owned_stack)
        zpk__free(s.owned);
    if (narr > 1)
        zpk__free(s.ctx_a);
    if (aenc_one_stack)
        s_enc_raw_detach(&aenc_one);
    for (size_t i = 0; aenc != NULL && i < narr; i++)
        zpk_ndarray_enc_free(&aenc[i]);
    if (narr > 1)
        zpk__free(aenc);
    zpk_ndarray_enc_free(&oenc);
    zpk_writer_free(&hw);
    return rc;
}

int zpk_send_packed_ex(void *socket, zpk_writer_t *w, const zpk_send_opts_t *opts)
{
    if (w == NULL)
        return ZPK_EINVAL;
    return s_send(socket, opts, w, ZPK__KIND_OBJ, NULL, 0);
}

int zpk_send_packed(void *socket, const char *topic, zpk_writer_t *w, int flags)
{
    /* the commonest message straight to its fast path (s_send() would
     * take it there after checking options this call cannot set) */
    if (topic == NULL && w != NULL && (flags & ~(ZPK_DONTWAIT | ZPK_SEND_SINGLE)) == 0 &&
        zpk_writer_error(w) == 0) {
        const void *obj = zpk_writer_data(w);
        size_t objlen = zpk_writer_size(w);
        void *zs = s_resolve(socket);
        if (obj != NULL && objlen > 0 && objlen < S_AUTO_SINGLE &&
            objlen < ZPK_DEFAULT_COPY_BELOW && zs != NULL)
            return s_send_obj_single(zs, NULL, 0, flags, w, obj, objlen, NULL);
    }
    zpk_send_opts_t o;
    zpk_send_opts_init(&o);
    o.flags = flags;
    o.topic = topic;
    o.topic_len = topic != NULL ? strlen(topic) : 0;
    return zpk_send_packed_ex(socket, w, &o);
}

int zpk_sendf(void *socket, int flags, const char *fmt, ...)
{
    /* small objects are packed on the stack (and copied into the frame);
     * larger ones into a growable writer that is sent zero-copy */
    uint8_t buf[1024];
    zpk_writer_t w;
    zpk_writer_init_buffer(&w, buf, sizeof buf);
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int rc = zpk_pack_fmt_v(&w, fmt, ap);
    if (rc == ZPK_EBUFFULL) {
        zpk_writer_init_growable(&w, 2 * sizeof buf);
        rc = zpk_pack_fmt_v(&w, fmt, ap2);
    }
    va_end(ap2);
    va_end(ap);
    if (rc == 0)
        rc = zpk_send_packed(socket, NULL, &w, flags);
    zpk_writer_free(&w);
    return rc;
}

int zpk_send_array(void *socket, const zpk_ndarray_t *a, const zpk_send_opts_t *opts)
{
    if (a == NULL)
        return ZPK_EINVAL;
    return s_send(socket, opts, NULL, ZPK__KIND_NDARRAY, a, 1);
}

int zpk_send_mixed(void *socket, zpk_writer_t *w, const zpk_ndarray_t *arrays, size_t n,
                   const zpk_send_opts_t *opts)
{
    if (w == NULL || (n > 0 && arrays == NULL) || n > UINT32_MAX)
        return ZPK_EINVAL;
    if (opts != NULL && (opts->flags & ZPK_SEND_RECIPE))
        return ZPK_EINVAL;
    return s_send(socket, opts, w, ZPK__KIND_MIXED, arrays, n);
}

/* ---- the receive path --------------------------------------------------------------- */

typedef struct s_recv {
    s_rmsg_t r;
    zpk_span_t *spans;
    zpk__msg_t m;
    zpk_recv_opts_t *o;
    zpk_recv_opts_t dflt;
    zpk_span_t spans_in[S_STACK_FRAMES];
} s_recv_t;

static void s_recv_done(s_recv_t *x)
{
    zpk__msg_free(&x->m);
    if (x->spans != x->spans_in)
        zpk__free(x->spans);
    x->spans = NULL;
    s_rmsg_close(&x->r);
}

/* Takes one whole message off the socket (no decoding yet). */
static int s_recv_begin(void *socket, zpk_recv_opts_t *opts, s_recv_t *x)
{
    /* not one memset of the whole: zpk__msg_parse() clears x->m itself;
     * until then only its owned pointers must read as empty */
    x->spans = NULL;
    x->m.obj_info.chunks = NULL;
    x->m.ndarrays = NULL;
    x->m.n_ndarrays = 0;
    x->m.spans = NULL;
    if (opts == NULL)
        memset(&x->dflt, 0, sizeof x->dflt);
    x->o = opts != NULL ? opts : &x->dflt;
    x->o->topic_len = 0;
    zpk_error_t *err = x->o->err;
    void *zs = s_resolve(socket);
    if (zs == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL socket");
    int rc = s_recv_all(zs, x->o->flags, &x->r);
    if (rc != 0)
        return zpk__error(err, rc, 0, "receive failed");
    return 0;
}

/* Copies the topic (frame 0) into the caller's buffer. */
static void s_recv_topic(s_recv_t *x, const void *data, size_t size)
{
    x->o->topic_len = size;
    if (x->o->topic != NULL && x->o->topic_cap > 0) {
        size_t n = size < x->o->topic_cap - 1 ? size : x->o->topic_cap - 1;
        memcpy(x->o->topic, data, n);
        x->o->topic[n] = '\0';
    }
}

/* Decodes the header of the message s_recv_begin() took. On error every
 * frame is closed. */
static int s_recv_decode(s_recv_t *x)
{
    zpk_error_t *err = x->o->err;
    int rc;
    x->spans = x->r.n <= S_STACK_FRAMES ? x->spans_in : zpk__calloc(x->r.n, sizeof *x->spans);
    if (x->spans == NULL) {
        s_rmsg_close(&x->r);
        return zpk__error(err, ZPK_ENOMEM, 0, "no memory");
    }
    for (size_t i = 0; i < x->r.n; i++)
        x->spans[i] = (zpk_span_t){zmq_msg_data(&x->r.parts[i]), zmq_msg_size(&x->r.parts[i])};
    rc = zpk__msg_parse(x->spans, x->r.n, x->o->limits, x->o->array_opts, &x->m, err);
    if (rc != 0) {
        s_recv_done(x);
        return rc;
    }
    if (x->m.has_topic)
        s_recv_topic(x, x->spans[0].data, x->spans[0].size);
    return 0;
}

/* Takes one whole message off the socket and decodes its header. */
static int s_recv_parse(void *socket, zpk_recv_opts_t *opts, s_recv_t *x)
{
    int rc = s_recv_begin(socket, opts, x);
    return rc != 0 ? rc : s_recv_decode(x);
}

/* Moves the received frames into a shared holder (refs = 0). */
static s_hold_t *s_hold_take(s_recv_t *x)
{
    s_hold_t *h = x->r.h;
    atomic_init(&h->refs, 1); /* the caller's temporary reference */
    h->n = x->r.n;
    x->r.h = NULL;
    x->r.parts = NULL;
    x->r.n = x->r.cap = 0;
    return h;
}

/* The object of a received obj/mixed message as a document. */
static int s_take_doc(s_recv_t *x, s_hold_t **hold, zpk_doc_t **doc)
{
    zpk__msg_t *m = &x->m;
    zpk_error_t *err = x->o->err;
    zpk_limits_t dl;
    const zpk_limits_t *lim = x->o->limits;
    if (lim == NULL) {
        zpk_limits_default(&dl, 0);
        lim = &dl;
    }
    int rc;
    if (m->obj_compressed) {
        if (m->obj_info.nbytes > lim->max_buffer_size)
            return zpk__error(err, ZPK_ELIMIT, 0, "packed object over max_buffer_size");
        void *buf = zpk__malloc(m->obj_info.nbytes);
        if (buf == NULL)
            return zpk__error(err, ZPK_ENOMEM, 0, "no memory");
        rc = zpk_ndarray_decode_into(&m->obj_info, m->spans, m->obj_nspans, buf,
                                   m->obj_info.nbytes, err);
        if (rc == 0)
            rc = zpk_doc_parse(buf, m->obj_info.nbytes, lim, ZPK_DOC_BORROW, doc, err);
        if (rc == 0)
            rc = zpk_doc_set_owner(*doc, s_zpk_release, buf);
        if (rc != 0) {
            zpk_doc_destroy(doc);
            zpk__free(buf);
        }
        return rc;
    }
    rc = zpk_doc_parse(m->spans[0].data, m->spans[0].size, lim, ZPK_DOC_BORROW, doc, err);
    if (rc != 0) {
        zpk_doc_destroy(doc);
        return rc;
    }
    if (*hold == NULL) {
        zpk_doc_destroy(doc);
        return zpk__error(err, ZPK_EINVAL, 0, "internal: no holder");
    }
    atomic_fetch_add(&(*hold)->refs, 1);
    zpk_doc_set_owner(*doc, s_hold_release, *hold);
    return 0;
}

/* Array @p idx of the message, whose chunks start at span @p first. */
static int s_take_array(s_recv_t *x, size_t idx, size_t first, s_hold_t **hold, zpk_ndarray_t *out)
{
    const zpk_ndarray_info_t *info = &x->m.ndarrays[idx];
    zpk_error_t *err = x->o->err;
    const zpk_span_t *sp = &x->m.spans[first];
    if (info->nbytes == 0)
        return zpk_ndarray_info_to_ndarray(info, NULL, out);
    if (zpk_ndarray_info_is_raw(info) && info->nchunks == 1 &&
        (uintptr_t)sp[0].data % zpk__dtype_align(info->dtype) == 0) {
        if (*hold == NULL)
            return zpk__error(err, ZPK_EINVAL, 0, "internal: no holder");
        int rc = zpk_ndarray_info_to_ndarray(info, (void *)(uintptr_t)sp[0].data, out);
        if (rc != 0)
            return rc;
        atomic_fetch_add(&(*hold)->refs, 1);
        out->free_fn = s_hold_free_fn;
        out->free_hint = *hold;
        return 0;
    }
    return zpk_ndarray_decode(info, sp, info->nchunks, out, err);
}

static void s_clear_array(zpk_ndarray_t *a)
{
    memset(a, 0, sizeof *a);
    a->order = ZPK_ORDER_C;
}

/* ---- receive fast paths --------------------------------------------------------------- */

/*
 * The commonest packed message: an optional topic, then one frame holding
 * the fixed single-frame header (zpk__hdr_obj_single) and a non-empty
 * object, received with the default limits. Sets @p pl to the object's
 * bytes and copies the topic; false for anything else, with nothing
 * changed (the general decode then runs and reports any error). Decides
 * exactly as zpk__msg_parse() does for such a message.
 */
static bool s_recv_obj_fast(s_recv_t *x, zpk_span_t *pl)
{
    size_t n = x->r.n;
    if (x->o->limits != NULL || n > 2)
        return false;
    zmq_msg_t *hf = &x->r.parts[n - 1];
    const uint8_t *d = zmq_msg_data(hf);
    size_t sz = zmq_msg_size(hf);
    if (sz <= ZPK__HDR_OBJ_SINGLE_LEN ||
        memcmp(d, zpk__hdr_obj_single, ZPK__HDR_OBJ_SINGLE_LEN) != 0)
        return false;
    if (n == 2) { /* frame 0 is the topic unless it is a header itself */
        const void *t = zmq_msg_data(&x->r.parts[0]);
        size_t tl = zmq_msg_size(&x->r.parts[0]);
        if (zpk_is_header(t, tl))
            return false;
        s_recv_topic(x, t, tl);
    }
    *pl = (zpk_span_t){d + ZPK__HDR_OBJ_SINGLE_LEN, sz - ZPK__HDR_OBJ_SINGLE_LEN};
    return true;
}

/*
 * The last array header received on this thread, with the array it
 * decodes to: a stream of arrays of one dtype and shape repeats its header
 * byte for byte, and a match skips the header walk. Only headers of
 * uncompressed one-chunk arrays in two-frame messages (the common large
 * array) decoded with the default options are kept, so a match decodes
 * exactly as zpk__msg_parse() would.
 */
#define S_RCACHE_HDR 256
typedef struct s_rcache {
    size_t len;     /* header bytes; 0: empty */
    size_t stored;  /* the payload frame's size */
    size_t align;   /* the dtype's alignment */
    zpk_ndarray_t a;  /* the decoded array, without data */
    uint8_t hdr[S_RCACHE_HDR];
} s_rcache_t;
static _Thread_local s_rcache_t s_rcache;

/* Remembers the header of a message the general path just received
 * without error (its frames still held: x->spans valid). */
static void s_rcache_put(const s_recv_t *x)
{
    const zpk__msg_t *m = &x->m;
    s_rcache_t *c = &s_rcache;
    if (x->o->limits != NULL || x->o->array_opts != NULL || m->kind != ZPK__KIND_NDARRAY ||
        m->single || m->n_ndarrays != 1 || m->ndarrays[0].nchunks != 1 ||
        m->ndarrays[0].chunks[0].compressed || m->ndarrays[0].nbytes == 0)
        return;
    const zpk_span_t *hf = &x->spans[m->header];
    size_t len = hf->size;
    if (len > S_RCACHE_HDR)
        return;
    /* the header is valid (zpk__msg_parse() checked dtype, shape and
     * nbytes): the fields zpk_ndarray_info_to_ndarray() would set, copied */
    const zpk_ndarray_info_t *info = &m->ndarrays[0];
    c->a.dtype = info->dtype;
    c->a.ndim = info->ndim;
    memcpy(c->a.shape, info->shape, sizeof(size_t) * (size_t)info->ndim);
    c->a.order = info->order == ZPK_ORDER_F ? ZPK_ORDER_F : ZPK_ORDER_C;
    c->a.nbytes = info->nbytes;
    memcpy(c->hdr, hf->data, len);
    c->stored = info->chunks[0].stored;
    c->align = zpk__dtype_align(info->dtype);
    c->len = len;
}

/*
 * The payload of a message [topic] header payload whose header matches
 * @p c (this thread's s_rcache) and whose payload is as long as it says (options must be the
 * defaults); NULL for anything else.
 */
static void *s_rcache_match(const s_rcache_t *c, s_recv_t *x)
{
    size_t n = x->r.n;
    if (c->len == 0 || n < 2 || n > 3 || x->o->limits != NULL || x->o->array_opts != NULL)
        return NULL;
    zmq_msg_t *hf = &x->r.parts[n - 2], *pf = &x->r.parts[n - 1];
    if (zmq_msg_size(hf) != c->len || zmq_msg_size(pf) != c->stored ||
        memcmp(zmq_msg_data(hf), c->hdr, c->len) != 0)
        return NULL;
    /* with 3 frames, frame 0 is the topic unless it is a header itself */
    if (n == 3 && zpk_is_header(zmq_msg_data(&x->r.parts[0]), zmq_msg_size(&x->r.parts[0])))
        return NULL;
    return zmq_msg_data(pf);
}

/* Copies the topic of a message s_rcache_match() accepted. */
static void s_recv_cached_topic(s_recv_t *x)
{
    if (x->r.n == 3)
        s_recv_topic(x, zmq_msg_data(&x->r.parts[0]), zmq_msg_size(&x->r.parts[0]));
}

/*
 * An array message whose header matches s_rcache and whose payload frame
 * is aligned for its dtype: fills @p out with the array in place, holding
 * the frames. False with nothing taken otherwise.
 */
static bool s_recv_array_fast(s_recv_t *x, zpk_ndarray_t *out)
{
    const s_rcache_t *c = &s_rcache;
    void *data = s_rcache_match(c, x);
    if (data == NULL || (uintptr_t)data % c->align != 0)
        return false;
    s_recv_cached_topic(x);
    /* out is clear (s_clear_array()): only what a contiguous array sets */
    out->dtype = c->a.dtype;
    out->ndim = c->a.ndim;
    memcpy(out->shape, c->a.shape, sizeof(size_t) * (size_t)c->a.ndim);
    out->order = c->a.order;
    out->nbytes = c->a.nbytes;
    out->data = data;
    out->free_fn = s_hold_free_fn;
    out->free_hint = s_hold_take(x); /* the array holds the frames */
    return true;
}

int zpk_recv_packed_ex(void *socket, zpk_doc_t **doc, zpk_recv_opts_t *opts)
{
    if (doc == NULL)
        return ZPK_EINVAL;
    *doc = NULL;
    s_recv_t x;
    int rc = s_recv_begin(socket, opts, &x);
    if (rc != 0)
        return rc;
    zpk_span_t pl;
    if (s_recv_obj_fast(&x, &pl)) {
        s_hold_t *h = s_hold_take(&x);
        rc = zpk_doc_parse(pl.data, pl.size, NULL, ZPK_DOC_BORROW, doc, x.o->err);
        if (rc == 0)
            rc = zpk_doc_set_owner(*doc, s_hold_release, h); /* the document holds the frames */
        if (rc != 0) {
            zpk_doc_destroy(doc);
            s_hold_unref(h);
        }
        return rc;
    }
    rc = s_recv_decode(&x);
    if (rc != 0)
        return rc;
    s_hold_t *hold = s_hold_take(&x);
    if (hold == NULL)
        rc = zpk__error(x.o->err, ZPK_ENOMEM, 0, "no memory");
    else if (x.m.kind != ZPK__KIND_OBJ)
        rc = zpk__error(x.o->err, ZPK_ETYPE, 0, "not a packed object message");
    else
        rc = s_take_doc(&x, &hold, doc);
    s_recv_done(&x);
    s_hold_unref(hold);
    return rc;
}

int zpk_recv_packed(void *socket, zpk_doc_t **doc, int flags)
{
    zpk_recv_opts_t o;
    zpk_recv_opts_init(&o);
    o.flags = flags;
    return zpk_recv_packed_ex(socket, doc, &o);
}

int zpk_recv_array_ex(void *socket, zpk_ndarray_t *out, zpk_recv_opts_t *opts)
{
    if (out == NULL)
        return ZPK_EINVAL;
    s_clear_array(out);
    s_recv_t x;
    int rc = s_recv_begin(socket, opts, &x);
    if (rc != 0)
        return rc;
    if (s_recv_array_fast(&x, out))
        return 0;
    rc = s_recv_decode(&x);
    if (rc != 0)
        return rc;
    s_hold_t *hold = s_hold_take(&x);
    if (hold == NULL)
        rc = zpk__error(x.o->err, ZPK_ENOMEM, 0, "no memory");
    else if (x.m.kind != ZPK__KIND_NDARRAY && x.m.kind != ZPK__KIND_RECIPE)
        rc = zpk__error(x.o->err, ZPK_ETYPE, 0, "not an array message");
    else
        rc = s_take_array(&x, 0, 0, &hold, out);
    if (rc == 0)
        s_rcache_put(&x);
    if (rc != 0)
        s_clear_array(out);
    s_recv_done(&x);
    s_hold_unref(hold);
    return rc;
}

int zpk_recv_array(void *socket, zpk_ndarray_t *out, int flags)
{
    zpk_recv_opts_t o;
    zpk_recv_opts_init(&o);
    o.flags = flags;
    return zpk_recv_array_ex(socket, out, &o);
}

int zpk_recv_array_into(void *socket, void *buf, size_t cap, zpk_ndarray_t *out,
                        zpk_recv_opts_t *opts)
{
    if (out != NULL)
        s_clear_array(out);
    if (buf == NULL && cap > 0)
        return ZPK_EINVAL;
    s_recv_t x;
    int rc = s_recv_begin(socket, opts, &x);
    if (rc != 0)
        return rc;
    const s_rcache_t *c = &s_rcache;
    const void *cached = s_rcache_match(c, &x);
    if (cached != NULL) { /* a known header: copy the raw payload */
        s_recv_cached_topic(&x);
        if (c->a.nbytes > cap) {
            rc = zpk__error(x.o->err, ZPK_EBUFFULL, 0, "array of %zu bytes over the buffer's %zu",
                            c->a.nbytes, cap);
        } else {
            memcpy(buf, cached, c->a.nbytes);
            if (out != NULL) {
                out->dtype = c->a.dtype;
                out->ndim = c->a.ndim;
                memcpy(out->shape, c->a.shape, sizeof(size_t) * (size_t)c->a.ndim);
                out->order = c->a.order;
                out->nbytes = c->a.nbytes;
                out->data = buf;
            }
        }
        s_rmsg_close(&x.r);
        return rc;
    }
    rc = s_recv_decode(&x);
    if (rc != 0)
        return rc;
    const zpk_ndarray_info_t *info = x.m.n_ndarrays > 0 ? &x.m.ndarrays[0] : NULL;
    if (info == NULL || (x.m.kind != ZPK__KIND_NDARRAY && x.m.kind != ZPK__KIND_RECIPE))
        rc = zpk__error(x.o->err, ZPK_ETYPE, 0, "not an array message");
    else if (info->nbytes > cap)
        rc = zpk__error(x.o->err, ZPK_EBUFFULL, 0, "array of %zu bytes over the buffer's %zu",
                        info->nbytes, cap);
    else if (info->nbytes > 0)
        rc = zpk_ndarray_decode_into(info, x.m.spans, info->nchunks, buf, cap, x.o->err);
    if (rc == 0 && out != NULL)
        rc = zpk_ndarray_info_to_ndarray(info, info->nbytes ? buf : NULL, out);
    if (rc == 0)
        s_rcache_put(&x);
    s_recv_done(&x);
    return rc;
}

int zpk_recv_mixed(void *socket, zpk_mixed_t *out, zpk_recv_opts_t *opts)
{
    if (out == NULL)
        return ZPK_EINVAL;
    memset(out, 0, sizeof *out);
    s_recv_t x;
    int rc = s_recv_parse(socket, opts, &x);
    if (rc != 0)
        return rc;
    s_hold_t *hold = NULL;
    if (x.m.kind != ZPK__KIND_MIXED && x.m.kind != ZPK__KIND_OBJ) {
        rc = zpk__error(x.o->err, ZPK_ETYPE, 0, "not a mixed message");
        goto done;
    }
    if (x.m.n_ndarrays > 0) {
        out->ndarrays = zpk__calloc(x.m.n_ndarrays, sizeof *out->ndarrays);
        if (out->ndarrays == NULL) {
            rc = zpk__error(x.o->err, ZPK_ENOMEM, 0, "no memory");
            goto done;
        }
    }
    /* take a holder reference for the duration so that partial failures
     * release cleanly */
    hold = s_hold_take(&x);
    if (hold == NULL) {
        rc = zpk__error(x.o->err, ZPK_ENOMEM, 0, "no memory");
        goto done;
    }
    rc = s_take_doc(&x, &hold, &out->doc);
    size_t first = x.m.obj_nspans;
    for (size_t i = 0; rc == 0 && i < x.m.n_ndarrays; i++) {
        rc = s_take_array(&x, i, first, &hold, &out->ndarrays[i]);
        if (rc == 0)
            out->n_ndarrays = i + 1;
        first += x.m.ndarrays[i].nchunks;
    }
done:
    if (rc != 0)
        zpk_mixed_free(out);
    s_recv_done(&x);
    s_hold_unref(hold);
    return rc;
}

int zpk_recv_packed_bytes(void *socket, zpk_msgbuf_t *out, zpk_recv_opts_t *opts)
{
    if (out == NULL)
        return ZPK_EINVAL;
    memset(out, 0, sizeof *out);
    s_recv_t x;
    int rc = s_recv_begin(socket, opts, &x);
    if (rc != 0)
        return rc;
    zpk_span_t pl;
    if (s_recv_obj_fast(&x, &pl)) {
        out->data = pl.data;
        out->size = pl.size;
        out->release_ = s_hold_release;
        out->owner_ = s_hold_take(&x); /* the buffer holds the frames */
        return 0;
    }
    rc = s_recv_decode(&x);
    if (rc != 0)
        return rc;
    zpk__msg_t *m = &x.m;
    zpk_error_t *err = x.o->err;
    s_hold_t *hold = NULL;
    if (m->kind != ZPK__KIND_OBJ && m->kind != ZPK__KIND_MIXED) {
        rc = zpk__error(err, ZPK_ETYPE, 0, "not a packed or mixed message");
        goto done;
    }
    if (m->n_ndarrays > 0) {
        out->ndarrays = zpk__calloc(m->n_ndarrays, sizeof *out->ndarrays);
        if (out->ndarrays == NULL) {
            rc = zpk__error(err, ZPK_ENOMEM, 0, "no memory");
            goto done;
        }
    }
    hold = s_hold_take(&x);
    if (m->obj_compressed) {
        zpk_limits_t dl;
        const zpk_limits_t *lim = x.o->limits;
        if (lim == NULL) {
            zpk_limits_default(&dl, 0);
            lim = &dl;
        }
        if (m->obj_info.nbytes == 0 || m->obj_info.nbytes > lim->max_buffer_size) {
            rc = zpk__error(err, m->obj_info.nbytes ? ZPK_ELIMIT : ZPK_EFORMAT, 0,
                            "packed object empty or over max_buffer_size");
            goto done;
        }
        void *buf = zpk__malloc(m->obj_info.nbytes);
        if (buf == NULL) {
            rc = zpk__error(err, ZPK_ENOMEM, 0, "no memory");
            goto done;
        }
        rc = zpk_ndarray_decode_into(&m->obj_info, m->spans, m->obj_nspans, buf,
                                   m->obj_info.nbytes, err);
        if (rc != 0) {
            zpk__free(buf);
            goto done;
        }
        out->data = buf;
        out->size = m->obj_info.nbytes;
        out->release_ = s_zpk_release;
        out->owner_ = buf;
    } else {
        if (m->obj_nspans < 1 || m->spans[0].size == 0) {
            rc = zpk__error(err, ZPK_EFORMAT, 0, "empty object payload");
            goto done;
        }
        out->data = m->spans[0].data;
        out->size = m->spans[0].size;
        atomic_fetch_add(&hold->refs, 1);
        out->release_ = s_hold_release;
        out->owner_ = hold;
    }
    size_t first = m->obj_nspans;
    for (size_t i = 0; rc == 0 && i < m->n_ndarrays; i++) {
        rc = s_take_array(&x, i, first, &hold, &out->ndarrays[i]);
        if (rc == 0)
            out->n_ndarrays = i + 1;
        first += m->ndarrays[i].nchunks;
    }
done:
    if (rc != 0)
        zpk_msgbuf_free(out);
    s_recv_done(&x);
    s_hold_unref(hold);
    return rc;
}

void zpk_msgbuf_free(zpk_msgbuf_t *b)
{
    if (b == NULL)
        return;
    if (b->release_ != NULL)
        b->release_(b->owner_);
    for (size_t i = 0; i < b->n_ndarrays; i++)
        zpk_ndarray_free(&b->ndarrays[i]);
    zpk__free(b->ndarrays);
    memset(b, 0, sizeof *b);
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
    zpk_doc_destroy(&m->doc);
    for (size_t i = 0; i < m->n_ndarrays; i++)
        zpk_ndarray_free(&m->ndarrays[i]);
    zpk__free(m->ndarrays);
    memset(m, 0, sizeof *m);
}
