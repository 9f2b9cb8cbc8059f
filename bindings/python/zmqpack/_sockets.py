"""Socket helpers on pyzmq sockets (sync and ``zmq.asyncio``).

Every call hands ``sock.underlying`` (the libzmq socket) to the C socket
layer, which Debian's pyzmq shares with zmqpack (the same system
libzmq.so.5): the frames on the wire are the C library's, so C and Python
peers interoperate by construction. Blocking calls run without the GIL and
Ctrl-C interrupts them. With a ``zmq.asyncio`` socket the same functions
return awaitables.
"""
import os

from . import _core
from .exceptions import WireError
from .ext import ExtType

DONTWAIT = _core.DONTWAIT
_state = {}
_AsyncSocket = None  # zmq.asyncio.Socket once _setup() ran


def _setup():
    if _state:
        return _state
    import errno

    import numpy
    import zmq
    import zmq.asyncio

    _check_same_libzmq()

    def zmq_error(e):
        if e == errno.EAGAIN:
            return zmq.Again(e)
        if e == zmq.ETERM:
            return zmq.ContextTerminated(e)
        if e == errno.EINTR:
            return zmq.InterruptedSystemCall(e)
        return zmq.ZMQError(e)

    _core._setup_sockets(numpy.ndarray, zmq_error, WireError)
    _state.update(np=numpy, zmq=zmq, asock=zmq.asyncio.Socket)
    global _AsyncSocket
    _AsyncSocket = zmq.asyncio.Socket
    return _state


