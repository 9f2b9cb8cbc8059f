"""CURVE (CurveZMQ, ZMQ RFC 26): encrypted, authenticated transport for pyzmq sockets.

The Python side of ``zmqpack/curve.h``. Implemented with pyzmq
(``zmq.curve_keypair``, ``zmq.curve_public`` and the ``CURVE_*`` socket
options) on the same system libzmq as the C library, so a Python peer and
a C peer (or ``zpk cat``/``zpk pub`` with ``--curve-*``) talk to each other.

Keys are 40-character Z85 strings (ZMQ RFC 32). Functions accept ``str`` or
``bytes`` and return ``bytes``, as pyzmq does. Key files use CZMQ's zcert
format, read and written exactly as ``zpk_curve_load``/``zpk_curve_save``
do, so files move freely between C, Python, ``zpk keygen`` and CZMQ.

Malformed keys and key files raise :class:`CurveKeyError` (a ``ValueError``);
a libzmq without CURVE raises :class:`CurveUnavailable` (a ``RuntimeError``);
system failures raise ``OSError`` (``FileNotFoundError``...).

Typical use (the binding side is the server)::

    pub, sec = zmqpack.curve.keypair()
    zmqpack.curve.server(pub_sock, sec);          pub_sock.bind(...)
    zmqpack.curve.client(sub_sock, pub);          sub_sock.connect(...)
"""
import os
from typing import Any, Optional, Tuple, Union

__all__ = ["CurveKeyError", "CurveUnavailable", "KEY_LEN", "available", "key_valid",
           "keypair", "public_key", "server", "client", "load", "save"]

KEY_LEN = 40
_Key = Union[str, bytes]

# Z85 alphabet (ZMQ RFC 32).
_Z85_ALPHABET = (b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                 b".-:+=^!/*?&<>()[]{}@%$#")
_Z85_VALUE = {c: i for i, c in enumerate(_Z85_ALPHABET)}
_LINE_MAX = 255   # bytes per line, the newline excluded (as curve.c)
_FILE_MAX = 65536  # bytes per file


class CurveKeyError(ValueError):
    """A malformed CURVE key or key file, or keys that do not belong together."""


class CurveUnavailable(RuntimeError):
    """The libzmq in use was built without CURVE."""


def available() -> bool:
    """True when the libzmq in use supports CURVE (``zmq.has("curve")``)."""
    import zmq
    return bool(zmq.has("curve"))


def _need_curve() -> None:
    if not available():
        raise CurveUnavailable("this libzmq has no CURVE support")


def _as_bytes(key: Any) -> Optional[bytes]:
    if isinstance(key, str):
        try:
            return key.encode("ascii")
        except UnicodeEncodeError:
            return None
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key)
    return None


def _key_problem(b: Optional[bytes]) -> Optional[str]:
    """Why ``b`` is not a Z85 key, by the rules of zpk_curve_key_valid(): 40
    characters of the alphabet, each group of 5 decoding to less than 2**32
    (as libzmq's zmq_z85_decode() requires); None when it is one."""
    if b is None or len(b) != KEY_LEN:
        return "40 characters expected"
    for i in range(0, KEY_LEN, 5):
        value = 0
        for c in b[i:i + 5]:
            digit = _Z85_VALUE.get(c)
            if digit is None:
                return "characters outside Z85"
            value = value * 85 + digit
        if value >= 1 << 32:
            return "characters %d-%d do not decode (over 2**32)" % (i + 1, i + 5)
    return None


def key_valid(key: Any) -> bool:
    """True when ``key`` (str or bytes) is a Z85 CURVE key: exactly 40
    characters of the Z85 alphabet whose groups of 5 decode (as C's
    zpk_curve_key_valid())."""
    return _key_problem(_as_bytes(key)) is None


def _key(key: Any, what: str) -> bytes:
    b = _as_bytes(key)
    problem = _key_problem(b)
    if problem is not None:
        if b is None:
            shown = type(key).__name__
        elif len(b) != KEY_LEN:
            shown = f"{len(b)} bytes"
        else:
            shown = problem
        raise CurveKeyError(f"malformed {what}: expected 40 Z85 characters ({shown})")
    assert b is not None
    return b


def keypair() -> Tuple[bytes, bytes]:
    """A new CURVE keypair ``(public, secret)``, Z85 ``bytes``."""
    _need_curve()
    import zmq
    return zmq.curve_keypair()


def public_key(secret: _Key) -> bytes:
    """The public key of the Z85 secret key ``secret``."""
    s = _key(secret, "secret key")
    _need_curve()
    import zmq
    return zmq.curve_public(s)


def _check_pair(public: bytes, secret: bytes) -> None:
    if public_key(secret) != public:
        raise CurveKeyError("the public key does not belong to the secret key")


def server(sock: Any, secret: _Key) -> None:
    """Makes the pyzmq socket ``sock`` a CURVE server with secret key ``secret``.

    Call it before ``bind()``/``connect()``: libzmq applies security options
    to connections made afterwards. Any client that knows the server's
    public key is admitted (use ``zmq.auth`` to admit only listed keys).
    """
    s = _key(secret, "secret key")
    _need_curve()
    sock.curve_server = True
    sock.curve_secretkey = s


