"""Socket helpers: round trips, C<->Python interop through a separate C
process (tests/peer.c), the pyzmq recipe both ways, zero-copy, trackers,
hostile messages, Ctrl-C, asyncio."""
import asyncio
import os
import signal
import threading

import numpy as np
import pytest
import zmq
import zmq.asyncio

import zmqpack
from helpers import CODECS, DTYPES, run_peer, same, sample


@pytest.fixture
def pair(route):
    ctx = zmq.Context()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    a.linger = b.linger = 0
    b.rcvtimeo = a.sndtimeo = 5000
    a.bind("inproc://zpk-test")
    b.connect("inproc://zpk-test")
    yield a, b
    a.close()
    b.close()
    ctx.term()


# -- Python <-> Python ----------------------------------------------------------

@pytest.mark.parametrize("codec", CODECS)
def test_every_dtype_and_layout(pair, codec):
    a, b = pair
    for dt in DTYPES:
        base = sample(dt, (6, 40))
        for arr in (base, np.asfortranarray(base), base[:, ::3], base[2], base[0, 0],
                    base[:0], np.array(base[1, 1])):
            zmqpack.send_array(a, arr, codec=codec)
            got = zmqpack.recv_array(b)
            same(got, arr)
            assert got.flags.writeable
            if arr.flags.f_contiguous and not arr.flags.c_contiguous:
                assert got.flags.f_contiguous


def test_topic_and_recv_into(pair):
    a, b = pair
    arr = sample("<f4", (64, 64))
    zmqpack.send_array(a, arr, topic="cam1", codec="zlib:6")
    topic, got = zmqpack.recv_array(b, with_topic=True)
    assert topic == b"cam1"
    same(got, arr)
    out = np.empty_like(arr)
    zmqpack.send_array(a, arr, codec="blosc")
    assert zmqpack.recv_array(b, out=out) is out
    same(out, arr)
    # out is never reinterpreted: another dtype or shape leaves it untouched
    for wrong in (np.full(10, 7.0, np.float32), np.full((64, 64), 7.0),
                  np.full((32, 128), 7.0, np.float32)):
        before = wrong.copy()
        zmqpack.send_array(a, arr, codec="zlib:1")
        with pytest.raises(ValueError, match="out is left untouched") as e:
            zmqpack.recv_array(b, out=wrong)
        assert "float32 array of shape (64, 64)" in str(e.value)
        assert wrong.tobytes() == before.tobytes()
    # the case: float32 [1, 2, 3] into a float64 buffer
    f8 = np.full(3, 7.0)
    zmqpack.send_array(a, np.array([1, 2, 3], np.float32))
    with pytest.raises(ValueError):
        zmqpack.recv_array(b, out=f8)
    assert f8.tolist() == [7.0, 7.0, 7.0]
    # another byte order of the same dtype converts; F-order input fills a C-order out
    big = np.arange(6, dtype=">f4").reshape(2, 3)
    out = np.empty((2, 3), "<f4")
    zmqpack.send_array(a, np.asfortranarray(big))
    assert zmqpack.recv_array(b, out=out) is out
    assert out.tolist() == big.tolist()
    with pytest.raises(ValueError, match="read-only"):
        zmqpack.recv_array(b, out=np.zeros(3)[::-1].copy().view().setflags(write=False) or
                           np.frombuffer(b"\0" * 24))
    with pytest.raises(TypeError, match="out must be a numpy.ndarray"):
        zmqpack.recv_array(b, out=bytearray(24))
    zmqpack.send_packed(a, "next")  # nothing was taken off by the refused calls
    assert zmqpack.recv_packed(b) == "next"


def test_packed_and_mixed(pair):
    a, b = pair
    img = sample("<u2", (480, 640))
    obj = {"ts": zmqpack.Timestamp(5, 6), "image": img, "mask": img > 100,
           "meta": [1, "two", {"three": np.arange(3.0)}], "raw": b"\x00\x01"}
    for codec in CODECS:
        zmqpack.send_packed(a, obj, topic=b"t", codec=codec)
        topic, got = zmqpack.recv_packed(b, with_topic=True)
        assert topic == b"t"
        assert got["ts"] == obj["ts"] and got["raw"] == obj["raw"]
        same(got["image"], img)
        same(got["mask"], obj["mask"])
        same(got["meta"][2]["three"], np.arange(3.0))
    zmqpack.send_packed(a, {"x": [1, 2]}, single=True)
    assert zmqpack.recv_packed(b, use_list=False) == {"x": (1, 2)}


