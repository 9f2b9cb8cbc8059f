"""imagezmq's messages (issue 18 item 1): recv_array(with_meta=True) and
send_array(recipe=True, meta=...) against an imagezmq sender and hub written
from its format (tests/peers/imagezmq.py), over REQ/REP and PUB/SUB, on both
routes of the socket helpers."""
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
