"""zmqpack.mood: the API of mood.msgpack (pack, unpack, register).
mood.msgpack is not in Debian: the expected bytes come from its
documentation and its format (ext 1..7 and 127 around plain MessagePack),
and every message is also read by Debian's python3-msgpack as the
MessagePack it is."""
import collections
import datetime
import struct
import sys

import msgpack
import pytest

import zmqpack
from zmqpack import mood
from zmqpack.mood import pack, register, unpack


@pytest.fixture(autouse=True)
def clean_registry():
    saved = dict(mood._registry)
    yield
    mood._registry.clear()
    mood._registry.update(saved)


def peer(data):
    """The message as python3-msgpack reads it, ext payloads opened."""
    def ext(code, payload):
        if code in (mood.EXT_LIST, mood.EXT_SET, mood.EXT_FROZENSET, mood.EXT_OBJECT):
            return (code, peer(payload))
        return (code, payload)
    return msgpack.unpackb(bytes(data), ext_hook=ext, strict_map_key=False, use_list=False)


# -- mood.msgpack's documented examples, byte for byte ------------------------------------

class Kiki(object):
    __module__ = "__main__"          # as in mood.msgpack's README session

    def __init__(self, a, b):
        self.a = a
        self.b = b

    def __repr__(self):
        return "<Kiki object: a={0.a}, b={0.b}>".format(self)

    def change(self, a, b):
        self.a = a
        self.b = b

    def __reduce__(self):
        return (Kiki, (self.a, self.b))


def test_kiki():
    k = Kiki(1, 2)
    k.change(3, 4)
    b = pack(k)
    assert type(b) is bytearray
    assert b == bytearray(b"\xc7\x15\x7f\x92\xc7\x0e\x06\xa8__main__\xa4Kiki\x92\x03\x04")
    with pytest.raises(TypeError) as info:
        unpack(b)
    assert str(info.value) == "cannot unpack <class '__main__.Kiki'>"
    assert register(Kiki) is None
    got = unpack(b)
    assert type(got) is Kiki and repr(got) == "<Kiki object: a=3, b=4>"
    assert peer(b) == (127, ((6, b"\xa8__main__\xa4Kiki"), (3, 4)))


def packable(func):
    func.__reduce__ = lambda: f"{func.__module__}.{func.__qualname__}"
    return func


@packable
def setstate(obj, state):
    obj.a = state["a"]
    obj.b = state["b"]


setstate.__module__ = "__main__"


class Kiki2(object):
    __module__ = "__main__"
    __qualname__ = "Kiki"

    def __init__(self, a=0, b=0):
        self.a = a
        self.b = b

    def __reduce__(self):
        return (Kiki2, (), {"a": self.a, "b": self.b}, None, None, setstate)


def test_kiki_with_a_state_setter():
    b = pack(Kiki2(3, 4))
    assert b == bytearray(b"\xc71\x7f\x96\xc7\x0e\x06\xa8__main__\xa4Kiki\x90\x82\xa1a\x03\xa1b"
                          b"\x04\xc0\xc0\xc7\x12\x07\xb1__main__.setstate")
    register(Kiki2)
    with pytest.raises(TypeError, match="^cannot unpack '__main__.setstate'$"):
        unpack(b)
    register(setstate)
    got = unpack(b)
    assert type(got) is Kiki2 and (got.a, got.b) == (3, 4)


def test_datetime_example():
    d = datetime.datetime(2020, 7, 31, 9, 41, 4, 139362)
    b = bytearray(b"\xc7#\x7f\x92\xc7\x12\x06\xa8datetime\xa8datetime\x91\xc4\n\x07\xe4\x07\x1f\t)"
                  b"\x04\x02 b")
    assert pack(d) == b
    with pytest.raises(TypeError, match=r"^cannot unpack <class 'datetime.datetime'>$"):
        unpack(b)
    register(datetime.datetime)
    assert unpack(b) == d


