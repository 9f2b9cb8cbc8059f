/**
 * @file zmqpack/socket.h
 * @defgroup socket Socket: send and receive on libzmq (and CZMQ) sockets
 *
 * One call puts a message on a ZeroMQ socket; one call takes one off.
 *
 * | message                  | send                                          | receive                                    |
 * |--------------------------|-----------------------------------------------|--------------------------------------------|
 * | packed object            | zpk_send_packed(sock, w, opts, err)           | zpk_recv_packed(sock, opts, env, &doc, err) |
 * | ndarray                  | zpk_send_array(sock, &a, opts, err)           | zpk_recv_array(sock, opts, env, &a, err)   |
 * | mixed: object + ndarrays | zpk_send_mixed(sock, w, arrays, n, opts, err) | zpk_recv_mixed(sock, opts, env, &m, err)   |
 * | object from a format     | zpk_sendf(sock, flags, fmt, ...)              | zpk_recv_packed() + zpk_unpack_fmt()       |
 *
 * A send is zpk_encode_*() of zmqpack/message.h followed by sending its
 * frames; a receive takes every frame of one message off the socket and
 * runs zpk_decode_*() on them. Everything said there about options,
 * ownership, limits and errors holds here. The wire format is
 * docs/PROTOCOL.md.
 *
 * Envelopes: every receive hands back the routing frames in front of the
 * header in @p env (may be NULL: dropped), and every send takes one in
 * opts->envelope (or opts->topic, a one-frame envelope), so a ROUTER
 * replies with the envelope it received. Options: opts->flags takes
 * ZPK_DONTWAIT besides the encode and decode flags; @p opts may be NULL.
 *
 * Sockets: every @p socket argument is a libzmq socket (`void *` from
 * zmq_socket()); in a build with CZMQ (ZPK_HAVE_CZMQ) it may also be a
 * `zsock_t *` (resolved with zsock_resolve()).
 *
 * Errors: 0 on success, a negative code on failure. libzmq's errors come
 * back as negative errno values exactly as libzmq reports them: -EAGAIN
 * (ZPK_DONTWAIT with nothing to do, or ZMQ_SNDTIMEO / ZMQ_RCVTIMEO expired),
 * -EINTR, -ETERM (the context was terminated), -ENOTSOCK, -EFSM (e.g. a
 * REQ socket out of turn)... @p err (may be NULL) is reset when the call
 * starts and gets the code, frame, offset and text of a failure.
 *
 * Receiving never desynchronises a socket: whatever the error (a foreign
 * message, a missing or extra frame, a header that lies about its payload,
 * an unknown codec, a newer protocol version, too many frames, no memory),
 * the whole multipart message has been taken off the socket and every
 * zmq_msg_t closed before the call returns, so the next receive starts on
 * a message boundary. Only -EAGAIN, -EINTR and -ETERM before the first
 * frame leave the socket untouched. A send either queues the whole message
 * or nothing of it (but -ETERM part-way).
 * @{
 */
#ifndef ZMQPACK_SOCKET_H
#define ZMQPACK_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zmqpack/codec.h"
#include "zmqpack/common.h"
#include "zmqpack/doc.h"
#include "zmqpack/message.h"
#include "zmqpack/msgpack.h"
#include "zmqpack/ndarray.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Same value as ZMQ_DONTWAIT: do not block (send and receive). */
#define ZPK_DONTWAIT 1

/** Most frames a received message may have; the rest are drained and the message refused (ZPK_EFRAME). */
#define ZPK_MAX_FRAMES 65536

/**
 * Sends the object written to @p w (exactly one complete object) as a
 * packed message: zpk_encode_packed() and the frames sent. On success the
 * writer is left empty (an object of copy_below bytes or more from a
 * growable writer went to libzmq without a copy) and can be written again;
 * on error it is unchanged. The writer stays the caller's
 * (zpk_writer_free() it).
 * @return 0; zpk_encode_packed()'s errors; -EAGAIN, -EINTR, -ETERM and
 *         other -errno from libzmq; ZPK_EINVAL for a NULL socket.
 */
