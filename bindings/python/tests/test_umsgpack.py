"""zmqpack.umsgpack: the API of umsgpack (u-msgpack-python, umsgpack for
MicroPython). u-msgpack-python is not in Debian: the expected bytes below
come from the MessagePack specification and umsgpack's documentation, and
plain data is checked both ways against Debian's python3-msgpack."""
import asyncio
import collections
import datetime
import enum
import io
import struct

import msgpack
import pytest

import zmqpack
from zmqpack import umsgpack
from gen import has_ext, norm, objects

UTC = datetime.timezone.utc


@pytest.fixture(autouse=True)
def clean_registry():
    """ext_serializable registers module-wide: each test starts empty."""
    saved = dict(umsgpack._ext_class_to_type), dict(umsgpack._ext_type_to_class)
    umsgpack._ext_class_to_type.clear()
    umsgpack._ext_type_to_class.clear()
    yield
    umsgpack._ext_class_to_type.clear()
    umsgpack._ext_type_to_class.clear()
    umsgpack._ext_class_to_type.update(saved[0])
    umsgpack._ext_type_to_class.update(saved[1])
    umsgpack.compatibility = False


# -- the names ----------------------------------------------------------------------

EXCEPTIONS = {
    "UnsupportedTypeException": "PackException",
    "InsufficientDataException": "UnpackException",
    "InvalidStringException": "UnpackException",
    "UnsupportedTimestampException": "UnpackException",
    "ReservedCodeException": "UnpackException",
    "UnhashableKeyException": "UnpackException",
    "DuplicateKeyException": "UnpackException",
}


def test_exception_hierarchy():
    assert umsgpack.PackException.__bases__ == (Exception,)
    assert umsgpack.UnpackException.__bases__ == (Exception,)
    for name, base in EXCEPTIONS.items():
        assert getattr(umsgpack, name).__bases__ == (getattr(umsgpack, base),), name
    assert umsgpack.KeyNotPrimitiveException is umsgpack.UnhashableKeyException
    assert umsgpack.KeyDuplicateException is umsgpack.DuplicateKeyException
    # umsgpack's classes, not zmqpack's msgpack-python ones
    assert not issubclass(umsgpack.UnpackException, zmqpack.UnpackException)


def test_names_and_aliases():
    for name in umsgpack.__all__:
        assert hasattr(umsgpack, name), name
    assert umsgpack.packb is umsgpack.dumps and umsgpack.pack is umsgpack.dump
    assert umsgpack.unpackb is umsgpack.loads and umsgpack.unpack is umsgpack.load
    assert issubclass(umsgpack.InvalidString, bytes)


# -- exact bytes (MessagePack specification) ------------------------------------------

class Color(enum.IntEnum):
    RED = 200


class Text(str):
    def __str__(self):
        return "not the value"


Point = collections.namedtuple("Point", "x y")

