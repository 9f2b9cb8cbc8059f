"""asyncio streaming: MessagePack objects from an ``asyncio.StreamReader``
(raw TCP, serial links) as they arrive."""
from .exceptions import OutOfData


class AsyncUnpacker:
    """Async iterator of the objects on an ``asyncio.StreamReader``.

    ``AsyncUnpacker(reader, read_size=65536, **unpacker_options)``;
    ``await u.unpack()`` returns the next object, ``async for obj in u``
    iterates until the stream ends. A stream that ends inside an object
    raises ``OutOfData``. Options are those of ``zmqpack.Unpacker``.
    """

    def __init__(self, reader, *, read_size=65536, **kwargs):
        from . import Unpacker
        self._reader = reader
        self._read_size = read_size
        self._unpacker = Unpacker(**kwargs)
        self._eof = False

    async def unpack(self):
        """The next object; EOFError at a clean end of stream, OutOfData
        when the stream ends inside an object."""
        u = self._unpacker
        while True:
            try:
                return u.unpack()
            except OutOfData:
                pass
            if self._eof:
                if len(u._buf) > u._head:
                    raise OutOfData("stream ended inside an object")
                raise EOFError("end of stream")
            data = await self._reader.read(self._read_size)
            if not data:
                self._eof = True
            else:
                u.feed(data)

    def __aiter__(self):
        return self

    async def __anext__(self):
        try:
            return await self.unpack()
        except EOFError:
            raise StopAsyncIteration from None


async def aload(reader, **kwargs):
    """Read exactly one object from ``reader`` and return it.

    Never reads past the object (it asks the scanner how many bytes are
    still missing), so it can be called repeatedly on the same stream.
    ``asyncio.IncompleteReadError`` when the stream ends inside the object.
    Options are those of ``zmqpack.Unpacker``.
    """
    from . import Unpacker
    u = Unpacker(**kwargs)
    while True:
        try:
            return u.unpack()
        except OutOfData:
            pass
        u.feed(await reader.readexactly(u._need()))
