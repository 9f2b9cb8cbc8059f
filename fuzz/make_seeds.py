#!/usr/bin/python3
"""Writes the seed corpora in fuzz/corpus/<target>/ (run with /usr/bin/python3).

Seeds come from ../shared/data: every encoding listed in
msgpack-test-suite.json, and small sub-objects cut out of the four corpus
documents (each re-packed on its own; the documents use shortest forms so
the bytes are the documents' own). Targets whose input carries control
bytes (chunk boundaries, frame splits, declared sizes) get those prefixed
here. Deterministic: running it twice writes the same files. Keeps each
seed under a few KiB so the committed corpus stays small.

usage: make_seeds.py [TARGET...]   (default: every target below)
"""
import hashlib
import json
import os
import random
import struct
import sys
import zlib

import msgpack

ROOT = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("ZPK_SHARED_DATA", os.path.join(ROOT, "..", "..", "shared", "data"))
MAX_SEED = 4096


def suite_encodings():
    with open(os.path.join(DATA, "msgpack-test-suite.json")) as f:
        suite = json.load(f)
    out = []
    for cases in suite.values():
        for case in cases:
            for enc in case["msgpack"]:
                out.append(bytes.fromhex(enc.replace("-", "")))
    return out


def corpus_slices(per_doc=40):
    out = []
    for name in ("twitter", "citm_catalog", "canada", "github"):
        with open(os.path.join(DATA, "corpus", name + ".mpack"), "rb") as f:
            doc = msgpack.unpackb(f.read(), raw=False, strict_map_key=False)
        found = []
        stack = [doc]
        while stack:
            o = stack.pop()
            b = msgpack.packb(o, use_bin_type=True)
            if 24 <= len(b) <= MAX_SEED and isinstance(o, (dict, list)):
                found.append(b)
            if isinstance(o, dict):
                stack.extend(o.values())
            elif isinstance(o, list):
                stack.extend(o)
        found = sorted(set(found))
        rnd = random.Random(name)
        rnd.shuffle(found)
        out.extend(found[:per_doc])
    return out


def hostile_msgpack():
    """Hand-made inputs for the catalogue in docs/security.md."""
    return [
        b"\xc1",                                   # reserved byte
        b"\xdd\xff\xff\xff\xff",                   # array32 of 4 billion, no elements
        b"\xdf\xff\xff\xff\xff",                   # map32 of 4 billion
        b"\xdb\xff\xff\xff\xff" + b"a",            # str32 of 4 GiB with 1 byte
        b"\xc6\x7f\xff\xff\xff",                   # bin32 of 2 GiB
        b"\xc9\xff\xff\xff\xff\x01",               # ext32
        b"\x91" * 2000 + b"\xc0",                  # deep nesting (over 1024)
        b"\x81" * 1500 + b"\xc0",                  # deep maps
        b"\x82\x01\x02\x01\x03",                   # duplicate key
        b"\x81\x92\x01\x02\xc0",                   # array as a map key
        b"\x81\x81\xc0\xc0\xc0",                   # map as a map key
        b"\x81\xc4\x01\x00\xc0",                   # bin key
        b"\x81\xcb" + b"\x7f\xf8" + b"\x00" * 6 + b"\x01",  # NaN key
        b"\xa2\xc3\x28",                           # invalid UTF-8
        b"\xa3\xed\xa0\x80",                       # UTF-16 surrogate in UTF-8
        b"\xcd\x00\x01",                           # non-minimal uint16 1
        b"\xd9\x01a",                              # non-minimal str8
        b"\xdc\x00\x01\xc0",                       # non-minimal array16
        b"\xd6\xff\x00\x00\x00\x01",               # timestamp 32
        b"\xd7\xff\xff\xff\xff\xff\x00\x00\x00\x01",  # timestamp 64, nsec too big
        b"\xc7\x0c\xff" + b"\x00" * 12,            # timestamp 96
        b"\xc7\x05\xff" + b"\x00" * 5,             # timestamp of a bad length
        b"\x93\x01\x02",                           # truncated array
        b"\x01\x02\x03",                           # extra data
    ]


