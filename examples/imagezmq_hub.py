#!/usr/bin/python3
"""zmqpack with cameras that already stream with imagezmq, both ways.

imagezmq (github jeffbass/imagezmq) sends an image as pyzmq's numpy recipe
with one more key in its JSON header, {"msg": "cam1", "dtype": ..., "shape":
...}, then the raw buffer, from a REQ socket that waits for the hub's b"OK".

1. A zmqpack hub for imagezmq senders: recv_array(hub, with_meta=True)
   gives ({"msg": "cam1"}, image), zero-copy.
2. A zmqpack sender for an imagezmq hub: send_array(sock, image,
   recipe=True, meta={"msg": "cam1"}).

imagezmq is not needed to run this: its side is written here with pyzmq, as
imagezmq's ImageSender.send_image and ImageHub.recv_image put it on the wire.

    usage: imagezmq_hub.py
"""
import sys
import threading
from typing import Any, List, Tuple

import numpy as np
import numpy.typing as npt
import zmq

import zmqpack

IMAGES = 5


def image(i: int) -> npt.NDArray[np.uint8]:
    """A 480x640 colour frame, different for each i."""
    return np.full((480, 640, 3), i * 40, np.uint8)


def imagezmq_sender(endpoint: str, replies: List[bytes]) -> None:
    """What imagezmq's ImageSender(connect_to=endpoint).send_image() does."""
    req = zmq.Context.instance().socket(zmq.REQ)
    req.connect(endpoint)
    for i in range(IMAGES):
        A = image(i)
        req.send_json(dict(msg="cam%d" % i, dtype=str(A.dtype), shape=A.shape), zmq.SNDMORE)
        req.send(A, copy=False)
        replies.append(req.recv())
    req.close()


def imagezmq_hub(rep: "zmq.Socket[Any]", received: List[Tuple[str, "npt.NDArray[Any]"]]) -> None:
    """What imagezmq's ImageHub.recv_image() and send_reply() do."""
    for _ in range(IMAGES):
        md = rep.recv_json()
        assert isinstance(md, dict)
        buf = rep.recv()
        received.append((md["msg"], np.frombuffer(buf, md["dtype"]).reshape(md["shape"])))
        rep.send(b"OK")
    rep.close()


def main() -> int:
    ctx = zmq.Context.instance()
    ok = True

    # 1. zmqpack is the hub
    hub = ctx.socket(zmq.REP)
    hub.bind("tcp://127.0.0.1:*")
    replies: List[bytes] = []
    camera = threading.Thread(target=imagezmq_sender,
                              args=(hub.getsockopt_string(zmq.LAST_ENDPOINT), replies))
    camera.start()
    for i in range(IMAGES):
        meta, A = zmqpack.recv_array(hub, with_meta=True)
        print("hub: %s %s %s" % (meta["msg"], A.shape, A.dtype))
        ok &= meta == {"msg": "cam%d" % i} and np.array_equal(A, image(i))
        hub.send(b"OK")
    camera.join()
    ok &= replies == [b"OK"] * IMAGES
    hub.close()

    # 2. zmqpack is the camera
    received: List[Tuple[str, "npt.NDArray[Any]"]] = []
    rep = ctx.socket(zmq.REP)  # imagezmq's ImageHub(open_port=...) binds
    rep.bind("tcp://127.0.0.1:*")
    imagezmq = threading.Thread(target=imagezmq_hub, args=(rep, received))
    imagezmq.start()
    req = ctx.socket(zmq.REQ)
    req.connect(rep.getsockopt_string(zmq.LAST_ENDPOINT))
    for i in range(IMAGES):
        zmqpack.send_array(req, image(i), recipe=True, meta={"msg": "cam%d" % i})
        ok &= req.recv() == b"OK"
    imagezmq.join()
    rep.close()
    req.close()
    for i, (msg, A) in enumerate(received):
        print("imagezmq hub: %s %s %s" % (msg, A.shape, A.dtype))
        ok &= msg == "cam%d" % i and np.array_equal(A, image(i))
    print("every image arrived, both ways" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
