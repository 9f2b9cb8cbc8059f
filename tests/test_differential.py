#!/usr/bin/python3
"""Differential test: zmqpack against Debian's python3-msgpack.

A seeded generator makes random objects (every int boundary, floats with
NaN/inf/-0.0, UTF-8 strings with multi-byte characters and emoji, bin, ext,
timestamps, nested arrays and maps, every length boundary of every
container and string form). msgpack-python packs each one
(use_bin_type=True; some records with use_single_float=True). The C driver
(tests/diff_driver.c, public API only) decodes each record into a document
tree, re-encodes it with the zmqpack writer, and also converts the tree to
the lossless JSON form and that JSON back to MessagePack.

Checked for every record:
  1. the zmqpack re-encoding is byte-identical to msgpack-python's bytes;
  2. the JSON round trip is byte-identical too;
  3. the lossless JSON text of zmqpack's tree, read back here with its
     tags, equals the original value (NaN-aware, type-strict: bool is not
     int, int is not float, -0.0 is not 0.0). (msgpack-python reading
     zmqpack's bytes needs no check: they are identical to its own.)

Usage: test_differential.py DRIVER [--seed N] [--count N]
Exit status 0 when every record agrees; the first mismatches are printed.
"""
import argparse
import base64
import json
import math
import random
import struct
import subprocess
import sys

import msgpack

# ---- the generator ---------------------------------------------------------

INT_BOUNDARIES = [
    0, 1, 126, 127, 128, 129, 254, 255, 256, 257,
    65534, 65535, 65536, 65537,
    2**31 - 1, 2**31, 2**32 - 2, 2**32 - 1, 2**32, 2**32 + 1,
    2**53, 2**63 - 1, 2**63, 2**64 - 2, 2**64 - 1,
    -1, -2, -31, -32, -33, -34, -127, -128, -129, -130,
    -32767, -32768, -32769, -32770,
    -2**31 + 1, -2**31, -2**31 - 1, -2**31 - 2,
    -2**53, -2**63 + 1, -2**63,
]

FLOAT_SPECIALS = [
    0.0, -0.0, 1.0, -1.0, 0.5, 1.5, math.pi, -math.e, 1e300, -1e300, 1e-300,
    5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
    float("inf"), float("-inf"), float("nan"), 3.4028234663852886e38, 1.401298464324817e-45,
    16777216.0, 16777217.0, 9007199254740993.0, 0.1, -0.1, 100.0,
]

