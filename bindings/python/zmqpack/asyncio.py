"""zmqpack.asyncio: zmq.asyncio's Context and Socket, whose sockets also have
send_packed/recv_packed/send_array/recv_array methods returning awaitables::

    ctx = zmqpack.asyncio.Context()
    sock = ctx.socket(zmq.PULL)
    obj = await sock.recv_packed()
"""
import zmq.asyncio

from ._context import SocketMethods


class Socket(SocketMethods, zmq.asyncio.Socket):
    """A zmq.asyncio.Socket with send_packed, recv_packed, send_array,
    recv_array (each an awaitable)."""


class Context(zmq.asyncio.Context):
    """A zmq.asyncio.Context whose sockets are zmqpack.asyncio.Socket."""

    _socket_class = Socket


__all__ = ["Context", "Socket"]
