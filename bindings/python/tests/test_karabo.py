"""zmqpack.karabo against the Karabo bridge peer (tests/peers/karabo.py,
karabo-bridge-py's wire format re-stated): the same frames byte for byte,
the same (data, metadata), its server and client talking to zmqpack's over
real sockets (threads and a separate process), and hostile trains refused
with the frame that is wrong, the socket still in step."""
import pathlib
import subprocess
import sys
import threading

import numpy as np
import pytest
import zmq

import zmqpack
from zmqpack import karabo

TESTS = pathlib.Path(__file__).resolve().parents[3] / "tests"
sys.path.insert(0, str(TESTS))
from peers import karabo as peer  # noqa: E402
from peers import msgpack_numpy  # noqa: E402

DTYPES = ["|b1", "|i1", "<i2", ">i2", "<i4", "<i8", ">i8", "|u1", "<u2", ">u2", "<u4", "<u8",
          "<f2", "<f4", ">f4", "<f8", ">f8", "<c8", "<c16", ">c16"]


def sample(dt, shape=(3, 5), seed=0):
    a = np.random.default_rng(seed).standard_normal(shape) * 50
    dt = np.dtype(dt)
    if dt.kind == "b":
        return a > 0
    if dt.kind == "c":
        return (a + 1j * a[::-1]).astype(dt)
    return a.astype(dt)


def bridge_test_data():
    """The data of karabo-bridge-py's own serializer tests."""
    return {
        "source1": {"parameter.1.value": 123, "parameter.2.value": 1.23,
                    "list.of.int": [1, 2, 3], "string.param": "True", "boolean": False,
                    "metadata": {"timestamp.tid": 9876543210, "timestamp": 12345678}},
        "XMPL/DET/MOD0": {"image.data": np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
                          "something.else": ["a", "bc", "d"]},
    }


def every_dtype_data():
    base = {dt: sample(dt) for dt in DTYPES}
    return {
        "DTYPES/C": {"a" + dt: base[dt] for dt in DTYPES},
        "DTYPES/LAYOUTS": {
            "fortran": np.asfortranarray(base["<f8"]),
            "strided": base["<i4"][:, ::2],
            "reversed": base["<u2"][::-1],
            "zero_d": np.array(7, dtype=">u8"),
            "empty": np.zeros((0, 4), dtype="<f4"),
            "empty1": np.zeros(0, dtype="|u1"),
            "scalar_f32": np.float32(1.25), "scalar_i64": np.int64(-3), "scalar_u8": np.uint8(9),
            "scalar_f64": np.float64(0.5), "n": None, "b": b"\x00bytes", "t": (1, 2),
        },
    }


def same_value(x, y):
    if isinstance(y, np.ndarray):
        assert isinstance(x, np.ndarray) and x.dtype == y.dtype and x.shape == y.shape
        assert np.array_equal(x, y) or (x.dtype.kind in "fc" and np.allclose(x, y, equal_nan=True))
    elif isinstance(y, dict):
        assert isinstance(x, dict) and list(x) == list(y)
        for k in y:
            same_value(x[k], y[k])
    else:
        assert type(x) is type(y) and x == y


def frames_bytes(frames):
    return [bytes(f) for f in frames]


# -- serialize: karabo-bridge-py's bytes ---------------------------------------------

@pytest.mark.parametrize("proto", karabo.PROTOCOLS)
@pytest.mark.parametrize("make", [bridge_test_data, every_dtype_data,
                                  lambda: peer.detector_train(10000000042, nsources=3)[0]])
def test_serialize_same_bytes_as_the_bridge(proto, make):
    data = make()
    assert frames_bytes(karabo.serialize(data, protocol_version=proto)) == \
        frames_bytes(peer.serialize(data, protocol_version=proto))


@pytest.mark.parametrize("proto", karabo.PROTOCOLS)
def test_serialize_with_metadata(proto):
    data, meta = peer.detector_train(7, nsources=2)
    assert frames_bytes(karabo.serialize(data, meta, proto)) == \
        frames_bytes(peer.serialize(data, meta, proto))
    # the caller's dicts are not changed
    assert "metadata" not in next(iter(data.values()))