PACK_VECTORS = [
    (None, b"\xc0"), (False, b"\xc2"), (True, b"\xc3"),
    (0, b"\x00"), (127, b"\x7f"), (128, b"\xcc\x80"), (255, b"\xcc\xff"),
    (256, b"\xcd\x01\x00"), (65535, b"\xcd\xff\xff"), (65536, b"\xce\x00\x01\x00\x00"),
    (2**32 - 1, b"\xce\xff\xff\xff\xff"), (2**32, b"\xcf\x00\x00\x00\x01\x00\x00\x00\x00"),
    (2**64 - 1, b"\xcf" + b"\xff" * 8),
    (-1, b"\xff"), (-32, b"\xe0"), (-33, b"\xd0\xdf"), (-128, b"\xd0\x80"),
    (-129, b"\xd1\xff\x7f"), (-32768, b"\xd1\x80\x00"), (-32769, b"\xd2\xff\xff\x7f\xff"),
    (-2**31, b"\xd2\x80\x00\x00\x00"), (-2**31 - 1, b"\xd3\xff\xff\xff\xff\x7f\xff\xff\xff"),
    (-2**63, b"\xd3\x80" + b"\x00" * 7),
    (Color.RED, b"\xcc\xc8"),                       # an int subclass packs its value
    (2.5, b"\xcb\x40\x04\x00\x00\x00\x00\x00\x00"),
    ("", b"\xa0"), ("a" * 31, b"\xbf" + b"a" * 31), ("a" * 32, b"\xd9\x20" + b"a" * 32),
    ("a" * 255, b"\xd9\xff" + b"a" * 255), ("a" * 256, b"\xda\x01\x00" + b"a" * 256),
    ("a" * 65536, b"\xdb\x00\x01\x00\x00" + b"a" * 65536),
    ("\u20ac", b"\xa3\xe2\x82\xac"), (Text("ab"), b"\xa2ab"),
    (b"", b"\xc4\x00"), (b"\x80" * 255, b"\xc4\xff" + b"\x80" * 255),
    (b"x" * 256, b"\xc5\x01\x00" + b"x" * 256), (b"x" * 65536, b"\xc6\x00\x01\x00\x00" + b"x" * 65536),
    (bytearray(b"ab"), b"\xc4\x02ab"),                # as umsgpack for MicroPython
    ([], b"\x90"), ((1, 2), b"\x92\x01\x02"), ([0] * 15, b"\x9f" + b"\x00" * 15),
    ([0] * 16, b"\xdc\x00\x10" + b"\x00" * 16),
    ([0] * 65536, b"\xdd\x00\x01\x00\x00" + b"\x00" * 65536),
    (Point(1, 2), b"\x92\x01\x02"),                  # a tuple subclass is an array
    (zmqpack.ExtType(3, b"z"), b"\x92\x03\xc4\x01z"),  # ... whatever zmqpack does with it
    ({}, b"\x80"), ({"a": 1}, b"\x81\xa1a\x01"),
    (collections.OrderedDict([(2, None), (1, None)]), b"\x82\x02\xc0\x01\xc0"),
    ({i: 0 for i in range(16)}, b"\xde\x00\x10" + b"".join(bytes([i, 0]) for i in range(16))),
    ({"compact": True, "schema": 0}, b"\x82\xa7compact\xc3\xa6schema\x00"),
    ([1, [b"\x80", [["a", "b", "c"], True]]],
     b"\x92\x01\x92\xc4\x01\x80\x92\x93\xa1a\xa1b\xa1c\xc3"),
    (umsgpack.Ext(5, b"\x01"), b"\xd4\x05\x01"), (umsgpack.Ext(5, b"ab"), b"\xd5\x05ab"),
    (umsgpack.Ext(5, b"abc"), b"\xc7\x03\x05abc"), (umsgpack.Ext(5, b"x" * 4), b"\xd6\x05xxxx"),
    (umsgpack.Ext(5, b"x" * 8), b"\xd7\x05" + b"x" * 8),
    (umsgpack.Ext(5, b"x" * 16), b"\xd8\x05" + b"x" * 16), (umsgpack.Ext(5, b""), b"\xc7\x00\x05"),
    (umsgpack.Ext(-5, b"\x01"), b"\xd4\xfb\x01"), (umsgpack.Ext(127, b"x" * 256),
                                                   b"\xc8\x01\x00\x7f" + b"x" * 256),
    (umsgpack.Ext(-128, b"x" * 65536), b"\xc9\x00\x01\x00\x00\x80" + b"x" * 65536),
    # timestamps: aware, naive (taken as UTC), 32, 64 and 96 bits
    (datetime.datetime(2000, 1, 1, 10, 5, 2, 0, UTC), b"\xd6\xff\x38\x6d\xd1\x4e"),
    (datetime.datetime(2000, 1, 1, 10, 5, 2), b"\xd6\xff\x38\x6d\xd1\x4e"),
    (datetime.datetime(2200, 1, 1, 10, 5, 2, 1234, UTC), b"\xd7\xff\x00\x4b\x51\x41\xb0\x9e\xa6\xce"),
    (datetime.datetime(3000, 1, 1, 10, 5, 2, 1234, UTC),
     b"\xc7\x0c\xff\x00\x12\xd4\x50\x00\x00\x00\x07\x91\x5f\x59\xce"),
    (datetime.datetime(1969, 12, 31, 23, 59, 59, 0, UTC),
     b"\xc7\x0c\xff\x00\x00\x00\x00" + struct.pack(">q", -1)),
    (datetime.datetime(2000, 1, 1, 12, 0, 0, 0, datetime.timezone(datetime.timedelta(hours=2))),
     b"\xd6\xff" + struct.pack(">I", 946720800)),
]


@pytest.mark.parametrize("obj,data", PACK_VECTORS, ids=lambda v: repr(v)[:30])
def test_pack_exact_bytes(obj, data):
    assert umsgpack.dumps(obj) == data
    assert umsgpack.packb(obj) == data
    f = io.BytesIO()
    umsgpack.dump(obj, f)
    assert f.getvalue() == data


@pytest.mark.parametrize("obj,data", [v for v in PACK_VECTORS
                                      if not isinstance(v[0], (umsgpack.Ext, datetime.datetime,
                                                               zmqpack.ExtType))])
def test_plain_bytes_are_msgpack_pythons(obj, data):
    assert msgpack.packb(obj) == data          # Debian's python3-msgpack, the peer
    expected = msgpack.unpackb(data, strict_map_key=False)
    assert umsgpack.loads(data) == expected


# -- unpack ---------------------------------------------------------------------------

