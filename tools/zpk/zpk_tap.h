/*
 * zpk: a tap that takes a whole message off a socket, records its frame
 * sizes (the bytes on the wire) and passes it on, without copying, to an
 * inproc PAIR where the zmqpack receive calls read it. See tap.c.
 */
#ifndef ZPK_TOOL_TAP_H
#define ZPK_TOOL_TAP_H

#include <stddef.h>

#include <zmq.h>

#define ZT_TAP_MAX_FRAMES 256
#define ZT_TAP_MAX_KEEP 256

typedef struct zt_tap {
    void *in;                 /* PAIR the tap writes to */
    void *out;                /* PAIR to receive from with zpk_recv_* */
    size_t nframes;           /* frames of the last message */
    size_t sizes[ZT_TAP_MAX_FRAMES]; /* their sizes (the first ZT_TAP_MAX_FRAMES) */
    size_t bytes;             /* total bytes of the last message */
    zmq_msg_t kept[ZT_TAP_MAX_KEEP]; /* references to its first frames */
    size_t nkept;
} zt_tap_t;

/* Creates the inproc pair in @p ctx. Returns 0 or -errno. */
int zt_tap_open(void *ctx, zt_tap_t *t);
/* Closes the pair and the kept frames. */
void zt_tap_close(zt_tap_t *t);
/* Releases the kept frames of the last message. */
void zt_tap_release(zt_tap_t *t);

/*
 * Takes one whole message off @p from (@p flags: ZMQ_DONTWAIT or 0 for the
 * first frame) and passes it to t->out, keeping references to its first
 * @p keep frames. Returns 0; -EAGAIN/-EINTR/-ETERM when nothing was taken;
 * another -errno if passing it on failed (the message is then dropped).
 */
int zt_tap_pass(zt_tap_t *t, void *from, int flags, size_t keep);

/* Data and size of kept frame @p i (NULL when not kept). */
const void *zt_tap_frame(const zt_tap_t *t, size_t i, size_t *size);

/* Sends the kept frames to @p to as one message (REP echo). */
int zt_tap_echo(zt_tap_t *t, void *to);

#endif
