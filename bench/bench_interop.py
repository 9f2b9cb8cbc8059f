#!/usr/bin/env python3
"""Other streams' formats (issue 18): zmqpack beside a pure-Python peer built
like the real package, on the same messages, in one run.

  /usr/bin/python3 bench/bench_interop.py [--quick] [--json FILE]

1. Karabo bridge trains of 16 sources, each one 1 MiB uint16 array and 50
   scalars (protocol 2.2): zmqpack.karabo's client beside a client built like
   karabo-bridge-py's (msgpack-python + numpy: tests/peers/karabo.py).
   - "decode": deserialize() of a received train (fresh zmq.Frames each time),
     trains/s of this thread's CPU time;
   - "client": a PULL client receiving from a server process (PUSH, one
     pre-serialized train sent again and again) over ipc and tcp: trains/s of
     the client thread's CPU time (receive and decode: what the client costs;
     libzmq's I/O thread moves the bytes) and of wall time (bounded by the
     16 MiB a train moves, alike for both).
2. msgpack-numpy: packb / unpackb of a dict of ten 100 KiB float64 arrays,
   zmqpack.packb(..., ndarray="msgpack-numpy") beside msgpack-python with
   msgpack-numpy's rules (tests/peers/msgpack_numpy.py), MB/s of packed bytes
   in CPU time. The bytes are checked equal first.

Each contestant's repetitions are interleaved with the other's, so a noisy
machine slows both alike; figures are medians (min..max in the JSON rows).
Ratios are zmqpack / peer: above 1, zmqpack is faster. Needs the built package
on PYTHONPATH (./dev run does it). --json FILE appends one JSON row per figure
(the keys of bench/bench_util.h's bu_json_row).
"""
import argparse
import json
import pathlib
import sys
import time

import msgpack
import numpy as np
import zmq

import zmqpack
from zmqpack import karabo

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from peers import karabo as peer_karabo  # noqa: E402
from peers import msgpack_numpy as peer_mpnp  # noqa: E402

SOURCES = 16
SCALARS = 50
IMAGE = (512, 1024)  # uint16: 1 MiB


def stat(values):
    v = sorted(values)
    n = len(v)
    return (v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2), v[0], v[-1]


def train(tid):
    data, meta = {}, {}
    for s in range(SOURCES):
        src = "SPB_DET_AGIPD1M-1/DET/%dCH0:xtdf" % s
        values = {"scalar.%02d" % k: (k * 0.5 if k % 3 else k) for k in range(SCALARS - 1)}
        values["detector.name"] = "AGIPD"
        values["image.data"] = np.full(IMAGE, s, dtype=np.uint16)
        data[src] = values
        meta[src] = peer_karabo.metadata_for(src, tid)
    return data, meta


def cpu_rates(fns, reps, number):
    """Calls per second of each function (thread CPU time), runs interleaved."""
    rates = [[] for _ in fns]
    for _ in range(reps):
        for i, fn in enumerate(fns):
            t0 = time.thread_time()
            for _ in range(number):
                fn()
            rates[i].append(number / max(time.thread_time() - t0, 1e-9))
    return rates


# -- 1. Karabo ----------------------------------------------------------------------

def same_train(d, m, d0, m0):
    assert m == m0 and sorted(d) == sorted(d0)
    for src in d0:
        for k, v in d0[src].items():
            if isinstance(v, np.ndarray):
                assert d[src][k].dtype == v.dtype and np.array_equal(d[src][k], v)
            else:
                assert d[src][k] == v


def fresh_frame_lists(frames, count):
    """@p count copies of the train as a client gets them: each a new list of
    zmq.Frames from recv_multipart(copy=False) (over inproc, so the big frames
    share the sender's memory). Fresh ones, because a zmq.Frame keeps what its
    .bytes made, and a decoder timed on the same frames again would not pay it."""
    ctx = zmq.Context.instance()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    a.sndhwm = b.rcvhwm = 0
    a.bind("inproc://bench-interop-frames")
    b.connect("inproc://bench-interop-frames")
    out = []
    for _ in range(count):
        a.send_multipart(frames, copy=False)
        out.append(b.recv_multipart(copy=False))
    a.close()
    b.close()
    return out


