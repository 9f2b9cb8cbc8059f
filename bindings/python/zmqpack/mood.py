"""The API of mood.msgpack (a pickle substitute on MessagePack) on zmqpack's
C packer and unpacker.

Code written for mood.msgpack runs unchanged after
``from zmqpack import mood as msgpack``::

    b = msgpack.pack(obj)        # a bytearray; no registration needed
    msgpack.register(Kiki)       # the receiver names what it may construct
    obj = msgpack.unpack(b)

What travels, byte for byte as mood.msgpack writes it:

* ``None``, ``bool``, ``int``, ``float`` (always float 64), ``str``,
  ``bytes``: the MessagePack types; ``tuple``: an array; ``dict``: a map.
* ``complex`` (ext 1), ``bytearray`` (ext 2), ``list`` (ext 3), ``set``
  (ext 4), ``frozenset`` (ext 5): unpacked as the same type.
* a class (ext 6: its ``__module__`` and ``__qualname__``) and a singleton
  (ext 7: the string its ``__reduce__`` returns, e.g. a function that
  names itself): unpacked only when :func:`register` was given them.
* any other object (ext 127): its ``__reduce__()`` tuple, ``(callable, args
  [, state[, listitems[, dictitems[, state_setter]]]])`` as pickle defines
  it; unpacking calls ``callable(*args)``, then ``state_setter(obj, state)``
  or ``obj.__setstate__(state)`` (or updates ``obj.__dict__``), then
  ``obj.extend(listitems)`` (or ``+=``) and ``obj.update(dictitems)`` (or
  item assignment). The callable is itself a packed class or singleton, so
  only registered ones are ever called: anything else raises
  ``TypeError: cannot unpack <class '...'>``.
* :class:`Timestamp` (zmqpack's, the MessagePack timestamp ext -1).

Only exact types take the short forms: a subclass (an ``IntEnum``, a
``namedtuple``, an ``OrderedDict``) travels through its ``__reduce__``.

Where zmqpack decides (mood.msgpack does not say): ``Timestamp`` is
zmqpack's class (``from_unix``/``to_unix``...; mood's has ``fromtimestamp``/
``timestamp()``); a malformed message raises ``ValueError`` where
mood.msgpack would read past an ext's end.
"""
import struct
import sys
from typing import Any, Dict, Optional, Tuple, Union

from . import Packer as _Packer
from . import Timestamp
from . import Unpacker as _Unpacker
from . import packb as _packb
from .exceptions import FormatError as _FormatError
from .exceptions import OutOfData as _OutOfData

__all__ = ["pack", "unpack", "register", "Timestamp"]

# mood.msgpack's ext codes.
EXT_COMPLEX = 1
EXT_BYTEARRAY = 2
EXT_LIST = 3
EXT_SET = 4
EXT_FROZENSET = 5
EXT_CLASS = 6
EXT_SINGLETON = 7
EXT_OBJECT = 127

_COMPLEX = struct.Struct(">dd")
# Exact types the C packer writes exactly as mood.msgpack does.
_SCALARS = frozenset((type(None), bool, int, float, str, bytes, Timestamp))
_ARRAY_FIRST_BYTES = frozenset(range(0x90, 0xa0)) | {0xdc, 0xdd}

_Buffer = Union[bytes, bytearray, memoryview]


def _new_packer() -> _Packer:
    return _Packer(autoreset=False, strict_types=True)


def _type_name(t: type) -> str:
    return t.__qualname__ if t.__module__ == "builtins" else t.__module__ + "." + t.__qualname__


# -- the names of classes and singletons (the registry keys) ----------------------------

def _class_key(cls: type) -> bytes:
    module, qualname = cls.__module__, cls.__qualname__
    if type(module) is not str or type(qualname) is not str:
        raise TypeError("expected strings, got: __module__: %.200s, __qualname__: %.200s"
                        % (type(module).__name__, type(qualname).__name__))
    return _packb(module) + _packb(qualname)


def _singleton_key(obj: Any) -> bytes:
    name = obj.__reduce__()
    if type(name) is not str:
        raise TypeError("__reduce__() must return a str: register() takes classes and "
                        "singletons (objects whose __reduce__() returns their name), "
                        "not %.200s instances" % _type_name(type(obj)))
    return _packb(name)