def test_timestamp_example():
    t = mood.Timestamp(1596180901, 502492666)
    assert pack(t) == bytearray(b"\xd7\xffw\xcd\xb7\xe8_#\xc9\xa5")
    assert unpack(bytearray(b"\xd7\xffw\xcd\xb7\xe8_#\xc9\xa5")) == t
    assert mood.Timestamp is zmqpack.Timestamp
    assert pack(mood.Timestamp(5, 0)) == b"\xd6\xff\x00\x00\x00\x05"
    far = mood.Timestamp(-1, 1)
    assert pack(far) == b"\xc7\x0c\xff\x00\x00\x00\x01" + struct.pack(">q", -1)
    assert unpack(pack(far)) == far
    with pytest.raises(ValueError):
        unpack(b"\xd5\xff\x00\x00")


# -- every type -------------------------------------------------------------------------

PLAIN = [
    (None, b"\xc0"), (False, b"\xc2"), (True, b"\xc3"), (0, b"\x00"), (127, b"\x7f"),
    (128, b"\xcc\x80"), (65536, b"\xce\x00\x01\x00\x00"), (2**64 - 1, b"\xcf" + b"\xff" * 8),
    (-32, b"\xe0"), (-33, b"\xd0\xdf"), (-2**63, b"\xd3\x80" + b"\x00" * 7),
    (2.5, b"\xcb\x40\x04\x00\x00\x00\x00\x00\x00"), ("a" * 31, b"\xbf" + b"a" * 31),
    ("a" * 32, b"\xd9\x20" + b"a" * 32), ("a" * 256, b"\xda\x01\x00" + b"a" * 256),
    (b"", b"\xc4\x00"), (b"x" * 256, b"\xc5\x01\x00" + b"x" * 256),
    ((), b"\x90"), ((1, "a"), b"\x92\x01\xa1a"), (tuple(range(16)), b"\xdc\x00\x10" + bytes(range(16))),
    ({}, b"\x80"), ({"k": (1,)}, b"\x81\xa1k\x91\x01"), ({(1, 2): None}, b"\x81\x92\x01\x02\xc0"),
]


@pytest.mark.parametrize("obj,data", PLAIN, ids=lambda v: repr(v)[:24])
def test_plain_types_are_plain_messagepack(obj, data):
    assert pack(obj) == data
    assert msgpack.packb(obj) == data            # Debian's python3-msgpack writes the same
    got = unpack(data)
    assert got == obj and type(got) is type(obj)


EXTENDED = [
    ([], b"\xd4\x03\x90", (3, ())),
    ([1], b"\xd5\x03\x91\x01", (3, (1,))),
    ([1, [2]], b"\xc7\x06\x03\x92\x01\xd5\x03\x91\x02", (3, (1, (3, (2,))))),
    ({7}, b"\xd5\x04\x91\x07", (4, (7,))),
    (frozenset([7]), b"\xd5\x05\x91\x07", (5, (7,))),
    (bytearray(b"x"), b"\xd4\x02x", (2, b"x")),
    (bytearray(b"abc"), b"\xc7\x03\x02abc", (2, b"abc")),
    (1 + 2j, b"\xd8\x01" + struct.pack(">dd", 1, 2), (1, struct.pack(">dd", 1, 2))),
    (int, b"\xc7\x0d\x06\xa8builtins\xa3int", (6, b"\xa8builtins\xa3int")),
    (len, b"\xd6\x07\xa3len", (7, b"\xa3len")),
    (..., b"\xc7\x09\x07\xa8Ellipsis", (7, b"\xa8Ellipsis")),
    (NotImplemented, b"\xc7\x0f\x07\xaeNotImplemented", (7, b"\xaeNotImplemented")),
]


@pytest.mark.parametrize("obj,data,seen", EXTENDED, ids=lambda v: repr(v)[:24])
def test_python_types_as_ext(obj, data, seen):
    assert pack(obj) == data
    assert peer(data) == seen
    register(int, len)
    got = unpack(data)
    assert got == obj and type(got) is type(obj)


def test_kept_types_nested():
    obj = (1, [2, (3, {4: {5, frozenset([6])}})], bytearray(b"\x00"), 1j, {"l": [b"x"]})
    got = unpack(pack(obj))
    assert got == obj
    assert type(got[1]) is list and type(got[1][1]) is tuple and type(got[1][1][1][4]) is set
    assert type(got[2]) is bytearray and type(got[3]) is complex


