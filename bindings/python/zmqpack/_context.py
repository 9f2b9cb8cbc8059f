"""zmqpack.Context and zmqpack.Socket: pyzmq's, whose sockets also have
send_packed/recv_packed/send_array/recv_array methods, as pyzmq's sockets
have send_json/recv_json."""
import zmq

from . import _sockets


class SocketMethods:
    """The zmqpack methods of zmqpack.Socket and zmqpack.asyncio.Socket: the
    module's functions with the socket first (on a zmq.asyncio socket they
    return awaitables)."""

    __slots__ = ()

    def send_packed(self, obj, topic=None, codec=None, flags=0, **kwargs):
        """zmqpack.send_packed(self, obj, ...)."""
        return _sockets.send_packed(self, obj, topic, codec, flags, **kwargs)

    def recv_packed(self, flags=0, **kwargs):
        """zmqpack.recv_packed(self, ...)."""
        return _sockets.recv_packed(self, flags, **kwargs)

    def send_array(self, A, topic=None, codec=None, flags=0, **kwargs):
        """zmqpack.send_array(self, A, ...)."""
        return _sockets.send_array(self, A, topic, codec, flags, **kwargs)

    def recv_array(self, out=None, flags=0, **kwargs):
        """zmqpack.recv_array(self, ...)."""
        return _sockets.recv_array(self, out, flags, **kwargs)


class Socket(SocketMethods, zmq.Socket):
    """A zmq.Socket with send_packed, recv_packed, send_array, recv_array."""


class Context(zmq.Context):
    """A zmq.Context whose sockets are zmqpack.Socket."""

    _socket_class = Socket
