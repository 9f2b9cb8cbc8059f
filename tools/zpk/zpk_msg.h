/*
 * zpk: one whole message taken off a socket, every frame kept as libzmq
 * gave it, with the views zmqpack's decode calls read (zpk_decode_*() of
 * zmqpack/message.h). Receiving the frames once and decoding them where
 * they are is what lets zpk show the bytes on the wire, the envelope and
 * messages that are not zmqpack's, without a copy. See msg.c.
 */
#ifndef ZPK_TOOL_MSG_H
#define ZPK_TOOL_MSG_H

#include <stddef.h>

#include <zmq.h>
#include <zmqpack.h>

typedef struct zt_msg {
    zmq_msg_t *parts;    /* n frames as received */
    zpk_frame_t *frames; /* views of them for zpk_decode_*(): borrowed (free_fn NULL) */
    size_t n;
    size_t cap;
    size_t bytes;        /* total bytes of the n frames */
} zt_msg_t;

/*
 * Takes one whole message off @p sock into @p m (emptied first; its arrays
 * are reused). @p flags: ZMQ_DONTWAIT or 0, for the first frame. A message
 * of more than ZPK_MAX_FRAMES frames is drained and refused.
 * Returns 0; -EAGAIN, -EINTR or -ETERM when nothing was taken;
 * ZPK_EFRAME (too many frames: drained); ZPK_ENOMEM; another -errno.
 */
int zt_msg_recv(zt_msg_t *m, void *sock, int flags);

/*
 * Sends frames [@p from, n) of @p m to @p sock as one message (references
 * to the same bytes: no copy). Returns 0 or -errno.
 */
int zt_msg_send(const zt_msg_t *m, void *sock, size_t from);

/* Closes every frame (the views with them) and empties @p m; keeps its arrays. */
void zt_msg_close(zt_msg_t *m);

/* zt_msg_close() and frees the arrays. */
void zt_msg_free(zt_msg_t *m);

#endif
