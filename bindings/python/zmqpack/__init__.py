"""zmqpack: MessagePack objects and numpy arrays over ZeroMQ.

A drop-in for msgpack-python 1.0 (``import zmqpack as msgpack``) backed by
zmqpack's C code, plus a safe object registry, socket helpers for pyzmq
(``send_packed``/``recv_packed``, ``send_array``/``recv_array``, mixed
messages) and asyncio streaming (``aload``, ``AsyncUnpacker``).
See docs/python.md.
"""
from . import _core
from .exceptions import (BufferFull, ExtraData, FormatError, OutOfData, PackException,
                         PackOverflowError, PackValueError, StackError, UnpackException,
                         UnpackValueError, WireError)
from .ext import ExtType, Timestamp
from . import _registry
from ._registry import ext_serializable, register, registered, unregister

try:  # msgpack-python's ExtType and Timestamp pack as they do in msgpack
    from msgpack import ExtType as _MsgpackExtType, Timestamp as _MsgpackTimestamp
except ImportError:  # pragma: no cover
    _MsgpackExtType = _MsgpackTimestamp = None
_core._setup(ExtType, Timestamp, FormatError, StackError, ExtraData, WireError,
             _registry._pack_hook, _registry._ext_hook, _MsgpackExtType, _MsgpackTimestamp)

__version__ = "0.1.0"
version = (0, 1, 0)

_DEFAULT_MAX_BUFFER_SIZE = 100 * 1024 * 1024
_NEED_MORE = _core.NEED_MORE
_INT_MAX = 2**31 - 1


class Packer(_core.Packer):
    """MessagePack Packer, msgpack-python 1.0 compatible.

    ``Packer(default=None, *, use_single_float=False, autoreset=True,
    use_bin_type=True, strict_types=False, datetime=False,
    unicode_errors=None, keep_types=False)``

    * ``default(obj)`` converts a type the packer does not know into one it
      does (called once per object).
    * ``autoreset=False``: ``pack()`` appends to an internal buffer, read it
      with ``bytes()`` or ``getbuffer()`` and empty it with ``reset()``.
    * ``keep_types=True`` (zmqpack only) keeps tuple, set, frozenset and
      complex distinct on the wire (ext 80..83); unpack with
      ``keep_types=True`` to get them back.

    Methods: ``pack(obj)``, ``pack_array_header(n)``, ``pack_map_header(n)``,
    ``pack_map_pairs(pairs)``, ``pack_ext_type(code, data)``, ``bytes()``,
    ``getbuffer()``, ``reset()``.
    """
    __slots__ = ()


Tracker = _core.Tracker
packb = _core.packb
unpackb = _core.unpackb


def pack(o, stream, **kwargs):
    """Pack ``o`` and write it to ``stream`` (see Packer for the options)."""
    stream.write(packb(o, **kwargs))


def unpack(stream, **kwargs):
    """Unpack one object from ``stream.read()``; ExtraData when bytes remain."""
    return unpackb(stream.read(), **kwargs)


load = unpack
loads = unpackb
dump = pack
dumps = packb


