"""The API of umsgpack (u-msgpack-python 2.x, and umsgpack for MicroPython)
on zmqpack's C packer and unpacker.

Code written for umsgpack runs unchanged after
``from zmqpack import umsgpack``::

    data = umsgpack.dumps({"compact": True, "schema": 0})
    obj = umsgpack.loads(data)
    obj = await umsgpack.aload(reader)     # one object from an asyncio stream

``dumps``/``packb``, ``dump``/``pack``, ``loads``/``unpackb``,
``load``/``unpack``, ``aload``, ``Ext``, ``InvalidString``,
``ext_serializable`` and the exception classes behave as umsgpack documents,
byte for byte: floats are doubles unless ``force_float_precision="single"``,
``datetime`` packs as the timestamp ext (a naive one taken as UTC) and
unpacks as an aware UTC ``datetime``, arrays unpack as lists (``use_tuple``
for tuples), maps as dicts (``use_ordered_dict``), and ``ext_handlers`` maps
types to packers and ext codes to unpackers on either side. ``compatibility``
(a module attribute, as in umsgpack) selects the old raw-only string format.

This namespace is separate from ``zmqpack``'s msgpack-python API, whose
options and results stay those of msgpack-python.

Where zmqpack decides (umsgpack does not say): unknown keyword arguments
raise ``TypeError`` (umsgpack ignores them) and a bad
``force_float_precision`` raises ``ValueError`` before anything is packed;
``load`` and ``aload`` consume exactly the bytes of one object, so they can
be called again on the same stream; a stream that ends inside an object raises
``InsufficientDataException``, from ``aload`` too. The timestamp ext is
decoded by zmqpack's C unpacker, so an ``ext_handlers[-1]`` or an
``ext_serializable(-1)`` class receives the shortest encoding of the
timestamp, and a timestamp of a length other than 4, 8 or 12 bytes raises
``UnsupportedTimestampException`` even when such a handler exists.
"""
import collections
import datetime as _dt
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, TypeVar, Union

from . import Packer as _Packer
from . import Timestamp as _Timestamp
from . import Unpacker as _Unpacker
from . import aload as _aload_one
from .exceptions import FormatError as _FormatError
from .exceptions import OutOfData as _OutOfData

__all__ = [
    "Ext", "InvalidString", "ext_serializable", "compatibility",
    "dumps", "dump", "loads", "load", "aload", "packb", "pack", "unpackb", "unpack",
    "PackException", "UnpackException", "UnsupportedTypeException",
    "InsufficientDataException", "InvalidStringException", "UnsupportedTimestampException",
    "ReservedCodeException", "UnhashableKeyException", "DuplicateKeyException",
    "KeyNotPrimitiveException", "KeyDuplicateException",
]

#: umsgpack's compatibility mode: when True, ``str`` and ``bytes`` both pack
#: as the old raw type (fixraw, raw 16, raw 32; no str 8, no bin) and every
#: string unpacks as ``bytes``. Read at each call.
compatibility = False

_EXT_TIMESTAMP = -1
_READ_AHEAD = 65536   # bytes load() reads at a time from a seekable file
_UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)


# -- exceptions (umsgpack's names and hierarchy) ----------------------------------------

class PackException(Exception):
    """Base class of the errors raised while packing."""


class UnpackException(Exception):
    """Base class of the errors raised while unpacking."""


class UnsupportedTypeException(PackException):
    """The object's type cannot be packed (and no ext handler takes it)."""


class InsufficientDataException(UnpackException):
    """The data (or the stream) ends inside the object."""


class InvalidStringException(UnpackException):
    """A string is not valid UTF-8 (see ``allow_invalid_utf8``)."""


class UnsupportedTimestampException(UnpackException):
    """A timestamp ext whose length is not 4, 8 or 12 bytes."""


class ReservedCodeException(UnpackException):
    """The reserved type byte 0xc1."""


class UnhashableKeyException(UnpackException):
    """A map key that cannot be a dict key (a map, or an array holding one)."""


class DuplicateKeyException(UnpackException):
    """A map holds the same key twice."""


# Older names kept by umsgpack.
KeyNotPrimitiveException = UnhashableKeyException
KeyDuplicateException = DuplicateKeyException


# -- Ext, InvalidString, ext_serializable -----------------------------------------------