def msgpack_seeds():
    return suite_encodings() + corpus_slices() + hostile_msgpack()


def stream_seed(b, i):
    """[k][k chunk sizes][msgpack...]: the target cycles the chunk sizes."""
    sizes = [1, 2, 3, 7, 64, 255][: (i % 6) + 1]
    return bytes([len(sizes)]) + bytes(sizes) + b


def format_seeds():
    """Objects shaped like the fixed formats of fuzz_format.c."""
    ts = msgpack.Timestamp(7)
    m = {"i": 1, "I": -2**40, "u": 7, "U": 2**63, "f": 1.5, "d": 2.25, "F": 3, "s": "str",
         "s#": "a\0b", "y#": b"\x00\x01", "x": msgpack.ExtType(5, b"ab"), "t": ts,
         "O": [1, {"k": None}], "*": {}, "b": True, "n": None, "a": [5, 6, 7],
         "m": {"i": -3, "e": []}}
    arr = [1, -2**40, 7, 2**63, 1.5, 2.25, 3, "a\0b", b"\x00", msgpack.ExtType(5, b"ab"),
           ts, False, None, {"any": [1]}]
    out = [msgpack.packb(m, use_bin_type=True), msgpack.packb(arr, use_bin_type=True)]
    out.append(msgpack.packb(dict(m, i=2**40), use_bin_type=True))   # does not fit an int
    out.append(msgpack.packb(arr[:-1], use_bin_type=True))            # one element short
    return out


def json_seeds():
    out = []
    for name in ("twitter", "citm_catalog"):
        with open(os.path.join(DATA, "corpus", name + ".json"), "rb") as f:
            doc = json.load(f)
        found = []
        stack = [doc]
        while stack:
            o = stack.pop()
            t = json.dumps(o, ensure_ascii=False).encode()
            if 16 <= len(t) <= MAX_SEED and isinstance(o, (dict, list)):
                found.append(t)
            if isinstance(o, dict):
                stack.extend(o.values())
            elif isinstance(o, list):
                stack.extend(o)
        found = sorted(set(found))
        random.Random(name).shuffle(found)
        out.extend(found[:40])
    with open(os.path.join(DATA, "corpus", "amazon_cellphones.ndjson"), "rb") as f:
        lines = [l for l in f.read().splitlines() if 0 < len(l) <= MAX_SEED]
    out.extend(lines[:20])
    out += [b'{"$bin":"AAEC"}', b'{"$ext":[5,"AAEC"]}', b'{"$float":"nan"}',
            b'[1e400, -0.0, 18446744073709551615, -9223372036854775808]',
            b'"\\ud800"', b'[' * 3000 + b']' * 3000, b'{"a":1,"a":2}']
    return out


def zlib_seeds():
    """[u32 LE declared size][zlib stream]."""
    out = []
    rnd = random.Random(7)
    for n in (0, 1, 100, 4096, 65536):
        raw = bytes(rnd.randrange(4) for _ in range(n))
        out.append(struct.pack("<I", n) + zlib.compress(raw, 6))
        out.append(struct.pack("<I", max(n - 1, 0)) + zlib.compress(raw, 6))  # lies: too small
        out.append(struct.pack("<I", n + 10) + zlib.compress(raw, 6))         # lies: too large
    bomb = zlib.compress(b"\0" * (1 << 20), 9)                                 # 1 MiB of zeros
    out.append(struct.pack("<I", 16) + bomb)
    return out


