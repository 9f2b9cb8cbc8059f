"""The socket helpers' fast path (src/sockets.c, SocketHelper): the common
shape of a call goes from C straight to the socket call, every other call to
the Python body (the helper's __wrapped__). Which calls take which route,
and that both routes give the same frames, values and errors."""
import inspect
import pickle
import pydoc

import numpy as np
import pytest
import zmq
import zmq.asyncio

import zmqpack
from helpers import sample

OBJ = {"seq": 7, "ts": 1.5, "name": "cam-1", "tags": ["a", "b"], "ok": True}
IMG = sample("<u2", (16, 24))


@pytest.fixture
def pair():
    """Two PAIR sockets over tcp, on the C route (the fast path's only one)."""
    zmqpack._sockets._setup()
    if not zmqpack._sockets._c_route:
        pytest.fail("the C route is not available here: pyzmq links another libzmq")
    ctx = zmq.Context()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    for s in (a, b):
        s.linger = 0
        s.rcvtimeo = s.sndtimeo = 10000
    b.connect("tcp://127.0.0.1:%d" % a.bind_to_random_port("tcp://127.0.0.1"))
    a.send(b"connected")  # then a DONTWAIT send finds the peer
    assert b.recv() == b"connected"
    yield a, b
    ctx.destroy(linger=0)


@pytest.fixture
def no_python_body(monkeypatch):
    """The Python bodies' one send and one receive refuse to run: a call
    that reaches them did not take the fast path."""
    def refuse(*args, **kw):
        raise AssertionError("the Python body ran")
    monkeypatch.setattr(zmqpack._sockets, "_send", refuse)
    monkeypatch.setattr(zmqpack._sockets, "_recv", refuse)


# the calls of the common shape: (helper, args after the socket, kwargs)
FAST_SENDS = [
    (zmqpack.send_packed, (OBJ,), {}),
    (zmqpack.send_packed, (OBJ, None, None, 0), {}),            # the defaults, by position
    (zmqpack.send_packed, (OBJ, None, "zlib:1"), {}),
    (zmqpack.send_packed, (OBJ,), dict(codec="blosc:lz4:5:shuffle", single=True)),
    (zmqpack.send_packed, (OBJ,), dict(flags=zmq.DONTWAIT, track=False)),
    (zmqpack.send_packed, ({"img": IMG, "n": 1},), {}),        # a mixed message
    (zmqpack.send_array, (IMG,), {}),
    (zmqpack.send_array, (IMG[:, ::2],), dict(codec="zlib:6")),  # a view, made contiguous
    (zmqpack.send_array, (IMG, None, None, zmq.DONTWAIT), dict(single=True)),
]
SLOW_SENDS = [
    (zmqpack.send_packed, (OBJ, "topic"), {}),
    (zmqpack.send_packed, (OBJ,), dict(copy=True)),
    (zmqpack.send_packed, (OBJ,), dict(envelope=[b"id", b""])),
    (zmqpack.send_packed, (OBJ,), dict(use_single_float=True)),
    (zmqpack.send_array, (IMG,), dict(recipe=True)),
    (zmqpack.send_array, ([1, 2, 3],), {}),                    # not an ndarray yet
]


def test_common_calls_skip_the_python_body(pair, no_python_body):
    a, b = pair
    for helper, args, kw in FAST_SENDS:
        helper(a, *args, **kw)
    tracker = zmqpack.send_packed(a, {"img": sample("<f4", (300, 300))}, track=True)
    assert isinstance(tracker, zmqpack.Tracker)
    got = [zmqpack.recv_packed(b), zmqpack.recv_packed(b, 0), zmqpack.recv_packed(b, flags=0),
           zmqpack.recv_packed(b, zmq.DONTWAIT)]
    assert got == [OBJ] * 4
    assert zmqpack.recv_packed(b)["tags"] == ["a", "b"]
    mixed = zmqpack.recv_packed(b)
    np.testing.assert_array_equal(mixed["img"], IMG)
    np.testing.assert_array_equal(zmqpack.recv_array(b), IMG)
    np.testing.assert_array_equal(zmqpack.recv_array(b, None, 0), IMG[:, ::2])
    np.testing.assert_array_equal(zmqpack.recv_array(b, flags=zmq.DONTWAIT), IMG)
    assert zmqpack.recv_packed(b)["img"].shape == (300, 300)
    tracker.wait(10)  # raises zmq.NotDone if libzmq kept the array
    assert tracker.done


