"""zmqpack.curve: CURVE on pyzmq sockets and zcert key files.

Sockets use tcp://127.0.0.1 only and every receive has a timeout.
"""
import os
import stat

import pytest
import zmq

import zmqpack
from zmqpack import curve

pytestmark = pytest.mark.skipif(not curve.available(), reason="libzmq without CURVE")

RCV_MS = 5000


@pytest.fixture
def ctx():
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


def _sub(ctx, ep, server_public, public=None, secret=None):
    s = ctx.socket(zmq.SUB)
    s.linger = 0
    curve.client(s, server_public, public, secret)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    s.connect(ep)
    return s


def _pub(ctx, secret):
    p = ctx.socket(zmq.PUB)
    p.linger = 0
    curve.server(p, secret)
    port = p.bind_to_random_port("tcp://127.0.0.1")
    return p, f"tcp://127.0.0.1:{port}"


def _until_joined(pub, subs):
    """Publishes probes until every subscriber in ``subs`` got one (PUB drops before join)."""
    pending = set(subs)
    poller = zmq.Poller()
    for s in subs:
        poller.register(s, zmq.POLLIN)
    for _ in range(200):
        zmqpack.send_packed(pub, "probe")
        for s, _ev in poller.poll(25):
            while s.poll(0):
                assert zmqpack.recv_packed(s) == "probe"
            pending.discard(s)
        if not pending:
            return
    raise AssertionError("CURVE subscriber never joined")


def test_keypair_and_public_key():
    pub, sec = curve.keypair()
    assert isinstance(pub, bytes) and len(pub) == 40 and curve.key_valid(pub)
    assert curve.key_valid(sec) and pub != sec
    assert curve.public_key(sec) == pub
    assert curve.public_key(sec.decode()) == pub  # str accepted too
    assert curve.keypair()[0] != pub


@pytest.mark.parametrize("bad", [b"", b"x" * 39, b"x" * 41, b"x" * 39 + b"\"", "é" * 40,
                                 b"x" * 39 + b"\0", None, 42, "#" * 40,
                                 b"0" * 35 + b"%nSc1"])
def test_malformed_keys_raise_clear_errors(bad, ctx):
    assert not curve.key_valid(bad)
    with pytest.raises(curve.CurveKeyError, match="malformed secret key"):
        curve.public_key(bad)
    s = ctx.socket(zmq.PUB)
    with pytest.raises(curve.CurveKeyError, match="malformed secret key"):
        curve.server(s, bad)
    with pytest.raises(curve.CurveKeyError, match="malformed server public key"):
        curve.client(s, bad)
    assert s.mechanism == zmq.NULL  # nothing was set
    s.close(0)


def test_keys_valid_exactly_when_libzmq_decodes_them():
    """Z85 groups of 5 must decode below 2**32: "%nSc0" is 0xffffffff, "%nSc1"
    one more. key_valid() agrees with libzmq's own decoder (zmq_curve_public()
    refuses a key zmq_z85_decode() cannot decode) on keys near that edge."""
    import random
    r = random.Random(3)
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
    keys = ["0" * 35 + "%nSc0", "0" * 35 + "%nSc1", "#" * 40, "%nSc0" * 8]
    for _ in range(300):
        keys.append("".join(r.choice(alphabet[-12:] if r.random() < 0.5 else alphabet)
                            for _ in range(40)))
    valid = 0
    for k in keys:
        try:
            zmq.curve_public(k.encode())
            libzmq_ok = True
        except zmq.ZMQError:
            libzmq_ok = False
        assert curve.key_valid(k) == libzmq_ok, k
        valid += libzmq_ok
    assert 0 < valid < len(keys)


def test_key_file_with_an_undecodable_key_is_refused(tmp_path):
    p = tmp_path / "bad_secret"
    p.write_text('metadata\ncurve\n    public-key = "%s"\n' % ("#" * 40))
    with pytest.raises(curve.CurveKeyError, match="malformed public-key"):
        curve.load(p)
    pub, _ = curve.keypair()
    with pytest.raises(curve.CurveKeyError):
        curve.save(tmp_path / "x", "#" * 40)
    curve.save(tmp_path / "ok", pub)
    assert curve.load(tmp_path / "ok") == (pub, None)


def test_client_key_pair_rules(ctx):
    spub, _ = curve.keypair()
    pub, sec = curve.keypair()
    pub2, _ = curve.keypair()
    s = ctx.socket(zmq.SUB)
    with pytest.raises(curve.CurveKeyError, match="both"):
        curve.client(s, spub, pub, None)
    with pytest.raises(curve.CurveKeyError, match="both"):
        curve.client(s, spub, None, sec)
    with pytest.raises(curve.CurveKeyError, match="does not belong"):
        curve.client(s, spub, pub2, sec)
    assert s.mechanism == zmq.NULL  # nothing was set
    curve.client(s, spub, pub, sec)
    assert s.mechanism == zmq.CURVE
    curve.client(s, spub.decode())  # ephemeral pair
    s.close(0)