UNPACK_VECTORS = [
    (b"\xca\x40\x20\x00\x00", 2.5), (b"\xcb\x40\x04\x00\x00\x00\x00\x00\x00", 2.5),
    (b"\xd9\x01a", "a"), (b"\xda\x00\x01a", "a"), (b"\xdb\x00\x00\x00\x01a", "a"),
    (b"\xdc\x00\x01\x01", [1]), (b"\xdd\x00\x00\x00\x01\x01", [1]),
    (b"\xde\x00\x01\x01\x02", {1: 2}), (b"\xdf\x00\x00\x00\x01\x01\x02", {1: 2}),
    (b"\xcc\x05", 5), (b"\xd0\x05", 5), (b"\xcf" + b"\x00" * 7 + b"\x05", 5),
    (b"\xd4\x05\x01", umsgpack.Ext(5, b"\x01")), (b"\xd4\xfb\x01", umsgpack.Ext(-5, b"\x01")),
    (b"\xc9\x00\x00\x00\x02\x10ab", umsgpack.Ext(16, b"ab")),
    (b"\x81\x92\x01\x92\x02\x03\xc0", {(1, (2, 3)): None}),   # array keys become tuples
    (b"\xd6\xff\x38\x6d\xd1\x4e", datetime.datetime(2000, 1, 1, 10, 5, 2, 0, UTC)),
    (b"\xd7\xff\x00\x4b\x51\x41\xb0\x9e\xa6\xce", datetime.datetime(2200, 1, 1, 10, 5, 2, 1234, UTC)),
    (b"\xc7\x0c\xff\x00\x12\xd4\x50\x00\x00\x00\x07\x91\x5f\x59\xce",
     datetime.datetime(3000, 1, 1, 10, 5, 2, 1234, UTC)),
    (b"\x01\x02\x03", 1),                                        # what follows is ignored
]


@pytest.mark.parametrize("data,obj", UNPACK_VECTORS, ids=lambda v: repr(v)[:30])
def test_unpack(data, obj):
    got = umsgpack.loads(data)
    assert got == obj and type(got) is type(obj)
    assert umsgpack.unpackb(bytearray(data)) == obj
    assert umsgpack.load(io.BytesIO(data)) == obj


def test_pack_then_unpack_with_msgpack_python():
    """10,000 seeded random objects (no ext): umsgpack's bytes read by
    msgpack-python, msgpack-python's bytes read by umsgpack."""
    for obj in objects(7, 10000, zmqpack):
        if has_ext(obj):
            continue
        b = umsgpack.dumps(obj)
        assert b == msgpack.packb(obj)
        assert norm(msgpack.unpackb(b, strict_map_key=False)) == norm(umsgpack.loads(b))


def test_corpus_as_msgpack_python_reads_it(corpus):
    for name, data in corpus.items():
        assert umsgpack.loads(data) == msgpack.unpackb(data, strict_map_key=False), name


# -- options ---------------------------------------------------------------------------

def test_force_float_precision():
    assert umsgpack.dumps(2.5, force_float_precision="single") == b"\xca\x40\x20\x00\x00"
    assert umsgpack.dumps(2.5, force_float_precision="double") == b"\xcb\x40\x04" + b"\x00" * 6
    assert umsgpack.dumps([0.1], force_float_precision="single") == b"\x91\xca" + struct.pack(">f", 0.1)
    with pytest.raises(ValueError, match="force_float_precision takes"):
        umsgpack.dumps(1, force_float_precision="half")


def test_use_tuple_and_use_ordered_dict():
    data = b"\x92\x01\x92\xc4\x01\x80\x92\x93\xa1a\xa1b\xa1c\xc3"
    assert umsgpack.loads(data) == [1, [b"\x80", [["a", "b", "c"], True]]]
    assert umsgpack.loads(data, use_tuple=False) == [1, [b"\x80", [["a", "b", "c"], True]]]
    assert umsgpack.loads(data, use_tuple=True) == (1, (b"\x80", (("a", "b", "c"), True)))
    assert umsgpack.loads(b"\x81\x92\x01\x02\x03", use_tuple=True) == {(1, 2): 3}
    m = umsgpack.loads(b"\x82\xa1b\x01\xa1a\x02", use_ordered_dict=True)
    assert type(m) is collections.OrderedDict and list(m) == ["b", "a"]
    assert type(umsgpack.loads(b"\x80")) is dict
    nested = umsgpack.loads(b"\x91\x81\x01\x81\x02\x03", use_ordered_dict=True)
    assert type(nested[0]) is collections.OrderedDict and type(nested[0][1]) is collections.OrderedDict