def blosc_seeds():
    """[u32 LE declared size][blosc chunk]."""
    try:
        import blosc
    except ImportError:
        return []
    import numpy as np
    out = []
    arrays = [np.arange(1000, dtype="<f8"), np.zeros(5000, dtype="<i2"),
              np.random.RandomState(1).bytes(3000), b"", b"x"]
    for a in arrays:
        raw = a.tobytes() if hasattr(a, "tobytes") else a
        ts = a.dtype.itemsize if hasattr(a, "dtype") else 1
        for cname in ("blosclz", "lz4", "zlib", "zstd"):
            for shuffle in (blosc.NOSHUFFLE, blosc.SHUFFLE, blosc.BITSHUFFLE):
                c = blosc.compress(raw, typesize=ts, cname=cname, shuffle=shuffle)
                if len(c) <= MAX_SEED:
                    out.append(struct.pack("<I", len(raw)) + c)
    return out


def _chunks(raw, codec, chunk):
    """(codec string, [stored chunk bytes], [indices stored raw]) as zmqpack sends them."""
    parts = [raw[i:i + chunk] for i in range(0, len(raw), chunk)]
    if codec == "none":
        return "none", parts, []
    out, raws = [], []
    for i, p in enumerate(parts):
        if codec.startswith("zlib"):
            c = zlib.compress(p, 6)
        else:
            import blosc
            c = blosc.compress(p, typesize=8, cname="lz4", clevel=5, shuffle=blosc.SHUFFLE)
        if len(c) >= len(p):
            out.append(p)
            raws.append(i)
        else:
            out.append(c)
    return codec, out, raws


def array_header(dtype, shape, order, raw, codec, chunk):
    codec, stored, raws = _chunks(raw, codec, chunk)
    h = {"dtype": dtype, "shape": list(shape), "order": order, "nbytes": len(raw),
         "codec": codec, "chunk": chunk, "chunks": [len(c) for c in stored]}
    if raws and codec != "none":
        h["raw"] = raws
    return h, stored


def array_cases():
    import numpy as np
    cases = []
    a = np.arange(60, dtype="<f8").reshape(6, 10)
    for codec in ("none", "zlib:6", "blosc:lz4:5:shuffle"):
        for chunk in (480, 100, 64):
            cases.append(("<f8", a.shape, "C", a.tobytes(), codec, chunk))
    b = (np.arange(24, dtype=">i4") % 5).reshape(2, 3, 4)
    cases.append((">i4", b.shape, "F", np.asfortranarray(b).tobytes(order="A"), "zlib:6", 40))
    cases.append(("|u1", (0,), "C", b"", "none", 1))
    cases.append(("<c16", (), "C", np.zeros(1, "<c16").tobytes(), "none", 16))
    cases.append(("|b1", (7,), "C", bytes([0, 1, 1, 0, 1, 0, 0]), "zlib:1", 7))
    return cases


def array_seeds():
    out = []
    for dt, shape, order, raw, codec, chunk in array_cases():
        h, stored = array_header(dt, shape, order, raw, codec, chunk)
        out.append(msgpack.packb(h) + b"".join(stored))
    # lying tables
    h, stored = array_header("<f8", (10,), "C", bytes(80), "none", 80)
    h["nbytes"] = 88
    out.append(msgpack.packb(h) + b"".join(stored))
    h["shape"] = [2**62, 2**62]
    out.append(msgpack.packb(h))
    h, stored = array_header("<f8", (100,), "C", bytes(800), "zlib:6", 800)
    h["chunks"] = [10**9]
    out.append(msgpack.packb(h) + b"".join(stored))
    return out


def _frames(frames):
    return b"".join(struct.pack("<H", len(f)) + f for f in frames)


