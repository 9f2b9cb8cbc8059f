/**
 * @file zmqpack.h
 * The one header users include. It pulls in one header per layer:
 * common (errors, allocator, version), msgpack (writer, reader, document
 * tree, streaming unpacker, ext types, format strings), json (bridge),
 * array (dtype and descriptor), codec (compression), message (wire
 * protocol, no sockets) and socket (libzmq send/recv).
 */
#ifndef ZMQPACK_H
#define ZMQPACK_H

#include "zmqpack/common.h"
#include "zmqpack/msgpack.h"
#include "zmqpack/doc.h"
#include "zmqpack/ndarray.h"
#include "zmqpack/codec.h"
#include "zmqpack/format.h"
#include "zmqpack/json.h"
#include "zmqpack/message.h"
#include "zmqpack/socket.h"
#include "zmqpack/curve.h"
/* ZPK_LAYER_HEADERS (keep this marker: one include per layer above) */

#endif
