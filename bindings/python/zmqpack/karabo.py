"""The Karabo bridge (European XFEL) on zmqpack: read and write the trains
that karabo-bridge-py's servers send, zero-copy.

One message carries one *train*: for each *source* (a device name) a dict
of named values, with per-source metadata ("timestamp.tid" is the train
id). ``serialize`` gives the frames karabo-bridge-py's serializer gives for
the same dicts, byte for byte; ``deserialize`` gives the same
``(data, metadata)`` as its deserializer; ``Client`` receives trains as
karabo_bridge.Client does, ``Server`` sends them (simulators, tests)::

    from zmqpack.karabo import Client
    with Client("tcp://bridge-host:4545", timeout=5) as client:
        for data, metadata in client:
            image = data["SPB_DET_AGIPD1M-1/DET/0CH0:xtdf"]["image.data"]

Protocol 2.2 (the default) sends (header, payload) frame pairs: per source,
in sorted order of names, a header {"source", "content": "msgpack",
"metadata"} before the MessagePack of the source's other values, then per
ndarray a header {"source", "content": "array", "path", "dtype", "shape"}
before its raw C-ordered bytes. Protocol 1.0 sends one frame: MessagePack
of {source: {key: value, ..., "metadata": {...}}}, ndarrays as
msgpack-numpy maps. See docs/interop.md.

Received arrays are read-only views of the received frames (no copy).
zmqpack refuses what karabo-bridge-py lets through silently: an odd number
of frames (it drops the last), an array whose payload is not its dtype
times its shape, an array before its source's msgpack header, a source
or an array sent twice; each raises WireError naming the frame.
"""
import time

import numpy as np
import zmq

from . import _core, _sockets, packb
from .exceptions import WireError

__all__ = ["serialize", "deserialize", "Client", "Server", "PROTOCOLS"]

#: The protocol versions zmqpack reads and writes.
PROTOCOLS = ("1.0", "2.2")


def _timestamp():
    """Timestamps from this machine's clock, as karabo-bridge-py's dummy ones."""
    epoch = time.time()
    sec, frac = str(epoch).split(".")
    return {"timestamp": epoch, "timestamp.sec": sec, "timestamp.frac": frac.ljust(18, "0")}


# -- serialize ------------------------------------------------------------------------

def serialize(data, metadata=None, protocol_version="2.2", dummy_timestamps=False):
    """``{source: {key: value}}`` -> list of frames for send_multipart.

    ``metadata`` is ``{source: {...}}``; None takes each source's
    ``"metadata"`` value (or ``{}``). ndarrays are not copied: their frames
    are memoryviews of them (C-contiguous ones; others are made so once), so
    keep them unchanged until sent. ``dummy_timestamps`` fills in
    timestamps from this machine's clock where a source has none.
    numpy scalar values travel as Python numbers (protocol 2.2) or as
    msgpack-numpy maps (1.0), as karabo-bridge-py sends them.
    """
    if protocol_version not in PROTOCOLS:
        raise ValueError(f"Unknown protocol version {protocol_version}")
    if metadata is None:
        metadata = {src: v.get("metadata", {}) for src, v in data.items()}
    ts = _timestamp() if dummy_timestamps else None

    def meta_of(src):
        meta = metadata[src].copy()
        if ts is not None and "timestamp" not in meta:
            meta.update(ts)
        return meta

    if protocol_version == "1.0":
        train = {}
        for src, values in data.items():
            train[src] = values.copy()
            train[src]["metadata"] = meta_of(src)
        return [packb(train, ndarray="msgpack-numpy")]

    frames = []
    for src, values in sorted(data.items()):
        plain, arrays = {}, []
        for key, value in values.items():
            if isinstance(value, np.ndarray):
                arrays.append((key, value))
            elif isinstance(value, np.number):
                plain[key] = value.item()
            else:
                plain[key] = value
        frames += [packb({"source": src, "content": "msgpack", "metadata": meta_of(src)}),
                   packb(plain)]
        for key, a in arrays:
            if not a.flags.c_contiguous:
                a = np.ascontiguousarray(a)
            frames += [packb({"source": src, "content": "array", "path": key,
                              "dtype": str(a.dtype), "shape": a.shape}),
                       a.data]
    return frames


# -- deserialize --------------------------------------------------------------------

def deserialize(frames):
    """List of frames (zmq.Frame, bytes, memoryview...) -> ``(data, metadata)``.

    One frame is protocol 1.0, more is 2.2. ``data[source]`` holds the
    source's values with its arrays back under their keys (read-only views
    of the frames), ``metadata[source]`` its metadata (protocol 1.0 keeps it
    in ``data[source]["metadata"]`` too, as karabo-bridge-py does).
    Raises WireError for a message that is not a valid train.

    The C library checks the train (zpk_karabo_decode(), the same checks as
    in C) and each MessagePack frame is decoded once, straight to Python.
    """
    return _core._karabo_deserialize(frames)


# -- sockets ------------------------------------------------------------------------

_CLIENT_SOCKETS = {"REQ": zmq.REQ, "SUB": zmq.SUB, "PULL": zmq.PULL}
_SERVER_SOCKETS = {"REP": zmq.REP, "PUB": zmq.PUB, "PUSH": zmq.PUSH}


