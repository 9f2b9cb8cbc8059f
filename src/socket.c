/*
 * Socket layer: zmqpack messages on libzmq sockets (and CZMQ zsock_t when
 * built with CZMQ). Thin by design: a send is the message layer's encode
 * (zpk__encode) and its frames sent as one multipart message; a receive
 * takes every frame of one message off the socket first (so whatever goes
 * wrong afterwards the socket is on a message boundary) and hands them to
 * the message layer's decode (zpk__decode). With src/curve.c, the only
 * files that include zmq.h.
 */
#include "message_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>

#include <zmq.h>
#if ZPK_HAVE_CZMQ
#  include <czmq.h>
#endif

#include "zmqpack/format.h"
#include "zmqpack/socket.h"

_Static_assert(ZPK_DONTWAIT == ZMQ_DONTWAIT, "ZPK_DONTWAIT must be ZMQ_DONTWAIT");
_Static_assert((ZPK_DONTWAIT & (ZPK_SEND_SINGLE | ZPK_SEND_RECIPE | ZPK_RECV_BYTES)) == 0,
               "the socket flag and the message flags share opts->flags");

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

/* ---- send ------------------------------------------------------------------------ */


/*
 * Sends the frames of @p f as one multipart message. A frame that owns its
 * bytes and has at least @p copy_below of them goes to libzmq zero-copy
 * (libzmq then releases it); every other frame is copied (and an owned one
 * released at once). Each frame sent leaves @p f (its free_fn cleared;
 * all of them: n set to 0). Returns 0 or -errno; *sent_any tells whether
 * libzmq took a frame.
 */
static ZPK_ALWAYS_INLINE int s_send_frames(void *zs, zpk_frames_t *f, int flags,
                                           size_t copy_below, bool *sent_any)
{
    *sent_any = false;
    for (size_t i = 0; i < f->n; i++) {
        zpk_frame_t *fr = &f->frames[i];
        int mf = i + 1 < f->n ? ZMQ_SNDMORE : 0;
        /* Only the first part may wait or fail with EAGAIN: libzmq accepts
         * the rest of a multipart message once its first part is in. A
         * failure after that is EINTR (retried: never half a message) or
         * ETERM. */
        if (i == 0)
            mf |= flags & ZMQ_DONTWAIT;
        zmq_msg_t m;
        bool give = fr->free_fn != NULL && fr->size >= copy_below;
        int rc = give ? zmq_msg_init_data(&m, fr->data, fr->size, fr->free_fn, fr->hint)
                      : zmq_msg_init_size(&m, fr->size);
        if (rc != 0)
            return ZPK_ENOMEM;
        if (give)
            fr->free_fn = NULL; /* closing m releases it now */
        else if (fr->size > 0)
            memcpy(zmq_msg_data(&m), fr->data, fr->size);
        while (zmq_msg_send(&m, zs, mf) < 0) {
            int e = zmq_errno();
            if (e == EINTR && *sent_any)
                continue;
            zmq_msg_close(&m);
            return -e;
        }
        if (fr->free_fn != NULL) { /* copied: its bytes are released now */
            fr->free_fn(fr->data, fr->hint);
            fr->free_fn = NULL;
        }
        *sent_any = true;
    }
    f->n = 0;
    return 0;
}

/* Encodes and sends one message of @p kind. One body, made once for each
 * kind (zstd's FORCE_INLINE bodies): the kind is a constant in each. */
static ZPK_ALWAYS_INLINE int s_send(void *socket, int kind, zpk_writer_t *w,
                                    const zpk_ndarray_t *arrs, size_t narr,
                                    const zpk_send_opts_t *opts, zpk_error_t *err)
{
    zpk__error_reset(err);
    void *zs = s_resolve(socket);
    if (zs == NULL)
        return zpk__error(err, ZPK_EINVAL, 0, "NULL socket");
    zpk_frames_t f;
    int rc = zpk__encode(kind, w, arrs, narr, opts, &f, err);
    if (rc != 0)
        return rc;
    int flags = opts != NULL ? opts->flags : 0;
    size_t copy_below = opts != NULL && opts->copy_below ? opts->copy_below
                                                         : ZPK_DEFAULT_COPY_BELOW;
    bool sent_any;
    rc = s_send_frames(zs, &f, flags, copy_below, &sent_any);
    if (rc != 0) {
        zpk__error(err, rc, 0, "send failed: %s", zpk_strerror(rc));
        if (!sent_any) /* nothing left: the caller keeps its data and bytes */
            zpk__frames_unsent(&f);
    }
    zpk__frames_done(&f);
    if (rc == 0 && w != NULL)
        zpk_writer_reset(w); /* ready for the next object */
    return rc;
}

