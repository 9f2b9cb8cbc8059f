#!/usr/bin/python3
"""A registered class sent between two processes.

zmqpack.register(cls) lets instances travel as a MessagePack ext value built
from their __reduce__ (the pickle interface); the receiver rebuilds them only
if it registered the same class, never anything else, which is what makes
it safe where pickle is not. The parent binds a PULL socket and starts a
child process that sends a few readings.

    usage: registered_class.py
"""
import subprocess
import sys
from typing import Tuple

import zmq

import zmqpack


@zmqpack.register(name="example.Reading")
class Reading:
    def __init__(self, sensor: str, value: float, unit: str = "C") -> None:
        self.sensor, self.value, self.unit = sensor, value, unit

    def __reduce__(self) -> Tuple[type, Tuple[str, float, str]]:
        return (Reading, (self.sensor, self.value, self.unit))  # the class and its arguments

    def __repr__(self) -> str:
        return f"Reading({self.sensor!r}, {self.value!r}, {self.unit!r})"


def child(endpoint: str) -> None:
    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 10000)
    push.connect(endpoint)
    for i in range(3):
        zmqpack.send_packed(push, {"from": "child", "reading": Reading(f"t{i}", 20.5 + i)})
    push.close()
    ctx.term()


def parent() -> bool:
    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.RCVTIMEO, 10000)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    kid = subprocess.Popen([sys.executable, __file__, "--child", f"tcp://127.0.0.1:{port}"])
    got = [zmqpack.recv_packed(pull)["reading"] for _ in range(3)]
    kid.wait(timeout=30)
    for r in got:
        print("received", r, "from another process:", isinstance(r, Reading))

    # An instance of a class the receiver did not register is refused.
    class Stranger:
        def __reduce__(self) -> Tuple[type, Tuple[()]]:
            return (Stranger, ())
    zmqpack.register(Stranger, name="example.Stranger")
    data = zmqpack.packb(Stranger())
    zmqpack.unregister(Stranger)
    try:
        zmqpack.unpackb(data)
        refused = False
    except TypeError as e:
        refused = True
        print("unregistered class refused:", e)
    pull.close()
    ctx.term()
    return kid.returncode == 0 and all(isinstance(r, Reading) for r in got) and refused


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2])
    else:
        sys.exit(0 if parent() else 1)
