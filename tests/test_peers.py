"""The peers in tests/peers/ say what the public formats say: exact bytes
assembled by hand from each format's description (not from the peer), and
each peer's two sides talking over real sockets. The interop tests trust
these peers, so they are pinned here."""
import pathlib
import sys
import threading
import time

import msgpack
import numpy as np
import pytest
import zmq

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from peers import imagezmq, karabo, msgpack_numpy  # noqa: E402


def s(text):
    """A MessagePack fixstr."""
    b = text.encode()
    assert len(b) < 32
    return bytes([0xA0 | len(b)]) + b


def b8(data):
    """A MessagePack bin 8."""
    return b"\xc4" + bytes([len(data)]) + data


# -- msgpack-numpy ------------------------------------------------------------------

def test_msgpack_numpy_ndarray_bytes():
    got = msgpack_numpy.packb(np.arange(3, dtype="<u2"))
    want = (b"\x85" + b8(b"nd") + b"\xc3" + b8(b"type") + s("<u2") + b8(b"kind") + b8(b"")
            + b8(b"shape") + b"\x91\x03" + b8(b"data") + b8(b"\x00\x00\x01\x00\x02\x00"))
    assert got == want


def test_msgpack_numpy_scalars_and_complex():
    assert msgpack_numpy.packb(np.int32(7)) == (b"\x83" + b8(b"nd") + b"\xc2" + b8(b"type")
                                                + s("<i4") + b8(b"data") + b8(b"\x07\0\0\0"))
    # np.float64 is a float: the packer never asks the rules about it
    assert msgpack_numpy.packb(np.float64(1.5)) == b"\xcb\x3f\xf8" + b"\0" * 6
    assert msgpack_numpy.packb(1 + 2j) == (b"\x82" + b8(b"complex") + b"\xc3" + b8(b"data")
                                           + s("(1+2j)"))


def test_msgpack_numpy_layouts_and_0d():
    base = np.arange(24, dtype=">i4").reshape(4, 6)
    strided = msgpack_numpy.packb(base[:, ::2])
    assert strided == msgpack_numpy.packb(np.ascontiguousarray(base[:, ::2]))
    zero_d = msgpack_numpy.packb(np.array(2.5, dtype="<f8"))
    assert b8(b"shape") + b"\x90" in zero_d
    empty = msgpack_numpy.packb(np.zeros((2, 0), dtype="<f4"))
    assert empty.endswith(b8(b"shape") + b"\x92\x02\x00" + b8(b"data") + b"\xc4\x00")


def test_msgpack_numpy_round_trip():
    obj = {"a": np.arange(12, dtype="<f4").reshape(3, 4), "s": np.uint16(9), "c": 3 - 1j,
           "f": np.float64(0.5), "e": np.zeros(0, dtype="|b1"), "z": np.array(7, dtype=">u8")}
    out = msgpack_numpy.unpackb(msgpack_numpy.packb(obj))
    for k in ("a", "e", "z"):
        assert out[k].dtype == obj[k].dtype and out[k].shape == obj[k].shape
        assert np.array_equal(out[k], obj[k])
        assert not out[k].flags.writeable  # a view of the received bytes
    assert out["s"] == 9 and type(out["s"]) is np.uint16
    assert out["c"] == 3 - 1j and out["f"] == 0.5


def test_msgpack_numpy_structured_and_object_kinds():
    rec = np.zeros(2, dtype=[("x", "<f4"), ("n", "<i2", (2,))])
    packed = msgpack_numpy.packb(rec)
    assert b8(b"kind") + b8(b"V") in packed
    back = msgpack_numpy.unpackb(packed)
    assert back.dtype == rec.dtype
    objs = np.array([1, "two"], dtype=object)
    packed = msgpack_numpy.packb(objs)
    assert b8(b"kind") + b8(b"O") in packed  # b"data" is a pickle
    assert list(msgpack_numpy.unpackb(packed)) == [1, "two"]


# -- Karabo bridge -------------------------------------------------------------------

def test_karabo_2_2_frames():
    image = np.arange(6, dtype=np.uint16).reshape(2, 3)
    data = {"B": {"x": 1}, "A": {"img": image, "n": np.int64(5), "t": np.float32(0.5)}}
    frames = karabo.serialize(data, {"A": {}, "B": {"timestamp.tid": 7}})
    assert [bytes(f) for f in frames] == [
        b"\x83" + s("source") + s("A") + s("content") + s("msgpack") + s("metadata") + b"\x80",
        b"\x82" + s("n") + b"\x05" + s("t") + b"\xcb\x3f\xe0" + b"\0" * 6,
        b"\x85" + s("source") + s("A") + s("content") + s("array") + s("path") + s("img")
        + s("dtype") + s("uint16") + s("shape") + b"\x92\x02\x03",
        image.tobytes(),
        b"\x83" + s("source") + s("B") + s("content") + s("msgpack") + s("metadata")
        + b"\x81" + s("timestamp.tid") + b"\x07",
        b"\x81" + s("x") + b"\x01",
    ]
    assert isinstance(frames[3], memoryview)  # zero-copy


def test_karabo_metadata_from_data_and_protocol_1_0():
    data = {"S": {"v": [1, 2], "metadata": {"timestamp.tid": 3}, "a": np.ones(2, "<f8")}}
    d, m = karabo.deserialize(karabo.serialize(data))
    assert m == {"S": {"timestamp.tid": 3}}
    assert d["S"]["metadata"] == {"timestamp.tid": 3}  # 2.2 sends it in the payload too
    (frame,) = karabo.serialize(data, protocol_version="1.0")
    assert frame == msgpack.packb({"S": {"v": [1, 2], "metadata": {"timestamp.tid": 3},
                                         "a": msgpack_numpy.encode(data["S"]["a"])}},
                                  use_bin_type=True)
    d, m = karabo.deserialize([frame])
    assert m == {"S": {"timestamp.tid": 3}} and np.array_equal(d["S"]["a"], np.ones(2))


