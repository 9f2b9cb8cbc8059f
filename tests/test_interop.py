"""zmqpack's C API for other streams' formats (zmqpack/interop.h, through
tests/interop_driver.c) against the peers of tests/peers/: msgpack-numpy's
rules (Debian's python3-msgpack with them) and a Karabo bridge server and
client, in both directions, over pipes and real sockets, every dtype the
formats carry, 0-d, empty and non-contiguous arrays, hostile inputs."""
import os
import pathlib
import subprocess
import sys
import threading
import zlib

import msgpack
import numpy as np
import pytest
import zmq

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from peers import karabo, msgpack_numpy  # noqa: E402

DRIVER = os.environ.get("ZPK_INTEROP_DRIVER")
pytestmark = pytest.mark.skipif(not DRIVER, reason="ZPK_INTEROP_DRIVER not set (run by meson)")

TYPESTRS = ["|b1", "|i1", "<i2", ">i2", "<i4", ">i4", "<i8", "|u1", "<u2", ">u4", "<u8", "<f2",
            "<f4", ">f4", "<f8", ">f8", "<c8", "<c16"]


def driver(*args, stdin=None, timeout=60):
    p = subprocess.run([DRIVER, *args], input=stdin, capture_output=True, timeout=timeout)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout


def summary(a):
    """What the driver prints for an ndarray: typestr, shape, crc32 of the C-ordered items."""
    return "%s %s %d" % (a.dtype.str, "x".join(map(str, a.shape)), zlib.crc32(a.tobytes()))


def filled(typestr, n):
    """The driver's s_fill(): item k is k * 3 - 7 (bool: k odd; complex: (k*3-7) - k j)."""
    k = np.arange(n)
    dt = np.dtype(typestr)
    if dt.kind == "b":
        return (k & 1).astype(dt)
    if dt.kind == "c":
        return ((k * 3 - 7) - 1j * k).astype(dt)
    return (k * 3 - 7).astype(dt)


# -- msgpack-numpy ---------------------------------------------------------------------

def mpnp_values():
    base = filled("<i4", 12).reshape(3, 4)
    vals = [filled(t, 24).reshape(3, 4, 2) for t in TYPESTRS]
    vals += [base.T, base[:, ::2], base[::-1, 1:3], np.array(2.5), np.array(7, ">u8"),
             np.zeros((0, 5)), np.zeros(0, "|b1")]
    vals += [np.float32(1.5), np.int16(-3), np.bool_(True), np.uint64(2**64 - 1)]
    return vals


def test_c_reads_msgpack_numpy():
    vals = mpnp_values()
    out = driver("mpnp-read", stdin=msgpack_numpy.packb({"v": vals, "nested": [{"a": vals[0]}]}))
    want = [summary(np.asarray(v)) for v in vals] + [summary(vals[0])]
    assert out.decode().splitlines() == want


def test_c_reads_old_writers_maps():
    """str keys and no b"kind" (msgpack-numpy before 0.4 with use_bin_type=False)."""
    a = filled("<u2", 6).reshape(2, 3)
    old = {"nd": True, "type": "<u2", "shape": [2, 3], "data": a.tobytes()}
    out = driver("mpnp-read", stdin=msgpack.packb([old], use_bin_type=False))
    assert out.decode().splitlines() == [summary(a)]


def test_c_writes_msgpack_numpy_byte_for_byte():
    got = driver("mpnp-write")
    base = filled("<i4", 12)
    vals = [filled(t, 24).reshape(3, 4, 2) for t in TYPESTRS]
    vals += [base.reshape((3, 4), order="F"), base.reshape(3, 4)[:, ::2],
             filled("<f8", 1).reshape(()), np.zeros((0, 5))]
    assert got == msgpack_numpy.packb(vals)
    back = msgpack_numpy.unpackb(got)
    for x, y in zip(back, vals):
        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y)


def hostile_maps():
    good = msgpack_numpy.encode(np.arange(4, dtype="<i2"))
    lying_long = {**good, b"shape": (5,)}
    lying_short = {**good, b"shape": (3,)}  # msgpack-numpy itself accepts this one
    rec = msgpack_numpy.encode(np.zeros(2, dtype=[("x", "<f4")]))
    obj = msgpack_numpy.encode(np.array([1, "x"], dtype=object))
    text = msgpack_numpy.encode(np.array(["ab", "c"]))
    # msgpack-numpy cannot write a datetime64 array (no buffer); another writer might
    dt = {**good, b"type": "<M8[D]", b"data": bytes(8)}
    deep = {**good, b"shape": (1,) * 33}
    return [lying_long, lying_short, rec, obj, text, dt, deep]


def test_c_refuses_hostile_msgpack_numpy():
    out = driver("mpnp-read", stdin=msgpack.packb(hostile_maps(), use_bin_type=True))
    assert out.decode().splitlines() == ["error ESHAPE", "error ESHAPE", "error EDTYPE",
                                         "error ENOTSUP", "error EDTYPE", "error EDTYPE",
                                         "error ESHAPE"]


# -- Karabo bridge: the C client against the bridge's server -----------------------------

def every_dtype_train(tid):
    data = {"DTYPES": {"a" + t: filled(t, 24).reshape(3, 4, 2) for t in TYPESTRS}}
    base = filled("<i4", 12).reshape(3, 4)
    data["LAYOUTS"] = {"n": 1, "f": base.T, "s": base[:, ::2], "z": np.array(9, ">u8"),
                       "e": np.zeros((0, 3), "<f4"), "sc": np.float32(2.5)}
    return data, {src: {"timestamp.tid": tid} for src in data}