class Unpacker(_core.Decoder):
    """Streaming unpacker, msgpack-python 1.0 compatible.

    Feed bytes in any chunking with ``feed()`` (or give ``file_like``) and
    take objects out with ``unpack()`` or iteration. The C scanner keeps its
    state between feeds, so the work is linear in the bytes fed, even one
    byte at a time.

    Options as msgpack-python: ``read_size``, ``use_list``, ``raw``,
    ``timestamp`` (0 Timestamp, 1 float, 2 int ns, 3 datetime),
    ``strict_map_key``, ``object_hook``, ``object_pairs_hook``,
    ``list_hook``, ``ext_hook``, ``unicode_errors``, ``max_buffer_size``
    and ``max_{str,bin,array,map,ext}_len``; plus ``keep_types``.

    After a malformed object (FormatError, StackError, a limit) the
    unpacker stays at that object and raises again; after an error raised
    while building an object (a hook, ``strict_map_key``) the object is
    skipped.
    """

    def __init__(self, file_like=None, *, read_size=0, use_list=True, raw=False,
                 timestamp=0, strict_map_key=True, object_hook=None,
                 object_pairs_hook=None, list_hook=None, unicode_errors=None,
                 max_buffer_size=_DEFAULT_MAX_BUFFER_SIZE, ext_hook=None,
                 max_str_len=-1, max_bin_len=-1, max_array_len=-1, max_map_len=-1,
                 max_ext_len=-1, keep_types=False, ndarray=None):
        if file_like is not None:
            read = file_like.read  # AttributeError without one, as msgpack-python
            if not callable(read):
                raise TypeError("`file_like.read` must be a callable.")
        if not max_buffer_size:
            max_buffer_size = _INT_MAX
        if read_size > max_buffer_size:
            raise ValueError("read_size should be less or equal to max_buffer_size")
        if not read_size:
            read_size = min(max_buffer_size, 1024**2)
        super().__init__(
            max_buffer_size, object_hook=object_hook, list_hook=list_hook,
            use_list=use_list, raw=raw, timestamp=timestamp,
            strict_map_key=strict_map_key, unicode_errors=unicode_errors,
            object_pairs_hook=object_pairs_hook, ext_hook=ext_hook,
            max_str_len=max_str_len, max_bin_len=max_bin_len,
            max_array_len=max_array_len, max_map_len=max_map_len,
            max_ext_len=max_ext_len, keep_types=keep_types, ndarray=ndarray)
        self._file = file_like
        self._read_size = read_size
        self._max_buffer_size = max_buffer_size
        self._buf = bytearray()   # unconsumed bytes start at self._head

    # -- input --------------------------------------------------------------
    def feed(self, next_bytes):
        """Append bytes (any buffer) to the internal buffer.

        Raises BufferFull when the unconsumed bytes would exceed
        ``max_buffer_size``."""
        if self._file is not None:
            raise AssertionError("unpacker.feed() is not be able to use with `file_like`.")
        t = type(next_bytes)
        n = len(next_bytes) if t is bytes or t is bytearray else memoryview(next_bytes).nbytes
        self._append(next_bytes, n)

    def _append(self, data, n):
        buf = self._buf
        head = self._head
        if len(buf) - head + n > self._max_buffer_size:
            raise BufferFull
        if head and (head >= 65536 or head * 2 >= len(buf)):
            del buf[:head]   # O(1) at the front of a bytearray
            self._head = 0
        buf += data

    def _read_more(self):
        if self._file is None:
            return False
        n = min(self._read_size, self._max_buffer_size - (len(self._buf) - self._head))
        data = self._file.read(n)
        if not data:
            self._file = None
            return False
        self._append(data, len(data))
        return True

    # -- output -------------------------------------------------------------
    def unpack(self):
        """The next object; OutOfData when it is not complete yet."""
        while True:
            obj = self._next(self._buf)
            if obj is not _NEED_MORE:
                return obj
            if not self._read_more():
                raise OutOfData("No more data to unpack.")

    def skip(self):
        """Skip the next object; OutOfData when it is not complete yet."""
        while self._next(self._buf, False) is _NEED_MORE:
            if not self._read_more():
                raise OutOfData("No more data to unpack.")

    # Iteration (``for obj in unpacker``) is implemented in C by the base
    # class: it stops when the buffered bytes hold no complete object.

    def _read_header(self, kind):
        self._reset_scan()
        while True:
            r = self._read_header_c(self._buf, self._head, kind)
            if r is not None:
                break
            if not self._read_more():
                raise OutOfData
        n, size = r
        self._head += size
        self._offset += size
        return n

    def read_array_header(self):
        """Read an array header and return its element count."""
        return self._read_header(1)

    def read_map_header(self):
        """Read a map header and return its pair count."""
        return self._read_header(2)

    def read_bytes(self, n):
        """Take up to ``n`` raw bytes from the stream (not MessagePack)."""
        self._reset_scan()
        head = self._head
        k = min(len(self._buf) - head, n)
        ret = bytes(self._buf[head:head + k])
        self._head = head + k
        if k < n and self._file is not None:
            ret += self._file.read(n - k)
        self._offset += len(ret)
        return ret

    def tell(self):
        """Bytes consumed from the stream so far (objects and read_bytes)."""
        return self._offset


from ._aio import AsyncUnpacker, aload  # noqa: E402
from ._sockets import (DONTWAIT, collect, deserialize, recv_array, recv_packed,  # noqa: E402
                       recv_packed_async, send_array, send_packed, send_packed_async,
                       serialize)
from . import curve  # noqa: E402  (zmqpack.curve: CURVE on pyzmq sockets)



def __getattr__(name):
    # pyzmq is imported by the first use of a socket class, not by `import zmqpack`
    if name in ("Context", "Socket"):
        from . import _context
        return getattr(_context, name)
    raise AttributeError("module 'zmqpack' has no attribute %r" % name)


__all__ = [
    "packb", "unpackb", "pack", "unpack", "dumps", "loads", "dump", "load",
    "Packer", "Unpacker", "ExtType", "Timestamp",
    "UnpackException", "BufferFull", "OutOfData", "FormatError", "StackError",
    "ExtraData", "register", "unregister", "registered", "ext_serializable",
    "serialize", "deserialize", "send_packed", "recv_packed", "send_array", "recv_array",
    "Context", "Socket", "collect", "WireError",
    "Tracker",
    "AsyncUnpacker", "aload",
]
