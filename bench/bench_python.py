#!/usr/bin/env python3
"""Python binding benchmark: zmqpack beside its peers, in one run.

  /usr/bin/python3 bench/bench_python.py [--quick] [--json FILE]

1. packb / unpackb on the four corpus documents beside msgpack-python (its
   C extension): MB/s of MessagePack bytes (thread CPU time) and the ratio.
2. msgpack-numpy: packb / unpackb of a dict of ten 100 KiB float64 arrays
   with ndarray="msgpack-numpy", beside msgpack-python with msgpack-numpy's
   encode/decode hooks (tests/peers/msgpack_numpy.py, written from its
   format): ms per call (CPU time) and the ratio.
3. Arrays over tcp://127.0.0.1, pipelined (a sender thread bursts, the main
   thread receives): zmqpack.send_array/recv_array beside the pyzmq numpy
   recipe (copy=True and copy=False; the faster is the reference) and
   send_pyobj, 1 KiB .. 64 MiB; messages/s and GB/s.
4. The two routes of the socket helpers at 1 KiB, 1 MiB, 16 MiB over tcp
   (pipelined as 3): the C socket calls, serialize() + send_multipart() and
   recv_multipart() + deserialize() (what a pyzmq with its own libzmq uses),
   and the recipe.
5. End to end over tcp PUB/SUB, the sender in its own process: a ~100-byte
   dict, and a dict of metadata holding one 1 MiB float32 image; zmqpack
   (send_packed/recv_packed, a mixed message for the image) beside
   send_pyobj, pickle protocol 5 with out-of-band buffers over
   send_multipart(copy=False), msgpack-python with the pyzmq recipe, and the
   ceiling: pyzmq receiving pre-encoded frames and decoding nothing. Each
   peer receives pyzmq's fastest way: a one-frame message with recv() into
   bytes, the image's frames as zmq.Frames (pickle-5 takes frames always,
   as dask does).
   Messages/s received.

Needs the built package on PYTHONPATH (./dev run does it). Timing: the median
of several repetitions (min..max in the JSON rows), repetitions of the
contestants interleaved, the clock started after a warm-up message. Prints
markdown tables with ratios (zmqpack / peer); --json FILE appends one JSON
row per figure (the keys of bench/bench_util.h's bu_json_row). Figures from a
loaded machine are noise: run it on a quiet one.
"""
import argparse
import json
import os
import pathlib
import pickle
import platform
import subprocess
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
sys.path.insert(0, str(ROOT / "tests"))
from peers import msgpack_numpy as mnp  # noqa: E402  (msgpack-numpy's rules, from its format)


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


# -- 2. msgpack-numpy --------------------------------------------------------------------