int zpk_send_packed(void *socket, zpk_writer_t *w, const zpk_send_opts_t *opts, zpk_error_t *err)
{
    return s_send(socket, ZPK__KIND_OBJ, w, NULL, 0, opts, err);
}

int zpk_send_array(void *socket, const zpk_ndarray_t *a, const zpk_send_opts_t *opts,
                   zpk_error_t *err)
{
    return s_send(socket, ZPK__KIND_NDARRAY, NULL, a, 1, opts, err);
}

int zpk_send_mixed(void *socket, zpk_writer_t *w, const zpk_ndarray_t *arrays, size_t n,
                   const zpk_send_opts_t *opts, zpk_error_t *err)
{
    return s_send(socket, ZPK__KIND_MIXED, w, arrays, n, opts, err);
}

int zpk_sendf(void *socket, int flags, const char *fmt, ...)
{
    /* small objects are packed on the stack (and copied into the frame);
     * larger ones into a growable writer, whose buffer goes to libzmq */
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
    zpk_send_opts_t o;
    zpk_send_opts_init(&o);
    o.flags = flags;
    if (rc == 0)
        rc = zpk_send_packed(socket, &w, &o, NULL);
    zpk_writer_free(&w);
    return rc;
}

/* ---- receive ------------------------------------------------------------------------ */

/*
 * A message being received lives in one allocation: the holder the
 * message layer shares among what it decodes, its frames, and the
 * zmq_msg_t each frame is released by.
 */
static size_t s_block_size(size_t cap)
{
    return sizeof(zpk__hold_t) + cap * (sizeof(zpk_frame_t) + sizeof(zmq_msg_t));
}

static zmq_msg_t *s_block_msgs(zpk__hold_t *h, size_t cap)
{
    return (zmq_msg_t *)((uint8_t *)(h + 1) + cap * sizeof(zpk_frame_t));
}

/* The holder's release of a received message: closes its zmq_msg_t's. */
static void s_block_release(zpk__hold_t *h)
{
    zmq_msg_t *msgs = h->ud;
    for (size_t i = 0; i < h->n; i++)
        zmq_msg_close(&msgs[i]);
}

/* Drains what is left of a multipart message whose last part had MORE. */
static void s_drain(void *zs)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    int more = 1;
    while (more) {
        if (zmq_msg_recv(&m, zs, 0) < 0) {
            if (zmq_errno() == EINTR)
                continue;
            break; /* ETERM: nothing more can be read */
        }
        more = zmq_msg_more(&m);
    }
    zmq_msg_close(&m);
}

/*
 * Takes one whole multipart message off the socket into a new holder
 * (*@p out, one reference). Only the first part honours ZMQ_DONTWAIT and
 * ZMQ_RCVTIMEO; once it is in, the rest of the message is already queued
 * and is always taken, whatever happens. Returns 0; -errno (-EAGAIN,
 * -EINTR, -ETERM: nothing was taken); ZPK_ENOMEM or ZPK_EFRAME (more than
 * ZPK_MAX_FRAMES parts): the message was drained and dropped.
 */
/* No memory for a message: takes it off the socket all the same and drops
 * it. Returns ZPK_ENOMEM, or the receive error when there was nothing. */
static int s_recv_drop(void *zs, int flags, zpk_error_t *err)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, zs, flags & ZMQ_DONTWAIT) < 0) {
        int e = zmq_errno();
        zmq_msg_close(&m);
        return zpk__error(err, -e, 0, "receive failed: %s", zpk_strerror(-e));
    }
    bool more = zmq_msg_more(&m);
    zmq_msg_close(&m);
    if (more)
        s_drain(zs);
    return zpk__error(err, ZPK_ENOMEM, 0, "no memory to receive a message");
}

