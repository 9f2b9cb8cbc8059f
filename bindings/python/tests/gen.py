"""Seeded random objects for the differential tests, built twice: once
with msgpack-python's ExtType/Timestamp, once with zmqpack's."""
import math
import random

INT_EDGES = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, 2**63,
             2**64 - 1, -1, -31, -32, -33, -127, -128, -129, -32767, -32768, -32769,
             -2**31, -2**31 - 1, -2**63]
FLOAT_EDGES = [0.0, -0.0, 1.5, -2.25, float("inf"), float("-inf"), float("nan"), 1e308,
               5e-324, 3.4028234663852886e38]
STR_LENS = [0, 1, 31, 32, 33, 255, 256, 257, 1000, 65535, 65536]


def rand_str(r):
    n = r.choice(STR_LENS) if r.random() < 0.2 else r.randrange(0, 40)
    if r.random() < 0.7:
        return "".join(chr(r.randrange(32, 127)) for _ in range(min(n, 300))) + "x" * max(0, n - 300)
    alphabet = "aé€😀\u0000ÿ中"
    return "".join(r.choice(alphabet) for _ in range(min(n, 200)))


def rand_bytes(r):
    n = r.choice(STR_LENS) if r.random() < 0.2 else r.randrange(0, 40)
    return r.randbytes(n)


def gen(r, mod, depth=0):
    """One random object using mod.ExtType / mod.Timestamp."""
    k = r.randrange(13 if depth < 4 else 8)
    if k == 0:
        return None
    if k == 1:
        return r.random() < 0.5
    if k == 2:
        if r.random() < 0.5:
            v = r.choice(INT_EDGES) + (r.randrange(-3, 4) if r.random() < 0.5 else 0)
            return min(max(v, -2**63), 2**64 - 1)
        return r.randrange(-2**63, 2**64)
    if k == 3:
        return r.choice(FLOAT_EDGES) if r.random() < 0.3 else r.uniform(-1e9, 1e9)
    if k == 4:
        return rand_str(r)
    if k == 5:
        return rand_bytes(r)
    if k == 6:
        n = r.choice([0, 1, 2, 4, 8, 16, 3, 17, 255, 256, 300])
        return mod.ExtType(r.randrange(0, 128), r.randbytes(n))
    if k == 7:
        sec = r.choice([0, 1, 2**32 - 1, 2**32, 2**34 - 1, 2**34, -1, -2**40,
                        r.randrange(-2**63, 2**63)])
        return mod.Timestamp(sec, r.choice([0, 1, 999999999, r.randrange(10**9)]))
    if k in (8, 9):
        n = r.choice([0, 1, 15, 16, 17]) if r.random() < 0.08 else r.randrange(4)
        return [gen(r, mod, depth + 1) for _ in range(n)]
    if k == 10:
        n = r.randrange(4)
        return tuple(gen(r, mod, depth + 1) for _ in range(n))
    n = r.choice([0, 1, 15, 16, 17]) if r.random() < 0.08 else r.randrange(4)
    d = {}
    for _ in range(n):
        key = rand_str(r) if r.random() < 0.8 else rand_bytes(r)
        d[key] = gen(r, mod, depth + 1)
    return d


def objects(seed, count, mod):
    r = random.Random(seed)
    return [gen(r, mod) for _ in range(count)]


def has_ext(o):
    """True when ``o`` holds an ExtType or a Timestamp (of any module)."""
    if type(o).__name__ in ("ExtType", "Timestamp"):
        return True
    if isinstance(o, (list, tuple)):
        return any(has_ext(x) for x in o)
    if isinstance(o, dict):
        return any(has_ext(k) or has_ext(v) for k, v in o.items())
    return False


def norm(o):
    """A comparable form: NaN made equal, ext/timestamp classes unified."""
    if isinstance(o, float):
        return ("nan",) if math.isnan(o) else ("f", o, math.copysign(1, o))
    if isinstance(o, (list, tuple)):
        return (type(o).__name__, [norm(x) for x in o])
    if isinstance(o, dict):
        return ("d", sorted(((repr(norm(k)), norm(v)) for k, v in o.items()), key=lambda kv: kv[0]))
    t = type(o).__name__
    if t == "ExtType":
        return ("ext", o.code, o.data)
    if t == "Timestamp":
        return ("ts", o.seconds, o.nanoseconds)
    return (t, o)