def test_pub_sub_right_keys_get_everything_wrong_key_gets_nothing(ctx):
    spub, ssec = curve.keypair()
    cpub, csec = curve.keypair()
    pub, ep = _pub(ctx, ssec)
    good = _sub(ctx, ep, spub, cpub, csec)
    ephemeral = _sub(ctx, ep, spub)
    wrong = _sub(ctx, ep, curve.keypair()[0])   # does not know the server's key
    plain = ctx.socket(zmq.SUB)                 # no CURVE at all
    plain.linger = 0
    plain.setsockopt(zmq.SUBSCRIBE, b"")
    plain.connect(ep)
    _until_joined(pub, [good, ephemeral])

    msgs = [{"i": i, "payload": b"\x00\x01" * i} for i in range(100)]
    for m in msgs:
        zmqpack.send_packed(pub, m)
    for s in (good, ephemeral):
        s.rcvtimeo = RCV_MS
        got = []
        while len(got) < len(msgs):
            m = zmqpack.recv_packed(s)
            if m != "probe" or got:  # late probes may still precede the data
                got.append(m)
        assert got == msgs
        assert s.poll(0) == 0
    # The refused peers never completed a handshake: nothing, not even probes.
    for s in (wrong, plain):
        assert s.poll(300) == 0
        with pytest.raises(zmq.Again):
            s.recv(zmq.NOBLOCK)
    for s in (pub, good, ephemeral, wrong, plain):
        s.close(0)


def test_save_load_round_trip_and_modes(tmp_path):
    pub, sec = curve.keypair()
    sp, pp = tmp_path / "k_secret", tmp_path / "k"
    curve.save(sp, pub, sec)
    curve.save(str(pp), pub.decode())
    assert curve.load(sp) == (pub, sec)
    assert curve.load(pp) == (pub, None)
    assert stat.S_IMODE(os.stat(sp).st_mode) == 0o600
    text = sp.read_text()
    assert text.startswith("#   ****  Generated by zmqpack ")
    assert text.endswith(f'metadata\ncurve\n    public-key = "{pub.decode()}"\n'
                         f'    secret-key = "{sec.decode()}"\n')
    assert "secret-key" not in pp.read_text()
    # An existing file is replaced and tightened to 0600 for a secret.
    os.chmod(pp, 0o644)
    curve.save(pp, pub, sec)
    assert stat.S_IMODE(os.stat(pp).st_mode) == 0o600
    assert curve.load(pp) == (pub, sec)


def test_save_refuses_bad_keys(tmp_path):
    pub, sec = curve.keypair()
    with pytest.raises(curve.CurveKeyError):
        curve.save(tmp_path / "x", b"short")
    with pytest.raises(curve.CurveKeyError, match="does not belong"):
        curve.save(tmp_path / "x", curve.keypair()[0], sec)
    assert not (tmp_path / "x").exists()


def test_load_czmq_style_file_and_tolerances(tmp_path):
    pub, sec = curve.keypair()
    f = tmp_path / "c"
    # Quotes optional, CRLF, other sections and properties ignored, public derived.
    f.write_bytes(b"# comment\r\nmetadata\r\n    name = 'x'\r\ncurve\r\n"
                  b"    other = 1\r\n\tsecret-key = " + sec + b"\r\n")
    assert curve.load(f) == (pub, sec)
    f.write_text(f"curve\n    public-key = '{pub.decode()}'\n    child\n"
                 f"        secret-key = \"garbage\"\n")
    assert curve.load(f) == (pub, None)  # a child section ends the curve properties


@pytest.mark.parametrize("content,match", [
    (b"", "no curve/public-key"),
    (b"metadata\n", "no curve/public-key"),
    (b"    public-key = \"x\"\n", "outside any section"),
    (b"curve\n    public-key = \"short\"\n", "malformed public-key"),
    (b"curve\n    secret-key = \"" + b"x" * 39 + b"\"\n", "malformed secret-key"),
    (b"# " + b"x" * 300 + b"\ncurve\n", "line longer"),
])
def test_load_malformed_files(tmp_path, content, match):
    f = tmp_path / "bad"
    f.write_bytes(content)
    with pytest.raises(curve.CurveKeyError, match=match):
        curve.load(f)


def test_load_mismatch_size_and_system_errors(tmp_path):
    pub, sec = curve.keypair()
    f = tmp_path / "m"
    f.write_text(f"curve\n public-key = {curve.keypair()[0].decode()}\n secret-key = {sec.decode()}\n")
    with pytest.raises(curve.CurveKeyError, match="does not match"):
        curve.load(f)
    f.write_bytes(b"#" * 70000)
    with pytest.raises(curve.CurveKeyError, match="larger than"):
        curve.load(f)
    with pytest.raises(FileNotFoundError):
        curve.load(tmp_path / "absent")
    with pytest.raises(IsADirectoryError):
        curve.load(tmp_path)