def test_zmqpack_socket_methods_are_the_helpers(no_python_body):
    ctx = zmqpack.Context()
    try:
        a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
        b.connect("tcp://127.0.0.1:%d" % a.bind_to_random_port("tcp://127.0.0.1"))
        a.send_packed(OBJ)
        a.send_array(IMG, codec="zlib:1")
        assert b.recv_packed() == OBJ
        np.testing.assert_array_equal(b.recv_array(), IMG)
        with pytest.raises(AssertionError, match="the Python body ran"):
            a.send_packed(OBJ, topic="t")
    finally:
        ctx.destroy(linger=0)


def test_other_calls_take_the_python_body(pair, no_python_body):
    a, b = pair
    for helper, args, kw in SLOW_SENDS:
        with pytest.raises(AssertionError, match="the Python body ran"):
            helper(a, *args, **kw)
    for kw in (dict(with_topic=True), dict(with_envelope=True), dict(raw=True)):
        with pytest.raises(AssertionError, match="the Python body ran"):
            zmqpack.recv_packed(b, **kw)
    for args, kw in (((np.zeros(3),), {}), ((), dict(with_meta=True))):
        with pytest.raises(AssertionError, match="the Python body ran"):
            zmqpack.recv_array(b, *args, **kw)
    # flags the fast path does not know: the body says what is wrong
    with pytest.raises(ValueError, match="flags takes zmq.DONTWAIT"):
        zmqpack.recv_packed(b, 2)
    # a socket type that is not a plain one: a subclass, an asyncio socket
    class Mine(zmq.Socket):
        pass
    ctx, actx = zmq.Context(), zmq.asyncio.Context()
    try:
        for sock in (Mine(ctx, zmq.PAIR), actx.socket(zmq.PAIR)):
            with pytest.raises(AssertionError, match="the Python body ran"):
                zmqpack.send_packed(sock, OBJ)
            sock.close(0)
    finally:
        ctx.term()
        actx.term()


def wire(a, b, call):
    call(a)
    return b.recv_multipart()


@pytest.mark.parametrize("n", range(len(FAST_SENDS)))
def test_both_send_routes_put_the_same_frames_on_the_wire(pair, n):
    a, b = pair
    helper, args, kw = FAST_SENDS[n]
    fast = wire(a, b, lambda s: helper(s, *args, **kw))
    body = wire(a, b, lambda s: helper.__wrapped__(s, *args, **kw))
    assert fast == body


def test_both_receive_routes_give_the_same_values(pair):
    a, b = pair
    messages = [zmqpack.serialize(OBJ), zmqpack.serialize({"img": IMG, "t": "x"}),
                zmqpack.serialize(OBJ, codec="zlib:1")]
    for frames in messages:
        got = []
        for recv in (zmqpack.recv_packed, zmqpack.recv_packed.__wrapped__):
            a.send_multipart(frames)
            got.append(recv(b))
        if "img" in got[0]:
            np.testing.assert_array_equal(got[0].pop("img"), got[1].pop("img"))
            assert got[0] == got[1]
        else:
            assert got[0] == got[1] and type(got[0]["tags"]) is type(got[1]["tags"]) is list
    for recv in (zmqpack.recv_array, zmqpack.recv_array.__wrapped__):
        a.send_multipart(zmqpack.serialize(IMG))
        A = recv(b)
        np.testing.assert_array_equal(A, IMG)
        assert A.flags.writeable


def outcome(call):
    try:
        return ("returned", call())
    except Exception as e:  # the type and the text are what is compared
        return (type(e), str(e))


