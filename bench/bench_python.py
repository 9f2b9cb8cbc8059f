#!/usr/bin/env python3
"""Python binding benchmark (issue 6): zmqpack beside its peers, in one run.

  /usr/bin/python3 bench/bench_python.py [--quick] [--json FILE]

1. packb / unpackb on the four corpus documents beside msgpack-python (its
   C extension): MB/s of MessagePack bytes (thread CPU time) and the ratio.
2. Arrays over tcp://127.0.0.1, pipelined (a sender thread bursts, the main
   thread receives): zmqpack.send_array/recv_array beside the pyzmq numpy
   recipe (copy=True and copy=False; the faster is the reference) and
   send_pyobj, 1 KiB .. 64 MiB; messages/s and GB/s.
3. Dict messages over tcp: zmqpack.send_packed/recv_packed beside
   send_json/recv_json, send_pyobj/recv_pyobj and msgpack.packb + send.

Needs the built package on PYTHONPATH (./dev run does it). Timing: the median
of several repetitions (min..max in the JSON rows), the clock started after a
warm-up message. Prints markdown tables; --json FILE appends one JSON row per
figure (the keys of bench/bench_util.h's bu_json_row).
"""
import argparse
import json
import os
import pathlib
import platform
import sys
import threading
import time

import msgpack
import numpy as np
import zmq

import zmqpack

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = pathlib.Path(os.environ.get("ZPK_SHARED_DATA", ROOT / ".." / "shared" / "data"))
DOCS = ["twitter", "citm_catalog", "canada", "github"]


def best_of(fns, reps, number):
    """Seconds per call of each function in every repetition, their runs
    interleaved so that a noisy machine affects every contestant alike.
    Single-threaded work: timed in this thread's CPU time, which other
    processes on a loaded machine do not inflate."""
    times = [[] for _ in fns]
    for _ in range(reps):
        for i, fn in enumerate(fns):
            t0 = time.thread_time()
            for _ in range(number):
                fn()
            times[i].append(max(time.thread_time() - t0, 1e-9) / number)
    return times


def stat(values):
    """(median, min, max) of a list of rates."""
    v = sorted(values)
    n = len(v)
    med = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    return med, v[0], v[-1]


# -- 1. codec -----------------------------------------------------------------------

