/**
 * @file zmqpack/message.h
 * @defgroup message Message: the zmqpack wire protocol (no sockets)
 *
 * A zmqpack message is a multipart ZeroMQ message
 * `[topic] header payload...` described in docs/PROTOCOL.md. This header
 * holds what the protocol defines independently of sockets: its version,
 * the send flags, the array references of mixed messages, and a check
 * that tells whether a frame is a zmqpack header. zmqpack/socket.h sends
 * and receives the messages.
 * @{
 */
#ifndef ZMQPACK_MESSAGE_H
#define ZMQPACK_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zmqpack/ndarray.h"
#include "zmqpack/common.h"
#include "zmqpack/doc.h"
#include "zmqpack/msgpack.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The protocol version this library writes (and the newest it reads). */
#define ZPK_PROTOCOL_VERSION 1

/**
 * The MessagePack ext type that marks an array reference inside the object
 * of a mixed message: a fixext 4 whose payload is the array's index
 * (big-endian uint32) in the message's "arrays" list.
 */
#define ZPK_EXT_NDARRAY_REF 90

/**
 * True when the @p size bytes at @p data start like a zmqpack header
 * (a MessagePack fixmap whose first key is the str "zpk"). A topic frame
 * that starts like this is refused by every send call (ZPK_EINVAL), so a
 * receiver can always tell the topic from the header.
 */
ZPK_API bool zpk_is_header(const void *data, size_t size);

/**
 * Writes a reference to array number @p index of a mixed message (an ext
 * ZPK_EXT_NDARRAY_REF of 4 bytes) where an array belongs in the object.
 * Errors are the writer's sticky error.
 */
ZPK_API void zpk_write_ndarray_ref(zpk_writer_t *w, uint32_t index);

/**
 * Reads an array reference from @p n.
 * @return 0 and *@p index set; ZPK_ETYPE when @p n is not an ext of type
 *         ZPK_EXT_NDARRAY_REF; ZPK_EFORMAT when its payload is not 4 bytes;
 *         ZPK_EINVAL for NULL arguments.
 */
ZPK_API int zpk_node_get_ndarray_ref(const zpk_node_t *n, uint32_t *index);

#ifdef __cplusplus
}
#endif

#endif
/** @} */
