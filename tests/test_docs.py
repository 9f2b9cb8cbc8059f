"""The examples in README.md and docs/*.md, run: docs that cannot go stale.

Every fenced block of the Markdown files is one test case (its id: FILE:LINE), run in the
order of the file, so later blocks see what earlier ones left (files, the shell's variables
and folder). What is done with a block:

- a shell session (any block with lines starting "$ "): its commands run in one bash, and
  what they print (stdout and stderr) is compared with the lines the block shows after them.
  A command the block shows no output for must succeed (its output is not compared); a
  command ending in "&" runs in the background and must succeed by the end of the block.
- C (```c): compiled and linked against the built library; a fragment (no main) becomes
  the body of a function, with the names of `C_PRELUDE` below available.
- Python (```python): compiled, and every zmqpack name it uses (zmqpack.X, from zmqpack
  import X) must exist in the built module. `>>>` blocks (```pycon) run as doctests.
- other blocks (```text without "$ ", ```json, ...) are not run.

An HTML comment on the line above a block changes that ("; " separates several):

    <!-- docs-test: skip: REASON -->     not run (the reason is shown)
    <!-- docs-test: file: PATH -->       written to PATH (relative to the session's folder,
                                         or ~/...), for a later block to use
    <!-- docs-test: run -->              Python: also run it (/usr/bin/python3)
    <!-- docs-test: continues -->        C, Python: the previous block of the same language
                                         comes first (its declarations, its imports)
    <!-- docs-test: numbers vary -->     shell: every number matches any number
    <!-- docs-test: vary: REGEX -->      shell: every match of REGEX (Python syntax) matches
                                         any other match of it, e.g. 0x[0-9a-f]+ for the
                                         identities libzmq makes up
    <!-- docs-test: given: DECLS -->     C: declarations the fragment uses (last: it takes
                                         the rest of the comment)

The same comment alone (not above a block) applies to every block of its section:

    <!-- docs-test: install -->          the section installs zmqpack: its blocks run as the
                                         meson test "install" instead of "docs", in a fresh
                                         copy of the source tree in ~/zmqpack, with HOME in a
                                         temporary folder and nothing of the build on the paths

Sessions run with PATH starting with /usr/bin/python3 as `python3` and (docs) the built zpk;
LD_LIBRARY_PATH and PYTHONPATH point at the build (docs) or are unset (install). In output,
the temporary HOME prints as /home/you.

Environment (tests/meson.build): ZPK_SOURCE_ROOT, ZPK_BUILD_ROOT, ZPK_DOCS_GROUP ("docs" or
"install"), CC.
"""
import ast
import doctest
import glob
import importlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import pytest

SRC = os.path.abspath(os.environ.get("ZPK_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..")))
BUILD = os.path.abspath(os.environ.get("ZPK_BUILD_ROOT", os.path.join(SRC, "build")))
GROUP = os.environ.get("ZPK_DOCS_GROUP", "docs")
CC = os.environ.get("CC", "cc")
DOCS = ["README.md", "CONTRIBUTING.md"] + sorted(os.path.relpath(p, SRC) for p in glob.glob(os.path.join(SRC, "docs", "*.md")))
SESSION_TIMEOUT = 600
SHELL_LANGS = {"", "sh", "shell", "bash", "console", "text"}
DIRECTIVE = re.compile(r"^<!--\s*docs-test:\s*(.*?)\s*-->\s*$")
HOME_SHOWN = "/home/you"

# Names a C fragment may use as the reader's own, so that a fragment can stay a fragment: a
# fragment that declares one of them itself shadows it.
C_PRELUDE = """\
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <zmq.h>
#include <zmqpack.h>
#include <zmqpack/json.h>

static const void *data;          /* bytes the reader has */
static size_t size;
static void *ctx, *sock;          /* a libzmq context and socket */
static int fd;                    /* a connected socket or a file */
static char chunk[65536];
static zpk_reader_t r;            /* a reader, a writer, a document root */
static zpk_writer_t w;
static const zpk_node_t *root;
static void handle(const zpk_node_t *node) { (void)node; }
"""