def _check_same_libzmq():
    """The C calls are only valid if pyzmq's sockets come from the very
    libzmq this module links (Debian's python3-zmq does; a pip wheel that
    bundles its own libzmq does not). Refuse rather than crash."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "libzmq" in line and "/" in line}
    except OSError:
        return
    libs = {os.path.realpath(p) for p in libs}
    if len(libs) > 1:
        raise RuntimeError("zmqpack's socket helpers need pyzmq built against the same libzmq "
                           "as zmqpack; this process has several: %s" % ", ".join(sorted(libs)))


def _mode(copy):
    if copy is None:
        return 1   # zero-copy from the library's threshold (64 KiB) up
    return 0 if copy else 2


def _topic(topic):
    if topic is None:
        return None
    if isinstance(topic, str):
        return topic.encode()
    return topic


def _flags(flags, single=False, recipe=False):
    return flags | (_core.SEND_SINGLE if single else 0) | (_core.SEND_RECIPE if recipe else 0)


def _ext_hook(arrays, base):
    def hook(code, data):
        if code == _core.EXT_ARRAY_REF and len(data) == 4:
            i = int.from_bytes(data, "big")
            if i < len(arrays):
                return arrays[i]
        return base(code, data)
    return hook


def _decode(payload, arrays, kw):
    from . import _registry
    from . import exceptions as _exc
    if arrays:
        base = kw.get("ext_hook")
        if base is None:
            base = _registry._ext_hook if (_registry._by_name or _registry._by_code) else ExtType
        kw = dict(kw, ext_hook=_ext_hook(arrays, base))
    # The payload arrives unparsed (zpk_recv_mixed, ZPK_RECV_BYTES): a malformed one
    # is a WireError, as a bad header is (codes from zmqpack/common.h).
    try:
        return _core.unpackb(payload, **kw)
    except _exc.ExtraData as e:
        raise WireError(-4002, "EEXTRADATA", str(e)) from e
    except _exc.StackError as e:
        raise WireError(-4004, "ETOODEEP", str(e)) from e
    except _exc.FormatError as e:
        raise WireError(-4003, "EFORMAT", str(e)) from e
    except ValueError as e:
        if type(e) is ValueError and str(e).startswith("Unpack failed: incomplete"):
            raise WireError(-4001, "EOUTOFDATA", str(e)) from e
        raise


def _call_async(sock, fn, flags, poll_flag):
    """Retry ``fn(flags | DONTWAIT)`` until it does not raise zmq.Again,
    waiting for the socket between attempts."""
    zmq = _state["zmq"]

    async def run():
        while True:
            try:
                return fn(flags | DONTWAIT)
            except zmq.Again:
                if flags & DONTWAIT:
                    raise
            await sock.poll(100, poll_flag)
    return run()


# -- send ---------------------------------------------------------------------

def send_packed(sock, obj, topic=None, codec=None, flags=0, *, copy=None, track=False,
                single=False, **packer_options):
    """Send ``obj`` as one zmqpack packed message.

    ndarrays anywhere inside ``obj`` travel as out-of-band frames (a mixed
    message), zero-copy from 64 KiB up (``copy=True`` always copies,
    ``copy=False`` never does). ``topic`` (bytes or str) is sent first for
    PUB/SUB filtering; ``codec`` ("zlib:6", "blosc:lz4:5:shuffle", "auto")
    compresses the payloads; ``flags`` takes ``zmq.DONTWAIT``; ``single``
    sends header and payload in one frame (for ``ZMQ_CONFLATE``).
    ``packer_options`` are Packer's (``default``, ``use_single_float``...).
    Returns a Tracker when ``track`` (its ``done``/``wait()`` say when libzmq
    has let go of the arrays), else None. Raises zmq.Again / ZMQError from
    libzmq, WireError for a bad topic or codec.
    """
    if _AsyncSocket is None:
        _setup()
    if not (packer_options or single or topic) and not isinstance(sock, _AsyncSocket):
        # the common case, straight to C
        return _core._send_obj(sock.underlying, obj, None, codec, flags,
                               1 if copy is None else 0 if copy else 2, track)
    st = _state
    mode = _mode(copy)
    if not packer_options:
        t = _topic(topic)

        def fn(f):
            return _core._send_obj(sock.underlying, obj, t, codec, _flags(f, single), mode,
                                   track)
        if isinstance(sock, st["asock"]):
            return _call_async(sock, fn, flags, st["zmq"].POLLOUT)
        return fn(flags)
    payload, arrays = _core.pack_mixed(obj, **packer_options)
    dtypes = None  # taken from each ndarray in C
    args = (_topic(topic), codec)

    def fn(f):
        return _core._send(sock.underlying, payload, arrays, dtypes, args[0], args[1],
                           _flags(f, single), mode, track)
    if isinstance(sock, st["asock"]):
        return _call_async(sock, fn, flags, st["zmq"].POLLOUT)
    return fn(flags)


def send_array(sock, A, topic=None, codec=None, flags=0, *, copy=None, track=False,
               recipe=False, single=False):
    """Send numpy array ``A`` (any dtype zmqpack knows, any layout: C and F
    order travel as they are, other views are made C-contiguous once).

    ``copy``/``track``/``topic``/``codec``/``flags``/``single`` as
    send_packed(). ``recipe=True`` sends pyzmq's documented recipe instead
    (a JSON {"dtype", "shape"} frame and the raw buffer). Returns a Tracker
    when ``track``.
    """
    st = _state or _setup()
    if not isinstance(A, st["np"].ndarray):
        A = st["np"].asarray(A)
    if not (single or recipe or topic) and not isinstance(sock, _AsyncSocket):
        return _core._send(sock.underlying, None, (A,), None, None, codec, flags,
                           1 if copy is None else 0 if copy else 2, track)
    args = (_topic(topic), codec)
    mode = _mode(copy)

    def fn(f):
        return _core._send(sock.underlying, None, (A,), None, args[0], args[1],
                           _flags(f, single, recipe), mode, track)
    if isinstance(sock, st["asock"]):
        return _call_async(sock, fn, flags, st["zmq"].POLLOUT)
    return fn(flags)


# -- receive --------------------------------------------------------------------

def recv_packed(sock, flags=0, *, with_topic=False, **unpack_options):
    """Receive one packed or mixed message and return the object (with its
    ndarrays in place), or ``(topic, obj)`` when ``with_topic``.

    Received arrays are writable and alias the message memory, which they
    keep alive. ``unpack_options`` are unpackb()'s (``raw``, ``use_list``,
    hooks, limits...). Raises zmq.Again (DONTWAIT / RCVTIMEO), ZMQError,
    WireError for anything that is not a valid zmqpack message.
    """
    if _AsyncSocket is None:
        _setup()
    if not (unpack_options or with_topic) and not isinstance(sock, _AsyncSocket):
        return _core._recv_obj(sock.underlying, flags)[1]
    st = _state
    if not unpack_options:
        def fn(f):
            topic, obj = _core._recv_obj(sock.underlying, f)
            return (topic, obj) if with_topic else obj
        if isinstance(sock, st["asock"]):
            return _call_async(sock, fn, flags, st["zmq"].POLLIN)
        return fn(flags)

    def fn(f):
        topic, payload, bufs = _core._recv_packed(sock.underlying, f)
        obj = _decode(payload, bufs, unpack_options)
        return (topic, obj) if with_topic else obj
    if isinstance(sock, st["asock"]):
        return _call_async(sock, fn, flags, st["zmq"].POLLIN)
    return fn(flags)


def recv_array(sock, out=None, flags=0, *, with_topic=False):
    """Receive an array message (or the pyzmq recipe) as an ndarray.

    Without ``out`` the array aliases the received message when it arrived
    raw and aligned (else one allocation of the exact size holds it), is
    writable and keeps the message alive. With ``out`` (a writable
    C-contiguous array) the payload is decompressed or copied into it;
    the result is ``out`` itself when dtype and shape match, else a view of
    its memory with the received dtype and shape. Raises WireError
    (``EBUFFULL`` when ``out`` is too small), zmq.Again, ZMQError.
    """
    st = _state or _setup()
    np = st["np"]
    if out is None and not with_topic and not isinstance(sock, _AsyncSocket):
        return _core._recv_array(sock.underlying, flags, None)[1]

    def fn(f):
        topic, res = _core._recv_array(sock.underlying, f, out)
        if out is None:
            arr = res
        else:
            typestr, shape, order, nbytes = res
            dt = np.dtype(typestr)
            if out.dtype == dt and out.shape == shape and (order == "C" or out.ndim < 2):
                arr = out
            else:
                flat = out.reshape(-1).view(np.uint8)[:nbytes]
                arr = flat.view(dt).reshape(shape, order=order)
        return (topic, arr) if with_topic else arr
    if isinstance(sock, st["asock"]):
        return _call_async(sock, fn, flags, st["zmq"].POLLIN)
    return fn(flags)


# Explicit async names, for code that prefers to say so.
def send_packed_async(sock, obj, **kw):
    """send_packed() on a zmq.asyncio socket (an awaitable)."""
    return send_packed(sock, obj, **kw)


def recv_packed_async(sock, **kw):
    """recv_packed() on a zmq.asyncio socket (an awaitable)."""
    return recv_packed(sock, **kw)


def collect():
    """Release the buffers of zero-copy sends that libzmq is done with
    (happens anyway at every socket call)."""
    _core.collect()


__all__ = ["send_packed", "recv_packed", "send_array", "recv_array", "collect", "DONTWAIT"]
