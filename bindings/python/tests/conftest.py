import os
import pathlib

import pytest

DATA = pathlib.Path(os.environ.get("ZPK_SHARED_DATA")
                    or pathlib.Path(__file__).resolve().parents[3] / ".." / "shared" / "data")
CORPUS = ["twitter", "citm_catalog", "canada", "github"]


@pytest.fixture(scope="session")
def corpus():
    out = {}
    for name in CORPUS:
        p = DATA / "corpus" / (name + ".mpack")
        if not p.exists():
            # meson counts the suite, not pytest's skips: under CI=true
            # (.ci/run) a missing corpus fails instead, as ./dev test's skips do
            (pytest.fail if os.environ.get("CI") == "true" else pytest.skip)(
                "shared corpus not found at %s" % p)
        out[name] = p.read_bytes()
    return out


@pytest.fixture(params=["c", "pyzmq"])
def route(request, monkeypatch):
    """Every socket test runs on both routes: the C socket calls, and the
    frames through pyzmq (what a pyzmq with its own libzmq gets)."""
    import zmqpack  # here: check_install.py runs without the build tree on the path
    zmqpack._sockets._setup()
    monkeypatch.setattr(zmqpack._sockets, "_c_route", request.param == "c")
    return request.param