def test_subclasses_travel_through_reduce():
    od = collections.OrderedDict([("b", 1), ("a", 2)])
    b = pack(od)
    assert peer(b) == (127, ((6, b"\xabcollections\xabOrderedDict"), (), None, None,
                             (127, ((7, b"\xa4iter"), ((3, (("b", 1), ("a", 2))),)))))
    with pytest.raises(TypeError, match="OrderedDict"):
        unpack(b)
    register(collections.OrderedDict)
    with pytest.raises(TypeError, match="^cannot unpack 'iter'$"):
        unpack(b)
    register(iter)
    got = unpack(b)
    assert type(got) is collections.OrderedDict and list(got.items()) == [("b", 1), ("a", 2)]

    class Tag(str):
        __module__ = "m"
        __qualname__ = "Tag"

        def __reduce__(self):
            return (Tag, (str(self),))
    assert peer(pack(Tag("x"))) == (127, ((6, b"\xa1m\xa3Tag"), ("x",)))
    assert pack(Tag("x")) != pack("x")


# -- the __reduce__ protocol ------------------------------------------------------------------

class WithState:
    def __init__(self, x=0):
        self.x = x

    def __reduce__(self):
        return (WithState, (), {"x": self.x, "y": [self.x]})


class WithSetState:
    def __init__(self):
        self.got = None

    def __setstate__(self, state):
        self.got = ("setstate", state)

    def __reduce__(self):
        return (WithSetState, (), (1, 2))


class Items(list):
    def __reduce__(self):
        return (Items, (), None, list(self))


class Pairs(dict):
    def __reduce__(self):
        return (Pairs, (), None, None, dict(self))


class PairsIter(dict):
    def __reduce__(self):
        return (PairsIter, (), None, None, iter(self.items()))


class Adder:
    """No extend(): items are added with +=."""

    def __init__(self):
        self.items = []

    def __iadd__(self, other):
        self.items += list(other)
        return self

    def __reduce__(self):
        return (Adder, (), None, list(self.items))


class Store:
    """No update(): pairs are stored with item assignment."""

    def __init__(self):
        self.data = {}

    def __setitem__(self, k, v):
        self.data[k] = v

    def __reduce__(self):
        return (Store, (), None, None, [(k, v) for k, v in self.data.items()])


class Everything(list):
    def __init__(self, *args):
        super().__init__()
        self.args = args

    def update(self, pairs):
        self.pairs = dict(pairs)

    def __reduce__(self):
        return (Everything, self.args, {"tag": "t"}, list(self), {"k": 1})


def test_reduce_two_to_six_items():
    register(WithState, WithSetState, Items, Pairs, PairsIter, Adder, Store, Everything)
    w = unpack(pack(WithState(5)))
    assert type(w) is WithState and w.__dict__ == {"x": 5, "y": [5]}
    assert unpack(pack(WithSetState())).got == ("setstate", (1, 2))
    assert unpack(pack(Items([1, [2]]))) == Items([1, [2]])
    assert type(unpack(pack(Items([1])))) is Items
    assert unpack(pack(Pairs(a=1, b=(2,)))) == {"a": 1, "b": (2,)}
    assert type(unpack(pack(Pairs(a=1)))) is Pairs
    register(iter)
    p = unpack(pack(PairsIter(a=1)))
    assert type(p) is PairsIter and p == {"a": 1}
    a = Adder()
    a.items = [1, 2]
    assert unpack(pack(a)).items == [1, 2]
    s = Store()
    s.data = {"k": [1]}
    assert unpack(pack(s)).data == {"k": [1]}
    e = Everything(1, 2)
    e.extend([3, 4])
    got = unpack(pack(e))
    assert got.args == (1, 2) and list(got) == [3, 4] and got.tag == "t" and got.pairs == {"k": 1}


class Blank:
    pass


def test_state_keys_are_interned_strings():
    """As pickle and mood.msgpack do: attribute names restored from a state
    dict are interned (one str object per name, like the compiler's)."""
    name = sys.intern("".join(["restored_attribute_", "name_longer_than_32"]))
    state = {"".join(["restored_attribute_", "name_longer_than_32"]): 2}
    decoded = unpack(pack(state))
    assert list(decoded)[0] == name and list(decoded)[0] is not name
    register(Blank)
    got = unpack(craft(bytes(pack(Blank)), b"\x90", bytes(pack(state))))
    assert type(got) is Blank and list(got.__dict__)[0] is name


