"""Messages as frames, and the socket helpers on pyzmq sockets (sync and
``zmq.asyncio``).

A zmqpack message is a list of frames ``[envelope...] header [payload...]``
(docs/PROTOCOL.md). ``serialize``/``deserialize`` turn values into frames and
back with no socket; ``send_packed``/``recv_packed``/``send_array``/
``recv_array`` put them on a pyzmq socket and take them off.

Two routes, one format: where pyzmq links the very libzmq this module links
(Debian's python3-zmq), the helpers hand ``sock.underlying`` to the C socket
calls (one C call per message, blocking without the GIL); elsewhere (a pyzmq
wheel with its own libzmq) they send ``serialize()``'s frames with
``send_multipart(copy=False)`` and decode ``recv_multipart(copy=False)``
with ``deserialize()``. Both go through the same encoder and decoder of the
C library, so both put the same frames on the wire (tests/test_routes.py).
With a ``zmq.asyncio`` socket the helpers return awaitables.
"""
import json
import os

from . import _core

DONTWAIT = _core.DONTWAIT
_KIND_ANY, _KIND_PACKED, _KIND_NDARRAY = _core.KIND_ANY, _core.KIND_PACKED, _core.KIND_NDARRAY
_COPY = {True: _core.COPY_ALWAYS, None: _core.COPY_DEFAULT, False: _core.COPY_NEVER}

_np = _zmq = None
_Socket = _AsyncSocket = None   # zmq.Socket, zmq.asyncio.Socket once _setup() ran
_c_route = None                 # the C socket calls work on pyzmq's sockets


def _setup():
    global _np, _zmq, _Socket, _AsyncSocket, _c_route
    if _np is not None:
        return
    import errno

    import numpy
    import zmq
    import zmq.asyncio

    def zmq_error(e):
        if e == errno.EAGAIN:
            return zmq.Again(e)
        if e == zmq.ETERM:
            return zmq.ContextTerminated(e)
        if e == errno.EINTR:
            return zmq.InterruptedSystemCall(e)
        return zmq.ZMQError(e)

    from ._context import Socket
    _c_route = _same_libzmq()
    # the socket types whose common-shape calls the SocketHelper objects below take
    # straight to C (sockets.c) while _c_route is True
    _core._setup_sockets(zmq_error, (zmq.Socket, Socket), globals())
    _np, _zmq = numpy, zmq
    _Socket, _AsyncSocket = zmq.Socket, zmq.asyncio.Socket


def _same_libzmq():
    """True when pyzmq's sockets come from the libzmq this module links:
    then one libzmq is mapped in the process. A pip wheel of pyzmq brings its
    own (pyzmq.libs/libzmq-*.so): the socket addresses it hands out mean
    nothing to our libzmq, and the frames go through pyzmq instead."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "libzmq" in line and "/" in line}
    except OSError:
        return False
    return len({os.path.realpath(p) for p in libs}) == 1


# -- arguments: checked before anything is sent or received ---------------------------

def _socket(sock, fname):
    """True for a zmq.asyncio socket; TypeError for anything but a pyzmq socket."""
    if _np is None:
        _setup()
    if isinstance(sock, _AsyncSocket):
        return True
    if isinstance(sock, _Socket):
        return False
    raise TypeError("%s: sock must be a pyzmq socket (zmq.Socket or zmq.asyncio.Socket), "
                    "not %s" % (fname, type(sock).__name__))


def _envelope(topic, envelope, fname):
    """The envelope frames to send: ``topic`` is a one-frame envelope."""
    if topic is not None and envelope is not None:
        raise ValueError("%s: give topic or envelope, not both (a topic is a one-frame "
                         "envelope)" % fname)
    if topic is not None:
        if isinstance(topic, str):
            topic = topic.encode()
        elif not isinstance(topic, (bytes, bytearray, memoryview)):
            raise TypeError("%s: topic must be str or bytes, not %s"
                            % (fname, type(topic).__name__))
        return [topic] if len(topic) else None
    if envelope is not None and not isinstance(envelope, (list, tuple)):
        raise TypeError("%s: envelope must be a list of bytes frames, not %s"
                        % (fname, type(envelope).__name__))
    return envelope


def _copy(copy, fname):
    try:
        return _COPY[copy]
    except (KeyError, TypeError):
        raise TypeError("%s: copy must be True, False or None, not %r" % (fname, copy)) from None


def _flags(flags, fname):
    if not isinstance(flags, int) or flags & ~DONTWAIT:
        raise ValueError("%s: flags takes zmq.DONTWAIT (or 0), not %r" % (fname, flags))
    return flags


def _check_unpack_options(options):
    """unpackb()'s options, checked before a message is taken off a socket."""
    if options:
        _core.unpackb(b"\xc0", **options)


