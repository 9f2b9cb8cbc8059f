/*
 * One whole message off a socket (zpk_msg.h). The frames stay the
 * zmq_msg_t libzmq filled, so decoding them reads the received bytes in
 * place; the views handed to zpk_decode_*() borrow them (free_fn NULL),
 * and zt_msg_close() releases them once nothing decoded is alive.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "zpk_msg.h"

/* Room for frame n; false when no memory. */
static bool s_reserve(zt_msg_t *m)
{
    if (m->n < m->cap)
        return true;
    size_t cap = m->cap ? m->cap * 2 : 8;
    zmq_msg_t *parts = realloc(m->parts, cap * sizeof *parts);
    if (!parts)
        return false;
    m->parts = parts;
    zpk_frame_t *frames = realloc(m->frames, cap * sizeof *frames);
    if (!frames)
        return false;
    m->frames = frames;
    m->cap = cap;
    return true;
}

int zt_msg_recv(zt_msg_t *m, void *sock, int flags)
{
    zt_msg_close(m);
    int rc = 0, more = 1;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, sock, m->n == 0 ? flags : 0) < 0) {
            int e = -zmq_errno();
            zmq_msg_close(&part);
            if (m->n == 0 && rc == 0)
                return e;       /* nothing taken */
            if (e == -EINTR)
                continue;       /* the rest of the message is already here */
            rc = rc ? rc : e;
            break;
        }
        more = zmq_msg_more(&part);
        if (rc == 0 && m->n == ZPK_MAX_FRAMES)
            rc = ZPK_EFRAME;    /* refused, but drained to its end */
        if (rc == 0 && !s_reserve(m))
            rc = ZPK_ENOMEM;
        if (rc != 0) {
            zmq_msg_close(&part);
            continue;
        }
        /* The bytes of a short frame live inside its zmq_msg_t: the views are
           taken below, once the array no longer moves. */
        zmq_msg_init(&m->parts[m->n]);
        zmq_msg_move(&m->parts[m->n], &part);
        zmq_msg_close(&part);
        m->bytes += zmq_msg_size(&m->parts[m->n]);
        m->n++;
    }
    if (rc != 0) {
        zt_msg_close(m);
        return rc;
    }
    for (size_t i = 0; i < m->n; i++)
        m->frames[i] = (zpk_frame_t){.data = zmq_msg_data(&m->parts[i]),
                                     .size = zmq_msg_size(&m->parts[i])};
    return 0;
}

int zt_msg_send(const zt_msg_t *m, void *sock, size_t from)
{
    for (size_t i = from; i < m->n; i++) {
        zmq_msg_t copy;
        zmq_msg_init(&copy);
        zmq_msg_copy(&copy, (zmq_msg_t *)&m->parts[i]);
        if (zmq_msg_send(&copy, sock, i + 1 < m->n ? ZMQ_SNDMORE : 0) < 0) {
            int e = -zmq_errno();
            zmq_msg_close(&copy);
            return e;
        }
    }
    return 0;
}

void zt_msg_close(zt_msg_t *m)
{
    for (size_t i = 0; i < m->n; i++)
        zmq_msg_close(&m->parts[i]);
    m->n = 0;
    m->bytes = 0;
}

void zt_msg_free(zt_msg_t *m)
{
    zt_msg_close(m);
    free(m->parts);
    free(m->frames);
    memset(m, 0, sizeof *m);
}