def test_allow_invalid_utf8():
    with pytest.raises(umsgpack.InvalidStringException, match="invalid utf-8"):
        umsgpack.loads(b"\xa1\x80")
    got = umsgpack.loads(b"\xa1\x80", allow_invalid_utf8=True)
    assert type(got) is umsgpack.InvalidString and got == b"\x80"
    # in an array, as a map key and a map value; valid strings stay str
    data = b"\x93\xa1\x80\xa2\xc3\xa9\x81\xa2\xed\xa0\xa3\xfe\xff\x00"
    got = umsgpack.loads(data, allow_invalid_utf8=True)
    assert got[0] == b"\x80" and type(got[0]) is umsgpack.InvalidString
    assert got[1] == "\u00e9" and type(got[1]) is str
    ((k, v),) = got[2].items()
    assert (k, v) == (b"\xed\xa0", b"\xfe\xff\x00")      # an encoded surrogate is not UTF-8
    assert type(k) is umsgpack.InvalidString and type(v) is umsgpack.InvalidString
    assert umsgpack.loads(data, allow_invalid_utf8=True, use_tuple=True)[0] == b"\x80"


def test_compatibility_mode():
    umsgpack.compatibility = True
    for s in ("", "a", "a" * 31):
        assert umsgpack.dumps(s) == bytes([0xa0 | len(s)]) + s.encode()
        assert umsgpack.dumps(s.encode()) == bytes([0xa0 | len(s)]) + s.encode()
    for n, head in ((32, b"\xda\x00\x20"), (256, b"\xda\x01\x00"), (65535, b"\xda\xff\xff"),
                    (65536, b"\xdb\x00\x01\x00\x00")):
        assert umsgpack.dumps("b" * n) == head + b"b" * n      # no str 8 in the old format
        assert umsgpack.dumps(b"b" * n) == head + b"b" * n
    assert umsgpack.dumps(umsgpack.Ext(1, b"x")) == b"\xd4\x01x"
    assert umsgpack.loads(b"\x92\xa1a\xc4\x01b") == [b"a", b"b"]
    assert umsgpack.loads(b"\xa1\x80") == b"\x80"
    umsgpack.compatibility = False
    assert umsgpack.dumps("a" * 32) == b"\xd9\x20" + b"a" * 32
    assert umsgpack.loads(b"\x92\xa1a\xc4\x01b") == ["a", b"b"]


def test_unknown_keyword_is_refused():
    with pytest.raises(TypeError, match="force_float_precison"):
        umsgpack.dumps(1, force_float_precison="single")
    with pytest.raises(TypeError, match="use_tuples"):
        umsgpack.loads(b"\x90", use_tuples=True)


# -- ext handlers -------------------------------------------------------------------------

CustomType = collections.namedtuple("CustomType", "x y z")

HANDLERS = {
    complex: lambda obj: umsgpack.Ext(0x20, struct.pack("<ff", obj.real, obj.imag)),
    CustomType: lambda obj: umsgpack.Ext(0x30, umsgpack.dumps(list(obj))),
    0x20: lambda ext: complex(*struct.unpack("<ff", ext.data)),
    0x30: lambda ext: CustomType(*umsgpack.loads(ext.data)),
}


@pytest.mark.parametrize("obj,data", [
    (complex(1, 2), b"\xd7\x20\x00\x00\x80\x3f\x00\x00\x00\x40"),
    (CustomType(b"abc", 123, True), b"\xd7\x30\x93\xc4\x03\x61\x62\x63\x7b\xc3"),
    ([complex(1, 2)], b"\x91\xd7\x20\x00\x00\x80\x3f\x00\x00\x00\x40"),
])
def test_ext_handlers_both_ways(obj, data):
    assert umsgpack.dumps(obj, ext_handlers=HANDLERS) == data
    assert umsgpack.loads(data, ext_handlers=HANDLERS) == obj
    assert umsgpack.loads(data) == msgpack.unpackb(data, ext_hook=lambda c, d: umsgpack.Ext(c, d))


def test_ext_handler_for_a_base_class():
    class Rectangle:
        def __init__(self, length, width):
            self.length, self.width = length, width

        def __eq__(self, other):
            return (self.length, self.width) == (other.length, other.width)

    class Square(Rectangle):
        def __init__(self, width):
            Rectangle.__init__(self, width, width)

    packed = umsgpack.dumps(Square(5), ext_handlers={
        Rectangle: lambda obj: umsgpack.Ext(0x10, umsgpack.dumps([obj.length, obj.width]))})
    assert packed == b"\xc7\x03\x10\x92\x05\x05"
    got = umsgpack.loads(packed, ext_handlers={
        0x10: lambda ext: Rectangle(*umsgpack.loads(ext.data))})
    assert got == Rectangle(5, 5)


