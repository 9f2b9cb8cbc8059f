"""Reference decoder of the zmqpack wire protocol, version 1 (docs/PROTOCOL.md).

decode(frames) -> (envelope, value): envelope is the list of frames before the
header (a topic, ROUTER identities, empty delimiters; [] when none); value is a
Python object (kind "obj"), a numpy array (kind "array" or the pyzmq recipe),
or, for kind "mixed", the object with every array reference (ext 90) replaced
by its numpy array. Raises ValueError for a message the protocol refuses.
Needs only msgpack, numpy, zlib and blosc (blosc only for blosc chunks).
"""
import json
import zlib

import msgpack
import numpy as np

MAGIC = b"\xa3zpk"  # after a fixmap byte 0x81..0x8f: the first key "zpk"


def is_header(f):
    return len(f) >= 6 and 0x81 <= f[0] <= 0x8F and f[1:5] == MAGIC


def chunks_bytes(h, frames):
    """Decodes the chunks of an array header h (docs/arrays.md) to bytes.
    The codec family (before the first ':') decides; the rest is informative."""
    family, step = h["codec"].split(":")[0], h.get("chunk", h["nbytes"]) or 1
    if family not in ("none", "zlib", "blosc"):
        raise ValueError("unknown codec " + h["codec"])
    raw = set(h.get("raw", ()))
    out = []
    for i, f in enumerate(frames):
        size = min(step, h["nbytes"] - i * step)
        if family == "none" or i in raw:
            data = bytes(f)
        elif family == "zlib":
            data = zlib.decompress(f)
        else:
            import blosc
            data = blosc.decompress(bytes(f))
        if len(data) != size:
            raise ValueError("chunk %d decodes to %d bytes, not %d" % (i, len(data), size))
        out.append(data)
    return b"".join(out)


def to_array(h, frames):
    data = chunks_bytes(h, frames)
    return np.frombuffer(data, dtype=np.dtype(h["dtype"])).reshape(h["shape"], order=h.get("order", "C"))


def decode(frames):
    frames = [bytes(f) for f in frames]
    hi = next((i for i, f in enumerate(frames) if is_header(f)), None)
    if hi is None:  # the pyzmq recipe: the last two frames, after any envelope
        if len(frames) >= 2 and frames[-2].lstrip().startswith(b"{"):
            md = json.loads(frames[-2])
            a = np.frombuffer(frames[-1], dtype=np.dtype(md["dtype"])).reshape(md["shape"])
            return frames[:-2], a
        raise ValueError("not a zmqpack message")
    envelope, h, rest = frames[:hi], frames[hi], frames[hi + 1:]
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    unpacker.feed(h)
    hdr = unpacker.unpack()
    if hdr["zpk"] != 1:
        raise ValueError("unsupported protocol version %r" % hdr["zpk"])
    headers = [hdr["array"]] if hdr["kind"] == "array" else hdr.get("arrays", [])
    if hdr.get("single"):  # split what follows the map by the chunk tables
        if rest:
            raise ValueError("a frame after a single-frame message")
        tail, rest = h[unpacker.tell():], []
        arr_bytes = sum(sum(a["chunks"]) for a in headers)
        sizes = hdr["packed"]["chunks"] if "packed" in hdr else []
        if hdr["kind"] != "array" and "packed" not in hdr:
            sizes = [len(tail) - arr_bytes]
        if sum(sizes) + arr_bytes != len(tail):
            raise ValueError("single-frame payload of %d bytes, not %d" % (len(tail), sum(sizes) + arr_bytes))
        for s in sizes + [c for a in headers for c in a["chunks"]]:
            rest.append(tail[:s])
            tail = tail[s:]
    elif len(rest) != hdr["frames"]:
        raise ValueError("expected %d payload frames, got %d" % (hdr["frames"], len(rest)))
    arrays = []
    if hdr["kind"] != "array":
        n = len(hdr["packed"]["chunks"]) if "packed" in hdr else 1
        obj_bytes = chunks_bytes(hdr["packed"], rest[:n]) if "packed" in hdr else rest[0]
        rest = rest[n:]
    for a in headers:
        arrays.append(to_array(a, rest[: len(a["chunks"])]))
        rest = rest[len(a["chunks"]):]
    if hdr["kind"] == "array":
        return envelope, arrays[0]

    def ext_hook(code, data):
        if code == 90 and hdr["kind"] == "mixed":
            if len(data) != 4:
                raise ValueError("an ext 90 of %d bytes: array references are 4 bytes" % len(data))
            index = int.from_bytes(data, "big")
            return arrays[index] if index < len(arrays) else msgpack.ExtType(code, data)
        return msgpack.ExtType(code, data)

    return envelope, msgpack.unpackb(obj_bytes, raw=False, ext_hook=ext_hook, strict_map_key=False)
