"""Exceptions of zmqpack, with msgpack-python 1.0's class hierarchy.

``except msgpack.FormatError`` style code keeps working after
``import zmqpack as msgpack``: the names, the base classes and the
attributes (``ExtraData.unpacked`` / ``.extra``) are the same. When
msgpack-python is importable, each class is also a subclass of msgpack's
class of the same name, so ``except msgpack.ExtraData`` catches zmqpack's.
"""
try:
    from msgpack import exceptions as _msgpack
except ImportError:  # pragma: no cover - python3-msgpack is installed with the tests
    _msgpack = None


def _also(name, *bases):
    """``bases`` with msgpack-python's class ``name`` in front, when it exists
    (msgpack's classes derive from the same builtins, so the MRO holds)."""
    theirs = getattr(_msgpack, name, None)
    if theirs is None:
        return bases
    return (theirs,) + tuple(b for b in bases if not issubclass(theirs, b))


class UnpackException(*_also("UnpackException", Exception)):
    """Base of the errors raised while unpacking (not all of them: hooks and
    limits raise ``ValueError``/``TypeError`` like msgpack-python does)."""


class BufferFull(*_also("BufferFull", UnpackException)):
    """Unpacker.feed() would take the buffer past ``max_buffer_size``."""


class OutOfData(*_also("OutOfData", UnpackException)):
    """The streaming Unpacker needs more bytes to finish the next object."""


class FormatError(*_also("FormatError", ValueError, UnpackException)):
    """The bytes are not MessagePack (for example the reserved byte 0xc1)."""


class StackError(*_also("StackError", ValueError, UnpackException)):
    """Arrays and maps nested deeper than the unpacker's stack (1024)."""


#: Deprecated alias kept by msgpack-python.
UnpackValueError = ValueError


class ExtraData(*_also("ExtraData", UnpackValueError)):
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
