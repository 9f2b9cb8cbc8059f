"""Installed the way users install (docs/python.md, "Install"): pip into a
venv, a wheel from `python3 -m build`, and `meson install`; each then used
from outside the source tree.

One meson build serves pip and build (meson-python's builddir), so the
library is compiled once. Run by meson as the test `python-install` (suite
python), with the source and build roots in ZPK_SOURCE_ROOT and
ZPK_BUILD_ROOT; the `python` test does not collect it (its name matches no
pytest pattern).
"""
import json
import os
import pathlib
import subprocess
import sys
import sysconfig
import zipfile

import pytest

SRC = pathlib.Path(os.environ.get("ZPK_SOURCE_ROOT", pathlib.Path(__file__).resolve().parents[3]))
BUILD = os.environ.get("ZPK_BUILD_ROOT")
PY = "/usr/bin/python3"
PACKAGE_FILES = sorted(p.name for p in (SRC / "bindings/python/zmqpack").iterdir()
                       if p.suffix in (".py", ".pyi", ".typed"))

# What a user does after installing: pack, a numpy scalar, an array over a
# real socket, all from the installed package.
USE = r"""
import sys, numpy as np, zmq, zmqpack
assert "/bindings/python" not in zmqpack.__file__, zmqpack.__file__
assert zmqpack.unpackb(zmqpack.packb({"a": [1, 2.5, "x"]})) == {"a": [1, 2.5, "x"]}
ctx = zmq.Context()
a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
a.bind("inproc://install"); b.connect("inproc://install")
A = np.arange(12, dtype=np.float32).reshape(3, 4)
zmqpack.send_array(a, A, codec="zlib:1")
assert (zmqpack.recv_array(b) == A).all()
a.close(); b.close(); ctx.term()
print(zmqpack.__file__)
"""


def run(cmd, **kw):
    env = dict(os.environ)
    for k in ("PYTHONPATH", "PIP_FIND_LINKS", "PIP_INDEX_URL", "VIRTUAL_ENV"):
        env.pop(k, None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PATH"] = "/usr/bin:/bin"
    env.update(kw.pop("env", {}))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=540, **kw)
    assert r.returncode == 0, "%s failed:\n%s\n%s" % (cmd, r.stdout[-3000:], r.stderr[-3000:])
    return r.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A venv with zmqpack pip-installed from the source tree, and a wheel
    made by `python3 -m build` from the same meson build directory."""
    tmp = tmp_path_factory.mktemp("install")
    venv = tmp / "venv"
    run([PY, "-m", "venv", "--system-site-packages", str(venv)])
    builddir = "builddir=%s" % (tmp / "build")
    run([str(venv / "bin/pip"), "install", "--no-index", "--no-build-isolation",
         "--config-settings=" + builddir, str(SRC)], cwd=tmp)
    run([PY, "-m", "build", "--wheel", "--no-isolation", "-C" + builddir,
         "-o", str(tmp / "wheel"), str(SRC)], cwd=tmp)
    return tmp, venv


def test_pip_install_into_a_venv(built):
    tmp, venv = built
    show = run([str(venv / "bin/pip"), "show", "-f", "zmqpack"], cwd=tmp)
    meta = dict(line.split(": ", 1) for line in show.splitlines() if ": " in line)
    assert meta["Name"] == "zmqpack"
    version = run([PY, "-c", "import re,sys; print(re.search(r\"version: '([^']+)'\", "
                   "open(sys.argv[1]).read()).group(1))", str(SRC / "meson.build")]).strip()
    assert meta["Version"] == version
    assert set(meta["Requires"].split(", ")) == {"numpy", "pyzmq"}
    site = pathlib.Path(meta["Location"])
    assert site.is_relative_to(venv)
    files = [f.strip() for f in show.split("Files:", 1)[1].splitlines() if f.strip()]
    # the package and its metadata, nothing else (no C headers, no libraries)
    assert all(f.startswith(("zmqpack/", "zmqpack-")) for f in files), files
    installed = {f.split("/", 1)[1] for f in files if f.startswith("zmqpack/")}
    assert set(PACKAGE_FILES) <= installed, set(PACKAGE_FILES) - installed
    assert any(f.startswith("_core.") and f.endswith(".so") for f in installed)
    used = run([str(venv / "bin/python"), "-c", USE], cwd=tmp)
    assert used.startswith(str(site / "zmqpack")), used


def test_wheel_installs_the_same_way(built):
    tmp, _ = built
    (whl,) = (tmp / "wheel").glob("*.whl")
    tag = sysconfig.get_config_var("SOABI").split("-")[1]  # "311"
    assert whl.name.startswith("zmqpack-") and "-cp%s-cp%s-linux_" % (tag, tag) in whl.name
    with zipfile.ZipFile(whl) as z:
        names = z.namelist()
    assert all(n.startswith(("zmqpack/", "zmqpack-")) for n in names), names
    venv2 = tmp / "venv2"
    run([PY, "-m", "venv", "--system-site-packages", str(venv2)])
    run([str(venv2 / "bin/pip"), "install", "--no-index", str(whl)], cwd=tmp)
    used = run([str(venv2 / "bin/python"), "-c", USE], cwd=tmp)
    assert used.startswith(str(venv2)), used


@pytest.mark.skipif(not BUILD, reason="ZPK_BUILD_ROOT not set (run by meson)")
def test_meson_install_goes_where_python3_imports(tmp_path):
    info = json.loads((pathlib.Path(BUILD) / "meson-info/intro-buildoptions.json").read_text())
    prefix = next(o["value"] for o in info if o["name"] == "prefix")
    dest = tmp_path / "root"
    run(["meson", "install", "-C", BUILD, "--no-rebuild", "--tags", "python-runtime",
         "--destdir", str(dest)])
    (init,) = dest.rglob("zmqpack/__init__.py")
    site = "/" + str(init.parent.parent.relative_to(dest))
    assert site.startswith(prefix.rstrip("/") + "/")
    searched = run([PY, "-c", "import sys; print('\\n'.join(sys.path))"]).split()
    assert site in searched, (site, searched)
    # the python-runtime tag installs the package and nothing else
    assert {p.relative_to(dest / site.lstrip("/")).parts[0]
            for p in dest.rglob("*") if p.is_file()} == {"zmqpack"}
    used = run([PY, "-c", USE], cwd=tmp_path, env={"PYTHONPATH": str(dest) + site})
    assert used.startswith(str(dest)), used