def test_recipe_both_ways(pair):
    a, b = pair
    arr = sample("int32", (5, 6))
    # pyzmq's recipe in, zmqpack out
    a.send_json(dict(dtype=str(arr.dtype), shape=arr.shape), zmq.SNDMORE)
    a.send(arr)
    same(zmqpack.recv_array(b), arr)
    # zmqpack's recipe out, pyzmq's recipe in
    zmqpack.send_array(a, arr, recipe=True)
    md = b.recv_json()
    buf = b.recv()
    same(np.frombuffer(buf, dtype=md["dtype"]).reshape(md["shape"]), arr)


def test_zero_copy_inproc_and_tracker(pair):
    a, b = pair
    arr = sample("<f8", (512, 512))
    t = zmqpack.send_array(a, arr, copy=False, track=True)
    got = zmqpack.recv_array(b)
    assert got.ctypes.data == arr.ctypes.data  # the very memory that was sent
    assert got.flags.writeable
    assert not t.done  # the receiver still holds the message
    with pytest.raises(zmq.NotDone):  # as pyzmq's MessageTracker.wait()
        t.wait(0.01)
    del got
    assert t.wait(5) is None and t.done
    t = zmqpack.send_array(a, arr, copy=True, track=True)
    assert t.done  # copied: nothing held
    got = zmqpack.recv_array(b)
    assert got.ctypes.data != arr.ctypes.data
    # mixed: arrays above the threshold zero-copy too
    t = zmqpack.send_packed(a, {"a": arr, "b": [arr[:1]]}, track=True)
    got = zmqpack.recv_packed(b)
    assert got["a"].ctypes.data == arr.ctypes.data
    del got
    t.wait(5)
    assert t.done


def test_received_array_keeps_message_alive(pair):
    a, b = pair
    arr = sample("<i4", (1000,))
    zmqpack.send_array(a, arr, copy=False)
    got = zmqpack.recv_array(b)
    view = got[10:20]
    del got
    zmqpack.collect()
    np.testing.assert_array_equal(view, arr[10:20])
    view[:] = 0  # writable, owned by the message


def test_hostile_messages_keep_sync(pair):
    a, b = pair
    bad = [[b"garbage"], [b""], [b"\x81\xa3zpk\x01"], [b"\x81\xa3zpk\xc1", b"x"],
           [b"\x84\xa3zpk\x01\xa1v\x63\xa1k\xa1a\xa1x\x00", b"p"],
           [b'{"dtype": "float64", "shape": [1000000000]}', b"12345678"],
           [b'{"dtype": "object", "shape": [1]}', b"12345678"]]
    for frames in bad:
        a.send_multipart(frames)
        with pytest.raises((zmqpack.WireError, MemoryError)):
            zmqpack.recv_packed(b) if frames[0][:1] != b"{" else zmqpack.recv_array(b)
        zmqpack.send_packed(a, {"ok": len(frames)})
        assert zmqpack.recv_packed(b) == {"ok": len(frames)}
    a.send_multipart([b"\x81\xa3zpk\x01"])
    with pytest.raises(zmqpack.WireError):
        zmqpack.recv_array(b)


def outcome(fn):
    try:
        return "value", fn()
    except Exception as e:  # noqa: BLE001
        return type(e), str(e)


BAD_PAYLOADS = [b"\xc1" + b"x" * 9, b"\xa9short", b"\x01" + b"\x02" * 5, b"\x81\x01\x02",
                b"\x81\xa1k\xa3\xff\xfe\xfd", b"\x91" * 1100, b"\x92\x01", b"\xd6\xff\x00\x00"]