def message_seeds():
    out = []
    obj = msgpack.packb({"id": 11, "name": "hello", "xy": [2.3, 4.5]})
    out.append(_frames([msgpack.packb({"zpk": 1, "kind": "obj", "frames": 1}), obj]))
    out.append(_frames([b"topic", msgpack.packb({"zpk": 1, "kind": "obj", "frames": 1}), obj]))
    out.append(_frames([msgpack.packb({"zpk": 1, "kind": "obj", "frames": 0, "single": True})
                        + obj]))
    big = msgpack.packb(list(range(300)))
    h, stored = array_header("|u1", (len(big),), "C", big, "zlib:6", 256)
    out.append(_frames([msgpack.packb({"zpk": 1, "kind": "obj", "frames": len(stored),
                                       "packed": h})] + stored))
    for dt, shape, order, raw, codec, chunk in array_cases():
        h, stored = array_header(dt, shape, order, raw, codec, chunk)
        hdr = {"zpk": 1, "kind": "array", "frames": len(stored), "array": h}
        out.append(_frames([msgpack.packb(hdr)] + stored))
        hdr = {"zpk": 1, "kind": "array", "frames": 0, "single": True, "array": h}
        out.append(_frames([msgpack.packb(hdr) + b"".join(stored)]))
    # mixed: {"ts": 1, "image": <ref 0>, "mask": <ref 1>}
    ref = lambda i: msgpack.ExtType(90, struct.pack(">I", i))
    mobj = msgpack.packb({"ts": 1, "image": ref(0), "mask": ref(1)})
    h0, s0 = array_header("<f8", (4, 4), "C", bytes(128), "none", 128)
    h1, s1 = array_header("|u1", (16,), "C", bytes(16), "zlib:6", 16)
    hdr = {"zpk": 1, "kind": "mixed", "frames": 1 + len(s0) + len(s1), "arrays": [h0, h1]}
    out.append(_frames([msgpack.packb(hdr), mobj] + s0 + s1))
    out.append(_frames([b"t", msgpack.packb(hdr), mobj] + s0 + s1 + [b"extra"]))
    out.append(_frames([msgpack.packb(hdr), mobj] + s0))           # frame missing
    hdr2 = dict(hdr, zpk=2)
    out.append(_frames([msgpack.packb(hdr2), mobj] + s0 + s1))     # newer version
    # the pyzmq recipe: JSON header + raw buffer
    out.append(_frames([b'{"dtype": "float64", "shape": [2, 3]}', bytes(48)]))
    out.append(_frames([b"topic", b'{"dtype": "int16", "shape": [4]}', bytes(8)]))
    out.append(_frames([b"\x81\xa3zpk\x01"]))
    return out


def interop_seeds():
    """Karabo bridge trains (2.2 and 1.0, from tests/peers) and msgpack-numpy
    maps, as [u16 length][frame] lists, with a few hostile variants."""
    sys.path.insert(0, os.path.join(ROOT, "..", "tests"))
    import numpy as np
    from peers import karabo, msgpack_numpy
    data = {"A": {"img": np.arange(6, dtype="<u2").reshape(2, 3), "n": 5, "s": "x",
                  "f": np.array([1.5, -2.0], dtype=">f8")},
            "B": {"x": [1, 2], "z": np.zeros((0, 3), dtype="|b1"), "c": np.array(3 + 1j)}}
    meta = {"A": {"timestamp.tid": 10000000001, "timestamp": 1.5}, "B": {}}
    out = []
    for proto in karabo.PROTOCOLS:
        frames = [bytes(f) for f in karabo.serialize(data, meta, proto)]
        out.append(_frames(frames))
        if len(frames) > 1:
            out.append(_frames(frames[:-1]))                          # odd count
            out.append(_frames(frames[:3] + [frames[3][:-2]] + frames[4:]))  # short array
            out.append(_frames(frames[2:4] + frames[:2]))             # array first
    out.append(_frames([msgpack_numpy.packb({"a": np.arange(4, dtype="<i4"),
                                             "b": [np.float32(2), np.uint8(3)]})]))
    lying = msgpack_numpy.encode(np.arange(4, dtype="<i2"))
    lying[b"shape"] = (5,)
    out.append(_frames([msgpack.packb({"S": {"a": lying}}, use_bin_type=True)]))
    out.append(_frames([msgpack_numpy.packb(np.array([1, "x"], dtype=object))]))
    return out


