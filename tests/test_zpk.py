"""End-to-end tests of the zpk tool (run by meson with /usr/bin/python3 -m pytest).

Environment: ZPK_TOOL is the built zpk executable, ZPK_SHARED_DATA the shared
data folder. Every network test uses 127.0.0.1 and every process runs with a
timeout, so nothing here can hang.
"""
import json
import os
import re
import socket
import subprocess
import threading
import time

import pytest

ZPK = os.environ.get("ZPK_TOOL", "zpk")
DATA = os.environ.get("ZPK_SHARED_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
TIMEOUT = 60


def run(*args, input=None, timeout=TIMEOUT, check=None):
    p = subprocess.run([ZPK, *args], input=input, capture_output=True, timeout=timeout)
    if check is not None:
        assert p.returncode == check, (args, p.returncode, p.stderr.decode(errors="replace"))
    return p


def has(cmd):
    """True when this build of zpk has the subcommand (listed by zpk --help)."""
    return re.search(rb"^  %s " % cmd.encode(), run("--help").stdout, re.M) is not None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def data_file(name):
    path = os.path.join(DATA, name)
    if not os.path.exists(path):
        pytest.skip(f"shared data absent: {path}")
    return path


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


@pytest.mark.parametrize("cmd", ["dump", "pack", "cat", "pub", "bench", "demo"])
def test_each_command_has_help(cmd):
    if not has(cmd):
        pytest.skip(f"zpk {cmd} is not in this build")
    p = run(cmd, "--help", check=0)
    assert p.stdout.decode().startswith(f"usage: zpk {cmd}")
    assert b"exit codes" in p.stdout
    assert p.stderr == b""


@pytest.mark.parametrize("cmd", ["dump", "pack", "cat", "pub", "bench", "demo"])
def test_each_command_rejects_unknown_options(cmd):
    if not has(cmd):
        pytest.skip(f"zpk {cmd} is not in this build")
    p = run(cmd, "--no-such-option", check=2)
    assert f"zpk {cmd}:".encode() in p.stderr
    assert f"try 'zpk {cmd} --help'".encode() in p.stderr


# ---- dump / pack ---------------------------------------------------------------

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


@pytest.mark.parametrize("doc", ["twitter", "citm_catalog", "canada", "github"])
def test_dump_then_pack_gives_identical_bytes(doc):
    src = data_file(f"corpus/{doc}.mpack")
    d = run("dump", src, check=0)
    assert d.stdout.count(b"\n") == 1
    p = run("pack", input=d.stdout, check=0)
    assert p.stdout == open(src, "rb").read()


def test_dump_matches_msgpack_python():
    msgpack = pytest.importorskip("msgpack")
    src = data_file("corpus/twitter.mpack")
    d = run("dump", "--plain", src, check=0)
    want = msgpack.unpackb(open(src, "rb").read(), raw=False)
    assert json.loads(d.stdout) == want


def test_lossless_tags_round_trip():
    msgpack = pytest.importorskip("msgpack")
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
    msgpack = pytest.importorskip("msgpack")
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


def test_pack_refuses_a_terminal_and_skips_empty_lines():
    p = run("pack", input=b"1\n\n   \n2\n", check=0)
    assert p.stdout == b"\x01\x02"
