#!/usr/bin/python3
"""Mutation testing of the decoders and the socket layer (issue 19, item 5).

Flips one comparison (< <= > >= == !=) or removes one check (an `if` whose
body returns or jumps away becomes `if (0)`) in one file of src/, rebuilds,
runs the C suites (unit, socket, vectors, fuzz replays) until one fails, and
restores the file. A mutant no test notices is a survivor: each one needs a
test that fails on it, or a line in tests/mutate/equivalent.txt saying why
no test can (the mutant behaves exactly like the original).

Bounded: mutants are a seeded sample of every site (--sample), each test
runs with a timeout of three times its unmutated duration plus 10 s, and
--budget stops the pass after that many minutes. It builds in its own
folder (build-mutate/: a copy of the tracked files, configured once,
debug with ASan and UBSan as ./dev test's second build, no Python, tools,
examples or benchmarks), so the worktree and its builds are never touched.

    ./dev mutate [--sample N] [--seed S] [--budget MINUTES] [--files GLOB...] [--rev REV]
    ./dev mutate --list        (the sites, no build)
"""
import argparse
import fnmatch
import glob
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORK = os.path.join(ROOT, "build-mutate")
TREE = os.path.join(WORK, "tree")
BUILD = os.path.join(WORK, "build")
EQUIVALENT = os.path.join(ROOT, "tests", "mutate", "equivalent.txt")

# The decoders of peer bytes and the socket layer (globs: files split as they grow;
# src/arrayhdr.c is ndarray_header.c's name before the rename, for --rev passes).
DEFAULT_FILES = ["src/reader.c", "src/doc.c", "src/unpacker.c", "src/ext.c",
                 "src/ndarray_*.c", "src/arrayhdr.c", "src/codec*.c", "src/message*.c", "src/interop*.c",
                 "src/socket*.c", "src/send*.c", "src/recv*.c", "src/frames*.c",
                 "src/tracker*.c"]
SUITES = ("unit", "socket", "vectors", "fuzz")
FLIP = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}
# comments, strings, characters, preprocessor lines, then the tokens that matter
TOKEN = re.compile(r"""
    (?P<skip>/\*.*?\*/ | //[^\n]* | "(?:\\.|[^"\\\n])*" | '(?:\\.|[^'\\\n])*'
             | ^[ \t]*\#(?:[^\n]*\\\n)*[^\n]* )
  | (?P<op><<=|>>=|<<|>>|->|<=|>=|==|!=|<|>)
  | (?P<word>[A-Za-z_]\w*)
  | (?P<punct>[(){};])
""", re.S | re.M | re.X)


def sites(path):
    """Every mutation site of a C file: dicts with pos, end, repl, kind, line."""
    text = open(path).read()
    toks = [(m.lastgroup, m.group(), m.start(), m.end()) for m in TOKEN.finditer(text)
            if m.lastgroup != "skip"]
    out = []
    for i, (kind, val, s, e) in enumerate(toks):
        if kind == "op" and val in FLIP:
            out.append({"pos": s, "end": e, "repl": FLIP[val], "kind": "cmp", "orig": val})
        elif kind == "word" and val == "if" and i + 1 < len(toks) and toks[i + 1][1] == "(":
            # the condition, then the statement it guards
            depth, j = 0, i + 1
            while j < len(toks):
                depth += {"(": 1, ")": -1}.get(toks[j][1], 0)
                if depth == 0:
                    break
                j += 1
            if j + 1 >= len(toks):
                continue
            k, guarded = j + 1, []
            if toks[k][1] == "{":
                d = 0
                while k < len(toks):
                    d += {"{": 1, "}": -1}.get(toks[k][1], 0)
                    guarded.append(toks[k][1])
                    if d == 0:
                        break
                    k += 1
            else:
                while k < len(toks) and toks[k][1] != ";":
                    guarded.append(toks[k][1])
                    k += 1
            if "return" in guarded or "goto" in guarded:
                cs, ce = toks[i + 1][3], toks[j][2]  # inside the parentheses
                out.append({"pos": cs, "end": ce, "repl": "0", "kind": "check",
                            "orig": text[cs:ce]})
    lines = text.split("\n")
    seen = {}
    for st in out:
        ln = text.count("\n", 0, st["pos"])
        st["lineno"] = ln + 1
        st["line"] = lines[ln].strip()
        # an id that survives edits elsewhere in the file: the line's text,
        # which of its identical lines, which site on it
        key = (st["line"], st["kind"], st["orig"])
        seen[key] = seen.get(key, 0) + 1
        raw = f"{st['line']}|{st['kind']}|{st['orig']}|{seen[key]}"
        st["id"] = hashlib.sha1(raw.encode()).hexdigest()[:10]
    return text, out


