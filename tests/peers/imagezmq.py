"""An imagezmq peer, re-stated from imagezmq (jeffbass/imagezmq,
imagezmq/imagezmq.py) with pyzmq and numpy only.

Two messages, each two frames:
- array: frame 0 is pyzmq's send_json of {"msg": text, "dtype":
  str(A.dtype), "shape": A.shape} (json.dumps with its default separators,
  keys in that order), frame 1 the C-ordered buffer;
- JPEG: frame 0 is send_json of {"msg": text}, frame 1 the JPEG bytes.
Receivers return (msg, array) or (msg, jpeg bytes).

Sockets: the sender is REQ (connects; after each message it waits for the
hub's reply, b"OK" unless the hub says otherwise) or PUB (binds; no reply).
The hub is REP (binds) or SUB (connects, subscribed to everything).
"""
import argparse
import sys
import time

import numpy as np
import zmq

try:
    from .endpoint import Peer
except ImportError:  # run as a script
    from endpoint import Peer


def send_array(sock, A, msg="NoName", flags=0, copy=True):
    if not A.flags["C_CONTIGUOUS"]:
        A = np.ascontiguousarray(A)
    sock.send_json(dict(msg=msg, dtype=str(A.dtype), shape=A.shape), flags | zmq.SNDMORE)
    return sock.send(A, flags, copy=copy)


def send_jpg(sock, msg="NoName", jpg_buffer=b"00", flags=0, copy=True):
    sock.send_json(dict(msg=msg), flags | zmq.SNDMORE)
    return sock.send(jpg_buffer, flags, copy=copy)


def recv_array(sock, flags=0, copy=True):
    md = sock.recv_json(flags=flags)
    buf = sock.recv(flags=flags, copy=copy)
    A = np.frombuffer(buf, dtype=md["dtype"])
    return md["msg"], A.reshape(md["shape"])


def recv_jpg(sock, flags=0, copy=True):
    md = sock.recv_json(flags=flags)
    return md["msg"], sock.recv(flags=flags, copy=copy)


class ImageSender(Peer):
    """REQ (``req_rep=True``, connects) or PUB (binds) sender."""

    def __init__(self, connect_to, req_rep=True, context=None, timeout=10.0):
        super().__init__(zmq.REQ if req_rep else zmq.PUB, connect_to, bind=not req_rep,
                         context=context, timeout=timeout)
        self.req_rep = req_rep

    def send_image(self, msg, image):
        """Returns the hub's reply (REQ) or None (PUB)."""
        send_array(self.socket, image, msg, copy=False)
        return self.socket.recv() if self.req_rep else None

    def send_jpg(self, msg, jpg_buffer):
        send_jpg(self.socket, msg, jpg_buffer, copy=False)
        return self.socket.recv() if self.req_rep else None


class ImageHub(Peer):
    """REP (``req_rep=True``, binds) or SUB (connects) hub."""

    def __init__(self, open_port, req_rep=True, context=None, timeout=10.0):
        super().__init__(zmq.REP if req_rep else zmq.SUB, open_port, bind=req_rep,
                         context=context, timeout=timeout, subscribe=not req_rep)
        self.req_rep = req_rep

    def recv_image(self):
        return recv_array(self.socket, copy=False)

    def recv_jpg(self):
        return recv_jpg(self.socket, copy=False)

    def send_reply(self, reply_message=b"OK"):
        self.socket.send(reply_message)


def sample_image(i, shape=(48, 64, 3)):
    """A deterministic uint8 image, different for each i."""
    return (np.arange(np.prod(shape), dtype=np.uint32).reshape(shape) * (i + 1) % 251).astype(
        np.uint8)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m peers.imagezmq",
                                 description="An imagezmq sender or hub (for tests).")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send", help="send N images named cam0..: REQ connects, PUB binds "
                       "(and prints its endpoint)")
    s.add_argument("endpoint")
    s.add_argument("--pub", action="store_true")
    s.add_argument("--images", type=int, default=1)
    s.add_argument("--interval", type=float, default=0.05, help="seconds between PUB images")
    h = sub.add_parser("hub", help="receive N images, print 'msg dtype shape sum' for each: "
                       "REP binds (and prints its endpoint), SUB connects")
    h.add_argument("endpoint")
    h.add_argument("--sub", action="store_true")
    h.add_argument("--images", type=int, default=1)
    h.add_argument("--reply", default="OK")
    a = ap.parse_args(argv)
    if a.cmd == "send":
        with ImageSender(a.endpoint, req_rep=not a.pub) as snd:
            if a.pub:
                print(snd.endpoint, flush=True)
                time.sleep(0.5)  # let subscribers join (PUB drops what nobody takes)
            for i in range(a.images):
                reply = snd.send_image("cam%d" % i, sample_image(i))
                if reply is not None:
                    print(reply.decode(errors="replace"), flush=True)
                else:
                    time.sleep(a.interval)
        return 0
    with ImageHub(a.endpoint, req_rep=not a.sub) as hub:
        if not a.sub:
            print(hub.endpoint, flush=True)
        for _ in range(a.images):
            msg, A = hub.recv_image()
            print(msg, A.dtype.str, ",".join(map(str, A.shape)), int(A.sum(dtype=np.int64)),
                  flush=True)
            if not a.sub:
                hub.send_reply(a.reply.encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