def test_serialize_dummy_timestamps():
    d, m = karabo.deserialize(karabo.serialize(bridge_test_data(), dummy_timestamps=True))
    assert set(m["XMPL/DET/MOD0"]) == {"timestamp", "timestamp.sec", "timestamp.frac"}
    assert len(m["XMPL/DET/MOD0"]["timestamp.frac"]) == 18
    assert m["source1"] == {"timestamp.tid": 9876543210, "timestamp": 12345678}


def test_serialize_arrays_zero_copy():
    a = np.arange(1 << 16, dtype=np.uint16).reshape(256, 256)
    frames = karabo.serialize({"S": {"a": a}})
    assert isinstance(frames[3], memoryview) and frames[3].obj is a
    f = np.asfortranarray(a)
    frames = karabo.serialize({"S": {"a": f}})
    assert frames[3].obj is not f and bytes(frames[3]) == a.tobytes()


def test_serialize_refuses_unknown_protocol():
    with pytest.raises(ValueError, match="Unknown protocol version 3.0"):
        karabo.serialize({}, protocol_version="3.0")


# -- deserialize: karabo-bridge-py's result -----------------------------------------

@pytest.mark.parametrize("proto", karabo.PROTOCOLS)
@pytest.mark.parametrize("make", [bridge_test_data, every_dtype_data,
                                  lambda: peer.detector_train(3, nsources=3)[0]])
def test_deserialize_same_result_as_the_bridge(proto, make):
    frames = peer.serialize(make(), protocol_version=proto)
    d, m = karabo.deserialize(frames)
    d0, m0 = peer.deserialize(frames)
    same_value(m, m0)
    same_value(d, d0)


def test_deserialize_arrays_alias_the_frames():
    ctx = zmq.Context()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    a.bind("inproc://karabo-alias")
    b.connect("inproc://karabo-alias")
    image = np.arange(1 << 18, dtype=np.uint16).reshape(512, 512)
    a.send_multipart(karabo.serialize({"S": {"image": image, "x": 1}}), copy=False)
    frames = b.recv_multipart(copy=False)
    d, _ = karabo.deserialize(frames)
    got = d["S"]["image"]
    assert np.array_equal(got, image) and not got.flags.writeable
    assert np.shares_memory(got, np.frombuffer(frames[3].buffer, np.uint8))
    # 1.0: views of the one frame too
    a.send_multipart(karabo.serialize({"S": {"image": image}}, protocol_version="1.0"))
    (frame,) = b.recv_multipart(copy=False)
    got = karabo.deserialize([frame])[0]["S"]["image"]
    assert np.array_equal(got, image) and not got.flags.writeable
    assert np.shares_memory(got, np.frombuffer(frame.buffer, np.uint8))
    a.close()
    b.close()
    ctx.term()


def test_deserialize_bytes_and_memoryviews():
    frames = karabo.serialize(every_dtype_data())
    d0, m0 = karabo.deserialize(frames)
    for conv in (bytes, memoryview, bytearray):
        d, m = karabo.deserialize([conv(f) for f in frames])
        same_value(d, d0)
        same_value(m, m0)


# -- hostile trains ----------------------------------------------------------------------

def good_frames():
    return [bytes(f) for f in karabo.serialize(
        {"A": {"img": np.arange(6, dtype="<u2").reshape(2, 3), "n": 1}, "B": {"x": 2}},
        {"A": {"timestamp.tid": 5}, "B": {}})]


def hdr(**kw):
    return zmqpack.packb(kw)


