"""A Karabo bridge peer (European XFEL), re-stated from karabo-bridge-py
(karabo_bridge/serializer.py, client.py, server.py) with pyzmq, numpy and
python3-msgpack only. It behaves as that package does, leniencies included
(an odd last frame is ignored, a larger-than-needed buffer is accepted by
msgpack-numpy), so tests can compare zmqpack with it.

One message carries one train: for each source (a device name) a dict of
named values, and per-source metadata.

Protocol 2.2 (the default): (header, payload) frame pairs. For each source,
in sorted order of names:
  header {"source", "content": "msgpack", "metadata"}, payload: msgpack of
  the source's non-array values (numpy scalars as Python numbers); then for
  each ndarray value, in the dict's order: header {"source", "content":
  "array", "path", "dtype": str(a.dtype), "shape"}, payload: the
  C-ordered bytes.
All packed with msgpack.Packer(use_bin_type=True).

Protocol 1.0: one frame, msgpack of {source: {key: value, ...,
"metadata": {...}}} with arrays as msgpack-numpy maps.

Sockets: the client is REQ (sends b"next", then receives one train), SUB
(subscribed to everything) or PULL; the server REP, PUB or PUSH.
"""
import argparse
import sys
import time

import msgpack
import numpy as np
import zmq

try:
    from . import msgpack_numpy
    from .endpoint import Peer
except ImportError:  # run as a script
    import msgpack_numpy
    from endpoint import Peer

PROTOCOLS = ("1.0", "2.2")


def timestamp():
    """Timestamps from the machine's clock, as the bridge's dummy ones."""
    epoch = time.time()
    sec, frac = str(epoch).split(".")
    return {"timestamp": epoch, "timestamp.sec": sec, "timestamp.frac": frac.ljust(18, "0")}


def _serialize_1_0(data, metadata, dummy_timestamps):
    ts = timestamp()
    train = {}
    for src, values in data.items():
        train[src] = values.copy()
        meta = metadata[src].copy()
        if dummy_timestamps and "timestamp" not in meta:
            meta.update(ts)
        train[src]["metadata"] = meta
    return [msgpack.packb(train, use_bin_type=True, default=msgpack_numpy.encode)]


def serialize(data, metadata=None, protocol_version="2.2", dummy_timestamps=False):
    """{source: {key: value}} (and {source: metadata}) -> list of frames
    (bytes, and memoryviews of the arrays for protocol 2.2)."""
    if protocol_version not in PROTOCOLS:
        raise ValueError(f"Unknown protocol version {protocol_version}")
    if metadata is None:
        metadata = {src: v.get("metadata", {}) for src, v in data.items()}
    if protocol_version == "1.0":
        return _serialize_1_0(data, metadata, dummy_timestamps)

    pack = msgpack.Packer(use_bin_type=True).pack
    frames = []
    ts = timestamp()
    for src, values in sorted(data.items()):
        meta = metadata[src].copy()
        if dummy_timestamps and "timestamp" not in meta:
            meta.update(ts)
        plain, arrays = {}, []
        for key, value in values.items():
            if isinstance(value, np.ndarray):
                arrays.append((key, value))
            elif isinstance(value, np.number):
                plain[key] = value.item()
            else:
                plain[key] = value
        frames += [pack({"source": src, "content": "msgpack", "metadata": meta}), pack(plain)]
        for key, a in arrays:
            if not a.flags["C_CONTIGUOUS"]:
                a = np.ascontiguousarray(a)
            frames += [pack({"source": src, "content": "array", "path": key,
                             "dtype": str(a.dtype), "shape": a.shape}), a.data]
    return frames


def _bytes(f):
    return f.bytes if isinstance(f, zmq.Frame) else bytes(f)


def _buffer(f):
    return f.buffer if isinstance(f, zmq.Frame) else f


def deserialize(frames):
    """List of frames (zmq.Frame or bytes-like) -> (data, metadata)."""
    def unpack(b, **kw):
        return msgpack.unpackb(b, raw=False, max_bin_len=0x7FFFFFFF, **kw)

    if len(frames) < 2:  # protocol 1.0
        data = unpack(_bytes(frames[-1]), object_hook=msgpack_numpy.decode)
        return data, {src: v.get("metadata", {}) for src, v in data.items()}

    data, meta = {}, {}
    for header, payload in zip(frames[0::2], frames[1::2]):
        h = unpack(_bytes(header))
        src, content = h["source"], h["content"]
        if content == "msgpack":
            data[src] = unpack(_bytes(payload))
            meta[src] = h.get("metadata", {})
        elif content == "array":
            a = np.frombuffer(_buffer(payload), dtype=h["dtype"]).reshape(h["shape"])
            data[src].update({h["path"]: a})
        else:
            raise RuntimeError("Unknown message: %s" % content)
    return data, meta


# -- sockets ---------------------------------------------------------------------

_SERVER_SOCKETS = {"REP": zmq.REP, "PUB": zmq.PUB, "PUSH": zmq.PUSH}
_CLIENT_SOCKETS = {"REQ": zmq.REQ, "SUB": zmq.SUB, "PULL": zmq.PULL}


