/*
 * A tap between a socket and zmqpack's receive calls: it takes one whole
 * multipart message off a socket with plain libzmq calls, notes the size
 * of every frame (the bytes on the wire) and keeps references to the
 * frames the caller wants to look at, then passes the message on, frame
 * by frame, to an inproc PAIR socket, where zpk_recv_packed/array/mixed
 * take it. zmq_msg_send() over inproc moves the zmq_msg_t: no byte of the
 * payload is copied; kept frames are zmq_msg_copy() references.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <zmq.h>

#include "zpk_tap.h"

int zt_tap_open(void *ctx, zt_tap_t *t)
{
    static unsigned counter;
    memset(t, 0, sizeof *t);
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://zpk-tap-%p-%u", (void *)t, counter++);
    t->in = zmq_socket(ctx, ZMQ_PAIR);
    t->out = zmq_socket(ctx, ZMQ_PAIR);
    if (!t->in || !t->out)
        goto fail;
    int zero = 0, hwm = 0; /* unlimited: one message at a time passes through */
    zmq_setsockopt(t->in, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(t->out, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(t->in, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(t->out, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (zmq_bind(t->out, ep) != 0 || zmq_connect(t->in, ep) != 0)
        goto fail;
    return 0;
fail:;
    int e = -zmq_errno();
    zt_tap_close(t);
    return e;
}

void zt_tap_close(zt_tap_t *t)
{
    zt_tap_release(t);
    if (t->in)
        zmq_close(t->in);
    if (t->out)
        zmq_close(t->out);
    t->in = t->out = NULL;
}

void zt_tap_release(zt_tap_t *t)
{
    for (size_t i = 0; i < t->nkept; i++)
        zmq_msg_close(&t->kept[i]);
    t->nkept = 0;
}

int zt_tap_pass(zt_tap_t *t, void *from, int flags, size_t keep)
{
    zt_tap_release(t);
    t->nframes = 0;
    t->bytes = 0;
    if (keep > ZT_TAP_MAX_KEEP)
        keep = ZT_TAP_MAX_KEEP;
    int more = 1, rc = 0;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, from, t->nframes == 0 ? flags : 0) < 0) {
            int e = -zmq_errno();
            zmq_msg_close(&m);
            if (t->nframes == 0)
                return e;        /* nothing taken: -EAGAIN, -EINTR, -ETERM */
            if (e == -EINTR)
                continue;        /* the rest of a multipart message is already here */
            rc = e;
            break;
        }
        more = zmq_msg_more(&m);
        size_t size = zmq_msg_size(&m);
        if (t->nframes < ZT_TAP_MAX_FRAMES)
            t->sizes[t->nframes] = size;
        t->nframes++;
        t->bytes += size;
        if (t->nkept < keep) {
            zmq_msg_init(&t->kept[t->nkept]);
            zmq_msg_copy(&t->kept[t->nkept], &m);
            t->nkept++;
        }
        if (rc == 0 && zmq_msg_send(&m, t->in, more ? ZMQ_SNDMORE : 0) < 0)
            rc = -zmq_errno();
        if (rc != 0)
            zmq_msg_close(&m);
    }
    return rc;
}

const void *zt_tap_frame(const zt_tap_t *t, size_t i, size_t *size)
{
    if (i >= t->nkept) {
        *size = 0;
        return NULL;
    }
    zmq_msg_t *m = (zmq_msg_t *)&t->kept[i];
    *size = zmq_msg_size(m);
    return zmq_msg_data(m);
}

int zt_tap_echo(zt_tap_t *t, void *to)
{
    for (size_t i = 0; i < t->nkept; i++) {
        int more = i + 1 < t->nkept ? ZMQ_SNDMORE : 0;
        zmq_msg_t m;
        zmq_msg_init(&m);
        zmq_msg_copy(&m, &t->kept[i]);
        if (zmq_msg_send(&m, to, more) < 0) {
            int e = -zmq_errno();
            zmq_msg_close(&m);
            return e;
        }
    }
    return 0;
}
