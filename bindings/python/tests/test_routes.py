"""Messages as frames (serialize/deserialize), the two routes of the socket
helpers, envelopes and the request-reply patterns (issue 14): REQ -> ROUTER
-> reply, REQ -> ROUTER/DEALER broker -> REP, DEALER <-> ROUTER with several
clients, PUB/SUB topics; Python on both ends and against C peers
(tests/peer.c); zmqpack.Context/Socket and zmqpack.asyncio."""
import asyncio
import contextlib
import threading
import time

import numpy as np
import pytest
import zmq
import zmq.asyncio

import zmqpack
from helpers import run_peer, same, sample

CODECS = [None, "zlib:1", "blosc:lz4:5:shuffle", "auto"]
BIG = sample("<f4", (300, 300))         # 360 KB: zero-copy, several chunks with a codec


def messages():
    """(name, send kwargs) of every kind of message."""
    img = sample("<u2", (64, 80))
    return [
        ("packed small", dict(obj={"a": 1, "b": [1.5, "x"], "c": b"\x00"})),
        ("packed 100 KB", dict(obj={"blob": bytes(range(256)) * 400, "n": 3})),
        ("packed single", dict(obj=[1, 2, 3] * 10000, single=True)),
        ("mixed", dict(obj={"image": img, "mask": img > 100, "big": BIG, "t": 5})),
        ("array", dict(A=img)),
        ("array F-order", dict(A=np.asfortranarray(img))),
        ("array big", dict(A=BIG)),
        ("array single", dict(A=img, single=True)),
        ("array 0-d", dict(A=np.array(2.5))),
        ("array empty", dict(A=np.zeros((0, 4), np.int16))),
    ]


def send(sock, msg, codec=None, **kw):
    if "A" in msg:
        return zmqpack.send_array(sock, msg["A"], codec=codec, **kw,
                                  **{k: v for k, v in msg.items() if k != "A"})
    return zmqpack.send_packed(sock, msg["obj"], codec=codec, **kw,
                               **{k: v for k, v in msg.items() if k != "obj"})


def check(got, msg):
    if "A" in msg:
        same(got, msg["A"])
    elif isinstance(msg["obj"], dict) and "image" in msg["obj"]:
        for k in ("image", "mask", "big"):
            same(got[k], msg["obj"][k])
        assert got["t"] == 5
    else:
        assert got == msg["obj"]


def recv(sock, msg, **kw):
    return (zmqpack.recv_array if "A" in msg else zmqpack.recv_packed)(sock, **kw)


@contextlib.contextmanager
def proxy(ctx, front, back):
    """A broker thread (zmq.proxy_steerable: frames forwarded undecoded) for
    the with block, stopped and joined at its end: a socket must not be
    closed by another thread while the proxy polls it (ctx.destroy() at the
    end of a test did, and libzmq aborted now and then)."""
    control, steer = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    endpoint = "inproc://proxy-control-%x" % id(control)
    control.bind(endpoint)
    steer.connect(endpoint)
    t = threading.Thread(target=zmq.proxy_steerable, args=(front, back, None, control))
    t.start()
    try:
        yield
    finally:
        steer.send(b"TERMINATE")
        t.join(10)
        assert not t.is_alive(), "the proxy did not stop"
        for s in (front, back, control, steer):
            s.close(0)


@pytest.fixture
def ctx():
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


def tcp_pair(ctx, a_type=zmq.PAIR, b_type=zmq.PAIR):
    a, b = ctx.socket(a_type), ctx.socket(b_type)
    for s in (a, b):
        s.linger = 0
        s.rcvtimeo = s.sndtimeo = 10000
    port = b.bind_to_random_port("tcp://127.0.0.1")
    a.connect("tcp://127.0.0.1:%d" % port)
    return a, b


# -- the two routes -----------------------------------------------------------------

@pytest.mark.parametrize("codec", CODECS)
def test_both_routes_put_identical_frames_on_the_wire(ctx, codec, monkeypatch):
    """The C socket calls and serialize() + send_multipart() (what a pyzmq
    with its own libzmq gets) send the same frames, byte for byte, and both
    receive routes decode them alike."""
    zmqpack._sockets._setup()
    a, b = tcp_pair(ctx, zmq.PUSH, zmq.PULL)
    extras = [dict(), dict(topic=b"cam/1"), dict(envelope=[b"id-7", b""])]
    for name, msg in messages():
        for extra in extras:
            wire = []
            for c_route in (True, False):
                monkeypatch.setattr(zmqpack._sockets, "_c_route", c_route)
                send(a, msg, codec, **extra)
                wire.append(b.recv_multipart())
            assert wire[0] == wire[1], (name, extra)
            got = []
            for c_route in (True, False):
                monkeypatch.setattr(zmqpack._sockets, "_c_route", c_route)
                a.send_multipart(wire[0])
                env, value = recv(b, msg, with_envelope=True)
                check(value, msg)
                got.append(env)
            assert got[0] == got[1] == extra.get("envelope", [extra["topic"]] if "topic" in extra else [])
    # the recipe too
    A = sample("<i4", (5, 7))
    wire = []
    for c_route in (True, False):
        monkeypatch.setattr(zmqpack._sockets, "_c_route", c_route)
        zmqpack.send_array(a, A, recipe=True, topic="r")
        wire.append(b.recv_multipart())
    assert wire[0] == wire[1] and wire[0][0] == b"r"


