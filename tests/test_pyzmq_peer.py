"""A real pyzmq peer (Debian python3-zmq + numpy) talks to the C library with
pyzmq's documented recipe, in both directions, over tcp."""
import os
import subprocess
import sys

import numpy as np
import pytest
import zmq

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs"))
import protocol_reference as ref  # noqa: E402

DRIVER = os.environ.get("ZPK_SOCK_DRIVER")
pytestmark = pytest.mark.skipif(not DRIVER, reason="ZPK_SOCK_DRIVER not set")


def send_array(socket, A, flags=0, copy=True, track=False):
    """pyzmq's recipe, verbatim from its documentation."""
    md = dict(dtype=str(A.dtype), shape=A.shape)
    socket.send_json(md, flags | zmq.SNDMORE)
    return socket.send(A, flags, copy=copy, track=track)


def recv_array(socket, flags=0, copy=True, track=False):
    md = socket.recv_json(flags=flags)
    msg = socket.recv(flags=flags, copy=copy, track=track)
    buf = memoryview(msg)
    A = np.frombuffer(buf, dtype=md["dtype"])
    return A.reshape(md["shape"])


def test_c_receives_the_pyzmq_recipe():
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.PUSH)
    s.linger = 5000
    s.sndtimeo = 10000
    s.bind("tcp://127.0.0.1:*")
    ep = s.getsockopt_string(zmq.LAST_ENDPOINT)
    p = subprocess.Popen([DRIVER, "recv", ep, "5"], stdout=subprocess.PIPE, text=True)
    arrays = [
        np.arange(12, dtype=np.float64).reshape(3, 4),
        np.arange(1 << 20, dtype=np.int32),
        np.arange(6, dtype=np.uint8).reshape(1, 2, 3),
    ]
    for A in arrays:
        send_array(s, A, copy=False)
    # with a topic frame first, as a PUB would
    s.send(b"topic", zmq.SNDMORE)
    send_array(s, np.array([1.5, 2.5], dtype=np.float32))
    # a recipe that lies about its size is refused, the socket stays in sync
    s.send_json(dict(dtype="float64", shape=(100,)), zmq.SNDMORE)
    s.send(b"x" * 8)
    out, _ = p.communicate(timeout=30)
    s.close()
    assert p.returncode == 0
    lines = out.splitlines()
    assert lines[0] == "- <f8 3,4 C 66.0"
    assert lines[1] == "- <i4 %d C %.1f" % (1 << 20, float(np.arange(1 << 20).sum()))
    assert lines[2] == "- |u1 1,2,3 C 15.0"
    assert lines[3] == "topic <f4 2 C 4.0"
    assert lines[4] == "error ESHAPE"


def test_c_sends_the_pyzmq_recipe():
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.PULL)
    s.linger = 0
    s.rcvtimeo = 10000
    s.bind("tcp://127.0.0.1:*")
    ep = s.getsockopt_string(zmq.LAST_ENDPOINT)
    p = subprocess.Popen([DRIVER, "send-recipe", ep])
    A = recv_array(s, copy=False)
    assert A.dtype == np.float32 and A.shape == (2, 3)
    assert np.array_equal(A, np.arange(1, 7, dtype=np.float32).reshape(2, 3))
    assert s.recv() == b"t"  # the topic frame, then the recipe
    B = recv_array(s)
    assert np.array_equal(B, np.arange(100000, dtype=np.int64) * 3)
    assert p.wait(timeout=30) == 0
    s.close()


def test_pyzmq_req_and_dealer_to_a_c_router():
    """pyzmq REQ and DEALER clients (frames made with msgpack from docs/PROTOCOL.md)
    and a C ROUTER that answers with the envelope it received: each reply comes
    back to its own client, behind the envelope the client's socket expects
    (read with the reference decoder)."""
    import msgpack
    p = subprocess.Popen([DRIVER, "router", "tcp://127.0.0.1:*", "4"], stdout=subprocess.PIPE,
                         text=True)
    ep = p.stdout.readline().strip()
    ctx = zmq.Context.instance()
    req = ctx.socket(zmq.REQ)
    dealer = ctx.socket(zmq.DEALER)
    for s in (req, dealer):
        s.linger = 0
        s.rcvtimeo = 10000
        s.connect(ep)
    header = msgpack.packb({"zpk": 1, "kind": "obj", "frames": 1})
    try:
        for i in range(2):
            req.send_multipart([header, msgpack.packb({"from": "req", "i": i})])
            env, got = ref.decode(req.recv_multipart())
            assert env == []  # REQ strips [identity, ""]
            assert got == {"seq": 2 * i, "envelope": 2, "got": {"from": "req", "i": i}}
            # a DEALER with the zguide's empty delimiter, then without
            mine = [b""] if i == 0 else []
            dealer.send_multipart(mine + [header, msgpack.packb({"from": "dealer", "i": i})])
            env, got = ref.decode(dealer.recv_multipart())
            assert env == mine
            assert got == {"seq": 2 * i + 1, "envelope": 1 + len(mine),
                           "got": {"from": "dealer", "i": i}}
    finally:
        req.close()
        dealer.close()
        assert p.wait(timeout=30) == 0