def bench_msgpack_numpy(quick):
    """A dict of ten 100 KiB float64 arrays: zmqpack's ndarray="msgpack-numpy"
    beside msgpack-python with msgpack-numpy's hooks (identical bytes)."""
    rng = np.random.default_rng(1)
    d = {"a%d" % i: rng.standard_normal(100 * 1024 // 8) for i in range(10)}
    b = mnp.packb(d)
    assert zmqpack.packb(d, ndarray="msgpack-numpy") == b
    got = zmqpack.unpackb(b, ndarray="msgpack-numpy")
    assert all(np.array_equal(got[k], d[k]) for k in d)
    number, reps = (20, 3) if quick else (100, 7)
    t = best_of([lambda: zmqpack.packb(d, ndarray="msgpack-numpy"), lambda: mnp.packb(d),
                 lambda: zmqpack.unpackb(b, ndarray="msgpack-numpy"), lambda: mnp.unpackb(b)],
                reps, number)
    r = {"bytes": len(b)}
    for k, v in zip(["pack_zpk", "pack_mnp", "unpack_zpk", "unpack_mnp"], t):
        r[k + "_all"] = [x * 1e3 for x in v]  # ms per call
        r[k] = stat(r[k + "_all"])[0]
    return r


# -- 3. arrays over tcp ----------------------------------------------------------------

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


# -- 4. the two routes of the socket helpers ------------------------------------------------

def bench_routes(quick):
    """send_array/recv_array through the C socket calls, and through
    serialize + send_multipart / recv_multipart + deserialize."""
    routes = zmqpack._sockets
    routes._setup()
    c_route = routes._c_route

    def route(flag, fn):
        def run(s):
            routes._c_route = flag
            try:
                return fn(s)
            finally:
                routes._c_route = c_route
        return run
    rows = []
    for size in (1 << 10, 1 << 20, 1 << 24):
        A = np.random.default_rng(0).standard_normal(size // 8)
        budget = (32 << 20) if quick else (256 << 20)
        count = int(min(5000 if quick else 20000, max(4, budget // size)))
        r = {"bytes": size, "count": count}
        cases = {
            "c_route": (route(True, lambda s: zmqpack.send_array(s, A)),
                        route(True, lambda s: zmqpack.recv_array(s))),
            "frames": (lambda s: s.send_multipart(zmqpack.serialize(A), copy=False),
                       lambda s: zmqpack.deserialize(s.recv_multipart(copy=False))),
            "recipe_copy": (lambda s: recipe_send(s, A, True), lambda s: recipe_recv(s, True)),
            "recipe_nocopy": (lambda s: recipe_send(s, A, False), lambda s: recipe_recv(s, False)),
        }
        r.update(pipelined(cases, count, 3 if quick else 5))
        rows.append(r)
    return rows


# -- 5. end to end: PUB/SUB over tcp, the sender in its own process ---------------------------

def e2e_messages():
    """The two messages: a ~100-byte dict, and metadata with a 1 MiB image."""
    small = {"seq": 123456, "ts": 1700000000.125, "sensor": "temp-07", "value": 21.53,
             "unit": "C", "ok": True, "tags": ["lab", "rack-4"], "site": "building 3"}
    image = {"seq": 7, "ts": 1700000000.125, "camera": "cam-1", "exposure": 0.01,
             "gain": 2.5, "image": np.random.default_rng(2).random((512, 512), np.float32)}
    return {"dict": small, "image": image}


class E2E:
    """Each contestant's send (in the sender process) and receive (here)."""

    @staticmethod
    def send(impl, sock, msg, frames, which):
        if impl == "zmqpack":
            zmqpack.send_packed(sock, msg)
        elif impl == "send_pyobj":
            sock.send_pyobj(msg)
        elif impl == "pickle5":
            bufs = []
            head = pickle.dumps(msg, protocol=5, buffer_callback=bufs.append)
            sock.send_multipart([head] + [b.raw() for b in bufs], copy=False)
        elif impl == "msgpack":
            img = msg.get("image")
            if img is None:
                sock.send(msgpack.packb(msg))
            else:  # the pyzmq recipe: the array's dtype and shape beside, its buffer after
                meta = dict(msg, image={"dtype": str(img.dtype), "shape": img.shape})
                sock.send_multipart([msgpack.packb(meta), img], copy=False)
        elif len(frames) == 1:  # the ceiling: frames encoded once, sent pyzmq's fastest way
            sock.send(frames[0])
        else:
            sock.send_multipart(frames, copy=False)

    @staticmethod
    def recv(impl, sock, which):
        # every peer receives pyzmq's fastest way for the message: a
        # one-frame message with recv() into bytes (cheaper than a zmq.Frame
        # and than recv_multipart's list), the image's frames not copied
        one = which == "dict"
        if impl == "zmqpack":
            return zmqpack.recv_packed(sock)
        if impl == "send_pyobj":
            return sock.recv_pyobj()
        if impl == "pickle5":  # dask's way: frames whatever the object
            frames = sock.recv_multipart(copy=one)
            return pickle.loads(frames[0], buffers=frames[1:])
        if impl == "msgpack":
            if one:
                return msgpack.unpackb(sock.recv())
            frames = sock.recv_multipart(copy=False)
            msg = msgpack.unpackb(frames[0])
            md = msg["image"]
            msg["image"] = np.frombuffer(frames[1], md["dtype"]).reshape(md["shape"])
            return msg
        # the ceiling: decodes nothing
        return sock.recv() if one else sock.recv_multipart(copy=False)


def e2e_sender(impl, which, endpoint, control):
    """The sender process: PUB connects to the subscriber and sends `which`
    until the control socket says stop."""
    msg = e2e_messages()[which]
    frames = [bytes(f) for f in zmqpack.serialize(msg)]
    ctx = zmq.Context()
    pub, ctl = ctx.socket(zmq.PUB), ctx.socket(zmq.PULL)
    pub.sndhwm = E2E_HWM[which]
    pub.connect(endpoint)
    ctl.connect(control)
    n = 0
    while True:
        E2E.send(impl, pub, msg, frames, which)
        n += 1
        if n % 32 == 0 and ctl.poll(0):
            break
    pub.close(0)
    ctl.close(0)
    ctx.term()


def e2e_once(impl, which, count):
    """Messages/s the subscriber receives and decodes, `which` sent by `impl`
    from another process; the clock starts at the first message."""
    ctx = zmq.Context()
    sub, ctl = ctx.socket(zmq.SUB), ctx.socket(zmq.PUSH)
    sub.rcvhwm = E2E_HWM[which]
    sub.subscribe(b"")
    sub.rcvtimeo = 30000
    port = sub.bind_to_random_port("tcp://127.0.0.1")
    cport = ctl.bind_to_random_port("tcp://127.0.0.1")
    child = subprocess.Popen([sys.executable, __file__, "--e2e-sender", impl, which,
                              "tcp://127.0.0.1:%d" % port, "tcp://127.0.0.1:%d" % cport])
    try:
        first = E2E.recv(impl, sub, which)
        t0 = time.perf_counter()
        for _ in range(count):
            last = E2E.recv(impl, sub, which)
        dt = time.perf_counter() - t0
    finally:
        ctl.sndtimeo = 5000  # a sender that died never takes the stop
        try:
            ctl.send(b"stop")
        except zmq.Again:
            pass
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        sub.close(0)
        ctl.close(0)
        ctx.term()
    if child.returncode != 0:
        raise RuntimeError("the %s sender of %r ended with %s" % (impl, which, child.returncode))
    if impl != "raw":  # what arrived is what was sent
        want = e2e_messages()[which]
        for got in (first, last):
            assert set(got) == set(want)
            assert all(np.array_equal(got[k], v) if isinstance(v, np.ndarray) else
                       (list(got[k]) if isinstance(got[k], tuple) else got[k]) == v
                       for k, v in want.items()), (impl, which)
    return count / dt


E2E_IMPLS = ["zmqpack", "send_pyobj", "pickle5", "msgpack", "raw"]
E2E_NAMES = {"zmqpack": "zmqpack", "send_pyobj": "send_pyobj", "pickle5": "pickle-5 out-of-band",
             "msgpack": "msgpack + recipe", "raw": "raw bytes (ceiling)"}
# PUB drops beyond its high-water mark: the images queued stay below 64 MiB
E2E_HWM = {"dict": 1000, "image": 64}


def bench_e2e(quick):
    rows = []
    for which, count in (("dict", 20000 if quick else 200000), ("image", 300 if quick else 2000)):
        rates = {k: [] for k in E2E_IMPLS}
        for _ in range(3 if quick else 9):
            for impl in E2E_IMPLS:
                rates[impl].append(e2e_once(impl, which, count))
        r = {"which": which, "bytes": len(zmqpack.packb(e2e_messages()[which], ndarray="msgpack-numpy")),
             "count": count}
        r.update({k: stat(v)[0] for k, v in rates.items()})
        r.update({k + "_all": v for k, v in rates.items()})
        rows.append(r)
    return rows


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

    m = bench_msgpack_numpy(args.quick)
    print("\n## msgpack-numpy: a dict of ten 100 KiB float64 arrays (ms per call, CPU time)\n")
    print("| | zmqpack ndarray=\"msgpack-numpy\" | msgpack-python + msgpack-numpy's hooks | ratio |")
    print("|---|---:|---:|---:|")
    for op in ("pack", "unpack"):
        print("| %sb | %.3f | %.3f | **%.2fx** |" % (op, m[op + "_zpk"], m[op + "_mnp"],
                                                  m[op + "_mnp"] / m[op + "_zpk"]))
    sys.stdout.flush()

    routes = bench_routes(args.quick)
    print("\n## the two routes of send_array/recv_array over tcp, pipelined (messages/s)\n")
    print("| size | C socket calls | serialize + send_multipart | recipe (best) | frames / C | C / recipe |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in routes:
        rec = max(r["recipe_copy"], r["recipe_nocopy"])
        print("| %s | %.0f | %.0f | %.0f | %.2fx | **%.2fx** |" % (
            human(r["bytes"]), r["c_route"], r["frames"], rec, r["frames"] / r["c_route"],
            r["c_route"] / rec))
    sys.stdout.flush()

    e2e = bench_e2e(args.quick)
    print("\n## end to end: PUB/SUB over tcp, the sender in its own process (messages/s received)\n")
    print("| message | " + " | ".join(E2E_NAMES[k] for k in E2E_IMPLS) +
          " | vs best peer | of the ceiling |")
    print("|---|" + "---:|" * (len(E2E_IMPLS) + 2))
    for r in e2e:
        best = max(r[k] for k in ("send_pyobj", "pickle5", "msgpack"))
        label = "~%d B dict" % r["bytes"] if r["which"] == "dict" else "dict + 1 MiB float32"
        print("| %s | " % label + " | ".join("%.0f" % r[k] for k in E2E_IMPLS) +
              " | **%.2fx** | %.2fx |" % (r["zmqpack"] / best, r["zmqpack"] / r["raw"]))
    print("\n(ratios: zmqpack / peer; above 1 means zmqpack is faster)")
    if args.json:
        write_rows(args.json, codec, m, arrays, routes, e2e, 3 if args.quick else 7,
                   3 if args.quick else 5)


def write_rows(path, codec, m, arrays, routes, e2e, codec_reps, pipe_reps):
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
        for op in ("pack", "unpack"):
            row(f, "msgpack-numpy %sb" % op, "10 x 100 KiB", "zmqpack", "ms",
                m[op + "_zpk_all"], codec_reps)
            row(f, "msgpack-numpy %sb" % op, "10 x 100 KiB", "msgpack-python + hooks", "ms",
                m[op + "_mnp_all"], codec_reps)
        for r in routes:
            for key, impl in (("c_route", "C socket calls"), ("frames", "serialize + send_multipart"),
                              ("recipe_copy", "recipe copy=True"),
                              ("recipe_nocopy", "recipe copy=False")):
                row(f, "routes tcp msg/s", r["bytes"], impl, "msg/s", r[key + "_all"], pipe_reps)
        for r in e2e:
            for key in E2E_IMPLS:
                row(f, "pubsub e2e msg/s", r["which"], E2E_NAMES[key], "msg/s", r[key + "_all"],
                    pipe_reps)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--e2e-sender"]:
        e2e_sender(*sys.argv[2:6])
    else:
        main()
