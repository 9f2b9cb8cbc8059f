#!/usr/bin/python3
"""The soak (issue 19, item 3): zmqpack messages between processes over tcp
while receivers are killed, stopped and slowed down.

For each pattern (PUSH/PULL, PUB/SUB, ROUTER/DEALER) one zpk_soak sender
process binds one socket per message kind on tcp://127.0.0.1:* and one
zpk_soak receiver process connects to them; tests/soak/soak.c says what the
messages carry and how each side counts. Every minute, for each pattern in
turn, this driver
  - kills the receiver with SIGKILL and starts it again a second later (in
    the first minute and every fifth one after it),
  - stops it (SIGSTOP) for 3 s, so that the queues reach their high-water
    mark (PUSH and ROUTER wait, PUB drops),
  - makes it a slow consumer (SIGUSR1: 2 ms per message) for 5 s,
and samples every process's RSS each second. At the end the senders send
an end marker on every stream, the receivers stop when they have them all,
and the driver prints what was sent, received, verified, corrupted and lost
(with the reason) per pattern, and RSS at start, end and maximum.

Exit status 0 only when no message was corrupted or refused, every loss is
explained (skipped by the sender with ZeroMQ's reason, or queued to a killed
receiver within the bound zpk_soak checks), every count adds up, the queues
did reach their high-water mark, and no process's memory grew after warm-up.

The driver is Python because it only starts processes, sends signals and
reads /proc: the messages themselves are made, sent, received and verified
in C (zpk_soak), on zmqpack's public API.

    soak.py --bin build/tests/soak/zpk_soak [--minutes M] [--messages N]
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

T0 = time.monotonic()
PATTERNS = [("push", "PUSH/PULL"), ("pub", "PUB/SUB"), ("router", "ROUTER/DEALER")]
CYCLE_S = 60          # each pattern gets a stop and a slow phase per cycle...
KILL_EVERY = 5        # ... and a kill every fifth cycle, the first one included, so
                      # that in a long run receivers live long enough for a memory verdict
WARMUP_S = 3          # nothing happens before this
KILL_DOWN_S = 1
STOP_S = 3
SLOW_S = 5
END_TIMEOUT_S = 180   # for the end markers to arrive once the senders stop
MIN_LIFE_S = 30       # shorter-lived processes get no memory verdict
GROWTH_RATIO = 1.25   # RSS of the last quarter of a life over the second quarter...
GROWTH_SLACK_KIB = 16 * 1024  # ... beyond this much is growth


def parse_line(line):
    """'what key value key value ...' -> (what, dict); values as int when they are.
    The dict's "words" holds the words after `what` as they came."""
    parts = line.split()
    if not parts:
        return None, {}
    what, rest = parts[0], parts[1:]
    d = {"words": rest}
    i = 0
    while i + 1 < len(rest):
        k, v = rest[i], rest[i + 1]
        if v.startswith('"'):  # quoted text runs to the closing quote
            j = i + 1
            while not rest[j].endswith('"') and j + 1 < len(rest):
                j += 1
            v = " ".join(rest[i + 1:j + 1]).strip('"')
            i = j + 1
        else:
            i += 2
        try:
            d[k] = int(v)
        except ValueError:
            d[k] = v
    return what, d