# Lengths around every boundary of fixstr/str8/str16/str32, bin8/16/32,
# fixarray/array16/32, fixmap/map16/32 and ext8/16/32.
STR_LENGTHS = [0, 1, 30, 31, 32, 33, 254, 255, 256, 257, 65535, 65536, 65537]
BIN_LENGTHS = [0, 1, 254, 255, 256, 257, 65535, 65536, 65537]
ARRAY_LENGTHS = [0, 1, 14, 15, 16, 17, 65535, 65536]
EXT_LENGTHS = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 254, 255, 256, 257, 65535, 65536, 65537]

ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\"\\/\t\n",
    "éèàüößçñÅÆØ€£¥§µ",                 # 2-byte UTF-8
    "日本語中文한국어ひらがなカタカナ",     # 3-byte
    "😀🎉🚀🐍🦀🍕👍🏽🇫🇷🧪",                # 4-byte (emoji, modifiers, flags)
    "\u0000\u0001\u001f\u007f\u0080\u00ff\u0800\uffff\U00010000\U0010ffff",  # edges
]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def int_(self):
        r = self.r
        k = r.random()
        if k < 0.4:
            return r.choice(INT_BOUNDARIES)
        # A random value of a random width, either sign.
        bits = r.choice([4, 5, 7, 8, 15, 16, 31, 32, 53, 63])
        v = r.getrandbits(bits)
        if r.random() < 0.5:
            return -v - (1 if r.random() < 0.5 else 0)
        if r.random() < 0.1:
            return r.getrandbits(64)
        return v

    def float_(self):
        r = self.r
        k = r.random()
        if k < 0.35:
            return r.choice(FLOAT_SPECIALS)
        if k < 0.6:
            return struct.unpack("<d", struct.pack("<Q", r.getrandbits(64)))[0]
        if k < 0.8:
            return r.uniform(-1e6, 1e6)
        return float(r.randint(-10**6, 10**6))

    def str_(self, length=None):
        r = self.r
        if length is None:
            length = r.choice([0, 1, 2, 3, 5, 8, 12, 20, 31, 32, 40]) if r.random() < 0.95 \
                else r.choice(STR_LENGTHS[:10])
        alpha = r.choice(ALPHABETS)
        chunk = r.choices(alpha, k=min(24, length))
        out, n, i = [], 0, 0
        while chunk and n < length:  # whole characters up to `length` UTF-8 bytes
            c = chunk[i % len(chunk)]
            cb = len(c.encode("utf-8"))
            if n + cb > length:
                break
            out.append(c)
            n += cb
            i += 1
        return "".join(out) + "a" * (length - n)

    def bin_(self, length=None):
        r = self.r
        if length is None:
            length = r.choice([0, 1, 2, 7, 16, 31, 32, 100]) if r.random() < 0.95 \
                else r.choice(BIN_LENGTHS[:6])
        return r.randbytes(length)

    def ext_(self):
        r = self.r
        # msgpack-python 1.0 only makes ext types 0..127 (negative ones are
        # reserved; -1, the timestamp, comes from Timestamp below).
        code = r.choice([0, 1, 5, 42, 127, r.randint(0, 127)])
        length = r.choice(EXT_LENGTHS[:16]) if r.random() < 0.97 else r.choice(EXT_LENGTHS)
        return msgpack.ExtType(code, r.randbytes(length))

    def timestamp_(self):
        r = self.r
        k = r.random()
        if k < 0.3:      # timestamp 32: seconds in [0, 2^32), no nanoseconds
            return msgpack.Timestamp(r.choice([0, 1, 2**32 - 1, r.getrandbits(32)]), 0)
        if k < 0.6:      # timestamp 64: seconds in [0, 2^34)
            sec = r.choice([0, 2**32, 2**34 - 1, r.getrandbits(34)])
            return msgpack.Timestamp(sec, r.choice([1, 999999999, r.randint(0, 999999999)]))
        # timestamp 96: negative or beyond 2^34 seconds
        sec = r.choice([-1, -2**63, 2**63 - 1, 2**34, -r.getrandbits(40), r.getrandbits(62)])
        return msgpack.Timestamp(sec, r.randint(0, 999999999))

    def scalar(self):
        r = self.r
        k = r.randrange(11)
        if k == 0:
            return None
        if k == 1:
            return r.random() < 0.5
        if k in (2, 3):
            return self.int_()
        if k in (4, 5):
            return self.float_()
        if k in (6, 7):
            return self.str_()
        if k == 8:
            return self.bin_()
        if k == 9:
            return self.ext_()
        return self.timestamp_()

    def key(self):
        r = self.r
        k = r.random()
        if k < 0.7:
            return self.str_(r.choice([0, 1, 3, 6, 10, 31, 32]))
        if k < 0.8:
            return self.int_()
        if k < 0.85:
            return self.bin_(r.randint(0, 8))
        if k < 0.9:
            return r.choice([None, True, False])
        if k < 0.95:
            return tuple(self.int_() for _ in range(r.randint(0, 3)))
        if k < 0.97:  # keys that look like the JSON bridge's tags
            return r.choice(["$bin", "$map", "$ext", "$float", "$x", "$"])
        return r.choice([0.5, -2.25, 1e10])

    def obj(self, depth=0):
        r = self.r
        k = r.random()
        # Containers get rarer with depth so objects stay small (about 20
        # values on average) while some still nest 6 deep.
        p = 0.5 / (1 + 2 * depth)
        if depth >= 6 or k >= p:
            return self.scalar()
        if k < p / 2:
            n = r.choice([0, 1, 2, 3, 4, 5, 8, 14, 15, 16, 17, 20])
            return [self.obj(depth + 1) for _ in range(n)]
        n = r.choice([0, 1, 1, 2, 3, 4, 6, 15, 16, 17])
        d = {}
        for _ in range(n):
            d[self.key()] = self.obj(depth + 1)
        return d

    def big(self, i):
        """The rare records at the 16/32-bit length boundaries."""
        r = self.r
        kinds = [
            lambda: self.str_(r.choice(STR_LENGTHS)),
            lambda: self.bin_(r.choice(BIN_LENGTHS)),
            lambda: [r.randint(-40, 120) for _ in range(r.choice(ARRAY_LENGTHS))],
            lambda: {j: (j & 3 == 0) for j in range(r.choice(ARRAY_LENGTHS))},
            lambda: msgpack.ExtType(r.randint(0, 127), r.randbytes(r.choice(EXT_LENGTHS))),
        ]
        return kinds[i % len(kinds)]()


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def to_single(o):
    """The value msgpack-python's use_single_float=True actually encodes."""
    if isinstance(o, float):
        return f32(o) if math.isfinite(o) and abs(o) <= 3.4028234663852886e38 else \
            (o if not math.isfinite(o) else math.copysign(math.inf, o))
    if isinstance(o, list):
        return [to_single(x) for x in o]
    if isinstance(o, dict):
        return {k: to_single(v) for k, v in o.items()}
    return o


# ---- comparisons -----------------------------------------------------------