def craft(*items):
    """An ext 127 holding the array ``items`` (already packed)."""
    body = bytes([0x90 | len(items)]) + b"".join(items)
    return zmqpack.packb(zmqpack.ExtType(127, body))


KIKI = bytes(pack(Kiki))


@pytest.mark.parametrize("data,exc,message", [
    (craft(KIKI), TypeError, "an object must travel as a __reduce__() tuple of 2 to 6 items"),
    (craft(*([KIKI, b"\x90"] + [b"\xc0"] * 5)), TypeError, "2 to 6 items"),
    (craft(b"\x05", b"\x90"), TypeError,
     "tuple item returned by __reduce__() must be a callable, not int"),
    (craft(KIKI, b"\xd4\x03\x90"), TypeError, "argument 2 must be tuple, not list"),
    (craft(KIKI, b"\x92\x01\x02", b"\x05", b"\xc0", b"\xc0", b"\x05"), TypeError,
     "tuple item returned by __reduce__() must be a callable, not int"),
    (craft(KIKI, b"\x92\x01\x02", b"\x81\x01\x02"), TypeError,
     "expected state key to be unicode, not 'int'"),
    (craft(KIKI, b"\x92\x01\x02", b"\x05"), AttributeError, "__setstate__"),
    (craft(KIKI, b"\x92\x01\x02", b"\xc0", b"\xd5\x03\x91\x01"), TypeError,
     "cannot extend '__main__.Kiki' objects"),
    (craft(KIKI, b"\x92\x01\x02", b"\xc0", b"\xc0", b"\x91\x91\x01"), ValueError,
     "expected a sequence of len 2"),
    (craft(KIKI, b"\x92\x01\x02", b"\xc0", b"\xc0", b"\x91\x92\x01\x02"), TypeError,
     "does not support item assignment"),
])
def test_bad_reduce_tuples(data, exc, message):
    register(Kiki)
    with pytest.raises(exc) as info:
        unpack(data)
    assert message in str(info.value)


# -- only registered classes are constructed ------------------------------------------------

class Evil:
    def __reduce__(self):
        import os
        return (os.system, ("echo pwned",))


def test_refusal_of_unregistered_classes_and_singletons():
    b = pack(Evil())
    with pytest.raises(TypeError, match="^cannot unpack 'system'$"):
        unpack(b)
    nested = pack({"deep": [(1, {2: frozenset([Kiki(1, 2)])})]})
    with pytest.raises(TypeError, match=r"^cannot unpack <class '__main__.Kiki'>$"):
        unpack(nested)
    with pytest.raises(TypeError, match=r"^cannot unpack <class 'int'>$"):
        unpack(pack(int))

    class Counted:
        made = 0

        def __init__(self):
            Counted.made += 1

        def __reduce__(self):
            return (Counted, ())
    b = pack([Counted(), Kiki(1, 2)])
    Counted.made = 0
    register(Counted)
    with pytest.raises(TypeError, match="Kiki"):
        unpack(b)
    register(Kiki)
    got = unpack(b)
    assert type(got[0]) is Counted and type(got[1]) is Kiki


def test_zmqpack_packb_still_refuses_kiki():
    """zmqpack's msgpack-python API is unchanged: mood is the way for it."""
    with pytest.raises(TypeError):
        zmqpack.packb(Kiki(1, 2))
    assert pack(Kiki(1, 2))[2] == mood.EXT_OBJECT


def test_register():
    with pytest.raises(TypeError) as info:
        register(Kiki(1, 2))
    assert str(info.value) == ("__reduce__() must return a str: register() takes classes and "
                               "singletons (objects whose __reduce__() returns their name), "
                               "not __main__.Kiki instances")

    class Odd:
        pass
    Odd.__module__ = 5
    with pytest.raises(TypeError, match="expected strings, got: __module__: int, __qualname__: str"):
        register(Odd)
    register(len, Kiki)
    assert unpack(pack([len, Kiki])) == [len, Kiki]
    assert unpack(pack(...)) is ... and unpack(pack(NotImplemented)) is NotImplemented