def test_both_routes_fail_alike(pair):
    a, b = pair
    sends = [
        lambda h, s: h(s, OBJ, codec="nope"),
        lambda h, s: h(s, OBJ, codec=6),
        lambda h, s: h(s, OBJ, codec=b"zlib"),
        lambda h, s: h(s, {"x": object()}),
        lambda h, s: h(s, OBJ, None, None, 2),
    ]
    for call in sends:
        fast = outcome(lambda: call(zmqpack.send_packed, a))
        body = outcome(lambda: call(zmqpack.send_packed.__wrapped__, a))
        assert fast == body and fast[0] != "returned", (fast, body)
    arr = outcome(lambda: zmqpack.send_array(a, np.array([object()])))
    assert arr == outcome(lambda: zmqpack.send_array.__wrapped__(a, np.array([object()])))
    assert arr[0] is zmqpack.WireError and "object arrays cannot be carried" in arr[1]
    # nothing waiting; a message that is not zmqpack's; an ndarray asked of a packed one
    for frames in (None, [b"plain bytes"], zmqpack.serialize(OBJ)):
        got = []
        for recv in (zmqpack.recv_array, zmqpack.recv_array.__wrapped__):
            if frames is not None:
                a.send_multipart(frames)
            got.append(outcome(lambda: recv(b, flags=zmq.DONTWAIT) if frames is None
                               else recv(b)))
        assert got[0] == got[1] and got[0][0] != "returned", got
    # a packed message asked of an ndarray one
    got = []
    for recv in (zmqpack.recv_packed, zmqpack.recv_packed.__wrapped__):
        a.send_multipart(zmqpack.serialize(IMG))
        got.append(outcome(lambda: recv(b)))
    assert got[0] == got[1] and got[0][0] is zmqpack.WireError, got
    # a strict_map_key refusal reads as unpackb's on both
    got = []
    for recv in (zmqpack.recv_packed, zmqpack.recv_packed.__wrapped__):
        a.send_multipart(zmqpack.serialize({1: "x"}))
        got.append(outcome(lambda: recv(b)))
    assert got[0] == got[1] == outcome(lambda: zmqpack.unpackb(zmqpack.packb({1: "x"})))
    # a closed socket
    b.close()
    assert (outcome(lambda: zmqpack.recv_packed(b)) ==
            outcome(lambda: zmqpack.recv_packed.__wrapped__(b)) ==
            (ValueError, "socket is closed"))


def test_the_route_switch_turns_the_fast_path_off(pair, monkeypatch):
    """Off the C route (what a pyzmq with its own libzmq gets) every call
    goes through the body and pyzmq's frames."""
    a, b = pair
    monkeypatch.setattr(zmqpack._sockets, "_c_route", False)
    calls = []
    real = zmqpack._core._serialize
    monkeypatch.setattr(zmqpack._core, "_serialize",
                        lambda *args: calls.append(1) or real(*args))
    zmqpack.send_packed(a, OBJ)
    assert calls == [1] and zmqpack.recv_packed(b) == OBJ


def test_helpers_read_as_functions():
    for name in ("send_packed", "recv_packed", "send_array", "recv_array"):
        helper = getattr(zmqpack, name)
        body = helper.__wrapped__
        assert inspect.isfunction(body) and body.__name__ == helper.__name__ == name
        assert helper.__doc__ == body.__doc__ and helper.__module__ == "zmqpack._sockets"
        assert inspect.signature(helper) == inspect.signature(body)
        assert repr(helper) == "<socket helper zmqpack.%s>" % name
        assert pickle.loads(pickle.dumps(helper)) is helper
        doc = pydoc.render_doc(helper, renderer=pydoc.plaintext)
        assert name + str(inspect.signature(body)) in doc
        assert body.__doc__.splitlines()[0] in doc

        class Holder:  # a class attribute binds, as a function does
            f = helper
        assert Holder.f is helper and Holder().f.__func__ is helper
        assert getattr(zmqpack.Socket, name) is helper
    with pytest.raises(TypeError):
        zmqpack._core.SocketHelper(0, print, extra=1)
    with pytest.raises(ValueError):
        zmqpack._core.SocketHelper(99, print)
