"""Exceptions of zmqpack, with msgpack-python 1.0's class hierarchy.

``except msgpack.FormatError`` style code keeps working after
``import zmqpack as msgpack``: the names, the base classes and the
attributes (``ExtraData.unpacked`` / ``.extra``) are the same.
"""


class UnpackException(Exception):
    """Base of the errors raised while unpacking (not all of them: hooks and
    limits raise ``ValueError``/``TypeError`` like msgpack-python does)."""


class BufferFull(UnpackException):
    """Unpacker.feed() would take the buffer past ``max_buffer_size``."""


class OutOfData(UnpackException):
    """The streaming Unpacker needs more bytes to finish the next object."""


class FormatError(ValueError, UnpackException):
    """The bytes are not MessagePack (for example the reserved byte 0xc1)."""


class StackError(ValueError, UnpackException):
    """Arrays and maps nested deeper than the unpacker's stack (1024)."""


#: Deprecated alias kept by msgpack-python.
UnpackValueError = ValueError


class ExtraData(UnpackValueError):
    """One-shot unpack found bytes after the object.

    ``unpacked`` is the decoded object and ``extra`` the bytes that follow it.
    """

    def __init__(self, unpacked, extra):
        super().__init__(unpacked, extra)
        self.unpacked = unpacked
        self.extra = extra

    def __str__(self):
        return "unpack(b) received extra data."


#: Deprecated aliases kept by msgpack-python.
PackException = Exception
PackValueError = ValueError
PackOverflowError = OverflowError

__all__ = [
    "UnpackException", "BufferFull", "OutOfData", "FormatError", "StackError",
    "ExtraData", "UnpackValueError", "PackException", "PackValueError",
    "PackOverflowError",
]


class WireError(ValueError):
    """A received message that is not a valid zmqpack message (foreign, a
    frame missing or extra, a header that lies, an unknown codec, a newer
    protocol version, over a limit). The whole message was taken off the
    socket, so the next receive starts on a message boundary.

    ``code`` is the library's negative ZPK_E* code, ``name`` its name
    (``"EFOREIGN"``) and ``text`` the detail."""

    def __init__(self, code, name, text):
        super().__init__("%s: %s" % (name, text))
        self.code = code
        self.name = name
        self.text = text


__all__.append("WireError")
