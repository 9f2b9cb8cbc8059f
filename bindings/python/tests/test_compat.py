"""zmqpack against msgpack-python 1.0 (Debian's python3-msgpack, C extension):
identical bytes, equal values, the same exceptions."""
import datetime
import io
import random
import tracemalloc

import msgpack
import pytest

import zmqpack
from gen import norm, objects

N_RANDOM = 10000


def kind_of(e):
    """The exception's class name and the names of its bases (each zmqpack
    class also derives from msgpack's class of the same name, so a name
    appears once however many classes carry it)."""
    return type(e).__name__, list(dict.fromkeys(c.__name__ for c in type(e).__mro__))


def exc_kind(fn):
    """None, or kind_of() the exception fn() raises."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        return kind_of(e)
    return None


def result(fn):
    """("value", the normalised value) or ("raised", kind_of(exception)) of one call."""
    try:
        v = fn()
    except Exception as e:  # noqa: BLE001
        return "raised", kind_of(e)
    return "value", norm(v)


def same_error(fz, fm):
    kz, km = exc_kind(fz), exc_kind(fm)
    assert kz == km, (kz, km)
    return kz


# -- packb / unpackb on random objects ---------------------------------------

@pytest.fixture(scope="module")
def pairs():
    zo = objects(1234, N_RANDOM, zmqpack)
    mo = objects(1234, N_RANDOM, msgpack)
    return list(zip(zo, mo))


def test_random_packb_identical(pairs):
    for zo, mo in pairs:
        assert zmqpack.packb(zo) == msgpack.packb(mo)


def test_random_unpackb_equal(pairs):
    for _, mo in pairs:
        b = msgpack.packb(mo)
        assert norm(zmqpack.unpackb(b)) == norm(msgpack.unpackb(b))


@pytest.mark.parametrize("opts", [
    dict(use_bin_type=False), dict(use_single_float=True), dict(strict_types=True, default=repr),
])
def test_random_packb_options(pairs, opts):
    for zo, mo in pairs[:2000]:
        assert zmqpack.packb(zo, **opts) == msgpack.packb(mo, **opts)


@pytest.mark.parametrize("opts", [
    dict(use_list=False), dict(raw=True), dict(timestamp=1), dict(timestamp=2),
    dict(timestamp=3), dict(strict_map_key=False), dict(raw=True, use_list=False),
])
def test_random_unpackb_options(pairs, opts):
    for _, mo in pairs[:2000]:
        b = msgpack.packb(mo)
        rz = exc_kind(lambda: zmqpack.unpackb(b, **opts))
        rm = exc_kind(lambda: msgpack.unpackb(b, **opts))
        assert rz == rm
        if rz is None:
            assert norm(zmqpack.unpackb(b, **opts)) == norm(msgpack.unpackb(b, **opts))


def test_corpus_identical(corpus):
    for name, b in corpus.items():
        o = msgpack.unpackb(b)
        assert zmqpack.unpackb(b) == o, name
        assert zmqpack.packb(o) == msgpack.packb(o), name


# -- exact encodings -----------------------------------------------------------

@pytest.mark.parametrize("v", [0, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32,
                               2**64 - 1, -1, -32, -33, -128, -129, -32768, -32769,
                               -2**31, -2**31 - 1, -2**63, 1.5, -0.0, "", "a" * 31, "a" * 32,
                               "a" * 255, "a" * 256, "a" * 65536, b"", b"x" * 256,
                               bytearray(b"abc"), memoryview(b"abc"), [], [1] * 16,
                               {}, {"a": 1}, (1, 2), True, False, None])
@pytest.mark.parametrize("ubt", [True, False])
def test_encodings(v, ubt):
    assert zmqpack.packb(v, use_bin_type=ubt) == msgpack.packb(v, use_bin_type=ubt)


def test_int_overflow():
    for v in (2**64, -2**63 - 1):
        same_error(lambda: zmqpack.packb(v), lambda: msgpack.packb(v))
        assert zmqpack.packb(v, default=str) == msgpack.packb(v, default=str)


def test_timestamp_and_ext():
    for sec, ns in [(0, 0), (2**32 - 1, 0), (2**32, 0), (1, 1), (2**34 - 1, 5), (2**34, 0),
                    (-1, 0), (-2**63, 999999999)]:
        b = msgpack.packb(msgpack.Timestamp(sec, ns))
        assert zmqpack.packb(zmqpack.Timestamp(sec, ns)) == b
        assert zmqpack.unpackb(b) == zmqpack.Timestamp(sec, ns)
        assert zmqpack.Timestamp(sec, ns).to_bytes() == msgpack.Timestamp(sec, ns).to_bytes()
    for n in (0, 1, 2, 3, 4, 8, 16, 17, 255, 256, 65536):
        b = msgpack.packb(msgpack.ExtType(5, b"x" * n))
        assert zmqpack.packb(zmqpack.ExtType(5, b"x" * n)) == b
        assert zmqpack.unpackb(b) == zmqpack.ExtType(5, b"x" * n)
    same_error(lambda: zmqpack.ExtType(128, b""), lambda: msgpack.ExtType(128, b""))
    same_error(lambda: zmqpack.ExtType(1, "s"), lambda: msgpack.ExtType(1, "s"))
    same_error(lambda: zmqpack.Timestamp(0, 10**9), lambda: msgpack.Timestamp(0, 10**9))
    t = zmqpack.Timestamp.from_unix(1.5)
    assert (t.seconds, t.nanoseconds) == (1, 500000000)
    assert zmqpack.Timestamp.from_unix_nano(-1).to_unix_nano() == -1
    bad = b"\xc7\x03\xff\x00\x00\x00"
    same_error(lambda: zmqpack.unpackb(bad), lambda: msgpack.unpackb(bad))


def test_datetime_option():
    dt = datetime.datetime(2021, 5, 1, 12, 0, 0, 123456, tzinfo=datetime.timezone.utc)
    assert zmqpack.packb(dt, datetime=True) == msgpack.packb(dt, datetime=True)
    naive = datetime.datetime(2021, 5, 1)
    same_error(lambda: zmqpack.packb(naive, datetime=True),
               lambda: msgpack.packb(naive, datetime=True))
    same_error(lambda: zmqpack.packb(naive), lambda: msgpack.packb(naive))
    b = msgpack.packb(dt, datetime=True)
    assert zmqpack.unpackb(b, timestamp=3) == msgpack.unpackb(b, timestamp=3) == dt


def test_unicode_errors():
    s = "a\udcffb"
    same_error(lambda: zmqpack.packb(s), lambda: msgpack.packb(s))
    assert zmqpack.packb(s, unicode_errors="surrogateescape") == \
        msgpack.packb(s, unicode_errors="surrogateescape")
    bad = b"\xa3a\xffb"
    same_error(lambda: zmqpack.unpackb(bad), lambda: msgpack.unpackb(bad))
    assert zmqpack.unpackb(bad, unicode_errors="replace") == \
        msgpack.unpackb(bad, unicode_errors="replace")


def test_packer_methods():
    for mod in (zmqpack, msgpack):
        p = mod.Packer(autoreset=False)
        p.pack(1)
        p.pack_array_header(2)
        p.pack_map_header(1)
        p.pack_ext_type(3, b"abc")
        p.pack_map_pairs([(1, 2), ("a", [])])
        if mod is zmqpack:
            zb, zv = p.bytes(), bytes(p.getbuffer())
        else:
            mb, mv = p.bytes(), bytes(p.getbuffer())
        p.reset()
        assert p.bytes() == b""
    assert zb == mb and zv == mv
    assert zmqpack.Packer().pack([1, 2]) == msgpack.Packer().pack([1, 2])
    same_error(lambda: zmqpack.Packer(default=1), lambda: msgpack.Packer(default=1))


def test_pack_errors():
    class Foo:
        pass
    same_error(lambda: zmqpack.packb(Foo()), lambda: msgpack.packb(Foo()))
    same_error(lambda: zmqpack.packb({1j}), lambda: msgpack.packb({1j}))
    deep = []
    for _ in range(600):
        deep = [deep]
    same_error(lambda: zmqpack.packb(deep), lambda: msgpack.packb(deep))
    ok = []
    for _ in range(500):
        ok = [ok]
    assert zmqpack.packb(ok) == msgpack.packb(ok)

    class D(dict):
        pass

    class L(list):
        pass

    class I(int):
        pass
    v = D(a=L([I(3), (1, 2)]))
    assert zmqpack.packb(v) == msgpack.packb(v)
    same_error(lambda: zmqpack.packb(v, strict_types=True),
               lambda: msgpack.packb(v, strict_types=True))
    assert zmqpack.packb(v, strict_types=True, default=lambda o: list(o) if isinstance(o, tuple) else dict(o) if isinstance(o, dict) else list(o) if isinstance(o, list) else int(o)) == \
        msgpack.packb(v, strict_types=True, default=lambda o: list(o) if isinstance(o, tuple) else dict(o) if isinstance(o, dict) else list(o) if isinstance(o, list) else int(o))
    # default is called once only
    same_error(lambda: zmqpack.packb(Foo(), default=lambda o: o),
               lambda: msgpack.packb(Foo(), default=lambda o: o))


# -- unpack options and errors -------------------------------------------------

def test_hooks():
    b = msgpack.packb({"a": [1, 2, {"b": 3}], "c": msgpack.ExtType(7, b"xy")})
    for kw in [dict(object_hook=lambda d: sorted(d.items())),
               dict(object_pairs_hook=lambda p: p),
               dict(list_hook=lambda l: tuple(reversed(l))),
               dict(ext_hook=lambda c, d: (c, d))]:
        assert zmqpack.unpackb(b, **kw) == msgpack.unpackb(b, **kw)
    same_error(lambda: zmqpack.unpackb(b, object_hook=len, object_pairs_hook=len),
               lambda: msgpack.unpackb(b, object_hook=len, object_pairs_hook=len))
    same_error(lambda: zmqpack.unpackb(b, object_hook=1), lambda: msgpack.unpackb(b, object_hook=1))

    def boom(x):
        raise KeyError("boom")
    same_error(lambda: zmqpack.unpackb(b, list_hook=boom), lambda: msgpack.unpackb(b, list_hook=boom))


def test_map_keys_of_every_short_length():
    """The key cache (ASCII keys up to 32 bytes, held as words): every length
    around the word edges, a key differing from another in one byte at each
    position, a non-ASCII byte at each position, keys of equal bytes but
    different lengths (zeros inside). Values are msgpack-python's; the ASCII
    keys come back interned, one object per key."""
    keys = []
    for n in range(0, 41):
        base = bytes((97 + i % 26) for i in range(n))
        keys.append(base)
        keys.append(base.replace(b"a", b"\x00"))  # zero bytes inside and at the ends
        for i in range(n):
            keys.append(base[:i] + b"Z" + base[i + 1:])
            keys.append(base[:i] + "\u00e9".encode() + base[i + 1:])  # a non-ASCII byte pair
    for _ in range(2):  # the second pass reads every key from the cache
        for k in keys:
            doc = {k.decode(): len(k), "after": k.decode()}
            packed = msgpack.packb(doc)
            got = zmqpack.unpackb(packed)
            assert got == msgpack.unpackb(packed) == doc
            if len(k) <= 32 and k.isascii():  # the same str object each time
                assert next(iter(got)) is next(iter(zmqpack.unpackb(packed))), k


def test_strict_map_key():
    b = msgpack.packb({1: 2, (1, 2): 3})
    same_error(lambda: zmqpack.unpackb(b), lambda: msgpack.unpackb(b))
    same_error(lambda: zmqpack.unpackb(b, strict_map_key=False),
               lambda: msgpack.unpackb(b, strict_map_key=False))
    assert zmqpack.unpackb(b, strict_map_key=False, use_list=False) == \
        msgpack.unpackb(b, strict_map_key=False, use_list=False)


@pytest.mark.parametrize("what,obj", [
    ("max_str_len", "x" * 10), ("max_bin_len", b"x" * 10), ("max_array_len", [1] * 10),
    ("max_map_len", {str(i): i for i in range(10)}), ("max_ext_len", msgpack.ExtType(1, b"x" * 10)),
])
def test_limits(what, obj):
    b = msgpack.packb(obj)
    for lim in (9, 10):
        rz = exc_kind(lambda: zmqpack.unpackb(b, **{what: lim}))
        rm = exc_kind(lambda: msgpack.unpackb(b, **{what: lim}))
        assert rz == rm
    assert exc_kind(lambda: zmqpack.unpackb(b, **{what: 9}))[0] == "ValueError"
    for lim in (9, 10):
        uz = zmqpack.Unpacker(**{what: lim})
        um = msgpack.Unpacker(**{what: lim})
        uz.feed(b)
        um.feed(b)
        assert exc_kind(uz.unpack) == exc_kind(um.unpack)


def test_error_kinds():
    cases = [b"", b"\xc1", b"\x92\x01", b"\x01\x02", b"\xda\x00", b"\x91\xc1",
             b"\x81\xc0\x01", b"\xd9\x05abc", b"\xc7\x01\x05", b"\xd6\xff\x00\x00\x00",
             b"\x91" * 1025 + b"\x90", b"\x91" * 1024 + b"\x90", b"\x81" * 1030]
    for b in cases:
        same_error(lambda: zmqpack.unpackb(b), lambda: msgpack.unpackb(b))
    with pytest.raises(zmqpack.ExtraData) as info:
        zmqpack.unpackb(b"\x01\x02\x03")
    assert info.value.unpacked == 1 and info.value.extra == b"\x02\x03"
    assert str(info.value) == "unpack(b) received extra data."
    assert issubclass(zmqpack.FormatError, (ValueError, zmqpack.UnpackException))
    assert issubclass(zmqpack.StackError, ValueError)
    assert issubclass(zmqpack.OutOfData, zmqpack.UnpackException)
    assert issubclass(zmqpack.BufferFull, zmqpack.UnpackException)
    assert issubclass(zmqpack.ExtraData, ValueError)


def test_truncations_and_random_bytes(pairs):
    """Every truncation of some objects and seeded random byte strings: the
    same exception class as msgpack-python (or both succeed, equal)."""
    r = random.Random(99)
    samples = [msgpack.packb(mo) for _, mo in pairs[:300]]
    inputs = []
    for b in samples[:60]:
        inputs += [b[:i] for i in range(len(b)) if len(b) < 400]
    for _ in range(20000):
        inputs.append(r.randbytes(r.randrange(1, 24)))
    for b in samples[:200]:
        ba = bytearray(b)
        for _ in range(3):
            if ba:
                ba[r.randrange(len(ba))] = r.randrange(256)
        inputs.append(bytes(ba))
    for b in inputs:
        rz = exc_kind(lambda: zmqpack.unpackb(b))
        rm = exc_kind(lambda: msgpack.unpackb(b))
        assert rz == rm, b
        if rz is None:
            assert norm(zmqpack.unpackb(b)) == norm(msgpack.unpackb(b))


def test_huge_declared_lengths_fail_fast():
    for b in (b"\xdd\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff", b"\xdb\xff\xff\xff\xff",
              b"\xc6\xff\xff\xff\xff", b"\xc9\xff\xff\xff\xff\x01"):
        same_error(lambda: zmqpack.unpackb(b), lambda: msgpack.unpackb(b))
        # msgpack-python allocates what the header claims (MemoryError for
        # the maps); zmqpack never sizes anything by an untrusted count.
        tracemalloc.start()
        with pytest.raises(ValueError, match="incomplete"):
            zmqpack.unpackb(b, max_array_len=2**32, max_map_len=2**32, max_str_len=2**32,
                            max_bin_len=2**32, max_ext_len=2**32)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 1 << 20


# -- streaming -----------------------------------------------------------------

def chunks(r, b):
    i = 0
    while i < len(b):
        n = r.choice([1, 1, 2, 3, 7, 64, 1000, 8192])
        yield b[i:i + n]
        i += n


def test_stream_random_chunking(pairs):
    r = random.Random(7)
    stream = b"".join(msgpack.packb(mo) for _, mo in pairs[:3000])
    expect = [norm(msgpack.unpackb(msgpack.packb(mo))) for _, mo in pairs[:3000]]
    u = zmqpack.Unpacker()
    got = []
    for c in chunks(r, stream):
        u.feed(c)
        got.extend(norm(o) for o in u)
    assert got == expect
    assert u.tell() == len(stream)


def test_stream_one_byte_at_a_time(corpus):
    b = corpus["github"]
    u = zmqpack.Unpacker()
    out = []
    for i in range(len(b)):
        u.feed(b[i:i + 1])
        out.extend(u)
    assert out == [msgpack.unpackb(b)]


def test_stream_large_one_byte():
    """Linear work: a 200 KB object fed one byte at a time stays fast."""
    b = msgpack.packb([list(range(50))] * 1000)
    u = zmqpack.Unpacker()
    feed = u.feed
    for i in range(len(b)):
        feed(b[i:i + 1])
    assert u.unpack() == msgpack.unpackb(b)


def test_stream_api():
    objs = [1, "two", [3], {"four": 4}, b"five"]
    b = b"".join(msgpack.packb(o) for o in objs) + b"tail"
    for mod in (zmqpack, msgpack):
        u = mod.Unpacker(io.BytesIO(b), read_size=3)
        res = [u.unpack(), u.tell()]
        u.skip()
        res += [u.read_array_header(), u.unpack(), u.read_map_header(), u.unpack(), u.unpack(),
                u.unpack(), u.read_bytes(4), u.tell()]
        res.append(exc_kind(u.unpack))
        if mod is zmqpack:
            rz = res
        else:
            rm = res
    assert rz == rm


def test_stream_errors():
    for mod in (zmqpack, msgpack):
        u = mod.Unpacker(max_buffer_size=10)
        u.feed(b"\x01" * 5)
        with pytest.raises(mod.BufferFull):
            u.feed(b"\x01" * 6)
        with pytest.raises(AssertionError):
            mod.Unpacker(io.BytesIO(b"")).feed(b"x")
        with pytest.raises(ValueError):
            mod.Unpacker(read_size=20, max_buffer_size=10)
        u = mod.Unpacker()
        with pytest.raises(mod.OutOfData):
            u.unpack()
        assert list(u) == []
        u.feed(b"\xc1")
        with pytest.raises(mod.FormatError):
            u.unpack()
        u = mod.Unpacker()
        u.feed(b"\x91" * 1100)
        with pytest.raises(mod.StackError):
            u.unpack()


@pytest.mark.parametrize("opts", [dict(use_list=False), dict(raw=True), dict(timestamp=2),
                                  dict(strict_map_key=False),
                                  dict(object_pairs_hook=list), dict(list_hook=tuple)])
def test_stream_options(pairs, opts):
    stream = b"".join(msgpack.packb(mo) for _, mo in pairs[:500])
    uz, um = zmqpack.Unpacker(**opts), msgpack.Unpacker(**opts)
    uz.feed(stream)
    um.feed(stream)
    seqs = []
    for u in (uz, um):
        seq = []
        for _ in range(600):  # an error while building skips that object; 500 objects
            seq.append(result(u.unpack))
            if seq[-1] == ("raised", kind_of(msgpack.OutOfData())):
                break
        seqs.append(seq)
    assert seqs[0] == seqs[1]
    assert seqs[0][-1][0] == "raised"  # the stream ran out, not the loop
    assert sum(r[0] == "value" for r in seqs[0]) >= 100


def test_aliases():
    buf = io.BytesIO()
    zmqpack.dump({"a": 1}, buf)
    assert zmqpack.load(io.BytesIO(buf.getvalue())) == {"a": 1}
    assert zmqpack.loads(zmqpack.dumps([1])) == [1]
    assert zmqpack.pack is zmqpack.dump and zmqpack.unpack is zmqpack.load


def test_stream_hostile_bytes_never_crash(pairs):
    """Random and corrupted streams in random chunks: only clean exceptions.
    Where msgpack-python's streaming Unpacker yields objects, ours yields the
    same objects up to the first error."""
    r = random.Random(5)
    good = [msgpack.packb(mo) for _, mo in pairs[:200]]
    for trial in range(300):
        if trial % 2:
            data = r.randbytes(r.randrange(1, 200))
        else:
            ba = bytearray(b"".join(r.sample(good, 3)))
            for _ in range(2):
                ba[r.randrange(len(ba))] = r.randrange(256)
            data = bytes(ba)
        opts = r.choice([{}, dict(raw=True), dict(use_list=False, strict_map_key=False),
                         dict(max_buffer_size=64), dict(max_array_len=3, max_str_len=5)])

        def run(mod):
            u = mod.Unpacker(**opts)
            out = []
            try:
                for c in chunks(r, data):
                    u.feed(c)
                    for o in u:
                        out.append(norm(o))
            except (ValueError, TypeError, mod.UnpackException) as e:
                out.append(("error",))
            return out
        z = run(zmqpack)
        m = run(msgpack)
        n = min(len(z), len(m))
        # identical prefix of decoded objects (errors may come at a different point)
        k = 0
        while k < n and z[k] == m[k] and z[k] != ("error",):
            k += 1
        assert k == n or z[k] == ("error",) or m[k] == ("error",)


def test_stream_error_recovery_and_hooks_once():
    # an error while building a well-formed object skips that object
    u = zmqpack.Unpacker()
    u.feed(msgpack.packb({1: 2}) + msgpack.packb("next"))
    with pytest.raises(ValueError):
        u.unpack()
    assert u.unpack() == "next"
    # a malformed object stays: the same error again
    u = zmqpack.Unpacker()
    u.feed(b"\x92\x01\xc1")
    for _ in range(2):
        with pytest.raises(zmqpack.FormatError):
            u.unpack()
    # hooks run exactly once per object, whatever the chunking
    calls = []
    data = b"".join(msgpack.packb({"k": [i, {"x": i}]}) for i in range(50))
    u = zmqpack.Unpacker(object_hook=lambda d: calls.append(1) or d)
    got = []
    for i in range(0, len(data), 3):
        u.feed(data[i:i + 3])
        got.extend(u)
    assert len(got) == 50 and len(calls) == 100


# -- the drop-in claim, call by call -----------------------------------------------

def _feed_all(u, data, step):
    out = []
    for i in range(0, len(data), step):
        u.feed(data[i:i + step])
        out.extend(u)
    return out


def _stream(mod, data, **kw):
    u = mod.Unpacker(io.BytesIO(data), **kw)
    return [u.unpack(), u.tell(), u.read_bytes(2), list(u), u.tell()]


def _pack_to(mod, obj, **kw):
    buf = io.BytesIO()
    mod.pack(obj, buf, **kw)
    return buf.getvalue()


def _packer(mod, *calls, **kw):
    p = mod.Packer(**kw)
    out = [getattr(p, name)(*args) for name, *args in calls]
    return out + [p.bytes(), bytes(p.getbuffer())]


_DOC = {"name": "zmqpack", "ids": [1, -2, 2**40], "pi": 3.14159, "raw": b"\x00\xff",
        "nested": {"t": (1, 2), "none": None, "yes": True}}
_DOC_B = msgpack.packb(_DOC)
_STREAM = b"".join(msgpack.packb(o) for o in (1, "two", [3, 4], {"k": b"v"}, _DOC))
_EXT = msgpack.packb([msgpack.ExtType(7, b"ab"), msgpack.Timestamp(5, 6)])

# Each call runs with mod = zmqpack and mod = msgpack; the results, or the
# exception types and texts, must be equal.
DROP_IN_CALLS = {
    "packb": lambda m: m.packb(_DOC),
    "packb use_bin_type=False": lambda m: m.packb(_DOC, use_bin_type=False),
    "packb use_single_float": lambda m: m.packb([1.5, 2.25], use_single_float=True),
    "packb default": lambda m: m.packb({"s": {1, 2}}, default=sorted),
    "packb strict_types": lambda m: m.packb((1, 2), strict_types=True, default=list),
    "packb strict_types refuses": lambda m: m.packb((1, 2), strict_types=True),
    "packb datetime": lambda m: m.packb(datetime.datetime(2020, 1, 2, tzinfo=datetime.timezone.utc),
                                        datetime=True),
    "packb unknown type": lambda m: m.packb(object()),
    "packb int overflow": lambda m: m.packb(2**64),
    "packb unicode_errors": lambda m: m.packb("a\udcff", unicode_errors="surrogateescape"),
    "packb msgpack.ExtType": lambda m: m.packb(msgpack.ExtType(3, b"z")),
    "packb msgpack.Timestamp": lambda m: m.packb(msgpack.Timestamp(1, 2)),
    "pack": lambda m: _pack_to(m, _DOC),
    "pack options": lambda m: _pack_to(m, [1.5], use_single_float=True),
    "unpackb": lambda m: m.unpackb(_DOC_B),
    "unpackb use_list": lambda m: m.unpackb(_DOC_B, use_list=False),
    "unpackb raw": lambda m: m.unpackb(_DOC_B, raw=True),
    "unpackb timestamp=1": lambda m: m.unpackb(_EXT, timestamp=1),
    "unpackb timestamp=2": lambda m: m.unpackb(_EXT, timestamp=2),
    "unpackb timestamp=3": lambda m: m.unpackb(_EXT, timestamp=3),
    "unpackb strict_map_key": lambda m: m.unpackb(msgpack.packb({1: 2})),
    "unpackb strict_map_key=False": lambda m: m.unpackb(msgpack.packb({1: 2}), strict_map_key=False),
    "unpackb object_hook": lambda m: m.unpackb(_DOC_B, object_hook=lambda d: sorted(d)),
    "unpackb object_pairs_hook": lambda m: m.unpackb(_DOC_B, object_pairs_hook=list),
    "unpackb list_hook": lambda m: m.unpackb(_DOC_B, list_hook=tuple),
    "unpackb ext_hook": lambda m: m.unpackb(_EXT, ext_hook=lambda c, d: (c, d)),
    "unpackb both hooks": lambda m: m.unpackb(_DOC_B, object_hook=dict, object_pairs_hook=dict),
    "unpackb extra data": lambda m: m.unpackb(b"\x01\x02"),
    "unpackb incomplete": lambda m: m.unpackb(b"\x92\x01"),
    "unpackb bad utf-8": lambda m: m.unpackb(b"\xa2\xff\xfe"),
    "unpackb unicode_errors": lambda m: m.unpackb(b"\xa2\xff\xfe", unicode_errors="replace"),
    "unpackb max_str_len": lambda m: m.unpackb(_DOC_B, max_str_len=3),
    "unpackb max_bin_len": lambda m: m.unpackb(_DOC_B, max_bin_len=1),
    "unpackb max_array_len": lambda m: m.unpackb(_DOC_B, max_array_len=2),
    "unpackb max_map_len": lambda m: m.unpackb(_DOC_B, max_map_len=2),
    "unpackb max_ext_len": lambda m: m.unpackb(_EXT, max_ext_len=1),
    "unpackb bad timestamp option": lambda m: m.unpackb(b"\x01", timestamp=5),
    "unpack": lambda m: m.unpack(io.BytesIO(_DOC_B)),
    "unpack extra data": lambda m: m.unpack(io.BytesIO(_DOC_B + b"\x01")),
    "Packer pack": lambda m: m.Packer().pack(_DOC),
    "Packer options": lambda m: m.Packer(use_bin_type=False, use_single_float=True).pack(
        [b"x", 1.5]),
    "Packer methods": lambda m: _packer(m, ("pack", 1), ("pack_array_header", 2),
                                        ("pack_map_header", 1), ("pack_ext_type", 0x42, b"A"),
                                        ("pack_map_pairs", [(1, 2)]), autoreset=False),
    "Packer pack_ext_type": lambda m: _packer(m, ("pack_ext_type", 0x42, b"A"), autoreset=False),
    "Packer default not callable": lambda m: m.Packer(default=1),
    "Unpacker feed": lambda m: _feed_all(m.Unpacker(), _STREAM, 1000),
    "Unpacker feed 1 byte": lambda m: _feed_all(m.Unpacker(), _STREAM, 1),
    "Unpacker feed 3 bytes, options": lambda m: _feed_all(
        m.Unpacker(use_list=False, raw=True), _STREAM, 3),
    "Unpacker hooks": lambda m: _feed_all(
        m.Unpacker(object_hook=lambda d: len(d), list_hook=tuple), _STREAM, 7),
    "Unpacker file_like read_size": lambda m: _stream(m, _STREAM, read_size=5),
    "Unpacker file_like not readable": lambda m: m.Unpacker(file_like=1),
    "Unpacker read_size too big": lambda m: m.Unpacker(read_size=20, max_buffer_size=10),
    "Unpacker out of data": lambda m: m.Unpacker().unpack(),
    "Unpacker BufferFull": lambda m: _feed_all(m.Unpacker(max_buffer_size=4), b"\x01" * 5, 5),
    "Unpacker max_str_len": lambda m: _feed_all(m.Unpacker(max_str_len=2), _STREAM, 100),
    "Unpacker max_array_len": lambda m: _feed_all(m.Unpacker(max_array_len=1), _STREAM, 100),
    "Unpacker strict_map_key": lambda m: _feed_all(m.Unpacker(), msgpack.packb({1: 2}), 9),
    "Unpacker max_ext_len": lambda m: _feed_all(m.Unpacker(max_ext_len=1), _EXT, 100),
    "ExtType bad code": lambda m: m.ExtType(128, b""),
    "Timestamp bad ns": lambda m: m.Timestamp(0, 10**9),
}

# Deliberate differences: the type is the same, the text says what is wrong
# where msgpack-python's is empty or an internal code.
DROP_IN_TEXT_DIFFERS = {"unpackb 0xc1": b"\xc1", "unpackb too deep": b"\x91" * 1100,
                        "unpackb bad timestamp length": b"\xc7\x03\xff\x00\x00\x00"}


def _outcome(call, mod):
    try:
        return "value", norm(call(mod))
    except Exception as e:  # noqa: BLE001
        return "raised", kind_of(e), str(e)


@pytest.mark.parametrize("name", sorted(DROP_IN_CALLS))
def test_drop_in(name):
    z, m = _outcome(DROP_IN_CALLS[name], zmqpack), _outcome(DROP_IN_CALLS[name], msgpack)
    assert z == m


@pytest.mark.parametrize("name", sorted(DROP_IN_TEXT_DIFFERS))
def test_drop_in_error_texts_that_differ(name):
    b = DROP_IN_TEXT_DIFFERS[name]
    z, m = _outcome(lambda mod: mod.unpackb(b), zmqpack), _outcome(lambda mod: mod.unpackb(b), msgpack)
    assert z[:2] == m[:2] and z[2] and z[2] != m[2]


@pytest.mark.parametrize("name", ["BufferFull", "ExtraData", "FormatError", "OutOfData",
                                  "StackError", "UnpackException", "UnpackValueError",
                                  "PackException", "PackValueError", "PackOverflowError"])
def test_except_msgpack_catches_zmqpack(name):
    assert issubclass(getattr(zmqpack, name), getattr(msgpack, name))
    raisers = {"ExtraData": lambda: zmqpack.unpackb(b"\x01\x02"),
               "FormatError": lambda: zmqpack.unpackb(b"\xc1"),
               "StackError": lambda: zmqpack.unpackb(b"\x91" * 1100),
               "OutOfData": lambda: zmqpack.Unpacker().unpack(),
               "BufferFull": lambda: zmqpack.Unpacker(max_buffer_size=1).feed(b"ab")}
    if name in raisers:
        with pytest.raises(getattr(msgpack, name)):
            raisers[name]()


def test_large_bins_are_identical_however_they_are_packed():
    """Large bytes bodies go into packb()'s result with one copy (noted while
    packing, copied when the bytes are made): the bytes are msgpack-python's
    whatever the mix of sizes, positions, nesting and Packer modes."""
    big = [b"x" * 20000, b"y" * 16384, b"z" * 16383, bytearray(b"q" * 40000), memoryview(b"m" * 30000)]
    objs = [big, {"k": big[0], "s": "s" * 30000, "n": [big[1], 1, big[2]]}, [b"a", big[0], b"b"],
            (big[0], big[0]), b"", big[0]]
    for o in objs:
        want = msgpack.packb(o)
        assert zmqpack.packb(o) == want
        assert zmqpack.Packer().pack(o) == want
        p = zmqpack.Packer(autoreset=False)
        p.pack(o)
        p.pack(o)
        assert p.bytes() == want + want
        assert zmqpack.unpackb(zmqpack.packb(o, keep_types=True), keep_types=True) == \
            zmqpack.unpackb(zmqpack.packb(o, keep_types=True), keep_types=True)
    t = (big[0], [big[1]])  # chunks inside a keep_types ext stay inside it
    assert zmqpack.unpackb(zmqpack.packb(t, keep_types=True), keep_types=True) == (big[0], [big[1]])
    with pytest.raises(TypeError):  # an error after a chunk leaves nothing behind
        zmqpack.packb([big[0], object()])
    assert zmqpack.packb([big[0]]) == msgpack.packb([big[0]])