class _Endpoint:
    """A socket on a context of its own, or on the caller's (left open)."""

    def __init__(self, kind, context):
        self._own_context = context is None
        self._context = context if context is not None else zmq.Context()
        self._socket = self._context.socket(kind)
        self._socket.linger = 0

    def _attach(self, endpoint, bind):
        """Binds or connects; on failure (an endpoint libzmq refuses) closes
        what was opened and lets libzmq's error through."""
        try:
            (self._socket.bind if bind else self._socket.connect)(endpoint)
        except BaseException:
            self.close()
            raise

    @property
    def socket(self):
        """The pyzmq socket (for options; do not receive or send on it)."""
        return self._socket

    def close(self):
        """Close the socket (and the context the object made itself)."""
        self._socket.close(linger=0)
        if self._own_context:
            self._context.term()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Client(_Endpoint):
    """Receives trains from a Karabo bridge, as karabo_bridge.Client does.

    ``sock``: "REQ" (the default: each ``next()`` sends b"next" and receives
    one train), "SUB" (subscribed to every train) or "PULL". ``timeout``
    (seconds) makes ``next()`` raise TimeoutError when no train came; after
    a REQ timeout the request is still pending, so the next call only waits
    again. ``context``: a zmq.Context to use (left open by close()).
    Iterate for train after train; use it as a context manager to close.
    """

    def __init__(self, endpoint, sock="REQ", *, timeout=None, context=None):
        if sock not in _CLIENT_SOCKETS:
            raise NotImplementedError("Unsupported socket: %s (REQ, SUB or PULL)" % sock)
        super().__init__(_CLIENT_SOCKETS[sock], context)
        s = self._socket
        if sock == "SUB":
            s.setsockopt(zmq.SUBSCRIBE, b"")
        s.set_hwm(1)
        self._attach(endpoint, bind=False)
        if timeout is not None:
            s.rcvtimeo = int(timeout * 1000)
        self._req = sock == "REQ"
        self._requested = False
        _sockets._setup()

    def next(self):
        """The next train as ``(data, metadata)`` (see deserialize())."""
        if self._req and not self._requested:
            self._socket.send(b"next")
            self._requested = True
        try:
            if _sockets._c_route:  # the frames stay in C: no zmq.Frame per frame
                train = _core._karabo_recv(self._socket.underlying, 0)
            else:
                train = deserialize(self._socket.recv_multipart(copy=False))
        except zmq.Again:
            raise TimeoutError("No data received from {} in the last {} ms".format(
                self._socket.getsockopt_string(zmq.LAST_ENDPOINT),
                self._socket.rcvtimeo)) from None
        except WireError:
            self._requested = False  # the reply came, and was refused
            raise
        self._requested = False
        return train

    def __iter__(self):
        return self

    def __next__(self):
        return self.next()


class Server(_Endpoint):
    """Sends trains as a Karabo bridge does: ``send(data, metadata)`` on a
    REP (each train answers a b"next" request), PUB or PUSH socket bound to
    ``endpoint`` (``tcp://*:4545``; ``.endpoint`` tells the port of a ``:*``
    bind). ``protocol_version`` "2.2" (default) or "1.0". ``timeout``
    (seconds) bounds each send and the wait for a request (TimeoutError).

    A REP request other than b"next" is answered b"Error: bad request ..."
    and the train waits for the next request (karabo-bridge-py drops it).
    PUB and PUSH keep karabo-bridge-py's high-water mark of 1 (a slow
    subscriber skips trains, a slow puller holds the server back); REP does
    not: a REP whose send pipe is full drops the reply.
    """

    def __init__(self, endpoint, sock="REP", protocol_version="2.2", *, timeout=None,
                 context=None):
        if sock not in _SERVER_SOCKETS:
            raise ValueError("Unsupported socket type: %s (REP, PUB or PUSH)" % sock)
        if protocol_version not in PROTOCOLS:
            raise ValueError(f"Unknown protocol version {protocol_version}")
        super().__init__(_SERVER_SOCKETS[sock], context)
        s = self._socket
        if sock != "REP":
            s.set_hwm(1)
        if timeout is not None:
            s.rcvtimeo = s.sndtimeo = int(timeout * 1000)
        self._attach(endpoint, bind=True)
        self._rep = sock == "REP"
        self.protocol_version = protocol_version

    @property
    def endpoint(self):
        """The endpoint bound (with the real port of a ``:*`` bind)."""
        return self._socket.getsockopt_string(zmq.LAST_ENDPOINT)

    def send(self, data, metadata=None):
        """Serialize one train and send it (on REP, after a b"next" request)."""
        self.send_frames(serialize(data, metadata, self.protocol_version))

    def send_frames(self, frames):
        """Send frames made by serialize() (on REP, after a b"next" request)."""
        try:
            while self._rep:
                request = self._socket.recv()
                if request == b"next":
                    break
                self._socket.send(b"Error: bad request %b" % request)
            self._socket.send_multipart(frames, copy=False)
        except zmq.Again:
            raise TimeoutError("no %s within the timeout on %s" % (
                "request" if self._rep else "peer", self.endpoint)) from None