def _result(received, with_topic, with_envelope, fname):
    """What a receive returns: the value, or (envelope or topic, value)."""
    envelope, value = received
    if with_envelope:
        return envelope, value
    if with_topic:
        return (envelope[0] if envelope else None), value
    return value


def _check_result_flags(with_topic, with_envelope, fname):
    if with_topic and with_envelope:
        raise ValueError("%s: with_topic is a shorthand of with_envelope (the topic is the "
                         "envelope's first frame): ask for one" % fname)


def _call_async(sock, fn, flags, poll_flag):
    """C route on a zmq.asyncio socket: retry ``fn(flags | DONTWAIT)`` until
    it does not raise zmq.Again, waiting for the socket in between."""
    async def run():
        while True:
            try:
                return fn(flags | DONTWAIT)
            except _zmq.Again:
                if flags & DONTWAIT:
                    raise
            await sock.poll(100, poll_flag)
    return run()


def _send(sock, is_async, value, kind, codec, envelope, flags, send_flags, mode, track, options,
          recipe_meta=None):
    """The one send: C route or frames through pyzmq."""
    if _c_route:
        def fn(f):
            return _core._send(sock.underlying, value, kind, codec, envelope, send_flags | f,
                               mode, track, options, recipe_meta)
        if is_async:
            return _call_async(sock, fn, flags, _zmq.POLLOUT)
        return fn(flags)
    frames = _core._serialize(value, kind, codec, envelope, send_flags, mode, options, recipe_meta)
    if track and mode == _core.COPY_ALWAYS:
        # the frames are copies: nothing of the caller's is held
        r = sock.send_multipart(frames, flags, copy=False)
        done = _zmq.MessageTracker()
        return _then(r, lambda _: done)
    return sock.send_multipart(frames, flags, copy=False, track=track)


def _recv(sock, is_async, kind, flags, options, want_meta=False):
    """The one receive: (envelope, value), C route or frames through pyzmq;
    with want_meta (envelope, value, the recipe's other keys as JSON text)."""
    if _c_route:
        def fn(f):
            return _core._recv(sock.underlying, f, kind, options, want_meta)
        if is_async:
            return _call_async(sock, fn, flags, _zmq.POLLIN)
        return fn(flags)
    if is_async:
        async def run():
            frames = await sock.recv_multipart(flags, copy=False)
            return _core._deserialize(frames, kind, options, want_meta)
        return run()
    return _core._deserialize(sock.recv_multipart(flags, copy=False), kind, options, want_meta)


def _then(result, fn):
    """fn(result), or an awaitable of it when result is one."""
    if hasattr(result, "__await__"):
        async def run():
            return fn(await result)
        return run()
    return fn(result)


# -- frames ---------------------------------------------------------------------------

def serialize(obj, *, codec=None, copy=None, single=False, **packer_options):
    """The frames of the zmqpack message holding ``obj`` (no socket).

    An ndarray becomes an ndarray message; any other object a packed
    message, or a mixed one when ndarrays are inside it (each travels as its
    own frames). Returns a list of bytes and, for frames of 64 KiB and more,
    memoryviews that alias the ndarrays (or the compressor's output) instead
    of copying them (``copy=False``: always, ``copy=True``: never). Send them
    with ``sock.send_multipart(frames, copy=False)``, or let pyzmq do it:
    ``sock.send_serialized(obj, zmqpack.serialize)``. ``codec`` and
    ``single`` as send_packed(); ``packer_options`` are Packer()'s.
    """
    if _np is None:
        _setup()
    ndarray = isinstance(obj, _np.ndarray) and packer_options.get("ndarray") is None
    if ndarray and packer_options:
        raise TypeError("serialize: Packer options (%s) apply to objects; an ndarray travels "
                        "as an ndarray message" % ", ".join(sorted(packer_options)))
    return _core._serialize(obj, _KIND_NDARRAY if ndarray else _KIND_PACKED, codec, None,
                            _core.SEND_SINGLE if single else 0, _copy(copy, "serialize"),
                            packer_options or None)


def deserialize(frames, **unpack_options):
    """The value of a zmqpack message given as its frames (bytes, memoryviews
    or zmq.Frame objects; an envelope in front is skipped): an object, with
    its ndarrays in place, or an ndarray (also from pyzmq's recipe). Arrays
    alias the frames, read-only when the frames are (bytes).
    ``unpack_options`` are unpackb()'s. As pyzmq's deserializer:
    ``sock.recv_serialized(zmqpack.deserialize)``. Raises WireError for
    frames that are not a zmqpack message, and unpackb()'s exceptions for
    an object that does not decode."""
    if _np is None:
        _setup()
    return _core._deserialize(frames, _KIND_ANY, unpack_options or None)[1]