def test_karabo_leniencies_kept():
    """The peer is as lenient as karabo-bridge-py: zmqpack's tests show
    zmqpack refusing what the peer lets through."""
    frames = karabo.serialize({"S": {"a": np.arange(3, dtype="<i2")}})
    d, _ = karabo.deserialize(frames + [b"stray"])  # odd frame dropped by zip
    assert list(d["S"]["a"]) == [0, 1, 2]
    with pytest.raises(ValueError):
        karabo.serialize({}, protocol_version="3.0")


@pytest.mark.parametrize("pair", [("REP", "REQ"), ("PUB", "SUB"), ("PUSH", "PULL")])
@pytest.mark.parametrize("proto", karabo.PROTOCOLS)
def test_karabo_server_and_client(pair, proto):
    ctx = zmq.Context()
    trains = [karabo.detector_train(100 + i) for i in range(3)]
    with karabo.Server("tcp://127.0.0.1:*", pair[0], proto, context=ctx) as srv, \
            karabo.Client(srv.endpoint, pair[1], timeout=10, context=ctx) as cl:
        def serve():
            if pair[0] == "PUB":  # resend until the subscriber is in
                while not done.is_set():
                    srv.send(*trains[0])
                    done.wait(0.02)
            else:
                for t in trains:
                    srv.send(*t)
        done = threading.Event()
        th = threading.Thread(target=serve)
        th.start()
        got = [cl.next() for _ in range(3 if pair[0] != "PUB" else 1)]
        done.set()
        th.join()
    ctx.term()
    for (d, m), (d0, m0) in zip(got, trains):
        assert m == m0
        for src in d0:
            for k, v in d0[src].items():
                if isinstance(v, np.ndarray):
                    assert d[src][k].dtype == v.dtype and np.array_equal(d[src][k], v)
                else:
                    assert d[src][k] == v


def test_karabo_rep_refuses_other_requests():
    ctx = zmq.Context()
    with karabo.Server("tcp://127.0.0.1:*", "REP", context=ctx) as srv:
        req = ctx.socket(zmq.REQ)
        req.rcvtimeo = 10000
        req.connect(srv.endpoint)
        req.send(b"please")
        assert srv.send(*karabo.detector_train(1)) is False
        assert req.recv() == b"Error: bad request please"
        req.close()
    ctx.term()


def test_karabo_req_timeout_keeps_the_request():
    ctx = zmq.Context()
    rep = ctx.socket(zmq.REP)
    rep.bind("tcp://127.0.0.1:*")
    with karabo.Client(rep.getsockopt_string(zmq.LAST_ENDPOINT), "REQ", timeout=0.1,
                       context=ctx) as cl:
        with pytest.raises(TimeoutError, match="No data received from tcp://127.0.0.1"):
            cl.next()
        assert rep.recv() == b"next"
        rep.send_multipart(karabo.serialize(*karabo.detector_train(5)))
        d, m = cl.next()  # no second b"next": the REQ socket would refuse it
        assert {v["timestamp.tid"] for v in m.values()} == {5}
    rep.close()
    ctx.term()


# -- imagezmq ------------------------------------------------------------------------

def test_imagezmq_frames():
    ctx = zmq.Context()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    a.bind("inproc://imz")
    b.connect("inproc://imz")
    imagezmq.send_array(a, np.zeros((2, 3), np.uint8), "cam1")
    assert b.recv_multipart() == [b'{"msg": "cam1", "dtype": "uint8", "shape": [2, 3]}',
                                  b"\0" * 6]
    imagezmq.send_jpg(a, "cam2", b"\xff\xd8\xff\xe0jpeg")
    assert b.recv_multipart() == [b'{"msg": "cam2"}', b"\xff\xd8\xff\xe0jpeg"]
    imagezmq.send_array(a, np.arange(6, dtype=">f4").reshape(2, 3).T, "t")
    msg, A = imagezmq.recv_array(b)
    assert msg == "t" and A.dtype == np.dtype(">f4") and A.shape == (3, 2)
    assert np.array_equal(A, np.arange(6, dtype=">f4").reshape(2, 3).T)
    a.close()
    b.close()
    ctx.term()


@pytest.mark.parametrize("req_rep", [True, False])
def test_imagezmq_sender_and_hub(req_rep):
    ctx = zmq.Context()
    if req_rep:
        hub = imagezmq.ImageHub("tcp://127.0.0.1:*", True, context=ctx)
        snd = imagezmq.ImageSender(hub.endpoint, True, context=ctx)
    else:
        snd = imagezmq.ImageSender("tcp://127.0.0.1:*", False, context=ctx)
        hub = imagezmq.ImageHub(snd.endpoint, False, context=ctx)
    replies, seen = [], set()

    def send():
        for i in range(3):
            name = "cam%d" % i
            replies.append(snd.send_image(name, imagezmq.sample_image(i)))
            while not req_rep and name not in seen:  # PUB: again until the hub has it
                time.sleep(0.02)
                snd.send_image(name, imagezmq.sample_image(i))
    th = threading.Thread(target=send)
    th.start()
    while len(seen) < 3:
        msg, A = hub.recv_image()
        assert np.array_equal(A, imagezmq.sample_image(int(msg[3:])))
        seen.add(msg)
        if req_rep:
            hub.send_reply()
    th.join()
    if req_rep:
        assert replies == [b"OK"] * 3
    else:
        assert replies == [None] * 3
    hub.close()
    snd.close()
    ctx.term()
