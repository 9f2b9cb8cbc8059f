"""numpy values in packb/unpackb: numpy scalars as the MessagePack values they
hold (issue 16), and msgpack-numpy's maps byte for byte against a peer
written from its format (tests/peers/msgpack_numpy.py, issue 18)."""
import pathlib
import struct
import sys

import msgpack
import numpy as np
import pytest

import zmqpack

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "tests"))
from peers import msgpack_numpy as mnp  # noqa: E402

INTS = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]


# -- numpy scalars, by default -----------------------------------------------------

@pytest.mark.parametrize("t", INTS)
def test_integer_scalars_pack_as_ints(t):
    info = np.iinfo(t)
    for v in (info.min, info.min + 1, -33, -1, 0, 1, 127, 128, info.max):
        if info.min <= v <= info.max:
            assert zmqpack.packb(t(v)) == msgpack.packb(int(v)), (t, v)


def test_bool_and_float_scalars():
    assert zmqpack.packb(np.bool_(True)) == b"\xc3"
    assert zmqpack.packb(np.bool_(False)) == b"\xc2"
    assert zmqpack.packb(np.float32(1.5)) == b"\xca" + struct.pack(">f", 1.5)
    assert zmqpack.packb(np.float32(np.nan))[:1] == b"\xca"
    assert zmqpack.packb(np.float16(0.5)) == b"\xcb" + struct.pack(">d", 0.5)
    assert zmqpack.packb(np.float64(0.1)) == b"\xcb" + struct.pack(">d", 0.1)
    assert zmqpack.packb(np.float16(0.5), use_single_float=True) == b"\xca" + struct.pack(">f", 0.5)
    # np.float64 under strict_types is no longer a float but is still a numpy scalar
    assert zmqpack.packb(np.float64(2.5), strict_types=True) == b"\xcb" + struct.pack(">d", 2.5)


def test_scalars_in_a_dict_read_from_arrays():
    a = np.arange(5, dtype=np.int32)
    f = np.linspace(0, 1, 3, dtype=np.float32)
    d = {"n": a[3], "max": a.max(), "mean": a.mean(), "f": f[1], "ok": a[0] == 0}
    assert zmqpack.unpackb(zmqpack.packb(d)) == {"n": 3, "max": 4, "mean": 2.0, "f": 0.5,
                                                 "ok": True}
    p = zmqpack.Packer()
    assert p.pack(d) == zmqpack.packb(d)


def test_other_numpy_values_are_refused_naming_their_type():
    for v, name in [(np.complex64(1), "numpy.complex64"), (np.datetime64(1, "s"), "numpy.datetime64"),
                    (np.longdouble(1), type(np.longdouble(1)).__module__ + "." + type(np.longdouble(1)).__name__)]:
        with pytest.raises(TypeError) as e:
            zmqpack.packb({"v": v})
        assert str(e.value) == "can not serialize '%s' object" % name
    with pytest.raises(TypeError) as e:
        zmqpack.packb({"image": np.zeros(3)})
    assert str(e.value).startswith("can not serialize 'numpy.ndarray' object: ")
    assert "send_packed()" in str(e.value) and "ndarray='msgpack-numpy'" in str(e.value)
    assert len(str(e.value)) < 200


def test_default_is_asked_first_as_msgpack_python_does():
    assert zmqpack.packb(np.int64(7), default=str) == msgpack.packb("7")
    # a default that hands the scalar back: packed by zmqpack, refused by msgpack
    assert zmqpack.packb(np.int64(7), default=lambda o: o) == b"\x07"


def test_type_error_messages_stay_short():
    class BadRepr:
        def __repr__(self):
            raise RuntimeError("no repr")
    for obj in (set(range(20000)), BadRepr(), type("N" * 500, (), {})()):
        with pytest.raises(TypeError) as e:
            zmqpack.packb({"x": obj})
        assert 0 < len(str(e.value)) < 200
        assert str(e.value).startswith("can not serialize '")
    assert str(pytest.raises(TypeError, zmqpack.packb, BadRepr()).value) == \
        str(pytest.raises(TypeError, msgpack.packb, BadRepr()).value)


def test_msgpack_ext_and_timestamp_pack_as_ext():
    assert zmqpack.packb(msgpack.ExtType(3, b"z")) == b"\xd4\x03z"
    assert zmqpack.packb([msgpack.ExtType(3, b"z"), msgpack.Timestamp(1, 2)]) == \
        msgpack.packb([msgpack.ExtType(3, b"z"), msgpack.Timestamp(1, 2)])
    assert zmqpack.unpackb(zmqpack.packb(msgpack.Timestamp(1, 2))) == zmqpack.Timestamp(1, 2)
    p = zmqpack.Packer(autoreset=False)
    p.pack_ext_type(0x42, b"A")
    assert p.bytes() == b"\xd4\x42A"


# -- msgpack-numpy -------------------------------------------------------------------

