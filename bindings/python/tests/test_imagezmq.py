"""imagezmq's messages (issue 18 item 1): recv_array(with_meta=True) and
send_array(recipe=True, meta=...) against an imagezmq sender and hub written
from its format (tests/peers/imagezmq.py), over REQ/REP and PUB/SUB, on both
routes of the socket helpers."""
import json
import pathlib
import sys
import threading

import numpy as np
import pytest
import zmq

import zmqpack
from helpers import same

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "tests"))
from peers import imagezmq  # noqa: E402

IMAGES = [imagezmq.sample_image(i) for i in range(3)] + [
    np.arange(12, dtype=np.float32).reshape(3, 4), np.zeros((0, 5), np.uint16)]


def test_a_zmqpack_hub_for_imagezmq_senders(route):
    hub = zmq.Context.instance().socket(zmq.REP)
    hub.rcvtimeo = 10000
    hub.bind("tcp://127.0.0.1:*")
    got = []

    def camera():
        with imagezmq.ImageSender(hub.getsockopt_string(zmq.LAST_ENDPOINT)) as snd:
            for i, img in enumerate(IMAGES):
                got.append(snd.send_image("cam%d" % i, img))
    t = threading.Thread(target=camera)
    t.start()
    for i, img in enumerate(IMAGES):
        meta, A = zmqpack.recv_array(hub, with_meta=True)
        assert meta == {"msg": "cam%d" % i}
        same(A, img)
        hub.send(b"OK")
    t.join()
    assert got == [b"OK"] * len(IMAGES)
    hub.close(0)


def test_a_zmqpack_sender_for_imagezmq_hubs(route):
    with imagezmq.ImageHub("tcp://127.0.0.1:*") as hub:
        req = zmq.Context.instance().socket(zmq.REQ)
        req.rcvtimeo = 10000
        req.connect(hub.endpoint)
        for i, img in enumerate(IMAGES):
            zmqpack.send_array(req, img, recipe=True, meta={"msg": "cam%d" % i})
            msg, A = hub.recv_image()
            assert msg == "cam%d" % i
            same(A, img)
            hub.send_reply(b"OK")
            assert req.recv() == b"OK"
        req.close(0)


def test_imagezmq_over_pub_sub_with_topics_and_envelopes(route):
    ctx = zmq.Context.instance()
    pub, sub = ctx.socket(zmq.PUB), ctx.socket(zmq.SUB)
    sub.subscribe(b"")
    sub.rcvtimeo = 10000
    port = sub.bind_to_random_port("tcp://127.0.0.1")
    pub.connect("tcp://127.0.0.1:%d" % port)
    while True:  # the slow joiner
        imagezmq.send_array(pub, IMAGES[0], "join")
        if sub.poll(100):
            zmqpack.recv_array(sub)
            break
    while sub.poll(200):
        sub.recv_multipart()
    zmqpack.send_array(pub, IMAGES[1], recipe=True, meta={"msg": "cam1", "n": 5}, topic="t")
    topic, meta, A = zmqpack.recv_array(sub, with_topic=True, with_meta=True)
    assert (topic, meta) == (b"t", {"msg": "cam1", "n": 5})
    same(A, IMAGES[1])
    zmqpack.send_array(pub, IMAGES[2])  # a zmqpack message: no meta
    assert zmqpack.recv_array(sub, with_meta=True)[0] == {}
    pub.close(0)
    sub.close(0)


def test_meta_arguments_are_checked(route):
    s = zmq.Context.instance().socket(zmq.PUSH)
    s.sndtimeo = 0  # a send that was not refused fails with zmq.Again instead of waiting
    A = IMAGES[0]
    for kw, exc, text in [(dict(meta={"msg": "x"}), ValueError, "give recipe=True"),
                          (dict(recipe=True, meta=["msg"]), TypeError, "meta must be a dict"),
                          (dict(recipe=True, meta={"dtype": "x"}), ValueError, "cannot set dtype"),
                          (dict(recipe=True, meta={"msg": object()}), TypeError, "JSON values")]:
        with pytest.raises(exc, match=text):
            zmqpack.send_array(s, A, **kw)
    s.close(0)


def test_the_header_is_the_one_imagezmq_writes(route):
    """Byte for byte: send_array(recipe=True, meta=...) and imagezmq's
    send_array (pyzmq's send_json) make the same two frames."""
    ctx = zmq.Context.instance()
    pull = ctx.socket(zmq.PULL)
    pull.rcvtimeo = 10000
    push = ctx.socket(zmq.PUSH)
    push.connect("tcp://127.0.0.1:%d" % pull.bind_to_random_port("tcp://127.0.0.1"))
    for A in IMAGES:
        for msg in ("cam1", "", "a \"quoted\" name\n"):
            zmqpack.send_array(push, A, recipe=True, meta={"msg": msg})
            ours = pull.recv_multipart()
            imagezmq.send_array(push, A, msg)
            theirs = pull.recv_multipart()
            assert ours == theirs
    # more keys, in the caller's order, and back through recv_array
    meta = {"msg": "cam1", "n": 5, "tags": ["a", None, True], "at": {"x": -3}}
    zmqpack.send_array(push, IMAGES[0], recipe=True, meta=meta)
    head = pull.recv_multipart()[0]
    assert head == json.dumps(dict(meta, dtype=str(IMAGES[0].dtype),
                                   shape=IMAGES[0].shape)).encode()
    zmqpack.send_array(push, IMAGES[0], recipe=True, meta=meta)
    got, A = zmqpack.recv_array(pull, with_meta=True)
    assert list(got.items()) == list(meta.items())
    same(A, IMAGES[0])
    push.close(0)
    pull.close(0)