def test_ext_handlers_override_native_types():
    """The exact class is looked up before any built-in rule, so a handler
    can take tuples, ints, lists or datetimes away from their usual form."""
    tuple_ext = {tuple: lambda t: umsgpack.Ext(0x52, umsgpack.dumps(list(t)))}
    assert umsgpack.dumps([(1, 2), [3]], ext_handlers=tuple_ext) == b"\x92\xc7\x03\x52\x92\x01\x02\x91\x03"
    assert umsgpack.dumps({"k": 7}, ext_handlers={int: lambda i: umsgpack.Ext(1, bytes([i]))}) == \
        b"\x81\xa1k\xd4\x01\x07"
    assert umsgpack.dumps([[]], ext_handlers={list: lambda v: umsgpack.Ext(2, b"L")}) == b"\xd4\x02L"
    assert umsgpack.dumps(None, ext_handlers={type(None): lambda v: umsgpack.Ext(2, b"N")}) == b"\xc0"
    when = datetime.datetime(2000, 1, 1, 10, 5, 2, 0, UTC)
    override = {datetime.datetime: lambda d: umsgpack.Ext(0x40, d.strftime("%Y%m%dT%H:%M:%S.%f").encode())}
    assert umsgpack.dumps(when, ext_handlers=override) == b"\xc7\x18@20000101T10:05:02.000000"


def test_ext_handler_for_the_timestamp_code():
    data = b"\xc7\x0c\xff\x00\xbb\xcc\xdd\x01\x02\x03\x04\x05\x06\x07\x08"
    assert umsgpack.loads(data, ext_handlers={-1: lambda ext: ext}) == \
        umsgpack.Ext(-1, b"\x00\xbb\xcc\xdd\x01\x02\x03\x04\x05\x06\x07\x08")
    seen = []
    got = umsgpack.loads(b"\x92\x81\xd6\xff\x00\x00\x00\x01\x01\xd6\xff\x00\x00\x00\x02",
                         ext_handlers={-1: lambda ext: seen.append(ext.data) or len(seen)})
    assert got == [{1: 1}, 2] and seen == [b"\x00\x00\x00\x01", b"\x00\x00\x00\x02"]
    assert umsgpack.loads(b"\xd6\xff\x00\x00\x00\x05", ext_handlers={-1: lambda ext: ext.data}) == \
        b"\x00\x00\x00\x05"


def test_handler_must_return_an_ext():
    with pytest.raises(TypeError, match=r"ext_handlers\[complex\] must return a umsgpack.Ext"):
        umsgpack.dumps(1j, ext_handlers={complex: lambda c: 5})


def test_handler_errors_reach_the_caller_unchanged():
    """Errors raised by the application's code are not mistaken for
    zmqpack's decoding errors (which become umsgpack's exceptions)."""
    boom = UnicodeDecodeError("utf-8", b"\x80", 0, 1, "the handler's own")
    for exc in (boom, zmqpack.OutOfData("handler"), KeyError("k")):
        def handler(ext, exc=exc):
            raise exc
        with pytest.raises(type(exc)) as info:
            umsgpack.loads(b"\x91\xd4\x05\x00", ext_handlers={5: handler})
        assert info.value is exc


# -- ext_serializable ---------------------------------------------------------------------

def test_ext_serializable():
    @umsgpack.ext_serializable(0x20)
    class CustomComplex:
        def __init__(self, real, imag):
            self.real, self.imag = real, imag

        def __eq__(self, other):
            return (self.real, self.imag) == (other.real, other.imag)

        def packb(self):
            return struct.pack("<II", self.real, self.imag)

        @classmethod
        def unpackb(cls, data):
            return cls(*struct.unpack("<II", data))

    obj, data = CustomComplex(123, 456), b"\xd7\x20\x7b\x00\x00\x00\xc8\x01\x00\x00"
    assert umsgpack.dumps(obj) == data
    got = umsgpack.loads(data)
    assert isinstance(got, CustomComplex) and got == obj
    assert umsgpack.loads(b"\x91" + data, use_tuple=True) == (obj,)
    # ext_handlers come first, both ways
    assert umsgpack.dumps(obj, ext_handlers={CustomComplex: lambda o: umsgpack.Ext(1, b"")}) == \
        b"\xc7\x00\x01"
    assert umsgpack.loads(data, ext_handlers={0x20: lambda ext: "handler"}) == "handler"

    class Sub(CustomComplex):
        pass
    assert umsgpack.dumps(Sub(1, 2)) == b"\xd7\x20\x01\x00\x00\x00\x02\x00\x00\x00"

    with pytest.raises(ValueError, match="Ext type 32 already registered"):
        umsgpack.ext_serializable(0x20)(type("Dummy", (), {}))
    with pytest.raises(ValueError, match="already registered with Ext type 32"):
        umsgpack.ext_serializable(0x21)(CustomComplex)
    for code in (-129, 128):
        with pytest.raises(ValueError, match="out of range"):
            umsgpack.ext_serializable(code)(type("Dummy", (), {}))
    with pytest.raises(TypeError, match="not type integer"):
        umsgpack.ext_serializable("1")(type("Dummy", (), {}))


