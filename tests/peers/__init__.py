"""Peers for zmqpack's interop tests, written from the public formats of
array streams that already run on ZeroMQ (../shared/formats/REAL_STREAMS.md):

- ``peers.imagezmq``: imagezmq's sender and hub (REQ/REP replying b"OK",
  PUB/SUB; array and JPEG messages), as imagezmq/imagezmq.py puts them on
  the wire;
- ``peers.msgpack_numpy``: msgpack-numpy 0.4.8's encode/decode rules as a
  ``default=``/``object_hook=`` pair for Debian's python3-msgpack;
- ``peers.karabo``: a Karabo bridge server (REP answering b"next", PUB,
  PUSH) and client (REQ, SUB, PULL), protocols 2.2 and 1.0, as
  karabo-bridge-py's serializer, client and server do it.

None of these packages is in Debian, so each peer is the wire format
re-stated with pyzmq, numpy and python3-msgpack only; nothing here uses
zmqpack. The binding's tests, the C interop tests and the benchmark import
them from one place: put the directory holding ``peers`` (tests/) on
sys.path, e.g.

    sys.path.insert(0, str(REPO / "tests"))
    from peers import karabo

Each module also runs as a program (``python3 -m peers.karabo --help``),
for tests that need the peer in another process.
"""