def parse_directives(text):
    """{name: value or True} of "a; b: value; given: C declarations; ..." (given: takes the
    rest of the comment, semicolons and all)."""
    out = {}
    head, sep, given = text.partition("given:")
    if sep:
        out["given"] = given.strip()
        text = head
    for part in text.split(";"):
        key, _, value = part.strip().partition(":")
        if key.strip():
            out[key.strip()] = value.strip() or True
    return out


class Block:
    def __init__(self, path, line, lang, text, directives, section):
        self.path, self.line, self.lang, self.text = path, line, lang, text
        self.directives = dict(section)
        self.directives.update(directives)

    @property
    def id(self):
        return f"{self.path}:{self.line}"

    @property
    def kind(self):
        if "skip" in self.directives:
            return "skip"
        if "file" in self.directives:
            return "file"
        lines = self.text.splitlines()
        if self.lang in SHELL_LANGS and any(l.startswith("$ ") for l in lines):
            return "session"
        if self.lang == "c":
            return "c"
        if self.lang in ("pycon",) or (self.lang in ("python", "py") and lines
                                        and lines[0].startswith(">>> ")):
            return "pycon"
        if self.lang in ("python", "py"):
            return "python"
        return None


def parse(path):
    """The fenced blocks of Markdown file @p path (relative to SRC), with their directives."""
    lines = open(os.path.join(SRC, path), encoding="utf-8").read().splitlines()
    blocks, section, levels = [], {}, []
    i = 0
    while i < len(lines):
        line = lines[i]
        heading = re.match(r"^(#+)\s", line)
        if heading:
            depth = len(heading.group(1))
            levels = [(d, dirs) for d, dirs in levels if d < depth]
            section = {}
            for _, dirs in levels:
                section.update(dirs)
            levels.append((depth, {}))
        fence = re.match(r"^(```+|~~~+)\s*([\w+-]*)", line)
        if fence:
            marker, lang = fence.group(1), fence.group(2).lower()
            j = i + 1
            while j < len(lines) and not lines[j].startswith(marker):
                j += 1
            m = DIRECTIVE.match(lines[i - 1]) if i > 0 else None
            blocks.append(Block(path, i + 1, lang, "\n".join(lines[i + 1:j]) + "\n",
                                parse_directives(m.group(1)) if m else {}, section))
            i = j + 1
            continue
        m = DIRECTIVE.match(line)
        if m and not (i + 1 < len(lines) and re.match(r"^(```|~~~)", lines[i + 1])):
            dirs = parse_directives(m.group(1))
            section.update(dirs)
            if levels:
                levels[-1][1].update(dirs)
        i += 1
    return blocks


def selected():
    out = []
    for path in DOCS:
        for b in parse(path):
            if b.kind is None:
                continue
            if ("install" in b.directives) == (GROUP == "install"):
                out.append(b)
    return out


BLOCKS = selected()


# ---- per-file state: the folder, the shell's variables, earlier Python -------------