@pytest.mark.parametrize("codec", CODECS)
def test_serialize_into_plain_pyzmq_and_back(ctx, route, codec):
    """serialize -> plain send_multipart -> recv_packed/recv_array, and
    send_packed/send_array -> plain recv_multipart -> deserialize."""
    a, b = tcp_pair(ctx)
    for name, msg in messages():
        value = msg.get("A", msg.get("obj"))
        frames = zmqpack.serialize(value, codec=codec, single=msg.get("single", False))
        a.send_multipart(frames, copy=False)
        check(recv(b, msg), msg)
        send(a, msg, codec)
        check(zmqpack.deserialize(b.recv_multipart(copy=False)), msg)
        send(a, msg, codec)
        check(zmqpack.deserialize(b.recv_multipart()), msg)  # bytes frames


def test_pyzmq_send_serialized_and_recv_serialized(ctx, route):
    a, b = tcp_pair(ctx)
    obj = {"image": BIG, "id": 7}
    a.send_serialized(obj, zmqpack.serialize, copy=False)
    got = b.recv_serialized(zmqpack.deserialize, copy=False)
    same(got["image"], BIG)
    assert np.shares_memory(got["image"], got["image"].base) and got["image"].flags.writeable
    a.send_serialized(BIG, zmqpack.serialize)
    got = b.recv_serialized(zmqpack.deserialize)  # copy=True: bytes frames
    same(got, BIG)
    assert not got.flags.writeable  # it aliases a bytes frame


def test_serialize_aliases_arrays_and_frames_own_their_memory():
    frames = zmqpack.serialize({"big": BIG, "small": np.arange(3)})
    views = [f for f in frames if isinstance(f, memoryview)]
    assert len(views) == 1 and views[0].nbytes == BIG.nbytes and views[0].readonly
    assert np.shares_memory(np.frombuffer(views[0], np.uint8), BIG.view(np.uint8))
    assert all(isinstance(f, bytes) for f in zmqpack.serialize(BIG, copy=True))
    small = np.arange(3)
    assert any(np.shares_memory(np.frombuffer(f, np.uint8), small.view(np.uint8))
               for f in zmqpack.serialize({"s": small}, copy=False) if isinstance(f, memoryview))
    frames = zmqpack.serialize(BIG, codec="zlib:1")  # the compressor's output, owned
    del frames[:-1]
    same(zmqpack.deserialize(zmqpack.serialize(BIG, codec="zlib:1")), BIG)
    with pytest.raises(zmqpack.WireError, match="EFOREIGN"):
        zmqpack.deserialize([b"not", b"zmqpack"])
    with pytest.raises(TypeError, match="frames must be bytes-like"):
        zmqpack.deserialize(["text"])
    with pytest.raises(TypeError, match="Packer options"):
        zmqpack.serialize(BIG, default=str)


def test_deserialize_kinds_and_ndarray_option():
    b = np.arange(4.0)
    assert zmqpack.deserialize(zmqpack.serialize([1, "x"]), use_list=False) == (1, "x")
    same(zmqpack.deserialize(zmqpack.serialize(b)), b)
    frames = zmqpack.serialize({"a": b}, ndarray="msgpack-numpy")
    assert len(frames) == 1  # the array is inside the object, as msgpack-numpy puts it
    got = zmqpack.deserialize(frames, ndarray="msgpack-numpy")["a"]
    same(got, b)
    assert not got.flags.writeable


# -- envelopes and the request-reply patterns ---------------------------------------------

def test_req_router_reply(ctx, route):
    """REQ -> ROUTER: the server gets [identity, ""] as the envelope and
    replies with it; the REQ gets the reply."""
    req, router = tcp_pair(ctx, zmq.REQ, zmq.ROUTER)
    for name, msg in messages():
        send(req, msg)
        env, value = recv(router, msg, with_envelope=True)
        assert len(env) == 2 and env[1] == b""
        check(value, msg)
        send(router, msg, envelope=env)
        check(recv(req, msg), msg)


