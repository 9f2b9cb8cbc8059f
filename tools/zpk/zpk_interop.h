/*
 * zpk cat's readers of the other ZeroMQ streams zmqpack speaks
 * (interop.c, docs/interop.md).
 */
#ifndef ZPK_TOOL_INTEROP_H
#define ZPK_TOOL_INTEROP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "zmqpack.h"

/* Readers for zt_readers[] (zpk.h): a Karabo bridge train ("kind": "train":
 * protocol, train id, and per source its count of other values and each
 * array's dtype/shape/min/max), and imagezmq's JPEG message ("kind":
 * "jpeg": its msg, size, and width and height when its frame header says). */
json_t *zt_read_karabo(const zpk_frame_t *frames, size_t n, unsigned json_flags);
json_t *zt_read_jpeg(const zpk_frame_t *frames, size_t n, unsigned json_flags);

/*
 * The Karabo train in @p frames as zt_read_karabo() shows it. With
 * @p strict (zpk cat --karabo: the peer is the bridge), every message is
 * taken for a train and one it refuses is a line {"kind": "error", "format":
 * "karabo-bridge", "error", "code", "frame", "sizes"}; else NULL for what is
 * not a train.
 */
json_t *zt_karabo_describe(const zpk_frame_t *frames, size_t n, bool strict);

/*
 * Replaces, in @p j (the JSON of node @p n, either form of zmqpack/json.h),
 * every msgpack-numpy map by an ndarray summary (zt_ndarray_summary()) with
 * "format": "msgpack-numpy". Takes @p j and returns the result (another
 * object when @p n itself is such a map).
 */
json_t *zt_summarise_msgpack_numpy(const zpk_node_t *n, json_t *j);

#endif