def same(a, b):
    """Type-strict, NaN-aware deep equality (lists and tuples are both arrays)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        for (ka, va), (kb, vb) in zip(a.items(), b.items()):
            if not same(ka, kb) or not same(va, vb):
                return False
        return True
    return a == b


def hashable(o):
    return tuple(hashable(x) for x in o) if isinstance(o, list) else o


def from_lossless(j):
    """Reads zmqpack's lossless JSON form (see docs/msgpack.md)."""
    if isinstance(j, list):
        return [from_lossless(x) for x in j]
    if not isinstance(j, dict):
        return j
    if len(j) == 1:
        (tag, v), = j.items()
        if tag == "$bin":
            return base64.b64decode(v)
        if tag == "$str":
            return base64.b64decode(v).decode("utf-8", errors="surrogateescape")
        if tag == "$ext":
            return msgpack.ExtType(v[0], base64.b64decode(v[1]))
        if tag == "$timestamp":
            return msgpack.Timestamp(v[0], v[1])
        if tag == "$uint":
            return int(v)
        if tag in ("$float", "$float32"):
            if isinstance(v, str) and v.startswith("0x"):
                fmt = ("<Q", "<d") if tag == "$float" else ("<I", "<f")
                return struct.unpack(fmt[1], struct.pack(fmt[0], int(v, 16)))[0]
            # $float32 numbers are written in the fewest digits that name the float
            return f32(float(v)) if tag == "$float32" else float(v)
        if tag == "$map":
            return {hashable(from_lossless(k)): from_lossless(x) for k, x in v}
        if tag.startswith("$"):
            raise ValueError("unknown tag %r" % tag)
    return {k: from_lossless(x) for k, x in j.items()}


# ---- the driver protocol -----------------------------------------------------
# stdin:  per record, u32 LE length + MessagePack bytes.
# stdout: per record, i32 LE status, then three u32-length-prefixed blobs:
#         re-encoded bytes, lossless JSON text, bytes from that JSON.

def run(driver, records):
    inp = bytearray()
    for b in records:
        inp += struct.pack("<I", len(b)) + b
    p = subprocess.run([driver], input=bytes(inp), capture_output=True, timeout=120)
    if p.returncode != 0:
        sys.stderr.write(p.stderr.decode(errors="replace"))
        raise SystemExit("driver exited with %d" % p.returncode)
    out = memoryview(p.stdout)
    pos = 0
    results = []
    for _ in records:
        status, = struct.unpack_from("<i", out, pos)
        pos += 4
        blobs = []
        for _ in range(3):
            n, = struct.unpack_from("<I", out, pos)
            pos += 4
            blobs.append(bytes(out[pos:pos + n]))
            pos += n
        results.append((status, *blobs))
    if pos != len(out):
        raise SystemExit("driver wrote %d trailing bytes" % (len(out) - pos))
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("driver")
    ap.add_argument("--seed", type=int, default=20261121)
    ap.add_argument("--count", type=int, default=10400)
    args = ap.parse_args()

    g = Gen(args.seed)
    objs, records = [], []
    for i in range(args.count):
        if i % 400 == 0:
            o = g.big(i // 400)
        elif i < len(INT_BOUNDARIES):
            o = INT_BOUNDARIES[i]
        elif i - len(INT_BOUNDARIES) < len(FLOAT_SPECIALS):
            o = FLOAT_SPECIALS[i - len(INT_BOUNDARIES)]
        else:
            o = g.obj()
        single = (i % 10 == 7)
        if single:
            o = to_single(o)
        objs.append(o)
        records.append(msgpack.packb(o, use_bin_type=True, use_single_float=single))

    results = run(args.driver, records)
    failures = 0
    kinds = {}
    for i, (o, b, (status, re, js, back)) in enumerate(zip(objs, records, results)):
        kinds[b[0]] = kinds.get(b[0], 0) + 1
        why = None
        if status != 0:
            why = "driver status %d" % status
        elif re != b:
            why = "re-encoded bytes differ"
        elif back != b:
            why = "JSON round trip bytes differ"
        else:
            # (msgpack-python reading zmqpack's bytes is implied: they are
            # identical to its own.) The value check that sees zmqpack's
            # tree: its lossless JSON, read here, equals the original.
            try:
                v = from_lossless(json.loads(js.decode("utf-8")))
            except Exception as e:  # noqa: BLE001 - report any decode failure
                v, why = None, "lossless JSON unreadable: %s" % e
            if why is None and not same(v, o):
                why = "lossless JSON value differs"
        if why:
            failures += 1
            if failures <= 10:
                print("record %d: %s" % (i, why))
                print("  object:    %r" % (o if len(b) < 300 else "<%d bytes>" % len(b)))
                print("  python:    %s" % b[:120].hex())
                print("  zmqpack:   %s" % re[:120].hex())
                print("  json:      %s" % js[:300].decode("utf-8", errors="replace"))
                print("  from json: %s" % back[:120].hex())
    total = sum(len(b) for b in records)
    print("%d records, %d bytes, %d distinct first bytes, %d failures"
          % (len(records), total, len(kinds), failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