def arrays():
    r = np.random.default_rng(5)
    base = r.standard_normal((4, 6))
    out = [base, base.astype("<f4"), base.astype(">f8"), base.astype(np.float16),
           (base * 100).astype("<i2"), (base * 100).astype(">i8"), (base * 10).astype(np.uint8),
           base > 0, (base + 1j * base).astype(np.complex64), base.astype(np.complex128),
           np.asfortranarray(base), base[:, ::2], base[1], base[:0], np.array(3.5), np.zeros((0, 3)),
           np.array(["ab", "c"]), np.array([b"x", b"yz"]),
           np.zeros(3, dtype=[("a", "<i4"), ("b", ">f8", (2,))]),
           np.zeros(2, dtype=[("p", [("x", "<f4"), ("y", "<f4")]), ("n", "u1")]),
           np.arange(3 * 5 * 2 * 2 * 2, dtype=np.int32).reshape(3, 5, 2, 2, 2)]
    return out


SCALARS = [np.bool_(True), np.int8(-3), np.uint16(7), np.int64(-2**40), np.uint64(2**63),
           np.float16(0.5), np.float32(1.25), np.float64(2.5), np.complex64(1 + 2j),
           np.complex128(3j), np.longdouble(1.5)]


def same(x, y):
    if isinstance(y, np.ndarray):
        assert isinstance(x, np.ndarray) and x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes()
    else:
        assert type(x) is type(y) and (x == y or (x != x and y != y))


@pytest.mark.parametrize("i", range(len(arrays())))
def test_msgpack_numpy_arrays_byte_for_byte(i):
    a = arrays()[i]
    b = mnp.packb({"a": a, "n": 1})
    assert zmqpack.packb({"a": a, "n": 1}, ndarray="msgpack-numpy") == b
    assert zmqpack.Packer(ndarray="msgpack-numpy").pack({"a": a, "n": 1}) == b
    got = zmqpack.unpackb(b, ndarray="msgpack-numpy")
    same(got["a"], mnp.unpackb(b)["a"])
    same(got["a"], np.array(a, order="C"))
    assert not got["a"].flags.writeable  # as msgpack-numpy's (views of the bytes)


def test_msgpack_numpy_datetimes_which_msgpack_numpy_cannot_pack():
    a = np.arange(4).astype("M8[s]")  # its encoder fails on a.data; its decoder reads them
    b = zmqpack.packb(a, ndarray="msgpack-numpy")
    same(mnp.unpackb(b), a)
    same(zmqpack.unpackb(b, ndarray="msgpack-numpy"), a)


def test_msgpack_numpy_scalars_and_complex_byte_for_byte():
    for v in SCALARS + [1 + 2j, complex(-0.0, float("inf"))]:
        b = mnp.packb([v])
        assert zmqpack.packb([v], ndarray="msgpack-numpy") == b, v
        same(zmqpack.unpackb(b, ndarray="msgpack-numpy")[0], mnp.unpackb(b)[0])
    # np.float64 is a float: a plain float 64 for both, as msgpack-python packs it
    assert zmqpack.packb(np.float64(2.5), ndarray="msgpack-numpy") == b"\xcb" + struct.pack(">d", 2.5)


def test_msgpack_numpy_options_as_msgpack_python():
    d = {"a": np.arange(3, dtype="<u2"), "s": "x" * 40, "b": b"y"}
    for kw in (dict(use_bin_type=False), dict(use_single_float=True)):
        assert zmqpack.packb(d, ndarray="msgpack-numpy", **kw) == mnp.packb(d, **kw)
    b = mnp.packb(d)
    assert zmqpack.unpackb(b, ndarray="msgpack-numpy", raw=True)[b"a"].tolist() == [0, 1, 2]
    hook = zmqpack.unpackb(mnp.packb([{"k": 1}, np.int8(2)]), ndarray="msgpack-numpy",
                           object_hook=lambda m: ("hooked", m))
    assert hook == [("hooked", {"k": 1}), np.int8(2)]  # plain maps only, as msgpack-numpy


def test_msgpack_numpy_arrays_alias_the_input():
    b = mnp.packb({"a": np.arange(1000.0)})
    got = zmqpack.unpackb(b, ndarray="msgpack-numpy")["a"]
    assert np.shares_memory(got, np.frombuffer(b, np.uint8))
    ba = bytearray(b)
    got = zmqpack.unpackb(ba, ndarray="msgpack-numpy")["a"]
    assert np.shares_memory(got, np.frombuffer(ba, np.uint8))
    with pytest.raises(BufferError):  # the array holds the buffer: it cannot move under it
        ba.extend(b"x")
    del got
    ba.extend(b"x")


def test_msgpack_numpy_streaming_unpacker():
    objs = [{"a": a} for a in arrays()[:8]] + [np.int16(5)]
    stream = b"".join(mnp.packb(o) for o in objs)
    u = zmqpack.Unpacker(ndarray="msgpack-numpy")
    got = []
    for i in range(0, len(stream), 97):
        u.feed(stream[i:i + 97])
        got.extend(u)
    assert len(got) == len(objs)
    for g, o in zip(got, objs):
        same(g["a"] if isinstance(o, dict) else g, np.array(o["a"], order="C") if isinstance(o, dict) else o)