# -- errors ------------------------------------------------------------------------------------

def test_pack_errors():
    class NoReduce:
        def __getattribute__(self, name):
            if name == "__reduce__":
                raise AttributeError(name)
            return object.__getattribute__(self, name)

    class BadReduce:
        def __reduce__(self):
            return ["not", "a", "tuple"]

    with pytest.raises(TypeError, match=r"^cannot pack 'test_mood\..*NoReduce' objects$"):
        pack(NoReduce())
    with pytest.raises(TypeError, match=r"^__reduce__\(\) must return a str or a tuple$"):
        pack(BadReduce())
    for big in (2**64, -2**63 - 1):
        with pytest.raises(OverflowError, match="^int too big to convert$"):
            pack([big])
    cycle = []
    cycle.append(cycle)
    with pytest.raises(RecursionError):
        pack(cycle)

    def plain_function():
        pass
    with pytest.raises(TypeError):
        pack(plain_function)


@pytest.mark.parametrize("data,exc,message", [
    (b"", EOFError, "Ran out of input"),
    (b"\x92\x01", EOFError, "Ran out of input"),
    (b"\xd5\x03\x92\x01", EOFError, "Ran out of input"),       # inside a list's payload
    (b"\xc1", TypeError, "invalid type: '0xc1'"),
    (b"\xd4\x03\xc1", TypeError, "invalid array type: '0xc1'"),
    (b"\xd4\x7f\xc1", TypeError, "invalid type: '0xc1'"),
    (b"\xd4\x00\x00", TypeError, "invalid extension type: '0x00'"),
    (b"\xd4\x10\x00", TypeError, "unknown extension type: '0x10'"),
    (b"\xd4\xfe\x00", TypeError, "unknown extension type: '0xfe'"),
    (b"\xd4\x01\x00", ValueError, "invalid complex size: 1"),
    (b"\xd4\x03\x05", TypeError, "invalid array type: '0x05'"),
    (b"\xd5\x04\x80\x00", TypeError, "invalid array type: '0x80'"),
    (b"\xd6\x03\x91\x01\x02\x03", ValueError, "2 bytes after the object inside an ext"),
    (b"\xa1\xff", UnicodeDecodeError, "invalid start byte"),
    (b"\x82\xd4\x03\x90\x01\x02\x03", TypeError, "unhashable type: 'list'"),
])
def test_unpack_errors(data, exc, message):
    with pytest.raises(exc) as info:
        unpack(data)
    assert message in str(info.value)


def test_unpack_takes_any_buffer_and_ignores_what_follows():
    b = pack([1, (2,)])
    assert unpack(b) == unpack(bytes(b)) == unpack(memoryview(b)) == [1, (2,)]
    assert unpack(bytes(b) + b"\xc1trailing") == [1, (2,)]


def test_errors_of_constructors_reach_the_caller_unchanged():
    class Fails:
        def __init__(self):
            raise zmqpack.OutOfData("the constructor's own")

        def __reduce__(self):
            return (Fails, ())
    register(Fails)
    with pytest.raises(zmqpack.OutOfData, match="the constructor's own"):
        unpack(pack([Fails.__new__(Fails)]))


def test_msgpack_python_reads_every_message():
    """Random plain objects: mood and python3-msgpack write the same bytes
    (tuples for arrays); with lists, sets and classes the message is still
    MessagePack python3-msgpack reads."""
    from gen import has_ext, objects

    def tuples(o):
        if isinstance(o, (list, tuple)):
            return tuple(tuples(x) for x in o)
        if isinstance(o, dict):
            return {tuples(k): tuples(v) for k, v in o.items()}
        return o
    n = 0
    for obj in objects(5, 3000, zmqpack):
        if has_ext(obj):
            continue
        t = tuples(obj)
        assert pack(t) == msgpack.packb(t)
        assert _same(unpack(pack(t)), t)
        if isinstance(obj, list):
            assert peer(pack(obj))[0] == mood.EXT_LIST
        n += 1
    assert n > 1000


def _same(a, b):
    if isinstance(a, float) and a != a:
        return isinstance(b, float) and b != b
    if isinstance(a, tuple):
        return type(b) is tuple and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return type(b) is dict and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b