def describe(rel, st):
    if st["kind"] == "cmp":
        what = f"'{st['orig']}' -> '{st['repl']}'"
    else:
        cond = " ".join(st["orig"].split())
        what = f"check removed: if ({cond[:60]}{'...' if len(cond) > 60 else ''}) -> if (0)"
    return f"{rel}:{st['lineno']} [{st['id']}] {what}   | {st['line'][:90]}"


def load_equivalent():
    eq = {}
    if os.path.exists(EQUIVALENT):
        for line in open(EQUIVALENT):
            line = line.strip()
            if line and not line.startswith("#"):
                ident, _, why = line.partition(" ")
                eq[ident] = why.strip()
    return eq


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def prepare(rev):
    """A private copy of the sources, configured once: the worktree as it
    stands (tracked files and new ones not ignored; only changed files are
    rewritten, so the build stays incremental), or git revision @rev."""
    stamp = os.path.join(WORK, "tree-rev")
    old = open(stamp).read() if os.path.exists(stamp) else ""
    if rev:
        r = run(["git", "-C", ROOT, "rev-parse", "--verify", rev + "^{commit}"])
        if r.returncode != 0:
            sys.exit(f"mutate: no revision {rev}")
        rev = r.stdout.strip()
    if rev and rev == old:
        return
    if rev or old:
        shutil.rmtree(WORK, ignore_errors=True)  # another tree: build it afresh
    os.makedirs(TREE, exist_ok=True)
    if rev:
        arch = subprocess.run(["git", "-C", ROOT, "archive", rev], stdout=subprocess.PIPE)
        if arch.returncode != 0:
            sys.exit(f"mutate: no revision {rev}")
        subprocess.run(["tar", "-x", "-C", TREE], input=arch.stdout, check=True)
        with open(stamp, "w") as f:
            f.write(rev)
        files = []
    else:
        files = run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others",
                     "--exclude-standard"]).stdout.split("\0")
    for f in files:
        if not f:
            continue
        src, dst = os.path.join(ROOT, f), os.path.join(TREE, f)
        if not os.path.isfile(src):
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(src, "rb") as a:
            data = a.read()
        if not os.path.exists(dst) or open(dst, "rb").read() != data:
            with open(dst, "wb") as b:
                b.write(data)
    shared = os.path.join(WORK, "shared")  # the tests find ../shared/data beside the tree
    if not os.path.exists(shared):
        os.symlink(os.path.realpath(os.path.join(ROOT, "..", "shared")), shared)


def configure():
    if not os.path.exists(os.path.join(BUILD, "build.ninja")):
        # the sanitizers, as ./dev test's second build: a mutant that reads
        # past a buffer is caught there, so it is caught here
        r = run(["meson", "setup", BUILD, TREE, "-Dbuildtype=debug", "-Dpython=disabled",
                 "-Dbench=false", "-Dexamples=false", "-Dtools=false",
                 "-Db_sanitize=address,undefined", "-Db_lundef=false"])
        if r.returncode != 0:
            sys.exit("mutate: meson setup failed:\n" + r.stdout[-3000:])


def build():
    return run(["ninja", "-C", BUILD, "-j", "2"]).returncode == 0


def list_tests():
    r = run(["meson", "introspect", "--tests", BUILD])
    tests = [t for t in json.loads(r.stdout) if any(s in SUITES or s.endswith(":" + x)
                                                    for s in t["suite"] for x in SUITES)]
    return tests


