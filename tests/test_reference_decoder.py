"""The reference decoder (docs/protocol_reference.py) reads what the C library
sends over a real tcp socket: every kind, codec, order, single-frame mode."""
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


def receive(n, *args):
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.PULL)
    s.linger = 0
    s.rcvtimeo = 10000
    s.bind("tcp://127.0.0.1:*")
    ep = s.getsockopt_string(zmq.LAST_ENDPOINT)
    p = subprocess.Popen([DRIVER, *args, ep])
    try:
        msgs = [s.recv_multipart() for _ in range(n)]
    finally:
        assert p.wait(timeout=30) == 0
        s.close()
    return msgs


def test_reference_decoder_reads_c_output():
    msgs = receive(11, "send")
    out = [ref.decode(m) for m in msgs]

    assert out[0] == ([b"t1"], {"id": 1, "name": "zpk", "vals": [1.5, -2.0]})
    assert out[1] == ([], [i * 7 for i in range(20000)])
    envelope, a = out[2]
    assert envelope == [b"cam"] and a.dtype == np.float64
    assert np.array_equal(a, np.arange(12.0).reshape(3, 4))
    _, f = out[3]
    assert f.flags.f_contiguous and np.array_equal(f, np.arange(12.0).reshape((3, 4), order="F"))
    _, i16 = out[4]
    assert i16.dtype == np.int16 and np.array_equal(i16, np.arange(100000) % 1000)
    _, f4 = out[5]
    assert f4.dtype == np.float32 and np.array_equal(f4, np.arange(50000, dtype=np.float32))
    _, mixed = out[6]
    assert mixed["ts"] == 12.5
    assert mixed["image"].shape == (250, 400)
    assert np.array_equal(mixed["image"].ravel(), (np.arange(100000) * 31).astype(np.uint16))
    assert mixed["mask"].dtype == np.bool_ and np.array_equal(mixed["mask"], np.arange(300) % 2 == 1)
    _, single = out[7]
    assert np.array_equal(single, np.arange(1000, dtype=np.int32) + 3000)
    assert len(msgs[7]) == 1
    assert out[8] == ([], {"id": 9}) and len(msgs[8]) == 1
    _, empty = out[9]
    assert empty.shape == (0, 5) and empty.dtype == np.int32
    _, sm = out[10]
    assert np.array_equal(sm["a"], np.arange(300) % 2 == 1) and sm["b"] is sm["a"]


def test_headers_are_recognisable():
    msgs = receive(11, "send")
    for m in msgs:
        hdr = m[1] if m[0] in (b"t1", b"cam") else m[0]
        assert ref.is_header(hdr)
        assert not ref.is_header(m[0]) or m[0] not in (b"t1", b"cam")


def test_reference_decoder_refuses_foreign_and_newer():
    with pytest.raises(ValueError):
        ref.decode([b"hello", b"world", b"!"])
    import msgpack
    newer = msgpack.packb({"zpk": 2, "kind": "obj", "frames": 1})
    with pytest.raises(ValueError):
        ref.decode([newer, msgpack.packb(1)])
