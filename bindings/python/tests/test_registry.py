"""The safe object registry, keep_types and ext_serializable."""
import subprocess
import sys

import msgpack
import pytest

import zmqpack


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, o):
        return type(o) is Point and (self.x, self.y) == (o.x, o.y)


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self, a, b):
        self.a, self.b = a, b


class Reduced:
    def __init__(self, *args):
        self.args = args

    def __reduce__(self):
        return (Reduced, self.args)


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


class Vec:
    def __init__(self, *v):
        self.v = v

    def packb(self):
        return zmqpack.packb(list(self.v))

    @classmethod
    def unpackb(cls, data):
        return cls(*zmqpack.unpackb(data))


@pytest.fixture(autouse=True)
def registry():
    # registered here, not at import: an active registry changes how ext 42
    # and 84 unpack, which must not leak into the other test modules
    for c in (Point, Slotted, Reduced):
        zmqpack.register(c)
    zmqpack.ext_serializable(42)(Vec)
    yield
    for c in (Point, Slotted, Reduced, Vec):
        zmqpack.unregister(c)
    assert not zmqpack.registered()


def test_roundtrip_registered():
    obj = {"p": Point(1, (2, 3)), "s": Slotted([1], "b"), "r": Reduced(1, "a"), "v": Vec(1, 2)}
    got = zmqpack.unpackb(zmqpack.packb(obj))
    assert got["p"] == Point(1, (2, 3))  # the tuple inside the state survives
    assert (got["s"].a, got["s"].b) == ([1], "b")
    assert got["r"].args == (1, "a")
    assert got["v"].v == (1, 2)


def test_unregistered_class_refused():
    b = zmqpack.packb(Point(1, 2))
    zmqpack.unregister(Point)
    with pytest.raises(TypeError, match="not registered"):
        zmqpack.unpackb(b)
    with pytest.raises(TypeError):
        zmqpack.packb(Point(1, 2))  # cannot pack what is not registered either
    zmqpack.register(Point)


def test_reduce_to_foreign_callable_refused():
    zmqpack.register(Evil)
    try:
        with pytest.raises(TypeError, match="not a registered class"):
            zmqpack.packb(Evil())
    finally:
        zmqpack.unregister(Evil)


def test_forged_record_never_calls_unregistered():
    # A peer sends a record naming a dangerous callable: TypeError, no call.
    payload = zmqpack.packb(["builtins.print", 1, ["x"], None])
    forged = msgpack.packb(msgpack.ExtType(84, payload))
    with pytest.raises(TypeError, match="not registered"):
        zmqpack.unpackb(forged)
    payload = zmqpack.packb(["os.system", 1, ["true"], None])
    with pytest.raises(TypeError):
        zmqpack.unpackb(msgpack.packb(msgpack.ExtType(84, payload)))


def test_across_processes():
    code = ("import sys, zmqpack\n"
            "class Point:\n"
            "    def __init__(self, x, y): self.x, self.y = x, y\n"
            "Point.__module__ = 'test_registry'\n"
            "zmqpack.register(Point)\n"
            "p = zmqpack.unpackb(sys.stdin.buffer.read())\n"
            "print(p.x, p.y)\n")
    out = subprocess.run([sys.executable, "-c", code], input=zmqpack.packb(Point(3, "z")),
                         capture_output=True, check=True).stdout
    assert out.split() == [b"3", b"z"]


def test_keep_types():
    obj = [(1, 2), {3, 4}, frozenset([5]), 1 + 2j, [(), {"t": (6,)}]]
    b = zmqpack.packb(obj, keep_types=True)
    assert zmqpack.unpackb(b, keep_types=True) == obj
    assert zmqpack.unpackb(zmqpack.packb(obj[:1])) == [[1, 2]]  # default: msgpack's rules
    p = zmqpack.Packer(keep_types=True)
    u = zmqpack.Unpacker(keep_types=True)
    u.feed(p.pack(obj))
    assert u.unpack() == obj


def test_ext_serializable_rules():
    with pytest.raises(ValueError):
        zmqpack.ext_serializable(84)
    with pytest.raises(ValueError):
        zmqpack.ext_serializable(200)
    with pytest.raises(TypeError):
        zmqpack.ext_serializable(43)(Point)
    assert zmqpack.packb(Vec(7)) == msgpack.packb(msgpack.ExtType(42, msgpack.packb([7])))
    # user's ext_hook wins over the registry
    assert zmqpack.unpackb(zmqpack.packb(Vec(7)), ext_hook=lambda c, d: c) == 42


def test_registry_leaves_msgpack_bytes_alone():
    obj = {"a": [1, (2, 3)], "e": zmqpack.ExtType(5, b"x")}
    assert zmqpack.packb(obj) == msgpack.packb({"a": [1, (2, 3)], "e": msgpack.ExtType(5, b"x")})
    assert zmqpack.unpackb(zmqpack.packb(obj)) == {"a": [1, [2, 3]], "e": zmqpack.ExtType(5, b"x")}