def run_test(t, timeout):
    env = dict(os.environ)
    env.update(t.get("env") or {})
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    try:
        r = subprocess.run(t["cmd"], cwd=t.get("workdir") or BUILD, env=env, timeout=timeout,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return r.returncode
    except subprocess.TimeoutExpired:
        return "timeout"


def order_for(rel, tests, durations):
    """The tests named like the file first (message.c: message, replay-message), then by time."""
    stem = os.path.basename(rel)[:-2]
    words = set(re.split(r"[_\-]", stem)) | {stem}
    def key(t):
        near = any(w in words for w in re.split(r"[_\-]", t["name"]))
        return (0 if near else 1, durations[t["name"]])
    return sorted(tests, key=key)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sample", type=int, default=150, help="mutants to run (default 150; 0: all)")
    ap.add_argument("--seed", type=int, default=19, help="sample seed (default 19)")
    ap.add_argument("--budget", type=float, default=0, help="stop after this many minutes")
    ap.add_argument("--files", nargs="+", default=DEFAULT_FILES, help="globs under the root")
    ap.add_argument("--only", nargs="+", default=[], help="mutant ids to run (any files)")
    ap.add_argument("--rev", help="mutate this git revision (e.g. main) instead of the worktree")
    ap.add_argument("--list", action="store_true", help="print the sites and stop")
    args = ap.parse_args()

    prepare(args.rev)
    paths = sorted({p for g in args.files for p in glob.glob(os.path.join(TREE, g))})
    allsites = []
    for p in paths:
        rel = os.path.relpath(p, TREE)
        _, st = sites(p)
        allsites += [(rel, s) for s in st]
    if args.list:
        for rel, s in allsites:
            print(describe(rel, s))
        print(f"mutate: {len(allsites)} sites in {len(paths)} files")
        return 0
    if args.only:
        chosen = [(r, s) for r, s in allsites if s["id"] in args.only]
    elif args.sample and args.sample < len(allsites):
        chosen = random.Random(args.seed).sample(allsites, args.sample)
    else:
        chosen = list(allsites)
    chosen.sort(key=lambda rs: (rs[0], rs[1]["pos"]))
    eq = load_equivalent()

    print(f"mutate: {len(allsites)} sites in {', '.join(os.path.relpath(p, TREE) for p in paths)}"
          f" ({args.rev or 'the worktree'}); running {len(chosen)} (seed {args.seed})", flush=True)
    configure()
    if not build():
        sys.exit("mutate: the unmutated copy does not build")
    tests = list_tests()
    durations = {}
    for t in tests:
        t0 = time.monotonic()
        rc = run_test(t, t.get("timeout") or 120)
        durations[t["name"]] = time.monotonic() - t0
        if rc not in (0, 77):
            sys.exit(f"mutate: {t['name']} fails without any mutation (status {rc})")
    total = sum(durations.values())
    print(f"mutate: {len(tests)} tests, {total:.0f} s unmutated", flush=True)

    start = time.monotonic()
    results = {"killed": [], "survived": [], "equivalent": [], "not viable": []}
    for n, (rel, st) in enumerate(chosen, 1):
        if args.budget and time.monotonic() - start > args.budget * 60:
            print(f"mutate: budget spent after {n - 1} mutants")
            break
        path = os.path.join(TREE, rel)
        orig = open(path).read()
        mutated = orig[:st["pos"]] + st["repl"] + orig[st["end"]:]
        open(path, "w").write(mutated)
        try:
            if not build():
                verdict, by = "not viable", "does not compile"
            else:
                verdict, by = "survived", ""
                for t in order_for(rel, tests, durations):
                    rc = run_test(t, 3 * durations[t["name"]] + 10)
                    if rc not in (0, 77):
                        verdict, by = "killed", f"{t['name']} ({rc})"
                        break
        finally:
            open(path, "w").write(orig)
        if verdict == "survived" and st["id"] in eq:
            verdict, by = "equivalent", eq[st["id"]]
        results[verdict].append((rel, st, by))
        print(f"[{n}/{len(chosen)}] {verdict:<10} {describe(rel, st)}"
              + (f"  <- {by}" if by else ""), flush=True)
    build()  # leave the copy built as it is

    ran = sum(len(v) for v in results.values())
    print(f"\nmutate: {ran} mutants: {len(results['killed'])} killed, "
          f"{len(results['survived'])} survived, {len(results['equivalent'])} equivalent "
          f"(tests/mutate/equivalent.txt), {len(results['not viable'])} not viable; "
          f"{(time.monotonic() - start) / 60:.0f} min")
    if results["survived"]:
        print("survivors (each needs a test that fails on it, or a line in equivalent.txt):")
        for rel, st, _ in results["survived"]:
            print("  " + describe(rel, st))
    with open(os.path.join(WORK, "survivors.txt"), "w") as f:
        for rel, st, _ in results["survived"]:
            f.write(describe(rel, st) + "\n")
    return 1 if results["survived"] else 0


if __name__ == "__main__":
    sys.exit(main())
