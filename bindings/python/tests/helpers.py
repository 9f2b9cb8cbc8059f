"""Helpers shared by the socket tests (test_sockets.py, test_routes.py)."""
import os
import subprocess

import numpy as np
import pytest

DTYPES = ["|b1", "|i1", "<i2", ">i2", "<i4", ">i4", "<i8", ">i8", "|u1", "<u2", ">u2", "<u4",
          "<u8", ">u8", "<f2", "<f4", ">f4", "<f8", ">f8", "<c8", "<c16", ">c16"]
CODECS = [None, "zlib:1", "blosc:lz4:5:shuffle", "blosc:zstd:3:bitshuffle", "auto"]


def sample(dt, shape=(7, 33), seed=0):
    r = np.random.default_rng(seed)
    a = (r.standard_normal(shape) * 100)
    dt = np.dtype(dt)
    if dt.kind == "b":
        return a > 0
    if dt.kind == "c":
        return (a + 1j * a[::-1]).astype(dt)
    return a.astype(dt)


def same(x, y):
    assert x.dtype == y.dtype and x.shape == y.shape
    np.testing.assert_array_equal(x, y)


PEER = os.environ.get("ZPK_PY_PEER")


def run_peer(args):
    """tests/peer.c (zpk_py_peer) in its own process."""
    if not PEER or not os.path.exists(PEER):
        pytest.fail("zpk_py_peer not built: meson passes its path in ZPK_PY_PEER")
    return subprocess.Popen([PEER] + args, stderr=subprocess.PIPE)