def test_ext_serializable_without_its_methods():
    @umsgpack.ext_serializable(1)
    class NoPack:
        @staticmethod
        def unpackb(data):
            return data

    @umsgpack.ext_serializable(2)
    class NoUnpack:
        def packb(self):
            return b"n"

    @umsgpack.ext_serializable(3)
    class NotBytes:
        def packb(self):
            return "text"

    with pytest.raises(NotImplementedError, match="missing implementation of packb"):
        umsgpack.dumps(NoPack())
    assert umsgpack.dumps(NoUnpack()) == b"\xd4\x02n"
    with pytest.raises(NotImplementedError, match="missing implementation of unpackb"):
        umsgpack.loads(b"\xd4\x02n")
    with pytest.raises(TypeError, match="ext data is not type 'bytes'"):
        umsgpack.dumps(NotBytes())
    assert umsgpack.loads(b"\xd4\x01x") == b"x"


def test_ext_serializable_timestamp_code():
    @umsgpack.ext_serializable(-1)
    class Stamp:
        @staticmethod
        def unpackb(data):
            return ("stamp", data)
    assert umsgpack.loads(b"\xd6\xff\x00\x00\x00\x07") == ("stamp", b"\x00\x00\x00\x07")


def test_namespaces_stay_apart():
    """umsgpack's registry does not change zmqpack's msgpack-python API, and
    zmqpack's registry does not change umsgpack's results."""
    @umsgpack.ext_serializable(5)
    class Mine:
        def packb(self):
            return b"m"
    with pytest.raises(TypeError):
        zmqpack.packb(Mine())
    assert zmqpack.unpackb(b"\xd4\x05m") == zmqpack.ExtType(5, b"m")

    class Theirs:
        pass
    zmqpack.register(Theirs)
    try:
        assert type(zmqpack.unpackb(zmqpack.packb(Theirs()))) is Theirs
        with pytest.raises(umsgpack.UnsupportedTypeException):
            umsgpack.dumps(Theirs())
    finally:
        zmqpack.unregister(Theirs)
    assert zmqpack.dumps is zmqpack.packb


# -- Ext ---------------------------------------------------------------------------------

def test_ext_class():
    e = umsgpack.Ext(5, b"\x01\x02\x03")
    assert (e.type, e.data) == (5, b"\x01\x02\x03")
    assert e == umsgpack.Ext(5, b"\x01\x02\x03") and e != umsgpack.Ext(6, b"\x01\x02\x03")
    assert hash(e) == hash(umsgpack.Ext(5, b"\x01\x02\x03"))
    assert str(e) == "Ext Object (Type: 5, Data: 0x01 0x02 0x03)"
    assert str(umsgpack.Ext(-1, bytes(range(9)))) == \
        "Ext Object (Type: -1, Data: 0x00 0x01 0x02 0x03 0x04 0x05 0x06 0x07 ...)"
    assert umsgpack.dumps({"special stuff": e, "awesome": True}) == \
        b"\x82\xadspecial stuff\xc7\x03\x05\x01\x02\x03\xa7awesome\xc3"
    with pytest.raises(TypeError, match="ext type is not type integer"):
        umsgpack.Ext(5.0, b"")
    with pytest.raises(TypeError, match="ext data is not type 'bytes'"):
        umsgpack.Ext(0, "text")
    for code in (-129, 128):
        with pytest.raises(ValueError, match="out of range"):
            umsgpack.Ext(code, b"")


# -- errors --------------------------------------------------------------------------------

@pytest.mark.parametrize("obj,message", [
    ({1, 2, 3}, "unsupported type: <class 'set'>"), (2**64, "huge unsigned int"),
    (-2**63 - 1, "huge signed int"), ([1, 2**70], "huge unsigned int"),
    (len, "unsupported type: <class 'builtin_function_or_method'>"),
    (memoryview(b"x"), "unsupported type: <class 'memoryview'>"),
    (zmqpack.Timestamp(1, 0), "unsupported type: <class 'zmqpack.ext.Timestamp'>"),
    (object(), "unsupported type: <class 'object'>"),
])
def test_unsupported_types(obj, message):
    with pytest.raises(umsgpack.UnsupportedTypeException) as info:
        umsgpack.dumps(obj)
    assert str(info.value) == message
    f = io.BytesIO()
    with pytest.raises(umsgpack.UnsupportedTypeException):
        umsgpack.dump(obj, f)
    assert f.getvalue() == b""                   # nothing written


def test_huge_int_subclass():
    class Big(int):
        pass
    with pytest.raises(umsgpack.UnsupportedTypeException, match="huge unsigned int"):
        umsgpack.dumps(Big(2**64))
    assert umsgpack.dumps(Big(2**64 - 1)) == b"\xcf" + b"\xff" * 8