def expected_lines(data, meta, proto):
    """The driver's lines for a train the peer serialized: sources in message order."""
    lines = []
    order = sorted(data) if proto == "2.2" else list(data)
    for src in order:
        tid = meta[src]["timestamp.tid"]
        values = data[src]
        arrays = [(k, v) for k, v in values.items() if isinstance(v, np.ndarray)]
        nkeys = len(values) - len(arrays) if proto == "2.2" else len(values) + 1
        parts = ["%d %s %d" % (tid, src, nkeys)]
        parts += ["%s=%s" % (k, summary(v).replace(" ", ":")) for k, v in arrays]
        lines.append(" ".join(parts))
    return lines


def serve(srv, trains, stop):
    if srv.kind == "PUB":  # the first train again and again, until the subscriber is in
        while not stop.is_set():
            srv.send(*trains[0])
            stop.wait(0.05)
        return
    for t in trains:
        srv.send(*t)


@pytest.mark.parametrize("pair", [("REP", "REQ"), ("PUSH", "PULL"), ("PUB", "SUB")])
@pytest.mark.parametrize("proto", karabo.PROTOCOLS)
def test_c_client_receives_the_bridges_trains(pair, proto):
    trains = [karabo.detector_train(10000000000 + i, nsources=2) for i in range(2)]
    trains.append(every_dtype_train(10000000002))
    n = 1 if pair[0] == "PUB" else len(trains)
    with karabo.Server("tcp://127.0.0.1:*", pair[0], proto, timeout=20) as srv:
        stop = threading.Event()
        th = threading.Thread(target=serve, args=(srv, trains, stop))
        th.start()
        try:
            out = driver("karabo-client", srv.endpoint, pair[1], str(n))
        finally:
            stop.set()
            th.join()
    want = []
    for data, meta in trains[:n]:
        want += expected_lines(data, meta, proto)
    assert out.decode().splitlines() == want


def test_c_client_refuses_hostile_trains_and_stays_in_step():
    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    push.linger = 5000
    push.bind("tcp://127.0.0.1:*")
    ep = push.getsockopt_string(zmq.LAST_ENDPOINT)
    p = subprocess.Popen([DRIVER, "karabo-client", ep, "PULL", "6"], stdout=subprocess.PIPE,
                         text=True)
    good = [bytes(f) for f in karabo.serialize(*karabo.detector_train(7, nsources=1))]
    lying = good[:3] + [good[3][:-2]] + good[4:]          # shape disagrees with payload
    odd = good[:-1]                                       # odd number of frames
    before = good[2:4] + good[:2]                         # array before its source
    lying_1_0 = msgpack.packb({"S": {"a": hostile_maps()[0]}}, use_bin_type=True)
    pickle_1_0 = msgpack_numpy.packb({"S": {"a": np.array([None], dtype=object)}})
    for msg in (lying, odd, before, [lying_1_0], [pickle_1_0], good):
        push.send_multipart(msg)
    out, _ = p.communicate(timeout=60)
    push.close()
    ctx.term()
    assert p.returncode == 0
    assert out.splitlines() == ["error ESHAPE 3", "error EFRAME %d" % (len(good) - 2),
                                "error EFORMAT 0", "error ESHAPE 0", "error ENOTSUP 0"] + \
        expected_lines(*karabo.detector_train(7, nsources=1), "2.2")


# -- Karabo bridge: the bridge's client against a C server --------------------------------

def c_train(tid, proto):
    """What interop_driver karabo-serve sends for train @p tid (s_arrays, s_write_payload)."""
    det0 = {"frames": 4, "temperature": 21.5, "name": "AGIPD", "present": [True, False],
            "image.data": ((np.arange(24) * 7 + tid) % 65536).astype("<u2").reshape(2, 3, 4),
            "image.mask": filled("|b1", 4).astype(bool), "be": filled(">f8", 3),
            "zero_d": np.array(-7, "<i4"), "empty": np.zeros((0, 2), "<f4")}
    det1 = {"x": 1, "c": filled("<c8", 2)}
    data = {"DET/0": det0, "DET/1": det1}
    meta = {src: {"source": src, "timestamp.tid": tid} for src in data}
    return data, meta


@pytest.mark.parametrize("pair", [("REP", "REQ"), ("PUSH", "PULL"), ("PUB", "SUB")])
@pytest.mark.parametrize("proto", karabo.PROTOCOLS)
def test_bridge_client_receives_c_trains_byte_for_byte(pair, proto):
    n = 3
    p = subprocess.Popen([DRIVER, "karabo-serve", "tcp://127.0.0.1:*", pair[0], proto,
                          str(n if pair[0] != "PUB" else 200), "500"],
                         stdout=subprocess.PIPE, text=True)
    try:
        ep = p.stdout.readline().strip()
        with karabo.Client(ep, pair[1], timeout=20) as cl:
            for i in range(n if pair[0] != "PUB" else 1):
                frames = cl.recv_frames()
                tid = 500 + (i if pair[0] != "PUB" else 0)
                data, meta = c_train(tid, proto)
                assert [bytes(f) for f in frames] == \
                    [bytes(f) for f in karabo.serialize(data, meta, proto)]
                d, m = karabo.deserialize(frames)
                assert m == meta
                for src in data:
                    for k, v in data[src].items():
                        if isinstance(v, np.ndarray):
                            assert d[src][k].dtype == v.dtype and np.array_equal(d[src][k], v)
                        else:
                            assert d[src][k] == v
    finally:
        p.kill() if pair[0] == "PUB" else None
        p.wait(timeout=30)
