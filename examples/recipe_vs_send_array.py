#!/usr/bin/python3
"""The pyzmq numpy recipe beside zmqpack.send_array.

pyzmq's documentation sends an array as a JSON header and the raw buffer:

    socket.send_json(dict(dtype=str(A.dtype), shape=A.shape), flags | zmq.SNDMORE)
    socket.send(A, flags, copy=copy, track=track)

and receives it with recv_json(), recv() and np.frombuffer(). zmqpack does
the same in one call each way, keeps Fortran order and byte order, can
compress, and reads the recipe too, so old and new services interoperate.

    usage: recipe_vs_send_array.py
"""
import sys

import numpy as np
from typing import Any, Optional

import numpy.typing as npt
import zmq

import zmqpack


def send_recipe(sock: "zmq.Socket[Any]", A: npt.NDArray[Any], flags: int = 0, copy: bool = True,
                track: bool = False) -> Optional[zmq.MessageTracker]:
    """pyzmq's recipe, as its documentation writes it."""
    md = dict(dtype=str(A.dtype), shape=A.shape)
    sock.send_json(md, flags | zmq.SNDMORE)
    return sock.send(A, flags, copy=copy, track=track)


def recv_recipe(sock: "zmq.Socket[Any]", flags: int = 0, copy: bool = True,
                track: bool = False) -> npt.NDArray[Any]:
    md = sock.recv_json(flags=flags)
    assert isinstance(md, dict)
    msg = sock.recv(flags=flags, copy=copy, track=track)
    buf = msg.buffer if isinstance(msg, zmq.Frame) else msg
    return np.frombuffer(buf, dtype=md["dtype"]).reshape(md["shape"])


ctx = zmq.Context()
push, pull = ctx.socket(zmq.PUSH), ctx.socket(zmq.PULL)
pull.setsockopt(zmq.RCVTIMEO, 10000)
port = pull.bind_to_random_port("tcp://127.0.0.1")
push.connect(f"tcp://127.0.0.1:{port}")

A = np.linspace(0, 1, 1000 * 500, dtype=np.float64).reshape(1000, 500)

# 1. the recipe, both ends pyzmq
send_recipe(push, A)
B = recv_recipe(pull)

# 2. zmqpack, both ends: one call each; blosc shrinks the wire bytes
zmqpack.send_array(push, A, codec="blosc:lz4:5:shuffle")
C = zmqpack.recv_array(pull)

# 3. interop: a recipe sender, a zmqpack receiver (and the reverse)
send_recipe(push, A)
D = zmqpack.recv_array(pull)
zmqpack.send_array(push, A, recipe=True)
E = recv_recipe(pull)

# 4. what the recipe loses: Fortran order arrives as C order (transposed data)
F = np.asfortranarray(A)
zmqpack.send_array(push, F)
G = zmqpack.recv_array(pull)

ok = all(np.array_equal(A, X) for X in (B, C, D, E)) and np.array_equal(F, G)
print("recipe -> recipe:           equal", np.array_equal(A, B))
print("send_array -> recv_array:   equal", np.array_equal(A, C), "(blosc on the wire)")
print("recipe -> zmqpack:          equal", np.array_equal(A, D))
print("zmqpack(recipe) -> recipe:  equal", np.array_equal(A, E))
print("Fortran order kept:        ", G.flags.f_contiguous and np.array_equal(F, G))
print("received arrays writable:  ", C.flags.writeable)
push.close()
pull.close()
ctx.term()
sys.exit(0 if ok else 1)