class Ext:
    """An application-defined ext value: ``type`` in -128..127 and ``data``
    the payload bytes. Unknown ext types unpack to this."""

    def __init__(self, type: int, data: bytes) -> None:  # noqa: A002 (umsgpack's name)
        if not isinstance(type, int):
            raise TypeError("ext type is not type integer")
        if not -128 <= type <= 127:
            raise ValueError("ext type value {:d} is out of range (-128 to 127)".format(type))
        if not isinstance(data, bytes):
            raise TypeError("ext data is not type 'bytes'")
        self.type = type
        self.data = data

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, self.__class__)
                and self.type == other.type and self.data == other.data)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash((self.type, self.data))

    def __str__(self) -> str:
        shown = " ".join("0x{:02x}".format(b) for b in self.data[:8])
        return "Ext Object (Type: {:d}, Data: {:s}{:s})".format(
            self.type, shown, " ..." if len(self.data) > 8 else "")

    def __repr__(self) -> str:
        return "Ext(type={!r}, data={!r})".format(self.type, self.data)


class InvalidString(bytes):
    """The bytes of a string that is not valid UTF-8 (``allow_invalid_utf8=True``)."""


_ext_class_to_type: Dict[type, int] = {}
_ext_type_to_class: Dict[int, type] = {}

_C = TypeVar("_C", bound=type)


def ext_serializable(ext_type: int) -> Callable[[_C], _C]:
    """Class decorator: instances of the class pack as ext ``ext_type`` with
    the bytes of ``obj.packb()``, and that ext unpacks with
    ``cls.unpackb(data)`` (a classmethod or staticmethod).

    ``ValueError`` when the type or the class is already registered or the
    type is outside -128..127; ``TypeError`` when it is not an int."""
    def wrapper(cls: _C) -> _C:
        if not isinstance(ext_type, int):
            raise TypeError("Ext type is not type integer")
        if not -128 <= ext_type <= 127:
            raise ValueError("Ext type value {:d} is out of range of -128 to 127".format(ext_type))
        if ext_type in _ext_type_to_class:
            raise ValueError("Ext type {:d} already registered with class {!r}".format(
                ext_type, _ext_type_to_class[ext_type]))
        if cls in _ext_class_to_type:
            raise ValueError("Class {!r} already registered with Ext type {:d}".format(
                cls, _ext_class_to_type[cls]))
        _ext_type_to_class[ext_type] = cls
        _ext_class_to_type[cls] = ext_type
        return cls
    return wrapper


# -- packing ------------------------------------------------------------------------------

_PackHandlers = Mapping[type, Callable[[Any], Any]]
_UnpackHandlers = Mapping[int, Callable[[Ext], Any]]

# Exact types the C packer writes exactly as umsgpack does (bytearray as bin,
# as umsgpack for MicroPython; u-msgpack-python refuses it).
_SCALARS = frozenset((type(None), bool, int, float, str, bytes, bytearray))


def _huge_int(obj: int) -> UnsupportedTypeException:
    return UnsupportedTypeException("huge signed int" if obj < 0 else "huge unsigned int")


def _ext_of_class(obj: Any, cls: type, code: int) -> Ext:
    packb = getattr(obj, "packb", None)
    if packb is None:
        raise NotImplementedError(
            "Ext serializable class {!r} is missing implementation of packb()".format(cls))
    return Ext(code, packb())


def _timestamp_of(obj: _dt.datetime) -> _Timestamp:
    delta = (obj.replace(tzinfo=_UTC) if obj.tzinfo is None else obj) - _EPOCH
    return _Timestamp(delta.days * 86400 + delta.seconds, delta.microseconds * 1000)