_registry: Dict[bytes, Any] = {}


def register(*objects: Any) -> None:
    """Allow each of ``objects`` to be unpacked: a class, or a singleton (an
    object whose ``__reduce__()`` returns its name, as built-in functions
    do). ``NotImplemented`` and ``Ellipsis`` are registered already."""
    for obj in objects:
        key = _class_key(obj) if isinstance(obj, type) else _singleton_key(obj)
        _registry[key] = obj


register(NotImplemented, Ellipsis)


# -- pack ---------------------------------------------------------------------------------

def _write(packer: _Packer, obj: Any) -> None:
    t = type(obj)
    if t in _SCALARS:
        try:
            packer.pack(obj)
        except OverflowError:
            raise OverflowError("int too big to convert") from None
    elif t is tuple:
        packer.pack_array_header(len(obj))
        for item in obj:
            _write(packer, item)
    elif t is dict:
        packer.pack_map_header(len(obj))
        for key, value in obj.items():
            _write(packer, key)
            _write(packer, value)
    elif t is list:
        packer.pack_ext_type(EXT_LIST, _array_payload(obj))
    elif t is set:
        packer.pack_ext_type(EXT_SET, _array_payload(obj))
    elif t is frozenset:
        packer.pack_ext_type(EXT_FROZENSET, _array_payload(obj))
    elif t is bytearray:
        packer.pack_ext_type(EXT_BYTEARRAY, obj)
    elif t is type:
        packer.pack_ext_type(EXT_CLASS, _class_key(obj))
    elif t is complex:
        packer.pack_ext_type(EXT_COMPLEX, _COMPLEX.pack(obj.real, obj.imag))
    else:
        try:
            reduce = obj.__reduce__
        except AttributeError:
            raise TypeError("cannot pack '%.200s' objects" % _type_name(t)) from None
        rv = reduce()
        if type(rv) is str:
            packer.pack_ext_type(EXT_SINGLETON, _packb(rv))
        elif type(rv) is tuple:
            packer.pack_ext_type(EXT_OBJECT, _array_payload(rv))
        else:
            raise TypeError("__reduce__() must return a str or a tuple")


def _array_payload(items: Any) -> bytes:
    packer = _new_packer()
    packer.pack_array_header(len(items))
    for item in items:
        _write(packer, item)
    return packer.bytes()


def pack(obj: Any) -> bytearray:
    """The packed representation of ``obj``, as a bytearray (no
    registration needed: see the module's text for what travels how)."""
    packer = _new_packer()
    _write(packer, obj)
    return bytearray(packer.getbuffer())


# -- unpack -------------------------------------------------------------------------------

def _set_state(obj: Any, state: Any, setter: Any) -> None:
    if setter is not None:
        setter(obj, state)
        return
    try:
        setstate = obj.__setstate__
    except AttributeError:
        if not isinstance(state, dict):
            raise
        attrs = obj.__dict__
        for key, value in state.items():
            if not isinstance(key, str):
                raise TypeError("expected state key to be unicode, not '%.200s'"
                                % type(key).__name__) from None
            attrs[sys.intern(key) if type(key) is str else key] = value
        return
    setstate(state)


def _extend(obj: Any, items: Any) -> None:
    try:
        extend = obj.extend
    except AttributeError:
        iadd = getattr(type(obj), "__iadd__", None)
        if iadd is None or iadd(obj, items) is NotImplemented:
            raise TypeError("cannot extend '%.200s' objects" % _type_name(type(obj))) from None
        return
    extend(items)


def _update(obj: Any, items: Any) -> None:
    try:
        update = obj.update
    except AttributeError:
        if hasattr(items, "__next__"):
            pairs = items
        else:
            try:
                pairs = iter(items.items())
            except AttributeError:
                pairs = iter(items)
        for pair in pairs:
            if not isinstance(pair, (list, tuple)):
                pair = list(pair)
            if len(pair) != 2:
                raise ValueError("expected a sequence of len 2") from None
            obj[pair[0]] = pair[1]
        return
    update(items)