class DocState:
    """What the blocks of one Markdown file share."""

    def __init__(self, install):
        self.tmp = tempfile.mkdtemp(prefix="zpk-docs-")
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(self.home)
        shim = os.path.join(self.tmp, "shim")
        os.makedirs(shim)
        os.symlink("/usr/bin/python3", os.path.join(shim, "python3"))
        system_path = [p for p in os.environ.get("PATH", "").split(":")
                       if p and not p.startswith(BUILD) and "pyenv" not in p]
        env = {k: v for k, v in os.environ.items()
               if k not in ("LD_LIBRARY_PATH", "PYTHONPATH", "PKG_CONFIG_PATH", "MALLOC_PERTURB_")}
        env["HOME"] = self.home
        env["PATH"] = ":".join([shim] + system_path)
        if install:
            checkout = os.path.join(self.home, "zmqpack")
            copy_source_tree(checkout)
            self.cwd = checkout
        else:
            env["PATH"] = ":".join([shim, os.path.join(BUILD, "tools", "zpk")] + system_path)
            env["LD_LIBRARY_PATH"] = os.path.join(BUILD, "src")
            env["PYTHONPATH"] = os.path.join(BUILD, "bindings", "python")
            self.cwd = os.path.join(self.tmp, "work")
            os.makedirs(self.cwd)
        self.env_file = os.path.join(self.tmp, "session.env")
        with open(self.env_file, "w") as f:
            for k, v in env.items():
                f.write(f"export {k}={shlex.quote(v)}\n")
        self.env = env
        self.python = []  # the Python and C blocks so far, for "continues"
        self.c = []

    def path(self, name):
        if name.startswith("~/"):
            return os.path.join(self.home, name[2:])
        return os.path.join(self.cwd, name)

    def normalise(self, text):
        return text.replace(self.home, HOME_SHOWN)


_STATES = {}


def state_of(block):
    key = (block.path, GROUP)
    if key not in _STATES:
        _STATES[key] = DocState(GROUP == "install")
    return _STATES[key]


def teardown_module(module):
    for st in _STATES.values():
        shutil.rmtree(st.tmp, ignore_errors=True)


def copy_source_tree(dest):
    """A fresh copy of the source tree, as a clone has it (git's files, with changes not yet
    committed), or the whole folder without build folders where it is not a git checkout."""
    try:
        names = subprocess.run(["git", "-C", SRC, "ls-files", "-z", "--cached", "--others",
                                "--exclude-standard"], capture_output=True, check=True,
                               timeout=60).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        shutil.copytree(SRC, dest, symlinks=True,
                        ignore=shutil.ignore_patterns("build", "build-*", ".git"))
        return
    for name in names:
        src = os.path.join(SRC, name)
        if not name or not os.path.lexists(src):
            continue
        dst = os.path.join(dest, name)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst, follow_symlinks=False)


# ---- shell sessions ------------------------------------------------------------------

def parse_session(text):
    """[(command, shown output lines or None)] of a session block."""
    lines = text.splitlines()
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("$ "):
            i += 1  # text before the first prompt
            continue
        cmd = [line[2:]]
        i += 1
        heredoc = re.search(r"<<-?\s*'?\"?(\w+)'?\"?", cmd[0])
        while i < len(lines) and (cmd[-1].endswith("\\") or heredoc):
            cmd.append(lines[i])
            i += 1
            if heredoc and lines[i - 1].strip() == heredoc.group(1):
                heredoc = None
        shown = []
        while i < len(lines) and not lines[i].startswith("$ "):
            shown.append(lines[i])
            i += 1
        while shown and not shown[-1].strip():
            shown.pop()
        out.append(("\n".join(cmd), shown or None))
    return out


NUMBER = r"\d+(\.\d+)?"


def vary(text, pattern):
    """@p text with every match of @p pattern replaced by one placeholder."""
    return re.sub(pattern, "\u2026", text)