ZPK_API int zpk_send_packed(void *socket, zpk_writer_t *w, const zpk_send_opts_t *opts,
                            zpk_error_t *err);

/**
 * Packs with zmqpack/format.h's format string (zpk_pack_fmt()) and sends
 * the object in one call, with no envelope. @p flags: ZPK_DONTWAIT,
 * ZPK_SEND_SINGLE.
 * @return 0; zpk_pack_fmt()'s errors (ZPK_EINVAL for a bad format...);
 *         the errors of zpk_send_packed().
 */
ZPK_API int zpk_sendf(void *socket, int flags, const char *fmt, ...);

/**
 * Sends ndarray @p a: zpk_encode_ndarray() and the frames sent (frames of
 * copy_below bytes or more zero-copy, the others copied). See zpk_own_t for
 * what happens to @p a's data. Does not take ownership of @p a itself.
 * @return 0; zpk_encode_ndarray()'s errors; libzmq's -errno; ZPK_EINVAL for
 *         a NULL socket.
 */
ZPK_API int zpk_send_array(void *socket, const zpk_ndarray_t *a, const zpk_send_opts_t *opts,
                           zpk_error_t *err);

/**
 * Sends a mixed message: the object written to @p w with
 * zpk_write_ndarray_ref() references to the @p n ndarrays @p arrays
 * (zpk_encode_mixed()). The writer is treated as zpk_send_packed() treats
 * it, the ndarrays as zpk_send_array() treats them.
 * @return as zpk_send_packed() and zpk_send_array().
 */
ZPK_API int zpk_send_mixed(void *socket, zpk_writer_t *w, const zpk_ndarray_t *arrays, size_t n,
                           const zpk_send_opts_t *opts, zpk_error_t *err);

/**
 * Receives a packed message into a document (zpk_decode_packed()): an
 * uncompressed object is parsed in place, the document keeping the
 * received frame. On success caller owns *@p doc and must
 * zpk_doc_destroy() it, and @p env (may be NULL) the envelope
 * (zpk_envelope_free()).
 * @return 0; -EAGAIN / -EINTR / -ETERM / other -errno (nothing taken);
 *         zpk_decode_packed()'s errors (ZPK_EFOREIGN, ZPK_ETYPE...);
 *         ZPK_EFRAME for a message of more than ZPK_MAX_FRAMES frames;
 *         ZPK_EINVAL (NULL socket or @p doc). On every error the message
 *         is drained, *doc is NULL and @p env empty.
 */
ZPK_API int zpk_recv_packed(void *socket, const zpk_recv_opts_t *opts, zpk_envelope_t *env,
                            zpk_doc_t **doc, zpk_error_t *err);

/**
 * Receives an ndarray message or the pyzmq recipe into @p out
 * (zpk_decode_ndarray(): in place when raw and aligned, into opts->into
 * when given). The caller must zpk_ndarray_free(out) and
 * zpk_envelope_free(env).
 * @return as zpk_recv_packed(), with zpk_decode_ndarray()'s errors
 *         (ZPK_EBUFFULL when opts->into is too small: the message is
 *         drained). On error @p out is left empty.
 */
ZPK_API int zpk_recv_array(void *socket, const zpk_recv_opts_t *opts, zpk_envelope_t *env,
                           zpk_ndarray_t *out, zpk_error_t *err);

/**
 * Receives a mixed message, or a packed one (no ndarrays), into @p out
 * (zpk_decode_mixed(); with ZPK_RECV_BYTES the object is left unparsed).
 * On success caller owns @p out and must zpk_mixed_free() it.
 * @return as zpk_recv_packed(), with zpk_decode_mixed()'s errors. On error
 *         @p out is left empty.
 */
ZPK_API int zpk_recv_mixed(void *socket, const zpk_recv_opts_t *opts, zpk_envelope_t *env,
                           zpk_mixed_t *out, zpk_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
/** @} */