def client(sock: Any, server_public: _Key, public: Optional[_Key] = None,
           secret: Optional[_Key] = None) -> None:
    """Makes ``sock`` a CURVE client of the server whose public key is ``server_public``.

    ``public``/``secret`` are the client's own keypair; give both or neither
    (neither: a fresh ephemeral keypair, fine when the server admits any
    client). Call it before ``connect()``. CurveKeyError when a key is
    malformed, only one of the pair is given, or the pair does not match.
    """
    srv = _key(server_public, "server public key")
    if (public is None) != (secret is None):
        raise CurveKeyError("give both the public and the secret key of the client, or neither")
    if public is None:
        pub, sec = keypair()
    else:
        pub = _key(public, "public key")
        sec = _key(secret, "secret key")
        _check_pair(pub, sec)
    sock.curve_serverkey = srv
    sock.curve_publickey = pub
    sock.curve_secretkey = sec


# ---- key files (CZMQ zcert format; the same parser as src/curve.c) ---------------------

def _strip_value(v: bytes) -> bytes:
    v = v.lstrip(b" \t").rstrip(b" \t\r")
    if len(v) >= 2 and v[:1] in (b'"', b"'") and v[-1:] == v[:1]:
        v = v[1:-1]
    return v


def load(path: Union[str, "os.PathLike[str]"]) -> Tuple[bytes, Optional[bytes]]:
    """Reads a key file: ``(public, secret)``, ``secret`` None for a public certificate.

    When the file has a secret key but no public key, the public key is
    derived. CurveKeyError for a malformed file (a line over 255 bytes, a
    property outside any section, a malformed key, a public key that does
    not match the secret key, no public key at all) or a file over 64 KiB;
    OSError from the system (FileNotFoundError, IsADirectoryError...).
    """
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size > _FILE_MAX:
            raise CurveKeyError(f"{path}: key file larger than {_FILE_MAX} bytes")
        data = f.read(_FILE_MAX + 1)
    if len(data) > _FILE_MAX:
        raise CurveKeyError(f"{path}: key file larger than {_FILE_MAX} bytes")
    pub = sec = None
    in_section = in_curve = False
    lines = data.split(b"\n")
    for no, line in enumerate(lines, 1):
        # curve.c reads lines with fgets() into 256 bytes: at most 254 bytes and the newline.
        if len(line) > _LINE_MAX - 1:
            raise CurveKeyError(f"{path}:{no}: line longer than {_LINE_MAX} bytes")
        if b"\0" in line:
            line = line[:line.index(b"\0")]
        p = line.lstrip(b" \t")
        if not p or p[:1] in (b"#", b"\r"):
            continue
        if len(p) == len(line):  # a section name in column 0
            in_section = True
            in_curve = _strip_value(p) == b"curve"
            continue
        if not in_section:
            raise CurveKeyError(f"{path}:{no}: property outside any section")
        if b"=" not in p:  # a child section ends the curve properties
            in_curve = False
            continue
        name, _, val = p.partition(b"=")
        name, val = _strip_value(name), _strip_value(val)
        if not in_curve or name not in (b"public-key", b"secret-key"):
            continue
        if not key_valid(val):
            raise CurveKeyError(f"{path}:{no}: malformed {name.decode()}")
        if name == b"public-key":
            pub = val
        else:
            sec = val
    if sec is not None and pub is None:
        pub = public_key(sec)
    elif sec is not None and pub is not None:
        try:
            _check_pair(pub, sec)
        except CurveKeyError:
            raise CurveKeyError(f"{path}: the public key does not match the secret key") from None
    if pub is None:
        raise CurveKeyError(f"{path}: no curve/public-key in the file")
    return pub, sec


def save(path: Union[str, "os.PathLike[str]"], public: _Key, secret: Optional[_Key] = None,
         ) -> None:
    """Writes a key file in the zcert format, byte for byte as ``zpk_curve_save``.

    With ``secret`` a secret certificate (mode 0600, tightened on an
    existing file), without it a public one (mode 0644) to hand to peers.
    Replaces an existing file. CurveKeyError for malformed or mismatched
    keys; OSError from the system.
    """
    pub = _key(public, "public key")
    sec = None
    if secret is not None:
        sec = _key(secret, "secret key")
        _check_pair(pub, sec)
    from . import __version__
    if sec is not None:
        head = (f"#   ****  Generated by zmqpack {__version__}  ****\n"
                "#   ZeroMQ CURVE **Secret** Certificate\n"
                "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\n")
    else:
        head = (f"#   ****  Generated by zmqpack {__version__}  ****\n"
                "#   ZeroMQ CURVE Public Certificate\n"
                "#   Exchange securely, or use a secure mechanism to verify the contents\n"
                "#   of this file after exchange. Store public certificates in your home\n"
                "#   directory, in the .curve subdirectory.\n\n")
    body = f'metadata\ncurve\n    public-key = "{pub.decode()}"\n'
    if sec is not None:
        body += f'    secret-key = "{sec.decode()}"\n'
    mode = 0o600 if sec is not None else 0o644
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        if sec is not None:
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb", closefd=True) as f:
            fd = -1
            f.write((head + body).encode("ascii"))
    finally:
        if fd >= 0:
            os.close(fd)
