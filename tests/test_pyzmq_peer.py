"""A real pyzmq peer (Debian python3-zmq + numpy) talks to the C library with
pyzmq's documented recipe, in both directions, over tcp."""
import os
import subprocess

import numpy as np
import pytest
import zmq

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