def run_session(block):
    st = state_of(block)
    steps = parse_session(block.text)
    logs = os.path.join(st.tmp, "logs")
    os.makedirs(logs, exist_ok=True)
    script = ["exec 2>&1", f"source {shlex.quote(st.env_file)}", f"cd {shlex.quote(st.cwd)}",
              "__bg=()", "__bad=()"]
    for n, (cmd, shown) in enumerate(steps):
        quoted = shlex.quote(cmd)
        if cmd.rstrip().endswith("&") and not cmd.rstrip().endswith("&&"):
            script.append(f"{cmd}\n__bg+=($!)")
        elif shown is None:
            log = shlex.quote(os.path.join(logs, f"{n}.log"))
            script.append(f"{{\n{cmd}\n}} > {log} 2>&1 || __bad+=({n})")
        else:
            script.append(cmd)
    script.append('for p in "${__bg[@]}"; do wait "$p" || __bad+=(bg); done')
    script.append(f"export -p > {shlex.quote(st.env_file)}.new")
    script.append(f"pwd > {shlex.quote(st.env_file)}.cwd")
    script.append('printf "\\n\\036%s\\n" "${__bad[*]}"')
    p = subprocess.run(["bash", "-c", "\n".join(script)], capture_output=True,
                       timeout=SESSION_TIMEOUT, env=st.env)
    out = p.stdout.decode(errors="replace")
    out, _, bad = out.rpartition("\n\036")
    bad = bad.split()
    failures = []
    for n in bad:
        if n == "bg":
            failures.append("a background command (&) failed")
        else:
            log = open(os.path.join(logs, f"{n}.log"), errors="replace").read()
            failures.append(f"$ {steps[int(n)][0]}\nfailed:\n{log[-4000:]}")
    assert not failures, f"{block.id}:\n" + "\n".join(failures) + f"\nsession output:\n{out}"
    # the shell's state for the next block of this file
    if os.path.exists(st.env_file + ".new"):
        os.replace(st.env_file + ".new", st.env_file)
    with open(st.env_file + ".cwd") as f:
        st.cwd = f.read().strip()
    want = "\n".join(l for _, shown in steps if shown for l in shown).rstrip()
    got = "\n".join(l.rstrip() for l in st.normalise(out).splitlines()).strip("\n")
    want = "\n".join(l.rstrip() for l in want.splitlines())
    patterns = [NUMBER] if block.directives.get("numbers vary") else []
    if isinstance(block.directives.get("vary"), str):
        patterns.append(block.directives["vary"])
    for pattern in patterns:
        want, got = vary(want, pattern), vary(got, pattern)
    assert got == want, f"{block.id}: the output differs from what the doc shows"


# ---- C -------------------------------------------------------------------------------

def split_c(text):
    """(file-scope part, function-body part) of a C fragment: function definitions (a
    line at column 0 ending in ')' followed by '{' at column 0, up to '}' at column 0)
    and struct definitions go to file scope."""
    lines = text.splitlines()
    top, body, i = [], [], 0
    while i < len(lines):
        line = lines[i]
        starts_fn = (re.match(r"^[A-Za-z_][\w \*]*\([^;]*\)\s*$", line) and i + 1 < len(lines)
                     and lines[i + 1].startswith("{"))
        starts_struct = re.match(r"^(typedef\s+)?struct\s+\w*\s*\{", line)
        if starts_fn or starts_struct:
            while i < len(lines) and not lines[i].startswith("}"):
                top.append(lines[i])
                i += 1
            if i < len(lines):
                top.append(lines[i])
            i += 1
            continue
        body.append(line)
        i += 1
    return "\n".join(top), "\n".join(body)


def c_flags():
    pc = subprocess.run(["pkg-config", "--cflags", "--libs", "libzmq", "jansson"],
                        capture_output=True, text=True, check=True).stdout.split()
    return (["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Werror", "-Wno-unused",
             "-Wno-uninitialized", "-Wno-maybe-uninitialized",
             "-I" + os.path.join(SRC, "include"), "-I" + os.path.join(BUILD, "include")],
            ["-L" + os.path.join(BUILD, "src"), "-lzmqpack"] + pc)