def _construct(reduce: Any) -> Any:
    """An object from its ``__reduce__`` tuple (pickle's protocol)."""
    if type(reduce) is not tuple or not 2 <= len(reduce) <= 6:
        raise TypeError("an object must travel as a __reduce__() tuple of 2 to 6 items, got %.100r"
                        % (reduce,))
    func, args, state, listitems, dictitems, setter = reduce + (None,) * (6 - len(reduce))
    if not callable(func) or not (setter is None or callable(setter)):
        culprit = setter if callable(func) else func
        raise TypeError("tuple item returned by __reduce__() must be a callable, not %.200s"
                        % type(culprit).__name__)
    if not isinstance(args, tuple):
        raise TypeError("argument 2 must be tuple, not %.200s" % type(args).__name__)
    obj = func(*args)
    if state is not None:
        _set_state(obj, state, setter)
    if listitems is not None:
        _extend(obj, listitems)
    if dictitems is not None:
        _update(obj, dictitems)
    return obj


class _Decoder:
    """One unpack: zmqpack's Unpacker with the ext hook that rebuilds mood's
    Python types. Whatever escapes the hook (a refused class, a constructor's
    error) reaches the caller unchanged; only zmqpack's own decoding errors
    become mood's (``EOFError``, ``TypeError``)."""

    def __init__(self) -> None:
        self.escaped: Optional[BaseException] = None

    def decode(self, data: _Buffer, whole: bool) -> Any:
        """The object at the start of ``data``; with ``whole`` nothing may follow it."""
        unpacker = _Unpacker(use_list=False, raw=False, strict_map_key=False, timestamp=0,
                             ext_hook=self.ext_hook, max_buffer_size=0)
        unpacker.feed(data)
        try:
            obj = unpacker.unpack()
        except (_OutOfData, _FormatError) as e:
            if e is self.escaped:
                raise
            if isinstance(e, _OutOfData):
                raise EOFError("Ran out of input") from None
            raise TypeError("invalid type: '0xc1'") from None
        if whole and unpacker.tell() != len(data):
            raise ValueError("malformed message: %d bytes after the object inside an ext"
                             % (len(data) - unpacker.tell()))
        return obj

    def ext_hook(self, code: int, data: bytes) -> Any:
        try:
            return self._ext(code, data)
        except BaseException as e:
            self.escaped = e
            raise

    def _array(self, data: bytes) -> Tuple[Any, ...]:
        if not data or data[0] not in _ARRAY_FIRST_BYTES:
            raise TypeError("invalid array type: '0x%02x'" % (data[0] if data else 0xc1))
        items: Tuple[Any, ...] = self.decode(data, True)
        return items

    def _ext(self, code: int, data: bytes) -> Any:
        if code == EXT_LIST:
            return list(self._array(data))
        if code == EXT_SET:
            return set(self._array(data))
        if code == EXT_FROZENSET:
            return frozenset(self._array(data))
        if code == EXT_OBJECT:
            return _construct(self.decode(data, True))
        if code == EXT_CLASS or code == EXT_SINGLETON:
            found = _registry.get(data)
            if found is not None:
                return found
            raise TypeError(self._refusal(code, data))
        if code == EXT_BYTEARRAY:
            return bytearray(data)
        if code == EXT_COMPLEX:
            if len(data) != 16:
                raise ValueError("invalid complex size: %d" % len(data))
            return complex(*_COMPLEX.unpack(data))
        if code == 0:
            raise TypeError("invalid extension type: '0x00'")
        raise TypeError("unknown extension type: '0x%02x'" % (code & 0xff))

    def _refusal(self, code: int, data: bytes) -> str:
        """mood.msgpack's message for a class or singleton not registered."""
        unpacker = _Unpacker(raw=False, max_buffer_size=0)
        unpacker.feed(data)
        try:
            names = list(unpacker)
        except ValueError:
            names = []
        if code == EXT_SINGLETON and len(names) == 1:
            return "cannot unpack '%s'" % (names[0],)
        if code == EXT_CLASS and len(names) == 2:
            module, qualname = names
            if module == "builtins":
                return "cannot unpack <class '%s'>" % (qualname,)
            return "cannot unpack <class '%s.%s'>" % (module, qualname)
        raise ValueError("malformed message: an ext %d that names no class or singleton" % code)


def unpack(message: _Buffer) -> Any:
    """The object packed at the start of ``message`` (any bytes-like object;
    bytes after it are ignored, as mood.msgpack does). Constructs only
    registered classes and singletons (see :func:`register`)."""
    return _Decoder().decode(message, False)