TRUNCATED = [
    b"", b"\xcc", b"\xcd\x00", b"\xce\x00\x00\x00", b"\xcf" + b"\x00" * 7,
    b"\xd0", b"\xd1\x00", b"\xd2\x00\x00\x00", b"\xd3" + b"\x00" * 7,
    b"\xca\x00\x00\x00", b"\xcb" + b"\x00" * 7,
    b"\xa2a", b"\xd9", b"\xd9\x02a", b"\xda\x00", b"\xda\x00\x02a", b"\xdb\x00\x00\x00",
    b"\xdb\x00\x00\x00\x02a", b"\xc4", b"\xc4\x02a", b"\xc5\x00\x02a", b"\xc6\x00\x00\x00\x02a",
    b"\x92\x01", b"\xdc\x00", b"\xdc\x00\x02\x01", b"\xdd\x00\x00\x00\x02\x01",
    b"\x82\x01\x01\x01", b"\xde\x00\x02\x01\x01", b"\xdf\x00\x00\x00\x01\x01",
    b"\xd4\x01", b"\xd5\x01\x00", b"\xd6\x01\x00", b"\xd7\x01\x00", b"\xd8\x01\x00",
    b"\xc7\x03\x01\x00", b"\xc8\x00\x03\x01\x00", b"\xc9\x00\x00\x00\x03\x01\x00",
]


@pytest.mark.parametrize("data", TRUNCATED, ids=lambda b: b.hex() or "empty")
def test_insufficient_data(data):
    with pytest.raises(umsgpack.InsufficientDataException):
        umsgpack.loads(data)
    for stream in (io.BytesIO(data), Trickle(data)):
        with pytest.raises(umsgpack.InsufficientDataException):
            umsgpack.load(stream)


@pytest.mark.parametrize("data,exc,message", [
    (b"\x82\x01\xc3\x81\x01\x01\xc2", umsgpack.UnhashableKeyException,
     'encountered unhashable key: "{1: 1}" (<class \'dict\'>)'),
    (b"\x81\x93\x01\x02\x80\xc3", umsgpack.UnhashableKeyException,
     'encountered unhashable key: "(1, 2, {})" (<class \'tuple\'>)'),
    (b"\x82\x01\xc3\x01\xc2", umsgpack.DuplicateKeyException,
     'encountered duplicate key: "1" (<class \'int\'>)'),
    (b"\x82\x01\xc3\xc3\xc2", umsgpack.DuplicateKeyException,     # True == 1
     'encountered duplicate key: "True" (<class \'bool\'>)'),
    (b"\x82\x92\x01\x02\xc3\x92\x01\x02\xc2", umsgpack.DuplicateKeyException,
     'encountered duplicate key: "(1, 2)" (<class \'tuple\'>)'),
    (b"\xc1", umsgpack.ReservedCodeException, "encountered reserved code: 0xc1"),
    (b"\x92\x01\xc1", umsgpack.ReservedCodeException, "encountered reserved code: 0xc1"),
    (b"\xc7\x02\xff\xaa\xbb", umsgpack.UnsupportedTimestampException,
     "unsupported timestamp: the ext -1 payload must be 4, 8 or 12 bytes"),
    (b"\xa1\x80", umsgpack.InvalidStringException, "unpacked string is invalid utf-8"),
])
def test_unpack_errors(data, exc, message):
    for decode in (umsgpack.loads, lambda b: umsgpack.load(io.BytesIO(b)),
                   lambda b: umsgpack.load(Trickle(b)), aload_bytes):
        with pytest.raises(exc) as info:
            decode(data)
        assert str(info.value) == message
    if exc is umsgpack.DuplicateKeyException:    # not with an OrderedDict either
        with pytest.raises(exc):
            umsgpack.loads(data, use_ordered_dict=True)


def test_long_key_in_message_is_cut():
    data = b"\x82\xda\x01\x00" + b"k" * 256 + b"\x01\xda\x01\x00" + b"k" * 256 + b"\x02"
    with pytest.raises(umsgpack.DuplicateKeyException) as info:
        umsgpack.loads(data)
    assert str(info.value) == 'encountered duplicate key: "%s..." (<class \'str\'>)' % ("k" * 77)


def test_unpack_takes_bytes_or_bytearray_only():
    for bad in ("\x90", memoryview(b"\x90"), None):
        with pytest.raises(TypeError, match="packed data must be type 'bytes' or 'bytearray'"):
            umsgpack.loads(bad)


# -- streams ---------------------------------------------------------------------------------