def bench_karabo_decode(quick):
    data, meta = train(10000000001)
    frames = peer_karabo.serialize(data, meta)
    assert [bytes(f) for f in karabo.serialize(data, meta)] == [bytes(f) for f in frames]
    for fn in (karabo.deserialize, peer_karabo.deserialize):
        same_train(*fn(fresh_frame_lists(frames, 1)[0]), data, meta)
    number = 30 if quick else 200
    rates = {"zmqpack": [], "peer": []}
    for _ in range(3 if quick else 9):
        for name, fn in (("zmqpack", karabo.deserialize), ("peer", peer_karabo.deserialize)):
            lists = fresh_frame_lists(frames, number)
            t0 = time.thread_time()
            for f in lists:
                fn(f)
            rates[name].append(number / max(time.thread_time() - t0, 1e-9))
    return rates


def serve(endpoint, count):
    """The server process (bench_interop.py --serve): binds PUSH, prints its
    endpoint, sends one pre-serialized train @p count times."""
    frames = [zmq.Frame(bytes(f)) for f in peer_karabo.serialize(*train(10000000002))]
    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    push.linger = 10000
    push.bind(endpoint)
    print(push.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
    for _ in range(count):
        push.send_multipart(frames, copy=False)
    push.close()
    ctx.term()


def client_run(endpoint, client_cls, count):
    """One client receiving @p count trains from a server process: (trains per
    second of this thread's CPU time, trains per second of wall time)."""
    import subprocess
    srv = subprocess.Popen([sys.executable, __file__, "--serve", endpoint, str(count + 1)],
                           stdout=subprocess.PIPE, text=True)
    try:
        with client_cls(srv.stdout.readline().strip(), "PULL", timeout=60) as client:
            client.next()  # connected, first train through
            c0, t0 = time.thread_time(), time.perf_counter()
            for _ in range(count):
                client.next()
            cpu, wall = time.thread_time() - c0, time.perf_counter() - t0
    finally:
        assert srv.wait(timeout=120) == 0
    return count / max(cpu, 1e-9), count / wall


def bench_karabo_clients(quick, tmpdir):
    out = {}
    count = 10 if quick else 50
    for transport, endpoint in (("ipc", "ipc://%s/bench-interop" % tmpdir),
                                ("tcp", "tcp://127.0.0.1:*")):
        r = {k: [] for k in ("zmqpack cpu", "peer cpu", "zmqpack wall", "peer wall")}
        for _ in range(3 if quick else 7):
            for name, cls in (("zmqpack", karabo.Client), ("peer", peer_karabo.Client)):
                cpu, wall = client_run(endpoint, cls, count)
                r[name + " cpu"].append(cpu)
                r[name + " wall"].append(wall)
        out[transport] = r
    return out


# -- 2. msgpack-numpy -------------------------------------------------------------------

def warm_allocator():
    """Frees an 8 MiB block, which raises glibc's dynamic mmap threshold so
    that later MiB-sized buffers come from its heap instead of fresh pages.
    Both contestants then run in that state, the peer's best: without it,
    msgpack-python's packb of this dict took from 0.08 to 5 ms here,
    depending on which sizes the process had freed before (page faults of
    the buffer it grows and frees on every call)."""
    block = bytearray(8 << 20)
    del block


def bench_msgpack_numpy(quick):
    warm_allocator()
    rng = np.random.default_rng(18)
    obj = {"array%d" % i: rng.standard_normal(100 * 1024 // 8) for i in range(10)}
    b = peer_mpnp.packb(obj)
    assert zmqpack.packb(obj, ndarray="msgpack-numpy") == b
    for unpack in (lambda: zmqpack.unpackb(b, ndarray="msgpack-numpy"),
                   lambda: peer_mpnp.unpackb(b)):
        back = unpack()
        assert all(np.array_equal(back[k], v) for k, v in obj.items())
    reps, number = (3, 20) if quick else (9, 200)
    r = cpu_rates([lambda: zmqpack.packb(obj, ndarray="msgpack-numpy"),
                   lambda: peer_mpnp.packb(obj),
                   lambda: zmqpack.unpackb(b, ndarray="msgpack-numpy"),
                   lambda: peer_mpnp.unpackb(b)], reps, number)
    mb = len(b) / 1e6
    return len(b), {k: [x * mb for x in v] for k, v in
                    zip(("packb zmqpack", "packb peer", "unpackb zmqpack", "unpackb peer"), r)}


# -- report ----------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a short pass")
    ap.add_argument("--json", help="append one JSON row per figure to this file")
    ap.add_argument("--serve", nargs=2, metavar=("ENDPOINT", "COUNT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        return serve(args.serve[0], int(args.serve[1]))
    reps = 3 if args.quick else 7
    rows = []

    def row(group, case, impl, unit, values):
        med, lo, hi = stat(values)
        rows.append({"bench": "interop", "group": group, "case": case, "impl": impl,
                     "unit": unit, "median": med, "min": lo, "max": hi, "reps": len(values)})
        return med

    print("# Other streams' formats: zmqpack beside pure-Python peers\n")
    print("machine: Python %s, msgpack %s, pyzmq %s, libzmq %s, numpy %s\n" % (
        sys.version.split()[0], ".".join(map(str, msgpack.version)), zmq.__version__,
        zmq.zmq_version(), np.__version__))
    print("## Karabo bridge: trains of %d sources x (1 MiB uint16 + %d scalars), protocol 2.2\n"
          % (SOURCES, SCALARS))
    print("| | zmqpack.karabo | karabo-bridge-py's way | ratio |")
    print("|---|---:|---:|---:|")
    dec = bench_karabo_decode(args.quick)
    z = row("karabo", "decode", "zmqpack", "trains/s", dec["zmqpack"])
    p = row("karabo", "decode", "karabo-bridge-py", "trains/s", dec["peer"])
    print("| decode a received train (trains/s, CPU) | %.0f | %.0f | **%.2fx** |" % (z, p, z / p))
    import tempfile
    with tempfile.TemporaryDirectory() as tmpdir:
        clients = bench_karabo_clients(args.quick, tmpdir)
    for transport, r in clients.items():
        z = row("karabo", "client %s cpu" % transport, "zmqpack", "trains/s", r["zmqpack cpu"])
        p = row("karabo", "client %s cpu" % transport, "karabo-bridge-py", "trains/s",
                r["peer cpu"])
        print("| PULL client over %s, its CPU (trains/s) | %.0f | %.0f | **%.2fx** |" % (
            transport, z, p, z / p))
        z = row("karabo", "client %s wall" % transport, "zmqpack", "trains/s", r["zmqpack wall"])
        p = row("karabo", "client %s wall" % transport, "karabo-bridge-py", "trains/s",
                r["peer wall"])
        print("| PULL client over %s, wall time (trains/s) | %.0f | %.0f | %.2fx |" % (
            transport, z, p, z / p))
    size, mp = bench_msgpack_numpy(args.quick)
    print("\n## msgpack-numpy: a dict of ten 100 KiB float64 arrays (%d B packed; MB/s, CPU)\n"
          % size)
    print("| | zmqpack | msgpack-python + msgpack-numpy's rules | ratio |")
    print("|---|---:|---:|---:|")
    for op in ("packb", "unpackb"):
        z = row("msgpack-numpy", op, "zmqpack", "MB/s", mp[op + " zmqpack"])
        p = row("msgpack-numpy", op, "msgpack-python", "MB/s", mp[op + " peer"])
        print("| %s | %.0f | %.0f | **%.2fx** |" % (op, z, p, z / p))
    print("\n(ratios: zmqpack / peer, medians of %d interleaved repetitions; target 2x: the "
          "Karabo client and packb/unpackb)" % reps)
    if args.json:
        with open(args.json, "a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
