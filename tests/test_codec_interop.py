"""Interop of zmqpack's arrays and codecs with numpy, python-blosc and zlib.

Runs tests/codec_driver (path in $CODEC_DRIVER) on files: numpy and
zmqpack must agree on every dtype; python-blosc and Python's zlib must read
zmqpack's chunks and zmqpack must read theirs; and a header written by
zmqpack must be decodable with msgpack + numpy + zlib/blosc alone (and the
other way round).
"""
import os
import subprocess
import sys
import zlib

import msgpack
import numpy as np
import pytest

try:
    import blosc
except ImportError:  # pragma: no cover
    blosc = None

DRIVER = os.environ.get("CODEC_DRIVER", "")
pytestmark = pytest.mark.skipif(not os.path.exists(DRIVER), reason="CODEC_DRIVER not built")


def run(*args):
    out = subprocess.run([DRIVER, *map(str, args)], capture_output=True, text=True, timeout=60)
    assert out.returncode in (0, 2), out.stderr
    return out.stdout.splitlines()


NUMERIC = [
    np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
    np.uint64, np.float16, np.float32, np.float64, np.longdouble, np.complex64,
    np.complex128, np.clongdouble,
]


def numpy_view(s):
    dt = np.dtype(s)
    order = dt.byteorder
    if order == "=":
        order = "<" if sys.byteorder == "little" else ">"
    return dt.kind, dt.itemsize, order


def test_dtype_agrees_with_numpy():
    strings = []
    for t in NUMERIC:
        dt = np.dtype(t)
        strings += [dt.str, dt.newbyteorder(">").str, dt.newbyteorder("<").str, str(dt),
                    dt.name]
    lines = run("dtype", *strings)
    assert len(lines) == len(strings)
    for s, line in zip(strings, lines):
        parts = line.split()
        assert parts[0] == "ok", (s, line)
        kind, size, order = parts[1], int(parts[2]), parts[3]
        assert (kind, size, order) == numpy_view(s), s


def test_unsupported_dtypes_refused():
    bad = ["<M8[ns]", "<m8[s]", "|S5", "<U3", "|V8", "|O", "datetime64[ns]", "object"]
    lines = run("dtype", *bad)
    assert all(line == "err EDTYPE" for line in lines), lines


def sample(dtype, n=20000, seed=1):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.random(n) > 0.7
    if dt.kind in "iu":
        return (np.arange(n) // 7 + rng.integers(0, 3, n)).astype(dt)
    if dt.kind == "c":
        return (np.sin(np.arange(n) / 50) + 1j * np.cos(np.arange(n) / 30)).astype(dt)
    return np.sin(np.arange(n) / 100).astype(dt)


BLOSC_SETTINGS = [("blosclz", 5, "shuffle"), ("lz4", 5, "noshuffle"), ("lz4hc", 3, "bitshuffle"),
                  ("zlib", 1, "shuffle"), ("zstd", 3, "bitshuffle")]
SHUF = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}


@pytest.mark.skipif(blosc is None, reason="python3-blosc missing")
@pytest.mark.parametrize("cname,level,shuffle", BLOSC_SETTINGS)
@pytest.mark.parametrize("dtype", ["<f8", "<i2", ">f4", "|u1", "<c16"])
def test_blosc_both_ways(tmp_path, cname, level, shuffle, dtype):
    a = sample(dtype)
    raw = a.tobytes()
    src = tmp_path / "raw"
    src.write_bytes(raw)
    # zmqpack compresses, python-blosc decompresses
    out = tmp_path / "z"
    assert run("compress", f"blosc:{cname}:{level}:{shuffle}", a.itemsize, src, out)[0].startswith("ok")
    assert blosc.decompress(out.read_bytes()) == raw
    # python-blosc compresses, zmqpack decompresses
    theirs = blosc.compress(raw, typesize=a.itemsize, clevel=level, shuffle=SHUF[shuffle],
                            cname=cname)
    (tmp_path / "p").write_bytes(theirs)
    back = tmp_path / "back"
    assert run("decompress", "blosc", len(raw), tmp_path / "p", back) == ["ok"]
    assert back.read_bytes() == raw
    # ... and refuses it under a wrong declared size
    assert run("decompress", "blosc", len(raw) - 1, tmp_path / "p", back) == ["err EDECOMPRESS"]