def _dumps(obj: Any, ext_handlers: Optional[_PackHandlers],
           force_float_precision: Optional[str]) -> bytes:
    if force_float_precision not in (None, "double", "single"):
        raise ValueError("invalid float precision %r: force_float_precision takes "
                         "\"single\" or \"double\"" % (force_float_precision,))
    # umsgpack's order of tests, with the encoding left to the C packer: the
    # walker only decides which MessagePack type each object becomes.
    packer = _Packer(autoreset=False, use_single_float=force_float_precision == "single",
                     use_bin_type=not compatibility, strict_types=True)
    pack, pack_ext = packer.pack, packer.pack_ext_type
    array_header, map_header = packer.pack_array_header, packer.pack_map_header
    handlers = ext_handlers or {}
    by_class = _ext_class_to_type
    as_is = _SCALARS.difference(handlers, by_class)

    def write_ext(ext: Any, cls: type) -> None:
        try:
            code, data = ext.type, ext.data
        except AttributeError:
            raise TypeError("ext_handlers[%s] must return a umsgpack.Ext, got %.100r"
                            % (cls.__qualname__, ext)) from None
        pack_ext(code, data)

    def write(obj: Any) -> None:
        if type(obj) in as_is:
            try:
                pack(obj)
            except OverflowError:
                raise _huge_int(obj) from None
            return
        if obj is None:
            pack(None)
            return
        cls = obj.__class__
        if cls in handlers:
            write_ext(handlers[cls](obj), cls)
        elif cls in by_class:
            write_ext(_ext_of_class(obj, cls, by_class[cls]), cls)
        elif isinstance(obj, bool):
            pack(obj)
        elif isinstance(obj, int):
            if not -2**63 <= obj < 2**64:
                raise _huge_int(obj)
            pack(int.__index__(obj))   # the value, whatever a subclass overrides
        elif isinstance(obj, float):
            pack(float.__float__(obj))
        elif isinstance(obj, str):
            pack(str.__str__(obj))
        elif isinstance(obj, (bytes, bytearray)):
            pack(bytes(obj))
        elif isinstance(obj, (list, tuple)):
            array_header(len(obj))
            for item in obj:
                write(item)
        elif isinstance(obj, dict):
            map_header(len(obj))
            for key, value in obj.items():
                write(key)
                write(value)
        elif isinstance(obj, _dt.datetime):
            pack(_timestamp_of(obj))
        elif isinstance(obj, Ext):
            pack_ext(obj.type, obj.data)
        else:
            base = next((t for t in handlers if isinstance(obj, t)), None)
            if base is not None:
                write_ext(handlers[base](obj), base)
                return
            base = next((t for t in by_class if isinstance(obj, t)), None)
            if base is not None:
                write_ext(_ext_of_class(obj, base, by_class[base]), base)
                return
            raise UnsupportedTypeException("unsupported type: {:s}".format(str(type(obj))))

    write(obj)
    return packer.bytes()


def dumps(obj: Any, *, ext_handlers: Optional[_PackHandlers] = None,
          force_float_precision: Optional[str] = None) -> bytes:
    """Pack ``obj`` and return the bytes.

    ``ext_handlers``: ``{type: fn}``, ``fn(obj)`` returns the :class:`Ext` to
    write for instances of ``type`` (the exact class first, then the first
    base class found). ``force_float_precision``: ``"single"`` packs floats
    as float 32, ``"double"`` (the default) as float 64.

    ``UnsupportedTypeException`` for a type it cannot pack, and for integers
    outside -2**63..2**64-1."""
    return _dumps(obj, ext_handlers, force_float_precision)


def dump(obj: Any, fp: Any, *, ext_handlers: Optional[_PackHandlers] = None,
         force_float_precision: Optional[str] = None) -> None:
    """Pack ``obj`` and write the bytes to ``fp`` (a ``.write()`` object).
    Nothing is written when packing fails."""
    fp.write(_dumps(obj, ext_handlers, force_float_precision))


# -- unpacking ----------------------------------------------------------------------------

def _deep_tuple(obj: Any) -> Any:
    if isinstance(obj, list):
        return tuple(_deep_tuple(x) for x in obj)
    return obj


def _shown(key: Any) -> str:
    text = str(key)
    return text if len(text) <= 80 else text[:77] + "..."