class Proc:
    """One zpk_soak process: its output lines, read on a thread, and its RSS samples."""

    def __init__(self, label, argv, tmp):
        self.label = label
        self.errpath = os.path.join(tmp, label.replace(" ", "_").replace("#", "") + ".err")
        self.err = open(self.errpath, "w")
        self.out = open(self.errpath[:-4] + ".out", "w")
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.err, text=True)
        self.lines = []
        self.cond = threading.Condition()
        self.rss = []  # (seconds since start, KiB)
        self.started = time.monotonic()
        self.killed = False
        self.errors = 0
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            self.out.write(f"{time.monotonic() - T0:8.2f} {line}")
            self.out.flush()
            what, d = parse_line(line)
            if what == "error":
                self.errors += 1
                if self.errors <= 10:
                    print(f"soak: {self.label}: {line.strip()}", flush=True)
                elif self.errors == 11:
                    print(f"soak: {self.label}: more errors, not shown", flush=True)
            with self.cond:
                self.lines.append((what, d))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_line(self, what, timeout):
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for w, d in self.lines:
                    if w == what:
                        return d
                left = end - time.monotonic()
                if left <= 0 or self.p.poll() is not None and not self.t.is_alive():
                    return None
                self.cond.wait(min(left, 0.5))

    def last(self, what):
        with self.cond:
            for w, d in reversed(self.lines):
                if w == what:
                    return d
        return None

    def all(self, what):
        with self.cond:
            return [d for w, d in self.lines if w == what]

    def sample_rss(self):
        try:
            with open(f"/proc/{self.p.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        self.rss.append((time.monotonic() - self.started, int(line.split()[1])))
                        with open(self.errpath[:-4] + ".rss", "a") as f:
                            f.write("%.1f %d\n" % self.rss[-1])
                        return
        except (FileNotFoundError, ProcessLookupError):
            pass

    def signal(self, sig):
        if self.p.poll() is None:
            self.p.send_signal(sig)

    def stderr_tail(self, n=20):
        self.err.flush()
        with open(self.errpath) as f:
            return "".join(f.readlines()[-n:])


def memory_verdict(rss):
    """(start, end, max, grew) in KiB; grew is None when the life was too short to judge."""
    if not rss:
        return None
    vals = [v for _, v in rss]
    start, end, peak = vals[0], vals[-1], max(vals)
    if rss[-1][0] < MIN_LIFE_S or len(vals) < 8:
        return start, end, peak, None
    q = len(vals) // 4
    ref = statistics.median(vals[q:2 * q])  # after the first quarter: the warm-up
    last = statistics.median(vals[-q:])
    return start, end, peak, last > ref * GROWTH_RATIO + GROWTH_SLACK_KIB


def schedule(duration, faults):
    """[(time, pattern index, action)] for a run of @duration seconds: each
    pattern in turn, every CYCLE_S, gets each fault of @faults (kill, stop,
    slow) that ends a second before the run does."""
    phases = {"kill": (0, "kill", KILL_DOWN_S, "restart"),
              "stop": (KILL_DOWN_S + 3, "stop", STOP_S, "cont"),
              "slow": (KILL_DOWN_S + STOP_S + 5, "slow", SLOW_S, "fast")}
    ev = []
    per = CYCLE_S / len(PATTERNS)
    t0 = 0.0
    while t0 < duration:
        for i in range(len(PATTERNS)):
            b = t0 + WARMUP_S + i * per
            for f in faults:
                if f == "kill" and round(t0 / CYCLE_S) % KILL_EVERY != 0:
                    continue
                at, start, length, end = phases[f]
                if b + at + length < duration - 1:
                    ev += [(b + at, i, start), (b + at + length, i, end)]
        t0 += CYCLE_S
    ev.sort()
    return ev


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, help="the zpk_soak program")
    ap.add_argument("--minutes", type=float, default=1.0, help="how long (default 1)")
    ap.add_argument("--messages", type=int, default=0,
                    help="stop earlier once the senders made this many attempts in all")
    ap.add_argument("--rate", type=float, default=0,
                    help="each sender sends at most this many messages a second (0: no limit)")
    ap.add_argument("--streams", action="store_true", help="also print one line per stream")
    ap.add_argument("--faults", default="kill,stop,slow",
                    help="which faults to inject (default kill,stop,slow)")
    ap.add_argument("--self-test", action="store_true",
                    help="check the checker: the senders corrupt and lose messages on purpose, "
                         "and the run must report both on every pattern")
    args = ap.parse_args()

    # RSS should measure what is live. glibc raises its mmap threshold each
    # time a large block is freed, after which 16 MiB buffers come from the
    # heap and stay resident: RSS climbs in steps for minutes and reads as
    # growth. A fixed threshold gives large blocks back when they are freed.
    # ASan's quarantine holds freed memory up to 256 MiB by default: the same
    # climb; keep it small (leaks are still found).
    os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", str(256 * 1024))
    os.environ["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16"
    # a libzmq leak the kills provoke (see the file)
    supp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lsan.supp")
    os.environ["LSAN_OPTIONS"] = os.environ.get("LSAN_OPTIONS", "") + f":suppressions={supp}"

    if not args.self_test:
        failures, tmp = run(args, [])
        if failures:
            for f in failures:
                print(f"soak: FAIL: {f}", flush=True)
            print(f"soak: temp files kept in {tmp}")
            return 1
        shutil.rmtree(tmp)
        print("soak: OK")
        return 0
    # no faults: every message counts, and a few per stream are enough
    args.faults = ""
    failures, tmp = run(args, ["--inject-corrupt", "3", "--inject-loss", "4"])
    missing = [f"{title}: {what}" for _, title in PATTERNS
               for what in ("corrupted", "lost_unexplained")
               if not any(f.startswith(f"{title}: {what}") for f in failures)]
    if missing:
        print("soak: self-test FAILED: injected faults not reported: " + "; ".join(missing))
        print(f"soak: temp files kept in {tmp}")
        return 1
    shutil.rmtree(tmp)
    print(f"soak: self-test OK: {len(failures)} failures reported, the injected corruption "
          "and losses among them on every pattern")
    return 0


def run(args, inject):
    """One soak run; returns (failures, temp folder)."""
    duration = args.minutes * 60
    tmp = tempfile.mkdtemp(prefix="zpk-soak-")
    failures = []
    senders, receivers, rx_life = {}, {}, {}
    rate = (["--rate", str(args.rate)] if args.rate > 0 else []) + inject

    def start_receiver(pat, eps):
        n = len(rx_life.setdefault(pat, [])) + 1
        r = Proc(f"recv {pat} #{n}",
                 [args.bin, "recv", pat, os.path.join(tmp, pat + ".state")] + eps, tmp)
        rx_life[pat].append(r)
        receivers[pat] = r
        if r.wait_line("ready", 30) is None:
            failures.append(f"{r.label} did not start: {r.stderr_tail()}")
        return r

    endpoints = {}
    for pat, _ in PATTERNS:
        s = Proc(f"send {pat}", [args.bin, "send", pat] + rate, tmp)
        senders[pat] = s
        d = s.wait_line("endpoints", 30)
        if d is None:
            return [f"sender {pat} did not start: {s.stderr_tail()}"], tmp
        endpoints[pat] = d["words"]
    for pat, _ in PATTERNS:
        start_receiver(pat, endpoints[pat])

    print(f"soak: {len(PATTERNS)} patterns over tcp://127.0.0.1, {duration:.0f} s"
          + (f" or {args.messages} messages" if args.messages else "")
          + f", receivers killed, stopped and slowed every {CYCLE_S} s; temp {tmp}", flush=True)
    events = schedule(duration, [f for f in args.faults.split(",") if f])
    stopped_ever = {PATTERNS[i][0] for _, i, action in events if action == "stop"}
    kills = {pat: 0 for pat, _ in PATTERNS}
    stopped, slow = set(), set()
    t_start = time.monotonic()
    next_report = 60
    while True:
        now = time.monotonic() - t_start
        for p in list(senders.values()) + list(receivers.values()):
            p.sample_rss()
        while events and events[0][0] <= now:
            _, i, action = events.pop(0)
            pat = PATTERNS[i][0]
            r = receivers[pat]
            if action == "kill":
                r.killed = True
                r.signal(signal.SIGKILL)
                r.p.wait()
                stopped.discard(pat)
                slow.discard(pat)
                kills[pat] += 1
            elif action == "restart":
                start_receiver(pat, endpoints[pat])
            elif action == "stop":
                r.signal(signal.SIGSTOP)
                stopped.add(pat)
            elif action == "cont":
                r.signal(signal.SIGCONT)
                stopped.discard(pat)
            elif action == "slow" or action == "fast" and pat in slow:
                r.signal(signal.SIGUSR1)
                slow.symmetric_difference_update({pat})
        for pat, p in list(senders.items()) + list(receivers.items()):
            if p.p.poll() is not None and not p.killed:
                failures.append(f"{p.label} exited early with status {p.p.returncode}: "
                                f"{p.stderr_tail()}")
                p.killed = True
        if failures:
            break
        attempts = sum((s.last("progress") or {}).get("attempts", 0) for s in senders.values())
        if now >= duration or args.messages and attempts >= args.messages:
            break
        if now >= next_report:
            print(f"soak: {now:.0f} s, {attempts} messages sent or skipped", flush=True)
            next_report += 60
        time.sleep(max(0.0, 1.0 - (time.monotonic() - t_start - now)))

    # wind down: every receiver running at full speed, then the end markers
    for pat in list(stopped):
        receivers[pat].signal(signal.SIGCONT)
    for pat in list(slow):
        receivers[pat].signal(signal.SIGUSR1)
    for pat, r in receivers.items():
        if r.p.poll() is not None and not failures:
            start_receiver(pat, endpoints[pat])
    elapsed = time.monotonic() - t_start
    # SIGTERM: each sender sends its end markers; the receivers stop once
    # they have them all; then a second SIGTERM lets the senders exit
    for s in senders.values():
        s.signal(signal.SIGTERM)
    deadline = time.monotonic() + END_TIMEOUT_S
    for group in (receivers.values(), senders.values()):
        while any(p.p.poll() is None for p in group) and time.monotonic() < deadline:
            for p in list(senders.values()) + list(receivers.values()):
                p.sample_rss()
            time.sleep(1)
        for s in senders.values():
            s.signal(signal.SIGTERM)
    for p in list(receivers.values()) + list(senders.values()):
        if p.p.poll() is None:
            failures.append(f"{p.label} still running {END_TIMEOUT_S} s after the senders "
                            "were told to stop")
            p.signal(signal.SIGTERM)
            try:
                p.p.wait(10)
            except subprocess.TimeoutExpired:
                p.signal(signal.SIGKILL)
                p.p.wait()
        elif p.p.returncode != 0:
            failures.append(f"{p.label} exited with status {p.p.returncode}: {p.stderr_tail()}")
        p.t.join(5)

    failures += report(PATTERNS, senders, receivers, rx_life, kills, stopped_ever, elapsed,
                       args.streams)
    return failures, tmp


def report(patterns, senders, receivers, rx_life, kills, stopped_ever, elapsed, per_stream):
    failures = []
    tot = {}
    print(f"soak: ran {elapsed:.0f} s")
    head = (f"{'pattern':<14}{'sent':>10}{'received':>10}{'verified':>10}{'corrupt':>8}"
            f"{'lost':>8}  reasons")
    print(head)
    for pat, title in patterns:
        sx = {d["name"]: d for d in senders[pat].all("stream") if d.get("role") == "send"}
        rx = {d["name"]: d for d in receivers[pat].all("stream") if d.get("role") == "recv"}
        if not sx or not rx:
            failures.append(f"{title}: no final counts (sender {bool(sx)}, receiver {bool(rx)})")
            continue
        agg, lines = {}, []
        for name, s in sx.items():
            r = rx.get(name)
            if r is None:
                failures.append(f"{title} {name}: the receiver reported nothing")
                continue
            for k, v in list(s.items()) + list(r.items()):
                if isinstance(v, int) and not isinstance(v, bool):
                    agg[k] = agg.get(k, 0) + v
            lost = r["lost_skipped"] + r["lost_restart"] + r["lost_unexplained"]
            # every sequence number, the end marker's included, is accounted for once
            if r["verified"] + lost != s["attempts"] + 1:
                failures.append(f"{title} {name}: verified {r['verified']} + lost {lost} != "
                                f"sequence numbers {s['attempts'] + 1}")
            if r["lost_skipped"] != s["dropped_hwm"] + s["unroutable"]:
                failures.append(f"{title} {name}: receiver saw {r['lost_skipped']} skipped, "
                                f"sender skipped {s['dropped_hwm'] + s['unroutable']}")
            if not s["ended"] or not r["ended"]:
                failures.append(f"{title} {name}: end marker sent {s['ended']}, "
                                f"received {r['ended']}")
            if per_stream:
                lines.append(f"  {name:<16} sent {s['sent']} verified {r['verified']} "
                      f"lost: at HWM {s['dropped_hwm']}, unroutable {s['unroutable']}, "
                      f"at restarts {r['lost_restart']} (max gap {r['restart_gap_max']}), "
                      f"unexplained {r['lost_unexplained']}")
        lost = agg["lost_skipped"] + agg["lost_restart"] + agg["lost_unexplained"]
        reasons = []
        if agg["dropped_hwm"]:
            reasons.append(f"{agg['dropped_hwm']} dropped at the HWM (PUB; EAGAIN under "
                           "ZMQ_XPUB_NODROP)")
        if agg["unroutable"]:
            reasons.append(f"{agg['unroutable']} unroutable while the DEALER was dead "
                           "(EHOSTUNREACH under ZMQ_ROUTER_MANDATORY)")
        if agg["lost_restart"]:
            why = ("sent while no subscriber was connected (at the start, after a kill)"
                   if pat == "pub"
                   else "queued to the killed receiver, within the bound")
            reasons.append(f"{agg['lost_restart']} {why} ({agg['restart_gaps']} gaps, "
                           f"{kills[pat]} kills)")
        if agg["lost_unexplained"]:
            reasons.append(f"{agg['lost_unexplained']} UNEXPLAINED")
        print(f"{title:<14}{agg['sent']:>10}{agg['received']:>10}{agg['verified']:>10}"
              f"{agg['corrupted'] + agg['refused']:>8}{lost:>8}  "
              + ("; ".join(reasons) if reasons else "none"))
        sizes = [(r["min_size"], r["max_size"]) for r in rx.values() if r["verified"]]
        print(f"{'':<14}"
              + ("" if pat == "pub" else f"sender blocked at the HWM {agg['blocked']} times; ")
              + f"{agg['bytes'] / 2**20:.0f} MiB verified, messages of "
              f"{min(a for a, _ in sizes)} B to {max(b for _, b in sizes) / 2**20:.0f} MiB; "
              f"{kills[pat]} kills"
              + (f"; {agg['acks']} acknowledgements back to the ROUTER" if pat == "router" else ""))
        for line in lines:
            print(line)
        for k in ("corrupted", "refused", "out_of_order", "lost_unexplained", "bad_acks"):
            if agg[k]:
                failures.append(f"{title}: {k} {agg[k]}")
        # a receiver stopped for seconds fills the queues: if the sender did
        # not see it, the high-water mark was not tested
        if pat in stopped_ever and pat in ("push", "router") and agg["blocked"] == 0:
            failures.append(f"{title}: the sender never met the high-water mark")
        if pat in stopped_ever and pat == "pub" and agg["dropped_hwm"] == 0:
            failures.append(f"{title}: the publisher never dropped at the high-water mark")
        for k, v in agg.items():
            tot[k] = tot.get(k, 0) + v
    if tot:
        print(f"{'all':<14}{tot['sent']:>10}{tot['received']:>10}{tot['verified']:>10}"
              f"{tot['corrupted'] + tot['refused']:>8}"
              f"{tot['lost_skipped'] + tot['lost_restart'] + tot['lost_unexplained']:>8}")

    print(f"{'RSS (MiB)':<22}{'start':>8}{'end':>8}{'max':>8}{'life s':>8}  memory")
    lives = [senders[p] for p, _ in patterns] + [r for p, _ in patterns for r in rx_life[p]]
    for p in lives:
        v = memory_verdict(p.rss)
        if v is None:
            continue
        start, end, peak, grew = v
        verdict = ("too short to judge" if grew is None else "GREW" if grew else "flat")
        print(f"{p.label:<22}{start / 1024:>8.1f}{end / 1024:>8.1f}{peak / 1024:>8.1f}"
              f"{p.rss[-1][0]:>8.0f}  {verdict}")
        if grew:
            failures.append(f"{p.label}: memory grew after warm-up")
    return failures


if __name__ == "__main__":
    sys.exit(main())
