"""zmqpack.Context and zmqpack.Socket: pyzmq's, whose sockets also have
send_packed/recv_packed/send_array/recv_array methods, as pyzmq's sockets
have send_json/recv_json."""
import zmq

from . import _sockets


class SocketMethods:
    """The zmqpack methods of zmqpack.Socket and zmqpack.asyncio.Socket: the
    module's functions, bound as methods with the socket first (on a
    zmq.asyncio socket they return awaitables)."""

    __slots__ = ()

    send_packed = _sockets.send_packed
    recv_packed = _sockets.recv_packed
    send_array = _sockets.send_array
    recv_array = _sockets.recv_array


class Socket(SocketMethods, zmq.Socket):
    """A zmq.Socket with send_packed, recv_packed, send_array, recv_array."""


class Context(zmq.Context):
    """A zmq.Context whose sockets are zmqpack.Socket."""

    _socket_class = Socket
