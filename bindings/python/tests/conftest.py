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
            pytest.skip("shared corpus not found at %s" % p)
        out[name] = p.read_bytes()
    return out