@pytest.mark.parametrize("bad", BAD_PAYLOADS)
def test_a_payload_that_does_not_decode_fails_as_unpackb(pair, bad):
    """Behind a good header, the object's bytes are decoded as unpackb()
    decodes them: the same exception, the same text (the strict_map_key
    refusal, ExtraData, FormatError...), and the socket stays in sync."""
    a, b = pair
    obj = b"\0" * (len(bad) - 2 if len(bad) < 258 else len(bad) - 3)
    assert len(zmqpack.packb(obj)) == len(bad)
    frames = [bytes(f) for f in zmqpack.serialize(obj)]
    frames[-1] = frames[-1][:-len(bad)] + bad  # the object's bytes end the message
    for kw in ({}, {"raw": True}, {"strict_map_key": False}):
        a.send_multipart(frames)
        got = outcome(lambda: zmqpack.recv_packed(b, **kw))
        assert got == outcome(lambda: zmqpack.unpackb(bad, **kw))
        zmqpack.send_packed(a, {"ok": 1})
        assert zmqpack.recv_packed(b) == {"ok": 1}
        assert outcome(lambda: zmqpack.deserialize(frames, **kw)) == got
    assert outcome(lambda: zmqpack.unpackb(bad))[0] != "value"


def test_wrong_arguments_fail_before_anything_is_sent(pair):
    a, b = pair
    A = np.zeros(3)
    cases = [
        (lambda: zmqpack.send_packed(None, 1), TypeError, "sock must be a pyzmq socket"),
        (lambda: zmqpack.send_array(None, A), TypeError, "sock must be a pyzmq socket"),
        (lambda: zmqpack.recv_packed("tcp://x"), TypeError, "sock must be a pyzmq socket"),
        (lambda: zmqpack.send_array(a, A, codec=b"zlib"), TypeError, "codec must be a str"),
        (lambda: zmqpack.send_packed(a, 1, codec=6), TypeError, "codec must be a str"),
        (lambda: zmqpack.send_array(a, A, codec="nosuchcodec"), ValueError, "codec: unknown codec"),
        (lambda: zmqpack.send_array(a, A, recipe=True, codec="zlib"), ValueError, "recipe=True"),
        (lambda: zmqpack.send_packed(a, 1, topic=3), TypeError, "topic must be str or bytes"),
        (lambda: zmqpack.send_packed(a, 1, topic="t", envelope=[b""]), ValueError, "not both"),
        (lambda: zmqpack.send_packed(a, 1, envelope=b"id"), TypeError, "envelope must be a list"),
        (lambda: zmqpack.send_packed(a, 1, envelope=["id"]), TypeError,
         "envelope frames must be bytes"),
        (lambda: zmqpack.send_packed(a, 1, copy="yes"), TypeError,
         "copy must be True, False or None"),
        (lambda: zmqpack.send_packed(a, 1, flags=zmq.SNDMORE), ValueError,
         "flags takes zmq.DONTWAIT"),
        (lambda: zmqpack.send_packed(a, {1}), TypeError, "can not serialize 'set' object"),
        (lambda: zmqpack.send_packed(a, 1, bogus=1), TypeError, "bogus"),
        (lambda: zmqpack.send_packed_async(a, 1), TypeError, "synchronous zmq.Socket"),
        (lambda: zmqpack.recv_packed_async(b), TypeError, "synchronous zmq.Socket"),
        (lambda: zmqpack.recv_packed(b, bogus=1), TypeError, "bogus"),
        (lambda: zmqpack.recv_packed(b, with_topic=True, with_envelope=True), ValueError,
         "ask for one"),
        (lambda: zmqpack.recv_packed(b, ndarray="nope"), ValueError, "ndarray must be None"),
        (lambda: zmqpack.send_array(a, np.array(["a", "b"])), ValueError, "EDTYPE"),
    ]
    for call, exc, text in cases:
        with pytest.raises(exc, match=text):
            call()
        # a refused send leaves the module's message packer free for the next one
        assert not zmqpack._core._msg_packer_busy()
    with pytest.raises(zmq.Again):  # nothing was sent by any of them
        zmqpack.recv_packed(b, zmq.DONTWAIT)
    b.rcvtimeo = 50
    with pytest.raises(zmq.Again):
        zmqpack.recv_array(b)


def test_a_terminated_context_raises_pyzmqs_exception(route):
    ctx = zmq.Context()
    s = ctx.socket(zmq.PULL)
    s.bind("inproc://eterm")
    t = threading.Timer(0.2, ctx.term)
    t.start()
    with pytest.raises(zmq.ContextTerminated):
        zmqpack.recv_packed(s)
    s.close(0)
    t.join()