@pytest.mark.parametrize("frames,name,text", [
    ([], "EFRAME", "frame 0: Karabo: a message has at least one frame"),
    (good_frames()[:5], "EFRAME", "frame 4: Karabo 2.2: 5 frames, expected (header, payload) pairs"),
    (good_frames()[:3] + [bytes(10)] + good_frames()[4:], "ESHAPE",
     "frame 3: Karabo array 'img': 10 bytes of data, but dtype <u2 and shape [2, 3] need 12"),
    (good_frames()[:3] + [bytes(14)], "ESHAPE", "need 12"),
    (good_frames()[2:4] + good_frames()[:2], "EFORMAT", "frame 0: Karabo: array of source 'A' not right after its msgpack header"),
    (good_frames()[4:6] + good_frames()[4:6], "EFORMAT", "frame 2: Karabo: source 'B' sent twice"),
    (good_frames()[:4] + good_frames()[2:4], "EFORMAT", "frame 4: Karabo: array 'img' sent twice"),
    ([hdr(source="A", content="jpeg"), b"\x80"], "EFORMAT", "frame 0: Karabo: unknown content 'jpeg'"),
    ([b"\x92\x01\x02", b"\x80"], "EFORMAT", "frame 0: Karabo: the header is not a map but a MessagePack array"),
    ([hdr(source="A"), b"\x80"], "EFORMAT", "frame 0: Karabo: header has no \"content\" string"),
    ([hdr(source="A", content="msgpack"), b"\x05"], "EFORMAT", "frame 1: Karabo: the payload is not a map but a MessagePack uint"),
    (good_frames()[:2] + [hdr(source="A", content="array", path="o", dtype="O", shape=[1]),
                          bytes(8)], "EDTYPE", "frame 2: unsupported dtype 'O': object arrays cannot be carried"),
    (good_frames()[:2] + [hdr(source="A", content="array", path="o", dtype="<f8",
                              shape=[-1]), bytes(8)], "ESHAPE", "frame 2: Karabo array 'o': shape is not a list of sizes"),
    (good_frames()[:2] + [hdr(source="A", content="array", dtype="<f8", shape=[1]), bytes(8)],
     "EFORMAT", "frame 2: Karabo: header has no \"path\" string"),
    ([b"\x91\x01"], "EFORMAT", "frame 0: Karabo 1.0: the message is not a map but a MessagePack array"),
])
def test_hostile_trains_refused(frames, name, text):
    with pytest.raises(zmqpack.WireError) as e:
        karabo.deserialize(frames)
    assert e.value.name == name and text in e.value.text, e.value.text


def test_hostile_1_0_arrays_refused():
    lying = msgpack_numpy.encode(np.arange(4, dtype="<i2"))
    lying[b"shape"] = (5,)
    import msgpack
    with pytest.raises(zmqpack.WireError, match="frame 0: .*shape"):
        karabo.deserialize([msgpack.packb({"S": {"a": lying}}, use_bin_type=True)])
    pickled = msgpack_numpy.packb({"S": {"a": np.array([1, None], dtype=object)}})
    with pytest.raises(zmqpack.WireError, match="frame 0: .*pickle"):
        karabo.deserialize([pickled])
    with pytest.raises(zmqpack.WireError, match="frame 1: reserved byte 0xc1"):
        karabo.deserialize([zmqpack.packb({"source": "A", "content": "msgpack"}), b"\xc1"])


# -- sockets: zmqpack's client and server against the bridge's --------------------------

PAIRS = [("REP", "REQ"), ("PUB", "SUB"), ("PUSH", "PULL")]


def run_server(srv, trains, stop):
    """Send the trains; a PUB sends its first train until the subscriber is in."""
    if srv_kind(srv) == "PUB":
        while not stop.is_set():
            srv.send(*trains[0])
            stop.wait(0.02)
    else:
        for t in trains:
            srv.send(*t)


def srv_kind(srv):
    s = getattr(srv, "kind", None) or {zmq.REP: "REP", zmq.PUB: "PUB",
                                        zmq.PUSH: "PUSH"}[srv.socket.type]
    return s


@pytest.mark.parametrize("pair", PAIRS)
@pytest.mark.parametrize("proto", karabo.PROTOCOLS)
@pytest.mark.parametrize("who", ["zmqpack-client", "zmqpack-server"])
def test_client_and_server_against_the_bridge(pair, proto, who):
    trains = [peer.detector_train(10000000000 + i, nsources=2) for i in range(3)]
    if who == "zmqpack-client":
        srv = peer.Server("tcp://127.0.0.1:*", pair[0], proto, timeout=10)
        cl = karabo.Client(srv.endpoint, pair[1], timeout=10)
    else:
        srv = karabo.Server("tcp://127.0.0.1:*", pair[0], proto, timeout=10)
        cl = peer.Client(srv.endpoint, pair[1], timeout=10)
    stop = threading.Event()
    th = threading.Thread(target=run_server, args=(srv, trains, stop))
    th.start()
    try:
        got = [cl.next() for _ in range(1 if pair[0] == "PUB" else 3)]
    finally:
        stop.set()
        th.join()
        cl.close()
        srv.close()
    for (d, m), (d0, m0) in zip(got, trains):
        same_value(m, m0)
        for src in d0:
            for k, v in d0[src].items():
                same_value(d[src][k], v.item() if isinstance(v, np.number) and proto == "2.2"
                           else v)