def test_a_map_without_the_keys_the_rule_needs_stays_a_map():
    for m in ({b"nd": True, b"type": "<f8", b"data": b"\0" * 8},   # no shape
              {b"nd": False, b"data": b"\0"},                       # no type
              {b"complex": True}, {b"data": b"raw bytes"}):
        b = msgpack.packb(m)
        assert zmqpack.unpackb(b, ndarray="msgpack-numpy") == mnp.unpackb(b) == m


def _nd(**kw):
    m = {b"nd": True, b"type": "<f8", b"kind": b"", b"shape": [2], b"data": b"\0" * 16}
    m.update({k.encode(): v for k, v in kw.items()})
    return msgpack.packb(m)


@pytest.mark.parametrize("b,text", [
    (_nd(shape=[3]), "shape [3] of float64 needs 24 bytes, b\"data\" has 16"),
    (_nd(shape=[1]), "shape [1] of float64 needs 8 bytes, b\"data\" has 16"),
    (_nd(shape=[2**62, 2**62]), "is not a list of at most 32 sizes"),
    (_nd(shape=[-1]), "is not a list of at most 32 sizes"),
    (_nd(shape=[1] * 40), "is not a list of at most 32 sizes"),
    (_nd(shape=7), "is not a list of at most 32 sizes"),
    (_nd(type="<zz"), "b\"type\" '<zz' is not a numpy dtype"),
    (_nd(type=5), "neither a typestr nor a descr list"),
    (_nd(kind=b"O"), "kind O: its data is a pickle"),
    (_nd(type="|O"), "dtype object"),
    (_nd(kind=b"V", type=[["a"]]), "[name, type, *shape]"),
    (msgpack.packb({b"nd": False, b"type": "<f8", b"data": b"123"}), "needs 8 bytes, b\"data\" has 3"),
])
def test_hostile_msgpack_numpy_maps_are_refused(b, text):
    with pytest.raises(ValueError) as e:
        zmqpack.unpackb(b, ndarray="msgpack-numpy")
    assert text in str(e.value)


def test_object_arrays_are_refused_when_packing():
    with pytest.raises(TypeError, match="object array .* pickle"):
        zmqpack.packb(np.array([{}, None], dtype=object), ndarray="msgpack-numpy")


def test_bad_ndarray_option():
    for bad in ("msgpack_numpy", 1, b"msgpack-numpy"):
        for call in (lambda: zmqpack.packb(1, ndarray=bad), lambda: zmqpack.unpackb(b"\x01", ndarray=bad),
                     lambda: zmqpack.Packer(ndarray=bad), lambda: zmqpack.Unpacker(ndarray=bad)):
            with pytest.raises(ValueError, match="ndarray must be None or 'msgpack-numpy'"):
                call()
    with pytest.raises(TypeError, match="object_pairs_hook"):
        zmqpack.unpackb(b"\x80", ndarray="msgpack-numpy", object_pairs_hook=list)


def test_msgpack_numpy_through_the_socket_helpers(route):
    """send_packed/recv_packed/serialize/deserialize take ndarray="msgpack-numpy":
    the arrays travel inside the object, as a msgpack-numpy peer sends them."""
    import zmq
    ctx = zmq.Context()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    a.bind("inproc://mnp")
    b.connect("inproc://mnp")
    obj = {"image": np.arange(20000, dtype="<u2").reshape(100, 200), "n": np.int16(3)}
    zmqpack.send_packed(a, obj, ndarray="msgpack-numpy")
    frames = b.recv_multipart()
    plain = zmqpack.deserialize(frames)  # without the option: the maps as msgpack-numpy wrote them
    assert plain["image"][b"nd"] is True and plain["image"][b"shape"] == [100, 200]
    assert plain["image"][b"data"] == obj["image"].tobytes()
    assert plain["n"] == {b"nd": False, b"type": "<i2", b"data": b"\x03\x00"}
    for send in (lambda: zmqpack.send_packed(a, obj, ndarray="msgpack-numpy"),
                 lambda: a.send_multipart(zmqpack.serialize(obj, ndarray="msgpack-numpy"))):
        send()
        got = zmqpack.recv_packed(b, ndarray="msgpack-numpy")
        same(got["image"], obj["image"])
        assert got["n"] == np.int16(3) and type(got["n"]) is np.int16
        assert not got["image"].flags.writeable  # a view of the received bytes
    a.send_multipart(zmqpack.serialize(obj, ndarray="msgpack-numpy"))
    got = zmqpack.deserialize(b.recv_multipart(copy=False), ndarray="msgpack-numpy")
    same(got["image"], obj["image"])
    a.close(0)
    b.close(0)
    ctx.term()