class _Decoder:
    """One umsgpack decode: the zmqpack Unpacker options and the hooks that
    give umsgpack's results.

    Whatever escapes a hook (a user's handler, a duplicate key) is recorded
    in ``escaped`` and reaches the caller unchanged; only the errors of
    zmqpack's own decoder are translated into umsgpack's exceptions."""

    def __init__(self, ext_handlers: Optional[_UnpackHandlers], use_ordered_dict: bool,
                 use_tuple: bool, allow_invalid_utf8: bool) -> None:
        self.handlers = ext_handlers or {}
        self.map_type: Callable[..., Dict[Any, Any]] = (
            collections.OrderedDict if use_ordered_dict else dict)
        self.escaped: Optional[BaseException] = None
        # zmqpack decodes the timestamp ext itself: straight to a datetime,
        # unless the application takes ext -1 (then it gets the Timestamp's bytes).
        self.own_timestamps = (_EXT_TIMESTAMP in self.handlers
                               or _EXT_TIMESTAMP in _ext_type_to_class)
        # Invalid UTF-8 comes back escaped (U+DC80..U+DCFF, which valid UTF-8
        # never yields) and is turned into InvalidString here.
        self.invalid_utf8 = allow_invalid_utf8 and not compatibility
        self.fixes = self.own_timestamps or self.invalid_utf8
        self.options: Dict[str, Any] = dict(
            use_list=not use_tuple, raw=compatibility, strict_map_key=False,
            timestamp=0 if self.own_timestamps else 3, max_buffer_size=0,
            ext_hook=self.ext_hook, object_pairs_hook=self.map_hook,
            unicode_errors="surrogateescape" if self.invalid_utf8 else None)
        if self.fixes:
            self.options["list_hook"] = self.array_hook

    def fix(self, obj: Any) -> Any:
        t = type(obj)
        if t is str and self.invalid_utf8 and not obj.isascii():
            try:
                obj.encode()
            except UnicodeEncodeError:
                return InvalidString(obj.encode("utf-8", "surrogateescape"))
        elif t is _Timestamp and self.own_timestamps:
            return self.ext_hook(_EXT_TIMESTAMP, obj.to_bytes())
        return obj

    def ext_hook(self, code: int, data: bytes) -> Any:
        try:
            handler = self.handlers.get(code)
            if handler is not None:
                return handler(Ext(code, data))
            cls = _ext_type_to_class.get(code)
            if cls is None:
                return Ext(code, data)
            unpackb = getattr(cls, "unpackb", None)
            if unpackb is None:
                raise NotImplementedError(
                    "Ext serializable class {!r} is missing implementation of unpackb()"
                    .format(cls))
            return unpackb(data)
        except BaseException as e:
            self.escaped = e
            raise

    def array_hook(self, items: Union[List[Any], Tuple[Any, ...]]) -> Any:
        try:
            fixed = [self.fix(x) for x in items]
            return fixed if type(items) is list else tuple(fixed)
        except BaseException as e:
            self.escaped = e
            raise

    def map_hook(self, pairs: List[Tuple[Any, Any]]) -> Dict[Any, Any]:
        try:
            return self._map(pairs)
        except BaseException as e:
            self.escaped = e
            raise

    def _map(self, pairs: List[Tuple[Any, Any]]) -> Dict[Any, Any]:
        if not self.fixes:
            try:   # the common case: hashable keys, no duplicates
                d = self.map_type(pairs)
                if len(d) == len(pairs):
                    return d
            except TypeError:
                pass
        d = self.map_type()
        for key, value in pairs:
            if self.fixes:
                key, value = self.fix(key), self.fix(value)
            if isinstance(key, list):
                key = _deep_tuple(key)
            try:
                hash(key)
            except TypeError:
                raise UnhashableKeyException('encountered unhashable key: "{:s}" ({:s})'.format(
                    _shown(key), str(type(key)))) from None
            if key in d:
                raise DuplicateKeyException('encountered duplicate key: "{:s}" ({:s})'.format(
                    _shown(key), str(type(key))))
            d[key] = value
        return d

    def __enter__(self) -> "_Decoder":
        return self

    def __exit__(self, etype: Any, e: Optional[BaseException], tb: Any) -> None:
        """Raises the umsgpack exception for an error of zmqpack's decoder."""
        if e is None or e is self.escaped:
            return
        if isinstance(e, _OutOfData):
            raise InsufficientDataException() from None
        if isinstance(e, UnicodeDecodeError):
            raise InvalidStringException("unpacked string is invalid utf-8") from None
        if isinstance(e, _FormatError):
            raise ReservedCodeException("encountered reserved code: 0xc1") from None
        if type(e) is ValueError and "imestamp" in str(e):
            raise UnsupportedTimestampException(
                "unsupported timestamp: the ext -1 payload must be 4, 8 or 12 bytes") from None

    def result(self, obj: Any) -> Any:
        return self.fix(obj) if self.fixes else obj