def run_c(block):
    st = state_of(block)
    cflags, libs = c_flags()
    src = os.path.join(st.tmp, f"block{block.line}.c")
    text = block.text
    if block.directives.get("continues") and st.c:
        text = st.c[-1] + text
    st.c.append(text)
    if re.search(r"\bint\s+main\s*\(", text):
        program = text
    else:
        top, body = split_c(text)
        given = block.directives.get("given", "")
        program = (f"{C_PRELUDE}\n{given if given is not True else ''}\n{top}\n\n"
                   f"static int docs_fragment(void)\n{{\n{body}\n    return 0;\n}}\n\n"
                   "int main(void) { return 0 && docs_fragment(); }\n")
    with open(src, "w") as f:
        f.write(program)
    exe = src[:-2]
    p = subprocess.run([CC, *cflags, src, "-o", exe, *libs], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, f"{block.id} does not compile:\n{p.stderr}\n--- as compiled:\n{program}"


# ---- Python ---------------------------------------------------------------------------

def api_names(tree):
    """(name as written, attribute path) of every zmqpack name the code uses."""
    modules = {}  # local name -> dotted zmqpack path
    used = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "zmqpack" or a.name.startswith("zmqpack."):
                    modules[(a.asname or a.name).split(".")[0]] = (
                        a.name if a.asname else "zmqpack")
                    used.append((a.name, a.name))
        elif isinstance(node, ast.ImportFrom) and node.module and (
                node.module == "zmqpack" or node.module.startswith("zmqpack.")):
            for a in node.names:
                modules[a.asname or a.name] = f"{node.module}.{a.name}"
                used.append((f"from {node.module} import {a.name}", f"{node.module}.{a.name}"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain, n = [], node
            while isinstance(n, ast.Attribute):
                chain.append(n.attr)
                n = n.value
            if isinstance(n, ast.Name) and n.id in modules:
                path = ".".join([modules[n.id]] + chain[::-1])
                used.append((".".join([n.id] + chain[::-1]), path))
    return used


def resolve(path):
    """The object at dotted @p path (zmqpack.curve.keypair), or raise AttributeError."""
    parts = path.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], 1):
        if not hasattr(obj, part):
            try:
                obj = importlib.import_module(".".join(parts[:i + 1]))
                continue
            except ImportError:
                raise AttributeError(".".join(parts[:i + 1])) from None
        obj = getattr(obj, part)
        if not (isinstance(obj, type) or type(obj).__name__ == "module"):
            break  # an instance or a function: its attributes are its own business
    return obj


def run_python(block):
    st = state_of(block)
    code = block.text
    if block.directives.get("continues"):
        code = "".join(st.python) + code
    st.python.append(block.text)
    tree = compile(code, block.id, "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    compile(tree, block.id, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    sys.path.insert(0, st.env.get("PYTHONPATH", ""))
    try:
        importlib.import_module("zmqpack")
    except ImportError as e:
        pytest.skip(f"the Python binding is not in this build ({e})")
    missing = []
    for shown, path in api_names(tree):
        try:
            resolve(path)
        except AttributeError:
            missing.append(shown)
    assert not missing, f"{block.id} uses names the zmqpack module does not have: {missing}"
    if block.directives.get("run"):
        src = os.path.join(st.tmp, f"block{block.line}.py")
        with open(src, "w") as f:
            f.write(code)
        p = subprocess.run(["/usr/bin/python3", src], capture_output=True, text=True,
                           cwd=st.cwd, env=st.env, timeout=120)
        assert p.returncode == 0, f"{block.id} failed:\n{p.stdout}{p.stderr}"


def run_pycon(block):
    st = state_of(block)
    sys.path.insert(0, st.env.get("PYTHONPATH", ""))
    parser = doctest.DocTestParser()
    test = parser.get_doctest(block.text, {}, block.id, block.path, block.line)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    out = []
    runner.run(test, out=out.append)
    assert runner.failures == 0, "".join(out)


def write_file(block):
    st = state_of(block)
    path = st.path(block.directives["file"])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(block.text)


RUNNERS = {"session": run_session, "c": run_c, "python": run_python, "pycon": run_pycon,
           "file": write_file}


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_block(block):
    if block.kind == "skip":
        pytest.skip(f"{block.id}: {block.directives['skip']}")
    RUNNERS[block.kind](block)


def test_the_examples_were_found():
    """A parse that finds nothing would pass every time: the docs have examples to run."""
    kinds = {b.kind for b in BLOCKS}
    assert "session" in kinds, kinds
    if GROUP == "docs":
        assert {"c", "python"} <= kinds, kinds