def bench_codec(quick):
    rows = []
    for name in DOCS:
        b = (DATA / "corpus" / (name + ".mpack")).read_bytes()
        obj = msgpack.unpackb(b)
        assert zmqpack.packb(obj) == msgpack.packb(obj)
        number = max(2, int(2e7 // len(b))) if not quick else max(1, int(4e6 // len(b)))
        reps = 3 if quick else 7
        r = {"doc": name, "bytes": len(b)}
        t = best_of([lambda: zmqpack.packb(obj), lambda: msgpack.packb(obj),
                     lambda: zmqpack.unpackb(b), lambda: msgpack.unpackb(b)], reps, number)
        for k, v in zip(["pack_zpk", "pack_msgpack", "unpack_zpk", "unpack_msgpack"], t):
            r[k + "_all"] = [len(b) / x / 1e6 for x in v]
            r[k] = stat(r[k + "_all"])[0]
        rows.append(r)
    return rows


# -- 2. arrays over tcp ----------------------------------------------------------------

def recipe_send(sock, A, copy):
    sock.send_json(dict(dtype=str(A.dtype), shape=A.shape), zmq.SNDMORE)
    sock.send(A, 0, copy=copy)


def recipe_recv(sock, copy):
    md = sock.recv_json()
    msg = sock.recv(copy=copy)
    A = np.frombuffer(msg if copy else memoryview(msg), dtype=md["dtype"])
    return A.reshape(md["shape"])


def pipelined_once(ctx, send, recv, count):
    """Seconds for `count` messages: a thread sends them all, the main thread
    receives them all. The clock starts after a warm-up message."""
    push, pull = ctx.socket(zmq.PUSH), ctx.socket(zmq.PULL)
    push.linger = 0
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    push.connect("tcp://127.0.0.1:%d" % port)
    send(push)
    recv(pull)
    t = threading.Thread(target=lambda: [send(push) for _ in range(count)])
    t0 = time.perf_counter()
    t.start()
    for _ in range(count):
        recv(pull)
    dt = time.perf_counter() - t0
    t.join()
    push.close()
    pull.close()
    return dt


def pipelined(cases, count, reps):
    """Median messages/s of each (send, recv) pair, repetitions interleaved;
    the rates of every repetition go to key + "_all"."""
    ctx = zmq.Context()
    rates = {k: [] for k in cases}
    for _ in range(reps):
        for k, (snd, rcv) in cases.items():
            rates[k].append(count / pipelined_once(ctx, snd, rcv, count))
    ctx.term()
    out = {k: stat(v)[0] for k, v in rates.items()}
    out.update({k + "_all": v for k, v in rates.items()})
    return out


def bench_arrays(quick):
    sizes = [1 << 10, 1 << 16, 1 << 20, 1 << 24] if quick else \
        [1 << 10, 1 << 14, 1 << 16, 1 << 18, 1 << 20, 1 << 22, 1 << 24, 1 << 26]
    rows = []
    for size in sizes:
        A = np.random.default_rng(0).standard_normal(size // 8)
        budget = (64 << 20) if quick else (256 << 20)
        count = int(min(20000 if not quick else 5000, max(4, budget // size)))
        reps = 3 if quick else 5
        r = {"bytes": size, "count": count}
        cases = {
            "zmqpack": (lambda s: zmqpack.send_array(s, A), lambda s: zmqpack.recv_array(s)),
            "recipe_copy": (lambda s: recipe_send(s, A, True), lambda s: recipe_recv(s, True)),
            "recipe_nocopy": (lambda s: recipe_send(s, A, False), lambda s: recipe_recv(s, False)),
            "send_pyobj": (lambda s: s.send_pyobj(A), lambda s: s.recv_pyobj()),
        }
        r.update(pipelined(cases, count, reps))
        rows.append(r)
    return rows


# -- 3. dict messages --------------------------------------------------------------------

def sample_dict():
    p = DATA / "corpus" / "amazon_cellphones.ndjson"
    if p.exists():  # first line: the column names, then one row per record
        with open(p) as f:
            head = json.loads(f.readline())
            return dict(zip(head, json.loads(f.readline())))
    return {"id": 1234, "name": "sensor-7", "values": [1.5, 2.5, 3.5], "ok": True,
            "tags": {"site": "lab", "rack": 4}}


def bench_dicts(quick):
    d = sample_dict()
    count = 5000 if quick else 20000
    reps = 3 if quick else 5
    cases = {
        "zmqpack": (lambda s: zmqpack.send_packed(s, d), lambda s: zmqpack.recv_packed(s)),
        "msgpack+send": (lambda s: s.send(msgpack.packb(d)), lambda s: msgpack.unpackb(s.recv())),
        "send_json": (lambda s: s.send_json(d), lambda s: s.recv_json()),
        "send_pyobj": (lambda s: s.send_pyobj(d), lambda s: s.recv_pyobj()),
    }
    r = {"bytes": len(msgpack.packb(d)), "count": count}
    r.update(pipelined(cases, count, reps))
    return r


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return "%d %s" % (n, unit)
        n //= 1024
    return "%d TiB" % n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="short pass")
    ap.add_argument("--json", help="append one JSON row per figure to this file")
    args = ap.parse_args()

    print("# zmqpack Python binding benchmark\n")
    print("machine: %s, %s, %d CPUs, Python %s, msgpack %s, pyzmq %s, libzmq %s, numpy %s\n" % (
        platform.node(), platform.processor() or platform.machine(), os.cpu_count(),
        platform.python_version(), ".".join(map(str, msgpack.version)), zmq.__version__,
        zmq.zmq_version(), np.__version__))

    codec = bench_codec(args.quick)
    print("## packb / unpackb on the corpus (MB/s of MessagePack, CPU time)\n")
    print("| document | size | zmqpack packb | msgpack packb | ratio | zmqpack unpackb | msgpack unpackb | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in codec:
        print("| %s | %s | %.0f | %.0f | **%.2fx** | %.0f | %.0f | **%.2fx** |" % (
            r["doc"], human(r["bytes"]), r["pack_zpk"], r["pack_msgpack"],
            r["pack_zpk"] / r["pack_msgpack"], r["unpack_zpk"], r["unpack_msgpack"],
            r["unpack_zpk"] / r["unpack_msgpack"]))
    sys.stdout.flush()

    arrays = bench_arrays(args.quick)
    print("\n## float64 arrays over tcp://127.0.0.1, pipelined (messages/s; GB/s)\n")
    print("| size | zmqpack send/recv_array | recipe copy=True | recipe copy=False | send_pyobj | vs best recipe | vs send_pyobj |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in arrays:
        rec = max(r["recipe_copy"], r["recipe_nocopy"])

        def cell(v):
            return "%.0f (%.2f)" % (v, v * r["bytes"] / 1e9)
        print("| %s | %s | %s | %s | %s | **%.2fx** | %.2fx |" % (
            human(r["bytes"]), cell(r["zmqpack"]), cell(r["recipe_copy"]),
            cell(r["recipe_nocopy"]), cell(r["send_pyobj"]), r["zmqpack"] / rec,
            r["zmqpack"] / r["send_pyobj"]))
    sys.stdout.flush()

    d = bench_dicts(args.quick)
    print("\n## dict messages over tcp (%d B packed), pipelined (messages/s)\n" % d["bytes"])
    print("| zmqpack send/recv_packed | msgpack.packb + send | send_json | send_pyobj |")
    print("|---:|---:|---:|---:|")
    print("| %.0f | %.0f (%.2fx) | %.0f (%.2fx) | %.0f (%.2fx) |" % (
        d["zmqpack"], d["msgpack+send"], d["zmqpack"] / d["msgpack+send"], d["send_json"],
        d["zmqpack"] / d["send_json"], d["send_pyobj"], d["zmqpack"] / d["send_pyobj"]))
    print("\n(ratios: zmqpack / peer; above 1 means zmqpack is faster)")
    if args.json:
        write_rows(args.json, codec, arrays, d, 3 if args.quick else 7, 3 if args.quick else 5)


def write_rows(path, codec, arrays, d, codec_reps, pipe_reps):
    """Appends one JSON object per figure, the keys of bench_util.h's
    bu_json_row, for bench/run."""
    def row(f, group, case, impl, unit, values, reps):
        med, lo, hi = stat(values)
        f.write(json.dumps({"bench": "python", "group": group, "case": str(case), "impl": impl,
                            "unit": unit, "median": med, "min": lo, "max": hi,
                            "reps": reps}) + "\n")
    with open(path, "a") as f:
        for r in codec:
            for key, group, impl in (("pack_zpk", "packb", "zmqpack"),
                                     ("pack_msgpack", "packb", "msgpack-python"),
                                     ("unpack_zpk", "unpackb", "zmqpack"),
                                     ("unpack_msgpack", "unpackb", "msgpack-python")):
                row(f, group, r["doc"], impl, "MB/s", r[key + "_all"], codec_reps)
        for r in arrays:
            for key, impl in (("zmqpack", "zmqpack send/recv_array"),
                              ("recipe_copy", "recipe copy=True"),
                              ("recipe_nocopy", "recipe copy=False"),
                              ("send_pyobj", "send_pyobj")):
                row(f, "arrays tcp", r["bytes"], impl, "MB/s",
                    [v * r["bytes"] / 1e6 for v in r[key + "_all"]], pipe_reps)
                row(f, "arrays tcp msg/s", r["bytes"], impl, "msg/s", r[key + "_all"], pipe_reps)
        for key in ("zmqpack", "msgpack+send", "send_json", "send_pyobj"):
            row(f, "dict tcp", "%d B" % d["bytes"], key, "msg/s", d[key + "_all"], pipe_reps)


if __name__ == "__main__":
    main()
