/**
 * @file zmqpack.h
 * The header users include: `#include <zmqpack.h>`, link with
 * `pkg-config --libs zmqpack` (README.md, "Use zmqpack in your project").
 * It pulls in one header per layer, bottom to top:
 *
 * | header               | what it declares                                          |
 * |----------------------|-----------------------------------------------------------|
 * | zmqpack/common.h     | error codes and zpk_error_t, allocator hooks, version     |
 * | zmqpack/msgpack.h    | MessagePack writer, pull reader, ext registry, timestamps |
 * | zmqpack/doc.h        | document tree, streaming unpacker                         |
 * | zmqpack/format.h     | format strings (zpk_pack_fmt, zpk_unpack_fmt)             |
 * | zmqpack/ndarray.h    | dtypes and the numeric array descriptor                   |
 * | zmqpack/codec.h      | payload codecs (none, zlib, blosc, auto) and array headers|
 * | zmqpack/message.h    | the wire protocol, without sockets                        |
 * | zmqpack/socket.h     | send and receive on libzmq (and CZMQ) sockets             |
 * | zmqpack/curve.h      | CURVE keys and authentication                             |
 * | zmqpack/interop.h    | other streams' formats: msgpack-numpy, Karabo bridge      |
 *
 * None of them includes <zmq.h>: sockets are `void *`, as libzmq returns them.
 *
 * Not included here: zmqpack/json.h, the JSON bridge. It speaks jansson's
 * `json_t` and so includes <jansson.h>; a program that uses it includes it
 * itself and adds jansson to its build (`pkg-config --cflags --libs zmqpack
 * jansson`), and every other program builds without jansson's headers.
 */
#ifndef ZMQPACK_H
#define ZMQPACK_H

#include "zmqpack/common.h"
#include "zmqpack/msgpack.h"
#include "zmqpack/doc.h"
#include "zmqpack/format.h"
#include "zmqpack/ndarray.h"
#include "zmqpack/codec.h"
#include "zmqpack/message.h"
#include "zmqpack/socket.h"
#include "zmqpack/curve.h"
#include "zmqpack/interop.h"

#endif
