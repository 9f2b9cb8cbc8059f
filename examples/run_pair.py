#!/usr/bin/python3
"""Runs one example as a smoke test: a server, then its client(s).

usage: run_pair.py [--timeout S] SERVER [ARGS...] -- CLIENT [ARGS...] [-- CLIENT2 ...]

The server's first line on stdout must name its endpoint
("listening on tcp://127.0.0.1:PORT"); "{endpoint}" and "{port}" in the
clients' arguments are replaced by it. Every process must exit 0 within the
timeout, else they are all killed and the run fails. Output is echoed.
"""
import re
import subprocess
import sys
import threading
import time
from typing import List


def main(argv: List[str]) -> int:
    timeout = 60.0
    if argv[:1] == ["--timeout"]:
        timeout = float(argv[1])
        argv = argv[2:]
    groups: List[List[str]] = []
    cur: List[str] = []
    for a in argv:
        if a == "--":
            groups.append(cur)
            cur = []
        else:
            cur.append(a)
    groups.append(cur)
    if not groups[0]:
        print(__doc__, file=sys.stderr)
        return 2
    deadline = time.monotonic() + timeout
    server = subprocess.Popen(groups[0], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    out = server.stdout
    lines = []

    def pump() -> None:
        for line in out:
            lines.append(line)
            sys.stdout.write("[server] " + line)
            sys.stdout.flush()

    first = out.readline()
    sys.stdout.write("[server] " + first)
    m = re.search(r"((?:tcp|ipc|inproc)://\S+?)(?::(\d+))?\s*$", first)
    if not m:
        print("run_pair: the server did not print its endpoint", file=sys.stderr)
        server.kill()
        return 1
    endpoint = m.group(1) + (":" + m.group(2) if m.group(2) else "")
    port = m.group(2) or ""
    t = threading.Thread(target=pump, daemon=True)
    t.start()
    procs: List["subprocess.Popen[bytes]"] = []
    for g in groups[1:]:
        args = [a.replace("{endpoint}", endpoint).replace("{port}", port) for a in g]
        procs.append(subprocess.Popen(args))
    rc = 0
    everyone: List["subprocess.Popen[bytes] | subprocess.Popen[str]"] = [*procs, server]
    for p, name in zip(everyone, [g[0] for g in groups[1:]] + [groups[0][0]]):
        try:
            left = max(0.1, deadline - time.monotonic())
            if p.wait(timeout=left) != 0:
                print(f"run_pair: {name} exited with {p.returncode}", file=sys.stderr)
                rc = 1
        except subprocess.TimeoutExpired:
            print(f"run_pair: {name} timed out", file=sys.stderr)
            rc = 1
            for q in everyone:
                if q.poll() is None:
                    q.kill()
    t.join(timeout=5)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