# -- send -----------------------------------------------------------------------------

def send_packed(sock, obj, topic=None, codec=None, flags=0, *, copy=None, track=False,
                single=False, envelope=None, **packer_options):
    """Send ``obj`` as one zmqpack packed message.

    ndarrays anywhere inside ``obj`` travel as their own frames (a mixed
    message), zero-copy from 64 KiB up (``copy=True`` always copies,
    ``copy=False`` never does). ``envelope`` (a list of bytes frames: ROUTER
    identities, the empty delimiter...) goes in front; ``topic`` (bytes or
    str) is a one-frame envelope for PUB/SUB. ``codec`` ("zlib:6",
    "blosc:lz4:5:shuffle", "auto") compresses the payloads; ``flags`` takes
    ``zmq.DONTWAIT``; ``single`` sends header and payload in one frame (for
    ``ZMQ_CONFLATE``). ``packer_options`` are Packer()'s (``default``,
    ``use_single_float``, ``ndarray="msgpack-numpy"``...). Returns a tracker
    when ``track`` (``.done``, ``.wait()``: when libzmq has let go of the
    arrays), else None. Raises zmq.Again / ZMQError from libzmq; TypeError or
    ValueError for wrong arguments, before anything is sent.
    """
    is_async = _socket(sock, "send_packed")
    return _send(sock, is_async, obj, _KIND_PACKED, codec, _envelope(topic, envelope, "send_packed"),
                 _flags(flags, "send_packed"), _core.SEND_SINGLE if single else 0,
                 _copy(copy, "send_packed"), track, packer_options or None)


def send_array(sock, A, topic=None, codec=None, flags=0, *, copy=None, track=False,
               recipe=False, single=False, envelope=None, meta=None):
    """Send numpy array ``A`` (any dtype zmqpack knows, any layout: C and F
    order travel as they are, other views are made C-contiguous once).

    ``copy``/``track``/``topic``/``envelope``/``codec``/``flags``/``single``
    as send_packed(). ``recipe=True`` sends pyzmq's documented recipe instead
    (a JSON {"dtype", "shape"} frame and the raw buffer; no codec); ``meta``
    (a dict of JSON values) adds its keys to that JSON header in front, as
    imagezmq's ``{"msg": "cam1", "dtype", "shape"}``.
    """
    is_async = _socket(sock, "send_array")
    if not isinstance(A, _np.ndarray):
        A = _np.asarray(A)
    if recipe and codec is not None:
        raise ValueError("send_array: recipe=True sends pyzmq's recipe, whose buffer is raw: "
                         "codec must be None (got %r)" % (codec,))
    send_flags = (_core.SEND_SINGLE if single else 0) | (_core.SEND_RECIPE if recipe else 0)
    env = _envelope(topic, envelope, "send_array")
    return _send(sock, is_async, A, _KIND_NDARRAY, codec, env, _flags(flags, "send_array"),
                 send_flags, _copy(copy, "send_array"), track, None,
                 None if meta is None else _recipe_meta(meta, recipe))


def _recipe_meta(meta, recipe):
    """meta= as the JSON object text the library puts in the recipe's header
    before dtype and shape (the library checks it again; these messages
    name the Python arguments)."""
    if not recipe:
        raise ValueError("send_array: meta= rides in the recipe's JSON header: give recipe=True")
    if not isinstance(meta, dict):
        raise TypeError("send_array: meta must be a dict, not %s" % type(meta).__name__)
    clash = {"dtype", "shape"} & set(meta)
    if clash:
        raise ValueError("send_array: meta cannot set %s (the array's own)" % ", ".join(sorted(clash)))
    try:
        return json.dumps(meta)
    except (TypeError, ValueError) as e:
        raise TypeError("send_array: meta must hold JSON values: %s" % e) from None


# -- receive ----------------------------------------------------------------------------

