"""End-to-end tests of the zpk tool (run by meson with /usr/bin/python3 -m pytest).

Environment: ZPK_TOOL is the built zpk executable, ZPK_SHARED_DATA the shared
data folder. Every network test uses 127.0.0.1 with ports the kernel picks
(zpk binds tcp://127.0.0.1:* and prints the port), and every process runs
with a timeout, so nothing here can hang or race another program for a port.

Tests that need what a machine may lack are marked and run as their own meson
tests (tests/meson.build): `pty` (zpk-pty) and `shared_data`
(zpk-shared-data). When the machine lacks it, they exit with meson's skip
code, 77, and one line that says why (lacking()).
"""
import contextlib
import json
import os
import re
import socket
import subprocess
import threading
import time

import msgpack
import numpy as np
import pytest
import zmq

from peers import imagezmq, karabo, msgpack_numpy  # tests/peers: re-stated from each project's source

ZPK = os.environ.get("ZPK_TOOL", "zpk")
DATA = os.environ.get("ZPK_SHARED_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
TIMEOUT = 60
COMMANDS = ["dump", "pack", "cat", "pub", "bench", "demo", "keygen"]


def run(*args, input=None, timeout=TIMEOUT, check=None):
    p = subprocess.run([ZPK, *args], input=input, capture_output=True, timeout=timeout)
    if check is not None:
        assert p.returncode == check, (args, p.returncode, p.stderr.decode(errors="replace"))
    return p


def lacking(reason):
    """This machine lacks what the test needs: end the whole session with meson's skip code.

    Only tests that run as their own meson test call this (marks `pty` and
    `shared_data`), so no other case is hidden by the skip."""
    pytest.exit(f"SKIP: {reason}", returncode=77)


def data_file(name):
    path = os.path.join(DATA, name)
    if not os.path.exists(path):
        lacking(f"the shared test data is absent ({path})")
    return path


@contextlib.contextmanager
def silent_endpoint():
    """A tcp endpoint nobody listens on, for the length of the test: its port is bound by this
    process (no other program can take it) but not listening, so connections are refused."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    try:
        yield f"tcp://127.0.0.1:{s.getsockname()[1]}"
    finally:
        s.close()


def bound_endpoint(p, cmd):
    """Reads "zpk CMD: bound to ENDPOINT" from the stderr of zpk process @p p."""
    timer = threading.Timer(TIMEOUT, p.kill)
    timer.start()
    try:
        line = p.stderr.readline().decode()
    finally:
        timer.cancel()
    m = re.match(rf"zpk {cmd}: bound to (\S+)$", line.strip())
    assert m, f"zpk {cmd} did not say where it bound: {line!r}"
    return m.group(1)


# ---- the tool itself ---------------------------------------------------------

def test_help_lists_commands_and_exit_codes():
    p = run("--help", check=0)
    out = p.stdout.decode()
    assert "usage: zpk COMMAND" in out
    assert "exit codes" in out
    assert "2  bad arguments" in out


def test_no_arguments_is_a_usage_error():
    p = run(check=2)
    assert b"usage: zpk" in p.stderr


def test_unknown_command():
    p = run("frobnicate", check=2)
    assert b"unknown command 'frobnicate'" in p.stderr


def test_version():
    p = run("--version", check=0)
    assert p.stdout.startswith(b"zpk ")


def test_help_lists_every_command():
    out = run("--help", check=0).stdout.decode()
    listed = re.findall(r"^  (\w+) +\S", out.split("commands:")[1].split("\n\n")[0], re.M)
    assert listed == COMMANDS


@pytest.mark.parametrize("cmd", COMMANDS)
def test_each_command_has_help(cmd):
    p = run(cmd, "--help", check=0)
    assert p.stdout.decode().startswith(f"usage: zpk {cmd}")
    assert b"exit codes" in p.stdout
    assert p.stderr == b""


@pytest.mark.parametrize("cmd", COMMANDS)
def test_each_command_rejects_unknown_options(cmd):
    p = run(cmd, "--no-such-option", check=2)
    assert f"zpk {cmd}:".encode() in p.stderr
    assert f"try 'zpk {cmd} --help'".encode() in p.stderr


# ---- dump / pack ---------------------------------------------------------------

@pytest.mark.shared_data
def test_pack_then_dump_equals_the_corpus_records(tmp_path):
    src = data_file("corpus/amazon_cellphones.ndjson")
    packed = tmp_path / "cells.mpack"
    with open(src, "rb") as f, open(packed, "wb") as out:
        p = subprocess.run([ZPK, "pack"], stdin=f, stdout=out, stderr=subprocess.PIPE, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    d = run("dump", str(packed), check=0)
    want = [json.loads(l) for l in open(src, "rb") if l.strip()]
    got = [json.loads(l) for l in d.stdout.splitlines()]
    assert len(got) == len(want) == 793
    assert got == want
    # and through a pipe, as the README shows it
    sh = subprocess.run(f"'{ZPK}' pack < '{src}' | '{ZPK}' dump", shell=True, capture_output=True, timeout=TIMEOUT)
    assert sh.returncode == 0
    assert [json.loads(l) for l in sh.stdout.splitlines()] == want


@pytest.mark.shared_data
@pytest.mark.parametrize("doc", ["twitter", "citm_catalog", "canada", "github"])
def test_dump_then_pack_gives_identical_bytes(doc):
    """The corpus is canonical (shortest forms), so the bytes come back identical."""
    src = data_file(f"corpus/{doc}.mpack")
    d = run("dump", src, check=0)
    assert d.stdout.count(b"\n") == 1
    p = run("pack", input=d.stdout, check=0)
    assert p.stdout == open(src, "rb").read()


def test_dump_then_pack_gives_the_shortest_forms():
    """What README.md says: other encodings come back in their shortest form."""
    data = bytes.fromhex("cd0001" "d000" "ca3fc00000" "da0002" "6869" "dc0001" "c0")
    d = run("dump", input=data, check=0)
    assert d.stdout == b'1\n0\n{"$float32":1.5}\n"hi"\n[null]\n'
    p = run("pack", input=d.stdout, check=0)
    assert p.stdout == bytes.fromhex("01" "00" "ca3fc00000" "a26869" "91c0")


@pytest.mark.shared_data
def test_dump_matches_msgpack_python():
    src = data_file("corpus/twitter.mpack")
    d = run("dump", "--plain", src, check=0)
    want = msgpack.unpackb(open(src, "rb").read(), raw=False)
    assert json.loads(d.stdout) == want


def test_lossless_tags_round_trip():
    objs = [
        b"\x00\xffbin",
        msgpack.ExtType(5, b"abc"),
        msgpack.Timestamp(1, 500),
        {1: "int key", b"k": None},
        float("nan"),
        2**64 - 1,
        -2**63,
        [1.5, {"nested": [True, False, None]}],
        "",
        {},
    ]
    data = b"".join(msgpack.packb(o, use_bin_type=True) for o in objs)
    d = run("dump", input=data, check=0)
    lines = d.stdout.splitlines()
    assert len(lines) == len(objs)
    assert json.loads(lines[0]) == {"$bin": "AP9iaW4="}
    p = run("pack", input=d.stdout, check=0)
    assert p.stdout == data


def test_dump_reads_stdin_in_constant_memory():
    """32 MB of objects through a pipe: zpk dump's peak memory stays far below the input size.

    The peak (VmHWM) is read from /proc while zpk still waits for the end of its input,
    after it has printed every object."""
    one = msgpack.packb({"seq": 123456, "name": "sensor-7", "xy": [1.25, -2.5], "blob": b"x" * 1000})
    n = 32 * 1024 * 1024 // len(one)
    # meson sets MALLOC_PERTURB_, which makes every malloc and free a memset: not what is measured here
    env = dict(os.environ, MALLOC_PERTURB_="0")
    p = subprocess.Popen([ZPK, "dump"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    feeder = threading.Thread(target=lambda: p.stdin.write(one * n), daemon=True)
    feeder.start()
    timer = threading.Timer(TIMEOUT, p.kill)
    timer.start()
    try:
        lines = 0
        while lines < n:
            line = p.stdout.readline()
            assert line, "zpk dump stopped early"
            lines += 1
        status = open(f"/proc/{p.pid}/status").read()
        hwm_kb = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))
        feeder.join()
        p.stdin.close()
        assert p.stdout.read() == b""
        assert p.wait() == 0
    finally:
        timer.cancel()
        p.kill()
    if os.environ.get("ZPK_SANITIZED", "none") in ("", "none"):
        assert hwm_kb < 16 * 1024, f"dump used {hwm_kb} KiB for {len(one) * n} bytes of input"


def test_dump_truncated_input_is_an_error():
    data = bytes.fromhex("93a568656c6c6f0bcb40026666")  # ["hello", 11, 2.3] cut short
    p = run("dump", input=data, check=1)
    assert b"ends inside an object" in p.stderr
    assert b"need more data" in p.stderr


def test_dump_malformed_input_names_the_offset():
    p = run("dump", input=b"\x01\x02\xc1", check=1)
    assert b"zpk dump:" in p.stderr
    assert b"malformed" in p.stderr
    assert p.stdout == b"1\n2\n"


def test_dump_missing_file():
    p = run("dump", "/nonexistent/x.mpack", check=1)
    assert b"cannot open '/nonexistent/x.mpack'" in p.stderr


def test_dump_count_and_extra_arguments():
    p = run("dump", "--count", "2", input=b"\x01\x02\x03", check=0)
    assert p.stdout == b"1\n2\n"
    run("dump", "a", "b", check=2)
    run("dump", "--count", "-1", check=2)


def test_pack_bad_json_names_the_line():
    p = run("pack", input=b'{"a": 1}\n\n[1, 2,\n', check=1)
    assert b"line 3" in p.stderr


def test_pack_skips_empty_lines():
    p = run("pack", input=b"1\n\n   \n2\r\n", check=0)
    assert p.stdout == b"\x01\x02"


@pytest.mark.pty
def test_pack_refuses_to_write_to_a_terminal():
    import pty
    try:
        master, slave = pty.openpty()
    except OSError as e:
        lacking(f"cannot open a pseudo-terminal here: {e}")
    try:
        p = subprocess.run([ZPK, "pack"], input=b"1\n", stdout=slave, stderr=subprocess.PIPE,
                           timeout=TIMEOUT)
        assert p.returncode == 2
        assert b"refusing to write MessagePack to a terminal" in p.stderr
        p = subprocess.run([ZPK, "pack", "--force"], input=b"1\n", stdout=slave,
                           stderr=subprocess.PIPE, timeout=TIMEOUT)
        assert p.returncode == 0
        assert os.read(master, 16) == b"\x01"
    finally:
        os.close(master)
        os.close(slave)


def test_help_subcommand_form():
    p = run("help", "dump", check=0)
    assert p.stdout.startswith(b"usage: zpk dump")


# ---- demo ------------------------------------------------------------------------

def test_demo_quick_verifies_every_frame():
    p = run("demo", "--quick", timeout=120)
    out = p.stdout.decode()
    assert p.returncode == 0, out + p.stderr.decode()
    m = re.search(r"frames\s+(\d+) sent, (\d+) received, (\d+) checksums verified", out)
    assert m, out
    sent, received, verified = map(int, m.groups())
    assert sent > 0 and sent == received == verified
    assert re.search(r"zero-copy\s+confirmed", out), out
    assert re.search(r"compression ratio\s+\d+\.\d+x", out)
    assert re.search(r"latency\s+p50 [\d.]+ ms\s+p90 [\d.]+ ms\s+p99 [\d.]+ ms", out)


def test_demo_uncompressed_and_bad_arguments():
    p = run("demo", "--quick", "--codec", "none", "--size", "64x32", timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert b"images used where libzmq received them" in p.stdout
    assert b"bad --codec 'lzma'" in run("demo", "--codec", "lzma", check=2).stderr
    run("demo", "--size", "7x7", check=2)
    run("demo", "--seconds", "-1", check=2)
    run("demo", "extra", check=2)
    p = run("demo", "--quick", "--endpoint", "nosuch://x", timeout=60)
    assert p.returncode == 2, p.stderr
    assert b"cannot bind 'nosuch://x'" in p.stderr


# ---- pub / cat ---------------------------------------------------------------------

def cat_bg(*args, timeout_ms=20000):
    """Starts zpk cat bound to a loopback port the kernel picks; returns (process, endpoint)."""
    p = subprocess.Popen([ZPK, "cat", "--bind", "tcp://127.0.0.1:*", "--timeout", str(timeout_ms),
                          *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p, bound_endpoint(p, "cat")


def finish(p):
    try:
        out, err = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    return p.returncode, [json.loads(l) for l in out.splitlines()], err


@contextlib.contextmanager
def pusher(ep):
    """A PUSH socket connected to @p ep; closing it waits (up to 20 s) until all is delivered."""
    ctx = zmq.Context()
    s = ctx.socket(zmq.PUSH)
    s.setsockopt(zmq.LINGER, 20000)
    s.connect(ep)
    try:
        yield s
    finally:
        s.close()
        ctx.term()


def test_pub_into_cat_packed_with_topic():
    c, ep = cat_bg("--count", "3", "--topic", "weather")
    lines = b'{"city": "Oslo", "temp": -3.5, "tags": ["a", "b"]}\n\n[1, 2, {"$bin": "AAEC"}]\n"done"\n'
    p = run("pub", "--topic", "weather", "--timeout", "20000", ep, input=lines)
    assert p.returncode == 0, p.stderr
    rc, got, err = finish(c)
    assert rc == 0, err
    assert [g["topic"] for g in got] == ["weather"] * 3
    assert [g["kind"] for g in got] == ["packed"] * 3
    assert got[0]["object"] == {"city": "Oslo", "temp": -3.5, "tags": ["a", "b"]}
    assert got[1]["object"] == [1, 2, "AAEC"]  # plain form: bin as base64
    assert got[2]["object"] == "done"


def test_pub_into_cat_lossless_and_compressed():
    c, ep = cat_bg("--count", "1", "--lossless", "--type", "pull")
    obj = {"blob": {"$bin": "AAEC"}, "big": "zmqpack " * 2000}
    p = run("pub", "--type", "push", "--codec", "zlib:6", "--timeout", "20000", ep,
            input=(json.dumps(obj) + "\n").encode())
    assert p.returncode == 0, p.stderr
    rc, got, err = finish(c)
    assert rc == 0, err
    assert "topic" not in got[0] and "envelope" not in got[0]  # PULL, no envelope
    assert got[0]["object"] == obj
    assert got[0]["wire"] < 2000  # compressed on the wire


def test_pub_npy_arrays_into_cat(tmp_path):
    a = np.arange(12, dtype=">i4").reshape(3, 4)
    b = np.asfortranarray(np.linspace(-1, 1, 200 * 300).reshape(200, 300).astype("<f4"))
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    c, ep = cat_bg("--count", "3")
    p = run("pub", "--codec", "blosc:lz4:5:shuffle", "--timeout", "20000", ep, "--npy",
            str(tmp_path / "a.npy"), str(tmp_path / "b.npy"))
    assert p.returncode == 0, p.stderr
    p = run("pub", "--recipe", "--timeout", "20000", ep, "--npy", str(tmp_path / "a.npy"))
    assert p.returncode == 0, p.stderr
    rc, got, err = finish(c)
    assert rc == 0, err
    ga, gb, gr = got
    assert ga["kind"] == "array" and ga["dtype"] == ">i4" and ga["shape"] == [3, 4]
    assert (ga["min"], ga["max"], ga["mean"]) == (0, 11, 5.5)
    assert ga["raw"] == 48
    assert gb["dtype"] == "<f4" and gb["shape"] == [200, 300] and gb["order"] == "F"
    assert gb["codec"] == "blosc:lz4:5:shuffle" and gb["compressed"] < gb["raw"] == 240000
    assert gb["min"] == -1 and gb["max"] == 1 and abs(gb["mean"]) < 1e-6
    assert gr["format"] == "pyzmq-recipe" and gr["shape"] == [3, 4] and gr["max"] == 11


def test_cat_reads_the_pyzmq_recipe_and_shows_foreign_messages():
    c, ep = cat_bg("--count", "2", "--type", "pull")
    with pusher(ep) as s:
        A = np.arange(6, dtype="float64").reshape(2, 3) * 0.5
        s.send_json(dict(dtype=str(A.dtype), shape=A.shape), zmq.SNDMORE)
        s.send(A)
        s.send_multipart([b"hello", b"world!"])
    rc, got, err = finish(c)
    assert rc == 0, err
    assert got[0]["format"] == "pyzmq-recipe" and "meta" not in got[0]  # no other keys
    assert got[0]["dtype"] == "<f8" and got[0]["shape"] == [2, 3] and got[0]["max"] == 2.5
    assert got[1]["kind"] == "foreign" and got[1]["sizes"] == [5, 6]


def test_cat_rep_echoes_requests():
    c, ep = cat_bg("--count", "1", "--type", "rep")
    ctx = zmq.Context()
    s = ctx.socket(zmq.REQ)
    s.setsockopt(zmq.RCVTIMEO, 20000)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(ep)
    s.send_multipart([b"not", b"zmqpack"])
    assert s.recv_multipart() == [b"not", b"zmqpack"]
    s.close()
    ctx.term()
    rc, got, err = finish(c)
    assert rc == 0 and got[0]["kind"] == "foreign"


# ---- every socket pattern with the tool alone: envelopes and replies ------------------

HEX_ID = re.compile(r"^0x[0-9a-f]+$")


def lines_of(out):
    return [json.loads(l) for l in out.splitlines()]


@pytest.mark.parametrize("cat_type,pub_type,envelope", [
    ("rep", "req", None),            # REQ/REP: libzmq keeps the envelope to itself
    ("router", "req", ["id", ""]),   # a ROUTER sees the identity and REQ's delimiter
    ("router", "dealer", ["id", ""]),
    ("rep", "dealer", None),         # a DEALER sends REQ's delimiter, so REP answers it
    ("dealer", "dealer", [""]),
])
def test_request_reply_patterns(cat_type, pub_type, envelope):
    """zpk pub (REQ or DEALER) prints every reply; zpk cat (REP, ROUTER or DEALER) shows each
    request with its envelope and sends it back."""
    c, ep = cat_bg("--type", cat_type, "--count", "2")
    p = run("pub", "--type", pub_type, "--timeout", "20000", ep, input=b'{"q": 1}\n[2, "x"]\n')
    rc, got, err = finish(c)
    assert (rc, p.returncode) == (0, 0), (err, p.stderr)
    assert [g["object"] for g in got] == [{"q": 1}, [2, "x"]]
    for g in got:
        if envelope is None:
            assert "envelope" not in g
        else:
            assert len(g["envelope"]) == len(envelope)
            for shown, want in zip(g["envelope"], envelope):
                assert HEX_ID.match(shown) if want == "id" else shown == want, g
        assert g["kind"] == "packed" and g["frames"] == 1
    replies = lines_of(p.stdout)
    assert [r["object"] for r in replies] == [{"q": 1}, [2, "x"]]
    assert all(r.get("envelope", []) == ([""] if pub_type == "dealer" else []) for r in replies)
    assert [r["wire"] for r in replies] == [g["wire"] for g in got]


def test_dealer_arrays_through_a_broker(tmp_path):
    """A DEALER's array requests through a ROUTER/DEALER broker (pyzmq's zmq.proxy) to zpk cat
    as a ROUTER: two hops of envelope arrive, the echo finds its way back."""
    ctx = zmq.Context()
    front, back = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
    control, stop = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    for s in (front, back, control, stop):
        s.linger = 0
    control.bind("inproc://broker-control")
    stop.connect("inproc://broker-control")
    fport = front.bind_to_random_port("tcp://127.0.0.1")
    c, ep = cat_bg("--type", "router", "--count", "2")
    back.connect(ep)

    def broker():
        try:
            zmq.proxy_steerable(front, back, None, control)
        finally:
            for s in (front, back, control):
                s.close()

    thread = threading.Thread(target=broker, daemon=True)
    thread.start()
    try:
        np.save(tmp_path / "a.npy", np.arange(12, dtype="<i2").reshape(3, 4))
        a = str(tmp_path / "a.npy")
        p = run("pub", "--type", "dealer", "--timeout", "20000", f"tcp://127.0.0.1:{fport}",
                "--npy", a, a)
        rc, got, err = finish(c)
        assert (rc, p.returncode) == (0, 0), (err, p.stderr)
        for g in got:
            hop, client, delim = g["envelope"]
            assert HEX_ID.match(hop) and HEX_ID.match(client) and delim == ""
            assert g["kind"] == "array" and g["shape"] == [3, 4] and g["max"] == 11
        replies = lines_of(p.stdout)
        assert len(replies) == 2
        assert all(r["envelope"] == [""] and r["shape"] == [3, 4] for r in replies)
    finally:
        stop.send(b"TERMINATE")
        thread.join(TIMEOUT)
        stop.close()
        ctx.term()


def test_mismatched_socket_types_time_out_with_a_hint():
    """libzmq refuses a peer of the wrong type without a word: the timeout names the likeliest
    mistake."""
    c, ep = cat_bg(timeout_ms=1000)  # SUB
    p = run("pub", "--type", "push", "--timeout", "500", ep, input=b"1\n", check=3)
    assert p.stderr == (b"zpk pub: no peer took line 1 within 500 ms "
                        b"(a PUSH socket feeds only PULL peers)\n")
    rc, got, err = finish(c)
    assert (rc, got) == (3, [])
    assert err.endswith(b"(a SUB socket hears only PUB peers)\n")


def test_req_without_a_reply_times_out():
    """A REQ whose peer never answers (a PULL is no REP: the handshake fails) exits 3."""
    c, ep = cat_bg("--type", "pull", timeout_ms=3000)
    p = run("pub", "--type", "req", "--timeout", "500", ep, input=b"1\n", check=3)
    assert p.stderr == (b"zpk pub: no reply to line 1 within 500 ms "
                        b"(a REQ socket needs a REP or ROUTER peer)\n")
    finish(c)


def test_dealer_counts_missing_replies():
    """A DEALER whose peer takes the messages without answering (a pyzmq ROUTER) exits 3 and
    says how many replies came."""
    ctx = zmq.Context()
    sink = ctx.socket(zmq.ROUTER)
    sink.linger = 0
    port = sink.bind_to_random_port("tcp://127.0.0.1")
    try:
        p = run("pub", "--type", "dealer", "--timeout", "500", f"tcp://127.0.0.1:{port}",
                input=b"1\n2\n", check=3)
        assert p.stderr == b"zpk pub: 0 of 2 replies, then none for 500 ms\n"
        frames = sink.recv_multipart()
        assert frames[1] == b"" and len(frames) == 3  # identity, REQ's delimiter, the message
    finally:
        ctx.destroy(linger=0)


def test_cat_times_out_on_a_silent_endpoint():
    with silent_endpoint() as ep:
        p = run("cat", "--timeout", "300", ep, check=3)
    assert p.stderr == (f"zpk cat: no message within 300 ms on {ep} "
                        "(a SUB socket hears only PUB peers)\n").encode()


def test_cat_timeout_after_messages_ends_the_run():
    """Without --count, silence after messages is the end of the run (0); with --count N,
    fewer than N messages is a timeout (3)."""
    for count, want_rc in ((None, 0), (3, 3)):
        c, ep = cat_bg("--type", "pull", *(["--count", str(count)] if count else []),
                       timeout_ms=1500)
        p = run("pub", "--type", "push", "--timeout", "20000", ep, input=b"1\n2\n")
        assert p.returncode == 0, p.stderr
        rc, got, err = finish(c)
        assert [g["object"] for g in got] == [1, 2]
        assert rc == want_rc, err
        if count:
            assert f"zpk cat: 2 of 3 messages, then none for 1500 ms on {ep}\n".encode() in err
        else:
            assert err == b""


def test_pub_without_subscriber_or_peer_times_out():
    with silent_endpoint() as ep:
        p = run("pub", "--timeout", "300", ep, input=b"1\n", check=3)
        assert p.stderr == (f"zpk pub: no subscriber on {ep} within 300 ms "
                            "(a PUB socket feeds only SUB peers)\n").encode()
        p = run("pub", "--type", "push", "--timeout", "300", ep, input=b"1\n", check=3)
        assert p.stderr == (b"zpk pub: no peer took line 1 within 300 ms "
                            b"(a PUSH socket feeds only PULL peers)\n")


def test_endpoints_libzmq_refuses_are_usage_errors(tmp_path):
    """Exit 2 with libzmq's own text (the resolver's for a host name), for cat and pub alike."""
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    cases = [
        (["--bind", "tcp://192.0.2.1:5555"], b"Cannot assign requested address"),  # TEST-NET-1
        (["--bind", f"tcp://127.0.0.1:{port}"], b"Address already in use"),
        (["--bind", f"ipc://{tmp_path}/no/such/folder/x"],
         b"No such file or directory (an ipc path's folder must exist)"),
        (["--bind", "tcp://nosuchhost.invalid:5555"], b"No such device (a bind address is *"),
        (["tcp://nosuchhost.invalid:5555"], b"host 'nosuchhost.invalid': "),
        (["tcp://127.0.0.1:x"], b"Invalid argument"),
        (["nosuch://x"], b"Protocol not supported"),
    ]
    try:
        for cmd in ("cat", "pub"):
            for args, text in cases:
                p = run(cmd, "--timeout", "300", *args, input=b"1\n")
                ep = args[-1]
                verb = "bind" if "--bind" in args else "connect"
                assert p.returncode == 2, (cmd, args, p.stderr)
                assert p.stderr.startswith(f"zpk {cmd}: cannot {verb} '{ep}': ".encode()), p.stderr
                assert text in p.stderr, (cmd, args, p.stderr)
    finally:
        busy.close()


@pytest.mark.parametrize("args,msg", [
    (["cat"], b"needs exactly one ENDPOINT"),
    (["cat", "--type", "xsub", "tcp://127.0.0.1:1"], b"--type is sub, pull, pair, rep, router or dealer"),
    (["pub", "--type", "router", "tcp://127.0.0.1:1"], b"--type is pub, push, pair, req or dealer"),
    (["pub", "--type", "req", "--topic", "t", "tcp://127.0.0.1:1"], b"--topic is for --type pub, push or pair"),
    (["cat", "--type", "pull", "--topic", "x", "tcp://127.0.0.1:1"], b"--topic is for --type sub"),
    (["cat", "--count", "0", "tcp://127.0.0.1:1"], b"bad --count"),
    (["cat", "tcp://256.1.1.1:x"], b"cannot connect"),
    (["pub"], b"needs an ENDPOINT"),
    (["pub", "--codec", "lzma", "tcp://127.0.0.1:1"], b"bad --codec 'lzma'"),
    (["pub", "--recipe", "tcp://127.0.0.1:1"], b"--recipe is for arrays"),
    (["pub", "tcp://127.0.0.1:1", "--npy"], b"--npy needs at least one FILE"),
    (["pub", "--bind", "tcp://127.0.0.1:x"], b"cannot bind"),
])
def test_net_bad_arguments(args, msg):
    p = run(*args, input=b"", check=2)
    assert msg in p.stderr, p.stderr


def test_pub_bad_input(tmp_path):
    ep = "tcp://127.0.0.1:*"
    p = run("pub", "--type", "push", "--bind", "--timeout", "300", ep, input=b"[1, 2\n", check=1)
    assert b"line 1" in p.stderr
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'}")
    p = run("pub", ep, "--npy", str(bad), check=1)
    assert b"malformed .npy header" in p.stderr
    p = run("pub", ep, "--npy", str(tmp_path / "missing.npy"), check=1)
    assert b"cannot open" in p.stderr


# ---- bench ---------------------------------------------------------------------------

def test_bench_table_small():
    p = run("bench", "--sizes", "1K,64K", "--count", "30", timeout=120)
    out = p.stdout.decode()
    assert p.returncode == 0, out + p.stderr.decode()
    rows = [l for l in out.splitlines() if l.startswith("| 1 KiB") or l.startswith("| 64 KiB")]
    assert len(rows) == 2, out
    assert "\r" not in out  # no progress line when stdout is not a terminal
    p = run("bench", "--transport", "inproc", "--sizes", "100", "--count", "20", "--codec", "zlib:1",
            timeout=120)
    assert p.returncode == 0 and "| 100 B |" in p.stdout.decode()


@pytest.mark.parametrize("kind", ["thr", "lat"])
@pytest.mark.parametrize("raw", [False, True])
def test_bench_roles_in_two_processes(kind, raw):
    extra = ["--raw"] if raw else []
    local = subprocess.Popen([ZPK, "bench", *extra, f"local-{kind}", "tcp://127.0.0.1:*", "4096",
                              "50"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ep = bound_endpoint(local, "bench")
    remote = run("bench", *extra, f"remote-{kind}", ep, "4096", "50", timeout=60)
    out, err = local.communicate(timeout=60)
    assert remote.returncode == 0, remote.stderr
    assert local.returncode == 0, err
    if kind == "thr":
        assert b"message size: 4096 [B]" in out and b"mean throughput:" in out
    else:
        assert b"average latency:" in remote.stdout


def test_bench_bad_arguments():
    assert b"unknown role 'sideways'" in run("bench", "sideways", "a", "1", "1", check=2).stderr
    assert b"needs ENDPOINT SIZE COUNT" in run("bench", "local-thr", "tcp://127.0.0.1:1", check=2).stderr
    run("bench", "--sizes", "abc", check=2)
    run("bench", "--transport", "udp", check=2)
    run("bench", "local-thr", "tcp://127.0.0.1:1", "1K", "zero", check=2)
    p = run("bench", "local-thr", "nosuch://x", "1K", "1", check=2)
    assert p.stderr == b"zpk bench: cannot bind 'nosuch://x': Protocol not supported\n"


def test_cat_shows_mixed_messages_with_array_summaries():
    zmqpack = pytest.importorskip("zmqpack")  # the binding, when this build has it
    c, ep = cat_bg("--count", "1", "--type", "pull")
    ctx = zmq.Context()
    s = ctx.socket(zmq.PUSH)
    s.setsockopt(zmq.LINGER, 20000)
    s.connect(ep)
    img = np.arange(20, dtype=np.uint16).reshape(4, 5)
    mask = np.zeros((4, 5), dtype=bool)
    zmqpack.send_packed(s, {"camera": "left", "image": img, "extra": [1, {"mask": mask}]},
                        topic="cams", codec="zlib:1")
    s.close()
    ctx.term()
    rc, got, err = finish(c)
    assert rc == 0, err
    g = got[0]
    assert g["kind"] == "mixed" and g["envelope"] == ["cams"]  # a topic, seen by a PULL
    assert g["object"]["camera"] == "left"
    im = g["object"]["image"]
    assert im["dtype"] == "<u2" and im["shape"] == [4, 5] and im["max"] == 19 and im["raw"] == 40
    mk = g["object"]["extra"][1]["mask"]
    assert mk["dtype"] == "|b1" and mk["max"] == 0


def test_pub_npy_edge_dtypes_into_cat(tmp_path):
    files = {
        "scalar": np.float64(3.5),
        "empty": np.zeros((0, 3), "<i2"),
        "complex": np.array([3 + 4j, 1 - 0j], "<c8"),
        "half": np.array([1, 2.5], "<f2"),
        "big_endian_u8": np.array([1, 2**40], ">u8"),
    }
    paths = []
    for name, a in files.items():
        np.save(tmp_path / f"{name}.npy", a)
        paths.append(str(tmp_path / f"{name}.npy"))
    c, ep = cat_bg("--count", str(len(paths)))
    p = run("pub", "--timeout", "20000", ep, "--npy", *paths)
    assert p.returncode == 0, p.stderr
    rc, got, err = finish(c)
    assert rc == 0, err
    s, e, cx, h, be = got
    assert s["shape"] == [] and s["min"] == s["max"] == 3.5
    assert e["shape"] == [0, 3] and e["raw"] == 0 and "min" not in e
    assert cx["dtype"] == "<c8" and (cx["min"], cx["max"]) == (1, 5)
    assert h["dtype"] == "<f2" and (h["min"], h["max"]) == (1, 2.5)
    assert be["dtype"] == ">u8" and be["max"] == 2**40


# ---- keygen and CURVE (zmqpack/curve.h; Python: zmqpack.curve) ----------------------

Z85 = re.compile(rb'^[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}$')


def need_curve():
    if not zmq.has("curve"):
        pytest.skip("libzmq without CURVE")


def pycurve():
    """zmqpack.curve from the build tree (PYTHONPATH), or skip."""
    try:
        from zmqpack import curve
    except ImportError as e:  # a build without the Python binding
        pytest.skip(f"zmqpack.curve not importable: {e}")
    return curve


def keygen(path):
    """zpk keygen --out PATH: returns the public key it printed."""
    p = run("keygen", "--out", str(path), check=0)
    pub = p.stdout.strip()
    assert Z85.match(pub), p.stdout
    return pub


def test_keygen_prints_a_secret_certificate():
    need_curve()
    p = run("keygen", check=0)
    out = p.stdout.decode()
    assert out.startswith("#   ****  Generated by zmqpack ")
    keys = dict(re.findall(r'^    (public-key|secret-key) = "(.{40})"$', out, re.M))
    assert set(keys) == {"public-key", "secret-key"}
    assert "\nmetadata\ncurve\n" in out
    assert run("keygen", check=0).stdout != p.stdout  # fresh every time


def test_keygen_bad_arguments(tmp_path):
    need_curve()
    assert b"unexpected argument 'x'" in run("keygen", "x", check=2).stderr
    run("keygen", "--out", check=2)
    assert b"--out needs a file name" in run("keygen", "--out", "", check=2).stderr
    p = run("keygen", "--out", str(tmp_path / "no" / "such" / "dir"), check=1)
    assert b"cannot write" in p.stderr and p.stdout == b""


def test_keygen_files_load_in_python_and_back(tmp_path):
    need_curve()
    curve = pycurve()
    pub = keygen(tmp_path / "srv")
    assert oct(os.stat(tmp_path / "srv_secret").st_mode & 0o777) == "0o600"
    assert oct(os.stat(tmp_path / "srv").st_mode & 0o777) == "0o644"
    # C -> Python
    p2, s2 = curve.load(tmp_path / "srv_secret")
    assert p2 == pub and curve.public_key(s2) == pub
    assert curve.load(tmp_path / "srv") == (pub, None)
    # Python -> C (zpk uses zpk_curve_load) and byte-identical files both ways.
    curve.save(tmp_path / "py_secret", p2, s2)
    curve.save(tmp_path / "py", p2)
    assert (tmp_path / "py_secret").read_bytes() == (tmp_path / "srv_secret").read_bytes()
    assert (tmp_path / "py").read_bytes() == (tmp_path / "srv").read_bytes()


def curve_pair(tmp_path, *, allow=None, server_key=None, client_secret=None, count=3,
               wait_ms=10000):
    """zpk cat (CURVE server, bound) <- zpk pub (CURVE client); returns (cat rc, lines, pub rc)."""
    cargs = ["--curve-secret", str(tmp_path / "srv_secret")]
    for a in allow or []:
        cargs += ["--curve-allow", str(a)]
    c, ep = cat_bg("--count", str(count), *cargs, timeout_ms=wait_ms)
    pargs = ["--curve-server-key", str(server_key or tmp_path / "srv")]
    if client_secret:
        pargs += ["--curve-secret", str(client_secret)]
    lines = "".join(f'{{"n": {i}}}\n' for i in range(count)).encode()
    p = run("pub", "--timeout", str(wait_ms), *pargs, ep, input=lines)
    rc, got, err = finish(c)
    return rc, got, p.returncode


def test_keygen_then_pub_cat_with_curve(tmp_path):
    need_curve()
    keygen(tmp_path / "srv")
    # The client's keypair comes from Python when the binding is built (not in
    # the sanitizer build), else from zpk keygen too.
    try:
        from zmqpack import curve
        cpub, csec = curve.keypair()
        curve.save(tmp_path / "cli_secret", cpub, csec)
        curve.save(tmp_path / "cli", cpub)
    except ImportError:
        keygen(tmp_path / "cli")
    rc, got, prc = curve_pair(tmp_path, allow=[tmp_path / "cli"],
                              client_secret=tmp_path / "cli_secret")
    assert (rc, prc) == (0, 0)
    assert [g["object"] for g in got] == [{"n": 0}, {"n": 1}, {"n": 2}]
    # Any client knowing the server key (ephemeral keys) when no --curve-allow.
    rc, got, prc = curve_pair(tmp_path)
    assert (rc, prc) == (0, 0) and len(got) == 3


def test_curve_wrong_keys_receive_nothing(tmp_path):
    need_curve()
    keygen(tmp_path / "srv")
    keygen(tmp_path / "other")
    keygen(tmp_path / "cli")
    # A client that does not know the server's public key: no handshake, nothing.
    rc, got, prc = curve_pair(tmp_path, server_key=tmp_path / "other", count=1,
                              wait_ms=1500)
    assert (rc, got, prc) == (3, [], 3)
    # A client with its own keys that the authenticator does not list.
    rc, got, prc = curve_pair(tmp_path, allow=[tmp_path / "cli"],
                              client_secret=tmp_path / "other_secret", count=1, wait_ms=1500)
    assert (rc, got, prc) == (3, [], 3)


def test_python_curve_server_to_zpk_cat_client(tmp_path):
    """A Python PUB (zmqpack.curve.server, key from zpk keygen) -> zpk cat (CURVE client)."""
    need_curve()
    curve = pycurve()
    import zmq
    import zmqpack
    keygen(tmp_path / "srv")
    _, sec = curve.load(tmp_path / "srv_secret")
    ctx = zmq.Context()
    try:
        s = ctx.socket(zmq.PUB)
        s.linger = 0
        curve.server(s, sec)
        port = s.bind_to_random_port("tcp://127.0.0.1")
        c = subprocess.Popen([ZPK, "cat", "--timeout", "10000", "--count", "3",
                              "--curve-server-key", str(tmp_path / "srv"),
                              f"tcp://127.0.0.1:{port}"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        i = 0
        while c.poll() is None and i < 2000:  # PUB drops until the subscriber joined
            zmqpack.send_packed(s, {"i": i})
            i += 1
            time.sleep(0.005)
        rc, got, err = finish(c)
        assert rc == 0, err
        seq = [g["object"]["i"] for g in got]
        assert len(seq) == 3 and seq == list(range(seq[0], seq[0] + 3))
    finally:
        ctx.destroy(linger=0)


# ---- other streams: imagezmq, msgpack-numpy, the Karabo bridge (docs/interop.md) -----------
# The peers are re-stated from each project's source in tests/peers.

def stats_of(a):
    return {"dtype": a.dtype.str, "shape": list(a.shape), "min": float(a.min()), "max": float(a.max())}


def test_cat_reads_imagezmq_arrays_and_jpegs():
    c, ep = cat_bg("--count", "3", "--type", "pull")
    image = (np.arange(48 * 64 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)
    # a baseline JPEG's start: SOI, then SOF0 for 640 x 480 with 3 components, then a scan
    jpeg = (b"\xff\xd8" + b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
            + b"\xff\xc0\x00\x11\x08\x01\xe0\x02\x80\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
            + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00\x12\x34" + b"\xff\xd9")
    with pusher(ep) as s:
        imagezmq.send_array(s, image[:, ::2], msg="cam1")   # non-contiguous: the peer copies it
        imagezmq.send_jpg(s, msg="cam2", jpg_buffer=jpeg)
        imagezmq.send_jpg(s, msg="cam3", jpg_buffer=b"\xff\xd8\xff")  # no frame header: no size
    rc, got, err = finish(c)
    assert rc == 0, err
    arr, jpg, bare = got
    assert arr["kind"] == "array" and arr["format"] == "pyzmq-recipe"
    assert arr["meta"] == {"msg": "cam1"}  # the JSON header's other keys
    assert {k: arr[k] for k in ("dtype", "shape", "min", "max")} == stats_of(image[:, ::2])
    assert arr["frames"] == 2 and arr["raw"] == image[:, ::2].nbytes
    assert jpg == {"kind": "jpeg", "format": "imagezmq", "msg": "cam2", "bytes": len(jpeg),
                   "width": 640, "height": 480, "wire": len(jpeg) + len(b'{"msg": "cam2"}'),
                   "frames": 2}
    assert bare["kind"] == "jpeg" and bare["msg"] == "cam3" and "width" not in bare


@pytest.mark.parametrize("lossless", [False, True])
def test_cat_summarises_msgpack_numpy_maps_in_packed_objects(lossless):
    """An object packed with msgpack-numpy's rules (tests/peers), sent as a zmqpack packed message
    by zpk pub (from zpk dump's lossless JSON of it, which zpk pub packs back to those bytes)."""
    image = np.linspace(-2, 3, 20, dtype=">f4").reshape(4, 5)
    ids = np.array([7, 3, 9], dtype=np.uint64)
    packed = msgpack_numpy.packb({"cam": "c1", "image": image, "more": [ids, {"n": np.int16(-4)}]})
    line = run("dump", input=packed, check=0).stdout
    c, ep = cat_bg("--count", "1", "--type", "pull", *(["--lossless"] if lossless else []))
    run("pub", "--type", "push", "--timeout", "20000", ep, input=line, check=0)
    rc, got, err = finish(c)
    assert rc == 0, err
    obj = got[0]["object"]
    assert got[0]["kind"] == "packed" and obj["cam"] == "c1"
    for summary, a in ((obj["image"], image), (obj["more"][0], ids),
                       (obj["more"][1]["n"], np.array(np.int16(-4)))):
        assert summary["format"] == "msgpack-numpy"
        assert {k: summary[k] for k in ("dtype", "shape", "min", "max")} == stats_of(a)


def karabo_server(sock, protocol, trains):
    """A Karabo bridge peer (tests/peers/karabo.py) on a loopback port of its own, sending
    @p trains (a list of frame lists) from a thread; returns (thread, endpoint)."""
    server = karabo.Server("tcp://127.0.0.1:*", sock=sock, protocol_version=protocol,
                           timeout=20.0, linger=20.0)

    def serve():
        try:
            for frames in trains:
                server.send_frames(frames)
        finally:
            server.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t, server.endpoint


def expected_train_line(data, meta, protocol, tid):
    sources = {}
    for src, values in data.items():
        arrays = {k: stats_of(v) for k, v in values.items() if isinstance(v, np.ndarray)}
        sources[src] = {"values": len(values) - len(arrays), "arrays": arrays}
    return {"kind": "train", "format": "karabo-bridge", "protocol": protocol, "train": tid,
            "sources": sources}


@pytest.mark.parametrize("protocol", ["2.2", "1.0"])
def test_cat_karabo_plays_the_req_client(protocol):
    trains = [karabo.detector_train(10000000000 + i, nsources=2) for i in range(2)]
    frames = [karabo.serialize(d, m, protocol_version=protocol) for d, m in trains]
    t, ep = karabo_server("REP", protocol, frames)
    p = run("cat", "--karabo", "--count", "2", "--timeout", "20000", ep, check=0)
    t.join(TIMEOUT)
    got = lines_of(p.stdout)
    assert len(got) == 2
    for line, (d, m), f, i in zip(got, trains, frames, range(2)):
        assert line.pop("wire") == sum(memoryview(x).nbytes for x in f) and line.pop("frames") == len(f)
        assert line == expected_train_line(d, m, protocol, 10000000000 + i)


def test_cat_reads_karabo_trains_from_push_and_refuses_hostile_ones():
    """A bridge on PUSH read by --type pull; a train whose array header disagrees with its payload
    is an error line with the bridge's reason under --karabo, and the next train still reads."""
    d, m = karabo.detector_train(5, nsources=1)
    good = karabo.serialize(d, m)
    t, ep = karabo_server("PUSH", "2.2", [good])
    p = run("cat", "--type", "pull", "--count", "1", "--timeout", "20000", ep, check=0)
    t.join(TIMEOUT)
    line = lines_of(p.stdout)[0]
    assert line["kind"] == "train" and line["train"] == 5

    header = msgpack.unpackb(good[2])
    assert header["content"] == "array"
    header["shape"] = [header["shape"][0] + 1] + header["shape"][1:]
    bad = list(good)
    bad[2] = msgpack.packb(header)
    t, ep = karabo_server("REP", "2.2", [bad, good, good[:3]])
    p = run("cat", "--karabo", "--count", "3", "--timeout", "20000", ep, check=0)
    t.join(TIMEOUT)
    first, second, third = lines_of(p.stdout)
    assert first["kind"] == "error" and first["format"] == "karabo-bridge"
    assert first["code"] == "ESHAPE" and first["frame"] == 3 and first["frames"] == len(bad)
    assert second["kind"] == "train" and second["train"] == 5
    assert third["kind"] == "error" and third["code"] == "EFRAME"  # an odd number of frames


def test_cat_karabo_times_out_without_a_bridge_and_refuses_type():
    with silent_endpoint() as ep:
        p = run("cat", "--karabo", "--timeout", "300", ep, check=3)
    assert b"no message within 300 ms" in p.stderr and b"REQ" in p.stderr
    p = run("cat", "--karabo", "--type", "pull", "tcp://127.0.0.1:1", check=2)
    assert b"--karabo is the bridge's REQ client" in p.stderr