static ZPK_ALWAYS_INLINE int s_recv_all(void *zs, int flags, zpk__hold_t **out,
                                        zpk_error_t *err)
{
    size_t cap = 4, n = 0;
    zpk__hold_t *h = zpk__malloc(s_block_size(cap));
    if (h == NULL)
        return s_recv_drop(zs, flags, err);
    zmq_msg_t *msgs = s_block_msgs(h, cap);
    int rc = 0;
    for (;;) {
        zmq_msg_t *m = &msgs[n];
        zmq_msg_init(m);
        int got = zmq_msg_recv(m, zs, n == 0 ? flags & ZMQ_DONTWAIT : 0);
        if (got < 0) {
            int e = zmq_errno();
            zmq_msg_close(m);
            if (n > 0 && e == EINTR)
                continue;
            if (n == 0) { /* nothing taken: -EAGAIN of a poll most often, told without printf */
                zpk__free(h);
                return zpk__error(err, -e, 0, NULL);
            }
            rc = zpk__error(err, -e, 0, "receive failed mid-message: %s", zpk_strerror(-e));
            break; /* ETERM mid-message: nothing more can be read */
        }
        bool more = zmq_msg_more(m);
        zpk_frame_t *fr = (zpk_frame_t *)(h + 1);
        /* the size zmq_msg_recv() returned, unless it may be clamped to INT_MAX */
        fr[n].size = got < INT_MAX ? (size_t)got : zmq_msg_size(m);
        n++;
        if (!more) {
            /* the data pointers only now: a small zmq_msg_t holds its bytes
             * and moved with the block when it grew. Released all at once,
             * by the holder. */
            for (size_t i = 0; i < n; i++) {
                fr[i].data = zmq_msg_data(&msgs[i]);
                fr[i].free_fn = NULL;
                fr[i].hint = NULL;
            }
            atomic_init(&h->refs, 1);
            h->n = n;
            h->frames = fr;
            h->obj = NULL;
            h->release = s_block_release;
            h->ud = msgs;
            *out = h;
            return 0;
        }
        if (n == ZPK_MAX_FRAMES) {
            rc = zpk__error(err, ZPK_EFRAME, 0, "a message of more than %d frames",
                            ZPK_MAX_FRAMES);
            break;
        }
        if (n == cap) { /* grow; the received parts move along (as realloc moves them) */
            size_t ncap = cap * 2;
            zpk__hold_t *nh = zpk__realloc(h, s_block_size(ncap));
            if (nh == NULL) {
                rc = zpk__error(err, ZPK_ENOMEM, 0, "no memory for a message of %zu frames",
                                n + 1);
                break;
            }
            h = nh;
            memmove(s_block_msgs(h, ncap), s_block_msgs(h, cap), n * sizeof(zmq_msg_t));
            msgs = s_block_msgs(h, ncap);
            cap = ncap;
        }
    }
    /* a failure with the message partly taken: drain it so that the next
     * receive starts on a boundary */
    if (n > 0 && zmq_msg_more(&msgs[n - 1]))
        s_drain(zs);
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&msgs[i]);
    zpk__free(h);
    return rc;
}

/* zpk__recv_all(), made once for each receive as well (s_send). */
static ZPK_ALWAYS_INLINE int s_recv_message(void *socket, int flags, zpk__hold_t **out,
                                            zpk_error_t *err)
{
    void *zs = s_resolve(socket);
    return zs != NULL ? s_recv_all(zs, flags, out, err)
                      : zpk__error(err, ZPK_EINVAL, 0, "NULL socket");
}

int zpk__recv_all(void *socket, int flags, zpk__hold_t **out, zpk_error_t *err)
{
    return s_recv_message(socket, flags, out, err);
}

/* Receives one message and decodes it as @p want (made once for each, as
 * s_send). */
static ZPK_ALWAYS_INLINE int s_recv(void *socket, int want, const zpk_recv_opts_t *opts,
                                    zpk_envelope_t *env, void *out, zpk_error_t *err)
{
    zpk__error_reset(err);
    if (out == NULL) {
        zpk__recipe_meta_clear(opts);
        if (env != NULL)
            *env = (zpk_envelope_t){NULL, 0, NULL};
        return zpk__error(err, ZPK_EINVAL, 0, "NULL output");
    }
    zpk__hold_t *h = NULL;
    int rc = s_recv_message(socket, opts != NULL ? opts->flags : 0, &h, err);
    if (rc == 0) /* sets env, out and opts->recipe_meta */
        return zpk__decode(h, want, opts, env, out, err);
    zpk__recipe_meta_clear(opts);
    if (env != NULL)
        *env = (zpk_envelope_t){NULL, 0, NULL};
    zpk__decode_clear(want, out);
    return rc;
}

int zpk_recv_packed(void *socket, const zpk_recv_opts_t *opts, zpk_envelope_t *env,
                    zpk_doc_t **doc, zpk_error_t *err)
{
    return s_recv(socket, ZPK__KIND_OBJ, opts, env, doc, err);
}

int zpk_recv_array(void *socket, const zpk_recv_opts_t *opts, zpk_envelope_t *env,
                   zpk_ndarray_t *out, zpk_error_t *err)
{
    return s_recv(socket, ZPK__KIND_NDARRAY, opts, env, out, err);
}

int zpk_recv_mixed(void *socket, const zpk_recv_opts_t *opts, zpk_envelope_t *env,
                   zpk_mixed_t *out, zpk_error_t *err)
{
    return s_recv(socket, ZPK__KIND_MIXED, opts, env, out, err);
}