class Server(Peer):
    """The bridge's sending side: ``send(data, metadata)`` puts one train on
    a REP (after a b"next" request; any other request gets an error reply
    and no train), PUB or PUSH socket bound to ``endpoint``.

    karabo-bridge-py also sets a high-water mark of 1 on this socket; not
    the peer: a REP whose send pipe is full drops the reply, and with a mark
    of 1 that happens under load (a lost train, a client that times out)."""

    def __init__(self, endpoint, sock="REP", protocol_version="2.2", context=None,
                 timeout=10.0, linger=0):
        if sock not in _SERVER_SOCKETS:
            raise ValueError(f"Unsupported socket type: {sock}")
        super().__init__(_SERVER_SOCKETS[sock], endpoint, bind=True, context=context,
                         timeout=timeout, linger=linger)
        self.protocol_version = protocol_version
        self.kind = sock

    def send_frames(self, frames):
        """Send already serialized frames (after the request, on REP).
        Returns False when a REP peer asked for something else than b"next"."""
        if self.kind == "REP":
            request = self.socket.recv()
            if request != b"next":
                self.socket.send(b"Error: bad request %b" % request)
                return False
        self.socket.send_multipart(frames, copy=False)
        return True

    def send(self, data, metadata=None):
        return self.send_frames(serialize(data, metadata, self.protocol_version))


class Client(Peer):
    """The bridge's receiving side: ``next() -> (data, metadata)``, also by
    iteration. REQ sends b"next" before each receive (not again after a
    timeout: the request is still pending). ``timeout`` in seconds."""

    def __init__(self, endpoint, sock="REQ", timeout=None, context=None):
        if sock not in _CLIENT_SOCKETS:
            raise NotImplementedError("Unsupported socket: %s" % str(sock))
        super().__init__(_CLIENT_SOCKETS[sock], endpoint, bind=False, context=context,
                         timeout=timeout, linger=0, subscribe=sock == "SUB")
        self.socket.set_hwm(1)
        self._requested = False

    def recv_frames(self):
        if self.socket.type == zmq.REQ and not self._requested:
            self.socket.send(b"next")
            self._requested = True
        try:
            frames = self.socket.recv_multipart(copy=False)
        except zmq.Again:
            raise TimeoutError("No data received from {} in the last {} ms".format(
                self.endpoint, self.socket.rcvtimeo))
        self._requested = False
        return frames

    def next(self):
        return deserialize(self.recv_frames())

    def __iter__(self):
        return self

    def __next__(self):
        return self.next()


# -- trains -------------------------------------------------------------------------

def metadata_for(source, train_id, ts=1700000000.25):
    """Per-source metadata as the bridge sends it."""
    sec, frac = ("%.6f" % ts).split(".")
    return {"source": source, "timestamp": ts, "timestamp.sec": sec,
            "timestamp.frac": frac.ljust(18, "0"), "timestamp.tid": train_id}


def detector_train(train_id, nsources=2, pulses=4, shape=(8, 16), dtype=np.uint16):
    """A small detector train in the shape of karabo-bridge-py's simulator:
    per module an image stack, cell/pulse/train ids, gain, and a few
    scalars. Deterministic for a given train id."""
    rng = np.random.default_rng(train_id)
    data, meta = {}, {}
    for m in range(nsources):
        src = "SPB_DET_AGIPD1M-1/DET/%dCH0:xtdf" % m
        image = rng.integers(1500, 1600, size=shape + (pulses,)).astype(dtype)
        data[src] = {
            "image.data": image,
            "image.cellId": np.arange(pulses, dtype=np.uint16),
            "image.gain": np.zeros(shape + (pulses,), dtype=np.uint8),
            "image.pulseId": np.arange(pulses, dtype=np.uint64),
            "image.trainId": (np.ones(pulses) * train_id).astype(np.uint64),
            "modulesPresent": [True] * 4,
            "detector.name": "AGIPD",
            "temperature": np.float32(21.5 + m),
            "frames": np.int64(pulses),
        }
        meta[src] = metadata_for(src, train_id)
    return data, meta


# -- command line -------------------------------------------------------------------

def _summary(data, meta):
    """One line per train: train id, then each source with its arrays."""
    tids = {m.get("timestamp.tid") for m in meta.values()}
    parts = ["train %s" % ",".join(str(t) for t in sorted(tids, key=str))]
    for src in sorted(data):
        arrays = ["%s=%s%s:%s" % (k, v.dtype.str, list(v.shape), v.sum(dtype=np.float64)
                                  if v.dtype.kind in "biuf" else "-")
                  for k, v in sorted(data[src].items()) if isinstance(v, np.ndarray)]
        parts.append("%s[%s]" % (src, " ".join(arrays)))
    return " ".join(parts)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m peers.karabo",
                                 description="A Karabo bridge server or client (for tests).")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="bind, print the endpoint, send N trains")
    s.add_argument("endpoint")
    s.add_argument("--sock", default="REP", choices=sorted(_SERVER_SOCKETS))
    s.add_argument("--protocol", default="2.2", choices=PROTOCOLS)
    s.add_argument("--trains", type=int, default=1)
    s.add_argument("--sources", type=int, default=2)
    s.add_argument("--first-train", type=int, default=10000000000)
    c = sub.add_parser("client", help="connect, print one line per train received")
    c.add_argument("endpoint")
    c.add_argument("--sock", default="REQ", choices=sorted(_CLIENT_SOCKETS))
    c.add_argument("--trains", type=int, default=1)
    c.add_argument("--timeout", type=float, default=10.0)
    a = ap.parse_args(argv)
    if a.cmd == "serve":
        with Server(a.endpoint, a.sock, a.protocol, linger=5.0) as srv:
            print(srv.endpoint, flush=True)
            if a.sock == "PUB":
                time.sleep(0.5)  # let subscribers join (PUB drops what nobody takes)
            for i in range(a.trains):
                srv.send(*detector_train(a.first_train + i, a.sources))
        return 0
    with Client(a.endpoint, a.sock, timeout=a.timeout) as cl:
        for _ in range(a.trains):
            print(_summary(*cl.next()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