def test_req_broker_rep(ctx, route):
    """REQ -> ROUTER/DEALER broker (zmq.proxy, frames forwarded undecoded)
    -> REP -> back, for every kind of message."""
    front, back = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
    port = front.bind_to_random_port("tcp://127.0.0.1")
    back.bind("inproc://workers")
    req = ctx.socket(zmq.REQ)
    req.rcvtimeo = 10000
    req.connect("tcp://127.0.0.1:%d" % port)
    rep = ctx.socket(zmq.REP)
    rep.rcvtimeo = 10000
    rep.connect("inproc://workers")
    with proxy(ctx, front, back):
        for codec in (None, "zlib:1"):
            for name, msg in messages():
                send(req, msg, codec)
                env, value = recv(rep, msg, with_envelope=True)
                assert env == []  # REP strips the envelope and puts it back on the reply
                check(value, msg)
                send(rep, msg, codec)
                check(recv(req, msg), msg)
    req.close(0)
    rep.close(0)


def test_dealers_and_router_with_several_clients(ctx, route):
    router = ctx.socket(zmq.ROUTER)
    router.rcvtimeo = 10000
    port = router.bind_to_random_port("tcp://127.0.0.1")
    dealers = []
    for i in range(4):
        d = ctx.socket(zmq.DEALER)
        d.identity = b"client-%d" % i
        d.rcvtimeo = 10000
        d.connect("tcp://127.0.0.1:%d" % port)
        dealers.append(d)
    for kind in ("mixed", "array"):
        for i, d in enumerate(dealers):
            # with the zguide's empty delimiter for even clients, without for odd ones
            env = [b""] if i % 2 == 0 else None
            if kind == "mixed":
                zmqpack.send_packed(d, {"from": i, "A": np.full(3, i)}, envelope=env)
            else:
                zmqpack.send_array(d, np.full(3, i), envelope=env)
        seen = set()
        for _ in dealers:  # the ROUTER takes them in any order
            if kind == "mixed":
                env, obj = zmqpack.recv_packed(router, with_envelope=True)
                i = obj["from"]
                assert obj["A"].tolist() == [i] * 3
            else:
                env, A = zmqpack.recv_array(router, with_envelope=True)
                i = int(A[0])
            assert env == [b"client-%d" % i] + ([b""] if i % 2 == 0 else [])
            seen.add(i)
            zmqpack.send_packed(router, {"to": i, "kind": kind}, envelope=env)
        assert seen == set(range(len(dealers)))
        for i, d in enumerate(dealers):
            env, obj = zmqpack.recv_packed(d, with_envelope=True)
            assert obj == {"to": i, "kind": kind} and env == ([b""] if i % 2 == 0 else [])