def test_client_against_a_bridge_process():
    """The bridge's server in another process, zmqpack's client iterating."""
    p = subprocess.Popen([sys.executable, "-m", "peers.karabo", "serve", "tcp://127.0.0.1:*",
                          "--trains", "4", "--sources", "3"], cwd=TESTS,
                         stdout=subprocess.PIPE, text=True)
    try:
        endpoint = p.stdout.readline().strip()
        with karabo.Client(endpoint, timeout=10) as client:
            tids = []
            for data, meta in client:
                tids.append(meta["SPB_DET_AGIPD1M-1/DET/0CH0:xtdf"]["timestamp.tid"])
                assert data["SPB_DET_AGIPD1M-1/DET/2CH0:xtdf"]["image.data"].shape == (8, 16, 4)
                if len(tids) == 4:
                    break
        assert tids == [10000000000 + i for i in range(4)]
    finally:
        assert p.wait(timeout=30) == 0


def test_client_timeout_keeps_the_request_pending():
    ctx = zmq.Context()
    rep = ctx.socket(zmq.REP)
    rep.bind("tcp://127.0.0.1:*")
    ep = rep.getsockopt_string(zmq.LAST_ENDPOINT)
    with karabo.Client(ep, timeout=0.1, context=ctx) as cl:
        with pytest.raises(TimeoutError, match="No data received from %s in the last 100 ms"
                           % ep):
            cl.next()
        assert rep.recv() == b"next"
        rep.send_multipart(peer.serialize(*peer.detector_train(5)))
        _, m = cl.next()  # waits again: a second b"next" would be out of turn on REQ
        assert {v["timestamp.tid"] for v in m.values()} == {5}
    assert not ctx.closed  # a context the caller gave is left open
    rep.close()
    ctx.term()


def test_bad_endpoints_leave_nothing_open():
    with pytest.raises(zmq.ZMQError):
        karabo.Client("tcp://no-port-here", timeout=1)
    ctx = zmq.Context()
    with pytest.raises(zmq.ZMQError):
        karabo.Server("nosuchtransport://x", context=ctx)
    ctx.term()  # returns: the failed server's socket was closed


def test_client_refuses_other_sockets():
    with pytest.raises(NotImplementedError, match="PAIR"):
        karabo.Client("tcp://127.0.0.1:1", "PAIR")
    with pytest.raises(ValueError, match="DEALER"):
        karabo.Server("tcp://127.0.0.1:*", "DEALER")
    with pytest.raises(ValueError, match="Unknown protocol version 2.1"):
        karabo.Server("tcp://127.0.0.1:*", protocol_version="2.1")


def test_server_answers_a_bad_request_and_keeps_the_train():
    with karabo.Server("tcp://127.0.0.1:*", timeout=10) as srv:
        ctx = zmq.Context()
        req = ctx.socket(zmq.REQ)
        req.rcvtimeo = 10000
        req.connect(srv.endpoint)
        th = threading.Thread(target=srv.send, args=peer.detector_train(8))
        th.start()
        req.send(b"please")
        assert req.recv() == b"Error: bad request please"
        req.send(b"next")
        d, m = karabo.deserialize(req.recv_multipart(copy=False))
        th.join()
        assert {v["timestamp.tid"] for v in m.values()} == {8}
        req.close()
        ctx.term()


