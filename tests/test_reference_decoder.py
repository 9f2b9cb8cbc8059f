"""The reference decoder (docs/protocol_reference.py) reads what the C library
sends over a real tcp socket: every kind, codec, order, single-frame mode."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import zmq

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs"))
import protocol_reference as ref  # noqa: E402

DRIVER = os.environ.get("ZPK_SOCK_DRIVER")
pytestmark = pytest.mark.skipif(not DRIVER, reason="ZPK_SOCK_DRIVER not set")


def receive(n, *args):
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.PULL)
    s.linger = 0
    s.rcvtimeo = 10000
    s.bind("tcp://127.0.0.1:*")
    ep = s.getsockopt_string(zmq.LAST_ENDPOINT)
    p = subprocess.Popen([DRIVER, *args, ep])
    try:
        msgs = [s.recv_multipart() for _ in range(n)]
    finally:
        assert p.wait(timeout=30) == 0
        s.close()
    return msgs


def test_reference_decoder_reads_c_output():
    msgs = receive(11, "send")
    out = [ref.decode(m) for m in msgs]

    assert out[0] == ([b"t1"], {"id": 1, "name": "zpk", "vals": [1.5, -2.0]})
    assert out[1] == ([], [i * 7 for i in range(20000)])
    envelope, a = out[2]
    assert envelope == [b"cam"] and a.dtype == np.float64
    assert np.array_equal(a, np.arange(12.0).reshape(3, 4))
    _, f = out[3]
    assert f.flags.f_contiguous and np.array_equal(f, np.arange(12.0).reshape((3, 4), order="F"))
    _, i16 = out[4]
    assert i16.dtype == np.int16 and np.array_equal(i16, np.arange(100000) % 1000)
    _, f4 = out[5]
    assert f4.dtype == np.float32 and np.array_equal(f4, np.arange(50000, dtype=np.float32))
    _, mixed = out[6]
    assert mixed["ts"] == 12.5
    assert mixed["image"].shape == (250, 400)
    assert np.array_equal(mixed["image"].ravel(), (np.arange(100000) * 31).astype(np.uint16))
    assert mixed["mask"].dtype == np.bool_ and np.array_equal(mixed["mask"], np.arange(300) % 2 == 1)
    _, single = out[7]
    assert np.array_equal(single, np.arange(1000, dtype=np.int32) + 3000)
    assert len(msgs[7]) == 1
    assert out[8] == ([], {"id": 9}) and len(msgs[8]) == 1
    _, empty = out[9]
    assert empty.shape == (0, 5) and empty.dtype == np.int32
    _, sm = out[10]
    assert np.array_equal(sm["a"], np.arange(300) % 2 == 1) and sm["b"] is sm["a"]


def test_headers_are_recognisable():
    msgs = receive(11, "send")
    for m in msgs:
        hdr = m[1] if m[0] in (b"t1", b"cam") else m[0]
        assert ref.is_header(hdr)
        assert not ref.is_header(m[0]) or m[0] not in (b"t1", b"cam")


def test_reference_decoder_refuses_foreign_and_newer():
    with pytest.raises(ValueError):
        ref.decode([b"hello", b"world", b"!"])
    import msgpack
    newer = msgpack.packb({"zpk": 2, "kind": "obj", "frames": 1})
    with pytest.raises(ValueError):
        ref.decode([newer, msgpack.packb(1)])


# ---- the protocol as written: the C library and the reference decoder agree --------

def _array_header(codec, stored, nbytes=32, shape=(4,), dtype="<f8"):
    return {"dtype": dtype, "shape": list(shape), "order": "C", "nbytes": nbytes,
            "codec": codec, "chunk": nbytes, "chunks": [len(s) for s in stored]}


def _protocol_cases():
    """(name, frames) of messages that test a rule of docs/PROTOCOL.md."""
    import msgpack
    import zlib
    v = np.arange(4, dtype="<f8")
    z = zlib.compress(v.tobytes(), 6)
    cases = []
    for codec in ("zlib:-1", "zlib:6:x", "zlib:99", "lzma:9", "auto"):
        h = {"zpk": 1, "kind": "array", "frames": 1, "array": _array_header(codec, [z])}
        cases.append(("codec " + codec, [msgpack.packb(h), z]))
    try:
        import blosc
        b = blosc.compress(v.tobytes(), typesize=8)
        h = {"zpk": 1, "kind": "array", "frames": 1,
             "array": _array_header("blosc:lz4:12:shuffle", [b])}
        cases.append(("codec blosc:lz4:12:shuffle", [msgpack.packb(h), b]))
    except ImportError:
        pass
    u = np.arange(3, dtype="|u1").tobytes()
    ah = _array_header("none", [u], nbytes=3, shape=(3,), dtype="|u1")
    for name, ext in (("ext 90 of 4 bytes", msgpack.ExtType(90, b"\0\0\0\0")),
                      ("ext 90 of 2 bytes", msgpack.ExtType(90, b"\0\0")),
                      ("ext 90 of 5 bytes", msgpack.ExtType(90, b"\0\0\0\0\0"))):
        hdr = {"zpk": 1, "kind": "mixed", "frames": 2, "arrays": [ah]}
        cases.append(("mixed, " + name, [msgpack.packb(hdr), msgpack.packb([1, ext]), u]))
        hdr = {"zpk": 1, "kind": "obj", "frames": 1}
        cases.append(("packed, " + name, [msgpack.packb(hdr), msgpack.packb([1, ext])]))
    obj = {"zpk": 1, "kind": "obj", "frames": 1}
    body = msgpack.packb({"v": 7})
    for env in ([], [b"t"], [b"id", b""], [b"a", b"", b"b", b""]):
        cases.append(("envelope of %d" % len(env), env + [msgpack.packb(obj), body]))
    recipe = [b'{"dtype": "int16", "shape": [2]}', np.array([1, 2], "<i2").tobytes()]
    cases.append(("recipe after an envelope of 2", [b"id", b""] + recipe))
    single = {"zpk": 1, "kind": "array", "frames": 0, "single": True,
              "array": _array_header("none", [v.tobytes()])}
    cases.append(("single frame", [msgpack.packb(single) + v.tobytes()]))
    cases.append(("single frame, a trailing byte", [msgpack.packb(single) + v.tobytes() + b"\0"]))
    cases.append(("single frame, a byte short", [msgpack.packb(single) + v.tobytes()[:-1]]))
    two = {"zpk": 1, "kind": "array", "frames": 1, "array": _array_header("none", [v.tobytes()])}
    cases.append(("a payload frame missing", [msgpack.packb(two)]))
    cases.append(("a payload frame extra", [msgpack.packb(two), v.tobytes(), b"x"]))
    cases.append(("no header", [b"hello", b"world"]))
    cases.append(("newer version", [msgpack.packb({"zpk": 2, "kind": "obj", "frames": 1}), body]))
    return cases


def _ref_verdict(frames):
    try:
        env, value = ref.decode(frames)
    except Exception as e:  # the reference refuses with ValueError, or its codec's error
        return ("error", type(e).__name__)
    sums = []
    if isinstance(value, np.ndarray):
        sums = [float(value.astype(np.float64).sum())]
    elif isinstance(value, (list, dict)):
        items = value.values() if isinstance(value, dict) else value
        sums = [float(x.astype(np.float64).sum()) for x in items if isinstance(x, np.ndarray)]
    return ("ok", len(env), sums)


def test_protocol_rules_agree_with_the_reference_decoder():
    cases = _protocol_cases()
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.PUSH)
    s.linger = 5000
    s.sndtimeo = 10000
    s.bind("tcp://127.0.0.1:*")
    ep = s.getsockopt_string(zmq.LAST_ENDPOINT)
    p = subprocess.Popen([DRIVER, "recv-any", ep, str(len(cases))], stdout=subprocess.PIPE,
                         text=True)
    for _, frames in cases:
        s.send_multipart(frames)
    out, _ = p.communicate(timeout=30)
    s.close()
    assert p.returncode == 0
    lines = out.splitlines()
    assert len(lines) == len(cases)
    for (name, frames), line in zip(cases, lines):
        c = line.split()
        r = _ref_verdict(frames)
        assert c[0] == r[0], "%s: C says %s, the reference decoder %r" % (name, line, r)
        if c[0] == "ok":
            assert int(c[1]) == r[1], name  # the envelope
            if c[2] == "array":
                assert float(c[4]) == r[2][0], name
            elif c[2] == "mixed":
                assert [float(x) for x in c[4:]] == r[2], name
    verdict = {name: line for (name, _), line in zip(cases, lines)}
    # what the C library says, exactly (docs/PROTOCOL.md, sections 1-3)
    assert verdict["codec zlib:-1"].startswith("ok 0 array <f8 6.0")
    assert verdict["codec lzma:9"] == "error ECODEC 0"
    assert verdict["codec auto"] == "error ECODEC 0"
    assert verdict["mixed, ext 90 of 2 bytes"] == "error EFORMAT 1"
    assert verdict["packed, ext 90 of 2 bytes"].startswith("ok 0 obj ")
    assert verdict["envelope of 4"].startswith("ok 4 obj ")
    assert verdict["recipe after an envelope of 2"] == "ok 2 array <i2 3.0"
    assert verdict["single frame, a trailing byte"] == "error ESHAPE 0"
    assert verdict["a payload frame missing"] == "error EFRAME 1"
    assert verdict["no header"] == "error EFOREIGN 0"
    assert verdict["newer version"] == "error EVERSION 0"


def _doc_examples():
    """The two blocks of docs/PROTOCOL.md section 7, as (topic, header, detail)."""
    import json
    import re
    text = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs",
                             "PROTOCOL.md")).read()
    out = []
    for block in re.findall(r"<!-- example: [^>]* -->\n```\n(.*?)```", text, re.S):
        topic = re.search(r'frame 0: "([^"]*)"', block).group(1).encode()
        start = block.index("frame 1: ") + len("frame 1: ")
        depth, end = 0, start
        for i, ch in enumerate(block[start:], start):
            depth += ch == "{"
            depth -= ch == "}"
            if depth == 0:
                end = i + 1
                break
        header = json.loads(block[start:end])
        out.append((topic, header, block[end:]))
    return out


def test_section_7_shows_what_is_sent():
    import json
    import msgpack
    examples = _doc_examples()
    assert len(examples) == 2
    msgs = receive(2, "send-example")
    for (topic, header, detail), m in zip(examples, msgs):
        assert m[0] == topic
        u = msgpack.Unpacker(raw=False)
        u.feed(m[1])
        sent = u.unpack()
        assert json.dumps(sent) == json.dumps(header)  # keys in the order shown too
        if header.get("single"):
            hlen, plen, total = map(int, re.search(r"\((\d+) \+ (\d+) = (\d+) bytes\)", detail).groups())
            assert (u.tell(), len(m[1]) - u.tell(), len(m[1])) == (hlen, plen, total)
            assert len(m) == 2
        else:
            assert len(m) == 3 and len(m[2]) == int(re.search(r"frame 2: (\d+) bytes", detail).group(1))
        env, a = ref.decode(m)
        assert env == [topic] and a.shape == tuple(header["array"]["shape"])