def test_pub_sub_topics(ctx, route):
    """Subscribers get the topics they subscribed to, each topic whole
    (however long: it is a frame), and nothing else."""
    pub = ctx.socket(zmq.PUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    long_topic = b"sensor/" + b"x" * 10000
    subs = {}
    for prefix in (b"sensor/", b"cam", long_topic):
        s = ctx.socket(zmq.SUB)
        s.rcvtimeo = 200
        s.subscribe(prefix)
        s.connect("tcp://127.0.0.1:%d" % port)
        subs[prefix] = s
    # the slow joiner: publish until every subscriber got one (a deadline, not
    # a count of rounds: on a loaded machine the connects take a while)
    joined = set()
    deadline = time.monotonic() + 20
    while len(joined) < len(subs) and time.monotonic() < deadline:
        zmqpack.send_packed(pub, "hello", topic=long_topic)
        zmqpack.send_packed(pub, "hello", topic="cam0")
        for p, s in subs.items():
            try:
                while s.poll(5):
                    zmqpack.recv_packed(s, zmq.DONTWAIT)
                    joined.add(p)
            except zmq.Again:
                pass
    assert len(joined) == len(subs)
    for topic in (long_topic, b"cam0"):  # a last message behind the hellos still on the way
        zmqpack.send_packed(pub, "sync", topic=topic)
    for s in subs.values():
        s.rcvtimeo = 10000
        while zmqpack.recv_packed(s) != "sync":
            pass
        s.rcvtimeo = 200
    for topic, value in [(b"sensor/temp", 21.5), (long_topic, [1, 2]), (b"cam0", b"img"),
                         (b"other", 0), ("sensor/\u00e9", "utf-8 topic")]:
        zmqpack.send_packed(pub, value, topic=topic)
        tb = topic.encode() if isinstance(topic, str) else topic
        for prefix, s in subs.items():
            if tb.startswith(prefix):
                assert zmqpack.recv_packed(s, with_topic=True) == (tb, value)
    for s in subs.values():
        with pytest.raises(zmq.Again):  # nothing else came
            zmqpack.recv_packed(s)
    zmqpack.send_array(pub, BIG, topic=b"cam9", codec="zlib:1")
    topic, A = zmqpack.recv_array(subs[b"cam"], with_topic=True)
    assert topic == b"cam9"
    same(A, BIG)


def test_an_envelope_frame_that_looks_like_a_header_is_refused(ctx, route):
    """A receiver finds the header as the first frame that starts like one:
    a sender refuses an envelope frame that does (on both routes)."""
    a, b = tcp_pair(ctx)
    header = bytes(zmqpack.serialize(1)[0])[:6]
    for kw in (dict(envelope=[b"id", header]), dict(topic=header)):
        with pytest.raises(zmqpack.WireError, match="EINVAL"):
            zmqpack.send_packed(a, 1, **kw)
    zmqpack.send_packed(a, 1, envelope=[header[:5]])  # five bytes are not a header
    assert zmqpack.recv_packed(b, with_envelope=True) == ([header[:5]], 1)


# -- against C peers ---------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["mixed", "array"])
def test_python_req_to_c_router(ctx, route, mode):
    req = ctx.socket(zmq.REQ)
    req.rcvtimeo = req.sndtimeo = 10000
    port = req.bind_to_random_port("tcp://127.0.0.1")
    msgs = [m for _, m in messages() if ("A" in m) == (mode == "array")]
    args = ["-s", "router", "tcp://127.0.0.1:%d" % port, mode, "zlib:1"]
    p = run_peer(args + (["0"] if mode == "array" else []) + [str(len(msgs))])
    for msg in msgs:
        send(req, msg)
        check(recv(req, msg), msg)
    assert p.wait(10) == 0, p.stderr.read()
    req.close(0)


def test_c_req_to_python_router(ctx, route):
    router = ctx.socket(zmq.ROUTER)
    router.rcvtimeo = 10000
    port = router.bind_to_random_port("tcp://127.0.0.1")
    p = run_peer(["-s", "req", "tcp://127.0.0.1:%d" % port, "mixed", "none", "20"])
    for i in range(20):
        env, obj = zmqpack.recv_packed(router, with_envelope=True)
        assert obj == {"n": i} and len(env) == 2 and env[1] == b""
        zmqpack.send_packed(router, obj, envelope=env)
    assert p.wait(10) == 0, p.stderr.read()


def test_python_req_through_python_broker_to_c_rep(ctx, route):
    front, back = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
    port = front.bind_to_random_port("tcp://127.0.0.1")
    bport = back.bind_to_random_port("tcp://127.0.0.1")
    msgs = [m for _, m in messages() if "obj" in m]
    p = run_peer(["-s", "rep", "tcp://127.0.0.1:%d" % bport, "mixed", "auto", str(len(msgs))])
    req = ctx.socket(zmq.REQ)
    req.rcvtimeo = 10000
    req.connect("tcp://127.0.0.1:%d" % port)
    with proxy(ctx, front, back):
        for msg in msgs:
            send(req, msg)
            check(recv(req, msg), msg)
        assert p.wait(10) == 0, p.stderr.read()
    req.close(0)


# -- zmqpack.Context / Socket, zmqpack.asyncio ------------------------------------------------

def test_context_and_socket_classes(route):
    with zmqpack.Context() as ctx:
        assert isinstance(ctx, zmq.Context)
        a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
        assert isinstance(a, zmqpack.Socket) and isinstance(a, zmq.Socket)
        a.bind("inproc://classes")
        b.connect("inproc://classes")
        a.send_packed({"x": BIG}, codec="zlib:1")
        same(b.recv_packed()["x"], BIG)
        a.send_array(BIG, topic="t")
        topic, A = b.recv_array(with_topic=True)
        assert topic == b"t"
        same(A, BIG)
        out = np.empty_like(BIG)
        a.send_array(BIG)
        assert b.recv_array(out) is out
        a.close(0)
        b.close(0)


def test_asyncio_context_and_socket_classes(route):
    import zmqpack.asyncio

    async def main():
        ctx = zmqpack.asyncio.Context()
        a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
        assert isinstance(a, zmqpack.asyncio.Socket) and isinstance(a, zmq.asyncio.Socket)
        a.bind("inproc://aclasses")
        b.connect("inproc://aclasses")
        pending = asyncio.ensure_future(b.recv_packed(with_envelope=True))
        await asyncio.sleep(0.01)
        await a.send_packed({"x": BIG}, envelope=[b"e"])
        env, got = await asyncio.wait_for(pending, 5)
        assert env == [b"e"]
        same(got["x"], BIG)
        await a.send_array(BIG, codec="blosc:lz4:5:shuffle")
        same(await asyncio.wait_for(b.recv_array(), 5), BIG)
        await zmqpack.send_packed_async(a, 7)
        assert await zmqpack.recv_packed_async(b) == 7
        a.close(0)
        b.close(0)
        ctx.term()
    asyncio.run(main())