def frames_seeds():
    """fuzz_frames: a control byte (call, envelope output, limits), then frames."""
    out = []
    base = message_seeds()
    obj = msgpack.packb({"v": 7})
    hdr = msgpack.packb({"zpk": 1, "kind": "obj", "frames": 1})
    envelopes = [[], [b"t"], [b"id", b""], [b"a", b"", b"b", b""]]
    for i, m in enumerate(base):
        for ctl in range(16):
            if (i + ctl) % 4 == 0:  # a spread of calls and options over the message corpus
                out.append(bytes([ctl]) + m)
    for env in envelopes:
        for ctl in (0, 4, 6, 7):
            out.append(bytes([ctl]) + _frames(env + [hdr, obj]))
    # the protocol's rules: codecs by family, ext 90 lengths, recipes after an envelope
    v = bytes(range(32))
    z = zlib.compress(v, 6)
    for codec in ("zlib:-1", "zlib:6:x", "lzma:9", "auto"):
        h = {"zpk": 1, "kind": "array", "frames": 1,
             "array": {"dtype": "|u1", "shape": [32], "order": "C", "nbytes": 32,
                       "codec": codec, "chunk": 32, "chunks": [len(z)]}}
        out.append(bytes([5]) + _frames([b"t", msgpack.packb(h), z]))
    u = bytes(3)
    ah = {"dtype": "|u1", "shape": [3], "order": "C", "nbytes": 3, "codec": "none",
          "chunk": 3, "chunks": [3]}
    for n in (0, 2, 4, 5):
        mobj = msgpack.packb([1, msgpack.ExtType(90, bytes(n))])
        h = {"zpk": 1, "kind": "mixed", "frames": 2, "arrays": [ah]}
        out.append(bytes([6]) + _frames([b"id", b"", msgpack.packb(h), mobj, u]))
        out.append(bytes([7]) + _frames([msgpack.packb(h), mobj, u]))
    out.append(bytes([5]) + _frames([b"a", b"", b'{"dtype": "int16", "shape": [2]}', bytes(4)]))
    return out


def structured_seeds():
    """Structured mode of fuzz_codec.h: compress the payload, then patch and lie."""
    rnd = random.Random(3)
    out = []
    payloads = [b"", b"x", bytes(range(256)) * 8, bytes(rnd.randrange(3) for _ in range(3000))]
    for i, pay in enumerate(payloads):
        for level, cname, shuffle, typesize in ((5, 1, 1, 8), (9, 4, 2, 4), (0, 0, 0, 1), (1, 3, 1, 2)):
            patches = b"" if i % 2 == 0 else struct.pack("<HB", 4, 0xff) + struct.pack("<HB", 12, 0)
            k = len(patches) // 3
            for delta in (0, 1, 0xff):
                out.append(b"\0\0\0\x80" + bytes([level, cname, shuffle, typesize, k]) + patches
                           + bytes([delta]) + pay)
    return out


def write(target, seeds):
    d = os.path.join(ROOT, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for s in seeds:
        name = hashlib.sha1(s).hexdigest()
        with open(os.path.join(d, name), "wb") as f:
            f.write(s)
    print(f"{target}: {len(set(seeds))} seeds")


TARGETS = {
    "unpack": lambda: msgpack_seeds(),
    "stream": lambda: [stream_seed(b, i) for i, b in enumerate(msgpack_seeds())],
    "roundtrip": lambda: msgpack_seeds(),
    "mp2json": lambda: msgpack_seeds(),
    "json2mp": json_seeds,
    "zlib": lambda: zlib_seeds() + structured_seeds(),
    "blosc": lambda: blosc_seeds() + structured_seeds(),
    "array": array_seeds,
    "message": message_seeds,
    "interop": interop_seeds,
    "frames": frames_seeds,
    "format": lambda: msgpack_seeds() + format_seeds(),
}


def main(argv):
    names = argv[1:] or sorted(TARGETS)
    for t in names:
        if t not in TARGETS:
            sys.exit(f"unknown target {t}; known: {' '.join(sorted(TARGETS))}")
        write(t, TARGETS[t]())


if __name__ == "__main__":
    main(sys.argv)