def loads(s: Union[bytes, bytearray], *, ext_handlers: Optional[_UnpackHandlers] = None,
          use_ordered_dict: bool = False, use_tuple: bool = False,
          allow_invalid_utf8: bool = False) -> Any:
    """Unpack the object at the start of ``s`` (``bytes`` or ``bytearray``;
    bytes after it are ignored, as umsgpack does).

    ``ext_handlers``: ``{code: fn}``, ``fn(Ext)`` returns the object for that
    ext code. ``use_ordered_dict``: maps as ``OrderedDict``. ``use_tuple``:
    arrays as tuples. ``allow_invalid_utf8``: a string that is not UTF-8
    unpacks as :class:`InvalidString` (its bytes) instead of raising
    ``InvalidStringException``."""
    if not isinstance(s, (bytes, bytearray)):
        raise TypeError("packed data must be type 'bytes' or 'bytearray'")
    dec = _Decoder(ext_handlers, use_ordered_dict, use_tuple, allow_invalid_utf8)
    unpacker = _Unpacker(**dec.options)
    unpacker.feed(s)
    with dec:
        obj = unpacker.unpack()
    return dec.result(obj)


class _StreamReader:
    """``readexactly`` over a blocking ``.read()`` object, for
    ``zmqpack.aload``, which asks for exactly the bytes the object still
    needs and so never reads past it."""

    def __init__(self, fp: Any) -> None:
        self._read = fp.read

    async def readexactly(self, n: int) -> Any:
        data = self._read(n)
        if len(data) < n:   # a pipe or a socket may return less
            data = bytearray(data)
            while len(data) < n:
                more = self._read(n - len(data))
                if not more:
                    raise InsufficientDataException()
                data += more
        return data


class _ObservedReader:
    """``readexactly`` over an asyncio ``StreamReader``, showing each chunk
    read to the ``observer`` (umsgpack for MicroPython's option)."""

    def __init__(self, reader: Any, observer: Any) -> None:
        self._reader = reader
        if observer is None:
            self._observe = None
        elif callable(getattr(observer, "update", None)):
            self._observe = observer.update
        elif callable(observer):
            self._observe = observer
        else:
            raise TypeError("observer must have an update(data) method or be callable, got %r"
                            % (observer,))

    async def readexactly(self, n: int) -> Any:
        try:
            data = await self._reader.readexactly(n)
        except EOFError:   # asyncio.IncompleteReadError, MicroPython's EOFError
            raise InsufficientDataException() from None
        if self._observe is not None:
            self._observe(data)
        return data


def load(fp: Any, *, ext_handlers: Optional[_UnpackHandlers] = None,
         use_ordered_dict: bool = False, use_tuple: bool = False,
         allow_invalid_utf8: bool = False) -> Any:
    """Unpack one object from ``fp`` (a ``.read()`` object), consuming
    exactly its bytes: the next call reads the next object. Options as
    :func:`loads`."""
    dec = _Decoder(ext_handlers, use_ordered_dict, use_tuple, allow_invalid_utf8)
    seekable = getattr(fp, "seekable", None)
    if seekable is not None and seekable():
        # Read ahead in chunks, then seek back to the end of the object.
        start = fp.tell()
        unpacker = _Unpacker(fp, read_size=_READ_AHEAD, **dec.options)
        with dec:
            obj = unpacker.unpack()
        fp.seek(start + unpacker.tell())
        return dec.result(obj)
    # A pipe or a socket cannot give bytes back: zmqpack.aload asks the
    # reader for exactly the bytes the object still needs. This reader never
    # suspends, so the coroutine runs to its end in one step.
    reader: Any = _StreamReader(fp)   # a StreamReader as far as aload needs one
    step = _aload_one(reader, **dec.options)
    with dec:
        try:
            step.send(None)
        except StopIteration as done:
            return dec.result(done.value)
    step.close()
    raise RuntimeError("a blocking stream made the decoder wait")


async def aload(fp: Any, *, ext_handlers: Optional[_UnpackHandlers] = None,
                use_ordered_dict: bool = False, use_tuple: bool = False,
                allow_invalid_utf8: bool = False, observer: Any = None) -> Any:
    """Unpack one object from an asyncio ``StreamReader`` (anything with an
    async ``readexactly(n)``), reading exactly its bytes. ``observer``: an
    object with an ``update(data)`` method (or a callable) that sees every
    chunk read, e.g. to compute a CRC. Options as :func:`loads`."""
    dec = _Decoder(ext_handlers, use_ordered_dict, use_tuple, allow_invalid_utf8)
    reader: Any = _ObservedReader(fp, observer)
    with dec:
        obj = await _aload_one(reader, **dec.options)
    return dec.result(obj)


# u-msgpack-python's other names for the same functions.
packb = dumps
pack = dump
unpackb = loads
unpack = load