def test_hostile_train_leaves_the_client_in_step():
    """A bad train raises; the next good one comes through the same client."""
    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    push.bind("tcp://127.0.0.1:*")
    with karabo.Client(push.getsockopt_string(zmq.LAST_ENDPOINT), "PULL", timeout=10,
                       context=ctx) as cl:
        good = karabo.serialize(*peer.detector_train(1))
        push.send_multipart(good[:-1])  # odd number of frames
        with pytest.raises(zmqpack.WireError, match="EFRAME"):
            cl.next()
        push.send_multipart(good)
        _, m = cl.next()
        assert {v["timestamp.tid"] for v in m.values()} == {1}
    push.close()
    ctx.term()


@pytest.mark.parametrize("proto", karabo.PROTOCOLS)
def test_client_routes_give_identical_trains(proto, monkeypatch):
    """The client's two routes (the C receive, or recv_multipart and
    deserialize where pyzmq's libzmq is not zmqpack's) return the same trains
    and refuse a hostile one with the same error, staying in step."""
    if not zmqpack._sockets._c_route:
        pytest.fail("the C route is not available here: pyzmq links another libzmq")
    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    push.bind("tcp://127.0.0.1:*")
    good = peer.serialize(every_dtype_data(), protocol_version=proto)
    bad = good[:-1] if proto == "2.2" else [good[0][:-1]]
    got, errors = [], []
    with karabo.Client(push.getsockopt_string(zmq.LAST_ENDPOINT), "PULL", timeout=10,
                       context=ctx) as cl:
        for c_route in (True, False):
            monkeypatch.setattr(zmqpack._sockets, "_c_route", c_route)
            push.send_multipart(good)
            got.append(cl.next())
            push.send_multipart(bad)
            with pytest.raises(zmqpack.WireError) as e:
                cl.next()
            errors.append((e.value.code, e.value.text))
    push.close()
    ctx.term()
    for d, m in got:
        same_value(d, got[0][0])
        same_value(m, got[0][1])
        assert all(not a.flags.writeable for v in d.values() for a in v.values()
                   if isinstance(a, np.ndarray))
    d0, m0 = peer.deserialize(good)
    same_value(got[0][0], d0)
    assert errors[0] == errors[1], errors


def test_other_streams_told_apart():
    """A zmqpack message or JSON text read as a train says what it is, or
    what a train must be, not only where the MessagePack parser stopped."""
    for frames in (zmqpack.serialize({"a": 1}), zmqpack.serialize(np.zeros(3000))):
        with pytest.raises(zmqpack.WireError) as e:
            karabo.deserialize(frames)
        assert e.value.name == "EFORMAT" and e.value.text == (
            "frame 0: Karabo: a zmqpack message, not a Karabo train: receive it with "
            "recv_packed or recv_array")
    with pytest.raises(zmqpack.WireError) as e:
        karabo.deserialize([b'{"x": 1}'])
    assert e.value.name == "EEXTRADATA" and e.value.text.startswith(
        "frame 0: Karabo 1.0 is one MessagePack map: extra data")


def test_payload_refusals_name_the_frame():
    """Payloads are decoded once, by the binding: what it refuses is reported
    with the code and text of the library's parser (as zpk_karabo_decode()
    reports them in C: tests/test_interop.c) where that parser refuses it
    too, and as EFORMAT with Python's reason where only Python does."""
    head = zmqpack.packb({"source": "A", "content": "msgpack"})
    cases = [(b"\xc1", "EFORMAT", "frame 1: "), (b"\x81\xa1x", "EOUTOFDATA", "frame 1: "),
             (b"\x80\x80", "EEXTRADATA", "frame 1: "),
             (b"\x91\x01", "EFORMAT", "frame 1: Karabo: the payload is not a map but a "
                                      "MessagePack array"),
             (zmqpack.packb({1: "x"}), "EFORMAT", "frame 1: Karabo: the payload: int is not "
                                                  "allowed for map key when strict_map_key=True")]
    bad_name = b"\x82\xa6source\xa2\xff\xfe\xa7content\xa7msgpack"
    with pytest.raises(zmqpack.WireError) as e:
        karabo.deserialize([bad_name, b"\x80"])
    assert e.value.name == "EFORMAT" and e.value.text == (
        "frame 0: Karabo: a source name or array path is not UTF-8")
    for payload, name, text in cases:
        with pytest.raises(zmqpack.WireError) as e:
            karabo.deserialize([head, payload])
        assert e.value.name == name and e.value.text.startswith(text), e.value.text