class Trickle(io.RawIOBase):
    """A pipe-like reader: at most one byte per read()."""

    def __init__(self, data):
        self.data, self.pos, self.reads = data, 0, 0

    def readable(self):
        return True

    def read(self, n=-1):
        self.reads += 1
        chunk = self.data[self.pos:self.pos + min(n, 1)]
        self.pos += len(chunk)
        return chunk


def test_load_reads_exactly_one_object():
    objs = [{"a": [1, 2]}, "x" * 300, b"y" * 70000, None, [umsgpack.Ext(3, b"abc")]]
    data = b"".join(umsgpack.dumps(o) for o in objs)
    f = io.BytesIO(data)                 # seekable: read ahead, then seek back
    end = 0
    for o in objs:
        assert umsgpack.load(f) == o
        end += len(umsgpack.dumps(o))
        assert f.tell() == end
    with pytest.raises(umsgpack.InsufficientDataException):
        umsgpack.load(f)
    t = Trickle(data)
    assert [umsgpack.unpack(t) for _ in objs] == objs
    assert t.pos == len(data)
    t = Trickle(data[:-1])
    for o in objs[:-1]:
        assert umsgpack.load(t) == o
    with pytest.raises(umsgpack.InsufficientDataException):
        umsgpack.load(t)


def aload_bytes(data, **options):
    """umsgpack.aload on an asyncio StreamReader holding ``data``, then EOF."""
    async def run():
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await umsgpack.aload(reader, **options)
    return asyncio.run(run())


def test_aload_from_a_stream_reader():
    async def run():
        r = asyncio.StreamReader()
        objs = [[1, {"k": b"v"}], "s" * 1000, 3.5]
        data = b"".join(umsgpack.dumps(o) for o in objs)
        r.feed_data(data)
        r.feed_eof()
        chunks = []
        got = [await umsgpack.aload(r, observer=chunks.append) for _ in objs]
        assert got == objs and b"".join(chunks) == data
        with pytest.raises(umsgpack.InsufficientDataException):
            await umsgpack.aload(r)
    asyncio.run(run())


def test_aload_over_tcp_with_an_observer():
    """A real loopback TCP stream, objects written in pieces; the observer
    (umsgpack for MicroPython's update() object) sees every byte once."""
    objs = [{"seq": i, "payload": bytes(range(i % 256)) * 50, "t": (1.5, "x" * i)} for i in range(40)]
    data = b"".join(umsgpack.dumps(o) for o in objs)

    class Crc:
        def __init__(self):
            self.seen = bytearray()

        def update(self, chunk):
            self.seen += chunk

    async def serve(reader, writer):
        for i in range(0, len(data), 777):
            writer.write(data[i:i + 777])
            await writer.drain()
        writer.write(umsgpack.dumps([1, 2])[:-1])   # then the peer stops mid-object
        await writer.drain()
        writer.close()

    async def run():
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        crc = Crc()
        got = [await umsgpack.aload(reader, observer=crc, use_tuple=True) for _ in objs]
        assert got == objs
        assert bytes(crc.seen) == data
        with pytest.raises(umsgpack.InsufficientDataException):
            await umsgpack.aload(reader)
        writer.close()
        server.close()
        await server.wait_closed()
    asyncio.run(asyncio.wait_for(run(), 30))


def test_aload_observer_must_be_usable():
    with pytest.raises(TypeError, match="observer must have an update"):
        aload_bytes(b"\x01", observer=5)


OPTION_SETS = [
    {}, {"use_tuple": True}, {"use_ordered_dict": True}, {"allow_invalid_utf8": True},
    {"ext_handlers": {5: lambda ext: ext.data, -1: lambda ext: len(ext.data)}},
]


@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda o: ",".join(o) or "none")
def test_loads_load_aload_agree(options):
    """The three readers share one decoder: same objects, same types."""
    samples = [umsgpack.dumps(o) for o in objects(11, 300, zmqpack) if not has_ext(o)]
    samples += [b"\x93\xa1\x80\xd4\x05x\xd6\xff\x00\x00\x00\x01", b"\x81\x92\x01\x02\xa1\xff"]
    for data in samples:
        try:
            want = _typed(umsgpack.loads(data, **options))
        except umsgpack.InvalidStringException:
            for stream in (io.BytesIO(data), Trickle(data)):
                with pytest.raises(umsgpack.InvalidStringException):
                    umsgpack.load(stream, **options)
            continue
        assert _typed(umsgpack.load(io.BytesIO(data), **options)) == want
        assert _typed(umsgpack.load(Trickle(data), **options)) == want
        assert _typed(aload_bytes(data, **options)) == want


def _typed(obj):
    if isinstance(obj, float) and obj != obj:
        return "nan"
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, [_typed(x) for x in obj])
    if isinstance(obj, dict):
        return (type(obj).__name__, [(_typed(k), _typed(v)) for k, v in obj.items()])
    return (type(obj).__name__, obj)