def recv_packed(sock, flags=0, *, with_topic=False, with_envelope=False, **unpack_options):
    """Receive one packed or mixed message and return the object (with its
    ndarrays in place); with ``with_envelope`` ``(envelope, obj)``, the
    envelope a list of bytes (send it back with ``envelope=`` to reply
    through a ROUTER); with ``with_topic`` ``(topic, obj)`` (the envelope's
    first frame, or None).

    Received arrays are writable and alias the message memory, which they
    keep alive. ``unpack_options`` are unpackb()'s (``raw``, ``use_list``,
    hooks, limits, ``ndarray="msgpack-numpy"``). Raises zmq.Again (DONTWAIT /
    RCVTIMEO), ZMQError, WireError for frames that are not a zmqpack message
    of this kind, and unpackb()'s exceptions for an object that does not
    decode (the whole message is taken off the socket either way).
    """
    is_async = _socket(sock, "recv_packed")
    _check_result_flags(with_topic, with_envelope, "recv_packed")
    _check_unpack_options(unpack_options)
    r = _recv(sock, is_async, _KIND_PACKED, _flags(flags, "recv_packed"), unpack_options or None)
    return _then(r, lambda got: _result(got, with_topic, with_envelope, "recv_packed"))


def recv_array(sock, out=None, flags=0, *, with_topic=False, with_envelope=False,
               with_meta=False):
    """Receive an ndarray message (or pyzmq's recipe) as an ndarray.

    Without ``out`` the array aliases the received message when it arrived
    raw and aligned (else one allocation of the exact size holds it), is
    writable and keeps the message alive. With ``out`` (a writable ndarray of
    the same shape and dtype; byte order may differ) the values are copied
    into it and ``out`` is returned; a message of another dtype or shape
    raises ValueError and leaves ``out`` untouched (the message is taken off
    the socket, as for any receive error). ``with_envelope``/``with_topic``
    as recv_packed(). ``with_meta`` returns ``(meta, array)``: the keys of a
    recipe's JSON header other than dtype and shape (imagezmq's
    ``{"msg": "cam1"}``), ``{}`` for a zmqpack message; with an envelope or a
    topic too, ``(envelope or topic, meta, array)``. Raises WireError,
    zmq.Again, ZMQError.
    """
    is_async = _socket(sock, "recv_array")
    _check_result_flags(with_topic, with_envelope, "recv_array")
    if out is not None:
        if not isinstance(out, _np.ndarray):
            raise TypeError("recv_array: out must be a numpy.ndarray, not %s"
                            % type(out).__name__)
        if not out.flags.writeable:
            raise ValueError("recv_array: out is read-only")
    r = _recv(sock, is_async, _KIND_NDARRAY, _flags(flags, "recv_array"), None, with_meta)

    def shape(got):
        envelope, A = got[:2]
        if out is not None:
            A = _into(out, A)
        res = _result((envelope, A), with_topic, with_envelope, "recv_array")
        if not with_meta:
            return res
        meta = json.loads(got[2])
        return (meta, res) if res is A else (res[0], meta, A)
    return _then(r, shape)


def _into(out, A):
    if A.shape != out.shape or not _np.can_cast(A.dtype, out.dtype, casting="equiv"):
        raise ValueError("recv_array: the message holds a %s array of shape %s, out is %s of "
                         "shape %s; out is left untouched (the message was taken off the socket)"
                         % (A.dtype, A.shape, out.dtype, out.shape))
    _np.copyto(out, A, casting="equiv")
    return out


# The public functions: the common shape of a call (a plain socket, no
# topic, envelope, out or copy) goes straight to C; the rest to the Python
# bodies above (src/sockets.c, SocketHelper).
send_packed = _core.SocketHelper(_core.HELPER_SEND_PACKED, send_packed)
send_array = _core.SocketHelper(_core.HELPER_SEND_ARRAY, send_array)
recv_packed = _core.SocketHelper(_core.HELPER_RECV_PACKED, recv_packed)
recv_array = _core.SocketHelper(_core.HELPER_RECV_ARRAY, recv_array)


# Explicit async names, for code that prefers to say so.
def send_packed_async(sock, obj, **kw):
    """send_packed() on a zmq.asyncio socket (an awaitable)."""
    if not _socket(sock, "send_packed_async"):
        raise TypeError("send_packed_async: sock is a synchronous zmq.Socket; use "
                        "send_packed(), or a zmq.asyncio socket")
    return send_packed(sock, obj, **kw)


def recv_packed_async(sock, **kw):
    """recv_packed() on a zmq.asyncio socket (an awaitable)."""
    if not _socket(sock, "recv_packed_async"):
        raise TypeError("recv_packed_async: sock is a synchronous zmq.Socket; use "
                        "recv_packed(), or a zmq.asyncio socket")
    return recv_packed(sock, **kw)


def collect():
    """Release the buffers of zero-copy sends that libzmq is done with
    (happens anyway at every socket call)."""
    _core.collect()


__all__ = ["serialize", "deserialize", "send_packed", "recv_packed", "send_array",
           "recv_array", "send_packed_async", "recv_packed_async", "collect", "DONTWAIT"]