@pytest.mark.parametrize("level", [0, 1, 6, 9])
def test_zlib_both_ways(tmp_path, level):
    raw = sample("<f8").tobytes()
    (tmp_path / "raw").write_bytes(raw)
    assert run("compress", f"zlib:{level}", 8, tmp_path / "raw", tmp_path / "z")[0].startswith("ok")
    assert zlib.decompress((tmp_path / "z").read_bytes()) == raw
    (tmp_path / "p").write_bytes(zlib.compress(raw, level))
    assert run("decompress", "zlib", len(raw), tmp_path / "p", tmp_path / "b") == ["ok"]
    assert (tmp_path / "b").read_bytes() == raw
    # a bomb declared small, and a stream with junk after it
    (tmp_path / "bomb").write_bytes(zlib.compress(bytes(8 << 20), 9))
    assert run("decompress", "zlib", 1 << 16, tmp_path / "bomb", tmp_path / "b") == ["err EDECOMPRESS"]
    (tmp_path / "junk").write_bytes(zlib.compress(raw) + b"\0")
    assert run("decompress", "zlib", len(raw), tmp_path / "junk", tmp_path / "b") == ["err EDECOMPRESS"]


def reference_decode(hdr_bytes, chunks):
    """Decodes an array header + chunks with msgpack, numpy, zlib, blosc only."""
    h = msgpack.unpackb(hdr_bytes, raw=False)
    family = h["codec"].split(":")[0]
    raw_idx = set(h.get("raw", []))
    assert len(chunks) == len(h["chunks"])
    parts = []
    for i, (c, stored) in enumerate(zip(chunks, h["chunks"])):
        assert len(c) == stored
        if family == "none" or i in raw_idx:
            parts.append(c)
        elif family == "zlib":
            parts.append(zlib.decompress(c))
        else:
            parts.append(blosc.decompress(c))
    data = b"".join(parts)
    assert len(data) == h["nbytes"]
    return np.frombuffer(data, dtype=h["dtype"]).reshape(h["shape"], order=h.get("order", "C"))


CODECS = ["none", "zlib:1", "blosc:lz4:5:shuffle", "blosc:zstd:3:bitshuffle", "auto"]


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("dtype,order", [("<f8", "C"), (">i4", "F"), ("|b1", "C"), ("<c8", "F")])
def test_array_header_both_ways(tmp_path, codec, dtype, order):
    if "blosc" in codec and blosc is None:
        pytest.skip("python3-blosc missing")
    a = np.asarray(sample(dtype, 60 * 50).reshape(60, 50), order=order)
    if order == "F":
        a = np.asfortranarray(a)
    (tmp_path / "in").write_bytes(a.tobytes(order="A"))
    lines = run("encode", codec, 5000, a.dtype.str, order, tmp_path / "in", tmp_path / "out", 60, 50)
    n = int(lines[0].split()[1])
    hdr = (tmp_path / "out.hdr").read_bytes()
    chunks = [(tmp_path / f"out.{i}").read_bytes() for i in range(n)]
    b = reference_decode(hdr, chunks)
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(a, b)

    # and the other way: a header and chunks made in Python, decoded by zmqpack
    raw = a.tobytes(order="A")
    chunk = 4000
    pieces = [raw[i:i + chunk] for i in range(0, len(raw), chunk)]
    family = codec.split(":")[0]
    if family == "zlib":
        stored = [zlib.compress(p) for p in pieces]
        wire = "zlib:6"
    elif family == "blosc":
        stored = [blosc.compress(p, typesize=a.itemsize, cname="zstd") for p in pieces]
        wire = "blosc:zstd:9:shuffle"
    else:
        stored, wire, chunk = [raw], "none", len(raw)
    hdr = msgpack.packb({"dtype": a.dtype.str, "shape": list(a.shape), "order": order,
                         "nbytes": len(raw), "codec": wire, "chunk": chunk,
                         "chunks": [len(s) for s in stored]})
    (tmp_path / "p.hdr").write_bytes(hdr)
    files = []
    for i, s in enumerate(stored):
        (tmp_path / f"p.{i}").write_bytes(s)
        files.append(tmp_path / f"p.{i}")
    line = run("decode", tmp_path / "p.hdr", tmp_path / "dec", *files)[0].split()
    assert line[0] == "ok", line
    assert line[1] == a.dtype.str and line[2] == order
    assert [int(x) for x in line[3:]] == list(a.shape)
    assert (tmp_path / "dec").read_bytes() == raw