def test_ctrl_c_interrupts_blocking_recv(pair):
    a, b = pair
    b.rcvtimeo = 10000
    ran = []

    def other():
        ran.append(1)  # runs while the main thread blocks: the GIL is free
        os.kill(os.getpid(), signal.SIGINT)
    t = threading.Timer(0.2, other)
    t.start()
    with pytest.raises(KeyboardInterrupt):
        zmqpack.recv_packed(b)
    t.join()
    assert ran == [1]
    zmqpack.send_packed(a, 1)
    assert zmqpack.recv_packed(b) == 1


# -- C <-> Python across processes ------------------------------------------------

@pytest.fixture
def tcp(route):
    ctx = zmq.Context()
    s = ctx.socket(zmq.PAIR)
    s.linger = 0
    s.rcvtimeo = s.sndtimeo = 10000
    port = s.bind_to_random_port("tcp://127.0.0.1")
    yield s, "tcp://127.0.0.1:%d" % port
    s.close()
    ctx.term()


@pytest.mark.parametrize("codec", ["none", "zlib:1", "blosc:lz4:5:shuffle", "auto"])
def test_c_echo_arrays(tcp, codec):
    s, ep = tcp
    arrays = []
    for i, dt in enumerate(DTYPES):
        base = sample(dt, (9, 70), seed=i)
        arrays += [base, np.asfortranarray(base), base[::2, 1::3], np.array(base[0, 0])]
    p = run_peer([ep, "array", codec, "0", str(len(arrays))])
    for arr in arrays:
        zmqpack.send_array(s, arr, codec=None if codec == "none" else codec)
        same(zmqpack.recv_array(s), arr)
    assert p.wait(10) == 0, p.stderr.read()


def test_c_echo_recipe(tcp):
    s, ep = tcp
    arrays = [sample(dt, (4, 5), seed=3) for dt in ("float64", "int16", "uint8", "complex64")]
    p = run_peer([ep, "array", "none", "1", str(2 * len(arrays))])
    for arr in arrays:
        # recipe from pyzmq into C, recipe from C back into pyzmq
        s.send_json(dict(dtype=str(arr.dtype), shape=arr.shape), zmq.SNDMORE)
        s.send(arr)
        md = s.recv_json()
        same(np.frombuffer(s.recv(), dtype=md["dtype"]).reshape(md["shape"]), arr)
        # zmqpack's recipe into C, C's recipe into zmqpack
        zmqpack.send_array(s, arr, recipe=True)
        same(zmqpack.recv_array(s), arr)
    assert p.wait(10) == 0, p.stderr.read()


@pytest.mark.parametrize("codec", ["none", "zlib:1", "blosc"])
def test_c_echo_mixed_and_packed(tcp, codec):
    s, ep = tcp
    msgs = [{"n": i, "a": sample("<f4", (16, 16 + i), seed=i), "l": [sample(">i8", (i,)), "x"]}
            for i in range(5)]
    msgs += [{"plain": [1, 2.5, "three", b"four", None, True]}, "just a string",
             list(range(100000))]
    p = run_peer([ep, "mixed", codec, str(len(msgs))])
    for m in msgs:
        zmqpack.send_packed(s, m, codec=None if codec == "none" else codec)
        got = zmqpack.recv_packed(s)
        if isinstance(m, dict) and "a" in m:
            assert got["n"] == m["n"] and got["l"][1] == "x"
            same(got["a"], m["a"])
            same(got["l"][0], m["l"][0])
        else:
            assert got == m
    assert p.wait(10) == 0, p.stderr.read()


# -- asyncio ----------------------------------------------------------------------

def test_asyncio_sockets(route):
    async def main():
        ctx = zmq.asyncio.Context()
        a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
        a.linger = b.linger = 0
        a.bind("inproc://zpk-async")
        b.connect("inproc://zpk-async")
        arr = sample("<f8", (100, 100))
        pending = asyncio.ensure_future(zmqpack.recv_packed(b))
        await asyncio.sleep(0.01)
        await zmqpack.send_packed(a, {"img": arr, "k": 1})
        got = await asyncio.wait_for(pending, 5)
        same(got["img"], arr)
        await zmqpack.send_array(a, arr, codec="zlib")
        same(await asyncio.wait_for(zmqpack.recv_array(b), 5), arr)
        with pytest.raises(zmq.Again):
            await zmqpack.recv_packed(b, zmq.DONTWAIT)
        a.close()
        b.close()
        ctx.term()
    asyncio.run(main())
