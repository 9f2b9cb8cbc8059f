"""Reference decoder of the zmqpack wire protocol, version 1 (docs/PROTOCOL.md).

decode(frames) -> (topic, value): value is a Python object (kind "obj"), a
numpy array (kind "array" or the pyzmq recipe), or, for kind "mixed", the
object with every array reference (ext 90) replaced by its numpy array.
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
    """Decodes the chunks of an array header h (docs/arrays.md) to bytes."""
    family, step = h["codec"].split(":")[0], h.get("chunk", h["nbytes"]) or 1
    raw = set(h.get("raw", ()))
    out = []
    for i, f in enumerate(frames):
        size = min(step, h["nbytes"] - i * step)
        if family == "none" or i in raw:
            data = bytes(f)
        elif family == "zlib":
            data = zlib.decompress(f)
        elif family == "blosc":
            import blosc
            data = blosc.decompress(bytes(f))
        else:
            raise ValueError("unknown codec " + h["codec"])
        if len(data) != size:
            raise ValueError("chunk %d decodes to %d bytes, not %d" % (i, len(data), size))
        out.append(data)
    return b"".join(out)


def to_array(h, frames):
    data = chunks_bytes(h, frames)
    return np.frombuffer(data, dtype=np.dtype(h["dtype"])).reshape(h["shape"], order=h.get("order", "C"))


def decode(frames):
    frames = [bytes(f) for f in frames]
    if is_header(frames[0]):
        topic, h, rest = None, frames[0], frames[1:]
    elif len(frames) >= 2 and is_header(frames[1]):
        topic, h, rest = frames[0], frames[1], frames[2:]
    elif len(frames) in (2, 3) and frames[-2].lstrip().startswith(b"{"):  # pyzmq recipe
        md = json.loads(frames[-2])
        a = np.frombuffer(frames[-1], dtype=np.dtype(md["dtype"])).reshape(md["shape"])
        return (frames[0] if len(frames) == 3 else None), a
    else:
        raise ValueError("not a zmqpack message")
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    unpacker.feed(h)
    hdr = unpacker.unpack()
    if hdr["zpk"] != 1:
        raise ValueError("unsupported protocol version %r" % hdr["zpk"])
    headers = [hdr["array"]] if hdr["kind"] == "array" else hdr.get("arrays", [])
    if hdr.get("single"):  # split what follows the map by the chunk tables
        tail, rest = h[unpacker.tell():], []
        arr_bytes = sum(sum(a["chunks"]) for a in headers)
        sizes = hdr["packed"]["chunks"] if "packed" in hdr else []
        if hdr["kind"] != "array" and "packed" not in hdr:
            sizes = [len(tail) - arr_bytes]
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
        return topic, arrays[0]

    def ext_hook(code, data):
        if code == 90 and len(data) == 4:
            return arrays[int.from_bytes(data, "big")]
        return msgpack.ExtType(code, data)

    return topic, msgpack.unpackb(obj_bytes, raw=False, ext_hook=ext_hook, strict_map_key=False)
