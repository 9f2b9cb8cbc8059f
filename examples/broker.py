"""The zguide's request-reply broker with zmqpack messages, in Python (the
twin of broker.c).

REQ clients send ndarrays to a ROUTER; the broker forwards every frame to a
DEALER with zmq.proxy() and never decodes a message; REP workers behind the
DEALER receive the arrays and reply with a mixed message: a summary map and
the array scaled by 2.

On the way in, the ROUTER puts the client's identity in front of the REQ's
empty delimiter: [identity, "", header, payload...]. zmqpack calls the
frames before the header the envelope; the REP socket strips it before the
worker sees the message and puts it back on the reply, so the reply finds
its way to the right client. (A ROUTER of your own gets the envelope with
recv_packed(sock, with_envelope=True) and replies with
send_packed(sock, reply, envelope=envelope).)

Clients, broker and workers are threads here; the clients talk to the
broker over tcp://127.0.0.1, the workers over inproc.

    usage: python3 broker.py
"""
import sys
import threading
from typing import Any, List, Tuple

import numpy as np
import zmq

import zmqpack

CLIENTS, WORKERS, REQUESTS = 3, 2, 8


def broker(front: "zmq.Socket[Any]", back: "zmq.Socket[Any]") -> None:
    """Frames in, frames out: zmqpack messages need no decoding to be routed."""
    try:
        zmq.proxy(front, back)
    except zmq.ContextTerminated:
        front.close()
        back.close()


def worker(ctx: zmqpack.Context, wid: int) -> None:
    """An array in, a summary and the scaled array out."""
    rep = ctx.socket(zmq.REP)
    rep.connect("inproc://workers")
    while True:
        try:
            a = rep.recv_array()
        except zmq.ContextTerminated:
            break
        except zmqpack.WireError as e:  # a REP must still answer: say what was wrong
            rep.send_packed({"error": str(e)})
            continue
        scaled = a.astype(np.float64).ravel() * 2  # travels as its own frame
        rep.send_packed({"worker": wid, "items": a.size, "sum": float(a.sum()),
                         "scaled": scaled})
    rep.close()


def client(ctx: zmqpack.Context, cid: int, endpoint: str, failures: List[Tuple[int, int]],
           ) -> None:
    """Arrays out, replies checked."""
    req = ctx.socket(zmq.REQ)
    req.rcvtimeo = 10000
    req.linger = 0
    req.connect(endpoint)
    for r in range(REQUESTS):
        # a float64 vector (sometimes large and compressed) or an int32 matrix
        a: "np.ndarray[Any, Any]"
        if r % 2 == 0:
            n = 20000 if r % 4 == 0 else 100
            a = cid * 1000.0 + r + (np.arange(n) % 7).astype(np.float64)
            codec = "zlib:1" if r % 4 == 0 else None
        else:
            a = (cid * 100 + r * 10 + np.arange(20, dtype=np.int32)).reshape(4, 5)
            codec = None
        try:
            req.send_array(a, codec=codec)
            reply = req.recv_packed()
            ok = (reply["sum"] == a.sum() and reply["items"] == a.size
                  and np.array_equal(reply["scaled"], 2 * a.ravel()))
        except (zmq.ZMQError, zmqpack.WireError, KeyError) as e:
            print("client %d, request %d: %s" % (cid, r, e))
            failures.append((cid, r))
            continue
        print("client %d, request %d: %d items, sum %.0f, from worker %d: %s"
              % (cid, r, reply["items"], reply["sum"], reply["worker"], "ok" if ok else "WRONG"))
        if not ok:
            failures.append((cid, r))
    req.close()


def main() -> int:
    ctx = zmqpack.Context()  # its sockets have send_packed, recv_array... as methods
    front, back = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
    front.bind("tcp://127.0.0.1:*")
    back.bind("inproc://workers")
    endpoint = front.getsockopt_string(zmq.LAST_ENDPOINT)
    threads = [threading.Thread(target=broker, args=(front, back))]
    threads += [threading.Thread(target=worker, args=(ctx, i)) for i in range(WORKERS)]
    failures: List[Tuple[int, int]] = []
    clients = [threading.Thread(target=client, args=(ctx, i, endpoint, failures))
               for i in range(CLIENTS)]
    for t in threads + clients:
        t.start()
    for t in clients:
        t.join()
    ctx.term()  # the broker and the workers see ETERM and close
    for t in threads:
        t.join()
    print("FAILED" if failures else "every reply came back to its client, checked")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
